"""Who can see a status: its audience resolved at posting time, stored, and told in plain words.

The audience follows the rule in fediverse.audience: followers (as of posting) and the mentioned
for followers-only posts, the mentioned for direct ones, every person here for internal ones;
public and unlisted posts are for anyone, and are delivered to followers and the mentioned.
Nothing local-only ever reaches another server, so remote accounts drop out of such audiences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from fediverse.audience import Visibility
from fediverse.storage import accounts as account_store
from fediverse.storage import audiences as audience_store
from fediverse.storage import statuses as status_store
from fediverse.storage.accounts import Account, User
from fediverse.storage.audiences import DomainDeliveries, Member, StoredAudience
from fediverse.storage.database import Connection
from fediverse.storage.statuses import Status

# How many servers a summary names before "...".
SERVERS_NAMED_IN_SUMMARY = 3
WIDENS_THREAD = "This reply is visible to more people than the post it replies to"


class Scope(StrEnum):
    PUBLIC = "public"
    UNLISTED = "unlisted"
    FOLLOWERS = "followers"
    MENTIONED = "mentioned"
    INTERNAL = "internal"


def scope_of(visibility: str, local_only: bool) -> Scope:
    """Mastodon's visibility plus `local_only` → one of our five scopes."""
    if visibility in (Visibility.PUBLIC, Visibility.UNLISTED) and local_only:
        return Scope.INTERNAL
    return {
        Visibility.PUBLIC: Scope.PUBLIC,
        Visibility.UNLISTED: Scope.UNLISTED,
        Visibility.PRIVATE: Scope.FOLLOWERS,
        Visibility.DIRECT: Scope.MENTIONED,
    }[Visibility(visibility)]


def scope_to_visibility(scope: str) -> tuple[str, bool]:
    """One of our five scopes → (Mastodon visibility, local_only)."""
    return {
        Scope.PUBLIC: (Visibility.PUBLIC.value, False),
        Scope.UNLISTED: (Visibility.UNLISTED.value, False),
        Scope.FOLLOWERS: (Visibility.PRIVATE.value, False),
        Scope.MENTIONED: (Visibility.DIRECT.value, False),
        Scope.INTERNAL: (Visibility.PUBLIC.value, True),
    }[Scope(scope)]


@dataclass(frozen=True)
class ServerCount:
    domain: str
    accounts: int


@dataclass(frozen=True)
class ResolvedAudience:
    """Counts of who a status reaches, the same whether just resolved or read from storage."""

    scope: Scope
    visibility: str
    local_only: bool
    federates: bool
    followers_local: int
    followers_remote: int
    local_accounts: int
    remote_accounts: int
    servers: list[ServerCount]
    mentioned_ids: list[int]
    resolved_at: datetime | None


@dataclass(frozen=True)
class ServerDelivery:
    """How delivery of the status to one server went; `state` is "none" before any attempt."""

    state: str
    delivered: int = 0
    pending: int = 0
    failed: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class ServerAudience:
    domain: str
    accounts: int
    delivery: ServerDelivery


@dataclass(frozen=True)
class AudienceReport:
    audience: ResolvedAudience
    servers: list[ServerAudience]
    mentioned: list[Account]
    summary: str
    short_summary: str
    warnings: list[str] = field(default_factory=list)


async def resolve_audience(
    conn: Connection,
    *,
    author_id: int,
    visibility: str,
    local_only: bool,
    mentioned_ids: list[int],
    now: datetime | None,
) -> ResolvedAudience:
    """Who the status reaches with the followers the author has right now."""
    scope = scope_of(visibility, local_only)
    federates = not local_only
    followers = [
        m
        for m in await audience_store.list_followers(conn, account_id=author_id)
        if federates or m.domain is None
    ]
    named = await audience_store.list_members(
        conn, account_ids=[i for i in mentioned_ids if i != author_id]
    )
    # Named people on other servers stay listed as mentioned, but a local-only post never
    # reaches them.
    mentioned = [m for m in named if federates or m.domain is None]
    members: dict[int, Member] = {}
    if scope != Scope.MENTIONED:
        members.update((m.account_id, m) for m in followers)
    members.update((m.account_id, m) for m in mentioned)
    per_domain: dict[str, int] = {}
    for member in members.values():
        if member.domain is not None:
            per_domain[member.domain] = per_domain.get(member.domain, 0) + 1
    local = sum(1 for m in members.values() if m.domain is None)
    if scope == Scope.INTERNAL:
        local = await audience_store.count_organization(conn, author_id=author_id)
    return ResolvedAudience(
        scope=scope,
        visibility=visibility,
        local_only=local_only,
        federates=federates,
        followers_local=sum(1 for m in followers if m.domain is None),
        followers_remote=sum(1 for m in followers if m.domain is not None),
        local_accounts=local,
        remote_accounts=sum(per_domain.values()),
        servers=[
            ServerCount(domain=domain, accounts=count)
            for domain, count in sorted(per_domain.items(), key=lambda item: (-item[1], item[0]))
        ],
        mentioned_ids=sorted(m.account_id for m in named),
        resolved_at=now,
    )


