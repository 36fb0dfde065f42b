"""Random small worlds for the audience property test: what to build (a hypothesis strategy),
how to build it on one instance (local people through the Mastodon API, peers' accounts and
posts as the inbox would store them), and an oracle that says who may see what.

The oracle restates the audience rule in plain Python from the world as the test built it; it
never calls `fediverse.audience`, so a mistake there cannot hide itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import httpx
from hypothesis import strategies as st

from federation.keys import generate_keypair
from fediverse import auth, ids
from fediverse.config import Settings
from fediverse.passwords import hash_password
from fediverse.remote_statuses import RemoteStatusDraft, store_remote_reblog, store_remote_status
from fediverse.storage import accounts as account_store
from fediverse.storage import relationships as relationship_store
from fediverse.storage import remote_statuses as remote_store
from fediverse.storage import statuses as status_store
from fediverse.storage.database import Database
from fediverse.storage.remote_accounts import upsert_remote_account
from fediverse.urls import LocalUrls
from tests.test_publishing import REMOTE_KEY

PUBLIC_ADDRESS = "https://www.w3.org/ns/activitystreams#Public"
REMOTE_DOMAINS = ("one.example", "two.example")
# Every post says this word and carries this tag, so search and the tag timeline see them all.
WORD = "zebra"
TAG = "topic"

# Scopes as the test asks for them; "internal*" are public/unlisted with local_only.
LOCAL_SCOPES = (
    "public",
    "unlisted",
    "private",
    "direct",
    "internal",
    "internal_unlisted",
    "private_local",
)
REMOTE_SCOPES = ("public", "unlisted", "private", "direct")
SCOPE_FIELDS: dict[str, tuple[str, bool]] = {
    "public": ("public", False),
    "unlisted": ("unlisted", False),
    "private": ("private", False),
    "direct": ("direct", False),
    "internal": ("public", True),
    "internal_unlisted": ("unlisted", True),
    "private_local": ("private", True),
}


# --- what to build --------------------------------------------------------------------------


@dataclass(frozen=True)
class PostSpec:
    author: int
    scope: str
    mentions: frozenset[int]
    reply_to: int | None  # index of an earlier post
    poll: bool = False  # local posts only


@dataclass(frozen=True)
class BoostSpec:
    booster: int
    post: int
    visibility: str


@dataclass(frozen=True)
class ChangeSpec:
    """A relationship change after the first round of reads (kind: unfollow, remove_follower,
    block, follow)."""

    kind: str
    actor: int  # for follow, a local account; else which existing follow (modulo)
    other: int


@dataclass(frozen=True)
class WorldSpec:
    local_count: int
    remote_domains: tuple[int, ...]  # per remote account, the index of its domain
    locked: frozenset[int]
    follows: tuple[tuple[int, int, bool], ...]  # (follower, target, accepted)
    blocks: tuple[tuple[int, int], ...]
    mutes: tuple[tuple[int, int], ...]
    suspended: int | None  # a remote account suspended after it posted
    posts: tuple[PostSpec, ...]
    boosts: tuple[BoostSpec, ...]
    marks: tuple[tuple[int, int, str], ...]  # (local viewer, post index, bookmark|favourite)
    changes: tuple[ChangeSpec, ...]

    @property
    def account_count(self) -> int:
        return self.local_count + len(self.remote_domains)

    def is_local(self, index: int) -> bool:
        return index < self.local_count


@st.composite
def world_specs(draw: st.DrawFn) -> WorldSpec:
    local_count = draw(st.integers(3, 5))
    remote_domains = tuple(draw(st.lists(st.integers(0, 1), min_size=1, max_size=3)))
    total = local_count + len(remote_domains)
    everyone = st.integers(0, total - 1)
    locals_ = st.integers(0, local_count - 1)

    def pair_with_a_local(first: st.SearchStrategy[int]) -> st.SearchStrategy[tuple[int, int]]:
        # Relationships between two peers' accounts are not ours to know.
        return st.tuples(first, everyone).filter(
            lambda p: p[0] != p[1] and (p[0] < local_count or p[1] < local_count)
        )

    follow_pairs = draw(st.lists(pair_with_a_local(everyone), max_size=10, unique=True))
    follows = tuple((a, b, draw(st.booleans())) for a, b in follow_pairs)
    blocks = tuple(draw(st.lists(pair_with_a_local(everyone), max_size=2, unique=True)))
    mutes = tuple(draw(st.lists(pair_with_a_local(locals_), max_size=2, unique=True)))
    suspended = draw(st.none() | st.integers(local_count, total - 1))

    posts: list[PostSpec] = []
    for index in range(draw(st.integers(3, 10))):
        author = draw(everyone)
        scopes = LOCAL_SCOPES if author < local_count else REMOTE_SCOPES
        mentions = draw(st.frozensets(everyone.filter(lambda a, me=author: a != me), max_size=2))
        reply_to = draw(st.none() | st.integers(0, index - 1)) if index else None
        scope = draw(st.sampled_from(scopes))
        poll = author < local_count and draw(st.booleans())
        posts.append(PostSpec(author, scope, mentions, reply_to, poll))
    boosts = tuple(
        BoostSpec(b, p, draw(st.sampled_from(("public", "unlisted", "private"))))
        for b, p in draw(
            st.lists(st.tuples(everyone, st.integers(0, len(posts) - 1)), max_size=4, unique=True)
        )
    )
    marks = tuple(
        draw(
            st.lists(
                st.tuples(
                    locals_,
                    st.integers(0, len(posts) - 1),
                    st.sampled_from(("bookmark", "favourite")),
                ),
                max_size=6,
                unique=True,
            )
        )
    )
    changes = tuple(
        ChangeSpec(kind, actor, other)
        for kind, actor, other in draw(
            st.lists(
                st.tuples(
                    st.sampled_from(("unfollow", "remove_follower", "block", "follow")),
                    locals_,
                    everyone,
                ),
                max_size=4,
            )
        )
    )
    return WorldSpec(
        local_count=local_count,
        remote_domains=remote_domains,
        locked=frozenset(draw(st.frozensets(locals_, max_size=2))),
        follows=follows,
        blocks=blocks,
        mutes=mutes,
        suspended=suspended,
        posts=tuple(posts),
        boosts=boosts,
        marks=marks,
        changes=changes,
    )


# --- the world as built -----------------------------------------------------------------------


@dataclass
class Person:
    index: int
    id: int
    username: str
    domain: str | None
    uri: str
    token: str | None = None
    suspended: bool = False

    @property
    def local(self) -> bool:
        return self.domain is None

    @property
    def acct(self) -> str:
        return self.username if self.domain is None else f"{self.username}@{self.domain}"

    @property
    def headers(self) -> dict[str, str]:
        assert self.token is not None
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Post:
    id: int
    author: int
    visibility: str
    local_only: bool
    mentioned: frozenset[int]
    parent: int | None = None  # status id
    reblog_of: int | None = None  # status id
    local: bool = True
    poll_id: int | None = None


@dataclass
class Model:
    """Everything the oracle reads, kept by the test as it changes the world."""

    people: list[Person]
    posts: dict[int, Post] = field(default_factory=dict)  # by status id, in creation order
    follows: set[tuple[int, int]] = field(default_factory=set)  # (follower, target) indices
    requests: set[tuple[int, int]] = field(default_factory=set)
    blocks: set[tuple[int, int]] = field(default_factory=set)
    mutes: set[tuple[int, int]] = field(default_factory=set)
    bookmarks: set[tuple[int, int]] = field(default_factory=set)  # (viewer index, status id)
    favourites: set[tuple[int, int]] = field(default_factory=set)
    lists: dict[int, int] = field(default_factory=dict)  # viewer index → list id
    pins: set[int] = field(default_factory=set)  # status ids

    def person(self, account_id: int) -> Person:
        return next(p for p in self.people if p.id == account_id)

    @property
    def locals(self) -> list[Person]:
        return [p for p in self.people if p.local]

    @property
    def remotes(self) -> list[Person]:
        return [p for p in self.people if not p.local]


# --- the oracle ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """Who asks: nobody (`index` None), a local person signed in, or a peer's account over a
    signed ActivityPub fetch (`remote`)."""

    index: int | None
    remote: bool = False

    @property
    def label(self) -> str:
        if self.index is None:
            return "anonymous"
        return f"{'remote' if self.remote else 'local'} #{self.index}"


ANONYMOUS = Viewer(None)


def _sees_itself(model: Model, post: Post, viewer: Viewer) -> bool:
    author = post.author
    if viewer.index is not None and viewer.index == author:
        return True
    if model.people[author].suspended:
        return False
    if viewer.remote and viewer.index is not None and model.people[viewer.index].suspended:
        viewer = ANONYMOUS  # a suspended peer is a stranger: its follows open nothing
    if viewer.index is not None and (author, viewer.index) in model.blocks:
        return False
    signed_in_here = viewer.index is not None and not viewer.remote
    if post.local_only and not signed_in_here:
        return False  # internal posts never reach anyone outside the organization
    if post.visibility in ("public", "unlisted"):
        return True
    if viewer.index is None:
        return False
    if post.visibility == "private" and (viewer.index, author) in model.follows:
        return True  # accepted follows only: a pending request is not a follow
    return viewer.index in post.mentioned


def may_see(model: Model, post: Post, viewer: Viewer) -> bool:
    """The rule: a boost is seen when the boost and what it boosts both are."""
    if not _sees_itself(model, post, viewer):
        return False
    if post.reblog_of is not None:
        return _sees_itself(model, model.posts[post.reblog_of], viewer)
    return True


def visible_ids(model: Model, viewer: Viewer) -> set[int]:
    return {post.id for post in model.posts.values() if may_see(model, post, viewer)}


# --- building it --------------------------------------------------------------------------------


@cache
def _local_keypair() -> tuple[str, str]:
    return generate_keypair()


@cache
def _password_hash() -> str:
    return hash_password("correct horse battery")


async def _make_local(database: Database, urls: LocalUrls, index: int, locked: bool) -> Person:
    """A local account, user and token, written directly (no key generation, no hashing)."""
    username = f"l{index}"
    private_pem, public_pem = _local_keypair()
    async with database.transaction() as conn:
        account_id = await account_store.insert_account(
            conn,
            values={
                "id": ids.new_id(),
                "username": username,
                "domain": None,
                "uri": urls.actor(username),
                "url": urls.profile(username),
                "inbox_url": urls.inbox(username),
                "shared_inbox_url": urls.shared_inbox(),
                "outbox_url": urls.outbox(username),
                "followers_url": urls.followers(username),
                "following_url": urls.following(username),
                "featured_url": urls.featured(username),
                "featured_tags_url": urls.featured_tags(username),
                "public_key_id": urls.key_id(username),
                "public_key_pem": public_pem,
                "locked": locked,
            },
        )
        await account_store.insert_account_key(
            conn, account_id=account_id, private_key_pem=private_pem
        )
        user_id = await account_store.insert_user(
            conn,
            values={
                "id": ids.new_id(),
                "account_id": account_id,
                "email": f"{username}@example.org",
                "password_hash": _password_hash(),
            },
        )
        token, _ = await auth.issue_token(
            conn, application_id=None, user_id=user_id, scopes="read write follow push"
        )
    return Person(index, account_id, username, None, urls.actor(username), token=token)


async def _make_remote(database: Database, index: int, domain: str) -> Person:
    username = f"r{index}"
    uri = f"https://{domain}/users/{username}"
    async with database.transaction() as conn:
        account = await upsert_remote_account(
            conn,
            account_id=ids.new_id(),
            uri=uri,
            username=username,
            domain=domain,
            columns={
                "inbox_url": f"{uri}/inbox",
                "shared_inbox_url": f"https://{domain}/inbox",
                "followers_url": f"{uri}/followers",
                "public_key_id": f"{uri}#main-key",
                "public_key_pem": REMOTE_KEY["public_key_pem"],
            },
            fetched_at=datetime.now(UTC),
        )
    return Person(index, account.id, username, domain, uri)


async def ok(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> Any:
    response = await client.request(method, path, **kwargs)
    assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text}"
    return response.json()


def _unfollow_in_model(model: Model, a: int, b: int) -> None:
    model.follows.discard((a, b))
    model.requests.discard((a, b))


async def apply_block(
    client: httpx.AsyncClient, database: Database, model: Model, blocker: int, target: int
) -> None:
    """A local person blocks through the API (follows both ways end); a peer's block arrives
    as the inbox stores it."""
    people = model.people
    if people[blocker].local:
        await ok(
            client,
            "POST",
            f"/api/v1/accounts/{people[target].id}/block",
            headers=people[blocker].headers,
        )
        _unfollow_in_model(model, blocker, target)
        _unfollow_in_model(model, target, blocker)
    else:
        async with database.transaction() as conn:
            await remote_store.insert_block_with_uri(
                conn,
                block_id=ids.new_id(),
                account_id=people[blocker].id,
                target_account_id=people[target].id,
                uri=f"{people[blocker].uri}#blocks/{ids.new_id()}",
            )
    model.blocks.add((blocker, target))


async def build_world(
    client: httpx.AsyncClient, database: Database, settings: Settings, spec: WorldSpec
) -> Model:
    urls = LocalUrls(settings)
    people: list[Person] = []
    for index in range(spec.local_count):
        people.append(await _make_local(database, urls, index, index in spec.locked))
    for offset, domain_index in enumerate(spec.remote_domains):
        index = spec.local_count + offset
        people.append(await _make_remote(database, index, REMOTE_DOMAINS[domain_index]))
    model = Model(people=people)

    async with database.transaction() as conn:
        for follower, target, accepted in spec.follows:
            insert = (
                relationship_store.insert_follow
                if accepted
                else relationship_store.insert_follow_request
            )
            row_id = ids.new_id()
            await insert(
                conn,
                **{"follow_id" if accepted else "request_id": row_id},
                account_id=people[follower].id,
                target_account_id=people[target].id,
                show_reblogs=True,
                # Followers ask to be told of each new post, so `status` notifications exist.
                notify=True,
                languages=None,
                uri=None if people[follower].local else f"{people[follower].uri}#follows/{row_id}",
            )
            (model.follows if accepted else model.requests).add((follower, target))
    for blocker, target in spec.blocks:
        await apply_block(client, database, model, blocker, target)
    for muter, target in spec.mutes:
        await ok(
            client,
            "POST",
            f"/api/v1/accounts/{people[target].id}/mute",
            headers=people[muter].headers,
        )
        model.mutes.add((muter, target))

    posted: list[int] = []  # status id per post spec
    for post in spec.posts:
        parent_id = None
        if post.reply_to is not None:
            parent = model.posts[posted[post.reply_to]]
            # One only replies to what one can see (a peer: what reached it).
            if may_see(model, parent, Viewer(post.author, remote=not people[post.author].local)):
                parent_id = parent.id
        if people[post.author].local:
            created = await _post_locally(client, model, post, parent_id)
        else:
            created = await _post_remotely(database, model, post, parent_id)
        model.posts[created.id] = created
        posted.append(created.id)

    for boost in spec.boosts:
        await _boost(client, database, model, boost, posted[boost.post])

    for viewer, post_index, kind in spec.marks:
        status_id = posted[post_index]
        allowed = may_see(model, model.posts[status_id], Viewer(viewer))
        response = await client.post(
            f"/api/v1/statuses/{status_id}/{kind}", headers=people[viewer].headers
        )
        assert response.status_code == (200 if allowed else 404), (
            f"{kind} of {status_id} by #{viewer}: {response.status_code} {response.text}"
        )
        if allowed:
            (model.bookmarks if kind == "bookmark" else model.favourites).add((viewer, status_id))

    for person in model.locals:
        own = [
            p
            for p in model.posts.values()
            if p.author == person.index and p.reblog_of is None and p.visibility != "direct"
        ]
        if own:
            await ok(client, "POST", f"/api/v1/statuses/{own[0].id}/pin", headers=person.headers)
            model.pins.add(own[0].id)
        created_list = await ok(
            client, "POST", "/api/v1/lists", json={"title": "mine"}, headers=person.headers
        )
        model.lists[person.index] = int(created_list["id"])
        members = [str(people[t].id) for f, t in sorted(model.follows) if f == person.index]
        if members:
            await ok(
                client,
                "POST",
                f"/api/v1/lists/{created_list['id']}/accounts",
                json={"account_ids": members},
                headers=person.headers,
            )

    if spec.suspended is not None:
        async with database.transaction() as conn:
            await remote_store.suspend_account(
                conn, account_id=people[spec.suspended].id, now=datetime.now(UTC)
            )
        people[spec.suspended].suspended = True
    return model


def _mention_text(model: Model, mentioned: frozenset[int]) -> str:
    return " ".join(f"@{model.people[m].acct}" for m in sorted(mentioned))


async def _post_locally(
    client: httpx.AsyncClient, model: Model, post: PostSpec, parent_id: int | None
) -> Post:
    visibility, local_only = SCOPE_FIELDS[post.scope]
    fields: dict[str, Any] = {
        "status": f"{WORD} #{TAG} {_mention_text(model, post.mentions)}".strip(),
        "visibility": visibility,
    }
    if local_only:
        fields["local_only"] = True
    if post.poll:
        fields["poll"] = {"options": ["yes", "no"], "expires_in": 3600}
    if parent_id is not None:
        fields["in_reply_to_id"] = str(parent_id)
    body = await ok(
        client, "POST", "/api/v1/statuses", json=fields, headers=model.people[post.author].headers
    )
    mentioned = frozenset(model.person(int(m["id"])).index for m in body["mentions"])
    assert mentioned == post.mentions, (body["mentions"], post.mentions)
    assert (body["visibility"], body["local_only"]) == (visibility, local_only), body
    return Post(
        id=int(body["id"]),
        author=post.author,
        visibility=visibility,
        local_only=local_only,
        mentioned=mentioned,
        parent=parent_id,
        poll_id=int(body["poll"]["id"]) if body.get("poll") else None,
    )


async def _post_remotely(
    database: Database, model: Model, post: PostSpec, parent_id: int | None
) -> Post:
    """A peer's post stored as federation/ingest.py stores one: its scope from the addressing,
    a mention row per addressed account, the addressing kept."""
    author = model.people[post.author]
    visibility = post.scope
    mentioned_uris = [model.people[m].uri for m in sorted(post.mentions)]
    followers = f"{author.uri}/followers"
    to, cc = {
        "public": ([PUBLIC_ADDRESS], [followers, *mentioned_uris]),
        "unlisted": ([followers], [PUBLIC_ADDRESS, *mentioned_uris]),
        "private": ([followers], mentioned_uris),
        "direct": (mentioned_uris, []),
    }[visibility]
    async with database.transaction() as conn:
        account = await account_store.fetch_account(conn, account_id=author.id)
        assert account is not None
        parent = (
            None
            if parent_id is None
            else await status_store.fetch_status(conn, status_id=parent_id)
        )
        uri = f"{author.uri}/statuses/{ids.new_id()}"
        status, created = await store_remote_status(
            conn,
            RemoteStatusDraft(
                uri=uri,
                url=uri,
                activity_uri=f"{uri}/activity",
                author=account,
                content_html=f"<p>{WORD} #{TAG}</p>",
                spoiler_text="",
                sensitive=False,
                language=None,
                visibility=visibility,
                published=None,
                updated=None,
                parent=parent,
                in_reply_to_uri=None if parent is None else parent.uri,
                mentioned_ids=tuple(model.people[m].id for m in sorted(post.mentions)),
                hashtags=(TAG,),
                addressing=tuple(to + cc),
            ),
            now=datetime.now(UTC),
        )
        assert created
    return Post(
        id=status.id,
        author=post.author,
        visibility=visibility,
        local_only=False,
        mentioned=post.mentions,
        parent=parent_id,
        local=False,
    )


async def _boost(
    client: httpx.AsyncClient, database: Database, model: Model, boost: BoostSpec, status_id: int
) -> None:
    original = model.posts[status_id]
    if original.reblog_of is not None:
        return
    booster = model.people[boost.booster]
    viewer = Viewer(boost.booster, remote=not booster.local)
    boostable = original.visibility in ("public", "unlisted")
    if booster.local:
        response = await client.post(
            f"/api/v1/statuses/{status_id}/reblog",
            json={"visibility": boost.visibility},
            headers=booster.headers,
        )
        if not may_see(model, original, viewer):
            assert response.status_code == 404, response.text
            return
        if not boostable:
            assert response.status_code == 422, response.text
            return
        assert response.status_code == 200, response.text
        body = response.json()
        if int(body["id"]) in model.posts:
            return  # boosting twice answers the first boost
        model.posts[int(body["id"])] = Post(
            id=int(body["id"]),
            author=boost.booster,
            visibility=body["visibility"],
            local_only=body["local_only"],
            mentioned=frozenset(),
            reblog_of=status_id,
        )
        assert body["local_only"] == original.local_only, body
        return
    if not (boostable and may_see(model, original, viewer)):
        return  # a peer never received it, or may not boost it
    visibility = "unlisted" if boost.visibility == "unlisted" else "public"
    async with database.transaction() as conn:
        account = await account_store.fetch_account(conn, account_id=booster.id)
        stored_original = await status_store.fetch_status(conn, status_id=status_id)
        assert account is not None and stored_original is not None
        stored = await store_remote_reblog(
            conn,
            account=account,
            original=stored_original,
            uri=f"{booster.uri}/statuses/{ids.new_id()}/activity",
            visibility=visibility,
            published=None,
            now=datetime.now(UTC),
        )
    if stored is not None and stored.id not in model.posts:
        model.posts[stored.id] = Post(
            id=stored.id,
            author=boost.booster,
            visibility=visibility,
            local_only=False,
            mentioned=frozenset(),
            reblog_of=status_id,
            local=False,
        )


async def apply_change(
    client: httpx.AsyncClient, database: Database, model: Model, change: ChangeSpec
) -> None:
    """Change a relationship through the API, and the model with it. `follow` is about two
    given people; the others pick (by `actor`, modulo) one of the follows that exist now, so
    that they take away access someone really had."""
    people = model.people

    def usable(pair: tuple[int, int]) -> bool:
        return not (people[pair[0]].suspended or people[pair[1]].suspended)

    if change.kind == "follow":
        actor, other = change.actor, change.other
    else:
        if change.kind == "unfollow":
            pairs = [p for p in model.follows | model.requests if people[p[0]].local]
        else:
            pairs = [(t, f) for f, t in model.follows if people[t].local]
        if change.kind == "block":
            # Blocking someone one mentioned takes their old mentions (and notifications) away.
            pairs += [
                (post.author, mentioned)
                for post in model.posts.values()
                if people[post.author].local
                for mentioned in post.mentioned
            ]
        pairs = sorted(set(filter(usable, pairs)))
        if not pairs:
            return
        actor, other = pairs[change.actor % len(pairs)]
    if people[other].suspended or actor == other:
        return
    path = f"/api/v1/accounts/{people[other].id}"
    headers = people[actor].headers
    if change.kind == "unfollow":
        await ok(client, "POST", f"{path}/unfollow", headers=headers)
        _unfollow_in_model(model, actor, other)
    elif change.kind == "remove_follower":
        await ok(client, "POST", f"{path}/remove_from_followers", headers=headers)
        model.follows.discard((other, actor))
    elif change.kind == "block":
        await apply_block(client, database, model, actor, other)
    elif change.kind == "follow":
        # Following a peer needs its Accept; a new local follow is what this change is about.
        if not people[other].local:
            return
        if (actor, other) in model.blocks or (other, actor) in model.blocks:
            return
        response = await client.post(f"{path}/follow", headers=headers)
        assert response.status_code == 200, response.text
        relationship = response.json()
        if relationship["following"]:
            model.follows.add((actor, other))
        elif relationship["requested"]:
            model.requests.add((actor, other))
