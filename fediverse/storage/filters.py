"""SQL for content filters (v2): filters, their keywords and their statuses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fediverse.storage.database import Connection


@dataclass(frozen=True)
class Filter:
    id: int
    account_id: int
    title: str
    context: list[str]
    filter_action: str
    expires_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class FilterKeyword:
    id: int
    filter_id: int
    keyword: str
    whole_word: bool


@dataclass(frozen=True)
class FilterStatus:
    id: int
    filter_id: int
    status_id: int


_FILTER_COLUMNS = (
    "f.id, f.account_id, f.title, f.context, f.filter_action, f.expires_at, f.created_at"
)
_KEYWORD_COLUMNS = "k.id, k.filter_id, k.keyword, k.whole_word"
_STATUS_COLUMNS = "fs.id, fs.filter_id, fs.status_id"


async def list_filters(conn: Connection, *, account_id: int) -> list[Filter]:
    rows = await conn.fetch(
        f"SELECT {_FILTER_COLUMNS} FROM filters f WHERE f.account_id = $1 ORDER BY f.id",
        account_id,
    )
    return [Filter(**dict(row)) for row in rows]


async def list_active_filters(conn: Connection, *, account_id: int, now: datetime) -> list[Filter]:
    rows = await conn.fetch(
        f"SELECT {_FILTER_COLUMNS} FROM filters f WHERE f.account_id = $1 "
        "AND (f.expires_at IS NULL OR f.expires_at > $2) ORDER BY f.id",
        account_id,
        now,
    )
    return [Filter(**dict(row)) for row in rows]


async def fetch_filter(conn: Connection, *, filter_id: int, account_id: int) -> Filter | None:
    row = await conn.fetchrow(
        f"SELECT {_FILTER_COLUMNS} FROM filters f WHERE f.id = $1 AND f.account_id = $2",
        filter_id,
        account_id,
    )
    return None if row is None else Filter(**dict(row))


async def insert_filter(
    conn: Connection,
    *,
    filter_id: int,
    account_id: int,
    title: str,
    context: list[str],
    filter_action: str,
    expires_at: datetime | None,
) -> Filter:
    row = await conn.fetchrow(
        "INSERT INTO filters AS f (id, account_id, title, context, filter_action, expires_at) "
        f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_FILTER_COLUMNS}",
        filter_id,
        account_id,
        title,
        context,
        filter_action,
        expires_at,
    )
    return Filter(**dict(row))


async def update_filter(
    conn: Connection,
    *,
    filter_id: int,
    title: str,
    context: list[str],
    filter_action: str,
    expires_at: datetime | None,
) -> Filter:
    row = await conn.fetchrow(
        "UPDATE filters AS f SET title = $2, context = $3, filter_action = $4, expires_at = $5 "
        f"WHERE f.id = $1 RETURNING {_FILTER_COLUMNS}",
        filter_id,
        title,
        context,
        filter_action,
        expires_at,
    )
    return Filter(**dict(row))


async def delete_filter(conn: Connection, *, filter_id: int) -> None:
    await conn.execute("DELETE FROM filters WHERE id = $1", filter_id)


async def list_keywords(conn: Connection, *, filter_ids: list[int]) -> list[FilterKeyword]:
    rows = await conn.fetch(
        f"SELECT {_KEYWORD_COLUMNS} FROM filter_keywords k "
        "WHERE k.filter_id = ANY($1::bigint[]) ORDER BY k.id",
        filter_ids,
    )
    return [FilterKeyword(**dict(row)) for row in rows]


async def fetch_keyword(
    conn: Connection, *, keyword_id: int, account_id: int
) -> FilterKeyword | None:
    """A keyword, if it belongs to one of the account's filters."""
    row = await conn.fetchrow(
        f"SELECT {_KEYWORD_COLUMNS} FROM filter_keywords k JOIN filters f ON f.id = k.filter_id "
        "WHERE k.id = $1 AND f.account_id = $2",
        keyword_id,
        account_id,
    )
    return None if row is None else FilterKeyword(**dict(row))


async def insert_keyword(
    conn: Connection, *, keyword_id: int, filter_id: int, keyword: str, whole_word: bool
) -> FilterKeyword:
    row = await conn.fetchrow(
        "INSERT INTO filter_keywords AS k (id, filter_id, keyword, whole_word) "
        f"VALUES ($1, $2, $3, $4) RETURNING {_KEYWORD_COLUMNS}",
        keyword_id,
        filter_id,
        keyword,
        whole_word,
    )
    return FilterKeyword(**dict(row))


async def update_keyword(
    conn: Connection, *, keyword_id: int, keyword: str, whole_word: bool
) -> FilterKeyword:
    row = await conn.fetchrow(
        "UPDATE filter_keywords AS k SET keyword = $2, whole_word = $3 "
        f"WHERE k.id = $1 RETURNING {_KEYWORD_COLUMNS}",
        keyword_id,
        keyword,
        whole_word,
    )
    return FilterKeyword(**dict(row))


async def delete_keyword(conn: Connection, *, keyword_id: int) -> None:
    await conn.execute("DELETE FROM filter_keywords WHERE id = $1", keyword_id)


async def list_filter_statuses(conn: Connection, *, filter_ids: list[int]) -> list[FilterStatus]:
    rows = await conn.fetch(
        f"SELECT {_STATUS_COLUMNS} FROM filter_statuses fs "
        "WHERE fs.filter_id = ANY($1::bigint[]) ORDER BY fs.id",
        filter_ids,
    )
    return [FilterStatus(**dict(row)) for row in rows]


async def fetch_filter_status(
    conn: Connection, *, filter_status_id: int, account_id: int
) -> FilterStatus | None:
    row = await conn.fetchrow(
        f"SELECT {_STATUS_COLUMNS} FROM filter_statuses fs JOIN filters f ON f.id = fs.filter_id "
        "WHERE fs.id = $1 AND f.account_id = $2",
        filter_status_id,
        account_id,
    )
    return None if row is None else FilterStatus(**dict(row))


async def insert_filter_status(
    conn: Connection, *, filter_status_id: int, filter_id: int, status_id: int
) -> FilterStatus | None:
    """None when the status is already in the filter."""
    row = await conn.fetchrow(
        "INSERT INTO filter_statuses AS fs (id, filter_id, status_id) "
        "SELECT $1, $2, $3 WHERE NOT EXISTS "
        "(SELECT 1 FROM filter_statuses WHERE filter_id = $2 AND status_id = $3) "
        f"RETURNING {_STATUS_COLUMNS}",
        filter_status_id,
        filter_id,
        status_id,
    )
    return None if row is None else FilterStatus(**dict(row))


async def delete_filter_status(conn: Connection, *, filter_status_id: int) -> None:
    await conn.execute("DELETE FROM filter_statuses WHERE id = $1", filter_status_id)
