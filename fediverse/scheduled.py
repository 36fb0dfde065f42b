"""Scheduled statuses: kept with the parameters the client sent, posted when they fall due.

Rules follow Mastodon: at least five minutes ahead, at most 300 pending per account and 25 on
any one day. `publish_due_scheduled` posts the due ones; `run_timed_work` is the loop that the
app's background runs, which also closes expired polls and sends their debounced Updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fediverse import default_scope, ids, polls
from fediverse.errors import DomainError, NotFound, ValidationError
from fediverse.ids import parse_id
from fediverse.statuses import Draft, PostingContext, post_status
from fediverse.storage import accounts as account_store
from fediverse.storage import media as media_store
from fediverse.storage import scheduled as scheduled_store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Connection, Database
from fediverse.storage.scheduled import ScheduledStatus
from fediverse.timelines import Window

log = logging.getLogger(__name__)

MIN_DELAY = timedelta(minutes=5)
TOTAL_LIMIT = 300
DAILY_LIMIT = 25
# How often the background loop looks for due posts and ended polls.
TIMED_WORK_INTERVAL_SECONDS = 15.0
PUBLISH_BATCH = 100


def draft_to_params(draft: Draft, *, idempotency: str | None = None) -> dict[str, Any]:
    """The draft in the shape of Mastodon's ScheduledStatus `params`."""
    return {
        "text": draft.text,
        "poll": None if draft.poll is None else polls.draft_params(draft.poll),
        "media_ids": [str(m) for m in draft.media_ids] or None,
        "sensitive": draft.sensitive,
        "spoiler_text": draft.spoiler_text or None,
        "visibility": draft.visibility,
        "local_only": draft.local_only,
        "scheduled_at": None,
        "in_reply_to_id": None if draft.in_reply_to_id is None else str(draft.in_reply_to_id),
        "language": draft.language,
        "application_id": draft.application_id,
        "idempotency": idempotency,
        "with_rate_limit": False,
    }


def params_to_draft(params: dict[str, Any]) -> Draft:
    poll = params.get("poll")
    return Draft(
        text=params.get("text") or "",
        spoiler_text=params.get("spoiler_text") or "",
        visibility=params.get("visibility"),
        local_only=params.get("local_only"),
        sensitive=params.get("sensitive"),
        language=params.get("language"),
        in_reply_to_id=parse_id(params.get("in_reply_to_id")),
        media_ids=[m for m in (parse_id(raw) for raw in params.get("media_ids") or []) if m],
        application_id=params.get("application_id"),
        poll=None if not poll else polls.parse_poll_draft(poll),
    )


def media_ids_of(scheduled: ScheduledStatus) -> list[int]:
    raw = scheduled.params.get("media_ids") or []
    return [m for m in (parse_id(item) for item in raw) if m is not None]


async def _check_time(
    conn: Connection, *, account_id: int, scheduled_at: datetime, now: datetime, extra: int
) -> None:
    if scheduled_at - now < MIN_DELAY:
        raise ValidationError(
            "Scheduled at The scheduled date must be in the future", field="scheduled_at"
        )
    day_start = scheduled_at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    total, that_day = await scheduled_store.count_scheduled(
        conn, account_id=account_id, day_start=day_start, day_end=day_start + timedelta(days=1)
    )
    if total + extra > TOTAL_LIMIT:
        raise ValidationError(
            f"You have exceeded the limit of {TOTAL_LIMIT} scheduled posts", field="scheduled_at"
        )
    if that_day + extra > DAILY_LIMIT:
        raise ValidationError(
            f"You have exceeded the limit of {DAILY_LIMIT} scheduled posts on that day",
            field="scheduled_at",
        )


async def schedule(
    conn: Connection,
    *,
    author: Account,
    draft: Draft,
    scheduled_at: datetime,
    now: datetime,
    idempotency: str | None = None,
) -> ScheduledStatus:
    """Keep a status to post at `scheduled_at`; checked now as far as it can be."""
    if not draft.text.strip() and not draft.media_ids:
        raise ValidationError("Text can't be blank", field="status")
    if draft.poll is not None and draft.media_ids:
        raise ValidationError("Cannot attach both media and a poll", field="poll")
    for media_id in draft.media_ids:
        media = await media_store.fetch_media(conn, media_id=media_id)
        if media is None or media.account_id != author.id or media.status_id is not None:
            raise ValidationError(f"Media {media_id} cannot be attached", field="media_ids")
    await _check_time(conn, account_id=author.id, scheduled_at=scheduled_at, now=now, extra=1)
    scheduled_id = ids.new_id()
    await scheduled_store.insert_scheduled(
        conn,
        scheduled_id=scheduled_id,
        account_id=author.id,
        scheduled_at=scheduled_at,
        params=draft_to_params(draft, idempotency=idempotency),
    )
    return await fetch_scheduled(conn, account_id=author.id, scheduled_id=scheduled_id)


