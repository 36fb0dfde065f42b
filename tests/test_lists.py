"""Lists: CRUD, members (only followed accounts), and the list timeline with its reply policy."""

from __future__ import annotations

import httpx

from fediverse.config import Settings
from fediverse.storage.database import Database
from tests.factories import make_staff
from tests.test_timelines import follow, next_link, post


async def test_lists_can_be_created_read_renamed_and_deleted(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")

    created = await client.post(
        "/api/v1/lists", headers=alice.headers, json={"title": "Work", "exclusive": True}
    )
    assert created.status_code == 200
    entity = created.json()
    assert entity == {
        "id": entity["id"],
        "title": "Work",
        "replies_policy": "list",
        "exclusive": True,
    }
    list_url = f"/api/v1/lists/{entity['id']}"

    updated = await client.put(
        list_url, headers=alice.headers, data={"title": "Team", "replies_policy": "none"}
    )
    assert updated.json() == {
        "id": entity["id"],
        "title": "Team",
        "replies_policy": "none",
        "exclusive": True,
    }
    assert (await client.get(list_url, headers=alice.headers)).json()["title"] == "Team"
    assert [
        item["id"] for item in (await client.get("/api/v1/lists", headers=alice.headers)).json()
    ] == [entity["id"]]

    assert (await client.delete(list_url, headers=alice.headers)).json() == {}
    assert (await client.get(list_url, headers=alice.headers)).status_code == 404
    assert (await client.get("/api/v1/lists", headers=alice.headers)).json() == []


async def test_list_input_is_validated(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    blank = await client.post("/api/v1/lists", headers=alice.headers, json={"title": "  "})
    assert blank.status_code == 422
    bad_policy = await client.post(
        "/api/v1/lists", headers=alice.headers, json={"title": "x", "replies_policy": "all"}
    )
    assert bad_policy.status_code == 422


async def test_someone_elses_list_is_not_found_anywhere(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    list_id = (
        await client.post("/api/v1/lists", headers=alice.headers, json={"title": "Mine"})
    ).json()["id"]

    for method, path in (
        ("GET", f"/api/v1/lists/{list_id}"),
        ("PUT", f"/api/v1/lists/{list_id}"),
        ("DELETE", f"/api/v1/lists/{list_id}"),
        ("GET", f"/api/v1/lists/{list_id}/accounts"),
        ("POST", f"/api/v1/lists/{list_id}/accounts"),
        ("GET", f"/api/v1/timelines/list/{list_id}"),
    ):
        response = await client.request(
            method, path, headers=bob.headers, params={"account_ids[]": alice.id, "title": "x"}
        )
        assert response.status_code == 404, (method, path)


async def test_lists_need_list_scopes(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    reader = await make_staff(database, settings, "reader", scopes="read:lists")
    assert (await client.get("/api/v1/lists", headers=reader.headers)).status_code == 200
    response = await client.post("/api/v1/lists", headers=reader.headers, json={"title": "x"})
    assert response.status_code == 403


async def test_only_followed_accounts_can_be_added_and_members_page_with_links(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    others = [await make_staff(database, settings, f"member{i}") for i in range(3)]
    stranger = await make_staff(database, settings, "stranger")
    for member in others:
        await follow(database, alice, member)
    list_id = (
        await client.post("/api/v1/lists", headers=alice.headers, json={"title": "Friends"})
    ).json()["id"]
    accounts_url = f"/api/v1/lists/{list_id}/accounts"

    refused = await client.post(
        accounts_url, headers=alice.headers, data={"account_ids[]": [stranger.id]}
    )
    assert refused.status_code == 422
    added = await client.post(
        accounts_url, headers=alice.headers, data={"account_ids[]": [m.id for m in others]}
    )
    assert added.status_code == 200 and added.json() == {}

    by_id_desc = sorted((m.id for m in others), key=int, reverse=True)
    first = await client.get(f"{accounts_url}?limit=2", headers=alice.headers)
    assert [a["id"] for a in first.json()] == by_id_desc[:2]
    second = await client.get(next_link(first) or "", headers=alice.headers)
    assert [a["id"] for a in second.json()] == by_id_desc[2:]
    everyone = await client.get(f"{accounts_url}?limit=0", headers=alice.headers)
    assert [a["id"] for a in everyone.json()] == by_id_desc

    removed = await client.request(
        "DELETE", accounts_url, headers=alice.headers, params={"account_ids[]": others[0].id}
    )
    assert removed.status_code == 200
    left = await client.get(accounts_url, headers=alice.headers)
    assert others[0].id not in [a["id"] for a in left.json()]


async def test_list_timeline_shows_members_posts_with_the_chosen_reply_policy(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    dave = await make_staff(database, settings, "dave")
    for target in (bob, carol, dave):
        await follow(database, alice, target)
    list_id = (
        await client.post("/api/v1/lists", headers=alice.headers, json={"title": "Bob & Carol"})
    ).json()["id"]
    await client.post(
        f"/api/v1/lists/{list_id}/accounts",
        headers=alice.headers,
        data={"account_ids[]": [bob.id, carol.id]},
    )
    carol_post = await post(database, settings, carol, "carol here")
    dave_post = await post(database, settings, dave, "dave here")
    bob_post = await post(database, settings, bob, "bob here")
    reply_to_list = await post(database, settings, bob, "@carol yes", in_reply_to_id=carol_post)
    reply_to_followed = await post(database, settings, bob, "@dave yes", in_reply_to_id=dave_post)

    async def list_ids() -> list[int]:
        response = await client.get(f"/api/v1/timelines/list/{list_id}", headers=alice.headers)
        assert response.status_code == 200
        return [int(s["id"]) for s in response.json()]

    assert await list_ids() == [reply_to_list, bob_post, carol_post]  # policy "list"
    await client.put(
        f"/api/v1/lists/{list_id}", headers=alice.headers, json={"replies_policy": "followed"}
    )
    assert await list_ids() == [reply_to_followed, reply_to_list, bob_post, carol_post]
    await client.put(
        f"/api/v1/lists/{list_id}", headers=alice.headers, json={"replies_policy": "none"}
    )
    assert await list_ids() == [bob_post, carol_post]
    assert dave_post not in await list_ids()


async def test_members_of_an_exclusive_list_leave_the_home_timeline(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await follow(database, alice, bob)
    bob_post = await post(database, settings, bob, "hello")
    list_id = (
        await client.post(
            "/api/v1/lists", headers=alice.headers, json={"title": "Apart", "exclusive": True}
        )
    ).json()["id"]
    await client.post(
        f"/api/v1/lists/{list_id}/accounts", headers=alice.headers, json={"account_ids": [bob.id]}
    )

    home = await client.get("/api/v1/timelines/home", headers=alice.headers)
    listed = await client.get(f"/api/v1/timelines/list/{list_id}", headers=alice.headers)

    assert home.json() == []
    assert [int(s["id"]) for s in listed.json()] == [bob_post]
