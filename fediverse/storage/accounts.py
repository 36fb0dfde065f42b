"""SQL for accounts, their counters, private keys and users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fediverse.storage.database import Connection
from fediverse.storage.rows import field_names, from_row

_ACCOUNT_COLUMNS = """
    a.id, a.username, a.domain, a.display_name, a.note, a.note_source, a.uri, a.url,
    a.inbox_url, a.shared_inbox_url, a.outbox_url, a.followers_url, a.following_url,
    a.featured_url, a.public_key_id, a.public_key_pem, a.avatar_remote_url, a.header_remote_url,
    a.avatar_file, a.header_file, a.actor_type, a.locked, a.discoverable, a.indexable,
    a.hide_collections, a.memorial, a.fields, a.also_known_as, a.moved_to_account_id,
    a.created_at, a.updated_at, a.fetched_at, a.suspended_at, a.silenced_at,
    coalesce(a.remote_statuses_count, s.statuses_count, 0) AS statuses_count,
    coalesce(a.remote_followers_count, s.followers_count, 0) AS followers_count,
    coalesce(a.remote_following_count, s.following_count, 0) AS following_count,
    s.last_status_at
"""

_ACCOUNT_FROM = "accounts a LEFT JOIN account_stats s ON s.account_id = a.id"


@dataclass(frozen=True)
class Account:
    """A local (domain is None) or remote actor."""

    id: int
    username: str
    domain: str | None
    display_name: str
    note: str
    note_source: str
    uri: str
    url: str | None
    inbox_url: str | None
    shared_inbox_url: str | None
    outbox_url: str | None
    followers_url: str | None
    following_url: str | None
    featured_url: str | None
    public_key_id: str | None
    public_key_pem: str | None
    avatar_remote_url: str | None
    header_remote_url: str | None
    avatar_file: str | None
    header_file: str | None
    actor_type: str
    locked: bool
    discoverable: bool
    indexable: bool
    hide_collections: bool
    memorial: bool
    fields: list[dict[str, Any]]
    also_known_as: list[str]
    moved_to_account_id: int | None
    created_at: datetime
    updated_at: datetime
    fetched_at: datetime | None
    suspended_at: datetime | None
    silenced_at: datetime | None
    statuses_count: int
    followers_count: int
    following_count: int
    last_status_at: datetime | None

    @property
    def is_local(self) -> bool:
        return self.domain is None

    @property
    def acct(self) -> str:
        """Mastodon's `acct`: bare username for local accounts, user@domain for remote ones."""
        return self.username if self.domain is None else f"{self.username}@{self.domain}"

    @property
    def is_bot(self) -> bool:
        return self.actor_type in ("Service", "Application")


@dataclass(frozen=True)
class User:
    """A local person who signs in; owns exactly one account."""

    id: int
    account_id: int
    email: str
    password_hash: str
    role: str
    approved: bool
    disabled: bool
    locale: str
    default_privacy: str
    default_sensitive: bool
    default_language: str | None
    default_federation: bool
    settings: dict[str, Any]
    created_at: datetime
    last_sign_in_at: datetime | None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_staff(self) -> bool:
        return self.role in ("admin", "moderator")


_USER_COLUMNS = """
    u.id, u.account_id, u.email, u.password_hash, u.role, u.approved, u.disabled, u.locale,
    u.default_privacy, u.default_sensitive, u.default_language, u.default_federation,
    u.settings, u.created_at, u.last_sign_in_at
"""


_ACCOUNT_FIELDS = field_names(Account)


def account_from_row(row: Any) -> Account:
    return from_row(Account, _ACCOUNT_FIELDS, row)


async def fetch_account(conn: Connection, *, account_id: int) -> Account | None:
    row = await conn.fetchrow(
        f"SELECT {_ACCOUNT_COLUMNS} FROM {_ACCOUNT_FROM} WHERE a.id = $1", account_id
    )
    return None if row is None else account_from_row(row)


async def list_accounts_by_ids(conn: Connection, *, account_ids: list[int]) -> list[Account]:
    rows = await conn.fetch(
        f"SELECT {_ACCOUNT_COLUMNS} FROM {_ACCOUNT_FROM} WHERE a.id = ANY($1::bigint[])",
        account_ids,
    )
    return [account_from_row(row) for row in rows]


async def fetch_account_by_username(
    conn: Connection, *, username: str, domain: str | None
) -> Account | None:
    row = await conn.fetchrow(
        f"SELECT {_ACCOUNT_COLUMNS} FROM {_ACCOUNT_FROM} "
        "WHERE lower(a.username) = lower($1) AND coalesce(lower(a.domain), '') = lower($2)",
        username,
        domain or "",
    )
    return None if row is None else account_from_row(row)


async def fetch_account_by_uri(conn: Connection, *, uri: str) -> Account | None:
    row = await conn.fetchrow(
        f"SELECT {_ACCOUNT_COLUMNS} FROM {_ACCOUNT_FROM} WHERE a.uri = $1", uri
    )
    return None if row is None else account_from_row(row)


