"""Polls and direct conversations between complete instances (tests/fakes/world.py): a local
poll goes out as a Question, votes travel as Mastodon sends them (Create{Note} with `name`,
addressed to the poll's author), counts come back as Update{Question}, debounced as Mastodon
does (at most one per poll every 3 minutes; at once when the poll ends); remote direct posts
join the local participants' conversations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from federation.ingest import poll_of as parse_question_poll
from fediverse.polls import close_expired_polls
from fediverse.scheduled import run_timed_work
from tests.fakes.world import Instance, World
from tests.test_federation_world import Member, following, member
from web.mastodon_api.statuses import posting_context_for


@pytest.fixture
async def world(server_url: str, template_database: str) -> AsyncIterator[World]:
    async with World.start(server_url, template_database, ["a.test", "b.test"]) as w:
        yield w


def delivered(world: World, domain: str, kind: str) -> list[dict[str, Any]]:
    """Activities of type `kind` that `domain`'s inboxes were sent, in order."""
    activities = [orjson.loads(r.body) for r in world.inbox_posts_to(domain)]
    return [a for a in activities if a.get("type") == kind]


async def timed_work_pass(instance: Instance) -> None:
    """One pass of the background loop for timed work (fediverse/scheduled.py: polls that ended,
    debounced poll Updates, due posts) at the instance's clock."""
    stop = asyncio.Event()

    def now() -> datetime:
        stop.set()  # the loop finishes the pass it is starting, then ends
        return instance.clock()

    await run_timed_work(instance.database, posting_context_for(instance.state), stop, clock=now)


async def pass_time(world: World, delta: timedelta) -> None:
    """Move every clock on by `delta`, run each instance's timed work, let deliveries land."""
    world.advance(delta)
    for instance in world.instances.values():
        await timed_work_pass(instance)
    await world.settle()


async def post_poll(
    author: Member, options: list[str], *, multiple: bool = False, expires_in: int = 3600
) -> Any:
    data: dict[str, Any] = {
        "status": "Lunch?",
        "poll[options][]": options,
        "poll[expires_in]": str(expires_in),
        "poll[multiple]": "true" if multiple else "false",
    }
    return await author.ok("POST", "/api/v1/statuses", data=data)


async def poll_of(viewer: Member, status: dict[str, Any]) -> dict[str, Any]:
    """The poll of `status` as `viewer`'s instance shows it to them."""
    copy = (
        await viewer.local_copy(status) if viewer.instance.domain not in status["uri"] else status
    )
    return await viewer.ok("GET", f"/api/v1/polls/{copy['poll']['id']}")  # type: ignore[no-any-return]


def counts(poll: dict[str, Any]) -> tuple[list[int], int]:
    return [o["votes_count"] for o in poll["options"]], poll["voters_count"]


