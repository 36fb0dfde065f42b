"""Mastodon client API: notifications v1 (docs: methods/notifications, entities/Notification)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import timelines
from fediverse.errors import NotFound, ValidationError
from fediverse.ids import parse_id
from fediverse.status_views import StatusView, load_views
from fediverse.storage import accounts as account_store
from fediverse.storage import notifications as notification_store
from fediverse.storage import severance_events as severance_store
from fediverse.storage import statuses as status_store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Connection
from fediverse.storage.notifications import Notification
from fediverse.storage.severance_events import AccountSeveranceEvent
from fediverse.urls import LocalUrls
from web.auth import require_account
from web.forms import Params, read_params
from web.mastodon_api.entities import iso, render_account, render_status
from web.mastodon_api.filters import apply_filters_to_notifications
from web.mastodon_api.timelines import path_id, window_of
from web.pagination import add_link_header, parse_page
from web.responses import JSONResponse
from web.state import database_of, urls_of

DEFAULT_LIMIT = 40
MAX_LIMIT = 80
UNREAD_DEFAULT_LIMIT = 100
UNREAD_MAX_LIMIT = 1000

# Mastodon attaches the status to these types only (NotificationSerializer#status_type?).
STATUS_TYPES = frozenset({"favourite", "reblog", "status", "mention", "poll", "update"})
# ... and the severance event to this one (NotificationSerializer#relationship_severance_event?).
SEVERANCE_TYPE = "severed_relationships"


def render_severance_event(event: AccountSeveranceEvent | None) -> dict[str, Any] | None:
    """Mastodon 4.3's RelationshipSeveranceEvent (REST::AccountRelationshipSeveranceEvent)."""
    if event is None:
        return None
    return {
        "id": str(event.id),
        "type": event.type,
        "purged": event.purged,
        "target_name": event.target_name,
        "followers_count": event.followers_count,
        "following_count": event.following_count,
        "created_at": iso(event.created_at),
    }


async def severance_events_of(
    conn: Connection, notifications: list[Notification], recipient_id: int
) -> dict[int, AccountSeveranceEvent]:
    """The events of the `severed_relationships` notifications among these, by their id (the
    recipient's own figures only)."""
    return await severance_store.list_by_notification(
        conn,
        notification_ids=[n.id for n in notifications if n.type == SEVERANCE_TYPE],
        account_id=recipient_id,
    )


def shown(notification: Notification, events: dict[int, AccountSeveranceEvent]) -> bool:
    """A `severed_relationships` notification is shown only with its event (Mastodon always
    sends one; one recorded before events were kept has none, and is left out)."""
    return notification.type != SEVERANCE_TYPE or notification.id in events


def render_notification(
    notification: Notification,
    account: Account,
    status: StatusView | None,
    urls: LocalUrls,
    event: AccountSeveranceEvent | None = None,
) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "id": str(notification.id),
        "type": notification.type,
        "created_at": iso(notification.created_at),
        "group_key": notification.group_key or f"ungrouped-{notification.id}",
        "account": render_account(account, urls),
    }
    if notification.type in STATUS_TYPES:
        entity["status"] = None if status is None else render_status(status, urls)
    if notification.type == SEVERANCE_TYPE:
        entity["event"] = render_severance_event(event)
    return entity


async def accounts_by_id(conn: Connection, account_ids: list[int]) -> dict[int, Account]:
    found = await account_store.list_accounts_by_ids(conn, account_ids=sorted(set(account_ids)))
    return {a.id: a for a in found}


async def visible_views(
    conn: Connection, status_ids: list[int], viewer_id: int
) -> dict[int, StatusView]:
    """Views of those statuses the viewer may still see, by id: a second guard beside the
    listing queries (notifications, groups, requests)."""
    statuses = await status_store.list_visible_statuses(
        conn, status_ids=sorted(set(status_ids)), viewer_id=viewer_id
    )
    return {v.status.id: v for v in await load_views(conn, statuses, viewer_id)}


