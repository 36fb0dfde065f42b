"""Server-level endpoints: instance v1/v2 and its sub-resources, NodeInfo, custom emojis."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
from mastodon import Mastodon
from mastodon.versions import parse_version_string

import fediverse
from fediverse import ids, instance
from fediverse.accounts import set_suspended
from fediverse.config import Settings
from fediverse.storage import accounts as account_store
from fediverse.storage import instance as instance_store
from fediverse.storage.database import Database
from tests.factories import make_staff
from web.app import create_app

ID_STRING = re.compile(r"^\d+$")


@asynccontextmanager
async def client_with(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A client on an app built with other settings (registrations, scheme...)."""
    app = create_app(settings, database, connect_database=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=settings.base_url) as http:
        yield http


async def add_remote_account(database: Database, username: str, domain: str) -> int:
    async with database.transaction() as conn:
        return await account_store.insert_account(
            conn,
            values={
                "id": ids.new_id(),
                "username": username,
                "domain": domain,
                "uri": f"https://{domain}/users/{username}",
                "inbox_url": f"https://{domain}/users/{username}/inbox",
            },
        )


async def add_status(
    database: Database,
    account_id: int,
    *,
    local: bool = True,
    reblog_of_id: int | None = None,
    at: datetime | None = None,
) -> int:
    status_id = ids.new_id(at)
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO statuses (id, uri, account_id, local, reblog_of_id, created_at) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            status_id,
            f"https://local.test/statuses/{status_id}",
            account_id,
            local,
            reblog_of_id,
            at or datetime.now(UTC),
        )
    return status_id


# --- /api/v2/instance --------------------------------------------------------------------------


