"""SQL for grouped notifications (Mastodon 4.3), the notification policy and its requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fediverse.storage.database import Connection
from fediverse.storage.notifications import _SHOWN as SHOWN  # one definition of "shown"
from fediverse.storage.notifications import NOTIFICATION_COLUMNS, Notification

# A row's group as a client sees it: its key when its type is grouped, else its own.
_EFFECTIVE_KEY = (
    "CASE WHEN n.group_key IS NOT NULL AND n.type = ANY ($2::text[]) THEN n.group_key "
    "ELSE 'ungrouped-' || n.id END"
)


@dataclass(frozen=True)
class GroupSummary:
    group_key: str
    most_recent_notification_id: int
    sample_account_ids: list[int]
    notifications_count: int
    page_min_id: int
    latest_page_notification_at: datetime


async def list_group_summaries(
    conn: Connection,
    *,
    account_id: int,
    group_keys: list[str],
    range_start: int,
    range_end: int,
    sample_size: int,
) -> dict[str, GroupSummary]:
    """For each group key: the newest shown notification up to `range_end`, sample senders
    (newest first), and the count and oldest id inside [range_start, range_end]."""
    rows = await conn.fetch(
        f"""
        SELECT g.group_key,
            (SELECT n.id FROM notifications n WHERE n.account_id = $1 AND n.group_key = g.group_key
                AND n.id <= $4 AND {SHOWN} ORDER BY n.id DESC LIMIT 1) AS most_recent_id,
            ARRAY(SELECT n.from_account_id FROM notifications n
                  WHERE n.account_id = $1 AND n.group_key = g.group_key AND n.id <= $4
                    AND {SHOWN} ORDER BY n.id DESC LIMIT $5) AS sample_account_ids,
            (SELECT count(*) FROM notifications n WHERE n.account_id = $1
                AND n.group_key = g.group_key AND n.id >= $3 AND n.id <= $4 AND {SHOWN})
                AS notifications_count,
            (SELECT n.id FROM notifications n WHERE n.account_id = $1 AND n.group_key = g.group_key
                AND n.id >= $3 AND n.id <= $4 AND {SHOWN} ORDER BY n.id ASC LIMIT 1) AS min_id,
            (SELECT n.created_at FROM notifications n WHERE n.account_id = $1
                AND n.group_key = g.group_key AND n.id <= $4 AND {SHOWN}
                ORDER BY n.id DESC LIMIT 1) AS latest_at
        FROM unnest($2::text[]) AS g(group_key)
        """,
        account_id,
        group_keys,
        range_start,
        range_end,
        sample_size,
    )
    result = {}
    for row in rows:
        if row["most_recent_id"] is None:
            continue
        result[row["group_key"]] = GroupSummary(
            group_key=row["group_key"],
            most_recent_notification_id=row["most_recent_id"],
            sample_account_ids=list(dict.fromkeys(row["sample_account_ids"])),
            notifications_count=int(row["notifications_count"]),
            page_min_id=row["min_id"] or row["most_recent_id"],
            latest_page_notification_at=row["latest_at"],
        )
    return result


async def list_group_members(
    conn: Connection, *, account_id: int, group_key: str, limit: int
) -> list[Notification]:
    """The shown notifications of one group (an `ungrouped-<id>` key is that one), newest first."""
    rows = await conn.fetch(
        f"SELECT {NOTIFICATION_COLUMNS} FROM notifications n WHERE n.account_id = $1 "
        "AND (n.group_key = $2 OR 'ungrouped-' || n.id = $2) "
        f"AND {SHOWN} ORDER BY n.id DESC LIMIT $3",
        account_id,
        group_key,
        limit,
    )
    return [Notification(**dict(row)) for row in rows]


async def delete_group(conn: Connection, *, account_id: int, group_key: str) -> int:
    result = await conn.execute(
        "DELETE FROM notifications WHERE account_id = $1 "
        "AND (group_key = $2 OR 'ungrouped-' || id = $2)",
        account_id,
        group_key,
    )
    return int(result.split()[-1])


async def count_unread_groups(
    conn: Connection,
    *,
    account_id: int,
    grouped_types: list[str],
    cap: int,
    types: list[str] | None,
    exclude_types: list[str],
    from_account_id: int | None,
) -> int:
    """Groups with a shown notification newer than the `notifications` marker, up to `cap`."""
    value = await conn.fetchval(
        f"""
        SELECT count(*) FROM (
            SELECT DISTINCT {_EFFECTIVE_KEY} FROM notifications n
            WHERE n.account_id = $1
              AND ($4::text[] IS NULL OR n.type = ANY ($4::text[]))
              AND NOT (n.type = ANY ($5::text[]))
              AND ($6::bigint IS NULL OR n.from_account_id = $6::bigint)
              AND {SHOWN}
              AND n.id > coalesce((SELECT m.last_read_id FROM markers m
                                   WHERE m.account_id = $1 AND m.timeline = 'notifications'), 0)
            LIMIT $3) unread
        """,
        account_id,
        grouped_types,
        cap,
        types,
        exclude_types,
        from_account_id,
    )
    return int(value)


# --- policy -----------------------------------------------------------------------------------

POLICY_FIELDS = (
    "for_not_following",
    "for_not_followers",
    "for_new_accounts",
    "for_private_mentions",
    "for_limited_accounts",
)


@dataclass(frozen=True)
class StoredPolicy:
    """The recipient's policy columns; None where they never chose (the domain's defaults)."""

    values: dict[str, str | None]


@dataclass(frozen=True)
class SenderFacts:
    """What the policy needs to know about one sender and one notification."""

    policy: StoredPolicy
    following: bool
    followed_by: bool
    sender_created_at: datetime
    sender_limited: bool
    permitted: bool
    status_visibility: str | None
    status_in_reply_to_account_id: int | None


async def fetch_policy(conn: Connection, *, account_id: int) -> StoredPolicy:
    row = await conn.fetchrow(
        f"SELECT {', '.join(POLICY_FIELDS)} FROM notification_policies WHERE account_id = $1",
        account_id,
    )
    return StoredPolicy(
        values={name: (None if row is None else row[name]) for name in POLICY_FIELDS}
    )


async def upsert_policy(conn: Connection, *, account_id: int, values: dict[str, str]) -> None:
    """Write every policy column (the caller merges the change with the current values)."""
    await conn.execute(
        f"""
        INSERT INTO notification_policies (account_id, {", ".join(POLICY_FIELDS)})
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (account_id) DO UPDATE SET
            {", ".join(f"{name} = EXCLUDED.{name}" for name in POLICY_FIELDS)},
            updated_at = now()
        """,
        account_id,
        *(values[name] for name in POLICY_FIELDS),
    )


async def fetch_sender_facts(
    conn: Connection, *, recipient_id: int, sender_id: int, status_id: int | None
) -> SenderFacts | None:
    row = await conn.fetchrow(
        f"""
        SELECT {", ".join(f"p.{name}" for name in POLICY_FIELDS)},
            EXISTS (SELECT 1 FROM follows f
                    WHERE f.account_id = $1 AND f.target_account_id = $2) AS following,
            EXISTS (SELECT 1 FROM follows f
                    WHERE f.account_id = $2 AND f.target_account_id = $1) AS followed_by,
            a.created_at AS sender_created_at,
            a.silenced_at IS NOT NULL AS sender_limited,
            EXISTS (SELECT 1 FROM notification_permissions np
                    WHERE np.account_id = $1 AND np.from_account_id = $2) AS permitted,
            s.visibility AS status_visibility,
            s.in_reply_to_account_id AS status_in_reply_to_account_id
        FROM accounts a
        LEFT JOIN notification_policies p ON p.account_id = $1
        LEFT JOIN statuses s ON s.id = $3::bigint
        WHERE a.id = $2
        """,
        recipient_id,
        sender_id,
        status_id,
    )
    if row is None:
        return None
    return SenderFacts(
        policy=StoredPolicy(values={name: row[name] for name in POLICY_FIELDS}),
        following=row["following"],
        followed_by=row["followed_by"],
        sender_created_at=row["sender_created_at"],
        sender_limited=row["sender_limited"],
        permitted=row["permitted"],
        status_visibility=row["status_visibility"],
        status_in_reply_to_account_id=row["status_in_reply_to_account_id"],
    )


# --- filtered notifications and requests -----------------------------------------------------


@dataclass(frozen=True)
class NotificationRequest:
    id: int
    account_id: int
    from_account_id: int
    last_status_id: int | None
    notifications_count: int
    created_at: datetime
    updated_at: datetime


_REQUEST_COLUMNS = """
    r.id, r.account_id, r.from_account_id, r.last_status_id,
    (SELECT count(*) FROM filtered_notifications fn
     WHERE fn.account_id = r.account_id AND fn.from_account_id = r.from_account_id)
        AS notifications_count,
    r.created_at, r.updated_at
