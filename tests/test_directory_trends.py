"""Discovery through the API: suggestions, the directory, featured tags, endorsements, trends."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from fediverse.config import Settings
from fediverse.storage import accounts as account_store
from fediverse.storage.database import Database
from tests.factories import StaffMember, make_staff


async def post(client: httpx.AsyncClient, author: StaffMember, text: str, **extra: str) -> str:
    response = await client.post(
        "/api/v1/statuses", headers=author.headers, json={"status": text, **extra}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def hide_from_discovery(database: Database, member: StaffMember) -> None:
    async with database.transaction() as conn:
        await account_store.update_account(
            conn, account_id=member.account.id, changes={"discoverable": False}
        )


# --- suggestions ------------------------------------------------------------------------------


async def test_suggestions_are_colleagues_not_yet_followed_most_active_first(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    dave = await make_staff(database, settings, "dave")
    hidden = await make_staff(database, settings, "hidden")
    await hide_from_discovery(database, hidden)
    await post(client, carol, "first")
    await post(client, bob, "later")
    await client.post(f"/api/v1/accounts/{dave.id}/follow", headers=alice.headers)

    v2 = await client.get("/api/v2/suggestions", headers=alice.headers)
    assert v2.status_code == 200
    assert [item["account"]["id"] for item in v2.json()] == [bob.id, carol.id]
    assert v2.json()[0]["source"] == "global"
    assert v2.json()[0]["sources"] == ["most_interactions"]
    v1 = await client.get("/api/v1/suggestions", headers=alice.headers)
    assert [item["id"] for item in v1.json()] == [bob.id, carol.id]

    dismissed = await client.delete(f"/api/v1/suggestions/{bob.id}", headers=alice.headers)
    assert dismissed.status_code == 200
    after = await client.get("/api/v2/suggestions", headers=alice.headers)
    assert [item["account"]["id"] for item in after.json()] == [carol.id]


# --- the directory ----------------------------------------------------------------------------


async def test_the_directory_lists_discoverable_accounts_by_activity_or_age(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    hidden = await make_staff(database, settings, "hidden")
    await hide_from_discovery(database, hidden)
    await post(client, alice, "hello")

    active = (await client.get("/api/v1/directory", params={"order": "active"})).json()
    assert [item["id"] for item in active] == [alice.id, bob.id]
    newest = (
        await client.get("/api/v1/directory", params={"order": "new", "local": "true"})
    ).json()
    assert [item["id"] for item in newest] == [bob.id, alice.id]
    paged = (await client.get("/api/v1/directory", params={"offset": 1, "limit": 1})).json()
    assert [item["id"] for item in paged] == [bob.id]
    bad = await client.get("/api/v1/directory", params={"order": "random"})
    assert bad.status_code == 422


# --- featured tags ----------------------------------------------------------------------------


async def test_featured_tags_are_created_listed_on_the_profile_and_removed(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await post(client, alice, "Morning #Coffee")
    await post(client, alice, "More #coffee and #tea")

    suggested = await client.get("/api/v1/featured_tags/suggestions", headers=alice.headers)
    assert [tag["name"].lower() for tag in suggested.json()] == ["coffee", "tea"]

    created = await client.post(
        "/api/v1/featured_tags", headers=alice.headers, data={"name": "#coffee"}
    )
    assert created.status_code == 200, created.text
    entity = created.json()
    assert entity["name"].lower() == "coffee"
    assert entity["statuses_count"] == "2"
    assert entity["last_status_at"] == datetime.now(UTC).date().isoformat()
    assert entity["url"] == "https://local.test/@alice/tagged/coffee"

    public = await client.get(f"/api/v1/accounts/{alice.id}/featured_tags")
    assert public.json() == [entity]
    own = await client.get("/api/v1/featured_tags", headers=alice.headers)
    assert own.json() == [entity]
    after = await client.get("/api/v1/featured_tags/suggestions", headers=alice.headers)
    assert [tag["name"].lower() for tag in after.json()] == ["tea"]

    bad = await client.post("/api/v1/featured_tags", headers=alice.headers, data={"name": "a b"})
    assert bad.status_code == 422
    removed = await client.delete(f"/api/v1/featured_tags/{entity['id']}", headers=alice.headers)
    assert removed.status_code == 200
    assert (await client.get(f"/api/v1/accounts/{alice.id}/featured_tags")).json() == []


async def test_a_new_hashtag_can_be_featured_before_anyone_uses_it(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    created = await client.post(
        "/api/v1/featured_tags", headers=alice.headers, json={"name": "Quarterly"}
    )
    assert created.status_code == 200
    assert created.json()["statuses_count"] == "0"
    assert created.json()["last_status_at"] is None


# --- endorsements -----------------------------------------------------------------------------


async def test_endorsing_needs_a_follow_and_lists_the_endorsed_accounts(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    refused = await client.post(f"/api/v1/accounts/{bob.id}/pin", headers=alice.headers)
    assert refused.status_code == 422

    for member in (bob, carol):
        await client.post(f"/api/v1/accounts/{member.id}/follow", headers=alice.headers)
        pinned = await client.post(f"/api/v1/accounts/{member.id}/pin", headers=alice.headers)
        assert pinned.status_code == 200
        assert pinned.json()["endorsed"] is True and pinned.json()["following"] is True
    listed = await client.get("/api/v1/endorsements", headers=alice.headers)
    assert [item["id"] for item in listed.json()] == [carol.id, bob.id]

    unpinned = await client.post(f"/api/v1/accounts/{carol.id}/unpin", headers=alice.headers)
    assert unpinned.json()["endorsed"] is False
    listed = await client.get("/api/v1/endorsements", headers=alice.headers)
    assert [item["id"] for item in listed.json()] == [bob.id]


# --- trends -----------------------------------------------------------------------------------


async def test_trending_tags_rank_by_people_and_carry_seven_days_of_history(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await post(client, alice, "#launch day")
    await post(client, bob, "#launch went well")
    await post(client, alice, "#solo #solo thoughts")
    await post(client, alice, "#secret plans", visibility="private")

    trends = (await client.get("/api/v1/trends/tags")).json()
    assert [tag["name"].lower() for tag in trends] == ["launch", "solo"]
    history = trends[0]["history"]
    assert len(history) == 7
    assert history[0] == {
        "day": history[0]["day"],
        "uses": "2",
        "accounts": "2",
    }
    assert all(day["uses"] == "0" for day in history[1:])
    assert trends[0]["url"] == "https://local.test/tags/launch"


async def test_trending_statuses_rank_by_favourites_and_boosts_and_respect_the_audience(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    quiet = await post(client, alice, "quiet post")
    liked = await post(client, alice, "liked post")
    loved = await post(client, bob, "loved post")
    private = await post(client, bob, "followers only", visibility="private")
    await post(client, alice, "nobody cares")
    await client.post(f"/api/v1/accounts/{bob.id}/follow", headers=carol.headers)
    await client.post(f"/api/v1/statuses/{liked}/favourite", headers=bob.headers)
    for member in (alice, carol):
        await client.post(f"/api/v1/statuses/{loved}/favourite", headers=member.headers)
    await client.post(f"/api/v1/statuses/{loved}/reblog", headers=carol.headers)
    await client.post(f"/api/v1/statuses/{private}/favourite", headers=carol.headers)

    anonymous = (await client.get("/api/v1/trends/statuses")).json()
    assert [item["id"] for item in anonymous] == [loved, liked]
    assert quiet not in [item["id"] for item in anonymous]
    signed_in = (await client.get("/api/v1/trends/statuses", headers=carol.headers)).json()
    assert private not in [item["id"] for item in signed_in]
    assert signed_in[0]["favourited"] is True


async def test_trending_links_come_from_links_in_public_posts(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    assert (await client.get("/api/v1/trends/links")).json() == []
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await post(client, alice, "Read https://news.example/story and @bob #news")
    await post(client, bob, "Yes https://news.example/story")
    await post(client, bob, "Also https://blog.example/post")
    await post(client, bob, "Hush https://secret.example/", visibility="private")

    links = (await client.get("/api/v1/trends/links")).json()
    assert [link["url"] for link in links] == [
        "https://news.example/story",
        "https://blog.example/post",
    ]
    card = links[0]
    assert card["type"] == "link"
    assert card["provider_name"] == "news.example"
    assert card["history"][0]["uses"] == "2" and card["history"][0]["accounts"] == "2"
