"""Direct conversations: each local participant of a direct thread sees it as one conversation.

As Mastodon's AccountConversation: keyed by the owner, the thread and the set of the other
participants; a new direct status marks it unread for everyone but its author.
"""

from __future__ import annotations

from fediverse import events, ids
from fediverse.audience import Visibility
from fediverse.errors import NotFound
from fediverse.storage import accounts as account_store
from fediverse.storage import conversations as conversation_store
from fediverse.storage.conversations import Conversation
from fediverse.storage.database import Connection
from fediverse.storage.statuses import Status
from fediverse.timelines import Window


async def record_direct_status(
    conn: Connection, *, status: Status, participant_ids: list[int]
) -> None:
    """File a direct status into the conversation of each local participant.

    `participant_ids` are the accounts it is addressed to (local or remote); the author is
    added here. Called when a local author posts, and by federation for remote direct posts.
    """
    if status.visibility != Visibility.DIRECT or status.reblog_of_id is not None:
        return
    everyone = sorted({status.account_id, *participant_ids})
    accounts = await account_store.list_accounts_by_ids(conn, account_ids=everyone)
    thread_root_id = status.thread_root_id or status.id
    for account in accounts:
        if not account.is_local:
            continue
        conversation_id = await conversation_store.upsert_conversation(
            conn,
            conversation_id=ids.new_id(),
            account_id=account.id,
            thread_root_id=thread_root_id,
            participant_ids=[i for i in everyone if i != account.id],
            status_id=status.id,
            unread=account.id != status.account_id,
        )
        # For the `conversation` stream event.
        await events.record(
            conn,
            "conversation.updated",
            for_publisher=False,
            account_id=account.id,
            conversation_id=conversation_id,
            status_id=status.id,
        )


async def list_conversations(
    conn: Connection, *, account_id: int, window: Window
) -> list[Conversation]:
    rows = await conversation_store.list_conversations(
        conn,
        account_id=account_id,
        below_id=window.upper,
        above_id=window.lower,
        count=window.limit,
        ascending=window.ascending,
    )
    return rows[::-1] if window.ascending else rows


async def fetch_conversation(
    conn: Connection, *, account_id: int, conversation_id: int
) -> Conversation:
    found = await conversation_store.fetch_conversation(
        conn, account_id=account_id, conversation_id=conversation_id
    )
    if found is None:
        raise NotFound()
    return found


async def mark_read(conn: Connection, *, account_id: int, conversation_id: int) -> Conversation:
    await fetch_conversation(conn, account_id=account_id, conversation_id=conversation_id)
    await conversation_store.mark_read(conn, account_id=account_id, conversation_id=conversation_id)
    return await fetch_conversation(conn, account_id=account_id, conversation_id=conversation_id)


async def remove(conn: Connection, *, account_id: int, conversation_id: int) -> None:
    """Remove the conversation from the owner's list (its statuses stay)."""
    if not await conversation_store.delete_conversation(
        conn, account_id=account_id, conversation_id=conversation_id
    ):
        raise NotFound()