async def test_a_local_poll_goes_out_as_a_question_and_counts_a_remote_vote(world: World) -> None:
    alice = await member(world["a.test"], "alice")
    carol = await member(world["a.test"], "carol")
    bob = await member(world["b.test"], "bob")
    await following(world, bob, alice)
    world.clear_requests()

    status = await post_poll(alice, ["soup", "salad"])
    await world.settle()

    [create] = delivered(world, "b.test", "Create")
    question = create["object"]
    assert question["type"] == "Question"
    assert question["id"] == status["uri"]
    assert question["oneOf"] == [
        {"type": "Note", "name": "soup", "replies": {"type": "Collection", "totalItems": 0}},
        {"type": "Note", "name": "salad", "replies": {"type": "Collection", "totalItems": 0}},
    ]
    assert "anyOf" not in question and "closed" not in question
    assert question["votersCount"] == 0
    assert question["endTime"] == status["poll"]["expires_at"][:19] + "Z"

    copy = await bob.local_copy(status)
    assert [o["title"] for o in copy["poll"]["options"]] == ["soup", "salad"]
    assert copy["poll"]["multiple"] is False
    assert copy["poll"]["expires_at"][:19] == status["poll"]["expires_at"][:19]

    world.clear_requests()
    voted = await bob.ok(
        "POST", f"/api/v1/polls/{copy['poll']['id']}/votes", data={"choices[]": "1"}
    )
    assert voted["own_votes"] == [1]
    await world.settle()

    [vote] = delivered(world, "a.test", "Create")
    bob_uri = world["b.test"].actor_url("bob")
    assert vote["actor"] == bob_uri
    assert vote["to"] == [world["a.test"].actor_url("alice")]
    note = vote["object"]
    assert note["type"] == "Note"
    assert note["name"] == "salad"
    assert note["inReplyTo"] == status["uri"]
    assert note["to"] == [world["a.test"].actor_url("alice")]
    assert "content" not in note and "cc" not in vote

    # Counted on a.test, and no status was made of the vote.
    assert counts(await poll_of(alice, status)) == ([0, 1], 1)
    bob_on_a = await alice.account_of(bob)
    assert bob_on_a["statuses_count"] == 0
    assert await alice.ok("GET", f"/api/v1/accounts/{bob_on_a['id']}/statuses") == []
    assert await alice.notifications("mention") == []

    # The new counts go back to b.test as an Update of the Question, 3 minutes later.
    assert delivered(world, "b.test", "Update") == []
    await pass_time(world, timedelta(minutes=3, seconds=1))
    [update] = delivered(world, "b.test", "Update")
    assert update["object"]["type"] == "Question"
    assert update["object"]["oneOf"][1]["replies"]["totalItems"] == 1
    on_b = await poll_of(bob, status)
    assert counts(on_b) == ([0, 1], 1)
    assert (on_b["voted"], on_b["own_votes"]) == (True, [1])

    # A local vote on a.test changes the counts, and b.test hears of it too.
    await carol.ok("POST", f"/api/v1/polls/{status['poll']['id']}/votes", data={"choices[]": "0"})
    await world.settle()
    assert counts(await poll_of(alice, status)) == ([1, 1], 2)
    await pass_time(world, timedelta(minutes=3, seconds=1))
    assert counts(await poll_of(bob, status)) == ([1, 1], 2)


async def test_a_local_user_votes_in_a_remote_multiple_choice_poll(world: World) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")
    await following(world, alice, bob)

    status = await post_poll(bob, ["tea", "coffee", "water"], multiple=True)
    await world.settle()
    copy = await alice.local_copy(status)
    assert copy["poll"]["multiple"] is True
    assert [o["title"] for o in copy["poll"]["options"]] == ["tea", "coffee", "water"]

    world.clear_requests()
    await alice.ok(
        "POST", f"/api/v1/polls/{copy['poll']['id']}/votes", data={"choices[]": ["0", "2"]}
    )
    await world.settle()

    votes = delivered(world, "b.test", "Create")
    assert sorted(v["object"]["name"] for v in votes) == ["tea", "water"]
    assert {v["object"]["inReplyTo"] for v in votes} == {status["uri"]}
    assert len({v["id"] for v in votes}) == 2
    # Counted once per option, one voter, by the poll's own server...
    on_b = await poll_of(bob, status)
    assert counts(on_b) == ([1, 0, 1], 1)
    # ...whose one Update{Question} (sent to the remote voter 3 minutes after the votes) is
    # what a.test now shows.
    await pass_time(world, timedelta(minutes=3, seconds=1))
    [update] = delivered(world, "a.test", "Update")
    assert [o["replies"]["totalItems"] for o in update["object"]["anyOf"]] == [1, 0, 1]
    on_a = await poll_of(alice, status)
    assert counts(on_a) == ([1, 0, 1], 1)
    assert on_a["own_votes"] == [0, 2]

    # Redelivering the same votes counts nothing twice.
    for request in [r for r in world.inbox_posts_to("b.test") if b'"Create"' in r.body]:
        await world.router.handle_async_request(
            httpx.Request(
                request.method, request.url, headers=request.headers, content=request.body
            )
        )
    await world.settle()
    assert counts(await poll_of(bob, status)) == ([1, 0, 1], 1)


async def test_a_text_reply_to_a_poll_is_an_ordinary_reply_not_a_vote(
    world: World,
) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")
    await following(world, bob, alice)
    status = await post_poll(alice, ["soup", "salad"])
    await world.settle()
    copy = await bob.local_copy(status)

    await bob.post("@alice@a.test soup please", in_reply_to_id=copy["id"])
    await world.settle()

    assert counts(await poll_of(alice, status)) == ([0, 0], 0)
    [mention] = await alice.notifications("mention")
    assert mention["status"]["in_reply_to_id"] == status["id"]


