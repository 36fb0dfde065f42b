"""Scheduled statuses: validation, the ScheduledStatus entity, list/show/reschedule/cancel, and
publishing when due."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from starlette.applications import Starlette

from fediverse.config import Settings
from fediverse.scheduled import publish_due_scheduled, run_timed_work
from fediverse.storage.database import Database
from tests.factories import StaffMember, make_staff
from tests.test_timelines import next_link
from web.mastodon_api.statuses import posting_context_for


def at(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


async def schedule(
    client: httpx.AsyncClient, who: StaffMember, when: str, **extra: Any
) -> httpx.Response:
    return await client.post(
        "/api/v1/statuses",
        headers=who.headers,
        json={"status": "later", "scheduled_at": when} | extra,
    )


async def publish(app: Starlette, database: Database, now: datetime) -> int:
    return await publish_due_scheduled(database, now, posting_context_for(app.state.fediverse))


async def test_scheduling_answers_a_scheduled_status_and_posts_nothing_yet(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")

    response = await schedule(
        client, alice, at(timedelta(hours=1)), visibility="unlisted", spoiler_text="cw"
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"id", "scheduled_at", "params", "media_attachments"}
    assert body["scheduled_at"].endswith("Z")
    assert body["params"]["text"] == "later"
    assert body["params"]["visibility"] == "unlisted"
    assert body["params"]["spoiler_text"] == "cw"
    assert body["params"]["scheduled_at"] is None
    assert body["media_attachments"] == []
    statuses = await client.get(f"/api/v1/accounts/{alice.id}/statuses", headers=alice.headers)
    assert statuses.json() == []


async def test_scheduled_at_must_be_five_minutes_ahead_and_well_formed(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")

    for when in (at(timedelta(minutes=4)), at(-timedelta(hours=1)), "next tuesday"):
        response = await schedule(client, alice, when)
        assert response.status_code == 422, (when, response.text)
        assert "error" in response.json()
    assert (await schedule(client, alice, at(timedelta(minutes=6)))).status_code == 200
    blank = await client.post(
        "/api/v1/statuses",
        headers=alice.headers,
        json={"status": " ", "scheduled_at": at(timedelta(hours=1))},
    )
    assert blank.status_code == 422


async def test_list_show_reschedule_and_cancel(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    first = (await schedule(client, alice, at(timedelta(hours=1)))).json()
    second = (await schedule(client, alice, at(timedelta(hours=2)))).json()

    listed = await client.get(
        "/api/v1/scheduled_statuses", headers=alice.headers, params={"limit": 1}
    )
    assert [s["id"] for s in listed.json()] == [second["id"]]
    link = next_link(listed)
    assert link is not None
    assert [s["id"] for s in (await client.get(link, headers=alice.headers)).json()] == [
        first["id"]
    ]
    path = f"/api/v1/scheduled_statuses/{first['id']}"
    assert (await client.get(path, headers=alice.headers)).json()["id"] == first["id"]
    assert (await client.get(path, headers=bob.headers)).status_code == 404
    assert (await client.get("/api/v1/scheduled_statuses", headers=bob.headers)).json() == []

    later = datetime.now(UTC) + timedelta(days=1)
    moved = await client.put(path, headers=alice.headers, json={"scheduled_at": later.isoformat()})
    too_soon = await client.put(
        path, headers=alice.headers, json={"scheduled_at": at(timedelta(minutes=1))}
    )

    assert moved.status_code == 200
    moved_to = datetime.fromisoformat(moved.json()["scheduled_at"].replace("Z", "+00:00"))
    assert abs(moved_to - later) < timedelta(seconds=1)
    assert too_soon.status_code == 422
    assert (await client.delete(path, headers=bob.headers)).status_code == 404
    assert (await client.delete(path, headers=alice.headers)).status_code == 200
    assert (await client.get(path, headers=alice.headers)).status_code == 404


async def test_due_scheduled_statuses_are_published_with_their_poll_and_only_then(
    app: Starlette, client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    poll = {"options": ["yes", "no"], "expires_in": 600}
    soon = (await schedule(client, alice, at(timedelta(minutes=10)), poll=poll)).json()
    later = (await schedule(client, alice, at(timedelta(hours=3)))).json()
    assert soon["params"]["poll"]["options"] == ["yes", "no"]

    assert await publish(app, database, datetime.now(UTC)) == 0
    published = await publish(app, database, datetime.now(UTC) + timedelta(minutes=11))

    assert published == 1
    statuses = await client.get(f"/api/v1/accounts/{alice.id}/statuses", headers=alice.headers)
    [status] = statuses.json()
    assert status["content"] == "<p>later</p>"
    assert [o["title"] for o in status["poll"]["options"]] == ["yes", "no"]
    remaining = await client.get("/api/v1/scheduled_statuses", headers=alice.headers)
    assert [s["id"] for s in remaining.json()] == [later["id"]]
    assert await publish(app, database, datetime.now(UTC) + timedelta(minutes=12)) == 0


async def test_a_scheduled_reply_whose_parent_is_gone_is_dropped(
    app: Starlette, client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    parent = await client.post("/api/v1/statuses", headers=alice.headers, data={"status": "p"})
    parent_id = parent.json()["id"]
    await schedule(client, alice, at(timedelta(minutes=10)), in_reply_to_id=parent_id)
    await schedule(client, alice, at(timedelta(minutes=10)))
    assert (
        await client.delete(f"/api/v1/statuses/{parent_id}", headers=alice.headers)
    ).status_code == 200

    assert await publish(app, database, datetime.now(UTC) + timedelta(minutes=11)) == 1

    assert (await client.get("/api/v1/scheduled_statuses", headers=alice.headers)).json() == []
    statuses = await client.get(f"/api/v1/accounts/{alice.id}/statuses", headers=alice.headers)
    assert [s["in_reply_to_id"] for s in statuses.json()] == [None]


async def test_the_timed_work_loop_publishes_due_posts_and_closes_ended_polls(
    app: Starlette, client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    poll = {"options": ["yes", "no"], "expires_in": 300}
    posted = await client.post(
        "/api/v1/statuses", headers=alice.headers, json={"status": "now", "poll": poll}
    )
    assert posted.status_code == 200
    await schedule(client, alice, at(timedelta(minutes=10)))
    stop = asyncio.Event()

    def one_pass_an_hour_ahead() -> datetime:
        stop.set()  # the loop finishes the pass it is starting, then ends
        return datetime.now(UTC) + timedelta(hours=1)

    await run_timed_work(
        database, posting_context_for(app.state.fediverse), stop, clock=one_pass_an_hour_ahead
    )

    statuses = await client.get(f"/api/v1/accounts/{alice.id}/statuses", headers=alice.headers)
    assert [s["content"] for s in statuses.json()] == ["<p>later</p>", "<p>now</p>"]
    notifications = await client.get(
        "/api/v1/notifications", headers=alice.headers, params={"types[]": "poll"}
    )
    assert [n["status"]["id"] for n in notifications.json()] == [posted.json()["id"]]
