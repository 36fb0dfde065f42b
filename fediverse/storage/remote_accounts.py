"""SQL for accounts of peers: upsert from a fetched actor, and public keys by keyId."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fediverse.storage.accounts import Account, fetch_account
from fediverse.storage.database import Connection

# Columns a fetched actor may set; checked so that no caller can write others by accident.
_REMOTE_COLUMNS = (
    "display_name", "note", "url", "inbox_url", "shared_inbox_url", "outbox_url",
    "followers_url", "following_url", "featured_url", "featured_tags_url", "public_key_id",
    "public_key_pem", "avatar_remote_url", "header_remote_url", "actor_type", "locked",
    "discoverable", "indexable", "memorial", "fields", "also_known_as",
)  # fmt: skip


@dataclass(frozen=True)
class RemoteKey:
    key_id: str
    owner_uri: str
    public_key_pem: str


async def upsert_remote_account(
    conn: Connection,
    *,
    account_id: int,
    uri: str,
    username: str,
    domain: str,
    columns: dict[str, Any],
    fetched_at: datetime,
) -> Account:
    """Insert the peer's account, or refresh it (matched by `uri`); returns the stored row.

    `account_id` is used only when the row is new.
    """
    unknown = set(columns) - set(_REMOTE_COLUMNS)
    if unknown:
        raise ValueError(f"not remote account columns: {sorted(unknown)}")
    names = [name for name in _REMOTE_COLUMNS if name in columns]
    values = [columns[name] for name in names]
    column_list = "".join(f", {name}" for name in names)
    placeholders = "".join(f", ${i}" for i in range(6, 6 + len(names)))
    updates = "".join(f", {name} = EXCLUDED.{name}" for name in names)
    stored_id = await conn.fetchval(
        f"""
        INSERT INTO accounts (id, uri, username, domain, fetched_at{column_list})
        VALUES ($1, $2, $3, $4, $5{placeholders})
        ON CONFLICT (uri) DO UPDATE SET
            username = EXCLUDED.username, fetched_at = EXCLUDED.fetched_at,
            updated_at = now(){updates}
        WHERE accounts.domain IS NOT NULL
        RETURNING id
        """,
        account_id,
        uri,
        username,
        domain,
        fetched_at,
        *values,
    )
    if stored_id is None:
        raise ValueError(f"{uri} belongs to a local account")
    account = await fetch_account(conn, account_id=int(stored_id))
    assert account is not None
    return account


async def fetch_remote_key(conn: Connection, *, key_id: str) -> RemoteKey | None:
    """A peer's stored public key by its keyId."""
    row = await conn.fetchrow(
        "SELECT public_key_id, uri, public_key_pem FROM accounts "
        "WHERE public_key_id = $1 AND domain IS NOT NULL AND public_key_pem IS NOT NULL",
        key_id,
    )
    if row is None:
        return None
    return RemoteKey(key_id=row[0], owner_uri=row[1], public_key_pem=row[2])


async def update_remote_key(
    conn: Connection, *, owner_uri: str, key_id: str, public_key_pem: str
) -> bool:
    """Store a (rotated) key on its owner's account row; False when we don't know the owner."""
    result = await conn.execute(
        "UPDATE accounts SET public_key_id = $2, public_key_pem = $3, updated_at = now() "
        "WHERE uri = $1 AND domain IS NOT NULL",
        owner_uri,
        key_id,
        public_key_pem,
    )
    return bool(result != "UPDATE 0")


@dataclass(frozen=True)
class UriPage:
    """Actor URIs of one page of a followers/following collection, newest first."""

    uris: list[str]
    next_max_id: int | None


async def list_follow_uris(
    conn: Connection, *, account_id: int, direction: str, max_id: int | None, limit: int
) -> UriPage:
    """URIs of who follows `account_id` (direction 'followers') or whom it follows."""
    if direction not in ("followers", "following"):
        raise ValueError(direction)
    owner, other = (
        ("target_account_id", "account_id")
        if direction == "followers"
        else ("account_id", "target_account_id")
    )
    rows = await conn.fetch(
        f"SELECT f.id, a.uri FROM follows f JOIN accounts a ON a.id = f.{other} "
        f"WHERE f.{owner} = $1 AND a.suspended_at IS NULL "
        "AND ($2::bigint IS NULL OR f.id < $2) ORDER BY f.id DESC LIMIT $3",
        account_id,
        max_id,
        limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return UriPage(uris=[row[1] for row in rows], next_max_id=int(rows[-1][0]) if more else None)
