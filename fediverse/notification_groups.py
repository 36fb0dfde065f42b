"""Grouped notifications (Mastodon 4.3) and the notification policy that filters strangers.

Grouping follows Mastodon's NotificationGroup: a page holds up to `limit` groups, each shown
once, in the order of its newest notification inside the page window; counts and sample
accounts are taken inside the page's id range, so a group that spans pages shows again.
Filtered notifications wait in their own table (per sender: a notification request) until
the recipient accepts or dismisses the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fediverse import ids
from fediverse.errors import NotFound, ValidationError
from fediverse.storage import notification_groups as group_store
from fediverse.storage import notifications as notification_store
from fediverse.storage.database import Connection
from fediverse.storage.notification_groups import (
    POLICY_FIELDS,
    GroupSummary,
    NotificationRequest,
    SenderFacts,
)
from fediverse.storage.notifications import Notification
from fediverse.timelines import Window

GROUPABLE_TYPES = ("favourite", "follow", "reblog")
SAMPLE_ACCOUNTS_SIZE = 8
# Notifications read per round while collecting a page of groups, and rounds at most.
SCAN_BATCH = 200
MAX_ROUNDS = 10
# Mastodon: only these types can be filtered by the policy (Notification::PROPERTIES).
FILTERABLE_TYPES = frozenset({"mention", "reblog", "follow", "follow_request", "favourite"})
POLICY_VALUES = ("accept", "filter", "drop")
# A staff server: colleagues are not strangers, so only limited (silenced) accounts are
# filtered by default. Mastodon also filters private mentions by default; see the report.
DEFAULT_POLICY = {
    "for_not_following": "accept",
    "for_not_followers": "accept",
    "for_new_accounts": "accept",
    "for_private_mentions": "accept",
    "for_limited_accounts": "filter",
}
NEW_ACCOUNT_AGE = timedelta(days=30)


@dataclass(frozen=True)
class NotificationGroup:
    group_key: str
    notification: Notification  # the group's representative: its type and status
    notifications_count: int
    most_recent_notification_id: int
    page_min_id: int
    page_max_id: int
    latest_page_notification_at: datetime
    sample_account_ids: list[int]


def effective_key(notification: Notification, grouped_types: frozenset[str]) -> str:
    if notification.group_key and notification.type in grouped_types:
        return notification.group_key
    return f"ungrouped-{notification.id}"


def parse_grouped_types(raw: list[str]) -> frozenset[str]:
    chosen = [t for t in raw if t in GROUPABLE_TYPES]
    return frozenset(chosen) if raw else frozenset(GROUPABLE_TYPES)


async def _heads(
    conn: Connection,
    *,
    recipient_id: int,
    window: Window,
    types: list[str] | None,
    exclude_types: list[str],
    from_account_id: int | None,
    grouped_types: frozenset[str],
) -> list[Notification]:
    """One notification per group, in scan order, up to `window.limit` groups."""
    upper, lower = window.upper, window.lower
    heads: list[Notification] = []
    seen: set[str] = set()
    for _ in range(MAX_ROUNDS):
        rows = await notification_store.list_notifications(
            conn,
            account_id=recipient_id,
            below_id=upper,
            above_id=lower,
            count=SCAN_BATCH,
            ascending=window.ascending,
            types=types or None,
            exclude_types=exclude_types,
            from_account_id=from_account_id,
        )
        for row in rows:
            key = effective_key(row, grouped_types)
            if key not in seen:
                seen.add(key)
                heads.append(row)
                if len(heads) >= window.limit:
                    return heads
        if len(rows) < SCAN_BATCH:
            break
        if window.ascending:
            lower = rows[-1].id
        else:
            upper = rows[-1].id
    return heads


def _single(notification: Notification) -> NotificationGroup:
    return NotificationGroup(
        group_key=f"ungrouped-{notification.id}",
        notification=notification,
        notifications_count=1,
        most_recent_notification_id=notification.id,
        page_min_id=notification.id,
        page_max_id=notification.id,
        latest_page_notification_at=notification.created_at,
        sample_account_ids=[notification.from_account_id],
    )


def _grouped(notification: Notification, summary: GroupSummary | None) -> NotificationGroup:
    if summary is None:
        return _single(notification)
    return NotificationGroup(
        group_key=summary.group_key,
        notification=notification,
        notifications_count=summary.notifications_count,
        most_recent_notification_id=summary.most_recent_notification_id,
        page_min_id=summary.page_min_id,
        page_max_id=summary.most_recent_notification_id,
        latest_page_notification_at=summary.latest_page_notification_at,
        sample_account_ids=summary.sample_account_ids,
    )


async def page_of_groups(
    conn: Connection,
    *,
    recipient_id: int,
    window: Window,
    types: list[str] | None = None,
    exclude_types: list[str] | None = None,
    from_account_id: int | None = None,
    grouped_types: frozenset[str] = frozenset(GROUPABLE_TYPES),
) -> list[NotificationGroup]:
    """A page of groups, newest first."""
    heads = await _heads(
        conn,
        recipient_id=recipient_id,
        window=window,
        types=types,
        exclude_types=exclude_types or [],
        from_account_id=from_account_id,
        grouped_types=grouped_types,
    )
    if window.ascending:
        heads.reverse()
    if not heads:
        return []
    # The id range the page covers (Mastodon's pagination_range): up to the newest head and
    # down to the oldest one, or to the window's own bound when the page is the last one.
    ids_in_page = [h.id for h in heads]
    range_start, range_end = min(ids_in_page), max(ids_in_page)
    if len(heads) < window.limit:
        if window.ascending:
            range_end = window.upper - 1
        else:
            range_start = window.lower + 1
    keys = sorted(
        {effective_key(h, grouped_types) for h in heads if h.type in grouped_types and h.group_key}
    )
    summaries = await group_store.list_group_summaries(
        conn,
        account_id=recipient_id,
        group_keys=keys,
        range_start=range_start,
        range_end=range_end,
        sample_size=SAMPLE_ACCOUNTS_SIZE,
    )
    groups = []
    for head in heads:
        key = effective_key(head, grouped_types)
        groups.append(
            _single(head) if key.startswith("ungrouped-") else _grouped(head, summaries.get(key))
        )
    return groups


async def fetch_group(conn: Connection, *, recipient_id: int, group_key: str) -> NotificationGroup:
    """One group, all of it (no page range); NotFound when it has nothing left to show."""
    members = await group_store.list_group_members(
        conn, account_id=recipient_id, group_key=group_key, limit=1
    )
    if not members:
        raise NotFound()
    head = members[0]
    if group_key.startswith("ungrouped-") or head.type not in GROUPABLE_TYPES:
        return _single(head)
    summaries = await group_store.list_group_summaries(
        conn,
        account_id=recipient_id,
        group_keys=[group_key],
        range_start=0,
        range_end=2**63 - 1,
        sample_size=SAMPLE_ACCOUNTS_SIZE,
    )
    return _grouped(head, summaries.get(group_key))


async def list_group_account_ids(
    conn: Connection, *, recipient_id: int, group_key: str, limit: int
) -> list[int]:
    members = await group_store.list_group_members(
        conn, account_id=recipient_id, group_key=group_key, limit=limit
    )
    if not members:
        raise NotFound()
    return list(dict.fromkeys(m.from_account_id for m in members))


async def dismiss_group(conn: Connection, *, recipient_id: int, group_key: str) -> None:
    await group_store.delete_group(conn, account_id=recipient_id, group_key=group_key)


async def count_unread_groups(
    conn: Connection,
    *,
    recipient_id: int,
    cap: int,
    grouped_types: frozenset[str],
    types: list[str] | None,
    exclude_types: list[str],
    from_account_id: int | None,
) -> int:
    return await group_store.count_unread_groups(
        conn,
        account_id=recipient_id,
        grouped_types=sorted(grouped_types),
        cap=cap,
        types=types or None,
        exclude_types=exclude_types,
        from_account_id=from_account_id,
    )


# --- policy -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    for_not_following: str
    for_not_followers: str
    for_new_accounts: str
    for_private_mentions: str
    for_limited_accounts: str
    pending_requests_count: int = 0
    pending_notifications_count: int = 0


def _with_defaults(values: dict[str, str | None]) -> dict[str, str]:
    return {name: values.get(name) or DEFAULT_POLICY[name] for name in POLICY_FIELDS}


async def read_policy(conn: Connection, *, account_id: int) -> Policy:
    stored = await group_store.fetch_policy(conn, account_id=account_id)
    requests, notifications = await group_store.count_pending(conn, account_id=account_id)
    return Policy(
        **_with_defaults(stored.values),
        pending_requests_count=requests,
        pending_notifications_count=notifications,
    )


async def update_policy(conn: Connection, *, account_id: int, changes: dict[str, str]) -> Policy:
    """Change some of the five settings; each must be accept, filter or drop."""
    for name, value in changes.items():
        if name not in POLICY_FIELDS:
            raise ValidationError(f"Unknown policy setting {name}", field=name)
        if value not in POLICY_VALUES:
            raise ValidationError(f"{name} must be one of accept, filter, drop", field=name)
    stored = await group_store.fetch_policy(conn, account_id=account_id)
    values = _with_defaults(stored.values) | changes
    await group_store.upsert_policy(conn, account_id=account_id, values=values)
    return await read_policy(conn, account_id=account_id)


def decide(facts: SenderFacts, *, recipient_id: int, type: str, now: datetime) -> str:
    """accept, filter or drop: the strictest outcome among the policy's matching conditions."""
    if type not in FILTERABLE_TYPES or facts.permitted:
        return "accept"
    policy = _with_defaults(facts.policy.values)
    private_mention = (
        type == "mention"
        and facts.status_visibility == "direct"
        and facts.status_in_reply_to_account_id != recipient_id
    )
    outcomes = []
    if not facts.following:
        outcomes.append(policy["for_not_following"])
        if private_mention:
            outcomes.append(policy["for_private_mentions"])
        if facts.sender_limited:
            outcomes.append(policy["for_limited_accounts"])
    if not facts.followed_by:
        outcomes.append(policy["for_not_followers"])
    if now - facts.sender_created_at < NEW_ACCOUNT_AGE:
        outcomes.append(policy["for_new_accounts"])
    for outcome in ("drop", "filter"):
        if outcome in outcomes:
            return outcome
    return "accept"


