"""Public HTML pages: profiles and statuses show only what an anonymous visitor may see, with
OpenGraph tags, rel="me" links and content negotiation; static files; remote follow."""

from __future__ import annotations

import re
from typing import Any

import httpx

from fediverse import accounts as account_domain
from fediverse.config import Settings
from fediverse.storage.database import Database
from tests.factories import StaffMember, make_staff
from web.app import create_app

AS2 = "application/activity+json"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


async def post(client: httpx.AsyncClient, author: StaffMember, text: str, **extra: Any) -> str:
    response = await client.post(
        "/api/v1/statuses", json={"status": text, **extra}, headers=author.headers
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def meta(page: str, prop: str) -> str | None:
    found = re.search(rf'<meta property="{re.escape(prop)}" content="([^"]*)"', page)
    return None if found is None else found.group(1)


async def posts_of_each_scope(client: httpx.AsyncClient, alice: StaffMember) -> dict[str, str]:
    return {
        "public": await post(client, alice, "public words"),
        "unlisted": await post(client, alice, "unlisted words", visibility="unlisted"),
        "private": await post(client, alice, "private words", visibility="private"),
        "direct": await post(client, alice, "direct words", visibility="direct"),
        "internal": await post(client, alice, "internal words", local_only=True),
    }


async def test_profile_page_shows_the_profile_with_opengraph_and_rel_me_links(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    updated = await client.patch(
        "/api/v1/accounts/update_credentials",
        json={
            "display_name": "Alice <Liddell>",
            "note": "I write about tea.",
            "fields_attributes": [{"name": "Site", "value": "https://alice.example/about"}],
        },
        headers=alice.headers,
    )
    assert updated.status_code == 200, updated.text
    response = await client.get("/@alice", headers={"Accept": BROWSER})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Accept" in response.headers["vary"]
    page = response.text
    assert "Alice &lt;Liddell&gt;" in page and "<Liddell>" not in page
    assert "@alice@local.test" in page
    assert "I write about tea." in page
    assert '<link rel="me" href="https://alice.example/about">' in page
    assert 'rel="me nofollow noopener"' in page
    assert meta(page, "og:type") == "profile"
    assert meta(page, "og:title") == "Alice &lt;Liddell&gt; (@alice@local.test)"
    assert meta(page, "og:description") == "I write about tea."
    assert meta(page, "og:url") == "https://local.test/@alice"
    assert meta(page, "og:image") == "https://local.test/static/avatar-missing.png"
    assert (
        '<link rel="alternate" type="application/activity+json" '
        'href="https://local.test/users/alice">' in page
    )
    assert 'action="https://local.test/@alice/remote_follow"' in page


async def test_profile_page_lists_public_posts_and_never_private_direct_or_internal_ones(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await posts_of_each_scope(client, alice)
    page = (await client.get("/@alice")).text
    assert "public words" in page
    # Unlisted posts appear on profiles, as on Mastodon; they only stay out of timelines.
    assert "unlisted words" in page
    for hidden in ("private words", "direct words", "internal words"):
        assert hidden not in page


async def test_status_page_serves_public_and_unlisted_and_404s_every_other_scope(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    ids = await posts_of_each_scope(client, alice)
    for scope in ("public", "unlisted"):
        response = await client.get(f"/@alice/{ids[scope]}")
        assert response.status_code == 200
        assert meta(response.text, "og:description") == f"{scope} words"
        assert meta(response.text, "og:type") == "article"
        assert meta(response.text, "og:url") == f"https://local.test/@alice/{ids[scope]}"
    missing = await client.get("/@alice/123456789")
    assert missing.status_code == 404
    for scope in ("private", "direct", "internal"):
        response = await client.get(f"/@alice/{ids[scope]}")
        assert response.status_code == 404
        # Indistinguishable from a missing status.
        assert response.text == missing.text
        assert f"{scope} words" not in response.text


async def test_status_page_only_answers_under_its_authors_name(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await make_staff(database, settings, "bob")
    status_id = await post(client, alice, "mine")
    assert (await client.get(f"/@bob/{status_id}")).status_code == 404
    assert (await client.get("/@alice/not-a-number")).status_code == 404


async def test_status_page_uses_the_first_image_and_hides_text_behind_a_content_warning(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    warned = await post(client, alice, "the ending is sad", spoiler_text="Film spoilers")
    page = (await client.get(f"/@alice/{warned}")).text
    assert meta(page, "og:description") == "Content warning: Film spoilers"
    assert meta(page, "og:image") == "https://local.test/static/avatar-missing.png"
    assert "<summary>Film spoilers</summary>" in page


async def test_unknown_accounts_are_404_and_suspended_ones_410(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    assert (await client.get("/@nobody")).status_code == 404
    alice = await make_staff(database, settings, "alice")
    status_id = await post(client, alice, "before suspension")
    async with database.transaction() as conn:
        await account_domain.set_suspended(conn, alice.account, True)
    assert (await client.get("/@alice")).status_code == 410
    gone = await client.get(f"/@alice/{status_id}")
    assert gone.status_code == 410
    assert "before suspension" not in gone.text


async def test_activitystreams_clients_get_the_actor_and_status_documents(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    status_id = await post(client, alice, "hello")
    for accept in (AS2, 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'):
        actor = await client.get("/@alice", headers={"Accept": accept})
        assert actor.status_code == 200
        assert actor.headers["content-type"].startswith(AS2)
        assert actor.json()["id"] == "https://local.test/users/alice"
        status = await client.get(f"/@alice/{status_id}", headers={"Accept": accept})
        assert status.status_code == 302
        assert status.headers["location"] == (
            f"https://local.test/users/alice/statuses/{status_id}"
        )
    browser = await client.get("/users/alice", headers={"Accept": BROWSER})
    assert browser.status_code == 302
    assert browser.headers["location"] == "https://local.test/@alice"


async def test_static_placeholders_and_stylesheet_are_served(client: httpx.AsyncClient) -> None:
    for name in ("avatar-missing.png", "header-missing.png", "thumbnail.png"):
        response = await client.get(f"/static/{name}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    css = await client.get("/static/style.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert (await client.get("/static/..%2Fapp.py")).status_code == 404
    assert (await client.get("/static/missing.png")).status_code == 404


async def test_remote_follow_without_a_federation_client_explains_how_to_follow(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await make_staff(database, settings, "alice")
    page = (await client.get("/@alice/remote_follow", params={"acct": "bob@remote.example"})).text
    assert "@alice@local.test" in page
    assert 'value="bob@remote.example"' in page


class FakeWebfinger:
    """Stands in for the federation client's WebFinger lookup."""

    def __init__(self, jrds: dict[str, Any]) -> None:
        self.jrds = jrds
        self.asked: list[str] = []

    async def webfinger(self, acct: str) -> dict[str, Any]:
        self.asked.append(acct)
        if acct not in self.jrds:
            raise OSError("no such host")
        return dict(self.jrds[acct])


async def test_remote_follow_sends_the_visitor_to_their_servers_subscribe_page(
    database: Database, settings: Settings
) -> None:
    fake = FakeWebfinger(
        {
            "bob@remote.example": {
                "subject": "acct:bob@remote.example",
                "links": [
                    {
                        "rel": "http://ostatus.org/schema/1.0/subscribe",
                        "template": "https://remote.example/authorize_interaction?uri={uri}",
                    }
                ],
            }
        }
    )
    app = create_app(
        settings, database, services={"federation_client": fake}, connect_database=False
    )
    await make_staff(database, settings, "alice")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=settings.base_url) as http:
        found = await http.get("/@alice/remote_follow", params={"acct": "@bob@remote.example"})
        assert found.status_code == 303
        assert found.headers["location"] == (
            "https://remote.example/authorize_interaction?uri=alice@local.test"
        )
        unknown = await http.get("/@alice/remote_follow", params={"acct": "carol@down.example"})
        assert unknown.status_code == 200
        assert "Could not find a follow page for carol@down.example" in unknown.text
    assert fake.asked == ["bob@remote.example", "carol@down.example"]
