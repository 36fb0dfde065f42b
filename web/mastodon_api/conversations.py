"""Mastodon client API: direct conversations (docs: methods/conversations)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import conversations as conversation_domain
from fediverse.status_views import load_views
from fediverse.storage import accounts as account_store
from fediverse.storage import statuses as status_store
from fediverse.storage.conversations import Conversation
from fediverse.storage.database import Connection
from fediverse.urls import LocalUrls
from web.auth import require_account
from web.forms import read_params
from web.mastodon_api.entities import render_account, render_status
from web.mastodon_api.timelines import path_id, window_of
from web.pagination import add_link_header, parse_page
from web.responses import JSONResponse
from web.state import database_of, urls_of

DEFAULT_LIMIT = 20
MAX_LIMIT = 40


async def render_conversations(
    conn: Connection, conversations: list[Conversation], owner_id: int, urls: LocalUrls
) -> list[dict[str, Any]]:
    """Conversation entities; `last_status` is one the owner may see (chosen in SQL)."""
    account_ids = sorted({i for c in conversations for i in c.participant_ids})
    accounts = {
        a.id: a for a in await account_store.list_accounts_by_ids(conn, account_ids=account_ids)
    }
    statuses = await status_store.list_visible_statuses(
        conn, status_ids=[c.last_status_id for c in conversations], viewer_id=owner_id
    )
    views = {v.status.id: v for v in await load_views(conn, statuses, owner_id)}
    body = []
    for conversation in conversations:
        view = views.get(conversation.last_status_id)
        if view is None:
            continue
        body.append(
            {
                "id": str(conversation.id),
                "unread": conversation.unread,
                "accounts": [
                    render_account(accounts[i], urls)
                    for i in conversation.participant_ids
                    if i in accounts
                ],
                "last_status": render_status(view, urls),
            }
        )
    return body


async def index(request: Request) -> Response:
    _, account = await require_account(request, "read:statuses")
    params = await read_params(request)
    page = parse_page(params, default_limit=DEFAULT_LIMIT, max_limit=MAX_LIMIT)
    async with database_of(request).connection() as conn:
        found = await conversation_domain.list_conversations(
            conn, account_id=account.id, window=window_of(page)
        )
        body = await render_conversations(conn, found, account.id, urls_of(request))
    # Paged by the last status id, as Mastodon does.
    return add_link_header(JSONResponse(body), request, page, [c.last_status_id for c in found])


async def read(request: Request) -> Response:
    _, account = await require_account(request, "write:conversations")
    conversation_id = path_id(request)
    async with database_of(request).transaction() as conn:
        conversation = await conversation_domain.mark_read(
            conn, account_id=account.id, conversation_id=conversation_id
        )
        body = await render_conversations(conn, [conversation], account.id, urls_of(request))
    return JSONResponse(body[0])


async def destroy(request: Request) -> Response:
    _, account = await require_account(request, "write:conversations")
    conversation_id = path_id(request)
    async with database_of(request).transaction() as conn:
        await conversation_domain.remove(
            conn, account_id=account.id, conversation_id=conversation_id
        )
    return JSONResponse({})


routes: list[BaseRoute] = [
    Route("/api/v1/conversations", index, methods=["GET"]),
    Route("/api/v1/conversations/{id}/read", read, methods=["POST"]),
    Route("/api/v1/conversations/{id}", destroy, methods=["DELETE"]),
]
