"""A peer's posts reach local streams live: a signed Create delivered to a real server's inbox
arrives in a local follower's user stream, and a peer's Delete arrives as a delete event."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import orjson

from fediverse import ids
from fediverse.storage.database import Database
from fediverse.storage.remote_accounts import upsert_remote_account
from tests.inbox_peers import keypair, note, signed_headers, wrap
from tests.live_server import LiveServer
from tests.streaming_client import StreamSession, open_stream, people

ACTOR = "https://remote.example/users/rita"


async def _remote_followed_by(server: LiveServer, follower_id: str) -> int:
    """Rita on remote.example, her key known, followed by the local account `follower_id`."""
    database = Database(server.database_url, min_size=1, max_size=2)
    await database.connect()
    try:
        async with database.transaction() as conn:
            rita = await upsert_remote_account(
                conn,
                account_id=ids.new_id(),
                uri=ACTOR,
                username="rita",
                domain="remote.example",
                columns={
                    "inbox_url": f"{ACTOR}/inbox",
                    "shared_inbox_url": "https://remote.example/inbox",
                    "followers_url": f"{ACTOR}/followers",
                    "public_key_id": f"{ACTOR}#main-key",
                    "public_key_pem": keypair(0)[1],
                    "url": "https://remote.example/@rita",
                },
                fetched_at=datetime.now(UTC),
            )
            await conn.execute(
                "INSERT INTO follows (id, account_id, target_account_id) VALUES ($1, $2, $3)",
                ids.new_id(),
                int(follower_id),
                rita.id,
            )
        return rita.id
    finally:
        await database.close()


async def _deliver(server: LiveServer, activity: dict[str, object]) -> None:
    body = orjson.dumps(activity)
    url = f"{server.base_url}/inbox"
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(url, content=body, headers=signed_headers(ACTOR, body, url=url))
    assert response.status_code == 202, response.text


async def test_a_followed_peers_post_and_its_deletion_stream_to_the_local_follower(
    live_server: LiveServer,
) -> None:
    (alice,) = await people(live_server, "alice")
    await _remote_followed_by(live_server, alice.id)
    async with open_stream(live_server, alice) as ws:
        stream = StreamSession(ws)
        await stream.subscribe("user")
        posted = note(ACTOR, 1, content="<p>hello from far away</p>")
        await _deliver(live_server, wrap("Create", ACTOR, posted))
        update = await stream.wait_for("update", within=20)
        status = orjson.loads(update["payload"])
        assert status["uri"] == posted["id"]
        assert status["account"]["acct"] == "rita@remote.example"
        assert "hello from far away" in status["content"]

        await _deliver(
            live_server,
            wrap("Delete", ACTOR, {"id": posted["id"], "type": "Tombstone"}),
        )
        deleted = await stream.wait_for("delete", status["id"], within=20)
        assert deleted["payload"] == status["id"]
