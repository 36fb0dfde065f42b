"""Mastodon client API: trending tags, statuses and links, from this server's own activity."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import directory
from fediverse.directory import TrendingLink, TrendingTag
from fediverse.status_views import load_views
from fediverse.tag_follows import TagUse
from web.auth import read_viewer
from web.forms import read_params
from web.mastodon_api.entities import render_status, render_tag
from web.responses import JSONResponse
from web.state import database_of, urls_of

TAGS_DEFAULT_LIMIT = 10
TAGS_MAX_LIMIT = 20
STATUSES_DEFAULT_LIMIT = 20
STATUSES_MAX_LIMIT = 40


def render_history(history: list[TagUse]) -> list[dict[str, str]]:
    # Mastodon sends these numbers as strings, newest day first.
    return [
        {"day": str(int(use.day.timestamp())), "uses": str(use.uses), "accounts": str(use.accounts)}
        for use in history
    ]


def render_link(link: TrendingLink) -> dict[str, Any]:
    """A PreviewCard from the link alone: we do not fetch pages, so title is the address."""
    parts = urlsplit(link.url)
    return {
        "url": link.url,
        "title": f"{parts.netloc}{parts.path}".rstrip("/"),
        "description": "",
        "language": None,
        "type": "link",
        "author_name": "",
        "author_url": "",
        "provider_name": parts.netloc,
        "provider_url": "",
        "html": "",
        "width": 0,
        "height": 0,
        "image": None,
        "image_description": "",
        "embed_url": "",
        "blurhash": None,
        "published_at": None,
        "authors": [],
        "history": render_history(link.history),
    }


async def _window(request: Request, default: int, maximum: int) -> tuple[int, int]:
    params = await read_params(request)
    limit = max(1, min(params.int("limit", default) or default, maximum))
    return params.int("offset", 0) or 0, limit


async def tags(request: Request) -> Response:
    await read_viewer(request, "read")
    offset, limit = await _window(request, TAGS_DEFAULT_LIMIT, TAGS_MAX_LIMIT)
    async with database_of(request).connection() as conn:
        found: list[TrendingTag] = await directory.trending_tags(conn, offset=offset, limit=limit)
    urls = urls_of(request)
    return JSONResponse(
        [render_tag(tag.name, urls, history=render_history(tag.history)) for tag in found]
    )


async def statuses(request: Request) -> Response:
    viewer = await read_viewer(request, "read:statuses")
    viewer_id = None if viewer is None else viewer.account_id
    offset, limit = await _window(request, STATUSES_DEFAULT_LIMIT, STATUSES_MAX_LIMIT)
    async with database_of(request).connection() as conn:
        found = await directory.trending_statuses(
            conn, viewer_id=viewer_id, offset=offset, limit=limit
        )
        views = await load_views(conn, found, viewer_id)
    urls = urls_of(request)
    return JSONResponse([render_status(view, urls) for view in views])


async def links(request: Request) -> Response:
    await read_viewer(request, "read")
    offset, limit = await _window(request, TAGS_DEFAULT_LIMIT, TAGS_MAX_LIMIT)
    async with database_of(request).connection() as conn:
        found = await directory.trending_links(conn, offset=offset, limit=limit)
    return JSONResponse([render_link(link) for link in found])


routes: list[BaseRoute] = [
    Route("/api/v1/trends", tags, methods=["GET"]),  # the pre-3.5 path for tags
    Route("/api/v1/trends/tags", tags, methods=["GET"]),
    Route("/api/v1/trends/statuses", statuses, methods=["GET"]),
    Route("/api/v1/trends/links", links, methods=["GET"]),
]
