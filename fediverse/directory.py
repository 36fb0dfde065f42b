"""Discovery: who to follow, the profile directory, featured tags, endorsements and trends.

Trends come from local activity only: public posts everyone may see, over the last week.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

from fediverse import ids, tag_follows
from fediverse.errors import NotFound, ValidationError
from fediverse.relationships import Relationship, relationship
from fediverse.storage import accounts as account_store
from fediverse.storage import directory as directory_store
from fediverse.storage import relationships as relationship_store
from fediverse.storage import tag_follows as tag_store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Connection
from fediverse.storage.directory import FeaturedTag
from fediverse.storage.statuses import Status
from fediverse.tag_follows import TagUse

MAX_FEATURED_TAGS = 10
TREND_WINDOW = timedelta(days=7)
HISTORY_DAYS = 7
LINK_SCAN_LIMIT = 2000


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --- suggestions and the directory ------------------------------------------------------------


async def suggestions(conn: Connection, *, account_id: int, limit: int) -> list[Account]:
    return await directory_store.list_suggested_accounts(conn, account_id=account_id, limit=limit)


async def dismiss_suggestion(conn: Connection, *, account_id: int, target_id: int) -> None:
    """Hide `target_id` from the suggestions; an account that does not exist is a 404."""
    if await account_store.fetch_account(conn, account_id=target_id) is None:
        raise NotFound()
    await directory_store.insert_suggestion_dismissal(
        conn, account_id=account_id, target_account_id=target_id
    )


async def directory(
    conn: Connection,
    *,
    viewer_id: int | None,
    order: str,
    local_only: bool,
    offset: int,
    limit: int,
) -> list[Account]:
    if order not in ("active", "new"):
        raise ValidationError("order must be active or new", field="order")
    return await directory_store.list_directory(
        conn,
        viewer_id=viewer_id,
        order=order,
        local_only=local_only,
        offset=max(offset, 0),
        limit=limit,
    )


# --- featured tags ----------------------------------------------------------------------------


async def featured_tags(conn: Connection, *, account_id: int) -> list[FeaturedTag]:
    return await directory_store.list_featured_tags(conn, account_id=account_id)


async def feature_tag(conn: Connection, *, account_id: int, name: str | None) -> FeaturedTag:
    """Feature a hashtag on the profile (made if nobody used it yet), at most ten."""
    try:
        display = tag_follows.valid_name(name or "")
    except NotFound:
        raise ValidationError("Name is not a valid hashtag", field="name") from None
    tag = await tag_store.fetch_tag(conn, name=display)
    if tag is None:
        tag = await tag_store.insert_tag(conn, tag_id=ids.new_id(), name=display)
    if await directory_store.count_featured_tags(conn, account_id=account_id) >= (
        MAX_FEATURED_TAGS
    ):
        existing = await directory_store.list_featured_tags(conn, account_id=account_id)
        if all(item.tag_id != tag.id for item in existing):
            raise ValidationError(f"You can feature at most {MAX_FEATURED_TAGS} hashtags")
    featured_id = await directory_store.insert_featured_tag(
        conn, featured_tag_id=ids.new_id(), account_id=account_id, tag_id=tag.id
    )
    found = await directory_store.fetch_featured_tag(
        conn, account_id=account_id, featured_tag_id=featured_id
    )
    assert found is not None
    return found


async def unfeature_tag(conn: Connection, *, account_id: int, featured_tag_id: int) -> None:
    if not await directory_store.delete_featured_tag(
        conn, account_id=account_id, featured_tag_id=featured_tag_id
    ):
        raise NotFound()


async def featured_tag_suggestions(conn: Connection, *, account_id: int) -> list[str]:
    return await directory_store.list_most_used_tag_names(conn, account_id=account_id, limit=10)


# --- endorsements -----------------------------------------------------------------------------


async def endorse(conn: Connection, *, account: Account, target: Account) -> Relationship:
    """Feature an account on the profile; as on Mastodon, only accounts one follows."""
    if (
        await relationship_store.fetch_follow(
            conn, account_id=account.id, target_account_id=target.id
        )
        is None
    ):
        raise ValidationError("You must be following this account to endorse it")
    await directory_store.insert_account_pin(
        conn, pin_id=ids.new_id(), account_id=account.id, target_account_id=target.id
    )
    return await relationship(conn, account_id=account.id, target_id=target.id)


async def unendorse(conn: Connection, *, account: Account, target: Account) -> Relationship:
    await directory_store.delete_account_pin(
        conn, account_id=account.id, target_account_id=target.id
    )
    return await relationship(conn, account_id=account.id, target_id=target.id)


async def is_endorsed(conn: Connection, *, account_id: int, target_id: int) -> bool:
    return await directory_store.fetch_account_pin_exists(
        conn, account_id=account_id, target_account_id=target_id
    )


async def endorsements(
    conn: Connection, *, account_id: int, below_id: int, above_id: int, limit: int
) -> list[tuple[int, Account]]:
    return await directory_store.list_endorsed_accounts(
        conn, account_id=account_id, below_id=below_id, above_id=above_id, limit=limit
    )


# --- trends -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrendingTag:
    name: str
    history: list[TagUse]


@dataclass(frozen=True)
class TrendingLink:
    url: str
    history: list[TagUse]


def _days(now: datetime) -> list[datetime]:
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return [today - timedelta(days=offset) for offset in range(HISTORY_DAYS)]


async def trending_tags(
    conn: Connection, *, offset: int, limit: int, now: datetime | None = None
) -> list[TrendingTag]:
    """Tags most people used in public posts this week, each with seven days of history."""
    moment = now or _utcnow()
    found = await directory_store.list_trending_tags(
        conn, since=moment - TREND_WINDOW, offset=max(offset, 0), limit=limit
    )
    days = _days(moment)
    result = []
    for tag in found:
        used = {
            day.day.replace(tzinfo=UTC): day
            for day in await tag_store.list_tag_history(
                conn, tag_id=tag.tag_id, since=days[-1], until=moment + timedelta(seconds=1)
            )
        }
        history = [
            TagUse(
                day=day,
                uses=used[day].uses if day in used else 0,
                accounts=used[day].accounts if day in used else 0,
            )
            for day in days
        ]
        result.append(TrendingTag(name=tag.name, history=history))
    return result


async def trending_statuses(
    conn: Connection,
    *,
    viewer_id: int | None,
    offset: int,
    limit: int,
    now: datetime | None = None,
) -> list[Status]:
    moment = now or _utcnow()
    return await directory_store.list_trending_statuses(
        conn, viewer_id=viewer_id, since=moment - TREND_WINDOW, offset=max(offset, 0), limit=limit
    )


class _LinkParser(HTMLParser):
    """Collects hrefs of plain links; mentions and hashtags carry the `mention` class."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        values = dict(attrs)
        href = values.get("href") or ""
        classes = (values.get("class") or "").split()
        if href.startswith(("https://", "http://")) and "mention" not in classes:
            self.links.append(href)