"""


def _request(row: Any) -> NotificationRequest:
    return NotificationRequest(**dict(row))


async def insert_filtered_notification(
    conn: Connection,
    *,
    notification_id: int,
    account_id: int,
    from_account_id: int,
    type: str,
    status_id: int | None,
    group_key: str | None,
) -> bool:
    """Keep a filtered notification, unless the recipient blocks or mutes the sender."""
    result = await conn.execute(
        """
        INSERT INTO filtered_notifications
            (id, account_id, from_account_id, type, status_id, group_key)
        SELECT $1, $2, $3, $4, $5, $6
        WHERE NOT EXISTS (SELECT 1 FROM blocks WHERE account_id = $2 AND target_account_id = $3)
          AND NOT EXISTS (SELECT 1 FROM mutes WHERE account_id = $2 AND target_account_id = $3
                          AND hide_notifications AND (expires_at IS NULL OR expires_at > now()))
        """,
        notification_id,
        account_id,
        from_account_id,
        type,
        status_id,
        group_key,
    )
    return bool(result.endswith(" 1"))


async def upsert_request(
    conn: Connection,
    *,
    request_id: int,
    account_id: int,
    from_account_id: int,
    status_id: int | None,
) -> None:
    await conn.execute(
        """
        INSERT INTO notification_requests (id, account_id, from_account_id, last_status_id)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (account_id, from_account_id) DO UPDATE SET
            last_status_id = coalesce(EXCLUDED.last_status_id,
                                      notification_requests.last_status_id),
            updated_at = now()
        """,
        request_id,
        account_id,
        from_account_id,
        status_id,
    )


async def list_requests(
    conn: Connection,
    *,
    account_id: int,
    below_id: int,
    above_id: int,
    count: int,
    ascending: bool,
) -> list[NotificationRequest]:
    order = "ASC" if ascending else "DESC"
    rows = await conn.fetch(
        f"SELECT {_REQUEST_COLUMNS} FROM notification_requests r "
        f"WHERE r.account_id = $1 AND r.id < $2 AND r.id > $3 ORDER BY r.id {order} LIMIT $4",
        account_id,
        below_id,
        above_id,
        count,
    )
    return [_request(row) for row in rows]


async def fetch_request(
    conn: Connection, *, account_id: int, request_id: int
) -> NotificationRequest | None:
    row = await conn.fetchrow(
        f"SELECT {_REQUEST_COLUMNS} FROM notification_requests r "
        "WHERE r.account_id = $1 AND r.id = $2",
        account_id,
        request_id,
    )
    return None if row is None else _request(row)


async def list_requests_by_ids(
    conn: Connection, *, account_id: int, request_ids: list[int]
) -> list[NotificationRequest]:
    rows = await conn.fetch(
        f"SELECT {_REQUEST_COLUMNS} FROM notification_requests r "
        "WHERE r.account_id = $1 AND r.id = ANY($2::bigint[])",
        account_id,
        request_ids,
    )
    return [_request(row) for row in rows]


async def count_pending(conn: Connection, *, account_id: int) -> tuple[int, int]:
    """(pending requests, filtered notifications waiting in them)."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM notification_requests WHERE account_id = $1) AS requests, "
        "(SELECT count(*) FROM filtered_notifications WHERE account_id = $1) AS notifications",
        account_id,
    )
    assert row is not None
    return int(row["requests"]), int(row["notifications"])


