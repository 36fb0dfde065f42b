"""Our statuses as ActivityStreams: Note shape and Mastodon's addressing, and the object
endpoints (`/users/{u}/statuses/{id}`, `/activity`, the outbox) with their audience checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from federation.activitystreams import PUBLIC
from federation.keys import AccountKeyStore, FetchedKey, KeyResolver
from federation.objects import NOTE_CONTEXT, render_note
from federation.publishing import load_note_parts
from federation.signatures import sign_cavage
from fediverse import ids
from fediverse.config import Settings
from fediverse.storage import accounts as account_store
from fediverse.storage import media as media_store
from fediverse.storage import statuses as status_store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Database
from fediverse.urls import LocalUrls
from tests.factories import StaffMember, make_staff
from tests.test_publishing import REMOTE_KEY, make_follow, make_remote, post
from web.app import create_app

AS2 = "application/activity+json"
FOLLOWERS = "https://local.test/users/alice/followers"


async def note_of(database: Database, settings: Settings, status_id: str) -> dict[str, Any]:
    async with database.connection() as conn:
        status = await status_store.fetch_status(conn, status_id=int(status_id))
        assert status is not None
        author = await account_store.fetch_account(conn, account_id=status.account_id)
        assert author is not None
        parts = await load_note_parts(conn, status, author)
    return render_note(parts, LocalUrls(settings))


# --- rendering --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("visibility", "to", "cc"),
    [
        # Mastodon's ActivityPub::TagManager#to / #cc, for a post mentioning @dan.
        ("public", [PUBLIC], [FOLLOWERS, "https://two.example/users/dan"]),
        ("unlisted", [FOLLOWERS], [PUBLIC, "https://two.example/users/dan"]),
        ("private", [FOLLOWERS], ["https://two.example/users/dan"]),
        ("direct", ["https://two.example/users/dan"], []),
    ],
)
async def test_each_visibility_is_addressed_as_mastodon_addresses_it(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    visibility: str,
    to: list[str],
    cc: list[str],
) -> None:
    alice = await make_staff(database, settings, "alice")
    await make_remote(database, "dan", "two.example")
    status = await post(client, alice, "Hi @dan@two.example", visibility=visibility)

    note = await note_of(database, settings, status["id"])

    assert (note["to"], note["cc"]) == (to, cc)


async def test_mentioning_a_group_also_addresses_its_followers(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    group = await make_remote(database, "club", "groups.example", actor_type="Group")
    public = await post(client, alice, "Hello @club@groups.example")
    direct = await post(client, alice, "Just @club@groups.example", visibility="direct")

    public_note = await note_of(database, settings, public["id"])
    direct_note = await note_of(database, settings, direct["id"])

    assert public_note["cc"] == [FOLLOWERS, group.uri, f"{group.uri}/followers"]
    assert direct_note["to"] == [group.uri, f"{group.uri}/followers"]


async def test_a_note_carries_what_mastodon_puts_in_one(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    dan = await make_remote(database, "dan", "two.example")
    parent = await post(client, alice, "Thread start")
    async with database.transaction() as conn:
        media = await media_store.insert_media(
            conn,
            media_id=ids.new_id(),
            account_id=alice.account.id,
            type="image",
            file_name="a/b/photo.png",
            thumbnail_name="a/b/photo-small.png",
            content_type="image/png",
            file_size=1234,
            description="A red square",
            focus_x=0.5,
            focus_y=-0.25,
            blurhash="LEHV6nWB2yk8pyo0adR*.7kCMdnj",
            meta={"original": {"width": 640, "height": 480}},
        )
    status = await post(
        client,
        alice,
        "Look @dan@two.example #Photos",
        spoiler_text="A picture",
        language="en",
        in_reply_to_id=parent["id"],
        media_ids=[str(media.id)],
    )
    edited = await client.put(
        f"/api/v1/statuses/{status['id']}",
        json={
            "status": "Look again @dan@two.example #Photos",
            "spoiler_text": "A picture",
            "language": "en",
            "media_ids": [str(media.id)],
        },
        headers=alice.headers,
    )
    assert edited.status_code == 200, edited.text

    note = await note_of(database, settings, status["id"])

    assert note["id"] == status["uri"] == note["atomUri"]
    assert note["type"] == "Note"
    assert note["summary"] == "A picture"
    assert note["sensitive"] is True
    assert note["inReplyTo"] == parent["uri"] == note["inReplyToAtomUri"]
    assert note["url"] == f"https://local.test/@alice/{status['id']}"
    assert note["attributedTo"] == "https://local.test/users/alice"
    assert note["published"].endswith("Z") and note["updated"].endswith("Z")
    assert "Look again" in note["content"]
    assert note["contentMap"] == {"en": note["content"]}
    assert note["attachment"] == [
        {
            "type": "Document",
            "mediaType": "image/png",
            "url": "https://local.test/media/a/b/photo.png",
            "name": "A red square",
            "blurhash": "LEHV6nWB2yk8pyo0adR*.7kCMdnj",
            "focalPoint": [0.5, -0.25],
            "width": 640,
            "height": 480,
        }
    ]
    assert note["tag"] == [
        {"type": "Mention", "href": dan.uri, "name": "@dan@two.example"},
        {"type": "Hashtag", "href": "https://local.test/tags/photos", "name": "#photos"},
    ]


async def test_a_plain_note_has_no_summary_language_map_or_updated_time(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    status = await post(client, alice, "Plain")

    note = await note_of(database, settings, status["id"])

    assert note["summary"] is None
    assert note["inReplyTo"] is None
    assert note["sensitive"] is False
    assert "updated" not in note
    assert note["attachment"] == [] and note["tag"] == []


# --- endpoints --------------------------------------------------------------------------------


@pytest.fixture
def key_store(app: Any, database: Database) -> None:
    """Keys of known peers come from their account rows; nothing is fetched over the network."""

    async def no_network(key_id: str) -> FetchedKey:
        raise LookupError(f"tests do not fetch {key_id}")

    app.state.fediverse.services["key_resolver"] = KeyResolver(
        no_network, store=AccountKeyStore(database)
    )


def signed_by(account: Account, path: str) -> dict[str, str]:
    headers = sign_cavage(
        "GET",
        f"https://local.test{path}",
        None,
        key_id=f"{account.uri}#main-key",
        private_key_pem=REMOTE_KEY["private_key_pem"],
    )
    return {"Accept": AS2, **headers}


@pytest.fixture
async def open_client(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a second app over the same database, with authorized fetch off."""
    open_app = create_app(
        replace(settings, authorized_fetch=False), database, connect_database=False
    )

    async def no_network(key_id: str) -> FetchedKey:
        raise LookupError(key_id)

    open_app.state.fediverse.services["key_resolver"] = KeyResolver(
        no_network, store=AccountKeyStore(database)
    )
    transport = httpx.ASGITransport(app=open_app)
    async with httpx.AsyncClient(transport=transport, base_url=settings.base_url) as http:
        yield http


