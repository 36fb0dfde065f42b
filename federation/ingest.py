"""Remote posts in: turn a peer's Note, Question, Article or Page into a stored status.

Origin rules (ActivityPub §3, Mastodon's behaviour): an object is trusted as embedded only when
it lives on the host of the actor that sent it; otherwise it is fetched from its own origin.
Its `attributedTo` must be the actor; missing reply parents are fetched, a bounded few deep.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from federation.activitystreams import (
    as_list,
    audience,
    first_string,
    host_of,
    id_of,
    is_public_address,
)
from federation.actors import ActorRejected, DocumentFetcher, fetch_remote_actor, store_remote_actor
from federation.client import DomainNotAllowed, FetchError
from fediverse import federation_rules, polls
from fediverse.audience import Visibility
from fediverse.content import html_to_text, sanitize_html
from fediverse.remote_statuses import (
    RemoteMedia,
    RemoteStatusDraft,
    store_remote_status,
)
from fediverse.storage import accounts as account_store
from fediverse.storage import statuses as status_store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Connection
from fediverse.storage.statuses import Status
from fediverse.urls import LocalUrls

log = logging.getLogger(__name__)

NOTE_TYPES = frozenset({"Note", "Question", "Article", "Page"})
MAX_PARENT_DEPTH = 5
MAX_ATTACHMENTS = 4
_HASHTAG_NAME = re.compile(r"^[\w·]+$", re.UNICODE)
_LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}([-_][a-zA-Z0-9]{2,8})*$")


class ActivityRejected(Exception):
    """The activity breaks a rule (origin, ownership, shape): it will never be applied."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ActivityIgnored(Exception):
    """The activity is valid but has nothing to do here (unknown type, not about us...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FetchFailed(Exception):
    """A fetch failed for a reason that may pass (network, 5xx, 429): retry the activity later."""


def _fetch_failure(error: FetchError, what: str) -> Exception:
    if isinstance(error, DomainNotAllowed):
        return ActivityRejected(str(error))
    if error.status is None or error.status >= 500 or error.status in (408, 429):
        return FetchFailed(f"cannot fetch {what} now: {error}")
    return ActivityRejected(f"cannot fetch {what}: {error}")


@dataclass
class IngestContext:
    """What handling one activity needs: its transaction, the network and local URLs."""

    conn: Connection
    fetcher: DocumentFetcher
    urls: LocalUrls
    now: datetime
    max_parent_depth: int = MAX_PARENT_DEPTH
    # The federation policy as of this activity (loaded on first use).
    policy: federation_rules.PolicySnapshot | None = None
    # Set by the inbox worker for a run of new posts it stores together: a Create that is
    # neither a poll nor a reply adds its draft here instead of storing it at once.
    deferred_posts: list[RemoteStatusDraft] | None = None
    # Peers' accounts read for a whole inbox group in one statement, by URI. Each is handed
    # out once (`account_for` reads the table again for the next activity of that actor), and
    # the inbox worker empties it before any activity that may change an account.
    looked_up: dict[str, Account] | None = None

    def is_local_uri(self, uri: str) -> bool:
        return host_of(uri) == host_of(self.urls.base)

    async def check_allowed(self, uri: str) -> None:
        """ActivityRejected when `uri` lives on a domain that may not federate with us: a
        boost, reply or embedded object cannot bring in content from such a server."""
        if self.is_local_uri(uri):
            return
        domain = federation_rules.domain_of_url(uri)
        if domain is None:
            raise ActivityRejected(f"{uri!r} names no server")
        if self.policy is None:
            self.policy = await federation_rules.load_snapshot(self.conn, now=self.now)
        decision = self.policy.decide(domain)
        if not decision.federates:
            raise ActivityRejected(f"{domain} is not allowed to federate with this server")

    async def local_account(self, uri: str | None) -> Account | None:
        """The local account an actor URI (or profile URL) names, if any."""
        if not uri or not self.is_local_uri(uri):
            return None
        account = await account_store.fetch_account_by_uri(self.conn, uri=uri)
        if account is None and uri.startswith(f"{self.urls.base}/@"):
            username = uri.removeprefix(f"{self.urls.base}/@").split("/", 1)[0]
            account = await account_store.fetch_account_by_username(
                self.conn, username=username, domain=None
            )
        if account is None or not account.is_local or account.suspended_at is not None:
            return None
        return account

    async def account_for(self, uri: str, *, refresh: bool = False) -> Account:
        """A peer's account: stored, or fetched from its origin and stored now."""
        if self.is_local_uri(uri):
            local = await self.local_account(uri)
            if local is None:
                raise ActivityRejected(f"{uri} is no local account")
            return local
        await self.check_allowed(uri)
        if not refresh:
            known = self.looked_up.pop(uri, None) if self.looked_up else None
            if known is None:
                known = await account_store.fetch_account_by_uri(self.conn, uri=uri)
            if known is not None:
                return known
        try:
            actor = await fetch_remote_actor(self.fetcher, uri)
        except ActorRejected as error:
            raise ActivityRejected(f"actor {uri} rejected: {error}") from error
        except FetchError as error:
            raise _fetch_failure(error, f"actor {uri}") from error
        return await store_remote_actor(self.conn, actor, now=self.now, clean_html=sanitize_html)

    async def fetch_object(self, uri: str) -> dict[str, Any]:
        """A document from its origin; it must call itself by the id we asked for."""
        try:
            document = await self.fetcher.get_document(uri)
        except FetchError as error:
            raise _fetch_failure(error, uri) from error
        if id_of(document) != uri:
            raise ActivityRejected(f"{uri} calls itself {id_of(document)!r}")
        return document

    async def trusted_object(self, value: Any, *, sender: str) -> dict[str, Any]:
        """The object an activity refers to: embedded when on the sender's host, otherwise
        fetched from its origin (never trusted from the payload)."""
        uri = id_of(value)
        if uri is None or not host_of(uri):
            raise ActivityRejected("object has no http(s) id")
        await self.check_allowed(uri)
        if isinstance(value, dict) and host_of(uri) == host_of(sender):
            return value
        return await self.fetch_object(uri)


