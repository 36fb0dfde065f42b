"""What one account is to another: follows and follow requests, blocks, mutes and notes.

Every change with consequences for a peer records a domain event ("follow.requested",
"follow.accepted", "follow.rejected", "follow.undone", "block.created", "block.undone") in the
same transaction; federation renders Follow/Accept/Reject/Undo/Block from them after commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fediverse import events, ids
from fediverse.errors import Forbidden, NotFound, ValidationError
from fediverse.notifications import notify, withdraw
from fediverse.storage import accounts as account_store
from fediverse.storage import relationships as store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Connection
from fediverse.storage.relationships import Follow, RelationshipFacts

MAX_NOTE_LENGTH = 2000
SELF_FOLLOW_ERROR = "Following your own account is not allowed"


@dataclass(frozen=True)
class Relationship:
    """The viewer's relationship to one account (Mastodon's Relationship entity)."""

    target_id: int
    following: bool
    showing_reblogs: bool
    notifying: bool
    languages: list[str] | None
    followed_by: bool
    blocking: bool
    blocked_by: bool
    muting: bool
    muting_notifications: bool
    muting_expires_at: datetime | None
    requested: bool
    requested_by: bool
    note: str


def _relationship(facts: RelationshipFacts) -> Relationship:
    # A pending request already carries the options the follow will have once accepted.
    options = facts.following or facts.requested
    return Relationship(
        target_id=facts.target_id,
        following=facts.following is not None,
        showing_reblogs=options.show_reblogs if options else False,
        notifying=options.notify if options else False,
        languages=options.languages if options else None,
        followed_by=facts.followed_by,
        blocking=facts.blocking,
        blocked_by=facts.blocked_by,
        muting=facts.muting,
        muting_notifications=facts.muting_notifications,
        muting_expires_at=facts.muting_expires_at,
        requested=facts.requested is not None,
        requested_by=facts.requested_by,
        note=facts.note,
    )


async def relationships(
    conn: Connection, *, account_id: int, target_ids: list[int]
) -> list[Relationship]:
    """Relationships to each existing target, in the order asked (unknown ids are skipped)."""
    unique = list(dict.fromkeys(target_ids))
    facts = await store.list_relationship_facts(conn, account_id=account_id, target_ids=unique)
    return [_relationship(facts[target_id]) for target_id in unique if target_id in facts]


async def relationship(conn: Connection, *, account_id: int, target_id: int) -> Relationship:
    found = await relationships(conn, account_id=account_id, target_ids=[target_id])
    if not found:
        raise NotFound()
    return found[0]


async def fetch_target(conn: Connection, target_id: int) -> Account:
    """An account someone acts on; unknown and suspended accounts are not found."""
    target = await account_store.fetch_account(conn, account_id=target_id)
    if target is None or target.suspended_at is not None:
        raise NotFound()
    return target


# --- following ------------------------------------------------------------------------------


async def follow(
    conn: Connection,
    *,
    account: Account,
    target: Account,
    reblogs: bool | None = None,
    notify_posts: bool | None = None,
    languages: list[str] | None = None,
) -> Relationship:
    """Follow `target`: at once for an unlocked local account, otherwise as a pending request
    (locked accounts approve it; remote ones answer later through federation).

    Following again changes only the options given (None keeps what is stored).
    """
    if target.id == account.id:
        raise Forbidden(SELF_FOLLOW_ERROR)
    if target.suspended_at is not None:
        raise NotFound()
    if await store.fetch_block_exists(
        conn, account_id=target.id, target_account_id=account.id
    ) or await store.fetch_block_exists(conn, account_id=account.id, target_account_id=target.id):
        raise Forbidden()

    existing = await store.fetch_follow(conn, account_id=account.id, target_account_id=target.id)
    pending = None
    if existing is None:
        pending = await store.fetch_follow_request(
            conn, account_id=account.id, target_account_id=target.id
        )
    options = _options(existing or pending, reblogs, notify_posts, languages)

    if existing is not None:
        await store.insert_follow(
            conn,
            follow_id=existing.id,
            account_id=account.id,
            target_account_id=target.id,
            show_reblogs=options.show_reblogs,
            notify=options.notify,
            languages=options.languages,
        )
    elif pending is not None or target.locked or not target.is_local:
        request = await store.insert_follow_request(
            conn,
            request_id=pending.id if pending else ids.new_id(),
            account_id=account.id,
            target_account_id=target.id,
            show_reblogs=options.show_reblogs,
            notify=options.notify,
            languages=options.languages,
        )
        if pending is None:
            await notify(
                conn,
                recipient_id=target.id,
                from_account_id=account.id,
                type="follow_request",
                recipient_is_local=target.is_local,
            )
            await events.record(
                conn,
                "follow.requested",
                follow_request_id=request.id,
                account_id=account.id,
                target_account_id=target.id,
            )
    else:
        created = await store.insert_follow(
            conn,
            follow_id=ids.new_id(),
            account_id=account.id,
            target_account_id=target.id,
            show_reblogs=options.show_reblogs,
            notify=options.notify,
            languages=options.languages,
        )
        await notify(conn, recipient_id=target.id, from_account_id=account.id, type="follow")
        await events.record(
            conn,
            "follow.created",
            follow_id=created.id,
            account_id=account.id,
            target_account_id=target.id,
        )
    return await relationship(conn, account_id=account.id, target_id=target.id)


@dataclass(frozen=True)
class FollowOptions:
    show_reblogs: bool
    notify: bool
    languages: list[str] | None


def _options(
    current: Follow | None,
    reblogs: bool | None,
    notify_posts: bool | None,
    languages: list[str] | None,
) -> FollowOptions:
    """The options asked for; what was not asked keeps its stored (or default) value."""
    if languages is not None:
        # An empty list means "all languages", as in Mastodon.
        chosen_languages = languages or None
    else:
        chosen_languages = current.languages if current else None
    return FollowOptions(
        show_reblogs=reblogs
        if reblogs is not None
        else (current.show_reblogs if current else True),
        notify=notify_posts if notify_posts is not None else (current.notify if current else False),
        languages=chosen_languages,
    )


async def unfollow(conn: Connection, *, account: Account, target: Account) -> Relationship:
    """Stop following `target`, or withdraw a pending request to follow them."""
    await _end_follow(conn, follower_id=account.id, target_id=target.id, event="follow.undone")
    return await relationship(conn, account_id=account.id, target_id=target.id)


async def _end_follow(conn: Connection, *, follower_id: int, target_id: int, event: str) -> bool:
    """Delete the follow and any pending request between the two; returns whether any existed."""
    ended = False
    removed = await store.delete_follow(conn, account_id=follower_id, target_account_id=target_id)
    if removed is not None:
        ended = True
        await withdraw(
            conn,
            recipient_id=target_id,
            from_account_id=follower_id,
            type="follow",
            status_id=None,
        )
        # Mastodon drops the account from the follower's lists when the follow ends.
        await store.delete_list_memberships(conn, owner_id=follower_id, member_id=target_id)
        await events.record(
            conn,
            event,
            follow_id=removed.id,
            account_id=follower_id,
            target_account_id=target_id,
            uri=removed.uri,
        )
    request = await store.delete_follow_request(
        conn, account_id=follower_id, target_account_id=target_id
    )
    if request is not None:
        ended = True
        await withdraw(
            conn,
            recipient_id=target_id,
            from_account_id=follower_id,
            type="follow_request",
            status_id=None,
        )
        await events.record(
            conn,
            event,
            follow_request_id=request.id,
            account_id=follower_id,
            target_account_id=target_id,
            uri=request.uri,
        )
    return ended


async def authorize_follow_request(
    conn: Connection, *, account: Account, requester_id: int
) -> Relationship:
    """Accept a pending request to follow `account`: the follow exists from now on."""
    request = await store.delete_follow_request(
        conn, account_id=requester_id, target_account_id=account.id
    )
    if request is None:
        raise NotFound()
    created = await store.insert_follow(
        conn,
        follow_id=ids.new_id(),
        account_id=requester_id,
        target_account_id=account.id,
        show_reblogs=request.show_reblogs,
        notify=request.notify,
        languages=request.languages,
        uri=request.uri,
    )
    await withdraw(
        conn,
        recipient_id=account.id,
        from_account_id=requester_id,
        type="follow_request",
        status_id=None,
    )
    await notify(conn, recipient_id=account.id, from_account_id=requester_id, type="follow")
    await events.record(
        conn,
        "follow.accepted",
        follow_id=created.id,
        follow_request_id=request.id,
        account_id=requester_id,
        target_account_id=account.id,
        uri=request.uri,
    )
    return await relationship(conn, account_id=account.id, target_id=requester_id)


async def reject_follow_request(
    conn: Connection, *, account: Account, requester_id: int
) -> Relationship:
    """Refuse a pending request; it vanishes (the requester may ask again)."""
    request = await store.delete_follow_request(
        conn, account_id=requester_id, target_account_id=account.id
    )
    if request is None:
        raise NotFound()
    await withdraw(
        conn,
        recipient_id=account.id,
        from_account_id=requester_id,
        type="follow_request",
        status_id=None,
    )
    await events.record(
        conn,
        "follow.rejected",
        follow_request_id=request.id,
        account_id=requester_id,
        target_account_id=account.id,
        uri=request.uri,
    )
    return await relationship(conn, account_id=account.id, target_id=requester_id)


async def remove_from_followers(
    conn: Connection, *, account: Account, follower: Account
) -> Relationship:
    """Make `follower` stop following `account` (Mastodon tells the follower with a Reject)."""
    await _end_follow(conn, follower_id=follower.id, target_id=account.id, event="follow.rejected")
    return await relationship(conn, account_id=account.id, target_id=follower.id)


# --- what federation calls when peers answer or ask ----------------------------------------


async def receive_follow(
    conn: Connection, *, follower: Account, target: Account, uri: str | None
) -> bool:
    """A peer's Follow for a local account. Returns True when accepted at once; a locked
    target gets a request (and a notification) instead, a blocking one refuses it."""
    if await store.fetch_block_exists(conn, account_id=target.id, target_account_id=follower.id):
        await events.record(
            conn, "follow.rejected", account_id=follower.id, target_account_id=target.id, uri=uri
        )
        return False
    existing = await store.fetch_follow(conn, account_id=follower.id, target_account_id=target.id)
    if existing is None and target.locked:
        request = await store.insert_follow_request(
            conn,
            request_id=ids.new_id(),
            account_id=follower.id,
            target_account_id=target.id,
            show_reblogs=True,
            notify=False,
            languages=None,
            uri=uri,
        )
        await notify(
            conn, recipient_id=target.id, from_account_id=follower.id, type="follow_request"
        )
        await events.record(
            conn,
            "follow.received",
            follow_request_id=request.id,
            account_id=follower.id,
            target_account_id=target.id,
            uri=uri,
        )
        return False
    created = await store.insert_follow(
        conn,
        follow_id=existing.id if existing else ids.new_id(),
        account_id=follower.id,
        target_account_id=target.id,
        show_reblogs=existing.show_reblogs if existing else True,
        notify=existing.notify if existing else False,
        languages=existing.languages if existing else None,
        uri=uri,
    )
    if existing is None:
        await notify(conn, recipient_id=target.id, from_account_id=follower.id, type="follow")
    await events.record(
        conn,
        "follow.accepted",
        follow_id=created.id,
        account_id=follower.id,
        target_account_id=target.id,
        uri=uri,
    )
    return True


async def confirm_follow(conn: Connection, *, follower: Account, target: Account) -> bool:
    """A peer accepted our local account's request: the pending request becomes a follow."""
    request = await store.delete_follow_request(
        conn, account_id=follower.id, target_account_id=target.id
    )
    if request is None:
        return False
    await store.insert_follow(
        conn,
        follow_id=ids.new_id(),
        account_id=follower.id,
        target_account_id=target.id,
        show_reblogs=request.show_reblogs,
        notify=request.notify,
        languages=request.languages,
        uri=request.uri,
    )
    return True


