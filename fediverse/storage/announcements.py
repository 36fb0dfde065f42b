"""SQL for announcements, who dismissed them, and the emoji reactions on them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fediverse.storage.database import Connection


@dataclass(frozen=True)
class Announcement:
    id: int
    text: str
    content: str
    starts_at: datetime | None
    ends_at: datetime | None
    all_day: bool
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ReactionCount:
    announcement_id: int
    name: str
    count: int
    me: bool


_COLUMNS = "id, text, content, starts_at, ends_at, all_day, published_at, created_at, updated_at"


async def insert_announcement(
    conn: Connection,
    *,
    announcement_id: int,
    text: str,
    content: str,
    starts_at: datetime | None,
    ends_at: datetime | None,
    all_day: bool,
    published_at: datetime | None,
) -> Announcement:
    row = await conn.fetchrow(
        f"INSERT INTO announcements (id, text, content, starts_at, ends_at, all_day, "
        f"published_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}",
        announcement_id,
        text,
        content,
        starts_at,
        ends_at,
        all_day,
        published_at,
    )
    return Announcement(**dict(row))


async def delete_announcement(conn: Connection, *, announcement_id: int) -> None:
    await conn.execute("DELETE FROM announcements WHERE id = $1", announcement_id)


async def list_active_announcements(conn: Connection, *, now: datetime) -> list[Announcement]:
    """Published announcements that have not ended, oldest first (as Mastodon lists them)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM announcements WHERE published_at IS NOT NULL "
        "AND published_at <= $1 AND (ends_at IS NULL OR ends_at > $1) "
        "ORDER BY coalesce(starts_at, published_at), id",
        now,
    )
    return [Announcement(**dict(row)) for row in rows]


async def fetch_active_announcement(
    conn: Connection, *, announcement_id: int, now: datetime
) -> Announcement | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM announcements WHERE id = $1 AND published_at IS NOT NULL "
        "AND published_at <= $2 AND (ends_at IS NULL OR ends_at > $2)",
        announcement_id,
        now,
    )
    return None if row is None else Announcement(**dict(row))


async def list_dismissed_ids(
    conn: Connection, *, account_id: int, announcement_ids: list[int]
) -> set[int]:
    rows = await conn.fetch(
        "SELECT announcement_id FROM announcement_dismissals "
        "WHERE account_id = $1 AND announcement_id = ANY($2::bigint[])",
        account_id,
        announcement_ids,
    )
    return {int(row["announcement_id"]) for row in rows}


async def insert_dismissal(conn: Connection, *, announcement_id: int, account_id: int) -> None:
    await conn.execute(
        "INSERT INTO announcement_dismissals (announcement_id, account_id) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING",
        announcement_id,
        account_id,
    )


async def list_reaction_counts(
    conn: Connection, *, announcement_ids: list[int], viewer_id: int | None
) -> list[ReactionCount]:
    """Reactions per announcement and name, first used first; `me` for the viewer's own."""
    rows = await conn.fetch(
        "SELECT announcement_id, name, count(*) AS count, "
        "coalesce(bool_or(account_id = $2::bigint), false) AS me "
        "FROM announcement_reactions WHERE announcement_id = ANY($1::bigint[]) "
        "GROUP BY announcement_id, name ORDER BY announcement_id, min(created_at), name",
        announcement_ids,
        viewer_id,
    )
    return [ReactionCount(**dict(row)) for row in rows]


async def insert_reaction(
    conn: Connection, *, announcement_id: int, account_id: int, name: str
) -> None:
    await conn.execute(
        "INSERT INTO announcement_reactions (announcement_id, account_id, name) "
        "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        announcement_id,
        account_id,
        name,
    )


async def delete_reaction(
    conn: Connection, *, announcement_id: int, account_id: int, name: str
) -> None:
    await conn.execute(
        "DELETE FROM announcement_reactions "
        "WHERE announcement_id = $1 AND account_id = $2 AND name = $3",
        announcement_id,
        account_id,
        name,
    )
