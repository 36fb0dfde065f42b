"""`severed_relationships` notifications carry Mastodon 4.3's RelationshipSeveranceEvent as
`event` in /api/v1/notifications and /api/v2/notifications: an admin suspends a domain or
federation narrows to an allowlist, through the admin API, and the staff member whose follows
were cut reads what happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from fediverse.config import Settings
from fediverse.storage.database import Database
from tests.factories import StaffMember, make_staff
from tests.test_publishing import make_follow, make_remote

ADMIN_SCOPES = "read write follow admin:read admin:write"
EVENT_KEYS = {
    "id",
    "type",
    "purged",
    "target_name",
    "followers_count",
    "following_count",
    "created_at",
}


@pytest.fixture
async def admin(database: Database, settings: Settings) -> StaffMember:
    return await make_staff(database, settings, "root", role="admin", scopes=ADMIN_SCOPES)


async def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def severed_v1(client: httpx.AsyncClient, staff: StaffMember) -> list[dict[str, Any]]:
    found = await _ok(await client.get("/api/v1/notifications", headers=staff.headers))
    return [n for n in found if n["type"] == "severed_relationships"]


async def severed_v2(client: httpx.AsyncClient, staff: StaffMember) -> list[dict[str, Any]]:
    found = await _ok(await client.get("/api/v2/notifications", headers=staff.headers))
    return [g for g in found["notification_groups"] if g["type"] == "severed_relationships"]


def _recent(stamp: str) -> bool:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return abs(datetime.now(UTC) - moment) < timedelta(minutes=5)


async def test_a_suspended_domain_tells_each_follower_what_was_cut_in_v1_and_v2(
    client: httpx.AsyncClient, database: Database, settings: Settings, admin: StaffMember
) -> None:
    alice = await make_staff(database, settings, "alice")
    carol = await make_staff(database, settings, "carol")
    eve = await make_remote(database, "eve", "bad.example")
    mallory = await make_remote(database, "mallory", "bad.example")
    await make_follow(database, alice.account, eve)
    await make_follow(database, eve, alice.account)
    await make_follow(database, mallory, alice.account)
    await make_follow(database, carol.account, mallory)

    await _ok(
        await client.post(
            "/api/v1/admin/domain_blocks",
            data={"domain": "bad.example", "severity": "suspend"},
            headers=admin.headers,
        )
    )

    [notification] = await severed_v1(client, alice)
    event = notification["event"]
    assert set(event) == EVENT_KEYS
    assert event["type"] == "domain_block"
    assert event["target_name"] == "bad.example"
    # A suspension removes the domain's accounts: the severed list itself is gone.
    assert event["purged"] is True
    assert (event["following_count"], event["followers_count"]) == (1, 2)
    assert isinstance(event["id"], str) and event["id"].isdigit()
    assert _recent(event["created_at"]) and event["created_at"].endswith("Z")
    assert notification["account"]["id"] == alice.id

    shown = await _ok(
        await client.get(f"/api/v1/notifications/{notification['id']}", headers=alice.headers)
    )
    assert shown["event"] == event

    [group] = await severed_v2(client, alice)
    assert group["event"] == event
    assert group["most_recent_notification_id"] == notification["id"]

    # Each account gets its own figures (and its own event id) for the same domain event.
    [carols] = await severed_v1(client, carol)
    assert carols["event"]["target_name"] == "bad.example"
    assert (carols["event"]["following_count"], carols["event"]["followers_count"]) == (1, 0)
    assert carols["event"]["id"] != event["id"]
    assert (await severed_v2(client, carol))[0]["event"] == carols["event"]


async def test_narrowing_to_an_allowlist_severs_per_domain_without_purging(
    client: httpx.AsyncClient, database: Database, settings: Settings, admin: StaffMember
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_remote(database, "bob", "gone.example")
    dan = await make_remote(database, "dan", "other.example")
    fran = await make_remote(database, "fran", "friend.example")
    await make_follow(database, alice.account, bob)
    await make_follow(database, dan, alice.account)
    await make_follow(database, alice.account, fran)
    await _ok(
        await client.post(
            "/api/v1/admin/domain_allows", data={"domain": "friend.example"}, headers=admin.headers
        )
    )

    await _ok(
        await client.put(
            "/api/v1/admin/federation", data={"mode": "allowlist"}, headers=admin.headers
        )
    )

    events = {n["event"]["target_name"]: n["event"] for n in await severed_v1(client, alice)}
    assert sorted(events) == ["gone.example", "other.example"]
    for event in events.values():
        assert set(event) == EVENT_KEYS
        assert event["type"] == "domain_block" and event["purged"] is True
    gone, other = events["gone.example"], events["other.example"]
    assert (gone["following_count"], gone["followers_count"]) == (1, 0)
    assert (other["following_count"], other["followers_count"]) == (0, 1)

    grouped = {g["event"]["target_name"]: g["event"] for g in await severed_v2(client, alice)}
    assert grouped == events


async def test_removing_an_allow_in_allowlist_mode_notifies_with_the_event(
    client: httpx.AsyncClient, database: Database, settings: Settings, admin: StaffMember
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_remote(database, "bob", "peer.example")
    await make_follow(database, bob, alice.account)
    allow = await _ok(
        await client.post(
            "/api/v1/admin/domain_allows", data={"domain": "peer.example"}, headers=admin.headers
        )
    )
    await _ok(
        await client.put(
            "/api/v1/admin/federation", data={"mode": "allowlist"}, headers=admin.headers
        )
    )
    assert await severed_v1(client, alice) == []

    await _ok(
        await client.delete(f"/api/v1/admin/domain_allows/{allow['id']}", headers=admin.headers)
    )

    [notification] = await severed_v1(client, alice)
    assert notification["event"]["target_name"] == "peer.example"
    assert notification["event"]["purged"] is True
    assert (notification["event"]["following_count"], notification["event"]["followers_count"]) == (
        0,
        1,
    )
    [group] = await severed_v2(client, alice)
    assert group["event"] == notification["event"]


async def test_other_notifications_carry_no_event(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await _ok(await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers))

    [follow] = await _ok(await client.get("/api/v1/notifications", headers=alice.headers))
    grouped = await _ok(await client.get("/api/v2/notifications", headers=alice.headers))

    assert follow["type"] == "follow" and "event" not in follow
    assert [g["type"] for g in grouped["notification_groups"]] == ["follow"]
    assert "event" not in grouped["notification_groups"][0]


async def test_a_severance_notification_without_its_event_is_left_out(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    """Apps read `event` without a null check (Mastodon always sends one); a notification
    recorded before events were kept is not shown rather than shown with `event: null`."""
    from fediverse import ids
    from fediverse.storage import notifications as notification_store

    alice = await make_staff(database, settings, "alice")
    async with database.transaction() as conn:
        await notification_store.insert_notification(
            conn,
            notification_id=ids.new_id(),
            account_id=alice.account.id,
            from_account_id=alice.account.id,
            type="severed_relationships",
            status_id=None,
            group_key=None,
        )
    assert await severed_v1(client, alice) == []
    assert await severed_v2(client, alice) == []