async def list_accounts_by_uris(conn: Connection, *, uris: list[str]) -> list[Account]:
    rows = await conn.fetch(
        f"SELECT {_ACCOUNT_COLUMNS} FROM {_ACCOUNT_FROM} WHERE a.uri = ANY($1::text[])", uris
    )
    return [account_from_row(row) for row in rows]


async def list_local_accounts(conn: Connection) -> list[tuple[Account, User]]:
    """Every local account with its user, oldest first."""
    rows = await conn.fetch(
        f"SELECT {_ACCOUNT_COLUMNS}, to_jsonb(u.*) AS user_row "
        f"FROM {_ACCOUNT_FROM} JOIN users u ON u.account_id = a.id ORDER BY a.id"
    )
    result = []
    for row in rows:
        data = dict(row.items())
        user_data = data.pop("user_row")
        user_fields = {k: user_data[k] for k in User.__dataclass_fields__}
        for stamp in ("created_at", "last_sign_in_at"):
            if user_fields[stamp] is not None:
                user_fields[stamp] = datetime.fromisoformat(user_fields[stamp])
        result.append((Account(**data), User(**user_fields)))
    return result


async def insert_account(conn: Connection, *, values: dict[str, Any]) -> int:
    """Insert an account from a mapping of column → value; returns its id."""
    columns = list(values)
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    return int(
        await conn.fetchval(
            f"INSERT INTO accounts ({', '.join(columns)}) VALUES ({placeholders}) RETURNING id",
            *values.values(),
        )
    )


_UPDATABLE_ACCOUNT_COLUMNS = frozenset(
    {
        "display_name",
        "note",
        "note_source",
        "url",
        "inbox_url",
        "shared_inbox_url",
        "outbox_url",
        "followers_url",
        "following_url",
        "featured_url",
        "featured_tags_url",
        "public_key_id",
        "public_key_pem",
        "avatar_remote_url",
        "header_remote_url",
        "avatar_file",
        "header_file",
        "actor_type",
        "locked",
        "discoverable",
        "indexable",
        "hide_collections",
        "memorial",
        "fields",
        "also_known_as",
        "moved_to_account_id",
        "remote_followers_count",
        "remote_following_count",
        "remote_statuses_count",
        "fetched_at",
        "suspended_at",
        "silenced_at",
        "username",
    }
)


async def update_account(conn: Connection, *, account_id: int, changes: dict[str, Any]) -> None:
    """Update the named columns (checked against a fixed set, never taken from input blindly)."""
    if not changes:
        return
    unknown = set(changes) - _UPDATABLE_ACCOUNT_COLUMNS
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(changes, start=2))
    await conn.execute(
        f"UPDATE accounts SET {assignments}, updated_at = now() WHERE id = $1",
        account_id,
        *changes.values(),
    )


async def insert_account_key(conn: Connection, *, account_id: int, private_key_pem: str) -> None:
    await conn.execute(
        "INSERT INTO account_keys (account_id, private_key_pem) VALUES ($1, $2)",
        account_id,
        private_key_pem,
    )


async def fetch_private_key_pem(conn: Connection, *, account_id: int) -> str | None:
    value = await conn.fetchval(
        "SELECT private_key_pem FROM account_keys WHERE account_id = $1", account_id
    )
    return None if value is None else str(value)


async def insert_user(conn: Connection, *, values: dict[str, Any]) -> int:
    columns = list(values)
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    return int(
        await conn.fetchval(
            f"INSERT INTO users ({', '.join(columns)}) VALUES ({placeholders}) RETURNING id",
            *values.values(),
        )
    )


async def fetch_user(conn: Connection, *, user_id: int) -> User | None:
    row = await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM users u WHERE u.id = $1", user_id)
    return None if row is None else User(**dict(row))


async def fetch_user_by_account(conn: Connection, *, account_id: int) -> User | None:
    row = await conn.fetchrow(
        f"SELECT {_USER_COLUMNS} FROM users u WHERE u.account_id = $1", account_id
    )
    return None if row is None else User(**dict(row))


async def fetch_user_by_login(conn: Connection, *, login: str) -> User | None:
    """A user by email or by local username (case-insensitive)."""
    row = await conn.fetchrow(
        f"SELECT {_USER_COLUMNS} FROM users u JOIN accounts a ON a.id = u.account_id "
        "WHERE lower(u.email) = lower($1) OR (a.domain IS NULL AND lower(a.username) = lower($1))",
        login,
    )
    return None if row is None else User(**dict(row))


_UPDATABLE_USER_COLUMNS = frozenset(
    {
        "email",
        "password_hash",
        "role",
        "approved",
        "disabled",
        "locale",
        "default_privacy",
        "default_sensitive",
        "default_language",
        "default_federation",
        "settings",
        "last_sign_in_at",
    }
)


async def update_user(conn: Connection, *, user_id: int, changes: dict[str, Any]) -> None:
    if not changes:
        return
    unknown = set(changes) - _UPDATABLE_USER_COLUMNS
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(changes, start=2))
    await conn.execute(f"UPDATE users SET {assignments} WHERE id = $1", user_id, *changes.values())


async def count_local_users(conn: Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM users"))
