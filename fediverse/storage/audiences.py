"""SQL for audiences: who follows an author right now, who is in the organization, the snapshot
stored at posting time, and the delivery state of a status per remote server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fediverse.storage.database import Connection


@dataclass(frozen=True)
class Member:
    """An account in an audience: local when `domain` is None."""

    account_id: int
    domain: str | None


@dataclass(frozen=True)
class StoredAudience:
    status_id: int
    scope: str
    federates: bool
    followers_local: int
    followers_remote: int
    local_accounts: int
    remote_accounts: int
    servers: list[dict[str, Any]]
    mentioned_ids: list[int]
    resolved_at: datetime


@dataclass(frozen=True)
class DomainDeliveries:
    """The deliveries of one status to one remote server, counted by state."""

    domain: str
    delivered: int
    pending: int
    failed: int
    skipped: int
    next_attempt_at: datetime | None
    last_error: str | None


_AUDIENCE_COLUMNS = """
    status_id, scope, federates, followers_local, followers_remote, local_accounts,
    remote_accounts, servers, mentioned_ids, resolved_at
"""


async def list_followers(conn: Connection, *, account_id: int) -> list[Member]:
    """Accepted followers as of now (pending requests are not followers); suspended accounts
    see nothing, so they are left out."""
    rows = await conn.fetch(
        "SELECT a.id, a.domain FROM follows f JOIN accounts a ON a.id = f.account_id "
        "WHERE f.target_account_id = $1 AND a.suspended_at IS NULL ORDER BY a.id",
        account_id,
    )
    return [Member(account_id=int(row["id"]), domain=row["domain"]) for row in rows]


async def list_members(conn: Connection, *, account_ids: list[int]) -> list[Member]:
    """Those of `account_ids` that exist and are not suspended."""
    if not account_ids:
        return []
    rows = await conn.fetch(
        "SELECT id, domain FROM accounts "
        "WHERE id = ANY($1::bigint[]) AND suspended_at IS NULL ORDER BY id",
        account_ids,
    )
    return [Member(account_id=int(row["id"]), domain=row["domain"]) for row in rows]


async def count_organization(conn: Connection, *, author_id: int) -> int:
    """People who can sign in here, other than the author and those the author blocks."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM users u JOIN accounts a ON a.id = u.account_id "
            "WHERE a.domain IS NULL AND a.suspended_at IS NULL AND u.approved "
            "AND NOT u.disabled AND a.id <> $1 AND NOT EXISTS ("
            "SELECT 1 FROM blocks b WHERE b.account_id = $1 AND b.target_account_id = a.id)",
            author_id,
        )
    )


async def insert_status_audience(
    conn: Connection,
    *,
    status_id: int,
    scope: str,
    federates: bool,
    followers_local: int,
    followers_remote: int,
    local_accounts: int,
    remote_accounts: int,
    servers: list[dict[str, Any]],
    mentioned_ids: list[int],
    resolved_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO status_audiences (status_id, scope, federates, followers_local, "
        "followers_remote, local_accounts, remote_accounts, servers, mentioned_ids, resolved_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (status_id) DO NOTHING",
        status_id,
        scope,
        federates,
        followers_local,
        followers_remote,
        local_accounts,
        remote_accounts,
        servers,
        mentioned_ids,
        resolved_at,
    )


def _stored(row: Any) -> StoredAudience:
    values = dict(row)
    values["servers"] = list(values["servers"] or [])
    values["mentioned_ids"] = [int(i) for i in values["mentioned_ids"] or []]
    return StoredAudience(**values)


async def fetch_status_audience(conn: Connection, *, status_id: int) -> StoredAudience | None:
    row = await conn.fetchrow(
        f"SELECT {_AUDIENCE_COLUMNS} FROM status_audiences WHERE status_id = $1", status_id
    )
    return None if row is None else _stored(row)


async def list_status_audiences(conn: Connection, *, status_ids: list[int]) -> list[StoredAudience]:
    if not status_ids:
        return []
    rows = await conn.fetch(
        f"SELECT {_AUDIENCE_COLUMNS} FROM status_audiences WHERE status_id = ANY($1::bigint[])",
        status_ids,
    )
    return [_stored(row) for row in rows]


async def list_domain_deliveries(conn: Connection, *, status_id: int) -> list[DomainDeliveries]:
    """Every delivery row of the status (its Create, later Updates), grouped by server."""
    rows = await conn.fetch(
        """
        SELECT domain,
               count(*) FILTER (WHERE state = 'delivered') AS delivered,
               count(*) FILTER (WHERE state = 'pending') AS pending,
               count(*) FILTER (WHERE state = 'failed') AS failed,
               count(*) FILTER (WHERE state = 'skipped') AS skipped,
               min(next_attempt_at) FILTER (WHERE state = 'pending') AS next_attempt_at,
               (array_agg(last_error ORDER BY coalesce(finished_at, next_attempt_at) DESC)
                   FILTER (WHERE last_error IS NOT NULL))[1] AS last_error
        FROM deliveries WHERE status_id = $1
        GROUP BY domain ORDER BY domain
        """,
        status_id,
    )
    return [DomainDeliveries(**dict(row)) for row in rows]


async def fetch_setting_value(conn: Connection, *, key: str) -> Any:
    """The value of one server_settings key, or None when unset."""
    return await conn.fetchval("SELECT value FROM server_settings WHERE key = $1", key)
