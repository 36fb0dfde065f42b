"""The inbox queue's claims and groups: one actor's activities are never applied concurrently or
out of order, a group with an odd activity in it still applies the rest, and an activity that
must fetch first holds back only its own actor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from federation import inbox_worker
from federation.activitystreams import PUBLIC
from fediverse.config import Settings
from fediverse.storage import inbox_activities as store
from fediverse.storage.database import Database
from tests.inbox_peers import (
    FakePeers,
    deliver,
    enqueue,
    known_account,
    make_worker,
    note,
    wrap,
)

ANN = "https://one.example/users/ann"
BEN = "https://two.example/users/ben"
CAL = "https://three.example/users/cal"


@pytest.fixture
async def peers(settings: Settings) -> AsyncIterator[FakePeers]:
    fake = FakePeers(settings)
    for uri in (ANN, BEN, CAL):
        fake.actor(uri)
    yield fake
    await fake.aclose()


def _later() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=1)


async def _claimed_actors(conn: Any, limit: int) -> list[str]:
    return [item.actor_uri for item in await store.claim_group(conn, now=_later(), limit=limit)]


async def test_an_actor_is_claimed_by_one_transaction_at_a_time(database: Database) -> None:
    for actor, number in ((ANN, 1), (BEN, 1), (ANN, 2), (CAL, 1)):
        await enqueue(database, wrap("Create", actor, note(actor, number)))
    async with database.transaction() as first, database.transaction() as second:
        assert await _claimed_actors(first, limit=1) == [ANN]
        # Ann's second activity is due, but her first is still being applied elsewhere.
        assert await _claimed_actors(second, limit=10) == [BEN, CAL]
    # Both rolled back: everything is due again, Ann's two in the order received.
    async with database.transaction() as conn:
        claimed = await store.claim_group(conn, now=_later(), limit=10)
    assert [item.actor_uri for item in claimed] == [ANN, BEN, ANN, CAL]
    assert claimed[0].id < claimed[2].id


async def test_a_lease_for_a_fetch_holds_back_that_actor_until_it_runs_out(
    database: Database,
) -> None:
    for actor, number in ((ANN, 1), (ANN, 2), (BEN, 1)):
        await enqueue(database, wrap("Create", actor, note(actor, number)))
    now = _later()
    async with database.transaction() as conn:
        first = (await store.claim_group(conn, now=now, limit=1))[0]
        await store.lease_for_fetch(
            conn, row_id=first.id, lease_until=now + timedelta(minutes=5), attempts=1
        )
    async with database.transaction() as conn:
        assert await _claimed_actors(conn, limit=10) == [BEN]
    # The worker that held the lease died: once it runs out, Ann's activities come due in order.
    async with database.transaction() as conn:
        after = await store.claim_group(conn, now=now + timedelta(minutes=6), limit=10)
    assert next(item.id for item in after if item.actor_uri == ANN) == first.id


async def test_a_group_with_an_ignored_and_a_rejected_activity_applies_the_rest(
    database: Database, settings: Settings, peers: FakePeers
) -> None:
    for uri in (ANN, BEN):
        await known_account(database, peers, uri)
    notes = await deliver(
        database,
        peers,
        settings,
        wrap("Create", ANN, note(ANN, 1)),
        wrap("Delete", BEN, f"{BEN}/statuses/404"),  # never seen: ignored
        wrap("Create", BEN, note(ANN, 2)),  # someone else's post: rejected
        wrap("Create", BEN, note(BEN, 3)),
    )
    assert notes[0] is None and notes[3] is None
    assert notes[1] is not None and notes[1].startswith("ignored")
    assert notes[2] is not None and notes[2].startswith("rejected")
    async with database.connection() as conn:
        uris = {row["uri"] for row in await conn.fetch("SELECT uri FROM statuses")}
        pending = await store.count_pending(conn)
    assert uris == {f"{ANN}/statuses/1", f"{BEN}/statuses/3"}
    assert pending == 0


async def test_a_reply_that_needs_its_parent_fetched_keeps_its_actor_in_order(
    database: Database, settings: Settings, peers: FakePeers
) -> None:
    """Ann replies to a post the server has never seen (a fetch), then deletes the reply; Ben
    posts meanwhile. The Delete must not run before the Create it undoes."""
    for uri in (ANN, BEN):
        await known_account(database, peers, uri)
    parent = peers.serve(note(CAL, 7, to=[PUBLIC]))
    reply = note(ANN, 8, inReplyTo=parent["id"])
    notes = await deliver(
        database,
        peers,
        settings,
        wrap("Create", BEN, note(BEN, 1)),
        wrap("Create", ANN, reply),
        wrap("Delete", ANN, reply["id"]),
        wrap("Create", BEN, note(BEN, 2)),
    )
    assert notes == [None, None, None, None]
    async with database.connection() as conn:
        uris = {row["uri"] for row in await conn.fetch("SELECT uri FROM statuses")}
    assert uris == {parent["id"], f"{BEN}/statuses/1", f"{BEN}/statuses/2"}
    assert parent["id"] in peers.requests


async def test_two_lanes_share_a_small_queue(database: Database) -> None:
    """Each claim tries actor locks only on the rows it walks to: with a short queue (where a
    plain query would sort every due row first) a second lane still gets work."""
    actors = [f"https://many{index}.example/users/someone" for index in range(30)]
    for actor in actors:
        await enqueue(database, wrap("Create", actor, note(actor, 1)))
    async with database.connection() as conn:
        await conn.execute("ANALYZE inbox_activities")  # real statistics: a small table
    async with database.transaction() as first, database.transaction() as second:
        one = await _claimed_actors(first, limit=5)
        other = await _claimed_actors(second, limit=5)
        held = await first.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
    assert one == actors[:5] and other == actors[5:10]
    assert held == 5


async def test_a_group_that_fails_as_a_whole_counts_a_try_and_backs_off(
    database: Database, settings: Settings, peers: FakePeers, monkeypatch: pytest.MonkeyPatch
) -> None:
    await known_account(database, peers, ANN)
    for number in (1, 2):
        await enqueue(database, wrap("Create", ANN, note(ANN, number)))

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("the database went away")

    monkeypatch.setattr(inbox_worker.store, "mark_processed_many", broken)
    worker = make_worker(database, peers, settings)
    assert await worker.run_once() == 2
    async with database.connection() as conn:
        rows = await conn.fetch(
            "SELECT attempts, next_attempt_at, processed_at, last_error FROM inbox_activities"
        )
        statuses = await conn.fetchval("SELECT count(*) FROM statuses")
    assert statuses == 0  # rolled back with the group
    assert [row["attempts"] for row in rows] == [1, 1]
    assert all(row["processed_at"] is None for row in rows)
    assert all(row["next_attempt_at"] > datetime.now(UTC) for row in rows)
    assert all("group failed" in row["last_error"] for row in rows)
    assert await worker.run_once() == 0  # backed off: not straight back
    monkeypatch.undo()
    later = make_worker(database, peers, settings)
    later.clock = lambda: datetime.now(UTC) + timedelta(hours=1)
    assert await later.run_until_idle() == 2
    async with database.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM statuses") == 2


async def test_an_activity_whose_worker_never_finishes_is_given_up(
    database: Database, settings: Settings, peers: FakePeers
) -> None:
    """Each lease for a fetch counts a try; one leased as often as the limit allows (its
    worker died every time) is given up rather than leased forever."""
    await known_account(database, peers, ANN)
    parent = peers.serve(note(CAL, 7))
    await enqueue(database, wrap("Create", ANN, note(ANN, 8, inReplyTo=parent["id"])))
    async with database.transaction() as conn:
        await conn.execute("UPDATE inbox_activities SET attempts = $1", inbox_worker.MAX_ATTEMPTS)
    await make_worker(database, peers, settings).run_until_idle()
    async with database.connection() as conn:
        row = await conn.fetchrow("SELECT processed_at, last_error FROM inbox_activities")
        statuses = await conn.fetchval("SELECT count(*) FROM statuses")
    assert row["processed_at"] is not None and row["last_error"] == "gave up: never finished"
    assert statuses == 0


async def test_an_activity_applied_on_its_own_waits_for_its_actor_and_is_never_applied_twice(
    database: Database, settings: Settings, peers: FakePeers
) -> None:
    await known_account(database, peers, ANN)
    await enqueue(database, wrap("Create", ANN, note(ANN, 1)))
    async with database.transaction() as conn:
        item = (await store.claim_group(conn, now=_later(), limit=1))[0]
    worker = make_worker(database, peers, settings)
    async with database.transaction() as lane:  # a lane holding Ann's actor lock
        await lane.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", store.ACTOR_LOCKS, ANN)
        applying = asyncio.ensure_future(worker.process(item))
        await asyncio.sleep(0.3)
        assert not applying.done()
    await applying
    async with database.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM statuses") == 1
        await conn.execute("DELETE FROM statuses")
    # Its lease ran out and another worker applied it meanwhile: a late `process` does nothing.
    await worker.process(item)
    async with database.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM statuses") == 0


async def test_an_account_changed_earlier_in_a_group_is_read_again(
    database: Database, settings: Settings, peers: FakePeers
) -> None:
    """A group reads its senders' accounts once; an activity that changes an account (here
    the actor deleting itself) must not leave a later one of the group acting on the old row."""
    for uri in (ANN, BEN):
        await known_account(database, peers, uri)
    notes = await deliver(
        database,
        peers,
        settings,
        wrap("Create", BEN, note(BEN, 1)),
        wrap("Delete", ANN, ANN),
        wrap("Create", ANN, note(ANN, 2)),
    )
    assert notes[0] is None and notes[1] is None
    assert notes[2] is not None and notes[2].startswith("rejected")
    async with database.connection() as conn:
        uris = {row["uri"] for row in await conn.fetch("SELECT uri FROM statuses")}
    assert uris == {f"{BEN}/statuses/1"}


async def test_a_group_of_posts_records_one_created_event_each(
    database: Database, settings: Settings, peers: FakePeers
) -> None:
    for uri in (ANN, BEN, CAL):
        await known_account(database, peers, uri)
    posts = [wrap("Create", uri, note(uri, 1)) for uri in (ANN, BEN, CAL)]
    assert await deliver(database, peers, settings, *posts) == [None, None, None]
    async with database.connection() as conn:
        events = await conn.fetch(
            "SELECT e.payload, s.uri FROM domain_events e "
            "JOIN statuses s ON s.id = (e.payload->>'status_id')::bigint "
            "WHERE e.kind = 'status.created' ORDER BY e.id"
        )
    assert [row["uri"] for row in events] == [post["object"]["id"] for post in posts]


@pytest.fixture
def storing(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """Records how many posts each INSERT of statuses carried, and which groups needed the
    careful pass (the real code still runs)."""
    from fediverse.storage import remote_statuses as remote_store

    seen: dict[str, list[int]] = {"inserts": [], "careful": []}
    insert, careful = remote_store.insert_remote_statuses, inbox_worker.InboxWorker._apply_carefully

    async def counting_insert(conn: Any, *, rows: list[Any]) -> Any:
        seen["inserts"].append(len(rows))
        return await insert(conn, rows=rows)

    async def counting_careful(self: Any, conn: Any, items: list[Any], policy: Any) -> Any:
        seen["careful"].append(len(items))
        return await careful(self, conn, items, policy)

    monkeypatch.setattr(remote_store, "insert_remote_statuses", counting_insert)
    monkeypatch.setattr(inbox_worker.InboxWorker, "_apply_carefully", counting_careful)
    return seen


async def _apply_as_one_group(
    database: Database, settings: Settings, peers: FakePeers, activities: list[dict[str, Any]]
) -> None:
    for activity in activities:
        await enqueue(database, activity)
    worker = inbox_worker.InboxWorker(
        database, peers.client, make_worker(database, peers, settings).urls, settings, lanes=1
    )
    assert await worker.run_until_idle() == len(activities)


async def test_a_run_of_new_posts_is_stored_with_one_insert(
    database: Database, settings: Settings, peers: FakePeers, storing: dict[str, list[int]]
) -> None:
    for uri in (ANN, BEN, CAL):
        await known_account(database, peers, uri)
    posts = [wrap("Create", uri, note(uri, n)) for n in (1, 2) for uri in (ANN, BEN, CAL)]
    again = wrap("Create", ANN, note(ANN, 1))  # the same post again, under another activity id
    await _apply_as_one_group(database, settings, peers, [*posts, again])
    assert storing == {"inserts": [7], "careful": []}
    async with database.connection() as conn:
        uris = sorted(row["uri"] for row in await conn.fetch("SELECT uri FROM statuses"))
        addressed = await conn.fetchval("SELECT count(*) FROM status_addressing")
        pending = await store.count_pending(conn)
    assert uris == sorted(post["object"]["id"] for post in posts)
    assert addressed == 6 * 2 and pending == 0  # to: Public, cc: the author's followers


async def test_posts_are_stored_before_an_activity_that_refers_to_them(
    database: Database, settings: Settings, peers: FakePeers, storing: dict[str, list[int]]
) -> None:
    """A like, a reply and a delete of posts from earlier in the same group find them: the
    group still applies in one pass, in order."""
    for uri in (ANN, BEN, CAL):
        await known_account(database, peers, uri)
    first, second = note(ANN, 1), note(BEN, 2)
    reply = note(CAL, 3, inReplyTo=first["id"])
    activities = [
        wrap("Create", ANN, first),
        wrap("Create", BEN, second),
        wrap("Like", CAL, first["id"]),
        wrap("Create", CAL, reply),
        wrap("Create", CAL, note(CAL, 4)),
        wrap("Delete", BEN, second["id"]),
    ]
    await _apply_as_one_group(database, settings, peers, activities)
    assert storing["careful"] == []
    assert storing["inserts"] == [2, 1, 1]  # the two posts; the reply; the last post
    async with database.connection() as conn:
        rows = await conn.fetch(
            "SELECT s.uri, s.favourites_count, p.uri AS parent FROM statuses s "
            "LEFT JOIN statuses p ON p.id = s.in_reply_to_id ORDER BY s.uri"
        )
    assert [(r["uri"], r["favourites_count"], r["parent"]) for r in rows] == [
        (first["id"], 1, None),
        (reply["id"], 0, first["id"]),
        (f"{CAL}/statuses/4", 0, None),
    ]


async def test_a_group_whose_own_statement_fails_is_applied_one_by_one(
    database: Database,
    settings: Settings,
    peers: FakePeers,
    storing: dict[str, list[int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not only an activity's failure: if a statement of the one pass itself fails (here the
    group's events written together), the group is redone activity by activity."""
    from fediverse.storage import events as event_store

    real = event_store.insert_events

    async def no_batches(conn: Any, *, events: list[Any]) -> None:
        if len(events) > 1:
            raise RuntimeError("the group's events could not be written")
        await real(conn, events=events)

    monkeypatch.setattr(event_store, "insert_events", no_batches)
    for uri in (ANN, BEN):
        await known_account(database, peers, uri)
    posts = [wrap("Create", ANN, note(ANN, 1)), wrap("Create", BEN, note(BEN, 1))]
    await _apply_as_one_group(database, settings, peers, posts)
    assert storing["careful"] == [2]
    async with database.connection() as conn:
        created = await conn.fetchval(
            "SELECT count(*) FROM domain_events WHERE kind = 'status.created'"
        )
        rows = await conn.fetch("SELECT processed_at, last_error, attempts FROM inbox_activities")
    assert created == 2
    assert all(r["processed_at"] and r["last_error"] is None and r["attempts"] == 0 for r in rows)
