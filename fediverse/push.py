"""Web Push subscriptions (one per access token) and queueing a push for each notification.

The encryption and sending live in `federation/webpush.py`; the domain only decides who gets
a push for which notification (alerts and policy), in the notification's own transaction.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta

from fediverse import ids
from fediverse.errors import NotFound, ValidationError
from fediverse.storage import push as push_store
from fediverse.storage.database import Connection
from fediverse.storage.push import PushSubscription

# Mastodon's alert names; each is false unless the client asks for it.
ALERT_TYPES = (
    "mention",
    "status",
    "reblog",
    "follow",
    "follow_request",
    "favourite",
    "poll",
    "update",
    "admin.sign_up",
    "admin.report",
)
POLICIES = ("all", "followed", "follower", "none")
# A phone that stays offline for two days gains nothing from an older notification.
PUSH_WINDOW = timedelta(days=2)
MAX_ENDPOINT_LENGTH = 2048


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _decoded_length(value: str) -> int:
    padded = value + "=" * (-len(value) % 4)
    try:
        return len(base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_")))
    except (binascii.Error, ValueError):
        return -1


def parse_alerts(raw: object, *, current: dict[str, bool] | None = None) -> dict[str, bool]:
    """Alerts from `data[alerts]`: known names only, anything truthy as Rails reads it."""
    alerts = {name: False for name in ALERT_TYPES} | (current or {})
    if isinstance(raw, dict):
        for name in ALERT_TYPES:
            if name in raw:
                value = raw[name]
                alerts[name] = value is True or str(value).strip().lower() in {"1", "true", "on"}
    return alerts


def parse_policy(raw: object, *, default: str = "all") -> str:
    if raw is None or raw == "":
        return default
    value = str(raw)
    if value not in POLICIES:
        raise ValidationError(f"policy must be one of {', '.join(POLICIES)}", field="policy")
    return value


def _check_subscription(endpoint: str | None, p256dh: str | None, auth: str | None) -> None:
    if not endpoint or not endpoint.startswith("https://") or len(endpoint) > MAX_ENDPOINT_LENGTH:
        raise ValidationError("Endpoint must be an https URL", field="subscription[endpoint]")
    # RFC 8291: the user agent's key is an uncompressed P-256 point, the secret 16 bytes.
    if not p256dh or _decoded_length(p256dh) != 65:
        raise ValidationError("Invalid p256dh key", field="subscription[keys][p256dh]")
    if not auth or _decoded_length(auth) != 16:
        raise ValidationError("Invalid auth secret", field="subscription[keys][auth]")


async def subscribe(
    conn: Connection,
    *,
    access_token_id: int,
    account_id: int,
    endpoint: str | None,
    p256dh: str | None,
    auth: str | None,
    standard: bool,
    alerts: dict[str, bool],
    policy: str,
) -> PushSubscription:
    """Create the token's subscription, replacing any earlier one (as Mastodon does)."""
    _check_subscription(endpoint, p256dh, auth)
    assert endpoint is not None and p256dh is not None and auth is not None
    return await push_store.upsert_subscription(
        conn,
        subscription_id=ids.new_id(),
        access_token_id=access_token_id,
        account_id=account_id,
        endpoint=endpoint,
        key_p256dh=p256dh,
        key_auth=auth,
        standard=standard,
        alerts=alerts,
        policy=policy,
    )


async def subscription_for(conn: Connection, *, access_token_id: int) -> PushSubscription:
    found = await push_store.fetch_subscription_for_token(conn, access_token_id=access_token_id)
    if found is None:
        raise NotFound()
    return found


async def update(
    conn: Connection, *, access_token_id: int, alerts_input: object, policy_input: object
) -> PushSubscription:
    current = await subscription_for(conn, access_token_id=access_token_id)
    updated = await push_store.update_subscription(
        conn,
        access_token_id=access_token_id,
        alerts=parse_alerts(alerts_input, current=current.alerts),
        policy=parse_policy(policy_input, default=current.policy),
    )
    if updated is None:
        raise NotFound()
    return updated


async def unsubscribe(conn: Connection, *, access_token_id: int) -> None:
    await push_store.delete_subscription_for_token(conn, access_token_id=access_token_id)


async def enqueue_for_notification(
    conn: Connection, *, notification_id: int, now: datetime | None = None
) -> int:
    """Queue a push of a just-written notification to each subscription that wants it.

    Runs in the notification's transaction: the push exists exactly when the notification does.
    """
    moment = now or _utcnow()
    return await push_store.insert_pushes_for_notification(
        conn, notification_id=notification_id, deadline=moment + PUSH_WINDOW, now=moment
    )
