"""Receiving activities: size limit → JSON object → HTTP signature → key owner is the actor →
stored once by activity id (answered 202); `federation.inbox_worker` applies them later.

Nothing is stored unless the signature verifies. As Mastodon does, a Delete from an actor whose
key can no longer be fetched (the account is gone) is accepted silently and dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from federation.activitystreams import host_of, id_of
from federation.client import FetchError
from federation.keys import KeyResolver
from federation.policy import DomainGate, refused_sender
from federation.signatures import (
    STRICT,
    SignatureError,
    VerifyPolicy,
    normalize_headers,
    verify_with_resolver,
)
from fediverse import ids
from fediverse.errors import ValidationError
from fediverse.storage import inbox_activities
from fediverse.storage.database import Database, refused_input_as_domain_errors
from fediverse.storage.inbox_activities import NewActivity

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
# The longest actor or activity id accepted: ids are indexed (a B-tree entry holds ~2.7 KB),
# and real ones are far shorter.
MAX_ID_LENGTH = 2048
NOTIFY_CHANNEL = "inbox_activities"
# Activities stored by one statement at most (see InboxWriter).
MAX_BATCH = 128


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


# "\u0000" in a JSON string (after an even number of backslashes, so itself an escape).
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def parse_activity(body: bytes) -> dict[str, Any]:
    """The body as a JSON object with a type and an actor, or InboxError(400/413)."""
    if len(body) > MAX_BODY_BYTES:
        raise InboxError(413, "activity is larger than 1 MB")
    if b"\\u0000" in body and _NUL_ESCAPE.search(body):
        # PostgreSQL text cannot hold U+0000: nothing of such an activity could be stored.
        raise InboxError(400, "the activity cannot be stored: it contains a NUL character")
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
    if len(actor) > MAX_ID_LENGTH or (isinstance(ident, str) and len(ident) > MAX_ID_LENGTH):
        raise InboxError(400, f"actor or activity id is longer than {MAX_ID_LENGTH} characters")
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
    writer: InboxWriter | None = None,
) -> Received:
    """Verify and store one delivered activity. Raises InboxError for 400, 401, 403 and 413.

    `url` is the URL as we are addressed (our base URL + path), never the Host header.
    A keyId or actor on a domain that may not federate (`domain_policy`) is refused with 403
    before any key is fetched and before anything is stored. `writer` is the process's
    InboxWriter (group commit); without one the activity is written on its own.
    """
    headers = normalize_headers(headers)  # once, for the gate and the verification
    refused = await refused_sender(domain_policy, headers=headers, document=None)
    if refused is None:
        document = parse_activity(body)
        refused = await refused_sender(domain_policy, headers=None, document=document)
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
    activity = NewActivity(
        row_id=ids.new_id(),
        activity_id=key,
        actor_uri=str(actor),
        activity_type=str(document["type"]),
        payload=document,
        raw=body,
    )
    try:
        stored = await (writer or InboxWriter(database)).store(activity)
    except ValidationError as error:  # a value PostgreSQL refuses, which the checks let through
        raise InboxError(400, f"the activity cannot be stored: {error}") from error
    return Received(activity_id=key, stored=stored, note="stored" if stored else "duplicate")


class InboxWriter:
    """Stores verified activities with group commit: the requests of one process that are
    waiting to be stored at the same moment share one INSERT (and one commit and one NOTIFY).

    Nothing waits for company: the first activity is written at once, and whatever arrives
    while that statement runs goes in the next one. A request is answered only after its
    activity is committed, so a 202 still means stored. If PostgreSQL refuses a value of a
    batch, each activity of it is written on its own, so one bad activity fails alone; any
    other failure (the database is unreachable) fails the whole batch at once.
    """

    def __init__(self, database: Database, *, max_batch: int = MAX_BATCH) -> None:
        self.database = database
        self.max_batch = max_batch
        self._waiting: list[tuple[NewActivity, asyncio.Future[bool]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def store(self, activity: NewActivity) -> bool:
        """Store one activity; False when its id was received before."""
        stored: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        # Read the outcome even when the caller went away, so a failure is not reported as
        # "never retrieved" (the caller's own request has ended; nothing is lost).
        stored.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._waiting.append((activity, stored))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write_all())
        # Shielded: a caller that goes away (the peer hung up) leaves its activity stored,
        # and the batch's other callers still get their answers.
        return await asyncio.shield(stored)

    async def _write_all(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self.max_batch]
                del self._waiting[: self.max_batch]
                await self._write(batch)
        finally:  # cancelled (shutdown): nobody is left waiting forever
            for _, waiting in self._waiting:
                waiting.cancel()
            self._waiting.clear()

    async def _write(self, batch: list[tuple[NewActivity, asyncio.Future[bool]]]) -> None:
        try:
            with refused_input_as_domain_errors():
                async with self.database.connection() as conn:
                    stored = await inbox_activities.insert_activities(
                        conn,
                        activities=[activity for activity, _ in batch],
                        notify_channel=NOTIFY_CHANNEL,
                    )
        except asyncio.CancelledError:
            for _, waiting in batch:
                waiting.cancel()
            raise
        except ValidationError as error:
            if len(batch) > 1:  # one payload PostgreSQL refuses: find it, store the others
                log.info("storing %d activities failed (%s); one by one now", len(batch), error)
                for item in batch:
                    await self._write([item])
                return
            _, waiting = batch[0]
            if not waiting.done():
                waiting.set_exception(error)
            return
        except Exception as error:  # the database is unreachable, or similar: all fail
            for _, waiting in batch:
                if not waiting.done():
                    waiting.set_exception(error)
            return
        # Repeats of one id within the batch: the first is stored, the others are duplicates.
        seen: set[str] = set()
        for activity, waiting in batch:
            new = activity.activity_id in stored and activity.activity_id not in seen
            seen.add(activity.activity_id)
            if not waiting.done():
                waiting.set_result(new)
