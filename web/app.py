"""The Starlette application factory: settings and database in, ASGI app out.

Also the composition root for federation: `wire_federation` builds the one FederationClient,
the instance signer, the key resolver and the remote resolvers into `AppState.services`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from federation.actors import fetch_actor_key, load_instance_signer
from federation.client import FederationClient
from federation.client import Resolver as AddressResolver
from federation.keys import AccountKeyStore, FetchedKey, KeyResolver
from federation.policy import is_farewell
from federation.resolver import Resolver
from fediverse.config import Settings
from fediverse.storage.database import Database
from fediverse.urls import LocalUrls
from web.activitypub import policy_of_state
from web.errors import EXCEPTION_HANDLERS
from web.inbox import InboxFastPath
from web.mastodon_api.search import SEARCH_RESOLVER_SERVICE
from web.mastodon_api.statuses import MENTION_RESOLVER_SERVICE
from web.responses import error_response
from web.routes import all_routes
from web.state import AppState

BackgroundStarter = Callable[[AppState], Awaitable[Callable[[], Awaitable[None]]]]

FEDERATION_CLIENT_SERVICE = "federation_client"
KEY_RESOLVER_SERVICE = "key_resolver"
INSTANCE_SIGNER_SERVICE = "instance_signer"
REMOTE_RESOLVER_SERVICE = "remote_resolver"


async def wire_federation(
    state: AppState,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    address_resolver: AddressResolver | None = None,
) -> Callable[[], Awaitable[None]]:
    """Put the federation services in `state.services`; returns what closes them.

    One FederationClient serves the whole process (its connection pool is the point).
    `transport` and `address_resolver` are the test seams (see tests/fakes/world.py).
    Services already present (a caller's own) are kept and left for that caller to close.
    """
    services = state.services
    if FEDERATION_CLIENT_SERVICE in services:

        async def keep() -> None:
            return None

        return keep
    async with state.database.transaction() as conn:
        signer = await load_instance_signer(conn, state.urls)
    policy = policy_of_state(state)
    client = FederationClient(
        state.settings,
        transport=transport,
        resolver=address_resolver,
        instance_signer=signer,
        policy=policy.decide_url,
        is_farewell=is_farewell,
    )

    async def fetch_key(key_id: str) -> FetchedKey:
        return await fetch_actor_key(client, key_id)

    remote = Resolver(client, urls=state.urls)
    services[FEDERATION_CLIENT_SERVICE] = client
    services[INSTANCE_SIGNER_SERVICE] = signer
    services[KEY_RESOLVER_SERVICE] = KeyResolver(fetch_key, store=AccountKeyStore(state.database))
    services[REMOTE_RESOLVER_SERVICE] = remote
    services[SEARCH_RESOLVER_SERVICE] = remote
    services[MENTION_RESOLVER_SERVICE] = remote.resolve_mention

    async def close() -> None:
        for name in (
            MENTION_RESOLVER_SERVICE,
            SEARCH_RESOLVER_SERVICE,
            REMOTE_RESOLVER_SERVICE,
            KEY_RESOLVER_SERVICE,
            FEDERATION_CLIENT_SERVICE,
        ):
            services.pop(name, None)
        await client.aclose()

    return close


class StripTrailingSlash:
    """Mastodon.py asks for `/api/v1/instance/`; Rails serves both forms, so do we."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                scope = dict(scope)
                # Routing reads `path`. `raw_path` stays as sent: an HTTP signature covers the
                # path the peer requested, slash included.
                scope["path"] = path.rstrip("/") or "/"
        await self.app(scope, receive, send)


class RejectNulCharacters:
    """U+0000 in a decoded path or query parameter can name nothing (PostgreSQL text cannot
    hold it): 404 for the path, 422 naming the parameter, before any handler sees it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            response = None
            if "\x00" in scope["path"]:
                response = error_response(404, "Record not found")
            elif b"%00" in scope.get("query_string", b"") or b"\x00" in scope.get(
                "query_string", b""
            ):
                for key, value in parse_qsl(
                    scope["query_string"].decode("latin-1"), keep_blank_values=True
                ):
                    if "\x00" in key or "\x00" in value:
                        name = key if "\x00" not in key else "parameter names"
                        response = error_response(
                            422, f"Validation failed: {name} must not contain NUL characters"
                        )
                        break
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(
    settings: Settings,
    database: Database,
    *,
    services: dict[str, Any] | None = None,
    connect_database: bool = True,
    start_background: BackgroundStarter | None = None,
    federation_transport: httpx.AsyncBaseTransport | None = None,
    address_resolver: AddressResolver | None = None,
) -> Starlette:
    """Build the app. With `connect_database`, the lifespan opens and closes the pool.

    The lifespan wires federation (`wire_federation`) before background work starts and
    closes it after; `federation_transport`/`address_resolver` let tests route its requests.
    """
    state = AppState(
        settings=settings, database=database, urls=LocalUrls(settings), services=services or {}
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if connect_database:
            await database.connect()
        stop_background = None
        close_federation = None
        try:
            close_federation = await wire_federation(
                state, transport=federation_transport, address_resolver=address_resolver
            )
            if start_background is not None:
                stop_background = await start_background(state)
            yield
        finally:
            if stop_background is not None:
                await stop_background()
            if close_federation is not None:
                await close_federation()
            if connect_database:
                await database.close()

    app = Starlette(
        routes=all_routes(),
        middleware=[
            Middleware(InboxFastPath),
            Middleware(StripTrailingSlash),
            Middleware(RejectNulCharacters),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.fediverse = state
    return app
