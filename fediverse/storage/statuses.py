"""SQL for statuses, their edits, mentions, tags, emojis and idempotency keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fediverse.audience import visible_sql
from fediverse.storage.database import Connection
from fediverse.storage.rows import field_names, from_row

STATUS_COLUMNS = """
    s.id, s.uri, s.url, s.account_id, s.local, s.text, s.content, s.spoiler_text,
    s.visibility, s.local_only, s.sensitive, s.language, s.in_reply_to_id,
    s.in_reply_to_account_id, s.in_reply_to_uri, s.reblog_of_id, s.thread_root_id,
    s.application_id, s.poll_id, s.replies_count, s.reblogs_count, s.favourites_count,
    s.created_at, s.edited_at
"""


@dataclass(frozen=True)
class Status:
    id: int
    uri: str
    url: str | None
    account_id: int
    local: bool
    text: str
    content: str
    spoiler_text: str
    visibility: str
    local_only: bool
    sensitive: bool
    language: str | None
    in_reply_to_id: int | None
    in_reply_to_account_id: int | None
    in_reply_to_uri: str | None
    reblog_of_id: int | None
    thread_root_id: int | None
    application_id: int | None
    poll_id: int | None
    replies_count: int
    reblogs_count: int
    favourites_count: int
    created_at: datetime
    edited_at: datetime | None


@dataclass(frozen=True)
class StatusEdit:
    id: int
    status_id: int
    account_id: int
    text: str
    content: str
    spoiler_text: str
    sensitive: bool
    media_attachments: list[dict[str, Any]]
    poll: dict[str, Any] | None
    created_at: datetime


_STATUS_FIELDS = field_names(Status)


def status_from_row(row: Any) -> Status:
    return from_row(Status, _STATUS_FIELDS, row)


async def insert_status(conn: Connection, *, values: dict[str, Any]) -> None:
    columns = list(values)
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    await conn.execute(
        f"INSERT INTO statuses ({', '.join(columns)}) VALUES ({placeholders})", *values.values()
    )


_UPDATABLE = frozenset(
    {
        "text",
        "content",
        "spoiler_text",
        "search_text",
        "sensitive",
        "language",
        "edited_at",
        "visibility",
        "local_only",
        "url",
        "poll_id",
    }
)


async def update_status(conn: Connection, *, status_id: int, changes: dict[str, Any]) -> None:
    unknown = set(changes) - _UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(changes, start=2))
    await conn.execute(
        f"UPDATE statuses SET {assignments}, updated_at = now() WHERE id = $1",
        status_id,
        *changes.values(),
    )


async def fetch_status(conn: Connection, *, status_id: int) -> Status | None:
    row = await conn.fetchrow(f"SELECT {STATUS_COLUMNS} FROM statuses s WHERE s.id = $1", status_id)
    return None if row is None else status_from_row(row)


async def fetch_status_by_uri(conn: Connection, *, uri: str) -> Status | None:
    row = await conn.fetchrow(f"SELECT {STATUS_COLUMNS} FROM statuses s WHERE s.uri = $1", uri)
    return None if row is None else status_from_row(row)


async def list_statuses_by_uris(conn: Connection, *, uris: list[str]) -> list[Status]:
    if not uris:
        return []
    rows = await conn.fetch(
        f"SELECT {STATUS_COLUMNS} FROM statuses s WHERE s.uri = ANY($1::text[])", uris
    )
    return [status_from_row(row) for row in rows]


async def fetch_visible_status(
    conn: Connection, *, status_id: int, viewer_id: int | None
) -> Status | None:
    """The status if the viewer may see it (and, for a boost, the boosted status too)."""
    row = await conn.fetchrow(
        f"SELECT {STATUS_COLUMNS} FROM statuses s WHERE s.id = $1 AND {visible_sql('s', '$2')} "
        "AND (s.reblog_of_id IS NULL OR EXISTS (SELECT 1 FROM statuses r WHERE "
        f"r.id = s.reblog_of_id AND {visible_sql('r', '$2')}))",
        status_id,
        viewer_id,
    )
    return None if row is None else status_from_row(row)


async def list_visible_statuses(
    conn: Connection, *, status_ids: list[int], viewer_id: int | None
) -> list[Status]:
    rows = await conn.fetch(
        f"SELECT {STATUS_COLUMNS} FROM statuses s WHERE s.id = ANY($1::bigint[]) "
        f"AND {visible_sql('s', '$2')} "
        "AND (s.reblog_of_id IS NULL OR EXISTS (SELECT 1 FROM statuses r WHERE "
        f"r.id = s.reblog_of_id AND {visible_sql('r', '$2')}))",
        status_ids,
        viewer_id,
    )
    return [status_from_row(row) for row in rows]


async def list_statuses_by_ids(conn: Connection, *, status_ids: list[int]) -> list[Status]:
    rows = await conn.fetch(
        f"SELECT {STATUS_COLUMNS} FROM statuses s WHERE s.id = ANY($1::bigint[])", status_ids
    )
    return [status_from_row(row) for row in rows]


async def delete_status(conn: Connection, *, status_id: int) -> None:
    await conn.execute("DELETE FROM statuses WHERE id = $1", status_id)


async def fetch_reblog(conn: Connection, *, account_id: int, reblog_of_id: int) -> Status | None:
    row = await conn.fetchrow(
        f"SELECT {STATUS_COLUMNS} FROM statuses s WHERE s.account_id = $1 AND s.reblog_of_id = $2",
        account_id,
        reblog_of_id,
    )
    return None if row is None else status_from_row(row)


async def list_reblog_ids(conn: Connection, *, reblog_of_id: int) -> list[int]:
    rows = await conn.fetch("SELECT id FROM statuses WHERE reblog_of_id = $1", reblog_of_id)
    return [int(row["id"]) for row in rows]


# --- edits ----------------------------------------------------------------------------------


async def insert_edit(conn: Connection, *, values: dict[str, Any]) -> None:
    columns = list(values)
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    await conn.execute(
        f"INSERT INTO status_edits ({', '.join(columns)}) VALUES ({placeholders})",
        *values.values(),
    )


async def list_edits(conn: Connection, *, status_id: int) -> list[StatusEdit]:
    rows = await conn.fetch(
        "SELECT id, status_id, account_id, text, content, spoiler_text, sensitive, "
        "media_attachments, poll, created_at FROM status_edits WHERE status_id = $1 ORDER BY id",
        status_id,
    )
    return [StatusEdit(**dict(row)) for row in rows]


# --- mentions, tags, emojis ---------------------------------------------------------------


async def insert_mentions(
    conn: Connection, *, status_id: int, account_ids: list[int], silent: bool = False
) -> None:
    if account_ids:
        await conn.executemany(
            "INSERT INTO mentions (status_id, account_id, silent) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING",
            [(status_id, account_id, silent) for account_id in account_ids],
        )


async def delete_mentions(conn: Connection, *, status_id: int) -> None:
    await conn.execute("DELETE FROM mentions WHERE status_id = $1", status_id)


async def list_mention_ids(conn: Connection, *, status_ids: list[int]) -> dict[int, list[int]]:
    rows = await conn.fetch(
        "SELECT status_id, account_id FROM mentions WHERE status_id = ANY($1::bigint[]) "
        "AND NOT silent ORDER BY status_id, account_id",
        status_ids,
    )
    result: dict[int, list[int]] = {}
    for row in rows:
        result.setdefault(row["status_id"], []).append(row["account_id"])
    return result


async def list_all_mentioned(conn: Connection, *, status_id: int) -> list[int]:
    rows = await conn.fetch("SELECT account_id FROM mentions WHERE status_id = $1", status_id)
    return [int(row["account_id"]) for row in rows]


async def upsert_tags(conn: Connection, *, names: list[str], new_ids: list[int]) -> dict[str, int]:
    """Tag ids by lower-cased name, creating missing tags."""
    if not names:
        return {}
    await conn.executemany(
        "INSERT INTO tags (id, name, display_name) VALUES ($1, lower($2), $2) "
        "ON CONFLICT (lower(name)) DO NOTHING",
        list(zip(new_ids, names, strict=True)),
    )
    rows = await conn.fetch(
        "SELECT id, name FROM tags WHERE lower(name) = ANY($1::text[])",
        [name.lower() for name in names],
    )
    return {row["name"].lower(): int(row["id"]) for row in rows}


async def replace_status_tags(conn: Connection, *, status_id: int, tag_ids: list[int]) -> None:
    await conn.execute("DELETE FROM status_tags WHERE status_id = $1", status_id)
    if tag_ids:
        await conn.executemany(
            "INSERT INTO status_tags (status_id, tag_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [(status_id, tag_id) for tag_id in tag_ids],
        )
        await conn.execute(
            "UPDATE tags SET last_status_at = now() WHERE id = ANY($1::bigint[])", tag_ids
        )


async def list_tag_names(conn: Connection, *, status_ids: list[int]) -> dict[int, list[str]]:
    rows = await conn.fetch(
        "SELECT st.status_id, t.name FROM status_tags st JOIN tags t ON t.id = st.tag_id "
        "WHERE st.status_id = ANY($1::bigint[]) ORDER BY st.status_id, t.name",
        status_ids,
    )
    result: dict[int, list[str]] = {}
    for row in rows:
        result.setdefault(row["status_id"], []).append(row["name"])
    return result


# --- idempotency --------------------------------------------------------------------------


async def fetch_idempotent_status_id(conn: Connection, *, account_id: int, key: str) -> int | None:
    value = await conn.fetchval(
        "SELECT status_id FROM idempotency_keys WHERE account_id = $1 AND key = $2 "
        "AND created_at > now() - interval '1 hour'",
        account_id,
        key,
    )
    return None if value is None else int(value)


async def insert_idempotency_key(
    conn: Connection, *, account_id: int, key: str, status_id: int
) -> None:
    await conn.execute(
        "INSERT INTO idempotency_keys (account_id, key, status_id) VALUES ($1, $2, $3) "
        "ON CONFLICT (account_id, key) DO UPDATE SET status_id = $3, created_at = now()",
        account_id,
        key,
        status_id,
    )


# --- viewer state for rendering ------------------------------------------------------------


@dataclass(frozen=True)
class ViewerStatusState:
    favourited: frozenset[int]
    reblogged: frozenset[int]
    bookmarked: frozenset[int]
    pinned: frozenset[int]
    muted_threads: frozenset[int]


@dataclass(frozen=True)
class PageFacts:
    """What a page of statuses needs besides the statuses and accounts: public mentions and
    tag names per status, and the viewer's state (None when nobody is signed in)."""

    mention_ids: dict[int, list[int]]
    tag_names: dict[int, list[str]]
    viewer_state: ViewerStatusState | None


