"""Creating notifications for local accounts; listing and grouping live beside the API."""

from __future__ import annotations

from datetime import UTC, datetime

from fediverse import ids, notification_groups, push
from fediverse.storage import accounts as account_store
from fediverse.storage import interactions
from fediverse.storage import notifications as notification_store
from fediverse.storage.database import Connection
from fediverse.storage.statuses import Status

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


async def _local_ids(conn: Connection, account_ids: list[int]) -> set[int]:
    if not account_ids:
        return set()  # most posts mention nobody: no query (bench/inbox.py)
    accounts = await account_store.list_accounts_by_ids(conn, account_ids=account_ids)
    return {account.id for account in accounts if account.is_local}


async def notify_new_status(
    conn: Connection,
    status: Status,
    mention_ids: list[int],
    *,
    followers_to_notify: list[int] | None = None,
) -> None:
    """Notifications for a new post, local or a peer's: a mention for each local account in
    `mention_ids` (unless it muted the thread), then a `status` notification for local
    followers who asked for them, when the post is not direct and not a reply to someone else.
    `followers_to_notify`, when the caller read them already, saves reading them here.
    """
    local = await _local_ids(conn, mention_ids)
    root = status.thread_root_id or status.id
    for account_id in mention_ids:
        if account_id in local and not await interactions.is_thread_muted(
            conn, account_id=account_id, thread_root_id=root
        ):
            await notify(
                conn,
                recipient_id=account_id,
                from_account_id=status.account_id,
                type="mention",
                status_id=status.id,
            )
    if status.visibility == "direct" or (
        status.in_reply_to_id is not None and status.in_reply_to_account_id != status.account_id
    ):
        return
    if followers_to_notify is None:
        followers_to_notify = await interactions.list_follower_ids_to_notify(
            conn, account_id=status.account_id
        )
    for follower_id in followers_to_notify:
        if follower_id not in local:
            await notify(
                conn,
                recipient_id=follower_id,
                from_account_id=status.account_id,
                type="status",
                status_id=status.id,
            )


async def notify_edited(conn: Connection, status: Status, added_mention_ids: list[int]) -> None:
    """Notifications for an edit, local or a peer's: a mention for each local account the edit
    newly names, then an `update` for each local account that boosted the post."""
    reblogger_ids = await interactions.list_reblogger_ids(conn, status_id=status.id)
    local = await _local_ids(conn, [*added_mention_ids, *reblogger_ids])
    for type, recipient_ids in (("mention", added_mention_ids), ("update", reblogger_ids)):
        for recipient_id in sorted(set(recipient_ids) & local):
            await notify(
                conn,
                recipient_id=recipient_id,
                from_account_id=status.account_id,
                type=type,
                status_id=status.id,
            )
