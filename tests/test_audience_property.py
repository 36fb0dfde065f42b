"""Nothing leaks: random small worlds (tests/audience_world.py), every read path asked as every
viewer (anonymous, each local person, each peer's account over a signed fetch), compared with
an oracle written plainly in the test. Then relationships change and everything is asked again.

Paths promising exactly the audience (status show, `statuses?id[]`, context, account statuses,
bookmarks, favourites, favourited_by/reblogged_by, the status page, the AS2 object) are checked
both ways; selections (timelines, search, notifications, conversations, streaming, outbox) are
checked never to hold anything outside the audience.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings

from federation.keys import AccountKeyStore, FetchedKey, KeyResolver
from federation.signatures import sign_cavage
from fediverse import streaming
from fediverse.config import Settings
from fediverse.storage.database import Database
from fediverse.streaming import Stream, StreamKey
from tests.audience_world import (
    ANONYMOUS,
    TAG,
    WORD,
    Model,
    Post,
    Viewer,
    WorldSpec,
    apply_change,
    build_world,
    may_see,
    ok,
    visible_ids,
    world_specs,
)
from tests.test_media import png_bytes
from tests.test_publishing import REMOTE_KEY

AS2 = "application/activity+json"
# Tables that outlive an example: the schema's own, and keys the app has already cached.
KEPT_TABLES = ("alembic_version", "instance_actor_keys", "vapid_keys")


async def _reset(database: Database) -> None:
    """Empty every table, so one cloned database serves every example."""
    async with database.transaction() as conn:
        names = [
            row["tablename"]
            for row in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> ALL($1::text[])",
                list(KEPT_TABLES),
            )
        ]
        await conn.execute(f"TRUNCATE {', '.join(names)} CASCADE")


def _use_stored_keys(app: Any, database: Database) -> None:
    """Peers' keys come from their account rows; nothing is fetched over the network."""

    async def no_network(key_id: str) -> FetchedKey:
        raise LookupError(f"tests do not fetch {key_id}")

    app.state.fediverse.services["key_resolver"] = KeyResolver(
        no_network, store=AccountKeyStore(database)
    )


def _headers(model: Model, viewer: Viewer) -> dict[str, str]:
    return {} if viewer.index is None else model.people[viewer.index].headers


def _excluded_by(model: Model, viewer: Viewer, author: int) -> bool:
    """Threads leave out authors the viewer blocks or mutes (not an audience matter)."""
    if viewer.index is None:
        return False
    return (viewer.index, author) in model.blocks or (viewer.index, author) in model.mutes


def _ids_in(entities: list[dict[str, Any]]) -> list[int]:
    """Every status id shown in a list of Status entities, boosted originals included."""
    found = []
    for entity in entities:
        found.append(int(entity["id"]))
        if entity.get("reblog"):
            found.append(int(entity["reblog"]["id"]))
    return found


def _outside(model: Model, viewer: Viewer, shown: list[int], where: str) -> None:
    visible = visible_ids(model, viewer)
    leaked = [status_id for status_id in shown if status_id not in visible]
    assert not leaked, (
        f"{where} shows {viewer.label} statuses outside their audience: "
        + ", ".join(
            _describe(model, model.posts[i]) if i in model.posts else str(i) for i in leaked
        )
    )


def _describe(model: Model, post: Post) -> str:
    author = model.people[post.author]
    what = f"boost of {post.reblog_of}" if post.reblog_of else f"{post.visibility}"
    return (
        f"{post.id} ({what}{' local_only' if post.local_only else ''} by {author.acct}, "
        f"mentions {sorted(post.mentioned)})"
    )


# --- the Mastodon API, as each viewer ----------------------------------------------------------


