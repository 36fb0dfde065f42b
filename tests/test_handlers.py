"""Inbox handlers: what each activity from a peer does, with origin checks and idempotency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from federation.activitystreams import PUBLIC
from fediverse.config import Settings
from fediverse.storage import accounts as account_store
from fediverse.storage import reports as report_store
from fediverse.storage.database import Database
from tests.factories import StaffMember, make_staff
from tests.inbox_peers import FakePeers, deliver, known_account, note, wrap

BOB = "https://remote.example/users/bob"
CAROL = "https://remote.example/users/carol"
MALLORY = "https://evil.example/users/mallory"
DAN = "https://other.example/users/dan"
LOCAL = "https://local.test/users"


@pytest.fixture
async def peers(settings: Settings, app: Any) -> AsyncIterator[FakePeers]:
    fake = FakePeers(settings)
    for uri in (BOB, CAROL, MALLORY, DAN):
        fake.actor(uri)
    app.state.fediverse.services["federation_client"] = fake.client
    yield fake
    await fake.aclose()


async def account_id_of(database: Database, uri: str) -> int:
    async with database.connection() as conn:
        account = await account_store.fetch_account_by_uri(conn, uri=uri)
    assert account is not None
    return account.id


async def follow_remote(
    database: Database, peers: FakePeers, settings: Settings, local: StaffMember, remote: str
) -> None:
    """`local` follows `remote` (as after an Accept)."""
    from fediverse.relationships import follow

    target = await known_account(database, peers, remote)
    async with database.transaction() as conn:
        await follow(conn, account=local.account, target=target)
        await conn.execute(
            "INSERT INTO follows (id, account_id, target_account_id) "
            "SELECT id, account_id, target_account_id FROM follow_requests "
            "WHERE account_id = $1 AND target_account_id = $2",
            local.account.id,
            target.id,
        )
        await conn.execute("DELETE FROM follow_requests WHERE account_id = $1", local.account.id)


async def notifications(client: httpx.AsyncClient, member: StaffMember) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/notifications", headers=member.headers)
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


async def status_by_uri(database: Database, uri: str) -> Any:
    async with database.connection() as conn:
        return await conn.fetchrow("SELECT * FROM statuses WHERE uri = $1", uri)


# --- follows ------------------------------------------------------------------------------------


async def test_a_follow_of_an_unlocked_account_is_accepted_and_an_accept_is_due(
    database: Database, settings: Settings, peers: FakePeers
) -> None:
    alice = await make_staff(database, settings, "alice")
    follow = wrap("Follow", BOB, f"{LOCAL}/alice")
    assert await deliver(database, peers, settings, follow) == [None]
    bob_id = await account_id_of(database, BOB)
    async with database.connection() as conn:
        row = await conn.fetchrow(
            "SELECT uri FROM follows WHERE account_id = $1 AND target_account_id = $2",
            bob_id,
            alice.account.id,
        )
        events = await conn.fetch(
            "SELECT payload FROM domain_events WHERE kind = 'follow.accepted'"
        )
    assert row is not None and row["uri"] == follow["id"]
    assert [e["payload"]["uri"] for e in events] == [follow["id"]]


async def test_a_follow_of_a_locked_account_becomes_a_request_with_a_notification(
    database: Database, settings: Settings, peers: FakePeers, client: httpx.AsyncClient
) -> None:
    alice = await make_staff(database, settings, "alice", locked=True)
    await deliver(database, peers, settings, wrap("Follow", BOB, f"{LOCAL}/alice"))
    async with database.connection() as conn:
        follows = await conn.fetchval("SELECT count(*) FROM follows")
        requests = await conn.fetchval("SELECT count(*) FROM follow_requests")
    assert (follows, requests) == (0, 1)
    assert [n["type"] for n in await notifications(client, alice)] == ["follow_request"]
    assert (await notifications(client, alice))[0]["account"]["acct"] == "bob@remote.example"


async def test_a_follow_of_an_unknown_local_account_is_ignored(
    database: Database, settings: Settings, peers: FakePeers
) -> None:
    [outcome] = await deliver(database, peers, settings, wrap("Follow", BOB, f"{LOCAL}/ghost"))
    assert outcome is not None and outcome.startswith("ignored: Follow target")


async def test_accept_confirms_and_reject_drops_our_pending_follow(
    database: Database, settings: Settings, peers: FakePeers
) -> None:
    from fediverse.relationships import follow

    alice = await make_staff(database, settings, "alice")
    for uri in (BOB, CAROL):
        target = await known_account(database, peers, uri)
        async with database.transaction() as conn:
            await follow(conn, account=alice.account, target=target)
    ours = {"type": "Follow", "actor": f"{LOCAL}/alice"}
    outcomes = await deliver(
        database,
        peers,
        settings,
        wrap("Accept", BOB, {**ours, "id": "https://local.test/f/1", "object": BOB}),
        wrap("Reject", CAROL, {**ours, "id": "https://local.test/f/2", "object": CAROL}),
        # Mallory cannot accept a Follow addressed to Carol.
        wrap("Accept", MALLORY, {**ours, "id": "https://local.test/f/2", "object": CAROL}),
    )
    assert outcomes[:2] == [None, None]
    assert outcomes[2] == "rejected: only the followed actor may answer a Follow"
    async with database.connection() as conn:
        follows = await conn.fetch("SELECT target_account_id FROM follows")
        requests = await conn.fetchval("SELECT count(*) FROM follow_requests")
    assert [r["target_account_id"] for r in follows] == [await account_id_of(database, BOB)]
    assert requests == 0


async def test_undo_follow_ends_the_follow(
    database: Database, settings: Settings, peers: FakePeers
) -> None:
    await make_staff(database, settings, "alice")
    follow = wrap("Follow", BOB, f"{LOCAL}/alice")
    undo = wrap("Undo", BOB, follow)
    await deliver(database, peers, settings, follow, undo)
    async with database.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM follows") == 0


# --- posts and their audiences -----------------------------------------------------------------


async def test_a_public_note_from_a_followed_account_reaches_the_home_timeline(
    database: Database, settings: Settings, peers: FakePeers, client: httpx.AsyncClient
) -> None:
    alice = await make_staff(database, settings, "alice")
    await follow_remote(database, peers, settings, alice, BOB)
    post = note(
        BOB,
        1,
        content='<p>Hi <script>alert(1)</script><a href="https://x.example" onclick="x()">'
        "x</a></p>",
        summary="cw",
        sensitive=True,
        contentMap={"de": "<p>Hallo</p>"},
        tag=[{"type": "Hashtag", "name": "#Fediverse", "href": "https://remote.example/tags/f"}],
        attachment=[
            {
                "type": "Document",
                "mediaType": "image/png",
                "url": "https://remote.example/media/1.png",
                "name": "a cat",
                "blurhash": "UBL_:rOpGG-oBUNG,qRj2so|=eE1w^n4S5NH",
                "focalPoint": [0.5, -0.25],
            }
        ],
    )
    assert await deliver(database, peers, settings, wrap("Create", BOB, post)) == [None]
    home = await client.get("/api/v1/timelines/home", headers=alice.headers)
    [status] = home.json()
    assert status["uri"] == post["id"]
    assert status["account"]["acct"] == "bob@remote.example"
    assert "<script>" not in status["content"] and "onclick" not in status["content"]
    assert status["spoiler_text"] == "cw" and status["sensitive"] is True
    assert status["language"] == "de"
    assert status["visibility"] == "public"
    assert [t["name"] for t in status["tags"]] == ["fediverse"]
    [media] = status["media_attachments"]
    assert media["remote_url"] == "https://remote.example/media/1.png"
    assert media["type"] == "image" and media["description"] == "a cat"


async def test_a_followers_only_note_is_seen_by_followers_only(
    database: Database, settings: Settings, peers: FakePeers, client: httpx.AsyncClient
) -> None:
    alice = await make_staff(database, settings, "alice")
    dave = await make_staff(database, settings, "dave")
    await follow_remote(database, peers, settings, alice, BOB)
    post = note(BOB, 2, to=[f"{BOB}/followers"], cc=[])
    await deliver(database, peers, settings, wrap("Create", BOB, post, to=post["to"]))
    row = await status_by_uri(database, post["id"])
    assert row["visibility"] == "private"
    seen = await client.get(f"/api/v1/statuses/{row['id']}", headers=alice.headers)
    hidden = await client.get(f"/api/v1/statuses/{row['id']}", headers=dave.headers)
    assert seen.status_code == 200 and hidden.status_code == 404
    home = await client.get("/api/v1/timelines/home", headers=alice.headers)
    assert [s["uri"] for s in home.json()] == [post["id"]]


async def test_a_direct_note_shows_only_to_its_recipient_and_notifies_them(
    database: Database, settings: Settings, peers: FakePeers, client: httpx.AsyncClient
) -> None:
    alice = await make_staff(database, settings, "alice")
    dave = await make_staff(database, settings, "dave")
    post = note(
        BOB,
        3,
        content='<p><span class="h-card"><a href="https://local.test/@alice">@alice</a></span></p>',
        to=[f"{LOCAL}/alice"],
        cc=[],
        tag=[{"type": "Mention", "href": f"{LOCAL}/alice", "name": "@alice@local.test"}],
    )
    await deliver(database, peers, settings, wrap("Create", BOB, post))
    row = await status_by_uri(database, post["id"])
    assert row["visibility"] == "direct"
    assert (
        await client.get(f"/api/v1/statuses/{row['id']}", headers=alice.headers)
    ).status_code == 200
    assert (
        await client.get(f"/api/v1/statuses/{row['id']}", headers=dave.headers)
    ).status_code == 404
    assert (await client.get(f"/api/v1/statuses/{row['id']}")).status_code == 404
    [mention] = await notifications(client, alice)
    assert mention["type"] == "mention" and mention["status"]["uri"] == post["id"]
    assert await notifications(client, dave) == []


async def test_a_reply_fetches_its_missing_parent_from_its_origin_up_to_a_bounded_depth(
    database: Database, settings: Settings, peers: FakePeers
) -> None:
    chain = [note(CAROL, 10)]
    for number in range(11, 19):
        chain.append(note(CAROL, number, inReplyTo=chain[-1]["id"]))
    for document in chain:
        peers.serve(document)
    reply = note(BOB, 20, inReplyTo=chain[-1]["id"])
    await deliver(database, peers, settings, wrap("Create", BOB, reply))
    stored = await status_by_uri(database, reply["id"])
    parent = await status_by_uri(database, chain[-1]["id"])
    assert stored["in_reply_to_id"] == parent["id"]
    async with database.connection() as conn:
        count = await conn.fetchval("SELECT count(*) FROM statuses WHERE uri LIKE $1", f"{CAROL}%")
    assert count == 5  # MAX_PARENT_DEPTH ancestors, no more
    root = await status_by_uri(database, chain[-5]["id"])
    assert root["in_reply_to_id"] is None and root["in_reply_to_uri"] == chain[-6]["id"]


async def test_a_note_attributed_to_someone_else_is_rejected(
    database: Database, settings: Settings, peers: FakePeers
) -> None:
    post = note(BOB, 4) | {"attributedTo": CAROL}
    [outcome] = await deliver(database, peers, settings, wrap("Create", BOB, post))
    assert outcome == f"rejected: attributedTo '{CAROL}' is not the actor {BOB}"
    assert await status_by_uri(database, post["id"]) is None


async def test_an_embedded_object_from_another_host_is_refetched_never_trusted(
    database: Database, settings: Settings, peers: FakePeers
) -> None:
    forged = note(BOB, 5, content="<p>forged</p>") | {"attributedTo": MALLORY}
    forged["id"] = "https://remote.example/users/bob/statuses/5"
    # Mallory (evil.example) embeds a post claiming to live on remote.example.
    [outcome] = await deliver(database, peers, settings, wrap("Create", MALLORY, forged))
    assert outcome is not None and outcome.startswith("rejected: cannot fetch")
    assert "https://remote.example/users/bob/statuses/5" in peers.requests
    assert await status_by_uri(database, forged["id"]) is None
    # Served by its origin, the real post is what is checked: it is Bob's, not Mallory's.
    peers.serve(note(BOB, 5, content="<p>genuine</p>"))
    again = wrap("Create", MALLORY, forged)
    [outcome] = await deliver(database, peers, settings, again)
    assert outcome == (
        f"rejected: object {forged['id']} is not on the host of its author {MALLORY}"
    )


async def test_an_update_keeps_the_history_and_the_date(
    database: Database, settings: Settings, peers: FakePeers, client: httpx.AsyncClient
) -> None:
    alice = await make_staff(database, settings, "alice")
    post = note(BOB, 6, content="<p>first</p>")
    await deliver(database, peers, settings, wrap("Create", BOB, post))
    edited = post | {"content": "<p>second</p>", "updated": "2024-01-02T05:00:00Z"}
    update = wrap("Update", BOB, edited)
    forged = wrap("Update", CAROL, post | {"content": "<p>carol was here</p>"})
    outcomes = await deliver(database, peers, settings, update, forged)
    assert outcomes[0] is None
    assert outcomes[1] is not None and outcomes[1].startswith("rejected:")
    row = await status_by_uri(database, post["id"])
    shown = (await client.get(f"/api/v1/statuses/{row['id']}", headers=alice.headers)).json()
    assert shown["content"] == "<p>second</p>"
    assert shown["created_at"].startswith("2024-01-02T03:04:05")
    assert shown["edited_at"] is not None
    history = await client.get(f"/api/v1/statuses/{row['id']}/history", headers=alice.headers)
    assert [v["content"] for v in history.json()] == ["<p>first</p>", "<p>second</p>"]
    # The same edit again changes nothing.
    await deliver(database, peers, settings, wrap("Update", BOB, edited))
    again = await client.get(f"/api/v1/statuses/{row['id']}/history", headers=alice.headers)
    assert len(again.json()) == 2


async def test_delete_removes_the_post_only_when_its_author_asks(
    database: Database, settings: Settings, peers: FakePeers
) -> None:
    post = note(BOB, 7)
    await deliver(database, peers, settings, wrap("Create", BOB, post))
    tombstone = {"id": post["id"], "type": "Tombstone"}
    # Delivered one after the other: activities of different actors may apply in any order.
    outcomes = [
        *await deliver(database, peers, settings, wrap("Delete", CAROL, tombstone)),
        *await deliver(database, peers, settings, wrap("Delete", BOB, tombstone)),
    ]
    assert outcomes == ["rejected: only the author may delete a status", None]
    assert await status_by_uri(database, post["id"]) is None


async def test_an_actor_deleting_itself_is_suspended_and_its_posts_go(
    database: Database, settings: Settings, peers: FakePeers
) -> None:
    await deliver(database, peers, settings, wrap("Create", BOB, note(BOB, 8)))
    assert await deliver(database, peers, settings, wrap("Delete", BOB, BOB)) == [None]
    async with database.connection() as conn:
        account = await account_store.fetch_account_by_uri(conn, uri=BOB)
        count = await conn.fetchval("SELECT count(*) FROM statuses")
    assert account is not None and account.suspended_at is not None
    assert count == 0


async def test_likes_and_boosts_notify_the_local_author_once(
    database: Database, settings: Settings, peers: FakePeers, client: httpx.AsyncClient
) -> None:
    alice = await make_staff(database, settings, "alice")
    posted = await client.post("/api/v1/statuses", headers=alice.headers, data={"status": "hi"})
    uri = posted.json()["uri"]
    like = wrap("Like", BOB, uri)
    announce = wrap("Announce", BOB, uri, to=[PUBLIC], cc=[f"{BOB}/followers"])
    await deliver(database, peers, settings, like, announce)
    await deliver(database, peers, settings, wrap("Like", BOB, uri))  # a second Like, new id
    kinds = sorted(n["type"] for n in await notifications(client, alice))
    assert kinds == ["favourite", "reblog"]
    shown = (
        await client.get(f"/api/v1/statuses/{posted.json()['id']}", headers=alice.headers)
    ).json()
    assert (shown["favourites_count"], shown["reblogs_count"]) == (1, 1)


async def test_an_internal_post_cannot_be_liked_or_boosted_from_outside(
    database: Database, settings: Settings, peers: FakePeers, client: httpx.AsyncClient
) -> None:
    alice = await make_staff(database, settings, "alice")
    posted = await client.post(
        "/api/v1/statuses", headers=alice.headers, data={"status": "hi", "visibility": "local"}
    )
    assert posted.json()["local_only"] is True
    uri = posted.json()["uri"]
    outcomes = await deliver(
        database,
        peers,
        settings,
        wrap("Like", BOB, uri),
        wrap("Announce", BOB, uri, to=[PUBLIC]),
    )
    assert all(outcome is not None and outcome.startswith("ignored:") for outcome in outcomes)
    assert await notifications(client, alice) == []
    shown = (
        await client.get(f"/api/v1/statuses/{posted.json()['id']}", headers=alice.headers)
    ).json()
    assert (shown["favourites_count"], shown["reblogs_count"]) == (0, 0)


async def test_a_blocked_peer_can_neither_like_nor_boost(
    database: Database, settings: Settings, peers: FakePeers, client: httpx.AsyncClient
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await known_account(database, peers, BOB)
    posted = await client.post("/api/v1/statuses", headers=alice.headers, data={"status": "hi"})
    blocked = await client.post(f"/api/v1/accounts/{bob.id}/block", headers=alice.headers)
    assert blocked.status_code == 200
    uri = posted.json()["uri"]
    outcomes = await deliver(
        database, peers, settings, wrap("Like", BOB, uri), wrap("Announce", BOB, uri, to=[PUBLIC])
    )
    assert all(outcome is not None and outcome.startswith("ignored:") for outcome in outcomes)
    shown = (
        await client.get(f"/api/v1/statuses/{posted.json()['id']}", headers=alice.headers)
    ).json()
    assert (shown["favourites_count"], shown["reblogs_count"]) == (0, 0)


async def test_undo_by_someone_other_than_the_owner_is_ignored(
    database: Database, settings: Settings, peers: FakePeers, client: httpx.AsyncClient
) -> None:
    alice = await make_staff(database, settings, "alice")
    posted = await client.post("/api/v1/statuses", headers=alice.headers, data={"status": "hi"})
    uri = posted.json()["uri"]
    like = wrap("Like", BOB, uri)
    announce = wrap("Announce", BOB, uri, to=[PUBLIC])
    await deliver(database, peers, settings, like, announce)
    outcomes = await deliver(
        database,
        peers,
        settings,
        wrap("Undo", CAROL, like),
        wrap("Undo", CAROL, like["id"]),
        wrap("Undo", CAROL, announce["id"]),
    )
    assert outcomes[0] == "rejected: Undo of an activity by another actor"
    assert outcomes[1] is not None and outcomes[1].startswith("rejected:")
    assert outcomes[2] is not None and outcomes[2].startswith("rejected:")
    shown = (
        await client.get(f"/api/v1/statuses/{posted.json()['id']}", headers=alice.headers)
    ).json()
    assert (shown["favourites_count"], shown["reblogs_count"]) == (1, 1)
    # The owner may undo both, by embedded activity or by id.
    await deliver(
        database, peers, settings, wrap("Undo", BOB, like), wrap("Undo", BOB, announce["id"])
    )
    shown = (
        await client.get(f"/api/v1/statuses/{posted.json()['id']}", headers=alice.headers)
    ).json()
    assert (shown["favourites_count"], shown["reblogs_count"]) == (0, 0)


async def test_a_boost_of_an_unknown_post_fetches_it_from_its_origin(
    database: Database, settings: Settings, peers: FakePeers, client: httpx.AsyncClient
) -> None:
    alice = await make_staff(database, settings, "alice")
    await follow_remote(database, peers, settings, alice, BOB)
    original = peers.serve(note(DAN, 30, content="<p>from dan</p>"))
    # The embedded copy (another host than Bob's) is not trusted: the origin's is stored.
    embedded = original | {"content": "<p>tampered</p>"}
    await deliver(database, peers, settings, wrap("Announce", BOB, embedded, to=[PUBLIC]))
    [boost] = (await client.get("/api/v1/timelines/home", headers=alice.headers)).json()
    assert boost["reblog"]["uri"] == original["id"]
    assert boost["reblog"]["content"] == "<p>from dan</p>"


async def test_a_block_ends_follows_both_ways(
    database: Database, settings: Settings, peers: FakePeers
) -> None:
    alice = await make_staff(database, settings, "alice")
    await follow_remote(database, peers, settings, alice, BOB)
    await deliver(database, peers, settings, wrap("Follow", BOB, f"{LOCAL}/alice"))
    async with database.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM follows") == 2
    await deliver(database, peers, settings, wrap("Block", BOB, f"{LOCAL}/alice"))
    async with database.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM follows") == 0
        assert await conn.fetchval("SELECT count(*) FROM blocks") == 1


async def test_move_makes_local_followers_follow_the_new_account_when_it_confirms(
    database: Database, settings: Settings, peers: FakePeers
) -> None:
    alice = await make_staff(database, settings, "alice")
    await follow_remote(database, peers, settings, alice, BOB)
    new = "https://new.example/users/bob"
    peers.actor(new, also_known_as=[])
    move = wrap("Move", BOB, BOB, target=new)
    [outcome] = await deliver(database, peers, settings, move)
    assert outcome == f"rejected: {new} does not list {BOB} in alsoKnownAs"
    peers.actor(new, also_known_as=[BOB])
    assert await deliver(database, peers, settings, wrap("Move", BOB, BOB, target=new)) == [None]
    new_id = await account_id_of(database, new)
    async with database.connection() as conn:
        follows = await conn.fetchval(
            "SELECT count(*) FROM follows WHERE account_id = $1", alice.account.id
        )
        requested = await conn.fetchval(
            "SELECT count(*) FROM follow_requests WHERE account_id = $1 AND target_account_id = $2",
            alice.account.id,
            new_id,
        )
    assert (follows, requested) == (0, 1)


async def test_a_flag_becomes_a_report_for_moderators(
    database: Database, settings: Settings, peers: FakePeers, client: httpx.AsyncClient
) -> None:
    alice = await make_staff(database, settings, "alice")
    admin = await make_staff(database, settings, "root", role="admin")
    posted = await client.post("/api/v1/statuses", headers=alice.headers, data={"status": "hi"})
    flag = wrap("Flag", BOB, [f"{LOCAL}/alice", posted.json()["uri"]], content="spam")
    assert await deliver(database, peers, settings, flag) == [None]
    async with database.connection() as conn:
        [report] = await report_store.list_reports_about(conn, target_account_id=alice.account.id)
    assert report.comment == "spam" and report.status_ids == [int(posted.json()["id"])]
    assert report.account_id == await account_id_of(database, BOB)
    async with database.connection() as conn:
        kinds = await conn.fetch(
            "SELECT type FROM notifications WHERE account_id = $1", admin.account.id
        )
    assert [k["type"] for k in kinds] == ["admin.report"]


async def test_a_person_update_refreshes_the_profile_only_from_its_owner(
    database: Database, settings: Settings, peers: FakePeers
) -> None:
    await known_account(database, peers, BOB)
    person = peers.documents[BOB] | {"name": "Robert <script>x</script>", "summary": "<p>hi</p>"}
    outcomes = await deliver(
        database, peers, settings, wrap("Update", BOB, person), wrap("Update", CAROL, person)
    )
    assert outcomes == [None, "rejected: Update of another actor"]
    async with database.connection() as conn:
        account = await account_store.fetch_account_by_uri(conn, uri=BOB)
    assert account is not None and account.display_name == "Robert <script>x</script>"
    assert account.note == "<p>hi</p>"


async def test_unknown_activity_types_are_accepted_and_ignored(
    database: Database, settings: Settings, peers: FakePeers
) -> None:
    [outcome] = await deliver(
        database, peers, settings, wrap("Dislike", BOB, "https://x.example/1")
    )
    assert outcome == "ignored: activity type 'Dislike' is not handled"


# --- domain rules ---------------------------------------------------------------------------------


async def test_a_reject_media_domain_keeps_its_posts_but_not_their_media(
    client: httpx.AsyncClient, database: Database, settings: Settings, peers: FakePeers
) -> None:
    from datetime import UTC, datetime

    from fediverse import federation_rules

    alice = await make_staff(database, settings, "alice")
    await follow_remote(database, peers, settings, alice, BOB)
    await follow_remote(database, peers, settings, alice, DAN)
    async with database.transaction() as conn:
        await federation_rules.block_domain(
            conn,
            domain="remote.example",
            who=federation_rules.Actor(label="test"),
            now=datetime.now(UTC),
            severity="noop",
            reject_media=True,
        )
    image = {
        "type": "Document",
        "mediaType": "image/png",
        "url": "https://remote.example/media/cat.png",
        "name": "a cat",
        "blurhash": "UBL_:rOpGG-oBUNG,qRj2so|=eE1w^n4S5NH",
    }
    await deliver(database, peers, settings, wrap("Create", BOB, note(BOB, 1, attachment=[image])))
    other = {**image, "url": "https://other.example/media/dog.png", "name": "a dog"}
    await deliver(database, peers, settings, wrap("Create", DAN, note(DAN, 1, attachment=[other])))

    home = (await client.get("/api/v1/timelines/home", headers=alice.headers)).json()
    media = {s["account"]["acct"]: s["media_attachments"] for s in home}
    rejected = media["bob@remote.example"]
    assert [(m["type"], m["url"], m["blurhash"]) for m in rejected] == [
        ("unknown", "https://remote.example/media/cat.png", None)
    ]
    assert [(m["type"], m["description"]) for m in media["dan@other.example"]] == [
        ("image", "a dog")
    ]


async def test_a_peers_post_notifies_only_the_followers_who_asked(
    database: Database, settings: Settings, peers: FakePeers, client: httpx.AsyncClient
) -> None:
    alice = await make_staff(database, settings, "alice")
    carl = await make_staff(database, settings, "carl")
    for member in (alice, carl):
        await follow_remote(database, peers, settings, member, BOB)
    async with database.transaction() as conn:
        await conn.execute(
            "UPDATE follows SET notify = true WHERE account_id = $1", alice.account.id
        )
    post = note(BOB, 7, to=[PUBLIC], cc=[f"{BOB}/followers"])
    reply = note(BOB, 8, to=[PUBLIC], cc=[f"{BOB}/followers"], inReplyTo=f"{CAROL}/statuses/1")
    await known_account(database, peers, CAROL)
    peers.serve(note(CAROL, 1, to=[PUBLIC]))
    outcomes = await deliver(
        database, peers, settings, wrap("Create", BOB, post), wrap("Create", BOB, reply)
    )
    assert outcomes == [None, None]
    alices = [(n["type"], n["status"]["uri"]) for n in await notifications(client, alice)]
    assert alices == [("status", post["id"])]  # not the reply to someone else
    assert await notifications(client, carl) == []
