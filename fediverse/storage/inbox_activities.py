"""SQL for the inbox queue: verified activities stored once by id, claimed, marked done."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

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
_A_COLUMNS = ", ".join(f"a.{name.strip()}" for name in _COLUMNS.split(","))


@dataclass(frozen=True)
class NewActivity:
    """A verified activity about to be stored."""

    row_id: int
    activity_id: str
    actor_uri: str
    activity_type: str
    payload: dict[str, Any]
    # The JSON text as received, when there is one: stored verbatim (the column is `json`,
    # see migration 0011), which also saves serializing `payload` again.
    raw: bytes | None = None


async def insert_activities(
    conn: Connection, *, activities: list[NewActivity], notify_channel: str | None = None
) -> set[str]:
    """Store verified activities in one statement; returns the activity ids stored now (an id
    received before is left as it was, and only the first of repeats within `activities` is
    kept).

    With `notify_channel`, storing anything also sends one NOTIFY on it, in the same statement:
    outside a transaction, storing a batch of activities is one round trip.
    """
    if not activities:
        return set()
    # A repeated id: its first activity counts (the INSERT would keep one of them anyway).
    firsts: dict[str, NewActivity] = {}
    for item in activities:
        firsts.setdefault(item.activity_id, item)
    activities = list(firsts.values())
    rows = await conn.fetch(
        "WITH stored AS ("
        "  INSERT INTO inbox_activities (id, activity_id, actor_uri, activity_type, payload) "
        "  SELECT id, activity_id, actor_uri, activity_type, payload::json "
        "  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[]) "
        "    AS a(id, activity_id, actor_uri, activity_type, payload) "
        "  ON CONFLICT (activity_id) DO NOTHING RETURNING activity_id"
        "), woken AS ("
        "  SELECT pg_notify($6, '') WHERE $6::text IS NOT NULL AND EXISTS (SELECT FROM stored)"
        ") SELECT activity_id FROM stored, (SELECT count(*) FROM woken) AS sent",
        [item.row_id for item in activities],
        [item.activity_id for item in activities],
        [item.actor_uri for item in activities],
        [item.activity_type for item in activities],
        [
            item.raw.decode() if item.raw is not None else orjson.dumps(item.payload).decode()
            for item in activities
        ],
        notify_channel,
    )
    return {str(row["activity_id"]) for row in rows}


# The lock space of the per-actor advisory locks taken while claiming (any constant unused
# elsewhere; the second key is hashtext(actor_uri), so two actors rarely share a lock, and when
# they do they merely take turns).
ACTOR_LOCKS = 7_004_001


async def claim_group(conn: Connection, *, now: datetime, limit: int) -> list[InboxActivity]:
    """Lock up to `limit` due activities for the transaction `conn` is in, oldest first.

    Nothing is written: the rows stay locked until the caller commits (marking them processed
    or rescheduled) or rolls back (a killed worker's rows are simply due again). An actor is
    claimed by one transaction at a time (an advisory lock per actor, held to the end of the
    transaction), so one actor's activities never run concurrently and, while they apply, in
    the order received. An actor with an activity leased for a fetch (`lease_for_fetch`) is
    left alone until that one is done.

    The pending index is walked one row at a time (a recursive query), trying each row's actor
    lock, until `limit` rows are won: a lock is only ever tried on a row the walk reaches, so a
    claim never locks out actors it does not return, whatever plan a small queue would get.
    """
    rows = await conn.fetch(
        f"""
        WITH RECURSIVE walk (id, next_attempt_at, actor_uri, won, taken, steps) AS (
            (SELECT id, next_attempt_at, actor_uri,
                    pg_try_advisory_xact_lock($3, hashtext(actor_uri)), 0, 1
             FROM inbox_activities
             WHERE processed_at IS NULL AND next_attempt_at <= $1
             ORDER BY next_attempt_at, id
             LIMIT 1)
            UNION ALL
            (SELECT following.id, following.next_attempt_at, following.actor_uri,
                    pg_try_advisory_xact_lock($3, hashtext(following.actor_uri)),
                    walk.taken + walk.won::int, walk.steps + 1
             FROM walk CROSS JOIN LATERAL (
                 SELECT id, next_attempt_at, actor_uri FROM inbox_activities
                 WHERE processed_at IS NULL AND next_attempt_at <= $1
                   AND (next_attempt_at, id) > (walk.next_attempt_at, walk.id)
                 ORDER BY next_attempt_at, id
                 LIMIT 1
             ) AS following
             WHERE walk.taken + walk.won::int < $2 AND walk.steps < $4)
        )
        SELECT {_A_COLUMNS}
        FROM walk JOIN inbox_activities AS a ON a.id = walk.id
        WHERE walk.won
          AND a.processed_at IS NULL AND a.next_attempt_at <= $1
          AND (a.leased_until IS NULL OR a.leased_until <= $1)
        ORDER BY a.next_attempt_at, a.id
        FOR UPDATE OF a SKIP LOCKED
        """,
        now,
        limit,
        ACTOR_LOCKS,
        limit * 8,  # rows walked at most: other lanes' actors are passed over, not waited for
    )
    claimed = [InboxActivity(**dict(row)) for row in rows]
    if claimed:
        # Checked in a statement of its own, after the actor locks are held: its snapshot sees
        # a lease that another lane committed while the walk ran (the walk's own snapshot may
        # not), and no new lease can appear for these actors while we hold their locks.
        waiting = await _actors_with_live_leases(
            conn, actors=sorted({item.actor_uri for item in claimed}), now=now
        )
        claimed = [item for item in claimed if item.actor_uri not in waiting]
    return sorted(claimed, key=lambda item: item.id)


async def _actors_with_live_leases(
    conn: Connection, *, actors: list[str], now: datetime
) -> set[str]:
    rows = await conn.fetch(
        "SELECT DISTINCT actor_uri FROM inbox_activities "
        "WHERE actor_uri = ANY($1::text[]) AND leased_until IS NOT NULL "
        "AND processed_at IS NULL AND leased_until > $2",
        actors,
        now,
    )
    return {str(row["actor_uri"]) for row in rows}


async def lease_for_fetch(
    conn: Connection, *, row_id: int, lease_until: datetime, attempts: int
) -> None:
    """Set one claimed activity aside to apply outside the transaction (it must fetch first);
    its actor's later activities wait for it. The try is counted now (`attempts`), so an
    activity whose worker keeps dying gives up in the end; if the worker dies, the lease runs
    out and the activity comes due again."""
    await conn.execute(
        "UPDATE inbox_activities SET leased_until = $2, attempts = $3 WHERE id = $1",
        row_id,
        lease_until,
        attempts,
    )


async def take_for_processing(conn: Connection, *, row_id: int, actor_uri: str) -> bool:
    """For one activity applied on its own: wait for its actor's lock (held to the end of the
    transaction, so no lane claims that actor meanwhile) and lock the row. False when it was
    processed meanwhile (its lease ran out and another worker applied it)."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", ACTOR_LOCKS, actor_uri)
    processed = await conn.fetchrow(
        "SELECT processed_at FROM inbox_activities WHERE id = $1 FOR UPDATE", row_id
    )
    return processed is not None and processed["processed_at"] is None


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
    conn: Connection, *, row_id: int, next_attempt_at: datetime, error: str, attempts: int
) -> None:
    """A failed attempt, `attempts` in all so far: tried again at `next_attempt_at`."""
    await conn.execute(
        "UPDATE inbox_activities SET next_attempt_at = $2, last_error = $3, leased_until = NULL, "
        "attempts = $4 WHERE id = $1",
        row_id,
        next_attempt_at,
        error,
        attempts,
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
