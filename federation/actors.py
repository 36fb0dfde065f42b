"""Actors in ActivityStreams: render ours as Mastodon shapes them, parse peers' into RemoteActor."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from federation.activitystreams import (
    ACTOR_CONTEXT,
    ACTOR_TYPES,
    as_list,
    first_string,
    host_of,
    id_of,
    ids_of,
)
from federation.keys import FetchedKey, generate_keypair
from federation.signatures import RequestSigner
from fediverse import ids
from fediverse.config import Settings
from fediverse.storage import instance_actor, remote_accounts
from fediverse.storage.accounts import Account
from fediverse.storage.database import Connection
from fediverse.urls import LocalUrls

# --- rendering ------------------------------------------------------------------------------------


def _image(file_name: str | None, urls: LocalUrls) -> dict[str, Any] | None:
    if not file_name:
        return None
    media_type = mimetypes.guess_type(file_name)[0] or "image/png"
    return {"type": "Image", "mediaType": media_type, "url": urls.media(file_name)}


def _published(moment: datetime) -> str:
    # Mastodon publishes the account's creation day, not the instant.
    return moment.strftime("%Y-%m-%dT00:00:00Z")


def render_actor(account: Account, urls: LocalUrls) -> dict[str, Any]:
    """A local account as a Person (Service when it is a bot), as Mastodon serves it."""
    username = account.username
    actor_url = urls.actor(username)
    document: dict[str, Any] = {
        "@context": ACTOR_CONTEXT,
        "id": actor_url,
        "type": "Service" if account.actor_type in ("Service", "Application") else "Person",
        "following": urls.following(username),
        "followers": urls.followers(username),
        "inbox": urls.inbox(username),
        "outbox": urls.outbox(username),
        "featured": urls.featured(username),
        "featuredTags": urls.featured_tags(username),
        "preferredUsername": username,
        "name": account.display_name,
        "summary": account.note,
        "url": urls.profile(username),
        "manuallyApprovesFollowers": account.locked,
        "discoverable": account.discoverable,
        "indexable": account.indexable,
        "published": _published(account.created_at),
        "memorial": account.memorial,
        "alsoKnownAs": list(account.also_known_as),
        "publicKey": {
            "id": urls.key_id(username),
            "owner": actor_url,
            "publicKeyPem": account.public_key_pem or "",
        },
        "tag": [],
        "attachment": [
            {
                "type": "PropertyValue",
                "name": str(item.get("name", "")),
                "value": str(item.get("value", "")),
            }
            for item in account.fields
            if isinstance(item, dict)
        ],
        "endpoints": {"sharedInbox": urls.shared_inbox()},
    }
    if not document["alsoKnownAs"]:
        del document["alsoKnownAs"]
    if (icon := _image(account.avatar_file, urls)) is not None:
        document["icon"] = icon
    if (image := _image(account.header_file, urls)) is not None:
        document["image"] = image
    return document


def render_moved_to(document: dict[str, Any], moved_to_uri: str | None) -> dict[str, Any]:
    if moved_to_uri:
        document["movedTo"] = moved_to_uri
    return document


def render_instance_actor(
    settings: Settings, urls: LocalUrls, public_key_pem: str
) -> dict[str, Any]:
    """The server's own `Application` actor, which signs server-level fetches."""
    actor_url = urls.instance_actor()
    return {
        "@context": ACTOR_CONTEXT,
        "id": actor_url,
        "type": "Application",
        "inbox": f"{actor_url}/inbox",
        "outbox": f"{actor_url}/outbox",
        "preferredUsername": settings.domain,
        "url": f"{settings.base_url}/about/more?instance_actor=true",
        "manuallyApprovesFollowers": True,
        "publicKey": {
            "id": f"{actor_url}#main-key",
            "owner": actor_url,
            "publicKeyPem": public_key_pem,
        },
        "endpoints": {"sharedInbox": urls.shared_inbox()},
    }


# --- parsing ------------------------------------------------------------------------------------


class ActorRejected(ValueError):
    """A remote document is not an actor we can use; the message says why."""


@dataclass(frozen=True)
class ProfileField:
    name: str
    value: str


@dataclass(frozen=True)
class RemoteActor:
    """A peer's actor, reduced to what we store and act upon."""

    id: str
    type: str
    preferred_username: str
    name: str
    summary: str
    url: str | None
    inbox: str
    shared_inbox: str | None
    outbox: str | None
    followers: str | None
    following: str | None
    featured: str | None
    featured_tags: str | None
    public_key_id: str | None
    public_key_pem: str | None
    manually_approves_followers: bool
    discoverable: bool
    indexable: bool
    memorial: bool
    icon_url: str | None
    image_url: str | None
    fields: tuple[ProfileField, ...]
    also_known_as: tuple[str, ...]
    moved_to: str | None
    published: datetime | None

    @property
    def domain(self) -> str:
        return host_of(self.id)

    @property
    def key(self) -> FetchedKey | None:
        if self.public_key_id is None or self.public_key_pem is None:
            return None
        return FetchedKey(self.public_key_id, self.id, self.public_key_pem)


