"""SQL for OAuth applications, authorization codes and access tokens (tokens stored hashed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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


async def revoke_token(conn: Connection, *, token_hash: bytes, application_id: int) -> None:
    await conn.execute(
        "UPDATE oauth_access_tokens SET revoked_at = now() "
        "WHERE token_hash = $1 AND application_id = $2 AND revoked_at IS NULL",
        token_hash,
        application_id,
    )