async def test_v2_instance_has_every_field_of_mastodon_4_3(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await client.get("/api/v2/instance")
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {
        "domain", "title", "version", "source_url", "description", "usage", "thumbnail", "icon",
        "languages", "configuration", "registrations", "api_versions", "contact", "rules",
    }  # fmt: skip
    assert body["domain"] == "local.test"
    assert body["title"] == settings.instance_title
    assert body["description"] == settings.instance_description
    assert body["version"] == f"4.3.0 (compatible; fediverse-server {fediverse.__version__})"
    assert body["usage"] == {"users": {"active_month": 0}}
    assert body["thumbnail"]["url"].startswith("https://local.test/")
    assert body["icon"] == []
    assert body["languages"] == ["en"]
    assert body["api_versions"] == {"mastodon": 6}
    assert body["contact"] == {"email": settings.contact_email, "account": None}
    assert body["rules"] == []
    configuration = body["configuration"]
    assert configuration["urls"]["streaming"] == "wss://local.test"
    assert set(configuration["vapid"]) == {"public_key"}
    assert set(configuration["accounts"]) == {"max_featured_tags", "max_pinned_statuses"}
    assert configuration["statuses"] == {
        "max_characters": settings.character_limit,
        "max_media_attachments": 4,
        "characters_reserved_per_url": 23,
        "local_only": True,
        "audience_scopes": ["public", "unlisted", "followers", "mentioned", "internal"],
    }
    media = configuration["media_attachments"]
    assert "image/png" in media["supported_mime_types"]
    assert media["image_size_limit"] == settings.max_upload_bytes
    assert media["image_matrix_limit"] == settings.max_image_pixels
    assert media["video_size_limit"] > 0
    assert set(configuration["polls"]) == {
        "max_options", "max_characters_per_option", "min_expiration", "max_expiration",
    }  # fmt: skip
    assert configuration["translation"] == {"enabled": False}
    assert configuration["limited_federation"] is False
    assert body["registrations"] == {
        "enabled": False,
        "approval_required": False,
        "message": None,
        "url": None,
    }


async def test_v2_instance_answers_with_a_trailing_slash_too(client: httpx.AsyncClient) -> None:
    plain = await client.get("/api/v2/instance")
    slashed = await client.get("/api/v2/instance/")
    assert slashed.status_code == 200
    assert slashed.json()["domain"] == plain.json()["domain"] == "local.test"
    v1 = await client.get("/api/v1/instance/")
    assert v1.status_code == 200
    assert v1.json()["uri"] == "local.test"


async def test_registrations_follow_the_configured_mode(
    settings: Settings, database: Database
) -> None:
    async with client_with(settings.with_overrides(registrations="open"), database) as http:
        v2 = (await http.get("/api/v2/instance")).json()
        v1 = (await http.get("/api/v1/instance")).json()
    assert v2["registrations"]["enabled"] is True
    assert v2["registrations"]["approval_required"] is False
    assert v1["registrations"] is True
    async with client_with(settings.with_overrides(registrations="approval"), database) as http:
        v2 = (await http.get("/api/v2/instance")).json()
    assert v2["registrations"]["enabled"] is True
    assert v2["registrations"]["approval_required"] is True


async def test_character_limit_comes_from_settings(settings: Settings, database: Database) -> None:
    async with client_with(settings.with_overrides(character_limit=1234), database) as http:
        v2 = (await http.get("/api/v2/instance")).json()
        v1 = (await http.get("/api/v1/instance")).json()
    assert v2["configuration"]["statuses"]["max_characters"] == 1234
    assert v1["configuration"]["statuses"]["max_characters"] == 1234


async def test_streaming_url_uses_ws_on_a_plain_http_server(
    settings: Settings, database: Database
) -> None:
    plain = settings.with_overrides(scheme="http", domain="plain.test:8000")
    async with client_with(plain, database) as http:
        v2 = (await http.get("/api/v2/instance")).json()
        v1 = (await http.get("/api/v1/instance")).json()
    assert v2["configuration"]["urls"]["streaming"] == "ws://plain.test:8000"
    assert v1["urls"]["streaming_api"] == "ws://plain.test:8000"


def test_version_string_is_parsed_by_mastodon_py_as_4_3_0() -> None:
    version = instance.version_string()
    # Mastodon.py keeps what precedes the first space (and a `+` suffix), then parses semver.
    normalized = Mastodon.__new__(Mastodon)._Mastodon__normalize_version_string(version)  # type: ignore[attr-defined]
    assert parse_version_string(normalized) == (4, 3, 0)
    assert version.endswith(f"(compatible; fediverse-server {fediverse.__version__})")


async def test_server_settings_override_the_configured_profile(
    client: httpx.AsyncClient, database: Database
) -> None:
    async with database.transaction() as conn:
        await instance.set_profile_value(conn, key="title", value="Our Server")
        await instance.set_profile_value(conn, key="languages", value=["de", "en"])
        await instance.set_profile_value(conn, key="contact_email", value="admin@local.test")
    body = (await client.get("/api/v2/instance")).json()
    assert body["title"] == "Our Server"
    assert body["languages"] == ["de", "en"]
    assert body["contact"]["email"] == "admin@local.test"
    async with database.transaction() as conn:
        await instance.set_profile_value(conn, key="title", value=None)
    assert (await client.get("/api/v2/instance")).json()["title"] != "Our Server"


# --- /api/v1/instance --------------------------------------------------------------------------


async def test_v1_instance_has_every_field_of_mastodon_4(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await client.get("/api/v1/instance")
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {
        "uri", "title", "short_description", "description", "email", "version", "urls", "stats",
        "thumbnail", "languages", "registrations", "approval_required", "invites_enabled",
        "configuration", "contact_account", "rules",
    }  # fmt: skip
    assert body["uri"] == "local.test"
    assert body["version"] == instance.version_string()
    assert body["urls"] == {"streaming_api": "wss://local.test"}
    assert body["stats"] == {"user_count": 0, "status_count": 0, "domain_count": 0}
    assert isinstance(body["thumbnail"], str)
    assert body["registrations"] is False
    assert body["contact_account"] is None
    assert set(body["configuration"]) >= {"statuses", "media_attachments", "polls", "accounts"}


async def test_instance_stats_count_local_users_posts_and_peer_domains(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    remote_id = await add_remote_account(database, "carol", "remote.example")
    original = await add_status(database, alice.account.id)
    await add_status(database, bob.account.id, reblog_of_id=original)  # a boost is no post
    await add_status(database, remote_id, local=False)  # a remote post is no local post
    stats = (await client.get("/api/v1/instance")).json()["stats"]
    assert stats == {"user_count": 2, "status_count": 1, "domain_count": 1}
    async with database.transaction() as conn:
        await set_suspended(conn, bob.account, True)
    stats = (await client.get("/api/v1/instance")).json()["stats"]
    assert stats["user_count"] == 1


async def test_active_month_counts_users_who_used_the_server_recently(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await make_staff(database, settings, "alice")  # has a token issued just now
    async with database.transaction() as conn:
        await conn.execute(
            "UPDATE oauth_access_tokens SET created_at = now() - interval '100 days'"
        )
    assert (await client.get("/api/v2/instance")).json()["usage"]["users"]["active_month"] == 0
    await make_staff(database, settings, "bob")
    assert (await client.get("/api/v2/instance")).json()["usage"]["users"]["active_month"] == 1


async def test_contact_account_is_null_without_an_admin(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v2/instance")).json()
    assert body["contact"]["account"] is None
    assert (await client.get("/api/v1/instance")).json()["contact_account"] is None


async def test_contact_account_is_the_oldest_admin_unless_one_is_configured(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await make_staff(database, settings, "someone")
    admin = await make_staff(database, settings, "admin", role="admin")
    await make_staff(database, settings, "later_admin", role="admin")
    body = (await client.get("/api/v2/instance")).json()
    account = body["contact"]["account"]
    assert account["id"] == admin.id
    assert account["acct"] == "admin"
    assert account["url"] == "https://local.test/@admin"
    assert (await client.get("/api/v1/instance")).json()["contact_account"]["id"] == admin.id
    async with database.transaction() as conn:
        await instance.set_profile_value(conn, key="contact_username", value="someone")
    body = (await client.get("/api/v2/instance")).json()
    assert body["contact"]["account"]["acct"] == "someone"


# --- sub-resources ----------------------------------------------------------------------------


async def test_peers_lists_domains_of_known_remote_accounts(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    assert (await client.get("/api/v1/instance/peers")).json() == []
    await make_staff(database, settings, "alice")
    await add_remote_account(database, "carol", "remote.example")
    await add_remote_account(database, "dave", "remote.example")
    await add_remote_account(database, "erin", "other.example")
    response = await client.get("/api/v1/instance/peers")
    assert response.status_code == 200
    assert response.json() == ["other.example", "remote.example"]


async def test_activity_has_twelve_weeks_of_string_counts_newest_first(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await add_status(database, alice.account.id)
    await add_status(database, alice.account.id, at=datetime.now(UTC) - timedelta(days=14))
    response = await client.get("/api/v1/instance/activity")
    assert response.status_code == 200
    weeks = response.json()
    assert len(weeks) == 12
    for week in weeks:
        assert set(week) == {"week", "statuses", "logins", "registrations"}
        assert all(isinstance(value, str) and value.isdigit() for value in week.values())
    starts = [int(week["week"]) for week in weeks]
    assert starts == sorted(starts, reverse=True)
    assert all(a - b == 7 * 86400 for a, b in itertools.pairwise(starts))
    current = instance.week_start(datetime.now(UTC))
    assert starts[0] == int(current.timestamp())
    assert datetime.fromtimestamp(starts[0], UTC).weekday() == 0
    assert weeks[0]["registrations"] == "1"
    assert weeks[0]["logins"] == "1"
    by_week = {int(week["week"]): week for week in weeks}
    two_weeks_ago = instance.week_start(datetime.now(UTC) - timedelta(days=14))
    assert by_week[int(two_weeks_ago.timestamp())]["statuses"] == "1"
    assert sum(int(week["statuses"]) for week in weeks) == 2


async def test_rules_come_from_instance_rules_in_order(
    client: httpx.AsyncClient, database: Database
) -> None:
    async with database.transaction() as conn:
        second = await instance_store.insert_instance_rule(
            conn, rule_id=ids.new_id(), text="No spam", hint="", position=2
        )
        first = await instance_store.insert_instance_rule(
            conn, rule_id=ids.new_id(), text="Be kind", hint="Really.", position=1
        )
    expected = [
        {"id": str(first.id), "text": "Be kind", "hint": "Really."},
        {"id": str(second.id), "text": "No spam", "hint": ""},
    ]
    assert (await client.get("/api/v1/instance/rules")).json() == expected
    assert (await client.get("/api/v2/instance")).json()["rules"] == expected
    assert (await client.get("/api/v1/instance")).json()["rules"] == expected


async def test_extended_description_and_privacy_policy_come_from_server_settings(
    client: httpx.AsyncClient, database: Database
) -> None:
    empty = (await client.get("/api/v1/instance/extended_description")).json()
    assert empty["content"] == ""
    assert empty["updated_at"].endswith("Z")
    async with database.transaction() as conn:
        await instance.set_profile_value(conn, key="extended_description", value="<p>About us</p>")
        await instance.set_profile_value(conn, key="privacy_policy", value="<p>We keep little</p>")
    about = (await client.get("/api/v1/instance/extended_description")).json()
    policy = (await client.get("/api/v1/instance/privacy_policy")).json()
    assert about["content"] == "<p>About us</p>"
    assert policy["content"] == "<p>We keep little</p>"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", policy["updated_at"])


# --- NodeInfo ---------------------------------------------------------------------------------


async def test_nodeinfo_discovery_links_both_schema_versions(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/nodeinfo")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "links": [
            {
                "rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
                "href": "https://local.test/nodeinfo/2.0",
            },
            {
                "rel": "http://nodeinfo.diaspora.software/ns/schema/2.1",
                "href": "https://local.test/nodeinfo/2.1",
            },
        ]
    }


async def test_nodeinfo_documents_describe_the_software_with_the_profile_content_type(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    for version in ("2.0", "2.1"):
        response = await client.get(f"/nodeinfo/{version}")
        assert response.status_code == 200
        assert response.headers["content-type"] == (
            f'application/json; profile="http://nodeinfo.diaspora.software/ns/schema/{version}#"'
        )
        body = response.json()
        assert body["version"] == version
        assert body["software"]["name"] == "fediverse-server"
        assert body["software"]["version"] == fediverse.__version__
        assert body["protocols"] == ["activitypub"]
        assert body["services"] == {"inbound": [], "outbound": []}
        assert body["openRegistrations"] is False
        assert body["usage"] == {
            "users": {"total": 0, "activeMonth": 0, "activeHalfyear": 0},
            "localPosts": 0,
        }
        assert body["metadata"]["nodeName"] == settings.instance_title
    assert (await client.get("/nodeinfo/1.0")).status_code == 404


async def test_nodeinfo_counts_local_users_and_their_posts_honestly(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    remote_id = await add_remote_account(database, "dave", "remote.example")
    first = await add_status(database, alice.account.id)
    await add_status(database, alice.account.id)
    await add_status(database, bob.account.id, reblog_of_id=first)
    await add_status(database, remote_id, local=False)
    async with database.transaction() as conn:
        await set_suspended(conn, carol.account, True)
    usage = (await client.get("/nodeinfo/2.0")).json()["usage"]
    assert usage == {
        "users": {"total": 2, "activeMonth": 2, "activeHalfyear": 2},
        "localPosts": 2,
    }


async def test_nodeinfo_open_registrations_follows_settings(
    settings: Settings, database: Database
) -> None:
    async with client_with(settings.with_overrides(registrations="open"), database) as http:
        assert (await http.get("/nodeinfo/2.1")).json()["openRegistrations"] is True


# --- custom emojis ----------------------------------------------------------------------------


async def test_custom_emojis_is_an_empty_list_when_there_are_none(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/custom_emojis")
    assert response.status_code == 200
    assert response.json() == []


async def test_custom_emojis_lists_only_enabled_local_emojis(
    client: httpx.AsyncClient, database: Database
) -> None:
    async with database.transaction() as conn:
        for shortcode, domain, disabled in (
            ("blobcat", None, False),
            ("old", None, True),
            ("theirs", "remote.example", False),
        ):
            await instance_store.insert_custom_emoji(
                conn,
                emoji_id=ids.new_id(),
                shortcode=shortcode,
                domain=domain,
                image_url=f"https://local.test/emoji/{shortcode}.png",
                static_url=f"https://local.test/emoji/{shortcode}_static.png",
                category="Blobs",
                disabled=disabled,
            )
    assert (await client.get("/api/v1/custom_emojis")).json() == [
        {
            "shortcode": "blobcat",
            "url": "https://local.test/emoji/blobcat.png",
            "static_url": "https://local.test/emoji/blobcat_static.png",
            "visible_in_picker": True,
            "category": "Blobs",
        }
    ]
