"""Streaming: which event goes to which connected viewer's stream, by the timelines' own rules.

A status reaches a stream only when the matching REST timeline would hold it for that viewer
(audience, blocks, mutes, home membership, list membership; judged by the timeline SQL itself),
and not when one of the viewer's filters hides it. Deletions go to those the audience rule let
see the status. Stream names and the events they carry follow Mastodon (methods/streaming).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from fediverse import auth, timelines
from fediverse import filters as filter_domain
from fediverse.audience import StatusAudienceFacts, ViewerFacts, may_see
from fediverse.content import html_to_text
from fediverse.errors import NotFound, ValidationError
from fediverse.filters import FilterWithKeywords
from fediverse.ids import parse_id
from fediverse.storage import lists as list_store
from fediverse.storage import media as media_store
from fediverse.storage import statuses as status_store
from fediverse.storage import streaming as stream_store
from fediverse.storage.database import Connection
from fediverse.storage.notifications import Notification
from fediverse.storage.statuses import Status
from fediverse.timelines import Window


class Stream(StrEnum):
    USER = "user"
    USER_NOTIFICATION = "user:notification"
    PUBLIC = "public"
    PUBLIC_MEDIA = "public:media"
    PUBLIC_LOCAL = "public:local"
    PUBLIC_LOCAL_MEDIA = "public:local:media"
    PUBLIC_REMOTE = "public:remote"
    PUBLIC_REMOTE_MEDIA = "public:remote:media"
    HASHTAG = "hashtag"
    HASHTAG_LOCAL = "hashtag:local"
    LIST = "list"
    DIRECT = "direct"


PUBLIC_STREAMS = frozenset(
    {
        Stream.PUBLIC,
        Stream.PUBLIC_MEDIA,
        Stream.PUBLIC_LOCAL,
        Stream.PUBLIC_LOCAL_MEDIA,
        Stream.PUBLIC_REMOTE,
        Stream.PUBLIC_REMOTE_MEDIA,
    }
)
HASHTAG_STREAMS = frozenset({Stream.HASHTAG, Stream.HASHTAG_LOCAL})
# Streams that carry notifications (the user stream only with a notifications scope).
NOTIFICATION_STREAMS = frozenset({Stream.USER, Stream.USER_NOTIFICATION})

# Status events and the kinds of domain event that cause them.
STATUS_EVENT_KINDS = {
    "status.created": "update",
    "reblog.created": "update",
    "status.updated": "status.update",
}
DELETE_EVENT_KINDS = frozenset({"status.deleted", "reblog.deleted"})
FILTER_EVENT_KINDS = frozenset({"filters.changed", "filter.created", "filter.updated"})
# Recorded per local participant by fediverse.conversations, with that conversation's id.
CONVERSATION_EVENT_KIND = "conversation.updated"

# Notifications committed out of id order are still caught if they commit within this window.
NOTIFICATION_LOOKBACK_MS = 30_000


@dataclass(frozen=True)
class StreamKey:
    """One subscribable stream: a name, plus the tag or list it is about."""

    name: Stream
    tag: str | None = None
    list_id: int | None = None

    def label(self) -> list[str]:
        """Mastodon's `stream` array: `["user"]`, `["hashtag", "tag"]`, `["list", "id"]`."""
        if self.tag is not None:
            return [self.name.value, self.tag]
        if self.list_id is not None:
            return [self.name.value, str(self.list_id)]
        return [self.name.value]


def parse_stream(name: str, *, tag: str | None = None, list_id: str | None = None) -> StreamKey:
    """A stream from client input (the WebSocket `stream`/`tag`/`list` or the SSE path/query)."""
    try:
        stream = Stream(name)
    except ValueError:
        raise ValidationError("Unknown stream type", field="stream") from None
    if stream in HASHTAG_STREAMS:
        cleaned = (tag or "").strip().lstrip("#").lower()
        if not cleaned:
            raise ValidationError("No tag for stream provided", field="tag")
        return StreamKey(stream, tag=cleaned)
    if stream == Stream.LIST:
        parsed = parse_id(list_id or "")
        if parsed is None:
            raise ValidationError("No list for stream provided", field="list")
        return StreamKey(stream, list_id=parsed)
    return StreamKey(stream)


def required_scopes(stream: StreamKey) -> tuple[str, ...]:
    """Mastodon's streaming server: `read`, or `read:notifications` for the notification
    stream and `read:statuses` for every other; any one of them is enough."""
    if stream.name == Stream.USER_NOTIFICATION:
        return ("read", "read:notifications")
    if stream.name == Stream.LIST:
        return ("read", "read:statuses", "read:lists")
    return ("read", "read:statuses")


def token_allows(scopes: str, stream: StreamKey) -> bool:
    return any(auth.scope_allows(scopes, needed) for needed in required_scopes(stream))


