"""SQL for discovery: suggestions, the profile directory, featured tags, endorsements, trends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fediverse.audience import visible_sql
from fediverse.storage.accounts import _ACCOUNT_COLUMNS, _ACCOUNT_FROM, Account, account_from_row
from fediverse.storage.database import Connection
from fediverse.storage.statuses import STATUS_COLUMNS, Status, status_from_row


@dataclass(frozen=True)
class FeaturedTag:
    id: int
    account_id: int
    tag_id: int
    name: str
    statuses_count: int
    last_status_at: datetime | None


@dataclass(frozen=True)
class TrendingTag:
    tag_id: int
    name: str
    accounts: int
    uses: int


@dataclass(frozen=True)
class LinkedStatus:
    """A recent public status's HTML, for finding the links people share."""

    id: int
    account_id: int
    content: str
    created_at: datetime


# --- suggestions and the directory ------------------------------------------------------------


async def list_suggested_accounts(
    conn: Connection, *, account_id: int, limit: int
) -> list[Account]:
    """Local, discoverable colleagues the viewer does not follow, request, block, mute or
    dismissed, most recently active first."""
    rows = await conn.fetch(
        f"""
        SELECT {_ACCOUNT_COLUMNS} FROM {_ACCOUNT_FROM}
        WHERE a.domain IS NULL AND a.id <> $1 AND a.discoverable AND a.suspended_at IS NULL
          AND NOT a.memorial AND a.moved_to_account_id IS NULL
          AND EXISTS (SELECT 1 FROM users u WHERE u.account_id = a.id AND NOT u.disabled
                      AND u.approved)
          AND NOT EXISTS (SELECT 1 FROM follows f
                          WHERE f.account_id = $1 AND f.target_account_id = a.id)
          AND NOT EXISTS (SELECT 1 FROM follow_requests r
                          WHERE r.account_id = $1 AND r.target_account_id = a.id)
          AND NOT EXISTS (SELECT 1 FROM blocks b
                          WHERE (b.account_id = $1 AND b.target_account_id = a.id)
                             OR (b.account_id = a.id AND b.target_account_id = $1))
          AND NOT EXISTS (SELECT 1 FROM mutes m
                          WHERE m.account_id = $1 AND m.target_account_id = a.id)
          AND NOT EXISTS (SELECT 1 FROM suggestion_dismissals d
                          WHERE d.account_id = $1 AND d.target_account_id = a.id)
        ORDER BY s.last_status_at DESC NULLS LAST, s.followers_count DESC, a.id
        LIMIT $2
        """,
        account_id,
        limit,
    )
    return [account_from_row(row) for row in rows]


async def insert_suggestion_dismissal(
    conn: Connection, *, account_id: int, target_account_id: int
) -> None:
    await conn.execute(
        "INSERT INTO suggestion_dismissals (account_id, target_account_id) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING",
        account_id,
        target_account_id,
    )


_DIRECTORY_ORDER = {
    "active": "s.last_status_at DESC NULLS LAST, a.id DESC",
    "new": "a.created_at DESC, a.id DESC",
}


async def list_directory(
    conn: Connection,
    *,
    viewer_id: int | None,
    order: str,
    local_only: bool,
    offset: int,
    limit: int,
) -> list[Account]:
    """Discoverable accounts, minus those blocking or blocked by the viewer."""
    rows = await conn.fetch(
        f"""
        SELECT {_ACCOUNT_COLUMNS} FROM {_ACCOUNT_FROM}
        WHERE a.discoverable AND a.suspended_at IS NULL AND NOT a.memorial
          AND a.moved_to_account_id IS NULL
          AND (NOT $1::boolean OR a.domain IS NULL)
          AND (a.domain IS NOT NULL OR EXISTS (
              SELECT 1 FROM users u WHERE u.account_id = a.id AND NOT u.disabled AND u.approved))
          AND NOT EXISTS (SELECT 1 FROM blocks b
                          WHERE (b.account_id = $2::bigint AND b.target_account_id = a.id)
                             OR (b.account_id = a.id AND b.target_account_id = $2::bigint))
        ORDER BY {_DIRECTORY_ORDER[order]}
        OFFSET $3 LIMIT $4
        """,
        local_only,
        viewer_id,
        offset,
        limit,
    )
    return [account_from_row(row) for row in rows]


