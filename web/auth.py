"""Who is calling: bearer tokens → a `Viewer`, and scope checks on every endpoint."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from fediverse import auth
from fediverse.errors import Forbidden, NotAuthorized, Unprocessable
from fediverse.storage import auth as auth_store
from fediverse.storage.accounts import Account, User
from fediverse.storage.auth import AccessToken
from web.state import database_of


@dataclass(frozen=True)
class Viewer:
    """The caller: a token, and the user and account behind it (None for app-only tokens)."""

    token: AccessToken
    user: User | None
    account: Account | None

    @property
    def account_id(self) -> int | None:
        return None if self.account is None else self.account.id


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.query_params.get("access_token") or None


async def optional_viewer(request: Request) -> Viewer | None:
    """The viewer, or None when no token was sent. A token that was sent must be valid."""
    cached = request.scope.get("fediverse.viewer")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    token = bearer_token(request)
    if token is None:
        return None
    # Token, user and account in one statement: every authenticated request pays for this.
    async with database_of(request).connection() as conn:
        holder = await auth_store.fetch_token_holder(conn, token_hash=auth.hash_token(token))
    if holder is None:
        raise NotAuthorized()
    record, user, account = holder.token, holder.user, holder.account
    if record.user_id is not None:
        if user is None or user.disabled:
            raise NotAuthorized()
        if not user.approved:
            # Approval mode: the account exists, but waits for an admin (Mastodon's words).
            raise Forbidden("Your login is currently pending approval")
        if account is None or account.suspended_at is not None:
            raise Forbidden("Your login is currently disabled")
    viewer = Viewer(token=record, user=user, account=account)
    request.scope["fediverse.viewer"] = viewer
    return viewer


async def require_scope(request: Request, scope: str, *, user: bool = True) -> Viewer:
    """A viewer whose token grants `scope`; with `user=True` it must act for a person.

    Mastodon answers 401 without a token, 403 for a token lacking the scope, and 422 ("This
    method requires an authenticated user") for app-only tokens on user endpoints.
    """
    viewer = await optional_viewer(request)
    if viewer is None:
        raise NotAuthorized("The access token is invalid")
    if not auth.scope_allows(viewer.token.scopes, scope):
        raise Forbidden("This action is outside the authorized scopes")
    if user and viewer.account is None:
        raise Unprocessable("This method requires an authenticated user")
    return viewer


async def require_account(request: Request, scope: str) -> tuple[Viewer, Account]:
    """A user viewer and their account, for endpoints that act as a person."""
    viewer = await require_scope(request, scope)
    assert viewer.account is not None
    return viewer, viewer.account


async def read_viewer(request: Request, scope: str) -> Viewer | None:
    """For public reads: no token is fine; a token must grant `scope`."""
    viewer = await optional_viewer(request)
    if viewer is not None and not auth.scope_allows(viewer.token.scopes, scope):
        raise Forbidden("This action is outside the authorized scopes")
    return viewer


async def require_admin(request: Request, scope: str) -> Viewer:
    viewer = await require_scope(request, scope)
    if viewer.user is None or not viewer.user.is_staff:
        raise Forbidden("This action is not allowed")
    return viewer
