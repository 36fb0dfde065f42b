"""The statuses API through HTTP: shapes, audience on every read path, actions, errors."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from PIL import Image

from fediverse import auth, ids
from fediverse.config import Settings
from fediverse.remote_statuses import store_remote_reblog
from fediverse.storage import statuses as status_store
from fediverse.storage.database import Database
from fediverse.storage.remote_accounts import upsert_remote_account
from tests.factories import StaffMember, make_staff

ID_STRING = re.compile(r"^\d+$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

STATUS_FIELDS = {
    "id",
    "uri",
    "url",
    "created_at",
    "account",
    "content",
    "visibility",
    "sensitive",
    "spoiler_text",
    "media_attachments",
    "application",
    "mentions",
    "tags",
    "emojis",
    "reblogs_count",
    "favourites_count",
    "replies_count",
    "in_reply_to_id",
    "in_reply_to_account_id",
    "reblog",
    "poll",
    "card",
    "language",
    "edited_at",
    "filtered",
}
VIEWER_FIELDS = {"favourited", "reblogged", "muted", "bookmarked"}


async def post(
    client: httpx.AsyncClient, who: StaffMember, expected: int = 200, **data: Any
) -> dict[str, Any]:
    response = await client.post("/api/v1/statuses", json=data, headers=who.headers)
    assert response.status_code == expected, response.text
    return response.json()  # type: ignore[no-any-return]


async def follow(database: Database, follower: StaffMember, target: StaffMember) -> None:
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO follows (id, account_id, target_account_id) VALUES ($1, $2, $3)",
            ids.new_id(),
            follower.account.id,
            target.account.id,
        )


async def block(database: Database, blocker: StaffMember, target: StaffMember) -> None:
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO blocks (id, account_id, target_account_id) VALUES ($1, $2, $3)",
            ids.new_id(),
            blocker.account.id,
            target.account.id,
        )


async def mute(database: Database, muter: StaffMember, target: StaffMember) -> None:
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO mutes (id, account_id, target_account_id) VALUES ($1, $2, $3)",
            ids.new_id(),
            muter.account.id,
            target.account.id,
        )


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_posted_status_has_every_mastodon_field_with_string_ids(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await make_staff(database, settings, "bob")
    body = await post(client, alice, status="Hello @bob, see #Fediverse https://example.com/x")

    assert STATUS_FIELDS | VIEWER_FIELDS | {"pinned"} <= set(body)
    assert ID_STRING.match(body["id"])
    assert TIMESTAMP.match(body["created_at"])
    assert body["account"]["id"] == alice.id
    assert body["account"]["acct"] == "alice"
    assert body["visibility"] == "public"
    assert body["uri"] == f"https://local.test/users/alice/statuses/{body['id']}"
    assert body["url"] == f"https://local.test/@alice/{body['id']}"
    assert body["mentions"] == [
        {
            "id": str(body["mentions"][0]["id"]),
            "username": "bob",
            "url": "https://local.test/@bob",
            "acct": "bob",
        }
    ]
    assert ID_STRING.match(body["mentions"][0]["id"])
    assert body["tags"] == [{"name": "fediverse", "url": "https://local.test/tags/fediverse"}]
    assert 'class="u-url mention"' in body["content"]
    assert 'href="https://example.com/x"' in body["content"]
    assert body["favourited"] is False and body["pinned"] is False
    assert body["reblog"] is None and body["edited_at"] is None


async def test_shown_status_matches_the_posted_one_and_anonymous_sees_no_viewer_fields(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    posted = await post(client, alice, status="public words")
    response = await client.get(f"/api/v1/statuses/{posted['id']}")
    assert response.status_code == 200
    shown = response.json()
    assert STATUS_FIELDS <= set(shown)
    assert not VIEWER_FIELDS & set(shown)
    assert shown["id"] == posted["id"]
    assert shown["content"] == "<p>public words</p>"


async def test_status_records_the_application_of_the_token(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    async with database.transaction() as conn:
        app_id = ids.new_id()
        await conn.execute(
            "INSERT INTO oauth_applications (id, name, website, redirect_uris, client_id, "
            "client_secret) VALUES ($1, 'Tusky', 'https://tusky.app', '{}', $2, 's')",
            app_id,
            f"client-{app_id}",
        )
        token, _ = await auth.issue_token(
            conn, application_id=app_id, user_id=alice.user.id, scopes="read write"
        )
    response = await client.post(
        "/api/v1/statuses",
        data={"status": "from an app"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["application"] == {"name": "Tusky", "website": "https://tusky.app"}
    async with database.connection() as conn:
        stored = await conn.fetchval(
            "SELECT application_id FROM statuses WHERE id = $1", int(response.json()["id"])
        )
    assert stored == app_id


async def test_form_encoded_post_with_media_ids_attaches_uploads_in_order(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    media_ids = []
    for _ in range(2):
        upload = await client.post(
            "/api/v2/media",
            files={"file": ("a.png", png_bytes(), "image/png")},
            headers=alice.headers,
        )
        assert upload.status_code == 200, upload.text
        media_ids.append(upload.json()["id"])
    response = await client.post(
        "/api/v1/statuses",
        data={"status": "", "media_ids[]": list(reversed(media_ids))},
        headers=alice.headers,
    )
    assert response.status_code == 200, response.text
    attached = response.json()["media_attachments"]
    assert [m["id"] for m in attached] == list(reversed(media_ids))
    assert attached[0]["type"] == "image"


async def test_someone_elses_media_cannot_be_attached(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    upload = await client.post(
        "/api/v2/media",
        files={"file": ("a.png", png_bytes(), "image/png")},
        headers=bob.headers,
    )
    body = await post(client, alice, 422, status="stolen", media_ids=[upload.json()["id"]])
    assert "Media attachment" in body["error"]


async def test_defaults_come_from_the_users_preferences(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    async with database.transaction() as conn:
        await conn.execute(
            "UPDATE users SET default_privacy = 'unlisted', default_sensitive = true, "
            "default_language = 'de', default_federation = false WHERE id = $1",
            alice.user.id,
        )
    body = await post(client, alice, status="defaults")
    assert body["visibility"] == "unlisted"
    assert body["sensitive"] is True
    assert body["language"] == "de"
    assert body["local_only"] is True

    explicit = await post(client, alice, status="explicit", visibility="public", local_only=False)
    assert explicit["visibility"] == "public"
    assert explicit["local_only"] is False


async def test_akkoma_local_visibility_and_local_only_flag_make_internal_posts(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    local = await post(client, alice, status="inside", visibility="local")
    assert (local["visibility"], local["local_only"]) == ("public", True)
    flagged = await post(client, alice, status="inside", visibility="unlisted", local_only="true")
    assert (flagged["visibility"], flagged["local_only"]) == ("unlisted", True)
    # Internal posts are invisible without a signed-in viewer.
    response = await client.get(f"/api/v1/statuses/{local['id']}")
    assert response.status_code == 404


async def test_idempotency_key_returns_the_same_status_for_a_repeat(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    headers = {**alice.headers, "Idempotency-Key": "abc-123"}
    first = await client.post("/api/v1/statuses", json={"status": "once"}, headers=headers)
    second = await client.post("/api/v1/statuses", json={"status": "once"}, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    other = await client.post(
        "/api/v1/statuses", json={"status": "once"}, headers={**headers, "Idempotency-Key": "x"}
    )
    assert other.json()["id"] != first.json()["id"]
    async with database.connection() as conn:
        count = await conn.fetchval(
            "SELECT count(*) FROM statuses WHERE account_id = $1", alice.account.id
        )
    assert count == 2


async def test_idempotency_key_expires_after_an_hour(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    headers = {**alice.headers, "Idempotency-Key": "k"}
    first = await client.post("/api/v1/statuses", json={"status": "once"}, headers=headers)
    async with database.transaction() as conn:
        await conn.execute("UPDATE idempotency_keys SET created_at = now() - interval '61 minutes'")
    second = await client.post("/api/v1/statuses", json={"status": "once"}, headers=headers)
    assert second.json()["id"] != first.json()["id"]


@pytest.mark.parametrize(
    ("data", "field_words"),
    [
        ({"status": ""}, "Text can't be blank"),
        ({"status": "   \n"}, "Text can't be blank"),
        ({"status": "x" * 501}, "character limit of 500"),
        ({"status": "x" * 490, "spoiler_text": "y" * 20}, "character limit of 500"),
        ({"status": "hi", "visibility": "everyone"}, "Visibility 'everyone'"),
        ({"status": "hi", "language": "not a language!"}, "language"),
        ({"status": "hi", "sensitive": "perhaps"}, "sensitive"),
        ({"status": "hi", "media_ids": ["nope"]}, "media_ids"),
        ({"status": "hi", "local_only": "maybe"}, "local_only"),
    ],
)
async def test_invalid_posts_are_refused_with_422_naming_the_field(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    data: dict[str, Any],
    field_words: str,
) -> None:
    alice = await make_staff(database, settings, "alice")
    body = await post(client, alice, 422, **data)
    assert body["error"].startswith("Validation failed")
    assert field_words in body["error"]


async def test_exactly_the_character_limit_is_accepted_and_urls_count_as_23(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await post(client, alice, status="x" * 500)
    long_url = "https://example.com/" + "a" * 200
    await post(client, alice, status=long_url + " " + "x" * (500 - 24))


async def test_malformed_json_body_is_a_400_not_a_500(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    for body in (b"{not json", b"[1, 2]"):
        response = await client.post(
            "/api/v1/statuses",
            content=body,
            headers={**alice.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert "error" in response.json()


async def test_a_status_field_of_the_wrong_type_is_a_422(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    body = await post(client, alice, 422, status={"nested": "object"})
    assert "status" in body["error"]


async def test_posting_needs_a_token_with_write_statuses(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    reader = await make_staff(database, settings, "reader", scopes="read")
    anonymous = await client.post("/api/v1/statuses", json={"status": "hi"})
    assert anonymous.status_code == 401
    refused = await client.post("/api/v1/statuses", json={"status": "hi"}, headers=reader.headers)
    assert refused.status_code == 403
    granular = await make_staff(database, settings, "granular", scopes="write:statuses")
    await post(client, granular, status="granular scope is enough")


async def test_unknown_or_malformed_ids_are_404(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    for path in ("/api/v1/statuses/123", "/api/v1/statuses/abc", "/api/v1/statuses/-1/context"):
        response = await client.get(path, headers=alice.headers)
        assert response.status_code == 404
        assert response.json() == {"error": "Record not found"}


async def test_reply_links_to_parent_and_counts_replies(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    parent = await post(client, alice, status="question?")
    reply = await post(client, bob, status="@alice answer", in_reply_to_id=parent["id"])
    assert reply["in_reply_to_id"] == parent["id"]
    assert reply["in_reply_to_account_id"] == alice.id
    shown = (await client.get(f"/api/v1/statuses/{parent['id']}")).json()
    assert shown["replies_count"] == 1


async def test_reply_defaults_to_the_parents_narrower_visibility(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await follow(database, bob, alice)
    parent = await post(client, alice, status="friends only", visibility="private")
    reply = await post(client, bob, status="@alice ok", in_reply_to_id=parent["id"])
    assert reply["visibility"] == "private"
    widened = await post(
        client, bob, status="@alice ok", in_reply_to_id=parent["id"], visibility="public"
    )
    assert widened["visibility"] == "public"


async def test_reply_to_a_status_the_author_cannot_see_is_404(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    eve = await make_staff(database, settings, "eve")
    hidden = await post(client, alice, status="secret", visibility="private")
    body = await post(client, eve, 404, status="hi", in_reply_to_id=hidden["id"])
    assert "error" in body
    await post(client, eve, 404, status="hi", in_reply_to_id="999999")


VIEWERS = ("author", "follower", "mentioned", "stranger", "anonymous", "blocked")
VISIBLE_TO = {
    "public": {"author", "follower", "mentioned", "stranger", "anonymous"},
    "unlisted": {"author", "follower", "mentioned", "stranger", "anonymous"},
    "private": {"author", "follower", "mentioned"},
    "direct": {"author", "mentioned"},
}


@pytest.mark.parametrize("visibility", list(VISIBLE_TO))
async def test_show_context_favourited_by_and_history_follow_the_audience(
    client: httpx.AsyncClient, database: Database, settings: Settings, visibility: str
) -> None:
    people = {
        name: await make_staff(database, settings, name)
        for name in ("author", "follower", "mentioned", "stranger", "blocked")
    }
    await follow(database, people["follower"], people["author"])
    await follow(database, people["blocked"], people["author"])
    await block(database, people["author"], people["blocked"])
    status = await post(client, people["author"], status="hi @mentioned", visibility=visibility)
    status_id = status["id"]
    reply = await post(client, people["author"], status="more @mentioned", in_reply_to_id=status_id)

    seen: dict[tuple[str, str], int] = {}
    expected: dict[tuple[str, str], int] = {}
    for viewer in VIEWERS:
        headers = {} if viewer == "anonymous" else people[viewer].headers
        for path in (
            f"/api/v1/statuses/{status_id}",
            f"/api/v1/statuses/{status_id}/context",
            f"/api/v1/statuses/{status_id}/favourited_by",
            f"/api/v1/statuses/{status_id}/reblogged_by",
            f"/api/v1/statuses/{status_id}/history",
        ):
            response = await client.get(path, headers=headers)
            seen[(viewer, path)] = response.status_code
            expected[(viewer, path)] = 200 if viewer in VISIBLE_TO[visibility] else 404
        listed = await client.get(f"/api/v1/statuses?id[]={status_id}", headers=headers)
        assert listed.status_code == 200
        seen[(viewer, "list")] = len(listed.json())
        expected[(viewer, "list")] = 1 if viewer in VISIBLE_TO[visibility] else 0
        # The reply's context shows the parent as an ancestor only to its audience.
        context = await client.get(f"/api/v1/statuses/{reply['id']}/context", headers=headers)
        if context.status_code == 200:
            ancestors = [s["id"] for s in context.json()["ancestors"]]
            seen[(viewer, "ancestor")] = int(status_id in ancestors)
            expected[(viewer, "ancestor")] = int(viewer in VISIBLE_TO[visibility])
    assert seen == expected


async def test_actions_on_a_status_outside_the_audience_are_404(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    eve = await make_staff(database, settings, "eve")
    hidden = await post(client, alice, status="secret", visibility="private")
    for verb in ("favourite", "reblog", "bookmark", "mute", "pin", "unfavourite"):
        response = await client.post(f"/api/v1/statuses/{hidden['id']}/{verb}", headers=eve.headers)
        assert response.status_code == 404, verb


async def test_context_lists_ancestors_root_first_and_descendants_in_thread_order(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    root = await post(client, alice, status="root")
    a = await post(client, bob, status="a", in_reply_to_id=root["id"])
    b = await post(client, alice, status="b", in_reply_to_id=root["id"])
    a1 = await post(client, alice, status="a1", in_reply_to_id=a["id"])
    a1x = await post(client, bob, status="a1x", in_reply_to_id=a1["id"])
    a2 = await post(client, bob, status="a2", in_reply_to_id=a["id"])

    root_context = (await client.get(f"/api/v1/statuses/{root['id']}/context")).json()
    assert root_context["ancestors"] == []
    assert [s["id"] for s in root_context["descendants"]] == [
        a["id"],
        a1["id"],
        a1x["id"],
        a2["id"],
        b["id"],
    ]
    leaf = (await client.get(f"/api/v1/statuses/{a1x['id']}/context")).json()
    assert [s["id"] for s in leaf["ancestors"]] == [root["id"], a["id"], a1["id"]]
    assert leaf["descendants"] == []
    assert STATUS_FIELDS <= set(leaf["ancestors"][0])


async def test_context_hides_replies_the_viewer_may_not_see_or_has_blocked_or_muted(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    dave = await make_staff(database, settings, "dave")
    viewer = await make_staff(database, settings, "viewer")
    root = await post(client, alice, status="root")
    by_bob = await post(client, bob, status="bob", in_reply_to_id=root["id"])
    by_carol = await post(client, carol, status="carol", in_reply_to_id=root["id"])
    private = await post(
        client, dave, status="dave only", in_reply_to_id=root["id"], visibility="private"
    )
    await block(database, viewer, bob)
    await mute(database, viewer, carol)

    seen_by_viewer = (
        await client.get(f"/api/v1/statuses/{root['id']}/context", headers=viewer.headers)
    ).json()
    assert seen_by_viewer["descendants"] == []
    seen_by_alice = (
        await client.get(f"/api/v1/statuses/{root['id']}/context", headers=alice.headers)
    ).json()
    assert [s["id"] for s in seen_by_alice["descendants"]] == [by_bob["id"], by_carol["id"]]
    seen_by_dave = (
        await client.get(f"/api/v1/statuses/{root['id']}/context", headers=dave.headers)
    ).json()
    assert private["id"] in [s["id"] for s in seen_by_dave["descendants"]]


async def test_context_depth_is_bounded_for_anonymous_viewers(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    chain = [await post(client, alice, status="0")]
    for n in range(1, 23):
        chain.append(await post(client, alice, status=str(n), in_reply_to_id=chain[-1]["id"]))
    anonymous = (await client.get(f"/api/v1/statuses/{chain[0]['id']}/context")).json()
    assert len(anonymous["descendants"]) == 20
    signed_in = (
        await client.get(f"/api/v1/statuses/{chain[0]['id']}/context", headers=alice.headers)
    ).json()
    assert len(signed_in["descendants"]) == 22


async def test_list_by_ids_keeps_request_order_and_drops_invisible_and_unknown(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    first = await post(client, alice, status="1")
    second = await post(client, alice, status="2")
    hidden = await post(client, alice, status="3", visibility="private")
    query = f"id[]={second['id']}&id[]={hidden['id']}&id[]=12345&id[]=junk&id[]={first['id']}"
    response = await client.get(f"/api/v1/statuses?{query}", headers=bob.headers)
    assert response.status_code == 200
    assert [s["id"] for s in response.json()] == [second["id"], first["id"]]


async def test_edit_updates_the_status_and_history_lists_versions_oldest_first(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    posted = await post(client, alice, status="first version")
    first = await client.put(
        f"/api/v1/statuses/{posted['id']}",
        json={"status": "second version", "spoiler_text": "cw"},
        headers=alice.headers,
    )
    assert first.status_code == 200, first.text
    edited = first.json()
    assert edited["content"] == "<p>second version</p>"
    assert edited["spoiler_text"] == "cw"
    assert edited["sensitive"] is True
    assert TIMESTAMP.match(edited["edited_at"])
    second = await client.put(
        f"/api/v1/statuses/{posted['id']}",
        json={"status": "third version", "spoiler_text": ""},
        headers=alice.headers,
    )
    assert second.status_code == 200

    history = await client.get(f"/api/v1/statuses/{posted['id']}/history")
    assert history.status_code == 200
    versions = history.json()
    assert [v["content"] for v in versions] == [
        "<p>first version</p>",
        "<p>second version</p>",
        "<p>third version</p>",
    ]
    assert [v["spoiler_text"] for v in versions] == ["", "cw", ""]
    assert versions[0]["created_at"] == posted["created_at"]
    assert [v["created_at"] for v in versions] == sorted(v["created_at"] for v in versions)
    for version in versions:
        assert set(version) >= {
            "content",
            "spoiler_text",
            "sensitive",
            "created_at",
            "account",
            "media_attachments",
            "emojis",
        }
        assert version["account"]["id"] == alice.id

    source = await client.get(f"/api/v1/statuses/{posted['id']}/source", headers=alice.headers)
    assert source.json() == {"id": posted["id"], "text": "third version", "spoiler_text": ""}


async def test_history_of_an_unedited_status_is_its_one_version(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    posted = await post(client, alice, status="only version")
    versions = (await client.get(f"/api/v1/statuses/{posted['id']}/history")).json()
    assert len(versions) == 1
    assert versions[0]["content"] == "<p>only version</p>"
    assert versions[0]["created_at"] == posted["created_at"]


async def test_only_the_author_can_edit_and_edits_are_validated(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    posted = await post(client, alice, status="mine")
    response = await client.put(
        f"/api/v1/statuses/{posted['id']}", json={"status": "yours"}, headers=bob.headers
    )
    assert response.status_code == 404
    too_long = await client.put(
        f"/api/v1/statuses/{posted['id']}", json={"status": "x" * 501}, headers=alice.headers
    )
    assert too_long.status_code == 422
    assert "character limit" in too_long.json()["error"]


async def test_edit_notifies_people_who_boosted(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    posted = await post(client, alice, status="v1")
    await client.post(f"/api/v1/statuses/{posted['id']}/reblog", headers=bob.headers)
    await client.put(
        f"/api/v1/statuses/{posted['id']}", json={"status": "v2"}, headers=alice.headers
    )
    async with database.connection() as conn:
        types = await conn.fetch(
            "SELECT type FROM notifications WHERE account_id = $1", bob.account.id
        )
    assert [row["type"] for row in types] == ["update"]


async def test_edit_notifies_only_local_boosters(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    """A peer's booster hears of the edit by federation; no notification row is made for it."""
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    posted = await post(client, alice, status="v1")
    await client.post(f"/api/v1/statuses/{posted['id']}/reblog", headers=bob.headers)
    now = datetime.now(UTC)
    async with database.transaction() as conn:
        carol = await upsert_remote_account(
            conn,
            account_id=ids.new_id(),
            uri="https://remote.example/users/carol",
            username="carol",
            domain="remote.example",
            columns={"inbox_url": "https://remote.example/users/carol/inbox"},
            fetched_at=now,
        )
        original = await status_store.fetch_status(conn, status_id=int(posted["id"]))
        assert original is not None
        boost = await store_remote_reblog(
            conn,
            account=carol,
            original=original,
            uri="https://remote.example/users/carol/statuses/1/activity",
            visibility="public",
            published=now,
            now=now,
        )
        assert boost is not None
    edited = await client.put(
        f"/api/v1/statuses/{posted['id']}", json={"status": "v2"}, headers=alice.headers
    )
    assert edited.status_code == 200
    async with database.connection() as conn:
        rows = await conn.fetch(
            "SELECT account_id FROM notifications WHERE type = 'update' ORDER BY account_id"
        )
    assert [row["account_id"] for row in rows] == [bob.account.id]


