"""Federation control between complete instances (tests/fakes/world.py): a.test in allowlist
mode with b.test allowed, c.test never allowed and d.test allowed then removed midway; then
silence and suspend of a peer. The world records every request per host, so "nothing was ever
asked of c.test by a.test" is checked, not assumed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
import pytest

from federation.client import FetchError
from fediverse import ids
from fediverse.storage.remote_accounts import upsert_remote_account
from tests.factories import make_staff
from tests.fakes.world import Instance, RecordedRequest, World
from tests.test_federation_world import Member, following, member

ADMIN_SCOPES = "read write follow admin:read admin:write"


@pytest.fixture
async def world(server_url: str, template_database: str) -> AsyncIterator[World]:
    async with World.start(
        server_url, template_database, ["a.test", "b.test", "c.test", "d.test"]
    ) as w:
        yield w


async def admin_of(instance: Instance) -> Member:
    staff = await make_staff(
        instance.database, instance.settings, "root", role="admin", scopes=ADMIN_SCOPES
    )
    return Member(instance=instance, staff=staff, http=instance.client(staff))


def sent_by(world: World, source: Instance, target: str) -> list[RecordedRequest]:
    """Requests `source` made to `target` (its FederationClient names it in User-Agent)."""
    marker = f"(+{source.base_url}/)"
    return [r for r in world.requests_to(target) if marker in r.headers.get("user-agent", "")]


def activity_types(requests: list[RecordedRequest]) -> list[str]:
    found = []
    for request in requests:
        body = orjson.loads(request.body)
        inner = body.get("object")
        inner_type = inner.get("type") if isinstance(inner, dict) else None
        found.append(f"{body['type']}({inner_type})" if inner_type else body["type"])
    return found


async def allowlist(root: Member, *domains: str) -> None:
    for domain in domains:
        await root.ok("POST", "/api/v1/admin/domain_allows", data={"domain": domain})
    await root.ok("PUT", "/api/v1/admin/federation", data={"mode": "allowlist"})


async def count(instance: Instance, sql: str, *args: object) -> int:
    async with instance.database.connection() as conn:
        return int(await conn.fetchval(sql, *args))


async def teach_actor(learner: Instance, staff: Member) -> int:
    """Store `staff`'s actor on `learner` directly (test setup that makes no request), so the
    learner can address them without ever having fetched anything."""
    account = staff.staff.account
    uri = staff.instance.actor_url(account.username)
    async with learner.database.transaction() as conn:
        stored = await upsert_remote_account(
            conn,
            account_id=ids.new_id(),
            uri=uri,
            username=account.username,
            domain=staff.instance.domain,
            columns={
                "inbox_url": f"{uri}/inbox",
                "shared_inbox_url": f"{staff.instance.base_url}/inbox",
                "followers_url": f"{uri}/followers",
                "public_key_id": account.public_key_id,
                "public_key_pem": account.public_key_pem,
            },
            fetched_at=datetime.now(UTC),
        )
    return stored.id


async def test_allowlist_federates_with_the_allowed_peer_and_refuses_the_others_unasked(
    world: World,
) -> None:
    a, c = world["a.test"], world["c.test"]
    root = await admin_of(a)
    await allowlist(root, "b.test", "d.test")
    alice = await member(a, "alice")
    bob = await member(world["b.test"], "bob")
    carol = await member(c, "carol")

    # The allowed peer federates both ways.
    await following(world, alice, bob)
    await following(world, bob, alice)
    hello = await bob.post("hello from b")
    hi = await alice.post("hello from a")
    await world.settle()
    assert hello["uri"] in await alice.home_uris()
    assert hi["uri"] in await bob.home_uris()

    # Looking up the never-allowed server: a clear error, a request for the admins, no traffic.
    answer = await alice.http.get(
        "/api/v2/search", params={"q": "@carol@c.test", "resolve": "true"}
    )
    assert answer.status_code == 422
    assert answer.json() == {"error": "c.test is not allowed to federate with this server"}
    requests = await root.ok("GET", "/api/v1/admin/federation_requests")
    assert [(r["acct"], r["requester_username"]) for r in requests] == [("carol@c.test", "alice")]

    # c.test knows alice (set up without any request) and tries everything it can.
    alice_on_c = await teach_actor(c, alice)
    await carol.ok("POST", f"/api/v1/accounts/{alice_on_c}/follow")
    await carol.post("@alice@a.test hi", visibility="public")
    await world.settle()
    refused = [
        r
        for r in world.inbox_posts_to("a.test")
        if "(+https://c.test/)" in r.headers.get("user-agent", "")
    ]
    assert refused, "c.test did try to deliver"
    async with c.database.connection() as conn:
        states = [
            (row["state"], row["last_status_code"])
            for row in await conn.fetch(
                "SELECT state, last_status_code FROM deliveries WHERE domain = 'a.test'"
            )
        ]
    assert states and all(state == ("failed", 403) for state in states)
    # A signed fetch of our actor from c.test is refused too.
    with pytest.raises(FetchError) as fetch:
        await c.services["federation_client"].get_document(a.actor_url("alice"))
    assert fetch.value.status == 403

    # Nothing from c.test is stored on a.test, and a.test never asked c.test anything.
    assert (
        await count(
            a, "SELECT count(*) FROM inbox_activities WHERE actor_uri LIKE 'https://c.test/%'"
        )
        == 0
    )
    assert await count(a, "SELECT count(*) FROM accounts WHERE domain = 'c.test'") == 0
    assert await count(a, "SELECT count(*) FROM statuses WHERE uri LIKE 'https://c.test/%'") == 0
    assert sent_by(world, a, "c.test") == []


async def test_a_boost_from_the_allowed_peer_cannot_bring_in_a_disallowed_servers_post(
    world: World,
) -> None:
    a = world["a.test"]
    root = await admin_of(a)
    await allowlist(root, "b.test")
    alice = await member(a, "alice")
    bob = await member(world["b.test"], "bob")
    carol = await member(world["c.test"], "carol")
    await following(world, alice, bob)
    # b.test (open) knows carol's post and boosts it; a.test gets the Announce from bob.
    post = await carol.post("from the disallowed server")
    copy = await bob.local_copy(post)
    await bob.ok("POST", f"/api/v1/statuses/{copy['id']}/reblog")
    await world.settle()
    assert [r for r in world.inbox_posts_to("a.test") if b"Announce" in r.body]
    assert await count(a, "SELECT count(*) FROM statuses WHERE uri = $1", post["uri"]) == 0
    assert post["uri"] not in await alice.home_uris()
    assert sent_by(world, a, "c.test") == []


async def test_removing_a_peer_midway_severs_follows_with_undo_and_reject(world: World) -> None:
    a, d = world["a.test"], world["d.test"]
    root = await admin_of(a)
    await allowlist(root, "b.test", "d.test")
    alice = await member(a, "alice")
    dave = await member(d, "dave")
    await following(world, alice, dave)
    await following(world, dave, alice)

    allows = await root.ok("GET", "/api/v1/admin/domain_allows")
    [d_allow] = [x for x in allows if x["domain"] == "d.test"]
    impact = await root.ok("GET", "/api/v1/admin/domain_impact", params={"domain": "d.test"})
    assert (impact["following_count"], impact["followers_count"]) == (1, 1)
    world.clear_requests()
    await root.ok("DELETE", f"/api/v1/admin/domain_allows/{d_allow['id']}")
    await world.settle()

    farewells = activity_types(
        [
            r
            for r in world.inbox_posts_to("d.test")
            if "(+https://a.test/)" in r.headers.get("user-agent", "")
        ]
    )
    assert sorted(farewells) == ["Reject(Follow)", "Undo(Follow)"]
    assert (await alice.relationship(dave))["following"] is False
    assert (await alice.relationship(dave))["followed_by"] is False
    assert (await dave.relationship(alice))["following"] is False
    kinds = [n["type"] for n in await alice.notifications()]
    assert "severed_relationships" in kinds
    log = await root.ok("GET", "/api/v1/admin/audit_log")
    assert log[0]["action"] == "domain_allow.destroy" and log[0]["target"] == "d.test"

    # From now on d.test is refused like any other server.
    world.clear_requests()
    await dave.post("still there?")
    await alice.post("anyone?")
    await world.settle()
    assert sent_by(world, a, "d.test") == []
    assert (
        await count(
            a,
            "SELECT count(*) FROM statuses WHERE uri LIKE 'https://d.test/%' "
            "AND content LIKE '%still there%'",
        )
        == 0
    )


async def test_silence_keeps_a_peer_out_of_public_timelines_and_stranger_notifications(
    world: World,
) -> None:
    a = world["a.test"]
    root = await admin_of(a)
    alice = await member(a, "alice")
    erin = await member(a, "erin")
    bob = await member(world["b.test"], "bob")
    await following(world, alice, bob)
    await following(world, bob, alice)
    await root.ok(
        "POST", "/api/v1/admin/domain_blocks", data={"domain": "b.test", "severity": "silence"}
    )
    post = await bob.post("public words")
    await bob.post("@erin@a.test hey stranger")
    await world.settle()
    # Accepted: stored and in the follower's home...
    assert post["uri"] in await alice.home_uris()
    # ...but not in public timelines, except for followers.
    public_for_erin = await erin.ok("GET", "/api/v1/timelines/public")
    assert post["uri"] not in [s["uri"] for s in public_for_erin]
    public_for_alice = await alice.ok("GET", "/api/v1/timelines/public")
    assert post["uri"] in [s["uri"] for s in public_for_alice]
    # The mention of a stranger is held back from her notifications.
    assert await erin.notifications("mention") == []
    # Silence severs nothing, and deliveries still go both ways.
    assert (await alice.relationship(bob))["following"] is True
    world.clear_requests()
    await alice.post("to my followers")
    await world.settle()
    assert sent_by(world, a, "b.test")


async def test_suspend_removes_the_peers_data_and_nothing_goes_in_or_out(world: World) -> None:
    a, b = world["a.test"], world["b.test"]
    root = await admin_of(a)
    alice = await member(a, "alice")
    bob = await member(b, "bob")
    await following(world, alice, bob)
    await following(world, bob, alice)
    await bob.post("before the suspension")
    await world.settle()
    assert await count(a, "SELECT count(*) FROM statuses WHERE uri LIKE 'https://b.test/%'") > 0

    world.clear_requests()
    block = await root.ok(
        "POST", "/api/v1/admin/domain_blocks", data={"domain": "b.test", "severity": "suspend"}
    )
    assert block["severity"] == "suspend"
    await world.settle()
    # No farewell to a suspended server; its accounts, posts and follows are gone here.
    assert sent_by(world, a, "b.test") == []
    assert await count(a, "SELECT count(*) FROM accounts WHERE domain = 'b.test'") == 0
    assert await count(a, "SELECT count(*) FROM statuses WHERE uri LIKE 'https://b.test/%'") == 0
    assert "severed_relationships" in [n["type"] for n in await alice.notifications()]

    # Nothing in: b.test's delivery is refused; nothing out: alice's post goes nowhere.
    await bob.post("after the suspension")
    await alice.post("after the suspension, from a")
    await world.settle()
    assert sent_by(world, a, "b.test") == []
    assert await count(a, "SELECT count(*) FROM accounts WHERE domain = 'b.test'") == 0
    async with b.database.connection() as conn:
        codes = {
            row["last_status_code"]
            for row in await conn.fetch(
                "SELECT last_status_code FROM deliveries WHERE domain = 'a.test' "
                "AND created_at > now() - interval '1 minute' AND state = 'failed'"
            )
        }
    assert codes == {403}
