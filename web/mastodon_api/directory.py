"""Mastodon client API: follow suggestions (v1 and v2) and the profile directory."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import directory
from fediverse.errors import NotFound
from fediverse.ids import parse_id
from web.auth import read_viewer, require_account
from web.forms import read_params
from web.mastodon_api.entities import render_account
from web.responses import JSONResponse
from web.state import database_of, urls_of

SUGGESTIONS_DEFAULT_LIMIT = 40
SUGGESTIONS_MAX_LIMIT = 80
DIRECTORY_DEFAULT_LIMIT = 40
DIRECTORY_MAX_LIMIT = 80


def _limit(raw: int | None, default: int, maximum: int) -> int:
    return max(1, min(raw or default, maximum))


async def _suggested(request: Request) -> list[dict[str, object]]:
    _, account = await require_account(request, "read")
    params = await read_params(request)
    limit = _limit(params.int("limit"), SUGGESTIONS_DEFAULT_LIMIT, SUGGESTIONS_MAX_LIMIT)
    async with database_of(request).connection() as conn:
        found = await directory.suggestions(conn, account_id=account.id, limit=limit)
    urls = urls_of(request)
    return [render_account(item, urls) for item in found]


async def suggestions_v1(request: Request) -> Response:
    return JSONResponse(await _suggested(request))


async def suggestions_v2(request: Request) -> Response:
    # Colleagues here, ranked by recent activity: Mastodon's "most_interactions" source.
    return JSONResponse(
        [
            {"source": "global", "sources": ["most_interactions"], "account": account}
            for account in await _suggested(request)
        ]
    )


async def dismiss_suggestion(request: Request) -> Response:
    _, account = await require_account(request, "read")
    target_id = parse_id(request.path_params["account_id"])
    if target_id is None:
        raise NotFound()
    async with database_of(request).transaction() as conn:
        await directory.dismiss_suggestion(conn, account_id=account.id, target_id=target_id)
    return JSONResponse({})


async def profile_directory(request: Request) -> Response:
    """GET /api/v1/directory: discoverable accounts, public like Mastodon's."""
    viewer = await read_viewer(request, "read:accounts")
    params = await read_params(request)
    async with database_of(request).connection() as conn:
        found = await directory.directory(
            conn,
            viewer_id=None if viewer is None else viewer.account_id,
            order=params.str("order") or "active",
            local_only=bool(params.bool("local", False)),
            offset=params.int("offset", 0) or 0,
            limit=_limit(params.int("limit"), DIRECTORY_DEFAULT_LIMIT, DIRECTORY_MAX_LIMIT),
        )
    urls = urls_of(request)
    return JSONResponse([render_account(item, urls) for item in found])


routes: list[BaseRoute] = [
    Route("/api/v1/suggestions", suggestions_v1, methods=["GET"]),
    Route("/api/v2/suggestions", suggestions_v2, methods=["GET"]),
    Route("/api/v1/suggestions/{account_id}", dismiss_suggestion, methods=["DELETE"]),
    Route("/api/v1/directory", profile_directory, methods=["GET"]),
]
