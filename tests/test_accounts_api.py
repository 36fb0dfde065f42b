"""Accounts API: own profile, showing and finding accounts, profile statuses and collections."""

from __future__ import annotations

import io
from typing import Any

import httpx
from PIL import Image

from fediverse import statuses as status_domain
from fediverse.accounts import set_suspended
from fediverse.config import Settings
from fediverse.storage.database import Database
from fediverse.urls import LocalUrls
from tests.factories import make_staff
from tests.test_relationships import add_remote_account, events_of, post

ACCOUNT_KEYS = {
    "id",
    "username",
    "acct",
    "display_name",
    "locked",
    "bot",
    "discoverable",
    "indexable",
    "group",
    "created_at",
    "note",
    "url",
    "uri",
    "avatar",
    "avatar_static",
    "header",
    "header_static",
    "followers_count",
    "following_count",
    "statuses_count",
    "last_status_at",
    "hide_collections",
    "noindex",
    "emojis",
    "roles",
    "fields",
}


def ids_of(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


# --- verify_credentials and update_credentials ------------------------------------------------


async def test_verify_credentials_shows_source_and_role(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice", role="admin")

    response = await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)

    assert response.status_code == 200
    body = response.json()
    assert ACCOUNT_KEYS <= set(body)
    assert body["id"] == alice.id
    assert body["acct"] == "alice"
    assert body["source"]["privacy"] == "public"
    assert body["source"]["sensitive"] is False
    assert body["source"]["note"] == ""
    assert body["source"]["fields"] == []
    assert body["source"]["follow_requests_count"] == 0
    assert body["role"]["name"] == "Admin"


async def test_verify_credentials_accepts_the_profile_scope_and_refuses_others(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    profile = await make_staff(database, settings, "profiled", scopes="profile")
    writer = await make_staff(database, settings, "writer", scopes="write")

    allowed = await client.get("/api/v1/accounts/verify_credentials", headers=profile.headers)
    refused = await client.get("/api/v1/accounts/verify_credentials", headers=writer.headers)
    anonymous = await client.get("/api/v1/accounts/verify_credentials")

    assert allowed.status_code == 200
    assert refused.status_code == 403
    assert anonymous.status_code == 401


async def test_update_credentials_changes_profile_and_source(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await make_staff(database, settings, "bob")

    response = await client.patch(
        "/api/v1/accounts/update_credentials",
        data={
            "display_name": "Alice A.",
            "note": "Hi @bob, see https://example.org #cats",
            "locked": "true",
            "bot": "true",
            "discoverable": "false",
            "hide_collections": "true",
            "fields_attributes[0][name]": "Site",
            "fields_attributes[0][value]": "https://alice.example",
            "fields_attributes[1][name]": "Pronouns",
            "fields_attributes[1][value]": "she/her",
            "source[privacy]": "private",
            "source[sensitive]": "true",
            "source[language]": "de",
        },
        headers=alice.headers,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["display_name"] == "Alice A."
    assert body["locked"] is True
    assert body["bot"] is True
    assert body["discoverable"] is False
    assert body["hide_collections"] is True
    assert body["note"].startswith("<p>Hi ")
    assert 'class="u-url mention"' in body["note"]
    assert 'href="https://example.org"' in body["note"]
    assert 'class="mention hashtag"' in body["note"]
    assert body["source"]["note"] == "Hi @bob, see https://example.org #cats"
    assert [f["name"] for f in body["fields"]] == ["Site", "Pronouns"]
    assert 'href="https://alice.example"' in body["fields"][0]["value"]
    assert body["source"]["fields"][0] == {
        "name": "Site",
        "value": "https://alice.example",
        "verified_at": None,
    }
    assert body["source"]["privacy"] == "private"
    assert body["source"]["sensitive"] is True
    assert body["source"]["language"] == "de"
    verified = await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)
    assert verified.json()["source"]["privacy"] == "private"
    assert verified.json()["display_name"] == "Alice A."
    [event] = await events_of(database, "account.updated")
    assert event == {"account_id": alice.account.id}


async def test_update_credentials_accepts_fields_as_a_json_array(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")

    response = await client.patch(
        "/api/v1/accounts/update_credentials",
        json={"fields_attributes": [{"name": "Team", "value": "Infra <ops>"}]},
        headers=alice.headers,
    )

    assert response.status_code == 200
    assert response.json()["fields"][0]["value"] == "Infra &lt;ops&gt;"
    assert response.json()["source"]["fields"][0]["value"] == "Infra <ops>"


async def test_update_credentials_refuses_bad_input_with_422(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    cases: list[dict[str, Any]] = [
        {"display_name": "x" * 31},
        {"note": "x" * 501},
        {"fields_attributes": [{"name": f"n{i}", "value": "v"} for i in range(5)]},
        {"source": {"privacy": "everyone"}},
        {"locked": "perhaps"},
    ]

    for case in cases:
        response = await client.patch(
            "/api/v1/accounts/update_credentials", json=case, headers=alice.headers
        )
        assert response.status_code == 422, case
        assert "error" in response.json()

    unchanged = await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)
    assert unchanged.json()["display_name"] == ""
    assert unchanged.json()["fields"] == []


async def test_update_credentials_needs_write_accounts(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    reader = await make_staff(database, settings, "reader", scopes="read")

    response = await client.patch(
        "/api/v1/accounts/update_credentials", data={"display_name": "X"}, headers=reader.headers
    )

    assert response.status_code == 403


async def test_update_credentials_stores_an_avatar_image(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    buffer = io.BytesIO()
    Image.new("RGB", (600, 500), (200, 30, 30)).save(buffer, format="PNG")

    response = await client.patch(
        "/api/v1/accounts/update_credentials",
        files={"avatar": ("me.png", buffer.getvalue(), "image/png")},
        headers=alice.headers,
    )

    assert response.status_code == 200, response.text
    avatar = response.json()["avatar"]
    assert avatar != LocalUrls(settings).avatar_missing()
    served = await client.get(avatar)
    assert served.status_code == 200
    assert Image.open(io.BytesIO(served.content)).size == (400, 400)


# --- showing and finding accounts -------------------------------------------------------------


async def test_show_account_is_public_and_unknown_ids_are_404(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")

    found = await client.get(f"/api/v1/accounts/{alice.id}")
    unknown = await client.get("/api/v1/accounts/4242")

    assert found.status_code == 200
    assert set(found.json()) == ACCOUNT_KEYS
    assert found.json()["acct"] == "alice"
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "Record not found"}


async def test_a_suspended_account_is_shown_as_suspended_without_its_profile(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await client.patch(
        "/api/v1/accounts/update_credentials", data={"display_name": "Alice"}, headers=alice.headers
    )
    async with database.transaction() as conn:
        await set_suspended(conn, alice.account, True)

    response = await client.get(f"/api/v1/accounts/{alice.id}")

    assert response.status_code == 200
    assert response.json()["suspended"] is True
    assert response.json()["display_name"] == ""


async def test_lookup_finds_local_accounts_by_bare_or_full_acct_and_known_remote_ones(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    remote_id = await add_remote_account(database, "dana", "remote.example")

    bare = await client.get("/api/v1/accounts/lookup", params={"acct": "ALICE"})
    full = await client.get("/api/v1/accounts/lookup", params={"acct": "@alice@local.test"})
    remote = await client.get("/api/v1/accounts/lookup", params={"acct": "dana@remote.example"})
    missing = await client.get("/api/v1/accounts/lookup", params={"acct": "nobody"})

    assert bare.json()["id"] == alice.id
    assert full.json()["id"] == alice.id
    assert remote.json()["id"] == str(remote_id)
    assert remote.json()["acct"] == "dana@remote.example"
    assert missing.status_code == 404


async def test_search_finds_accounts_by_username_and_display_name_prefix(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    alfred = await make_staff(database, settings, "alfred")
    bob = await make_staff(database, settings, "bob")
    await client.patch(
        "/api/v1/accounts/update_credentials",
        data={"display_name": "Bob Alvarez"},
        headers=bob.headers,
    )
    remote_id = await add_remote_account(database, "alba", "remote.example")
    await client.post(f"/api/v1/accounts/{alfred.id}/follow", headers=alice.headers)

    everyone = await client.get(
        "/api/v1/accounts/search", params={"q": "al"}, headers=alice.headers
    )
    followed = await client.get(
        "/api/v1/accounts/search", params={"q": "al", "following": "true"}, headers=alice.headers
    )
    exact = await client.get("/api/v1/accounts/search", params={"q": "bob"}, headers=alice.headers)
    remote = await client.get(
        "/api/v1/accounts/search", params={"q": "@alba@remote.example"}, headers=alice.headers
    )
    underscore = await client.get(
        "/api/v1/accounts/search", params={"q": "_"}, headers=alice.headers
    )

    assert set(ids_of(everyone)) == {alice.id, alfred.id, bob.id, str(remote_id)}
    assert ids_of(everyone)[0] == alfred.id  # followed accounts come first
    assert set(ids_of(followed)) == {alfred.id, alice.id}
    assert ids_of(exact)[0] == bob.id
    assert ids_of(remote) == [str(remote_id)]
    assert ids_of(underscore) == []


async def test_search_requires_a_signed_in_reader(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    writer = await make_staff(database, settings, "writer", scopes="write")

    anonymous = await client.get("/api/v1/accounts/search", params={"q": "a"})
    wrong_scope = await client.get(
        "/api/v1/accounts/search", params={"q": "a"}, headers=writer.headers
    )

    assert anonymous.status_code == 401
    assert wrong_scope.status_code == 403


# --- statuses on a profile ----------------------------------------------------------------------


async def test_account_statuses_follow_the_audience_rule_for_each_viewer(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    follower = await make_staff(database, settings, "follower")
    stranger = await make_staff(database, settings, "stranger")
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=follower.headers)
    public = await post(database, settings, alice, "for everyone")
    private = await post(database, settings, alice, "followers only", visibility="private")
    direct = await post(database, settings, alice, "just for @stranger", visibility="direct")
    internal = await post(database, settings, alice, "staff only", local_only=True)
    url = f"/api/v1/accounts/{alice.id}/statuses"

    as_author = await client.get(url, headers=alice.headers)
    as_follower = await client.get(url, headers=follower.headers)
    as_stranger = await client.get(url, headers=stranger.headers)
    anonymous = await client.get(url)

    assert ids_of(as_author) == [internal, direct, private, public]
    assert ids_of(as_follower) == [internal, private, public]
    assert ids_of(as_stranger) == [internal, direct, public]
    assert ids_of(anonymous) == [public]


async def test_account_statuses_filters_replies_reblogs_and_tags(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    bobs = await post(database, settings, bob, "bob speaks")
    own = await post(database, settings, alice, "a thought #cats")
    reply_to_bob = await post(database, settings, alice, "@bob yes", in_reply_to_id=int(bobs))
    self_reply = await post(database, settings, alice, "and more", in_reply_to_id=int(own))
    async with database.transaction() as conn:
        boost = await status_domain.reblog(
            conn,
            account=alice.account,
            status_id=int(bobs),
            visibility=None,
            urls=LocalUrls(settings),
        )
    url = f"/api/v1/accounts/{alice.id}/statuses"

    everything = await client.get(url)
    no_replies = await client.get(url, params={"exclude_replies": "true"})
    no_reblogs = await client.get(url, params={"exclude_reblogs": "true"})
    tagged = await client.get(url, params={"tagged": "Cats"})
    only_media = await client.get(url, params={"only_media": "true"})

    assert ids_of(everything) == [str(boost.id), self_reply, reply_to_bob, own]
    assert everything.json()[0]["reblog"]["id"] == bobs
    assert ids_of(no_replies) == [str(boost.id), self_reply, own]
    assert ids_of(no_reblogs) == [self_reply, reply_to_bob, own]
    assert ids_of(tagged) == [own]
    assert ids_of(only_media) == []


async def test_pinned_statuses_are_listed_on_their_own(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    first = await post(database, settings, alice, "pin me")
    await post(database, settings, alice, "not pinned")
    async with database.transaction() as conn:
        await status_domain.pin(conn, account=alice.account, status_id=int(first), on=True)

    pinned = await client.get(
        f"/api/v1/accounts/{alice.id}/statuses", params={"pinned": "true"}, headers=alice.headers
    )

    assert ids_of(pinned) == [first]
    assert pinned.json()[0]["pinned"] is True


async def test_account_statuses_are_paged_with_link_headers(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    posted = [await post(database, settings, alice, f"post {n}") for n in range(5)]
    newest_first = list(reversed(posted))
    url = f"/api/v1/accounts/{alice.id}/statuses"

    first = await client.get(url, params={"limit": 2})
    second = await client.get(first.links["next"]["url"])
    previous = await client.get(second.links["prev"]["url"])
    since = await client.get(url, params={"since_id": posted[1], "limit": 2})
    after = await client.get(url, params={"min_id": posted[1], "limit": 2})

    assert ids_of(first) == newest_first[:2]
    assert ids_of(second) == newest_first[2:4]
    assert ids_of(previous) == newest_first[:2]
    assert ids_of(since) == newest_first[:2]
    assert ids_of(after) == [posted[3], posted[2]]
    assert first.links["next"]["url"].startswith("https://local.test/api/v1/accounts/")


async def test_statuses_of_an_unknown_account_are_404(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    response = await client.get("/api/v1/accounts/777/statuses")

    assert response.status_code == 404


# --- followers and following --------------------------------------------------------------------


async def test_followers_and_following_are_paged_by_follow(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    fans = [await make_staff(database, settings, f"fan{n}") for n in range(3)]
    for fan in fans:
        await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=fan.headers)

    first = await client.get(f"/api/v1/accounts/{alice.id}/followers", params={"limit": 2})
    second = await client.get(first.links["next"]["url"])
    following = await client.get(f"/api/v1/accounts/{fans[0].id}/following")

    assert ids_of(first) == [fans[2].id, fans[1].id]
    assert ids_of(second) == [fans[0].id]
    assert ids_of(following) == [alice.id]


async def test_hidden_collections_are_empty_for_others_but_not_for_the_owner(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    await client.patch(
        "/api/v1/accounts/update_credentials",
        data={"hide_collections": "true"},
        headers=alice.headers,
    )

    as_other = await client.get(f"/api/v1/accounts/{alice.id}/followers", headers=bob.headers)
    as_owner = await client.get(f"/api/v1/accounts/{alice.id}/followers", headers=alice.headers)

    assert ids_of(as_other) == []
    assert ids_of(as_owner) == [bob.id]
    assert (await client.get(f"/api/v1/accounts/{alice.id}")).json()["followers_count"] == 1


# --- small lists ----------------------------------------------------------------------------------


async def test_account_lists_featured_tags_and_endorsements_answer(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO lists (id, account_id, title) VALUES (1, $1, 'Team')", alice.account.id
        )
        await conn.execute(
            "INSERT INTO list_accounts (list_id, account_id) VALUES (1, $1)", bob.account.id
        )

    lists = await client.get(f"/api/v1/accounts/{bob.id}/lists", headers=alice.headers)
    featured = await client.get(f"/api/v1/accounts/{bob.id}/featured_tags")
    endorsed = await client.get("/api/v1/endorsements", headers=alice.headers)

    assert lists.json() == [
        {"id": "1", "title": "Team", "replies_policy": "list", "exclusive": False}
    ]
    assert featured.json() == []
    assert endorsed.json() == []


async def test_many_accounts_at_once_in_the_order_asked(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")

    response = await client.get(
        "/api/v1/accounts", params=[("id[]", bob.id), ("id[]", "5"), ("id[]", alice.id)]
    )

    assert ids_of(response) == [bob.id, alice.id]


async def test_remote_accounts_keep_their_domain_in_acct(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    remote_id = await add_remote_account(database, "dana", "remote.example")

    response = await client.get(f"/api/v1/accounts/{remote_id}")

    assert response.json()["acct"] == "dana@remote.example"
    assert response.json()["url"] == "https://remote.example/@dana"
