"""Notifications v2 (Mastodon 4.3 grouped), the notification policy and notification requests."""

from __future__ import annotations

from typing import Any

import httpx

from fediverse.config import Settings
from fediverse.storage.database import Database
from tests.factories import StaffMember, make_staff
from tests.test_timelines import follow, next_link


async def post(client: httpx.AsyncClient, author: StaffMember, text: str, **extra: str) -> str:
    response = await client.post(
        "/api/v1/statuses", headers=author.headers, data={"status": text} | extra
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def favourite(client: httpx.AsyncClient, who: StaffMember, status_id: str) -> None:
    response = await client.post(f"/api/v1/statuses/{status_id}/favourite", headers=who.headers)
    assert response.status_code == 200, response.text


async def follow_via_api(client: httpx.AsyncClient, who: StaffMember, target: StaffMember) -> None:
    response = await client.post(f"/api/v1/accounts/{target.id}/follow", headers=who.headers)
    assert response.status_code == 200, response.text


async def grouped(
    client: httpx.AsyncClient, who: StaffMember, **params: Any
) -> tuple[dict[str, Any], httpx.Response]:
    response = await client.get("/api/v2/notifications", headers=who.headers, params=params)
    assert response.status_code == 200, response.text
    return response.json(), response


async def test_three_favourites_of_one_post_become_one_group(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    fans = [await make_staff(database, settings, name) for name in ("bob", "carol", "dave")]
    status_id = await post(client, alice, "a good post")
    for fan in fans:
        await favourite(client, fan, status_id)

    body, _ = await grouped(client, alice)

    assert set(body) == {"accounts", "statuses", "notification_groups"}
    [group] = body["notification_groups"]
    assert group["type"] == "favourite"
    assert group["notifications_count"] == 3
    assert group["group_key"] == f"favourite-{status_id}"
    assert group["status_id"] == status_id
    # Newest first, as Mastodon samples them.
    assert group["sample_account_ids"] == [fans[2].id, fans[1].id, fans[0].id]
    assert set(group) >= {
        "most_recent_notification_id", "page_min_id", "page_max_id",
        "latest_page_notification_at",
    }  # fmt: skip
    assert int(group["page_min_id"]) < int(group["page_max_id"])
    assert group["page_max_id"] == group["most_recent_notification_id"]
    assert sorted(a["id"] for a in body["accounts"]) == sorted(f.id for f in fans)
    assert [s["id"] for s in body["statuses"]] == [status_id]


async def test_follows_are_grouped_and_other_types_are_not(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    await follow_via_api(client, bob, alice)
    await follow_via_api(client, carol, alice)
    await post(client, bob, "@alice one")
    await post(client, bob, "@alice two")

    body, _ = await grouped(client, alice)

    kinds = [(g["type"], g["notifications_count"]) for g in body["notification_groups"]]
    assert kinds == [("mention", 1), ("mention", 1), ("follow", 2)]
    mentions = [g["group_key"] for g in body["notification_groups"][:2]]
    assert all(key.startswith("ungrouped-") for key in mentions)
    assert body["notification_groups"][2]["sample_account_ids"] == [carol.id, bob.id]
    assert "status_id" not in body["notification_groups"][2]


async def test_grouped_types_chooses_what_is_grouped(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    status_id = await post(client, alice, "post")
    await favourite(client, bob, status_id)
    await favourite(client, carol, status_id)
    await follow_via_api(client, bob, alice)
    await follow_via_api(client, carol, alice)

    body, _ = await grouped(client, alice, **{"grouped_types[]": ["follow"]})

    kinds = [(g["type"], g["notifications_count"]) for g in body["notification_groups"]]
    assert kinds == [("follow", 2), ("favourite", 1), ("favourite", 1)]


async def test_types_exclude_types_and_account_filter_the_groups(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    status_id = await post(client, alice, "post")
    await favourite(client, bob, status_id)
    await follow_via_api(client, carol, alice)
    await post(client, carol, "@alice hey")

    def types(body: dict[str, Any]) -> list[str]:
        return [g["type"] for g in body["notification_groups"]]

    assert types((await grouped(client, alice, **{"types[]": ["follow"]}))[0]) == ["follow"]
    excluded = (await grouped(client, alice, **{"exclude_types[]": ["mention"]}))[0]
    assert types(excluded) == ["follow", "favourite"]
    assert types((await grouped(client, alice, account_id=carol.id))[0]) == ["mention", "follow"]


async def test_groups_page_with_link_headers_without_losing_any(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    posts = [await post(client, alice, f"post {n}") for n in range(5)]
    for status_id in posts:
        await favourite(client, bob, status_id)

    first, response = await grouped(client, alice, limit=2)
    pages = [[g["status_id"] for g in first["notification_groups"]]]
    link = next_link(response)
    while link is not None:
        followed = await client.get(link, headers=alice.headers)
        groups = followed.json()["notification_groups"]
        if not groups:
            break
        pages.append([g["status_id"] for g in groups])
        link = next_link(followed)

    assert pages == [posts[4:2:-1], posts[2:0:-1], posts[0:1]]
    newer, _ = await grouped(
        client, alice, min_id=first["notification_groups"][1]["most_recent_notification_id"]
    )
    assert [g["status_id"] for g in newer["notification_groups"]] == [posts[4]]


async def test_one_group_its_accounts_and_dismissing_it(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    status_id = await post(client, alice, "post")
    other = await post(client, alice, "another")
    await favourite(client, bob, status_id)
    await favourite(client, carol, status_id)
    await favourite(client, carol, other)
    key = f"favourite-{status_id}"

    one = await client.get(f"/api/v2/notifications/{key}", headers=alice.headers)
    accounts = await client.get(f"/api/v2/notifications/{key}/accounts", headers=alice.headers)
    assert one.status_code == 200
    assert [
        (g["group_key"], g["notifications_count"]) for g in one.json()["notification_groups"]
    ] == [(key, 2)]
    assert [a["username"] for a in accounts.json()] == ["carol", "bob"]
    assert (
        await client.get(f"/api/v2/notifications/{key}", headers=bob.headers)
    ).status_code == 404

    dismissed = await client.post(f"/api/v2/notifications/{key}/dismiss", headers=alice.headers)

    assert dismissed.status_code == 200
    body, _ = await grouped(client, alice)
    assert [g["group_key"] for g in body["notification_groups"]] == [f"favourite-{other}"]
    assert (
        await client.get(f"/api/v2/notifications/{key}", headers=alice.headers)
    ).status_code == 404
    v1 = await client.get("/api/v1/notifications", headers=alice.headers)
    assert len(v1.json()) == 1


async def test_partial_avatars_send_the_rest_of_the_accounts_in_short(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    status_id = await post(client, alice, "post")
    await favourite(client, bob, status_id)
    await favourite(client, carol, status_id)

    body, _ = await grouped(client, alice, expand_accounts="partial_avatars")

    assert [a["username"] for a in body["accounts"]] == ["carol"]
    [partial] = body["partial_accounts"]
    assert partial["id"] == bob.id
    assert set(partial) == {"id", "acct", "url", "avatar", "avatar_static", "locked", "bot"}


async def test_unread_count_counts_groups_after_the_marker(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    status_id = await post(client, alice, "post")
    await favourite(client, bob, status_id)
    await favourite(client, carol, status_id)
    await post(client, bob, "@alice hi")

    count = await client.get("/api/v2/notifications/unread_count", headers=alice.headers)
    assert count.json() == {"count": 2}
    body, _ = await grouped(client, alice)
    newest = body["notification_groups"][0]["most_recent_notification_id"]
    marker = await client.post(
        "/api/v1/markers", headers=alice.headers, data={"notifications[last_read_id]": newest}
    )
    assert marker.status_code == 200, marker.text
    after = await client.get("/api/v2/notifications/unread_count", headers=alice.headers)
    assert after.json() == {"count": 0}


async def test_the_policy_reads_and_updates_with_its_summary(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")

    shown = await client.get("/api/v2/notifications/policy", headers=alice.headers)
    changed = await client.patch(
        "/api/v2/notifications/policy",
        headers=alice.headers,
        json={"for_not_following": "filter", "for_new_accounts": "drop"},
    )
    refused = await client.patch(
        "/api/v2/notifications/policy", headers=alice.headers, json={"for_not_following": "maybe"}
    )

    assert shown.json() == {
        "for_not_following": "accept",
        "for_not_followers": "accept",
        "for_new_accounts": "accept",
        "for_private_mentions": "accept",
        "for_limited_accounts": "filter",
        "summary": {"pending_requests_count": 0, "pending_notifications_count": 0},
    }
    assert changed.status_code == 200
    assert changed.json()["for_not_following"] == "filter"
    assert changed.json()["for_new_accounts"] == "drop"
    assert changed.json()["for_private_mentions"] == "accept"
    assert refused.status_code == 422
    again = await client.get("/api/v2/notifications/policy", headers=alice.headers)
    assert again.json() == changed.json()


async def test_a_strangers_mention_waits_in_a_request_until_accepted(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    friend = await make_staff(database, settings, "friend")
    stranger = await make_staff(database, settings, "stranger")
    await follow(database, alice, friend)
    await client.patch(
        "/api/v2/notifications/policy", headers=alice.headers, json={"for_not_following": "filter"}
    )

    await post(client, friend, "@alice from a friend")
    mention = await post(client, stranger, "@alice buy my stuff")
    await post(client, stranger, "@alice really")

    v1 = await client.get("/api/v1/notifications", headers=alice.headers)
    assert [n["account"]["username"] for n in v1.json()] == ["friend"]
    v2, _ = await grouped(client, alice)
    assert len(v2["notification_groups"]) == 1
    requests = await client.get("/api/v1/notifications/requests", headers=alice.headers)
    [request] = requests.json()
    assert request["account"]["username"] == "stranger"
    assert request["notifications_count"] == "2"
    assert request["last_status"]["id"] != mention  # the newest one
    assert set(request) == {
        "id", "created_at", "updated_at", "account", "notifications_count", "last_status"
    }  # fmt: skip
    policy = await client.get("/api/v2/notifications/policy", headers=alice.headers)
    assert policy.json()["summary"] == {
        "pending_requests_count": 1,
        "pending_notifications_count": 2,
    }
    one = await client.get(f"/api/v1/notifications/requests/{request['id']}", headers=alice.headers)
    assert one.json()["id"] == request["id"]

    accepted = await client.post(
        f"/api/v1/notifications/requests/{request['id']}/accept", headers=alice.headers
    )

    assert accepted.status_code == 200
    v1_after = await client.get("/api/v1/notifications", headers=alice.headers)
    assert [n["account"]["username"] for n in v1_after.json()] == ["stranger", "stranger", "friend"]
    assert (await client.get("/api/v1/notifications/requests", headers=alice.headers)).json() == []
    # Accepted senders are no longer filtered.
    await post(client, stranger, "@alice thanks")
    latest = await client.get("/api/v1/notifications", headers=alice.headers)
    assert len(latest.json()) == 4
    merged = await client.get("/api/v1/notifications/requests/merged", headers=alice.headers)
    assert merged.json() == {"merged": True}


async def test_dismissing_requests_drops_their_notifications(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    one = await make_staff(database, settings, "one")
    two = await make_staff(database, settings, "two")
    await client.patch(
        "/api/v2/notifications/policy", headers=alice.headers, json={"for_not_following": "filter"}
    )
    await post(client, one, "@alice hi")
    await post(client, two, "@alice hello")
    requests = (await client.get("/api/v1/notifications/requests", headers=alice.headers)).json()
    assert [r["account"]["username"] for r in requests] == ["two", "one"]

    dismissed = await client.post(
        "/api/v1/notifications/requests/dismiss",
        headers=alice.headers,
        data={"id[]": [r["id"] for r in requests]},
    )

    assert dismissed.status_code == 200
    assert (await client.get("/api/v1/notifications/requests", headers=alice.headers)).json() == []
    assert (await client.get("/api/v1/notifications", headers=alice.headers)).json() == []
    summary = (await client.get("/api/v2/notifications/policy", headers=alice.headers)).json()
    assert summary["summary"]["pending_notifications_count"] == 0


async def test_drop_discards_and_accept_keeps_strangers_notifications(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    await post(client, bob, "@alice before")
    await client.patch(
        "/api/v2/notifications/policy", headers=alice.headers, json={"for_not_following": "drop"}
    )
    await post(client, carol, "@alice after")
    status_id = await post(client, alice, "my post")
    # Polls ending and edits are never filtered; favourites are.
    await favourite(client, carol, status_id)

    v1 = await client.get("/api/v1/notifications", headers=alice.headers)
    assert [n["account"]["username"] for n in v1.json()] == ["bob"]
    assert (await client.get("/api/v1/notifications/requests", headers=alice.headers)).json() == []


async def test_private_mention_policy_filters_direct_messages_from_unfollowed_people(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await client.patch(
        "/api/v2/notifications/policy",
        headers=alice.headers,
        json={"for_private_mentions": "filter"},
    )
    await post(client, bob, "@alice public hello")
    await post(client, bob, "@alice private hello", visibility="direct")

    v1 = await client.get("/api/v1/notifications", headers=alice.headers)
    assert [n["status"]["visibility"] for n in v1.json()] == ["public"]
    requests = (await client.get("/api/v1/notifications/requests", headers=alice.headers)).json()
    assert [r["notifications_count"] for r in requests] == ["1"]
