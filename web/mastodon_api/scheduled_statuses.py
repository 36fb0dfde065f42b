"""Mastodon client API: scheduled statuses (docs: methods/scheduled_statuses)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import scheduled as scheduled_domain
from fediverse.errors import NotFound, ValidationError
from fediverse.ids import parse_id
from fediverse.storage import media as media_store
from fediverse.storage.database import Connection
from fediverse.storage.scheduled import ScheduledStatus
from fediverse.urls import LocalUrls
from web.auth import require_account
from web.forms import read_params
from web.mastodon_api.entities import iso
from web.mastodon_api.media_entities import render_media_attachment
from web.mastodon_api.timelines import window_of
from web.pagination import add_link_header, parse_page
from web.responses import JSONResponse
from web.state import database_of, urls_of

DEFAULT_LIMIT = 20
MAX_LIMIT = 40


def parse_scheduled_at(raw: str | None) -> datetime | None:
    """An ISO 8601 datetime (naive means UTC); None when absent."""
    if raw is None or raw.strip() == "":
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            "scheduled_at must be an ISO 8601 datetime", field="scheduled_at"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def render_scheduled_status(
    conn: Connection, scheduled: ScheduledStatus, urls: LocalUrls
) -> dict[str, Any]:
    media = []
    for media_id in scheduled_domain.media_ids_of(scheduled):
        item = await media_store.fetch_media(conn, media_id=media_id)
        if item is not None and item.account_id == scheduled.account_id:
            media.append(render_media_attachment(item, urls))
    return {
        "id": str(scheduled.id),
        "scheduled_at": iso(scheduled.scheduled_at),
        "params": scheduled.params,
        "media_attachments": media,
    }


def _scheduled_id(request: Request) -> int:
    scheduled_id = parse_id(request.path_params["id"])
    if scheduled_id is None:
        raise NotFound()
    return scheduled_id


async def index(request: Request) -> Response:
    _, account = await require_account(request, "read:statuses")
    params = await read_params(request)
    page = parse_page(params, default_limit=DEFAULT_LIMIT, max_limit=MAX_LIMIT)
    urls = urls_of(request)
    async with database_of(request).connection() as conn:
        found = await scheduled_domain.list_scheduled(
            conn, account_id=account.id, window=window_of(page)
        )
        body = [await render_scheduled_status(conn, item, urls) for item in found]
    return add_link_header(JSONResponse(body), request, page, [item.id for item in found])


async def show(request: Request) -> Response:
    _, account = await require_account(request, "read:statuses")
    scheduled_id = _scheduled_id(request)
    async with database_of(request).connection() as conn:
        found = await scheduled_domain.fetch_scheduled(
            conn, account_id=account.id, scheduled_id=scheduled_id
        )
        body = await render_scheduled_status(conn, found, urls_of(request))
    return JSONResponse(body)


async def update(request: Request) -> Response:
    """PUT: only the time can change, as in Mastodon."""
    _, account = await require_account(request, "write:statuses")
    scheduled_id = _scheduled_id(request)
    params = await read_params(request)
    scheduled_at = parse_scheduled_at(params.str("scheduled_at"))
    async with database_of(request).transaction() as conn:
        if scheduled_at is None:
            found = await scheduled_domain.fetch_scheduled(
                conn, account_id=account.id, scheduled_id=scheduled_id
            )
        else:
            found = await scheduled_domain.reschedule(
                conn,
                account_id=account.id,
                scheduled_id=scheduled_id,
                scheduled_at=scheduled_at,
                now=datetime.now(UTC),
            )
        body = await render_scheduled_status(conn, found, urls_of(request))
    return JSONResponse(body)


async def destroy(request: Request) -> Response:
    _, account = await require_account(request, "write:statuses")
    scheduled_id = _scheduled_id(request)
    async with database_of(request).transaction() as conn:
        await scheduled_domain.cancel(conn, account_id=account.id, scheduled_id=scheduled_id)
    return JSONResponse({})


routes: list[BaseRoute] = [
    Route("/api/v1/scheduled_statuses", index, methods=["GET"]),
    Route("/api/v1/scheduled_statuses/{id}", show, methods=["GET"]),
    Route("/api/v1/scheduled_statuses/{id}", update, methods=["PUT"]),
    Route("/api/v1/scheduled_statuses/{id}", destroy, methods=["DELETE"]),
]
