"""Polls: created with a status, voted on by those who may see it, closed when they expire.

Limits and error wording follow Mastodon (PollValidator, VoteValidator). Votes record a
`poll.voted` domain event so that federation can send them to a remote poll's server. New counts
of our own polls reach peers debounced, as in Mastodon (DistributePollUpdateWorker 3 minutes
after a vote, unique until it runs): a vote schedules one `poll.updated` per poll, recorded by
the timed work when due; a poll that ends sends its `poll.closed` at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fediverse import events, ids
from fediverse.errors import NotFound, ValidationError
from fediverse.notifications import group_key_for
from fediverse.storage import accounts as account_store
from fediverse.storage import notifications as notification_store
from fediverse.storage import polls as poll_store
from fediverse.storage import statuses as status_store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Connection
from fediverse.storage.polls import Poll
from fediverse.storage.statuses import Status

MAX_OPTIONS = 4
MIN_OPTIONS = 2
MAX_OPTION_CHARACTERS = 50
MIN_EXPIRATION_SECONDS = 300
MAX_EXPIRATION_SECONDS = 2_629_746
# Polls closed per call of close_expired_polls; the loop calls again while there are more.
CLOSE_BATCH = 100
# Peers hear of our polls' new counts at most this often (Mastodon: 3.minutes in VoteService).
UPDATE_DELAY = timedelta(minutes=3)
# Due Updates taken per call of distribute_due_poll_updates; the loop calls again for more.
UPDATE_BATCH = 100


@dataclass(frozen=True)
class PollDraft:
    options: list[str]
    expires_in: int
    multiple: bool = False
    hide_totals: bool = False


def _bool(raw: Any, field: str) -> bool:
    if raw is None or isinstance(raw, bool):
        return bool(raw)
    text = str(raw).strip().lower()
    if text in ("1", "true", "t", "on", "yes"):
        return True
    if text in ("0", "false", "f", "off", "no", ""):
        return False
    raise ValidationError(f"{field} must be a boolean", field=field)


def parse_poll_draft(raw: dict[str, Any]) -> PollDraft:
    """Client input (`poll[options][]`, `poll[expires_in]`, ...) → a valid draft, or 422."""
    options = raw.get("options")
    if isinstance(options, dict):  # poll[options][0]=a&poll[options][1]=b
        options = [options[k] for k in sorted(options, key=lambda k: (len(str(k)), str(k)))]
    if not isinstance(options, list):
        options = [] if options is None else [options]
    titles = [str(option).strip() for option in options]
    if len(titles) < MIN_OPTIONS:
        raise ValidationError("Poll options must contain more than one item", field="poll")
    if len(titles) > MAX_OPTIONS:
        raise ValidationError("Poll options contain too many items", field="poll")
    if any(not title for title in titles):
        raise ValidationError("Poll options can't be blank", field="poll")
    if any(len(title) > MAX_OPTION_CHARACTERS for title in titles):
        raise ValidationError(
            f"Poll options cannot be longer than {MAX_OPTION_CHARACTERS} characters each",
            field="poll",
        )
    if len(set(titles)) != len(titles):
        raise ValidationError("Poll options contain duplicate items", field="poll")
    try:
        expires_in = int(raw.get("expires_in"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValidationError("Poll expires_in must be a number of seconds", field="poll") from None
    if expires_in < MIN_EXPIRATION_SECONDS:
        raise ValidationError("Poll duration is too short", field="poll")
    if expires_in > MAX_EXPIRATION_SECONDS:
        raise ValidationError("Poll duration is too long", field="poll")
    return PollDraft(
        options=titles,
        expires_in=expires_in,
        multiple=_bool(raw.get("multiple"), "poll[multiple]"),
        hide_totals=_bool(raw.get("hide_totals"), "poll[hide_totals]"),
    )


def draft_params(draft: PollDraft) -> dict[str, Any]:
    """The draft as Mastodon shows it in a ScheduledStatus's params."""
    return {
        "options": draft.options,
        "expires_in": draft.expires_in,
        "multiple": draft.multiple,
        "hide_totals": draft.hide_totals,
    }


async def create_poll(
    conn: Connection, *, status_id: int, author_id: int, draft: PollDraft, now: datetime
) -> int:
    """Store the poll of a new (or edited) status and link it; returns the poll id."""
    poll_id = ids.new_id()
    await poll_store.insert_poll(
        conn,
        poll_id=poll_id,
        status_id=status_id,
        account_id=author_id,
        options=draft.options,
        multiple=draft.multiple,
        hide_totals=draft.hide_totals,
        expires_at=now + timedelta(seconds=draft.expires_in),
    )
    await status_store.update_status(conn, status_id=status_id, changes={"poll_id": poll_id})
    return poll_id


