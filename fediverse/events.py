"""Domain events: the transactional outbox that federation (and streaming) consume.

A domain operation with consequences outside its transaction records an event in the same
transaction; consumers claim rows with SKIP LOCKED after commit, so nothing is lost on a crash.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from fediverse import ids
from fediverse.storage import events as event_store
from fediverse.storage.database import Connection
from fediverse.storage.events import NewEvent

# Events recorded inside `batched` wait here (per task) and are written in one statement.
_batch: ContextVar[list[NewEvent] | None] = ContextVar("fediverse_events_batch", default=None)


async def record(
    conn: Connection, kind: str, *, for_publisher: bool = True, **payload: Any
) -> None:
    """Record an event. `for_publisher=False` for events about what peers did, or that only
    streaming cares about: federation must never echo those back, so it never sees them."""
    event = NewEvent(id=ids.new_id(), kind=kind, payload=payload, for_publisher=for_publisher)
    pending = _batch.get()
    if pending is not None:
        pending.append(event)
        return
    await event_store.insert_events(conn, events=[event])


@asynccontextmanager
async def batched(conn: Connection) -> AsyncIterator[None]:
    """Events recorded in this block (by this task) are written together as it ends, on
    `conn`, in the same transaction: one statement for a whole inbox group instead of one per
    activity. If the block raises, they are dropped with it (its transaction rolls back)."""
    pending: list[NewEvent] = []
    token = _batch.set(pending)
    try:
        yield
    finally:
        _batch.reset(token)
    await event_store.insert_events(conn, events=pending)
