"""Federation control: the mode (open or allowlist), domain rules (allow; block with severity
silence, suspend or noop), what a change severs, federation requests from staff, and the audit
log of every admin change. `federation/policy.py` asks `PolicySnapshot.decide` at the edges.

A domain is named as Mastodon names a server: host plus port when not the default,
lower case, IDNA, no trailing dot. A rule covers its subdomains; a rule without a port covers
every port of the host, one with a port only that port.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from fediverse import ids, relationships
from fediverse.errors import DomainError, NotFound, ValidationError
from fediverse.storage import accounts as account_store
from fediverse.storage import federation_rules as store
from fediverse.storage import notifications as notification_store
from fediverse.storage import severance_events as severance_store
from fediverse.storage.database import Connection
from fediverse.storage.federation_rules import (
    AuditRow,
    DomainFigureRow,
    DomainRuleRow,
    FederationRequestRow,
    RemoteTie,
)
from fediverse.url_cache import UrlCached

AuditEntry = AuditRow
DomainRule = DomainRuleRow
DomainFigures = DomainFigureRow
FederationRequest = FederationRequestRow

SEVERITIES = ("silence", "suspend", "noop")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


class Mode(StrEnum):
    OPEN = "open"
    ALLOWLIST = "allowlist"


class FederationRefused(DomainError):
    """A lookup or follow on a domain that may not federate with us (Mastodon-like 422)."""

    status = 422

    def __init__(self, domain: str, *, requestable: bool, acct: str | None = None) -> None:
        super().__init__(f"{domain} is not allowed to federate with this server")
        self.domain = domain
        self.acct = acct
        # In allowlist mode (no explicit block) a staff member may ask for the domain.
        self.requestable = requestable


class DomainBlockExists(DomainError):
    """Creating a block for a domain that has one (Mastodon answers 422 with the existing)."""

    status = 422

    def __init__(self, existing: DomainRuleRow) -> None:
        super().__init__(f"{existing.domain} is already blocked")
        self.existing = existing


# --- names ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def normalize_domain(raw: str) -> str:
    """`LOCALHOST:8001.` → `localhost:8001`; `Bücher.Example` → `xn--bcher-kva.example`;
    a URL gives its host. Default ports (80, 443) are dropped. ValidationError if not a name."""
    text = raw.strip()
    if "://" in text:
        parts = urlsplit(text)
        text = parts.netloc.rsplit("@", 1)[-1]
    text = text.lstrip("@").removeprefix("*.")
    host, _, port = text.partition(":")
    if text.startswith("["):
        raise ValidationError(f"{raw!r} is not a domain name", field="domain")
    host = host.rstrip(".").lower()
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValidationError(f"{raw!r} is not a domain name", field="domain") from None
    labels = host.split(".")
    if not host or len(host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise ValidationError(f"{raw!r} is not a domain name", field="domain")
    if port:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValidationError(f"{raw!r} has a bad port", field="domain")
        if int(port) not in (80, 443):
            return f"{host}:{int(port)}"
    return host


@UrlCached
def domain_of_url(url: str) -> str | None:
    """The normalized domain of an absolute URL, or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = parts.hostname
    try:
        return normalize_domain(host if port in (None, default) else f"{host}:{port}")
    except ValidationError:
        return None


def covers(rule_domain: str, domain: str) -> bool:
    """Whether a rule for `rule_domain` applies to `domain` (mirrors the SQL function
    federation_domain_covers in migration 0007)."""
    rule_host, _, rule_port = rule_domain.partition(":")
    host, _, port = domain.partition(":")
    if rule_port and rule_port != port:
        return False
    return host == rule_host or host.endswith("." + rule_host)


# --- the policy -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What we do with one domain right now."""

    domain: str
    federates: bool
    silenced: bool = False
    suspended: bool = False
    reject_media: bool = False
    reject_reports: bool = False
    reason: str = ""

    @property
    def may_receive_farewell(self) -> bool:
        """Undo Follow / Reject Follow may still go out (the peer is not suspended)."""
        return self.federates or not self.suspended