# --- featured tags ----------------------------------------------------------------------------


# Counts only what anyone may see (public/unlisted, not internal): they are shown to everyone.
_FEATURED = """
    SELECT ft.id, ft.account_id, ft.tag_id, t.display_name AS name,
           (SELECT count(*) FROM status_tags st JOIN statuses s ON s.id = st.status_id
            WHERE st.tag_id = ft.tag_id AND s.account_id = ft.account_id
              AND s.visibility IN ('public', 'unlisted') AND NOT s.local_only
              AND s.reblog_of_id IS NULL
           ) AS statuses_count,
           (SELECT max(s.created_at) FROM status_tags st JOIN statuses s ON s.id = st.status_id
            WHERE st.tag_id = ft.tag_id AND s.account_id = ft.account_id
              AND s.visibility IN ('public', 'unlisted') AND NOT s.local_only
              AND s.reblog_of_id IS NULL
           ) AS last_status_at
    FROM featured_tags ft JOIN tags t ON t.id = ft.tag_id
"""


async def list_featured_tags(conn: Connection, *, account_id: int) -> list[FeaturedTag]:
    rows = await conn.fetch(f"{_FEATURED} WHERE ft.account_id = $1 ORDER BY ft.id", account_id)
    return [FeaturedTag(**dict(row)) for row in rows]


async def fetch_featured_tag(
    conn: Connection, *, account_id: int, featured_tag_id: int
) -> FeaturedTag | None:
    row = await conn.fetchrow(
        f"{_FEATURED} WHERE ft.account_id = $1 AND ft.id = $2", account_id, featured_tag_id
    )
    return None if row is None else FeaturedTag(**dict(row))


async def count_featured_tags(conn: Connection, *, account_id: int) -> int:
    return int(
        await conn.fetchval("SELECT count(*) FROM featured_tags WHERE account_id = $1", account_id)
    )


async def insert_featured_tag(
    conn: Connection, *, featured_tag_id: int, account_id: int, tag_id: int
) -> int:
    """Feature a tag; featuring it again returns the existing row's id."""
    value = await conn.fetchval(
        "INSERT INTO featured_tags (id, account_id, tag_id) VALUES ($1, $2, $3) "
        "ON CONFLICT (account_id, tag_id) DO UPDATE SET tag_id = EXCLUDED.tag_id RETURNING id",
        featured_tag_id,
        account_id,
        tag_id,
    )
    return int(value)


async def delete_featured_tag(conn: Connection, *, account_id: int, featured_tag_id: int) -> bool:
    result = await conn.execute(
        "DELETE FROM featured_tags WHERE account_id = $1 AND id = $2", account_id, featured_tag_id
    )
    return bool(result.endswith(" 1"))


async def list_most_used_tag_names(conn: Connection, *, account_id: int, limit: int) -> list[str]:
    """The account's most used tags that it does not feature yet."""
    rows = await conn.fetch(
        """
        SELECT t.display_name FROM status_tags st
        JOIN statuses s ON s.id = st.status_id JOIN tags t ON t.id = st.tag_id
        WHERE s.account_id = $1 AND s.reblog_of_id IS NULL
          AND NOT EXISTS (SELECT 1 FROM featured_tags ft
                          WHERE ft.account_id = $1 AND ft.tag_id = st.tag_id)
        GROUP BY t.id, t.display_name ORDER BY count(*) DESC, max(s.id) DESC LIMIT $2
        """,
        account_id,
        limit,
    )
    return [str(row["display_name"]) for row in rows]


# --- endorsements -----------------------------------------------------------------------------


async def insert_account_pin(
    conn: Connection, *, pin_id: int, account_id: int, target_account_id: int
) -> None:
    await conn.execute(
        "INSERT INTO account_pins (id, account_id, target_account_id) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING",
        pin_id,
        account_id,
        target_account_id,
    )


async def delete_account_pin(conn: Connection, *, account_id: int, target_account_id: int) -> None:
    await conn.execute(
        "DELETE FROM account_pins WHERE account_id = $1 AND target_account_id = $2",
        account_id,
        target_account_id,
    )


async def fetch_account_pin_exists(
    conn: Connection, *, account_id: int, target_account_id: int
) -> bool:
    value = await conn.fetchval(
        "SELECT 1 FROM account_pins WHERE account_id = $1 AND target_account_id = $2",
        account_id,
        target_account_id,
    )
    return value is not None