async def test_delete_returns_source_text_and_removes_the_status_and_its_boosts(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    posted = await post(client, alice, status="delete #me", spoiler_text="cw")
    boost = (
        await client.post(f"/api/v1/statuses/{posted['id']}/reblog", headers=bob.headers)
    ).json()

    response = await client.delete(f"/api/v1/statuses/{posted['id']}", headers=alice.headers)
    assert response.status_code == 200
    deleted = response.json()
    assert deleted["id"] == posted["id"]
    assert deleted["text"] == "delete #me"
    assert deleted["spoiler_text"] == "cw"
    assert deleted["tags"] == [{"name": "me", "url": "https://local.test/tags/me"}]
    assert (await client.get(f"/api/v1/statuses/{posted['id']}")).status_code == 404
    assert (await client.get(f"/api/v1/statuses/{boost['id']}")).status_code == 404
    again = await client.delete(f"/api/v1/statuses/{posted['id']}", headers=alice.headers)
    assert again.status_code == 404


async def test_nobody_else_can_delete_a_status(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    posted = await post(client, alice, status="mine")
    response = await client.delete(f"/api/v1/statuses/{posted['id']}", headers=bob.headers)
    assert response.status_code == 404
    assert (await client.get(f"/api/v1/statuses/{posted['id']}")).status_code == 200


async def test_favourite_response_shows_the_new_state_and_favourited_by_lists_the_account(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    posted = await post(client, alice, status="like me")
    response = await client.post(f"/api/v1/statuses/{posted['id']}/favourite", headers=bob.headers)
    assert response.status_code == 200
    assert response.json()["favourited"] is True
    assert response.json()["favourites_count"] == 1
    repeat = await client.post(f"/api/v1/statuses/{posted['id']}/favourite", headers=bob.headers)
    assert repeat.json()["favourites_count"] == 1

    by = await client.get(f"/api/v1/statuses/{posted['id']}/favourited_by")
    assert [a["id"] for a in by.json()] == [bob.id]
    assert by.json()[0]["acct"] == "bob"
    async with database.connection() as conn:
        notified = await conn.fetchval(
            "SELECT count(*) FROM notifications WHERE account_id = $1 AND type = 'favourite'",
            alice.account.id,
        )
    assert notified == 1

    undone = await client.post(f"/api/v1/statuses/{posted['id']}/unfavourite", headers=bob.headers)
    assert undone.json()["favourited"] is False
    assert undone.json()["favourites_count"] == 0
    assert (await client.get(f"/api/v1/statuses/{posted['id']}/favourited_by")).json() == []


async def test_favourited_by_pages_with_link_headers_by_favourite_order(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    fans = [await make_staff(database, settings, f"fan{n}") for n in range(3)]
    posted = await post(client, alice, status="popular")
    for fan in fans:
        await client.post(f"/api/v1/statuses/{posted['id']}/favourite", headers=fan.headers)

    url = f"/api/v1/statuses/{posted['id']}/favourited_by"
    first = await client.get(url, params={"limit": 2})
    assert [a["username"] for a in first.json()] == ["fan2", "fan1"]
    links = dict(
        (rel, target)
        for target, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', first.headers["link"])
    )
    assert links["next"].startswith(f"https://local.test{url}?")
    assert "limit=2" in links["next"]
    second = await client.get(links["next"].removeprefix("https://local.test"))
    assert [a["username"] for a in second.json()] == ["fan0"]
    assert 'rel="next"' not in second.headers["link"]
    back = re.search(r'<([^>]+)>; rel="prev"', second.headers["link"])
    assert back is not None
    previous = await client.get(back.group(1).removeprefix("https://local.test"))
    assert [a["username"] for a in previous.json()] == ["fan2", "fan1"]


async def test_favourited_by_leaves_out_accounts_the_viewer_blocks(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    posted = await post(client, alice, status="x")
    for fan in (bob, carol):
        await client.post(f"/api/v1/statuses/{posted['id']}/favourite", headers=fan.headers)
    await block(database, alice, bob)
    by = await client.get(f"/api/v1/statuses/{posted['id']}/favourited_by", headers=alice.headers)
    assert [a["id"] for a in by.json()] == [carol.id]


async def test_reblog_returns_the_boost_wrapping_the_reblogged_original(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    posted = await post(client, alice, status="boost me")
    response = await client.post(f"/api/v1/statuses/{posted['id']}/reblog", headers=bob.headers)
    assert response.status_code == 200, response.text
    boost = response.json()
    assert STATUS_FIELDS <= set(boost)
    assert boost["id"] != posted["id"]
    assert boost["account"]["id"] == bob.id
    assert boost["content"] == ""
    assert boost["reblog"]["id"] == posted["id"]
    assert boost["reblog"]["reblogged"] is True
    assert boost["reblog"]["reblogs_count"] == 1
    again = await client.post(f"/api/v1/statuses/{posted['id']}/reblog", headers=bob.headers)
    assert again.json()["id"] == boost["id"]

    by = await client.get(f"/api/v1/statuses/{posted['id']}/reblogged_by")
    assert [a["id"] for a in by.json()] == [bob.id]
    # The boost's own id works for reading the original's rebloggers too.
    by_boost = await client.get(f"/api/v1/statuses/{boost['id']}/reblogged_by")
    assert [a["id"] for a in by_boost.json()] == [bob.id]

    undone = await client.post(f"/api/v1/statuses/{posted['id']}/unreblog", headers=bob.headers)
    assert undone.status_code == 200
    assert undone.json()["id"] == posted["id"]
    assert undone.json()["reblogged"] is False
    assert undone.json()["reblogs_count"] == 0
    assert (await client.get(f"/api/v1/statuses/{boost['id']}")).status_code == 404


@pytest.mark.parametrize("visibility", ["private", "direct"])
async def test_nobody_can_boost_private_or_direct_posts(
    client: httpx.AsyncClient, database: Database, settings: Settings, visibility: str
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await follow(database, bob, alice)
    posted = await post(client, alice, status="@bob just us", visibility=visibility)
    for who in (alice, bob):
        response = await client.post(f"/api/v1/statuses/{posted['id']}/reblog", headers=who.headers)
        assert response.status_code == 422
        assert "boosted" in response.json()["error"]


async def test_boost_of_an_internal_post_stays_internal(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    posted = await post(client, alice, status="inside", visibility="local")
    boost = (
        await client.post(f"/api/v1/statuses/{posted['id']}/reblog", headers=bob.headers)
    ).json()
    assert boost["local_only"] is True
    assert (await client.get(f"/api/v1/statuses/{boost['id']}")).status_code == 404


async def test_bookmark_and_unbookmark_show_the_new_state(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    posted = await post(client, alice, status="keep")
    marked = await client.post(f"/api/v1/statuses/{posted['id']}/bookmark", headers=bob.headers)
    assert marked.json()["bookmarked"] is True
    shown = await client.get(f"/api/v1/statuses/{posted['id']}", headers=bob.headers)
    assert shown.json()["bookmarked"] is True
    unmarked = await client.post(f"/api/v1/statuses/{posted['id']}/unbookmark", headers=bob.headers)
    assert unmarked.json()["bookmarked"] is False


async def test_pin_own_posts_up_to_the_limit_and_never_others(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    posts = [await post(client, alice, status=f"pin {n}") for n in range(6)]
    for item in posts[:5]:
        response = await client.post(f"/api/v1/statuses/{item['id']}/pin", headers=alice.headers)
        assert response.status_code == 200
        assert response.json()["pinned"] is True
    over = await client.post(f"/api/v1/statuses/{posts[5]['id']}/pin", headers=alice.headers)
    assert over.status_code == 422
    assert "pin" in over.json()["error"]
    unpinned = await client.post(f"/api/v1/statuses/{posts[0]['id']}/unpin", headers=alice.headers)
    assert unpinned.json()["pinned"] is False
    now_fits = await client.post(f"/api/v1/statuses/{posts[5]['id']}/pin", headers=alice.headers)
    assert now_fits.status_code == 200

    others = await client.post(f"/api/v1/statuses/{posts[1]['id']}/pin", headers=bob.headers)
    assert others.status_code == 422
    direct = await post(client, alice, status="@bob psst", visibility="direct")
    refused = await client.post(f"/api/v1/statuses/{direct['id']}/pin", headers=alice.headers)
    assert refused.status_code == 422


async def test_muting_a_conversation_shows_muted_and_silences_mentions_in_it(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    root = await post(client, alice, status="@bob thread")
    muted = await client.post(f"/api/v1/statuses/{root['id']}/mute", headers=bob.headers)
    assert muted.json()["muted"] is True
    await post(client, alice, status="@bob again", in_reply_to_id=root["id"])
    async with database.connection() as conn:
        mentions = await conn.fetchval(
            "SELECT count(*) FROM notifications WHERE account_id = $1 AND type = 'mention'",
            bob.account.id,
        )
    assert mentions == 1  # only the root's mention, from before the mute
    unmuted = await client.post(f"/api/v1/statuses/{root['id']}/unmute", headers=bob.headers)
    assert unmuted.json()["muted"] is False


async def test_action_scopes_are_enforced(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    statuses_only = await make_staff(database, settings, "bob", scopes="write:statuses")
    posted = await post(client, alice, status="x")
    refused = await client.post(
        f"/api/v1/statuses/{posted['id']}/favourite", headers=statuses_only.headers
    )
    assert refused.status_code == 403
    allowed = await client.post(
        f"/api/v1/statuses/{posted['id']}/reblog", headers=statuses_only.headers
    )
    assert allowed.status_code == 200


async def test_language_codes_are_normalised_like_mastodon(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    assert (await post(client, alice, status="oi", language="PT_BR"))["language"] == "pt-BR"
    assert (await post(client, alice, status="hi", language="EN"))["language"] == "en"


async def test_preview_card_endpoint_is_absent_as_in_mastodon_4(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    posted = await post(client, alice, status="https://example.com")
    response = await client.get(f"/api/v1/statuses/{posted['id']}/card")
    assert response.status_code == 404
    assert response.json() == {"error": "Record not found"}


async def test_a_user_can_delete_their_own_boost_by_its_id(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    posted = await post(client, alice, status="x")
    boost = (
        await client.post(f"/api/v1/statuses/{posted['id']}/reblog", headers=bob.headers)
    ).json()
    response = await client.delete(f"/api/v1/statuses/{boost['id']}", headers=bob.headers)
    assert response.status_code == 200
    assert response.json()["reblog"]["id"] == posted["id"]
    shown = await client.get(f"/api/v1/statuses/{posted['id']}", headers=bob.headers)
    assert shown.json()["reblogged"] is False
    assert shown.json()["reblogs_count"] == 0


async def test_edit_with_new_mentions_notifies_them_and_widens_a_direct_audience(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    posted = await post(client, alice, status="draft", visibility="direct")
    hidden = await client.get(f"/api/v1/statuses/{posted['id']}", headers=bob.headers)
    assert hidden.status_code == 404
    edited = await client.put(
        f"/api/v1/statuses/{posted['id']}", json={"status": "@bob now"}, headers=alice.headers
    )
    assert [m["acct"] for m in edited.json()["mentions"]] == ["bob"]
    shown = await client.get(f"/api/v1/statuses/{posted['id']}", headers=bob.headers)
    assert shown.status_code == 200
    async with database.connection() as conn:
        types = await conn.fetch(
            "SELECT type FROM notifications WHERE account_id = $1", bob.account.id
        )
    assert [row["type"] for row in types] == ["mention"]
