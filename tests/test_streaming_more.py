"""Streaming against a real `fediverse serve`: the `conversation` event carries the same
Conversation entity (same id) as GET /api/v1/conversations, and changing filters sends
`filters_changed` on the owner's user stream, shaped as Mastodon sends it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from tests.live_server import LiveServer
from tests.streaming_client import Person, StreamSession, api, open_stream, people, post

QUIET_SECONDS = 1.5


async def conversations_of(server: LiveServer, person: Person) -> list[dict[str, Any]]:
    return await api(server, person, "GET", "/api/v1/conversations")  # type: ignore[no-any-return]


async def test_a_direct_post_arrives_as_the_conversation_the_rest_api_shows(
    live_server: LiveServer,
) -> None:
    alice, carol = await people(live_server, "alice", "carol")
    async with open_stream(live_server, alice) as ws_alice, open_stream(live_server, carol) as ws:
        recipient, author = StreamSession(ws_alice), StreamSession(ws)
        await recipient.subscribe("direct")
        await author.subscribe("direct")
        first = await post(live_server, carol, "@alice a secret", visibility="direct")
        to_alice = orjson.loads((await recipient.wait_for("conversation"))["payload"])
        to_carol = orjson.loads((await author.wait_for("conversation"))["payload"])

        [listed_alice] = await conversations_of(live_server, alice)
        [listed_carol] = await conversations_of(live_server, carol)
        # The same entity as the REST API, conversation id included, for each participant.
        assert to_alice == listed_alice
        assert to_carol == listed_carol
        assert to_alice["id"] != to_carol["id"]
        assert (to_alice["unread"], to_carol["unread"]) == (True, False)
        assert to_alice["last_status"]["id"] == first["id"]
        assert [a["id"] for a in to_alice["accounts"]] == [carol.id]
        assert [a["id"] for a in to_carol["accounts"]] == [alice.id]

        # A reply in the thread updates the same conversation (same id) on both sides.
        reply = await post(
            live_server, alice, "@carol noted", visibility="direct", in_reply_to_id=first["id"]
        )
        again_carol = orjson.loads((await author.wait_for("conversation"))["payload"])
        again_alice = orjson.loads((await recipient.wait_for("conversation"))["payload"])
    assert again_carol["id"] == to_carol["id"]
    assert again_alice["id"] == to_alice["id"]
    assert again_carol["last_status"]["id"] == reply["id"]
    assert (again_carol["unread"], again_alice["unread"]) == (True, False)
    assert [c["id"] for c in await conversations_of(live_server, carol)] == [to_carol["id"]]


async def test_a_direct_post_never_reaches_the_direct_stream_of_an_outsider(
    live_server: LiveServer,
) -> None:
    alice, bob, carol = await people(live_server, "alice", "bob", "carol")
    async with open_stream(live_server, alice) as ws_alice, open_stream(live_server, bob) as ws:
        recipient, outsider = StreamSession(ws_alice), StreamSession(ws)
        await recipient.subscribe("direct")
        await outsider.subscribe("direct")
        await outsider.subscribe("user")
        sent = await post(live_server, carol, "@alice only you", visibility="direct")
        # Dispatched (alice has it) ...
        message = await recipient.wait_for("conversation")
        assert orjson.loads(message["payload"])["last_status"]["id"] == sent["id"]
        # ... and bob, on any of his streams, gets nothing of it.
        assert await outsider.collect(QUIET_SECONDS) == []
    assert await conversations_of(live_server, bob) == []


async def test_changing_filters_sends_filters_changed_on_the_owners_user_stream(
    live_server: LiveServer,
) -> None:
    alice, bob = await people(live_server, "alice", "bob")
    async with open_stream(live_server, alice) as ws_alice, open_stream(live_server, bob) as ws:
        owner, other = StreamSession(ws_alice), StreamSession(ws)
        await owner.subscribe("user")
        await other.subscribe("user")

        created = await api(
            live_server,
            alice,
            "POST",
            "/api/v2/filters",
            json={
                "title": "Spoilers",
                "context": ["home"],
                "keywords_attributes": [{"keyword": "finale"}],
            },
        )
        message = await owner.wait_for("filters_changed")
        # As Mastodon sends it: on the user stream, with no payload at all.
        assert message == {"stream": ["user"], "event": "filters_changed"}

        await api(
            live_server,
            alice,
            "PUT",
            f"/api/v2/filters/{created['id']}",
            json={"title": "Spoilers!"},
        )
        await owner.wait_for("filters_changed")
        keyword = created["keywords"][0]
        await api(
            live_server,
            alice,
            "PUT",
            f"/api/v2/filters/keywords/{keyword['id']}",
            json={"keyword": "season finale"},
        )
        await owner.wait_for("filters_changed")
        await api(live_server, alice, "DELETE", f"/api/v2/filters/{created['id']}")
        await owner.wait_for("filters_changed")

        # Nothing for anyone else.
        assert [m["event"] for m in await other.collect(QUIET_SECONDS)] == []


async def test_filters_changed_over_server_sent_events(live_server: LiveServer) -> None:
    (alice,) = await people(live_server, "alice")
    async with httpx.AsyncClient(base_url=live_server.base_url, timeout=30) as http:
        url = f"/api/v1/streaming/user?access_token={alice.token}"
        async with http.stream("GET", url) as response:
            assert response.status_code == 200
            lines = response.aiter_lines()
            assert await anext(lines) == ":)"
            await api(
                live_server,
                alice,
                "POST",
                "/api/v2/filters",
                json={"title": "Quiet", "context": ["public"]},
            )
            event = await asyncio.wait_for(anext(lines), 10)
            data = await asyncio.wait_for(anext(lines), 10)
    assert event == "event: filters_changed"
    # Mastodon's streaming server writes the absent payload as `undefined`.
    assert data == "data: undefined"