def status_path(status: dict[str, Any]) -> str:
    return f"/users/alice/statuses/{status['id']}"


async def setup_people(
    database: Database, settings: Settings
) -> tuple[StaffMember, Account, Account]:
    """alice (local), bob (a remote follower of alice), eve (a remote stranger)."""
    alice = await make_staff(database, settings, "alice")
    bob = await make_remote(database, "bob", "one.example")
    await make_follow(database, bob, alice.account)
    eve = await make_remote(database, "eve", "three.example")
    return alice, bob, eve


async def test_a_private_note_is_served_to_a_follower_and_is_missing_for_a_stranger(
    client: httpx.AsyncClient, database: Database, settings: Settings, key_store: None
) -> None:
    alice, bob, eve = await setup_people(database, settings)
    status = await post(client, alice, "Followers only", visibility="private")
    path = status_path(status)

    served = await client.get(path, headers=signed_by(bob, path))
    stranger = await client.get(path, headers=signed_by(eve, path))

    assert served.status_code == 200, served.text
    assert served.headers["content-type"].startswith(AS2)
    document = served.json()
    assert document["@context"] == NOTE_CONTEXT
    assert document["id"] == status["uri"]
    assert document["to"] == [FOLLOWERS]
    assert stranger.status_code == 404


async def test_a_direct_note_is_served_only_to_the_mentioned(
    client: httpx.AsyncClient, database: Database, settings: Settings, key_store: None
) -> None:
    alice, bob, eve = await setup_people(database, settings)
    status = await post(client, alice, "Hi @eve@three.example", visibility="direct")
    path = status_path(status)

    assert (await client.get(path, headers=signed_by(eve, path))).status_code == 200
    assert (await client.get(path, headers=signed_by(bob, path))).status_code == 404


async def test_an_internal_note_is_missing_to_every_remote_request_signed_or_not(
    client: httpx.AsyncClient,
    open_client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    key_store: None,
) -> None:
    alice, bob, _ = await setup_people(database, settings)
    status = await post(client, alice, "Staff only", local_only=True)
    path = status_path(status)

    for http in (client, open_client):
        assert (await http.get(path, headers={"Accept": AS2})).status_code == 404
        assert (await http.get(path, headers=signed_by(bob, path))).status_code == 404
        activity = f"{path}/activity"
        assert (await http.get(activity, headers=signed_by(bob, activity))).status_code == 404


async def test_authorized_fetch_refuses_an_unsigned_request_for_a_public_note(
    client: httpx.AsyncClient,
    open_client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    key_store: None,
) -> None:
    alice, _, eve = await setup_people(database, settings)
    public = await post(client, alice, "For everyone")
    private = await post(client, alice, "Not for everyone", visibility="private")
    path = status_path(public)

    assert (await client.get(path, headers={"Accept": AS2})).status_code == 401
    assert (await client.get(path, headers=signed_by(eve, path))).status_code == 200
    # Without authorized fetch, public posts are open, and private ones still are not.
    assert (await open_client.get(path, headers={"Accept": AS2})).status_code == 200
    private_path = status_path(private)
    assert (await open_client.get(private_path, headers={"Accept": AS2})).status_code == 404


