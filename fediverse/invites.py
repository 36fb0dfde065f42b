"""Registrations: invite links (closed mode) and self sign-up (open and approval modes).

Modes come from `settings.registrations`: `closed` (default: only admins and invite links
create accounts), `open` (anyone may sign up) and `approval` (sign-ups wait for an admin;
invited people skip the wait, as in Mastodon).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from fediverse import accounts as account_domain
from fediverse import ids
from fediverse.accounts import KeypairMaker
from fediverse.errors import Forbidden, Gone, NotFound, ValidationError
from fediverse.storage import accounts as account_store
from fediverse.storage import invites as invite_store
from fediverse.storage.accounts import Account, User
from fediverse.storage.database import Connection
from fediverse.storage.invites import Invite
from fediverse.urls import LocalUrls

MODES = ("closed", "open", "approval")


def invite_url(urls: LocalUrls, code: str) -> str:
    return f"{urls.base}/invite/{code}"


def is_usable(invite: Invite, now: datetime) -> bool:
    if invite.expires_at is not None and invite.expires_at <= now:
        return False
    return invite.max_uses is None or invite.uses < invite.max_uses


async def create_invite(
    conn: Connection,
    *,
    created_by_user_id: int | None,
    max_uses: int | None,
    expires_in: timedelta | None,
    now: datetime,
) -> Invite:
    if max_uses is not None and max_uses < 1:
        raise ValidationError("Max uses must be at least 1", field="max_uses")
    if expires_in is not None and expires_in <= timedelta(0):
        raise ValidationError("Expiry must be in the future", field="expires_in")
    return await invite_store.insert_invite(
        conn,
        invite_id=ids.new_id(),
        # Unguessable: whoever holds the code may create an account.
        code=secrets.token_urlsafe(12),
        created_by_user_id=created_by_user_id,
        max_uses=max_uses,
        expires_at=None if expires_in is None else now + expires_in,
    )


async def usable_invite(conn: Connection, *, code: str, now: datetime) -> Invite:
    """The invite behind `code`: NotFound if there is none, Gone if expired or used up."""
    invite = await invite_store.fetch_invite_by_code(conn, code=code)
    if invite is None:
        raise NotFound("This invitation link is not valid")
    if not is_usable(invite, now):
        raise Gone("This invitation link has expired or has been used up")
    return invite


async def register_with_invite(
    conn: Connection,
    *,
    code: str,
    urls: LocalUrls,
    username: str,
    email: str,
    password: str,
    make_keypair: KeypairMaker,
    now: datetime,
) -> tuple[Account, User]:
    """Create an approved account through an invite, in any registrations mode.

    The use is counted first and atomically; if creating the account then fails, the caller's
    transaction rolls the count back with it.
    """
    invite = await usable_invite(conn, code=code, now=now)
    if not await invite_store.claim_invite_use(conn, invite_id=invite.id, now=now):
        raise Gone("This invitation link has expired or has been used up")
    return await account_domain.create_local_account(
        conn,
        urls=urls,
        username=username,
        email=email,
        password=password,
        make_keypair=make_keypair,
    )


async def register(
    conn: Connection,
    *,
    mode: str,
    urls: LocalUrls,
    username: str,
    email: str,
    password: str,
    agreement: bool,
    locale: str | None,
    make_keypair: KeypairMaker,
) -> tuple[Account, User]:
    """Self sign-up: refused in closed mode; in approval mode the user waits for an admin."""
    if mode not in ("open", "approval"):
        raise Forbidden("Registrations are closed")
    if not agreement:
        raise ValidationError("Agreement must be accepted", field="agreement")
    account, user = await account_domain.create_local_account(
        conn,
        urls=urls,
        username=username,
        email=email,
        password=password,
        make_keypair=make_keypair,
    )
    changes: dict[str, object] = {}
    if mode == "approval":
        changes["approved"] = False
    if locale and len(locale) <= 16:
        changes["locale"] = locale
    if changes:
        await account_store.update_user(conn, user_id=user.id, changes=changes)
        refreshed = await account_store.fetch_user(conn, user_id=user.id)
        assert refreshed is not None
        user = refreshed
    return account, user


async def approve(conn: Connection, *, user: User) -> None:
    await account_store.update_user(conn, user_id=user.id, changes={"approved": True})