async def fetch_page_facts(
    conn: Connection, *, status_ids: list[int], viewer_id: int | None, thread_root_ids: list[int]
) -> PageFacts:
    """`list_mention_ids`, `list_tag_names` and `fetch_viewer_state` in one round trip: each
    statement costs a round trip per rendered page, which is most of a timeline's time."""
    rows = await conn.fetch(
        """
        SELECT 'mention' AS kind, status_id, account_id AS id, NULL::text AS name FROM mentions
            WHERE status_id = ANY($2::bigint[]) AND NOT silent
        UNION ALL
        SELECT 'tag', st.status_id, NULL, t.name FROM status_tags st JOIN tags t ON t.id = st.tag_id
            WHERE st.status_id = ANY($2::bigint[])
        UNION ALL
        SELECT 'f', NULL, status_id, NULL FROM favourites
            WHERE account_id = $1 AND status_id = ANY($2::bigint[])
        UNION ALL
        SELECT 'r', NULL, reblog_of_id, NULL FROM statuses
            WHERE account_id = $1 AND reblog_of_id = ANY($2::bigint[])
        UNION ALL
        SELECT 'b', NULL, status_id, NULL FROM bookmarks
            WHERE account_id = $1 AND status_id = ANY($2::bigint[])
        UNION ALL
        SELECT 'p', NULL, status_id, NULL FROM status_pins
            WHERE account_id = $1 AND status_id = ANY($2::bigint[])
        UNION ALL
        SELECT 'm', NULL, thread_root_id, NULL FROM conversation_mutes
            WHERE account_id = $1 AND thread_root_id = ANY($3::bigint[])
        ORDER BY 1, 2, 3, 4
        """,
        viewer_id,
        status_ids,
        thread_root_ids,
    )
    mention_ids: dict[int, list[int]] = {}
    tag_names: dict[int, list[str]] = {}
    sets: dict[str, set[int]] = {kind: set() for kind in "frbpm"}
    for row in rows:
        kind = row["kind"]
        if kind == "mention":
            mention_ids.setdefault(row["status_id"], []).append(row["id"])
        elif kind == "tag":
            tag_names.setdefault(row["status_id"], []).append(row["name"])
        else:
            sets[kind].add(int(row["id"]))
    state = None
    if viewer_id is not None:
        state = ViewerStatusState(
            favourited=frozenset(sets["f"]),
            reblogged=frozenset(sets["r"]),
            bookmarked=frozenset(sets["b"]),
            pinned=frozenset(sets["p"]),
            muted_threads=frozenset(sets["m"]),
        )
    return PageFacts(mention_ids=mention_ids, tag_names=tag_names, viewer_state=state)