@dataclass(frozen=True)
class PolicySnapshot:
    """The mode and the rules in force at `taken_at`."""

    mode: Mode
    allows: tuple[str, ...]
    blocks: tuple[DomainRuleRow, ...]
    taken_at: datetime
    # Decisions already made from these rules (a snapshot never changes; hosts repeat a lot).
    _decided: dict[str, Decision] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def decide(self, domain: str) -> Decision:
        known = self._decided.get(domain)
        if known is None:
            if len(self._decided) >= 10_000:  # names come from strangers: stay bounded
                self._decided.clear()
            known = self._decided[domain] = self._decide(domain)
        return known

    def _decide(self, domain: str) -> Decision:
        name = domain.lower().rstrip(".")
        matching = [rule for rule in self.blocks if covers(rule.domain, name)]
        suspended = any(rule.severity == "suspend" for rule in matching)
        silenced = any(rule.severity == "silence" for rule in matching)
        allowed = self.mode == Mode.OPEN or any(covers(allow, name) for allow in self.allows)
        if suspended:
            reason = f"{name} is blocked (suspended)"
        elif not allowed:
            reason = f"{name} is not in the allowlist"
        else:
            reason = "allowed"
        return Decision(
            domain=name,
            federates=allowed and not suspended,
            silenced=silenced,
            suspended=suspended,
            reject_media=suspended or any(rule.reject_media for rule in matching),
            reject_reports=suspended or any(rule.reject_reports for rule in matching),
            reason=reason,
        )


def _in_force(rule: DomainRuleRow, now: datetime) -> bool:
    return rule.effective_at <= now and (rule.ends_at is None or rule.ends_at > now)


async def read_mode(conn: Connection) -> Mode:
    value = await store.fetch_setting(conn, key=store.MODE_SETTING)
    return Mode.ALLOWLIST if value == Mode.ALLOWLIST.value else Mode.OPEN


async def load_snapshot(conn: Connection, *, now: datetime) -> PolicySnapshot:
    rules = [rule for rule in await store.list_rules(conn) if _in_force(rule, now)]
    return PolicySnapshot(
        mode=await read_mode(conn),
        allows=tuple(rule.domain for rule in rules if rule.kind == "allow"),
        blocks=tuple(rule for rule in rules if rule.kind == "block"),
        taken_at=now,
    )


async def ensure_may_federate(
    conn: Connection, *, domain: str | None, now: datetime, acct: str | None = None
) -> None:
    """FederationRefused unless `domain` (None = local) may federate with us."""
    if domain is None:
        return
    snapshot = await load_snapshot(conn, now=now)
    decision = snapshot.decide(normalize_domain(domain))
    if not decision.federates:
        raise FederationRefused(
            decision.domain,
            requestable=snapshot.mode == Mode.ALLOWLIST and not decision.suspended,
            acct=acct,
        )


# --- who changes things, and the audit log -------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who made a change: an admin account (API/console) or a CLI user."""

    label: str
    account_id: int | None = None


def rule_json(rule: DomainRuleRow | None) -> dict[str, Any] | None:
    if rule is None:
        return None
    data = asdict(rule)
    for key, value in data.items():
        if isinstance(value, datetime):
            data[key] = value.isoformat()
    data["id"] = str(rule.id)
    return data


async def record_audit(
    conn: Connection,
    *,
    who: Actor,
    action: str,
    target: str,
    before: Any,
    after: Any,
    now: datetime,
) -> None:
    await store.insert_audit(
        conn,
        entry_id=ids.new_id(),
        actor=who.label,
        actor_account_id=who.account_id,
        action=action,
        target=target,
        before=before,
        after=after,
        now=now,
    )


