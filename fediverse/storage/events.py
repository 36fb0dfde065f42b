"""SQL for the domain_events outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fediverse.storage.database import Connection

# Streaming processes LISTEN here; the payload is the event id, the row stays the truth.
STREAMING_CHANNEL = "streaming_events"


@dataclass(frozen=True)
class DomainEvent:
    id: int
    kind: str
    payload: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class NewEvent:
    id: int
    kind: str
    payload: dict[str, Any]
    for_publisher: bool


async def insert_events(conn: Connection, *, events: list[NewEvent]) -> None:
    """One statement: the rows plus their wake-ups, delivered at commit to any process.

    Events the publisher has nothing to do with (a peer's own actions, streaming-only news)
    are stored already processed, so it never claims them and is not woken for them.
    """
    if not events:
        return
    await conn.execute(
        """
        WITH inserted AS (
            INSERT INTO domain_events (id, kind, payload, processed_at)
            SELECT id, kind, payload, CASE WHEN for_publisher THEN NULL ELSE now() END
            FROM unnest($1::bigint[], $2::text[], $3::jsonb[], $4::boolean[])
                AS e(id, kind, payload, for_publisher)
        )
        SELECT CASE WHEN e.for_publisher THEN pg_notify('domain_events', e.kind) END,
               pg_notify($5, e.id::text)
        FROM unnest($1::bigint[], $2::text[], $4::boolean[]) AS e(id, kind, for_publisher)
        """,
        [event.id for event in events],
        [event.kind for event in events],
        [event.payload for event in events],
        [event.for_publisher for event in events],
        STREAMING_CHANNEL,
    )


async def claim_events(conn: Connection, *, limit: int) -> list[DomainEvent]:
    """Unprocessed events, locked for this transaction (SKIP LOCKED: workers never collide)."""
    rows = await conn.fetch(
        "SELECT id, kind, payload, created_at FROM domain_events WHERE processed_at IS NULL "
        "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    return [DomainEvent(**dict(row)) for row in rows]


async def mark_processed(conn: Connection, *, event_ids: list[int]) -> None:
    await conn.execute(
        "UPDATE domain_events SET processed_at = now() WHERE id = ANY($1::bigint[])", event_ids
    )
