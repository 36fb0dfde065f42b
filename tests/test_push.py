"""Web Push: subscriptions through the API, and pushes a local receiver decrypts with its own keys.

The receiver is a push service on an httpx.MockTransport behind the one FederationClient: it
holds its own P-256 key pair and auth secret, checks the VAPID JWT against the server's public
key, and decrypts the body with http_ece.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import http_ece
import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from federation.client import FederationClient
from federation.webpush import PushWorker
from fediverse.config import Settings
from fediverse.storage import push as push_store
from fediverse.storage.database import Database
from fediverse.urls import LocalUrls
from tests.factories import StaffMember, make_staff
from web.app import FEDERATION_CLIENT_SERVICE
from web.background import build_workers
from web.state import AppState

PUSH_HOST = "push.example"
ENDPOINT = f"https://{PUSH_HOST}/send/device-1"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def verify_jwt(token: str, public_key_b64: str) -> dict[str, Any]:
    """Check an ES256 JWT against a base64url P-256 point; return its claims."""
    header_b64, claims_b64, signature_b64 = token.split(".")
    key = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), b64url_decode(public_key_b64)
    )
    raw = b64url_decode(signature_b64)
    signature = encode_dss_signature(
        int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    )
    key.verify(signature, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    assert json.loads(b64url_decode(header_b64)) == {"typ": "JWT", "alg": "ES256"}
    return dict(json.loads(b64url_decode(claims_b64)))


@dataclass
class PushReceiver:
    """A push service and the device behind it, in one: keys, answers, received messages."""

    server_key: str = ""
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth_secret: bytes = field(default_factory=lambda: os.urandom(16))
    answers: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0

    @property
    def p256dh(self) -> str:
        return b64url(
            self.private_key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )

    @property
    def auth(self) -> str:
        return b64url(self.auth_secret)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        answer = self.answers.pop(0) if self.answers else 201
        assert int(request.headers["ttl"]) > 0
        encoding = request.headers["content-encoding"]
        authorization = request.headers["authorization"]
        if encoding == "aes128gcm":
            scheme, _, rest = authorization.partition(" ")
            assert scheme == "vapid"
            parts = dict(item.split("=", 1) for item in rest.split(","))
            assert parts["k"] == self.server_key
            claims = verify_jwt(parts["t"], self.server_key)
            plaintext = http_ece.decrypt(
                request.content,
                private_key=self.private_key,
                auth_secret=self.auth_secret,
                version="aes128gcm",
            )
        else:
            assert encoding == "aesgcm"
            scheme, _, token = authorization.partition(" ")
            assert scheme == "WebPush"
            crypto = dict(item.split("=", 1) for item in request.headers["crypto-key"].split(";"))
            assert crypto["p256ecdsa"] == self.server_key
            claims = verify_jwt(token, self.server_key)
            salt = request.headers["encryption"].removeprefix("salt=")
            plaintext = http_ece.decrypt(
                request.content,
                salt=b64url_decode(salt),
                dh=b64url_decode(crypto["dh"]),
                private_key=self.private_key,
                auth_secret=self.auth_secret,
                version="aesgcm",
            )
        assert claims["aud"] == f"https://{PUSH_HOST}"
        assert claims["exp"] > datetime.now(UTC).timestamp()
        assert claims["sub"]
        if 200 <= answer < 300:
            self.received.append(json.loads(plaintext))
        return httpx.Response(answer)


class Clock:
    """Real time plus an offset the test moves forward (pushes are queued at real time)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


async def public_address(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]


@pytest.fixture
def receiver() -> PushReceiver:
    return PushReceiver()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def worker(
    database: Database, settings: Settings, receiver: PushReceiver, clock: Clock
) -> AsyncIterator[PushWorker]:
    client = FederationClient(
        settings, transport=httpx.MockTransport(receiver.handle), resolver=public_address
    )
    try:
        yield PushWorker(
            database, client, LocalUrls(settings), subject="mailto:admin@local.test", clock=clock
        )
    finally:
        await client.aclose()


