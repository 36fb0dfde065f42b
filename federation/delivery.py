"""The outgoing delivery queue: enqueue per inbox, deliver signed, retry with backoff.

Each (activity, inbox) is one row, so a shared inbox gets one request however many followers
live behind it. Workers lease due rows with `FOR UPDATE SKIP LOCKED` in a short transaction and
POST outside it; a worker killed mid-request loses nothing because its lease simply expires.
Requests are signed at send time with draft-cavage first; a 401 is retried at once with RFC 9421
(double-knock) and the scheme that worked is remembered per domain.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson

from federation.policy import is_farewell
from federation.signatures import RequestSigner
from fediverse import federation_rules, ids
from fediverse.storage import accounts as account_store
from fediverse.storage import deliveries as delivery_store
from fediverse.storage import federation_rules as rules_store
from fediverse.storage.database import Connection, Database
from fediverse.storage.deliveries import Delivery
from fediverse.storage.wakeups import run_woken

log = logging.getLogger(__name__)

DELIVERY_WINDOW = timedelta(days=2)
LEASE = timedelta(minutes=5)
UNREACHABLE_AFTER_DAYS = 3
NOTIFY_CHANNEL = "deliveries"


class DeliveryNetworkError(Exception):
    """The request did not get an HTTP answer (connection refused, timeout, TLS, ...)."""


class DeliveryRefused(Exception):
    """The federation policy forbids this delivery (the domain may not federate): final."""


# POST body to inbox signed by signer with scheme ("draft-cavage" | "rfc9421") → HTTP status.
Poster = Callable[[str, bytes, RequestSigner, str], Awaitable[int]]
Clock = Callable[[], datetime]


def domain_of(url: str) -> str:
    """The domain as Mastodon names it (lower-case host, plus the port when not the default),
    normalized as the federation policy decides on it."""
    return federation_rules.domain_of_url(url) or urlsplit(url).netloc.lower()


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def enqueue(
    conn: Connection,
    *,
    activity: dict[str, Any],
    sender_account_id: int | None,
    inboxes: Iterable[str],
    status_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Queue one delivery per distinct inbox (in the caller's transaction). Returns the count.

    Domains that failed on several distinct days are recorded as skipped, not retried.
    Domains that may not federate (federation policy) are recorded as failed, with the reason;
    an Undo/Reject of a Follow still goes to a peer that is no longer allowed but not suspended.
    """
    moment = now or _utcnow()
    unique = sorted(set(inboxes))
    if not unique:
        return 0
    unreachable = await delivery_store.list_unreachable_domains(
        conn, min_days=UNREACHABLE_AFTER_DAYS
    )
    body = orjson.dumps(activity)
    activity_id = str(activity["id"])
    snapshot = await federation_rules.load_snapshot(conn, now=moment)
    farewell = is_farewell(body)
    refused: dict[str, str] = {}
    rows = []
    for inbox in unique:
        domain = domain_of(inbox)
        decision = snapshot.decide(domain)
        state = "skipped" if domain in unreachable else "pending"
        if not decision.federates and not (farewell and decision.may_receive_farewell):
            state = "failed"
            refused[inbox] = f"{decision.domain} is not allowed to federate ({decision.reason})"
        rows.append(
            (
                ids.new_id(),
                activity_id,
                inbox,
                domain,
                sender_account_id,
                status_id,
                body,
                moment + DELIVERY_WINDOW,
                state,
                moment,
            )
        )
    await delivery_store.insert_deliveries(conn, rows=rows)
    for reason in set(refused.values()):
        await rules_store.note_refused_deliveries(
            conn,
            activity_id=activity_id,
            inbox_urls=[inbox for inbox, why in refused.items() if why == reason],
            error=reason,
        )
    await conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
    return len(rows)


def backoff(attempts: int, rng: random.Random) -> timedelta:
    """Capped exponential backoff with ±20% jitter: 30 s, 1 min, 2 min ... 6 h."""
    seconds = min(30 * 2 ** max(attempts - 1, 0), 6 * 3600)
    return timedelta(seconds=seconds * rng.uniform(0.8, 1.2))


def is_permanent(status_code: int) -> bool:
    """4xx means the peer will never accept it, except auth, timeout and rate limiting."""
    return 400 <= status_code < 500 and status_code not in (401, 408, 429)


