"""What peers do to statuses, as the domain sees it: store, edit and delete their posts, their
boosts and favourites, and the reports they file. Federation parses AS2 into these values.

The events recorded here (status.created/updated/deleted, reblog.created for remote authors,
conversation.updated) feed streaming; the publisher sends only what local accounts do, so a
peer's own actions are never echoed back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fediverse import conversations, events, ids
from fediverse.audience import Visibility
from fediverse.content import html_to_text, sanitize_html
from fediverse.notifications import notify, notify_edited, notify_new_status, withdraw
from fediverse.statuses import record_status_deleted, record_version
from fediverse.storage import interactions
from fediverse.storage import remote_statuses as remote_store
from fediverse.storage import reports as report_store
from fediverse.storage import statuses as status_store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Connection
from fediverse.storage.remote_statuses import InsertedStatus, RemoteMediaRow, RemoteStatusRow
from fediverse.storage.statuses import Status

MEDIA_TYPES = frozenset({"image", "gifv", "video", "audio", "unknown"})


@dataclass(frozen=True)
class RemoteMedia:
    type: str
    remote_url: str
    preview_url: str | None = None
    content_type: str | None = None
    description: str | None = None
    blurhash: str | None = None
    focus: tuple[float, float] | None = None


@dataclass(frozen=True)
class RemoteStatusDraft:
    """A peer's post, parsed and checked by federation; HTML is sanitized here, on storage."""

    uri: str
    url: str | None
    activity_uri: str | None
    author: Account
    content_html: str
    spoiler_text: str
    sensitive: bool
    language: str | None
    visibility: str
    published: datetime | None
    updated: datetime | None
    parent: Status | None
    in_reply_to_uri: str | None
    # Accounts named by Mention tags, and local accounts addressed in to/cc without one.
    mentioned_ids: tuple[int, ...] = ()
    addressed_ids: tuple[int, ...] = ()
    hashtags: tuple[str, ...] = ()
    media: tuple[RemoteMedia, ...] = ()
    addressing: tuple[str, ...] = ()


def _created_at(draft: RemoteStatusDraft, now: datetime) -> datetime:
    # A peer's clock may run ahead; a post is never dated after we received it.
    if draft.published is None or draft.published > now:
        return now
    return draft.published


def _content_columns(draft: RemoteStatusDraft) -> dict[str, Any]:
    content = sanitize_html(draft.content_html)
    spoiler = html_to_text(sanitize_html(draft.spoiler_text)) if draft.spoiler_text else ""
    return {
        "content": content,
        "spoiler_text": spoiler,
        "search_text": f"{spoiler}\n{html_to_text(content)}",
        "sensitive": draft.sensitive or bool(spoiler),
        "language": draft.language,
    }


async def _store_media(conn: Connection, draft: RemoteStatusDraft, status_id: int) -> None:
    rows = [
        RemoteMediaRow(
            media_id=ids.new_id(),
            type=media.type if media.type in MEDIA_TYPES else "unknown",
            remote_url=media.remote_url,
            remote_preview_url=media.preview_url,
            content_type=media.content_type,
            description=media.description,
            blurhash=media.blurhash,
            focus_x=media.focus[0] if media.focus else None,
            focus_y=media.focus[1] if media.focus else None,
            position=position,
        )
        for position, media in enumerate(draft.media)
    ]
    await remote_store.insert_remote_media(
        conn, account_id=draft.author.id, status_id=status_id, rows=rows
    )


async def _store_tags(conn: Connection, status_id: int, names: tuple[str, ...]) -> None:
    unique = list(dict.fromkeys(name for name in names if name))
    tag_ids = await status_store.upsert_tags(
        conn, names=unique, new_ids=[ids.new_id() for _ in unique]
    )
    await status_store.replace_status_tags(
        conn, status_id=status_id, tag_ids=[tag_ids[name.lower()] for name in unique]
    )


def _status_row(draft: RemoteStatusDraft, now: datetime) -> RemoteStatusRow:
    created_at = _created_at(draft, now)
    parent = draft.parent
    return RemoteStatusRow(
        id=ids.new_id(created_at),
        uri=draft.uri,
        url=draft.url,
        account_id=draft.author.id,
        visibility=draft.visibility,
        in_reply_to_id=parent.id if parent else None,
        in_reply_to_account_id=parent.account_id if parent else None,
        in_reply_to_uri=parent.uri if parent else draft.in_reply_to_uri,
        thread_root_id=(parent.thread_root_id or parent.id) if parent else None,
        created_at=created_at,
        activity_uri=draft.activity_uri,
        addressing=draft.addressing,
        **_content_columns(draft),
    )