# --- parsing ------------------------------------------------------------------------------------


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _http_url(value: Any) -> str | None:
    if isinstance(value, str) and host_of(value):
        return value
    return None


def _link(value: Any) -> str | None:
    """`url` may be a string, a Link, or a list of either: prefer text/html."""
    items = as_list(value)
    for item in items:
        if isinstance(item, dict) and item.get("mediaType") == "text/html":
            if (url := _http_url(item.get("href"))) is not None:
                return url
    for item in items:
        url = _http_url(item) if isinstance(item, str) else None
        if url is None and isinstance(item, dict):
            url = _http_url(item.get("href")) or _http_url(item.get("url"))
        if url is not None:
            return url
    return None


def attributed_to(document: dict[str, Any]) -> str | None:
    """The author: the first actor named in attributedTo (PeerTube lists several)."""
    for item in as_list(document.get("attributedTo")):
        if isinstance(item, dict) and item.get("type") not in (None, "Person", "Service"):
            continue
        if (ident := id_of(item)) is not None:
            return ident
    return None


def visibility_of(document: dict[str, Any], followers_url: str | None) -> str:
    """Mastodon's reading of the addressing: Public in `to` is public, in `cc` unlisted; the
    author's followers collection makes it private; anything else is direct."""
    to, cc = audience(document)
    if any(is_public_address(address) for address in to):
        return Visibility.PUBLIC
    if any(is_public_address(address) for address in cc):
        return Visibility.UNLISTED
    if followers_url and followers_url in to + cc:
        return Visibility.PRIVATE
    return Visibility.DIRECT


