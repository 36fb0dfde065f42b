"""Everything needed to show statuses to one viewer, loaded in a fixed number of queries.

Callers pass statuses they already know the viewer may see; boosted originals are re-checked
here, and a boost whose original the viewer may not see is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fediverse import audience_report
from fediverse.storage import accounts as account_store
from fediverse.storage import auth as auth_store
from fediverse.storage import media as media_store
from fediverse.storage import polls as poll_store
from fediverse.storage import statuses as status_store
from fediverse.storage.accounts import Account
from fediverse.storage.auth import Application
from fediverse.storage.database import Connection
from fediverse.storage.media import MediaAttachment
from fediverse.storage.polls import Poll
from fediverse.storage.statuses import Status


@dataclass(frozen=True)
class StatusView:
    status: Status
    account: Account
    reblog: StatusView | None
    media: list[MediaAttachment]
    mentions: list[Account]
    tags: list[str]
    application: Application | None
    # Viewer state; None when nobody is signed in.
    favourited: bool | None = None
    reblogged: bool | None = None
    bookmarked: bool | None = None
    pinned: bool | None = None
    muted: bool | None = None
    viewer_id: int | None = None
    extras: dict[str, object] = field(default_factory=dict)
    poll: Poll | None = None
    # The viewer's choices in `poll` (empty when they did not vote; None when signed out).
    own_votes: list[int] | None = None


async def load_views(
    conn: Connection, statuses: list[Status], viewer_id: int | None
) -> list[StatusView]:
    """Views for `statuses` in the given order."""
    if not statuses:
        return []
    reblog_ids = [s.reblog_of_id for s in statuses if s.reblog_of_id is not None]
    # Statements are skipped when they could find nothing: a page costs what it shows.
    originals = (
        {
            s.id: s
            for s in await status_store.list_visible_statuses(
                conn, status_ids=reblog_ids, viewer_id=viewer_id
            )
        }
        if reblog_ids
        else {}
    )
    kept = [s for s in statuses if s.reblog_of_id is None or s.reblog_of_id in originals]
    everything = {s.id: s for s in kept} | originals
    all_ids = list(everything)

    facts = await status_store.fetch_page_facts(
        conn,
        status_ids=all_ids,
        viewer_id=viewer_id,
        thread_root_ids=[s.thread_root_id or s.id for s in everything.values()],
    )
    mention_ids, tags, state = facts.mention_ids, facts.tag_names, facts.viewer_state
    account_ids = {s.account_id for s in everything.values()}
    for ids_ in mention_ids.values():
        account_ids.update(ids_)
    accounts = {
        a.id: a
        for a in await account_store.list_accounts_by_ids(conn, account_ids=list(account_ids))
    }
    media: dict[int, list[MediaAttachment]] = {}
    for item in await media_store.list_media_for_statuses(conn, status_ids=all_ids):
        if item.status_id is not None:
            media.setdefault(item.status_id, []).append(item)
    app_ids = {s.application_id for s in everything.values() if s.application_id}
    applications: dict[int, Application] = {}
    if app_ids:
        applications = {
            app.id: app
            for app in await auth_store.list_applications_by_ids(conn, app_ids=list(app_ids))
        }
    poll_status_ids = [s.id for s in everything.values() if s.poll_id is not None]
    polls: dict[int, Poll] = {}
    if poll_status_ids:
        polls = {
            p.status_id: p
            for p in await poll_store.list_polls_for_statuses(conn, status_ids=poll_status_ids)
        }
    own_choices: dict[int, list[int]] = {}
    if viewer_id is not None and polls:
        own_choices = await poll_store.list_own_choices(
            conn, account_id=viewer_id, poll_ids=[p.id for p in polls.values()]
        )

    # The author's own statuses say who can see them (an extra field apps ignore), on every
    # path that shows them: status endpoints, timelines, profiles, notifications, streaming.
    summaries: dict[int, str] = {}
    if viewer_id is not None:
        own = [s for s in everything.values() if s.account_id == viewer_id]
        if own:
            summaries = await audience_report.short_summaries(conn, own)

    def view(status: Status) -> StatusView:
        inner = view(originals[status.reblog_of_id]) if status.reblog_of_id else None
        flags: dict[str, bool | None] = {}
        if state is not None:
            flags = {
                "favourited": status.id in state.favourited,
                "reblogged": status.id in state.reblogged,
                "bookmarked": status.id in state.bookmarked,
                "pinned": status.id in state.pinned,
                "muted": (status.thread_root_id or status.id) in state.muted_threads,
            }
        return StatusView(
            status=status,
            account=accounts[status.account_id],
            reblog=inner,
            media=media.get(status.id, []),
            mentions=[accounts[i] for i in mention_ids.get(status.id, []) if i in accounts],
            tags=tags.get(status.id, []),
            application=applications.get(status.application_id or 0),
            viewer_id=viewer_id,
            poll=polls.get(status.id),
            own_votes=(
                None
                if viewer_id is None or status.id not in polls
                else own_choices.get(polls[status.id].id, [])
            ),
            extras={"audience": summaries[status.id]} if status.id in summaries else {},
            **flags,
        )

    return [view(s) for s in kept]
