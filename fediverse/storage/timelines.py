"""SQL for timelines: bounded candidate queries that say, per candidate, whether to keep it.

Every statement has the same shape (see `fediverse/timelines.py` for why): a *source* picks at
most `$4` candidate ids inside the exclusive bounds `$3 < id < $2` using only index ranges, then
each candidate row is judged by a *keep* predicate built on `audience.visible_sql`. `$1` is always
the viewer (NULL for anonymous). Rows come back in scan order, kept or not, so the caller can
continue the scan below (or above) the last candidate when too few were kept. The home source
may list a status twice (followed author and followed tag); callers drop repeats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fediverse.audience import visible_sql
from fediverse.storage.database import Connection
from fediverse.storage.statuses import STATUS_COLUMNS, Status, status_from_row

# Open bounds: ids are positive signed 64-bit integers.
NO_UPPER_BOUND = 2**63 - 1
NO_LOWER_BOUND = 0


@dataclass(frozen=True)
class Candidate:
    status: Status
    kept: bool


def _silenced(account: str) -> str:
    """The viewer ($1) blocks or (actively) mutes `account`."""
    return f"""(EXISTS (SELECT 1 FROM blocks tl_b
                        WHERE tl_b.account_id = $1 AND tl_b.target_account_id = {account})
             OR EXISTS (SELECT 1 FROM mutes tl_m
                        WHERE tl_m.account_id = $1 AND tl_m.target_account_id = {account}
                          AND (tl_m.expires_at IS NULL OR tl_m.expires_at > now())))"""


# Shared by every timeline: the viewer may see it, the author is not blocked or muted (unless it
# is the viewer), no mentioned account is, and a boost's original is visible and not silenced.
_COMMON_KEEP = f"""
    {visible_sql("s", "$1")}
    AND ((s.account_id = $1::bigint) IS TRUE OR (
        NOT {_silenced("s.account_id")}
        AND NOT EXISTS (SELECT 1 FROM mentions tl_mm
                        WHERE tl_mm.status_id = s.id AND {_silenced("tl_mm.account_id")})))
    AND (s.reblog_of_id IS NULL OR EXISTS (
        SELECT 1 FROM statuses r WHERE r.id = s.reblog_of_id AND {visible_sql("r", "$1")}
        AND ((r.account_id = $1::bigint) IS TRUE OR NOT {_silenced("r.account_id")})))
"""

# Mastodon's FeedManager: a followee's reply reaches home only when it answers the viewer, the
# author themself, or someone the viewer follows.
_HOME_KEEP = f"""
    {_COMMON_KEEP}
    AND (s.account_id = $1 OR (
        EXISTS (SELECT 1 FROM follows f
                WHERE f.account_id = $1 AND f.target_account_id = s.account_id
                  AND (s.reblog_of_id IS NULL OR f.show_reblogs)
                  AND (f.languages IS NULL OR s.language IS NULL
                       OR s.language = ANY (f.languages)))
        AND (s.in_reply_to_account_id IS NULL
             OR s.in_reply_to_account_id = $1 OR s.in_reply_to_account_id = s.account_id
             OR EXISTS (SELECT 1 FROM follows f2 WHERE f2.account_id = $1
                          AND f2.target_account_id = s.in_reply_to_account_id))
        -- Members of an exclusive list are read in that list only.
        AND NOT EXISTS (SELECT 1 FROM list_accounts la JOIN lists l ON l.id = la.list_id
                        WHERE l.account_id = $1 AND l.exclusive AND la.account_id = s.account_id)
    ) OR (
        s.visibility = 'public' AND s.reblog_of_id IS NULL
        AND EXISTS (SELECT 1 FROM status_tags st JOIN tag_follows tf ON tf.tag_id = st.tag_id
                    WHERE st.status_id = s.id AND tf.account_id = $1)
    ))
"""

_LIST_KEEP = f"""
    {_COMMON_KEEP}
    AND EXISTS (SELECT 1 FROM list_accounts la
                WHERE la.list_id = $5 AND la.account_id = s.account_id)
    AND (s.reblog_of_id IS NULL OR NOT EXISTS (
        SELECT 1 FROM follows f WHERE f.account_id = $1 AND f.target_account_id = s.account_id
          AND NOT f.show_reblogs))
    AND (s.in_reply_to_account_id IS NULL
         OR s.in_reply_to_account_id = $1 OR s.in_reply_to_account_id = s.account_id
         OR ((SELECT replies_policy FROM lists WHERE id = $5) = 'followed' AND EXISTS (
                SELECT 1 FROM follows f2 WHERE f2.account_id = $1
                  AND f2.target_account_id = s.in_reply_to_account_id))
         OR ((SELECT replies_policy FROM lists WHERE id = $5) = 'list' AND EXISTS (
                SELECT 1 FROM list_accounts la2 WHERE la2.list_id = $5
                  AND la2.account_id = s.in_reply_to_account_id)))