async def policy_decision(
    conn: Connection,
    *,
    recipient_id: int,
    from_account_id: int,
    type: str,
    status_id: int | None,
    now: datetime,
) -> str:
    if type not in FILTERABLE_TYPES:
        return "accept"
    facts = await group_store.fetch_sender_facts(
        conn, recipient_id=recipient_id, sender_id=from_account_id, status_id=status_id
    )
    if facts is None:
        return "accept"
    return decide(facts, recipient_id=recipient_id, type=type, now=now)


async def file_filtered(
    conn: Connection,
    *,
    notification_id: int,
    recipient_id: int,
    from_account_id: int,
    type: str,
    status_id: int | None,
    group_key: str,
) -> None:
    """Keep a filtered notification in the sender's request (made on first use)."""
    written = await group_store.insert_filtered_notification(
        conn,
        notification_id=notification_id,
        account_id=recipient_id,
        from_account_id=from_account_id,
        type=type,
        status_id=status_id,
        group_key=group_key,
    )
    if not written:
        return
    await group_store.upsert_request(
        conn,
        request_id=ids.new_id(),
        account_id=recipient_id,
        from_account_id=from_account_id,
        status_id=status_id,
    )


# --- requests ---------------------------------------------------------------------------------


async def list_requests(
    conn: Connection, *, recipient_id: int, window: Window
) -> list[NotificationRequest]:
    rows = await group_store.list_requests(
        conn,
        account_id=recipient_id,
        below_id=window.upper,
        above_id=window.lower,
        count=window.limit,
        ascending=window.ascending,
    )
    return rows[::-1] if window.ascending else rows