async def check_api(client: httpx.AsyncClient, model: Model, viewer: Viewer) -> None:
    headers = _headers(model, viewer)
    visible = visible_ids(model, viewer)
    everything = list(model.posts)

    # GET /api/v1/statuses?id[]=: exactly the visible ones.
    listed = await ok(
        client, "GET", "/api/v1/statuses", params={"id[]": everything}, headers=headers
    )
    assert {int(s["id"]) for s in listed} == visible, f"statuses?id[] as {viewer.label}"

    for post in model.posts.values():
        seen = post.id in visible
        where = f"{_describe(model, post)} as {viewer.label}"
        shown = await client.get(f"/api/v1/statuses/{post.id}", headers=headers)
        assert shown.status_code == (200 if seen else 404), f"show {where}: {shown.status_code}"

        context = await client.get(f"/api/v1/statuses/{post.id}/context", headers=headers)
        assert context.status_code == (200 if seen else 404), f"context {where}"
        if seen:
            await _check_context(model, viewer, post, context.json(), where)

        history = await client.get(f"/api/v1/statuses/{post.id}/history", headers=headers)
        assert history.status_code == (200 if seen else 404), f"history {where}"
        if post.poll_id is not None:
            poll = await client.get(f"/api/v1/polls/{post.poll_id}", headers=headers)
            assert poll.status_code == (200 if seen else 404), f"poll of {where}"

        for kind in ("favourited_by", "reblogged_by"):
            response = await client.get(f"/api/v1/statuses/{post.id}/{kind}", headers=headers)
            assert response.status_code == (200 if seen else 404), f"{kind} {where}"
        if seen:
            # Boosts are listed only when the boost itself is visible (followers-only ones).
            target = post.reblog_of or post.id
            boosters = {
                model.people[b.author].id
                for b in model.posts.values()
                if b.reblog_of == target and b.id in visible
            }
            listed_boosters = {int(a["id"]) for a in response.json()}
            assert listed_boosters <= boosters, f"reblogged_by {where}"
        if viewer.index is not None and post.local and post.reblog_of is None:
            # Its URL resolves for those who may see it, and to nothing for anyone else.
            url = f"https://local.test/@{model.people[post.author].username}/{post.id}"
            found = await ok(
                client,
                "GET",
                "/api/v2/search",
                params={"q": url, "resolve": "true", "type": "statuses"},
                headers=headers,
            )
            expected_found = [post.id] if seen else []
            assert [int(s["id"]) for s in found["statuses"]] == expected_found, (
                f"search by URL for {where}"
            )

    # Account statuses: exactly what the viewer may see of each account.
    for person in model.people:
        response = await client.get(
            f"/api/v1/accounts/{person.id}/statuses", params={"limit": 40}, headers=headers
        )
        expected = {p.id for p in model.posts.values() if p.author == person.index} & visible
        if response.status_code == 404:
            assert person.suspended and not expected, f"statuses of {person.acct}"
            continue
        assert response.status_code == 200, response.text
        got = {int(s["id"]) for s in response.json()}
        assert got == expected, f"statuses of {person.acct} as {viewer.label}"
        pinned = await ok(
            client,
            "GET",
            f"/api/v1/accounts/{person.id}/statuses",
            params={"pinned": "true"},
            headers=headers,
        )
        assert {int(s["id"]) for s in pinned} == model.pins & expected, f"pins of {person.acct}"

    # Timelines hold a selection; none of it may lie outside the audience.
    timelines = [
        ("/api/v1/timelines/public", {}),
        ("/api/v1/timelines/public", {"local": "true"}),
        ("/api/v1/timelines/public", {"remote": "true"}),
        (f"/api/v1/timelines/tag/{TAG}", {}),
        ("/api/v1/trends/statuses", {}),
    ]
    if viewer.index is not None:
        timelines += [
            ("/api/v1/timelines/home", {}),
            (f"/api/v1/timelines/list/{model.lists[viewer.index]}", {}),
        ]
    for path, params in timelines:
        body = await ok(client, "GET", path, params={**params, "limit": 40}, headers=headers)
        _outside(model, viewer, _ids_in(body), f"{path} {params}")

    if viewer.index is None:
        return

    found = await ok(client, "GET", "/api/v2/search", params={"q": WORD}, headers=headers)
    _outside(model, viewer, _ids_in(found["statuses"]), "search")

    notifications = await ok(
        client, "GET", "/api/v1/notifications", params={"limit": 80}, headers=headers
    )
    _outside(
        model,
        viewer,
        _ids_in([n["status"] for n in notifications if n.get("status")]),
        "notifications",
    )
    grouped = await ok(client, "GET", "/api/v2/notifications", headers=headers)
    _outside(model, viewer, _ids_in(grouped["statuses"]), "grouped notifications")

    conversations = await ok(client, "GET", "/api/v1/conversations", headers=headers)
    _outside(
        model,
        viewer,
        _ids_in([c["last_status"] for c in conversations if c.get("last_status")]),
        "conversations",
    )

    # Bookmarks and favourites: exactly the marked statuses still inside the audience.
    for path, marks in (
        ("/api/v1/bookmarks", model.bookmarks),
        ("/api/v1/favourites", model.favourites),
    ):
        body = await ok(client, "GET", path, params={"limit": 40}, headers=headers)
        expected = {sid for who, sid in marks if who == viewer.index} & visible
        assert {int(s["id"]) for s in body} == expected, f"{path} as {viewer.label}"


