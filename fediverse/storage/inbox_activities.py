"""SQL for the inbox queue: verified activities stored once by id, leased, marked done."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fediverse.storage.database import Connection


@dataclass(frozen=True)
class InboxActivity:
    id: int
    activity_id: str
    actor_uri: str
    activity_type: str
    payload: dict[str, Any]
    received_at: datetime
    processed_at: datetime | None
    attempts: int
    next_attempt_at: datetime
    last_error: str | None


_COLUMNS = """
    id, activity_id, actor_uri, activity_type, payload, received_at, processed_at, attempts,
    next_attempt_at, last_error
"""


async def insert_activity(
    conn: Connection,
    *,
    row_id: int,
    activity_id: str,
    actor_uri: str,
    activity_type: str,
    payload: dict[str, Any],
    notify_channel: str | None = None,
) -> bool:
    """Store a verified activity; False when this activity id was received before.

    With `notify_channel`, a new row also sends NOTIFY on it, in the same statement: outside a
    transaction, storing an activity is then one round trip.
    """
    if notify_channel is None:
        result = await conn.execute(
            "INSERT INTO inbox_activities (id, activity_id, actor_uri, activity_type, payload) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (activity_id) DO NOTHING",
            row_id,
            activity_id,
            actor_uri,
            activity_type,
            payload,
        )
        return bool(result.endswith(" 1"))
    rows = await conn.fetch(
        "WITH stored AS ("
        "  INSERT INTO inbox_activities (id, activity_id, actor_uri, activity_type, payload) "
        "  VALUES ($1, $2, $3, $4, $5) ON CONFLICT (activity_id) DO NOTHING RETURNING id"
        ") SELECT pg_notify($6, '') FROM stored",
        row_id,
        activity_id,
        actor_uri,
        activity_type,
        payload,
        notify_channel,
    )
    return len(rows) == 1


async def claim_due(
    conn: Connection, *, now: datetime, lease_until: datetime, limit: int
) -> list[InboxActivity]:
    """Due, unprocessed activities leased until `lease_until` (a killed worker loses nothing:
    the lease runs out and the rows come due again)."""
    rows = await conn.fetch(
        f"""
        UPDATE inbox_activities SET next_attempt_at = $2, attempts = attempts + 1
        WHERE id IN (
            SELECT id FROM inbox_activities
            WHERE processed_at IS NULL AND next_attempt_at <= $1
            ORDER BY next_attempt_at, id
            LIMIT $3
            FOR UPDATE SKIP LOCKED
        )
        RETURNING {_COLUMNS}
        """,
        now,
        lease_until,
        limit,
    )
    return sorted((InboxActivity(**dict(row)) for row in rows), key=lambda item: item.id)


async def mark_processed(
    conn: Connection, *, row_id: int, now: datetime, note: str | None = None
) -> None:
    """Done: applied, ignored or rejected (`note` says why it had no effect)."""
    await conn.execute(
        "UPDATE inbox_activities SET processed_at = $2, last_error = $3 WHERE id = $1",
        row_id,
        now,
        note,
    )


async def mark_processed_many(
    conn: Connection, *, rows: list[tuple[int, str | None]], now: datetime
) -> None:
    """`mark_processed` for many rows at once: (row id, note) pairs."""
    if not rows:
        return
    await conn.execute(
        "UPDATE inbox_activities SET processed_at = $1, last_error = done.note "
        "FROM unnest($2::bigint[], $3::text[]) AS done(id, note) "
        "WHERE inbox_activities.id = done.id",
        now,
        [row_id for row_id, _ in rows],
        [note for _, note in rows],
    )


async def reschedule(
    conn: Connection, *, row_id: int, next_attempt_at: datetime, error: str
) -> None:
    await conn.execute(
        "UPDATE inbox_activities SET next_attempt_at = $2, last_error = $3 WHERE id = $1",
        row_id,
        next_attempt_at,
        error,
    )


async def fetch_activity(conn: Connection, *, activity_id: str) -> InboxActivity | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM inbox_activities WHERE activity_id = $1", activity_id
    )
    return None if row is None else InboxActivity(**dict(row))


async def count_pending(conn: Connection) -> int:
    return int(
        await conn.fetchval("SELECT count(*) FROM inbox_activities WHERE processed_at IS NULL")
    )


async def count_activities(conn: Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM inbox_activities"))