"""

_MEDIA = "EXISTS (SELECT 1 FROM media_attachments ma WHERE ma.status_id = s.id)"

# Silenced (limited) authors, e.g. from a domain blocked with severity silence, stay out of
# public and tag timelines except for their followers (Mastodon's behaviour).
_NOT_LIMITED = """
    NOT EXISTS (SELECT 1 FROM accounts tl_la
                WHERE tl_la.id = s.account_id AND tl_la.silenced_at IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM follows tl_lf WHERE tl_lf.account_id = $1
                                  AND tl_lf.target_account_id = tl_la.id)
                  AND (tl_la.id = $1::bigint) IS NOT TRUE)"""

# Public and tag timelines: public visibility only (never unlisted, private or direct); internal
# posts pass `visible_sql` only for signed-in (local) viewers.
_PUBLIC_KEEP = f"""
    s.visibility = 'public' AND s.reblog_of_id IS NULL
    AND {_NOT_LIMITED}
    AND {_COMMON_KEEP}
    AND (s.in_reply_to_account_id IS NULL OR s.in_reply_to_account_id = s.account_id)
    AND (NOT $5::boolean OR s.local) AND (NOT $6::boolean OR NOT s.local)
    AND (NOT $7::boolean OR {_MEDIA})
"""

_TAG_KEEP = f"""
    s.visibility = 'public' AND s.reblog_of_id IS NULL
    AND {_NOT_LIMITED}
    AND {_COMMON_KEEP}
    AND NOT EXISTS (SELECT 1 FROM unnest($6::bigint[]) AS needed (tag_id)
                    WHERE NOT EXISTS (SELECT 1 FROM status_tags x
                                      WHERE x.status_id = s.id AND x.tag_id = needed.tag_id))
    AND NOT EXISTS (SELECT 1 FROM status_tags x
                    WHERE x.status_id = s.id AND x.tag_id = ANY ($7::bigint[]))
    AND (NOT $8::boolean OR s.local) AND (NOT $9::boolean OR NOT s.local)
    AND (NOT $10::boolean OR {_MEDIA})
