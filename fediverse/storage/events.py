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


async def insert_event(
    conn: Connection, *, event_id: int, kind: str, payload: dict[str, Any]
) -> None:
    await conn.execute(
        "INSERT INTO domain_events (id, kind, payload) VALUES ($1, $2, $3)", event_id, kind, payload
    )
    # Delivered at commit: wakes listening workers in any process.
    await conn.execute("SELECT pg_notify('domain_events', $1)", kind)
    await conn.execute(f"SELECT pg_notify('{STREAMING_CHANNEL}', $1)", str(event_id))


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
