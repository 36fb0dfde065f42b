"""Applies stored inbox activities: lease due rows (SKIP LOCKED), dispatch, mark done or retry.

One actor's activities are applied in the order received (a Create before its Delete); different
actors' run concurrently. The handler's effects and the "processed" mark commit together, so a
crash never applies an activity twice, and a killed worker's lease simply runs out.
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
from fediverse.config import Settings
from fediverse.storage import inbox_activities as store
from fediverse.storage.database import Database
from fediverse.storage.inbox_activities import InboxActivity
from fediverse.urls import LocalUrls

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def backoff(attempts: int, rng: random.Random) -> timedelta:
    """Capped exponential backoff with ±20% jitter: 30 s, 1 min, 2 min ... 1 h."""
    seconds = min(30 * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=seconds * rng.uniform(0.8, 1.2))


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
        rng: random.Random | None = None,
    ) -> None:
        self.database = database
        self.client = client
        self.urls = urls
        self.settings = settings
        self.clock = clock
        self.batch_size = batch_size
        self.max_attempts = max_attempts
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
        await asyncio.gather(*(self._run_in_order(items) for items in by_actor.values()))
        return len(batch)

    async def run_until_idle(self) -> int:
        """Apply until nothing is due now (tests and benchmarks)."""
        total = 0
        while (done := await self.run_once()) > 0:
            total += done
        return total

    async def _run_in_order(self, items: list[InboxActivity]) -> None:
        async with self._slots:
            for item in items:
                await self.process(item)

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
        wake = asyncio.Event()

        def on_notify(*_: Any) -> None:
            wake.set()

        async with self.database.connection() as listener:
            await listener.add_listener(NOTIFY_CHANNEL, on_notify)
            try:
                while not stop.is_set():
                    try:
                        while await self.run_once():
                            if stop.is_set():
                                return
                    except Exception:
                        log.exception("inbox loop failed; retrying shortly")
                    wake.clear()
                    waiter = asyncio.ensure_future(wake.wait())
                    stopper = asyncio.ensure_future(stop.wait())
                    await asyncio.wait(
                        {waiter, stopper}, timeout=idle_poll, return_when=asyncio.FIRST_COMPLETED
                    )
                    waiter.cancel()
                    stopper.cancel()
            finally:
                await listener.remove_listener(NOTIFY_CHANNEL, on_notify)
