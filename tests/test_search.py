"""GET /api/v2/search: accounts, hashtags and statuses, never a status outside the viewer's
audience; anonymous limits as Mastodon has them; the resolver seam for remote lookups."""

from __future__ import annotations

import httpx

from fediverse import ids
from fediverse import search as search_domain
from fediverse.config import Settings
from fediverse.search import Resolved, SearchQuery
from fediverse.statuses import Draft, PostingContext, post_status
from fediverse.storage import accounts as account_store
from fediverse.storage.database import Connection, Database
from fediverse.storage.statuses import Status
from fediverse.urls import LocalUrls
from tests.factories import StaffMember, make_staff


async def post(
    database: Database, settings: Settings, author: StaffMember, text: str, visibility: str
) -> Status:
    async with database.transaction() as conn:
        return await post_status(
            conn,
            author=author.account,
            draft=Draft(text=text, visibility=visibility),
            ctx=PostingContext(urls=LocalUrls(settings), character_limit=500),
        )


async def follow(database: Database, follower: StaffMember, target: StaffMember) -> None:
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO follows (id, account_id, target_account_id) VALUES ($1, $2, $3)",
            ids.new_id(),
            follower.account.id,
            target.account.id,
        )


async def search(
    client: httpx.AsyncClient, who: StaffMember | None, **params: str
) -> httpx.Response:
    headers = who.headers if who is not None else {}
    return await client.get("/api/v2/search", params=params, headers=headers)


def status_ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [s["id"] for s in response.json()["statuses"]]


