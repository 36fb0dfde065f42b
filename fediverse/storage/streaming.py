"""SQL for streaming: which of many connected viewers a status reaches, judged in one statement.

Each judgement reuses the keep predicate of the matching timeline query
(`fediverse/storage/timelines.py`) with the viewer parameter bound to a column of the viewer
list, so a stream holds exactly what the REST timeline would hold, for thousands of viewers at
the cost of one query per event.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

import asyncpg

from fediverse.ids import parse_id
from fediverse.storage.database import Connection
from fediverse.storage.events import STREAMING_CHANNEL, DomainEvent
from fediverse.storage.statuses import ViewerStatusState
from fediverse.storage.timelines import _HOME_KEEP, _LIST_KEEP, _PUBLIC_KEEP, _TAG_KEEP


def _bind(predicate: str, values: dict[int, str]) -> str:
    """Replace the timeline query's `$n` placeholders (viewer, list, flags) with expressions."""
    return re.sub(r"\$(\d+)", lambda m: values[int(m.group(1))], predicate)


_NO_TAGS = "'{}'::bigint[]"
# Local/remote/media are told apart per stream in Python; the judgement leaves them open.
_NO_FLAGS = {8: "false", 9: "false", 10: "false"}
_HOME_JUDGE = f"""
    SELECT v.id FROM unnest($2::bigint[]) AS v (id) JOIN statuses s ON s.id = $1
    WHERE {_bind(_HOME_KEEP, {1: "v.id"})}"""
_PUBLIC_JUDGE = f"""
    SELECT v.id FROM unnest($2::bigint[]) AS v (id) JOIN statuses s ON s.id = $1
    WHERE {_bind(_PUBLIC_KEEP, {1: "v.id", 5: "false", 6: "false", 7: "false"})}"""
_TAG_JUDGE = f"""
    SELECT v.id FROM unnest($2::bigint[]) AS v (id) JOIN statuses s ON s.id = $1
    WHERE {_bind(_TAG_KEEP, {1: "v.id", 6: _NO_TAGS, 7: _NO_TAGS} | _NO_FLAGS)}"""
_LIST_JUDGE = f"""
    SELECT v.id, v.list_id
    FROM unnest($2::bigint[], $3::bigint[]) AS v (id, list_id)
    JOIN lists l ON l.id = v.list_id AND l.account_id = v.id
    JOIN statuses s ON s.id = $1
    WHERE {_bind(_LIST_KEEP, {1: "v.id", 5: "v.list_id"})}"""


async def fetch_event(conn: Connection, *, event_id: int) -> DomainEvent | None:
    row = await conn.fetchrow(
        "SELECT id, kind, payload, created_at FROM domain_events WHERE id = $1", event_id
    )
    return None if row is None else DomainEvent(**dict(row))


async def list_home_viewers(conn: Connection, *, status_id: int, viewer_ids: list[int]) -> set[int]:
    """Those of `viewer_ids` whose home timeline holds the status."""
    rows = await conn.fetch(_HOME_JUDGE, status_id, viewer_ids)
    return {int(row["id"]) for row in rows}


async def list_public_viewers(
    conn: Connection, *, status_id: int, viewer_ids: list[int]
) -> set[int]:
    """Those of `viewer_ids` whose public timeline (any variant) may hold the status."""
    rows = await conn.fetch(_PUBLIC_JUDGE, status_id, viewer_ids)
    return {int(row["id"]) for row in rows}


async def list_tag_viewers(conn: Connection, *, status_id: int, viewer_ids: list[int]) -> set[int]:
    """Those of `viewer_ids` whose hashtag timelines may hold the status (tags checked apart)."""
    rows = await conn.fetch(_TAG_JUDGE, status_id, viewer_ids)
    return {int(row["id"]) for row in rows}


async def list_list_viewers(
    conn: Connection, *, status_id: int, viewer_ids: list[int], list_ids: list[int]
) -> set[tuple[int, int]]:
    """The (viewer, list) pairs, among those given, whose list timeline holds the status."""
    rows = await conn.fetch(_LIST_JUDGE, status_id, viewer_ids, list_ids)
    return {(int(row["id"]), int(row["list_id"])) for row in rows}


async def list_followers_among(
    conn: Connection, *, account_id: int, viewer_ids: list[int]
) -> set[int]:
    rows = await conn.fetch(
        "SELECT account_id FROM follows WHERE target_account_id = $1 "
        "AND account_id = ANY($2::bigint[])",
        account_id,
        viewer_ids,
    )
    return {int(row["account_id"]) for row in rows}


async def list_blocked_among(
    conn: Connection, *, account_id: int, viewer_ids: list[int]
) -> set[int]:
    """Those of `viewer_ids` that `account_id` blocks."""
    rows = await conn.fetch(
        "SELECT target_account_id FROM blocks WHERE account_id = $1 "
        "AND target_account_id = ANY($2::bigint[])",
        account_id,
        viewer_ids,
    )
    return {int(row["target_account_id"]) for row in rows}


