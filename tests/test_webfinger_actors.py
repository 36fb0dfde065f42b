"""Discovery and actors: WebFinger both ways, our actor documents, remote actors read/stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from federation.actors import (
    ActorRejected,
    fetch_actor_key,
    fetch_remote_actor,
    parse_actor,
    store_remote_actor,
)
from federation.client import FederationClient
from federation.keys import AccountKeyStore, FetchedKey, KeyResolver
from federation.signatures import RequestSigner
from federation.webfinger import WebfingerError, lookup, parse_jrd
from fediverse.config import Settings
from fediverse.content import sanitize_html
from fediverse.storage import accounts as account_store
from fediverse.storage.database import Database
from tests.factories import make_staff
from web.app import create_app

FIXTURES = Path(__file__).parent / "fixtures"
RFC_KEY = json.loads((FIXTURES / "httpsig" / "rfc9421-appendix-b1-test-keys.json").read_text())[
    "keys"
]["test-key-rsa"]
AS2 = "application/activity+json"
LD_AS2 = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'

# Every actor fixture, and what must happen to it.
ACTOR_FIXTURES: dict[str, str | None] = {
    "discourse/group-actor.json": None,
    "friendica/person-actor.json": None,
    "gnusocial/group-actor.json": "publicKey owner",  # the group names another actor's key
    "gnusocial/person-actor.json": None,
    "gotosocial/person-actor-profile-fields.json": None,
    "lemmy/instance-application-actor.json": None,
    "lemmy/person-actor.json": None,
    "mastodon/application-actor.json": "not an http",  # a template with {{DOMAIN}}
    "mastodon/docs-actor-publickey.json": "no preferredUsername",  # a docs excerpt
    "mastodon/person-actor-activitypub-academy.json": None,
    "mastodon/person-actor.json": None,
    "misskey/person-actor.json": None,
    "mobilizon/group-actor.json": None,
    "nodebb/group-actor.json": None,
    "oeee-cafe/person-actor.json": None,
    "peertube/channel-group-actor.json": None,
    "peertube/videochannel-group-actor-attributedto-array.json": None,
    "pleroma/person-actor.json": None,
    "wordpress/person-actor.json": None,
}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


# --- remote actors -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "rejection"), sorted(ACTOR_FIXTURES.items()))
def test_every_actor_fixture_parses_or_is_rejected_for_its_reason(
    name: str, rejection: str | None
) -> None:
    document = fixture(name)
    if rejection is not None:
        with pytest.raises(ActorRejected, match=rejection):
            parse_actor(document)
        return
    actor = parse_actor(document)
    assert actor.id == document["id"]
    assert actor.type == document["type"]
    assert actor.preferred_username == document["preferredUsername"]
    assert actor.inbox == document["inbox"]
    assert actor.public_key_id == document["publicKey"]["id"]
    assert actor.public_key_pem == document["publicKey"]["publicKeyPem"]
    assert actor.key is not None and actor.key.owner == actor.id


def test_a_mastodon_actor_is_read_completely() -> None:
    actor = parse_actor(fixture("mastodon/person-actor.json"))
    document = fixture("mastodon/person-actor.json")
    assert actor.shared_inbox == document["endpoints"]["sharedInbox"]
    assert actor.featured == document["featured"]
    assert actor.featured_tags == document["featuredTags"]
    assert actor.followers == document["followers"]
    assert actor.following == document["following"]
    assert actor.outbox == document["outbox"]
    assert actor.url == document["url"]
    assert actor.icon_url == document["icon"]["url"]
    assert actor.image_url is None  # this actor has no header image
    assert (
        parse_actor(fixture("lemmy/person-actor.json")).image_url
        == (fixture("lemmy/person-actor.json")["image"]["url"])
    )
    assert actor.published == datetime(2022, 10, 3, tzinfo=UTC)
    assert actor.manually_approves_followers is document["manuallyApprovesFollowers"]
    assert actor.domain == "masto.qa.urbanwildlife.biz"


def test_profile_fields_come_from_property_values() -> None:
    document = fixture("gotosocial/person-actor-profile-fields.json")
    actor = parse_actor(document)
    expected = [(a["name"], a["value"]) for a in document["attachment"]]
    assert [(f.name, f.value) for f in actor.fields] == expected
    assert actor.manually_approves_followers is True
    assert actor.discoverable is False


def test_misskey_top_level_shared_inbox_is_understood() -> None:
    document = fixture("misskey/person-actor.json")
    del document["endpoints"]
    assert parse_actor(document).shared_inbox == "https://misskey.io/inbox"


def test_an_actor_whose_inbox_is_on_another_host_is_rejected() -> None:
    document = fixture("mastodon/person-actor.json")
    document["inbox"] = "https://elsewhere.example/inbox"
    with pytest.raises(ActorRejected, match="inbox"):
        parse_actor(document)


def test_aliases_and_move_targets_are_read() -> None:
    document = fixture("mastodon/person-actor.json")
    document["alsoKnownAs"] = ["https://old.example/users/bob", 42]
    document["movedTo"] = "https://new.example/users/bob"
    actor = parse_actor(document)
    assert actor.also_known_as == ("https://old.example/users/bob",)
    assert actor.moved_to == "https://new.example/users/bob"


# --- fetching keys and actors through the client -------------------------------------------------


def peer_client(settings: Settings, documents: dict[str, dict[str, Any]]) -> FederationClient:
    def handler(request: httpx.Request) -> httpx.Response:
        document = documents.get(str(request.url))
        if document is None:
            return httpx.Response(404)
        return httpx.Response(200, json=document, headers={"Content-Type": AS2})

    async def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    return FederationClient(settings, transport=httpx.MockTransport(handler), resolver=resolver)


async def test_a_key_is_fetched_from_its_actor_document(settings: Settings) -> None:
    document = fixture("mastodon/person-actor.json")
    async with peer_client(settings, {document["id"]: document}) as client:
        key = await fetch_actor_key(client, document["publicKey"]["id"])
    assert key.owner == document["id"]
    assert key.public_key_pem == document["publicKey"]["publicKeyPem"]


async def test_a_key_id_without_fragment_is_fetched_from_the_stub_actor(settings: Settings) -> None:
    stub = {
        "id": "https://example.org/users/example_user",
        "type": "Person",
        "preferredUsername": "example_user",
        "publicKey": {
            "id": "https://example.org/users/example_user/main-key",
            "owner": "https://example.org/users/example_user",
            "publicKeyPem": RFC_KEY["public_key_pem"],
        },
    }
    standalone = {**stub["publicKey"], "type": "CryptographicKey"}  # type: ignore[dict-item]
    documents = {stub["id"]: stub, standalone["id"]: standalone}
    async with peer_client(settings, documents) as client:
        key = await fetch_actor_key(client, "https://example.org/users/example_user/main-key")
    assert key.owner == "https://example.org/users/example_user"


async def test_a_standalone_key_whose_owner_does_not_list_it_is_refused(settings: Settings) -> None:
    victim = fixture("mastodon/person-actor.json")
    forged_key = {
        "id": "https://masto.qa.urbanwildlife.biz/keys/forged",
        "owner": victim["id"],
        "publicKeyPem": RFC_KEY["public_key_pem"],
    }
    documents = {victim["id"]: victim, forged_key["id"]: forged_key}
    async with peer_client(settings, documents) as client:
        with pytest.raises(ActorRejected, match="does not list key"):
            await fetch_actor_key(client, forged_key["id"])


async def test_an_actor_fetched_by_url_must_carry_that_id(settings: Settings) -> None:
    document = fixture("mastodon/person-actor.json")
    url = "https://masto.qa.urbanwildlife.biz/users/someone-else"
    async with peer_client(settings, {url: document}) as client:
        with pytest.raises(ActorRejected, match="calls itself"):
            await fetch_remote_actor(client, url)


async def test_a_remote_actor_is_stored_once_and_refreshed(
    settings: Settings, database: Database
) -> None:
    document = fixture("gotosocial/person-actor-profile-fields.json")
    actor = parse_actor(document)
    now = datetime(2025, 3, 1, tzinfo=UTC)
    async with database.transaction() as conn:
        first = await store_remote_actor(conn, actor, now=now, clean_html=sanitize_html)
    document["name"] = "renamed turtle"
    document["summary"] = '<p>hi</p><script>alert("x")</script>'
    async with database.transaction() as conn:
        second = await store_remote_actor(
            conn, parse_actor(document), now=now, clean_html=sanitize_html
        )
    assert second.id == first.id
    assert second.domain == "example.org" and second.username == "1happyturtle"
    assert second.acct == "1happyturtle@example.org"
    assert second.display_name == "renamed turtle"
    assert "<script" not in second.note
    assert second.locked is True
    assert second.public_key_id == document["publicKey"]["id"]
    assert [f["name"] for f in second.fields] == [a["name"] for a in document["attachment"]]
    assert second.fetched_at == now
    # Its key now survives restarts through the account row.
    stored = await AccountKeyStore(database).load(document["publicKey"]["id"])
    assert stored == FetchedKey(
        document["publicKey"]["id"], document["id"], document["publicKey"]["publicKeyPem"]
    )


# --- webfinger client ------------------------------------------------------------------------


def test_mastodon_jrds_name_the_actor() -> None:
    result = parse_jrd(fixture("mastodon/docs-webfinger-jrd-gargron.json"))
    assert result.actor_url == "https://mastodon.social/users/Gargron"
    assert result.profile_url == "https://mastodon.social/@Gargron"
    magic = parse_jrd(fixture("mastodon/webfinger-jrd-with-magic-key.json"))
    assert magic.actor_url == "https://ap.example.com/users/foo"  # not the text/html self link


@pytest.mark.parametrize("name", ["mastodon/webfinger-jrd.json", "pleroma/webfinger-jrd.json"])
def test_template_jrds_are_rejected_until_their_placeholders_are_filled(name: str) -> None:
    raw = (FIXTURES / name).read_text()
    with pytest.raises(WebfingerError, match="no ActivityPub self link"):
        parse_jrd(json.loads(raw))
    filled = raw.replace("{{subdomain}}", "pl.example").replace("{{nickname}}", "lain")
    assert parse_jrd(json.loads(filled)).actor_url == "https://pl.example/users/lain"


@pytest.mark.parametrize("junk", [[], "x", {"links": "x"}, {"links": [1, {"rel": "self"}]}])
def test_malformed_jrds_are_rejected(junk: Any) -> None:
    with pytest.raises(WebfingerError):
        parse_jrd(junk)


async def test_lookup_finds_the_actor_url_over_http(settings: Settings) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["resource"] == "acct:Gargron@mastodon.social"
        return httpx.Response(200, json=fixture("mastodon/docs-webfinger-jrd-gargron.json"))

    async def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    client = FederationClient(settings, transport=httpx.MockTransport(handler), resolver=resolver)
    async with client:
        result = await lookup(client, "@Gargron@mastodon.social")
    assert result.actor_url == "https://mastodon.social/users/Gargron"


# --- our endpoints ----------------------------------------------------------------------------


async def test_an_actor_is_served_as_activitystreams_to_both_accept_forms(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    async with database.transaction() as conn:
        await account_store.update_account(
            conn,
            account_id=alice.account.id,
            changes={
                "display_name": "Alice",
                "fields": [{"name": "Pronouns", "value": "she/her"}],
                "avatar_file": "avatar-1.png",
            },
        )
    for accept in (AS2, LD_AS2):
        response = await client.get("/users/alice", headers={"Accept": accept})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(AS2)
        actor = response.json()
        assert actor["id"] == "https://local.test/users/alice"
    context = actor["@context"]
    assert context[:2] == ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"]
    terms = ("manuallyApprovesFollowers", "discoverable", "indexable", "featured", "featuredTags",
             "PropertyValue", "value", "alsoKnownAs", "movedTo", "memorial")  # fmt: skip
    for term in terms:
        assert term in context[2], term
    assert actor["type"] == "Person"
    assert actor["preferredUsername"] == "alice"
    assert actor["name"] == "Alice"
    assert actor["inbox"] == "https://local.test/users/alice/inbox"
    assert actor["outbox"] == "https://local.test/users/alice/outbox"
    assert actor["followers"] == "https://local.test/users/alice/followers"
    assert actor["following"] == "https://local.test/users/alice/following"
    assert actor["featured"] == "https://local.test/users/alice/collections/featured"
    assert actor["featuredTags"] == "https://local.test/users/alice/collections/tags"
    assert actor["url"] == "https://local.test/@alice"
    assert actor["endpoints"] == {"sharedInbox": "https://local.test/inbox"}
    assert actor["manuallyApprovesFollowers"] is False
    assert actor["publicKey"] == {
        "id": "https://local.test/users/alice#main-key",
        "owner": "https://local.test/users/alice",
        "publicKeyPem": alice.account.public_key_pem,
    }
    assert actor["attachment"] == [
        {"type": "PropertyValue", "name": "Pronouns", "value": "she/her"}
    ]
    assert actor["icon"]["url"] == "https://local.test/media/avatar-1.png"
    assert actor["icon"]["mediaType"] == "image/png"
    assert "image" not in actor
    assert actor["published"].endswith("T00:00:00Z")
    # What we render, we can read back as a peer would.
    parsed = parse_actor(actor)
    assert parsed.public_key_pem == alice.account.public_key_pem
    assert parsed.fields[0].value == "she/her"


async def test_a_bot_is_a_service_and_a_locked_account_approves_followers(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    bot = await make_staff(database, settings, "robot", locked=True)
    async with database.transaction() as conn:
        await account_store.update_account(
            conn, account_id=bot.account.id, changes={"actor_type": "Service"}
        )
    actor = (await client.get("/users/robot", headers={"Accept": AS2})).json()
    assert actor["type"] == "Service"
    assert actor["manuallyApprovesFollowers"] is True


async def test_a_browser_is_redirected_to_the_profile_page(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await make_staff(database, settings, "alice")
    response = await client.get("/users/alice", headers={"Accept": "text/html"})
    assert response.status_code == 302
    assert response.headers["location"] == "https://local.test/@alice"
    assert "Accept" in response.headers["vary"]


async def test_unknown_actors_are_404_and_suspended_ones_410(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    assert (await client.get("/users/nobody", headers={"Accept": AS2})).status_code == 404
    bad = await make_staff(database, settings, "mallory")
    async with database.transaction() as conn:
        await account_store.update_account(
            conn, account_id=bad.account.id, changes={"suspended_at": datetime.now(UTC)}
        )
    assert (await client.get("/users/mallory", headers={"Accept": AS2})).status_code == 410


async def test_the_instance_actor_is_an_application_with_a_stable_key(
    client: httpx.AsyncClient, settings: Settings, database: Database
) -> None:
    first = await client.get("/actor", headers={"Accept": AS2})
    assert first.status_code == 200
    actor = first.json()
    assert actor["type"] == "Application"
    assert actor["id"] == "https://local.test/actor"
    assert actor["preferredUsername"] == "local.test"
    assert actor["publicKey"]["id"] == "https://local.test/actor#main-key"
    assert actor["publicKey"]["owner"] == "https://local.test/actor"
    # A second app on the same database (another process, or after a restart): same key.
    other = create_app(settings, database, connect_database=False)
    transport = httpx.ASGITransport(app=other)
    async with httpx.AsyncClient(transport=transport, base_url=settings.base_url) as again:
        second = (await again.get("/actor", headers={"Accept": AS2})).json()
    assert second["publicKey"]["publicKeyPem"] == actor["publicKey"]["publicKeyPem"]
    assert parse_actor(actor).type == "Application"


def remote_signer() -> RequestSigner:
    return RequestSigner("https://remote.example/users/bob#main-key", RFC_KEY["private_key_pem"])


def install_key_resolver(app: Any, pem: str = RFC_KEY["public_key_pem"]) -> list[str]:
    fetched: list[str] = []

    async def fetch(key_id: str) -> FetchedKey:
        fetched.append(key_id)
        return FetchedKey(key_id, "https://remote.example/users/bob", pem)

    app.state.fediverse.services["key_resolver"] = KeyResolver(fetch)
    return fetched


def signed_get(path: str) -> dict[str, str]:
    headers = remote_signer().sign("GET", f"https://local.test{path}", None)
    return {"Accept": AS2, **headers}


async def test_collections_require_a_signature_under_authorized_fetch(
    client: httpx.AsyncClient, database: Database, settings: Settings, app: Any
) -> None:
    assert settings.authorized_fetch is True
    await make_staff(database, settings, "alice")
    fetched = install_key_resolver(app)
    for path in ("/users/alice/followers", "/users/alice/following", "/users/alice/outbox",
                 "/users/alice/collections/featured", "/users/alice/collections/tags"):  # fmt: skip
        unsigned = await client.get(path, headers={"Accept": AS2})
        assert unsigned.status_code == 401, path
        signed = await client.get(path, headers=signed_get(path))
        assert signed.status_code == 200, path
    # The actor itself stays fetchable without a signature, so peers can get its key.
    assert (await client.get("/users/alice", headers={"Accept": AS2})).status_code == 200
    assert fetched == ["https://remote.example/users/bob#main-key"]  # fetched once, cached


async def test_a_signed_get_replayed_to_another_collection_is_refused(
    client: httpx.AsyncClient, database: Database, settings: Settings, app: Any
) -> None:
    await make_staff(database, settings, "alice")
    install_key_resolver(app)
    headers = signed_get("/users/alice/following")
    assert (await client.get("/users/alice/followers", headers=headers)).status_code == 401


async def test_a_signed_get_is_verified_against_the_path_as_sent(
    client: httpx.AsyncClient, database: Database, settings: Settings, app: Any
) -> None:
    """A peer signs what it requests: with a trailing slash or percent-encoding, that path
    (not the one the router matched) is what the signature covers."""
    await make_staff(database, settings, "alice")
    install_key_resolver(app)
    for path in ("/users/alice/followers/", "/users/%61lice/followers"):
        assert (await client.get(path, headers=signed_get(path))).status_code == 200, path
    stripped = signed_get("/users/alice/followers")
    assert (await client.get("/users/alice/followers/", headers=stripped)).status_code == 401


async def test_a_signature_from_the_wrong_key_is_refused(
    client: httpx.AsyncClient, database: Database, settings: Settings, app: Any
) -> None:
    await make_staff(database, settings, "alice")
    other_pem = fixture("httpsig/cavage12-appendix-c-test-vectors.json")["public_key_pem"]
    install_key_resolver(app, pem=other_pem)
    response = await client.get(
        "/users/alice/followers", headers=signed_get("/users/alice/followers")
    )
    assert response.status_code == 401
    assert "signature" in response.json()["error"].lower()


async def test_followers_collection_counts_and_pages_followers(
    client: httpx.AsyncClient, database: Database, settings: Settings, app: Any
) -> None:
    alice = await make_staff(database, settings, "alice")
    document = fixture("gotosocial/person-actor-profile-fields.json")
    async with database.transaction() as conn:
        turtle = await store_remote_actor(
            conn, parse_actor(document), now=datetime.now(UTC), clean_html=sanitize_html
        )
        await conn.execute(
            "INSERT INTO follows (id, account_id, target_account_id) VALUES (1, $1, $2)",
            turtle.id,
            alice.account.id,
        )
    install_key_resolver(app)
    collection = (
        await client.get("/users/alice/followers", headers=signed_get("/users/alice/followers"))
    ).json()
    assert collection["type"] == "OrderedCollection"
    assert collection["totalItems"] == 1
    page_path = collection["first"].removeprefix("https://local.test")
    page = (await client.get(page_path, headers=signed_get(page_path))).json()
    assert page["type"] == "OrderedCollectionPage"
    assert page["orderedItems"] == [document["id"]]
    assert page["partOf"] == "https://local.test/users/alice/followers"
    following = (
        await client.get("/users/alice/following", headers=signed_get("/users/alice/following"))
    ).json()
    assert following["totalItems"] == 0


async def test_hidden_collections_show_totals_but_no_pages(
    client: httpx.AsyncClient, database: Database, settings: Settings, app: Any
) -> None:
    alice = await make_staff(database, settings, "alice")
    async with database.transaction() as conn:
        await account_store.update_account(
            conn, account_id=alice.account.id, changes={"hide_collections": True}
        )
    install_key_resolver(app)
    collection = (
        await client.get("/users/alice/followers", headers=signed_get("/users/alice/followers"))
    ).json()
    assert collection["totalItems"] == 0
    assert "first" not in collection and "orderedItems" not in collection


async def test_collections_are_public_when_authorized_fetch_is_off(
    database: Database, settings: Settings
) -> None:
    await make_staff(database, settings, "alice")
    open_settings = settings.with_overrides(authorized_fetch=False)
    app = create_app(open_settings, database, connect_database=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=settings.base_url) as http:
        response = await http.get("/users/alice/outbox", headers={"Accept": AS2})
    assert response.status_code == 200
    assert response.json()["totalItems"] == 0


# --- webfinger and host-meta endpoints --------------------------------------------------------


async def test_webfinger_answers_for_acct_and_actor_url_resources(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await make_staff(database, settings, "alice")
    for resource in ("acct:alice@local.test", "acct:Alice@LOCAL.TEST",
                     "https://local.test/users/alice", "https://local.test/@alice"):  # fmt: skip
        response = await client.get("/.well-known/webfinger", params={"resource": resource})
        assert response.status_code == 200, resource
        assert response.headers["content-type"].startswith("application/jrd+json")
        jrd = response.json()
        assert jrd["subject"] == "acct:alice@local.test"
        links = {link["rel"]: link for link in jrd["links"]}
        assert links["self"] == {
            "rel": "self",
            "type": "application/activity+json",
            "href": "https://local.test/users/alice",
        }
        assert links["http://webfinger.net/rel/profile-page"]["href"] == "https://local.test/@alice"
        assert links["http://ostatus.org/schema/1.0/subscribe"]["template"] == (
            "https://local.test/authorize_interaction?uri={uri}"
        )
        assert parse_jrd(jrd).actor_url == "https://local.test/users/alice"


async def test_webfinger_finds_the_instance_actor(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/.well-known/webfinger", params={"resource": "acct:local.test@local.test"}
    )
    assert parse_jrd(response.json()).actor_url == "https://local.test/actor"


@pytest.mark.parametrize(
    ("resource", "status"),
    [("acct:nobody@local.test", 404), ("acct:alice@elsewhere.example", 404),
     ("https://elsewhere.example/users/alice", 404), ("", 400), ("acct:alice", 400)],
)  # fmt: skip
async def test_webfinger_refuses_unknown_and_foreign_resources(
    client: httpx.AsyncClient, database: Database, settings: Settings, resource: str, status: int
) -> None:
    await make_staff(database, settings, "alice")
    response = await client.get("/.well-known/webfinger", params={"resource": resource})
    assert response.status_code == status


async def test_host_meta_points_to_webfinger(client: httpx.AsyncClient) -> None:
    xml = await client.get("/.well-known/host-meta")
    assert xml.status_code == 200
    assert xml.headers["content-type"].startswith("application/xrd+xml")
    template = "https://local.test/.well-known/webfinger?resource={uri}"
    assert f'template="{template}"' in xml.text
    as_json = (await client.get("/.well-known/host-meta.json")).json()
    assert as_json == {"links": [{"rel": "lrdd", "template": template}]}
