"""Group commit of accepted activities (federation.inbox.InboxWriter): requests that arrive
together share one INSERT, yet each is answered for itself, repeats count once, and one
activity PostgreSQL refuses fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from federation import inbox
from federation.inbox import InboxWriter
from fediverse import ids
from fediverse.config import Settings
from fediverse.errors import ValidationError
from fediverse.storage import inbox_activities
from fediverse.storage.database import Database
from fediverse.storage.inbox_activities import NewActivity
from tests.inbox_peers import FakePeers, make_worker, note, signed_headers, wrap

BOB = "https://remote.example/users/bob"


@pytest.fixture
async def peers(settings: Settings, app: Any) -> AsyncIterator[FakePeers]:
    fake = FakePeers(settings)
    fake.actor(BOB)
    app.state.fediverse.services["federation_client"] = fake.client
    yield fake
    await fake.aclose()


def _activity(number: int, *, content: str = "<p>hi</p>", key: str | None = None) -> NewActivity:
    document = wrap("Create", BOB, note(BOB, number, content=content))
    return NewActivity(
        row_id=ids.new_id(),
        activity_id=key or document["id"],
        actor_uri=BOB,
        activity_type="Create",
        payload=document,
    )


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every INSERT the writer makes (the real statement still runs)."""
    sizes: list[int] = []
    real = inbox_activities.insert_activities

    async def counting(conn: Any, *, activities: list[NewActivity], **kwargs: Any) -> set[str]:
        sizes.append(len(activities))
        return await real(conn, activities=activities, **kwargs)

    monkeypatch.setattr(inbox.inbox_activities, "insert_activities", counting)
    return sizes


async def test_activities_arriving_together_share_one_insert(
    database: Database, batches: list[int]
) -> None:
    writer = InboxWriter(database)
    items = [_activity(n) for n in range(20)]
    results = await asyncio.gather(*(writer.store(item) for item in items))
    assert results == [True] * 20
    assert batches == [20]
    async with database.connection() as conn:
        stored = await conn.fetch("SELECT activity_id, payload FROM inbox_activities")
    assert {row["activity_id"] for row in stored} == {item.activity_id for item in items}
    assert all(row["payload"]["actor"] == BOB for row in stored)


async def test_a_batch_is_at_most_max_batch_activities(
    database: Database, batches: list[int]
) -> None:
    writer = InboxWriter(database, max_batch=8)
    results = await asyncio.gather(*(writer.store(_activity(n)) for n in range(20)))
    assert results == [True] * 20 and batches == [8, 8, 4]


async def test_a_repeat_in_one_batch_or_a_later_one_is_a_duplicate(database: Database) -> None:
    writer = InboxWriter(database)
    first, again = (
        _activity(1, key="https://remote.example/a/1"),
        _activity(2, key="https://remote.example/a/1"),
    )
    results = await asyncio.gather(writer.store(_activity(0)), writer.store(first),
                                   writer.store(again))  # fmt: skip
    assert results == [True, True, False]
    assert await writer.store(_activity(3, key="https://remote.example/a/1")) is False
    async with database.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM inbox_activities") == 2


async def test_one_activity_postgresql_refuses_fails_alone(
    database: Database, batches: list[int]
) -> None:
    writer = InboxWriter(database)
    good = [_activity(n) for n in range(4)]
    bad = _activity(9, key="https://remote.example/a/nul\u0000")  # text cannot hold U+0000
    results = await asyncio.gather(
        *(writer.store(item) for item in [*good[:2], bad, *good[2:]]), return_exceptions=True
    )
    assert results[:2] == [True, True] and results[3:] == [True, True]
    assert isinstance(results[2], ValidationError)
    assert batches == [5, 1, 1, 1, 1, 1]  # the batch, then one by one
    async with database.connection() as conn:
        ids_stored = {
            r["activity_id"] for r in await conn.fetch("SELECT activity_id FROM inbox_activities")
        }
    assert ids_stored == {item.activity_id for item in good}


