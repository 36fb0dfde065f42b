"""Hashtags: looking one up with its recent use, and following it into the home timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fediverse import ids
from fediverse.content import HASHTAG_RE
from fediverse.errors import NotFound
from fediverse.storage import tag_follows as tag_store
from fediverse.storage.database import Connection
from fediverse.storage.tag_follows import FollowedTag

HISTORY_DAYS = 7


@dataclass(frozen=True)
class TagUse:
    day: datetime
    uses: int
    accounts: int


@dataclass(frozen=True)
class TagInfo:
    name: str
    following: bool | None
    history: list[TagUse]


def valid_name(name: str) -> str:
    """A tag name as typed after `#` (case kept), or NotFound when it cannot be a hashtag."""
    value = name.strip().lstrip("#")
    if not value or len(value) > 100 or HASHTAG_RE.fullmatch("#" + value) is None:
        raise NotFound()
    return value


async def find_tag_ids(conn: Connection, names: list[str]) -> list[int]:
    """Ids of the tags that exist among `names` (case-insensitive)."""
    cleaned = [n.strip().lstrip("#") for n in names if n and n.strip().lstrip("#")]
    if not cleaned:
        return []
    return await tag_store.list_tag_ids(conn, names=cleaned)


async def describe(
    conn: Connection, *, name: str, viewer_id: int | None, now: datetime | None = None
) -> TagInfo:
    """A tag, known or not (Mastodon answers for any valid name), with seven days of use."""
    display = valid_name(name)
    tag = await tag_store.fetch_tag(conn, name=display)
    moment = now or datetime.now(UTC)
    today = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [today - timedelta(days=offset) for offset in range(HISTORY_DAYS)]
    counts: dict[datetime, TagUse] = {}
    following: bool | None = None if viewer_id is None else False
    if tag is not None:
        display = tag.name
        for day in await tag_store.list_tag_history(
            conn, tag_id=tag.id, since=days[-1], until=today + timedelta(days=1)
        ):
            start = day.day.replace(tzinfo=UTC)
            counts[start] = TagUse(day=start, uses=day.uses, accounts=day.accounts)
        if viewer_id is not None:
            following = await tag_store.fetch_tag_follow_exists(
                conn, account_id=viewer_id, tag_id=tag.id
            )
    history = [counts.get(day, TagUse(day=day, uses=0, accounts=0)) for day in days]
    return TagInfo(name=display.lower(), following=following, history=history)


async def follow(conn: Connection, *, account_id: int, name: str) -> TagInfo:
    tag = await tag_store.insert_tag(conn, tag_id=ids.new_id(), name=valid_name(name))
    await tag_store.insert_tag_follow(
        conn, follow_id=ids.new_id(), account_id=account_id, tag_id=tag.id
    )
    return await describe(conn, name=tag.name, viewer_id=account_id)


async def unfollow(conn: Connection, *, account_id: int, name: str) -> TagInfo:
    tag = await tag_store.fetch_tag(conn, name=valid_name(name))
    if tag is not None:
        await tag_store.delete_tag_follow(conn, account_id=account_id, tag_id=tag.id)
    return await describe(conn, name=name, viewer_id=account_id)


async def followed(
    conn: Connection,
    *,
    account_id: int,
    max_id: int | None,
    since_id: int | None,
    min_id: int | None,
    limit: int,
) -> list[FollowedTag]:
    """Followed tags, newest follow first, paged by the follow's id."""
    rows = await tag_store.list_followed_tags(
        conn,
        account_id=account_id,
        below_id=max_id if max_id is not None else 2**63 - 1,
        above_id=max(b for b in (since_id, min_id, 0) if b is not None),
        count=limit,
        ascending=min_id is not None,
    )
    return rows[::-1] if min_id is not None else rows