async def snapshot_audience(
    conn: Connection,
    *,
    status_id: int,
    author_id: int,
    visibility: str,
    local_only: bool,
    mentioned_ids: list[int],
    now: datetime,
) -> ResolvedAudience:
    """Resolve and store the audience of a status being posted (in the posting transaction)."""
    audience = await resolve_audience(
        conn,
        author_id=author_id,
        visibility=visibility,
        local_only=local_only,
        mentioned_ids=mentioned_ids,
        now=now,
    )
    await audience_store.insert_status_audience(
        conn,
        status_id=status_id,
        scope=audience.scope.value,
        federates=audience.federates,
        followers_local=audience.followers_local,
        followers_remote=audience.followers_remote,
        local_accounts=audience.local_accounts,
        remote_accounts=audience.remote_accounts,
        servers=[{"domain": s.domain, "accounts": s.accounts} for s in audience.servers],
        mentioned_ids=audience.mentioned_ids,
        resolved_at=now,
    )
    return audience


def _from_stored(stored: StoredAudience, status: Status) -> ResolvedAudience:
    return ResolvedAudience(
        scope=Scope(stored.scope),
        visibility=status.visibility,
        local_only=status.local_only,
        federates=stored.federates,
        followers_local=stored.followers_local,
        followers_remote=stored.followers_remote,
        local_accounts=stored.local_accounts,
        remote_accounts=stored.remote_accounts,
        servers=[
            ServerCount(domain=str(item["domain"]), accounts=int(item["accounts"]))
            for item in stored.servers
        ],
        mentioned_ids=stored.mentioned_ids,
        resolved_at=stored.resolved_at,
    )


def may_audit(status: Status, viewer: Account, user: User | None) -> bool:
    """The author and admins may see a status's audience; to others it does not exist."""
    if not status.local:
        return False
    return status.account_id == viewer.id or (user is not None and user.is_admin)


async def stored_or_live(conn: Connection, status: Status) -> ResolvedAudience:
    """The audience stored at posting time; statuses from before snapshots (and boosts) are
    resolved with today's followers, and say so with `resolved_at` None."""
    stored = await audience_store.fetch_status_audience(conn, status_id=status.id)
    if stored is not None:
        return _from_stored(stored, status)
    # resolve_audience keeps only mentioned accounts that exist and are not suspended.
    return await resolve_audience(
        conn,
        author_id=status.account_id,
        visibility=status.visibility,
        local_only=status.local_only,
        mentioned_ids=await status_store.list_all_mentioned(conn, status_id=status.id),
        now=None,
    )


def _delivery(rows: DomainDeliveries | None) -> ServerDelivery:
    if rows is None:
        return ServerDelivery(state="none")
    if rows.pending:
        state = "pending"
    elif rows.failed:
        state = "failed"
    elif rows.delivered:
        state = "delivered"
    else:
        state = "skipped"
    return ServerDelivery(
        state=state,
        delivered=rows.delivered,
        pending=rows.pending,
        failed=rows.failed,
        next_attempt_at=rows.next_attempt_at,
        last_error=rows.last_error,
    )


async def build_report(
    conn: Connection,
    audience: ResolvedAudience,
    *,
    status_id: int | None,
    warnings: list[str] | None = None,
) -> AudienceReport:
    """The report a person reads: counts, servers with delivery state, mentioned accounts."""
    deliveries: dict[str, DomainDeliveries] = {}
    if status_id is not None and audience.federates:
        deliveries = {
            row.domain: row
            for row in await audience_store.list_domain_deliveries(conn, status_id=status_id)
        }
    by_id = {
        a.id: a
        for a in await account_store.list_accounts_by_ids(conn, account_ids=audience.mentioned_ids)
    }
    mentioned = [by_id[i] for i in audience.mentioned_ids if i in by_id]
    return AudienceReport(
        audience=audience,
        servers=[
            ServerAudience(
                domain=s.domain,
                accounts=s.accounts,
                delivery=_delivery(deliveries.get(s.domain)),
            )
            for s in audience.servers
        ],
        mentioned=mentioned,
        summary=summarize(audience, mentioned),
        short_summary=summarize_briefly(audience, mentioned),
        warnings=list(warnings or []),
    )


