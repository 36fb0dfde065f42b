"""What each incoming activity does, dispatched by type (`HANDLERS`).

Every handler checks origin first: the objects an actor acts on live on its host (or are
fetched from their own), only the owner may Update, Delete or Undo, `attributedTo` is the actor.
Handlers are idempotent on the object's uri, so a redelivered activity has one effect.
Unknown types are accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from federation.activitystreams import (
    ACTOR_TYPES,
    audience,
    first_string,
    host_of,
    id_of,
    ids_of,
    is_public_address,
)
from federation.actors import ActorRejected, parse_actor, store_remote_actor
from federation.ingest import (
    NOTE_TYPES,
    ActivityIgnored,
    ActivityRejected,
    IngestContext,
    attributed_to,
    check_note,
    draft_of,
    ingest_note,
    is_plain_post,
    prepare_note,
    status_for_uri,
    store_poll,
)
from fediverse import federation_rules, polls, relationships
from fediverse.audience import Visibility
from fediverse.content import sanitize_html
from fediverse.remote_relationships import receive_block, receive_move, receive_unblock
from fediverse.remote_statuses import (
    delete_remote_status,
    receive_favourite,
    record_report,
    remove_remote_account,
    store_remote_reblog,
    undo_favourite,
    undo_remote_reblog,
    update_remote_status,
)
from fediverse.storage import accounts as account_store
from fediverse.storage import remote_statuses as remote_store
from fediverse.storage import statuses as status_store
from fediverse.storage.accounts import Account
from fediverse.storage.statuses import Status

Activity = dict[str, Any]
Handler = Callable[[IngestContext, Activity, Account], Awaitable[None]]


def _activity_id(activity: Activity) -> str | None:
    return id_of(activity)


def _object_id(activity: Activity) -> str:
    uri = id_of(activity.get("object"))
    if uri is None:
        raise ActivityRejected("activity has no object")
    return uri


def _same_host(uri: str, actor: Account, what: str) -> None:
    if host_of(uri) != host_of(actor.uri):
        raise ActivityRejected(f"{what} {uri} is not on the host of the actor {actor.uri}")


async def _local_target(ctx: IngestContext, uri: str | None, what: str) -> Account:
    target = await ctx.local_account(uri)
    if target is None:
        raise ActivityIgnored(f"{what} {uri!r} is not a local account")
    return target


# --- follows ------------------------------------------------------------------------------------


async def on_follow(ctx: IngestContext, activity: Activity, actor: Account) -> None:
    """A peer follows a local account: accepted at once (an Accept goes out through the
    follow.accepted event) or, for a locked account, a request with a notification."""
    target = await _local_target(ctx, id_of(activity.get("object")), "Follow target")
    await relationships.receive_follow(
        ctx.conn, follower=actor, target=target, uri=_activity_id(activity)
    )


async def _our_follow(ctx: IngestContext, activity: Activity, actor: Account) -> Account:
    """The local follower whose Follow of `actor` this Accept/Reject answers."""
    follow = activity.get("object")
    if isinstance(follow, dict):
        if follow.get("type") != "Follow":
            raise ActivityIgnored(f"{activity.get('type')} of a {follow.get('type')!r}")
        if id_of(follow.get("object")) != actor.uri:
            raise ActivityRejected("only the followed actor may answer a Follow")
        return await _local_target(ctx, id_of(follow.get("actor")), "follower")
    uri = id_of(follow)
    pair = await remote_store.fetch_follow_by_uri(ctx.conn, uri=uri) if uri else None
    if pair is None:
        raise ActivityIgnored(f"no Follow {uri!r} of ours")
    if pair.target_id != actor.id:
        raise ActivityRejected("only the followed actor may answer a Follow")
    follower = await account_store.fetch_account(ctx.conn, account_id=pair.account_id)
    if follower is None or not follower.is_local:
        raise ActivityIgnored("the follower is not local")
    return follower


async def on_accept(ctx: IngestContext, activity: Activity, actor: Account) -> None:
    follower = await _our_follow(ctx, activity, actor)
    await relationships.confirm_follow(ctx.conn, follower=follower, target=actor)


async def on_reject(ctx: IngestContext, activity: Activity, actor: Account) -> None:
    follower = await _our_follow(ctx, activity, actor)
    await relationships.drop_follow(ctx.conn, follower_id=follower.id, target_id=actor.id)


# --- undo ---------------------------------------------------------------------------------------


async def _undo_by_uri(ctx: IngestContext, uri: str, actor: Account) -> None:
    """Undo of a bare activity id: find what it created, and check the actor owns it."""
    _same_host(uri, actor, "undone activity")
    boost = await status_store.fetch_status_by_uri(ctx.conn, uri=uri)
    if boost is not None and boost.reblog_of_id is not None:
        if not await undo_remote_reblog(ctx.conn, account=actor, boost=boost):
            raise ActivityRejected("Undo of someone else's Announce")
        return
    favourite = await remote_store.fetch_favourite_by_uri(ctx.conn, uri=uri)
    if favourite is not None:
        if favourite.account_id != actor.id:
            raise ActivityRejected("Undo of someone else's Like")
        await undo_favourite(ctx.conn, account=actor, status_id=favourite.target_id)
        return
    follow = await remote_store.fetch_follow_by_uri(ctx.conn, uri=uri)
    if follow is not None:
        if follow.account_id != actor.id:
            raise ActivityRejected("Undo of someone else's Follow")
        await relationships.drop_follow(ctx.conn, follower_id=actor.id, target_id=follow.target_id)
        return
    block = await remote_store.fetch_block_by_uri(ctx.conn, uri=uri)
    if block is not None:
        if block.account_id != actor.id:
            raise ActivityRejected("Undo of someone else's Block")
        target = await account_store.fetch_account(ctx.conn, account_id=block.target_id)
        if target is not None:
            await receive_unblock(ctx.conn, blocker=actor, target=target)
        return
    raise ActivityIgnored(f"nothing known was created by {uri}")


async def on_undo(ctx: IngestContext, activity: Activity, actor: Account) -> None:
    inner = activity.get("object")
    if not isinstance(inner, dict):
        await _undo_by_uri(ctx, _object_id(activity), actor)
        return
    if id_of(inner.get("actor")) != actor.uri:
        raise ActivityRejected("Undo of an activity by another actor")
    kind = inner.get("type")
    inner_id = id_of(inner)
    if kind == "Follow":
        target = await _local_target(ctx, id_of(inner.get("object")), "unfollowed account")
        await relationships.drop_follow(ctx.conn, follower_id=actor.id, target_id=target.id)
    elif kind == "Like":
        status = await status_store.fetch_status_by_uri(
            ctx.conn, uri=id_of(inner.get("object")) or ""
        )
        if status is None:
            raise ActivityIgnored("Undo Like of an unknown status")
        await undo_favourite(ctx.conn, account=actor, status_id=status.id)
    elif kind == "Announce":
        if inner_id is None:
            raise ActivityRejected("Undo Announce without the Announce id")
        _same_host(inner_id, actor, "undone Announce")
        boost = await status_store.fetch_status_by_uri(ctx.conn, uri=inner_id)
        if boost is None:
            raise ActivityIgnored(f"no boost {inner_id}")
        if not await undo_remote_reblog(ctx.conn, account=actor, boost=boost):
            raise ActivityRejected("Undo of someone else's Announce")
    elif kind == "Block":
        target = await _local_target(ctx, id_of(inner.get("object")), "unblocked account")
        await receive_unblock(ctx.conn, blocker=actor, target=target)
    elif inner_id is not None:
        await _undo_by_uri(ctx, inner_id, actor)
    else:
        raise ActivityIgnored(f"Undo of a {kind!r} is not handled")


# --- posts --------------------------------------------------------------------------------------


async def on_create(ctx: IngestContext, activity: Activity, actor: Account) -> None:
    document = await ctx.trusted_object(activity.get("object"), sender=actor.uri)
    if document.get("type") not in NOTE_TYPES:
        raise ActivityIgnored(f"object type {document.get('type')!r} is not stored as a status")
    if await _poll_vote(ctx, document, actor):
        return
    if ctx.deferred_posts is not None and is_plain_post(document):
        draft = await prepare_note(ctx, document, author=actor, activity_uri=_activity_id(activity))
        if not isinstance(draft, Status):
            ctx.deferred_posts.append(draft)
        return
    await ingest_note(ctx, document, author=actor, activity_uri=_activity_id(activity))


async def _poll_vote(ctx: IngestContext, document: Activity, actor: Account) -> bool:
    """A vote on one of our polls: a Note whose `name` is an option, replying to the Question
    (Mastodon's poll_vote?). It is counted, never stored as a status. False when the Note is
    not a vote (then it is an ordinary reply)."""
    name = document.get("name")
    parent_uri = id_of(document.get("inReplyTo"))
    if document.get("type") != "Note" or not isinstance(name, str) or parent_uri is None:
        return False
    if not ctx.is_local_uri(parent_uri):
        return False
    question = await status_store.fetch_status_by_uri(ctx.conn, uri=parent_uri)
    if question is None or not question.local or question.poll_id is None:
        return False
    uri = id_of(document)
    if uri is None:
        raise ActivityRejected("vote has no id")
    _same_host(uri, actor, "vote")
    if attributed_to(document) not in (None, actor.uri):
        raise ActivityRejected("a vote attributed to another actor")
    counted = await polls.record_remote_vote(
        ctx.conn, voter=actor, status_id=question.id, option_title=name, uri=uri, now=ctx.now
    )
    if not counted:
        raise ActivityIgnored(f"vote {uri} not counted (repeated, closed, unseen or unknown)")
    return True


async def on_update(ctx: IngestContext, activity: Activity, actor: Account) -> None:
    value = activity.get("object")
    kind = value.get("type") if isinstance(value, dict) else None
    uri = _object_id(activity)
    if kind in ACTOR_TYPES:
        if uri != actor.uri:
            raise ActivityRejected("Update of another actor")
        try:
            parsed = parse_actor(value)
        except ActorRejected as error:
            raise ActivityRejected(f"updated actor rejected: {error}") from error
        await store_remote_actor(ctx.conn, parsed, now=ctx.now, clean_html=sanitize_html)
        return
    _same_host(uri, actor, "updated object")
    document = await ctx.trusted_object(value, sender=actor.uri)
    if document.get("type") not in NOTE_TYPES:
        raise ActivityIgnored(f"Update of a {document.get('type')!r} is not handled")
    check_note(document, author_uri=actor.uri)
    status = await status_store.fetch_status_by_uri(ctx.conn, uri=uri)
    if status is None:
        raise ActivityIgnored(f"Update of unknown status {uri}")
    if status.account_id != actor.id:
        raise ActivityRejected("only the author may update a status")
    if document.get("type") == "Question" and document.get("updated") is None:
        # New counts of a poll (Mastodon's UpdatePollSerializer): not an edit of the post.
        await store_poll(ctx, document, status)
        return
    draft = await draft_of(ctx, document, author=actor, activity_uri=None, parent=None)
    await update_remote_status(ctx.conn, status, draft, now=ctx.now)
    await store_poll(ctx, document, status)


async def on_delete(ctx: IngestContext, activity: Activity, actor: Account) -> None:
    uri = _object_id(activity)
    if uri == actor.uri:
        await remove_remote_account(ctx.conn, actor, now=ctx.now)
        return
    _same_host(uri, actor, "deleted object")
    status = await status_store.fetch_status_by_uri(ctx.conn, uri=uri)
    if status is None:
        raise ActivityIgnored(f"Delete of unknown object {uri}")
    if status.account_id != actor.id:
        raise ActivityRejected("only the author may delete a status")
    await delete_remote_status(ctx.conn, status)


def _boost_visibility(activity: Activity) -> str:
    to, cc = audience(activity)
    if any(is_public_address(address) for address in to):
        return Visibility.PUBLIC
    if any(is_public_address(address) for address in cc):
        return Visibility.UNLISTED
    return Visibility.PRIVATE


async def on_announce(ctx: IngestContext, activity: Activity, actor: Account) -> None:
    """A boost. The boosted post is used as embedded only from the booster's own host and
    only when it is a post; otherwise it is fetched from its origin."""
    activity_id = _activity_id(activity)
    if activity_id is None:
        raise ActivityRejected("Announce without an id")
    value = activity.get("object")
    uri = _object_id(activity)
    if isinstance(value, dict) and value.get("type") not in NOTE_TYPES:
        raise ActivityIgnored(f"Announce of a {value.get('type')!r} is not a post")
    if isinstance(value, dict) and host_of(uri) == host_of(actor.uri):
        author_uri = id_of(value.get("attributedTo")) or ""
        check_note(value, author_uri=author_uri)
        author = await ctx.account_for(author_uri)
        original, _ = await ingest_note(ctx, value, author=author, activity_uri=None)
    else:
        original = await status_for_uri(ctx, uri)
    # The same guard as a Like: internal posts never leave the organization, and nobody
    # boosts what the audience rule does not show them (a blocked peer, say).
    if original.local_only or not await _may_see(ctx, original.id, actor):
        raise ActivityIgnored("Announce of a status outside the actor's audience")
    boost = await store_remote_reblog(
        ctx.conn,
        account=actor,
        original=original,
        uri=activity_id,
        visibility=_boost_visibility(activity),
        published=None,
        now=ctx.now,
    )
    if boost is None:
        raise ActivityIgnored("this post cannot be boosted")


async def on_like(ctx: IngestContext, activity: Activity, actor: Account) -> None:
    uri = _object_id(activity)
    status = await status_store.fetch_status_by_uri(ctx.conn, uri=uri)
    if status is None:
        raise ActivityIgnored(f"Like of unknown status {uri}")
    # Internal posts never leave the organization, whatever the audience rule says.
    if status.local_only or not await _may_see(ctx, status.id, actor):
        raise ActivityIgnored("Like of a status outside the actor's audience")
    await receive_favourite(ctx.conn, account=actor, status=status, uri=_activity_id(activity))


async def _may_see(ctx: IngestContext, status_id: int, actor: Account) -> bool:
    # The audience rule takes any account id: followers and mentioned peers are in it.
    return bool(
        await status_store.list_visible_statuses(
            ctx.conn, status_ids=[status_id], viewer_id=actor.id
        )
    )


# --- relationships and moderation -----------------------------------------------------------


async def on_block(ctx: IngestContext, activity: Activity, actor: Account) -> None:
    target = await _local_target(ctx, id_of(activity.get("object")), "Block target")
    await receive_block(ctx.conn, blocker=actor, target=target, uri=_activity_id(activity))


async def on_move(ctx: IngestContext, activity: Activity, actor: Account) -> None:
    """Account migration: followers follow the new account, when its alsoKnownAs (fetched
    fresh from its origin) names the old one."""
    if _object_id(activity) != actor.uri:
        raise ActivityRejected("only an account can move itself")
    target_uri = id_of(activity.get("target"))
    if target_uri is None:
        raise ActivityRejected("Move without a target")
    new = await ctx.account_for(target_uri, refresh=True)
    if actor.uri not in new.also_known_as:
        raise ActivityRejected(f"{target_uri} does not list {actor.uri} in alsoKnownAs")
    await receive_move(ctx.conn, old=actor, new=new)


async def on_flag(ctx: IngestContext, activity: Activity, actor: Account) -> None:
    if actor.domain is not None:
        if ctx.policy is None:
            ctx.policy = await federation_rules.load_snapshot(ctx.conn, now=ctx.now)
        if ctx.policy.decide(actor.domain.lower()).reject_reports:
            raise ActivityIgnored(f"reports from {actor.domain} are rejected (domain block)")
    target: Account | None = None
    status_ids: list[int] = []
    for uri in ids_of(activity.get("object")):
        account = await ctx.local_account(uri)
        if account is not None:
            target = target or account
            continue
        status = await status_store.fetch_status_by_uri(ctx.conn, uri=uri)
        if status is not None and status.local:
            status_ids.append(status.id)
            if target is None:
                target = await account_store.fetch_account(ctx.conn, account_id=status.account_id)
    if target is None:
        raise ActivityIgnored("Flag names no local account or status")
    status_ids = [
        s.id
        for s in await status_store.list_statuses_by_ids(ctx.conn, status_ids=status_ids)
        if s.account_id == target.id
    ]
    await record_report(
        ctx.conn,
        reporter=actor,
        target=target,
        status_ids=status_ids,
        comment=first_string(activity.get("content")) or "",
        uri=_activity_id(activity),
    )


HANDLERS: dict[str, Handler] = {
    "Follow": on_follow,
    "Accept": on_accept,
    "Reject": on_reject,
    "Undo": on_undo,
    "Create": on_create,
    "Update": on_update,
    "Delete": on_delete,
    "Announce": on_announce,
    "Like": on_like,
    "Block": on_block,
    "Move": on_move,
    "Flag": on_flag,
}


async def dispatch(ctx: IngestContext, activity: Activity) -> None:
    """Apply one verified activity. Raises ActivityIgnored / ActivityRejected with a reason,
    FetchFailed when a fetch may succeed later; anything else is a bug for the caller to log."""
    kind = activity.get("type")
    handler = HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        raise ActivityIgnored(f"activity type {kind!r} is not handled")
    actor_uri = id_of(activity.get("actor"))
    if actor_uri is None or not host_of(actor_uri):
        raise ActivityRejected("activity has no actor")
    if ctx.is_local_uri(actor_uri):
        raise ActivityRejected("activity claims a local actor")
    if kind == "Delete" and id_of(activity.get("object")) == actor_uri:
        # A deleted actor cannot be fetched any more: act only if we know it.
        known = await account_store.fetch_account_by_uri(ctx.conn, uri=actor_uri)
        if known is None:
            raise ActivityIgnored("Delete of an actor we never knew")
        await handler(ctx, activity, known)
        return
    actor = await ctx.account_for(actor_uri)
    if actor.suspended_at is not None:
        raise ActivityRejected(f"{actor_uri} is suspended")
    await handler(ctx, activity, actor)
