"""The one place that answers "may we federate with domain X" at run time.

`FederationPolicy` keeps a snapshot of the mode and rules (fediverse/federation_rules.py) for
`ttl` seconds, so a change made by any process (the CLI, another web process) is seen within
that time, and at once in the process that made it (`invalidate`). The FederationClient asks
it before every request, the inbox before fetching a key or storing anything, signed GETs
before serving, the delivery queue before enqueueing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from federation.activitystreams import host_of, id_of
from federation.signatures import SignatureError, normalize_headers, parse_cavage_params
from fediverse import federation_rules as rules
from fediverse import relationships
from fediverse.errors import DomainError
from fediverse.federation_rules import Decision, FederationRefused, PolicySnapshot
from fediverse.storage import accounts as account_store
from fediverse.storage.database import Database

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 2.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


class FederationPolicy:
    """Cached decisions for one process; `ttl=0` reads the database on every question."""

    def __init__(
        self,
        database: Database,
        *,
        local_domain: str,
        ttl: float = DEFAULT_TTL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.database = database
        self.local_domain = rules.normalize_domain(local_domain)
        self.ttl = ttl
        self._monotonic = monotonic
        self._clock = clock
        self._snapshot: PolicySnapshot | None = None
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """Forget the snapshot (call after committing a change)."""
        self._snapshot = None

    async def snapshot(self) -> PolicySnapshot:
        current = self._snapshot
        if current is not None and self._monotonic() - self._loaded_at < self.ttl:
            return current
        async with self._lock:
            current = self._snapshot
            if current is not None and self._monotonic() - self._loaded_at < self.ttl:
                return current
            async with self.database.connection() as conn:
                current = await rules.load_snapshot(conn, now=self._clock())
            self._snapshot = current
            self._loaded_at = self._monotonic()
            return current

    async def decide(self, domain: str) -> Decision:
        """The decision for a domain (`host[:port]`); our own domain always federates."""
        name = domain.lower().rstrip(".")
        if name == self.local_domain:
            return Decision(domain=name, federates=True, reason="local")
        return (await self.snapshot()).decide(name)

    async def decide_url(self, url: str) -> Decision:
        domain = rules.domain_of_url(url)
        if domain is None:
            return Decision(domain=url, federates=False, reason=f"{url!r} names no server")
        return await self.decide(domain)


class DomainGate(Protocol):
    """What the FederationClient needs of the policy."""

    async def decide_url(self, url: str) -> Decision: ...


# --- activities that only end a relationship --------------------------------------------------


def is_farewell(body: bytes) -> bool:
    """An Undo of a Follow or a Reject of a Follow: what severing sends to a peer that is no
    longer allowed but not suspended, so it stops thinking the follow exists."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(document, dict) or document.get("type") not in ("Undo", "Reject"):
        return False
    inner = document.get("object")
    return isinstance(inner, dict) and inner.get("type") == "Follow"


# --- inbound --------------------------------------------------------------------------------


def claimed_key_id(headers: Mapping[str, str]) -> str | None:
    """The keyId a request's signature names, read without fetching or verifying anything."""
    normalized = normalize_headers(headers)
    if "signature-input" in normalized:
        value = normalized["signature-input"]
        marker = 'keyid="'
        start = value.find(marker)
        if start < 0:
            return None
        end = value.find('"', start + len(marker))
        return value[start + len(marker) : end] if end > 0 else None
    raw = normalized.get("signature")
    if raw is None:
        auth = normalized.get("authorization", "")
        raw = auth[10:] if auth[:10].lower() == "signature " else None
    if raw is None:
        return None
    try:
        return parse_cavage_params(raw).get("keyId")
    except (SignatureError, ValueError):
        return None


async def refused_sender(
    policy: DomainGate | None,
    *,
    headers: Mapping[str, str] | None,
    document: dict[str, Any] | None,
) -> Decision | None:
    """The refusing decision for a request whose keyId host (from `headers`) or actor host
    (from `document`) may not federate, else None. Called before any key is fetched or
    anything is stored."""
    if policy is None:
        return None
    urls = []
    key_id = claimed_key_id(headers) if headers is not None else None
    if key_id:
        urls.append(key_id)
    if document is not None:
        actor = id_of(document.get("actor"))
        if actor:
            urls.append(actor)
    for url in urls:
        if not host_of(url):
            continue
        decision = await policy.decide_url(url)
        if not decision.federates:
            return decision
    return None


# --- federation requests -------------------------------------------------------------------


class AccountResolver(Protocol):
    async def resolve_account(self, conn: Any, username: str, domain: str) -> int | None: ...


async def complete_approved_requests(
    database: Database, resolver: AccountResolver, *, now: datetime | None = None
) -> int:
    """For approved requests that asked to follow: resolve the account and send the follow.
    Returns how many follows were sent."""
    moment = now or _utcnow()
    sent = 0
    async with database.connection() as conn:
        pending = await rules.approved_follows_to_complete(conn)
    for request in pending:
        username, _, domain = request.acct.rpartition("@")
        try:
            async with database.transaction() as conn:
                target_id = await resolver.resolve_account(conn, username, domain)
                requester = await account_store.fetch_account(
                    conn, account_id=request.requester_account_id or 0
                )
                if target_id is None and requester is not None:
                    continue  # not reachable now: the next upkeep round tries again
                if target_id is not None and requester is not None:
                    target = await account_store.fetch_account(conn, account_id=target_id)
                    if target is not None:
                        await relationships.follow(conn, account=requester, target=target)
                        sent += 1
                await rules.mark_request_completed(conn, request_id=request.id, now=moment)
        except DomainError as error:
            log.info("approved request %s cannot follow %s: %s", request.id, request.acct, error)
    return sent


async def upkeep(
    database: Database, policy: FederationPolicy, resolver: AccountResolver | None
) -> int:
    """One round: apply rule changes whose grace period ended, send approved requests' follows.
    Returns the work done."""
    async with database.transaction() as conn:
        applied = await rules.apply_due(conn, now=_utcnow())
    if applied:
        policy.invalidate()
    sent = 0 if resolver is None else await complete_approved_requests(database, resolver)
    return applied + sent


async def run_upkeep_forever(
    database: Database,
    policy: FederationPolicy,
    resolver: AccountResolver | None,
    stop: asyncio.Event,
    *,
    interval: float = 30.0,
) -> None:
    """`upkeep` every `interval` seconds until `stop` (in `serve` and `fediverse worker`)."""
    while not stop.is_set():
        try:
            await upkeep(database, policy, resolver)
        except Exception:  # a task boundary: log and carry on next round
            log.exception("federation upkeep failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass


__all__ = [
    "Decision",
    "DomainGate",
    "FederationPolicy",
    "FederationRefused",
    "claimed_key_id",
    "complete_approved_requests",
    "is_farewell",
    "refused_sender",
    "run_upkeep_forever",
    "upkeep",
]
