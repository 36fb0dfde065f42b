"""Publishing: domain events become activities delivered to exactly the right remote inboxes."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from federation.activitystreams import PUBLIC
from federation.publishing import MAX_ATTEMPTS, Publisher
from fediverse import ids
from fediverse import relationships as relationship_domain
from fediverse.config import Settings
from fediverse.storage import events as event_store
from fediverse.storage import relationships as relationship_store
from fediverse.storage import statuses as status_store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Database
from fediverse.storage.remote_accounts import upsert_remote_account
from fediverse.urls import LocalUrls
from tests.factories import StaffMember, make_staff

FIXTURES = Path(__file__).parent / "fixtures"
REMOTE_KEY: dict[str, str] = json.loads(
    (FIXTURES / "httpsig" / "rfc9421-appendix-b1-test-keys.json").read_text()
)["keys"]["test-key-rsa"]


# --- helpers (also used by tests/test_objects.py) ---------------------------------------------


async def make_remote(
    database: Database,
    username: str,
    domain: str,
    *,
    shared_inbox: bool = True,
    actor_type: str = "Person",
) -> Account:
    """A peer's account as the inbox would store it, with a known public key."""
    uri = f"https://{domain}/users/{username}"
    columns: dict[str, Any] = {
        "inbox_url": f"{uri}/inbox",
        "followers_url": f"{uri}/followers",
        "public_key_id": f"{uri}#main-key",
        "public_key_pem": REMOTE_KEY["public_key_pem"],
        "actor_type": actor_type,
    }
    if shared_inbox:
        columns["shared_inbox_url"] = f"https://{domain}/inbox"
    async with database.transaction() as conn:
        return await upsert_remote_account(
            conn,
            account_id=ids.new_id(),
            uri=uri,
            username=username,
            domain=domain,
            columns=columns,
            fetched_at=datetime.now(UTC),
        )


async def make_follow(database: Database, follower: Account, target: Account) -> None:
    async with database.transaction() as conn:
        await relationship_store.insert_follow(
            conn,
            follow_id=ids.new_id(),
            account_id=follower.id,
            target_account_id=target.id,
            show_reblogs=True,
            notify=False,
            languages=None,
            uri=f"{follower.uri}#follows/{ids.new_id()}",
        )


async def make_remote_status(database: Database, author: Account, text: str) -> int:
    status_id = ids.new_id()
    async with database.transaction() as conn:
        await status_store.insert_status(
            conn,
            values={
                "id": status_id,
                "uri": f"{author.uri}/statuses/{status_id}",
                "url": f"https://{author.domain}/@{author.username}/{status_id}",
                "account_id": author.id,
                "local": False,
                "text": text,
                "content": f"<p>{text}</p>",
                "visibility": "public",
            },
        )
    return status_id