async def list_endorsed_accounts(
    conn: Connection, *, account_id: int, below_id: int, above_id: int, limit: int
) -> list[tuple[int, Account]]:
    """(pin id, account) newest first, inside the exclusive pin-id bounds."""
    rows = await conn.fetch(
        f"""
        SELECT p.id AS pin_id, {_ACCOUNT_COLUMNS}
        FROM account_pins p JOIN {_ACCOUNT_FROM} ON a.id = p.target_account_id
        WHERE p.account_id = $1 AND p.id < $2 AND p.id > $3 AND a.suspended_at IS NULL
        ORDER BY p.id DESC LIMIT $4
        """,
        account_id,
        below_id,
        above_id,
        limit,
    )
    return [
        (int(row["pin_id"]), account_from_row({k: v for k, v in row.items() if k != "pin_id"}))
        for row in rows
    ]


# --- trends -----------------------------------------------------------------------------------

# What trends count: public posts everyone may see (not internal-only), no boosts.
_TRENDING_STATUS = (
    "s.visibility = 'public' AND NOT s.local_only AND s.reblog_of_id IS NULL "
    "AND NOT EXISTS (SELECT 1 FROM accounts ta WHERE ta.id = s.account_id "
    "AND ta.suspended_at IS NOT NULL)"
)


async def list_trending_tags(
    conn: Connection, *, since: datetime, offset: int, limit: int
) -> list[TrendingTag]:
    """Tags by how many people used them since `since`, then by uses."""
    rows = await conn.fetch(
        f"""
        SELECT t.id AS tag_id, t.display_name AS name,
               count(DISTINCT s.account_id) AS accounts, count(*) AS uses
        FROM status_tags st JOIN statuses s ON s.id = st.status_id JOIN tags t ON t.id = st.tag_id
        WHERE st.status_id >= (extract(epoch FROM $1::timestamptz) * 1000)::bigint << 16
          AND s.created_at >= $1 AND t.usable AND t.trendable AND {_TRENDING_STATUS}
        GROUP BY t.id, t.display_name
        ORDER BY count(DISTINCT s.account_id) DESC, count(*) DESC, max(s.id) DESC
        OFFSET $2 LIMIT $3
        """,
        since,
        offset,
        limit,
    )
    return [TrendingTag(**dict(row)) for row in rows]


async def list_trending_statuses(
    conn: Connection,
    *,
    viewer_id: int | None,
    since: datetime,
    offset: int,
    limit: int,
) -> list[Status]:
    """Recent public statuses the viewer may see, by favourites and boosts since `since`."""
    rows = await conn.fetch(
        f"""
        SELECT {STATUS_COLUMNS} FROM (
            SELECT s.id, (SELECT count(*) FROM favourites f
                          WHERE f.status_id = s.id AND f.created_at >= $2)
                       + (SELECT count(*) FROM statuses r
                          WHERE r.reblog_of_id = s.id AND r.created_at >= $2) AS score
            FROM statuses s
            WHERE s.id >= (extract(epoch FROM $2::timestamptz) * 1000)::bigint << 16
              AND s.created_at >= $2 AND {_TRENDING_STATUS} AND {visible_sql("s", "$1")}
        ) ranked JOIN statuses s ON s.id = ranked.id
        WHERE ranked.score > 0
        ORDER BY ranked.score DESC, s.id DESC
        OFFSET $3 LIMIT $4
        """,
        viewer_id,
        since,
        offset,
        limit,
    )
    return [status_from_row(row) for row in rows]


async def list_recent_public_contents(
    conn: Connection, *, since: datetime, limit: int
) -> list[LinkedStatus]:
    """The HTML of recent public statuses holding a link, newest first."""
    rows = await conn.fetch(
        f"""
        SELECT s.id, s.account_id, s.content, s.created_at FROM statuses s
        WHERE s.id >= (extract(epoch FROM $1::timestamptz) * 1000)::bigint << 16
          AND s.created_at >= $1 AND {_TRENDING_STATUS} AND s.content LIKE '%href=%'
        ORDER BY s.id DESC LIMIT $2
        """,
        since,
        limit,
    )
    return [LinkedStatus(**dict(row)) for row in rows]
