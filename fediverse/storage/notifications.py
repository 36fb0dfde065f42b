"""SQL for notifications."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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
    return result.endswith(" 1")


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
