"""Posting, editing, deleting statuses and what people do with them (favourite, boost, ...)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fediverse import audience_report, conversations, events, ids, polls
from fediverse.audience import Visibility, can_reblog, is_wider
from fediverse.content import (
    ResolvedMention,
    extract_hashtags,
    extract_mentions,
    html_to_text,
    render_plain_text,
    text_length,
)
from fediverse.errors import NotFound, ValidationError
from fediverse.notifications import notify, notify_edited, notify_new_status, withdraw
from fediverse.polls import PollDraft
from fediverse.storage import accounts as account_store
from fediverse.storage import interactions
from fediverse.storage import polls as poll_store
from fediverse.storage import statuses as status_store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Connection
from fediverse.storage.statuses import Status
from fediverse.urls import LocalUrls

MAX_PINS = 5
MAX_MEDIA = 4

# Resolves a remote `@user@domain` to an account id (federation implements it; None = unknown).
RemoteMentionResolver = Callable[[Connection, str, str], Awaitable[int | None]]
# Attaches uploaded media to a status (the media module implements it).
MediaAttacher = Callable[[Connection, int, list[int], int], Awaitable[None]]


@dataclass(frozen=True)
class Draft:
    """What a person asks to post; `visibility=None` means "the default"."""

    text: str
    spoiler_text: str = ""
    visibility: str | None = None
    local_only: bool | None = None
    sensitive: bool | None = None
    language: str | None = None
    in_reply_to_id: int | None = None
    media_ids: list[int] = field(default_factory=list)
    application_id: int | None = None
    poll: PollDraft | None = None


@dataclass(frozen=True)
class PostingContext:
    urls: LocalUrls
    character_limit: int
    resolve_remote_mention: RemoteMentionResolver | None = None
    attach_media: MediaAttacher | None = None


def parse_visibility(raw: str | None, local_only: bool | None) -> tuple[str | None, bool | None]:
    """Client input → (visibility, local_only). Accepts Akkoma's `local` (internal, public)."""
    if raw is None or raw == "":
        return None, local_only
    value = raw.strip().lower()
    if value == "local":
        return Visibility.PUBLIC.value, True
    if value not in {v.value for v in Visibility}:
        raise ValidationError(f"Visibility {raw!r} is not supported", field="visibility")
    return value, local_only


async def _resolve_mentions(
    conn: Connection, text: str, ctx: PostingContext
) -> dict[tuple[str, str | None], ResolvedMention]:
    resolved: dict[tuple[str, str | None], ResolvedMention] = {}
    for ref in extract_mentions(text):
        domain = None if ref.domain in (None, ctx.urls.domain) else ref.domain
        account: Account | None = None
        if domain is None:
            account = await account_store.fetch_account_by_username(
                conn, username=ref.username, domain=None
            )
        else:
            account = await account_store.fetch_account_by_username(
                conn, username=ref.username, domain=domain
            )
            if account is None and ctx.resolve_remote_mention is not None:
                account_id = await ctx.resolve_remote_mention(conn, ref.username, domain)
                if account_id is not None:
                    account = await account_store.fetch_account(conn, account_id=account_id)
        if account is None or account.suspended_at is not None:
            continue
        mention = ResolvedMention(
            account_id=account.id,
            username=account.username,
            acct=account.acct,
            url=account.url or account.uri,
        )
        resolved[(ref.username.lower(), ref.domain)] = mention
        if ref.domain is None:
            resolved[(ref.username.lower(), None)] = mention
    return resolved


def _render(
    text: str, mentions: dict[tuple[str, str | None], ResolvedMention], ctx: PostingContext
) -> str:
    return render_plain_text(text, mentions=mentions, tag_url=ctx.urls.tag(""))


async def _store_tags(conn: Connection, status_id: int, text: str) -> None:
    names = extract_hashtags(text)
    tag_ids = await status_store.upsert_tags(
        conn, names=names, new_ids=[ids.new_id() for _ in names]
    )
    await status_store.replace_status_tags(
        conn, status_id=status_id, tag_ids=[tag_ids[name.lower()] for name in names]
    )