async def _check_context(
    model: Model, viewer: Viewer, post: Post, body: dict[str, Any], where: str
) -> None:
    focus = model.posts[post.reblog_of] if post.reblog_of is not None else post

    def shown(candidate: Post) -> bool:
        return may_see(model, candidate, viewer) and not _excluded_by(
            model, viewer, candidate.author
        )

    ancestors = set()
    parent = focus.parent
    while parent is not None:
        if shown(model.posts[parent]):
            ancestors.add(parent)
        parent = model.posts[parent].parent
    descendants = set()
    frontier = [focus.id]
    while frontier:
        current = frontier.pop()
        for candidate in model.posts.values():
            if candidate.parent == current and candidate.reblog_of is None:
                frontier.append(candidate.id)
                if shown(candidate):
                    descendants.add(candidate.id)
    assert {int(s["id"]) for s in body["ancestors"]} == ancestors, f"ancestors of {where}"
    assert {int(s["id"]) for s in body["descendants"]} == descendants, f"descendants of {where}"


# --- HTML pages, anonymous ----------------------------------------------------------------------


async def check_pages(client: httpx.AsyncClient, model: Model) -> None:
    visible = visible_ids(model, ANONYMOUS)
    for person in model.locals:
        own = [p for p in model.posts.values() if p.author == person.index]
        profile = await client.get(f"/@{person.username}")
        assert profile.status_code == 200
        for post in own:
            if post.id not in visible:
                assert str(post.id) not in profile.text, f"profile page shows {post.id}"
            if post.reblog_of is not None:
                continue
            page = await client.get(f"/@{person.username}/{post.id}")
            expected = 200 if post.id in visible else 404
            assert page.status_code == expected, f"page of {_describe(model, post)}"


# --- ActivityPub, as each peer's account ------------------------------------------------------


def _signed(person_uri: str, path: str) -> dict[str, str]:
    headers = sign_cavage(
        "GET",
        f"https://local.test{path}",
        None,
        key_id=f"{person_uri}#main-key",
        private_key_pem=REMOTE_KEY["private_key_pem"],
    )
    return {"Accept": AS2, **headers}


_STATUS_ID = re.compile(r"/statuses/(\d+)")
MEDIA_URL = re.compile(r"https://local\.test/media/[A-Za-z0-9_-]{2}/([A-Za-z0-9_-]+)\.\w+")


def _boost_reaches(model: Model, boost: Post, viewer: Viewer) -> bool:
    """An Announce names the boosted post; it may go wherever the boost's own audience is,
    as long as the boosted post is not internal."""
    own = Post(boost.id, boost.author, boost.visibility, boost.local_only, frozenset())
    assert boost.reblog_of is not None
    return may_see(model, own, viewer) and not model.posts[boost.reblog_of].local_only


async def check_activitypub(client: httpx.AsyncClient, model: Model) -> None:
    peers = [Viewer(p.index, remote=True) for p in model.remotes if not p.suspended]
    for post in model.posts.values():
        if not post.local:
            continue
        author = model.people[post.author]
        base = f"/users/{author.username}/statuses/{post.id}"
        if post.reblog_of is None:
            paths, rule = [base, f"{base}/activity"], may_see
        else:
            paths, rule = [f"{base}/activity"], _boost_reaches
        for path in paths:
            for peer in peers:
                peer_uri = model.people[peer.index or 0].uri
                response = await client.get(path, headers=_signed(peer_uri, path))
                expected = 200 if rule(model, post, peer) else 404
                assert response.status_code == expected, (
                    f"signed fetch of {path}: {_describe(model, post)} by {peer.label}: "
                    f"{response.status_code}"
                )
            unsigned = await client.get(path, headers={"Accept": AS2})
            if not rule(model, post, ANONYMOUS):
                assert unsigned.status_code in (401, 404), (
                    f"unsigned fetch of {_describe(model, post)}: {unsigned.status_code}"
                )
            if post.local_only:
                assert unsigned.status_code == 404, "internal posts are missing to every peer"

    for person in model.locals:
        if not peers:
            break
        path = f"/users/{person.username}/outbox?page=true"
        page = await ok(
            client, "GET", path, headers=_signed(model.people[peers[0].index or 0].uri, path)
        )
        for item in page["orderedItems"]:
            match = _STATUS_ID.search(item["id"])
            assert match, item["id"]
            post = model.posts[int(match[1])]
            rule = may_see if post.reblog_of is None else _boost_reaches
            assert rule(model, post, ANONYMOUS), f"outbox holds {_describe(model, post)}"


# --- streaming: where a new status would be sent ------------------------------------------------