async def store_remote_status(
    conn: Connection, draft: RemoteStatusDraft, *, now: datetime
) -> tuple[Status, bool]:
    """Store a peer's new post (idempotent on its uri). Returns (status, created)."""
    return (await store_remote_statuses(conn, [draft], now=now))[0]


async def store_remote_statuses(
    conn: Connection, drafts: list[RemoteStatusDraft], *, now: datetime
) -> list[tuple[Status, bool]]:
    """Store peers' new posts, all with one INSERT (the inbox applies a group of posts so),
    each idempotent on its uri. Returns (status, created) for each draft, in order; a uri
    repeated among the drafts is created by its first draft only."""
    inserted = await remote_store.insert_remote_statuses(
        conn, rows=[_status_row(draft, now) for draft in drafts]
    )
    # Stored before: the INSERT found them, no lookup was needed first.
    missing = [draft.uri for draft in drafts if draft.uri not in inserted]
    existing = {
        status.uri: status
        for status in await status_store.list_statuses_by_uris(conn, uris=missing)
    }
    results: list[tuple[Status, bool]] = []
    for draft in drafts:
        new = inserted.pop(draft.uri, None)
        if new is not None:
            await _after_insert(conn, draft, new)
            results.append((new.status, True))
            existing[draft.uri] = new.status
            continue
        status = existing.get(draft.uri)
        if status is None:  # deleted between the two statements: nothing to return
            raise LookupError(f"status {draft.uri} vanished while being stored")
        results.append((status, False))
    return results


async def _after_insert(conn: Connection, draft: RemoteStatusDraft, new: InsertedStatus) -> None:
    """What a peer's post brings with it once stored: mentions, tags, media, notifications,
    conversations and the event that streams it."""
    status = new.status
    status_id = status.id
    mentioned = sorted(set(draft.mentioned_ids) - {draft.author.id})
    silent = sorted(set(draft.addressed_ids) - set(mentioned) - {draft.author.id})
    await status_store.insert_mentions(conn, status_id=status_id, account_ids=mentioned)
    # Local people addressed without a Mention tag still belong to the audience.
    await status_store.insert_mentions(conn, status_id=status_id, account_ids=silent, silent=True)
    if draft.hashtags:  # a new status has no tags to replace
        await _store_tags(conn, status_id, draft.hashtags)
    await _store_media(conn, draft, status_id)
    # A direct message notifies everyone it is addressed to; other posts, the mentioned.
    await notify_new_status(
        conn,
        status,
        [*mentioned, *silent] if status.visibility == Visibility.DIRECT else mentioned,
        followers_to_notify=new.follower_ids_to_notify,
    )
    # A direct post joins the conversation of each local person it is addressed to.
    await conversations.record_direct_status(
        conn, status=status, participant_ids=[*mentioned, *silent]
    )
    await events.record(
        conn,
        "status.created",
        for_publisher=False,
        status_id=status.id,
        account_id=status.account_id,
    )


async def update_remote_status(
    conn: Connection, status: Status, draft: RemoteStatusDraft, *, now: datetime
) -> Status:
    """Apply a peer's edit, keeping every version in the history; the post keeps its date.

    An edit no newer than the stored version (a redelivery, or out of order) changes nothing.
    """
    edited_at = draft.updated or now
    if edited_at > now:
        edited_at = now
    if status.edited_at is not None and edited_at <= status.edited_at:
        return status

    async def snapshot(current: Status) -> None:
        urls = await remote_store.list_remote_media_urls(conn, status_id=current.id)
        await record_version(conn, current, media_attachments=[{"remote_url": u} for u in urls])

    if status.edited_at is None:
        await snapshot(status)
    await status_store.update_status(
        conn, status_id=status.id, changes={**_content_columns(draft), "edited_at": edited_at}
    )
    previously = set(await status_store.list_all_mentioned(conn, status_id=status.id))
    mentioned = sorted(set(draft.mentioned_ids) - {status.account_id})
    await status_store.insert_mentions(conn, status_id=status.id, account_ids=mentioned)
    await _store_tags(conn, status.id, draft.hashtags)
    await remote_store.delete_media_of_status(conn, status_id=status.id)
    await _store_media(conn, draft, status.id)
    updated = await status_store.fetch_status(conn, status_id=status.id)
    assert updated is not None
    await snapshot(updated)
    await notify_edited(conn, updated, sorted(set(mentioned) - previously))
    await events.record(
        conn,
        "status.updated",
        for_publisher=False,
        status_id=status.id,
        account_id=status.account_id,
    )
    return updated


