"""The Starlette application factory: settings and database in, ASGI app out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from fediverse.config import Settings
from fediverse.storage.database import Database
from fediverse.urls import LocalUrls
from web.errors import EXCEPTION_HANDLERS
from web.routes import all_routes
from web.state import AppState

BackgroundStarter = Callable[[AppState], Awaitable[Callable[[], Awaitable[None]]]]


class StripTrailingSlash:
    """Mastodon.py asks for `/api/v1/instance/`; Rails serves both forms, so do we."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                scope = dict(scope)
                scope["path"] = path.rstrip("/") or "/"
                if "raw_path" in scope and scope["raw_path"]:
                    scope["raw_path"] = scope["raw_path"].rstrip(b"/") or b"/"
        await self.app(scope, receive, send)


def create_app(
    settings: Settings,
    database: Database,
    *,
    services: dict[str, Any] | None = None,
    connect_database: bool = True,
    start_background: BackgroundStarter | None = None,
) -> Starlette:
    """Build the app. With `connect_database`, the lifespan opens and closes the pool."""
    state = AppState(
        settings=settings, database=database, urls=LocalUrls(settings), services=services or {}
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if connect_database:
            await database.connect()
        stop_background = None
        if start_background is not None:
            stop_background = await start_background(state)
        try:
            yield
        finally:
            if stop_background is not None:
                await stop_background()
            if connect_database:
                await database.close()

    app = Starlette(
        routes=all_routes(),
        middleware=[Middleware(StripTrailingSlash)],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=lifespan,
    )
    app.state.fediverse = state
    return app