async def check_access(conn: Connection, *, viewer_id: int, stream: StreamKey) -> None:
    """A list stream is for the list's owner only (someone else's list is missing)."""
    if stream.list_id is not None:
        if await list_store.fetch_list(conn, owner_id=viewer_id, list_id=stream.list_id) is None:
            raise NotFound("List not found")


# --- statuses -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusRouting:
    """Where one status event goes: per viewer, the streams (in subscription order), plus what
    rendering needs (the status, its filter text, each recipient's active filters)."""

    event: str
    status: Status
    recipients: dict[int, list[StreamKey]]
    filters: dict[int, list[FilterWithKeywords]] = field(default_factory=dict)
    filter_text: str = ""


def filter_context(stream: StreamKey) -> str:
    """Mastodon's filter context for a stream: home for user and list, public otherwise."""
    return "home" if stream.name in (Stream.USER, Stream.LIST) else "public"


def _public_stream_holds(stream: Stream, local: bool, has_media: bool) -> bool:
    if stream in (Stream.PUBLIC_LOCAL, Stream.PUBLIC_LOCAL_MEDIA) and not local:
        return False
    if stream in (Stream.PUBLIC_REMOTE, Stream.PUBLIC_REMOTE_MEDIA) and local:
        return False
    return has_media or not stream.value.endswith(":media")


async def route_status(
    conn: Connection,
    *,
    event: str,
    status_id: int,
    subscriptions: Mapping[int, Iterable[StreamKey]],
    now: datetime,
) -> StatusRouting | None:
    """Which subscribed (viewer, stream) pairs an `update`/`status.update` of a status reaches."""
    status = await status_store.fetch_status(conn, status_id=status_id)
    if status is None:
        return None
    wanted = {viewer: list(streams) for viewer, streams in subscriptions.items()}
    tags = {
        t.lower()
        for t in (await status_store.list_tag_names(conn, status_ids=[status.id])).get(
            status.id, []
        )
    }
    media = await media_store.list_media_for_statuses(conn, status_ids=[status.id])

    # One pass sorts the viewers by the judgements they need (thousands of them per event).
    home_ids: list[int] = []
    public_ids: list[int] = []
    tag_ids: list[int] = []
    list_pairs: list[tuple[int, int]] = []
    for viewer, streams in wanted.items():
        names = {s.name for s in streams}
        if Stream.USER in names:
            home_ids.append(viewer)
        if not names.isdisjoint(PUBLIC_STREAMS):
            public_ids.append(viewer)
        if not names.isdisjoint(HASHTAG_STREAMS):
            tag_ids.append(viewer)
        list_pairs.extend((viewer, s.list_id) for s in streams if s.list_id is not None)

    home = await _judge(stream_store.list_home_viewers, conn, status.id, home_ids)
    public = await _judge(stream_store.list_public_viewers, conn, status.id, public_ids)
    tagged: set[int] = set()
    if tags:
        tagged = await _judge(stream_store.list_tag_viewers, conn, status.id, tag_ids)
    in_lists: set[tuple[int, int]] = set()
    if list_pairs:
        in_lists = await stream_store.list_list_viewers(
            conn,
            status_id=status.id,
            viewer_ids=[v for v, _ in list_pairs],
            list_ids=[lst for _, lst in list_pairs],
        )

    def holds(viewer: int, stream: StreamKey) -> bool:
        if stream.name == Stream.USER:
            return viewer in home
        if stream.name in PUBLIC_STREAMS:
            return viewer in public and _public_stream_holds(stream.name, status.local, bool(media))
        if stream.name in HASHTAG_STREAMS:
            local_ok = stream.name == Stream.HASHTAG or status.local
            return viewer in tagged and stream.tag in tags and local_ok
        if stream.name == Stream.LIST:
            return (viewer, stream.list_id) in in_lists
        return False

    recipients: dict[int, list[StreamKey]] = {}
    for viewer, streams in wanted.items():
        held = [s for s in streams if holds(viewer, s)]
        if held:
            recipients[viewer] = held

    text = _filter_text(status, [m.description or "" for m in media])
    active: dict[int, list[FilterWithKeywords]] = {}
    if recipients:
        filtering = await stream_store.list_filtering_accounts(
            conn, account_ids=list(recipients), now=now
        )
        for viewer in filtering:
            active[viewer] = await filter_domain.load_active_filters(
                conn, account_id=viewer, now=now
            )
            kept = [
                s
                for s in recipients[viewer]
                if not _hidden(active[viewer], filter_context(s), text, status)
            ]
            if kept:
                recipients[viewer] = kept
            else:
                del recipients[viewer]
    return StatusRouting(
        event=event, status=status, recipients=recipients, filters=active, filter_text=text
    )


async def _judge(query: Any, conn: Connection, status_id: int, viewer_ids: list[int]) -> set[int]:
    if not viewer_ids:
        return set()
    return await query(conn, status_id=status_id, viewer_ids=viewer_ids)  # type: ignore[no-any-return]


