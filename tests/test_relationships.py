"""Follows, follow requests, blocks, mutes and notes, through the Mastodon API and the domain."""

from __future__ import annotations

from typing import Any

import httpx

from fediverse import ids
from fediverse import relationships as relationship_domain
from fediverse.config import Settings
from fediverse.statuses import Draft, PostingContext, post_status
from fediverse.storage import accounts as account_store
from fediverse.storage.database import Database
from fediverse.urls import LocalUrls
from tests.factories import StaffMember, make_staff

RELATIONSHIP_KEYS = {
    "id",
    "following",
    "showing_reblogs",
    "notifying",
    "languages",
    "followed_by",
    "blocking",
    "blocked_by",
    "muting",
    "muting_notifications",
    "muting_expires_at",
    "requested",
    "requested_by",
    "domain_blocking",
    "endorsed",
    "note",
}


async def add_remote_account(database: Database, username: str, domain: str) -> int:
    async with database.transaction() as conn:
        return await account_store.insert_account(
            conn,
            values={
                "id": ids.new_id(),
                "username": username,
                "domain": domain,
                "uri": f"https://{domain}/users/{username}",
                "url": f"https://{domain}/@{username}",
                "inbox_url": f"https://{domain}/users/{username}/inbox",
            },
        )


async def post(
    database: Database, settings: Settings, author: StaffMember, text: str, **draft: Any
) -> str:
    async with database.transaction() as conn:
        status = await post_status(
            conn,
            author=author.account,
            draft=Draft(text=text, **draft),
            ctx=PostingContext(urls=LocalUrls(settings), character_limit=500),
        )
    return str(status.id)


async def events_of(database: Database, kind: str) -> list[dict[str, Any]]:
    async with database.connection() as conn:
        rows = await conn.fetch(
            "SELECT payload FROM domain_events WHERE kind = $1 ORDER BY id", kind
        )
    return [dict(row["payload"]) for row in rows]


async def notifications_of(database: Database, member: StaffMember) -> list[tuple[str, int]]:
    async with database.connection() as conn:
        rows = await conn.fetch(
            "SELECT type, from_account_id FROM notifications WHERE account_id = $1 ORDER BY id",
            member.account.id,
        )
    return [(row["type"], row["from_account_id"]) for row in rows]


async def relationship(
    client: httpx.AsyncClient, viewer: StaffMember, target_id: str
) -> dict[str, Any]:
    response = await client.get(
        "/api/v1/accounts/relationships", params={"id[]": target_id}, headers=viewer.headers
    )
    assert response.status_code == 200, response.text
    [entity] = response.json()
    return entity  # type: ignore[no-any-return]


