"""Receiving activities: size limit → JSON object → HTTP signature → key owner is the actor →
stored once by activity id (answered 202); `federation.inbox_worker` applies them later.

Nothing is stored unless the signature verifies. As Mastodon does, a Delete from an actor whose
key can no longer be fetched (the account is gone) is accepted silently and dropped.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from federation.activitystreams import host_of, id_of
from federation.client import FetchError
from federation.keys import KeyResolver
from federation.policy import DomainGate, refused_sender
from federation.signatures import STRICT, SignatureError, VerifyPolicy, verify_with_resolver
from fediverse import ids
from fediverse.storage import inbox_activities
from fediverse.storage.database import Database

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
NOTIFY_CHANNEL = "inbox_activities"


class InboxError(Exception):
    """The request is refused; `status` is the HTTP answer (400, 401, 413)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Received:
    """An accepted request (202): stored now, a duplicate, or dropped on purpose."""

    activity_id: str | None
    stored: bool
    note: str


def parse_activity(body: bytes) -> dict[str, Any]:
    """The body as a JSON object with a type and an actor, or InboxError(400/413)."""
    if len(body) > MAX_BODY_BYTES:
        raise InboxError(413, "activity is larger than 1 MB")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InboxError(400, "body is not JSON") from error
    if not isinstance(document, dict):
        raise InboxError(400, "body is not a JSON object")
    if not isinstance(document.get("type"), str):
        raise InboxError(400, "activity has no type")
    actor = id_of(document.get("actor"))
    if actor is None or not host_of(actor):
        raise InboxError(400, "activity has no http(s) actor")
    ident = document.get("id")
    if ident is not None and (not isinstance(ident, str) or host_of(ident) != host_of(actor)):
        raise InboxError(400, "activity id is not on the actor's host")
    return document


def activity_key(document: dict[str, Any], body: bytes) -> str:
    """The dedupe key: the activity id, or (for the few servers that send none) a digest of
    the body, so that a redelivery still has one effect."""
    ident = document.get("id")
    if isinstance(ident, str) and ident:
        return ident
    return "urn:sha256:" + hashlib.sha256(body).hexdigest()


def _is_self_delete(document: dict[str, Any]) -> bool:
    actor = id_of(document.get("actor"))
    return document.get("type") == "Delete" and id_of(document.get("object")) == actor


def _key_gone(error: SignatureError) -> bool:
    cause: BaseException | None = error.__cause__
    while cause is not None:
        if isinstance(cause, FetchError) and cause.status in (401, 403, 404, 410):
            return True
        cause = cause.__cause__
    return False


async def receive(
    *,
    database: Database,
    resolver: KeyResolver,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime | None = None,
    policy: VerifyPolicy = STRICT,
    domain_policy: DomainGate | None = None,
) -> Received:
    """Verify and store one delivered activity. Raises InboxError for 400, 401, 403 and 413.

    `url` is the URL as we are addressed (our base URL + path), never the Host header.
    A keyId or actor on a domain that may not federate (`domain_policy`) is refused with 403
    before any key is fetched and before anything is stored.
    """
    refused = await refused_sender(domain_policy, headers=headers, document=None)
    if refused is None:
        document = parse_activity(body)
        refused = await refused_sender(domain_policy, headers=headers, document=document)
    if refused is not None:
        raise InboxError(403, f"{refused.domain} is not allowed to federate with this server")
    actor = id_of(document.get("actor"))
    try:
        verified = await verify_with_resolver(
            method, url, headers, body, resolver, now=now, policy=policy
        )
    except SignatureError as error:
        if _is_self_delete(document) and _key_gone(error):
            log.info("dropping Delete of %s: its key is gone", actor)
            return Received(activity_id=id_of(document), stored=False, note="actor is gone")
        raise InboxError(401, f"signature rejected: {error.reason}") from error
    if verified.key_owner != actor:
        raise InboxError(401, f"key {verified.key_id} is not owned by the actor {actor}")
    key = activity_key(document, body)
    # One statement, no explicit transaction: BEGIN and COMMIT were half the round trips
    # of accepting an activity (bench/inbox.py).
    async with database.connection() as conn:
        stored = await inbox_activities.insert_activity(
            conn,
            row_id=ids.new_id(),
            activity_id=key,
            actor_uri=str(actor),
            activity_type=str(document["type"]),
            payload=document,
            notify_channel=NOTIFY_CHANNEL,
        )
    return Received(activity_id=key, stored=stored, note="stored" if stored else "duplicate")
