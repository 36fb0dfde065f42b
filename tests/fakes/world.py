"""A small fediverse in one process: N complete instances (`a.test`, `b.test`, ...), each with
its own database, settings and app, wired by the production code path (the app's lifespan),
talking real HTTP with real signatures through one host-routing transport.

    async with World.start(server_url, template, ["a.test", "b.test"]) as world:
        alice = await world["a.test"].make_staff("alice")
        ...
        await world.settle()   # publisher, deliveries and inboxes of every instance until idle

Deterministic: no sleeps; every instance's delivery clock can be moved (`advance`), hosts can
be taken down (`down`) and brought back (`up`), and every request is recorded per host.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from fediverse.config import Settings, load_settings
from fediverse.storage.database import Database
from fediverse.storage.embedded_postgres import url_for_database
from tests.conftest import clone_database, drop_database
from tests.factories import DEFAULT_SCOPES, StaffMember, make_staff
from web.app import create_app
from web.background import Workers, build_workers
from web.state import AppState

# Addresses the SSRF guard accepts as public; nothing ever connects to them (the router
# answers every request in-process), so the guard runs exactly as in production.
_FAKE_PUBLIC_PREFIX = "93.184.216."


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


class HostRouter(httpx.AsyncBaseTransport):
    """Routes each request by `host[:port]` to that instance's ASGI app; records everything.

    A host that is down (or unknown) raises `httpx.ConnectError`, as a refused connection does.
    """

    def __init__(self) -> None:
        self.apps: dict[str, httpx.ASGITransport] = {}
        self.down: set[str] = set()
        self.requests: dict[str, list[RecordedRequest]] = {}
        # Requests to a held host wait here (after being recorded) until released.
        self.held: dict[str, asyncio.Event] = {}
        self.waiting = asyncio.Event()

    def add(self, host: str, app: Starlette) -> None:
        self.apps[host] = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.netloc.decode("ascii").lower()
        body = await request.aread()
        self.requests.setdefault(host, []).append(
            RecordedRequest(
                method=request.method,
                url=str(request.url),
                headers=dict(request.headers),
                body=body,
            )
        )
        gate = self.held.get(host)
        if gate is not None:
            self.waiting.set()
            await gate.wait()
        transport = self.apps.get(host)
        if transport is None or host in self.down:
            raise httpx.ConnectError(f"connection to {host} refused", request=request)
        return await transport.handle_async_request(request)

    async def resolve(self, host: str, port: int) -> list[str]:
        """The FederationClient's DNS seam: known hosts get a public-looking address."""
        names = sorted({name.split(":")[0] for name in self.apps})
        if host not in names:
            raise OSError(f"{host}: name or service not known")
        return [f"{_FAKE_PUBLIC_PREFIX}{names.index(host) + 1}"]


@dataclass
class Clock:
    """A clock the test can move forward (the delivery queue's `now`)."""

    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Instance:
    """One complete server: settings, database, app (lifespan entered) and its workers."""

    domain: str
    settings: Settings
    database: Database
    database_name: str
    app: Starlette
    workers: Workers
    clock: Clock
    router: HostRouter
    _clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    @property
    def state(self) -> AppState:
        return self.app.state.fediverse  # type: ignore[no-any-return]

    @property
    def services(self) -> dict[str, Any]:
        return self.state.services

    async def make_staff(
        self, username: str, *, locked: bool = False, scopes: str = DEFAULT_SCOPES
    ) -> StaffMember:
        return await make_staff(
            self.database, self.settings, username, locked=locked, scopes=scopes
        )

    def client(self, staff: StaffMember | None = None) -> httpx.AsyncClient:
        """An HTTP client for this instance's API (as `staff` when given), via the router.

        The world closes it when it ends."""
        http = httpx.AsyncClient(
            transport=self.router,
            base_url=self.base_url,
            headers=staff.headers if staff is not None else None,
        )
        self._clients.append(http)
        return http

    def address(self, username: str) -> str:
        return f"{username}@{self.domain}"

    def actor_url(self, username: str) -> str:
        return self.state.urls.actor(username)


