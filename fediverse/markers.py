"""Read positions in the home timeline and notifications, shared between a person's apps."""

from __future__ import annotations

from datetime import datetime

from fediverse.storage import markers as marker_store
from fediverse.storage.database import Connection
from fediverse.storage.markers import Marker

TIMELINES = ("home", "notifications")


async def get_markers(
    conn: Connection, *, account_id: int, timelines: list[str]
) -> dict[str, Marker]:
    """The saved markers among `timelines`; unknown timeline names are ignored, as Mastodon does."""
    wanted = [name for name in dict.fromkeys(timelines) if name in TIMELINES]
    if not wanted:
        return {}
    found = await marker_store.list_markers(conn, account_id=account_id, timelines=wanted)
    return {marker.timeline: marker for marker in found}


async def save_markers(
    conn: Connection, *, account_id: int, positions: dict[str, int], now: datetime
) -> dict[str, Marker]:
    """Store each timeline's last read id. Re-saving the same id changes nothing, so apps
    comparing `version` see a new version only when another app moved the marker."""
    saved: dict[str, Marker] = {}
    for timeline, last_read_id in positions.items():
        if timeline not in TIMELINES:
            continue
        saved[timeline] = await marker_store.upsert_marker(
            conn, account_id=account_id, timeline=timeline, last_read_id=last_read_id, now=now
        )
    return saved
