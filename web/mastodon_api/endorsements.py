"""Mastodon client API: endorsing (featuring) followed accounts on one's profile."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import directory
from fediverse import relationships as relationship_domain
from fediverse.errors import NotFound
from fediverse.ids import parse_id
from web.auth import require_account
from web.forms import read_params
from web.mastodon_api.accounts import render_profile, render_relationship
from web.pagination import ACCOUNTS_MAX_LIMIT, add_link_header, parse_page
from web.responses import JSONResponse
from web.state import database_of, urls_of

ENDORSEMENTS_DEFAULT_LIMIT = 40


def _target_id(request: Request) -> int:
    value = parse_id(request.path_params["id"])
    if value is None:
        raise NotFound()
    return value


async def _pin(request: Request, *, endorse: bool) -> Response:
    _, account = await require_account(request, "write:accounts")
    async with database_of(request).transaction() as conn:
        target = await relationship_domain.fetch_target(conn, _target_id(request))
        if endorse:
            result = await directory.endorse(conn, account=account, target=target)
        else:
            result = await directory.unendorse(conn, account=account, target=target)
    entity = render_relationship(result)
    entity["endorsed"] = endorse
    return JSONResponse(entity)


async def pin(request: Request) -> Response:
    return await _pin(request, endorse=True)


async def unpin(request: Request) -> Response:
    return await _pin(request, endorse=False)


async def endorsements(request: Request) -> Response:
    _, account = await require_account(request, "read:accounts")
    page = parse_page(
        await read_params(request),
        default_limit=ENDORSEMENTS_DEFAULT_LIMIT,
        max_limit=ACCOUNTS_MAX_LIMIT,
    )
    async with database_of(request).connection() as conn:
        rows = await directory.endorsements(
            conn,
            account_id=account.id,
            below_id=page.max_id or 2**63 - 1,
            above_id=page.since_id or page.min_id or 0,
            limit=page.limit,
        )
    urls = urls_of(request)
    response = JSONResponse([render_profile(target, urls) for _, target in rows])
    return add_link_header(response, request, page, [pin_id for pin_id, _ in rows])


routes: list[BaseRoute] = [
    Route("/api/v1/accounts/{id}/pin", pin, methods=["POST"]),
    Route("/api/v1/accounts/{id}/unpin", unpin, methods=["POST"]),
    Route("/api/v1/endorsements", endorsements, methods=["GET"]),
]
