"""Mastodon client API: grouped notifications (v2, Mastodon 4.3), the notification policy and
notification requests (docs: methods/grouped_notifications, methods/notifications)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import notification_groups as group_domain
from fediverse.errors import NotFound, ValidationError
from fediverse.ids import parse_id
from fediverse.notification_groups import NotificationGroup, Policy
from fediverse.storage.accounts import Account
from fediverse.storage.database import Connection
from fediverse.storage.notification_groups import POLICY_FIELDS, NotificationRequest
from fediverse.storage.severance_events import AccountSeveranceEvent
from fediverse.urls import LocalUrls
from web.auth import require_account
from web.forms import Params, read_params
from web.mastodon_api.entities import iso, render_account, render_status
from web.mastodon_api.notifications import (
    SEVERANCE_TYPE,
    STATUS_TYPES,
    accounts_by_id,
    render_severance_event,
    severance_events_of,
    shown,
    visible_views,
)
from web.mastodon_api.timelines import path_id, window_of
from web.pagination import add_link_header, parse_page
from web.responses import JSONResponse
from web.state import database_of, urls_of

DEFAULT_LIMIT = 40
MAX_LIMIT = 80
UNREAD_DEFAULT_LIMIT = 100
UNREAD_MAX_LIMIT = 1000
GROUP_ACCOUNTS_LIMIT = 80
REQUESTS_DEFAULT_LIMIT = 40
REQUESTS_MAX_LIMIT = 80


def _partial_account(account: Account, urls: LocalUrls) -> dict[str, Any]:
    """PartialAccountWithAvatar: what an app needs to draw a row of avatars."""
    full = render_account(account, urls)
    keys = ("id", "acct", "url", "avatar", "avatar_static", "locked", "bot")
    return {key: full[key] for key in keys}


def render_group(
    group: NotificationGroup, event: AccountSeveranceEvent | None = None
) -> dict[str, Any]:
    notification = group.notification
    entity: dict[str, Any] = {
        "group_key": group.group_key,
        "notifications_count": group.notifications_count,
        "type": notification.type,
        "most_recent_notification_id": str(group.most_recent_notification_id),
        "page_min_id": str(group.page_min_id),
        "page_max_id": str(group.page_max_id),
        "latest_page_notification_at": iso(group.latest_page_notification_at),
        "sample_account_ids": [str(i) for i in group.sample_account_ids],
    }
    if notification.type in STATUS_TYPES:
        entity["status_id"] = (
            None if notification.status_id is None else str(notification.status_id)
        )
    if notification.type == SEVERANCE_TYPE:
        entity["event"] = render_severance_event(event)
    return entity


async def render_grouped(
    conn: Connection,
    groups: list[NotificationGroup],
    recipient_id: int,
    urls: LocalUrls,
    *,
    expand_accounts: str = "full",
) -> dict[str, Any]:
    """{accounts, statuses, notification_groups} (+ partial_accounts); a group whose status can
    no longer be shown is left out, as in v1."""
    status_ids = sorted(
        {
            g.notification.status_id
            for g in groups
            if g.notification.type in STATUS_TYPES and g.notification.status_id is not None
        }
    )
    views = await visible_views(conn, status_ids, recipient_id)
    events = await severance_events_of(conn, [g.notification for g in groups], recipient_id)
    kept = [
        g
        for g in groups
        if (g.notification.type not in STATUS_TYPES or g.notification.status_id in views)
        and shown(g.notification, events)
    ]
    account_ids = sorted({i for g in kept for i in g.sample_account_ids})
    accounts = await accounts_by_id(conn, account_ids)
    full_ids = set(accounts)
    partial: list[dict[str, Any]] = []
    if expand_accounts == "partial_avatars":
        # The newest account of each group in full, the rest as avatars (statuses carry
        # their own authors).
        full_ids = {g.sample_account_ids[0] for g in kept if g.sample_account_ids}
        partial = [
            _partial_account(accounts[i], urls)
            for i in account_ids
            if i in accounts and i not in full_ids
        ]
    body: dict[str, Any] = {
        "accounts": [
            render_account(accounts[i], urls)
            for i in account_ids
            if i in full_ids and i in accounts
        ],
        "statuses": [render_status(views[i], urls) for i in status_ids if i in views],
        "notification_groups": [render_group(g, events.get(g.notification.id)) for g in kept],
    }
    if expand_accounts == "partial_avatars":
        body["partial_accounts"] = partial
    return body


def _filters(params: Params) -> tuple[list[str] | None, list[str], int | None, frozenset[str]]:
    types = [str(t) for t in params.list("types")] or None
    exclude_types = [str(t) for t in params.list("exclude_types")]
    from_account_id = None
    raw = params.str("account_id")
    if raw:
        from_account_id = parse_id(raw)
        if from_account_id is None:
            raise ValidationError("account_id must be an id", field="account_id")
    grouped = group_domain.parse_grouped_types([str(t) for t in params.list("grouped_types")])
    return types, exclude_types, from_account_id, grouped


async def index(request: Request) -> Response:
    """GET /api/v2/notifications."""
    _, account = await require_account(request, "read:notifications")
    params = await read_params(request)
    page = parse_page(params, default_limit=DEFAULT_LIMIT, max_limit=MAX_LIMIT)
    types, exclude_types, from_account_id, grouped_types = _filters(params)
    expand = params.str("expand_accounts") or "full"
    if expand not in ("full", "partial_avatars"):
        raise ValidationError("expand_accounts must be full or partial_avatars", field="expand")
    async with database_of(request).connection() as conn:
        groups = await group_domain.page_of_groups(
            conn,
            recipient_id=account.id,
            window=window_of(page),
            types=types,
            exclude_types=exclude_types,
            from_account_id=from_account_id,
            grouped_types=grouped_types,
        )
        body = await render_grouped(
            conn, groups, account.id, urls_of(request), expand_accounts=expand
        )
    cursor_ids = [g.notification.id for g in groups]
    return add_link_header(JSONResponse(body), request, page, cursor_ids)


async def show(request: Request) -> Response:
    """GET /api/v2/notifications/:group_key."""
    _, account = await require_account(request, "read:notifications")
    group_key = request.path_params["group_key"]
    async with database_of(request).connection() as conn:
        group = await group_domain.fetch_group(conn, recipient_id=account.id, group_key=group_key)
        body = await render_grouped(conn, [group], account.id, urls_of(request))
    if not body["notification_groups"]:
        raise NotFound()
    return JSONResponse(body)


async def group_accounts(request: Request) -> Response:
    """GET /api/v2/notifications/:group_key/accounts: everyone in the group, newest first."""
    _, account = await require_account(request, "read:notifications")
    group_key = request.path_params["group_key"]
    async with database_of(request).connection() as conn:
        account_ids = await group_domain.list_group_account_ids(
            conn, recipient_id=account.id, group_key=group_key, limit=GROUP_ACCOUNTS_LIMIT
        )
        found = await accounts_by_id(conn, account_ids)
    urls = urls_of(request)
    return JSONResponse([render_account(found[i], urls) for i in account_ids if i in found])


async def dismiss(request: Request) -> Response:
    """POST /api/v2/notifications/:group_key/dismiss: every notification of the group."""
    _, account = await require_account(request, "write:notifications")
    group_key = request.path_params["group_key"]
    async with database_of(request).transaction() as conn:
        await group_domain.dismiss_group(conn, recipient_id=account.id, group_key=group_key)
    return JSONResponse({})


async def unread_count(request: Request) -> Response:
    """GET /api/v2/notifications/unread_count: unread groups, up to `limit`."""
    _, account = await require_account(request, "read:notifications")
    params = await read_params(request)
    cap = params.int("limit", UNREAD_DEFAULT_LIMIT) or UNREAD_DEFAULT_LIMIT
    types, exclude_types, from_account_id, grouped_types = _filters(params)
    async with database_of(request).connection() as conn:
        count = await group_domain.count_unread_groups(
            conn,
            recipient_id=account.id,
            cap=max(1, min(cap, UNREAD_MAX_LIMIT)),
            grouped_types=grouped_types,
            types=types,
            exclude_types=exclude_types,
            from_account_id=from_account_id,
        )
    return JSONResponse({"count": count})


# --- policy -----------------------------------------------------------------------------------


def render_policy(policy: Policy) -> dict[str, Any]:
    entity: dict[str, Any] = {name: getattr(policy, name) for name in POLICY_FIELDS}
    entity["summary"] = {
        "pending_requests_count": policy.pending_requests_count,
        "pending_notifications_count": policy.pending_notifications_count,
    }
    return entity


async def show_policy(request: Request) -> Response:
    _, account = await require_account(request, "read:notifications")
    async with database_of(request).connection() as conn:
        policy = await group_domain.read_policy(conn, account_id=account.id)
    return JSONResponse(render_policy(policy))


async def update_policy(request: Request) -> Response:
    _, account = await require_account(request, "write:notifications")
    params = await read_params(request)
    changes = {name: str(params.str(name)) for name in POLICY_FIELDS if params.str(name)}
    async with database_of(request).transaction() as conn:
        policy = await group_domain.update_policy(conn, account_id=account.id, changes=changes)
    return JSONResponse(render_policy(policy))


# --- requests ---------------------------------------------------------------------------------


async def render_requests(
    conn: Connection, requests: list[NotificationRequest], recipient_id: int, urls: LocalUrls
) -> list[dict[str, Any]]:
    accounts = await accounts_by_id(conn, [r.from_account_id for r in requests])
    views = await visible_views(
        conn, [r.last_status_id for r in requests if r.last_status_id is not None], recipient_id
    )
    body = []
    for request in requests:
        sender = accounts.get(request.from_account_id)
        if sender is None:
            continue
        entity: dict[str, Any] = {
            "id": str(request.id),
            "created_at": iso(request.created_at),
            "updated_at": iso(request.updated_at),
            "account": render_account(sender, urls),
            # A string in Mastodon's entity.
            "notifications_count": str(request.notifications_count),
        }
        view = views.get(request.last_status_id or 0)
        if view is not None:
            entity["last_status"] = render_status(view, urls)
        body.append(entity)
    return body


async def list_requests(request: Request) -> Response:
    _, account = await require_account(request, "read:notifications")
    params = await read_params(request)
    page = parse_page(params, default_limit=REQUESTS_DEFAULT_LIMIT, max_limit=REQUESTS_MAX_LIMIT)
    async with database_of(request).connection() as conn:
        found = await group_domain.list_requests(
            conn, recipient_id=account.id, window=window_of(page)
        )
        body = await render_requests(conn, found, account.id, urls_of(request))
    return add_link_header(JSONResponse(body), request, page, [r.id for r in found])


async def show_request(request: Request) -> Response:
    _, account = await require_account(request, "read:notifications")
    request_id = path_id(request)
    async with database_of(request).connection() as conn:
        found = await group_domain.fetch_request(
            conn, recipient_id=account.id, request_id=request_id
        )
        body = await render_requests(conn, [found], account.id, urls_of(request))
    if not body:
        raise NotFound()
    return JSONResponse(body[0])


async def _act_on_one(request: Request, *, accept: bool) -> Response:
    _, account = await require_account(request, "write:notifications")
    request_id = path_id(request)
    async with database_of(request).transaction() as conn:
        await group_domain.fetch_request(conn, recipient_id=account.id, request_id=request_id)
        act = group_domain.accept_requests if accept else group_domain.dismiss_requests
        await act(conn, recipient_id=account.id, request_ids=[request_id])
    return JSONResponse({})


async def accept_request(request: Request) -> Response:
    return await _act_on_one(request, accept=True)


async def dismiss_request(request: Request) -> Response:
    return await _act_on_one(request, accept=False)


async def _act_on_many(request: Request, *, accept: bool) -> Response:
    _, account = await require_account(request, "write:notifications")
    params = await read_params(request)
    request_ids = [i for i in (parse_id(raw) for raw in params.list("id")) if i is not None]
    async with database_of(request).transaction() as conn:
        act = group_domain.accept_requests if accept else group_domain.dismiss_requests
        await act(conn, recipient_id=account.id, request_ids=request_ids)
    return JSONResponse({})


async def accept_requests(request: Request) -> Response:
    return await _act_on_many(request, accept=True)


async def dismiss_requests(request: Request) -> Response:
    return await _act_on_many(request, accept=False)


async def merged(request: Request) -> Response:
    """Accepting moves notifications in the same transaction, so they are always merged."""
    await require_account(request, "read:notifications")
    return JSONResponse({"merged": True})


# Fixed paths come before `{group_key}` and before v1's `/api/v1/notifications/{id}`.
routes: list[BaseRoute] = [
    Route("/api/v2/notifications", index, methods=["GET"]),
    Route("/api/v2/notifications/unread_count", unread_count, methods=["GET"]),
    Route("/api/v2/notifications/policy", show_policy, methods=["GET"]),
    Route("/api/v2/notifications/policy", update_policy, methods=["PATCH", "PUT"]),
    Route("/api/v2/notifications/{group_key}", show, methods=["GET"]),
    Route("/api/v2/notifications/{group_key}/accounts", group_accounts, methods=["GET"]),
    Route("/api/v2/notifications/{group_key}/dismiss", dismiss, methods=["POST"]),
    Route("/api/v1/notifications/requests", list_requests, methods=["GET"]),
    Route("/api/v1/notifications/requests/merged", merged, methods=["GET"]),
    Route("/api/v1/notifications/requests/accept", accept_requests, methods=["POST"]),
    Route("/api/v1/notifications/requests/dismiss", dismiss_requests, methods=["POST"]),
    Route("/api/v1/notifications/requests/{id}", show_request, methods=["GET"]),
    Route("/api/v1/notifications/requests/{id}/accept", accept_request, methods=["POST"]),
    Route("/api/v1/notifications/requests/{id}/dismiss", dismiss_request, methods=["POST"]),
]
