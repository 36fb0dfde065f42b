"""Streaming API over a real WebSocket (and SSE) against a real `fediverse serve` process:
what arrives, where, and what must never arrive."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from fediverse.errors import ValidationError
from fediverse.streaming import Stream, StreamKey, parse_stream
from tests.live_server import LiveServer
from tests.streaming_client import (
    StreamSession,
    api,
    open_stream,
    people,
    post,
    subjects,
    ws_url,
)
from web.mastodon_api.streaming import event_stream
from web.streaming_hub import Message, StreamClient

QUIET_SECONDS = 1.5


async def test_a_post_arrives_in_a_followers_user_stream_as_a_json_string_payload(
    live_server: LiveServer,
) -> None:
    alice, bob = await people(live_server, "alice", "bob")
    await api(live_server, alice, "POST", f"/api/v1/accounts/{bob.id}/follow")
    async with open_stream(live_server, alice) as ws:
        stream = StreamSession(ws)
        await stream.subscribe("user")
        posted = await post(live_server, bob, "hello from bob")
        message = await stream.wait_for("update", posted["id"])
    assert message["stream"] == ["user"]
    assert isinstance(message["payload"], str)
    status = orjson.loads(message["payload"])
    assert status["content"] == posted["content"]
    assert status["account"]["id"] == bob.id
    # Rendered for alice: viewer flags are present, as in her home timeline.
    assert status["favourited"] is False


async def test_a_followers_only_post_never_reaches_a_non_followers_stream(
    live_server: LiveServer,
) -> None:
    alice, bob, carol = await people(live_server, "alice", "bob", "carol")
    await api(live_server, alice, "POST", f"/api/v1/accounts/{bob.id}/follow")
    async with (
        open_stream(live_server, alice) as ws_alice,
        open_stream(live_server, carol) as ws_carol,
    ):
        follower, outsider = StreamSession(ws_alice), StreamSession(ws_carol)
        await follower.subscribe("user")
        for name in ("user", "public", "public:local"):
            await outsider.subscribe(name)
        await outsider.subscribe("hashtag", tag="secret")
        private = await post(live_server, bob, "only followers #secret", visibility="private")
        # The follower gets it, so it was dispatched ...
        await follower.wait_for("update", private["id"])
        # ... and the outsider does not, on any stream.
        assert private["id"] not in subjects(await outsider.collect(QUIET_SECONDS))
        public = await post(live_server, bob, "everyone #secret")
        arrived = await outsider.collect(QUIET_SECONDS * 2)
    streams = {tuple(m["stream"]) for m in arrived if m["event"] == "update"}
    assert public["id"] in subjects(arrived)
    assert streams == {("public",), ("public:local",), ("hashtag", "secret")}
    assert private["id"] not in subjects(arrived)


async def test_hashtag_and_local_streams_carry_matching_public_posts_only(
    live_server: LiveServer,
) -> None:
    alice, bob = await people(live_server, "alice", "bob")
    async with open_stream(live_server, alice, "?stream=hashtag&tag=Launch") as ws:
        stream = StreamSession(ws)
        await stream.subscribe("public:local")
        await stream.subscribe("public:remote")
        await stream.subscribe("public:media")
        unlisted = await post(live_server, bob, "quiet #launch", visibility="unlisted")
        other_tag = await post(live_server, bob, "about #other")
        tagged = await post(live_server, bob, "we #Launch today")
        arrived = await stream.collect(QUIET_SECONDS * 2)
    by_stream: dict[tuple[str, ...], set[str]] = {}
    for message in arrived:
        by_stream.setdefault(tuple(message["stream"]), set()).update(subjects([message]))
    assert by_stream[("hashtag", "launch")] == {tagged["id"]}
    assert by_stream[("public:local",)] == {other_tag["id"], tagged["id"]}
    # Local posts are not remote; text-only posts are not media.
    assert ("public:remote",) not in by_stream and ("public:media",) not in by_stream
    assert unlisted["id"] not in subjects(arrived)


async def test_edits_and_deletions_arrive_as_status_update_and_delete(
    live_server: LiveServer,
) -> None:
    alice, bob, carol = await people(live_server, "alice", "bob", "carol")
    await api(live_server, alice, "POST", f"/api/v1/accounts/{bob.id}/follow")
    async with open_stream(live_server, alice) as ws, open_stream(live_server, carol) as ws2:
        stream, outsider = StreamSession(ws), StreamSession(ws2)
        await stream.subscribe("user")
        await outsider.subscribe("user")
        posted = await post(live_server, bob, "first words", visibility="private")
        await stream.wait_for("update", posted["id"])
        await api(
            live_server,
            bob,
            "PUT",
            f"/api/v1/statuses/{posted['id']}",
            json={"status": "second words"},
        )
        edited = await stream.wait_for("status.update", posted["id"])
        await api(live_server, bob, "DELETE", f"/api/v1/statuses/{posted['id']}")
        deleted = await stream.wait_for("delete", posted["id"])
        assert await outsider.collect(QUIET_SECONDS) == []
    assert "second words" in orjson.loads(edited["payload"])["content"]
    assert orjson.loads(edited["payload"])["edited_at"] is not None
    assert deleted == {"stream": ["user"], "event": "delete", "payload": posted["id"]}


async def test_notifications_arrive_on_the_user_and_notification_streams(
    live_server: LiveServer,
) -> None:
    alice, bob = await people(live_server, "alice", "bob")
    own = await post(live_server, alice, "alice writes")
    async with open_stream(live_server, alice) as ws:
        stream = StreamSession(ws)
        await stream.subscribe("user:notification")
        await api(live_server, bob, "POST", f"/api/v1/statuses/{own['id']}/favourite")
        favourite = await stream.wait_for("notification")
        await api(live_server, bob, "POST", f"/api/v1/accounts/{alice.id}/follow")
        follow = await stream.wait_for("notification")
    first, second = orjson.loads(favourite["payload"]), orjson.loads(follow["payload"])
    assert favourite["stream"] == ["user:notification"]
    assert (first["type"], first["account"]["id"], first["status"]["id"]) == (
        "favourite",
        bob.id,
        own["id"],
    )
    assert (second["type"], second["account"]["id"]) == ("follow", bob.id)
    listed = await api(live_server, alice, "GET", "/api/v1/notifications")
    assert {n["id"] for n in listed} == {first["id"], second["id"]}


async def test_mutes_blocks_and_hiding_filters_keep_posts_out_of_streams(
    live_server: LiveServer,
) -> None:
    alice, bob, dave, erin = await people(live_server, "alice", "bob", "dave", "erin")
    await api(live_server, alice, "POST", f"/api/v1/accounts/{dave.id}/mute")
    await api(live_server, erin, "POST", f"/api/v1/accounts/{alice.id}/block")
    await api(
        live_server,
        alice,
        "POST",
        "/api/v2/filters",
        json={
            "title": "No spoilers",
            "context": ["public"],
            "filter_action": "hide",
            "keywords_attributes": [{"keyword": "spoiler", "whole_word": True}],
        },
    )
    async with open_stream(live_server, alice) as ws:
        stream = StreamSession(ws)
        await stream.subscribe("public")
        muted = await post(live_server, dave, "muted voice")
        blocking = await post(live_server, erin, "erin blocks alice")
        filtered = await post(live_server, bob, "a spoiler for the finale")
        fine = await post(live_server, bob, "nothing to hide")
        arrived = subjects(await stream.collect(QUIET_SECONDS * 2))
    assert arrived == {fine["id"]}
    assert {muted["id"], blocking["id"], filtered["id"]}.isdisjoint(arrived)


async def test_unsubscribe_stops_a_stream_and_bad_subscriptions_answer_errors(
    live_server: LiveServer,
) -> None:
    alice, bob = await people(live_server, "alice", "bob")
    async with open_stream(live_server, alice) as ws:
        stream = StreamSession(ws)
        await stream.subscribe("public")
        await stream.unsubscribe("public")
        await ws.send('{"type": "subscribe", "stream": "nonsense"}')
        assert await stream.next() == {"error": "Unknown stream type", "status": 400}
        await ws.send('{"type": "subscribe", "stream": "list", "list": "12345"}')
        assert (await stream.next())["status"] == 404
        await stream.subscribe("public:local")
        posted = await post(live_server, bob, "after unsubscribing")
        arrived = await stream.collect(QUIET_SECONDS)
    assert [m["stream"] for m in arrived] == [["public:local"]]
    assert subjects(arrived) == {posted["id"]}


async def test_list_and_direct_streams(live_server: LiveServer) -> None:
    alice, bob, carol = await people(live_server, "alice", "bob", "carol")
    await api(live_server, alice, "POST", f"/api/v1/accounts/{bob.id}/follow")
    listed = await api(live_server, alice, "POST", "/api/v1/lists", json={"title": "Team"})
    await api(
        live_server,
        alice,
        "POST",
        f"/api/v1/lists/{listed['id']}/accounts",
        json={"account_ids": [bob.id]},
    )
    async with open_stream(live_server, alice) as ws:
        stream = StreamSession(ws)
        await stream.subscribe("list", list=listed["id"])
        await stream.subscribe("direct")
        in_list = await post(live_server, bob, "for the team")
        message = await stream.wait_for("update", in_list["id"])
        assert message["stream"] == ["list", listed["id"]]
        direct = await post(live_server, carol, "@alice just you", visibility="direct")
        conversation = await stream.wait_for("conversation")
    entity = orjson.loads(conversation["payload"])
    assert conversation["stream"] == ["direct"]
    assert entity["last_status"]["id"] == direct["id"]
    assert entity["unread"] is True
    assert [a["id"] for a in entity["accounts"]] == [carol.id]


async def test_server_sent_events_stream_and_health(live_server: LiveServer) -> None:
    alice, bob = await people(live_server, "alice", "bob")
    async with httpx.AsyncClient(base_url=live_server.base_url, timeout=30) as http:
        health = await http.get("/api/v1/streaming/health")
        assert (health.status_code, health.text) == (200, "OK")
        url = f"/api/v1/streaming/public/local?access_token={alice.token}"
        async with http.stream("GET", url) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.aiter_lines()
            assert await anext(lines) == ":)"
            posted = await post(live_server, bob, "over SSE")
            event = await asyncio.wait_for(anext(lines), 10)
            data = await asyncio.wait_for(anext(lines), 10)
    assert event == "event: update"
    assert data.startswith("data: ")
    assert orjson.loads(data[len("data: ") :])["id"] == posted["id"]


async def test_a_missing_or_bad_token_is_refused_with_401(live_server: LiveServer) -> None:
    await people(live_server, "alice")
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(live_server), additional_headers=headers):
                pass
        assert refused.value.response.status_code == 401
    async with httpx.AsyncClient(base_url=live_server.base_url, timeout=30) as http:
        sse = await http.get("/api/v1/streaming/user?access_token=wrong")
        assert sse.status_code == 401
        # An app-only token has no user: Mastodon 4.2+ refuses it too.
        app = (
            await http.post(
                "/api/v1/apps",
                json={"client_name": "x", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"},
            )
        ).json()
        grant = await http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
            },
        )
        app_token = grant.json()["access_token"]
        assert (
            await http.get(f"/api/v1/streaming/public?access_token={app_token}")
        ).status_code == 401


async def test_the_token_may_come_as_subprotocol_or_query_parameter(
    live_server: LiveServer,
) -> None:
    alice, bob = await people(live_server, "alice", "bob")
    async with (
        connect(ws_url(live_server), subprotocols=[alice.token]) as by_protocol,
        connect(  # type: ignore[list-item]
            ws_url(live_server, f"?access_token={alice.token}&stream=public")
        ) as by_query,
    ):
        assert by_protocol.subprotocol == alice.token
        first = StreamSession(by_protocol)
        await first.subscribe("public")
        await StreamSession(by_query).barrier()
        posted = await post(live_server, bob, "two ways in")
        assert (await first.wait_for("update", posted["id"]))["stream"] == ["public"]
        assert (await StreamSession(by_query).wait_for("update", posted["id"]))["stream"] == [
            "public"
        ]


async def test_the_instance_advertises_the_streaming_url(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.base_url, timeout=30) as http:
        instance = (await http.get("/api/v2/instance")).json()
    assert instance["configuration"]["urls"]["streaming"] == f"ws://{live_server.domain}"


# --- in process: parsing, slow consumers, heartbeats -------------------------------------------


def test_streams_parse_with_their_tag_or_list() -> None:
    assert parse_stream("hashtag", tag="#Cats") == StreamKey(Stream.HASHTAG, tag="cats")
    assert parse_stream("list", list_id="42").label() == ["list", "42"]
    assert parse_stream("public:remote:media").label() == ["public:remote:media"]
    for name, tag, list_id in (("bogus", None, None), ("hashtag", "", None), ("list", None, "x")):
        with pytest.raises(ValidationError):
            parse_stream(name, tag=tag, list_id=list_id)


async def test_a_slow_consumer_is_dropped_instead_of_buffered_without_bound() -> None:
    client = StreamClient(account_id=1, scopes="read", queue_limit=3)
    for n in range(3):
        client.offer(Message(["user"], "update", str(n)))
    assert not client.dropped and client.queue.qsize() == 3
    client.offer(Message(["user"], "update", "one too many"))
    assert client.dropped
    # What was queued is discarded and the writer is told to close.
    assert client.queue.qsize() == 1 and client.queue.get_nowait() is None
    client.offer(Message(["user"], "update", "after the drop"))
    assert client.queue.empty()


async def test_server_sent_events_send_thump_heartbeats_when_quiet() -> None:
    client = StreamClient(account_id=1, scopes="read")
    body = event_stream(client, heartbeat_seconds=0.05)
    assert await anext(body) == ":)\n"
    assert await anext(body) == ":thump\n"
    client.offer(Message(["public"], "delete", "123"))
    assert await anext(body) == "event: delete\ndata: 123\n\n"
    client.queue.put_nowait(None)
    with pytest.raises(StopAsyncIteration):
        await anext(body)