async def render_notifications(
    conn: Connection, notifications: list[Notification], recipient_id: int, urls: LocalUrls
) -> list[dict[str, Any]]:
    """Entities in the given order; one whose status can no longer be shown is left out."""
    accounts = await accounts_by_id(conn, [n.from_account_id for n in notifications])
    views = await visible_views(
        conn, [n.status_id for n in notifications if n.status_id is not None], recipient_id
    )
    events = await severance_events_of(conn, notifications, recipient_id)
    rendered = []
    for notification in notifications:
        account = accounts.get(notification.from_account_id)
        view = None if notification.status_id is None else views.get(notification.status_id)
        if account is None or (notification.type in STATUS_TYPES and view is None):
            continue
        if not shown(notification, events):
            continue
        event = events.get(notification.id)
        rendered.append(render_notification(notification, account, view, urls, event))
    return rendered


def _filters(params: Params) -> tuple[list[str] | None, list[str], int | None]:
    types = [str(t) for t in params.list("types")] or None
    exclude_types = [str(t) for t in params.list("exclude_types")]
    from_account_id = None
    raw = params.str("account_id")
    if raw:
        from_account_id = parse_id(raw)
        if from_account_id is None:
            raise ValidationError("account_id must be an id", field="account_id")
    return types, exclude_types, from_account_id


async def index(request: Request) -> Response:
    _, account = await require_account(request, "read:notifications")
    params = await read_params(request)
    page = parse_page(params, default_limit=DEFAULT_LIMIT, max_limit=MAX_LIMIT)
    types, exclude_types, from_account_id = _filters(params)
    async with database_of(request).connection() as conn:
        found = await timelines.notifications(
            conn,
            recipient_id=account.id,
            window=window_of(page),
            types=types,
            exclude_types=exclude_types,
            from_account_id=from_account_id,
        )
        body = await apply_filters_to_notifications(
            conn,
            await render_notifications(conn, found, account.id, urls_of(request)),
            viewer_id=account.id,
        )
    return add_link_header(JSONResponse(body), request, page, [n.id for n in found])


async def unread_count(request: Request) -> Response:
    _, account = await require_account(request, "read:notifications")
    params = await read_params(request)
    cap = params.int("limit", UNREAD_DEFAULT_LIMIT) or UNREAD_DEFAULT_LIMIT
    types, exclude_types, from_account_id = _filters(params)
    async with database_of(request).connection() as conn:
        count = await notification_store.count_unread_notifications(
            conn,
            account_id=account.id,
            cap=max(1, min(cap, UNREAD_MAX_LIMIT)),
            types=types,
            exclude_types=exclude_types,
            from_account_id=from_account_id,
        )
    return JSONResponse({"count": count})


async def show(request: Request) -> Response:
    _, account = await require_account(request, "read:notifications")
    notification_id = path_id(request)
    async with database_of(request).connection() as conn:
        found = await notification_store.fetch_shown_notification(
            conn, account_id=account.id, notification_id=notification_id
        )
        body = (
            []
            if found is None
            else await render_notifications(conn, [found], account.id, urls_of(request))
        )
    if not body:
        raise NotFound()
    return JSONResponse(body[0])


async def _dismiss(request: Request, raw_id: object) -> Response:
    _, account = await require_account(request, "write:notifications")
    notification_id = parse_id(raw_id)
    if notification_id is None:
        raise NotFound()
    async with database_of(request).transaction() as conn:
        if not await notification_store.delete_notification(
            conn, account_id=account.id, notification_id=notification_id
        ):
            raise NotFound()
    return JSONResponse({})


async def dismiss(request: Request) -> Response:
    return await _dismiss(request, request.path_params["id"])


async def dismiss_legacy(request: Request) -> Response:
    """`POST /api/v1/notifications/dismiss` with `id` in the body (Mastodon before 3.1)."""
    params = await read_params(request)
    return await _dismiss(request, params.str("id"))


async def clear(request: Request) -> Response:
    _, account = await require_account(request, "write:notifications")
    async with database_of(request).transaction() as conn:
        await notification_store.delete_all_notifications(conn, account_id=account.id)
    return JSONResponse({})


routes: list[BaseRoute] = [
    Route("/api/v1/notifications", index, methods=["GET"]),
    Route("/api/v1/notifications/unread_count", unread_count, methods=["GET"]),
    Route("/api/v1/notifications/clear", clear, methods=["POST"]),
    Route("/api/v1/notifications/dismiss", dismiss_legacy, methods=["POST"]),
    Route("/api/v1/notifications/{id}", show, methods=["GET"]),
    Route("/api/v1/notifications/{id}/dismiss", dismiss, methods=["POST"]),
]
