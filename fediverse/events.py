"""Domain events: the transactional outbox that federation (and streaming) consume.

A domain operation with consequences outside its transaction records an event in the same
transaction; consumers claim rows with SKIP LOCKED after commit, so nothing is lost on a crash.
"""

from __future__ import annotations

from typing import Any

from fediverse import ids
from fediverse.storage import events as event_store
from fediverse.storage.database import Connection


async def record(
    conn: Connection, kind: str, *, for_publisher: bool = True, **payload: Any
) -> None:
    """Record an event. `for_publisher=False` for events about what peers did, or that only
    streaming cares about: federation must never echo those back, so it never sees them."""
    await event_store.insert_event(
        conn, event_id=ids.new_id(), kind=kind, payload=payload, for_publisher=for_publisher
    )
