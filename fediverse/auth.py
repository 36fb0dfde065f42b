"""OAuth scopes and access tokens: what a token may do, and issuing and checking tokens."""

from __future__ import annotations

import hashlib
import secrets

from fediverse import ids
from fediverse.storage import auth as auth_store
from fediverse.storage.auth import AccessToken
from fediverse.storage.database import Connection

# Mastodon's scopes (docs: api/oauth-scopes). A top-level scope grants every scope under it.
READ_SCOPES = (
    "accounts",
    "blocks",
    "bookmarks",
    "favourites",
    "filters",
    "follows",
    "lists",
    "mutes",
    "notifications",
    "search",
    "statuses",
)
WRITE_SCOPES = (
    "accounts",
    "blocks",
    "bookmarks",
    "conversations",
    "favourites",
    "filters",
    "follows",
    "lists",
    "media",
    "mutes",
    "notifications",
    "reports",
    "statuses",
)
ADMIN_READ_SCOPES = (
    "accounts",
    "reports",
    "domain_allows",
    "domain_blocks",
    "ip_blocks",
    "email_domain_blocks",
    "canonical_email_blocks",
)
ADMIN_WRITE_SCOPES = ADMIN_READ_SCOPES

ALL_SCOPES: frozenset[str] = frozenset(
    ["read", "write", "follow", "push", "profile", "admin:read", "admin:write"]
    + [f"read:{s}" for s in READ_SCOPES]
    + [f"write:{s}" for s in WRITE_SCOPES]
    + [f"admin:read:{s}" for s in ADMIN_READ_SCOPES]
    + [f"admin:write:{s}" for s in ADMIN_WRITE_SCOPES]
)

# `follow` is deprecated but still granted to old apps: it covers these granular scopes.
_FOLLOW_COVERS = {
    "read:blocks",
    "write:blocks",
    "read:follows",
    "write:follows",
    "read:mutes",
    "write:mutes",
}


def parse_scopes(raw: str | None, *, default: str = "read") -> list[str]:
    """Split a scope string (space or + separated); unknown scopes raise ValueError."""
    text = (raw or default).replace("+", " ").replace(",", " ")
    scopes = [scope for scope in text.split() if scope]
    unknown = [scope for scope in scopes if scope not in ALL_SCOPES]
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}")
    return list(dict.fromkeys(scopes))


def scope_allows(granted: str, required: str) -> bool:
    """Whether the granted scope string includes `required` (e.g. `read` covers `read:statuses`)."""
    have = set(granted.split())
    if required in have:
        return True
    parts = required.split(":")
    for length in range(1, len(parts)):
        if ":".join(parts[:length]) in have:
            return True
    if required in _FOLLOW_COVERS and "follow" in have:
        return True
    # `profile` grants only verify_credentials, which asks for it explicitly.
    return False


def hash_token(token: str) -> bytes:
    """Tokens are kept as SHA-256 digests: a leaked database gives no usable token."""
    return hashlib.sha256(token.encode()).digest()


async def issue_token(
    conn: Connection, *, application_id: int | None, user_id: int | None, scopes: str
) -> tuple[str, AccessToken]:
    token = secrets.token_urlsafe(32)
    record = await auth_store.insert_access_token(
        conn,
        token_id=ids.new_id(),
        token_hash=hash_token(token),
        application_id=application_id,
        user_id=user_id,
        scopes=scopes,
    )
    return token, record


async def find_token(conn: Connection, token: str) -> AccessToken | None:
    # Lookup is by digest, so timing reveals nothing about stored tokens' characters.
    return await auth_store.fetch_active_token(conn, token_hash=hash_token(token))