def _filter_text(status: Status, descriptions: list[str]) -> str:
    return "\n".join([status.spoiler_text, html_to_text(status.content), *descriptions])


def _hidden(active: list[FilterWithKeywords], context: str, text: str, status: Status) -> bool:
    matches = filter_domain.find_matches(
        active, context=context, text=text, status_id=status.id, reblog_of_id=status.reblog_of_id
    )
    return any(match.filter.filter_action == "hide" for match in matches)


# --- direct conversations ---------------------------------------------------------------------


async def route_conversation(
    conn: Connection, *, status_id: int, subscribers: Iterable[int]
) -> tuple[Status, list[int], list[int]] | None:
    """For a direct status: the subscribed participants who may see it, and all participants
    (author and mentioned accounts). None when it is not a direct status."""
    status = await status_store.fetch_status(conn, status_id=status_id)
    if status is None or status.visibility != "direct":
        return None
    mentioned = (await status_store.list_mention_ids(conn, status_ids=[status.id])).get(
        status.id, []
    )
    participants = [status.account_id, *[m for m in mentioned if m != status.account_id]]
    viewers = [v for v in subscribers if v in participants]
    if not viewers:
        return status, [], participants
    seen = {
        v
        for v in viewers
        if await status_store.fetch_visible_status(conn, status_id=status.id, viewer_id=v)
        is not None
    }
    return status, [v for v in viewers if v in seen], participants


# --- deletions ----------------------------------------------------------------------------------


async def route_delete(
    conn: Connection,
    *,
    payload: Mapping[str, Any],
    subscriptions: Mapping[int, Iterable[StreamKey]],
) -> dict[int, list[StreamKey]]:
    """Who is told that a status is gone: subscribers the audience rule let see it, on the
    streams that could have shown it (their home/list/direct streams when they follow the author
    or were mentioned, public and hashtag streams when it was public)."""
    author_id = int(payload["account_id"])
    viewers = list(subscriptions)
    if not viewers:
        return {}
    followers = await stream_store.list_followers_among(
        conn, account_id=author_id, viewer_ids=viewers
    )
    blocked = await stream_store.list_blocked_among(conn, account_id=author_id, viewer_ids=viewers)
    mentioned = {int(i) for i in payload.get("mentioned_ids") or []}
    facts = StatusAudienceFacts(
        author_id=author_id,
        visibility=str(payload.get("visibility") or "public"),
        local_only=bool(payload.get("local_only")),
    )
    is_public = facts.visibility == "public" and payload.get("reblog_of_id") is None
    local = bool(payload.get("local", True))
    recipients: dict[int, list[StreamKey]] = {}
    for viewer, streams in subscriptions.items():
        viewer_facts = ViewerFacts(
            viewer_id=viewer,
            is_local=True,
            follows_author=viewer in followers,
            mentioned=viewer in mentioned,
            blocked_by_author=viewer in blocked,
        )
        if not may_see(facts, viewer_facts):
            continue
        close = viewer == author_id or viewer in followers or viewer in mentioned
        held = []
        for stream in streams:
            if stream.name in (Stream.USER, Stream.LIST, Stream.DIRECT):
                if close:
                    held.append(stream)
            elif stream.name in PUBLIC_STREAMS:
                if is_public and _public_stream_holds(stream.name, local, True):
                    held.append(stream)
            elif stream.name in HASHTAG_STREAMS and is_public:
                if stream.name == Stream.HASHTAG or local:
                    held.append(stream)
        if held:
            recipients[viewer] = held
    return recipients


def deleted_ids(payload: Mapping[str, Any]) -> list[int]:
    """The status and the boosts of it that went with it."""
    return [int(payload["status_id"]), *[int(i) for i in payload.get("reblog_ids") or []]]


# --- notifications ----------------------------------------------------------------------------


def notification_floor(now_ms: int) -> int:
    """The smallest snowflake id a notification made `NOTIFICATION_LOOKBACK_MS` ago can have."""
    return max(0, (now_ms - NOTIFICATION_LOOKBACK_MS) << 16)


async def new_notifications(
    conn: Connection, *, account_ids: list[int], above_id: int
) -> dict[int, list[Notification]]:
    """Notifications newer than `above_id` for these accounts, oldest first, minus those the
    notifications list would not show (blocked, muted or suspended senders, unseen statuses)."""
    if not account_ids:
        return {}
    found: dict[int, list[Notification]] = {}
    for account_id in await stream_store.list_notified_accounts(
        conn, account_ids=account_ids, above_id=above_id
    ):
        shown = await timelines.notifications(
            conn, recipient_id=account_id, window=Window(min_id=above_id, limit=40)
        )
        if shown:
            found[account_id] = sorted(shown, key=lambda n: n.id)
    return found
