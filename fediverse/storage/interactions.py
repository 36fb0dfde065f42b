"""SQL for what accounts do to statuses: favourites, bookmarks, pins, conversation mutes."""

from __future__ import annotations

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
    return result.endswith(" 1")


async def delete_favourite(conn: Connection, *, account_id: int, status_id: int) -> bool:
    result = await conn.execute(
        "DELETE FROM favourites WHERE account_id = $1 AND status_id = $2", account_id, status_id
    )
    return result.endswith(" 1")


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


async def list_follower_ids_to_notify(conn: Connection, *, account_id: int) -> list[int]:
    """Local followers who asked to be notified of this account's posts (follow `notify`)."""
    rows = await conn.fetch(
        "SELECT f.account_id FROM follows f JOIN accounts a ON a.id = f.account_id "
        "WHERE f.target_account_id = $1 AND f.notify AND a.domain IS NULL",
        account_id,
    )
    return [int(row["account_id"]) for row in rows]