def links_in(content: str) -> list[str]:
    parser = _LinkParser()
    parser.feed(content)
    return list(dict.fromkeys(parser.links))


async def trending_links(
    conn: Connection, *, offset: int, limit: int, now: datetime | None = None
) -> list[TrendingLink]:
    """Links most people shared in public posts this week, with seven days of history."""
    moment = now or _utcnow()
    days = _days(moment)
    sharers: dict[str, set[int]] = {}
    per_day: dict[str, dict[datetime, tuple[int, set[int]]]] = {}
    for status in await directory_store.list_recent_public_contents(
        conn, since=moment - TREND_WINDOW, limit=LINK_SCAN_LIMIT
    ):
        day = status.created_at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        for url in links_in(status.content):
            sharers.setdefault(url, set()).add(status.account_id)
            uses, people = per_day.setdefault(url, {}).get(day, (0, set()))
            per_day[url][day] = (uses + 1, people | {status.account_id})
    ranked = sorted(
        sharers,
        key=lambda url: (-len(sharers[url]), -sum(u for u, _ in per_day[url].values()), url),
    )
    start = max(offset, 0)
    return [
        TrendingLink(
            url=url,
            history=[
                TagUse(
                    day=day,
                    uses=per_day[url].get(day, (0, set()))[0],
                    accounts=len(per_day[url].get(day, (0, set()))[1]),
                )
                for day in days
            ],
        )
        for url in ranked[start : start + limit]
    ]