class World:
    """Several instances sharing one router. Build with `World.start(...)`."""

    def __init__(self, server_url: str, template: str) -> None:
        self.server_url = server_url
        self.template = template
        self.router = HostRouter()
        self.instances: dict[str, Instance] = {}
        self._exits = contextlib.AsyncExitStack()
        self._database_names: list[str] = []

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls, server_url: str, template: str, domains: Sequence[str] = ("a.test", "b.test")
    ) -> AsyncIterator[World]:
        world = cls(server_url, template)
        try:
            for domain in domains:
                await world.add_instance(domain)
            yield world
        finally:
            await world.close()

    def __getitem__(self, domain: str) -> Instance:
        return self.instances[domain]

    async def add_instance(self, domain: str, **setting_overrides: Any) -> Instance:
        name = await clone_database(self.server_url, self.template)
        self._database_names.append(name)
        data_dir = Path(tempfile.mkdtemp(prefix=f"world-{domain}-"))
        self._exits.callback(shutil.rmtree, data_dir, True)
        settings = load_settings(
            environ={},
            domain=domain,
            scheme="https",
            data_dir=data_dir,
            secret_key=f"secret-of-{domain}",
            run_workers=False,
            **setting_overrides,
        )
        database = Database(url_for_database(self.server_url, name), min_size=1, max_size=10)
        await database.connect()
        self._exits.push_async_callback(database.close)
        app = create_app(
            settings,
            database,
            connect_database=False,
            federation_transport=self.router,
            address_resolver=self.router.resolve,
        )
        self.router.add(domain, app)
        # The app's own lifespan wires its services (FederationClient, keys, resolvers),
        # exactly as `fediverse serve` does; workers are stepped by `settle` instead.
        await self._exits.enter_async_context(app.router.lifespan_context(app))
        clock = Clock()
        instance = Instance(
            domain=domain,
            settings=settings,
            database=database,
            database_name=name,
            app=app,
            workers=build_workers(app.state.fediverse, clock=clock),
            clock=clock,
            router=self.router,
        )
        self.instances[domain] = instance
        return instance

    async def close(self) -> None:
        for instance in self.instances.values():
            for http in instance._clients:
                await http.aclose()
        await self._exits.aclose()
        # Each DROP DATABASE waits for a checkpoint (~1 s here); concurrent drops share one.
        await asyncio.gather(
            *(drop_database(self.server_url, name) for name in self._database_names)
        )
        self._database_names.clear()

    async def settle(self, *, max_rounds: int = 100) -> int:
        """Step every instance's workers (publisher, deliveries, inbox) until all are idle."""
        total = 0
        for _ in range(max_rounds):
            done = 0
            for instance in self.instances.values():
                done += await instance.workers.run_until_idle()
            total += done
            if done == 0:
                return total
        raise AssertionError(f"the world did not settle within {max_rounds} rounds")

    def down(self, domain: str) -> None:
        """Connections to `domain` are refused until `up(domain)`."""
        self.router.down.add(domain)

    def up(self, domain: str) -> None:
        self.router.down.discard(domain)

    def hold(self, domain: str) -> None:
        """Requests to `domain` wait (after being recorded) until `release(domain)`."""
        self.router.waiting.clear()
        self.router.held[domain] = asyncio.Event()

    def release(self, domain: str) -> None:
        gate = self.router.held.pop(domain, None)
        if gate is not None:
            gate.set()

    def advance(self, delta: timedelta) -> None:
        """Move every instance's delivery clock forward (retries become due)."""
        for instance in self.instances.values():
            instance.clock.offset += delta

    def requests_to(self, domain: str, *, method: str | None = None) -> list[RecordedRequest]:
        recorded = self.router.requests.get(domain, [])
        return [r for r in recorded if method is None or r.method == method]

    def inbox_posts_to(self, domain: str) -> list[RecordedRequest]:
        """Deliveries (POSTs to an inbox) that `domain` was sent, in order."""
        return [r for r in self.requests_to(domain, method="POST") if r.url.endswith("/inbox")]

    def clear_requests(self) -> None:
        self.router.requests.clear()