async def fetch_request(
    conn: Connection, *, recipient_id: int, request_id: int
) -> NotificationRequest:
    request = await group_store.fetch_request(conn, account_id=recipient_id, request_id=request_id)
    if request is None:
        raise NotFound()
    return request


async def accept_requests(conn: Connection, *, recipient_id: int, request_ids: list[int]) -> None:
    """Move the senders' filtered notifications into the list and stop filtering them."""
    for request in await group_store.list_requests_by_ids(
        conn, account_id=recipient_id, request_ids=request_ids
    ):
        await group_store.move_filtered_into_notifications(
            conn, account_id=recipient_id, from_account_id=request.from_account_id
        )
        await group_store.insert_permission(
            conn, account_id=recipient_id, from_account_id=request.from_account_id
        )
        await group_store.delete_request(conn, account_id=recipient_id, request_id=request.id)


async def dismiss_requests(conn: Connection, *, recipient_id: int, request_ids: list[int]) -> None:
    """Drop the requests and the notifications waiting in them."""
    for request in await group_store.list_requests_by_ids(
        conn, account_id=recipient_id, request_ids=request_ids
    ):
        await group_store.delete_filtered(
            conn, account_id=recipient_id, from_account_id=request.from_account_id
        )
        await group_store.delete_request(conn, account_id=recipient_id, request_id=request.id)