"""


def _by_authors(authors: str, order: str) -> str:
    """Top-$4 ids of each author in `authors` (a query yielding author_id), merged and cut."""
    return f"""
        SELECT c.id FROM ({authors}) src CROSS JOIN LATERAL (
            SELECT s.id FROM statuses s
            WHERE s.account_id = src.author_id AND s.id < $2 AND s.id > $3
            ORDER BY s.id {order} LIMIT $4) c"""


def _by_tags(tags: str, order: str) -> str:
    return f"""
        SELECT c.status_id FROM ({tags}) src CROSS JOIN LATERAL (
            SELECT st.status_id FROM status_tags st
            WHERE st.tag_id = src.tag_id AND st.status_id < $2 AND st.status_id > $3
            ORDER BY st.status_id {order} LIMIT $4) c"""


def _timeline(source: str, keep: str, order: str) -> str:
    return f"""
        WITH candidates AS ({source})
        SELECT {STATUS_COLUMNS}, ({keep}) AS kept
        FROM candidates c JOIN statuses s ON s.id = c.id
        ORDER BY s.id {order}"""


def _home_source(order: str) -> str:
    authors = (
        "SELECT $1::bigint AS author_id UNION ALL "
        "SELECT f.target_account_id FROM follows f WHERE f.account_id = $1"
    )
    tags = "SELECT tf.tag_id FROM tag_follows tf WHERE tf.account_id = $1"
    # UNION ALL, not UNION: hashing thousands of per-author ids to drop the rare duplicate (an
    # own or followed post with a followed tag) cost more than the rest of the query; the
    # caller drops duplicates instead.
    return (
        f"({_by_authors(authors, order)}) UNION ALL ({_by_tags(tags, order)}) "
        f"ORDER BY 1 {order} LIMIT $4"
    )


def _list_source(order: str) -> str:
    authors = "SELECT la.account_id AS author_id FROM list_accounts la WHERE la.list_id = $5"
    return f"{_by_authors(authors, order)} ORDER BY 1 {order} LIMIT $4"


def _public_source(order: str) -> str:
    # Walks the partial index statuses_public_local (id DESC WHERE public AND NOT reblog).
    return f"""
        SELECT s.id FROM statuses s
        WHERE s.visibility = 'public' AND s.reblog_of_id IS NULL AND s.id < $2 AND s.id > $3
        ORDER BY s.id {order} LIMIT $4"""


def _tag_source(order: str) -> str:
    tags = "SELECT unnest($5::bigint[]) AS tag_id"
    return f"SELECT DISTINCT id FROM ({_by_tags(tags, order)}) u (id) ORDER BY 1 {order} LIMIT $4"


_ORDERS = ((False, "DESC"), (True, "ASC"))
_HOME = {asc: _timeline(_home_source(o), _HOME_KEEP, o) for asc, o in _ORDERS}
_LIST = {asc: _timeline(_list_source(o), _LIST_KEEP, o) for asc, o in _ORDERS}
_PUBLIC = {asc: _timeline(_public_source(o), _PUBLIC_KEEP, o) for asc, o in _ORDERS}
_TAG = {asc: _timeline(_tag_source(o), _TAG_KEEP, o) for asc, o in _ORDERS}


def _candidates(rows: list[Any]) -> list[Candidate]:
    return [Candidate(status=status_from_row(row), kept=bool(row["kept"])) for row in rows]


async def list_home_candidates(
    conn: Connection,
    *,
    viewer_id: int,
    below_id: int,
    above_id: int,
    count: int,
    ascending: bool,
) -> list[Candidate]:
    """Up to `count` candidates from the viewer, their followees and their followed tags."""
    rows = await conn.fetch(_HOME[ascending], viewer_id, below_id, above_id, count)
    return _candidates(rows)


async def list_list_candidates(
    conn: Connection,
    *,
    viewer_id: int,
    list_id: int,
    below_id: int,
    above_id: int,
    count: int,
    ascending: bool,
) -> list[Candidate]:
    rows = await conn.fetch(_LIST[ascending], viewer_id, below_id, above_id, count, list_id)
    return _candidates(rows)


async def list_public_candidates(
    conn: Connection,
    *,
    viewer_id: int | None,
    below_id: int,
    above_id: int,
    count: int,
    ascending: bool,
    local_only: bool,
    remote_only: bool,
    only_media: bool,
) -> list[Candidate]:
    rows = await conn.fetch(
        _PUBLIC[ascending],
        viewer_id,
        below_id,
        above_id,
        count,
        local_only,
        remote_only,
        only_media,
    )
    return _candidates(rows)


async def list_tag_candidates(
    conn: Connection,
    *,
    viewer_id: int | None,
    any_tag_ids: list[int],
    all_tag_ids: list[int],
    none_tag_ids: list[int],
    below_id: int,
    above_id: int,
    count: int,
    ascending: bool,
    local_only: bool,
    remote_only: bool,
    only_media: bool,
) -> list[Candidate]:
    rows = await conn.fetch(
        _TAG[ascending],
        viewer_id,
        below_id,
        above_id,
        count,
        any_tag_ids,
        all_tag_ids,
        none_tag_ids,
        local_only,
        remote_only,
        only_media,
    )
    return _candidates(rows)


# --- bookmarks and favourites: paged by their own row ids -------------------------------------


@dataclass(frozen=True)
class MarkedStatus:
    """A bookmarked or favourited status and the id of the bookmark/favourite row."""

    page_id: int
    status: Status


_BOOKMARKS = {
    asc: f"""
        SELECT b.id AS page_id, {STATUS_COLUMNS}
        FROM bookmarks b JOIN statuses s ON s.id = b.status_id
        WHERE b.account_id = $1 AND b.id < $2 AND b.id > $3 AND {visible_sql("s", "$1")}
        ORDER BY b.id {order} LIMIT $4"""
    for asc, order in ((False, "DESC"), (True, "ASC"))
}

_FAVOURITES = {
    asc: f"""
        SELECT fv.id AS page_id, {STATUS_COLUMNS}
        FROM favourites fv JOIN statuses s ON s.id = fv.status_id
        WHERE fv.account_id = $1 AND fv.id < $2 AND fv.id > $3 AND {visible_sql("s", "$1")}
        ORDER BY fv.id {order} LIMIT $4"""
    for asc, order in ((False, "DESC"), (True, "ASC"))
}


async def list_bookmarked(
    conn: Connection, *, account_id: int, below_id: int, above_id: int, count: int, ascending: bool
) -> list[MarkedStatus]:
    rows = await conn.fetch(_BOOKMARKS[ascending], account_id, below_id, above_id, count)
    return [MarkedStatus(page_id=int(row["page_id"]), status=status_from_row(row)) for row in rows]


async def list_favourited(
    conn: Connection, *, account_id: int, below_id: int, above_id: int, count: int, ascending: bool
) -> list[MarkedStatus]:
    rows = await conn.fetch(_FAVOURITES[ascending], account_id, below_id, above_id, count)
    return [MarkedStatus(page_id=int(row["page_id"]), status=status_from_row(row)) for row in rows]