async def fetch_visible(conn: Connection, status_id: int, viewer_id: int | None) -> Status:
    """The status, or NotFound if it does not exist or the viewer is outside its audience."""
    status = await status_store.fetch_visible_status(conn, status_id=status_id, viewer_id=viewer_id)
    if status is None:
        raise NotFound()
    return status


@dataclass(frozen=True)
class ResolvedScope:
    """The visibility a draft gets once defaults and its parent are taken into account."""

    visibility: str
    local_only: bool
    parent: Status | None


async def resolve_scope(
    conn: Connection,
    *,
    author: Account,
    draft: Draft,
    default_visibility: str = "public",
    default_local_only: bool = False,
) -> ResolvedScope:
    """Posting and the audience preview decide the scope of a draft here, the same way."""
    parent: Status | None = None
    if draft.in_reply_to_id is not None:
        parent = await status_store.fetch_visible_status(
            conn, status_id=draft.in_reply_to_id, viewer_id=author.id
        )
        if parent is None or parent.reblog_of_id is not None:
            raise NotFound("The status you are replying to does not exist")

    visibility = draft.visibility or default_visibility
    local_only = default_local_only if draft.local_only is None else draft.local_only
    if parent is not None and draft.visibility is None:
        # A reply never widens its thread unless the author explicitly chose to.
        if is_wider(visibility, parent.visibility):
            visibility = parent.visibility
        local_only = local_only or parent.local_only
    if visibility in (Visibility.PRIVATE, Visibility.DIRECT) and draft.local_only is None:
        local_only = False
    return ResolvedScope(visibility=visibility, local_only=local_only, parent=parent)


async def known_mentioned_ids(
    conn: Connection, *, author: Account, text: str, ctx: PostingContext
) -> tuple[list[int], list[str]]:
    """(ids of the accounts `text` mentions that are already known, `acct`s of the others),
    without asking any peer: what the audience preview can say without posting."""
    offline = PostingContext(urls=ctx.urls, character_limit=ctx.character_limit)
    mentions = await _resolve_mentions(conn, text, offline)
    known = sorted({m.account_id for m in mentions.values()} - {author.id})
    unknown = [
        f"{ref.username}@{ref.domain}" if ref.domain else ref.username
        for ref in extract_mentions(text)
        if (ref.username.lower(), ref.domain) not in mentions
    ]
    return known, list(dict.fromkeys(unknown))


async def post_status(
    conn: Connection,
    *,
    author: Account,
    draft: Draft,
    ctx: PostingContext,
    default_visibility: str = "public",
    default_local_only: bool = False,
    default_sensitive: bool = False,
    default_language: str | None = None,
    now: datetime | None = None,
) -> Status:
    """Validate and store a new local status with its mentions, tags and notifications."""
    text = draft.text or ""
    if not text.strip() and not draft.media_ids:
        raise ValidationError("Text can't be blank", field="status")
    if text_length(text) + len(draft.spoiler_text) > ctx.character_limit:
        raise ValidationError(
            f"Text character limit of {ctx.character_limit} exceeded", field="status"
        )
    if len(draft.media_ids) > MAX_MEDIA:
        raise ValidationError(f"At most {MAX_MEDIA} media attachments", field="media_ids")
    if draft.poll is not None and draft.media_ids:
        raise ValidationError("Cannot attach both media and a poll", field="poll")

    scope = await resolve_scope(
        conn,
        author=author,
        draft=draft,
        default_visibility=default_visibility,
        default_local_only=default_local_only,
    )
    parent, visibility, local_only = scope.parent, scope.visibility, scope.local_only

    created_at = now or datetime.now(UTC)
    status_id = ids.new_id(created_at if now else None)
    mentions = await _resolve_mentions(conn, text, ctx)
    content = _render(text, mentions, ctx)
    await status_store.insert_status(
        conn,
        values={
            "id": status_id,
            "uri": ctx.urls.status_uri(author.username, status_id),
            "url": ctx.urls.status_url(author.username, status_id),
            "account_id": author.id,
            "local": True,
            "text": text,
            "content": content,
            "spoiler_text": draft.spoiler_text,
            "search_text": f"{draft.spoiler_text}\n{html_to_text(content)}",
            "visibility": visibility,
            "local_only": local_only,
            "sensitive": bool(draft.sensitive if draft.sensitive is not None else default_sensitive)
            or bool(draft.spoiler_text),
            "language": draft.language or default_language,
            "in_reply_to_id": parent.id if parent else None,
            "in_reply_to_account_id": parent.account_id if parent else None,
            "in_reply_to_uri": parent.uri if parent else None,
            "thread_root_id": (parent.thread_root_id or parent.id) if parent else None,
            "application_id": draft.application_id,
            "created_at": created_at,
        },
    )
    mentioned_ids = sorted({m.account_id for m in mentions.values()} - {author.id})
    await status_store.insert_mentions(conn, status_id=status_id, account_ids=mentioned_ids)
    # Who it reaches is fixed now (followers as of posting), for the "who can see it" view.
    await audience_report.snapshot_audience(
        conn,
        status_id=status_id,
        author_id=author.id,
        visibility=visibility,
        local_only=local_only,
        mentioned_ids=mentioned_ids,
        now=created_at,
    )
    await _store_tags(conn, status_id, text)
    if draft.media_ids:
        if ctx.attach_media is None:
            raise ValidationError("Media attachments are not available", field="media_ids")
        await ctx.attach_media(conn, author.id, draft.media_ids, status_id)
    if draft.poll is not None:
        await polls.create_poll(
            conn, status_id=status_id, author_id=author.id, draft=draft.poll, now=created_at
        )

    status = await status_store.fetch_status(conn, status_id=status_id)
    assert status is not None
    await notify_new_status(conn, status, mentioned_ids)
    await conversations.record_direct_status(conn, status=status, participant_ids=mentioned_ids)
    await events.record(conn, "status.created", status_id=status_id, account_id=author.id)
    return status


