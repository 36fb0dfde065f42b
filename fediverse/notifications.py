"""Creating notifications for local accounts; listing and grouping live beside the API."""

from __future__ import annotations

from datetime import UTC, datetime

from fediverse import ids, notification_groups, push
from fediverse.storage import notifications as notification_store
from fediverse.storage.database import Connection

# Mastodon 4.3 groups favourites, reblogs and follows; others stay one per group.
_GROUPED_TYPES = {"favourite", "reblog", "follow"}


def group_key_for(type: str, status_id: int | None, notification_id: int) -> str:
    if type in ("favourite", "reblog") and status_id is not None:
        return f"{type}-{status_id}"
    if type == "follow":
        # Follows are grouped per day, as Mastodon does.
        return f"follow-{(notification_id >> 16) // 86_400_000}"
    return f"ungrouped-{notification_id}"


async def notify(
    conn: Connection,
    *,
    recipient_id: int,
    from_account_id: int,
    type: str,
    status_id: int | None = None,
    recipient_is_local: bool = True,
) -> int | None:
    """Notify a local account (remote recipients are told by federation, not here).

    Nobody is notified of their own actions; blocks and notification mutes are honoured in SQL.
    Returns the notification id, or None when none was made.
    """
    if not recipient_is_local or recipient_id == from_account_id:
        return None
    notification_id = ids.new_id()
    group_key = group_key_for(type, status_id, notification_id)
    # The recipient's notification policy may hold strangers' notifications back (requests).
    decision = await notification_groups.policy_decision(
        conn,
        recipient_id=recipient_id,
        from_account_id=from_account_id,
        type=type,
        status_id=status_id,
        now=datetime.now(UTC),
    )
    if decision != "accept":
        if decision == "filter":
            await notification_groups.file_filtered(
                conn,
                notification_id=notification_id,
                recipient_id=recipient_id,
                from_account_id=from_account_id,
                type=type,
                status_id=status_id,
                group_key=group_key,
            )
        return None
    written = await notification_store.insert_notification(
        conn,
        notification_id=notification_id,
        account_id=recipient_id,
        from_account_id=from_account_id,
        type=type,
        status_id=status_id,
        group_key=group_key,
    )
    if not written:
        return None
    # Web Push rides in the same transaction: queued exactly when the notification exists.
    await push.enqueue_for_notification(conn, notification_id=notification_id)
    return notification_id


async def withdraw(
    conn: Connection, *, recipient_id: int, from_account_id: int, type: str, status_id: int | None
) -> None:
    await notification_store.delete_notifications_for(
        conn,
        account_id=recipient_id,
        from_account_id=from_account_id,
        type=type,
        status_id=status_id,
    )
