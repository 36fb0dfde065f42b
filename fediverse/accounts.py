"""Local accounts: creation, sign-in checks, profile changes and moderation states."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from fediverse import ids
from fediverse.errors import NotFound, ValidationError
from fediverse.passwords import hash_password
from fediverse.storage import accounts as account_store
from fediverse.storage.accounts import Account, User
from fediverse.storage.database import Connection
from fediverse.urls import LocalUrls

USERNAME_RE = re.compile(r"^[A-Za-z0-9_]{1,30}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
ROLES = ("user", "moderator", "admin")

KeypairMaker = Callable[[], tuple[str, str]]


def validate_username(username: str) -> None:
    if not USERNAME_RE.fullmatch(username):
        raise ValidationError(
            "Username must be 1-30 characters: ASCII letters, digits and underscore",
            field="username",
        )


def validate_password(password: str) -> None:
    if len(password) < 8:
        raise ValidationError("Password is too short (minimum is 8 characters)", field="password")
    if len(password) > 72 * 4:
        raise ValidationError("Password is too long", field="password")


async def create_local_account(
    conn: Connection,
    *,
    urls: LocalUrls,
    username: str,
    email: str,
    password: str,
    role: str = "user",
    make_keypair: KeypairMaker,
    display_name: str = "",
    default_privacy: str = "public",
    password_hasher: Callable[[str], str] = hash_password,
) -> tuple[Account, User]:
    """Create an account with its user and RSA key pair. Usernames are unique ignoring case.

    `password_hasher` is a parameter so tests can reuse one real argon2 hash per password
    (hashing costs ~0.1 s by design).
    """
    validate_username(username)
    validate_password(password)
    if not EMAIL_RE.fullmatch(email):
        raise ValidationError("Email is invalid", field="email")
    if role not in ROLES:
        raise ValidationError(f"Role must be one of {', '.join(ROLES)}", field="role")
    if await account_store.fetch_account_by_username(conn, username=username, domain=None):
        raise ValidationError("Username is already taken", field="username")
    if await conn.fetchval("SELECT 1 FROM users WHERE lower(email) = lower($1)", email):
        raise ValidationError("Email is already taken", field="email")
    private_pem, public_pem = make_keypair()
    account_id = ids.new_id()
    await account_store.insert_account(
        conn,
        values={
            "id": account_id,
            "username": username,
            "domain": None,
            "display_name": display_name,
            "uri": urls.actor(username),
            "url": urls.profile(username),
            "inbox_url": urls.inbox(username),
            "shared_inbox_url": urls.shared_inbox(),
            "outbox_url": urls.outbox(username),
            "followers_url": urls.followers(username),
            "following_url": urls.following(username),
            "featured_url": urls.featured(username),
            "featured_tags_url": urls.featured_tags(username),
            "public_key_id": urls.key_id(username),
            "public_key_pem": public_pem,
        },
    )
    await account_store.insert_account_key(conn, account_id=account_id, private_key_pem=private_pem)
    user_id = ids.new_id()
    await account_store.insert_user(
        conn,
        values={
            "id": user_id,
            "account_id": account_id,
            "email": email,
            "password_hash": password_hasher(password),
            "role": role,
            "default_privacy": default_privacy,
        },
    )
    account = await account_store.fetch_account(conn, account_id=account_id)
    user = await account_store.fetch_user(conn, user_id=user_id)
    assert account is not None and user is not None
    return account, user


async def local_account_by_username(conn: Connection, username: str) -> tuple[Account, User]:
    account = await account_store.fetch_account_by_username(conn, username=username, domain=None)
    if account is None:
        raise NotFound(f"No local account named {username!r}")
    user = await account_store.fetch_user_by_account(conn, account_id=account.id)
    if user is None:
        raise NotFound(f"No local account named {username!r}")
    return account, user


async def set_suspended(conn: Connection, account: Account, suspended: bool) -> None:
    await account_store.update_account(
        conn,
        account_id=account.id,
        changes={"suspended_at": datetime.now(UTC) if suspended else None},
    )
    if suspended:
        # A suspended account cannot use any app: its tokens stop working at once.
        await conn.execute(
            "UPDATE oauth_access_tokens SET revoked_at = now() "
            "WHERE revoked_at IS NULL AND user_id = (SELECT id FROM users WHERE account_id = $1)",
            account.id,
        )


async def reset_password(conn: Connection, user: User, password: str) -> None:
    validate_password(password)
    await account_store.update_user(
        conn, user_id=user.id, changes={"password_hash": hash_password(password)}
    )
    await conn.execute(
        "UPDATE oauth_access_tokens SET revoked_at = now() "
        "WHERE revoked_at IS NULL AND user_id = $1",
        user.id,
    )


async def set_role(conn: Connection, user: User, role: str) -> None:
    if role not in ROLES:
        raise ValidationError(f"Role must be one of {', '.join(ROLES)}", field="role")
    await account_store.update_user(conn, user_id=user.id, changes={"role": role})
