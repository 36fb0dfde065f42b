"""What each timeline holds (home, public, hashtag, list, bookmarks, favourites, notifications).

Query shape (fan-out on read, bounded). The naive home query
`WHERE account_id IN (followees) ORDER BY id DESC LIMIT 20` lets PostgreSQL walk the whole
statuses index backwards when the followees are dormant: ~350 ms on 1M posts for a user who
follows only quiet accounts. Instead every timeline is read in two bounded steps:

1. *Candidates*: for each source (the viewer, each followee, each followed tag, each list member)
   take at most `k` ids inside the page bounds from an index range (`statuses(account_id, id
   DESC)`, `status_tags(tag_id, status_id)`), merge them and keep the top `k`. The cost grows
   with the number of sources, never with the age of their posts, so there is no plan cliff.
2. *Judgement*: only those `k` rows are checked against the audience rule (`visible_sql`),
   blocks, mutes, `show_reblogs`, Mastodon's reply rule and so on.

`k` over-fetches the page a little so that filtering rarely leaves it short; when it does, the
scan continues past the last candidate with a larger `k`, for a bounded number of rounds.
A materialized per-user feed (fan-out on write) would read faster still, but it needs
regeneration for inactive users anyway, which is this query; see
../shared/reference/performance-limits.md §6.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fediverse.errors import NotFound
from fediverse.storage import lists as list_store
from fediverse.storage import notifications as notification_store
from fediverse.storage import timelines as timeline_store
from fediverse.storage.database import Connection
from fediverse.storage.notifications import Notification
from fediverse.storage.statuses import Status
from fediverse.storage.timelines import NO_LOWER_BOUND, NO_UPPER_BOUND, Candidate, MarkedStatus
from fediverse.tag_follows import find_tag_ids

# Rounds and the candidate cap bound the work of one request however much is filtered out.
MAX_ROUNDS = 6
MAX_CANDIDATES = 400


@dataclass(frozen=True)
class Window:
    """Mastodon's paging: older than `max_id`, newer than `since_id`, or just above `min_id`."""

    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None
    limit: int = 20

    @property
    def ascending(self) -> bool:
        # min_id asks for the page right above it: scan upwards, then show newest first.
        return self.min_id is not None

    @property
    def upper(self) -> int:
        return self.max_id if self.max_id is not None else NO_UPPER_BOUND

    @property
    def lower(self) -> int:
        bounds = [b for b in (self.since_id, self.min_id) if b is not None]
        return max(bounds) if bounds else NO_LOWER_BOUND


# (below_id, above_id, count, ascending) -> candidates in scan order
CandidateSource = Callable[[int, int, int, bool], Awaitable[list[Candidate]]]


