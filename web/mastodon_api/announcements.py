"""Mastodon client API: announcements, dismissing them, and reacting to them with emoji.

Admins make announcements with `fediverse.announcements.create_announcement` (docs:
methods/announcements, entities/Announcement).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import announcements
from fediverse.announcements import AnnouncementView
from fediverse.errors import NotFound
from fediverse.ids import parse_id
from web.auth import require_account
from web.mastodon_api.entities import iso
from web.responses import JSONResponse
from web.state import database_of


def render_announcement(view: AnnouncementView) -> dict[str, Any]:
    item = view.announcement
    entity: dict[str, Any] = {
        "id": str(item.id),
        "content": item.content,
        "starts_at": iso(item.starts_at),
        "ends_at": iso(item.ends_at),
        "all_day": item.all_day,
        "published": item.published_at is not None,
        "published_at": iso(item.published_at),
        "updated_at": iso(item.updated_at),
        "mentions": [],
        "statuses": [],
        "tags": [],
        "emojis": [],
        "reactions": [
            {"name": reaction.name, "count": reaction.count, "me": reaction.me}
            for reaction in view.reactions
        ],
    }
    if view.read is not None:
        entity["read"] = view.read
    return entity


def _announcement_id(request: Request) -> int:
    value = parse_id(request.path_params["id"])
    if value is None:
        raise NotFound()
    return value


async def index(request: Request) -> Response:
    _, account = await require_account(request, "read:accounts")
    async with database_of(request).connection() as conn:
        views = await announcements.list_for(conn, viewer_id=account.id)
    return JSONResponse([render_announcement(view) for view in views])


async def dismiss(request: Request) -> Response:
    _, account = await require_account(request, "write:accounts")
    async with database_of(request).transaction() as conn:
        await announcements.dismiss(
            conn, announcement_id=_announcement_id(request), account_id=account.id
        )
    return JSONResponse({})


async def add_reaction(request: Request) -> Response:
    _, account = await require_account(request, "write:favourites")
    async with database_of(request).transaction() as conn:
        await announcements.add_reaction(
            conn,
            announcement_id=_announcement_id(request),
            account_id=account.id,
            name=unquote(request.path_params["name"]),
        )
    return JSONResponse({})


async def remove_reaction(request: Request) -> Response:
    _, account = await require_account(request, "write:favourites")
    async with database_of(request).transaction() as conn:
        await announcements.remove_reaction(
            conn,
            announcement_id=_announcement_id(request),
            account_id=account.id,
            name=unquote(request.path_params["name"]),
        )
    return JSONResponse({})


routes: list[BaseRoute] = [
    Route("/api/v1/announcements", index, methods=["GET"]),
    Route("/api/v1/announcements/{id}/dismiss", dismiss, methods=["POST"]),
    Route("/api/v1/announcements/{id}/reactions/{name}", add_reaction, methods=["PUT"]),
    Route("/api/v1/announcements/{id}/reactions/{name}", remove_reaction, methods=["DELETE"]),
]