async def subscribe(
    client: httpx.AsyncClient,
    member: StaffMember,
    receiver: PushReceiver,
    *,
    alerts: dict[str, bool],
    policy: str = "all",
    standard: bool = True,
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/push/subscription",
        headers=member.headers,
        json={
            "subscription": {
                "endpoint": ENDPOINT,
                "keys": {"p256dh": receiver.p256dh, "auth": receiver.auth},
                "standard": standard,
            },
            "data": {"alerts": alerts, "policy": policy},
        },
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    receiver.server_key = body["server_key"]
    return body


async def mention(client: httpx.AsyncClient, author: StaffMember, username: str) -> str:
    response = await client.post(
        "/api/v1/statuses",
        headers=author.headers,
        json={"status": f"@{username} lunch at noon?"},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def latest_notification_id(client: httpx.AsyncClient, member: StaffMember) -> str:
    response = await client.get("/api/v1/notifications", headers=member.headers)
    return str(response.json()[0]["id"])


# --- the subscription API ---------------------------------------------------------------------


async def test_a_subscription_is_created_read_updated_and_deleted(
    client: httpx.AsyncClient, database: Database, settings: Settings, receiver: PushReceiver
) -> None:
    alice = await make_staff(database, settings, "alice")
    created = await subscribe(client, alice, receiver, alerts={"mention": True, "follow": "1"})
    instance = (await client.get("/api/v2/instance")).json()
    assert created["server_key"] == instance["configuration"]["vapid"]["public_key"]
    assert len(b64url_decode(created["server_key"])) == 65
    assert created["endpoint"] == ENDPOINT
    assert created["standard"] is True
    assert created["policy"] == "all"
    assert created["alerts"]["mention"] is True
    assert created["alerts"]["follow"] is True
    assert created["alerts"]["favourite"] is False
    assert set(created["alerts"]) >= {"admin.sign_up", "admin.report", "update", "poll"}

    shown = await client.get("/api/v1/push/subscription", headers=alice.headers)
    assert shown.json() == created

    updated = await client.put(
        "/api/v1/push/subscription",
        headers=alice.headers,
        data={"data[alerts][favourite]": "true", "data[policy]": "followed"},
    )
    assert updated.status_code == 200
    assert updated.json()["alerts"]["favourite"] is True
    assert updated.json()["alerts"]["mention"] is True  # untouched alerts stay
    assert updated.json()["policy"] == "followed"

    assert (await client.delete("/api/v1/push/subscription", headers=alice.headers)).json() == {}
    missing = await client.get("/api/v1/push/subscription", headers=alice.headers)
    assert missing.status_code == 404


async def test_the_vapid_key_is_made_once_and_kept(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    first = (await client.get("/api/v2/instance")).json()["configuration"]["vapid"]["public_key"]
    async with database.connection() as conn:
        stored = await push_store.fetch_vapid_keys(conn)
    assert stored is not None and stored.public_key == first
    app = await client.post(
        "/api/v1/apps", data={"client_name": "Phone", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"}
    )
    assert app.json()["vapid_key"] == first
    assert "PRIVATE" not in json.dumps((await client.get("/api/v2/instance")).json())


async def test_subscribing_needs_the_push_scope_and_valid_keys(
    client: httpx.AsyncClient, database: Database, settings: Settings, receiver: PushReceiver
) -> None:
    reader = await make_staff(database, settings, "reader", scopes="read write")
    refused = await client.post(
        "/api/v1/push/subscription",
        headers=reader.headers,
        json={"subscription": {"endpoint": ENDPOINT, "keys": {"p256dh": receiver.p256dh}}},
    )
    assert refused.status_code == 403
    alice = await make_staff(database, settings, "alice")
    bad_key = await client.post(
        "/api/v1/push/subscription",
        headers=alice.headers,
        json={"subscription": {"endpoint": ENDPOINT, "keys": {"p256dh": "abc", "auth": "x"}}},
    )
    assert bad_key.status_code == 422
    bad_policy = await client.post(
        "/api/v1/push/subscription",
        headers=alice.headers,
        json={
            "subscription": {
                "endpoint": ENDPOINT,
                "keys": {"p256dh": receiver.p256dh, "auth": receiver.auth},
            },
            "data": {"policy": "everyone"},
        },
    )
    assert bad_policy.status_code == 422


# --- delivery -----------------------------------------------------------------------------------


async def test_a_mention_arrives_encrypted_and_the_receiver_decrypts_it(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    receiver: PushReceiver,
    worker: PushWorker,
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await subscribe(client, alice, receiver, alerts={"mention": True})
    await mention(client, bob, "alice")
    notification_id = await latest_notification_id(client, alice)

    assert await worker.run_until_idle() == 1
    assert len(receiver.received) == 1
    payload = receiver.received[0]
    assert payload["notification_id"] == notification_id
    assert payload["notification_type"] == "mention"
    assert payload["title"] == "You were mentioned by bob"
    assert "lunch at noon?" in payload["body"]
    assert payload["preferred_locale"] == "en"
    assert payload["icon"].startswith("https://local.test/")


async def test_a_legacy_subscription_gets_the_aesgcm_draft_it_can_decrypt(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    receiver: PushReceiver,
    worker: PushWorker,
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await subscribe(client, alice, receiver, alerts={"follow": True}, standard=False)
    followed = await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    assert followed.is_success

    await worker.run_until_idle()
    assert [p["notification_type"] for p in receiver.received] == ["follow"]
    assert receiver.received[0]["title"] == "bob followed you"


async def test_alerts_the_subscriber_turned_off_are_not_pushed(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    receiver: PushReceiver,
    worker: PushWorker,
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await subscribe(client, alice, receiver, alerts={"mention": True, "follow": False})
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    assert (await client.get("/api/v1/notifications", headers=alice.headers)).json()

    assert await worker.run_until_idle() == 0
    assert receiver.requests == 0


async def test_the_followed_policy_pushes_only_from_people_the_subscriber_follows(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    receiver: PushReceiver,
    worker: PushWorker,
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    await client.post(f"/api/v1/accounts/{carol.id}/follow", headers=alice.headers)
    await subscribe(client, alice, receiver, alerts={"mention": True}, policy="followed")
    await mention(client, bob, "alice")
    await mention(client, carol, "alice")

    await worker.run_until_idle()
    assert [p["title"] for p in receiver.received] == ["You were mentioned by carol"]


async def test_the_none_policy_pushes_nothing(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    receiver: PushReceiver,
    worker: PushWorker,
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await subscribe(client, alice, receiver, alerts={"mention": True}, policy="none")
    await mention(client, bob, "alice")
    assert await worker.run_until_idle() == 0


async def test_a_server_error_is_retried_with_backoff_until_it_succeeds(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    receiver: PushReceiver,
    worker: PushWorker,
    clock: Clock,
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await subscribe(client, alice, receiver, alerts={"mention": True})
    await mention(client, bob, "alice")
    notification_id = int(await latest_notification_id(client, alice))
    receiver.answers = [503, 502]

    assert await worker.run_until_idle() == 1
    async with database.connection() as conn:
        [row] = await push_store.list_push_deliveries(conn, notification_id=notification_id)
    assert row.state == "pending" and row.last_status_code == 503
    assert row.next_attempt_at > clock()  # backed off, not retried at once

    clock.offset += timedelta(seconds=40)
    assert await worker.run_until_idle() == 1
    clock.offset += timedelta(seconds=80)
    assert await worker.run_until_idle() == 1
    async with database.connection() as conn:
        [row] = await push_store.list_push_deliveries(conn, notification_id=notification_id)
    assert row.state == "delivered" and row.attempts == 3
    assert len(receiver.received) == 1 and receiver.requests == 3


async def test_a_gone_subscription_is_deleted(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    receiver: PushReceiver,
    worker: PushWorker,
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await subscribe(client, alice, receiver, alerts={"mention": True})
    await mention(client, bob, "alice")
    receiver.answers = [410]

    await worker.run_until_idle()
    missing = await client.get("/api/v1/push/subscription", headers=alice.headers)
    assert missing.status_code == 404
    await mention(client, bob, "alice")
    assert await worker.run_until_idle() == 0
    assert receiver.requests == 1


async def test_the_background_workers_of_serve_deliver_pushes(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    receiver: PushReceiver,
    worker: PushWorker,
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await subscribe(client, alice, receiver, alerts={"mention": True})
    await mention(client, bob, "alice")
    state = AppState(
        settings=settings,
        database=database,
        urls=LocalUrls(settings),
        services={FEDERATION_CLIENT_SERVICE: worker.client},
    )
    await build_workers(state).run_until_idle()
    assert [payload["notification_type"] for payload in receiver.received] == ["mention"]
