"""SQL for what accounts do to statuses: favourites, bookmarks, pins, conversation mutes."""

from __future__ import annotations

from fediverse.audience import visible_sql
from fediverse.storage.database import Connection


async def insert_favourite(
    conn: Connection, *, favourite_id: int, account_id: int, status_id: int, uri: str | None = None
) -> bool:
    result = await conn.execute(
        "INSERT INTO favourites (id, account_id, status_id, uri) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (account_id, status_id) DO NOTHING",
        favourite_id,
        account_id,
        status_id,
        uri,
    )
    return bool(result.endswith(" 1"))


async def delete_favourite(conn: Connection, *, account_id: int, status_id: int) -> int | None:
    """Remove a favourite; returns its id (None when there was none)."""
    value = await conn.fetchval(
        "DELETE FROM favourites WHERE account_id = $1 AND status_id = $2 RETURNING id",
        account_id,
        status_id,
    )
    return None if value is None else int(value)


async def insert_bookmark(
    conn: Connection, *, bookmark_id: int, account_id: int, status_id: int
) -> None:
    await conn.execute(
        "INSERT INTO bookmarks (id, account_id, status_id) VALUES ($1, $2, $3) "
        "ON CONFLICT (account_id, status_id) DO NOTHING",
        bookmark_id,
        account_id,
        status_id,
    )


async def delete_bookmark(conn: Connection, *, account_id: int, status_id: int) -> None:
    await conn.execute(
        "DELETE FROM bookmarks WHERE account_id = $1 AND status_id = $2", account_id, status_id
    )


async def insert_pin(conn: Connection, *, pin_id: int, account_id: int, status_id: int) -> None:
    await conn.execute(
        "INSERT INTO status_pins (id, account_id, status_id) VALUES ($1, $2, $3) "
        "ON CONFLICT (account_id, status_id) DO NOTHING",
        pin_id,
        account_id,
        status_id,
    )


async def delete_pin(conn: Connection, *, account_id: int, status_id: int) -> None:
    await conn.execute(
        "DELETE FROM status_pins WHERE account_id = $1 AND status_id = $2", account_id, status_id
    )


async def count_pins(conn: Connection, *, account_id: int) -> int:
    return int(
        await conn.fetchval("SELECT count(*) FROM status_pins WHERE account_id = $1", account_id)
    )


async def insert_conversation_mute(
    conn: Connection, *, account_id: int, thread_root_id: int
) -> None:
    await conn.execute(
        "INSERT INTO conversation_mutes (account_id, thread_root_id) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING",
        account_id,
        thread_root_id,
    )


async def delete_conversation_mute(
    conn: Connection, *, account_id: int, thread_root_id: int
) -> None:
    await conn.execute(
        "DELETE FROM conversation_mutes WHERE account_id = $1 AND thread_root_id = $2",
        account_id,
        thread_root_id,
    )


async def is_thread_muted(conn: Connection, *, account_id: int, thread_root_id: int) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM conversation_mutes WHERE account_id = $1 AND thread_root_id = $2",
            account_id,
            thread_root_id,
        )
    )


async def list_reblogger_ids(conn: Connection, *, status_id: int) -> list[int]:
    rows = await conn.fetch("SELECT account_id FROM statuses WHERE reblog_of_id = $1", status_id)
    return [int(row["account_id"]) for row in rows]


# Local followers who asked to be notified of `{author}`'s posts (follow `notify`); also read
# by the statement that stores a peer's post (storage.remote_statuses), to save a round trip.
FOLLOWERS_TO_NOTIFY = (
    "SELECT f.account_id FROM follows f JOIN accounts a ON a.id = f.account_id "
    "WHERE f.target_account_id = {author} AND f.notify AND a.domain IS NULL"
)


async def list_follower_ids_to_notify(conn: Connection, *, account_id: int) -> list[int]:
    """Local followers who asked to be notified of this account's posts (follow `notify`)."""
    rows = await conn.fetch(FOLLOWERS_TO_NOTIFY.format(author="$1"), account_id)
    return [int(row["account_id"]) for row in rows]


# Paging both ways with one statement: `min_id` reads upward from it (ascending, reversed by
# in Python), otherwise newest first. $2..$5 are max, since, min, limit.
_PAGE_WHERE = (
    "($2::bigint IS NULL OR {c} < $2) AND ($3::bigint IS NULL OR {c} > $3) "
    "AND ($4::bigint IS NULL OR {c} > $4)"
)
_PAGE_ORDER = "ORDER BY CASE WHEN $4::bigint IS NOT NULL THEN {c} END ASC, {c} DESC LIMIT $5"
# People the viewer ($6) blocks or mutes are left out of lists of accounts, as Mastodon does.
_NOT_EXCLUDED = """($6::bigint IS NULL OR (
    NOT EXISTS (SELECT 1 FROM blocks xb WHERE xb.account_id = $6 AND xb.target_account_id = {a})
    AND NOT EXISTS (SELECT 1 FROM mutes xm WHERE xm.account_id = $6 AND xm.target_account_id = {a}
                    AND (xm.expires_at IS NULL OR xm.expires_at > now()))))"""


async def list_favouriter_page(
    conn: Connection,
    *,
    status_id: int,
    viewer_id: int | None,
    max_id: int | None,
    since_id: int | None,
    min_id: int | None,
    limit: int,
) -> list[tuple[int, int]]:
    """(favourite id, account id) pairs, newest favourite first; suspended accounts left out."""
    rows = await conn.fetch(
        "SELECT f.id, f.account_id FROM favourites f JOIN accounts a ON a.id = f.account_id "
        "WHERE f.status_id = $1 AND a.suspended_at IS NULL AND "
        + _PAGE_WHERE.format(c="f.id")
        + " AND "
        + _NOT_EXCLUDED.format(a="f.account_id")
        + " "
        + _PAGE_ORDER.format(c="f.id"),
        status_id,
        max_id,
        since_id,
        min_id,
        limit,
        viewer_id,
    )
    pairs = [(int(row["id"]), int(row["account_id"])) for row in rows]
    return sorted(pairs, reverse=True)


async def list_reblogger_page(
    conn: Connection,
    *,
    status_id: int,
    viewer_id: int | None,
    max_id: int | None,
    since_id: int | None,
    min_id: int | None,
    limit: int,
) -> list[tuple[int, int]]:
    """(boost id, account id) pairs, newest boost first, counting only boosts the viewer may
    see (a followers-only boost is not shown to strangers)."""
    rows = await conn.fetch(
        "SELECT s.id, s.account_id FROM statuses s JOIN accounts a ON a.id = s.account_id "
        "WHERE s.reblog_of_id = $1 AND a.suspended_at IS NULL AND "
        + visible_sql("s", "$6")
        + " AND "
        + _PAGE_WHERE.format(c="s.id")
        + " AND "
        + _NOT_EXCLUDED.format(a="s.account_id")
        + " "
        + _PAGE_ORDER.format(c="s.id"),
        status_id,
        max_id,
        since_id,
        min_id,
        limit,
        viewer_id,
    )
    pairs = [(int(row["id"]), int(row["account_id"])) for row in rows]
    return sorted(pairs, reverse=True)