async def list_audit(
    conn: Connection,
    *,
    limit: int = 100,
    before_id: int | None = None,
    action_prefix: str | None = None,
) -> list[AuditRow]:
    return await store.list_audit(
        conn, limit=max(1, min(limit, 500)), before_id=before_id, action_prefix=action_prefix
    )


# --- severing ---------------------------------------------------------------------------------


@dataclass
class SeverReport:
    """What a change ended: follows of local accounts there, followers from there."""

    following: int = 0
    followers: int = 0
    farewells: int = 0
    accounts_removed: int = 0
    domains: list[str] = field(default_factory=list)


async def _sever(conn: Connection, *, now: datetime, report: SeverReport) -> None:
    """End every follow and request with a domain that may no longer federate. Undo/Reject
    go out (as events) where the peer may still receive them; affected staff are notified."""
    snapshot = await load_snapshot(conn, now=now)
    refused = [
        domain
        for domain in await store.list_remote_tie_domains(conn)
        if not snapshot.decide(domain).federates
    ]
    if not refused:
        return
    ties = await store.list_remote_ties(conn, domains=refused)
    # (domain, local account) -> [following, followers] severed.
    affected: dict[tuple[str, int], list[int]] = {}
    for tie in ties:
        decision = snapshot.decide(tie.remote_domain)
        if tie.remote_domain not in report.domains:
            report.domains.append(tie.remote_domain)
        if decision.may_receive_farewell:
            await _end_tie_with_farewell(conn, tie)
            report.farewells += 1
        elif tie.table == "follows":
            await store.delete_follows(conn, follow_ids=[tie.id])
        else:
            await store.delete_follow_requests(conn, request_ids=[tie.id])
        counts = affected.setdefault((tie.remote_domain, tie.local_account_id), [0, 0])
        if tie.local_is_follower:
            report.following += 1
            counts[0] += 1
        else:
            report.followers += 1
            counts[1] += 1
    await _record_severance(conn, affected, snapshot, now=now)


async def _record_severance(
    conn: Connection,
    affected: dict[tuple[str, int], list[int]],
    snapshot: PolicySnapshot,
    *,
    now: datetime,
) -> None:
    """Mastodon 4.3's record of what an admin's moderation cut: an event per domain, and per
    local account its counts and a `severed_relationships` notification that carries them.

    `purged` is always true: it tells apps whether the list of severed relationships can still
    be downloaded (Mastodon's web app then links to /severed_relationships), and this server
    keeps no such list."""
    event_ids: dict[str, int] = {}
    for (domain, account_id), (following, followers) in affected.items():
        if domain not in event_ids:
            event_ids[domain] = ids.new_id()
            await severance_store.insert_event(
                conn,
                event_id=event_ids[domain],
                type="domain_block",
                target_name=domain,
                purged=True,
                now=now,
            )
        notification_id = ids.new_id()
        notified = await notification_store.insert_notification(
            conn,
            notification_id=notification_id,
            account_id=account_id,
            from_account_id=account_id,
            type="severed_relationships",
            status_id=None,
            group_key=f"ungrouped-{notification_id}",
        )
        await severance_store.insert_account_event(
            conn,
            account_event_id=ids.new_id(),
            account_id=account_id,
            event_id=event_ids[domain],
            notification_id=notification_id if notified else None,
            followers_count=followers,
            following_count=following,
            now=now,
        )


async def _end_tie_with_farewell(conn: Connection, tie: RemoteTie) -> None:
    local = await account_store.fetch_account(conn, account_id=tie.local_account_id)
    remote = await account_store.fetch_account(conn, account_id=tie.remote_account_id)
    if local is None or remote is None:
        return
    if tie.local_is_follower:
        await relationships.unfollow(conn, account=local, target=remote)
    else:
        await relationships.remove_from_followers(conn, account=local, follower=remote)


