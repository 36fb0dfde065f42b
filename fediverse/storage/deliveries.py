"""SQL for the outgoing delivery queue and the record of unreachable domains."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from fediverse.storage.database import Connection


@dataclass(frozen=True)
class Delivery:
    id: int
    activity_id: str
    inbox_url: str
    domain: str
    sender_account_id: int | None
    status_id: int | None
    body: bytes
    state: str
    attempts: int
    next_attempt_at: datetime
    deadline: datetime
    last_error: str | None
    last_status_code: int | None
    created_at: datetime
    finished_at: datetime | None


_COLUMNS = """
    id, activity_id, inbox_url, domain, sender_account_id, status_id, body, state, attempts,
    next_attempt_at, deadline, last_error, last_status_code, created_at, finished_at
"""


async def insert_deliveries(
    conn: Connection,
    *,
    rows: list[tuple[int, str, str, str, int | None, int | None, bytes, datetime, str, datetime]],
) -> None:
    """Rows of (id, activity_id, inbox_url, domain, sender, status_id, body, deadline, state,
    first attempt)."""
    await conn.executemany(
        "INSERT INTO deliveries (id, activity_id, inbox_url, domain, sender_account_id, "
        "status_id, body, deadline, state, next_attempt_at, finished_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::timestamptz, "
        "CASE WHEN $9 = 'pending' THEN NULL ELSE $10::timestamptz END) "
        "ON CONFLICT (activity_id, inbox_url) DO NOTHING",
        rows,
    )


async def claim_due(
    conn: Connection, *, now: datetime, lease_until: datetime, limit: int
) -> list[Delivery]:
    """Due deliveries, leased to this worker until `lease_until`.

    The lease (a later next_attempt_at) is what makes a killed worker lose nothing: its rows
    simply come due again when the lease runs out.
    """
    rows = await conn.fetch(
        f"""
        UPDATE deliveries SET next_attempt_at = $2, attempts = attempts + 1
        WHERE id IN (
            SELECT id FROM deliveries
            WHERE state = 'pending' AND next_attempt_at <= $1
            ORDER BY next_attempt_at
            LIMIT $3
            FOR UPDATE SKIP LOCKED
        )
        RETURNING {_COLUMNS}
        """,
        now,
        lease_until,
        limit,
    )
    return [Delivery(**dict(row)) for row in rows]


async def mark_delivered_many(conn: Connection, *, delivered: list[tuple[int, int, str]]) -> None:
    """(delivery id, status code, domain) rows delivered, and their domains reachable again,
    in one statement: the write of a whole batch of a fan-out."""
    await conn.execute(
        """
        WITH done AS (
            SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[]) AS d(id, code, domain)
        ), delivered AS (
            UPDATE deliveries SET state = 'delivered', last_status_code = done.code,
                last_error = NULL, finished_at = now()
            FROM done WHERE deliveries.id = done.id
        )
        DELETE FROM unreachable_domains WHERE domain IN (SELECT domain FROM done)
        """,
        [row[0] for row in delivered],
        [row[1] for row in delivered],
        [row[2] for row in delivered],
    )


async def mark_failed(
    conn: Connection, *, delivery_id: int, status_code: int | None, error: str
) -> None:
    await conn.execute(
        "UPDATE deliveries SET state = 'failed', last_status_code = $2, last_error = $3, "
        "finished_at = now() WHERE id = $1",
        delivery_id,
        status_code,
        error,
    )


async def reschedule(
    conn: Connection,
    *,
    delivery_id: int,
    next_attempt_at: datetime,
    status_code: int | None,
    error: str,
) -> None:
    await conn.execute(
        "UPDATE deliveries SET next_attempt_at = $2, last_status_code = $3, last_error = $4 "
        "WHERE id = $1",
        delivery_id,
        next_attempt_at,
        status_code,
        error,
    )


async def list_unreachable_domains(conn: Connection, *, min_days: int) -> set[str]:
    rows = await conn.fetch(
        "SELECT domain FROM unreachable_domains WHERE cardinality(failure_days) >= $1", min_days
    )
    return {str(row["domain"]) for row in rows}


async def record_failure_day(conn: Connection, *, domain: str, day: date, error: str) -> None:
    await conn.execute(
        """
        INSERT INTO unreachable_domains (domain, failure_days, last_error)
        VALUES ($1, ARRAY[$2::date], $3)
        ON CONFLICT (domain) DO UPDATE SET
            failure_days = CASE WHEN $2::date = ANY(unreachable_domains.failure_days)
                THEN unreachable_domains.failure_days
                ELSE unreachable_domains.failure_days || $2::date END,
            last_error = $3, updated_at = now()
        """,
        domain,
        day,
        error,
    )


async def list_signature_schemes(conn: Connection, *, domains: list[str]) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT domain, scheme FROM peer_signature_schemes WHERE domain = ANY($1::text[])",
        domains,
    )
    return {str(row["domain"]): str(row["scheme"]) for row in rows}


async def upsert_signature_scheme(conn: Connection, *, domain: str, scheme: str) -> None:
    await conn.execute(
        "INSERT INTO peer_signature_schemes (domain, scheme) VALUES ($1, $2) "
        "ON CONFLICT (domain) DO UPDATE SET scheme = $2, updated_at = now()",
        domain,
        scheme,
    )
