"""SQL for the inbox queue: verified activities stored once by id, claimed, marked done."""

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


# The lock space of the per-actor advisory locks taken while claiming (any constant unused
# elsewhere; the second key is hashtext(actor_uri), so two actors rarely share a lock, and when
# they do they merely take turns).
ACTOR_LOCKS = 7_004_001


async def claim_group(conn: Connection, *, now: datetime, limit: int) -> list[InboxActivity]:
    """Lock up to `limit` due activities for the transaction `conn` is in, in the order
    received, and with them every due activity of the same actors that fits.

    Nothing is written: the rows stay locked until the caller commits (marking them processed
    or rescheduled) or rolls back (a killed worker's rows are simply due again). An actor is
    claimed by one transaction at a time (an advisory lock per actor), so one actor's activities
    never run concurrently and a Create is applied before its Delete. An actor with an
    activity leased for a fetch (`lease_for_fetch`) waits until that one is done.
    """
    rows = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM inbox_activities AS a
        WHERE a.processed_at IS NULL AND a.next_attempt_at <= $1
          AND NOT EXISTS (
              SELECT 1 FROM inbox_activities AS leased
              WHERE leased.actor_uri = a.actor_uri AND leased.leased_until IS NOT NULL
                AND leased.processed_at IS NULL AND leased.leased_until > $1)
          AND pg_try_advisory_xact_lock($3, hashtext(a.actor_uri))
        ORDER BY a.next_attempt_at, a.id
        LIMIT $2
        FOR UPDATE OF a SKIP LOCKED
        """,
        now,
        limit,
        ACTOR_LOCKS,
    )
    return sorted((InboxActivity(**dict(row)) for row in rows), key=lambda item: item.id)


async def lease_for_fetch(conn: Connection, *, row_id: int, lease_until: datetime) -> None:
    """Set one claimed activity aside to apply outside the transaction (it must fetch first);
    its actor's later activities wait for it. If the worker dies, the lease runs out."""
    await conn.execute(
        "UPDATE inbox_activities SET leased_until = $2 WHERE id = $1",
        row_id,
        lease_until,
    )


async def mark_processed(
    conn: Connection, *, row_id: int, now: datetime, note: str | None = None
) -> None:
    """Done: applied, ignored or rejected (`note` says why it had no effect)."""
    await conn.execute(
        "UPDATE inbox_activities SET processed_at = $2, last_error = $3, leased_until = NULL "
        "WHERE id = $1",
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
    """A failed attempt: counted, and tried again at `next_attempt_at`."""
    await conn.execute(
        "UPDATE inbox_activities SET next_attempt_at = $2, last_error = $3, leased_until = NULL, "
        "attempts = attempts + 1 WHERE id = $1",
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