async def check_streaming(database: Database, model: Model) -> None:
    subscriptions = {
        person.id: [
            StreamKey(Stream.USER),
            StreamKey(Stream.PUBLIC),
            StreamKey(Stream.PUBLIC_LOCAL),
            StreamKey(Stream.PUBLIC_REMOTE),
            StreamKey(Stream.HASHTAG, tag=TAG),
            StreamKey(Stream.LIST, list_id=model.lists[person.index]),
        ]
        for person in model.locals
    }
    async with database.connection() as conn:
        for post in model.posts.values():
            routing = await streaming.route_status(
                conn,
                event="update",
                status_id=post.id,
                subscriptions=subscriptions,
                now=datetime.now(UTC),
            )
            assert routing is not None
            for account_id in routing.recipients:
                viewer = Viewer(model.person(account_id).index)
                assert may_see(model, post, viewer), (
                    f"stream sends {_describe(model, post)} to {viewer.label}"
                )
            conversation = await streaming.route_conversation(
                conn, status_id=post.id, subscribers=list(subscriptions)
            )
            if conversation is not None:
                for account_id in conversation[1]:
                    viewer = Viewer(model.person(account_id).index)
                    assert may_see(model, post, viewer), (
                        f"direct stream sends {_describe(model, post)} to {viewer.label}"
                    )


async def check_streamed_notifications(database: Database, model: Model) -> None:
    async with database.connection() as conn:
        found = await streaming.new_notifications(
            conn, account_ids=[p.id for p in model.locals], above_id=0
        )
    for account_id, notifications in found.items():
        viewer = Viewer(model.person(account_id).index)
        shown = [n.status_id for n in notifications if n.status_id is not None]
        _outside(model, viewer, shown, "streamed notifications")


async def check_everything(client: httpx.AsyncClient, database: Database, model: Model) -> None:
    for viewer in [ANONYMOUS, *(Viewer(p.index) for p in model.locals)]:
        await check_api(client, model, viewer)
    await check_pages(client, model)
    await check_activitypub(client, model)
    await check_streaming(database, model)
    await check_streamed_notifications(database, model)


# --- the property -----------------------------------------------------------------------------


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(spec=world_specs())
async def test_every_read_path_shows_exactly_the_audience_in_random_worlds(
    app: Any,
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    spec: WorldSpec,
) -> None:
    await _reset(database)
    _use_stored_keys(app, database)
    model = await build_world(client, database, settings, spec)
    await check_everything(client, database, model)
    for change in spec.changes:
        await apply_change(client, database, model, change)
    await check_everything(client, database, model)


def test_the_world_strategy_draws_every_scope() -> None:
    seen: set[str] = set()

    @settings(max_examples=60, deadline=None)
    @given(spec=world_specs())
    def collect(spec: WorldSpec) -> None:
        seen.update(post.scope for post in spec.posts)

    collect()
    assert {"public", "unlisted", "private", "direct", "internal"} <= seen


# --- the changes over time, written out --------------------------------------------------------


