"""Streamed status payloads are rendered per recipient: author-only fields and each person's own
poll votes never leak to other recipients of the same event."""

from __future__ import annotations

import httpx
import orjson

from fediverse.config import Settings
from fediverse.storage import statuses as status_store
from fediverse.storage.database import Database
from fediverse.streaming import StatusRouting, Stream, StreamKey
from fediverse.urls import LocalUrls
from tests.factories import make_staff
from web.mastodon_api.streaming_entities import load_status_payloads

USER = StreamKey(Stream("user"))


async def test_only_the_author_gets_the_audience_summary_in_a_streamed_status(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    posted = (
        await client.post(
            "/api/v1/statuses",
            data={"status": "for followers", "visibility": "private"},
            headers=alice.headers,
        )
    ).json()
    async with database.connection() as conn:
        status = await status_store.fetch_status(conn, status_id=int(posted["id"]))
        assert status is not None
        # The author first: the shared view is loaded as the first recipient.
        routing = StatusRouting(
            event="update",
            status=status,
            recipients={alice.account.id: [USER], bob.account.id: [USER]},
        )
        payloads = await load_status_payloads(conn, routing, LocalUrls(settings))
    assert payloads is not None
    for_alice = orjson.loads(payloads.payload(alice.account.id, USER))
    for_bob = orjson.loads(payloads.payload(bob.account.id, USER))
    assert for_alice["audience"] == "Your 1 follower"
    assert "audience" not in for_bob
    assert for_bob["id"] == for_alice["id"] == posted["id"]


async def test_each_recipient_sees_their_own_poll_votes_in_a_streamed_status(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    voter = await make_staff(database, settings, "voter")
    other = await make_staff(database, settings, "other")
    posted = (
        await client.post(
            "/api/v1/statuses",
            json={"status": "lunch?", "poll": {"options": ["pizza", "soup"], "expires_in": 3600}},
            headers=alice.headers,
        )
    ).json()
    voted = await client.post(
        f"/api/v1/polls/{posted['poll']['id']}/votes",
        json={"choices": [1]},
        headers=voter.headers,
    )
    assert voted.status_code == 200, voted.text
    async with database.connection() as conn:
        status = await status_store.fetch_status(conn, status_id=int(posted["id"]))
        assert status is not None
        routing = StatusRouting(
            event="status.update",
            status=status,
            recipients={voter.account.id: [USER], other.account.id: [USER]},
        )
        payloads = await load_status_payloads(conn, routing, LocalUrls(settings))
    assert payloads is not None
    for_voter = orjson.loads(payloads.payload(voter.account.id, USER))["poll"]
    for_other = orjson.loads(payloads.payload(other.account.id, USER))["poll"]
    assert (for_voter["voted"], for_voter["own_votes"]) == (True, [1])
    assert (for_other["voted"], for_other["own_votes"]) == (False, [])
