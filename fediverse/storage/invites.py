"""SQL for invites: codes that let someone sign up while registrations are closed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fediverse.storage.database import Connection

_COLUMNS = "id, code, created_by_user_id, max_uses, uses, expires_at, created_at"


@dataclass(frozen=True)
class Invite:
    id: int
    code: str
    created_by_user_id: int | None
    max_uses: int | None
    uses: int
    expires_at: datetime | None
    created_at: datetime


async def insert_invite(
    conn: Connection,
    *,
    invite_id: int,
    code: str,
    created_by_user_id: int | None,
    max_uses: int | None,
    expires_at: datetime | None,
) -> Invite:
    row = await conn.fetchrow(
        f"INSERT INTO invites (id, code, created_by_user_id, max_uses, expires_at) "
        f"VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}",
        invite_id,
        code,
        created_by_user_id,
        max_uses,
        expires_at,
    )
    return Invite(**dict(row))


async def fetch_invite_by_code(conn: Connection, *, code: str) -> Invite | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM invites WHERE code = $1", code)
    return None if row is None else Invite(**dict(row))


async def claim_invite_use(conn: Connection, *, invite_id: int, now: datetime) -> bool:
    """Count one use if the invite is still valid at `now`; False when it is not.

    One statement, so two people racing for the last use cannot both get it.
    """
    claimed = await conn.fetchval(
        "UPDATE invites SET uses = uses + 1 WHERE id = $1 "
        "AND (max_uses IS NULL OR uses < max_uses) AND (expires_at IS NULL OR expires_at > $2) "
        "RETURNING id",
        invite_id,
        now,
    )
    return claimed is not None


async def list_invites(conn: Connection) -> list[Invite]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM invites ORDER BY id DESC")
    return [Invite(**dict(row)) for row in rows]