async def post(
    client: httpx.AsyncClient, staff: StaffMember, text: str, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/statuses", json={"status": text, **fields}, headers=staff.headers
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Sent:
    inbox: str
    activity: dict[str, Any]
    status_id: int | None
    sender_account_id: int | None


async def deliveries(database: Database) -> list[Sent]:
    async with database.connection() as conn:
        rows = await conn.fetch(
            "SELECT inbox_url, body, status_id, sender_account_id FROM deliveries ORDER BY id"
        )
    return [Sent(row[0], orjson.loads(row[1]), row[2], row[3]) for row in rows]


def of_type(sent: list[Sent], kind: str) -> list[Sent]:
    return [item for item in sent if item.activity["type"] == kind]


def publisher(database: Database, settings: Settings) -> Publisher:
    return Publisher(database, LocalUrls(settings), settings)


async def publish(database: Database, settings: Settings) -> list[Sent]:
    """Run the publisher until idle, drop what it sent, return what it sent."""
    await publisher(database, settings).run_until_idle()
    sent = await deliveries(database)
    async with database.connection() as conn:
        await conn.execute("DELETE FROM deliveries")
    return sent


async def unprocessed_events(database: Database) -> int:
    async with database.connection() as conn:
        return int(
            await conn.fetchval("SELECT count(*) FROM domain_events WHERE processed_at IS NULL")
        )


# --- statuses ---------------------------------------------------------------------------------


async def test_a_public_post_goes_once_to_each_shared_inbox_of_its_remote_followers(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    local_follower = await make_staff(database, settings, "carol")
    await make_follow(database, local_follower.account, alice.account)
    for name, domain, shared in [
        ("b1", "one.example", True),
        ("b2", "one.example", True),
        ("b3", "one.example", True),
        ("c1", "two.example", True),
        ("d1", "three.example", False),
        ("d2", "three.example", False),
    ]:
        await make_follow(
            database, await make_remote(database, name, domain, shared_inbox=shared), alice.account
        )
    status = await post(client, alice, "Hello, fediverse")

    sent = await publish(database, settings)

    assert sorted(item.inbox for item in sent) == [
        "https://one.example/inbox",
        "https://three.example/users/d1/inbox",
        "https://three.example/users/d2/inbox",
        "https://two.example/inbox",
    ]
    create = sent[0].activity
    assert all(item.activity == create for item in sent)
    assert create["type"] == "Create"
    assert create["id"] == f"{create['object']['id']}/activity"
    assert create["to"] == [PUBLIC]
    assert create["cc"] == ["https://local.test/users/alice/followers"]
    assert create["object"]["content"] == status["content"]
    assert {item.status_id for item in sent} == {int(status["id"])}
    assert {item.sender_account_id for item in sent} == {alice.account.id}
    assert await unprocessed_events(database) == 0


async def test_a_private_post_reaches_only_follower_inboxes_and_the_mentioned(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    follower = await make_remote(database, "bob", "one.example")
    await make_follow(database, follower, alice.account)
    mentioned = await make_remote(database, "dan", "two.example")
    await make_remote(database, "eve", "three.example")  # a stranger: gets nothing
    await post(client, alice, "Friends and @dan@two.example only", visibility="private")

    sent = await publish(database, settings)

    assert sorted(item.inbox for item in sent) == [
        "https://one.example/inbox",
        "https://two.example/inbox",
    ]
    create = sent[0].activity
    assert create["to"] == ["https://local.test/users/alice/followers"]
    assert create["cc"] == [mentioned.uri]
    assert PUBLIC not in create["object"]["to"] + create["object"]["cc"]


async def test_a_direct_post_reaches_only_the_mentioned(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await make_follow(database, await make_remote(database, "bob", "one.example"), alice.account)
    dan = await make_remote(database, "dan", "two.example", shared_inbox=False)
    await post(client, alice, "Psst @dan@two.example", visibility="direct")

    sent = await publish(database, settings)

    assert [item.inbox for item in sent] == ["https://two.example/users/dan/inbox"]
    assert sent[0].activity["to"] == [dan.uri]
    assert sent[0].activity["cc"] == []


async def test_an_internal_post_and_its_boosts_and_likes_produce_no_activity_at_all(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    carol = await make_staff(database, settings, "carol")
    for author in (alice, carol):
        remote = await make_remote(database, f"fan_of_{author.account.username}", "one.example")
        await make_follow(database, remote, author.account)
    mentioned = await make_remote(database, "dan", "two.example")
    status = await post(client, alice, "Staff only, @dan@two.example", local_only=True)
    async with database.connection() as conn:
        stored = await status_store.fetch_status(conn, status_id=int(status["id"]))
    assert stored is not None and stored.local_only
    for action in ("reblog", "favourite"):
        response = await client.post(
            f"/api/v1/statuses/{status['id']}/{action}", headers=carol.headers
        )
        assert response.status_code == 200, response.text
    await client.put(
        f"/api/v1/statuses/{status['id']}", json={"status": "edited"}, headers=alice.headers
    )
    await client.post(f"/api/v1/statuses/{status['id']}/unreblog", headers=carol.headers)
    await client.delete(f"/api/v1/statuses/{status['id']}", headers=alice.headers)

    async with database.connection() as conn:
        kinds = {row[0] for row in await conn.fetch("SELECT kind FROM domain_events")}
    assert {"status.created", "reblog.created", "favourite.created", "status.deleted"} <= kinds

    sent = await publish(database, settings)

    assert sent == []
    assert await unprocessed_events(database) == 0
    async with database.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM deliveries") == 0
    assert mentioned.domain == "two.example"


async def test_a_public_reply_to_a_remote_post_also_goes_to_the_parent_author(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_remote(database, "bob", "one.example", shared_inbox=False)
    parent_id = await make_remote_status(database, bob, "Question?")
    await post(client, alice, "Answer.", in_reply_to_id=str(parent_id))

    sent = await publish(database, settings)

    assert [item.inbox for item in sent] == ["https://one.example/users/bob/inbox"]
    assert sent[0].activity["object"]["inReplyTo"] == f"{bob.uri}/statuses/{parent_id}"


async def test_an_edit_sends_an_update_with_the_updated_time_to_the_same_audience(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await make_follow(database, await make_remote(database, "bob", "one.example"), alice.account)
    status = await post(client, alice, "First draft")
    await publish(database, settings)
    response = await client.put(
        f"/api/v1/statuses/{status['id']}", json={"status": "Second draft"}, headers=alice.headers
    )
    assert response.status_code == 200, response.text

    sent = await publish(database, settings)

    assert [item.inbox for item in sent] == ["https://one.example/inbox"]
    update = sent[0].activity
    assert update["type"] == "Update"
    assert update["id"].startswith(f"{status['uri']}#updates/")
    assert update["object"]["id"] == status["uri"]
    assert "Second draft" in update["object"]["content"]
    assert update["object"]["updated"].endswith("Z")
    assert sent[0].status_id == int(status["id"])


async def test_a_deleted_post_sends_a_tombstone_to_followers_and_the_mentioned(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await make_follow(database, await make_remote(database, "bob", "one.example"), alice.account)
    await make_remote(database, "dan", "two.example")
    status = await post(client, alice, "Oops @dan@two.example")
    await publish(database, settings)
    response = await client.delete(f"/api/v1/statuses/{status['id']}", headers=alice.headers)
    assert response.status_code == 200, response.text

    sent = await publish(database, settings)

    assert sorted(item.inbox for item in sent) == [
        "https://one.example/inbox",
        "https://two.example/inbox",
    ]
    delete = sent[0].activity
    assert delete["type"] == "Delete"
    assert delete["id"] == f"{status['uri']}#delete"
    assert delete["actor"] == "https://local.test/users/alice"
    assert delete["object"] == {"id": status["uri"], "type": "Tombstone", "atomUri": status["uri"]}
    assert sent[0].status_id == int(status["id"])


async def test_deleting_a_private_reply_tells_only_those_who_received_it(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await make_follow(database, await make_remote(database, "carol", "one.example"), alice.account)
    bob = await make_remote(database, "bob", "two.example", shared_inbox=False)
    parent_id = await make_remote_status(database, bob, "Question?")
    status = await post(
        client,
        alice,
        "Answer for my followers.",
        in_reply_to_id=str(parent_id),
        visibility="private",
    )
    created = await publish(database, settings)
    response = await client.delete(f"/api/v1/statuses/{status['id']}", headers=alice.headers)
    assert response.status_code == 200, response.text

    deleted = await publish(database, settings)

    assert [item.inbox for item in created] == ["https://one.example/inbox"]
    assert [item.inbox for item in deleted] == ["https://one.example/inbox"]
    assert deleted[0].activity["type"] == "Delete"


# --- boosts and likes -------------------------------------------------------------------------


async def test_a_boost_announces_to_the_boosters_followers_and_the_original_author(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await make_follow(database, await make_remote(database, "fan", "two.example"), alice.account)
    bob = await make_remote(database, "bob", "one.example", shared_inbox=False)
    original_id = await make_remote_status(database, bob, "Boost me")
    response = await client.post(f"/api/v1/statuses/{original_id}/reblog", headers=alice.headers)
    assert response.status_code == 200, response.text
    boost = response.json()

    sent = await publish(database, settings)

    assert sorted(item.inbox for item in sent) == [
        "https://one.example/users/bob/inbox",
        "https://two.example/inbox",
    ]
    announce = sent[0].activity
    assert announce["type"] == "Announce"
    assert announce["id"] == boost["uri"]
    assert announce["id"].endswith("/activity")
    assert announce["object"] == f"{bob.uri}/statuses/{original_id}"
    assert announce["to"] == [PUBLIC]
    assert announce["cc"] == [bob.uri, "https://local.test/users/alice/followers"]
    assert sent[0].status_id == int(boost["id"])

    await client.post(f"/api/v1/statuses/{original_id}/unreblog", headers=alice.headers)
    undo = await publish(database, settings)

    assert sorted(item.inbox for item in undo) == sorted(item.inbox for item in sent)
    assert undo[0].activity["type"] == "Undo"
    assert undo[0].activity["object"]["type"] == "Announce"
    assert undo[0].activity["object"]["id"] == boost["uri"]


async def test_a_like_goes_to_the_remote_authors_own_inbox_and_an_unlike_undoes_it(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await make_follow(database, await make_remote(database, "fan", "two.example"), alice.account)
    bob = await make_remote(database, "bob", "one.example")
    status_id = await make_remote_status(database, bob, "Like me")
    await client.post(f"/api/v1/statuses/{status_id}/favourite", headers=alice.headers)

    sent = await publish(database, settings)

    assert [item.inbox for item in sent] == ["https://one.example/users/bob/inbox"]
    like = sent[0].activity
    assert like["type"] == "Like"
    assert like["actor"] == "https://local.test/users/alice"
    assert like["id"].startswith("https://local.test/users/alice#likes/")
    assert like["object"] == f"{bob.uri}/statuses/{status_id}"

    await client.post(f"/api/v1/statuses/{status_id}/unfavourite", headers=alice.headers)
    undo = await publish(database, settings)

    assert [item.inbox for item in undo] == ["https://one.example/users/bob/inbox"]
    assert undo[0].activity["type"] == "Undo"
    assert undo[0].activity["id"] != like["id"]
    assert undo[0].activity["object"]["type"] == "Like"
    assert undo[0].activity["object"]["object"] == like["object"]


async def test_likes_and_boosts_of_local_posts_by_local_accounts_send_nothing(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    carol = await make_staff(database, settings, "carol")
    status = await post(client, alice, "In-house")
    await client.post(f"/api/v1/statuses/{status['id']}/favourite", headers=carol.headers)

    assert await publish(database, settings) == []
    assert await unprocessed_events(database) == 0


# --- follows, blocks, profile -----------------------------------------------------------------


async def test_following_a_peer_sends_a_follow_and_unfollowing_undoes_that_same_follow(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_remote(database, "bob", "one.example")
    response = await client.post(f"/api/v1/accounts/{bob.id}/follow", headers=alice.headers)
    assert response.status_code == 200, response.text

    sent = await publish(database, settings)

    assert [item.inbox for item in sent] == ["https://one.example/users/bob/inbox"]
    follow = sent[0].activity
    assert follow["type"] == "Follow"
    assert follow["actor"] == "https://local.test/users/alice"
    assert follow["object"] == bob.uri
    assert follow["id"].startswith("https://local.test/users/alice#follows/")
    async with database.connection() as conn:
        request = await relationship_store.fetch_follow_request(
            conn, account_id=alice.account.id, target_account_id=bob.id
        )
    assert request is not None and request.uri == follow["id"]

    await client.post(f"/api/v1/accounts/{bob.id}/unfollow", headers=alice.headers)
    undo = await publish(database, settings)

    assert [item.inbox for item in undo] == ["https://one.example/users/bob/inbox"]
    assert undo[0].activity["type"] == "Undo"
    assert undo[0].activity["id"] == f"{follow['id']}/undo"
    assert undo[0].activity["object"] == {
        "id": follow["id"],
        "type": "Follow",
        "actor": follow["actor"],
        "object": bob.uri,
    }


async def test_following_another_local_account_sends_nothing(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    carol = await make_staff(database, settings, "carol")
    await client.post(f"/api/v1/accounts/{carol.account.id}/follow", headers=alice.headers)

    assert await publish(database, settings) == []
    assert await unprocessed_events(database) == 0


@pytest.mark.parametrize("answer", ["authorize", "reject"])
async def test_answering_a_peers_follow_request_sends_accept_or_reject_to_the_peer(
    client: httpx.AsyncClient, database: Database, settings: Settings, answer: str
) -> None:
    alice = await make_staff(database, settings, "alice", locked=True)
    bob = await make_remote(database, "bob", "one.example")
    follow_uri = "https://one.example/d3b07384-d9a0-4c9b-8c3f-2f1d1e2a0b5c"
    async with database.transaction() as conn:
        accepted = await relationship_domain.receive_follow(
            conn, follower=bob, target=alice.account, uri=follow_uri
        )
    assert accepted is False
    assert await publish(database, settings) == []  # a pending request says nothing yet

    response = await client.post(
        f"/api/v1/follow_requests/{bob.id}/{answer}", headers=alice.headers
    )
    assert response.status_code == 200, response.text
    sent = await publish(database, settings)

    assert [item.inbox for item in sent] == ["https://one.example/users/bob/inbox"]
    activity = sent[0].activity
    kind, fragment = ("Accept", "accepts") if answer == "authorize" else ("Reject", "rejects")
    assert activity["type"] == kind
    assert activity["actor"] == "https://local.test/users/alice"
    assert activity["id"].startswith(f"https://local.test/users/alice#{fragment}/follows/")
    assert activity["object"] == {
        "id": follow_uri,
        "type": "Follow",
        "actor": bob.uri,
        "object": "https://local.test/users/alice",
    }


async def test_an_unlocked_account_accepts_a_peers_follow_at_once(
    database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_remote(database, "bob", "one.example", shared_inbox=False)
    async with database.transaction() as conn:
        await relationship_domain.receive_follow(
            conn, follower=bob, target=alice.account, uri="https://one.example/follows/1"
        )

    sent = await publish(database, settings)

    assert [(item.inbox, item.activity["type"]) for item in sent] == [
        ("https://one.example/users/bob/inbox", "Accept")
    ]
    assert sent[0].activity["object"]["id"] == "https://one.example/follows/1"


async def test_blocking_a_peer_sends_block_and_unblocking_sends_undo_block(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_remote(database, "bob", "one.example")
    await make_follow(database, bob, alice.account)
    await client.post(f"/api/v1/accounts/{bob.id}/block", headers=alice.headers)

    sent = await publish(database, settings)

    by_type = {item.activity["type"]: item for item in sent}
    assert set(by_type) == {"Reject", "Block"}  # the follower is removed, as Mastodon does
    block = by_type["Block"]
    assert block.inbox == "https://one.example/users/bob/inbox"
    assert block.activity["id"].startswith("https://local.test/users/alice#blocks/")
    assert block.activity["object"] == bob.uri
    assert by_type["Reject"].inbox == "https://one.example/users/bob/inbox"

    await client.post(f"/api/v1/accounts/{bob.id}/unblock", headers=alice.headers)
    undo = await publish(database, settings)

    assert [item.inbox for item in undo] == ["https://one.example/users/bob/inbox"]
    assert undo[0].activity["type"] == "Undo"
    assert undo[0].activity["object"]["type"] == "Block"
    assert undo[0].activity["object"]["object"] == bob.uri


async def test_a_profile_change_sends_update_person_to_every_remote_follower_server(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    for name, domain in [("b1", "one.example"), ("b2", "one.example"), ("c", "two.example")]:
        await make_follow(database, await make_remote(database, name, domain), alice.account)
    response = await client.patch(
        "/api/v1/accounts/update_credentials",
        data={"display_name": "Alice A."},
        headers=alice.headers,
    )
    assert response.status_code == 200, response.text

    sent = await publish(database, settings)

    assert sorted(item.inbox for item in sent) == [
        "https://one.example/inbox",
        "https://two.example/inbox",
    ]
    update = sent[0].activity
    assert update["type"] == "Update"
    assert update["to"] == [PUBLIC]
    assert update["object"]["type"] == "Person"
    assert update["object"]["id"] == "https://local.test/users/alice"
    assert update["object"]["name"] == "Alice A."
    assert "BEGIN PUBLIC KEY" in update["object"]["publicKey"]["publicKeyPem"]


# --- durability -------------------------------------------------------------------------------


async def test_a_crash_before_commit_replays_the_events_into_exactly_one_set_of_deliveries(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    for name, domain in [("b1", "one.example"), ("b2", "one.example"), ("c", "two.example")]:
        await make_follow(database, await make_remote(database, name, domain), alice.account)
    await post(client, alice, "Durable")
    worker = publisher(database, settings)

    class Crash(Exception):
        pass

    with pytest.raises(Crash):
        async with database.transaction() as conn:
            for event in await event_store.claim_events(conn, limit=10):
                await worker._process(conn, event)
            assert len(await conn.fetch("SELECT id FROM deliveries")) == 2
            raise Crash()
    assert await deliveries(database) == []
    assert await unprocessed_events(database) == 1

    await worker.run_until_idle()
    first = await deliveries(database)
    # A replay of an already-published event (e.g. processed_at lost) adds nothing either.
    async with database.connection() as conn:
        await conn.execute("UPDATE domain_events SET processed_at = NULL")
    await worker.run_until_idle()
    second = await deliveries(database)

    assert sorted(item.inbox for item in first) == [
        "https://one.example/inbox",
        "https://two.example/inbox",
    ]
    assert second == first
    assert await unprocessed_events(database) == 0


async def test_two_publishers_never_publish_the_same_event_twice(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await make_follow(database, await make_remote(database, "bob", "one.example"), alice.account)
    for number in range(6):
        await post(client, alice, f"Post {number}")
    workers = [Publisher(database, LocalUrls(settings), settings, batch_size=2) for _ in range(3)]

    await asyncio.gather(*(worker.run_until_idle() for worker in workers))

    sent = await deliveries(database)
    assert len(sent) == 6
    assert len({item.activity["id"] for item in sent}) == 6


async def test_run_forever_publishes_as_soon_as_an_event_is_recorded(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await make_follow(database, await make_remote(database, "bob", "one.example"), alice.account)
    stop = asyncio.Event()
    # A long poll interval: only the NOTIFY can wake the loop in time.
    task = asyncio.create_task(publisher(database, settings).run_forever(stop, idle_poll=60))
    try:
        await asyncio.sleep(0.2)  # let it LISTEN
        await post(client, alice, "Wake up")
        for _ in range(250):
            if await deliveries(database):
                break
            await asyncio.sleep(0.02)
        assert [item.inbox for item in await deliveries(database)] == ["https://one.example/inbox"]
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)


async def test_a_failing_event_is_retried_then_set_aside_without_holding_up_the_others(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await make_follow(database, await make_remote(database, "bob", "one.example"), alice.account)
    await client.patch(
        "/api/v1/accounts/update_credentials", data={"note": "Hi"}, headers=alice.headers
    )
    await post(client, alice, "Still delivered")

    class BrokenProfiles(Publisher):
        async def render_event(self, conn: Any, event: Any) -> list[Any]:
            if event.kind == "account.updated":
                raise RuntimeError("renderer broke")
            return await super().render_event(conn, event)

    await BrokenProfiles(database, LocalUrls(settings), settings).run_until_idle()

    sent = await deliveries(database)
    assert [item.activity["type"] for item in sent] == ["Create"]
    async with database.connection() as conn:
        row = await conn.fetchrow(
            "SELECT attempts, last_error, processed_at FROM domain_events "
            "WHERE kind = 'account.updated'"
        )
    assert row["attempts"] == MAX_ATTEMPTS
    assert "renderer broke" in row["last_error"]
    assert row["processed_at"] is not None
    assert await unprocessed_events(database) == 0