async def drop_follow(conn: Connection, *, follower_id: int, target_id: int) -> bool:
    """A peer rejected or undid a follow: forget it (and any request) without new events."""
    removed = await store.delete_follow(conn, account_id=follower_id, target_account_id=target_id)
    request = await store.delete_follow_request(
        conn, account_id=follower_id, target_account_id=target_id
    )
    for kind in ("follow", "follow_request"):
        await withdraw(
            conn, recipient_id=target_id, from_account_id=follower_id, type=kind, status_id=None
        )
    return removed is not None or request is not None


# --- blocks, mutes, notes ------------------------------------------------------------------


async def block(conn: Connection, *, account: Account, target: Account) -> Relationship:
    """Block `target`: follows both ways and pending requests end, and they see nothing of ours."""
    if target.id == account.id:
        raise Forbidden()
    await _end_follow(conn, follower_id=account.id, target_id=target.id, event="follow.undone")
    await _end_follow(conn, follower_id=target.id, target_id=account.id, event="follow.rejected")
    block_id = ids.new_id()
    if await store.insert_block(
        conn, block_id=block_id, account_id=account.id, target_account_id=target.id
    ):
        await events.record(
            conn,
            "block.created",
            block_id=block_id,
            account_id=account.id,
            target_account_id=target.id,
        )
    return await relationship(conn, account_id=account.id, target_id=target.id)