async def record_version(
    conn: Connection,
    current: Status,
    *,
    media_attachments: list[dict[str, object]],
    poll_options: list[str] | None = None,
) -> None:
    """One version in a status's edit history, a local edit's or a peer's."""
    await status_store.insert_edit(
        conn,
        values={
            "id": ids.new_id(),
            "status_id": current.id,
            "account_id": current.account_id,
            "text": current.text,
            "content": current.content,
            "spoiler_text": current.spoiler_text,
            "sensitive": current.sensitive,
            "media_attachments": media_attachments,
            "poll": (
                None
                if poll_options is None
                else {"options": [{"title": title} for title in poll_options]}
            ),
            # Each version is dated when it was written, the original at posting time.
            "created_at": current.edited_at or current.created_at,
        },
    )


async def edit_status(
    conn: Connection,
    *,
    editor: Account,
    status_id: int,
    text: str,
    spoiler_text: str | None,
    sensitive: bool | None,
    language: str | None,
    media_ids: list[int] | None,
    ctx: PostingContext,
    media_snapshot: Callable[[Connection, int], Awaitable[list[dict[str, object]]]] | None = None,
    poll: PollDraft | None = None,
) -> Status:
    """Edit one's own status, keeping every version in the edit history."""
    status = await status_store.fetch_status(conn, status_id=status_id)
    if status is None or status.account_id != editor.id or status.reblog_of_id is not None:
        raise NotFound()
    if not text.strip() and not media_ids:
        raise ValidationError("Text can't be blank", field="status")
    if poll is not None and media_ids:
        raise ValidationError("Cannot attach both media and a poll", field="poll")
    new_spoiler = status.spoiler_text if spoiler_text is None else spoiler_text
    if text_length(text) + len(new_spoiler) > ctx.character_limit:
        raise ValidationError(
            f"Text character limit of {ctx.character_limit} exceeded", field="status"
        )

    async def snapshot(current: Status) -> None:
        current_polls = await poll_store.list_polls_for_statuses(conn, status_ids=[current.id])
        await record_version(
            conn,
            current,
            media_attachments=await media_snapshot(conn, current.id) if media_snapshot else [],
            poll_options=current_polls[0].options if current_polls else None,
        )

    if status.edited_at is None:
        await snapshot(status)  # the original version opens the history
    mentions = await _resolve_mentions(conn, text, ctx)
    content = _render(text, mentions, ctx)
    await status_store.update_status(
        conn,
        status_id=status.id,
        changes={
            "text": text,
            "content": content,
            "spoiler_text": new_spoiler,
            "search_text": f"{new_spoiler}\n{html_to_text(content)}",
            "sensitive": (status.sensitive if sensitive is None else sensitive)
            or bool(new_spoiler),
            "language": language or status.language,
            "edited_at": datetime.now(UTC),
        },
    )
    # Mentions may be added by an edit but never removed: people already notified keep access.
    new_mentions = sorted({m.account_id for m in mentions.values()} - {editor.id})
    previously = set(await status_store.list_all_mentioned(conn, status_id=status.id))
    await status_store.insert_mentions(conn, status_id=status.id, account_ids=new_mentions)
    await _store_tags(conn, status.id, text)
    if media_ids is not None and ctx.attach_media is not None:
        await ctx.attach_media(conn, editor.id, media_ids, status.id)
    if poll is not None:
        await polls.replace_poll(
            conn, status_id=status.id, author_id=editor.id, draft=poll, now=datetime.now(UTC)
        )
    updated = await status_store.fetch_status(conn, status_id=status.id)
    assert updated is not None
    await snapshot(updated)
    await notify_edited(conn, updated, sorted(set(new_mentions) - previously))
    await events.record(conn, "status.updated", status_id=status.id, account_id=editor.id)
    return updated


