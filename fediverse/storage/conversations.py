"""SQL for direct conversations (one row per local participant, thread and participant set)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fediverse.audience import visible_sql
from fediverse.storage.database import Connection


@dataclass(frozen=True)
class Conversation:
    id: int
    account_id: int
    participant_ids: list[int]
    unread: bool
    # The newest status of the conversation that its owner may still see.
    last_status_id: int
    updated_at: datetime


# The last status is chosen on read, among those the owner may see: a deleted status or one
# that left the owner's audience never shows, and a conversation with none left is hidden.
_SELECT = f"""
    SELECT c.id, c.account_id, c.participant_ids, c.unread, v.last_id AS last_status_id,
           c.updated_at
    FROM account_conversations c
    CROSS JOIN LATERAL (
        SELECT max(s.id) AS last_id FROM statuses s
        WHERE s.id = ANY (c.status_ids) AND {visible_sql("s", "c.account_id")}
    ) v
    WHERE c.account_id = $1 AND v.last_id IS NOT NULL
"""


def _conversation(row: object) -> Conversation:
    values = dict(row)  # type: ignore[call-overload]
    values["participant_ids"] = list(values["participant_ids"])
    return Conversation(**values)


async def upsert_conversation(
    conn: Connection,
    *,
    conversation_id: int,
    account_id: int,
    thread_root_id: int,
    participant_ids: list[int],
    status_id: int,
    unread: bool,
) -> int:
    """Add a status to the owner's conversation (made on first use); returns its id."""
    value = await conn.fetchval(
        """
        INSERT INTO account_conversations
            (id, account_id, thread_root_id, participant_ids, status_ids, last_status_id, unread)
        VALUES ($1, $2, $3, $4::bigint[], ARRAY[$5::bigint], $5, $6)
        ON CONFLICT (account_id, thread_root_id, participant_ids) DO UPDATE SET
            status_ids = array_append(account_conversations.status_ids, $5::bigint),
            last_status_id = greatest(account_conversations.last_status_id, $5::bigint),
            unread = EXCLUDED.unread,
            updated_at = now()
        RETURNING id
        """,
        conversation_id,
        account_id,
        thread_root_id,
        participant_ids,
        status_id,
        unread,
    )
    return int(value)


async def list_conversations(
    conn: Connection, *, account_id: int, below_id: int, above_id: int, count: int, ascending: bool
) -> list[Conversation]:
    """Paged by the last visible status id, as Mastodon pages conversations."""
    order = "ASC" if ascending else "DESC"
    rows = await conn.fetch(
        f"{_SELECT} AND v.last_id < $2 AND v.last_id > $3 ORDER BY v.last_id {order} LIMIT $4",
        account_id,
        below_id,
        above_id,
        count,
    )
    return [_conversation(row) for row in rows]


async def fetch_conversation(
    conn: Connection, *, account_id: int, conversation_id: int
) -> Conversation | None:
    row = await conn.fetchrow(f"{_SELECT} AND c.id = $2", account_id, conversation_id)
    return None if row is None else _conversation(row)


async def mark_read(conn: Connection, *, account_id: int, conversation_id: int) -> None:
    await conn.execute(
        "UPDATE account_conversations SET unread = false WHERE account_id = $1 AND id = $2",
        account_id,
        conversation_id,
    )


async def delete_conversation(conn: Connection, *, account_id: int, conversation_id: int) -> bool:
    result = await conn.execute(
        "DELETE FROM account_conversations WHERE account_id = $1 AND id = $2",
        account_id,
        conversation_id,
    )
    return bool(result.endswith(" 1"))
