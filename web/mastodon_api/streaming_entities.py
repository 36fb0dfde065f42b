"""Streaming payloads: each recipient's Status and Notification entities, rendered
by the same renderers as the REST API, with the payload a JSON string as Mastodon sends it."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from fediverse.status_views import StatusView, load_views
from fediverse.storage import streaming as stream_store
from fediverse.storage.database import Connection
from fediverse.storage.notifications import Notification
from fediverse.storage.statuses import Status, ViewerStatusState
from fediverse.streaming import StatusRouting, StreamKey, filter_context
from fediverse.urls import LocalUrls
from web.mastodon_api.entities import render_status
from web.mastodon_api.filters import match_filters
from web.mastodon_api.notifications import render_notifications


def _dumps(entity: Any) -> str:
    return orjson.dumps(entity).decode()


def _own_votes(view: StatusView, votes: dict[int, list[int]]) -> list[int] | None:
    return None if view.poll is None else votes.get(view.poll.id, [])


def _with_viewer(
    view: StatusView, viewer_id: int, state: ViewerStatusState, votes: dict[int, list[int]]
) -> StatusView:
    status = view.status
    return dataclasses.replace(
        view,
        viewer_id=viewer_id,
        own_votes=_own_votes(view, votes),
        favourited=status.id in state.favourited,
        reblogged=status.id in state.reblogged,
        bookmarked=status.id in state.bookmarked,
        pinned=status.id in state.pinned,
        muted=(status.thread_root_id or status.id) in state.muted_threads,
        reblog=None if view.reblog is None else _with_viewer(view.reblog, viewer_id, state, votes),
        # The view was loaded as one recipient: its author-only extras (the `audience` summary)
        # must not reach anyone else.
        extras=view.extras if status.account_id == viewer_id else {},
    )


def _flags(
    view: StatusView, viewer_id: int, state: ViewerStatusState, votes: dict[int, list[int]]
) -> tuple[Any, ...]:
    """What of the entity depends on the viewer: the flags `_with_viewer` sets, and whether the
    viewer wrote it. Read from the state directly: building a view per recipient costs more
    than the rendering it saves at thousands of recipients."""
    status = view.status
    own = (
        status.account_id == viewer_id,
        status.id in state.favourited,
        status.id in state.reblogged,
        status.id in state.bookmarked,
        status.id in state.pinned,
        (status.thread_root_id or status.id) in state.muted_threads,
        None if view.poll is None else tuple(votes.get(view.poll.id, ())),
    )
    return own if view.reblog is None else own + _flags(view.reblog, viewer_id, state, votes)


class StatusPayloads:
    """Status payloads per (recipient, stream), rendered once per distinct result."""

    def __init__(
        self,
        routing: StatusRouting,
        base: StatusView,
        states: dict[int, ViewerStatusState],
        urls: LocalUrls,
        votes: dict[int, dict[int, list[int]]] | None = None,
    ) -> None:
        self._routing = routing
        self._base = base
        self._states = states
        self._votes = votes or {}
        self._urls = urls
        self._cache: dict[tuple[Any, ...], str] = {}

    def payload(self, viewer_id: int, stream: StreamKey) -> str:
        state = self._states[viewer_id]
        votes = self._votes.get(viewer_id, {})
        filtered: list[dict[str, Any]] = []
        active = self._routing.filters.get(viewer_id)
        if active:
            status = self._routing.status
            filtered = match_filters(
                active,
                context=filter_context(stream),
                text=self._routing.filter_text,
                status_id=status.id,
                reblog_of_id=status.reblog_of_id,
            )
        key = (_flags(self._base, viewer_id, state, votes), _dumps(filtered) if filtered else "")
        cached = self._cache.get(key)
        if cached is None:
            entity = render_status(_with_viewer(self._base, viewer_id, state, votes), self._urls)
            entity["filtered"] = filtered
            cached = self._cache[key] = _dumps(entity)
        return cached


async def load_status_payloads(
    conn: Connection, routing: StatusRouting, urls: LocalUrls
) -> StatusPayloads | None:
    """Load the status once and every recipient's flags in one query."""
    viewers = list(routing.recipients)
    if not viewers:
        return None
    # Recipients were judged already (the original of a boost included); any one of them can
    # load the view, and each recipient's own flags replace that viewer's below.
    views = await load_views(conn, [routing.status], viewers[0])
    if not views:
        return None
    base = views[0]
    statuses: list[Status] = [base.status] + ([base.reblog.status] if base.reblog else [])
    states = await stream_store.list_viewer_states(
        conn,
        viewer_ids=viewers,
        status_ids=[s.id for s in statuses],
        thread_root_ids=[s.thread_root_id or s.id for s in statuses],
    )
    # The loaded view carries the first viewer's own poll votes; each recipient gets their own.
    poll_ids = [v.poll.id for v in (base, base.reblog) if v is not None and v.poll is not None]
    votes = (
        await stream_store.list_poll_choices(conn, viewer_ids=viewers, poll_ids=poll_ids)
        if poll_ids
        else {}
    )
    return StatusPayloads(routing, base, states, urls, votes)


async def render_notification_payloads(
    conn: Connection, notifications: list[Notification], recipient_id: int, urls: LocalUrls
) -> list[str]:
    """Notification entities as the notifications list renders them, as JSON strings."""
    return [
        _dumps(entity)
        for entity in await render_notifications(conn, notifications, recipient_id, urls)
    ]