async def list_filtering_accounts(
    conn: Connection, *, account_ids: list[int], now: datetime
) -> set[int]:
    """Those of `account_ids` with at least one unexpired filter."""
    rows = await conn.fetch(
        "SELECT DISTINCT account_id FROM filters WHERE account_id = ANY($1::bigint[]) "
        "AND (expires_at IS NULL OR expires_at > $2)",
        account_ids,
        now,
    )
    return {int(row["account_id"]) for row in rows}


async def list_viewer_states(
    conn: Connection, *, viewer_ids: list[int], status_ids: list[int], thread_root_ids: list[int]
) -> dict[int, ViewerStatusState]:
    """Favourited/boosted/bookmarked/pinned/muted-thread flags for many viewers at once."""
    rows = await conn.fetch(
        """
        SELECT 'f' AS kind, account_id AS viewer, status_id AS id FROM favourites
            WHERE account_id = ANY($1::bigint[]) AND status_id = ANY($2::bigint[])
        UNION ALL
        SELECT 'r', account_id, reblog_of_id FROM statuses
            WHERE account_id = ANY($1::bigint[]) AND reblog_of_id = ANY($2::bigint[])
        UNION ALL
        SELECT 'b', account_id, status_id FROM bookmarks
            WHERE account_id = ANY($1::bigint[]) AND status_id = ANY($2::bigint[])
        UNION ALL
        SELECT 'p', account_id, status_id FROM status_pins
            WHERE account_id = ANY($1::bigint[]) AND status_id = ANY($2::bigint[])
        UNION ALL
        SELECT 'm', account_id, thread_root_id FROM conversation_mutes
            WHERE account_id = ANY($1::bigint[]) AND thread_root_id = ANY($3::bigint[])
        """,
        viewer_ids,
        status_ids,
        thread_root_ids,
    )
    sets: dict[int, dict[str, set[int]]] = {}
    for row in rows:
        per_viewer = sets.setdefault(int(row["viewer"]), {kind: set() for kind in "frbpm"})
        per_viewer[row["kind"]].add(int(row["id"]))
    empty: frozenset[int] = frozenset()
    states = {}
    for viewer_id in viewer_ids:
        found = sets.get(viewer_id)
        states[viewer_id] = ViewerStatusState(
            favourited=frozenset(found["f"]) if found else empty,
            reblogged=frozenset(found["r"]) if found else empty,
            bookmarked=frozenset(found["b"]) if found else empty,
            pinned=frozenset(found["p"]) if found else empty,
            muted_threads=frozenset(found["m"]) if found else empty,
        )
    return states


async def list_poll_choices(
    conn: Connection, *, viewer_ids: list[int], poll_ids: list[int]
) -> dict[int, dict[int, list[int]]]:
    """viewer → poll id → the choices that viewer voted for (absent when they did not vote)."""
    rows = await conn.fetch(
        "SELECT account_id, poll_id, array_agg(choice ORDER BY choice) AS choices "
        "FROM poll_votes WHERE account_id = ANY($1::bigint[]) AND poll_id = ANY($2::bigint[]) "
        "GROUP BY account_id, poll_id",
        viewer_ids,
        poll_ids,
    )
    found: dict[int, dict[int, list[int]]] = {}
    for row in rows:
        found.setdefault(int(row["account_id"]), {})[int(row["poll_id"])] = list(row["choices"])
    return found


async def list_notified_accounts(
    conn: Connection, *, account_ids: list[int], above_id: int
) -> set[int]:
    """Those of `account_ids` with a notification newer than `above_id`."""
    rows = await conn.fetch(
        "SELECT DISTINCT account_id FROM notifications WHERE account_id = ANY($1::bigint[]) "
        "AND id > $2",
        account_ids,
        above_id,
    )
    return {int(row["account_id"]) for row in rows}


class EventListener:
    """One dedicated connection LISTENing on the streaming channel (not from the pool: a pooled
    connection would be reset and lose its LISTEN)."""

    def __init__(self, url: str, on_event: Callable[[int], None]) -> None:
        self._url = url
        self._on_event = on_event
        self._conn: asyncpg.Connection | None = None

    async def open(self) -> None:
        self._conn = await asyncpg.connect(self._url)
        await self._conn.add_listener(STREAMING_CHANNEL, self._received)

    def _received(self, conn: object, pid: int, channel: str, payload: str) -> None:
        event_id = parse_id(payload)
        if event_id is not None:
            self._on_event(event_id)

    @property
    def is_open(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            if not conn.is_closed():
                await conn.close(timeout=5)


async def list_event_ids_since(conn: Connection, *, above_id: int) -> list[int]:
    """Events newer than `above_id`: what a listener missed while it reconnected."""
    rows = await conn.fetch(
        "SELECT id FROM domain_events WHERE id > $1 ORDER BY id LIMIT 1000", above_id
    )
    return [int(row["id"]) for row in rows]
