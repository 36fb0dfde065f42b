"""SQL for hashtags people follow, and a tag's recent use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fediverse.storage.database import Connection


@dataclass(frozen=True)
class Tag:
    id: int
    name: str
    display_name: str


@dataclass(frozen=True)
class FollowedTag:
    follow_id: int
    tag: Tag


@dataclass(frozen=True)
class TagDay:
    day: datetime
    uses: int
    accounts: int


async def fetch_tag(conn: Connection, *, name: str) -> Tag | None:
    row = await conn.fetchrow(
        "SELECT id, name, display_name FROM tags WHERE lower(name) = lower($1)", name
    )
    return None if row is None else Tag(**dict(row))


async def list_tag_ids(conn: Connection, *, names: list[str]) -> list[int]:
    rows = await conn.fetch(
        "SELECT id FROM tags WHERE lower(name) = ANY ($1::text[]) ORDER BY id",
        [name.lower() for name in names],
    )
    return [int(row["id"]) for row in rows]


async def insert_tag(conn: Connection, *, tag_id: int, name: str) -> Tag:
    """The tag named `name`, created if missing."""
    await conn.execute(
        "INSERT INTO tags (id, name, display_name) VALUES ($1, lower($2), $2) "
        "ON CONFLICT (lower(name)) DO NOTHING",
        tag_id,
        name,
    )
    tag = await fetch_tag(conn, name=name)
    assert tag is not None
    return tag


async def insert_tag_follow(
    conn: Connection, *, follow_id: int, account_id: int, tag_id: int
) -> None:
    await conn.execute(
        "INSERT INTO tag_follows (id, account_id, tag_id) VALUES ($1, $2, $3) "
        "ON CONFLICT (account_id, tag_id) DO NOTHING",
        follow_id,
        account_id,
        tag_id,
    )


async def delete_tag_follow(conn: Connection, *, account_id: int, tag_id: int) -> None:
    await conn.execute(
        "DELETE FROM tag_follows WHERE account_id = $1 AND tag_id = $2", account_id, tag_id
    )


async def fetch_tag_follow_exists(conn: Connection, *, account_id: int, tag_id: int) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM tag_follows WHERE account_id = $1 AND tag_id = $2", account_id, tag_id
        )
    )


async def list_followed_tags(
    conn: Connection,
    *,
    account_id: int,
    below_id: int,
    above_id: int,
    count: int,
    ascending: bool,
) -> list[FollowedTag]:
    """Followed tags paged by the follow's id (newest first unless `ascending`)."""
    rows = await conn.fetch(
        "SELECT tf.id AS follow_id, t.id, t.name, t.display_name "
        "FROM tag_follows tf JOIN tags t ON t.id = tf.tag_id "
        "WHERE tf.account_id = $1 AND tf.id < $2 AND tf.id > $3 "
        "ORDER BY CASE WHEN $5 THEN tf.id END ASC, CASE WHEN NOT $5 THEN tf.id END DESC "
        "LIMIT $4",
        account_id,
        below_id,
        above_id,
        count,
        ascending,
    )
    return [
        FollowedTag(
            follow_id=int(row["follow_id"]),
            tag=Tag(id=row["id"], name=row["name"], display_name=row["display_name"]),
        )
        for row in rows
    ]


async def list_tag_history(
    conn: Connection, *, tag_id: int, since: datetime, until: datetime
) -> list[TagDay]:
    """Uses and distinct authors per UTC day in [since, until), days without use left out.

    Walks status_tags(tag_id, status_id) from the snowflake id of `since`, so old use costs
    nothing.
    """
    rows = await conn.fetch(
        "SELECT date_trunc('day', s.created_at AT TIME ZONE 'UTC') AS day, "
        "count(*) AS uses, count(DISTINCT s.account_id) AS accounts "
        "FROM status_tags st JOIN statuses s ON s.id = st.status_id "
        "WHERE st.tag_id = $1 AND st.status_id >= (extract(epoch FROM $2::timestamptz) "
        "* 1000)::bigint << 16 AND s.created_at >= $2 AND s.created_at < $3 "
        "AND s.visibility IN ('public', 'unlisted') GROUP BY 1",
        tag_id,
        since,
        until,
    )
    return [TagDay(day=row["day"], uses=row["uses"], accounts=row["accounts"]) for row in rows]