async def replace_poll(
    conn: Connection, *, status_id: int, author_id: int, draft: PollDraft, now: datetime
) -> int:
    """An edit that changes the poll starts it afresh: votes are reset, as in Mastodon. The same
    options (and choice mode) keep the poll and its votes."""
    current = await poll_store.list_polls_for_statuses(conn, status_ids=[status_id])
    if current and (current[0].options, current[0].multiple) == (draft.options, draft.multiple):
        return current[0].id
    await poll_store.delete_poll_of_status(conn, status_id=status_id)
    return await create_poll(conn, status_id=status_id, author_id=author_id, draft=draft, now=now)


async def fetch_visible_poll(
    conn: Connection, *, poll_id: int, viewer_id: int | None
) -> tuple[Poll, Status]:
    """The poll and its status, or NotFound when the viewer may not see the status."""
    poll = await poll_store.fetch_poll(conn, poll_id=poll_id)
    if poll is None:
        raise NotFound()
    status = await status_store.fetch_visible_status(
        conn, status_id=poll.status_id, viewer_id=viewer_id
    )
    if status is None:
        raise NotFound()
    return poll, status


async def vote(
    conn: Connection, *, voter: Account, poll_id: int, choices: list[int], now: datetime
) -> Poll:
    """Cast `voter`'s choices (0-based option indexes); returns the poll with new counts."""
    _, status = await fetch_visible_poll(conn, poll_id=poll_id, viewer_id=voter.id)
    poll = await poll_store.fetch_poll_for_update(conn, poll_id=poll_id)
    if poll is None:
        raise NotFound()
    if poll.expired_at(now):
        raise ValidationError("The poll has already ended", field="choices")
    if poll.account_id == voter.id:
        raise ValidationError("You cannot vote in your own polls", field="choices")
    wanted = list(dict.fromkeys(choices))
    if not wanted:
        raise ValidationError("Choices can't be blank", field="choices")
    if any(choice < 0 or choice >= len(poll.options) for choice in wanted):
        raise ValidationError("The chosen vote option does not exist", field="choices")
    if not poll.multiple and len(wanted) > 1:
        raise ValidationError("This poll allows only one choice", field="choices")
    previous = (
        await poll_store.list_own_choices(conn, account_id=voter.id, poll_ids=[poll.id])
    ).get(poll.id, [])
    if previous and (not poll.multiple or set(wanted) & set(previous)):
        raise ValidationError("You have already voted on this poll", field="choices")
    vote_ids = [ids.new_id() for _ in wanted]
    await poll_store.insert_votes(
        conn, poll_id=poll.id, account_id=voter.id, choices=wanted, vote_ids=vote_ids
    )
    await poll_store.add_to_tallies(conn, poll_id=poll.id, choices=wanted, new_voter=not previous)
    if status.local and not status.local_only:
        await poll_store.insert_update_schedule(conn, poll_id=poll.id, due_at=now + UPDATE_DELAY)
    # Only a vote on a peer's poll is sent as such; our own poll's counts go out debounced.
    await events.record(
        conn,
        "poll.voted",
        for_publisher=not status.local,
        poll_id=poll.id,
        status_id=status.id,
        status_uri=status.uri,
        poll_account_id=poll.account_id,
        poll_is_local=status.local,
        account_id=voter.id,
        choices=wanted,
        options=[poll.options[choice] for choice in wanted],
        vote_ids=vote_ids,
    )
    updated = await poll_store.fetch_poll(conn, poll_id=poll.id)
    assert updated is not None
    return updated


# --- for federation: remote polls and remote votes ------------------------------------------


