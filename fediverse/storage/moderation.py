"""SQL for moderation screens: accounts as admins list them, and reports with their state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fediverse.storage.accounts import _ACCOUNT_COLUMNS, _ACCOUNT_FROM, Account, account_from_row
from fediverse.storage.database import Connection


async def list_account_ids(
    conn: Connection,
    *,
    origin: str | None,
    status: str | None,
    username: str | None,
    domain: str | None,
    staff: bool,
    max_id: int | None,
    since_id: int | None,
    min_id: int | None,
    limit: int,
) -> list[int]:
    """Ids of accounts matching the admin filters (v1 `local`/`remote`, `active`, `pending`,
    `disabled`, `silenced`, `suspended`), newest first; with `min_id` the oldest `limit` ones
    above it (Mastodon's `prev` page), still newest first."""
    rows = await conn.fetch(
        """
        SELECT a.id FROM accounts a LEFT JOIN users u ON u.account_id = a.id
        WHERE ($1::text IS NULL OR ($1 = 'local' AND a.domain IS NULL AND u.id IS NOT NULL)
                                OR ($1 = 'remote' AND a.domain IS NOT NULL))
          AND (a.domain IS NOT NULL OR u.id IS NOT NULL)
          AND ($2::text IS NULL
               OR ($2 = 'active' AND a.suspended_at IS NULL AND coalesce(u.approved, true)
                   AND NOT coalesce(u.disabled, false))
               OR ($2 = 'pending' AND u.id IS NOT NULL AND NOT u.approved)
               OR ($2 = 'disabled' AND coalesce(u.disabled, false))
               OR ($2 = 'silenced' AND a.silenced_at IS NOT NULL)
               OR ($2 = 'suspended' AND a.suspended_at IS NOT NULL))
          AND ($3::text IS NULL OR lower(a.username) LIKE lower($3) || '%')
          AND ($4::text IS NULL OR lower(a.domain) = lower($4))
          AND (NOT $5::boolean OR u.role IN ('admin', 'moderator'))
          AND ($6::bigint IS NULL OR a.id < $6) AND ($7::bigint IS NULL OR a.id > $7)
          AND ($8::bigint IS NULL OR a.id > $8)
        ORDER BY CASE WHEN $8::bigint IS NOT NULL THEN a.id END ASC, a.id DESC LIMIT $9
        """,
        origin,
        status,
        username,
        domain,
        staff,
        max_id,
        since_id,
        min_id,
        limit,
    )
    return sorted((int(row["id"]) for row in rows), reverse=True)


async def list_accounts_by_ids(conn: Connection, *, account_ids: list[int]) -> list[Account]:
    rows = await conn.fetch(
        f"SELECT {_ACCOUNT_COLUMNS} FROM {_ACCOUNT_FROM} WHERE a.id = ANY($1::bigint[]) "
        "ORDER BY a.id DESC",
        account_ids,
    )
    return [account_from_row(row) for row in rows]


async def update_account_moderation(
    conn: Connection, *, account_id: int, silenced_at: datetime | bool | None, clear: str | None
) -> None:
    """Set (`silenced_at` a time) or clear (`clear` = 'silenced_at') the silence mark."""
    if clear == "silenced_at":
        await conn.execute("UPDATE accounts SET silenced_at = NULL WHERE id = $1", account_id)
    elif isinstance(silenced_at, datetime):
        await conn.execute(
            "UPDATE accounts SET silenced_at = coalesce(silenced_at, $2) WHERE id = $1",
            account_id,
            silenced_at,
        )


async def delete_account(conn: Connection, *, account_id: int) -> None:
    await conn.execute("DELETE FROM accounts WHERE id = $1", account_id)


@dataclass(frozen=True)
class ReportRow:
    id: int
    account_id: int
    target_account_id: int
    status_ids: list[int]
    comment: str
    uri: str | None
    forwarded: bool
    action_taken_at: datetime | None
    category: str
    assigned_account_id: int | None
    action_taken_by_account_id: int | None
    created_at: datetime
    updated_at: datetime


_REPORT_COLUMNS = """id, account_id, target_account_id, status_ids, comment, uri, forwarded,
    action_taken_at, category, assigned_account_id, action_taken_by_account_id, created_at,
    updated_at"""


async def list_reports(
    conn: Connection,
    *,
    resolved: bool,
    account_id: int | None,
    target_account_id: int | None,
    max_id: int | None,
    since_id: int | None,
    min_id: int | None,
    limit: int,
) -> list[ReportRow]:
    """Reports newest first; with `min_id` the oldest `limit` above it, still newest first."""
    rows = await conn.fetch(
        f"""
        SELECT {_REPORT_COLUMNS} FROM reports
        WHERE (action_taken_at IS NOT NULL) = $1
          AND ($2::bigint IS NULL OR account_id = $2)
          AND ($3::bigint IS NULL OR target_account_id = $3)
          AND ($4::bigint IS NULL OR id < $4) AND ($5::bigint IS NULL OR id > $5)
          AND ($6::bigint IS NULL OR id > $6)
        ORDER BY CASE WHEN $6::bigint IS NOT NULL THEN id END ASC, id DESC LIMIT $7
        """,
        resolved,
        account_id,
        target_account_id,
        max_id,
        since_id,
        min_id,
        limit,
    )
    found = [ReportRow(**dict(row)) for row in rows]
    return sorted(found, key=lambda report: report.id, reverse=True)


async def fetch_report(conn: Connection, *, report_id: int) -> ReportRow | None:
    row = await conn.fetchrow(f"SELECT {_REPORT_COLUMNS} FROM reports WHERE id = $1", report_id)
    return None if row is None else ReportRow(**dict(row))


async def update_report(
    conn: Connection,
    *,
    report_id: int,
    action_taken_at: datetime | None,
    action_taken_by_account_id: int | None,
    assigned_account_id: int | None,
    now: datetime,
) -> None:
    await conn.execute(
        "UPDATE reports SET action_taken_at = $2, action_taken_by_account_id = $3, "
        "assigned_account_id = $4, updated_at = $5 WHERE id = $1",
        report_id,
        action_taken_at,
        action_taken_by_account_id,
        assigned_account_id,
        now,
    )
