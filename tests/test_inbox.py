"""Inboxes over HTTP: signatures verified before anything is stored, 202, dedupe by id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from federation.inbox_worker import InboxWorker
from federation.signatures import sign_rfc9421
from fediverse.config import Settings
from fediverse.storage.database import Database
from tests.factories import make_staff
from tests.inbox_peers import AS2, FakePeers, keypair, make_worker, note, signed_headers, wrap

BOB = "https://remote.example/users/bob"
CAROL = "https://remote.example/users/carol"


@pytest.fixture
async def peers(settings: Settings, app: Any) -> AsyncIterator[FakePeers]:
    fake = FakePeers(settings)
    fake.actor(BOB)
    fake.actor(CAROL, key=1)
    app.state.fediverse.services["federation_client"] = fake.client
    yield fake
    await fake.aclose()


async def post(
    client: httpx.AsyncClient,
    activity: dict[str, Any],
    *,
    path: str = "/inbox",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> httpx.Response:
    raw = orjson.dumps(activity) if body is None else body
    signed = headers or signed_headers(activity["actor"], raw, url=f"https://local.test{path}")
    return await client.post(path, content=raw, headers=signed)


async def stored_count(database: Database) -> int:
    async with database.connection() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM inbox_activities"))


async def test_a_signed_delivery_is_accepted_then_processed(
    client: httpx.AsyncClient, database: Database, settings: Settings, peers: FakePeers
) -> None:
    activity = wrap("Create", BOB, note(BOB, 1))
    response = await post(client, activity)
    assert response.status_code == 202
    assert await stored_count(database) == 1
    assert await make_worker(database, peers, settings).run_until_idle() == 1
    async with database.connection() as conn:
        row = await conn.fetchrow("SELECT processed_at, last_error FROM inbox_activities")
        status = await conn.fetchval("SELECT uri FROM statuses")
    assert row["processed_at"] is not None and row["last_error"] is None
    assert status == activity["object"]["id"]


async def test_a_personal_inbox_accepts_and_an_unknown_user_is_404(
    client: httpx.AsyncClient, database: Database, settings: Settings, peers: FakePeers
) -> None:
    await make_staff(database, settings, "alice")
    ok = await post(client, wrap("Follow", BOB, "https://local.test/users/alice"),
                    path="/users/alice/inbox")  # fmt: skip
    missing = await post(client, wrap("Follow", BOB, "https://local.test/users/ghost"),
                         path="/users/ghost/inbox")  # fmt: skip
    assert (ok.status_code, missing.status_code) == (202, 404)
    assert await stored_count(database) == 1


async def test_an_rfc9421_signed_delivery_is_accepted(
    client: httpx.AsyncClient, database: Database, peers: FakePeers
) -> None:
    activity = wrap("Like", BOB, "https://local.test/users/alice/statuses/1")
    raw = orjson.dumps(activity)
    headers = sign_rfc9421(
        "POST", "https://local.test/inbox", raw, key_id=f"{BOB}#main-key",
        private_key_pem=keypair(0)[0],
    )  # fmt: skip
    response = await post(client, activity, headers={**headers, "Content-Type": AS2})
    assert response.status_code == 202
    assert await stored_count(database) == 1


def _tamper_body(activity: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = orjson.dumps(activity)
    headers = signed_headers(BOB, raw)
    return raw.replace(b"Hello", b"Hellx"), headers


def _wrong_digest(activity: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = orjson.dumps(activity)
    headers = signed_headers(BOB, raw)
    return raw, {**headers, "Digest": "SHA-256=" + "A" * 43 + "="}


def _stale(activity: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = orjson.dumps(activity)
    return raw, signed_headers(BOB, raw, now=datetime.now(UTC) - timedelta(hours=3))


def _future(activity: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = orjson.dumps(activity)
    return raw, signed_headers(BOB, raw, now=datetime.now(UTC) + timedelta(hours=3))


def _someone_elses_key(activity: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = orjson.dumps(activity)
    # Carol signs correctly, with her own key, an activity that claims Bob as its actor.
    return raw, signed_headers(CAROL, raw, key=1)


def _unsupported_algorithm(activity: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = orjson.dumps(activity)
    headers = signed_headers(BOB, raw)
    headers["Signature"] = headers["Signature"].replace(
        'algorithm="rsa-sha256"', 'algorithm="hmac-sha256"'
    )
    return raw, headers


def _other_path(activity: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = orjson.dumps(activity)
    return raw, signed_headers(BOB, raw, url="https://local.test/users/bob/inbox")


def _other_host(activity: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = orjson.dumps(activity)
    return raw, signed_headers(BOB, raw, url="https://elsewhere.test/inbox")


def _unsigned(activity: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    return orjson.dumps(activity), {"Content-Type": AS2}


def _digest_not_signed(activity: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    from federation.signatures import sign_cavage

    raw = orjson.dumps(activity)
    headers = sign_cavage("GET", "https://local.test/inbox", None, key_id=f"{BOB}#main-key",
                          private_key_pem=keypair(0)[0])  # fmt: skip
    return raw, headers


@pytest.mark.parametrize(
    "forge",
    [
        _tamper_body,
        _wrong_digest,
        _stale,
        _future,
        _someone_elses_key,
        _unsupported_algorithm,
        _other_path,
        _other_host,
        _unsigned,
        _digest_not_signed,
    ],
)
async def test_a_bad_signature_is_401_and_nothing_is_stored(
    client: httpx.AsyncClient, database: Database, peers: FakePeers, forge: Any
) -> None:
    activity = wrap("Create", BOB, note(BOB, 2))
    raw, headers = forge(activity)
    response = await client.post("/inbox", content=raw, headers=headers)
    assert response.status_code == 401, response.text
    assert await stored_count(database) == 0
    async with database.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM statuses") == 0


async def test_malformed_and_oversized_bodies_are_refused(
    client: httpx.AsyncClient, database: Database, peers: FakePeers
) -> None:
    not_json = b"{not json"
    response = await client.post("/inbox", content=not_json, headers=signed_headers(BOB, not_json))
    assert response.status_code == 400
    array = b"[1, 2]"
    assert (
        await client.post("/inbox", content=array, headers=signed_headers(BOB, array))
    ).status_code == 400
    huge = orjson.dumps(wrap("Create", BOB, note(BOB, 3, content="x" * (1024 * 1024))))
    response = await client.post("/inbox", content=huge, headers=signed_headers(BOB, huge))
    assert response.status_code == 413
    assert await stored_count(database) == 0


async def test_a_duplicate_delivery_has_one_effect(
    client: httpx.AsyncClient, database: Database, settings: Settings, peers: FakePeers
) -> None:
    alice = await make_staff(database, settings, "alice")
    posted = await client.post("/api/v1/statuses", headers=alice.headers, data={"status": "hi"})
    like = wrap("Like", BOB, posted.json()["uri"])
    first = await post(client, like)
    await make_worker(database, peers, settings).run_until_idle()
    second = await post(client, like)
    await make_worker(database, peers, settings).run_until_idle()
    assert (first.status_code, second.status_code) == (202, 202)
    assert await stored_count(database) == 1
    async with database.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM favourites") == 1
        assert await conn.fetchval("SELECT count(*) FROM notifications") == 1


async def test_a_delete_from_a_gone_actor_is_accepted_silently(
    client: httpx.AsyncClient, database: Database, peers: FakePeers
) -> None:
    gone = "https://remote.example/users/gone"
    peers.gone.add(gone)
    activity = wrap("Delete", gone, gone)
    response = await post(client, activity)
    assert response.status_code == 202
    assert await stored_count(database) == 0
    # Anything else from an actor whose key cannot be fetched is refused.
    assert (await post(client, wrap("Create", gone, note(gone, 1)))).status_code == 401


async def test_a_failing_peer_makes_the_activity_retry_later_not_vanish(
    client: httpx.AsyncClient, database: Database, settings: Settings, peers: FakePeers
) -> None:
    await make_staff(database, settings, "alice")
    peers.actor("https://flaky.example/users/dan")
    reply = note("https://flaky.example/users/dan", 1)
    activity = wrap("Create", "https://flaky.example/users/dan", reply)
    assert (await post(client, activity)).status_code == 202  # the key is cached now
    # The worker has not stored the account yet (the key came from the resolver only).
    peers.failing.add("https://flaky.example/users/dan")
    now = datetime.now(UTC)
    worker = InboxWorker(database, peers.client, make_worker(database, peers, settings).urls,
                         settings, clock=lambda: now)  # fmt: skip
    await worker.run_until_idle()
    async with database.connection() as conn:
        row = await conn.fetchrow("SELECT processed_at, last_error, attempts FROM inbox_activities")
    assert row["processed_at"] is None and "503" in row["last_error"]
    peers.failing.clear()
    later = InboxWorker(database, peers.client, worker.urls, settings,
                        clock=lambda: now + timedelta(hours=1))  # fmt: skip
    assert await later.run_until_idle() == 1
    async with database.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM statuses") == 1


async def test_only_posts_to_the_exact_inbox_paths_take_the_fast_path(
    client: httpx.AsyncClient, database: Database, peers: FakePeers
) -> None:
    """Other methods and shapes still go through the app's router and middleware."""
    assert (await client.get("/inbox")).status_code == 405
    activity = wrap("Create", BOB, note(BOB, 9))
    raw = orjson.dumps(activity)
    slash = await client.post(
        "/inbox/", content=raw, headers=signed_headers(BOB, raw, url="https://local.test/inbox/")
    )
    assert slash.status_code == 202  # routed without the slash, verified with it (as signed)
    nested = await client.post("/users/a/b/inbox", content=raw, headers=signed_headers(BOB, raw))
    assert nested.status_code == 404
    assert await stored_count(database) == 1