async def test_concurrent_deliveries_over_http_each_apply_once(
    client: httpx.AsyncClient, database: Database, settings: Settings, peers: FakePeers
) -> None:
    activities = [wrap("Create", BOB, note(BOB, n)) for n in range(12)]
    bodies = [orjson.dumps(a) for a in activities] + [orjson.dumps(activities[3])]
    responses = await asyncio.gather(
        *(client.post("/inbox", content=body, headers=signed_headers(BOB, body)) for body in bodies)
    )
    assert [r.status_code for r in responses] == [202] * 13
    await make_worker(database, peers, settings).run_until_idle()
    async with database.connection() as conn:
        uris = [r["uri"] for r in await conn.fetch("SELECT uri FROM statuses ORDER BY uri")]
    assert uris == sorted(a["object"]["id"] for a in activities)


async def test_a_nul_character_is_a_400_and_the_server_keeps_serving(
    client: httpx.AsyncClient, database: Database, peers: FakePeers
) -> None:
    bad = orjson.dumps(wrap("Create", BOB, note(BOB, 1, content="a\u0000b")))
    good = orjson.dumps(wrap("Create", BOB, note(BOB, 2)))
    refused = await client.post("/inbox", content=bad, headers=signed_headers(BOB, bad))
    accepted = await client.post("/inbox", content=good, headers=signed_headers(BOB, good))
    assert refused.status_code == 400 and "cannot be stored" in refused.json()["error"]
    assert accepted.status_code == 202
    async with database.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM inbox_activities") == 1


async def test_an_unreachable_database_fails_the_whole_batch_at_once(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    async def unreachable(conn: Any, *, activities: list[NewActivity], **kwargs: Any) -> set[str]:
        calls.append(len(activities))
        raise ConnectionResetError("the database went away")

    monkeypatch.setattr(inbox.inbox_activities, "insert_activities", unreachable)
    writer = InboxWriter(database)
    results = await asyncio.gather(
        *(writer.store(_activity(n)) for n in range(6)), return_exceptions=True
    )
    assert all(isinstance(result, ConnectionResetError) for result in results)
    assert calls == [6]  # not retried one by one behind the other requests


def test_only_short_urls_are_cached() -> None:
    from federation.activitystreams import host_of
    from fediverse.federation_rules import domain_of_url

    long_url = "https://peer.example/" + "a" * 100_000
    for function in (host_of, domain_of_url):
        before = function.cache_info()
        assert function(long_url) == "peer.example" and function(long_url) == "peer.example"
        after = function.cache_info()
        assert (after.hits, after.misses) == (before.hits, before.misses)  # never looked up
        short_url = f"https://Peer.Example/users/{id(function)}"
        assert function(short_url) == function(short_url) == "peer.example"
        assert function.cache_info().hits == before.hits + 1  # the second call came from it


async def test_an_activity_is_read_back_as_the_text_received(
    client: httpx.AsyncClient, database: Database, peers: FakePeers
) -> None:
    """Numbers are kept as sent: `1e308` must not come back as 309 digits (nor `1e-16383`,
    which the parser reads as 0, as 16,385 characters), or one activity could make every
    claim of the queue read gigabytes."""
    activity = wrap("Create", BOB, note(BOB, 1))
    body = orjson.dumps(activity)[:-1] + b',"n":[' + b",".join([b"1e308", b"1e-16383"] * 50) + b"]}"
    response = await client.post("/inbox", content=body, headers=signed_headers(BOB, body))
    assert response.status_code == 202
    async with database.connection() as conn:
        stored = await conn.fetchval("SELECT payload::text FROM inbox_activities")
        claimed = await conn.fetchval("SELECT octet_length(payload::text) FROM inbox_activities")
    assert stored.encode() == body and claimed == len(body)


async def test_an_overlong_id_is_refused_alone(
    client: httpx.AsyncClient, database: Database, peers: FakePeers
) -> None:
    long_id = wrap("Create", BOB, note(BOB, 1))
    long_id["id"] = f"{BOB}/activities/" + "x" * 3000
    good = wrap("Create", BOB, note(BOB, 2))
    bodies = [orjson.dumps(long_id), orjson.dumps(good)]
    responses = await asyncio.gather(
        *(client.post("/inbox", content=b, headers=signed_headers(BOB, b)) for b in bodies)
    )
    assert [r.status_code for r in responses] == [400, 202]
    assert "longer than 2048" in responses[0].json()["error"]
    async with database.connection() as conn:
        assert await conn.fetchval("SELECT activity_id FROM inbox_activities") == good["id"]
