"""Notifications v1: listing with filters and paging, one, dismiss, clear, unread count."""

from __future__ import annotations

import httpx

from fediverse import ids
from fediverse import statuses as status_domain
from fediverse.config import Settings
from fediverse.notifications import notify
from fediverse.storage.database import Database
from fediverse.urls import LocalUrls
from tests.factories import StaffMember, make_staff
from tests.test_timelines import follow, next_link, post, relate


async def favourite(database: Database, who: StaffMember, status_id: int) -> None:
    async with database.transaction() as conn:
        await status_domain.favourite(conn, account=who.account, status_id=status_id)


async def follow_notice(database: Database, follower: StaffMember, target: StaffMember) -> int:
    async with database.transaction() as conn:
        made = await notify(
            conn, recipient_id=target.account.id, from_account_id=follower.account.id, type="follow"
        )
    assert made is not None
    return made


async def notification_types(
    client: httpx.AsyncClient, who: StaffMember, **params: object
) -> list[tuple[str, str]]:
    response = await client.get("/api/v1/notifications", headers=who.headers, params=params)
    assert response.status_code == 200, response.text
    return [(item["type"], item["account"]["username"]) for item in response.json()]


async def test_notifications_list_newest_first_with_mastodons_entity_shape(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await follow_notice(database, bob, alice)
    mention = await post(database, settings, bob, "@alice hello")

    response = await client.get("/api/v1/notifications", headers=alice.headers)

    body = response.json()
    assert [item["type"] for item in body] == ["mention", "follow"]
    assert body[0]["status"]["id"] == str(mention)
    assert body[0]["account"]["id"] == bob.id
    assert set(body[0]) == {"id", "type", "created_at", "group_key", "account", "status"}
    # A follow has no status key at all, as Mastodon sends it.
    assert set(body[1]) == {"id", "type", "created_at", "group_key", "account"}
    assert body[1]["group_key"].startswith("follow-")
    assert body[0]["created_at"].endswith("Z")


async def test_notifications_filter_by_types_excluded_types_and_account(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    own = await post(database, settings, alice, "like me")
    await follow_notice(database, bob, alice)
    await favourite(database, carol, own)
    await post(database, settings, bob, "@alice hi")

    assert await notification_types(client, alice, **{"types[]": ["favourite", "follow"]}) == [
        ("favourite", "carol"),
        ("follow", "bob"),
    ]
    assert await notification_types(client, alice, **{"exclude_types[]": ["mention"]}) == [
        ("favourite", "carol"),
        ("follow", "bob"),
    ]
    assert await notification_types(client, alice, account_id=bob.id) == [
        ("mention", "bob"),
        ("follow", "bob"),
    ]


async def test_notifications_page_with_max_since_min_id_and_link_headers(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    senders = [await make_staff(database, settings, f"fan{i}") for i in range(5)]
    made = [await follow_notice(database, sender, alice) for sender in senders]
    newest_first = sorted(made, reverse=True)

    first = await client.get("/api/v1/notifications?limit=2", headers=alice.headers)
    assert [int(n["id"]) for n in first.json()] == newest_first[:2]
    second = await client.get(next_link(first) or "", headers=alice.headers)
    assert [int(n["id"]) for n in second.json()] == newest_first[2:4]
    above = await client.get(
        f"/api/v1/notifications?min_id={newest_first[4]}&limit=2", headers=alice.headers
    )
    assert [int(n["id"]) for n in above.json()] == newest_first[2:4]
    since = await client.get(
        f"/api/v1/notifications?since_id={newest_first[4]}&limit=2", headers=alice.headers
    )
    assert [int(n["id"]) for n in since.json()] == newest_first[:2]


async def test_one_notification_can_be_read_and_dismissed(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    notification_id = await follow_notice(database, bob, alice)

    shown = await client.get(f"/api/v1/notifications/{notification_id}", headers=alice.headers)
    assert shown.status_code == 200 and shown.json()["type"] == "follow"
    other = await client.get(f"/api/v1/notifications/{notification_id}", headers=bob.headers)
    assert other.status_code == 404

    refused = await client.post(
        f"/api/v1/notifications/{notification_id}/dismiss", headers=bob.headers
    )
    assert refused.status_code == 404
    dismissed = await client.post(
        f"/api/v1/notifications/{notification_id}/dismiss", headers=alice.headers
    )
    assert dismissed.status_code == 200 and dismissed.json() == {}
    gone = await client.get(f"/api/v1/notifications/{notification_id}", headers=alice.headers)
    assert gone.status_code == 404


async def test_clear_removes_every_notification_of_the_caller_only(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await follow_notice(database, bob, alice)
    await follow_notice(database, alice, bob)

    cleared = await client.post("/api/v1/notifications/clear", headers=alice.headers)

    assert cleared.status_code == 200 and cleared.json() == {}
    assert await notification_types(client, alice) == []
    assert await notification_types(client, bob) == [("follow", "alice")]


async def test_unread_count_counts_notifications_after_the_marker(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    senders = [await make_staff(database, settings, f"fan{i}") for i in range(4)]
    made = [await follow_notice(database, sender, alice) for sender in senders]

    async def unread(**params: object) -> int:
        response = await client.get(
            "/api/v1/notifications/unread_count", headers=alice.headers, params=params
        )
        assert response.status_code == 200
        return int(response.json()["count"])

    assert await unread() == 4
    assert await unread(limit=2) == 2
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO markers (account_id, timeline, last_read_id) "
            "VALUES ($1, 'notifications', $2)",
            alice.account.id,
            made[1],
        )
    assert await unread() == 2
    assert await unread(**{"exclude_types[]": ["follow"]}) == 0


async def test_a_notification_about_a_post_the_recipient_can_no_longer_see_is_hidden(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await follow(database, alice, bob)
    mention_id = await post(database, settings, bob, "@alice for followers", visibility="private")
    assert await notification_types(client, alice) == [("mention", "bob")]
    notification_id = (await client.get("/api/v1/notifications", headers=alice.headers)).json()[0][
        "id"
    ]

    await relate(database, "blocks", bob, alice)  # bob blocks alice: the post is out of reach

    assert await notification_types(client, alice) == []
    shown = await client.get(f"/api/v1/notifications/{notification_id}", headers=alice.headers)
    assert shown.status_code == 404
    async with database.connection() as conn:
        still_stored = await conn.fetchval(
            "SELECT count(*) FROM notifications WHERE status_id = $1", mention_id
        )
    assert still_stored == 1


async def test_notifications_from_blocked_or_muted_accounts_are_hidden(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    dave = await make_staff(database, settings, "dave")
    for sender in (bob, carol, dave):
        await follow_notice(database, sender, alice)

    await relate(database, "blocks", alice, bob)
    await relate(database, "mutes", alice, carol)

    assert await notification_types(client, alice) == [("follow", "dave")]


async def test_reblog_and_favourite_notifications_carry_the_status(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    own = await post(database, settings, alice, "boost me")
    await favourite(database, bob, own)
    async with database.transaction() as conn:
        await status_domain.reblog(
            conn, account=bob.account, status_id=own, visibility=None, urls=LocalUrls(settings)
        )

    body = (await client.get("/api/v1/notifications", headers=alice.headers)).json()

    assert [(n["type"], n["status"]["id"]) for n in body] == [
        ("reblog", str(own)),
        ("favourite", str(own)),
    ]
    assert body[0]["group_key"] == f"reblog-{own}"


async def test_notifications_need_notification_scopes(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    reader = await make_staff(database, settings, "reader", scopes="read:statuses")
    assert (await client.get("/api/v1/notifications", headers=reader.headers)).status_code == 403
    clear = await client.post("/api/v1/notifications/clear", headers=reader.headers)
    assert clear.status_code == 403
    unknown = await client.get(f"/api/v1/notifications/{ids.new_id()}", headers=reader.headers)
    assert unknown.status_code == 403
