"""SQL for OAuth authorization codes, token revocation and the shared sign-in rate limit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fediverse.storage.database import Connection


@dataclass(frozen=True)
class AuthorizationCode:
    """A code issued at consent; stored by digest, exchanged once for a token."""

    application_id: int
    user_id: int
    redirect_uri: str
    scopes: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: datetime
    used_at: datetime | None


_CODE_COLUMNS = (
    "application_id, user_id, redirect_uri, scopes, code_challenge, code_challenge_method, "
    "expires_at, used_at"
)


async def insert_authorization_code(
    conn: Connection,
    *,
    code_hash: bytes,
    application_id: int,
    user_id: int,
    redirect_uri: str,
    scopes: str,
    code_challenge: str | None,
    code_challenge_method: str | None,
    expires_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO oauth_authorization_codes (code_hash, application_id, user_id, "
        "redirect_uri, scopes, code_challenge, code_challenge_method, expires_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        code_hash,
        application_id,
        user_id,
        redirect_uri,
        scopes,
        code_challenge,
        code_challenge_method,
        expires_at,
    )


async def fetch_authorization_code_for_update(
    conn: Connection, *, code_hash: bytes
) -> AuthorizationCode | None:
    """The code, locked so that two concurrent exchanges cannot both succeed."""
    row = await conn.fetchrow(
        f"SELECT {_CODE_COLUMNS} FROM oauth_authorization_codes WHERE code_hash = $1 FOR UPDATE",
        code_hash,
    )
    return None if row is None else AuthorizationCode(**dict(row))


async def update_authorization_code_used(
    conn: Connection, *, code_hash: bytes, used_at: datetime
) -> None:
    await conn.execute(
        "UPDATE oauth_authorization_codes SET used_at = $2 WHERE code_hash = $1",
        code_hash,
        used_at,
    )


async def delete_expired_authorization_codes(conn: Connection, *, before: datetime) -> None:
    await conn.execute("DELETE FROM oauth_authorization_codes WHERE expires_at < $1", before)


async def update_token_revoked(conn: Connection, *, token_id: int, revoked_at: datetime) -> None:
    await conn.execute(
        "UPDATE oauth_access_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        token_id,
        revoked_at,
    )


async def count_rate_limit_hits(conn: Connection, *, bucket: str, since: datetime) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM rate_limit_hits WHERE bucket = $1 AND hit_at > $2",
            bucket,
            since,
        )
    )


async def insert_rate_limit_hit(conn: Connection, *, bucket: str, hit_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO rate_limit_hits (bucket, hit_at) VALUES ($1, $2)", bucket, hit_at
    )


async def delete_rate_limit_bucket(conn: Connection, *, bucket: str) -> None:
    await conn.execute("DELETE FROM rate_limit_hits WHERE bucket = $1", bucket)


async def delete_old_rate_limit_hits(conn: Connection, *, bucket: str, before: datetime) -> None:
    await conn.execute(
        "DELETE FROM rate_limit_hits WHERE bucket = $1 AND hit_at <= $2", bucket, before
    )
