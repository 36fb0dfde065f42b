"""SQL for scheduled statuses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fediverse.storage.database import Connection


@dataclass(frozen=True)
class ScheduledStatus:
    id: int
    account_id: int
    scheduled_at: datetime
    params: dict[str, Any]
    created_at: datetime


_COLUMNS = "id, account_id, scheduled_at, params, created_at"


def _scheduled(row: Any) -> ScheduledStatus:
    return ScheduledStatus(**dict(row))


async def insert_scheduled(
    conn: Connection,
    *,
    scheduled_id: int,
    account_id: int,
    scheduled_at: datetime,
    params: dict[str, Any],
) -> None:
    await conn.execute(
        "INSERT INTO scheduled_statuses (id, account_id, scheduled_at, params) "
        "VALUES ($1, $2, $3, $4)",
        scheduled_id,
        account_id,
        scheduled_at,
        params,
    )


async def fetch_scheduled(
    conn: Connection, *, account_id: int, scheduled_id: int
) -> ScheduledStatus | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM scheduled_statuses WHERE account_id = $1 AND id = $2",
        account_id,
        scheduled_id,
    )
    return None if row is None else _scheduled(row)


async def list_scheduled(
    conn: Connection, *, account_id: int, below_id: int, above_id: int, count: int, ascending: bool
) -> list[ScheduledStatus]:
    order = "ASC" if ascending else "DESC"
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM scheduled_statuses WHERE account_id = $1 AND id < $2 "
        f"AND id > $3 ORDER BY id {order} LIMIT $4",
        account_id,
        below_id,
        above_id,
        count,
    )
    return [_scheduled(row) for row in rows]


async def count_scheduled(
    conn: Connection, *, account_id: int, day_start: datetime, day_end: datetime
) -> tuple[int, int]:
    """(all of the account's scheduled statuses, those due within [day_start, day_end))."""
    row = await conn.fetchrow(
        "SELECT count(*) AS total, "
        "count(*) FILTER (WHERE scheduled_at >= $2 AND scheduled_at < $3) AS that_day "
        "FROM scheduled_statuses WHERE account_id = $1",
        account_id,
        day_start,
        day_end,
    )
    assert row is not None
    return int(row["total"]), int(row["that_day"])


async def update_scheduled_at(
    conn: Connection, *, account_id: int, scheduled_id: int, scheduled_at: datetime
) -> None:
    await conn.execute(
        "UPDATE scheduled_statuses SET scheduled_at = $3 WHERE account_id = $1 AND id = $2",
        account_id,
        scheduled_id,
        scheduled_at,
    )


async def delete_scheduled(conn: Connection, *, scheduled_id: int) -> bool:
    result = await conn.execute("DELETE FROM scheduled_statuses WHERE id = $1", scheduled_id)
    return bool(result.endswith(" 1"))


async def claim_due(conn: Connection, *, now: datetime) -> ScheduledStatus | None:
    """The oldest due scheduled status, locked (SKIP LOCKED: workers never collide)."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM scheduled_statuses WHERE scheduled_at <= $1 "
        "ORDER BY scheduled_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
        now,
    )
    return None if row is None else _scheduled(row)
