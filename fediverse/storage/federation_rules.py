"""SQL for federation control: domain rules, the mode setting, severable relationships,
per-domain figures, federation requests and the admin audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fediverse.storage.database import Connection

MODE_SETTING = "federation_mode"
PUBLIC_BLOCKS_SETTING = "domain_blocks_visibility"

_RULE_COLUMNS = """id, domain, kind, severity, reject_media, reject_reports, private_comment,
    public_comment, obfuscate, effective_at, ends_at, applied_at, created_by, created_at,
    updated_at"""

_UPDATABLE = frozenset(
    {
        "severity",
        "reject_media",
        "reject_reports",
        "private_comment",
        "public_comment",
        "obfuscate",
        "effective_at",
        "ends_at",
        "applied_at",
    }
)


@dataclass(frozen=True)
class DomainRuleRow:
    id: int
    domain: str
    kind: str
    severity: str
    reject_media: bool
    reject_reports: bool
    private_comment: str | None
    public_comment: str | None
    obfuscate: bool
    effective_at: datetime
    ends_at: datetime | None
    applied_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime


def _rule(row: Any) -> DomainRuleRow:
    return DomainRuleRow(**dict(row))


# --- settings -----------------------------------------------------------------------------------


async def fetch_setting(conn: Connection, *, key: str) -> Any:
    """The stored JSON value, or None."""
    return await conn.fetchval("SELECT value FROM server_settings WHERE key = $1", key)


async def upsert_setting(conn: Connection, *, key: str, value: Any) -> None:
    await conn.execute(
        "INSERT INTO server_settings (key, value, updated_at) VALUES ($1, $2, now()) "
        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
        key,
        value,
    )


# --- rules --------------------------------------------------------------------------------------


async def list_rules(conn: Connection, *, kind: str | None = None) -> list[DomainRuleRow]:
    rows = await conn.fetch(
        f"SELECT {_RULE_COLUMNS} FROM federation_domain_rules "
        "WHERE $1::text IS NULL OR kind = $1 ORDER BY domain, kind",
        kind,
    )
    return [_rule(row) for row in rows]


async def list_rule_page(
    conn: Connection,
    *,
    kind: str,
    max_id: int | None,
    since_id: int | None,
    min_id: int | None,
    limit: int,
) -> list[DomainRuleRow]:
    """One page of `kind` rules, newest first (Mastodon's admin lists page by id). With
    `min_id` the page is the oldest `limit` rules above it, still returned newest first."""
    rows = await conn.fetch(
        f"SELECT {_RULE_COLUMNS} FROM federation_domain_rules WHERE kind = $1 "
        "AND ($2::bigint IS NULL OR id < $2) AND ($3::bigint IS NULL OR id > $3) "
        "AND ($4::bigint IS NULL OR id > $4) "
        "ORDER BY CASE WHEN $4::bigint IS NOT NULL THEN id END ASC, id DESC LIMIT $5",
        kind,
        max_id,
        since_id,
        min_id,
        limit,
    )
    return sorted((_rule(row) for row in rows), key=lambda rule: rule.id, reverse=True)


async def fetch_rule(conn: Connection, *, rule_id: int) -> DomainRuleRow | None:
    row = await conn.fetchrow(
        f"SELECT {_RULE_COLUMNS} FROM federation_domain_rules WHERE id = $1", rule_id
    )
    return None if row is None else _rule(row)


async def fetch_rule_by_domain(conn: Connection, *, domain: str, kind: str) -> DomainRuleRow | None:
    row = await conn.fetchrow(
        f"SELECT {_RULE_COLUMNS} FROM federation_domain_rules WHERE domain = $1 AND kind = $2",
        domain,
        kind,
    )
    return None if row is None else _rule(row)


async def insert_rule(
    conn: Connection,
    *,
    rule_id: int,
    domain: str,
    kind: str,
    severity: str,
    reject_media: bool,
    reject_reports: bool,
    private_comment: str | None,
    public_comment: str | None,
    obfuscate: bool,
    effective_at: datetime,
    created_by: str,
    now: datetime,
) -> DomainRuleRow:
    row = await conn.fetchrow(
        f"""
        INSERT INTO federation_domain_rules (id, domain, kind, severity, reject_media,
            reject_reports, private_comment, public_comment, obfuscate, effective_at,
            created_by, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
        RETURNING {_RULE_COLUMNS}
        """,
        rule_id,
        domain,
        kind,
        severity,
        reject_media,
        reject_reports,
        private_comment,
        public_comment,
        obfuscate,
        effective_at,
        created_by,
        now,
    )
    return _rule(row)


async def update_rule(
    conn: Connection, *, rule_id: int, changes: dict[str, Any], now: datetime
) -> DomainRuleRow | None:
    unknown = set(changes) - _UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    if not changes:
        return await fetch_rule(conn, rule_id=rule_id)
    names = sorted(changes)
    assignments = ", ".join(f"{name} = ${index}" for index, name in enumerate(names, start=3))
    row = await conn.fetchrow(
        f"UPDATE federation_domain_rules SET {assignments}, updated_at = $2 WHERE id = $1 "
        f"RETURNING {_RULE_COLUMNS}",
        rule_id,
        now,
        *(changes[name] for name in names),
    )
    return None if row is None else _rule(row)


async def delete_rule(conn: Connection, *, rule_id: int) -> bool:
    result = await conn.execute("DELETE FROM federation_domain_rules WHERE id = $1", rule_id)
    return bool(result != "DELETE 0")


async def list_due_rules(conn: Connection, *, now: datetime) -> list[DomainRuleRow]:
    """Rules whose grace period ended: in force but not applied, or past their end."""
    rows = await conn.fetch(
        f"SELECT {_RULE_COLUMNS} FROM federation_domain_rules "
        "WHERE (applied_at IS NULL AND effective_at <= $1) OR ends_at <= $1 ORDER BY id",
        now,
    )
    return [_rule(row) for row in rows]


# --- relationships with remote domains ------------------------------------------------------


@dataclass(frozen=True)
class RemoteTie:
    """A follow (or follow request) between a local account and a remote one."""

    table: str  # 'follows' | 'follow_requests'
    id: int
    local_is_follower: bool
    local_account_id: int
    local_username: str
    remote_account_id: int
    remote_username: str
    remote_domain: str
    uri: str | None


async def list_remote_tie_domains(conn: Connection) -> list[str]:
    """Every remote domain some local account follows, is followed by, or has a request with."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT lower(r.domain) AS domain
        FROM (SELECT account_id, target_account_id FROM follows
              UNION ALL SELECT account_id, target_account_id FROM follow_requests) t
        JOIN accounts a ON a.id = t.account_id
        JOIN accounts b ON b.id = t.target_account_id
        JOIN accounts r ON r.id = CASE WHEN a.domain IS NULL THEN b.id ELSE a.id END
        WHERE (a.domain IS NULL) <> (b.domain IS NULL)
        ORDER BY 1
        """
    )
    return [row["domain"] for row in rows]


async def list_remote_ties(conn: Connection, *, domains: list[str]) -> list[RemoteTie]:
    """Follows and requests between local accounts and accounts on exactly these domains."""
    rows = await conn.fetch(
        """
        SELECT t.tbl AS table, t.id, (a.domain IS NULL) AS local_is_follower,
            l.id AS local_account_id, l.username AS local_username,
            r.id AS remote_account_id, r.username AS remote_username,
            lower(r.domain) AS remote_domain, t.uri
        FROM (SELECT 'follows' AS tbl, id, account_id, target_account_id, uri FROM follows
              UNION ALL
              SELECT 'follow_requests', id, account_id, target_account_id, uri
              FROM follow_requests) t
        JOIN accounts a ON a.id = t.account_id
        JOIN accounts b ON b.id = t.target_account_id
        JOIN accounts l ON l.id = CASE WHEN a.domain IS NULL THEN a.id ELSE b.id END
        JOIN accounts r ON r.id = CASE WHEN a.domain IS NULL THEN b.id ELSE a.id END
        WHERE (a.domain IS NULL) <> (b.domain IS NULL) AND lower(r.domain) = ANY($1::text[])
        ORDER BY t.tbl, t.id
        """,
        domains,
    )
    return [RemoteTie(**dict(row)) for row in rows]


async def delete_follows(conn: Connection, *, follow_ids: list[int]) -> int:
    result = await conn.execute("DELETE FROM follows WHERE id = ANY($1::bigint[])", follow_ids)
    return int(result.split()[-1])


async def delete_follow_requests(conn: Connection, *, request_ids: list[int]) -> int:
    result = await conn.execute(
        "DELETE FROM follow_requests WHERE id = ANY($1::bigint[])", request_ids
    )
    return int(result.split()[-1])


async def list_domains_of_accounts(conn: Connection) -> list[str]:
    rows = await conn.fetch(
        "SELECT DISTINCT lower(domain) AS domain FROM accounts WHERE domain IS NOT NULL"
    )
    return [row["domain"] for row in rows]


async def delete_accounts_covered_by(conn: Connection, *, rule_domain: str) -> int:
    """Remove every account (and by cascade its statuses, follows...) of a domain and its
    subdomains."""
    result = await conn.execute(
        "DELETE FROM accounts WHERE domain IS NOT NULL "
        "AND federation_domain_covers($1, lower(domain))",
        rule_domain,
    )
    return int(result.split()[-1])


async def silence_accounts_covered_by(conn: Connection, *, rule_domain: str, at: datetime) -> int:
    result = await conn.execute(
        "UPDATE accounts SET silenced_at = $2, updated_at = now() "
        "WHERE domain IS NOT NULL AND silenced_at IS NULL "
        "AND federation_domain_covers($1, lower(domain))",
        rule_domain,
        at,
    )
    return int(result.split()[-1])


async def unsilence_accounts_covered_by(conn: Connection, *, rule_domain: str, at: datetime) -> int:
    """Lift the silence the rule set (only where it set it, as Mastodon does)."""
    result = await conn.execute(
        "UPDATE accounts SET silenced_at = NULL, updated_at = now() "
        "WHERE domain IS NOT NULL AND silenced_at = $2 "
        "AND federation_domain_covers($1, lower(domain))",
        rule_domain,
        at,
    )
    return int(result.split()[-1])


@dataclass(frozen=True)
class DomainCounts:
    accounts: int
    statuses: int


async def count_covered(conn: Connection, *, rule_domain: str) -> DomainCounts:
    row = await conn.fetchrow(
        """
        SELECT count(*) AS accounts,
            coalesce(sum((SELECT count(*) FROM statuses s WHERE s.account_id = a.id)), 0)
                AS statuses
        FROM accounts a
        WHERE a.domain IS NOT NULL AND federation_domain_covers($1, lower(a.domain))
        """,
        rule_domain,
    )
    return DomainCounts(accounts=int(row["accounts"]), statuses=int(row["statuses"]))


@dataclass(frozen=True)
class DomainFigureRow:
    domain: str
    staff_following: int
    followers_from_there: int
    last_delivered_at: datetime | None
    last_failed_at: datetime | None
    last_error: str | None


async def list_domain_figures(conn: Connection, *, domains: list[str]) -> list[DomainFigureRow]:
    """Per domain (subdomains included): local accounts following there, followers from
    there, the last successful and failed delivery."""
    rows = await conn.fetch(
        """
        SELECT d.domain,
            (SELECT count(DISTINCT f.account_id) FROM follows f
             JOIN accounts l ON l.id = f.account_id AND l.domain IS NULL
             JOIN accounts r ON r.id = f.target_account_id AND r.domain IS NOT NULL
             WHERE federation_domain_covers(d.domain, lower(r.domain))) AS staff_following,
            (SELECT count(*) FROM follows f
             JOIN accounts l ON l.id = f.target_account_id AND l.domain IS NULL
             JOIN accounts r ON r.id = f.account_id AND r.domain IS NOT NULL
             WHERE federation_domain_covers(d.domain, lower(r.domain))) AS followers_from_there,
            (SELECT max(x.finished_at) FROM deliveries x
             WHERE x.state = 'delivered' AND federation_domain_covers(d.domain, x.domain))
                AS last_delivered_at,
            (SELECT max(coalesce(x.finished_at, x.next_attempt_at)) FROM deliveries x
             WHERE x.last_error IS NOT NULL AND x.state <> 'delivered'
               AND federation_domain_covers(d.domain, x.domain)) AS last_failed_at,
            (SELECT x.last_error FROM deliveries x
             WHERE x.last_error IS NOT NULL AND x.state <> 'delivered'
               AND federation_domain_covers(d.domain, x.domain)
             ORDER BY x.id DESC LIMIT 1) AS last_error
        FROM unnest($1::text[]) AS d (domain)
        """,
        domains,
    )
    return [DomainFigureRow(**dict(row)) for row in rows]


async def list_staff_account_ids_with_role(conn: Connection, *, roles: list[str]) -> list[int]:
    rows = await conn.fetch(
        "SELECT u.account_id FROM users u JOIN accounts a ON a.id = u.account_id "
        "WHERE u.role = ANY($1::text[]) AND a.suspended_at IS NULL AND NOT u.disabled "
        "ORDER BY u.account_id",
        roles,
    )
    return [row["account_id"] for row in rows]


# --- deliveries ------------------------------------------------------------------------------


async def fail_pending_deliveries_covered_by(
    conn: Connection, *, rule_domain: str, error: str
) -> int:
    """Pending deliveries to a domain that may no longer receive them are failed at once."""
    result = await conn.execute(
        "UPDATE deliveries SET state = 'failed', last_error = $2, finished_at = now() "
        "WHERE state = 'pending' AND federation_domain_covers($1, domain)",
        rule_domain,
        error,
    )
    return int(result.split()[-1])


# --- federation requests -------------------------------------------------------------------


@dataclass(frozen=True)
class FederationRequestRow:
    id: int
    requester_account_id: int | None
    requester_username: str | None
    acct: str
    domain: str
    reason: str
    follow: bool
    state: str
    decided_by: str | None
    decided_at: datetime | None
    completed_at: datetime | None
    created_at: datetime


_REQUEST_SELECT = """
    SELECT q.id, q.requester_account_id, a.username AS requester_username, q.acct, q.domain,
        q.reason, q.follow, q.state, q.decided_by, q.decided_at, q.completed_at, q.created_at
    FROM federation_requests q LEFT JOIN accounts a ON a.id = q.requester_account_id
"""


async def insert_request(
    conn: Connection,
    *,
    request_id: int,
    requester_account_id: int | None,
    acct: str,
    domain: str,
    reason: str,
    follow: bool,
    now: datetime,
) -> int:
    """Record a pending request; a repeat of a pending one only upgrades `follow`/`reason`.
    Returns the id of the pending request."""
    found = await conn.fetchval(
        """
        INSERT INTO federation_requests (id, requester_account_id, acct, domain, reason,
            follow, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (coalesce(requester_account_id, 0), lower(acct)) WHERE state = 'pending'
        DO UPDATE SET follow = federation_requests.follow OR EXCLUDED.follow,
            reason = CASE WHEN EXCLUDED.reason <> '' THEN EXCLUDED.reason
                          ELSE federation_requests.reason END
        RETURNING id
        """,
        request_id,
        requester_account_id,
        acct,
        domain,
        reason,
        follow,
        now,
    )
    return int(found)


async def list_requests(conn: Connection, *, state: str | None) -> list[FederationRequestRow]:
    rows = await conn.fetch(
        f"{_REQUEST_SELECT} WHERE $1::text IS NULL OR q.state = $1 ORDER BY q.id DESC", state
    )
    return [FederationRequestRow(**dict(row)) for row in rows]


async def fetch_request(conn: Connection, *, request_id: int) -> FederationRequestRow | None:
    row = await conn.fetchrow(f"{_REQUEST_SELECT} WHERE q.id = $1", request_id)
    return None if row is None else FederationRequestRow(**dict(row))


async def update_request_state(
    conn: Connection, *, request_id: int, state: str, decided_by: str, now: datetime
) -> None:
    await conn.execute(
        "UPDATE federation_requests SET state = $2, decided_by = $3, decided_at = $4 WHERE id = $1",
        request_id,
        state,
        decided_by,
        now,
    )


async def list_pending_requests_for_domain(
    conn: Connection, *, domain: str
) -> list[FederationRequestRow]:
    rows = await conn.fetch(
        f"{_REQUEST_SELECT} WHERE q.state = 'pending' "
        "AND federation_domain_covers($1, q.domain) ORDER BY q.id",
        domain,
    )
    return [FederationRequestRow(**dict(row)) for row in rows]


# --- audit log ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditRow:
    id: int
    actor: str
    actor_account_id: int | None
    action: str
    target: str
    before: Any
    after: Any
    created_at: datetime


async def insert_audit(
    conn: Connection,
    *,
    entry_id: int,
    actor: str,
    actor_account_id: int | None,
    action: str,
    target: str,
    before: Any,
    after: Any,
    now: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO admin_audit_log (id, actor, actor_account_id, action, target, before, "
        "after, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        entry_id,
        actor,
        actor_account_id,
        action,
        target,
        before,
        after,
        now,
    )


async def list_audit(
    conn: Connection, *, limit: int, before_id: int | None, action_prefix: str | None
) -> list[AuditRow]:
    rows = await conn.fetch(
        "SELECT id, actor, actor_account_id, action, target, before, after, created_at "
        "FROM admin_audit_log WHERE ($2::bigint IS NULL OR id < $2) "
        "AND ($3::text IS NULL OR action LIKE $3 || '%') ORDER BY id DESC LIMIT $1",
        limit,
        before_id,
        action_prefix,
    )
    return [AuditRow(**dict(row)) for row in rows]


async def list_approved_follows_to_complete(conn: Connection) -> list[FederationRequestRow]:
    rows = await conn.fetch(
        f"{_REQUEST_SELECT} WHERE q.state = 'approved' AND q.follow AND q.completed_at IS NULL "
        "AND q.requester_account_id IS NOT NULL ORDER BY q.id"
    )
    return [FederationRequestRow(**dict(row)) for row in rows]


async def mark_request_completed(conn: Connection, *, request_id: int, now: datetime) -> None:
    await conn.execute(
        "UPDATE federation_requests SET completed_at = $2 WHERE id = $1", request_id, now
    )


async def note_refused_deliveries(
    conn: Connection, *, activity_id: str, inbox_urls: list[str], error: str
) -> None:
    """Give deliveries enqueued as failed (their domain may not federate) their reason."""
    await conn.execute(
        "UPDATE deliveries SET last_error = $3 WHERE activity_id = $1 "
        "AND inbox_url = ANY($2::text[]) AND state = 'failed' AND last_error IS NULL",
        activity_id,
        inbox_urls,
        error,
    )