async def _apply_rule(conn: Connection, rule: DomainRuleRow, *, now: datetime) -> SeverReport:
    """Carry out a rule now in force: silence or remove the domain's accounts, sever."""
    report = SeverReport()
    if rule.kind == "block" and rule.severity == "silence":
        await store.silence_accounts_covered_by(conn, rule_domain=rule.domain, at=rule.effective_at)
    await _sever(conn, now=now, report=report)
    if rule.kind == "block" and rule.severity == "suspend":
        await store.fail_pending_deliveries_covered_by(
            conn, rule_domain=rule.domain, error=f"{rule.domain} is suspended by this server"
        )
        report.accounts_removed = await store.delete_accounts_covered_by(
            conn, rule_domain=rule.domain
        )
    await store.update_rule(conn, rule_id=rule.id, changes={"applied_at": now}, now=now)
    return report


async def _after_removal(conn: Connection, rule: DomainRuleRow, *, now: datetime) -> SeverReport:
    """A rule is gone: lift its silence; an allow gone in allowlist mode severs."""
    if rule.kind == "block" and rule.severity == "silence":
        await store.unsilence_accounts_covered_by(
            conn, rule_domain=rule.domain, at=rule.effective_at
        )
    report = SeverReport()
    await _sever(conn, now=now, report=report)
    if rule.kind == "allow" and report.domains:
        await store.fail_pending_deliveries_covered_by(
            conn,
            rule_domain=rule.domain,
            error=f"{rule.domain} is no longer allowed to federate with this server",
        )
    return report


# --- changes ----------------------------------------------------------------------------------


async def set_mode(conn: Connection, *, mode: Mode, who: Actor, now: datetime) -> SeverReport:
    before = await read_mode(conn)
    await store.upsert_setting(conn, key=store.MODE_SETTING, value=mode.value)
    await record_audit(
        conn,
        who=who,
        action="federation.mode",
        target="mode",
        before={"mode": before.value},
        after={"mode": mode.value},
        now=now,
    )
    report = SeverReport()
    if mode == Mode.ALLOWLIST:
        await _sever(conn, now=now, report=report)
    return report


async def list_rules(conn: Connection, *, kind: str | None = None) -> list[DomainRuleRow]:
    return await store.list_rules(conn, kind=kind)


async def fetch_rule(conn: Connection, *, rule_id: int, kind: str | None = None) -> DomainRuleRow:
    rule = await store.fetch_rule(conn, rule_id=rule_id)
    if rule is None or (kind is not None and rule.kind != kind):
        raise NotFound()
    return rule


async def allow_domain(
    conn: Connection, *, domain: str, who: Actor, now: datetime
) -> DomainRuleRow:
    """Allow a domain (returns the existing allow if there is one, as Mastodon does)."""
    name = normalize_domain(domain)
    existing = await store.fetch_rule_by_domain(conn, domain=name, kind="allow")
    if existing is not None:
        if existing.ends_at is not None:
            # Allowing again during a removal's grace period cancels the removal.
            return await cancel_pending(conn, rule_id=existing.id, who=who, now=now)
        return existing
    rule = await store.insert_rule(
        conn,
        rule_id=ids.new_id(),
        domain=name,
        kind="allow",
        severity="noop",
        reject_media=False,
        reject_reports=False,
        private_comment=None,
        public_comment=None,
        obfuscate=False,
        effective_at=now,
        created_by=who.label,
        now=now,
    )
    applied = await store.update_rule(conn, rule_id=rule.id, changes={"applied_at": now}, now=now)
    assert applied is not None
    rule = applied
    await record_audit(
        conn,
        who=who,
        action="domain_allow.create",
        target=name,
        before=None,
        after=rule_json(rule),
        now=now,
    )
    return rule


def _check_severity(severity: str) -> str:
    if severity not in SEVERITIES:
        raise ValidationError("severity must be one of silence, suspend, noop", field="severity")
    return severity


