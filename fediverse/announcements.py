"""Announcements: what admins tell every local user, read state, and emoji reactions."""

from __future__ import annotations

import html
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

from fediverse import ids
from fediverse.errors import NotFound, ValidationError
from fediverse.storage import announcements as announcement_store
from fediverse.storage.announcements import Announcement, ReactionCount
from fediverse.storage.database import Connection

# Mastodon allows a handful of distinct reactions per announcement.
MAX_REACTION_NAMES = 8
MAX_EMOJI_LENGTH = 16
_EMOJI_JOINERS = {"\u200d", "\ufe0f", "\ufe0e", "\u20e3"}


@dataclass(frozen=True)
class AnnouncementView:
    announcement: Announcement
    read: bool | None
    reactions: list[ReactionCount]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def render_text(text: str) -> str:
    """Plain text as the HTML clients show: escaped, paragraphs and line breaks kept."""
    paragraphs = [part.strip() for part in text.strip().split("\n\n") if part.strip()]
    return "".join(
        "<p>" + "<br>".join(html.escape(line) for line in part.split("\n")) + "</p>"
        for part in paragraphs
    )


async def create_announcement(
    conn: Connection,
    *,
    text: str,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    all_day: bool = False,
    publish: bool = True,
    now: datetime | None = None,
) -> Announcement:
    """An admin's announcement; published at once unless `publish` is false."""
    if not text.strip():
        raise ValidationError("Text can't be blank", field="text")
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise ValidationError("The end must come after the start", field="ends_at")
    moment = now or _utcnow()
    return await announcement_store.insert_announcement(
        conn,
        announcement_id=ids.new_id(moment),
        text=text,
        content=render_text(text),
        starts_at=starts_at,
        ends_at=ends_at,
        all_day=all_day,
        published_at=moment if publish else None,
    )


async def delete_announcement(conn: Connection, *, announcement_id: int) -> None:
    await announcement_store.delete_announcement(conn, announcement_id=announcement_id)


async def list_for(
    conn: Connection, *, viewer_id: int | None, now: datetime | None = None
) -> list[AnnouncementView]:
    """Active announcements with the viewer's read state and everyone's reactions."""
    found = await announcement_store.list_active_announcements(conn, now=now or _utcnow())
    wanted = [item.id for item in found]
    dismissed: set[int] = set()
    if viewer_id is not None:
        dismissed = await announcement_store.list_dismissed_ids(
            conn, account_id=viewer_id, announcement_ids=wanted
        )
    reactions: dict[int, list[ReactionCount]] = {}
    for reaction in await announcement_store.list_reaction_counts(
        conn, announcement_ids=wanted, viewer_id=viewer_id
    ):
        reactions.setdefault(reaction.announcement_id, []).append(reaction)
    return [
        AnnouncementView(
            announcement=item,
            read=None if viewer_id is None else item.id in dismissed,
            reactions=reactions.get(item.id, []),
        )
        for item in found
    ]


async def _active(conn: Connection, announcement_id: int) -> Announcement:
    found = await announcement_store.fetch_active_announcement(
        conn, announcement_id=announcement_id, now=_utcnow()
    )
    if found is None:
        raise NotFound()
    return found


async def dismiss(conn: Connection, *, announcement_id: int, account_id: int) -> None:
    await _active(conn, announcement_id)
    await announcement_store.insert_dismissal(
        conn, announcement_id=announcement_id, account_id=account_id
    )


def is_unicode_emoji(name: str) -> bool:
    """A short run of pictographic characters (with joiners and variation selectors)."""
    if not name or len(name) > MAX_EMOJI_LENGTH:
        return False
    for char in name:
        if char in _EMOJI_JOINERS:
            continue
        category = unicodedata.category(char)
        pictographic = (
            category == "So"
            or (category == "Sk" and 0x1F3FB <= ord(char) <= 0x1F3FF)
            or 0x1F1E6 <= ord(char) <= 0x1F1FF
        )
        if not pictographic:
            return False
    return True


async def add_reaction(
    conn: Connection, *, announcement_id: int, account_id: int, name: str
) -> None:
    """React with a unicode emoji (custom emoji are not offered on this server)."""
    await _active(conn, announcement_id)
    if not is_unicode_emoji(name):
        raise ValidationError("Name is not a recognized emoji", field="name")
    existing = await announcement_store.list_reaction_counts(
        conn, announcement_ids=[announcement_id], viewer_id=account_id
    )
    if name not in {item.name for item in existing} and len(existing) >= MAX_REACTION_NAMES:
        raise ValidationError("Too many different reactions", field="name")
    await announcement_store.insert_reaction(
        conn, announcement_id=announcement_id, account_id=account_id, name=name
    )


async def remove_reaction(
    conn: Connection, *, announcement_id: int, account_id: int, name: str
) -> None:
    await _active(conn, announcement_id)
    await announcement_store.delete_reaction(
        conn, announcement_id=announcement_id, account_id=account_id, name=name
    )
