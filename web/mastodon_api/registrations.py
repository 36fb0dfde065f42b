"""Mastodon's registration API, `POST /api/v1/accounts`, and an admin `POST /api/v1/invites`.

Registration needs an app token with `write:accounts` (Mastodon's rule) and answers 403
"This action is not allowed" while registrations are closed, as Mastodon does. In `approval`
mode the account is created but its token is refused until an admin approves it.
`POST /api/v1/invites` is not Mastodon API: it lets admins' scripts make invite links.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from federation.keys import generate_keypair
from fediverse import auth, invites
from fediverse.errors import Forbidden
from web.auth import require_admin, require_scope
from web.forms import read_params
from web.responses import JSONResponse
from web.state import database_of, settings_of, urls_of


async def register(request: Request) -> Response:
    viewer = await require_scope(request, "write:accounts", user=False)
    mode = settings_of(request).registrations
    if mode not in ("open", "approval"):
        raise Forbidden("This action is not allowed")
    params = await read_params(request)
    async with database_of(request).transaction() as conn:
        _, user = await invites.register(
            conn,
            mode=mode,
            urls=urls_of(request),
            username=(params.str("username") or "").strip(),
            email=(params.str("email") or "").strip(),
            password=params.str("password") or "",
            agreement=bool(params.bool("agreement", False)),
            locale=params.str("locale"),
            make_keypair=generate_keypair,
        )
        token, record = await auth.issue_token(
            conn,
            application_id=viewer.token.application_id,
            user_id=user.id,
            scopes=viewer.token.scopes,
        )
    return JSONResponse(
        {
            "access_token": token,
            "token_type": "Bearer",
            "scope": record.scopes,
            "created_at": int(record.created_at.timestamp()),
        }
    )


async def create_invite(request: Request) -> Response:
    viewer = await require_admin(request, "admin:write")
    params = await read_params(request)
    hours = params.int("expires_in_hours")
    async with database_of(request).transaction() as conn:
        invite = await invites.create_invite(
            conn,
            created_by_user_id=None if viewer.user is None else viewer.user.id,
            max_uses=params.int("max_uses"),
            expires_in=None if hours is None else timedelta(hours=hours),
            now=datetime.now(UTC),
        )
    return JSONResponse(
        {
            "code": invite.code,
            "url": invites.invite_url(urls_of(request), invite.code),
            "max_uses": invite.max_uses,
            "uses": invite.uses,
            "expires_at": None if invite.expires_at is None else invite.expires_at.isoformat(),
        }
    )


routes: list[BaseRoute] = [
    Route("/api/v1/accounts", register, methods=["POST"]),
    Route("/api/v1/invites", create_invite, methods=["POST"]),
]