async def record_status_deleted(conn: Connection, status: Status, *, local: bool) -> None:
    """Record that `status` is going away, with what consumers need once the row is gone:
    federation (who to tell, for local statuses) and streaming (who saw it)."""
    reblog_ids = await status_store.list_reblog_ids(conn, reblog_of_id=status.id)
    mentioned = await status_store.list_all_mentioned(conn, status_id=status.id)
    await events.record(
        conn,
        "status.deleted",
        for_publisher=local,
        status_id=status.id,
        account_id=status.account_id,
        uri=status.uri,
        visibility=status.visibility,
        local_only=status.local_only,
        local=local,
        reblog_of_id=status.reblog_of_id,
        in_reply_to_account_id=status.in_reply_to_account_id,
        reblog_ids=reblog_ids,
        mentioned_ids=mentioned,
    )


async def delete_status(
    conn: Connection, *, actor: Account, status_id: int, as_moderator: bool = False
) -> Status:
    """Delete one's own status (boosts of it go too). Returns it as it was, for redrafting."""
    status = await status_store.fetch_status(conn, status_id=status_id)
    if status is None or (status.account_id != actor.id and not as_moderator):
        raise NotFound()
    author = await account_store.fetch_account(conn, account_id=status.account_id)
    await record_status_deleted(conn, status, local=bool(author and author.is_local))
    await status_store.delete_status(conn, status_id=status.id)
    return status


# --- interactions -------------------------------------------------------------------------


async def favourite(conn: Connection, *, account: Account, status_id: int) -> Status:
    status = await fetch_visible(conn, status_id, account.id)
    if status.reblog_of_id is not None:
        status = await fetch_visible(conn, status.reblog_of_id, account.id)
    favourite_id = ids.new_id()
    created = await interactions.insert_favourite(
        conn, favourite_id=favourite_id, account_id=account.id, status_id=status.id
    )
    if created:
        await notify(
            conn,
            recipient_id=status.account_id,
            from_account_id=account.id,
            type="favourite",
            status_id=status.id,
            recipient_is_local=status.local,
        )
        await events.record(
            conn,
            "favourite.created",
            favourite_id=favourite_id,
            status_id=status.id,
            account_id=account.id,
        )
    return await fetch_visible(conn, status.id, account.id)


async def unfavourite(conn: Connection, *, account: Account, status_id: int) -> Status:
    status = await fetch_visible(conn, status_id, account.id)
    if status.reblog_of_id is not None:
        status = await fetch_visible(conn, status.reblog_of_id, account.id)
    favourite_id = await interactions.delete_favourite(
        conn, account_id=account.id, status_id=status.id
    )
    if favourite_id is not None:
        await withdraw(
            conn,
            recipient_id=status.account_id,
            from_account_id=account.id,
            type="favourite",
            status_id=status.id,
        )
        await events.record(
            conn,
            "favourite.deleted",
            favourite_id=favourite_id,
            status_id=status.id,
            account_id=account.id,
        )
    return await fetch_visible(conn, status.id, account.id)