async def move_filtered_into_notifications(
    conn: Connection, *, account_id: int, from_account_id: int
) -> None:
    await conn.execute(
        """
        INSERT INTO notifications (id, account_id, from_account_id, type, status_id, group_key,
                                   created_at)
        SELECT id, account_id, from_account_id, type, status_id, group_key, created_at
        FROM filtered_notifications WHERE account_id = $1 AND from_account_id = $2
        ON CONFLICT DO NOTHING
        """,
        account_id,
        from_account_id,
    )
    await delete_filtered(conn, account_id=account_id, from_account_id=from_account_id)


async def delete_filtered(conn: Connection, *, account_id: int, from_account_id: int) -> None:
    await conn.execute(
        "DELETE FROM filtered_notifications WHERE account_id = $1 AND from_account_id = $2",
        account_id,
        from_account_id,
    )


async def delete_request(conn: Connection, *, account_id: int, request_id: int) -> None:
    await conn.execute(
        "DELETE FROM notification_requests WHERE account_id = $1 AND id = $2",
        account_id,
        request_id,
    )


async def insert_permission(conn: Connection, *, account_id: int, from_account_id: int) -> None:
    await conn.execute(
        "INSERT INTO notification_permissions (account_id, from_account_id) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING",
        account_id,
        from_account_id,
    )
