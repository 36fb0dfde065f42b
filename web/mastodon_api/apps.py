"""Mastodon client API: registering apps and checking an app's credentials."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import oauth as oauth_domain
from fediverse.errors import NotAuthorized, NotFound
from fediverse.storage import auth as auth_store
from fediverse.storage.auth import Application
from web.auth import optional_viewer
from web.forms import read_params
from web.mastodon_api.push import vapid_public_key_of
from web.responses import JSONResponse
from web.state import database_of


def render_application(
    application: Application, *, vapid_key: str = "", with_secret: bool = False
) -> dict[str, Any]:
    """Mastodon's Application entity; `with_secret` makes it a CredentialApplication."""
    entity: dict[str, Any] = {
        "id": str(application.id),
        "name": application.name,
        "website": application.website,
        "scopes": application.scopes.split(),
        "redirect_uri": "\n".join(application.redirect_uris),
        "redirect_uris": list(application.redirect_uris),
        "vapid_key": vapid_key,
    }
    if with_secret:
        entity["client_id"] = application.client_id
        entity["client_secret"] = application.client_secret
        entity["client_secret_expires_at"] = 0  # secrets never expire (Mastodon 4.4)
    return entity


async def _vapid_key(request: Request) -> str:
    return await vapid_public_key_of(request)


async def create_app(request: Request) -> Response:
    """POST /api/v1/apps: open registration, form or JSON, as on Mastodon."""
    params = await read_params(request)
    async with database_of(request).transaction() as conn:
        application = await oauth_domain.register_application(
            conn,
            name=params.str("client_name"),
            redirect_uris=params.raw("redirect_uris", params.raw("redirect_uris[]")),
            scopes=params.raw("scopes"),
            website=params.str("website"),
        )
    return JSONResponse(
        render_application(application, vapid_key=await _vapid_key(request), with_secret=True)
    )


async def verify_credentials(request: Request) -> Response:
    """GET /api/v1/apps/verify_credentials: any valid token, app-only or a user's."""
    viewer = await optional_viewer(request)
    if viewer is None:
        raise NotAuthorized()
    if viewer.token.application_id is None:
        raise NotFound()
    async with database_of(request).connection() as conn:
        application = await auth_store.fetch_application(conn, app_id=viewer.token.application_id)
    if application is None:
        raise NotFound()
    return JSONResponse(render_application(application, vapid_key=await _vapid_key(request)))


routes: list[BaseRoute] = [
    Route("/api/v1/apps", create_app, methods=["POST"]),
    Route("/api/v1/apps/verify_credentials", verify_credentials, methods=["GET"]),
]