async def delete_remote_status(conn: Connection, status: Status) -> None:
    """A peer deleted its post (boosts of it go too, by cascade)."""
    await record_status_deleted(conn, status, local=False)
    await status_store.delete_status(conn, status_id=status.id)


async def store_remote_reblog(
    conn: Connection,
    *,
    account: Account,
    original: Status,
    uri: str,
    visibility: str,
    published: datetime | None,
    now: datetime,
) -> Status | None:
    """A peer boosted a post we know. Private and direct posts cannot be boosted (None)."""
    if original.reblog_of_id is not None or original.visibility not in (
        Visibility.PUBLIC,
        Visibility.UNLISTED,
    ):
        return None
    existing = await status_store.fetch_status_by_uri(conn, uri=uri)
    if existing is not None:
        return existing
    if await status_store.fetch_reblog(conn, account_id=account.id, reblog_of_id=original.id):
        return None
    created_at = now if published is None or published > now else published
    status_id = ids.new_id(created_at)
    await status_store.insert_status(
        conn,
        values={
            "id": status_id,
            "uri": uri,
            "url": None,
            "account_id": account.id,
            "local": False,
            "visibility": visibility,
            "local_only": False,
            "reblog_of_id": original.id,
            "created_at": created_at,
            "activity_uri": uri,
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
        conn,
        "reblog.created",
        for_publisher=False,
        status_id=status_id,
        account_id=account.id,
        reblog_of_id=original.id,
    )
    return await status_store.fetch_status(conn, status_id=status_id)


async def undo_remote_reblog(conn: Connection, *, account: Account, boost: Status) -> bool:
    """Only the booster can undo its boost; returns whether anything was removed."""
    if boost.account_id != account.id or boost.reblog_of_id is None:
        return False
    original = await status_store.fetch_status(conn, status_id=boost.reblog_of_id)
    if original is not None:
        await withdraw(
            conn,
            recipient_id=original.account_id,
            from_account_id=account.id,
            type="reblog",
            status_id=original.id,
        )
    await record_status_deleted(conn, boost, local=False)
    await status_store.delete_status(conn, status_id=boost.id)
    return True


async def receive_favourite(
    conn: Connection, *, account: Account, status: Status, uri: str | None
) -> bool:
    """A peer favourited a post; its (local) author is notified. Idempotent."""
    created = await interactions.insert_favourite(
        conn, favourite_id=ids.new_id(), account_id=account.id, status_id=status.id, uri=uri
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
    return created


async def undo_favourite(conn: Connection, *, account: Account, status_id: int) -> bool:
    removed = (
        await interactions.delete_favourite(conn, account_id=account.id, status_id=status_id)
        is not None
    )
    if removed:
        status = await status_store.fetch_status(conn, status_id=status_id)
        if status is not None:
            await withdraw(
                conn,
                recipient_id=status.account_id,
                from_account_id=account.id,
                type="favourite",
                status_id=status_id,
            )
    return removed


async def remove_remote_account(conn: Connection, account: Account, *, now: datetime) -> int:
    """A peer deleted its account: it is marked suspended and its posts go. Returns how many."""
    if account.is_local:
        return 0
    await remote_store.suspend_account(conn, account_id=account.id, now=now)
    return await remote_store.delete_statuses_of_account(conn, account_id=account.id)


async def record_report(
    conn: Connection,
    *,
    reporter: Account,
    target: Account,
    status_ids: list[int],
    comment: str,
    uri: str | None,
) -> bool:
    """A peer's report about a local account; moderators are notified. Idempotent on `uri`."""
    report_id = ids.new_id()
    created = await report_store.insert_report(
        conn,
        report_id=report_id,
        account_id=reporter.id,
        target_account_id=target.id,
        status_ids=status_ids,
        comment=html_to_text(sanitize_html(comment))[:1000],
        uri=uri,
        forwarded=True,
    )
    if created:
        for admin_id in await remote_store.list_admin_account_ids(conn):
            await notify(
                conn, recipient_id=admin_id, from_account_id=reporter.id, type="admin.report"
            )
    return created