async def block_domain(
    conn: Connection,
    *,
    domain: str,
    who: Actor,
    now: datetime,
    severity: str = "silence",
    reject_media: bool = False,
    reject_reports: bool = False,
    private_comment: str | None = None,
    public_comment: str | None = None,
    obfuscate: bool = False,
    grace: timedelta | None = None,
) -> DomainRuleRow:
    """Block a domain, at once or after `grace` (undoable until then without losing data)."""
    name = normalize_domain(domain)
    existing = await store.fetch_rule_by_domain(conn, domain=name, kind="block")
    if existing is not None:
        raise DomainBlockExists(existing)
    effective = now + grace if grace else now
    rule = await store.insert_rule(
        conn,
        rule_id=ids.new_id(),
        domain=name,
        kind="block",
        severity=_check_severity(severity),
        reject_media=reject_media,
        reject_reports=reject_reports,
        private_comment=private_comment,
        public_comment=public_comment,
        obfuscate=obfuscate,
        effective_at=effective,
        created_by=who.label,
        now=now,
    )
    await record_audit(
        conn,
        who=who,
        action="domain_block.create",
        target=name,
        before=None,
        after=rule_json(rule),
        now=now,
    )
    if effective <= now:
        await _apply_rule(conn, rule, now=now)
    return await fetch_rule(conn, rule_id=rule.id)


async def update_block(
    conn: Connection, *, rule_id: int, who: Actor, now: datetime, changes: dict[str, Any]
) -> DomainRuleRow:
    """Change a block's severity, flags or comments; a harsher severity applies at once."""
    before = await fetch_rule(conn, rule_id=rule_id, kind="block")
    allowed = {
        "severity",
        "reject_media",
        "reject_reports",
        "private_comment",
        "public_comment",
        "obfuscate",
    }
    cleaned = {key: value for key, value in changes.items() if key in allowed}
    if "severity" in cleaned:
        _check_severity(str(cleaned["severity"]))
    if (
        before.severity == "silence"
        and cleaned.get("severity", "silence") != "silence"
        and before.applied_at is not None
    ):
        await store.unsilence_accounts_covered_by(
            conn, rule_domain=before.domain, at=before.effective_at
        )
    rule = await store.update_rule(conn, rule_id=rule_id, changes=cleaned, now=now)
    assert rule is not None
    await record_audit(
        conn,
        who=who,
        action="domain_block.update",
        target=rule.domain,
        before=rule_json(before),
        after=rule_json(rule),
        now=now,
    )
    if rule.applied_at is not None and rule.severity != before.severity:
        await _apply_rule(conn, rule, now=now)
        rule = await fetch_rule(conn, rule_id=rule_id)
    return rule


async def remove_rule(
    conn: Connection, *, rule_id: int, who: Actor, now: datetime, grace: timedelta | None = None
) -> DomainRuleRow:
    """Remove an allow or a block; with `grace` the removal takes effect later.

    A rule still in its own grace period (never applied) is simply withdrawn.
    """
    rule = await fetch_rule(conn, rule_id=rule_id)
    action = f"domain_{rule.kind}.destroy"
    if grace and rule.applied_at is not None:
        updated = await store.update_rule(
            conn, rule_id=rule.id, changes={"ends_at": now + grace}, now=now
        )
        await record_audit(
            conn,
            who=who,
            action=action,
            target=rule.domain,
            before=rule_json(rule),
            after=rule_json(updated),
            now=now,
        )
        assert updated is not None
        return updated
    await store.delete_rule(conn, rule_id=rule.id)
    await record_audit(
        conn,
        who=who,
        action=action,
        target=rule.domain,
        before=rule_json(rule),
        after=None,
        now=now,
    )
    if rule.applied_at is not None:
        await _after_removal(conn, rule, now=now)
    return rule


