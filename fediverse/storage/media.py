"""SQL for media attachments: uploaded (and later remote) files, and which status holds them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fediverse.storage.database import Connection


@dataclass(frozen=True)
class MediaAttachment:
    """One stored file. `file_name`/`thumbnail_name` are paths below the media directory."""

    id: int
    account_id: int
    status_id: int | None
    type: str
    file_name: str | None
    thumbnail_name: str | None
    content_type: str | None
    file_size: int | None
    remote_url: str | None
    remote_preview_url: str | None
    description: str | None
    focus_x: float | None
    focus_y: float | None
    blurhash: str | None
    meta: dict[str, Any]
    position: int
    created_at: datetime
    updated_at: datetime

    @property
    def purpose(self) -> str | None:
        """ "avatar" or "header" for profile images; None for post attachments."""
        value = self.meta.get("purpose")
        return value if isinstance(value, str) else None


_COLUMNS = """
    id, account_id, status_id, type, file_name, thumbnail_name, content_type, file_size,
    remote_url, remote_preview_url, description, focus_x, focus_y, blurhash, meta, position,
    created_at, updated_at
"""


def _media(row: Any) -> MediaAttachment:
    return MediaAttachment(**dict(row))


async def insert_media(
    conn: Connection,
    *,
    media_id: int,
    account_id: int,
    type: str,
    file_name: str,
    thumbnail_name: str | None,
    content_type: str,
    file_size: int,
    description: str | None,
    focus_x: float | None,
    focus_y: float | None,
    blurhash: str | None,
    meta: dict[str, Any],
) -> MediaAttachment:
    row = await conn.fetchrow(
        "INSERT INTO media_attachments (id, account_id, type, file_name, thumbnail_name, "
        "content_type, file_size, description, focus_x, focus_y, blurhash, meta) "
        f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {_COLUMNS}",
        media_id,
        account_id,
        type,
        file_name,
        thumbnail_name,
        content_type,
        file_size,
        description,
        focus_x,
        focus_y,
        blurhash,
        meta,
    )
    return _media(row)


async def fetch_media(conn: Connection, *, media_id: int) -> MediaAttachment | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM media_attachments WHERE id = $1", media_id)
    return None if row is None else _media(row)


async def update_media(
    conn: Connection,
    *,
    media_id: int,
    description: str | None,
    focus_x: float | None,
    focus_y: float | None,
    thumbnail_name: str | None,
    meta: dict[str, Any],
) -> MediaAttachment | None:
    row = await conn.fetchrow(
        "UPDATE media_attachments SET description = $2, focus_x = $3, focus_y = $4, "
        "thumbnail_name = $5, meta = $6, updated_at = now() "
        f"WHERE id = $1 RETURNING {_COLUMNS}",
        media_id,
        description,
        focus_x,
        focus_y,
        thumbnail_name,
        meta,
    )
    return None if row is None else _media(row)


async def attach_media_to_status(
    conn: Connection, *, account_id: int, media_ids: list[int], status_id: int
) -> list[MediaAttachment]:
    """Attach the caller's free (or already this status's) post media; returns what it took.

    The `status_id IS NULL` test runs under the row lock, so two statuses racing for one
    upload cannot both get it. Profile images (meta.purpose) are never attachable.
    """
    rows = await conn.fetch(
        "UPDATE media_attachments SET status_id = $3, "
        "position = array_position($2::bigint[], id) - 1, updated_at = now() "
        "WHERE id = ANY($2::bigint[]) AND account_id = $1 "
        "AND (status_id IS NULL OR status_id = $3) AND NOT meta ? 'purpose' "
        f"RETURNING {_COLUMNS}",
        account_id,
        media_ids,
        status_id,
    )
    return sorted((_media(row) for row in rows), key=lambda media: media.position)


async def list_media_for_statuses(
    conn: Connection, *, status_ids: list[int]
) -> list[MediaAttachment]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM media_attachments WHERE status_id = ANY($1::bigint[]) "
        "ORDER BY status_id, position, id",
        status_ids,
    )
    return [_media(row) for row in rows]


async def delete_media(conn: Connection, *, media_id: int) -> MediaAttachment | None:
    row = await conn.fetchrow(
        f"DELETE FROM media_attachments WHERE id = $1 RETURNING {_COLUMNS}", media_id
    )
    return None if row is None else _media(row)