class DeliveryWorker:
    """Delivers due rows. Runs inside `serve` or as `fediverse worker`; tests step it."""

    def __init__(
        self,
        database: Database,
        post: Poster,
        *,
        clock: Clock = _utcnow,
        # In-flight requests are mostly waiting on peers, so the global cap is well above the
        # cores: at 32, a 1,000-inbox fan-out on loopback left the worker half idle
        # (bench/fanout.py). Each peer still sees at most `per_host` at once.
        max_concurrency: int = 128,
        per_host: int = 4,
        batch_size: int = 500,
        rng: random.Random | None = None,
    ) -> None:
        self.database = database
        self.post = post
        self.clock = clock
        self.batch_size = batch_size
        self._global = asyncio.Semaphore(max_concurrency)
        self._per_host_limit = per_host
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._signers: dict[int, RequestSigner] = {}
        self._schemes: dict[str, str] = {}
        self._rng = rng or random.Random()

    async def _signer(self, account_id: int) -> RequestSigner:
        signer = self._signers.get(account_id)
        if signer is None:
            async with self.database.connection() as conn:
                account = await account_store.fetch_account(conn, account_id=account_id)
                pem = await account_store.fetch_private_key_pem(conn, account_id=account_id)
            if account is None or pem is None or account.public_key_id is None:
                raise LookupError(f"no signing key for account {account_id}")
            signer = RequestSigner(key_id=account.public_key_id, private_key_pem=pem)
            self._signers[account_id] = signer
        return signer

    async def _load_schemes(self, domains: set[str]) -> None:
        """The remembered signature schemes of a batch's new domains, in one query rather than
        one per domain (a fan-out reaches hundreds of new domains at once)."""
        unknown = sorted(domains - self._schemes.keys())
        if not unknown:
            return
        async with self.database.connection() as conn:
            stored = await delivery_store.list_signature_schemes(conn, domains=unknown)
        for domain in unknown:
            self._schemes[domain] = "rfc9421" if stored.get(domain) == "rfc9421" else "draft-cavage"

    async def run_once(self) -> int:
        """Claim one batch of due deliveries and attempt each. Returns how many were tried."""
        now = self.clock()
        async with self.database.transaction() as conn:
            batch = await delivery_store.claim_due(
                conn, now=now, lease_until=now + LEASE, limit=self.batch_size
            )
        if batch:
            await self._load_schemes({delivery.domain for delivery in batch})
            outcomes = await asyncio.gather(*(self._attempt(delivery) for delivery in batch))
            delivered = [outcome for outcome in outcomes if outcome is not None]
            if delivered:
                # One statement per batch rather than one per delivery: ~20% of the worker's
                # CPU in a fan-out (bench/fanout.py). A worker killed before this line sends
                # these again when their lease runs out; inboxes dedupe by activity id.
                async with self.database.connection() as conn:
                    await delivery_store.mark_delivered_many(conn, delivered=delivered)
        return len(batch)

    async def run_until_idle(self) -> int:
        """Deliver until nothing is due now (tests and benchmarks)."""
        total = 0
        while True:
            done = await self.run_once()
            total += done
            if done == 0:
                return total

    async def _attempt(self, delivery: Delivery) -> tuple[int, int, str] | None:
        """POST one delivery. A success is returned as (id, status, domain) for run_once to
        record with the rest of its batch; anything else is recorded here."""
        host = self._hosts.setdefault(delivery.domain, asyncio.Semaphore(self._per_host_limit))
        async with self._global, host:
            status_code: int | None = None
            error = ""
            try:
                if delivery.sender_account_id is None:
                    raise LookupError("delivery has no sender")
                signer = await self._signer(delivery.sender_account_id)
                # run_once loaded every domain of the batch (_load_schemes).
                scheme = self._schemes.get(delivery.domain, "draft-cavage")
                status_code = await self.post(delivery.inbox_url, delivery.body, signer, scheme)
                if status_code == 401 and scheme == "draft-cavage":
                    # Double-knock: the peer may accept only RFC 9421 signatures.
                    retry_code = await self.post(
                        delivery.inbox_url, delivery.body, signer, "rfc9421"
                    )
                    if 200 <= retry_code < 300:
                        self._schemes[delivery.domain] = "rfc9421"
                        async with self.database.connection() as conn:
                            await delivery_store.upsert_signature_scheme(
                                conn, domain=delivery.domain, scheme="rfc9421"
                            )
                    status_code = retry_code
                error = f"HTTP {status_code}"
            except DeliveryRefused as exc:
                async with self.database.transaction() as conn:
                    await delivery_store.mark_failed(
                        conn, delivery_id=delivery.id, status_code=None, error=str(exc)
                    )
                log.info("refused %s to %s: %s", delivery.activity_id, delivery.inbox_url, exc)
                return None
            except DeliveryNetworkError as exc:
                error = str(exc) or exc.__class__.__name__
            except Exception as exc:  # a task boundary: log, keep the row for a retry
                log.exception("delivery %s to %s crashed", delivery.id, delivery.inbox_url)
                error = f"{exc.__class__.__name__}: {exc}"
            if status_code is not None and 200 <= status_code < 300:
                # DEBUG: one line per inbox per post floods the log (and formatting and writing
                # it was 15% of the serving process in a fan-out, bench/fanout.py); failures and
                # give-ups stay at INFO, and the deliveries table keeps every outcome.
                log.debug(
                    "delivered %s to %s (%s)", delivery.activity_id, delivery.inbox_url, status_code
                )
                return delivery.id, status_code, delivery.domain
            await self._record(delivery, status_code, error)
            return None

    async def _record(self, delivery: Delivery, status_code: int | None, error: str) -> None:
        """A failed attempt: given up (permanent 4xx, past the deadline) or rescheduled."""
        now = self.clock()
        async with self.database.transaction() as conn:
            if status_code is not None and is_permanent(status_code):
                await delivery_store.mark_failed(
                    conn, delivery_id=delivery.id, status_code=status_code, error=error
                )
                log.info("gave up %s to %s: %s", delivery.activity_id, delivery.inbox_url, error)
                return
            if status_code is None or status_code >= 500:
                await delivery_store.record_failure_day(
                    conn, domain=delivery.domain, day=now.date(), error=error
                )
            next_at = now + backoff(delivery.attempts, self._rng)
            if next_at > delivery.deadline:
                await delivery_store.mark_failed(
                    conn, delivery_id=delivery.id, status_code=status_code, error=error
                )
                log.info("expired %s to %s: %s", delivery.activity_id, delivery.inbox_url, error)
            else:
                await delivery_store.reschedule(
                    conn,
                    delivery_id=delivery.id,
                    next_attempt_at=next_at,
                    status_code=status_code,
                    error=error,
                )

    async def run_forever(self, stop: asyncio.Event, *, idle_poll: float = 5.0) -> None:
        """Deliver as rows come due; LISTEN wakes the loop when something is enqueued."""
        await run_woken(
            self.database, NOTIFY_CHANNEL, self.run_once, stop, idle_poll=idle_poll, name="delivery"
        )
