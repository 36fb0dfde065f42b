"""Mastodon client API: home, public, hashtag and list timelines (docs: methods/timelines)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import timelines
from fediverse.errors import NotFound
from fediverse.ids import parse_id
from fediverse.status_views import load_views
from fediverse.storage.database import Connection
from fediverse.storage.statuses import Status
from fediverse.timelines import Window
from web.auth import read_viewer, require_account
from web.forms import Params, read_params
from web.mastodon_api.entities import render_status
from web.mastodon_api.filters import apply_filters
from web.pagination import PageRequest, add_link_header, parse_page
from web.responses import JSONResponse
from web.state import database_of, urls_of


def window_of(page: PageRequest) -> Window:
    return Window(max_id=page.max_id, since_id=page.since_id, min_id=page.min_id, limit=page.limit)


def path_id(request: Request, name: str = "id") -> int:
    value = parse_id(request.path_params[name])
    if value is None:
        raise NotFound()
    return value


async def status_page(
    request: Request,
    conn: Connection,
    statuses: list[Status],
    viewer_id: int | None,
    page: PageRequest,
    page_ids: list[int] | None = None,
    *,
    context: str = "home",
) -> Response:
    """Render a page of statuses (newest first) with Mastodon's `Link` header.

    `page_ids` are the cursors when they are not the status ids (bookmarks, favourites).
    The viewer's filters for `context` fill `filtered` and drop what a `hide` filter matches.
    """
    views = await load_views(conn, statuses, viewer_id)
    urls = urls_of(request)
    rendered = await apply_filters(
        conn, [render_status(view, urls) for view in views], viewer_id=viewer_id, context=context
    )
    response = JSONResponse(rendered)
    cursors = page_ids if page_ids is not None else [s.id for s in statuses]
    return add_link_header(response, request, page, cursors)


def _flag(params: Params, key: str) -> bool:
    return bool(params.bool(key, False))


async def home(request: Request) -> Response:
    _, account = await require_account(request, "read:statuses")
    page = parse_page(await read_params(request))
    async with database_of(request).connection() as conn:
        statuses = await timelines.home(conn, viewer_id=account.id, window=window_of(page))
        return await status_page(request, conn, statuses, account.id, page)


async def public(request: Request) -> Response:
    viewer = await read_viewer(request, "read:statuses")
    params = await read_params(request)
    page = parse_page(params)
    viewer_id = None if viewer is None else viewer.account_id
    async with database_of(request).connection() as conn:
        statuses = await timelines.public(
            conn,
            viewer_id=viewer_id,
            window=window_of(page),
            local=_flag(params, "local"),
            remote=_flag(params, "remote"),
            only_media=_flag(params, "only_media"),
        )
        return await status_page(request, conn, statuses, viewer_id, page, context="public")


async def hashtag(request: Request) -> Response:
    viewer = await read_viewer(request, "read:statuses")
    params = await read_params(request)
    page = parse_page(params)
    viewer_id = None if viewer is None else viewer.account_id
    async with database_of(request).connection() as conn:
        statuses = await timelines.hashtag(
            conn,
            viewer_id=viewer_id,
            tag=request.path_params["hashtag"],
            window=window_of(page),
            any_tags=[str(t) for t in params.list("any")],
            all_tags=[str(t) for t in params.list("all")],
            none_tags=[str(t) for t in params.list("none")],
            local=_flag(params, "local"),
            remote=_flag(params, "remote"),
            only_media=_flag(params, "only_media"),
        )
        return await status_page(request, conn, statuses, viewer_id, page, context="public")


async def list_timeline(request: Request) -> Response:
    _, account = await require_account(request, "read:lists")
    list_id = path_id(request)
    page = parse_page(await read_params(request))
    async with database_of(request).connection() as conn:
        statuses = await timelines.list_timeline(
            conn, viewer_id=account.id, list_id=list_id, window=window_of(page)
        )
        return await status_page(request, conn, statuses, account.id, page)


routes: list[BaseRoute] = [
    Route("/api/v1/timelines/home", home, methods=["GET"]),
    Route("/api/v1/timelines/public", public, methods=["GET"]),
    Route("/api/v1/timelines/tag/{hashtag}", hashtag, methods=["GET"]),
    Route("/api/v1/timelines/list/{id}", list_timeline, methods=["GET"]),
]