async def reblog(
    conn: Connection, *, account: Account, status_id: int, visibility: str | None, urls: LocalUrls
) -> Status:
    """Boost a status; returns the boost (a status whose reblog_of_id is the original)."""
    original = await fetch_visible(conn, status_id, account.id)
    if original.reblog_of_id is not None:
        original = await fetch_visible(conn, original.reblog_of_id, account.id)
    if not can_reblog(original.visibility, original.local_only):
        raise ValidationError("This status cannot be boosted", field="status")
    existing = await status_store.fetch_reblog(
        conn, account_id=account.id, reblog_of_id=original.id
    )
    if existing is not None:
        return existing
    chosen = visibility or "public"
    if chosen not in ("public", "unlisted", "private"):
        raise ValidationError(
            "Visibility of a boost must be public, unlisted or private", field="visibility"
        )
    reblog_id = ids.new_id()
    await status_store.insert_status(
        conn,
        values={
            "id": reblog_id,
            "uri": f"{urls.status_uri(account.username, reblog_id)}/activity",
            "url": None,
            "account_id": account.id,
            "local": True,
            "visibility": chosen,
            # A boost of an internal post stays inside the organization.
            "local_only": original.local_only,
            "reblog_of_id": original.id,
        },
    )
    await notify(
        conn,
        recipient_id=original.account_id,
        from_account_id=account.id,
        type="reblog",
        status_id=original.id,
        recipient_is_local=original.local,
    )
    await events.record(
        conn, "reblog.created", status_id=reblog_id, account_id=account.id, reblog_of_id=original.id
    )
    boost = await status_store.fetch_status(conn, status_id=reblog_id)
    assert boost is not None
    return boost


async def unreblog(conn: Connection, *, account: Account, status_id: int) -> Status:
    original = await fetch_visible(conn, status_id, account.id)
    if original.reblog_of_id is not None:
        original = await fetch_visible(conn, original.reblog_of_id, account.id)
    existing = await status_store.fetch_reblog(
        conn, account_id=account.id, reblog_of_id=original.id
    )
    if existing is not None:
        await withdraw(
            conn,
            recipient_id=original.account_id,
            from_account_id=account.id,
            type="reblog",
            status_id=original.id,
        )
        await delete_status(conn, actor=account, status_id=existing.id)
    return await fetch_visible(conn, original.id, account.id)


async def bookmark(conn: Connection, *, account: Account, status_id: int, on: bool) -> Status:
    status = await fetch_visible(conn, status_id, account.id)
    if status.reblog_of_id is not None:
        status = await fetch_visible(conn, status.reblog_of_id, account.id)
    if on:
        await interactions.insert_bookmark(
            conn, bookmark_id=ids.new_id(), account_id=account.id, status_id=status.id
        )
    else:
        await interactions.delete_bookmark(conn, account_id=account.id, status_id=status.id)
    return status


async def pin(conn: Connection, *, account: Account, status_id: int, on: bool) -> Status:
    status = await fetch_visible(conn, status_id, account.id)
    if status.account_id != account.id or status.reblog_of_id is not None:
        raise ValidationError("You can only pin your own posts", field="status")
    if on:
        if status.visibility == Visibility.DIRECT:
            raise ValidationError("Direct posts cannot be pinned", field="status")
        if await interactions.count_pins(conn, account_id=account.id) >= MAX_PINS:
            raise ValidationError(f"You can pin at most {MAX_PINS} posts", field="status")
        await interactions.insert_pin(
            conn, pin_id=ids.new_id(), account_id=account.id, status_id=status.id
        )
    else:
        await interactions.delete_pin(conn, account_id=account.id, status_id=status.id)
    return status


async def mute_conversation(
    conn: Connection, *, account: Account, status_id: int, on: bool
) -> Status:
    status = await fetch_visible(conn, status_id, account.id)
    root = status.thread_root_id or status.id
    if on:
        await interactions.insert_conversation_mute(
            conn, account_id=account.id, thread_root_id=root
        )
    else:
        await interactions.delete_conversation_mute(
            conn, account_id=account.id, thread_root_id=root
        )
    return status
