"""Mastodon client API: pending requests to follow a locked account (docs: methods/follow_requests).

Requests are listed newest first and paged by request id; authorizing one makes the follow,
rejecting one makes it vanish.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import relationships as relationship_domain
from fediverse.errors import NotFound
from fediverse.ids import parse_id
from fediverse.storage import relationships as relationship_store
from web.auth import require_account
from web.forms import read_params
from web.mastodon_api.accounts import (
    ACCOUNTS_DEFAULT_LIMIT,
    paged_accounts_response,
    render_relationship,
)
from web.pagination import ACCOUNTS_MAX_LIMIT, parse_page
from web.responses import JSONResponse
from web.state import database_of


async def list_follow_requests(request: Request) -> Response:
    _, account = await require_account(request, "read:follows")
    page = parse_page(
        await read_params(request),
        default_limit=ACCOUNTS_DEFAULT_LIMIT,
        max_limit=ACCOUNTS_MAX_LIMIT,
    )
    async with database_of(request).connection() as conn:
        rows = await relationship_store.list_account_page(
            conn,
            kind="follow_requests",
            owner_id=account.id,
            max_id=page.max_id,
            since_id=page.since_id,
            min_id=page.min_id,
            limit=page.limit,
        )
    return paged_accounts_response(request, page, rows, {})


def _requester_id(request: Request) -> int:
    requester_id = parse_id(request.path_params["account_id"])
    if requester_id is None:
        raise NotFound()
    return requester_id


async def authorize(request: Request) -> Response:
    _, account = await require_account(request, "write:follows")
    requester_id = _requester_id(request)
    async with database_of(request).transaction() as conn:
        result = await relationship_domain.authorize_follow_request(
            conn, account=account, requester_id=requester_id
        )
    return JSONResponse(render_relationship(result))


async def reject(request: Request) -> Response:
    _, account = await require_account(request, "write:follows")
    requester_id = _requester_id(request)
    async with database_of(request).transaction() as conn:
        result = await relationship_domain.reject_follow_request(
            conn, account=account, requester_id=requester_id
        )
    return JSONResponse(render_relationship(result))


routes: list[BaseRoute] = [
    Route("/api/v1/follow_requests", list_follow_requests, methods=["GET"]),
    Route("/api/v1/follow_requests/{account_id}/authorize", authorize, methods=["POST"]),
    Route("/api/v1/follow_requests/{account_id}/reject", reject, methods=["POST"]),
]
