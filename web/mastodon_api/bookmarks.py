"""Mastodon client API: the viewer's bookmarks and favourites, paged by bookmark/favourite id."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import timelines
from web.auth import require_account
from web.forms import read_params
from web.mastodon_api.timelines import status_page, window_of
from web.pagination import parse_page
from web.state import database_of


async def bookmarks(request: Request) -> Response:
    _, account = await require_account(request, "read:bookmarks")
    page = parse_page(await read_params(request))
    async with database_of(request).connection() as conn:
        marked = await timelines.bookmarks(conn, viewer_id=account.id, window=window_of(page))
        return await status_page(
            request,
            conn,
            [m.status for m in marked],
            account.id,
            page,
            page_ids=[m.page_id for m in marked],
        )


async def favourites(request: Request) -> Response:
    _, account = await require_account(request, "read:favourites")
    page = parse_page(await read_params(request))
    async with database_of(request).connection() as conn:
        marked = await timelines.favourites(conn, viewer_id=account.id, window=window_of(page))
        return await status_page(
            request,
            conn,
            [m.status for m in marked],
            account.id,
            page,
            page_ids=[m.page_id for m in marked],
        )


routes: list[BaseRoute] = [
    Route("/api/v1/bookmarks", bookmarks, methods=["GET"]),
    Route("/api/v1/favourites", favourites, methods=["GET"]),
]