async def test_an_ended_poll_is_sent_as_closed(world: World) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")
    await following(world, bob, alice)
    status = await post_poll(alice, ["soup", "salad"])
    await world.settle()
    world.clear_requests()

    async with world["a.test"].database.transaction() as conn:
        closed = await close_expired_polls(conn, datetime.now(UTC) + timedelta(hours=2))
    assert closed == 1
    await world.settle()

    [update] = delivered(world, "b.test", "Update")
    assert update["object"]["closed"] == update["object"]["endTime"]
    assert update["object"]["endTime"] == status["poll"]["expires_at"][:19] + "Z"


# --- debounced Updates (Mastodon's DistributePollUpdateWorker) ------------------------------


async def vote_from(voter: Member, status: dict[str, Any], choice: int) -> dict[str, Any]:
    """`voter` votes in `status`'s poll on their own instance; the answer is the poll there."""
    copy = await voter.local_copy(status) if voter.instance.domain not in status["uri"] else status
    poll_id = copy["poll"]["id"]
    return await voter.ok("POST", f"/api/v1/polls/{poll_id}/votes", data={"choices[]": choice})  # type: ignore[no-any-return]


def question_counts(update: dict[str, Any]) -> tuple[list[int], int]:
    question = update["object"]
    options = question.get("oneOf") or question.get("anyOf")
    return [o["replies"]["totalItems"] for o in options], question["votersCount"]


async def test_votes_within_three_minutes_send_one_update_with_the_final_counts(
    world: World,
) -> None:
    alice = await member(world["a.test"], "alice")
    carol = await member(world["a.test"], "carol")
    bob = await member(world["b.test"], "bob")
    dave = await member(world["b.test"], "dave")
    erin = await member(world["b.test"], "erin")
    await following(world, bob, alice)
    status = await post_poll(alice, ["soup", "salad", "chips"])
    await world.settle()
    world.clear_requests()

    await vote_from(bob, status, 1)
    await world.settle()
    # The API here shows every vote at once: only federation waits.
    voted = await vote_from(carol, status, 0)
    assert counts(voted) == ([1, 1, 0], 2)
    await world.settle()
    await pass_time(world, timedelta(minutes=1))
    await vote_from(dave, status, 1)
    await world.settle()
    assert counts(await poll_of(alice, status)) == ([1, 2, 0], 3)
    shown = await alice.ok("GET", f"/api/v1/statuses/{status['id']}")
    assert [o["votes_count"] for o in shown["poll"]["options"]] == [1, 2, 0]
    assert len(delivered(world, "a.test", "Create")) == 2  # the two remote votes
    assert delivered(world, "b.test", "Update") == []

    # Two minutes after the first vote: still nothing; just past three: one Update.
    await pass_time(world, timedelta(minutes=1, seconds=50))
    assert delivered(world, "b.test", "Update") == []
    await pass_time(world, timedelta(seconds=15))
    [update] = delivered(world, "b.test", "Update")
    assert update["object"]["id"] == status["uri"]
    assert question_counts(update) == ([1, 2, 0], 3)
    assert counts(await poll_of(bob, status)) == ([1, 2, 0], 3)
    await pass_time(world, timedelta(minutes=10))
    assert len(delivered(world, "b.test", "Update")) == 1

    # A later vote starts a new wait, and a new Update follows it.
    await vote_from(erin, status, 2)
    await world.settle()
    assert counts(await poll_of(alice, status)) == ([1, 2, 1], 4)
    await pass_time(world, timedelta(minutes=2))
    assert len(delivered(world, "b.test", "Update")) == 1
    await pass_time(world, timedelta(minutes=1, seconds=1))
    first, second = delivered(world, "b.test", "Update")
    assert second["id"] != first["id"]
    assert question_counts(second) == ([1, 2, 1], 4)
    assert counts(await poll_of(erin, status)) == ([1, 2, 1], 4)