def _http_url(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith(("https://", "http://")) and host_of(value):
        return value
    return None


def _same_host_url(value: Any, actor_id: str) -> str | None:
    url = _http_url(id_of(value) if isinstance(value, dict) else value)
    return url if url is not None and host_of(url) == host_of(actor_id) else None


def _link_url(value: Any) -> str | None:
    """`url` may be a string, a Link object, or a list of either: prefer a text/html link."""
    candidates = as_list(value)
    for item in candidates:
        if isinstance(item, dict) and item.get("mediaType") == "text/html":
            if (url := _http_url(item.get("href"))) is not None:
                return url
    for item in candidates:
        url = _http_url(item) if isinstance(item, str) else None
        if url is None and isinstance(item, dict):
            url = _http_url(item.get("href")) or _http_url(item.get("url"))
        if url is not None:
            return url
    return None


def _image_url(value: Any) -> str | None:
    for item in as_list(value):
        if isinstance(item, str):
            if (url := _http_url(item)) is not None:
                return url
        elif isinstance(item, dict):
            if (url := _link_url(item.get("url"))) is not None:
                return url
    return None


def _flag(value: Any, default: bool) -> bool:
    return value if isinstance(value, bool) else default


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def public_key_of(document: dict[str, Any], actor_id: str) -> tuple[str, str] | None:
    """(key id, PEM) of the actor's key; a key owned by another actor is refused."""
    for entry in as_list(document.get("publicKey")):
        if not isinstance(entry, dict):
            continue
        key_id, pem = entry.get("id"), entry.get("publicKeyPem")
        if not isinstance(key_id, str) or not isinstance(pem, str) or "BEGIN" not in pem:
            continue
        owner = entry.get("owner")
        if owner is not None and owner != actor_id:
            raise ActorRejected(f"publicKey owner {owner!r} is not the actor {actor_id!r}")
        if host_of(key_id) != host_of(actor_id):
            raise ActorRejected("publicKey id is on another host than the actor")
        return key_id, pem
    return None


def parse_actor(document: Any) -> RemoteActor:
    """Turn an untrusted actor document into a RemoteActor, or raise ActorRejected(reason)."""
    if not isinstance(document, dict):
        raise ActorRejected("actor document is not a JSON object")
    actor_id = _http_url(document.get("id"))
    if actor_id is None:
        raise ActorRejected("actor id is not an http(s) URL")
    kind = document.get("type")
    if kind not in ACTOR_TYPES:
        raise ActorRejected(f"type {kind!r} is not an actor type")
    username = document.get("preferredUsername")
    if not isinstance(username, str) or not username.strip():
        raise ActorRejected("actor has no preferredUsername")
    inbox = _same_host_url(document.get("inbox"), actor_id)
    if inbox is None:
        raise ActorRejected("actor has no inbox on its own host")
    endpoints = document.get("endpoints")
    shared_inbox = _http_url(endpoints.get("sharedInbox")) if isinstance(endpoints, dict) else None
    # Misskey also puts sharedInbox at the top level.
    shared_inbox = shared_inbox or _http_url(document.get("sharedInbox"))
    key = public_key_of(document, actor_id)
    fields = tuple(
        ProfileField(name=item["name"], value=item["value"])
        for item in as_list(document.get("attachment"))
        if isinstance(item, dict)
        and item.get("type") == "PropertyValue"
        and isinstance(item.get("name"), str)
        and isinstance(item.get("value"), str)
    )
    moved_to = _http_url(id_of(document.get("movedTo")))
    return RemoteActor(
        id=actor_id,
        type=kind,
        preferred_username=username.strip(),
        name=first_string(document.get("name")) or "",
        summary=first_string(document.get("summary")) or "",
        url=_link_url(document.get("url")),
        inbox=inbox,
        shared_inbox=shared_inbox,
        outbox=_same_host_url(document.get("outbox"), actor_id),
        followers=_same_host_url(document.get("followers"), actor_id),
        following=_same_host_url(document.get("following"), actor_id),
        featured=_same_host_url(document.get("featured"), actor_id),
        featured_tags=_same_host_url(document.get("featuredTags"), actor_id),
        public_key_id=key[0] if key else None,
        public_key_pem=key[1] if key else None,
        manually_approves_followers=_flag(document.get("manuallyApprovesFollowers"), False),
        discoverable=_flag(document.get("discoverable"), False),
        indexable=_flag(document.get("indexable"), False),
        memorial=_flag(document.get("memorial"), False),
        icon_url=_image_url(document.get("icon")),
        image_url=_image_url(document.get("image")),
        fields=fields,
        also_known_as=tuple(u for u in ids_of(document.get("alsoKnownAs")) if _http_url(u)),
        moved_to=moved_to,
        published=_timestamp(document.get("published")),
    )


def account_columns(actor: RemoteActor) -> dict[str, Any]:
    """The accounts-table columns a RemoteActor sets (for storage.remote_accounts)."""
    return {
        "display_name": actor.name,
        "note": actor.summary,
        "url": actor.url,
        "inbox_url": actor.inbox,
        "shared_inbox_url": actor.shared_inbox,
        "outbox_url": actor.outbox,
        "followers_url": actor.followers,
        "following_url": actor.following,
        "featured_url": actor.featured,
        "featured_tags_url": actor.featured_tags,
        "public_key_id": actor.public_key_id,
        "public_key_pem": actor.public_key_pem,
        "avatar_remote_url": actor.icon_url,
        "header_remote_url": actor.image_url,
        "actor_type": actor.type,
        "locked": actor.manually_approves_followers,
        "discoverable": actor.discoverable,
        "indexable": actor.indexable,
        "memorial": actor.memorial,
        "fields": [{"name": f.name, "value": f.value} for f in actor.fields],
        "also_known_as": list(actor.also_known_as),
    }


# --- fetching and storing -------------------------------------------------------------------------


class DocumentFetcher(Protocol):
    async def get_document(
        self, url: str, *, signer: RequestSigner | None = None
    ) -> dict[str, Any]: ...


async def fetch_remote_actor(client: DocumentFetcher, url: str) -> RemoteActor:
    """Fetch and parse an actor; its id must be the URL we asked for (no impersonation)."""
    actor = parse_actor(await client.get_document(url))
    if actor.id != url.split("#", 1)[0]:
        raise ActorRejected(f"actor {url} calls itself {actor.id}")
    return actor


async def fetch_actor_key(client: DocumentFetcher, key_id: str) -> FetchedKey:
    """The key named `key_id`: from the actor document it lives in, or from a standalone key
    document whose owner's actor document must list the same key (so nobody can claim
    another actor's key)."""
    url = key_id.split("#", 1)[0]
    document = await client.get_document(url)
    if document.get("type") in ACTOR_TYPES:
        actor_id = _http_url(document.get("id"))
        if actor_id is None:
            raise ActorRejected("actor id is not an http(s) URL")
        key = public_key_of(document, actor_id)
        if key is None or key[0] != key_id:
            raise ActorRejected(f"{url} does not publish key {key_id}")
        return FetchedKey(key_id, actor_id, key[1])
    owner = _http_url(document.get("owner"))
    pem = document.get("publicKeyPem")
    if document.get("id") != key_id or owner is None or not isinstance(pem, str):
        raise ActorRejected(f"{url} is neither an actor nor the key {key_id}")
    owner_document = await client.get_document(owner)
    listed = public_key_of(owner_document, owner)
    if listed is None or listed[0] != key_id:
        raise ActorRejected(f"owner {owner} does not list key {key_id}")
    return FetchedKey(key_id, owner, listed[1])


async def store_remote_actor(
    conn: Connection, actor: RemoteActor, *, now: datetime, clean_html: Callable[[str], str]
) -> Account:
    """Insert or refresh the peer's account row. `clean_html` sanitizes the remote summary
    and field values (fediverse.content.sanitize_html) before they are stored."""
    columns = account_columns(actor)
    columns["note"] = clean_html(actor.summary)
    columns["fields"] = [{"name": f.name, "value": clean_html(f.value)} for f in actor.fields]
    return await remote_accounts.upsert_remote_account(
        conn,
        account_id=ids.new_id(),
        uri=actor.id,
        username=actor.preferred_username,
        domain=actor.domain,
        columns=columns,
        fetched_at=now,
    )


async def load_instance_signer(conn: Connection, urls: LocalUrls) -> RequestSigner:
    """The instance actor's signer; its key pair is generated once and stored."""
    stored = await instance_actor.fetch_instance_actor_key(conn)
    if stored is None:
        private_pem, public_pem = generate_keypair()
        stored = await instance_actor.insert_instance_actor_key(
            conn, private_key_pem=private_pem, public_key_pem=public_pem
        )
    return RequestSigner(
        key_id=f"{urls.instance_actor()}#main-key", private_key_pem=stored.private_key_pem
    )