async def status_report(conn: Connection, status: Status) -> AudienceReport:
    return await build_report(conn, await stored_or_live(conn, status), status_id=status.id)


async def short_summaries(conn: Connection, statuses: list[Status]) -> dict[int, str]:
    """The one-line audience of each of `statuses` that has a stored snapshot."""
    by_status = {s.id: s for s in statuses}
    stored = await audience_store.list_status_audiences(conn, status_ids=list(by_status))
    mentioned_ids = sorted({i for row in stored for i in row.mentioned_ids})
    accounts = {
        a.id: a for a in await account_store.list_accounts_by_ids(conn, account_ids=mentioned_ids)
    }
    result = {}
    for row in stored:
        audience = _from_stored(row, by_status[row.status_id])
        mentioned = [accounts[i] for i in audience.mentioned_ids if i in accounts]
        result[row.status_id] = summarize_briefly(audience, mentioned)
    return result


# --- words -----------------------------------------------------------------------------------


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _reached(audience: ResolvedAudience, mentioned: list[Account]) -> list[Account]:
    """The mentioned who actually get the post: none elsewhere when it stays here."""
    return [a for a in mentioned if audience.federates or a.is_local]


def _handle(account: Account) -> str:
    return f"@{account.acct}"


def _servers_phrase(audience: ResolvedAudience) -> str:
    named = [f"{s.domain} {s.accounts}" for s in audience.servers[:SERVERS_NAMED_IN_SUMMARY]]
    if len(audience.servers) > SERVERS_NAMED_IN_SUMMARY:
        named.append("...")
    return ", ".join(named)


def _breakdown(local: int, audience: ResolvedAudience) -> str:
    """ "120 people here and 12 on 5 other servers (mastodon.social 6, ...)"."""
    here = _count(local, "person", "people") + " here"
    if audience.remote_accounts == 0:
        return here
    servers = _count(len(audience.servers), "other server", "other servers")
    return f"{here} and {audience.remote_accounts} on {servers} ({_servers_phrase(audience)})"


def _followers_phrase(audience: ResolvedAudience) -> str:
    followers = audience.followers_local + audience.followers_remote
    return f"Your {_count(followers, 'follower', 'followers')}"


def summarize(audience: ResolvedAudience, mentioned: list[Account]) -> str:
    """One sentence a person can read."""
    stays = "; it will not leave this server" if not audience.federates else ""
    reached = audience.local_accounts + audience.remote_accounts
    followers = audience.followers_local + audience.followers_remote
    if audience.scope == Scope.INTERNAL:
        people = _count(audience.local_accounts, "person", "people")
        return f"Everyone in the organization ({people}){stays}"
    if audience.scope == Scope.MENTIONED:
        reached_by_name = _reached(audience, mentioned)
        if not reached_by_name:
            return f"Only you: nobody is mentioned{stays}"
        return f"Only {_join([_handle(a) for a in reached_by_name])}{stays}"
    extra = reached - followers
    who = _followers_phrase(audience)
    if extra > 0:
        who += f" and {_count(extra, 'person', 'people')} you mentioned"
    if audience.scope == Scope.FOLLOWERS:
        if reached == 0:
            return f"Only you: you have no followers yet{stays}"
        return f"{who}: {_breakdown(audience.local_accounts, audience)}{stays}"
    anyone = (
        "Anyone, including people on other servers"
        if audience.scope == Scope.PUBLIC
        else "Anyone with the link, including people on other servers, but not in public timelines"
    )
    if reached == 0:
        return f"{anyone}; you have no followers yet"
    return (
        f"{anyone}; {who[0].lower()}{who[1:]} get it in their home timeline: "
        f"{_breakdown(audience.local_accounts, audience)}"
    )


def summarize_briefly(audience: ResolvedAudience, mentioned: list[Account]) -> str:
    """A few words for the status entity's `audience` field."""
    if audience.scope == Scope.PUBLIC:
        return "Anyone, including people on other servers"
    if audience.scope == Scope.UNLISTED:
        return "Anyone with the link, but not in public timelines"
    if audience.scope == Scope.INTERNAL:
        people = _count(audience.local_accounts, "person", "people")
        return f"Everyone in the organization ({people})"
    if audience.scope == Scope.MENTIONED:
        reached_by_name = _reached(audience, mentioned)
        return (
            f"Only {_join([_handle(a) for a in reached_by_name])}"
            if reached_by_name
            else "Only you"
        )
    extra = (
        audience.local_accounts
        + audience.remote_accounts
        - (audience.followers_local + audience.followers_remote)
    )
    brief = _followers_phrase(audience)
    if extra > 0:
        brief += f" and {_count(extra, 'person', 'people')} you mentioned"
    return brief
