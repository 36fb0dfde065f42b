"""SQL for reports: what moderators are asked to look at."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fediverse.storage.database import Connection


@dataclass(frozen=True)
class Report:
    id: int
    account_id: int
    target_account_id: int
    status_ids: list[int]
    comment: str
    uri: str | None
    forwarded: bool
    action_taken_at: datetime | None
    created_at: datetime


_COLUMNS = (
    "id, account_id, target_account_id, status_ids, comment, uri, forwarded, action_taken_at, "
    "created_at"
)


async def insert_report(
    conn: Connection,
    *,
    report_id: int,
    account_id: int,
    target_account_id: int,
    status_ids: list[int],
    comment: str,
    uri: str | None,
    forwarded: bool,
) -> bool:
    """Store a report; False when one with this uri exists already."""
    result = await conn.execute(
        "INSERT INTO reports (id, account_id, target_account_id, status_ids, comment, uri, "
        "forwarded) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (uri) DO NOTHING",
        report_id,
        account_id,
        target_account_id,
        status_ids,
        comment,
        uri,
        forwarded,
    )
    return bool(result.endswith(" 1"))


async def list_reports_about(conn: Connection, *, target_account_id: int) -> list[Report]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM reports WHERE target_account_id = $1 ORDER BY id DESC",
        target_account_id,
    )
    return [Report(**dict(row)) for row in rows]
