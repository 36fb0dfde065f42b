"""Fake peers for inbox tests: actor documents with generated keys served over
httpx.MockTransport, signed deliveries, and a worker stepping the inbox queue."""

from __future__ import annotations

import itertools
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from federation.activitystreams import AS_CONTEXT, PUBLIC
from federation.client import FederationClient
from federation.inbox_worker import InboxWorker
from federation.keys import generate_keypair
from federation.signatures import sign_cavage
from fediverse.config import Settings
from fediverse.storage import inbox_activities
from fediverse.storage.database import Database
from fediverse.storage.inbox_activities import NewActivity
from fediverse.urls import LocalUrls

AS2 = "application/activity+json"
_counter = itertools.count(1)


@lru_cache(maxsize=4)
def keypair(index: int = 0) -> tuple[str, str]:
    """Pre-generated per test session: RSA generation is slow."""
    return generate_keypair()


async def public_address(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]


class FakePeers:
    """Remote servers: serves documents by URL, answers 410 for gone ones, records requests."""

    def __init__(self, settings: Settings) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.gone: set[str] = set()
        self.failing: set[str] = set()
        self.requests: list[str] = []
        self.client = FederationClient(
            settings, transport=httpx.MockTransport(self._handle), resolver=public_address
        )

    def _handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.requests.append(url)
        if url in self.failing:
            return httpx.Response(503)
        if url in self.gone:
            return httpx.Response(410)
        document = self.documents.get(url)
        if document is None:
            return httpx.Response(404)
        return httpx.Response(200, content=orjson.dumps(document), headers={"Content-Type": AS2})

    def serve(self, document: dict[str, Any]) -> dict[str, Any]:
        self.documents[document["id"]] = document
        return document

    def actor(
        self,
        uri: str,
        *,
        locked: bool = False,
        also_known_as: list[str] | None = None,
        key: int = 0,
        kind: str = "Person",
    ) -> dict[str, Any]:
        """Serve a Person at `uri` whose key is `keypair(key)`."""
        parts = urlsplit(uri)
        origin = f"{parts.scheme}://{parts.netloc}"
        username = [p for p in parts.path.split("/") if p][-1] if parts.path.strip("/") else "x"
        username = "".join(c for c in username if c.isalnum() or c in "_-.") or "someone"
        document: dict[str, Any] = {
            "@context": [AS_CONTEXT, "https://w3id.org/security/v1"],
            "id": uri,
            "type": kind,
            "preferredUsername": username,
            "name": username.title(),
            "inbox": f"{uri.rstrip('/')}/inbox",
            "outbox": f"{uri.rstrip('/')}/outbox",
            "followers": f"{uri.rstrip('/')}/followers",
            "following": f"{uri.rstrip('/')}/following",
            "endpoints": {"sharedInbox": f"{origin}/inbox"},
            "manuallyApprovesFollowers": locked,
            "publicKey": {
                "id": f"{uri}#main-key",
                "owner": uri,
                "publicKeyPem": keypair(key)[1],
            },
        }
        if also_known_as:
            document["alsoKnownAs"] = also_known_as
        return self.serve(document)

    async def aclose(self) -> None:
        await self.client.aclose()


def signed_headers(
    actor: str,
    body: bytes,
    *,
    url: str = "https://local.test/inbox",
    key: int = 0,
    key_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    headers = sign_cavage(
        "POST",
        url,
        body,
        key_id=key_id or f"{actor}#main-key",
        private_key_pem=keypair(key)[0],
        now=now,
    )
    return {**headers, "Content-Type": AS2}


def activity_id(actor: str, kind: str) -> str:
    return f"{actor}#{kind.lower()}-{next(_counter)}"


def note(
    author: str,
    number: int,
    *,
    content: str = "<p>Hello</p>",
    to: list[str] | None = None,
    cc: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": f"{author}/statuses/{number}",
        "type": "Note",
        "attributedTo": author,
        "content": content,
        "published": "2024-01-02T03:04:05Z",
        "to": [PUBLIC] if to is None else to,
        "cc": [f"{author}/followers"] if cc is None else cc,
        **extra,
    }


def wrap(kind: str, actor: str, obj: Any, **extra: Any) -> dict[str, Any]:
    return {
        "@context": AS_CONTEXT,
        "id": activity_id(actor, kind),
        "type": kind,
        "actor": actor,
        "object": obj,
        **extra,
    }


def make_worker(database: Database, peers: FakePeers, settings: Settings) -> InboxWorker:
    return InboxWorker(database, peers.client, LocalUrls(settings), settings)


async def enqueue(database: Database, activity: dict[str, Any]) -> None:
    """Store an activity as if it had been verified (handler tests skip the HTTP layer)."""
    async with database.transaction() as conn:
        await inbox_activities.insert_activities(
            conn,
            activities=[
                NewActivity(
                    row_id=next(_counter) + 10_000,
                    activity_id=activity["id"],
                    actor_uri=activity["actor"],
                    activity_type=activity["type"],
                    payload=activity,
                )
            ],
        )


async def deliver(
    database: Database, peers: FakePeers, settings: Settings, *activities: dict[str, Any]
) -> list[str | None]:
    """Enqueue the activities and process them; returns each one's note (None when applied)."""
    for activity in activities:
        await enqueue(database, activity)
    await make_worker(database, peers, settings).run_until_idle()
    notes = []
    async with database.connection() as conn:
        for activity in activities:
            row = await inbox_activities.fetch_activity(conn, activity_id=activity["id"])
            assert row is not None and row.processed_at is not None, activity["id"]
            notes.append(row.last_error)
    return notes


async def known_account(database: Database, peers: FakePeers, uri: str) -> Any:
    """Fetch and store a fake peer's actor, as after any earlier contact."""
    from datetime import UTC

    from federation.actors import fetch_remote_actor, store_remote_actor
    from fediverse.content import sanitize_html

    actor = await fetch_remote_actor(peers.client, uri)
    async with database.transaction() as conn:
        return await store_remote_actor(
            conn, actor, now=datetime.now(UTC), clean_html=sanitize_html
        )
