"""SQL for Web Push: the VAPID key pair, subscriptions, and the push delivery queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fediverse.storage.database import Connection


@dataclass(frozen=True)
class VapidKeys:
    private_key_pem: str
    public_key: str


@dataclass(frozen=True)
class PushSubscription:
    id: int
    access_token_id: int
    account_id: int
    endpoint: str
    key_p256dh: str
    key_auth: str
    standard: bool
    alerts: dict[str, bool]
    policy: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PushDelivery:
    """A leased push with what the sender needs: the subscription and the notification."""

    id: int
    attempts: int
    deadline: datetime
    subscription: PushSubscription
    notification_id: int
    notification_type: str
    from_account_id: int
    status_id: int | None
    preferred_locale: str


_SUBSCRIPTION_COLUMNS = """
    w.id, w.access_token_id, w.account_id, w.endpoint, w.key_p256dh, w.key_auth, w.standard,
    w.alerts, w.policy, w.created_at, w.updated_at
"""


def _subscription(row: Any) -> PushSubscription:
    return PushSubscription(
        id=row["id"],
        access_token_id=row["access_token_id"],
        account_id=row["account_id"],
        endpoint=row["endpoint"],
        key_p256dh=row["key_p256dh"],
        key_auth=row["key_auth"],
        standard=row["standard"],
        alerts={str(key): bool(value) for key, value in dict(row["alerts"]).items()},
        policy=row["policy"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


# --- VAPID keys -------------------------------------------------------------------------------


async def fetch_vapid_keys(conn: Connection) -> VapidKeys | None:
    row = await conn.fetchrow("SELECT private_key_pem, public_key FROM vapid_keys")
    return None if row is None else VapidKeys(**dict(row))


async def insert_vapid_keys(conn: Connection, *, private_key_pem: str, public_key: str) -> None:
    """Keep the first pair ever stored: two processes racing at start-up agree on one."""
    await conn.execute(
        "INSERT INTO vapid_keys (private_key_pem, public_key) VALUES ($1, $2) "
        "ON CONFLICT (singleton) DO NOTHING",
        private_key_pem,
        public_key,
    )


# --- subscriptions ----------------------------------------------------------------------------


async def upsert_subscription(
    conn: Connection,
    *,
    subscription_id: int,
    access_token_id: int,
    account_id: int,
    endpoint: str,
    key_p256dh: str,
    key_auth: str,
    standard: bool,
    alerts: dict[str, bool],
    policy: str,
) -> PushSubscription:
    """Create the token's subscription, or replace it (Mastodon keeps one per token)."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO web_push_subscriptions AS w (id, access_token_id, account_id, endpoint,
            key_p256dh, key_auth, standard, alerts, policy)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (access_token_id) DO UPDATE SET
            id = EXCLUDED.id, account_id = EXCLUDED.account_id, endpoint = EXCLUDED.endpoint,
            key_p256dh = EXCLUDED.key_p256dh, key_auth = EXCLUDED.key_auth,
            standard = EXCLUDED.standard, alerts = EXCLUDED.alerts, policy = EXCLUDED.policy,
            created_at = now(), updated_at = now()
        RETURNING {_SUBSCRIPTION_COLUMNS}
        """,
        subscription_id,
        access_token_id,
        account_id,
        endpoint,
        key_p256dh,
        key_auth,
        standard,
        alerts,
        policy,
    )
    return _subscription(row)


async def fetch_subscription_for_token(
    conn: Connection, *, access_token_id: int
) -> PushSubscription | None:
    row = await conn.fetchrow(
        f"SELECT {_SUBSCRIPTION_COLUMNS} FROM web_push_subscriptions w "
        "WHERE w.access_token_id = $1",
        access_token_id,
    )
    return None if row is None else _subscription(row)


async def update_subscription(
    conn: Connection, *, access_token_id: int, alerts: dict[str, bool], policy: str
) -> PushSubscription | None:
    row = await conn.fetchrow(
        f"UPDATE web_push_subscriptions w SET alerts = $2, policy = $3, updated_at = now() "
        f"WHERE w.access_token_id = $1 RETURNING {_SUBSCRIPTION_COLUMNS}",
        access_token_id,
        alerts,
        policy,
    )
    return None if row is None else _subscription(row)


async def delete_subscription_for_token(conn: Connection, *, access_token_id: int) -> None:
    await conn.execute(
        "DELETE FROM web_push_subscriptions WHERE access_token_id = $1", access_token_id
    )


async def delete_subscription(conn: Connection, *, subscription_id: int) -> None:
    await conn.execute("DELETE FROM web_push_subscriptions WHERE id = $1", subscription_id)


# --- the queue --------------------------------------------------------------------------------


async def insert_pushes_for_notification(
    conn: Connection, *, notification_id: int, deadline: datetime, now: datetime
) -> int:
    """One pending push per subscription of the recipient whose alerts and policy allow it.

    Policy (Mastodon): `followed` — the sender is someone the recipient follows; `follower` —
    the sender follows the recipient; `none` — nobody. Revoked tokens get nothing. Ids are
    snowflakes made in SQL (milliseconds of `now` << 16 | random bits), as `ids.new_id` does.
    """
    result = await conn.execute(
        """
        INSERT INTO push_deliveries (id, subscription_id, notification_id, deadline,
                                     next_attempt_at)
        SELECT (floor(extract(epoch FROM $3::timestamptz) * 1000)::bigint << 16)
               | floor(random() * 65536)::bigint,
               w.id, n.id, $2, $3
        FROM notifications n
        JOIN web_push_subscriptions w ON w.account_id = n.account_id
        JOIN oauth_access_tokens t ON t.id = w.access_token_id AND t.revoked_at IS NULL
        WHERE n.id = $1
          AND coalesce((w.alerts ->> n.type)::boolean, false)
          AND (w.policy = 'all'
               OR (w.policy = 'followed' AND EXISTS (
                   SELECT 1 FROM follows f
                   WHERE f.account_id = n.account_id AND f.target_account_id = n.from_account_id))
               OR (w.policy = 'follower' AND EXISTS (
                   SELECT 1 FROM follows f
                   WHERE f.account_id = n.from_account_id AND f.target_account_id = n.account_id)))
        ON CONFLICT DO NOTHING
        """,
        notification_id,
        deadline,
        now,
    )
    written = int(result.rsplit(" ", 1)[-1])
    if written:
        await conn.execute("SELECT pg_notify('push_deliveries', '')")
    return written


async def claim_due_pushes(
    conn: Connection, *, now: datetime, lease_until: datetime, limit: int
) -> list[PushDelivery]:
    """Due pushes, leased until `lease_until` (a killed worker's rows simply come due again)."""
    rows = await conn.fetch(
        f"""
        WITH leased AS (
            UPDATE push_deliveries SET next_attempt_at = $2, attempts = attempts + 1
            WHERE id IN (
                SELECT id FROM push_deliveries
                WHERE state = 'pending' AND next_attempt_at <= $1
                ORDER BY next_attempt_at LIMIT $3
                FOR UPDATE SKIP LOCKED)
            RETURNING id, subscription_id, notification_id, attempts, deadline
        )
        SELECT l.id AS delivery_id, l.attempts, l.deadline, {_SUBSCRIPTION_COLUMNS},
               n.id AS notification_id, n.type AS notification_type, n.from_account_id,
               n.status_id, coalesce(u.locale, 'en') AS preferred_locale
        FROM leased l
        JOIN web_push_subscriptions w ON w.id = l.subscription_id
        JOIN notifications n ON n.id = l.notification_id
        LEFT JOIN users u ON u.account_id = n.account_id
        ORDER BY l.id
        """,
        now,
        lease_until,
        limit,
    )
    return [
        PushDelivery(
            id=row["delivery_id"],
            attempts=row["attempts"],
            deadline=row["deadline"],
            subscription=_subscription(row),
            notification_id=row["notification_id"],
            notification_type=row["notification_type"],
            from_account_id=row["from_account_id"],
            status_id=row["status_id"],
            preferred_locale=row["preferred_locale"],
        )
        for row in rows
    ]


async def mark_push_delivered(conn: Connection, *, delivery_id: int, status_code: int) -> None:
    await conn.execute(
        "UPDATE push_deliveries SET state = 'delivered', last_status_code = $2, "
        "last_error = NULL, finished_at = now() WHERE id = $1",
        delivery_id,
        status_code,
    )


async def mark_push_failed(
    conn: Connection, *, delivery_id: int, status_code: int | None, error: str
) -> None:
    await conn.execute(
        "UPDATE push_deliveries SET state = 'failed', last_status_code = $2, last_error = $3, "
        "finished_at = now() WHERE id = $1",
        delivery_id,
        status_code,
        error,
    )


async def reschedule_push(
    conn: Connection,
    *,
    delivery_id: int,
    next_attempt_at: datetime,
    status_code: int | None,
    error: str,
) -> None:
    await conn.execute(
        "UPDATE push_deliveries SET next_attempt_at = $2, last_status_code = $3, "
        "last_error = $4 WHERE id = $1",
        delivery_id,
        next_attempt_at,
        status_code,
        error,
    )


@dataclass(frozen=True)
class PushDeliveryState:
    id: int
    subscription_id: int
    notification_id: int
    state: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None


async def list_push_deliveries(
    conn: Connection, *, notification_id: int
) -> list[PushDeliveryState]:
    rows = await conn.fetch(
        "SELECT id, subscription_id, notification_id, state, attempts, next_attempt_at, "
        "last_status_code FROM push_deliveries WHERE notification_id = $1 ORDER BY id",
        notification_id,
    )
    return [PushDeliveryState(**dict(row)) for row in rows]
