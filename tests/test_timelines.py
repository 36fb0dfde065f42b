"""Home, public, hashtag timelines, bookmarks and favourites through the Mastodon API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx

from fediverse import ids
from fediverse import statuses as status_domain
from fediverse.config import Settings
from fediverse.statuses import Draft, PostingContext
from fediverse.storage.database import Database
from fediverse.urls import LocalUrls
from tests.factories import StaffMember, make_staff


async def post(
    database: Database,
    settings: Settings,
    author: StaffMember,
    text: str,
    *,
    visibility: str | None = None,
    local_only: bool | None = None,
    in_reply_to_id: int | None = None,
    at: datetime | None = None,
) -> int:
    async with database.transaction() as conn:
        status = await status_domain.post_status(
            conn,
            author=author.account,
            draft=Draft(
                text=text,
                visibility=visibility,
                local_only=local_only,
                in_reply_to_id=in_reply_to_id,
            ),
            ctx=PostingContext(urls=LocalUrls(settings), character_limit=500),
            now=at,
        )
    return status.id


async def boost(database: Database, settings: Settings, who: StaffMember, status_id: int) -> int:
    async with database.transaction() as conn:
        reblog = await status_domain.reblog(
            conn,
            account=who.account,
            status_id=status_id,
            visibility=None,
            urls=LocalUrls(settings),
        )
    return reblog.id


async def follow(
    database: Database, follower: StaffMember, target: StaffMember, *, show_reblogs: bool = True
) -> None:
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO follows (id, account_id, target_account_id, show_reblogs) "
            "VALUES ($1, $2, $3, $4)",
            ids.new_id(),
            follower.account.id,
            target.account.id,
            show_reblogs,
        )


async def relate(database: Database, table: str, who: StaffMember, target: StaffMember) -> None:
    assert table in ("blocks", "mutes")
    async with database.transaction() as conn:
        await conn.execute(
            f"INSERT INTO {table} (id, account_id, target_account_id) VALUES ($1, $2, $3)",
            ids.new_id(),
            who.account.id,
            target.account.id,
        )


async def home_ids(client: httpx.AsyncClient, viewer: StaffMember, **params: object) -> list[int]:
    response = await client.get("/api/v1/timelines/home", headers=viewer.headers, params=params)
    assert response.status_code == 200, response.text
    return [int(item["id"]) for item in response.json()]


def next_link(response: httpx.Response, rel: str = "next") -> str | None:
    for part in response.headers.get("link", "").split(","):
        match = re.search(r'<([^>]+)>;\s*rel="(\w+)"', part)
        if match and match.group(2) == rel:
            return match.group(1)
    return None


async def test_home_holds_own_and_followed_posts_but_not_strangers(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    await follow(database, alice, bob)
    own = await post(database, settings, alice, "mine")
    followed = await post(database, settings, bob, "from bob")
    stranger = await post(database, settings, carol, "from carol")

    timeline = await home_ids(client, alice)

    assert timeline == [followed, own]
    assert stranger not in timeline


async def test_home_requires_a_token_with_read_statuses(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    writer = await make_staff(database, settings, "writer", scopes="write")
    assert (await client.get("/api/v1/timelines/home")).status_code == 401
    response = await client.get("/api/v1/timelines/home", headers=writer.headers)
    assert response.status_code == 403


async def test_home_shows_private_posts_of_followees_and_direct_posts_only_when_mentioned(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await follow(database, alice, bob)
    private = await post(database, settings, bob, "followers only", visibility="private")
    direct_other = await post(database, settings, bob, "secret for nobody", visibility="direct")
    direct_alice = await post(database, settings, bob, "@alice secret", visibility="direct")

    timeline = await home_ids(client, alice)

    assert private in timeline
    assert direct_alice in timeline
    assert direct_other not in timeline


async def test_home_leaves_out_blocked_and_muted_authors_and_their_boosted_posts(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    dave = await make_staff(database, settings, "dave")
    for target in (bob, carol):
        await follow(database, alice, target)
    muted_post = await post(database, settings, bob, "muted")
    dave_post = await post(database, settings, dave, "blocked")
    boost_of_blocked = await boost(database, settings, carol, dave_post)
    kept = await post(database, settings, carol, "kept")
    await relate(database, "mutes", alice, bob)
    await relate(database, "blocks", alice, dave)

    timeline = await home_ids(client, alice)

    assert timeline == [kept]
    assert muted_post not in timeline and boost_of_blocked not in timeline


async def test_home_hides_authors_who_block_the_viewer(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await follow(database, alice, bob)
    await post(database, settings, bob, "hello")
    await relate(database, "blocks", bob, alice)

    assert await home_ids(client, alice) == []


async def test_home_shows_boosts_unless_the_follow_hides_reblogs(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    dave = await make_staff(database, settings, "dave")
    await follow(database, alice, bob)
    await follow(database, alice, carol, show_reblogs=False)
    original = await post(database, settings, dave, "worth boosting")
    by_bob = await boost(database, settings, bob, original)
    by_carol = await boost(database, settings, carol, original)

    response = await client.get("/api/v1/timelines/home", headers=alice.headers)

    body = response.json()
    assert [int(item["id"]) for item in body] == [by_bob]
    assert body[0]["reblog"]["id"] == str(original)
    assert by_carol not in [int(item["id"]) for item in body]


async def test_home_shows_followee_replies_only_to_the_viewer_themselves_or_followed_people(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    await follow(database, alice, bob)
    to_carol = await post(database, settings, carol, "carol speaks")
    to_alice = await post(database, settings, alice, "alice speaks")
    bob_root = await post(database, settings, bob, "bob speaks")
    reply_to_stranger = await post(database, settings, bob, "@carol hi", in_reply_to_id=to_carol)
    reply_to_viewer = await post(database, settings, bob, "@alice hi", in_reply_to_id=to_alice)
    self_reply = await post(database, settings, bob, "and more", in_reply_to_id=bob_root)

    timeline = await home_ids(client, alice)
    assert reply_to_stranger not in timeline
    assert reply_to_viewer in timeline and self_reply in timeline

    await follow(database, alice, carol)
    assert reply_to_stranger in await home_ids(client, alice)


async def test_home_pages_through_fifty_posts_with_link_headers_max_since_and_min_id(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    authors = [await make_staff(database, settings, f"author{i}") for i in range(3)]
    for author in authors:
        await follow(database, alice, author)
    posted = [await post(database, settings, authors[i % 3], f"post {i}") for i in range(50)]
    newest_first = sorted(posted, reverse=True)

    walked: list[int] = []
    url: str | None = "/api/v1/timelines/home?limit=20"
    pages = 0
    while url:
        response = await client.get(url, headers=alice.headers)
        assert response.status_code == 200
        page = [int(item["id"]) for item in response.json()]
        walked.extend(page)
        pages += 1
        url = next_link(response) if page else None
        assert pages <= 4
    assert walked == newest_first
    assert pages == 3  # 20 + 20 + 10; a short page has no next link

    first = await client.get("/api/v1/timelines/home?limit=5", headers=alice.headers)
    assert next_link(first) == (
        f"{settings.base_url}/api/v1/timelines/home?limit=5&max_id={newest_first[4]}"
    )
    assert next_link(first, "prev") == (
        f"{settings.base_url}/api/v1/timelines/home?limit=5&min_id={newest_first[0]}"
    )
    assert await home_ids(client, alice, max_id=newest_first[9], limit=5) == newest_first[10:15]
    # since_id: the newest posts above it; min_id: the posts right above it (both newest first).
    assert await home_ids(client, alice, since_id=newest_first[30], limit=5) == newest_first[:5]
    assert await home_ids(client, alice, min_id=newest_first[30], limit=5) == newest_first[25:30]
    assert await home_ids(client, alice, limit=100) == newest_first[:40]  # max 40


async def test_a_user_who_follows_only_dormant_authors_still_sees_their_old_posts(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    quiet = await make_staff(database, settings, "quiet")
    dormant = [await make_staff(database, settings, f"dormant{i}") for i in range(3)]
    busy = await make_staff(database, settings, "busy")
    long_ago = datetime.now(UTC) - timedelta(days=400)
    old_posts = []
    for index, author in enumerate(dormant):
        await follow(database, quiet, author)
        for n in range(2):
            moment = long_ago + timedelta(hours=index * 10 + n)
            old_posts.append(await post(database, settings, author, f"old {n}", at=moment))
    for n in range(60):
        await post(database, settings, busy, f"noise {n}")

    assert await home_ids(client, quiet) == sorted(old_posts, reverse=True)
    assert await home_ids(client, quiet, max_id=sorted(old_posts)[2]) == sorted(old_posts)[:2][::-1]


async def test_home_fills_the_page_even_when_many_candidates_are_filtered_out(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    await follow(database, alice, bob)
    stranger_post = await post(database, settings, carol, "talk to me")
    wanted = [await post(database, settings, bob, f"top level {n}") for n in range(5)]
    # Far more hidden replies than one round of candidates holds.
    for n in range(80):
        await post(database, settings, bob, f"@carol reply {n}", in_reply_to_id=stranger_post)

    assert await home_ids(client, alice, limit=5) == sorted(wanted, reverse=True)


async def test_home_includes_public_posts_with_followed_hashtags(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    carol = await make_staff(database, settings, "carol")
    response = await client.post("/api/v1/tags/Python/follow", headers=alice.headers)
    assert response.status_code == 200
    assert response.json()["following"] is True
    tagged = await post(database, settings, carol, "I like #python")
    tagged_private = await post(database, settings, carol, "#python", visibility="private")
    untagged = await post(database, settings, carol, "no tags")

    timeline = await home_ids(client, alice)

    assert timeline == [tagged]
    assert tagged_private not in timeline and untagged not in timeline


async def test_public_timeline_shows_only_public_posts_and_internal_ones_only_to_staff(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    public = await post(database, settings, bob, "hello world", visibility="public")
    await post(database, settings, bob, "quiet", visibility="unlisted")
    await post(database, settings, bob, "friends", visibility="private")
    await post(database, settings, bob, "@alice psst", visibility="direct")
    internal = await post(database, settings, bob, "staff only", local_only=True)

    anonymous = await client.get("/api/v1/timelines/public")
    signed_in = await client.get("/api/v1/timelines/public", headers=alice.headers)
    local = await client.get("/api/v1/timelines/public?local=true", headers=alice.headers)
    remote = await client.get("/api/v1/timelines/public?remote=true", headers=alice.headers)

    assert [int(s["id"]) for s in anonymous.json()] == [public]
    assert [int(s["id"]) for s in signed_in.json()] == [internal, public]
    assert [int(s["id"]) for s in local.json()] == [internal, public]
    assert remote.json() == []


async def test_hashtag_timeline_honours_any_all_and_none(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    bob = await make_staff(database, settings, "bob")
    cats = await post(database, settings, bob, "#cats")
    cats_dogs = await post(database, settings, bob, "#cats and #dogs")
    dogs = await post(database, settings, bob, "#dogs")
    await post(database, settings, bob, "#cats but private", visibility="private")
    await post(database, settings, bob, "#cats unlisted", visibility="unlisted")

    async def tag_ids(path: str) -> list[int]:
        response = await client.get(path)
        assert response.status_code == 200
        return [int(s["id"]) for s in response.json()]

    assert await tag_ids("/api/v1/timelines/tag/cats") == [cats_dogs, cats]
    assert await tag_ids("/api/v1/timelines/tag/CATS?any[]=dogs") == [dogs, cats_dogs, cats]
    assert await tag_ids("/api/v1/timelines/tag/cats?all[]=dogs") == [cats_dogs]
    assert await tag_ids("/api/v1/timelines/tag/cats?none[]=dogs") == [cats]
    assert await tag_ids("/api/v1/timelines/tag/unknown") == []


async def test_bookmarks_and_favourites_page_by_their_own_ids(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    posts = [await post(database, settings, bob, f"post {n}") for n in range(5)]
    # Marked in an order unlike the posts' own: pages follow the marking order.
    order = [posts[3], posts[0], posts[4], posts[1], posts[2]]
    for status_id in order:
        for action in ("bookmark", "favourite"):
            response = await client.post(
                f"/api/v1/statuses/{status_id}/{action}", headers=alice.headers
            )
            if response.status_code == 404:  # statuses API not mounted yet: use the domain
                async with database.transaction() as conn:
                    if action == "bookmark":
                        await status_domain.bookmark(
                            conn, account=alice.account, status_id=status_id, on=True
                        )
                    else:
                        await status_domain.favourite(
                            conn, account=alice.account, status_id=status_id
                        )

    for path in ("/api/v1/bookmarks", "/api/v1/favourites"):
        first = await client.get(f"{path}?limit=2", headers=alice.headers)
        assert [int(s["id"]) for s in first.json()] == [order[4], order[3]]
        second = await client.get(next_link(first) or "", headers=alice.headers)
        assert [int(s["id"]) for s in second.json()] == [order[2], order[1]]
        third = await client.get(next_link(second) or "", headers=alice.headers)
        assert [int(s["id"]) for s in third.json()] == [order[0]]
        back = await client.get(next_link(third, "prev") or "", headers=alice.headers)
        assert [int(s["id"]) for s in back.json()] == [order[2], order[1]]
        # The cursor is the bookmark/favourite id, not the status id.
        assert f"max_id={order[3]}" not in (next_link(first) or "")


async def test_bookmarks_leave_out_posts_the_viewer_can_no_longer_see(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    status_id = await post(database, settings, bob, "soon hidden")
    async with database.transaction() as conn:
        await status_domain.bookmark(conn, account=alice.account, status_id=status_id, on=True)
    await relate(database, "blocks", bob, alice)

    response = await client.get("/api/v1/bookmarks", headers=alice.headers)

    assert response.status_code == 200
    assert response.json() == []


async def test_a_tag_shows_following_and_a_week_of_history(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await post(database, settings, bob, "#Cats are great")
    await post(database, settings, alice, "#cats indeed")

    anonymous = await client.get("/api/v1/tags/cats")
    assert anonymous.status_code == 200
    entity = anonymous.json()
    assert entity["name"] == "cats"
    assert entity["url"] == f"{settings.base_url}/tags/cats"
    assert "following" not in entity
    assert len(entity["history"]) == 7
    assert entity["history"][0]["uses"] == "2" and entity["history"][0]["accounts"] == "2"
    assert all(day["uses"] == "0" for day in entity["history"][1:])
    assert int(entity["history"][0]["day"]) > int(entity["history"][1]["day"])

    assert (await client.get("/api/v1/tags/cats", headers=alice.headers)).json()[
        "following"
    ] is False
    assert (await client.get("/api/v1/tags/never-a-tag!")).status_code == 404
    assert (await client.get("/api/v1/tags/unused")).json()["history"][0]["uses"] == "0"


async def test_followed_tags_list_pages_and_unfollow_removes_them(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    for name in ("one", "two", "three"):
        response = await client.post(f"/api/v1/tags/{name}/follow", headers=alice.headers)
        assert response.status_code == 200 and response.json()["following"] is True

    first = await client.get("/api/v1/followed_tags?limit=2", headers=alice.headers)
    assert [t["name"] for t in first.json()] == ["three", "two"]
    second = await client.get(next_link(first) or "", headers=alice.headers)
    assert [t["name"] for t in second.json()] == ["one"]

    unfollowed = await client.post("/api/v1/tags/two/unfollow", headers=alice.headers)
    assert unfollowed.json()["following"] is False
    remaining = await client.get("/api/v1/followed_tags", headers=alice.headers)
    assert [t["name"] for t in remaining.json()] == ["three", "one"]
    assert (await client.post("/api/v1/tags/x/follow")).status_code == 401


async def test_a_followed_post_with_a_followed_tag_appears_once(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await follow(database, alice, bob)
    await client.post("/api/v1/tags/news/follow", headers=alice.headers)
    both = await post(database, settings, bob, "#news from someone I follow")
    own = await post(database, settings, alice, "#news from me")

    assert await home_ids(client, alice) == [own, both]
