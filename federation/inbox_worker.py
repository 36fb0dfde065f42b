"""Applies stored inbox activities: lease due rows (SKIP LOCKED), dispatch, mark done or retry.

One actor's activities are applied in the order received (a Create before its Delete); different
actors' run concurrently. The handler's effects and the "processed" mark commit together, so a
crash never applies an activity twice, and a killed worker's lease simply runs out.

A claimed batch is applied in a few groups, each one transaction with a savepoint per activity
(one commit per group, not per activity: commits are what the inbox queue waits on). An activity
that would fetch from the network is not applied in a group (no transaction stays open across a
fetch): the group commits what came before it, it is applied on its own, then grouping resumes.
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
from federation.ingest import ActivityIgnored, ActivityRejected, FetchFailed, IngestContext
from federation.signatures import RequestSigner
from fediverse import federation_rules
from fediverse.config import Settings
from fediverse.storage import inbox_activities as store
from fediverse.storage.database import Connection, Database
from fediverse.storage.inbox_activities import InboxActivity
from fediverse.storage.wakeups import run_woken
from fediverse.urls import LocalUrls

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8
# Activities applied in one transaction: long enough to share a commit, short enough that a
# failure's redo (one by one) and the row locks it holds stay small.
GROUP_SIZE = 25
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def backoff(attempts: int, rng: random.Random) -> timedelta:
    """Capped exponential backoff with ±20% jitter: 30 s, 1 min, 2 min ... 1 h."""
    seconds = min(30 * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=seconds * rng.uniform(0.8, 1.2))


class _NeedsFetch(Exception):
    """Raised instead of fetching while applying a group: apply this activity on its own."""


class _NoFetching:
    """The fetcher of a group transaction: any fetch defers the activity (see _NeedsFetch)."""

    async def get_document(
        self, url: str, *, signer: RequestSigner | None = None
    ) -> dict[str, Any]:
        raise _NeedsFetch(url)


def _groups(by_actor: dict[str, list[InboxActivity]], size: int) -> list[list[InboxActivity]]:
    """Whole per-actor runs packed into groups of about `size` activities, each group in the
    order received (an actor's activities never span two groups that run concurrently)."""
    groups: list[list[InboxActivity]] = []
    current: list[InboxActivity] = []
    for items in by_actor.values():
        if current and len(current) + len(items) > size:
            groups.append(current)
            current = []
        current.extend(items)
    if current:
        groups.append(current)
    return [sorted(group, key=lambda item: item.id) for group in groups]


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
        batch_size: int = 100,
        max_concurrency: int = 8,
        max_attempts: int = MAX_ATTEMPTS,
        group_size: int = GROUP_SIZE,
        rng: random.Random | None = None,
    ) -> None:
        self.database = database
        self.client = client
        self.urls = urls
        self.settings = settings
        self.clock = clock
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.group_size = group_size
        self._slots = asyncio.Semaphore(max_concurrency)
        self._rng = rng or random.Random()

    async def run_once(self) -> int:
        """Claim one batch of due activities and apply them. Returns how many were claimed."""
        now = self.clock()
        async with self.database.transaction() as conn:
            batch = await store.claim_due(
                conn, now=now, lease_until=now + LEASE, limit=self.batch_size
            )
        by_actor: dict[str, list[InboxActivity]] = {}
        for item in batch:
            by_actor.setdefault(item.actor_uri, []).append(item)
        groups = _groups(by_actor, self.group_size)
        await asyncio.gather(*(self._run_group(group) for group in groups))
        return len(batch)

    async def run_until_idle(self) -> int:
        """Apply until nothing is due now (tests and benchmarks)."""
        total = 0
        while (done := await self.run_once()) > 0:
            total += done
        return total

    async def _run_group(self, items: list[InboxActivity]) -> None:
        async with self._slots:
            rest = items
            while rest:
                try:
                    rest = await self._apply_together(rest)
                except Exception:  # a task boundary: the group rolled back, so redo it singly
                    log.exception("inbox group of %d failed; applying one by one", len(rest))
                    for item in rest:
                        await self.process(item)
                    return
                if rest:  # its first activity needs a fetch: apply it on its own, in order
                    await self.process(rest[0])
                    rest = rest[1:]

    async def _apply_together(self, items: list[InboxActivity]) -> list[InboxActivity]:
        """Apply a group in one transaction, each activity in its own savepoint, and mark them
        processed (or rescheduled) with it. Stops at the first activity that needs a fetch and
        returns it with those after it (still unapplied, so the order received holds)."""
        done: list[tuple[int, str | None]] = []
        failed: list[tuple[InboxActivity, str]] = []
        no_fetching = _NoFetching()
        async with self.database.transaction() as conn:
            # One policy snapshot for the group: the same rules decide all of it.
            policy = await federation_rules.load_snapshot(conn, now=self.clock())
            rest: list[InboxActivity] = []
            for position, item in enumerate(items):
                ctx = IngestContext(
                    conn=conn, fetcher=no_fetching, urls=self.urls, now=self.clock(), policy=policy
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
                except _NeedsFetch:
                    rest = items[position:]
                    break
                except FetchFailed as failure:
                    failed.append((item, str(failure)))
                    continue
                except Exception as exc:
                    log.exception(
                        "inbox activity %s (%s) failed", item.activity_id, item.activity_type
                    )
                    failed.append((item, f"{exc.__class__.__name__}: {exc}"))
                    continue
                done.append((item.id, note))
            now = self.clock()
            await store.mark_processed_many(conn, rows=done, now=now)
            for item, error in failed:
                await self._record_failure(conn, item, error, now)
        return rest

    async def process(self, item: InboxActivity) -> None:
        """Apply one activity; a task boundary: every failure is recorded, none escapes."""
        error: str
        try:
            async with self.database.transaction() as conn:
                ctx = IngestContext(
                    conn=conn, fetcher=self.client, urls=self.urls, now=self.clock()
                )
                note: str | None = None
                try:
                    async with (
                        conn.transaction()
                    ):  # a savepoint: a refused activity leaves no trace
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
        await self._retry_later(item, error)

    async def _retry_later(self, item: InboxActivity, error: str) -> None:
        now = self.clock()
        async with self.database.transaction() as conn:
            await self._record_failure(conn, item, error, now)

    async def _record_failure(
        self, conn: Connection, item: InboxActivity, error: str, now: datetime
    ) -> None:
        if item.attempts >= self.max_attempts:
            await store.mark_processed(conn, row_id=item.id, now=now, note=f"gave up: {error}")
        else:
            await store.reschedule(
                conn,
                row_id=item.id,
                next_attempt_at=now + backoff(item.attempts, self._rng),
                error=error,
            )

    async def run_forever(self, stop: asyncio.Event, *, idle_poll: float = 5.0) -> None:
        """Apply activities as they arrive; NOTIFY from `receive` wakes the loop."""
        await run_woken(
            self.database, NOTIFY_CHANNEL, self.run_once, stop, idle_poll=idle_poll, name="inbox"
        )