async def _two_people(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> tuple[Model, Any, Any]:
    """l0 (the author), l1 (a local follower) and r2 (a peer's follower), built like the
    random worlds."""
    spec = WorldSpec(
        local_count=2,
        remote_domains=(0,),
        locked=frozenset(),
        follows=((1, 0, True), (2, 0, True)),
        blocks=(),
        mutes=(),
        suspended=None,
        posts=(),
        boosts=(),
        marks=(),
        changes=(),
    )
    model = await build_world(client, database, settings, spec)
    return model, model.people[0], model.people[1]


async def _post(client: httpx.AsyncClient, author: Any, visibility: str, text: str = WORD) -> int:
    body = await ok(
        client,
        "POST",
        "/api/v1/statuses",
        json={"status": text, "visibility": visibility},
        headers=author.headers,
    )
    return int(body["id"])


async def test_a_removed_follower_loses_a_followers_only_post_everywhere(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    _, author, follower = await _two_people(client, database, settings)
    status_id = await _post(client, author, "private")
    for kind in ("bookmark", "favourite"):
        await ok(client, "POST", f"/api/v1/statuses/{status_id}/{kind}", headers=follower.headers)
    assert (await client.get(f"/api/v1/statuses/{status_id}", headers=follower.headers)).is_success

    await ok(
        client,
        "POST",
        f"/api/v1/accounts/{follower.id}/remove_from_followers",
        headers=author.headers,
    )

    shown = await client.get(f"/api/v1/statuses/{status_id}", headers=follower.headers)
    assert shown.status_code == 404
    for path in ("/api/v1/bookmarks", "/api/v1/favourites", "/api/v1/timelines/home"):
        assert await ok(client, "GET", path, headers=follower.headers) == [], path


async def test_a_blocked_follower_loses_a_followers_only_post_here_and_over_activitypub(
    app: Any, client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    _use_stored_keys(app, database)
    model, author, follower = await _two_people(client, database, settings)
    peer = model.people[2]
    status_id = await _post(client, author, "private")
    path = f"/users/{author.username}/statuses/{status_id}"
    assert (await client.get(path, headers=_signed(peer.uri, path))).status_code == 200

    for blocked in (follower, peer):
        await ok(client, "POST", f"/api/v1/accounts/{blocked.id}/block", headers=author.headers)

    shown = await client.get(f"/api/v1/statuses/{status_id}", headers=follower.headers)
    assert shown.status_code == 404
    assert (await client.get(path, headers=_signed(peer.uri, path))).status_code == 404


async def test_a_blocked_peer_gets_no_public_post_from_the_outbox_either(
    app: Any, client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    _use_stored_keys(app, database)
    model, author, _ = await _two_people(client, database, settings)
    peer = model.people[2]
    status_id = await _post(client, author, "public")
    outbox = f"/users/{author.username}/outbox?page=true"
    items = (await ok(client, "GET", outbox, headers=_signed(peer.uri, outbox)))["orderedItems"]
    path = f"/users/{author.username}/statuses/{status_id}"
    assert [item["object"]["id"] for item in items] == [f"https://local.test{path}"]

    await ok(client, "POST", f"/api/v1/accounts/{peer.id}/block", headers=author.headers)

    assert (await client.get(path, headers=_signed(peer.uri, path))).status_code == 404
    page = await ok(client, "GET", outbox, headers=_signed(peer.uri, outbox))
    assert page["orderedItems"] == []


async def test_a_new_follower_does_not_gain_older_mentioned_only_posts(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    spec = WorldSpec(3, (), frozenset(), (), (), (), None, (), (), (), ())
    model = await build_world(client, database, settings, spec)
    author, mentioned, newcomer = model.people
    direct = await _post(client, author, "direct", f"{WORD} @{mentioned.username}")
    followers_only = await _post(client, author, "private")

    await ok(client, "POST", f"/api/v1/accounts/{author.id}/follow", headers=newcomer.headers)

    assert (
        await client.get(f"/api/v1/statuses/{direct}", headers=newcomer.headers)
    ).status_code == 404
    # Followers-only posts follow the current followers, as in Mastodon.
    shown = await client.get(f"/api/v1/statuses/{followers_only}", headers=newcomer.headers)
    assert shown.status_code == 200
    statuses = await ok(
        client, "GET", f"/api/v1/accounts/{author.id}/statuses", headers=newcomer.headers
    )
    assert {int(s["id"]) for s in statuses} == {followers_only}


async def test_media_of_a_followers_only_post_has_an_unguessable_name(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    _, author, _ = await _two_people(client, database, settings)
    names = []
    for _ in range(2):
        uploaded = await client.post(
            "/api/v2/media",
            headers=author.headers,
            files={"file": ("picture.png", png_bytes((8, 8)), "image/png")},
        )
        assert uploaded.status_code in (200, 202), uploaded.text
        media = uploaded.json()
        posted = await ok(
            client,
            "POST",
            "/api/v1/statuses",
            json={"status": WORD, "visibility": "private", "media_ids": [media["id"]]},
            headers=author.headers,
        )
        url = posted["media_attachments"][0]["url"]
        match = re.fullmatch(
            r"https://local\.test/media/[A-Za-z0-9_-]{2}/([A-Za-z0-9_-]+)\.\w+", url
        )
        assert match, url
        # URL-safe base64: 6 bits a character; at least 128 bits of randomness.
        assert len(match[1]) * 6 >= 128
        names.append(match[1])
    assert names[0] != names[1]


async def test_a_suspended_peer_follower_no_longer_fetches_followers_only_posts(
    app: Any, client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    from fediverse.storage import remote_statuses as remote_store

    _use_stored_keys(app, database)
    model, author, _ = await _two_people(client, database, settings)
    peer = model.people[2]
    status_id = await _post(client, author, "private")
    path = f"/users/{author.username}/statuses/{status_id}"
    assert (await client.get(path, headers=_signed(peer.uri, path))).status_code == 200

    async with database.transaction() as conn:  # a moderator suspends the peer's account
        await remote_store.suspend_account(conn, account_id=peer.id, now=datetime.now(UTC))

    assert (await client.get(path, headers=_signed(peer.uri, path))).status_code == 404
