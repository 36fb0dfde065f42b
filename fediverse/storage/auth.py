"""SQL for OAuth applications, authorization codes and access tokens (tokens stored hashed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fediverse.storage.accounts import _ACCOUNT_COLUMNS, _ACCOUNT_FROM, _USER_COLUMNS, Account, User
from fediverse.storage.database import Connection


@dataclass(frozen=True)
class Application:
    id: int
    name: str
    website: str | None
    redirect_uris: list[str]
    scopes: str
    client_id: str
    client_secret: str
    created_at: datetime


@dataclass(frozen=True)
class AccessToken:
    id: int
    application_id: int | None
    user_id: int | None
    scopes: str
    created_at: datetime
    revoked_at: datetime | None


_APP_COLUMNS = "id, name, website, redirect_uris, scopes, client_id, client_secret, created_at"
_TOKEN_COLUMNS = "id, application_id, user_id, scopes, created_at, revoked_at"


async def insert_application(
    conn: Connection,
    *,
    app_id: int,
    name: str,
    website: str | None,
    redirect_uris: list[str],
    scopes: str,
    client_id: str,
    client_secret: str,
) -> Application:
    row = await conn.fetchrow(
        "INSERT INTO oauth_applications "
        "(id, name, website, redirect_uris, scopes, client_id, client_secret) "
        f"VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_APP_COLUMNS}",
        app_id,
        name,
        website,
        redirect_uris,
        scopes,
        client_id,
        client_secret,
    )
    return Application(**dict(row))


async def fetch_application(conn: Connection, *, app_id: int) -> Application | None:
    row = await conn.fetchrow(
        f"SELECT {_APP_COLUMNS} FROM oauth_applications WHERE id = $1", app_id
    )
    return None if row is None else Application(**dict(row))


async def list_applications_by_ids(conn: Connection, *, app_ids: list[int]) -> list[Application]:
    rows = await conn.fetch(
        f"SELECT {_APP_COLUMNS} FROM oauth_applications WHERE id = ANY($1::bigint[])", app_ids
    )
    return [Application(**dict(row)) for row in rows]


async def fetch_application_by_client_id(conn: Connection, *, client_id: str) -> Application | None:
    row = await conn.fetchrow(
        f"SELECT {_APP_COLUMNS} FROM oauth_applications WHERE client_id = $1", client_id
    )
    return None if row is None else Application(**dict(row))


async def insert_access_token(
    conn: Connection,
    *,
    token_id: int,
    token_hash: bytes,
    application_id: int | None,
    user_id: int | None,
    scopes: str,
) -> AccessToken:
    row = await conn.fetchrow(
        "INSERT INTO oauth_access_tokens (id, token_hash, application_id, user_id, scopes) "
        f"VALUES ($1, $2, $3, $4, $5) RETURNING {_TOKEN_COLUMNS}",
        token_id,
        token_hash,
        application_id,
        user_id,
        scopes,
    )
    return AccessToken(**dict(row))


async def fetch_active_token(conn: Connection, *, token_hash: bytes) -> AccessToken | None:
    row = await conn.fetchrow(
        f"SELECT {_TOKEN_COLUMNS} FROM oauth_access_tokens "
        "WHERE token_hash = $1 AND revoked_at IS NULL",
        token_hash,
    )
    return None if row is None else AccessToken(**dict(row))


@dataclass(frozen=True)
class TokenHolder:
    """An active token with the user and account behind it (None for app-only tokens, and
    for a user or account that no longer exists)."""

    token: AccessToken
    user: User | None
    account: Account | None


# Token and user columns carry prefixes so that the account's columns keep their own names.
_HOLDER_TOKEN_COLUMNS = ", ".join(
    f"t.{name} AS t_{name}" for name in AccessToken.__dataclass_fields__
)
_HOLDER_USER_COLUMNS = ", ".join(
    f"{column.strip()} AS u_{column.strip()[2:]}" for column in _USER_COLUMNS.split(",")
)
_FETCH_HOLDER = f"""
    SELECT {_HOLDER_TOKEN_COLUMNS}, {_HOLDER_USER_COLUMNS}, holder.*
    FROM oauth_access_tokens t
    LEFT JOIN users u ON u.id = t.user_id
    LEFT JOIN LATERAL (
        SELECT {_ACCOUNT_COLUMNS} FROM {_ACCOUNT_FROM} WHERE a.id = u.account_id
    ) holder ON true
    WHERE t.token_hash = $1 AND t.revoked_at IS NULL
"""


async def fetch_token_holder(conn: Connection, *, token_hash: bytes) -> TokenHolder | None:
    """The active token with `token_hash`, its user and the user's account, in one statement
    (every authenticated request resolves its bearer token this way)."""
    row = await conn.fetchrow(_FETCH_HOLDER, token_hash)
    if row is None:
        return None
    token = AccessToken(**{name: row[f"t_{name}"] for name in AccessToken.__dataclass_fields__})
    user = None
    if row["u_id"] is not None:
        user = User(**{name: row[f"u_{name}"] for name in User.__dataclass_fields__})
    account = None
    if row["id"] is not None:
        account = Account(**{name: row[name] for name in Account.__dataclass_fields__})
    return TokenHolder(token=token, user=user, account=account)


async def revoke_token(conn: Connection, *, token_hash: bytes, application_id: int) -> None:
    await conn.execute(
        "UPDATE oauth_access_tokens SET revoked_at = now() "
        "WHERE token_hash = $1 AND application_id = $2 AND revoked_at IS NULL",
        token_hash,
        application_id,
    )
