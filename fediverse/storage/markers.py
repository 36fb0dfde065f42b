"""SQL for read-position markers (one row per account and timeline)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fediverse.storage.database import Connection


@dataclass(frozen=True)
class Marker:
    account_id: int
    timeline: str
    last_read_id: int
    version: int
    updated_at: datetime


_COLUMNS = "account_id, timeline, last_read_id, version, updated_at"


async def list_markers(conn: Connection, *, account_id: int, timelines: list[str]) -> list[Marker]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM markers WHERE account_id = $1 AND timeline = ANY($2::text[]) "
        "ORDER BY timeline",
        account_id,
        timelines,
    )
    return [Marker(**dict(row)) for row in rows]


async def upsert_marker(
    conn: Connection, *, account_id: int, timeline: str, last_read_id: int, now: datetime
) -> Marker:
    """Set the position; the version goes up only when the position actually changes."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO markers AS m (account_id, timeline, last_read_id, version, updated_at)
        VALUES ($1, $2, $3, 1, $4)
        ON CONFLICT (account_id, timeline) DO UPDATE
            SET last_read_id = EXCLUDED.last_read_id, version = m.version + 1,
                updated_at = EXCLUDED.updated_at
            WHERE m.last_read_id <> EXCLUDED.last_read_id
        RETURNING {_COLUMNS}
        """,
        account_id,
        timeline,
        last_read_id,
        now,
    )
    if row is None:  # unchanged: the conflict's WHERE skipped the update
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM markers WHERE account_id = $1 AND timeline = $2",
            account_id,
            timeline,
        )
    return Marker(**dict(row))