async def fetch_viewer_state(
    conn: Connection, *, viewer_id: int, status_ids: list[int], thread_root_ids: list[int]
) -> ViewerStatusState:
    rows = await conn.fetch(
        """
        SELECT 'f' AS kind, status_id AS id FROM favourites
            WHERE account_id = $1 AND status_id = ANY($2::bigint[])
        UNION ALL
        SELECT 'r', reblog_of_id FROM statuses
            WHERE account_id = $1 AND reblog_of_id = ANY($2::bigint[])
        UNION ALL
        SELECT 'b', status_id FROM bookmarks
            WHERE account_id = $1 AND status_id = ANY($2::bigint[])
        UNION ALL
        SELECT 'p', status_id FROM status_pins
            WHERE account_id = $1 AND status_id = ANY($2::bigint[])
        UNION ALL
        SELECT 'm', thread_root_id FROM conversation_mutes
            WHERE account_id = $1 AND thread_root_id = ANY($3::bigint[])
        """,
        viewer_id,
        status_ids,
        thread_root_ids,
    )
    sets: dict[str, set[int]] = {kind: set() for kind in "frbpm"}
    for row in rows:
        sets[row["kind"]].add(int(row["id"]))
    return ViewerStatusState(
        favourited=frozenset(sets["f"]),
        reblogged=frozenset(sets["r"]),
        bookmarked=frozenset(sets["b"]),
        pinned=frozenset(sets["p"]),
        muted_threads=frozenset(sets["m"]),
    )