def language_of(document: dict[str, Any]) -> str | None:
    content_map = document.get("contentMap")
    if isinstance(content_map, dict):
        for key in content_map:
            if isinstance(key, str) and _LANGUAGE.match(key) and key.lower() != "und":
                return key.split("-")[0].split("_")[0].lower()
    return None


def content_of(document: dict[str, Any]) -> str:
    content = document.get("content")
    if not isinstance(content, str) or not content.strip():
        content = first_string(document.get("contentMap")) or ""
    if document.get("type") in ("Article", "Page"):
        # Long-form posts: lead with the title, as Mastodon shows them.
        name = first_string(document.get("name"))
        if name and name.strip():
            content = f"<p><strong>{html.escape(name.strip())}</strong></p>{content}"
    return content


def _media_type(media_type: str | None, kind: Any) -> str:
    major = (media_type or "").split("/", 1)[0].lower()
    if major in ("image", "video", "audio"):
        return major
    return {"Image": "image", "Video": "video", "Audio": "audio"}.get(str(kind), "unknown")


def _focus(value: Any) -> tuple[float, float] | None:
    if isinstance(value, list) and len(value) == 2:
        try:
            x, y = float(value[0]), float(value[1])
        except (TypeError, ValueError):
            return None
        if -1.0 <= x <= 1.0 and -1.0 <= y <= 1.0:
            return x, y
    return None


def media_of(document: dict[str, Any]) -> tuple[RemoteMedia, ...]:
    found: list[RemoteMedia] = []
    for item in as_list(document.get("attachment")):
        if not isinstance(item, dict) or item.get("type") not in (
            "Document",
            "Image",
            "Video",
            "Audio",
        ):
            continue
        url = _link(item.get("url"))
        if url is None:
            continue
        media_type = item.get("mediaType") if isinstance(item.get("mediaType"), str) else None
        name = item.get("name")
        blurhash = item.get("blurhash")
        found.append(
            RemoteMedia(
                type=_media_type(media_type, item.get("type")),
                remote_url=url,
                content_type=media_type,
                description=name[:1500] if isinstance(name, str) and name.strip() else None,
                blurhash=blurhash if isinstance(blurhash, str) and len(blurhash) < 100 else None,
                focus=_focus(item.get("focalPoint")),
            )
        )
        if len(found) == MAX_ATTACHMENTS:
            break
    return tuple(found)


def hashtags_of(document: dict[str, Any]) -> tuple[str, ...]:
    names = []
    for tag in as_list(document.get("tag")):
        if isinstance(tag, dict) and tag.get("type") == "Hashtag":
            name = tag.get("name")
            if isinstance(name, str):
                name = name.strip().lstrip("#")
                if _HASHTAG_NAME.match(name) and len(name) <= 100:
                    names.append(name)
    return tuple(dict.fromkeys(names))


def mention_hrefs(document: dict[str, Any]) -> list[str]:
    return [
        href
        for tag in as_list(document.get("tag"))
        if isinstance(tag, dict)
        and tag.get("type") == "Mention"
        and isinstance(href := tag.get("href"), str)
    ]


def check_note(document: dict[str, Any], *, author_uri: str) -> str:
    """The object's id, after the checks every remote post must pass."""
    kind = document.get("type")
    if kind not in NOTE_TYPES:
        raise ActivityIgnored(f"object type {kind!r} is not stored as a status")
    uri = id_of(document)
    if uri is None or not host_of(uri):
        raise ActivityRejected("object has no http(s) id")
    if host_of(uri) != host_of(author_uri):
        raise ActivityRejected(f"object {uri} is not on the host of its author {author_uri}")
    author = attributed_to(document)
    if author != author_uri:
        raise ActivityRejected(f"attributedTo {author!r} is not the actor {author_uri}")
    return uri


