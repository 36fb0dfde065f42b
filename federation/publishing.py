"""Turn domain events into deliveries: render the activity, find its inboxes, enqueue.

The Publisher claims `domain_events` rows (FOR UPDATE SKIP LOCKED) and, in the same
transaction, enqueues the deliveries and marks the events processed: a crash before commit
replays the events, and a replay cannot double-send because deliveries are unique per
(activity id, inbox) and activity ids are derived from the event, never random.
Internal (local_only) statuses, and boosts and likes of them, produce no activity at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from federation import delivery
from federation import objects as ap
from fediverse.audience import Visibility
from fediverse.config import Settings
from fediverse.storage import accounts as account_store
from fediverse.storage import events as event_store
from fediverse.storage import media as media_store
from fediverse.storage import polls as poll_store
from fediverse.storage import publishing as publishing_store
from fediverse.storage import recipients
from fediverse.storage import statuses as status_store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Connection, Database
from fediverse.storage.events import DomainEvent
from fediverse.storage.statuses import Status
from fediverse.storage.wakeups import run_woken
from fediverse.urls import LocalUrls

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "domain_events"
# A failing event is retried this many times, then set aside (its error stays on the row).
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Outgoing:
    """One activity and where it goes."""

    activity: dict[str, Any]
    sender_account_id: int
    inboxes: list[str] = field(default_factory=list)
    status_id: int | None = None


async def load_note_parts(conn: Connection, status: Status, author: Account) -> ap.NoteParts:
    """A status with its (active) mentions, tags and media, ready for `render_note`."""
    mention_ids = (await status_store.list_mention_ids(conn, status_ids=[status.id])).get(
        status.id, []
    )
    mentions = await account_store.list_accounts_by_ids(conn, account_ids=mention_ids)
    tags = (await status_store.list_tag_names(conn, status_ids=[status.id])).get(status.id, [])
    media = await media_store.list_media_for_statuses(conn, status_ids=[status.id])
    poll = await poll_store.fetch_poll_of_status(conn, status_id=status.id)
    return ap.NoteParts(
        status=status,
        author=author,
        mentions=sorted(mentions, key=lambda account: account.id),
        tags=tags,
        media=media,
        poll=poll,
    )


async def status_inboxes(
    conn: Connection,
    status: Status,
    mention_ids: list[int],
    *,
    include_interactors: bool = False,
) -> list[str]:
    """Where a status goes (after Mastodon's StatusReachFinder), see `reach_inboxes`; for
    edits of public and unlisted posts, also whoever boosted or favourited it."""
    interactors: list[int] = []
    if include_interactors and status.visibility in (Visibility.PUBLIC, Visibility.UNLISTED):
        interactors = await recipients.list_interactor_ids(conn, status_id=status.id)
    return await reach_inboxes(
        conn,
        author_id=status.account_id,
        visibility=status.visibility,
        reached_ids=[*mention_ids, *interactors],
        in_reply_to_account_id=status.in_reply_to_account_id,
    )


async def reach_inboxes(
    conn: Connection,
    *,
    author_id: int,
    visibility: str,
    reached_ids: list[int],
    in_reply_to_account_id: int | None,
) -> list[str]:
    """Remote followers unless the post is direct, the accounts in `reached_ids` (the
    mentioned...), and for public and unlisted posts the replied-to author."""
    inboxes: set[str] = set()
    if visibility != Visibility.DIRECT:
        inboxes.update(await recipients.list_follower_inboxes(conn, account_id=author_id))
    reached = set(reached_ids)
    if in_reply_to_account_id is not None and visibility in (
        Visibility.PUBLIC,
        Visibility.UNLISTED,
    ):
        reached.add(in_reply_to_account_id)
    reached.discard(author_id)
    inboxes.update(await recipients.list_preferred_inboxes(conn, account_ids=sorted(reached)))
    return sorted(inboxes)


async def _local_account(conn: Connection, account_id: Any) -> Account | None:
    if not isinstance(account_id, int):
        return None
    account = await account_store.fetch_account(conn, account_id=account_id)
    return account if account is not None and account.is_local else None


def _int(payload: dict[str, Any], key: str) -> int | None:
    value = payload.get(key)
    return value if isinstance(value, int) else None


class Publisher:
    """Claims domain events and enqueues their deliveries. Runs in `serve` or `fediverse
    worker`; tests step it with `run_until_idle()`."""

    def __init__(
        self,
        database: Database,
        urls: LocalUrls,
        settings: Settings | None = None,
        *,
        batch_size: int = 100,
    ) -> None:
        self.database = database
        self.urls = urls
        self.settings = settings
        self.batch_size = batch_size
        self._handlers: dict[
            str, Callable[[Connection, DomainEvent], Awaitable[list[Outgoing]]]
        ] = {
            "status.created": self._status_created,
            "status.updated": self._status_updated,
            "status.deleted": self._status_deleted,
            "reblog.created": self._reblog_created,
            "favourite.created": self._favourite_created,
            "favourite.deleted": self._favourite_deleted,
            "follow.requested": self._follow_requested,
            "follow.undone": self._follow_undone,
            "follow.accepted": self._follow_accepted,
            "follow.rejected": self._follow_rejected,
            "block.created": self._block_created,
            "block.undone": self._block_undone,
            "account.updated": self._account_updated,
            "poll.voted": self._poll_voted,
            "poll.updated": self._poll_updated,
            "poll.closed": self._poll_updated,
        }

    # --- the loop ---------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim one batch of events and publish each. Returns how many were claimed."""
        async with self.database.transaction() as conn:
            batch = await event_store.claim_events(conn, limit=self.batch_size)
            for event in batch:
                await self._process(conn, event)
        return len(batch)

    async def run_until_idle(self) -> int:
        total = 0
        while True:
            done = await self.run_once()
            total += done
            if done == 0:
                return total

    async def _process(self, conn: Connection, event: DomainEvent) -> None:
        try:
            # A savepoint: one broken event must not undo the others of the batch.
            async with conn.transaction():
                for outgoing in await self.render_event(conn, event):
                    await delivery.enqueue(
                        conn,
                        activity=outgoing.activity,
                        sender_account_id=outgoing.sender_account_id,
                        inboxes=outgoing.inboxes,
                        status_id=outgoing.status_id,
                    )
                await event_store.mark_processed(conn, event_ids=[event.id])
        except Exception as exc:  # a task boundary: keep the event, count the failure
            log.exception("publishing event %s (%s) failed", event.id, event.kind)
            attempts = await publishing_store.update_event_failure(
                conn, event_id=event.id, error=f"{exc.__class__.__name__}: {exc}"
            )
            if attempts >= MAX_ATTEMPTS:
                await event_store.mark_processed(conn, event_ids=[event.id])

    async def render_event(self, conn: Connection, event: DomainEvent) -> list[Outgoing]:
        """The activities an event sends (none for events peers need not know about)."""
        handler = self._handlers.get(event.kind)
        if handler is None:
            return []
        return [outgoing for outgoing in await handler(conn, event) if outgoing.inboxes]

    async def run_forever(self, stop: asyncio.Event, *, idle_poll: float = 5.0) -> None:
        """Publish as events are recorded; NOTIFY on `domain_events` wakes the loop."""
        await run_woken(
            self.database,
            NOTIFY_CHANNEL,
            self.run_once,
            stop,
            idle_poll=idle_poll,
            name="publishing",
        )

    # --- statuses ---------------------------------------------------------------------------

    async def _local_status(
        self, conn: Connection, status_id: Any
    ) -> tuple[Status, Account] | None:
        """A local, federating status (not internal, not a boost) and its author."""
        if not isinstance(status_id, int):
            return None
        status = await status_store.fetch_status(conn, status_id=status_id)
        if status is None or status.local_only or status.reblog_of_id is not None:
            return None
        author = await _local_account(conn, status.account_id)
        return None if author is None else (status, author)

    async def _status_created(self, conn: Connection, event: DomainEvent) -> list[Outgoing]:
        found = await self._local_status(conn, event.payload.get("status_id"))
        if found is None:
            return []
        status, author = found
        parts = await load_note_parts(conn, status, author)
        inboxes = await status_inboxes(conn, status, [m.id for m in parts.mentions])
        return [Outgoing(ap.render_create(parts, self.urls), author.id, inboxes, status.id)]

    async def _status_updated(self, conn: Connection, event: DomainEvent) -> list[Outgoing]:
        found = await self._local_status(conn, event.payload.get("status_id"))
        if found is None:
            return []
        status, author = found
        parts = await load_note_parts(conn, status, author)
        inboxes = await status_inboxes(
            conn, status, [m.id for m in parts.mentions], include_interactors=True
        )
        activity = ap.render_update_note(parts, self.urls, update_id=event.id)
        return [Outgoing(activity, author.id, inboxes, status.id)]

    async def _status_deleted(self, conn: Connection, event: DomainEvent) -> list[Outgoing]:
        payload = event.payload
        uri = payload.get("uri")
        if not payload.get("local") or payload.get("local_only") or not isinstance(uri, str):
            return []
        author = await _local_account(conn, payload.get("account_id"))
        status_id = _int(payload, "status_id")
        if author is None or status_id is None:
            return []
        visibility = str(payload.get("visibility"))
        reblog_of_id = _int(payload, "reblog_of_id")
        if reblog_of_id is not None:
            return await self._undo_announce(conn, author, status_id, uri, visibility, reblog_of_id)
        # The same reach as the post had: a private reply's parent author never saw it.
        inboxes = await reach_inboxes(
            conn,
            author_id=author.id,
            visibility=visibility,
            reached_ids=[i for i in payload.get("mentioned_ids") or [] if isinstance(i, int)],
            in_reply_to_account_id=_int(payload, "in_reply_to_account_id"),
        )
        activity = ap.render_delete(uri, author, self.urls)
        return [Outgoing(activity, author.id, inboxes, status_id)]

    async def _undo_announce(
        self,
        conn: Connection,
        booster: Account,
        boost_id: int,
        boost_uri: str,
        visibility: str,
        original_id: int,
    ) -> list[Outgoing]:
        original = await status_store.fetch_status(conn, status_id=original_id)
        if original is None or original.local_only:
            return []
        original_author = await account_store.fetch_account(conn, account_id=original.account_id)
        if original_author is None:
            return []
        announce = ap.render_announce(
            boost_uri, visibility, None, booster, original.uri, original_author, self.urls
        )
        inboxes = set(await recipients.list_follower_inboxes(conn, account_id=booster.id))
        inboxes.update(
            await recipients.list_preferred_inboxes(conn, account_ids=[original_author.id])
        )
        activity = ap.render_undo_announce(announce, booster, boost_id, self.urls)
        return [Outgoing(activity, booster.id, sorted(inboxes), boost_id)]

    async def _reblog_created(self, conn: Connection, event: DomainEvent) -> list[Outgoing]:
        boost_id = _int(event.payload, "status_id")
        if boost_id is None:
            return []
        boost = await status_store.fetch_status(conn, status_id=boost_id)
        if boost is None or boost.local_only or boost.reblog_of_id is None:
            return []
        booster = await _local_account(conn, boost.account_id)
        original = await status_store.fetch_status(conn, status_id=boost.reblog_of_id)
        if booster is None or original is None or original.local_only:
            return []
        original_author = await account_store.fetch_account(conn, account_id=original.account_id)
        if original_author is None:
            return []
        activity = ap.render_announce(
            boost.uri,
            boost.visibility,
            boost.created_at,
            booster,
            original.uri,
            original_author,
            self.urls,
        )
        inboxes = set(await recipients.list_follower_inboxes(conn, account_id=booster.id))
        inboxes.update(
            await recipients.list_preferred_inboxes(conn, account_ids=[original_author.id])
        )
        return [Outgoing(activity, booster.id, sorted(inboxes), boost.id)]

    # --- likes ------------------------------------------------------------------------------

    async def _liked_status(
        self, conn: Connection, event: DomainEvent
    ) -> tuple[Account, Status, recipients.RemoteInbox] | None:
        """(liker, status, the remote author's inbox) when a Like must go out."""
        liker = await _local_account(conn, event.payload.get("account_id"))
        status_id = _int(event.payload, "status_id")
        if liker is None or status_id is None:
            return None
        status = await status_store.fetch_status(conn, status_id=status_id)
        if status is None or status.local_only:
            return None
        inbox = await recipients.fetch_personal_inbox(conn, account_id=status.account_id)
        return None if inbox is None else (liker, status, inbox)

    async def _favourite_created(self, conn: Connection, event: DomainEvent) -> list[Outgoing]:
        found = await self._liked_status(conn, event)
        if found is None:
            return []
        liker, status, inbox = found
        actor = self.urls.actor(liker.username)
        favourite_id = await publishing_store.fetch_favourite_id(
            conn, account_id=liker.id, status_id=status.id
        )
        activity_id = ap.like_id(actor, favourite_id if favourite_id is not None else event.id)
        return [
            Outgoing(ap.render_like(actor, status.uri, activity_id), liker.id, [inbox.inbox_url])
        ]

    async def _favourite_deleted(self, conn: Connection, event: DomainEvent) -> list[Outgoing]:
        found = await self._liked_status(conn, event)
        if found is None:
            return []
        liker, status, inbox = found
        actor = self.urls.actor(liker.username)
        favourite_id = _int(event.payload, "favourite_id")
        like = ap.render_like(actor, status.uri, ap.like_id(actor, favourite_id or event.id))
        if favourite_id is None:
            # The Like's id is not known any more; receivers match the Undo on actor+object.
            del like["id"]
        undo_id = f"{ap.like_id(actor, favourite_id or event.id)}/undo"
        return [Outgoing(ap.render_undo(actor, like, undo_id), liker.id, [inbox.inbox_url])]

    # --- follows ----------------------------------------------------------------------------

    async def _follow_requested(self, conn: Connection, event: DomainEvent) -> list[Outgoing]:
        follower = await _local_account(conn, event.payload.get("account_id"))
        target_id = _int(event.payload, "target_account_id")
        request_id = _int(event.payload, "follow_request_id")
        if follower is None or target_id is None or request_id is None:
            return []
        inbox = await recipients.fetch_personal_inbox(conn, account_id=target_id)
        if inbox is None:
            return []
        actor = self.urls.actor(follower.username)
        uri = await publishing_store.fetch_follow_request_uri(conn, request_id=request_id)
        if uri is None:
            uri = ap.follow_id(actor, request_id)
            await publishing_store.update_follow_request_uri(conn, request_id=request_id, uri=uri)
        activity = ap.render_follow(actor, inbox.uri, uri)
        return [Outgoing(activity, follower.id, [inbox.inbox_url])]

    async def _follow_undone(self, conn: Connection, event: DomainEvent) -> list[Outgoing]:
        payload = event.payload
        follower = await _local_account(conn, payload.get("account_id"))
        target_id = _int(payload, "target_account_id")
        if follower is None or target_id is None:
            return []
        inbox = await recipients.fetch_personal_inbox(conn, account_id=target_id)
        if inbox is None:
            return []
        actor = self.urls.actor(follower.username)
        request_id = _int(payload, "follow_request_id")
        follow_uri = payload.get("uri")
        if not isinstance(follow_uri, str):
            follow_uri = ap.follow_id(actor, request_id) if request_id is not None else None
        key = _int(payload, "follow_id") or request_id or event.id
        activity = ap.render_undo_follow(actor, inbox.uri, follow_uri, undo_key=key)
        return [Outgoing(activity, follower.id, [inbox.inbox_url])]

    async def _follow_answer(
        self, conn: Connection, event: DomainEvent
    ) -> tuple[Account, recipients.RemoteInbox, str | None, int] | None:
        """(local target, the remote follower's inbox, the Follow's id, a unique key)."""
        payload = event.payload
        target = await _local_account(conn, payload.get("target_account_id"))
        follower_id = _int(payload, "account_id")
        if target is None or follower_id is None:
            return None
        inbox = await recipients.fetch_personal_inbox(conn, account_id=follower_id)
        if inbox is None:
            return None
        uri = payload.get("uri")
        key = _int(payload, "follow_id") or _int(payload, "follow_request_id") or event.id
        return target, inbox, uri if isinstance(uri, str) else None, key

    async def _follow_accepted(self, conn: Connection, event: DomainEvent) -> list[Outgoing]:
        found = await self._follow_answer(conn, event)
        if found is None:
            return []
        target, inbox, follow_uri, key = found
        activity = ap.render_accept_follow(
            self.urls.actor(target.username), inbox.uri, follow_uri, accept_key=key
        )
        return [Outgoing(activity, target.id, [inbox.inbox_url])]

    async def _follow_rejected(self, conn: Connection, event: DomainEvent) -> list[Outgoing]:
        found = await self._follow_answer(conn, event)
        if found is None:
            return []
        target, inbox, follow_uri, key = found
        activity = ap.render_reject_follow(
            self.urls.actor(target.username), inbox.uri, follow_uri, reject_key=key
        )
        return [Outgoing(activity, target.id, [inbox.inbox_url])]

    # --- blocks and profile -----------------------------------------------------------------

    async def _block_target(
        self, conn: Connection, event: DomainEvent
    ) -> tuple[Account, recipients.RemoteInbox] | None:
        blocker = await _local_account(conn, event.payload.get("account_id"))
        target_id = _int(event.payload, "target_account_id")
        if blocker is None or target_id is None:
            return None
        inbox = await recipients.fetch_personal_inbox(conn, account_id=target_id)
        return None if inbox is None else (blocker, inbox)

    async def _block_created(self, conn: Connection, event: DomainEvent) -> list[Outgoing]:
        found = await self._block_target(conn, event)
        if found is None:
            return []
        blocker, inbox = found
        actor = self.urls.actor(blocker.username)
        block_id = _int(event.payload, "block_id") or event.id
        activity = ap.render_block(actor, inbox.uri, ap.block_id(actor, block_id))
        return [Outgoing(activity, blocker.id, [inbox.inbox_url])]

    async def _block_undone(self, conn: Connection, event: DomainEvent) -> list[Outgoing]:
        found = await self._block_target(conn, event)
        if found is None:
            return []
        blocker, inbox = found
        actor = self.urls.actor(blocker.username)
        block_id = _int(event.payload, "block_id")
        block = ap.render_block(actor, inbox.uri, ap.block_id(actor, block_id or event.id))
        if block_id is None:
            # The Block's id is not known any more; receivers match the Undo on actor+object.
            del block["id"]
        undo_id = f"{ap.block_id(actor, block_id or event.id)}/undo"
        return [Outgoing(ap.render_undo(actor, block, undo_id), blocker.id, [inbox.inbox_url])]

    async def _account_updated(self, conn: Connection, event: DomainEvent) -> list[Outgoing]:
        account = await _local_account(conn, event.payload.get("account_id"))
        if account is None:
            return []
        inboxes = await recipients.list_follower_inboxes(conn, account_id=account.id)
        activity = ap.render_update_person(account, self.urls, update_id=event.id)
        return [Outgoing(activity, account.id, inboxes)]

    # --- polls ------------------------------------------------------------------------------

    async def _poll_voted(self, conn: Connection, event: DomainEvent) -> list[Outgoing]:
        """A local vote on a peer's poll goes to the poll's author, one Create{Note} per chosen
        option. A vote on our own poll sends nothing itself: its new counts go out debounced,
        as `poll.updated` (fediverse/polls.py)."""
        payload = event.payload
        if payload.get("poll_is_local"):
            return []
        voter = await _local_account(conn, payload.get("account_id"))
        author_id = _int(payload, "poll_account_id")
        question_uri = payload.get("status_uri")
        if voter is None or author_id is None or not isinstance(question_uri, str):
            return []
        inbox = await recipients.fetch_personal_inbox(conn, account_id=author_id)
        if inbox is None:
            return []
        actor = self.urls.actor(voter.username)
        titles = [t for t in payload.get("options") or [] if isinstance(t, str)]
        keys = [k for k in payload.get("vote_ids") or [] if isinstance(k, int)]
        if len(keys) != len(titles):
            # Older events name no vote ids: derive stable ones from the event.
            keys = [event.id * 10 + index for index in range(len(titles))]
        return [
            Outgoing(
                ap.render_vote(
                    actor,
                    key=key,
                    option_title=title,
                    question_uri=question_uri,
                    poll_author_uri=inbox.uri,
                ),
                voter.id,
                [inbox.inbox_url],
            )
            for key, title in zip(keys, titles, strict=True)
        ]

    async def _poll_updated(self, conn: Connection, event: DomainEvent) -> list[Outgoing]:
        """Our poll's counts changed (at most once per poll every few minutes, see
        fediverse/polls.py) or it ended: Update{Question} to the author's followers and the
        remote voters (Mastodon's DistributePollUpdateWorker)."""
        found = await self._local_status(conn, event.payload.get("status_id"))
        if found is None:
            return []
        status, author = found
        parts = await load_note_parts(conn, status, author)
        if parts.poll is None:
            return []
        voters = await poll_store.list_remote_voter_ids(conn, poll_id=parts.poll.id)
        inboxes = set(await status_inboxes(conn, status, [m.id for m in parts.mentions]))
        inboxes.update(await recipients.list_preferred_inboxes(conn, account_ids=voters))
        activity = ap.render_update_question(parts, self.urls, update_id=event.id)
        return [Outgoing(activity, author.id, sorted(inboxes), status.id)]
