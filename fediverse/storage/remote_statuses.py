"""SQL for what peers send us: remote media rows, addressing, and records found by activity uri."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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


@dataclass(frozen=True)
class RemoteStatusRow:
    """The columns of a peer's new status (`local` and `local_only` are always false)."""

    id: int
    uri: str
    url: str | None
    account_id: int
    visibility: str
    in_reply_to_id: int | None
    in_reply_to_account_id: int | None
    in_reply_to_uri: str | None
    thread_root_id: int | None
    created_at: datetime
    activity_uri: str | None
    content: str
    spoiler_text: str
    search_text: str
    sensitive: bool
    language: str | None
    # The URIs it was sent to (to and cc).
    addressing: tuple[str, ...]


# Column name and array type of each RemoteStatusRow field stored in `statuses`.
_ROW_COLUMNS = (
    ("id", "bigint"),
    ("uri", "text"),
    ("url", "text"),
    ("account_id", "bigint"),
    ("visibility", "text"),
    ("in_reply_to_id", "bigint"),
    ("in_reply_to_account_id", "bigint"),
    ("in_reply_to_uri", "text"),
    ("thread_root_id", "bigint"),
    ("created_at", "timestamptz"),
    ("activity_uri", "text"),
    ("content", "text"),
    ("spoiler_text", "text"),
    ("search_text", "text"),
    ("sensitive", "boolean"),
    ("language", "text"),
)
_NAMES = ", ".join(name for name, _ in _ROW_COLUMNS)
_ARRAYS = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(_ROW_COLUMNS, start=1))
_AFTER = len(_ROW_COLUMNS)
_INSERT_STATUSES = f"""
    WITH s AS (
        INSERT INTO statuses AS s ({_NAMES}, local, local_only)
        SELECT {_NAMES}, false, false FROM unnest({_ARRAYS}) AS r({_NAMES})
        ON CONFLICT (uri) DO NOTHING
        RETURNING {STATUS_COLUMNS}
    ), addressed AS (
        INSERT INTO status_addressing (status_id, target_uri)
        SELECT s.id, a.target
        FROM s JOIN unnest(${_AFTER + 1}::text[], ${_AFTER + 2}::text[]) AS a(uri, target)
            ON a.uri = s.uri
        ON CONFLICT DO NOTHING
    )
    SELECT s.*, ARRAY({FOLLOWERS_TO_NOTIFY.format(author="s.account_id")}) AS notify_ids
    FROM s
"""


async def insert_remote_statuses(
    conn: Connection, *, rows: list[RemoteStatusRow]
) -> dict[str, InsertedStatus]:
    """Insert peers' statuses with their addressing, in one statement, and return those stored
    now by uri, with the followers to notify of each (no read-back). A uri stored before, or
    repeated among `rows`, is inserted once at most."""
    if not rows:
        return {}
    # A repeated uri: its first row counts (the INSERT would keep one of them anyway).
    by_uri: dict[str, RemoteStatusRow] = {}
    for row in rows:
        by_uri.setdefault(row.uri, row)
    firsts = list(by_uri.values())
    columns = [[getattr(row, name) for row in firsts] for name, _ in _ROW_COLUMNS]
    pairs = [(row.uri, target) for row in firsts for target in dict.fromkeys(row.addressing)]
    stored = await conn.fetch(
        _INSERT_STATUSES,
        *columns,
        [uri for uri, _ in pairs],
        [target for _, target in pairs],
    )
    return {
        str(row["uri"]): InsertedStatus(status_from_row(row), [int(i) for i in row["notify_ids"]])
        for row in stored
    }


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