async def test_signed_in_colleague_finds_a_public_post_by_its_words(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    status = await post(database, settings, alice, "Quarterly budget meeting moved", "public")
    await post(database, settings, alice, "Lunch is ready", "public")

    response = await search(client, bob, q="budget", type="statuses")

    assert status_ids(response) == [str(status.id)]
    found = response.json()["statuses"][0]
    assert found["account"]["acct"] == "alice"
    assert found["favourited"] is False
    assert response.json()["accounts"] == [] and response.json()["hashtags"] == []


async def test_web_search_syntax_handles_phrases_and_exclusions(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    both = await post(database, settings, alice, "budget review for the board", "public")
    await post(database, settings, alice, "budget party tonight", "public")

    response = await search(client, alice, q='budget -party "the board"', type="statuses")

    assert status_ids(response) == [str(both.id)]


async def test_private_post_is_never_found_by_a_non_follower(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    follower = await make_staff(database, settings, "carol")
    stranger = await make_staff(database, settings, "mallory")
    await follow(database, follower, alice)
    secret = await post(database, settings, alice, "salary figures for review", "private")

    assert status_ids(await search(client, stranger, q="salary")) == []
    assert status_ids(await search(client, follower, q="salary")) == [str(secret.id)]
    assert status_ids(await search(client, alice, q="salary")) == [str(secret.id)]


async def test_direct_post_is_only_found_by_the_mentioned_and_the_author(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    follower = await make_staff(database, settings, "carol")
    await follow(database, follower, alice)
    direct = await post(database, settings, alice, "@bob the password is swordfish", "direct")

    assert status_ids(await search(client, follower, q="swordfish")) == []
    assert status_ids(await search(client, bob, q="swordfish")) == [str(direct.id)]
    assert status_ids(await search(client, alice, q="swordfish")) == [str(direct.id)]


async def test_posts_by_accounts_the_viewer_blocks_or_mutes_are_left_out(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    viewer = await make_staff(database, settings, "viewer")
    blocked = await make_staff(database, settings, "blocked")
    muted = await make_staff(database, settings, "muted")
    other = await make_staff(database, settings, "other")
    await post(database, settings, blocked, "offsite planning", "public")
    await post(database, settings, muted, "offsite planning", "public")
    kept = await post(database, settings, other, "offsite planning", "public")
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO blocks (id, account_id, target_account_id) VALUES ($1, $2, $3)",
            ids.new_id(),
            viewer.account.id,
            blocked.account.id,
        )
        await conn.execute(
            "INSERT INTO mutes (id, account_id, target_account_id) VALUES ($1, $2, $3)",
            ids.new_id(),
            viewer.account.id,
            muted.account.id,
        )

    assert status_ids(await search(client, viewer, q="offsite")) == [str(kept.id)]
    assert len(status_ids(await search(client, other, q="offsite"))) == 3


async def test_anonymous_search_finds_accounts_and_hashtags_but_no_statuses(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await post(database, settings, alice, "alice writes about #gardening", "public")

    response = await search(client, None, q="alice")
    assert response.status_code == 200
    assert [a["acct"] for a in response.json()["accounts"]] == ["alice"]
    assert response.json()["statuses"] == []
    tags = await search(client, None, q="#garden")
    assert [t["name"] for t in tags.json()["hashtags"]] == ["gardening"]
    assert "following" not in tags.json()["hashtags"][0]


async def test_anonymous_callers_may_not_page_or_resolve(client: httpx.AsyncClient) -> None:
    paged = await search(client, None, q="alice", offset="5")
    resolving = await search(client, None, q="bob@remote.example", resolve="true")

    assert paged.status_code == 401
    assert paged.json()["error"] == (
        "Search queries pagination is not supported without authentication"
    )
    assert resolving.status_code == 401


async def test_bad_requests_are_refused(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")

    assert (await search(client, alice)).status_code == 400
    assert (await search(client, alice, q="  ")).status_code == 400
    assert (await search(client, alice, q="x", limit="-1")).status_code == 400
    assert (await search(client, alice, q="x", offset="-3")).status_code == 400
    assert (await search(client, alice, q="x", type="people")).status_code == 422


async def test_a_token_without_read_search_is_forbidden(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    writer = await make_staff(database, settings, "writer", scopes="write")
    reader = await make_staff(database, settings, "reader", scopes="read:search")

    assert (await search(client, writer, q="x")).status_code == 403
    assert (await search(client, reader, q="x")).status_code == 200


async def test_accounts_match_username_and_display_name_prefixes_exact_first(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    viewer = await make_staff(database, settings, "viewer")
    await make_staff(database, settings, "annabel")
    ann = await make_staff(database, settings, "ann")
    named = await make_staff(database, settings, "zed")
    async with database.transaction() as conn:
        await account_store.update_account(
            conn, account_id=named.account.id, changes={"display_name": "Zed Annwyn"}
        )
    await make_staff(database, settings, "joanna")  # "ann" inside a word is no prefix match

    response = await search(client, viewer, q="ANN", type="accounts")

    accts = [a["acct"] for a in response.json()["accounts"]]
    assert accts[0] == "ann"
    assert set(accts) == {"ann", "annabel", "zed"}
    assert accts.index("annabel") < accts.index("zed")  # username matches before display names
    at_form = await search(client, viewer, q="@ann", type="accounts")
    assert at_form.json()["accounts"][0]["id"] == ann.id
    # With a domain the query is an address: usernames only, display names do not count.
    local_form = await search(client, viewer, q=f"ann@{settings.domain}", type="accounts")
    assert [a["acct"] for a in local_form.json()["accounts"]] == ["ann", "annabel"]


async def test_user_at_domain_form_finds_remote_accounts_by_domain(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    viewer = await make_staff(database, settings, "viewer")
    await make_staff(database, settings, "bob")
    async with database.transaction() as conn:
        remote_id = await insert_remote_account(conn, "bob", "remote.example")

    both = await search(client, viewer, q="bob", type="accounts")
    remote = await search(client, viewer, q="bob@remote.example", type="accounts")

    assert [a["acct"] for a in both.json()["accounts"]] == ["bob", "bob@remote.example"]
    assert [a["id"] for a in remote.json()["accounts"]] == [str(remote_id)]


async def test_following_limits_accounts_to_those_the_viewer_follows(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    viewer = await make_staff(database, settings, "viewer")
    sam = await make_staff(database, settings, "sam")
    await make_staff(database, settings, "samantha")
    await follow(database, viewer, sam)

    response = await search(client, viewer, q="sam", type="accounts", following="true")

    assert [a["acct"] for a in response.json()["accounts"]] == ["sam"]


async def test_accounts_that_block_the_viewer_and_suspended_ones_are_not_found(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    viewer = await make_staff(database, settings, "viewer")
    blocker = await make_staff(database, settings, "kim")
    suspended = await make_staff(database, settings, "kimberly")
    await make_staff(database, settings, "kimi")
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO blocks (id, account_id, target_account_id) VALUES ($1, $2, $3)",
            ids.new_id(),
            blocker.account.id,
            viewer.account.id,
        )
        await conn.execute(
            "UPDATE accounts SET suspended_at = now() WHERE id = $1", suspended.account.id
        )

    response = await search(client, viewer, q="kim", type="accounts")

    assert [a["acct"] for a in response.json()["accounts"]] == ["kimi"]


async def test_hashtags_match_by_name_prefix_with_history_and_following(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await post(database, settings, alice, "#Cats and #catsOfMastodon and #dogs", "public")
    async with database.transaction() as conn:
        tag_id = await conn.fetchval("SELECT id FROM tags WHERE name = 'cats'")
        await conn.execute(
            "INSERT INTO tag_follows (id, account_id, tag_id) VALUES ($1, $2, $3)",
            ids.new_id(),
            alice.account.id,
            tag_id,
        )

    response = await search(client, alice, q="#cat", type="hashtags")

    hashtags = response.json()["hashtags"]
    assert [t["name"] for t in hashtags] == ["Cats", "catsOfMastodon"]
    assert hashtags[0]["url"] == f"{settings.base_url}/tags/Cats"
    assert hashtags[0]["history"] == []
    assert [t["following"] for t in hashtags] == [True, False]
    assert response.json()["accounts"] == [] and response.json()["statuses"] == []


async def test_statuses_page_with_offset_and_limit_newest_first(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    posted = [
        await post(database, settings, alice, f"standup notes {n}", "public") for n in range(5)
    ]
    newest_first = [str(s.id) for s in reversed(posted)]

    first = await search(client, alice, q="standup", type="statuses", limit="2")
    second = await search(client, alice, q="standup", type="statuses", limit="2", offset="2")
    third = await search(client, alice, q="standup", type="statuses", limit="2", offset="4")

    assert status_ids(first) == newest_first[:2]
    assert status_ids(second) == newest_first[2:4]
    assert status_ids(third) == newest_first[4:]


async def test_statuses_page_with_max_id_and_min_id_and_filter_by_account(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    a1 = await post(database, settings, alice, "release checklist one", "public")
    b1 = await post(database, settings, bob, "release checklist two", "public")
    a2 = await post(database, settings, alice, "release checklist three", "public")

    older = await search(client, alice, q="release", type="statuses", max_id=str(a2.id))
    newer = await search(client, alice, q="release", type="statuses", min_id=str(a1.id))
    by_alice = await search(client, bob, q="release", account_id=alice.id)

    assert status_ids(older) == [str(b1.id), str(a1.id)]
    assert status_ids(newer) == [str(a2.id), str(b1.id)]
    assert status_ids(by_alice) == [str(a2.id), str(a1.id)]


async def test_limit_is_capped_at_forty(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    async with database.transaction() as conn:
        for _ in range(41):
            await post_status(
                conn,
                author=alice.account,
                draft=Draft(text="bulk message"),
                ctx=PostingContext(urls=LocalUrls(settings), character_limit=500),
            )

    response = await search(client, alice, q="bulk", type="statuses", limit="100")

    assert len(status_ids(response)) == 40


async def test_boosts_are_not_search_results(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    from fediverse.statuses import reblog

    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    original = await post(database, settings, alice, "conference keynote announced", "public")
    async with database.transaction() as conn:
        await reblog(
            conn,
            account=bob.account,
            status_id=original.id,
            visibility=None,
            urls=LocalUrls(settings),
        )

    assert status_ids(await search(client, bob, q="keynote")) == [str(original.id)]


async def test_an_address_query_does_not_search_statuses(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await post(database, settings, alice, "mail bob@remote.example about it", "public")

    response = await search(client, alice, q="bob@remote.example")

    assert response.json()["statuses"] == []


async def test_v1_search_is_gone_as_in_mastodon(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")

    response = await client.get("/api/v1/search", params={"q": "a"}, headers=alice.headers)

    assert response.status_code == 404


async def test_resolve_with_a_known_status_url_returns_it_only_to_its_audience(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    stranger = await make_staff(database, settings, "mallory")
    public = await post(database, settings, alice, "open post", "public")
    private = await post(database, settings, alice, "closed post", "private")

    found = await search(client, stranger, q=public.url or "", resolve="true")
    hidden = await search(client, stranger, q=private.url or "", resolve="true")
    by_actor = await search(client, stranger, q=alice.account.uri, resolve="true")

    assert status_ids(found) == [str(public.id)]
    assert status_ids(hidden) == []
    assert [a["id"] for a in by_actor.json()["accounts"]] == [alice.id]


# --- the resolver seam (federation plugs in here) -----------------------------------------


async def insert_remote_account(conn: Connection, username: str, domain: str) -> int:
    account_id = ids.new_id()
    return await account_store.insert_account(
        conn,
        values={
            "id": account_id,
            "username": username,
            "domain": domain,
            "uri": f"https://{domain}/users/{username}",
            "url": f"https://{domain}/@{username}",
        },
    )


class RecordingResolver:
    """A stand-in for federation: 'fetches' by inserting the account it was asked for."""

    def __init__(self) -> None:
        self.accounts: list[tuple[str, str]] = []
        self.urls: list[str] = []

    async def resolve_account(self, conn: Connection, username: str, domain: str) -> int | None:
        """Like federation's resolver: the stored account when known, else a 'fetched' one."""
        self.accounts.append((username, domain))
        known = await conn.fetchval(
            "SELECT id FROM accounts WHERE username = $1 AND domain = $2", username, domain
        )
        return int(known) if known else await insert_remote_account(conn, username, domain)

    async def resolve_url(self, conn: Connection, url: str) -> Resolved:
        self.urls.append(url)
        return Resolved(account_id=await insert_remote_account(conn, "urlperson", "far.example"))


async def test_resolve_hands_remote_addresses_to_the_resolver_only_when_asked(
    database: Database, settings: Settings
) -> None:
    viewer = await make_staff(database, settings, "viewer")
    resolver = RecordingResolver()
    query = SearchQuery(q="@dana@remote.example", resolve=True)

    async with database.transaction() as conn:
        first = await search_domain.search(
            conn,
            query=query,
            viewer_id=viewer.account.id,
            local_domain=settings.domain,
            resolver=resolver,
        )
        again = await search_domain.search(
            conn,
            query=query,
            viewer_id=viewer.account.id,
            local_domain=settings.domain,
            resolver=resolver,
        )
        unresolved = await search_domain.search(
            conn,
            query=SearchQuery(q="@erin@remote.example"),
            viewer_id=viewer.account.id,
            local_domain=settings.domain,
            resolver=resolver,
        )

    assert [a.acct for a in first.accounts] == ["dana@remote.example"]
    assert [a.acct for a in again.accounts] == ["dana@remote.example"]
    assert unresolved.accounts == []
    # Asked on each resolving search (it refreshes known accounts when stale), never without.
    assert resolver.accounts == [("dana", "remote.example"), ("dana", "remote.example")]


async def test_resolve_hands_unknown_urls_to_the_resolver(
    database: Database, settings: Settings
) -> None:
    viewer = await make_staff(database, settings, "viewer")
    resolver = RecordingResolver()

    async with database.transaction() as conn:
        results = await search_domain.search(
            conn,
            query=SearchQuery(q="https://far.example/@urlperson", resolve=True),
            viewer_id=viewer.account.id,
            local_domain=settings.domain,
            resolver=resolver,
        )

    assert resolver.urls == ["https://far.example/@urlperson"]
    assert [a.acct for a in results.accounts] == ["urlperson@far.example"]