async def unblock(conn: Connection, *, account: Account, target: Account) -> Relationship:
    block_id = await store.delete_block(conn, account_id=account.id, target_account_id=target.id)
    if block_id is not None:
        await events.record(
            conn,
            "block.undone",
            block_id=block_id,
            account_id=account.id,
            target_account_id=target.id,
        )
    return await relationship(conn, account_id=account.id, target_id=target.id)


async def mute(
    conn: Connection,
    *,
    account: Account,
    target: Account,
    notifications: bool = True,
    duration_seconds: int = 0,
    now: datetime | None = None,
) -> Relationship:
    """Hide `target`'s posts (and, with `notifications`, their notifications); a positive
    duration makes the mute expire, 0 keeps it until undone."""
    if target.id == account.id:
        raise Forbidden()
    if duration_seconds < 0:
        raise ValidationError("duration must not be negative", field="duration")
    expires_at = None
    if duration_seconds > 0:
        expires_at = (now or datetime.now(UTC)) + timedelta(seconds=duration_seconds)
    await store.upsert_mute(
        conn,
        mute_id=ids.new_id(),
        account_id=account.id,
        target_account_id=target.id,
        hide_notifications=notifications,
        expires_at=expires_at,
    )
    return await relationship(conn, account_id=account.id, target_id=target.id)


async def unmute(conn: Connection, *, account: Account, target: Account) -> Relationship:
    await store.delete_mute(conn, account_id=account.id, target_account_id=target.id)
    return await relationship(conn, account_id=account.id, target_id=target.id)


async def set_note(
    conn: Connection, *, account: Account, target: Account, comment: str
) -> Relationship:
    """A private note about `target`, seen only by `account`; an empty note removes it."""
    if len(comment) > MAX_NOTE_LENGTH:
        raise ValidationError(
            f"Comment is too long (maximum is {MAX_NOTE_LENGTH} characters)", field="comment"
        )
    if comment.strip():
        await store.upsert_account_note(
            conn, account_id=account.id, target_account_id=target.id, comment=comment
        )
    else:
        await store.delete_account_note(conn, account_id=account.id, target_account_id=target.id)
    return await relationship(conn, account_id=account.id, target_id=target.id)
