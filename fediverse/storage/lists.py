"""SQL for lists (Mastodon's curated timelines) and their members."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fediverse.storage.database import Connection

_COLUMNS = "id, account_id, title, replies_policy, exclusive, created_at"


@dataclass(frozen=True)
class AccountList:
    id: int
    account_id: int
    title: str
    replies_policy: str
    exclusive: bool
    created_at: datetime


async def list_lists(conn: Connection, *, owner_id: int) -> list[AccountList]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM lists WHERE account_id = $1 ORDER BY id", owner_id
    )
    return [AccountList(**dict(row)) for row in rows]


async def count_lists(conn: Connection, *, owner_id: int) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM lists WHERE account_id = $1", owner_id))


async def fetch_list(conn: Connection, *, owner_id: int, list_id: int) -> AccountList | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM lists WHERE id = $1 AND account_id = $2", list_id, owner_id
    )
    return None if row is None else AccountList(**dict(row))


async def insert_list(
    conn: Connection,
    *,
    list_id: int,
    owner_id: int,
    title: str,
    replies_policy: str,
    exclusive: bool,
) -> AccountList:
    row = await conn.fetchrow(
        f"INSERT INTO lists (id, account_id, title, replies_policy, exclusive) "
        f"VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}",
        list_id,
        owner_id,
        title,
        replies_policy,
        exclusive,
    )
    return AccountList(**dict(row))


async def update_list(
    conn: Connection,
    *,
    owner_id: int,
    list_id: int,
    title: str,
    replies_policy: str,
    exclusive: bool,
) -> AccountList | None:
    row = await conn.fetchrow(
        f"UPDATE lists SET title = $3, replies_policy = $4, exclusive = $5 "
        f"WHERE id = $1 AND account_id = $2 RETURNING {_COLUMNS}",
        list_id,
        owner_id,
        title,
        replies_policy,
        exclusive,
    )
    return None if row is None else AccountList(**dict(row))


async def delete_list(conn: Connection, *, owner_id: int, list_id: int) -> bool:
    result = await conn.execute(
        "DELETE FROM lists WHERE id = $1 AND account_id = $2", list_id, owner_id
    )
    return bool(result.endswith(" 1"))


async def list_member_ids(
    conn: Connection, *, list_id: int, below_id: int, above_id: int, count: int | None
) -> list[int]:
    """Member account ids, highest first, inside the exclusive bounds (count None = all)."""
    rows = await conn.fetch(
        "SELECT account_id FROM list_accounts WHERE list_id = $1 AND account_id < $2 "
        "AND account_id > $3 ORDER BY account_id DESC LIMIT $4",
        list_id,
        below_id,
        above_id,
        count,
    )
    return [int(row["account_id"]) for row in rows]


async def list_member_ids_ascending(
    conn: Connection, *, list_id: int, above_id: int, below_id: int, count: int | None
) -> list[int]:
    rows = await conn.fetch(
        "SELECT account_id FROM list_accounts WHERE list_id = $1 AND account_id < $2 "
        "AND account_id > $3 ORDER BY account_id ASC LIMIT $4",
        list_id,
        below_id,
        above_id,
        count,
    )
    return [int(row["account_id"]) for row in rows]


async def list_followed_or_requested(
    conn: Connection, *, owner_id: int, account_ids: list[int]
) -> set[int]:
    """Which of `account_ids` the owner follows or has asked to follow."""
    rows = await conn.fetch(
        "SELECT target_account_id FROM follows WHERE account_id = $1 "
        "AND target_account_id = ANY ($2::bigint[]) "
        "UNION SELECT target_account_id FROM follow_requests WHERE account_id = $1 "
        "AND target_account_id = ANY ($2::bigint[])",
        owner_id,
        account_ids,
    )
    return {int(row["target_account_id"]) for row in rows}


async def insert_members(conn: Connection, *, list_id: int, account_ids: list[int]) -> None:
    await conn.execute(
        "INSERT INTO list_accounts (list_id, account_id) "
        "SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
        list_id,
        account_ids,
    )


async def delete_members(conn: Connection, *, list_id: int, account_ids: list[int]) -> None:
    await conn.execute(
        "DELETE FROM list_accounts WHERE list_id = $1 AND account_id = ANY ($2::bigint[])",
        list_id,
        account_ids,
    )
