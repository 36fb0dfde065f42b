"""The outgoing delivery queue: one request per inbox, signed, retried, never lost."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest

from federation.delivery import DeliveryNetworkError, DeliveryWorker, domain_of, enqueue
from federation.signatures import RequestSigner, VerificationKey, verify_request
from fediverse.config import Settings
from fediverse.storage.database import Database
from tests.factories import make_staff


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class FakePeers:
    """Stands in for remote inboxes: answers programmed status codes and records requests."""

    def __init__(self) -> None:
        self.answers: dict[str, list[int | Exception]] = {}
        self.requests: list[tuple[str, bytes, RequestSigner, str]] = []

    def program(self, inbox: str, *answers: int | Exception) -> None:
        self.answers[inbox] = list(answers)

    async def post(self, inbox: str, body: bytes, signer: RequestSigner, scheme: str) -> int:
        self.requests.append((inbox, body, signer, scheme))
        queue = self.answers.get(inbox) or [202]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def activity(number: int = 1) -> dict[str, object]:
    return {"id": f"https://local.test/activities/{number}", "type": "Create", "object": {}}


async def queue(
    database: Database, sender_id: int, inbox: str, *, number: int = 1, now: datetime | None = None
) -> None:
    """Queue `activity(number)` for one inbox, in a transaction of its own."""
    async with database.transaction() as conn:
        await enqueue(
            conn, activity=activity(number), sender_account_id=sender_id, inboxes=[inbox], now=now
        )


async def states(database: Database) -> dict[str, str]:
    async with database.connection() as conn:
        rows = await conn.fetch("SELECT inbox_url, state FROM deliveries")
    return {row["inbox_url"]: row["state"] for row in rows}


async def test_shared_inboxes_get_one_request_each(database: Database, settings: Settings) -> None:
    alice = await make_staff(database, settings, "alice")
    inboxes = [
        "https://a.example/inbox",
        "https://a.example/inbox",
        "https://b.example/users/x/inbox",
    ]
    async with database.transaction() as conn:
        count = await enqueue(
            conn, activity=activity(), sender_account_id=alice.account.id, inboxes=inboxes
        )
    assert count == 2
    peers = FakePeers()
    worker = DeliveryWorker(database, peers.post)
    assert await worker.run_until_idle() == 2
    assert sorted(r[0] for r in peers.requests) == [
        "https://a.example/inbox",
        "https://b.example/users/x/inbox",
    ]
    assert set((await states(database)).values()) == {"delivered"}


async def test_requests_are_signed_with_the_senders_key(
    database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    async with database.transaction() as conn:
        await enqueue(
            conn,
            activity=activity(),
            sender_account_id=alice.account.id,
            inboxes=["https://a.example/inbox"],
        )
    peers = FakePeers()
    await DeliveryWorker(database, peers.post).run_until_idle()
    inbox, body, signer, scheme = peers.requests[0]
    assert scheme == "draft-cavage"
    assert signer.key_id == alice.account.public_key_id
    headers = signer.sign("POST", inbox, body, scheme=scheme)
    assert alice.account.public_key_pem is not None
    verified = verify_request(
        "POST",
        inbox,
        headers,
        body,
        VerificationKey(alice.account.public_key_id or "", alice.account.public_key_pem),
    )
    assert verified.key_id == alice.account.public_key_id


async def test_server_errors_are_retried_with_backoff_until_delivered(
    database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    clock = Clock()
    inbox = "https://down.example/inbox"
    await queue(database, alice.account.id, inbox, now=clock.now)
    peers = FakePeers()
    peers.program(inbox, 503, DeliveryNetworkError("connection refused"), 202)
    worker = DeliveryWorker(database, peers.post, clock=clock, rng=random.Random(1))
    assert await worker.run_until_idle() == 1
    assert (await states(database))[inbox] == "pending"
    assert await worker.run_until_idle() == 0  # not due yet: backoff holds it
    clock.advance(timedelta(minutes=1))
    assert await worker.run_until_idle() == 1
    assert (await states(database))[inbox] == "pending"
    clock.advance(timedelta(minutes=2))
    assert await worker.run_until_idle() == 1
    assert (await states(database))[inbox] == "delivered"
    assert len(peers.requests) == 3


@pytest.mark.parametrize("code", [400, 403, 404, 410, 422])
async def test_permanent_client_errors_are_not_retried(
    database: Database, settings: Settings, code: int
) -> None:
    alice = await make_staff(database, settings, "alice")
    clock = Clock()
    inbox = "https://strict.example/inbox"
    await queue(database, alice.account.id, inbox, now=clock.now)
    peers = FakePeers()
    peers.program(inbox, code)
    worker = DeliveryWorker(database, peers.post, clock=clock)
    await worker.run_until_idle()
    clock.advance(timedelta(hours=7))
    assert await worker.run_until_idle() == 0
    assert (await states(database))[inbox] == "failed"
    assert len(peers.requests) == 1


@pytest.mark.parametrize("code", [408, 429])
async def test_timeouts_and_rate_limits_are_retried(
    database: Database, settings: Settings, code: int
) -> None:
    alice = await make_staff(database, settings, "alice")
    clock = Clock()
    inbox = "https://busy.example/inbox"
    await queue(database, alice.account.id, inbox, now=clock.now)
    peers = FakePeers()
    peers.program(inbox, code, 202)
    worker = DeliveryWorker(database, peers.post, clock=clock)
    await worker.run_until_idle()
    clock.advance(timedelta(minutes=1))
    await worker.run_until_idle()
    assert (await states(database))[inbox] == "delivered"


async def test_unauthorized_cavage_is_retried_with_rfc9421_and_remembered(
    database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    inbox = "https://modern.example/inbox"
    peers = FakePeers()

    async def post(inbox_url: str, body: bytes, signer: RequestSigner, scheme: str) -> int:
        peers.requests.append((inbox_url, body, signer, scheme))
        return 202 if scheme == "rfc9421" else 401

    await queue(database, alice.account.id, inbox, number=1)
    await DeliveryWorker(database, post).run_until_idle()
    assert [r[3] for r in peers.requests] == ["draft-cavage", "rfc9421"]
    await queue(database, alice.account.id, inbox, number=2)
    # A new worker (another process) reads the remembered scheme from the database.
    await DeliveryWorker(database, post).run_until_idle()
    assert [r[3] for r in peers.requests] == ["draft-cavage", "rfc9421", "rfc9421"]
    assert set((await states(database)).values()) == {"delivered"}


async def test_deliveries_expire_after_the_retry_window(
    database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    clock = Clock()
    inbox = "https://gone.example/inbox"
    await queue(database, alice.account.id, inbox, now=clock.now)
    peers = FakePeers()
    peers.program(inbox, 502)
    worker = DeliveryWorker(database, peers.post, clock=clock)
    for _ in range(40):
        await worker.run_until_idle()
        clock.advance(timedelta(hours=6, minutes=30))
        if (await states(database))[inbox] != "pending":
            break
    assert (await states(database))[inbox] == "failed"
    assert clock.now - datetime(2026, 11, 25, 12, 0, tzinfo=UTC) <= timedelta(days=3)


async def test_a_killed_worker_loses_no_delivery(database: Database, settings: Settings) -> None:
    alice = await make_staff(database, settings, "alice")
    clock = Clock()
    inbox = "https://slow.example/inbox"
    await queue(database, alice.account.id, inbox, now=clock.now)
    started = asyncio.Event()

    async def hang(inbox_url: str, body: bytes, signer: RequestSigner, scheme: str) -> int:
        started.set()
        await asyncio.sleep(3600)
        return 202

    doomed = DeliveryWorker(database, hang, clock=clock)
    task = asyncio.ensure_future(doomed.run_once())
    await started.wait()
    task.cancel()  # the process dies mid-request
    with pytest.raises(asyncio.CancelledError):
        await task
    peers = FakePeers()
    survivor = DeliveryWorker(database, peers.post, clock=clock)
    assert await survivor.run_until_idle() == 0  # still leased to the dead worker
    clock.advance(timedelta(minutes=6))
    assert await survivor.run_until_idle() == 1
    assert (await states(database))[inbox] == "delivered"


async def test_domains_failing_on_several_days_are_skipped_until_a_success(
    database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    clock = Clock()
    inbox = "https://flaky.example/inbox"
    peers = FakePeers()
    peers.program(inbox, DeliveryNetworkError("timeout"))
    worker = DeliveryWorker(database, peers.post, clock=clock)
    for day in range(3):
        await queue(database, alice.account.id, inbox, number=day, now=clock.now)
        await worker.run_until_idle()
        clock.advance(timedelta(days=1))
    await queue(database, alice.account.id, inbox, number=99, now=clock.now)
    async with database.connection() as conn:
        state = await conn.fetchval(
            "SELECT state FROM deliveries WHERE activity_id = $1", activity(99)["id"]
        )
    assert state == "skipped"
    # An older delivery still retrying gets through: the domain is reachable again.
    peers.program(inbox, 202)
    for _ in range(10):
        clock.advance(timedelta(hours=6))
        await worker.run_until_idle()
    async with database.transaction() as conn:
        assert await conn.fetchval("SELECT count(*) FROM unreachable_domains") == 0
        await enqueue(
            conn,
            activity=activity(100),
            sender_account_id=alice.account.id,
            inboxes=[inbox],
            now=clock.now,
        )
        state = await conn.fetchval(
            "SELECT state FROM deliveries WHERE activity_id = $1", activity(100)["id"]
        )
    assert state == "pending"


def test_domains_are_named_as_mastodon_names_them() -> None:
    assert domain_of("https://Example.COM./inbox") == "example.com"
    assert domain_of("https://example.com:443/inbox") == "example.com"
    assert domain_of("http://localhost:8001/inbox") == "localhost:8001"
    assert domain_of("https://example.com:8443/inbox") == "example.com:8443"
    # As the federation policy names them, so a rule on an internationalized name applies.
    assert domain_of("https://Bücher.example/inbox") == "xn--bcher-kva.example"
