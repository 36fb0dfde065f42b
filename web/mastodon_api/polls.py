"""Mastodon client API: polls (docs: methods/polls, entities/Poll)."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import polls as poll_domain
from fediverse.errors import ValidationError
from fediverse.storage import polls as poll_store
from fediverse.storage.database import Connection
from fediverse.storage.polls import Poll
from web.auth import read_viewer, require_account
from web.forms import read_params
from web.mastodon_api.entities import render_poll
from web.mastodon_api.timelines import path_id
from web.responses import JSONResponse
from web.state import database_of


async def _render(conn: Connection, poll: Poll, viewer_id: int | None) -> Response:
    own_votes = None
    if viewer_id is not None:
        choices = await poll_store.list_own_choices(conn, account_id=viewer_id, poll_ids=[poll.id])
        own_votes = choices.get(poll.id, [])
    return JSONResponse(render_poll(poll, own_votes=own_votes, viewer_id=viewer_id))


async def show(request: Request) -> Response:
    """GET /api/v1/polls/:id: only for those who may see the poll's status (else 404)."""
    viewer = await read_viewer(request, "read:statuses")
    viewer_id = None if viewer is None else viewer.account_id
    poll_id = path_id(request)
    async with database_of(request).connection() as conn:
        poll, _ = await poll_domain.fetch_visible_poll(conn, poll_id=poll_id, viewer_id=viewer_id)
        return await _render(conn, poll, viewer_id)


async def vote(request: Request) -> Response:
    """POST /api/v1/polls/:id/votes with `choices[]` (0-based option indexes)."""
    _, account = await require_account(request, "write:statuses")
    poll_id = path_id(request)
    params = await read_params(request)
    choices = []
    for raw in params.list("choices"):
        try:
            choices.append(int(raw))
        except (TypeError, ValueError):
            raise ValidationError("choices must be option indexes", field="choices") from None
    async with database_of(request).transaction() as conn:
        poll = await poll_domain.vote(
            conn, voter=account, poll_id=poll_id, choices=choices, now=datetime.now(UTC)
        )
        return await _render(conn, poll, account.id)


routes: list[BaseRoute] = [
    Route("/api/v1/polls/{id}", show, methods=["GET"]),
    Route("/api/v1/polls/{id}/votes", vote, methods=["POST"]),
]