@dataclass(frozen=True)
class RemotePoll:
    """A Question's poll: its options and the counts its server publishes."""

    options: list[str]
    tallies: list[int]
    multiple: bool
    expires_at: datetime | None
    voters_count: int


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def poll_of(document: dict[str, Any]) -> RemotePoll | None:
    """The poll of a Question (`oneOf`, or `anyOf` for several choices), None when it has no
    usable options. Counts are `replies.totalItems`; voters default to the sum (single choice)."""
    if document.get("type") != "Question":
        return None
    multiple = "anyOf" in document and "oneOf" not in document
    options: list[str] = []
    tallies: list[int] = []
    for item in as_list(document.get("anyOf" if multiple else "oneOf")):
        if not isinstance(item, dict):
            continue
        name = first_string(item.get("name"))
        title = html_to_text(sanitize_html(name)).strip()[:200] if name else ""
        if not title or title in options:
            continue
        replies = item.get("replies")
        options.append(title)
        tallies.append(_count(replies.get("totalItems")) if isinstance(replies, dict) else 0)
        if len(options) == polls.MAX_OPTIONS * 5:  # a generous cap on what a peer may send
            break
    if len(options) < 1:
        return None
    voters = document.get("votersCount")
    return RemotePoll(
        options=options,
        tallies=tallies,
        multiple=multiple,
        expires_at=_timestamp(document.get("endTime")) or _timestamp(document.get("closed")),
        voters_count=_count(voters) if voters is not None or multiple else sum(tallies),
    )


async def store_poll(ctx: IngestContext, document: dict[str, Any], status: Status) -> None:
    """Store (or refresh the counts of) a remote Question's poll."""
    poll = poll_of(document)
    if poll is None:
        return
    await polls.store_remote_poll(
        ctx.conn,
        status_id=status.id,
        author_id=status.account_id,
        options=poll.options,
        multiple=poll.multiple,
        expires_at=poll.expires_at,
        tallies=poll.tallies,
        voters_count=poll.voters_count,
    )


# --- storing ------------------------------------------------------------------------------------


async def _mentioned_ids(ctx: IngestContext, document: dict[str, Any]) -> list[int]:
    found: list[int] = []
    for href in mention_hrefs(document):
        account = await ctx.local_account(href)
        if account is None and not ctx.is_local_uri(href):
            account = await account_store.fetch_account_by_uri(ctx.conn, uri=href)
        if account is not None and account.id not in found:
            found.append(account.id)
    return found


async def _addressed_local_ids(ctx: IngestContext, document: dict[str, Any]) -> list[int]:
    to, cc = audience(document)
    found: list[int] = []
    for address in to + cc:
        account = await ctx.local_account(address)
        if account is not None and account.id not in found:
            found.append(account.id)
    return found


async def draft_of(
    ctx: IngestContext,
    document: dict[str, Any],
    *,
    author: Account,
    activity_uri: str | None,
    parent: Status | None,
) -> RemoteStatusDraft:
    uri = check_note(document, author_uri=author.uri)
    to, cc = audience(document)
    summary = first_string(document.get("summary"))
    sensitive = document.get("sensitive")
    return RemoteStatusDraft(
        uri=uri,
        url=_link(document.get("url")),
        activity_uri=activity_uri,
        author=author,
        content_html=content_of(document),
        spoiler_text=summary if summary and document.get("type") == "Note" else "",
        sensitive=sensitive is True,
        language=language_of(document),
        visibility=visibility_of(document, author.followers_url),
        published=_timestamp(document.get("published")),
        updated=_timestamp(document.get("updated")),
        parent=parent,
        in_reply_to_uri=id_of(document.get("inReplyTo")),
        mentioned_ids=tuple(await _mentioned_ids(ctx, document)),
        addressed_ids=tuple(await _addressed_local_ids(ctx, document)),
        hashtags=hashtags_of(document),
        media=await _media_allowed(ctx, author, media_of(document)),
        addressing=tuple(to + cc),
    )


