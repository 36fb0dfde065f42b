"""Federation between complete instances in one process (tests/fakes/world.py): every request
is real HTTP through each instance's ASGI app, signed by the sender and verified by the receiver;
`world.settle()` runs every publisher, delivery queue and inbox queue until all are idle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from federation.delivery import DeliveryWorker
from fediverse.storage import accounts as account_store
from tests.factories import StaffMember
from tests.fakes.world import Instance, World
from web.background import delivery_poster, start_background


@pytest.fixture
async def world(server_url: str, template_database: str) -> AsyncIterator[World]:
    async with World.start(server_url, template_database, ["a.test", "b.test"]) as w:
        yield w


@dataclass
class Member:
    """A staff member of one instance, driving it through its Mastodon API."""

    instance: Instance
    staff: StaffMember
    http: httpx.AsyncClient
    known: dict[str, str] = field(default_factory=dict)  # address → id here

    @property
    def address(self) -> str:
        return f"{self.staff.account.username}@{self.instance.domain}"

    async def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.http.request(method, path, **kwargs)
        assert response.status_code == 200, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        return response.json()

    async def find(self, query: str) -> dict[str, Any]:
        """Search with resolve=true; the results."""
        return await self.ok("GET", "/api/v2/search", params={"q": query, "resolve": "true"})  # type: ignore[no-any-return]

    async def account_of(self, other: Member) -> dict[str, Any]:
        """`other` as this instance knows it (resolved through WebFinger when remote)."""
        if other.instance is self.instance:
            return await self.ok("GET", f"/api/v1/accounts/{other.staff.id}")  # type: ignore[no-any-return]
        if other.address in self.known:
            return await self.ok("GET", f"/api/v1/accounts/{self.known[other.address]}")  # type: ignore[no-any-return]
        found = (await self.find(f"@{other.address}"))["accounts"]
        assert [a["acct"] for a in found] == [other.address]
        self.known[other.address] = found[0]["id"]
        return found[0]  # type: ignore[no-any-return]

    async def follow(self, other: Member) -> dict[str, Any]:
        account = await self.account_of(other)
        return await self.ok("POST", f"/api/v1/accounts/{account['id']}/follow")  # type: ignore[no-any-return]

    async def relationship(self, other: Member) -> dict[str, Any]:
        account = await self.account_of(other)
        found = await self.ok(
            "GET", "/api/v1/accounts/relationships", params={"id[]": account["id"]}
        )
        return found[0]  # type: ignore[no-any-return]

    async def post(self, text: str, **fields: str) -> dict[str, Any]:
        return await self.ok("POST", "/api/v1/statuses", data={"status": text, **fields})  # type: ignore[no-any-return]

    async def home(self) -> list[dict[str, Any]]:
        return await self.ok("GET", "/api/v1/timelines/home")  # type: ignore[no-any-return]

    async def home_uris(self) -> list[str]:
        return [s["uri"] for s in await self.home()]

    async def notifications(self, kind: str | None = None) -> list[dict[str, Any]]:
        params = {"types[]": kind} if kind else {}
        return await self.ok("GET", "/api/v1/notifications", params=params)  # type: ignore[no-any-return]

    async def local_copy(self, status: dict[str, Any]) -> dict[str, Any]:
        """A status from another instance as this one stores it (found by its URI)."""
        found = (await self.find(status["uri"]))["statuses"]
        assert len(found) == 1, f"{self.address} cannot see {status['uri']}"
        return found[0]  # type: ignore[no-any-return]


async def member(instance: Instance, username: str, *, locked: bool = False) -> Member:
    staff = await instance.make_staff(username, locked=locked)
    return Member(instance=instance, staff=staff, http=instance.client(staff))


async def following(world: World, follower: Member, target: Member) -> None:
    """`follower` follows `target` across instances, and the Accept has come back."""
    await follower.follow(target)
    await world.settle()
    assert (await follower.relationship(target))["following"] is True


# --- discovery and the client API ------------------------------------------------------------


async def test_search_with_resolve_finds_a_remote_account_through_webfinger(world: World) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")
    await bob.ok("PATCH", "/api/v1/accounts/update_credentials", data={"display_name": "Bob on B"})
    await bob.post("hello from b")

    found = (await alice.find("@bob@b.test"))["accounts"]

    assert len(found) == 1
    account = found[0]
    assert account["acct"] == "bob@b.test"
    assert account["username"] == "bob"
    assert account["display_name"] == "Bob on B"
    assert account["url"] == "https://b.test/@bob"
    # Counts as b.test's collections state them: one public post, nobody following yet.
    assert (account["statuses_count"], account["followers_count"]) == (1, 0)
    webfinger = [r for r in world.requests_to("b.test") if "/.well-known/webfinger" in r.url]
    assert webfinger, "resolving went through WebFinger"
    # The actor fetch was a signed GET (authorized fetch is on by default).
    actor_gets = [
        r for r in world.requests_to("b.test", method="GET") if r.url.endswith("/users/bob")
    ]
    assert actor_gets and "signature" in actor_gets[0].headers
    # Shown with the same id afterwards, without another WebFinger round trip.
    again = (await alice.find("bob@b.test"))["accounts"]
    assert [a["id"] for a in again] == [account["id"]]


async def test_search_with_resolve_finds_a_remote_actor_by_its_url(world: World) -> None:
    alice = await member(world["a.test"], "alice")
    await member(world["b.test"], "bob")

    found = (await alice.find("https://b.test/users/bob"))["accounts"]

    assert [a["acct"] for a in found] == ["bob@b.test"]


async def test_search_with_resolve_finds_a_remote_post_by_its_url(world: World) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")
    status = await bob.post("findable by link")

    found = await alice.find(status["uri"])

    assert [s["uri"] for s in found["statuses"]] == [status["uri"]]
    copy = found["statuses"][0]
    assert copy["account"]["acct"] == "bob@b.test"
    assert "findable by link" in copy["content"]
    assert copy["url"] == status["url"]
    # Reply, favourite and boost work on it as on a local post; the author hears of them.
    await alice.post("@bob@b.test found it", in_reply_to_id=copy["id"])
    await alice.ok("POST", f"/api/v1/statuses/{copy['id']}/favourite")
    await world.settle()
    kinds = sorted(n["type"] for n in await bob.notifications())
    assert kinds == ["favourite", "mention"]


async def test_a_followers_only_post_from_a_remote_server_is_not_found_by_url(
    world: World,
) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")
    status = await bob.post("for my followers", visibility="private")

    found = await alice.find(status["uri"])

    assert found["statuses"] == [] and found["accounts"] == []


async def test_search_of_an_unknown_remote_address_finds_nothing(world: World) -> None:
    alice = await member(world["a.test"], "alice")

    assert (await alice.find("@nobody@b.test"))["accounts"] == []
    assert (await alice.find("@someone@unknown.test"))["accounts"] == []


async def test_anonymous_search_may_not_resolve_remote_accounts(world: World) -> None:
    await member(world["b.test"], "bob")
    anonymous = world["a.test"].client()

    response = await anonymous.get("/api/v2/search", params={"q": "@bob@b.test", "resolve": "true"})

    assert response.status_code == 401
    assert world.requests_to("b.test") == []


async def test_a_stale_remote_profile_is_refetched_when_looked_up(world: World) -> None:
    a = world["a.test"]
    alice = await member(a, "alice")
    bob = await member(world["b.test"], "bob")
    await alice.account_of(bob)
    await bob.ok("PATCH", "/api/v1/accounts/update_credentials", data={"display_name": "New Bob"})
    resolver = a.services["remote_resolver"]

    async with a.database.transaction() as conn:
        fresh_id = await resolver.resolve_account(conn, "bob", "b.test")
        fresh = await account_store.fetch_account(conn, account_id=fresh_id)
    assert fresh is not None and fresh.display_name == ""  # fetched just now: kept

    async with a.database.transaction() as conn:
        await account_store.update_account(
            conn,
            account_id=fresh.id,
            changes={"fetched_at": datetime.now(UTC) - timedelta(days=2)},
        )
        stale_id = await resolver.resolve_account(conn, "bob", "b.test")
        refreshed = await account_store.fetch_account(conn, account_id=stale_id)

    assert stale_id == fresh.id
    assert refreshed is not None and refreshed.display_name == "New Bob"


async def test_search_refreshes_a_stale_remote_profile(world: World) -> None:
    a = world["a.test"]
    alice = await member(a, "alice")
    bob = await member(world["b.test"], "bob")
    await alice.account_of(bob)
    await bob.ok("PATCH", "/api/v1/accounts/update_credentials", data={"display_name": "New Bob"})
    async with a.database.transaction() as conn:
        known = await account_store.fetch_account_by_username(conn, username="bob", domain="b.test")
        assert known is not None and known.display_name == ""
        await account_store.update_account(
            conn,
            account_id=known.id,
            changes={"fetched_at": datetime.now(UTC) - timedelta(days=2)},
        )

    found = await alice.ok("GET", "/api/v2/search", params={"q": "@bob@b.test", "resolve": "true"})

    assert [(x["acct"], x["display_name"]) for x in found["accounts"]] == [
        ("bob@b.test", "New Bob")
    ]


# --- following ------------------------------------------------------------------------------------


async def test_a_user_follows_a_remote_user_and_the_remote_user_follows_back(world: World) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")

    await following(world, alice, bob)
    bobs_followers = await bob.ok("GET", f"/api/v1/accounts/{bob.staff.id}/followers")
    assert [f["acct"] for f in bobs_followers] == ["alice@a.test"]
    follow_notes = await bob.notifications("follow")
    assert [n["account"]["acct"] for n in follow_notes] == ["alice@a.test"]

    await following(world, bob, alice)
    relationship = await alice.relationship(bob)
    assert relationship["following"] is True and relationship["followed_by"] is True
    remote_bob = await alice.account_of(bob)
    assert remote_bob["followers_count"] >= 0 and remote_bob["statuses_count"] >= 0


async def test_a_locked_account_approves_a_remote_follow_request(world: World) -> None:
    alice = await member(world["a.test"], "alice", locked=True)
    bob = await member(world["b.test"], "bob")

    requested = await bob.follow(alice)
    assert requested["requested"] is True and requested["following"] is False
    await world.settle()
    assert (await bob.relationship(alice))["following"] is False
    requests = await alice.ok("GET", "/api/v1/follow_requests")
    assert [r["acct"] for r in requests] == ["bob@b.test"]

    await alice.ok("POST", f"/api/v1/follow_requests/{requests[0]['id']}/authorize")
    await world.settle()

    relationship = await bob.relationship(alice)
    assert relationship["following"] is True and relationship["requested"] is False


async def test_unfollowing_a_remote_user_stops_their_posts_arriving(world: World) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")
    await following(world, bob, alice)

    account = await bob.account_of(alice)
    await bob.ok("POST", f"/api/v1/accounts/{account['id']}/unfollow")
    await world.settle()

    assert (await alice.relationship(bob))["followed_by"] is False
    later = await alice.post("after the unfollow")
    await world.settle()
    assert later["uri"] not in await bob.home_uris()


async def test_blocking_a_remote_follower_ends_the_follow_on_both_sides(world: World) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")
    await following(world, bob, alice)

    account = await alice.account_of(bob)
    await alice.ok("POST", f"/api/v1/accounts/{account['id']}/block")
    await world.settle()

    assert (await bob.relationship(alice))["following"] is False
    later = await alice.post("after the block")
    await world.settle()
    assert later["uri"] not in await bob.home_uris()


# --- posts and their audience ---------------------------------------------------------------------


async def test_each_visibility_reaches_exactly_its_audience(world: World) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")  # follows alice
    carol = await member(world["b.test"], "carol")  # does not
    await following(world, bob, alice)

    public = await alice.post("public words", visibility="public")
    unlisted = await alice.post("unlisted words", visibility="unlisted")
    private = await alice.post("followers only", visibility="private")
    direct = await alice.post("@carol@b.test just for you", visibility="direct")
    await world.settle()

    bob_home = await bob.home_uris()
    assert public["uri"] in bob_home
    assert unlisted["uri"] in bob_home
    assert private["uri"] in bob_home
    assert direct["uri"] not in bob_home
    assert [n["status"]["uri"] for n in await bob.notifications("mention")] == []
    carol_home = await carol.home_uris()
    assert public["uri"] not in carol_home and private["uri"] not in carol_home
    carol_mentions = await carol.notifications("mention")
    assert [n["status"]["uri"] for n in carol_mentions] == [direct["uri"]]
    assert carol_mentions[0]["status"]["visibility"] == "direct"
    copy = await bob.local_copy(private)
    assert copy["visibility"] == "private"
    assert copy["account"]["acct"] == "alice@a.test"


async def test_an_internal_post_never_leaves_the_instance(world: World) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")
    await following(world, bob, alice)
    before = len(world.inbox_posts_to("b.test"))

    internal = await alice.post("only for colleagues", visibility="public", local_only="true")
    await world.settle()

    assert len(world.inbox_posts_to("b.test")) == before
    assert internal["uri"] not in await bob.home_uris()
    fetched = (
        await world["b.test"]
        .client()
        .get(internal["uri"], headers={"Accept": "application/activity+json"})
    )
    assert fetched.status_code in (401, 404)


async def test_followers_on_one_server_get_one_delivery_per_shared_inbox(world: World) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")
    dave = await member(world["b.test"], "dave")
    await following(world, bob, alice)
    await following(world, dave, alice)
    world.clear_requests()

    status = await alice.post("to both of you")
    await world.settle()

    creates = [
        r for r in world.inbox_posts_to("b.test") if orjson.loads(r.body).get("type") == "Create"
    ]
    assert len(creates) == 1
    assert creates[0].url == "https://b.test/inbox"
    assert status["uri"] in await bob.home_uris()
    assert status["uri"] in await dave.home_uris()


async def test_a_post_reaches_only_the_servers_where_its_audience_lives(
    world: World,
) -> None:
    c = await world.add_instance("c.test")
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")
    carol = await member(c, "carol")
    await following(world, bob, alice)
    world.clear_requests()

    private = await alice.post("b only", visibility="private")
    await world.settle()
    assert [r.url for r in world.inbox_posts_to("b.test")] == ["https://b.test/inbox"]
    assert world.inbox_posts_to("c.test") == []

    await following(world, carol, alice)
    public = await alice.post("everyone following")
    await world.settle()
    assert public["uri"] in await carol.home_uris()
    assert public["uri"] in await bob.home_uris()
    assert private["uri"] not in await carol.home_uris()


async def test_a_mention_of_a_remote_user_resolves_and_notifies_them(world: World) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")

    status = await alice.post("hello @bob@b.test, welcome")
    assert [m["acct"] for m in status["mentions"]] == ["bob@b.test"]
    await world.settle()

    creates = [orjson.loads(r.body) for r in world.inbox_posts_to("b.test")]
    notes = [c["object"] for c in creates if c.get("type") == "Create"]
    assert len(notes) == 1
    mention_tags = [t for t in notes[0]["tag"] if t["type"] == "Mention"]
    assert [t["href"] for t in mention_tags] == ["https://b.test/users/bob"]
    mentions = await bob.notifications("mention")
    assert [n["status"]["uri"] for n in mentions] == [status["uri"]]
    assert mentions[0]["account"]["acct"] == "alice@a.test"


async def test_replies_thread_across_servers(world: World) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")
    await following(world, bob, alice)
    await following(world, alice, bob)

    root = await alice.post("what do you think?")
    await world.settle()
    root_on_b = await bob.local_copy(root)
    reply = await bob.post("@alice@a.test I agree", in_reply_to_id=root_on_b["id"])
    await world.settle()
    reply_on_a = await alice.local_copy(reply)
    answer = await alice.post("@bob@b.test thanks", in_reply_to_id=reply_on_a["id"])
    await world.settle()

    context_on_a = await alice.ok("GET", f"/api/v1/statuses/{root['id']}/context")
    assert [s["uri"] for s in context_on_a["descendants"]] == [reply["uri"], answer["uri"]]
    answer_on_b = await bob.local_copy(answer)
    context_on_b = await bob.ok("GET", f"/api/v1/statuses/{answer_on_b['id']}/context")
    assert [s["uri"] for s in context_on_b["ancestors"]] == [root["uri"], reply["uri"]]
    assert [n["status"]["uri"] for n in await alice.notifications("mention")] == [reply["uri"]]
    assert reply_on_a["in_reply_to_id"] == root["id"]


async def test_likes_and_boosts_of_a_remote_post_notify_its_author(world: World) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")
    await following(world, bob, alice)
    status = await alice.post("like me")
    await world.settle()
    copy = await bob.local_copy(status)

    await bob.ok("POST", f"/api/v1/statuses/{copy['id']}/favourite")
    await bob.ok("POST", f"/api/v1/statuses/{copy['id']}/reblog")
    await world.settle()

    favourites = await alice.notifications("favourite")
    assert [(n["account"]["acct"], n["status"]["id"]) for n in favourites] == [
        ("bob@b.test", status["id"])
    ]
    reblogs = await alice.notifications("reblog")
    assert [(n["account"]["acct"], n["status"]["id"]) for n in reblogs] == [
        ("bob@b.test", status["id"])
    ]
    shown = await alice.ok("GET", f"/api/v1/statuses/{status['id']}")
    assert shown["favourites_count"] == 1 and shown["reblogs_count"] == 1

    await bob.ok("POST", f"/api/v1/statuses/{copy['id']}/unfavourite")
    await world.settle()
    shown = await alice.ok("GET", f"/api/v1/statuses/{status['id']}")
    assert shown["favourites_count"] == 0


async def test_a_boost_by_a_remote_user_reaches_their_followers(world: World) -> None:
    alice = await member(world["a.test"], "alice")
    erin = await member(world["a.test"], "erin")
    bob = await member(world["b.test"], "bob")
    await following(world, bob, alice)
    await following(world, erin, bob)
    status = await alice.post("worth sharing")
    await world.settle()

    copy = await bob.local_copy(status)
    await bob.ok("POST", f"/api/v1/statuses/{copy['id']}/reblog")
    await world.settle()

    boosts = [s for s in await erin.home() if s["reblog"] is not None]
    assert [(s["account"]["acct"], s["reblog"]["id"]) for s in boosts] == [
        ("bob@b.test", status["id"])
    ]


async def test_edits_arrive_with_their_history(world: World) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")
    await following(world, bob, alice)
    status = await alice.post("first version")
    await world.settle()

    await alice.ok("PUT", f"/api/v1/statuses/{status['id']}", data={"status": "second version"})
    await world.settle()

    copy = await bob.local_copy(status)
    assert "second version" in copy["content"]
    assert copy["edited_at"] is not None
    history = await bob.ok("GET", f"/api/v1/statuses/{copy['id']}/history")
    assert ["first version" in h["content"] for h in history] == [True, False]
    assert "second version" in history[-1]["content"]


async def test_a_deleted_post_disappears_on_the_other_server(world: World) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")
    await following(world, bob, alice)
    status = await alice.post("regrettable")
    await world.settle()
    copy = await bob.local_copy(status)

    await alice.ok("DELETE", f"/api/v1/statuses/{status['id']}")
    await world.settle()

    assert status["uri"] not in await bob.home_uris()
    gone = await bob.http.get(f"/api/v1/statuses/{copy['id']}")
    assert gone.status_code == 404


# --- failures -------------------------------------------------------------------------------------


async def test_a_peer_that_is_down_gets_the_post_when_it_comes_back(world: World) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")
    await following(world, bob, alice)

    world.down("b.test")
    status = await alice.post("while you were out")
    await world.settle()
    world.up("b.test")
    await world.settle()  # the retry is not due yet
    assert status["uri"] not in await bob.home_uris()

    world.advance(timedelta(hours=1))
    await world.settle()

    assert status["uri"] in await bob.home_uris()


async def test_the_same_signed_activity_delivered_twice_has_one_effect(world: World) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")
    status = await alice.post("@bob@b.test once only")
    await world.settle()
    delivered = [
        r for r in world.inbox_posts_to("b.test") if orjson.loads(r.body).get("type") == "Create"
    ]
    assert len(delivered) == 1

    original = delivered[0]
    replay = {
        k: v
        for k, v in original.headers.items()
        if k in {"date", "digest", "signature", "content-type", "signature-input", "content-digest"}
    }
    response = (
        await world["b.test"].client().post(original.url, content=original.body, headers=replay)
    )
    assert response.status_code in (200, 202)
    await world.settle()

    mentions = await bob.notifications("mention")
    assert [n["status"]["uri"] for n in mentions] == [status["uri"]]


async def test_a_delivery_worker_killed_mid_queue_loses_nothing(world: World) -> None:
    a = world["a.test"]
    alice = await member(a, "alice")
    bob = await member(world["b.test"], "bob")
    await following(world, bob, alice)

    world.hold("b.test")
    status = await alice.post("survives a crash")
    # Publish only (no deliveries yet): step every worker but the delivery queue.
    for worker in a.workers.all:
        if worker is not a.workers.deliveries:
            await worker.run_until_idle()
    doomed = asyncio.create_task(a.workers.deliveries.run_once())
    await asyncio.wait_for(world.router.waiting.wait(), timeout=10)
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    world.release("b.test")
    assert status["uri"] not in await bob.home_uris()

    # A new worker (another process, say) picks the row up once the dead one's lease ran out.
    replacement = DeliveryWorker(
        a.database,
        delivery_poster(a.services["federation_client"]),
        clock=lambda: datetime.now(UTC) + timedelta(minutes=10),
    )
    assert await replacement.run_until_idle() >= 1
    await world.settle()

    assert status["uri"] in await bob.home_uris()


async def test_workers_started_with_the_app_federate_on_their_own(world: World) -> None:
    alice = await member(world["a.test"], "alice")
    bob = await member(world["b.test"], "bob")
    await following(world, bob, alice)
    # What `fediverse serve` starts (run_workers on): LISTEN/NOTIFY loops, nobody stepping them.
    stops = [
        await start_background(
            replace(instance.state, settings=instance.settings.with_overrides(run_workers=True))
        )
        for instance in world.instances.values()
    ]
    try:
        status = await alice.post("delivered by the running workers")
        for _ in range(750):  # poll the condition for at most ~15 s
            if status["uri"] in await bob.home_uris():
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the running workers never delivered the post")
    finally:
        for stop in stops:
            await stop()
