"""Time-ordered 64-bit ids in Mastodon's snowflake scheme: milliseconds since the epoch << 16."""

from __future__ import annotations

import secrets
import threading
import time
from datetime import datetime

_lock = threading.Lock()
_last = 0


def new_id(at: datetime | None = None) -> int:
    """A new id, larger than every id this process made before (for `at=None`)."""
    global _last
    if at is not None:
        return (int(at.timestamp() * 1000) << 16) | secrets.randbits(16)
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
