"""Mastodon client API: hashtags featured on a profile (docs: methods/featured_tags)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import directory, profiles
from fediverse.errors import NotFound
from fediverse.ids import parse_id
from fediverse.storage.accounts import Account
from fediverse.storage.directory import FeaturedTag
from fediverse.urls import LocalUrls
from web.auth import read_viewer, require_account
from web.forms import read_params
from web.mastodon_api.entities import render_tag
from web.responses import JSONResponse
from web.state import database_of, urls_of


def render_featured_tag(item: FeaturedTag, account: Account, urls: LocalUrls) -> dict[str, Any]:
    profile = account.url or urls.profile(account.username)
    return {
        "id": str(item.id),
        "name": item.name,
        "url": f"{profile}/tagged/{item.name.lower()}",
        # Mastodon sends the count as a string and the last use as a date.
        "statuses_count": str(item.statuses_count),
        "last_status_at": None
        if item.last_status_at is None
        else item.last_status_at.date().isoformat(),
    }


async def own(request: Request) -> Response:
    _, account = await require_account(request, "read:accounts")
    async with database_of(request).connection() as conn:
        found = await directory.featured_tags(conn, account_id=account.id)
    urls = urls_of(request)
    return JSONResponse([render_featured_tag(item, account, urls) for item in found])


async def create(request: Request) -> Response:
    _, account = await require_account(request, "write:accounts")
    params = await read_params(request)
    async with database_of(request).transaction() as conn:
        made = await directory.feature_tag(conn, account_id=account.id, name=params.str("name"))
    return JSONResponse(render_featured_tag(made, account, urls_of(request)))


async def delete(request: Request) -> Response:
    _, account = await require_account(request, "write:accounts")
    featured_id = parse_id(request.path_params["id"])
    if featured_id is None:
        raise NotFound()
    async with database_of(request).transaction() as conn:
        await directory.unfeature_tag(conn, account_id=account.id, featured_tag_id=featured_id)
    return JSONResponse({})


async def suggestions(request: Request) -> Response:
    """The viewer's most used hashtags not featured yet, as Tag entities."""
    _, account = await require_account(request, "read:accounts")
    async with database_of(request).connection() as conn:
        names = await directory.featured_tag_suggestions(conn, account_id=account.id)
    urls = urls_of(request)
    return JSONResponse([render_tag(name, urls) for name in names])


async def of_account(request: Request) -> Response:
    """GET /api/v1/accounts/:id/featured_tags: public, like the profile it belongs to."""
    await read_viewer(request, "read:accounts")
    account_id = parse_id(request.path_params["id"])
    if account_id is None:
        raise NotFound()
    async with database_of(request).connection() as conn:
        account = await profiles.fetch_account(conn, account_id)
        found = await directory.featured_tags(conn, account_id=account.id)
    urls = urls_of(request)
    return JSONResponse([render_featured_tag(item, account, urls) for item in found])


routes: list[BaseRoute] = [
    Route("/api/v1/featured_tags", own, methods=["GET"]),
    Route("/api/v1/featured_tags", create, methods=["POST"]),
    Route("/api/v1/featured_tags/suggestions", suggestions, methods=["GET"]),
    Route("/api/v1/featured_tags/{id}", delete, methods=["DELETE"]),
    Route("/api/v1/accounts/{id}/featured_tags", of_account, methods=["GET"]),
]
