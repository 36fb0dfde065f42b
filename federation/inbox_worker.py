"""Applies stored inbox activities: claim due rows, dispatch, mark done or retry.

Several lanes run at once. Each lane claims a group of due activities inside the transaction
that applies them (row locks and a per-actor advisory lock, no lease written:
`fediverse.storage.inbox_activities.claim_group`), applies them in the order received, marks them
processed and commits: one commit per group, and a killed worker's rows are simply due again.
One actor's activities are never applied concurrently, and while they apply they apply in the
order received, so a Create comes before its Delete. An activity that fails and is retried
later does not hold back its actor's later ones (nor does Mastodon, which orders nothing).

A group is first applied straight through inside one savepoint. If any activity does not
simply apply (ignored, rejected, failed, or it needs a fetch), that attempt is rolled back and
the group redone with a savepoint per activity. An activity that would fetch from the network
is never applied inside the group (a group's locks and connection never wait on a peer): the
activities before it commit, it is leased and applied on its own in a transaction of its own
that holds its actor's lock, and its actor's later activities wait for it (until it is done,
or its lease runs out if the worker died).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from federation.actors import DocumentFetcher
from federation.handlers import dispatch
from federation.inbox import NOTIFY_CHANNEL
from federation.ingest import (
    ActivityIgnored,
    ActivityRejected,
    FetchFailed,
    IngestContext,
    is_plain_post,
)
from federation.signatures import RequestSigner
from fediverse import events, federation_rules
from fediverse.config import Settings
from fediverse.federation_rules import PolicySnapshot
from fediverse.remote_statuses import RemoteStatusDraft, store_remote_statuses
from fediverse.storage import accounts as account_store
from fediverse.storage import inbox_activities as store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Connection, Database
from fediverse.storage.inbox_activities import InboxActivity
from fediverse.storage.wakeups import run_woken
from fediverse.urls import LocalUrls

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8
# Activities applied in one transaction: long enough to share a commit, short enough that a
# redo (one savepoint each) and the row locks it holds stay small.
GROUP_SIZE = 25
# Activities that never change an account row: the accounts looked up for a group stay
# true while only these apply (any other type empties that lookup; see IngestContext).
_LEAVE_ACCOUNTS = frozenset({"Create", "Like", "Announce"})
# Groups one call of `run_once` lets each lane apply before returning (the loop around it
# checks for shutdown in between).
GROUPS_PER_LANE = 20
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def backoff(attempts: int, rng: random.Random) -> timedelta:
    """Capped exponential backoff with ±20% jitter: 30 s, 1 min, 2 min ... 1 h."""
    seconds = min(30 * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=seconds * rng.uniform(0.8, 1.2))


class _NeedsFetch(Exception):
    """Raised instead of fetching while applying a group: apply this activity on its own."""


class _Uneven(Exception):
    """An activity of a group applied straight through did not simply apply."""


def _is_plain_create(activity: dict[str, Any]) -> bool:
    """A Create embedding a new post that is neither a poll nor a reply (see is_plain_post)."""
    embedded = activity.get("object")
    return (
        activity.get("type") == "Create" and isinstance(embedded, dict) and is_plain_post(embedded)
    )


class _NoFetching:
    """The fetcher of a group transaction: any fetch defers the activity (see _NeedsFetch)."""

    async def get_document(
        self, url: str, *, signer: RequestSigner | None = None
    ) -> dict[str, Any]:
        raise _NeedsFetch(url)


class InboxWorker:
    """Processes the inbox queue. Runs inside `serve` or `fediverse worker`; tests step it."""

    def __init__(
        self,
        database: Database,
        client: DocumentFetcher,
        urls: LocalUrls,
        settings: Settings,
        *,
        clock: Clock = _utcnow,
        lanes: int = 8,
        max_attempts: int = MAX_ATTEMPTS,
        group_size: int = GROUP_SIZE,
        optimistic: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self.database = database
        self.client = client
        self.urls = urls
        self.settings = settings
        self.clock = clock
        self.lanes = lanes
        self.max_attempts = max_attempts
        self.group_size = group_size
        self.optimistic = optimistic
        self._rng = rng or random.Random()

    async def run_once(self) -> int:
        """Apply due activities in concurrent lanes until none is due (or each lane has done
        GROUPS_PER_LANE groups). Returns how many were claimed."""
        done = await asyncio.gather(*(self._lane() for _ in range(self.lanes)))
        return sum(done)

    async def run_until_idle(self) -> int:
        """Apply until nothing is due now (tests and benchmarks)."""
        total = 0
        while (done := await self.run_once()) > 0:
            total += done
        return total

    async def _lane(self) -> int:
        total = 0
        for _ in range(GROUPS_PER_LANE):
            try:
                claimed = await self._claim_and_apply()
            except Exception:  # a task boundary: the group rolled back and comes due again
                log.exception("inbox group failed; its activities stay due")
                break
            total += claimed
            if claimed < self.group_size:  # nothing more was due (for this lane)
                break
        return total

    async def _claim_and_apply(self) -> int:
        """One group: claim, apply, mark, commit; then the activity that needs a fetch, if one
        stopped the group. Returns how many activities were claimed."""
        now = self.clock()
        deferred: InboxActivity | None = None
        async with self.database.transaction() as conn:
            items = await store.claim_group(conn, now=now, limit=self.group_size)
            if not items:
                return 0
            try:
                async with conn.transaction():  # a savepoint: the claim survives a failure
                    deferred = await self._apply_group(conn, items, now)
            except Exception as exc:
                # A failure outside any one activity's savepoint (a statement of the group's
                # own). Each activity counts a try and backs off, recorded while the group's
                # locks are still held, so a group that keeps failing does not come straight
                # back forever. (If the connection itself is lost, the rows are due again.)
                log.exception("inbox group of %d failed", len(items))
                error = f"group failed: {exc.__class__.__name__}: {exc}"
                for item in items:
                    await self._record_failure(conn, item, error, self.clock())
                deferred = None
        if deferred is not None:
            await self.process(deferred)
        return len(items)

    async def _apply_group(
        self, conn: Connection, items: list[InboxActivity], now: datetime
    ) -> InboxActivity | None:
        """Apply and mark a claimed group; returns the activity to apply on its own with
        fetching (leased here), if one stopped the group."""
        # One policy snapshot for the group: the same rules decide all of it.
        policy = await federation_rules.load_snapshot(conn, now=now)
        if self.optimistic and await self._apply_straight(conn, items, policy):
            return None
        deferred = await self._apply_carefully(conn, items, policy)
        if deferred is None:
            return None
        if deferred.attempts >= self.max_attempts:
            # Leased that often and never finished (its worker died each time).
            await store.mark_processed(
                conn, row_id=deferred.id, now=now, note="gave up: never finished"
            )
            return None
        await store.lease_for_fetch(
            conn, row_id=deferred.id, lease_until=now + LEASE, attempts=deferred.attempts + 1
        )
        return deferred

    def _context(
        self,
        conn: Connection,
        policy: PolicySnapshot,
        looked_up: dict[str, Account] | None = None,
        deferred_posts: list[RemoteStatusDraft] | None = None,
    ) -> IngestContext:
        return IngestContext(
            conn=conn,
            fetcher=_NoFetching(),
            urls=self.urls,
            now=self.clock(),
            policy=policy,
            looked_up=looked_up,
            deferred_posts=deferred_posts,
        )

    async def _apply_straight(
        self, conn: Connection, items: list[InboxActivity], policy: PolicySnapshot
    ) -> bool:
        """Every activity in one savepoint, marked processed; False (and nothing kept) when
        one of them did not simply apply. The senders' accounts are read in one statement,
        the events the group records are written in one, and each run of new posts (neither
        polls nor replies) is stored with one INSERT, before any other activity applies."""
        posts: list[RemoteStatusDraft] = []
        try:
            async with conn.transaction(), events.batched(conn):
                actors = sorted({item.actor_uri for item in items})
                looked_up = {
                    account.uri: account
                    for account in await account_store.list_accounts_by_uris(conn, uris=actors)
                }
                for item in items:
                    if item.activity_type not in _LEAVE_ACCOUNTS:
                        looked_up.clear()
                    deferrable = _is_plain_create(item.payload)
                    if not deferrable:  # it may read or change what the posts before it store
                        await self._store_posts(conn, posts)
                    ctx = self._context(conn, policy, looked_up, posts if deferrable else None)
                    try:
                        await dispatch(ctx, item.payload)
                    except Exception as exc:  # rolled back; the careful pass sorts it out
                        raise _Uneven from exc
                await self._store_posts(conn, posts)
                done: list[tuple[int, str | None]] = [(item.id, None) for item in items]
                await store.mark_processed_many(conn, rows=done, now=self.clock())
        except _Uneven:
            return False
        except Exception:  # a statement of the group's own (events, marks): try carefully
            log.warning(
                "inbox group of %d: the one pass failed; applying one by one",
                len(items),
                exc_info=True,
            )
            return False
        return True

    async def _store_posts(self, conn: Connection, posts: list[RemoteStatusDraft]) -> None:
        """Store the posts deferred so far, with one INSERT (store_remote_statuses)."""
        if not posts:
            return
        try:
            await store_remote_statuses(conn, posts, now=self.clock())
        except Exception as exc:  # rolled back; the careful pass stores them one by one
            raise _Uneven from exc
        posts.clear()

    async def _apply_carefully(
        self, conn: Connection, items: list[InboxActivity], policy: PolicySnapshot
    ) -> InboxActivity | None:
        """Each activity in its own savepoint, marked processed (or rescheduled). Stops at the
        first activity that needs a fetch and returns it (those after it stay due)."""
        done: list[tuple[int, str | None]] = []
        failed: list[tuple[InboxActivity, str]] = []
        deferred: InboxActivity | None = None
        for item in items:
            note: str | None = None
            try:
                async with conn.transaction():  # a savepoint: a refusal leaves no trace
                    await dispatch(self._context(conn, policy), item.payload)
            except ActivityIgnored as ignored:
                note = f"ignored: {ignored.reason}"
            except ActivityRejected as rejected:
                note = f"rejected: {rejected.reason}"
                log.info("inbox %s rejected: %s", item.activity_id, rejected.reason)
            except _NeedsFetch:
                deferred = item
                break
            except FetchFailed as failure:
                failed.append((item, str(failure)))
                continue
            except Exception as exc:
                log.exception("inbox activity %s (%s) failed", item.activity_id, item.activity_type)
                failed.append((item, f"{exc.__class__.__name__}: {exc}"))
                continue
            done.append((item.id, note))
        now = self.clock()
        await store.mark_processed_many(conn, rows=done, now=now)
        for item, error in failed:
            await self._record_failure(conn, item, error, now)
        return deferred

    async def process(self, item: InboxActivity) -> None:
        """Apply one activity, fetching what it needs; a task boundary: every failure is
        recorded, none escapes."""
        error: str
        try:
            async with self.database.transaction() as conn:
                taken = await store.take_for_processing(
                    conn, row_id=item.id, actor_uri=item.actor_uri
                )
                if not taken:
                    return
                ctx = IngestContext(
                    conn=conn, fetcher=self.client, urls=self.urls, now=self.clock()
                )
                note: str | None = None
                try:
                    async with conn.transaction():  # a savepoint: a refusal leaves no trace
                        await dispatch(ctx, item.payload)
                except ActivityIgnored as ignored:
                    note = f"ignored: {ignored.reason}"
                except ActivityRejected as rejected:
                    note = f"rejected: {rejected.reason}"
                    log.info("inbox %s rejected: %s", item.activity_id, rejected.reason)
                await store.mark_processed(conn, row_id=item.id, now=self.clock(), note=note)
            return
        except FetchFailed as failed:
            error = str(failed)
        except Exception as exc:
            log.exception("inbox activity %s (%s) failed", item.activity_id, item.activity_type)
            error = f"{exc.__class__.__name__}: {exc}"
        try:
            async with self.database.transaction() as conn:
                await self._record_failure(conn, item, error, self.clock())
        except Exception:  # the lease runs out and the activity comes due again
            log.exception("could not record the failure of inbox activity %s", item.activity_id)

    async def _record_failure(
        self, conn: Connection, item: InboxActivity, error: str, now: datetime
    ) -> None:
        """This try of `item` (claimed with `item.attempts` tries before it) failed."""
        attempts = item.attempts + 1
        if attempts >= self.max_attempts:
            await store.mark_processed(conn, row_id=item.id, now=now, note=f"gave up: {error}")
        else:
            await store.reschedule(
                conn,
                row_id=item.id,
                next_attempt_at=now + backoff(attempts, self._rng),
                error=error,
                attempts=attempts,
            )

    async def run_forever(self, stop: asyncio.Event, *, idle_poll: float = 5.0) -> None:
        """Apply activities as they arrive; NOTIFY from `receive` wakes the loop."""
        await run_woken(
            self.database, NOTIFY_CHANNEL, self.run_once, stop, idle_poll=idle_poll, name="inbox"
        )