async def remove_domain(
    conn: Connection, *, domain: str, who: Actor, now: datetime, grace: timedelta | None = None
) -> list[DomainRuleRow]:
    """Remove every rule for a domain (its allow and its block)."""
    name = normalize_domain(domain)
    removed = []
    for kind in ("allow", "block"):
        rule = await store.fetch_rule_by_domain(conn, domain=name, kind=kind)
        if rule is not None:
            removed.append(await remove_rule(conn, rule_id=rule.id, who=who, now=now, grace=grace))
    if not removed:
        raise NotFound(f"no rule for {name}")
    return removed


async def cancel_pending(
    conn: Connection, *, rule_id: int, who: Actor, now: datetime
) -> DomainRuleRow:
    """Undo a change still in its grace period: a pending block is withdrawn, a pending
    removal is called off. Nothing was severed or removed yet."""
    rule = await fetch_rule(conn, rule_id=rule_id)
    if rule.ends_at is not None:
        updated = await store.update_rule(conn, rule_id=rule.id, changes={"ends_at": None}, now=now)
        assert updated is not None
        await record_audit(
            conn,
            who=who,
            action="domain_rule.cancel_removal",
            target=rule.domain,
            before=rule_json(rule),
            after=rule_json(updated),
            now=now,
        )
        return updated
    if rule.applied_at is None:
        await store.delete_rule(conn, rule_id=rule.id)
        await record_audit(
            conn,
            who=who,
            action="domain_rule.cancel",
            target=rule.domain,
            before=rule_json(rule),
            after=None,
            now=now,
        )
        return rule
    raise ValidationError(f"the rule for {rule.domain} is no longer pending", field="id")


async def apply_due(conn: Connection, *, now: datetime) -> int:
    """Carry out changes whose grace period ended (`fediverse federation apply-pending` and
    the server's timed work). Returns how many were applied."""
    applied = 0
    for rule in await store.list_due_rules(conn, now=now):
        if rule.ends_at is not None and rule.ends_at <= now:
            await store.delete_rule(conn, rule_id=rule.id)
            await _after_removal(conn, rule, now=now)
            action = "domain_rule.removal_applied"
        else:
            await _apply_rule(conn, rule, now=now)
            action = "domain_rule.applied"
        await record_audit(
            conn,
            who=Actor(label="system"),
            action=action,
            target=rule.domain,
            before=rule_json(rule),
            after=None,
            now=now,
        )
        applied += 1
    return applied


# --- impact and figures -----------------------------------------------------------------------


@dataclass(frozen=True)
class Impact:
    """What blocking or removing a domain would sever."""

    domain: str
    local_following: list[tuple[str, str]]  # (local username, remote acct)
    remote_followers: list[tuple[str, str]]  # (remote acct, local username)
    accounts_count: int
    statuses_count: int
    requests_count: int

    @property
    def following_count(self) -> int:
        return len(self.local_following)

    @property
    def followers_count(self) -> int:
        return len(self.remote_followers)


async def impact(conn: Connection, *, domain: str) -> Impact:
    name = normalize_domain(domain)
    domains = [d for d in await store.list_remote_tie_domains(conn) if covers(name, d)]
    ties = await store.list_remote_ties(conn, domains=domains) if domains else []
    counts = await store.count_covered(conn, rule_domain=name)
    following = [
        (tie.local_username, f"{tie.remote_username}@{tie.remote_domain}")
        for tie in ties
        if tie.local_is_follower and tie.table == "follows"
    ]
    followers = [
        (f"{tie.remote_username}@{tie.remote_domain}", tie.local_username)
        for tie in ties
        if not tie.local_is_follower and tie.table == "follows"
    ]
    return Impact(
        domain=name,
        local_following=following,
        remote_followers=followers,
        accounts_count=counts.accounts,
        statuses_count=counts.statuses,
        requests_count=sum(1 for tie in ties if tie.table == "follow_requests"),
    )


