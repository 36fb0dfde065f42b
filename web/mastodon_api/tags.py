"""Mastodon client API: a hashtag with its recent use, following it, and followed tags."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import tag_follows
from fediverse.tag_follows import TagInfo
from fediverse.urls import LocalUrls
from web.auth import optional_viewer, require_account
from web.forms import read_params
from web.mastodon_api.entities import render_tag
from web.pagination import add_link_header, parse_page
from web.responses import JSONResponse
from web.state import database_of, urls_of

FOLLOWED_DEFAULT_LIMIT = 100
FOLLOWED_MAX_LIMIT = 200


def render_tag_info(info: TagInfo, urls: LocalUrls) -> dict[str, Any]:
    history = [
        {
            "day": str(int(use.day.timestamp())),
            "uses": str(use.uses),
            "accounts": str(use.accounts),
        }
        for use in info.history
    ]
    return render_tag(info.name, urls, following=info.following, history=history)


async def show(request: Request) -> Response:
    # Mastodon needs no scope here; a token, when sent, adds `following`.
    viewer = await optional_viewer(request)
    viewer_id = None if viewer is None else viewer.account_id
    async with database_of(request).connection() as conn:
        info = await tag_follows.describe(
            conn, name=request.path_params["name"], viewer_id=viewer_id
        )
    return JSONResponse(render_tag_info(info, urls_of(request)))


async def follow(request: Request) -> Response:
    _, account = await require_account(request, "write:follows")
    async with database_of(request).transaction() as conn:
        info = await tag_follows.follow(
            conn, account_id=account.id, name=request.path_params["name"]
        )
    return JSONResponse(render_tag_info(info, urls_of(request)))


async def unfollow(request: Request) -> Response:
    _, account = await require_account(request, "write:follows")
    async with database_of(request).transaction() as conn:
        info = await tag_follows.unfollow(
            conn, account_id=account.id, name=request.path_params["name"]
        )
    return JSONResponse(render_tag_info(info, urls_of(request)))


async def followed_tags(request: Request) -> Response:
    _, account = await require_account(request, "read:follows")
    page = parse_page(
        await read_params(request),
        default_limit=FOLLOWED_DEFAULT_LIMIT,
        max_limit=FOLLOWED_MAX_LIMIT,
    )
    async with database_of(request).connection() as conn:
        found = await tag_follows.followed(
            conn,
            account_id=account.id,
            max_id=page.max_id,
            since_id=page.since_id,
            min_id=page.min_id,
            limit=page.limit,
        )
        infos = [
            await tag_follows.describe(conn, name=item.tag.name, viewer_id=account.id)
            for item in found
        ]
    urls = urls_of(request)
    response = JSONResponse([render_tag_info(info, urls) for info in infos])
    return add_link_header(response, request, page, [item.follow_id for item in found])


routes: list[BaseRoute] = [
    Route("/api/v1/followed_tags", followed_tags, methods=["GET"]),
    Route("/api/v1/tags/{name}", show, methods=["GET"]),
    Route("/api/v1/tags/{name}/follow", follow, methods=["POST"]),
    Route("/api/v1/tags/{name}/unfollow", unfollow, methods=["POST"]),
]
