"""Mastodon client API: `/api/v1/preferences`, the defaults apps use when composing and reading."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import default_scope
from fediverse.default_scope import DefaultScope
from fediverse.storage.accounts import User
from web.auth import require_account
from web.responses import JSONResponse
from web.state import database_of

EXPAND_MEDIA_CHOICES = ("default", "show_all", "hide_all")


def render_preferences(user: User, defaults: DefaultScope) -> dict[str, Any]:
    expand_media = user.settings.get("reading:expand:media")
    return {
        "posting:default:visibility": defaults.visibility,
        # Hometown's preference: false means new posts are internal (local only).
        "posting:default:federation": defaults.federates,
        "posting:default:sensitive": user.default_sensitive,
        "posting:default:language": user.default_language,
        "reading:expand:media": (
            expand_media if expand_media in EXPAND_MEDIA_CHOICES else "default"
        ),
        "reading:expand:spoilers": bool(user.settings.get("reading:expand:spoilers", False)),
    }


async def preferences(request: Request) -> Response:
    viewer, _ = await require_account(request, "read:accounts")
    assert viewer.user is not None
    async with database_of(request).connection() as conn:
        defaults = await default_scope.default_for(conn, viewer.user)
    return JSONResponse(render_preferences(viewer.user, defaults))


routes: list[BaseRoute] = [Route("/api/v1/preferences", preferences, methods=["GET"])]