async def domain_figures(
    conn: Connection, *, domains: list[str] | None = None
) -> dict[str, DomainFigureRow]:
    """Per-domain figures for the console; by default for every domain with a rule."""
    if domains is None:
        domains = sorted({rule.domain for rule in await store.list_rules(conn)})
    names = [normalize_domain(domain) for domain in domains]
    rows = await store.list_domain_figures(conn, domains=names)
    return {row.domain: row for row in rows}


# --- federation requests ------------------------------------------------------------------


async def record_request(
    conn: Connection,
    *,
    requester_account_id: int | None,
    acct: str,
    reason: str = "",
    follow: bool = False,
    now: datetime,
) -> int:
    """A staff member asked for an account on a domain we do not federate with."""
    username, _, raw_domain = acct.lstrip("@").rpartition("@")
    domain = normalize_domain(raw_domain)
    return await store.insert_request(
        conn,
        request_id=ids.new_id(),
        requester_account_id=requester_account_id,
        acct=f"{username}@{domain}" if username else domain,
        domain=domain,
        reason=reason.strip()[:1000],
        follow=follow,
        now=now,
    )


async def list_requests(
    conn: Connection, *, state: str | None = "pending"
) -> list[FederationRequestRow]:
    return await store.list_requests(conn, state=state)


async def fetch_request(conn: Connection, *, request_id: int) -> FederationRequestRow:
    found = await store.fetch_request(conn, request_id=request_id)
    if found is None:
        raise NotFound()
    return found


async def _pending_request(conn: Connection, request_id: int) -> FederationRequestRow:
    request = await fetch_request(conn, request_id=request_id)
    if request.state != "pending":
        raise ValidationError(f"request {request_id} was already {request.state}", field="id")
    return request


async def approve_request(
    conn: Connection, *, request_id: int, who: Actor, now: datetime
) -> FederationRequestRow:
    """Allow the domain; the requester's follow is then sent by the server
    (`federation.policy.complete_approved_requests`)."""
    request = await _pending_request(conn, request_id)
    await allow_domain(conn, domain=request.domain, who=who, now=now)
    await store.update_request_state(
        conn, request_id=request.id, state="approved", decided_by=who.label, now=now
    )
    await record_audit(
        conn,
        who=who,
        action="federation_request.approve",
        target=request.acct,
        before={"state": "pending"},
        after={"state": "approved", "domain": request.domain},
        now=now,
    )
    return await fetch_request(conn, request_id=request.id)


async def deny_request(
    conn: Connection, *, request_id: int, who: Actor, now: datetime
) -> FederationRequestRow:
    """Deny: the requester is told with a moderation_warning notification."""
    request = await _pending_request(conn, request_id)
    await store.update_request_state(
        conn, request_id=request.id, state="denied", decided_by=who.label, now=now
    )
    if request.requester_account_id is not None:
        notification_id = ids.new_id()
        await notification_store.insert_notification(
            conn,
            notification_id=notification_id,
            account_id=request.requester_account_id,
            from_account_id=who.account_id or request.requester_account_id,
            type="moderation_warning",
            status_id=None,
            group_key=f"ungrouped-{notification_id}",
        )
    await record_audit(
        conn,
        who=who,
        action="federation_request.deny",
        target=request.acct,
        before={"state": "pending"},
        after={"state": "denied"},
        now=now,
    )
    return await fetch_request(conn, request_id=request.id)


async def approved_follows_to_complete(conn: Connection) -> list[FederationRequestRow]:
    return await store.list_approved_follows_to_complete(conn)


async def mark_request_completed(conn: Connection, *, request_id: int, now: datetime) -> None:
    await store.mark_request_completed(conn, request_id=request_id, now=now)


# --- the public list of blocks -----------------------------------------------------------------


async def blocks_visibility(conn: Connection) -> str:
    """Who sees /api/v1/instance/domain_blocks: 'all', 'users' (default) or 'disabled'."""
    value = await store.fetch_setting(conn, key=store.PUBLIC_BLOCKS_SETTING)
    return value if value in ("all", "users", "disabled") else "users"
