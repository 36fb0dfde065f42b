"""Mastodon client API: `/api/v1/markers`, saved read positions (docs: methods/markers)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import markers
from fediverse.errors import ValidationError
from fediverse.ids import parse_id
from fediverse.storage.markers import Marker
from web.auth import require_account
from web.forms import read_params
from web.mastodon_api.entities import iso
from web.responses import JSONResponse
from web.state import database_of


def render_marker(marker: Marker) -> dict[str, Any]:
    return {
        "last_read_id": str(marker.last_read_id),
        "version": marker.version,
        "updated_at": iso(marker.updated_at),
    }


async def get_markers(request: Request) -> Response:
    _, account = await require_account(request, "read:statuses")
    params = await read_params(request)
    timelines = [str(name) for name in params.list("timeline")]
    async with database_of(request).transaction() as conn:
        found = await markers.get_markers(conn, account_id=account.id, timelines=timelines)
    return JSONResponse({name: render_marker(marker) for name, marker in found.items()})


async def save_markers(request: Request) -> Response:
    _, account = await require_account(request, "write:statuses")
    params = await read_params(request)
    positions: dict[str, int] = {}
    for timeline in markers.TIMELINES:
        if timeline not in params:
            continue
        raw = params.dict(timeline).get("last_read_id")
        last_read_id = parse_id(raw)
        if last_read_id is None:
            raise ValidationError(
                f"{timeline}[last_read_id] must be an id", field=f"{timeline}[last_read_id]"
            )
        positions[timeline] = last_read_id
    async with database_of(request).transaction() as conn:
        saved = await markers.save_markers(
            conn, account_id=account.id, positions=positions, now=datetime.now(UTC)
        )
    return JSONResponse({name: render_marker(marker) for name, marker in saved.items()})


routes: list[BaseRoute] = [
    Route("/api/v1/markers", get_markers, methods=["GET"]),
    Route("/api/v1/markers", save_markers, methods=["POST"]),
]