async def account(client: httpx.AsyncClient, account_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/accounts/{account_id}")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


# --- following ------------------------------------------------------------------------------


async def test_following_an_unlocked_colleague_is_immediate_and_notifies_them(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")

    response = await client.post(f"/api/v1/accounts/{bob.id}/follow", headers=alice.headers)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == RELATIONSHIP_KEYS
    assert body["id"] == bob.id
    assert body["following"] is True
    assert body["requested"] is False
    assert body["showing_reblogs"] is True
    assert (await account(client, bob.id))["followers_count"] == 1
    assert (await account(client, alice.id))["following_count"] == 1
    assert await notifications_of(database, bob) == [("follow", alice.account.id)]
    assert (await relationship(client, bob, alice.id))["followed_by"] is True


async def test_follow_options_are_stored_and_changed_by_following_again(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")

    first = await client.post(
        f"/api/v1/accounts/{bob.id}/follow",
        json={"reblogs": False, "notify": True, "languages": ["en", "de"]},
        headers=alice.headers,
    )
    again = await client.post(
        f"/api/v1/accounts/{bob.id}/follow", data={"reblogs": "true"}, headers=alice.headers
    )

    assert first.json()["showing_reblogs"] is False
    assert first.json()["notifying"] is True
    assert first.json()["languages"] == ["en", "de"]
    assert again.json()["showing_reblogs"] is True
    assert again.json()["notifying"] is True  # not asked again: kept
    assert (await account(client, bob.id))["followers_count"] == 1


async def test_following_a_locked_colleague_makes_a_request_they_can_authorize(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    carol = await make_staff(database, settings, "carol", locked=True)

    response = await client.post(f"/api/v1/accounts/{carol.id}/follow", headers=alice.headers)

    assert response.json()["following"] is False
    assert response.json()["requested"] is True
    assert await notifications_of(database, carol) == [("follow_request", alice.account.id)]
    listed = await client.get("/api/v1/follow_requests", headers=carol.headers)
    assert [a["id"] for a in listed.json()] == [alice.id]
    assert (await relationship(client, carol, alice.id))["requested_by"] is True
    verified = await client.get("/api/v1/accounts/verify_credentials", headers=carol.headers)
    assert verified.json()["source"]["follow_requests_count"] == 1

    authorized = await client.post(
        f"/api/v1/follow_requests/{alice.id}/authorize", headers=carol.headers
    )

    assert authorized.status_code == 200
    assert authorized.json()["followed_by"] is True
    assert authorized.json()["requested_by"] is False
    assert (await relationship(client, alice, carol.id))["following"] is True
    assert (await client.get("/api/v1/follow_requests", headers=carol.headers)).json() == []
    assert await notifications_of(database, carol) == [("follow", alice.account.id)]
    assert (await account(client, carol.id))["followers_count"] == 1
    [accepted] = await events_of(database, "follow.accepted")
    assert accepted["account_id"] == alice.account.id
    assert accepted["target_account_id"] == carol.account.id


async def test_rejected_follow_requests_vanish(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    carol = await make_staff(database, settings, "carol", locked=True)
    await client.post(f"/api/v1/accounts/{carol.id}/follow", headers=alice.headers)

    rejected = await client.post(
        f"/api/v1/follow_requests/{alice.id}/reject", headers=carol.headers
    )

    assert rejected.status_code == 200
    assert rejected.json()["requested_by"] is False
    assert rejected.json()["followed_by"] is False
    assert (await relationship(client, alice, carol.id))["requested"] is False
    assert (await client.get("/api/v1/follow_requests", headers=carol.headers)).json() == []
    assert await notifications_of(database, carol) == []
    assert len(await events_of(database, "follow.rejected")) == 1
    again = await client.post(f"/api/v1/follow_requests/{alice.id}/reject", headers=carol.headers)
    assert again.status_code == 404


async def test_follow_requests_are_paged_with_link_headers(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    carol = await make_staff(database, settings, "carol", locked=True)
    requesters = [await make_staff(database, settings, f"fan{n}") for n in range(3)]
    for fan in requesters:
        await client.post(f"/api/v1/accounts/{carol.id}/follow", headers=fan.headers)

    first = await client.get("/api/v1/follow_requests?limit=2", headers=carol.headers)
    next_url = first.links["next"]["url"]
    second = await client.get(next_url, headers=carol.headers)

    assert [a["username"] for a in first.json()] == ["fan2", "fan1"]
    assert [a["username"] for a in second.json()] == ["fan0"]
    assert "max_id=" in next_url


async def test_following_a_remote_account_stays_pending_and_records_an_event(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    remote_id = await add_remote_account(database, "dana", "remote.example")

    response = await client.post(f"/api/v1/accounts/{remote_id}/follow", headers=alice.headers)

    assert response.json()["requested"] is True
    assert response.json()["following"] is False
    [event] = await events_of(database, "follow.requested")
    assert event["account_id"] == alice.account.id
    assert event["target_account_id"] == remote_id

    async with database.transaction() as conn:
        target = await account_store.fetch_account(conn, account_id=remote_id)
        assert target is not None
        assert await relationship_domain.confirm_follow(conn, follower=alice.account, target=target)
    confirmed = await relationship(client, alice, str(remote_id))
    assert confirmed["following"] is True
    assert confirmed["requested"] is False


async def test_a_remote_follow_of_a_locked_account_waits_for_approval(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    carol = await make_staff(database, settings, "carol", locked=True)
    bob = await make_staff(database, settings, "bob")
    remote_id = await add_remote_account(database, "dana", "remote.example")

    async with database.transaction() as conn:
        dana = await account_store.fetch_account(conn, account_id=remote_id)
        assert dana is not None
        to_locked = await relationship_domain.receive_follow(
            conn, follower=dana, target=carol.account, uri="https://remote.example/follows/1"
        )
        to_open = await relationship_domain.receive_follow(
            conn, follower=dana, target=bob.account, uri="https://remote.example/follows/2"
        )

    assert (to_locked, to_open) == (False, True)
    assert (await relationship(client, carol, str(remote_id)))["requested_by"] is True
    assert (await relationship(client, bob, str(remote_id)))["followed_by"] is True
    await client.post(f"/api/v1/follow_requests/{remote_id}/authorize", headers=carol.headers)
    accepted = await events_of(database, "follow.accepted")
    assert [e["uri"] for e in accepted] == [
        "https://remote.example/follows/2",
        "https://remote.example/follows/1",
    ]


async def test_unfollow_ends_the_follow_and_withdraws_a_pending_request(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol", locked=True)
    await client.post(f"/api/v1/accounts/{bob.id}/follow", headers=alice.headers)
    await client.post(f"/api/v1/accounts/{carol.id}/follow", headers=alice.headers)

    from_bob = await client.post(f"/api/v1/accounts/{bob.id}/unfollow", headers=alice.headers)
    from_carol = await client.post(f"/api/v1/accounts/{carol.id}/unfollow", headers=alice.headers)

    assert from_bob.json()["following"] is False
    assert from_carol.json()["requested"] is False
    assert (await account(client, bob.id))["followers_count"] == 0
    assert (await client.get("/api/v1/follow_requests", headers=carol.headers)).json() == []
    assert await notifications_of(database, bob) == []
    assert await notifications_of(database, carol) == []
    assert len(await events_of(database, "follow.undone")) == 2


async def test_remove_from_followers_ends_their_follow(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await client.post(f"/api/v1/accounts/{bob.id}/follow", headers=alice.headers)

    response = await client.post(
        f"/api/v1/accounts/{alice.id}/remove_from_followers", headers=bob.headers
    )

    assert response.status_code == 200
    assert response.json()["followed_by"] is False
    assert (await relationship(client, alice, bob.id))["following"] is False


async def test_following_yourself_or_an_unknown_account_is_refused(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")

    yourself = await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=alice.headers)
    unknown = await client.post("/api/v1/accounts/12345/follow", headers=alice.headers)
    garbage = await client.post("/api/v1/accounts/not-an-id/follow", headers=alice.headers)

    assert yourself.status_code == 403
    assert yourself.json() == {"error": "Following your own account is not allowed"}
    assert unknown.status_code == 404
    assert garbage.status_code == 404


# --- blocks ---------------------------------------------------------------------------------


async def test_block_removes_follows_both_ways_and_pending_requests(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob", locked=True)
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    await client.post(f"/api/v1/accounts/{bob.id}/follow", headers=alice.headers)
    assert (await relationship(client, alice, bob.id))["requested"] is True

    response = await client.post(f"/api/v1/accounts/{bob.id}/block", headers=alice.headers)

    body = response.json()
    assert body["blocking"] is True
    assert body["following"] is False
    assert body["followed_by"] is False
    assert body["requested"] is False
    assert (await relationship(client, bob, alice.id))["blocked_by"] is True
    assert (await account(client, alice.id))["followers_count"] == 0
    assert (await client.get("/api/v1/follow_requests", headers=bob.headers)).json() == []
    [created] = await events_of(database, "block.created")
    assert created["target_account_id"] == bob.account.id
    listed = await client.get("/api/v1/blocks", headers=alice.headers)
    assert [a["id"] for a in listed.json()] == [bob.id]


async def test_the_blocked_cannot_follow_the_blocker(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await client.post(f"/api/v1/accounts/{bob.id}/block", headers=alice.headers)

    response = await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)

    assert response.status_code == 403
    assert response.json() == {"error": "This action is not allowed"}


async def test_block_hides_the_blockers_posts_from_the_blocked(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    status_id = await post(database, settings, alice, "public words")
    before = await client.get(f"/api/v1/accounts/{alice.id}/statuses", headers=bob.headers)
    assert [s["id"] for s in before.json()] == [status_id]

    await client.post(f"/api/v1/accounts/{bob.id}/block", headers=alice.headers)
    after = await client.get(f"/api/v1/accounts/{alice.id}/statuses", headers=bob.headers)

    assert after.status_code == 200
    assert after.json() == []


async def test_unblock_lifts_the_block(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await client.post(f"/api/v1/accounts/{bob.id}/block", headers=alice.headers)

    response = await client.post(f"/api/v1/accounts/{bob.id}/unblock", headers=alice.headers)

    assert response.json()["blocking"] is False
    assert (await client.get("/api/v1/blocks", headers=alice.headers)).json() == []
    assert len(await events_of(database, "block.undone")) == 1
    follow = await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    assert follow.json()["following"] is True


# --- mutes and notes ------------------------------------------------------------------------


async def test_mute_with_notifications_and_duration_shows_in_relationship_and_list(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")

    muted = await client.post(
        f"/api/v1/accounts/{bob.id}/mute",
        json={"notifications": False, "duration": 3600},
        headers=alice.headers,
    )

    assert muted.json()["muting"] is True
    assert muted.json()["muting_notifications"] is False
    assert muted.json()["muting_expires_at"] is not None
    listed = await client.get("/api/v1/mutes", headers=alice.headers)
    assert [a["id"] for a in listed.json()] == [bob.id]
    assert listed.json()[0]["mute_expires_at"] == muted.json()["muting_expires_at"]

    unmuted = await client.post(f"/api/v1/accounts/{bob.id}/unmute", headers=alice.headers)
    assert unmuted.json()["muting"] is False
    assert (await client.get("/api/v1/mutes", headers=alice.headers)).json() == []


async def test_a_mute_with_notifications_silences_their_follow_notification(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")

    muted = await client.post(f"/api/v1/accounts/{bob.id}/mute", headers=alice.headers)
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)

    assert muted.json()["muting_notifications"] is True
    assert muted.json()["muting_expires_at"] is None
    assert await notifications_of(database, alice) == []


async def test_a_private_note_is_seen_only_by_its_author(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")

    noted = await client.post(
        f"/api/v1/accounts/{bob.id}/note", data={"comment": "met at FOSDEM"}, headers=alice.headers
    )

    assert noted.json()["note"] == "met at FOSDEM"
    assert (await relationship(client, alice, bob.id))["note"] == "met at FOSDEM"
    assert (await relationship(client, bob, alice.id))["note"] == ""
    too_long = await client.post(
        f"/api/v1/accounts/{bob.id}/note", data={"comment": "x" * 2001}, headers=alice.headers
    )
    assert too_long.status_code == 422


# --- relationships, familiar followers, scopes -------------------------------------------------


async def test_relationships_answer_for_each_known_id_in_order(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    await client.post(f"/api/v1/accounts/{carol.id}/follow", headers=alice.headers)

    response = await client.get(
        "/api/v1/accounts/relationships",
        params=[("id[]", carol.id), ("id[]", "999"), ("id[]", bob.id)],
        headers=alice.headers,
    )

    assert [r["id"] for r in response.json()] == [carol.id, bob.id]
    carol_rel, bob_rel = response.json()
    assert set(carol_rel) == RELATIONSHIP_KEYS
    assert carol_rel["following"] is True
    assert bob_rel == {
        "id": bob.id,
        "following": False,
        "showing_reblogs": False,
        "notifying": False,
        "languages": None,
        "followed_by": False,
        "blocking": False,
        "blocked_by": False,
        "muting": False,
        "muting_notifications": False,
        "muting_expires_at": None,
        "requested": False,
        "requested_by": False,
        "domain_blocking": False,
        "endorsed": False,
        "note": "",
    }


async def test_familiar_followers_are_the_people_i_follow_who_follow_them(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    dave = await make_staff(database, settings, "dave")
    await client.post(f"/api/v1/accounts/{bob.id}/follow", headers=alice.headers)
    await client.post(f"/api/v1/accounts/{carol.id}/follow", headers=bob.headers)
    await client.post(f"/api/v1/accounts/{carol.id}/follow", headers=dave.headers)

    response = await client.get(
        "/api/v1/accounts/familiar_followers",
        params=[("id[]", carol.id), ("id[]", dave.id)],
        headers=alice.headers,
    )

    assert response.json()[0]["id"] == carol.id
    assert [a["id"] for a in response.json()[0]["accounts"]] == [bob.id]
    assert response.json()[1] == {"id": dave.id, "accounts": []}


async def test_relationship_endpoints_check_scopes(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    reader = await make_staff(database, settings, "reader", scopes="read")
    bob = await make_staff(database, settings, "bob")
    follower = await make_staff(database, settings, "follower", scopes="write:follows")
    old_app = await make_staff(database, settings, "oldapp", scopes="follow")

    no_token = await client.post(f"/api/v1/accounts/{bob.id}/follow")
    read_only = await client.post(f"/api/v1/accounts/{bob.id}/follow", headers=reader.headers)
    cannot_block = await client.post(f"/api/v1/accounts/{bob.id}/block", headers=follower.headers)
    granular = await client.post(f"/api/v1/accounts/{bob.id}/follow", headers=follower.headers)
    legacy = await client.post(f"/api/v1/accounts/{bob.id}/mute", headers=old_app.headers)
    legacy_blocks = await client.get("/api/v1/blocks", headers=old_app.headers)
    no_mutes_read = await client.get("/api/v1/mutes", headers=follower.headers)

    assert no_token.status_code == 401
    assert read_only.status_code == 403
    assert cannot_block.status_code == 403
    assert granular.status_code == 200
    assert legacy.status_code == 200
    assert legacy_blocks.status_code == 200
    assert no_mutes_read.status_code == 403
