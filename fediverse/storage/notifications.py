"""SQL for notifications."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fediverse.audience import visible_sql
from fediverse.storage.database import Connection


@dataclass(frozen=True)
class Notification:
    id: int
    account_id: int
    from_account_id: int
    type: str
    status_id: int | None
    group_key: str | None
    created_at: datetime


NOTIFICATION_COLUMNS = (
    "n.id, n.account_id, n.from_account_id, n.type, n.status_id, n.group_key, n.created_at"
)


async def insert_notification(
    conn: Connection,
    *,
    notification_id: int,
    account_id: int,
    from_account_id: int,
    type: str,
    status_id: int | None,
    group_key: str | None,
) -> bool:
    """Insert unless the recipient blocks or notification-mutes the sender, or it is a repeat.

    Returns whether a row was written.
    """
    result = await conn.execute(
        """
        INSERT INTO notifications (id, account_id, from_account_id, type, status_id, group_key)
        SELECT $1, $2, $3, $4, $5, $6
        WHERE NOT EXISTS (SELECT 1 FROM blocks WHERE account_id = $2 AND target_account_id = $3)
          AND NOT EXISTS (SELECT 1 FROM mutes WHERE account_id = $2 AND target_account_id = $3
                          AND hide_notifications AND (expires_at IS NULL OR expires_at > now()))
        ON CONFLICT DO NOTHING
        """,
        notification_id,
        account_id,
        from_account_id,
        type,
        status_id,
        group_key,
    )
    return bool(result.endswith(" 1"))


async def delete_notifications_for(
    conn: Connection, *, from_account_id: int, type: str, status_id: int | None, account_id: int
) -> None:
    """Remove a notification whose cause was undone (unfavourite, unfollow, ...)."""
    await conn.execute(
        "DELETE FROM notifications WHERE account_id = $1 AND from_account_id = $2 AND type = $3 "
        "AND status_id IS NOT DISTINCT FROM $4",
        account_id,
        from_account_id,
        type,
        status_id,
    )


# --- listing (what the recipient may be shown) ------------------------------------------------

# A notification is shown unless its sender is blocked, muted (with notifications) or suspended,
# or its status is one the recipient can no longer see.
_SHOWN = f"""
    NOT EXISTS (SELECT 1 FROM blocks nb
                WHERE nb.account_id = n.account_id AND nb.target_account_id = n.from_account_id)
    AND NOT EXISTS (SELECT 1 FROM mutes nm
                    WHERE nm.account_id = n.account_id AND nm.target_account_id = n.from_account_id
                      AND nm.hide_notifications
                      AND (nm.expires_at IS NULL OR nm.expires_at > now()))
    AND NOT EXISTS (SELECT 1 FROM accounts na
                    WHERE na.id = n.from_account_id AND na.suspended_at IS NOT NULL)
    AND (n.status_id IS NULL OR EXISTS (
        SELECT 1 FROM statuses s WHERE s.id = n.status_id AND {visible_sql("s", "n.account_id")}))
"""

# $1 recipient, $2/$3 exclusive bounds, $4 limit, $5 types (NULL = all), $6 excluded types,
# $7 sender (NULL = anyone).
_FILTERS = """
    n.account_id = $1 AND n.id < $2 AND n.id > $3
    AND ($5::text[] IS NULL OR n.type = ANY ($5::text[]))
    AND NOT (n.type = ANY ($6::text[]))
    AND ($7::bigint IS NULL OR n.from_account_id = $7::bigint)
"""

_LIST_NOTIFICATIONS = {
    ascending: f"SELECT {NOTIFICATION_COLUMNS} FROM notifications n WHERE {_FILTERS} "
    f"AND {_SHOWN} ORDER BY n.id {order} LIMIT $4"
    for ascending, order in ((False, "DESC"), (True, "ASC"))
}


async def list_notifications(
    conn: Connection,
    *,
    account_id: int,
    below_id: int,
    above_id: int,
    count: int,
    ascending: bool,
    types: list[str] | None,
    exclude_types: list[str],
    from_account_id: int | None,
) -> list[Notification]:
    """The recipient's shown notifications inside the bounds, in scan order."""
    rows = await conn.fetch(
        _LIST_NOTIFICATIONS[ascending],
        account_id,
        below_id,
        above_id,
        count,
        types,
        exclude_types,
        from_account_id,
    )
    return [Notification(**dict(row)) for row in rows]


async def fetch_shown_notification(
    conn: Connection, *, account_id: int, notification_id: int
) -> Notification | None:
    row = await conn.fetchrow(
        f"SELECT {NOTIFICATION_COLUMNS} FROM notifications n "
        f"WHERE n.id = $1 AND n.account_id = $2 AND {_SHOWN}",
        notification_id,
        account_id,
    )
    return None if row is None else Notification(**dict(row))


async def delete_notification(conn: Connection, *, account_id: int, notification_id: int) -> bool:
    result = await conn.execute(
        "DELETE FROM notifications WHERE id = $1 AND account_id = $2", notification_id, account_id
    )
    return bool(result.endswith(" 1"))


async def delete_all_notifications(conn: Connection, *, account_id: int) -> None:
    await conn.execute("DELETE FROM notifications WHERE account_id = $1", account_id)


async def count_unread_notifications(
    conn: Connection,
    *,
    account_id: int,
    cap: int,
    types: list[str] | None,
    exclude_types: list[str],
    from_account_id: int | None,
) -> int:
    """Shown notifications newer than the `notifications` marker, counted up to `cap`."""
    value = await conn.fetchval(
        f"""
        SELECT count(*) FROM (
            SELECT 1 FROM notifications n
            WHERE {_FILTERS} AND {_SHOWN}
              AND n.id > coalesce((SELECT m.last_read_id FROM markers m
                                   WHERE m.account_id = $1 AND m.timeline = 'notifications'), 0)
            ORDER BY n.id DESC LIMIT $4) unread
        """,
        account_id,
        2**63 - 1,
        0,
        cap,
        types,
        exclude_types,
        from_account_id,
    )
    return int(value)
