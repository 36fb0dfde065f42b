"""Time-ordered 64-bit ids in Mastodon's snowflake scheme: milliseconds since the epoch << 16."""

from __future__ import annotations

import secrets
import threading
import time
from datetime import datetime

_lock = threading.Lock()
_last = 0
# Low bits for ids made for a given moment. Peers date posts to the second, so hundreds of
# statuses can share one millisecond; random bits would collide by the birthday bound (~360 ids
# in one millisecond collide more often than not), a per-process sequence never does.
_sequence = secrets.randbits(16)


def new_id(at: datetime | None = None) -> int:
    """A new id, larger than every id this process made before (for `at=None`)."""
    global _last, _sequence
    if at is not None:
        with _lock:
            _sequence = (_sequence + 1) & 0xFFFF
            return (int(at.timestamp() * 1000) << 16) | _sequence
    with _lock:
        candidate = (int(time.time() * 1000) << 16) | secrets.randbits(16)
        if candidate <= _last:
            candidate = _last + 1
        _last = candidate
        return candidate


def id_at(moment: datetime) -> int:
    """The smallest id that could have been made at `moment` (for time-based pagination)."""
    return int(moment.timestamp() * 1000) << 16


def parse_id(raw: object) -> int | None:
    """An id from client input, or None when it is not a positive 63-bit integer."""
    try:
        value = int(str(raw))
    except (TypeError, ValueError):
        return None
    if value <= 0 or value >= 2**63:
        return None
    return value
