"""Who can see it: the audience endpoint, the preview, the `audience` field and the default
scopes, checked against small worlds whose answers are known."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from fediverse import ids
from fediverse.config import Settings
from fediverse.storage.accounts import Account
from fediverse.storage.database import Database
from fediverse.storage.remote_accounts import upsert_remote_account
from tests.factories import StaffMember, make_staff

# --- a small world ----------------------------------------------------------------------------


async def remote_account(database: Database, username: str, domain: str) -> Account:
    uri = f"https://{domain}/users/{username}"
    async with database.transaction() as conn:
        return await upsert_remote_account(
            conn,
            account_id=ids.new_id(),
            uri=uri,
            username=username,
            domain=domain,
            columns={
                "inbox_url": f"{uri}/inbox",
                "shared_inbox_url": f"https://{domain}/inbox",
                "followers_url": f"{uri}/followers",
            },
            fetched_at=datetime.now(UTC),
        )


async def follow(database: Database, follower_id: int, target_id: int) -> None:
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO follows (id, account_id, target_account_id) VALUES ($1, $2, $3)",
            ids.new_id(),
            follower_id,
            target_id,
        )


async def remote_followers(
    database: Database, target: StaffMember, domains: dict[str, int]
) -> None:
    """`domains`: how many followers of `target` each remote server has."""
    for domain, count in domains.items():
        for n in range(count):
            account = await remote_account(database, f"fan{n}", domain)
            await follow(database, account.id, target.account.id)


async def post(client: httpx.AsyncClient, author: StaffMember, **params: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/statuses", json=params, headers=author.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def audience_of(
    client: httpx.AsyncClient, viewer: StaffMember, status_id: str
) -> httpx.Response:
    return await client.get(f"/api/v1/statuses/{status_id}/audience", headers=viewer.headers)


async def preview(client: httpx.AsyncClient, author: StaffMember, **params: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/statuses/audience_preview", json=params, headers=author.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def row_counts(database: Database) -> dict[str, int]:
    tables = (
        "statuses", "status_audiences", "mentions", "domain_events", "notifications",
        "accounts", "deliveries", "status_tags", "tags", "follows",
    )  # fmt: skip
    async with database.connection() as conn:
        return {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in tables}


def servers_of(body: dict[str, Any]) -> list[tuple[str, int]]:
    return [(s["domain"], s["accounts"]) for s in body["servers"]]


# --- the audience of a posted status ----------------------------------------------------------


async def test_followers_only_post_counts_followers_here_and_per_server(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    for name in ("bob", "carol"):
        local = await make_staff(database, settings, name)
        await follow(database, local.account.id, alice.account.id)
    await make_staff(database, settings, "dave")  # not a follower
    await remote_followers(
        database, alice, {"mastodon.social": 3, "fosstodon.org": 2, "a.example": 1}
    )
    # A pending request is not a follow; a suspended follower sees nothing.
    stranger = await remote_account(database, "asking", "b.example")
    suspended = await remote_account(database, "gone", "c.example")
    await follow(database, suspended.id, alice.account.id)
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO follow_requests (id, account_id, target_account_id) VALUES ($1, $2, $3)",
            ids.new_id(),
            stranger.id,
            alice.account.id,
        )
        await conn.execute("UPDATE accounts SET suspended_at = now() WHERE id = $1", suspended.id)

    status = await post(client, alice, status="for my followers", visibility="private")
    response = await audience_of(client, alice, status["id"])
    assert response.status_code == 200
    body = response.json()
    assert body["scope"] == "followers"
    assert body["visibility"] == "private"
    assert body["local_only"] is False
    assert body["federates"] is True
    assert body["followers_count"] == 8
    assert body["local_accounts"] == 2
    assert body["remote_accounts"] == 6
    assert body["remote_servers"] == 3
    assert servers_of(body) == [("mastodon.social", 3), ("fosstodon.org", 2), ("a.example", 1)]
    assert all(s["delivery"]["state"] == "none" for s in body["servers"])
    assert body["mentioned"] == []
    assert body["summary"] == (
        "Your 8 followers: 2 people here and 6 on 3 other servers "
        "(mastodon.social 3, fosstodon.org 2, a.example 1)"
    )
    assert body["resolved_at"] is not None


async def test_summary_names_three_servers_then_an_ellipsis(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await remote_followers(
        database,
        alice,
        {"mastodon.social": 6, "fosstodon.org": 3, "b.example": 1, "a.example": 1, "c.example": 1},
    )
    status = await post(client, alice, status="hello", visibility="private")
    body = (await audience_of(client, alice, status["id"])).json()
    assert body["local_accounts"] == 0
    assert body["remote_accounts"] == 12
    assert body["remote_servers"] == 5
    # Most followers first; ties by name.
    assert [s["domain"] for s in body["servers"]] == [
        "mastodon.social", "fosstodon.org", "a.example", "b.example", "c.example",
    ]  # fmt: skip
    assert body["summary"] == (
        "Your 12 followers: 0 people here and 12 on 5 other servers "
        "(mastodon.social 6, fosstodon.org 3, a.example 1, ...)"
    )


async def test_followers_only_post_counts_mentioned_people_who_do_not_follow(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await follow(database, bob.account.id, alice.account.id)
    await make_staff(database, settings, "erin")
    await remote_account(database, "zed", "z.example")
    status = await post(
        client, alice, status="@bob @erin @zed@z.example look", visibility="private"
    )
    body = (await audience_of(client, alice, status["id"])).json()
    assert body["followers_count"] == 1
    assert body["local_accounts"] == 2
    assert body["remote_accounts"] == 1
    assert servers_of(body) == [("z.example", 1)]
    assert sorted(a["acct"] for a in body["mentioned"]) == ["bob", "erin", "zed@z.example"]
    assert body["summary"] == (
        "Your 1 follower and 2 people you mentioned: "
        "2 people here and 1 on 1 other server (z.example 1)"
    )


async def test_internal_post_counts_everyone_in_the_organization_and_no_server(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    for name in ("bob", "carol", "dave"):
        await make_staff(database, settings, name)
    gone = await make_staff(database, settings, "gone")
    blocked = await make_staff(database, settings, "blocked")
    await remote_followers(database, alice, {"mastodon.social": 2})
    async with database.transaction() as conn:
        await conn.execute(
            "UPDATE accounts SET suspended_at = now() WHERE id = $1", gone.account.id
        )
        await conn.execute(
            "INSERT INTO blocks (id, account_id, target_account_id) VALUES ($1, $2, $3)",
            ids.new_id(),
            alice.account.id,
            blocked.account.id,
        )
    status = await post(client, alice, status="team only", visibility="local")
    assert status["visibility"] == "public"
    assert status["local_only"] is True
    body = (await audience_of(client, alice, status["id"])).json()
    assert body["scope"] == "internal"
    assert body["visibility"] == "public"
    assert body["local_only"] is True
    assert body["federates"] is False
    assert body["local_accounts"] == 3
    assert body["remote_accounts"] == 0
    assert body["remote_servers"] == 0
    assert body["servers"] == []
    assert body["summary"] == (
        "Everyone in the organization (3 people); it will not leave this server"
    )


async def test_mentioned_only_post_reaches_only_the_mentioned(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    follower = await make_staff(database, settings, "follower")
    await follow(database, follower.account.id, alice.account.id)
    await remote_followers(database, alice, {"mastodon.social": 2})
    carol = await remote_account(database, "carol", "example.social")
    status = await post(
        client, alice, status="@bob @carol@example.social psst", visibility="direct"
    )
    body = (await audience_of(client, alice, status["id"])).json()
    assert body["scope"] == "mentioned"
    assert body["federates"] is True
    assert body["local_accounts"] == 1
    assert body["remote_accounts"] == 1
    assert servers_of(body) == [("example.social", 1)]
    assert [a["id"] for a in body["mentioned"]] == sorted(
        [str(bob.account.id), str(carol.id)], key=int
    )
    assert body["summary"] == "Only @bob and @carol@example.social"


async def test_a_status_without_a_stored_audience_is_resolved_with_its_mentions_now(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    status = await post(client, alice, status="@bob psst", visibility="direct")
    async with database.transaction() as conn:
        await conn.execute("DELETE FROM status_audiences WHERE status_id = $1", int(status["id"]))
    body = (await audience_of(client, alice, status["id"])).json()
    assert body["resolved_at"] is None
    assert [a["id"] for a in body["mentioned"]] == [str(bob.account.id)]
    assert body["summary"] == "Only @bob"


async def test_public_and_unlisted_summaries_say_anyone_and_count_the_home_timelines(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await follow(database, bob.account.id, alice.account.id)
    await remote_followers(database, alice, {"fosstodon.org": 2})
    public = await post(client, alice, status="hi all")
    body = (await audience_of(client, alice, public["id"])).json()
    assert body["scope"] == "public"
    assert (body["local_accounts"], body["remote_accounts"], body["remote_servers"]) == (1, 2, 1)
    assert body["summary"] == (
        "Anyone, including people on other servers; your 3 followers get it in their home "
        "timeline: 1 person here and 2 on 1 other server (fosstodon.org 2)"
    )
    unlisted = await post(client, alice, status="quietly", visibility="unlisted")
    body = (await audience_of(client, alice, unlisted["id"])).json()
    assert body["scope"] == "unlisted"
    assert body["summary"].startswith("Anyone with the link, including people on other servers")
    assert body["summary"].endswith("1 person here and 2 on 1 other server (fosstodon.org 2)")


async def test_the_audience_stays_as_resolved_when_followers_change_later(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await remote_followers(database, alice, {"mastodon.social": 2})
    status = await post(client, alice, status="before", visibility="private")
    before = (await audience_of(client, alice, status["id"])).json()

    newcomer = await make_staff(database, settings, "newcomer")
    await follow(database, newcomer.account.id, alice.account.id)
    await remote_followers(database, alice, {"fosstodon.org": 1})

    after = (await audience_of(client, alice, status["id"])).json()
    assert after == before
    assert after["local_accounts"] == 0
    assert after["summary"] == (
        "Your 2 followers: 0 people here and 2 on 1 other server (mastodon.social 2)"
    )
    later = await post(client, alice, status="after", visibility="private")
    body = (await audience_of(client, alice, later["id"])).json()
    assert (body["local_accounts"], body["remote_accounts"], body["remote_servers"]) == (1, 3, 2)


async def test_delivery_state_per_server_comes_from_the_status_deliveries(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await remote_followers(
        database, alice, {"mastodon.social": 2, "fosstodon.org": 1, "down.example": 1}
    )
    status = await post(client, alice, status="going out", visibility="private")
    status_id = int(status["id"])
    retry_at = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    rows = [
        ("mastodon.social", "delivered", None, datetime.now(UTC)),
        ("fosstodon.org", "pending", "HTTP 503", retry_at),
        ("down.example", "failed", "connection refused", datetime.now(UTC)),
    ]
    async with database.transaction() as conn:
        for domain, state, error, next_attempt in rows:
            await conn.execute(
                "INSERT INTO deliveries (id, activity_id, inbox_url, domain, status_id, body, "
                "state, next_attempt_at, deadline, last_error) "
                "VALUES ($1, $2, $3, $4, $5, '{}', $6, $7, $8, $9)",
                ids.new_id(),
                f"https://local.test/activities/{status_id}",
                f"https://{domain}/inbox",
                domain,
                status_id,
                state,
                next_attempt,
                datetime.now(UTC) + timedelta(days=2),
                error,
            )
    body = (await audience_of(client, alice, status["id"])).json()
    delivery = {s["domain"]: s["delivery"] for s in body["servers"]}
    assert delivery["mastodon.social"]["state"] == "delivered"
    assert delivery["mastodon.social"]["delivered"] == 1
    assert delivery["mastodon.social"]["last_error"] is None
    assert delivery["fosstodon.org"]["state"] == "pending"
    assert delivery["fosstodon.org"]["pending"] == 1
    assert delivery["fosstodon.org"]["next_attempt_at"] == "2031-01-02T03:04:05.000Z"
    assert delivery["fosstodon.org"]["last_error"] == "HTTP 503"
    assert delivery["down.example"]["state"] == "failed"
    assert delivery["down.example"]["failed"] == 1
    assert delivery["down.example"]["last_error"] == "connection refused"


# --- who may ask ------------------------------------------------------------------------------


async def test_only_the_author_and_admins_see_the_audience_others_get_a_plain_404(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    moderator = await make_staff(database, settings, "mod", role="moderator")
    admin = await make_staff(database, settings, "root", role="admin")
    await follow(database, bob.account.id, alice.account.id)
    status = await post(client, alice, status="mine", visibility="private")

    missing = await audience_of(client, bob, str(ids.new_id()))
    assert missing.status_code == 404
    for outsider in (bob, moderator):
        response = await audience_of(client, outsider, status["id"])
        assert response.status_code == 404
        assert response.json() == missing.json()
    own = await audience_of(client, alice, status["id"])
    audited = await audience_of(client, admin, status["id"])
    assert own.status_code == audited.status_code == 200
    assert audited.json() == own.json()
    anonymous = await client.get(f"/api/v1/statuses/{status['id']}/audience")
    assert anonymous.status_code == 401


# --- the preview ------------------------------------------------------------------------------


async def test_preview_answers_the_same_counts_as_posting_and_writes_nothing(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await follow(database, bob.account.id, alice.account.id)
    await make_staff(database, settings, "erin")
    await remote_followers(database, alice, {"mastodon.social": 2, "fosstodon.org": 1})
    await remote_account(database, "carol", "example.social")
    params = {"status": "@erin @carol@example.social #plans soon", "visibility": "private"}

    before = await row_counts(database)
    previewed = await preview(client, alice, **params)
    assert await row_counts(database) == before

    assert previewed["scope"] == "followers"
    assert previewed["resolved_at"] is None
    assert previewed["warnings"] == []
    assert (previewed["local_accounts"], previewed["remote_accounts"]) == (2, 4)
    assert servers_of(previewed) == [
        ("mastodon.social", 2), ("example.social", 1), ("fosstodon.org", 1),
    ]  # fmt: skip
    assert sorted(a["acct"] for a in previewed["mentioned"]) == ["carol@example.social", "erin"]

    status = await post(client, alice, **params)
    posted = (await audience_of(client, alice, status["id"])).json()
    for key in ("scope", "summary", "local_accounts", "remote_accounts", "servers", "mentioned"):
        assert posted[key] == previewed[key], key


async def test_preview_of_an_internal_draft_counts_the_organization(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    for name in ("bob", "carol"):
        await make_staff(database, settings, name)
    await remote_account(database, "zed", "z.example")
    body = await preview(
        client, alice, status="hello @zed@z.example", visibility="public", local_only=True
    )
    assert body["scope"] == "internal"
    assert body["federates"] is False
    assert body["local_accounts"] == 2
    assert body["summary"] == (
        "Everyone in the organization (2 people); it will not leave this server"
    )
    assert body["warnings"] == [
        "@zed@z.example is on another server and will not see this post, which stays on this server"
    ]


async def test_preview_warns_when_an_explicit_choice_widens_the_thread(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await follow(database, bob.account.id, alice.account.id)
    parent = await post(client, alice, status="followers only", visibility="private")

    followed = await preview(client, alice, status="more", in_reply_to_id=parent["id"])
    assert followed["scope"] == "followers"
    assert followed["warnings"] == []

    widened = await preview(
        client, alice, status="more", in_reply_to_id=parent["id"], visibility="public"
    )
    assert widened["scope"] == "public"
    assert widened["warnings"] == [
        "This reply is visible to more people than the post it replies to"
    ]

    internal = await post(client, alice, status="team", visibility="local")
    leaving = await preview(
        client,
        alice,
        status="out",
        in_reply_to_id=internal["id"],
        visibility="public",
        local_only=False,
    )
    assert leaving["federates"] is True
    assert leaving["warnings"] == [
        "This reply is visible to more people than the post it replies to"
    ]
    staying = await preview(client, alice, status="in", in_reply_to_id=internal["id"])
    assert staying["scope"] == "internal"
    assert staying["warnings"] == []


async def test_preview_warns_of_mentions_it_cannot_name_yet(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    before = await row_counts(database)
    body = await preview(
        client, alice, status="@ghost and @someone@far.example hi", visibility="direct"
    )
    assert await row_counts(database) == before
    assert body["mentioned"] == []
    assert body["summary"] == "Only you: nobody is mentioned"
    assert body["warnings"] == [
        "@ghost does not exist here and will not be mentioned",
        "@someone@far.example is not known here yet; it will be looked up when you post",
    ]


async def test_preview_of_a_reply_to_a_status_one_cannot_see_is_404(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    secret = await post(client, alice, status="followers only", visibility="private")
    response = await client.post(
        "/api/v1/statuses/audience_preview",
        json={"status": "hm", "in_reply_to_id": secret["id"]},
        headers=bob.headers,
    )
    assert response.status_code == 404


# --- the `audience` field on statuses ---------------------------------------------------------


async def test_only_the_author_sees_the_audience_field_on_a_status(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await follow(database, bob.account.id, alice.account.id)
    await remote_followers(database, alice, {"mastodon.social": 2})
    created = await post(client, alice, status="hello", visibility="private")
    assert created["audience"] == "Your 3 followers"
    assert created["visibility"] == "private"

    own = (await client.get(f"/api/v1/statuses/{created['id']}", headers=alice.headers)).json()
    assert own["audience"] == "Your 3 followers"
    seen_by_follower = (
        await client.get(f"/api/v1/statuses/{created['id']}", headers=bob.headers)
    ).json()
    assert seen_by_follower["id"] == created["id"]
    assert "audience" not in seen_by_follower

    internal = await post(client, alice, status="team", visibility="local")
    assert internal["audience"] == "Everyone in the organization (1 person)"
    public = await client.get(f"/api/v1/statuses/{internal['id']}", headers=bob.headers)
    assert "audience" not in public.json()


async def test_the_audience_field_follows_the_authors_statuses_into_timelines_and_profiles(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await follow(database, bob.account.id, alice.account.id)
    created = await post(client, alice, status="for my followers", visibility="private")

    home = (await client.get("/api/v1/timelines/home", headers=alice.headers)).json()
    assert [(s["id"], s.get("audience")) for s in home] == [(created["id"], "Your 1 follower")]
    profile = (
        await client.get(f"/api/v1/accounts/{alice.id}/statuses", headers=alice.headers)
    ).json()
    assert profile[0]["audience"] == "Your 1 follower"

    bobs_home = (await client.get("/api/v1/timelines/home", headers=bob.headers)).json()
    assert [s["id"] for s in bobs_home] == [created["id"]]
    assert "audience" not in bobs_home[0]


# --- advertising and defaults -----------------------------------------------------------------


async def test_instance_configuration_advertises_local_only_and_no_fifth_visibility(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    statuses = (await client.get("/api/v2/instance")).json()["configuration"]["statuses"]
    assert statuses["local_only"] is True
    assert statuses["audience_scopes"] == [
        "public", "unlisted", "followers", "mentioned", "internal",
    ]  # fmt: skip
    alice = await make_staff(database, settings, "alice")
    for visibility in ("local", "public", "unlisted", "private", "direct"):
        status = await post(client, alice, status=f"as {visibility}", visibility=visibility)
        assert status["visibility"] in ("public", "unlisted", "private", "direct")
        body = (await audience_of(client, alice, status["id"])).json()
        assert body["visibility"] in ("public", "unlisted", "private", "direct")


async def test_a_person_who_turns_federation_off_posts_internal_by_default(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    response = await client.patch(
        "/api/v1/accounts/update_credentials",
        json={"source": {"local_only": True}},
        headers=alice.headers,
    )
    assert response.status_code == 200
    assert response.json()["source"]["local_only"] is True
    assert response.json()["source"]["privacy"] == "public"
    credentials = await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)
    assert credentials.json()["source"]["local_only"] is True
    preferences = (await client.get("/api/v1/preferences", headers=alice.headers)).json()
    assert preferences["posting:default:federation"] is False

    status = await post(client, alice, status="by default")
    assert (status["visibility"], status["local_only"]) == ("public", True)
    assert (await audience_of(client, alice, status["id"])).json()["scope"] == "internal"
    assert (await preview(client, alice, status="draft"))["scope"] == "internal"
    # An explicit choice still wins.
    out = await post(client, alice, status="to the world", visibility="public", local_only=False)
    assert out["local_only"] is False


async def test_source_privacy_local_sets_an_internal_default(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    response = await client.patch(
        "/api/v1/accounts/update_credentials",
        json={"source": {"privacy": "local"}},
        headers=alice.headers,
    )
    assert response.status_code == 200
    assert (response.json()["source"]["privacy"], response.json()["source"]["local_only"]) == (
        "public",
        True,
    )
    bad = await client.patch(
        "/api/v1/accounts/update_credentials",
        json={"source": {"privacy": "everyone"}},
        headers=alice.headers,
    )
    assert bad.status_code == 422


async def test_the_organization_default_applies_to_people_who_chose_none(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    admin_scopes = "read write admin:read admin:write"
    admin = await make_staff(database, settings, "root", role="admin", scopes=admin_scopes)
    moderator = await make_staff(database, settings, "mod", role="moderator", scopes=admin_scopes)
    alice = await make_staff(database, settings, "alice")
    chooser = await make_staff(database, settings, "chooser")
    await client.patch(
        "/api/v1/accounts/update_credentials",
        json={"source": {"privacy": "unlisted"}},
        headers=chooser.headers,
    )

    assert (await client.get("/api/v1/admin/default_scope", headers=admin.headers)).json() == {
        "scope": None
    }
    refused = await client.put(
        "/api/v1/admin/default_scope", json={"scope": "internal"}, headers=moderator.headers
    )
    assert refused.status_code == 403
    refused = await client.put(
        "/api/v1/admin/default_scope", json={"scope": "internal"}, headers=alice.headers
    )
    assert refused.status_code == 403
    invalid = await client.put(
        "/api/v1/admin/default_scope", json={"scope": "everyone"}, headers=admin.headers
    )
    assert invalid.status_code == 422
    response = await client.put(
        "/api/v1/admin/default_scope", json={"scope": "internal"}, headers=admin.headers
    )
    assert response.json() == {"scope": "internal"}

    status = await post(client, alice, status="org default")
    assert (status["visibility"], status["local_only"]) == ("public", True)
    preferences = (await client.get("/api/v1/preferences", headers=alice.headers)).json()
    assert preferences["posting:default:federation"] is False
    chosen = await post(client, chooser, status="my own default")
    assert (chosen["visibility"], chosen["local_only"]) == ("unlisted", False)

    await client.put(
        "/api/v1/admin/default_scope", json={"scope": "followers"}, headers=admin.headers
    )
    assert (await post(client, alice, status="now"))["visibility"] == "private"
    await client.put("/api/v1/admin/default_scope", json={"scope": ""}, headers=admin.headers)
    status = await post(client, alice, status="back to public")
    assert (status["visibility"], status["local_only"]) == ("public", False)