async def fetch_scheduled(
    conn: Connection, *, account_id: int, scheduled_id: int
) -> ScheduledStatus:
    found = await scheduled_store.fetch_scheduled(
        conn, account_id=account_id, scheduled_id=scheduled_id
    )
    if found is None:
        raise NotFound()
    return found


async def list_scheduled(
    conn: Connection, *, account_id: int, window: Window
) -> list[ScheduledStatus]:
    rows = await scheduled_store.list_scheduled(
        conn,
        account_id=account_id,
        below_id=window.upper,
        above_id=window.lower,
        count=window.limit,
        ascending=window.ascending,
    )
    return rows[::-1] if window.ascending else rows


async def reschedule(
    conn: Connection, *, account_id: int, scheduled_id: int, scheduled_at: datetime, now: datetime
) -> ScheduledStatus:
    current = await fetch_scheduled(conn, account_id=account_id, scheduled_id=scheduled_id)
    # Moving a post within its own day must not count it twice against the daily limit.
    same_day = current.scheduled_at.astimezone(UTC).date() == scheduled_at.astimezone(UTC).date()
    await _check_time(
        conn, account_id=account_id, scheduled_at=scheduled_at, now=now, extra=0 if same_day else 1
    )
    await scheduled_store.update_scheduled_at(
        conn, account_id=account_id, scheduled_id=scheduled_id, scheduled_at=scheduled_at
    )
    return await fetch_scheduled(conn, account_id=account_id, scheduled_id=scheduled_id)


async def cancel(conn: Connection, *, account_id: int, scheduled_id: int) -> None:
    current = await fetch_scheduled(conn, account_id=account_id, scheduled_id=scheduled_id)
    await scheduled_store.delete_scheduled(conn, scheduled_id=current.id)


async def publish_due_scheduled(database: Database, now: datetime, ctx: PostingContext) -> int:
    """Post every scheduled status due by `now`, each in its own transaction. One that can no
    longer be posted (its reply target is gone, its author suspended) is dropped and logged.
    Returns how many were posted."""
    published = 0
    for _ in range(PUBLISH_BATCH):
        async with database.transaction() as conn:
            due = await scheduled_store.claim_due(conn, now=now)
            if due is None:
                break
            author = await account_store.fetch_account(conn, account_id=due.account_id)
            user = await account_store.fetch_user_by_account(conn, account_id=due.account_id)
            if author is not None and user is not None and author.suspended_at is None:
                try:
                    defaults = await default_scope.default_for(conn, user)
                    async with conn.transaction():  # a savepoint: a failure drops only the post
                        await post_status(
                            conn,
                            author=author,
                            draft=params_to_draft(due.params),
                            ctx=ctx,
                            default_visibility=defaults.visibility,
                            default_local_only=defaults.local_only,
                            default_sensitive=user.default_sensitive,
                            default_language=user.default_language,
                        )
                    published += 1
                except DomainError as error:
                    log.warning("scheduled status %s dropped: %s", due.id, error.message)
            await scheduled_store.delete_scheduled(conn, scheduled_id=due.id)
    return published


async def run_timed_work(
    database: Database,
    ctx: PostingContext,
    stop: asyncio.Event,
    *,
    interval_seconds: float = TIMED_WORK_INTERVAL_SECONDS,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Until `stop` is set: close ended polls, send the polls' due (debounced) Updates and post
    due statuses, every `interval_seconds`."""
    while not stop.is_set():
        try:
            now = clock()
            while True:
                async with database.transaction() as conn:
                    if await polls.close_expired_polls(conn, now) < polls.CLOSE_BATCH:
                        break
            while True:
                async with database.transaction() as conn:
                    if await polls.distribute_due_poll_updates(conn, now) < polls.UPDATE_BATCH:
                        break
            await publish_due_scheduled(database, now, ctx)
        except Exception:  # a task boundary: log and keep the loop alive
            log.exception("timed work failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