async def collect(source: CandidateSource, window: Window) -> list[Status]:
    """Run the bounded scan until the page is full or the source is exhausted."""
    upper, lower = window.upper, window.lower
    count = min(window.limit + window.limit // 2 + 5, MAX_CANDIDATES)
    kept: list[Status] = []
    seen: set[int] = set()
    for _ in range(MAX_ROUNDS):
        if upper - lower <= 1:
            break
        candidates = await source(upper, lower, count, window.ascending)
        for candidate in candidates:
            if candidate.kept and candidate.status.id not in seen:
                seen.add(candidate.status.id)
                kept.append(candidate.status)
        if len(kept) >= window.limit or len(candidates) < count:
            break
        if window.ascending:
            lower = candidates[-1].status.id
        else:
            upper = candidates[-1].status.id
        count = min(count * 2, MAX_CANDIDATES)
    page = kept[: window.limit]
    if window.ascending:
        page.reverse()
    return page


async def home(conn: Connection, *, viewer_id: int, window: Window) -> list[Status]:
    """The viewer's posts, their followees' posts and boosts, and posts with followed tags."""

    async def source(below: int, above: int, count: int, ascending: bool) -> list[Candidate]:
        return await timeline_store.list_home_candidates(
            conn,
            viewer_id=viewer_id,
            below_id=below,
            above_id=above,
            count=count,
            ascending=ascending,
        )

    return await collect(source, window)


async def public(
    conn: Connection,
    *,
    viewer_id: int | None,
    window: Window,
    local: bool = False,
    remote: bool = False,
    only_media: bool = False,
) -> list[Status]:
    """Public posts (never unlisted, private or direct); internal ones only for staff."""

    async def source(below: int, above: int, count: int, ascending: bool) -> list[Candidate]:
        return await timeline_store.list_public_candidates(
            conn,
            viewer_id=viewer_id,
            below_id=below,
            above_id=above,
            count=count,
            ascending=ascending,
            local_only=local,
            remote_only=remote,
            only_media=only_media,
        )

    return await collect(source, window)


async def hashtag(
    conn: Connection,
    *,
    viewer_id: int | None,
    tag: str,
    window: Window,
    any_tags: list[str] | None = None,
    all_tags: list[str] | None = None,
    none_tags: list[str] | None = None,
    local: bool = False,
    remote: bool = False,
    only_media: bool = False,
) -> list[Status]:
    """Public posts with `tag` or any of `any_tags`, all of `all_tags`, none of `none_tags`."""
    any_ids = await find_tag_ids(conn, [tag, *(any_tags or [])])
    wanted_all = all_tags or []
    all_ids = await find_tag_ids(conn, wanted_all)
    if not any_ids or len(all_ids) < len({t.lower() for t in wanted_all}):
        return []
    none_ids = await find_tag_ids(conn, none_tags or [])

    async def source(below: int, above: int, count: int, ascending: bool) -> list[Candidate]:
        return await timeline_store.list_tag_candidates(
            conn,
            viewer_id=viewer_id,
            any_tag_ids=any_ids,
            all_tag_ids=all_ids,
            none_tag_ids=none_ids,
            below_id=below,
            above_id=above,
            count=count,
            ascending=ascending,
            local_only=local,
            remote_only=remote,
            only_media=only_media,
        )

    return await collect(source, window)


async def list_timeline(
    conn: Connection, *, viewer_id: int, list_id: int, window: Window
) -> list[Status]:
    """Posts by the members of one of the viewer's lists (someone else's list is a 404)."""
    if await list_store.fetch_list(conn, owner_id=viewer_id, list_id=list_id) is None:
        raise NotFound()

    async def source(below: int, above: int, count: int, ascending: bool) -> list[Candidate]:
        return await timeline_store.list_list_candidates(
            conn,
            viewer_id=viewer_id,
            list_id=list_id,
            below_id=below,
            above_id=above,
            count=count,
            ascending=ascending,
        )

    return await collect(source, window)


async def bookmarks(conn: Connection, *, viewer_id: int, window: Window) -> list[MarkedStatus]:
    """Bookmarked statuses the viewer may still see, paged by bookmark id."""
    rows = await timeline_store.list_bookmarked(
        conn,
        account_id=viewer_id,
        below_id=window.upper,
        above_id=window.lower,
        count=window.limit,
        ascending=window.ascending,
    )
    return rows[::-1] if window.ascending else rows


async def favourites(conn: Connection, *, viewer_id: int, window: Window) -> list[MarkedStatus]:
    """Favourited statuses the viewer may still see, paged by favourite id."""
    rows = await timeline_store.list_favourited(
        conn,
        account_id=viewer_id,
        below_id=window.upper,
        above_id=window.lower,
        count=window.limit,
        ascending=window.ascending,
    )
    return rows[::-1] if window.ascending else rows


async def notifications(
    conn: Connection,
    *,
    recipient_id: int,
    window: Window,
    types: list[str] | None = None,
    exclude_types: list[str] | None = None,
    from_account_id: int | None = None,
) -> list[Notification]:
    """The recipient's notifications, newest first, minus those they should not be shown."""
    rows = await notification_store.list_notifications(
        conn,
        account_id=recipient_id,
        below_id=window.upper,
        above_id=window.lower,
        count=window.limit,
        ascending=window.ascending,
        types=types or None,
        exclude_types=exclude_types or [],
        from_account_id=from_account_id,
    )
    return rows[::-1] if window.ascending else rows
