"""SQL for what peers send us: remote media rows, addressing, and records found by activity uri."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fediverse.storage.database import Connection
from fediverse.storage.interactions import FOLLOWERS_TO_NOTIFY
from fediverse.storage.statuses import STATUS_COLUMNS, Status, status_from_row


@dataclass(frozen=True)
class RemoteMediaRow:
    media_id: int
    type: str
    remote_url: str
    remote_preview_url: str | None
    content_type: str | None
    description: str | None
    blurhash: str | None
    focus_x: float | None
    focus_y: float | None
    position: int


@dataclass(frozen=True)
class Pair:
    """Who did it (`account_id`) to whom or what (`target_id`)."""

    account_id: int
    target_id: int


@dataclass(frozen=True)
class InsertedStatus:
    status: Status
    # Local followers of the author who asked to be notified of its posts.
    follower_ids_to_notify: list[int]


async def insert_remote_status(
    conn: Connection, *, values: dict[str, Any], addressing: list[str]
) -> InsertedStatus | None:
    """Insert a peer's status with its addressing (the URIs it was sent to) and return it as
    stored, with the followers to notify of it: one statement, no read-back. None when a
    status with this uri exists already."""
    columns = list(values)
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    row = await conn.fetchrow(
        f"WITH s AS (INSERT INTO statuses AS s ({', '.join(columns)}) VALUES ({placeholders}) "
        f"  ON CONFLICT (uri) DO NOTHING RETURNING {STATUS_COLUMNS}), "
        "addressed AS (INSERT INTO status_addressing (status_id, target_uri) "
        f"  SELECT s.id, target FROM s, unnest(${len(columns) + 1}::text[]) AS target "
        "  ON CONFLICT DO NOTHING) "
        f"SELECT s.*, ARRAY({FOLLOWERS_TO_NOTIFY.format(author='s.account_id')}) AS notify_ids "
        "FROM s",
        *values.values(),
        list(dict.fromkeys(addressing)),
    )
    if row is None:
        return None
    return InsertedStatus(status_from_row(row), [int(i) for i in row["notify_ids"]])


async def insert_remote_media(
    conn: Connection, *, account_id: int, status_id: int, rows: list[RemoteMediaRow]
) -> None:
    """Attachments of a remote status, kept as links to the peer's files (not downloaded)."""
    if not rows:
        return
    await conn.executemany(
        "INSERT INTO media_attachments (id, account_id, status_id, type, remote_url, "
        "remote_preview_url, content_type, description, blurhash, focus_x, focus_y, position) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        [
            (
                row.media_id,
                account_id,
                status_id,
                row.type,
                row.remote_url,
                row.remote_preview_url,
                row.content_type,
                row.description,
                row.blurhash,
                row.focus_x,
                row.focus_y,
                row.position,
            )
            for row in rows
        ],
    )


async def delete_media_of_status(conn: Connection, *, status_id: int) -> None:
    await conn.execute("DELETE FROM media_attachments WHERE status_id = $1", status_id)


async def list_remote_media_urls(conn: Connection, *, status_id: int) -> list[str]:
    rows = await conn.fetch(
        "SELECT remote_url FROM media_attachments WHERE status_id = $1 ORDER BY position, id",
        status_id,
    )
    return [str(row["remote_url"]) for row in rows if row["remote_url"]]


async def replace_addressing(conn: Connection, *, status_id: int, target_uris: list[str]) -> None:
    await conn.execute("DELETE FROM status_addressing WHERE status_id = $1", status_id)
    if target_uris:
        await conn.executemany(
            "INSERT INTO status_addressing (status_id, target_uri) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING",
            [(status_id, uri) for uri in dict.fromkeys(target_uris)],
        )


async def list_addressing(conn: Connection, *, status_id: int) -> list[str]:
    rows = await conn.fetch(
        "SELECT target_uri FROM status_addressing WHERE status_id = $1 ORDER BY target_uri",
        status_id,
    )
    return [str(row["target_uri"]) for row in rows]


async def set_activity_uri(conn: Connection, *, status_id: int, activity_uri: str | None) -> None:
    await conn.execute(
        "UPDATE statuses SET activity_uri = $2 WHERE id = $1", status_id, activity_uri
    )


async def fetch_favourite_by_uri(conn: Connection, *, uri: str) -> Pair | None:
    row = await conn.fetchrow("SELECT account_id, status_id FROM favourites WHERE uri = $1", uri)
    return None if row is None else Pair(int(row["account_id"]), int(row["status_id"]))


async def fetch_follow_by_uri(conn: Connection, *, uri: str) -> Pair | None:
    """A follow or a pending follow request with this activity uri."""
    row = await conn.fetchrow(
        "SELECT account_id, target_account_id FROM follows WHERE uri = $1 "
        "UNION ALL SELECT account_id, target_account_id FROM follow_requests WHERE uri = $1 "
        "LIMIT 1",
        uri,
    )
    return None if row is None else Pair(int(row["account_id"]), int(row["target_account_id"]))


async def fetch_block_by_uri(conn: Connection, *, uri: str) -> Pair | None:
    row = await conn.fetchrow(
        "SELECT account_id, target_account_id FROM blocks WHERE uri = $1", uri
    )
    return None if row is None else Pair(int(row["account_id"]), int(row["target_account_id"]))


async def insert_block_with_uri(
    conn: Connection, *, block_id: int, account_id: int, target_account_id: int, uri: str | None
) -> bool:
    result = await conn.execute(
        "INSERT INTO blocks (id, account_id, target_account_id, uri) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (account_id, target_account_id) DO NOTHING",
        block_id,
        account_id,
        target_account_id,
        uri,
    )
    return bool(result.endswith(" 1"))


async def delete_statuses_of_account(conn: Connection, *, account_id: int) -> int:
    result = await conn.execute("DELETE FROM statuses WHERE account_id = $1", account_id)
    return int(result.split()[-1])


async def suspend_account(conn: Connection, *, account_id: int, now: datetime) -> None:
    await conn.execute(
        "UPDATE accounts SET suspended_at = coalesce(suspended_at, $2), updated_at = now() "
        "WHERE id = $1 AND domain IS NOT NULL",
        account_id,
        now,
    )


async def set_moved_to(conn: Connection, *, account_id: int, moved_to_account_id: int) -> None:
    await conn.execute(
        "UPDATE accounts SET moved_to_account_id = $2, updated_at = now() "
        "WHERE id = $1 AND domain IS NOT NULL",
        account_id,
        moved_to_account_id,
    )


async def list_local_follower_ids(conn: Connection, *, account_id: int) -> list[int]:
    rows = await conn.fetch(
        "SELECT f.account_id FROM follows f JOIN accounts a ON a.id = f.account_id "
        "WHERE f.target_account_id = $1 AND a.domain IS NULL ORDER BY f.id",
        account_id,
    )
    return [int(row["account_id"]) for row in rows]


async def list_admin_account_ids(conn: Connection) -> list[int]:
    rows = await conn.fetch(
        "SELECT account_id FROM users WHERE role IN ('admin', 'moderator') AND NOT disabled"
    )
    return [int(row["account_id"]) for row in rows]