async def _media_allowed(
    ctx: IngestContext, author: Account, media: tuple[RemoteMedia, ...]
) -> tuple[RemoteMedia, ...]:
    """A server with `reject_media` keeps its posts but not its media: as Mastodon does, the
    attachments stay as plain links (`unknown`, no preview or blurhash) that apps do not load
    inline."""
    if not media or author.domain is None:
        return media
    if ctx.policy is None:
        ctx.policy = await federation_rules.load_snapshot(ctx.conn, now=ctx.now)
    if not ctx.policy.decide(author.domain.lower()).reject_media:
        return media
    return tuple(
        RemoteMedia(type="unknown", remote_url=m.remote_url, description=m.description)
        for m in media
    )


async def parent_of(ctx: IngestContext, document: dict[str, Any], depth: int) -> Status | None:
    """The status this one answers: known, or fetched from its origin while depth allows."""
    uri = id_of(document.get("inReplyTo"))
    if uri is None:
        return None
    known = await status_store.fetch_status_by_uri(ctx.conn, uri=uri)
    if known is not None or depth >= ctx.max_parent_depth or ctx.is_local_uri(uri):
        return known
    try:
        return await status_for_uri(ctx, uri, depth=depth + 1)
    except (ActivityRejected, ActivityIgnored, FetchFailed) as error:
        # The reply is stored anyway; it keeps in_reply_to_uri for a later link.
        log.info("reply parent %s not stored: %s", uri, error)
        return None


def is_plain_post(document: dict[str, Any]) -> bool:
    """A new post that is neither a poll nor a reply: storing it reads no other status and
    writes nothing besides the status itself, so several can be stored at once."""
    return (
        document.get("type") in NOTE_TYPES
        and document.get("type") != "Question"
        and document.get("inReplyTo") is None
    )


async def prepare_note(
    ctx: IngestContext,
    document: dict[str, Any],
    *,
    author: Account,
    activity_uri: str | None,
    depth: int = 0,
) -> RemoteStatusDraft | Status:
    """Check a remote post and draft it for storing (its parent looked up, or fetched); or
    the stored status, when a reply turns out to be known already."""
    uri = check_note(document, author_uri=author.uri)
    await ctx.check_allowed(author.uri)
    if author.suspended_at is not None:
        raise ActivityRejected(f"{author.uri} is suspended")
    if document.get("inReplyTo") is not None:
        # Known already? Then its parent need not be looked up (perhaps fetched) again. A
        # post that answers nothing skips this: storing it finds a duplicate by itself.
        existing = await status_store.fetch_status_by_uri(ctx.conn, uri=uri)
        if existing is not None:
            return existing
    parent = await parent_of(ctx, document, depth)
    return await draft_of(ctx, document, author=author, activity_uri=activity_uri, parent=parent)


async def ingest_note(
    ctx: IngestContext,
    document: dict[str, Any],
    *,
    author: Account,
    activity_uri: str | None,
    depth: int = 0,
) -> tuple[Status, bool]:
    """Store a checked remote post (idempotent on its uri). Returns (status, created)."""
    draft = await prepare_note(ctx, document, author=author, activity_uri=activity_uri, depth=depth)
    if isinstance(draft, Status):
        return draft, False
    status, created = await store_remote_status(ctx.conn, draft, now=ctx.now)
    if created:
        await store_poll(ctx, document, status)
    return status, created


async def status_for_uri(ctx: IngestContext, uri: str, *, depth: int = 0) -> Status:
    """A status by uri: ours or known, else fetched from its origin and stored."""
    known = await status_store.fetch_status_by_uri(ctx.conn, uri=uri)
    if known is not None:
        if not known.local:
            await ctx.check_allowed(uri)
        return known
    if ctx.is_local_uri(uri) or not host_of(uri):
        raise ActivityIgnored(f"no status {uri}")
    document = await ctx.fetch_object(uri)
    author_uri = attributed_to(document)
    if author_uri is None:
        raise ActivityRejected(f"{uri} has no attributedTo")
    check_note(document, author_uri=author_uri)
    author = await ctx.account_for(author_uri)
    status, _ = await ingest_note(ctx, document, author=author, activity_uri=None, depth=depth)
    return status
