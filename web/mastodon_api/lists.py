"""Mastodon client API: lists and their members (docs: methods/lists)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import lists
from fediverse.errors import ValidationError
from fediverse.ids import parse_id
from fediverse.storage.lists import AccountList
from web.auth import require_account
from web.forms import Params, read_params
from web.mastodon_api.entities import render_account
from web.mastodon_api.timelines import path_id
from web.pagination import ACCOUNTS_MAX_LIMIT, add_link_header, parse_page
from web.responses import JSONResponse
from web.state import database_of, urls_of

MEMBERS_DEFAULT_LIMIT = 40


def render_list(item: AccountList) -> dict[str, Any]:
    return {
        "id": str(item.id),
        "title": item.title,
        "replies_policy": item.replies_policy,
        "exclusive": item.exclusive,
    }


def _account_ids(params: Params) -> list[int]:
    result = []
    for raw in params.list("account_ids"):
        value = parse_id(raw)
        if value is None:
            raise ValidationError("account_ids must be ids", field="account_ids")
        result.append(value)
    return result


async def index(request: Request) -> Response:
    _, account = await require_account(request, "read:lists")
    async with database_of(request).connection() as conn:
        found = await lists.all_lists(conn, owner_id=account.id)
    return JSONResponse([render_list(item) for item in found])


async def create(request: Request) -> Response:
    _, account = await require_account(request, "write:lists")
    params = await read_params(request)
    async with database_of(request).transaction() as conn:
        created = await lists.create_list(
            conn,
            owner_id=account.id,
            title=params.str("title"),
            replies_policy=params.str("replies_policy"),
            exclusive=params.bool("exclusive"),
        )
    return JSONResponse(render_list(created))


async def show(request: Request) -> Response:
    _, account = await require_account(request, "read:lists")
    list_id = path_id(request)
    async with database_of(request).connection() as conn:
        found = await lists.own_list(conn, owner_id=account.id, list_id=list_id)
    return JSONResponse(render_list(found))


async def update(request: Request) -> Response:
    _, account = await require_account(request, "write:lists")
    list_id = path_id(request)
    params = await read_params(request)
    async with database_of(request).transaction() as conn:
        updated = await lists.update_list(
            conn,
            owner_id=account.id,
            list_id=list_id,
            title=params.str("title"),
            replies_policy=params.str("replies_policy"),
            exclusive=params.bool("exclusive"),
        )
    return JSONResponse(render_list(updated))


async def destroy(request: Request) -> Response:
    _, account = await require_account(request, "write:lists")
    list_id = path_id(request)
    async with database_of(request).transaction() as conn:
        await lists.delete_list(conn, owner_id=account.id, list_id=list_id)
    return JSONResponse({})


async def members(request: Request) -> Response:
    _, account = await require_account(request, "read:lists")
    list_id = path_id(request)
    params = await read_params(request)
    # Mastodon: limit=0 returns every member, without paging.
    everything = params.int("limit") == 0
    page = parse_page(params, default_limit=MEMBERS_DEFAULT_LIMIT, max_limit=ACCOUNTS_MAX_LIMIT)
    async with database_of(request).connection() as conn:
        found = await lists.members(
            conn,
            owner_id=account.id,
            list_id=list_id,
            max_id=page.max_id,
            since_id=page.since_id,
            min_id=page.min_id,
            limit=None if everything else page.limit,
        )
    urls = urls_of(request)
    response = JSONResponse([render_account(member, urls) for member in found])
    if everything:
        return response
    return add_link_header(response, request, page, [member.id for member in found])


async def add_members(request: Request) -> Response:
    _, account = await require_account(request, "write:lists")
    list_id = path_id(request)
    params = await read_params(request)
    async with database_of(request).transaction() as conn:
        await lists.add_members(
            conn, owner_id=account.id, list_id=list_id, account_ids=_account_ids(params)
        )
    return JSONResponse({})


async def remove_members(request: Request) -> Response:
    _, account = await require_account(request, "write:lists")
    list_id = path_id(request)
    params = await read_params(request)
    async with database_of(request).transaction() as conn:
        await lists.remove_members(
            conn, owner_id=account.id, list_id=list_id, account_ids=_account_ids(params)
        )
    return JSONResponse({})


routes: list[BaseRoute] = [
    Route("/api/v1/lists", index, methods=["GET"]),
    Route("/api/v1/lists", create, methods=["POST"]),
    Route("/api/v1/lists/{id}", show, methods=["GET"]),
    Route("/api/v1/lists/{id}", update, methods=["PUT"]),
    Route("/api/v1/lists/{id}", destroy, methods=["DELETE"]),
    Route("/api/v1/lists/{id}/accounts", members, methods=["GET"]),
    Route("/api/v1/lists/{id}/accounts", add_members, methods=["POST"]),
    Route("/api/v1/lists/{id}/accounts", remove_members, methods=["DELETE"]),
]