async def test_a_poll_that_ends_sends_its_final_update_at_once(world: World) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")
    await following(world, bob, alice)
    status = await post_poll(alice, ["soup", "salad"], expires_in=300)
    await world.settle()
    world.clear_requests()

    # Bob's vote is counted 4 minutes in: its Update would be due at 7, the poll ends at 5.
    await pass_time(world, timedelta(minutes=4))
    await vote_from(bob, status, 0)
    await world.settle()
    assert counts(await poll_of(alice, status)) == ([1, 0], 1)
    assert delivered(world, "b.test", "Update") == []

    await pass_time(world, timedelta(minutes=1, seconds=1))
    [update] = delivered(world, "b.test", "Update")
    assert update["object"]["closed"] == update["object"]["endTime"]
    assert question_counts(update) == ([1, 0], 1)
    assert counts(await poll_of(bob, status)) == ([1, 0], 1)

    # The pending debounced Update was dropped with the close: nothing repeats it.
    await pass_time(world, timedelta(minutes=5))
    assert len(delivered(world, "b.test", "Update")) == 1


# --- conversations --------------------------------------------------------------------------


async def test_a_remote_direct_post_starts_a_conversation_for_its_local_recipient(
    world: World,
) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")
    await bob.account_of(alice)

    sent = await alice.post("@bob@b.test psst", visibility="direct")
    await world.settle()

    [conversation] = await bob.ok("GET", "/api/v1/conversations")
    assert conversation["unread"] is True
    assert [a["acct"] for a in conversation["accounts"]] == ["alice@a.test"]
    assert conversation["last_status"]["uri"] == sent["uri"]
    assert conversation["last_status"]["visibility"] == "direct"

    # The reply travels back and lands in alice's own conversation, not a new one.
    await bob.post(
        "@alice@a.test hush",
        visibility="direct",
        in_reply_to_id=conversation["last_status"]["id"],
    )
    await world.settle()
    [on_a] = await alice.ok("GET", "/api/v1/conversations")
    # Alice's own post left it read: unread again means the reply was filed in it. (Which of
    # the two is `last_status` depends on ids: a peer's `published` has whole seconds only.)
    assert on_a["unread"] is True
    assert [a["acct"] for a in on_a["accounts"]] == ["bob@b.test"]
    [mention] = await alice.notifications("mention")
    assert mention["status"]["in_reply_to_id"] == sent["id"]
    assert mention["status"]["visibility"] == "direct"


async def test_a_remote_public_post_mentioning_a_local_user_is_no_conversation(
    world: World,
) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")
    await bob.account_of(alice)

    await alice.post("@bob@b.test hello in public")
    await world.settle()

    assert len(await bob.notifications("mention")) == 1
    assert await bob.ok("GET", "/api/v1/conversations") == []


# --- reading peers' Questions ---------------------------------------------------------------


def test_a_recorded_mastodon_question_is_read_as_a_poll() -> None:
    fixture = Path(__file__).parent / "fixtures" / "mastodon" / "create-question-poll.json"
    question = orjson.loads(fixture.read_bytes())["object"]

    poll = parse_question_poll(question)

    assert poll is not None
    assert poll.options == [
        "Dunno",
        "Everyone knows that!",
        "25 char limit is dumb",
        "I can't even fit a funny",
    ]
    assert poll.tallies == [0, 1, 0, 1]
    assert poll.multiple is False
    assert poll.expires_at == datetime(2019, 5, 11, 9, 3, 36, tzinfo=UTC)
    # Mastodon 2.8 sent no votersCount: for a single-choice poll it is the sum of the votes.
    assert poll.voters_count == 2


def test_a_multiple_choice_question_takes_its_voters_count_and_closed_time() -> None:
    question = {
        "type": "Question",
        "anyOf": [
            {"type": "Note", "name": "a &amp; b", "replies": {"totalItems": 3}},
            {"type": "Note", "name": "c", "replies": {"totalItems": 2}},
            {"type": "Note", "name": "c", "replies": {"totalItems": 9}},
            {"type": "Note", "name": "", "replies": {"totalItems": 1}},
        ],
        "votersCount": 4,
        "closed": "2024-01-02T03:04:05Z",
    }

    poll = parse_question_poll(question)

    assert poll is not None
    # Titles are plain text; duplicates and blanks are dropped.
    assert (poll.options, poll.tallies) == (["a & b", "c"], [3, 2])
    assert (poll.multiple, poll.voters_count) == (True, 4)
    assert poll.expires_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_question_poll({"type": "Note", "content": "no poll"}) is None
