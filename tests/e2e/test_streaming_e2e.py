"""Two `fediverse serve` processes on one database: a post made through one reaches a stream
held by the other, through PostgreSQL LISTEN/NOTIFY."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from tests.live_server import LiveServer, start_live_server
from tests.streaming_client import StreamSession, api, open_stream, people, post, subjects


@pytest.fixture
def second_server(live_server: LiveServer) -> Iterator[LiveServer]:
    """Another web process on the same database, serving the same domain."""
    server = start_live_server(
        live_server.database_url,
        data_dir=live_server.data_dir,
        extra_env={"FEDIVERSE_DOMAIN": live_server.domain},
    )
    try:
        yield server
    finally:
        exit_code = server.stop()
    assert exit_code == 0, server.output


async def test_a_post_through_one_process_reaches_a_stream_on_another(
    live_server: LiveServer, second_server: LiveServer
) -> None:
    alice, bob, carol = await people(live_server, "alice", "bob", "carol")
    await api(live_server, alice, "POST", f"/api/v1/accounts/{bob.id}/follow")
    async with (
        open_stream(second_server, alice) as ws_alice,
        open_stream(second_server, carol) as ws_carol,
    ):
        follower, outsider = StreamSession(ws_alice), StreamSession(ws_carol)
        await follower.subscribe("user")
        await outsider.subscribe("user")
        await outsider.subscribe("public")
        private = await post(live_server, bob, "from process one", visibility="private")
        arrived = await follower.wait_for("update", private["id"])
        assert orjson.loads(arrived["payload"])["content"] == private["content"]
        # The audience rule holds across processes too.
        assert private["id"] not in subjects(await outsider.collect(1.5))
        # And the other way round: through process two, into a stream on process one.
        async with open_stream(live_server, carol) as ws_back:
            back = StreamSession(ws_back)
            await back.subscribe("public")
            public = await post(second_server, bob, "from process two")
            await back.wait_for("update", public["id"])
            await outsider.wait_for("update", public["id"])
