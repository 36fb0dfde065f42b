"""Test helpers for streaming: staff with OAuth password-grant tokens on a live server, and a
WebSocket client that subscribes synchronously and waits for events with a bounded wait."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

from fediverse.config import Settings, load_settings
from fediverse.storage.database import Database
from tests.factories import make_staff
from tests.live_server import LiveServer

PASSWORD = "correct horse battery"


@dataclass
class Person:
    username: str
    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def live_settings(server: LiveServer) -> Settings:
    return load_settings(
        environ={},
        domain=server.domain,
        scheme="http",
        data_dir=server.data_dir,
        secret_key="test",
    )


async def people(
    server: LiveServer, *usernames: str, scopes: str = "read write follow"
) -> list[Person]:
    """Accounts made in the live server's database; tokens from the OAuth password grant."""
    database = Database(server.database_url, min_size=1, max_size=2)
    await database.connect()
    try:
        for username in usernames:
            await make_staff(database, live_settings(server), username, password=PASSWORD)
    finally:
        await database.close()
    found = []
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        app = (
            await http.post(
                "/api/v1/apps",
                json={
                    "client_name": "stream tests",
                    "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
                    "scopes": scopes,
                },
            )
        ).json()
        for username in usernames:
            response = await http.post(
                "/oauth/token",
                data={
                    "grant_type": "password",
                    "client_id": app["client_id"],
                    "client_secret": app["client_secret"],
                    "username": f"{username}@example.org",
                    "password": PASSWORD,
                    "scope": scopes,
                },
            )
            assert response.status_code == 200, response.text
            token = response.json()["access_token"]
            me = await http.get(
                "/api/v1/accounts/verify_credentials",
                headers={"Authorization": f"Bearer {token}"},
            )
            found.append(Person(username=username, id=me.json()["id"], token=token))
    return found


async def api(server: LiveServer, person: Person, method: str, path: str, **kwargs: Any) -> Any:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        response = await http.request(method, path, headers=person.headers, **kwargs)
    assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
    return response.json()


async def post(server: LiveServer, person: Person, text: str, **fields: Any) -> dict[str, Any]:
    return await api(server, person, "POST", "/api/v1/statuses", json={"status": text, **fields})  # type: ignore[no-any-return]


class StreamSession:
    """One multiplexed WebSocket connection."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def subscribe(self, stream: str, **extra: str) -> None:
        await self.ws.send(orjson.dumps({"type": "subscribe", "stream": stream, **extra}).decode())
        await self.barrier()

    async def unsubscribe(self, stream: str, **extra: str) -> None:
        await self.ws.send(
            orjson.dumps({"type": "unsubscribe", "stream": stream, **extra}).decode()
        )
        await self.barrier()

    async def barrier(self) -> None:
        """Commands are handled in order and an unknown one is answered with an error, so its
        answer proves every earlier command was handled."""
        await self.ws.send('{"type": "barrier"}')
        while True:
            message = orjson.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if message.get("error") == "Unknown message type":
                return
            raise AssertionError(f"unexpected message before the barrier: {message}")

    async def next(self, within: float = 10.0) -> dict[str, Any]:
        return orjson.loads(await asyncio.wait_for(self.ws.recv(), within))  # type: ignore[no-any-return]

    async def wait_for(
        self, event: str, status_id: str | None = None, within: float = 10.0
    ) -> dict[str, Any]:
        """The next `event` (about `status_id` if given), skipping others."""
        deadline = time.monotonic() + within
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {event} for {status_id} within {within}s")
            message = await self.next(left)
            if message["event"] != event:
                continue
            if status_id is None or _subject(message) == status_id:
                return message

    async def collect(self, seconds: float) -> list[dict[str, Any]]:
        """Everything that arrives within `seconds` (a bounded wait for 'nothing arrives')."""
        found = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                found.append(await self.next(left))
            except TimeoutError:
                break
        return found


def _subject(message: dict[str, Any]) -> str:
    payload = message["payload"]
    if message["event"] == "delete":
        return str(payload)
    return str(orjson.loads(payload).get("id"))


def subjects(messages: list[dict[str, Any]]) -> set[str]:
    return {
        _subject(m) for m in messages if m.get("event") in ("update", "delete", "status.update")
    }


def ws_url(server: LiveServer, query: str = "") -> str:
    return f"ws://{server.domain}/api/v1/streaming{query}"


def open_stream(server: LiveServer, person: Person, query: str = "") -> Any:
    return connect(ws_url(server, query), additional_headers=person.headers, open_timeout=10)