async def test_a_peer_the_author_blocks_cannot_fetch_even_public_notes(
    client: httpx.AsyncClient, database: Database, settings: Settings, key_store: None
) -> None:
    alice, _, eve = await setup_people(database, settings)
    status = await post(client, alice, "Public")
    await client.post(f"/api/v1/accounts/{eve.id}/block", headers=alice.headers)
    path = status_path(status)

    assert (await client.get(path, headers=signed_by(eve, path))).status_code == 404


async def test_a_browser_is_redirected_to_the_status_page(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    status = await post(client, alice, "Hello")

    response = await client.get(status_path(status), headers={"Accept": "text/html"})

    assert response.status_code == 302
    assert response.headers["location"] == f"https://local.test/@alice/{status['id']}"


async def test_a_status_is_only_found_under_its_own_authors_path(
    client: httpx.AsyncClient, database: Database, settings: Settings, key_store: None
) -> None:
    _, bob, _ = await setup_people(database, settings)
    carol = await make_staff(database, settings, "carol")
    status = await post(client, carol, "Mine")
    path = f"/users/alice/statuses/{status['id']}"

    assert (await client.get(path, headers=signed_by(bob, path))).status_code == 404


async def test_the_activity_endpoint_serves_create_for_posts_and_announce_for_boosts(
    client: httpx.AsyncClient, database: Database, settings: Settings, key_store: None
) -> None:
    alice, bob, _ = await setup_people(database, settings)
    carol = await make_staff(database, settings, "carol")
    original = await post(client, carol, "Boost this")
    status = await post(client, alice, "Create me")
    boosted = await client.post(f"/api/v1/statuses/{original['id']}/reblog", headers=alice.headers)
    boost = boosted.json()

    path = f"{status_path(status)}/activity"
    create = await client.get(path, headers=signed_by(bob, path))
    boost_path = f"/users/alice/statuses/{boost['id']}/activity"
    announce = await client.get(boost_path, headers=signed_by(bob, boost_path))

    assert create.status_code == 200, create.text
    assert create.json()["type"] == "Create"
    assert create.json()["id"] == f"{status['uri']}/activity"
    assert create.json()["object"]["id"] == status["uri"]
    assert announce.status_code == 200, announce.text
    assert announce.json()["type"] == "Announce"
    assert announce.json()["id"] == boost["uri"] == f"https://local.test{boost_path}"
    assert announce.json()["object"] == original["uri"]


async def test_the_outbox_lists_public_and_unlisted_posts_and_boosts_newest_first(
    client: httpx.AsyncClient, database: Database, settings: Settings, key_store: None
) -> None:
    alice, bob, _ = await setup_people(database, settings)
    carol = await make_staff(database, settings, "carol")
    shown = [await post(client, alice, "Public one")]
    await post(client, alice, "Private", visibility="private")
    await post(client, alice, "Direct to @bob@one.example", visibility="direct")
    await post(client, alice, "Internal", local_only=True)
    shown.append(await post(client, alice, "Unlisted", visibility="unlisted"))
    original = await post(client, carol, "Carol's")
    shown.append(
        (
            await client.post(f"/api/v1/statuses/{original['id']}/reblog", headers=alice.headers)
        ).json()
    )
    internal = await post(client, carol, "Carol's internal", local_only=True)
    await client.post(f"/api/v1/statuses/{internal['id']}/reblog", headers=alice.headers)

    path = "/users/alice/outbox"
    collection = (await client.get(path, headers=signed_by(bob, path))).json()
    first = collection["first"]
    page_path = first.removeprefix("https://local.test")
    page = await client.get(page_path, headers=signed_by(bob, page_path))

    assert collection["type"] == "OrderedCollection"
    assert page.status_code == 200, page.text
    document = page.json()
    assert document["type"] == "OrderedCollectionPage"
    assert document["partOf"] == "https://local.test/users/alice/outbox"
    items = document["orderedItems"]
    assert [item["type"] for item in items] == ["Announce", "Create", "Create"]
    assert [item["id"] for item in items] == [
        shown[2]["uri"],
        f"{shown[1]['uri']}/activity",
        f"{shown[0]['uri']}/activity",
    ]
    assert items[1]["object"]["to"] == [FOLLOWERS]

    older_path = f"{path}?page=true&max_id={shown[1]['id']}"
    older = (await client.get(older_path, headers=signed_by(bob, older_path))).json()
    newer_path = f"{path}?page=true&min_id={shown[0]['id']}"
    newer = (await client.get(newer_path, headers=signed_by(bob, newer_path))).json()

    assert [item["object"]["id"] for item in older["orderedItems"]] == [shown[0]["uri"]]
    assert [item["id"] for item in newer["orderedItems"]] == [item["id"] for item in items[:2]]
    assert document["next"] == f"https://local.test{path}?max_id={shown[0]['id']}&page=true"