async def store_remote_poll(
    conn: Connection,
    *,
    status_id: int,
    author_id: int,
    options: list[str],
    multiple: bool,
    expires_at: datetime | None,
    tallies: list[int],
    voters_count: int,
) -> int:
    """A remote `Question`: store it the first time, then take the counts its server sends."""
    current = await poll_store.fetch_poll_of_status(conn, status_id=status_id)
    if current is not None and current.options == options:
        await poll_store.update_remote_tallies(
            conn, poll_id=current.id, tallies=tallies, voters_count=voters_count
        )
        return current.id
    await poll_store.delete_poll_of_status(conn, status_id=status_id)
    poll_id = ids.new_id()
    await poll_store.insert_poll(
        conn,
        poll_id=poll_id,
        status_id=status_id,
        account_id=author_id,
        options=options,
        multiple=multiple,
        hide_totals=False,
        expires_at=expires_at,
    )
    await poll_store.update_remote_tallies(
        conn, poll_id=poll_id, tallies=tallies, voters_count=voters_count
    )
    await status_store.update_status(conn, status_id=status_id, changes={"poll_id": poll_id})
    return poll_id


async def record_remote_vote(
    conn: Connection, *, voter: Account, status_id: int, option_title: str, uri: str, now: datetime
) -> bool:
    """A remote account's vote on one of our polls (a `Note` with `name` replying to the
    `Question`). The same rules as local votes; an unknown or repeated vote is ignored, since
    peers are told nothing back. Returns whether it was counted."""
    poll = await poll_store.fetch_poll_of_status(conn, status_id=status_id)
    if poll is None or await poll_store.fetch_vote_exists(conn, uri=uri):
        return False
    # The audience rule, and never an internal (local-only) post for someone outside.
    status = await status_store.fetch_visible_status(conn, status_id=status_id, viewer_id=voter.id)
    if status is None or (status.local_only and not voter.is_local):
        return False
    locked = await poll_store.fetch_poll_for_update(conn, poll_id=poll.id)
    if locked is None or locked.expired_at(now) or locked.account_id == voter.id:
        return False
    if option_title not in locked.options:
        return False
    choice = locked.options.index(option_title)
    previous = (
        await poll_store.list_own_choices(conn, account_id=voter.id, poll_ids=[locked.id])
    ).get(locked.id, [])
    if previous and (not locked.multiple or choice in previous):
        return False
    await poll_store.insert_votes(
        conn,
        poll_id=locked.id,
        account_id=voter.id,
        choices=[choice],
        vote_ids=[ids.new_id()],
        uri=uri,
    )
    await poll_store.add_to_tallies(
        conn, poll_id=locked.id, choices=[choice], new_voter=not previous
    )
    # Our Question's counts changed: an Update goes to the voters' servers, debounced.
    await poll_store.insert_update_schedule(conn, poll_id=locked.id, due_at=now + UPDATE_DELAY)
    return True


async def distribute_due_poll_updates(conn: Connection, now: datetime) -> int:
    """Record `poll.updated` for each of our polls whose debounced Update is due by `now` (the
    publisher then renders the counts as they are). Returns how many (at most UPDATE_BATCH)."""
    due = await poll_store.claim_due_updates(conn, now=now, limit=UPDATE_BATCH)
    for update in due:
        await events.record(
            conn, "poll.updated", poll_id=update.poll_id, status_id=update.status_id
        )
    return len(due)


async def _notify_poll_ended(conn: Connection, *, recipient_id: int, poll: Poll) -> None:
    # Written directly: notify() skips self-notifications, but the author is told too.
    notification_id = ids.new_id()
    await notification_store.insert_notification(
        conn,
        notification_id=notification_id,
        account_id=recipient_id,
        from_account_id=poll.account_id,
        type="poll",
        status_id=poll.status_id,
        group_key=group_key_for("poll", poll.status_id, notification_id),
    )


async def close_expired_polls(conn: Connection, now: datetime) -> int:
    """Close polls that ended by `now`: a `poll` notification for the author (when local) and
    every local voter. Returns how many polls were closed (at most CLOSE_BATCH per call)."""
    closed = await poll_store.claim_expired_polls(conn, now=now, limit=CLOSE_BATCH)
    for poll in closed:
        author = await account_store.fetch_account(conn, account_id=poll.account_id)
        recipients = await poll_store.list_voter_ids(conn, poll_id=poll.id)
        if author is not None and author.is_local:
            recipients = [author.id, *recipients]
        for recipient_id in dict.fromkeys(recipients):
            await _notify_poll_ended(conn, recipient_id=recipient_id, poll=poll)
        await poll_store.mark_closed(conn, poll_id=poll.id, now=now)
        # The final counts go out now; a pending debounced Update would only repeat them.
        await poll_store.delete_update_schedule(conn, poll_id=poll.id)
        await events.record(conn, "poll.closed", poll_id=poll.id, status_id=poll.status_id)
    return len(closed)
