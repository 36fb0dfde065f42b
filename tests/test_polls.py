"""Polls: created with a status, read and voted on by those who may see it, closed on expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from mastodon import Mastodon

from fediverse import ids
from fediverse.config import Settings, load_settings
from fediverse.polls import (
    close_expired_polls,
    distribute_due_poll_updates,
    record_remote_vote,
    store_remote_poll,
)
from fediverse.storage import accounts as account_store
from fediverse.storage import statuses as status_store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Database
from tests.factories import StaffMember, make_staff
from tests.live_server import LiveServer
from tests.test_timelines import follow


async def post_poll(
    client: httpx.AsyncClient,
    author: StaffMember,
    *,
    options: list[str] | None = None,
    expires_in: int = 3600,
    multiple: bool = False,
    hide_totals: bool = False,
    visibility: str = "public",
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/statuses",
        headers=author.headers,
        json={
            "status": "Lunch?",
            "visibility": visibility,
            "poll": {
                "options": options or ["pizza", "salad", "soup"],
                "expires_in": expires_in,
                "multiple": multiple,
                "hide_totals": hide_totals,
            },
        },
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def vote(
    client: httpx.AsyncClient, voter: StaffMember, poll_id: str, *choices: int
) -> httpx.Response:
    return await client.post(
        f"/api/v1/polls/{poll_id}/votes",
        headers=voter.headers,
        data={"choices[]": [str(c) for c in choices]},
    )


async def test_a_status_carries_its_poll_in_mastodons_shape(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")

    status = await post_poll(client, alice, expires_in=600, multiple=True)

    poll = status["poll"]
    assert set(poll) == {
        "id", "expires_at", "expired", "multiple", "votes_count", "voters_count", "options",
        "emojis", "voted", "own_votes",
    }  # fmt: skip
    assert poll["options"] == [
        {"title": "pizza", "votes_count": 0},
        {"title": "salad", "votes_count": 0},
        {"title": "soup", "votes_count": 0},
    ]
    assert poll["multiple"] is True
    assert poll["expired"] is False
    # The author counts as having voted, so apps show them the results.
    assert poll["voted"] is True and poll["own_votes"] == []
    expires = datetime.fromisoformat(poll["expires_at"].replace("Z", "+00:00"))
    assert timedelta(seconds=590) < expires - datetime.now(UTC) <= timedelta(seconds=600)
    fetched = await client.get(f"/api/v1/statuses/{status['id']}", headers=alice.headers)
    assert fetched.json()["poll"]["id"] == poll["id"]


async def test_a_poll_is_posted_with_form_parameters_too(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")

    response = await client.post(
        "/api/v1/statuses",
        headers=alice.headers,
        data={
            "status": "Tea or coffee?",
            "poll[options][]": ["tea", "coffee"],
            "poll[expires_in]": "300",
        },
    )

    assert response.status_code == 200, response.text
    assert [o["title"] for o in response.json()["poll"]["options"]] == ["tea", "coffee"]
    assert response.json()["poll"]["multiple"] is False


async def test_invalid_polls_are_refused_with_422(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    valid = {"options": ["a", "b"], "expires_in": 3600}
    media = await client.post(
        "/api/v2/media",
        headers=alice.headers,
        files={"file": ("p.png", _png(), "image/png")},
    )
    assert media.status_code in (200, 202), media.text

    for poll, extra in (
        ({"options": ["only one"], "expires_in": 3600}, {}),
        ({"options": ["a", "b", "c", "d", "e"], "expires_in": 3600}, {}),
        ({"options": ["a", "x" * 51], "expires_in": 3600}, {}),
        ({"options": ["a", "a"], "expires_in": 3600}, {}),
        ({"options": ["a", "b"], "expires_in": 299}, {}),
        ({"options": ["a", "b"], "expires_in": 2_629_747}, {}),
        ({"options": ["a", "b"]}, {}),
        (valid, {"media_ids": [media.json()["id"]]}),
    ):
        response = await client.post(
            "/api/v1/statuses", headers=alice.headers, json={"status": "q", "poll": poll} | extra
        )
        assert response.status_code == 422, (poll, extra, response.text)
        assert "error" in response.json()

    boundary = {"options": ["a", "x" * 50, "c", "d"], "expires_in": 2_629_746}
    accepted = await client.post(
        "/api/v1/statuses", headers=alice.headers, json={"status": "q", "poll": boundary}
    )
    assert accepted.status_code == 200, accepted.text


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, format="PNG")
    return buffer.getvalue()


async def test_votes_are_counted_and_shown_to_the_voter(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    poll_id = (await post_poll(client, alice))["poll"]["id"]

    bob_vote = await vote(client, bob, poll_id, 1)
    carol_vote = await vote(client, carol, poll_id, 1)

    assert bob_vote.status_code == 200, bob_vote.text
    assert bob_vote.json()["own_votes"] == [1] and bob_vote.json()["voted"] is True
    poll = carol_vote.json()
    assert [o["votes_count"] for o in poll["options"]] == [0, 2, 0]
    assert poll["votes_count"] == 2 and poll["voters_count"] == 2
    seen_by_alice = (await client.get(f"/api/v1/polls/{poll_id}", headers=alice.headers)).json()
    assert [o["votes_count"] for o in seen_by_alice["options"]] == [0, 2, 0]
    assert seen_by_alice["own_votes"] == []
    anonymous = (await client.get(f"/api/v1/polls/{poll_id}")).json()
    assert anonymous["votes_count"] == 2 and "voted" not in anonymous


async def test_a_vote_records_a_domain_event_for_federation(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    poll_id = (await post_poll(client, alice))["poll"]["id"]

    assert (await vote(client, bob, poll_id, 2)).status_code == 200

    async with database.connection() as conn:
        payloads = await conn.fetch(
            "SELECT payload FROM domain_events WHERE kind = 'poll.voted' ORDER BY id"
        )
    assert [(p["payload"]["account_id"], p["payload"]["choices"]) for p in payloads] == [
        (bob.account.id, [2])
    ]
    assert payloads[0]["payload"]["options"] == ["soup"]


async def test_multiple_choice_polls_take_several_choices_and_count_voters_once(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    poll_id = (await post_poll(client, alice, multiple=True))["poll"]["id"]

    response = await vote(client, bob, poll_id, 0, 2)

    assert response.status_code == 200, response.text
    poll = response.json()
    assert [o["votes_count"] for o in poll["options"]] == [1, 0, 1]
    assert poll["votes_count"] == 2 and poll["voters_count"] == 1
    assert poll["own_votes"] == [0, 2]
    assert (await vote(client, bob, poll_id, 0)).status_code == 422


async def test_bad_votes_are_refused_with_422(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    poll_id = (await post_poll(client, alice))["poll"]["id"]

    assert (await vote(client, bob, poll_id, 3)).status_code == 422  # no such option
    assert (await vote(client, bob, poll_id, 0, 1)).status_code == 422  # single choice
    assert (await vote(client, bob, poll_id)).status_code == 422  # nothing chosen
    assert (await vote(client, alice, poll_id, 0)).status_code == 422  # own poll
    assert (await vote(client, bob, poll_id, 0)).status_code == 200
    repeat = await vote(client, bob, poll_id, 1)
    assert repeat.status_code == 422
    assert "already voted" in repeat.json()["error"]
    poll = (await client.get(f"/api/v1/polls/{poll_id}", headers=bob.headers)).json()
    assert [o["votes_count"] for o in poll["options"]] == [1, 0, 0]


async def test_an_expired_poll_refuses_votes(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    poll_id = (await post_poll(client, alice))["poll"]["id"]
    async with database.transaction() as conn:
        await conn.execute(
            "UPDATE polls SET expires_at = now() - interval '1 minute' WHERE id = $1", int(poll_id)
        )

    response = await vote(client, bob, poll_id, 0)

    assert response.status_code == 422
    assert "ended" in response.json()["error"]
    assert (await client.get(f"/api/v1/polls/{poll_id}", headers=bob.headers)).json()["expired"]


async def test_someone_outside_a_private_posts_audience_gets_404_for_its_poll(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    follower = await make_staff(database, settings, "follower")
    outsider = await make_staff(database, settings, "outsider")
    await follow(database, follower, alice)
    poll_id = (await post_poll(client, alice, visibility="private"))["poll"]["id"]

    hidden = await client.get(f"/api/v1/polls/{poll_id}", headers=outsider.headers)
    assert hidden.status_code == 404
    assert (await client.get(f"/api/v1/polls/{poll_id}")).status_code == 404
    assert (await vote(client, outsider, poll_id, 0)).status_code == 404
    assert (await vote(client, follower, poll_id, 0)).status_code == 200
    assert (await client.get("/api/v1/polls/123456", headers=alice.headers)).status_code == 404


async def test_hidden_totals_stay_null_for_others_until_the_poll_ends(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    poll_id = (await post_poll(client, alice, hide_totals=True))["poll"]["id"]
    assert (await vote(client, bob, poll_id, 0)).status_code == 200

    for_bob = (await client.get(f"/api/v1/polls/{poll_id}", headers=bob.headers)).json()
    for_alice = (await client.get(f"/api/v1/polls/{poll_id}", headers=alice.headers)).json()

    assert [o["votes_count"] for o in for_bob["options"]] == [None, None, None]
    assert [o["votes_count"] for o in for_alice["options"]] == [1, 0, 0]
    async with database.transaction() as conn:
        await conn.execute(
            "UPDATE polls SET expires_at = now() - interval '1 second' WHERE id = $1", int(poll_id)
        )
    after = (await client.get(f"/api/v1/polls/{poll_id}", headers=bob.headers)).json()
    assert [o["votes_count"] for o in after["options"]] == [1, 0, 0]


async def test_an_ended_poll_notifies_its_author_and_voters_once(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    status = await post_poll(client, alice, expires_in=300)
    assert (await vote(client, bob, status["poll"]["id"], 0)).status_code == 200

    async with database.transaction() as conn:
        early = await close_expired_polls(conn, datetime.now(UTC) + timedelta(seconds=200))
    async with database.transaction() as conn:
        closed = await close_expired_polls(conn, datetime.now(UTC) + timedelta(seconds=301))
    async with database.transaction() as conn:
        again = await close_expired_polls(conn, datetime.now(UTC) + timedelta(seconds=400))

    assert (early, closed, again) == (0, 1, 0)
    for who, expected in ((alice, 1), (bob, 1), (carol, 0)):
        response = await client.get(
            "/api/v1/notifications", headers=who.headers, params={"types[]": "poll"}
        )
        found = response.json()
        assert len(found) == expected, (who.account.username, found)
        if found:
            assert found[0]["status"]["id"] == status["id"]
            assert found[0]["account"]["id"] == alice.id


async def test_editing_the_poll_options_resets_the_votes(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    status = await post_poll(client, alice)
    assert (await vote(client, bob, status["poll"]["id"], 0)).status_code == 200

    edited = await client.put(
        f"/api/v1/statuses/{status['id']}",
        headers=alice.headers,
        json={"status": "Lunch, again?", "poll": {"options": ["x", "y"], "expires_in": 600}},
    )

    assert edited.status_code == 200, edited.text
    poll = edited.json()["poll"]
    assert [(o["title"], o["votes_count"]) for o in poll["options"]] == [("x", 0), ("y", 0)]
    history = (await client.get(f"/api/v1/statuses/{status['id']}/history")).json()
    assert history[0]["poll"] == {
        "options": [{"title": "pizza"}, {"title": "salad"}, {"title": "soup"}]
    }


async def test_mastodon_py_agrees_on_polls_grouped_notifications_and_conversations(
    live_server: LiveServer, database: Database, tmp_path: Path
) -> None:
    """A second client library against the real server (`fediverse serve`)."""
    live_settings = load_settings(
        environ={},
        domain=live_server.domain,
        scheme="http",
        data_dir=tmp_path / "unused",
        secret_key="test",
    )
    people = {
        name: await make_staff(database, live_settings, name) for name in ("alice", "bob", "carol")
    }
    api = {
        name: Mastodon(
            access_token=member.token,
            api_base_url=live_server.base_url,
            request_timeout=30,
            ratelimit_method="throw",
        )
        for name, member in people.items()
    }

    status = api["alice"].status_post(
        "Lunch?", poll=api["alice"].make_poll(["pizza", "salad"], expires_in=600)
    )
    bob_view = api["bob"].poll_vote(status.poll.id, [1])
    api["carol"].poll_vote(status.poll.id, 1)
    results = api["alice"].poll(status.poll.id)

    assert bob_view.voted is True and bob_view.own_votes == [1]
    assert [option.votes_count for option in results.options] == [0, 2]
    assert results.voters_count == 2 and results.expired is False

    api["bob"].status_favourite(status.id)
    api["carol"].status_favourite(status.id)
    grouped = api["alice"].grouped_notifications(expand_accounts="full")
    [group] = [g for g in grouped.notification_groups if g.type == "favourite"]
    assert group.notifications_count == 2
    assert [str(i) for i in group.sample_account_ids] == [people["carol"].id, people["bob"].id]
    assert str(group.status_id) == str(status.id)
    accounts = api["alice"].grouped_notification_accounts(group.group_key)
    assert [a.username for a in accounts] == ["carol", "bob"]
    assert api["alice"].unread_grouped_notifications_count() == 1

    message = api["alice"].status_post("@bob a secret", visibility="direct")
    [conversation] = api["bob"].conversations()
    assert conversation.unread is True
    assert [a.username for a in conversation.accounts] == ["alice"]
    assert str(conversation.last_status.id) == str(message.id)
    assert api["bob"].conversations_read(conversation.id).unread is False
    assert api["carol"].conversations() == []


async def remote_account(database: Database, username: str) -> Account:
    async with database.transaction() as conn:
        account_id = await account_store.insert_account(
            conn,
            values={
                "id": ids.new_id(),
                "username": username,
                "domain": "remote.example",
                "uri": f"https://remote.example/users/{username}",
            },
        )
        account = await account_store.fetch_account(conn, account_id=account_id)
    assert account is not None
    return account


async def test_remote_votes_count_once_and_only_inside_the_audience(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    rita = await remote_account(database, "rita")
    public = await post_poll(client, alice)
    internal = await client.post(
        "/api/v1/statuses",
        headers=alice.headers,
        json={
            "status": "staff only",
            "visibility": "local",
            "poll": {"options": ["a", "b"], "expires_in": 600},
        },
    )
    now = datetime.now(UTC)

    async with database.transaction() as conn:
        counted = [
            await record_remote_vote(
                conn, voter=rita, status_id=int(public["id"]), option_title=title, uri=uri, now=now
            )
            for title, uri in (
                ("salad", "https://remote.example/votes/1"),
                ("salad", "https://remote.example/votes/1"),  # redelivered
                ("soup", "https://remote.example/votes/2"),  # a second vote, single choice
                ("chips", "https://remote.example/votes/3"),  # no such option
            )
        ]
        internal_vote = await record_remote_vote(
            conn,
            voter=rita,
            status_id=int(internal.json()["id"]),
            option_title="a",
            uri="https://remote.example/votes/4",
            now=now,
        )

    assert counted == [True, False, False, False]
    assert internal_vote is False
    poll = (await client.get(f"/api/v1/polls/{public['poll']['id']}", headers=alice.headers)).json()
    assert [o["votes_count"] for o in poll["options"]] == [0, 1, 0]
    # Federation hears of the new counts once, debounced: a schedule row, no event yet.
    async with database.connection() as conn:
        updated = await conn.fetch("SELECT payload FROM domain_events WHERE kind = 'poll.updated'")
        pending = await conn.fetch("SELECT poll_id, due_at FROM poll_update_schedule")
    assert updated == []
    assert [(str(r["poll_id"]), r["due_at"]) for r in pending] == [
        (public["poll"]["id"], now + timedelta(minutes=3))
    ]
    async with database.transaction() as conn:
        early = await distribute_due_poll_updates(conn, now + timedelta(minutes=2))
        due = await distribute_due_poll_updates(conn, now + timedelta(minutes=3))
        again = await distribute_due_poll_updates(conn, now + timedelta(minutes=4))
        updated = await conn.fetch("SELECT payload FROM domain_events WHERE kind = 'poll.updated'")
        left = await conn.fetchval("SELECT count(*) FROM poll_update_schedule")
    assert (early, due, again, left) == (0, 1, 0, 0)
    assert [(str(r["payload"]["poll_id"]), str(r["payload"]["status_id"])) for r in updated] == [
        (public["poll"]["id"], public["id"])
    ]


async def test_a_remote_question_is_stored_and_its_counts_follow_its_server(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    rita = await remote_account(database, "rita")
    async with database.transaction() as conn:
        status_id = ids.new_id()
        await status_store.insert_status(
            conn,
            values={
                "id": status_id,
                "uri": "https://remote.example/notes/1",
                "account_id": rita.id,
                "local": False,
                "content": "<p>Which?</p>",
            },
        )
        expires = datetime.now(UTC) + timedelta(hours=1)
        first = await store_remote_poll(
            conn, status_id=status_id, author_id=rita.id, options=["x", "y"], multiple=False,
            expires_at=expires, tallies=[3, 4], voters_count=7,
        )  # fmt: skip
        again = await store_remote_poll(
            conn, status_id=status_id, author_id=rita.id, options=["x", "y"], multiple=False,
            expires_at=expires, tallies=[5, 4], voters_count=9,
        )  # fmt: skip

    assert first == again
    status = (await client.get(f"/api/v1/statuses/{status_id}", headers=alice.headers)).json()
    assert [o["votes_count"] for o in status["poll"]["options"]] == [5, 4]
    assert status["poll"]["voters_count"] == 9
    voted = await vote(client, alice, str(first), 0)
    assert voted.status_code == 200, voted.text
    assert [o["votes_count"] for o in voted.json()["options"]] == [6, 4]
    async with database.connection() as conn:
        event = await conn.fetchval(
            "SELECT payload FROM domain_events WHERE kind = 'poll.voted' ORDER BY id DESC LIMIT 1"
        )
    assert event["poll_is_local"] is False
    assert event["status_uri"] == "https://remote.example/notes/1"


async def test_a_vote_in_progress_holds_back_the_pending_update_until_it_commits(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    """The debounced Update must not go out without a vote that is committing at that moment
    (and then drop the pending row, so that vote would never be sent)."""
    from fediverse.storage import polls as poll_store

    alice = await make_staff(database, settings, "alice")
    posted = await client.post(
        "/api/v1/statuses",
        json={"status": "lunch?", "poll": {"options": ["soup", "salad"], "expires_in": 3600}},
        headers=alice.headers,
    )
    poll_id = int(posted.json()["poll"]["id"])
    now = datetime.now(UTC)
    async with database.transaction() as conn:
        await poll_store.insert_update_schedule(conn, poll_id=poll_id, due_at=now)
    later = now + timedelta(minutes=10)
    async with database.transaction() as voting:
        await poll_store.insert_update_schedule(voting, poll_id=poll_id, due_at=later)
        async with database.transaction() as loop:
            assert await poll_store.claim_due_updates(loop, now=later, limit=10) == []
    async with database.transaction() as loop:
        due = await poll_store.claim_due_updates(loop, now=later, limit=10)
    assert [update.poll_id for update in due] == [poll_id]
