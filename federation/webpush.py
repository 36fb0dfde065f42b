"""Sending Web Push: VAPID keys (RFC 8292), encrypted payloads (RFC 8291) and the push queue.

Cryptography comes from well-kept libraries: `http_ece` encrypts the payload (aes128gcm, or
the older aesgcm draft for subscriptions made without `standard`, as Mastodon 4.4 does) and
`py_vapid` signs the VAPID JWT. Requests go through the one FederationClient (SSRF guard,
limits); push services are ordinary public HTTPS hosts.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import http_ece
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid01, Vapid02

from federation.client import FederationClient, FetchError, UnsafeDestination
from federation.delivery import backoff, is_permanent
from fediverse.content import html_to_text
from fediverse.storage import accounts as account_store
from fediverse.storage import push as push_store
from fediverse.storage import statuses as status_store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Connection, Database
from fediverse.storage.push import PushDelivery, PushSubscription, VapidKeys
from fediverse.storage.statuses import Status
from fediverse.storage.wakeups import run_woken
from fediverse.urls import LocalUrls

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "push_deliveries"
LEASE = timedelta(minutes=5)
# How long a push service should hold a message for an offline device (Mastodon: 48 hours).
TTL_SECONDS = 48 * 3600
JWT_LIFETIME = timedelta(hours=12)
BODY_LIMIT = 140

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(value: str) -> bytes:
    cleaned = value.strip().replace("+", "-").replace("/", "_")
    return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))


def _public_point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


# --- VAPID keys -------------------------------------------------------------------------------


def generate_vapid_keys() -> VapidKeys:
    """A new P-256 key pair: the private key as PEM, the public key as clients want it
    (base64url of the uncompressed point, Mastodon's `vapid_key`)."""
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return VapidKeys(private_key_pem=pem, public_key=b64url(_public_point(private.public_key())))


async def load_vapid_keys(conn: Connection) -> VapidKeys:
    """The server's VAPID keys, generated on first use and kept (first writer wins)."""
    keys = await push_store.fetch_vapid_keys(conn)
    if keys is None:
        made = generate_vapid_keys()
        await push_store.insert_vapid_keys(
            conn, private_key_pem=made.private_key_pem, public_key=made.public_key
        )
        keys = await push_store.fetch_vapid_keys(conn)
    assert keys is not None
    return keys


def _private_key(keys: VapidKeys) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(keys.private_key_pem.encode("ascii"), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the stored VAPID key is not an EC key")
    return key


# --- the payload ------------------------------------------------------------------------------

# English titles, as Mastodon's push notifications word them.
_TITLES = {
    "mention": "You were mentioned by {name}",
    "status": "{name} just posted",
    "reblog": "{name} boosted your post",
    "follow": "{name} followed you",
    "follow_request": "New follow request from {name}",
    "favourite": "{name} favorited your post",
    "poll": "A poll by {name} has ended",
    "update": "{name} edited a post",
    "admin.sign_up": "{name} signed up",
    "admin.report": "{name} filed a report",
}


def _truncate(text: str, limit: int = BODY_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _avatar_url(account: Account, urls: LocalUrls) -> str:
    if account.avatar_file:
        return urls.media(account.avatar_file)
    return account.avatar_remote_url or urls.avatar_missing()


def build_payload(
    delivery: PushDelivery, sender: Account, status: Status | None, urls: LocalUrls
) -> dict[str, Any]:
    """The JSON Mastodon pushes (Web::NotificationSerializer), minus `access_token`: tokens
    are kept only as hashes here, so apps fetch the notification with their own token."""
    name = sender.display_name.strip() or sender.username
    if status is not None:
        body = status.spoiler_text or html_to_text(status.content)
    else:
        body = html_to_text(sender.note)
    title = _TITLES.get(delivery.notification_type, "{name}").format(name=name)
    return {
        "notification_id": str(delivery.notification_id),
        "notification_type": delivery.notification_type,
        "preferred_locale": delivery.preferred_locale,
        "title": title,
        "body": _truncate(body),
        "icon": _avatar_url(sender, urls),
    }


# --- encryption and VAPID headers -------------------------------------------------------------


@dataclass(frozen=True)
class EncryptedPush:
    body: bytes
    headers: dict[str, str]


def audience_of(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    port = "" if parts.port in (None, default) else f":{parts.port}"
    return f"{parts.scheme}://{parts.hostname}{port}"


def encrypt_push(
    payload: bytes,
    subscription: PushSubscription,
    keys: VapidKeys,
    *,
    subject: str,
    now: datetime,
) -> EncryptedPush:
    """Encrypt for the subscriber and sign the VAPID claims for its push service.

    `standard` subscriptions get RFC 8291 aes128gcm and `vapid t=…,k=…` (RFC 8292); others get
    the aesgcm draft with `WebPush` + `Crypto-Key`, which apps predating Mastodon 4.4 decrypt.
    """
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    receiver = b64url_decode(subscription.key_p256dh)
    secret = b64url_decode(subscription.key_auth)
    claims = {
        "aud": audience_of(subscription.endpoint),
        "exp": int((now + JWT_LIFETIME).timestamp()),
        "sub": subject,
    }
    headers = {"TTL": str(TTL_SECONDS), "Urgency": "normal"}
    conf = {"no-strict": True}  # our `sub` may be an http:// URL on a development server
    if subscription.standard:
        body = http_ece.encrypt(
            payload, private_key=ephemeral, dh=receiver, auth_secret=secret, version="aes128gcm"
        )
        vapid = Vapid02(private_key=_private_key(keys), conf=conf)
        headers.update(vapid.sign(claims))
        headers["Content-Encoding"] = "aes128gcm"
        return EncryptedPush(body=body, headers=headers)
    salt = os.urandom(16)
    body = http_ece.encrypt(
        payload,
        salt=salt,
        private_key=ephemeral,
        dh=receiver,
        auth_secret=secret,
        version="aesgcm",
    )
    legacy = Vapid01(private_key=_private_key(keys), conf=conf)
    sender_key = b64url(_public_point(ephemeral.public_key()))
    headers.update(legacy.sign(claims, crypto_key=f"dh={sender_key}"))
    headers["Content-Encoding"] = "aesgcm"
    headers["Encryption"] = f"salt={b64url(salt)}"
    return EncryptedPush(body=body, headers=headers)


# --- the worker -------------------------------------------------------------------------------


def is_gone(status_code: int) -> bool:
    """The push service says the subscription no longer exists: forget it (RFC 8030 §7.3)."""
    return status_code in (404, 410)


class PushWorker:
    """Delivers queued pushes; runs inside `serve` or `fediverse worker`, tests step it."""

    def __init__(
        self,
        database: Database,
        client: FederationClient,
        urls: LocalUrls,
        *,
        subject: str,
        clock: Clock = _utcnow,
        batch_size: int = 100,
        max_concurrency: int = 16,
        rng: random.Random | None = None,
    ) -> None:
        self.database = database
        self.client = client
        self.urls = urls
        self.subject = subject
        self.clock = clock
        self.batch_size = batch_size
        self._slots = asyncio.Semaphore(max_concurrency)
        self._rng = rng or random.Random()
        self._keys: VapidKeys | None = None

    async def _vapid_keys(self) -> VapidKeys:
        if self._keys is None:
            async with self.database.transaction() as conn:
                self._keys = await load_vapid_keys(conn)
        return self._keys

    async def run_once(self) -> int:
        now = self.clock()
        async with self.database.transaction() as conn:
            batch = await push_store.claim_due_pushes(
                conn, now=now, lease_until=now + LEASE, limit=self.batch_size
            )
        if batch:
            await asyncio.gather(*(self._attempt(delivery) for delivery in batch))
        return len(batch)

    async def run_until_idle(self) -> int:
        total = 0
        while True:
            done = await self.run_once()
            total += done
            if done == 0:
                return total

    async def _payload(self, delivery: PushDelivery) -> bytes:
        async with self.database.connection() as conn:
            sender = await account_store.fetch_account(conn, account_id=delivery.from_account_id)
            status = None
            if delivery.status_id is not None:
                status = await status_store.fetch_status(conn, status_id=delivery.status_id)
        if sender is None:
            raise LookupError(f"account {delivery.from_account_id} is gone")
        return orjson.dumps(build_payload(delivery, sender, status, self.urls))

    async def _attempt(self, delivery: PushDelivery) -> None:
        async with self._slots:
            status_code: int | None = None
            permanent = False
            try:
                encrypted = encrypt_push(
                    await self._payload(delivery),
                    delivery.subscription,
                    await self._vapid_keys(),
                    subject=self.subject,
                    now=self.clock(),
                )
                status_code = await self.client.post_web_push(
                    delivery.subscription.endpoint, encrypted.body, headers=encrypted.headers
                )
                error = f"HTTP {status_code}"
            except UnsafeDestination as exc:
                permanent, error = True, str(exc)
            except FetchError as exc:
                status_code, error = exc.status, str(exc)
            except Exception as exc:  # a task boundary: log, keep the row for a retry
                log.exception("push %s to %s crashed", delivery.id, delivery.subscription.endpoint)
                error = f"{exc.__class__.__name__}: {exc}"
            await self._record(delivery, status_code, error, permanent=permanent)

    async def _record(
        self, delivery: PushDelivery, status_code: int | None, error: str, *, permanent: bool
    ) -> None:
        now = self.clock()
        async with self.database.transaction() as conn:
            if status_code is not None and 200 <= status_code < 300:
                await push_store.mark_push_delivered(
                    conn, delivery_id=delivery.id, status_code=status_code
                )
                return
            if status_code is not None and is_gone(status_code):
                # Deleting the subscription also drops its queued pushes (ON DELETE CASCADE).
                await push_store.delete_subscription(conn, subscription_id=delivery.subscription.id)
                log.info("push subscription %s is gone (%s)", delivery.subscription.id, error)
                return
            next_at = now + backoff(delivery.attempts, self._rng)
            if (
                permanent
                or (status_code is not None and is_permanent(status_code))
                or next_at > delivery.deadline
            ):
                await push_store.mark_push_failed(
                    conn, delivery_id=delivery.id, status_code=status_code, error=error
                )
                return
            await push_store.reschedule_push(
                conn,
                delivery_id=delivery.id,
                next_attempt_at=next_at,
                status_code=status_code,
                error=error,
            )

    async def run_forever(self, stop: asyncio.Event, *, idle_poll: float = 5.0) -> None:
        """Send as pushes come due; LISTEN wakes the loop when one is queued."""
        await run_woken(
            self.database, NOTIFY_CHANNEL, self.run_once, stop, idle_poll=idle_poll, name="push"
        )


def vapid_subject(contact_email: str, base_url: str) -> str:
    """The VAPID `sub` claim: the admin's mailto: when known, else the server's URL."""
    return f"mailto:{contact_email}" if contact_email else base_url
