"""SQL for follows, follow requests, blocks, mutes, account notes and relationship lookups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fediverse.storage.accounts import Account, account_from_row
from fediverse.storage.database import Connection

_ACCOUNT_COLUMNS = """
    a.id, a.username, a.domain, a.display_name, a.note, a.note_source, a.uri, a.url,
    a.inbox_url, a.shared_inbox_url, a.outbox_url, a.followers_url, a.following_url,
    a.featured_url, a.public_key_id, a.public_key_pem, a.avatar_remote_url, a.header_remote_url,
    a.avatar_file, a.header_file, a.actor_type, a.locked, a.discoverable, a.indexable,
    a.hide_collections, a.memorial, a.fields, a.also_known_as, a.moved_to_account_id,
    a.created_at, a.updated_at, a.fetched_at, a.suspended_at, a.silenced_at,
    coalesce(a.remote_statuses_count, st.statuses_count, 0) AS statuses_count,
    coalesce(a.remote_followers_count, st.followers_count, 0) AS followers_count,
    coalesce(a.remote_following_count, st.following_count, 0) AS following_count,
    st.last_status_at
"""


@dataclass(frozen=True)
class Follow:
    """A follow, or a pending follow request (same columns in both tables)."""

    id: int
    account_id: int
    target_account_id: int
    show_reblogs: bool
    notify: bool
    languages: list[str] | None
    uri: str | None
    created_at: datetime


_FOLLOW_COLUMNS = (
    "id, account_id, target_account_id, show_reblogs, notify, languages, uri, created_at"
)


def _follow(row: Any) -> Follow:
    data = dict(row)
    if data["languages"] is not None:
        data["languages"] = list(data["languages"])
    return Follow(**data)


@dataclass(frozen=True)
class RelationshipFacts:
    """Everything the Relationship entity says about one target, from the viewer's side."""

    target_id: int
    following: Follow | None
    requested: Follow | None
    followed_by: bool
    requested_by: bool
    blocking: bool
    blocked_by: bool
    muting: bool
    muting_notifications: bool
    muting_expires_at: datetime | None
    note: str


@dataclass(frozen=True)
class Mute:
    id: int
    account_id: int
    target_account_id: int
    hide_notifications: bool
    expires_at: datetime | None
    created_at: datetime


# --- follows -------------------------------------------------------------------------------


async def fetch_follow(
    conn: Connection, *, account_id: int, target_account_id: int
) -> Follow | None:
    row = await conn.fetchrow(
        f"SELECT {_FOLLOW_COLUMNS} FROM follows WHERE account_id = $1 AND target_account_id = $2",
        account_id,
        target_account_id,
    )
    return None if row is None else _follow(row)


async def insert_follow(
    conn: Connection,
    *,
    follow_id: int,
    account_id: int,
    target_account_id: int,
    show_reblogs: bool,
    notify: bool,
    languages: list[str] | None,
    uri: str | None = None,
) -> Follow:
    """Insert a follow; an existing one keeps its id and takes the new options."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO follows (id, account_id, target_account_id, show_reblogs, notify, languages,
                             uri)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (account_id, target_account_id) DO UPDATE
            SET show_reblogs = EXCLUDED.show_reblogs, notify = EXCLUDED.notify,
                languages = EXCLUDED.languages, uri = coalesce(EXCLUDED.uri, follows.uri)
        RETURNING {_FOLLOW_COLUMNS}
        """,
        follow_id,
        account_id,
        target_account_id,
        show_reblogs,
        notify,
        languages,
        uri,
    )
    return _follow(row)


async def delete_follow(
    conn: Connection, *, account_id: int, target_account_id: int
) -> Follow | None:
    row = await conn.fetchrow(
        f"DELETE FROM follows WHERE account_id = $1 AND target_account_id = $2 "
        f"RETURNING {_FOLLOW_COLUMNS}",
        account_id,
        target_account_id,
    )
    return None if row is None else _follow(row)


# --- follow requests ----------------------------------------------------------------------


async def fetch_follow_request(
    conn: Connection, *, account_id: int, target_account_id: int
) -> Follow | None:
    row = await conn.fetchrow(
        f"SELECT {_FOLLOW_COLUMNS} FROM follow_requests "
        "WHERE account_id = $1 AND target_account_id = $2",
        account_id,
        target_account_id,
    )
    return None if row is None else _follow(row)


async def insert_follow_request(
    conn: Connection,
    *,
    request_id: int,
    account_id: int,
    target_account_id: int,
    show_reblogs: bool,
    notify: bool,
    languages: list[str] | None,
    uri: str | None = None,
) -> Follow:
    """Insert a pending request; an existing one keeps its id and takes the new options."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO follow_requests (id, account_id, target_account_id, show_reblogs, notify,
                                     languages, uri)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (account_id, target_account_id) DO UPDATE
            SET show_reblogs = EXCLUDED.show_reblogs, notify = EXCLUDED.notify,
                languages = EXCLUDED.languages, uri = coalesce(EXCLUDED.uri, follow_requests.uri)
        RETURNING {_FOLLOW_COLUMNS}
        """,
        request_id,
        account_id,
        target_account_id,
        show_reblogs,
        notify,
        languages,
        uri,
    )
    return _follow(row)


async def delete_follow_request(
    conn: Connection, *, account_id: int, target_account_id: int
) -> Follow | None:
    row = await conn.fetchrow(
        f"DELETE FROM follow_requests WHERE account_id = $1 AND target_account_id = $2 "
        f"RETURNING {_FOLLOW_COLUMNS}",
        account_id,
        target_account_id,
    )
    return None if row is None else _follow(row)


async def count_follow_requests(conn: Connection, *, target_account_id: int) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM follow_requests WHERE target_account_id = $1", target_account_id
        )
    )


# --- blocks and mutes ---------------------------------------------------------------------


async def insert_block(
    conn: Connection, *, block_id: int, account_id: int, target_account_id: int
) -> bool:
    """Returns whether a new block was written (False when it already existed)."""
    result = await conn.execute(
        "INSERT INTO blocks (id, account_id, target_account_id) VALUES ($1, $2, $3) "
        "ON CONFLICT (account_id, target_account_id) DO NOTHING",
        block_id,
        account_id,
        target_account_id,
    )
    return bool(result.endswith(" 1"))


async def delete_block(conn: Connection, *, account_id: int, target_account_id: int) -> int | None:
    """Remove a block; returns its id (None when there was none)."""
    value = await conn.fetchval(
        "DELETE FROM blocks WHERE account_id = $1 AND target_account_id = $2 RETURNING id",
        account_id,
        target_account_id,
    )
    return None if value is None else int(value)


async def fetch_block_exists(conn: Connection, *, account_id: int, target_account_id: int) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM blocks WHERE account_id = $1 AND target_account_id = $2)",
            account_id,
            target_account_id,
        )
    )


async def upsert_mute(
    conn: Connection,
    *,
    mute_id: int,
    account_id: int,
    target_account_id: int,
    hide_notifications: bool,
    expires_at: datetime | None,
) -> None:
    await conn.execute(
        """
        INSERT INTO mutes (id, account_id, target_account_id, hide_notifications, expires_at)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (account_id, target_account_id) DO UPDATE
            SET hide_notifications = EXCLUDED.hide_notifications,
                expires_at = EXCLUDED.expires_at
        """,
        mute_id,
        account_id,
        target_account_id,
        hide_notifications,
        expires_at,
    )


async def delete_mute(conn: Connection, *, account_id: int, target_account_id: int) -> bool:
    result = await conn.execute(
        "DELETE FROM mutes WHERE account_id = $1 AND target_account_id = $2",
        account_id,
        target_account_id,
    )
    return bool(result.endswith(" 1"))


# --- notes ----------------------------------------------------------------------------------


async def upsert_account_note(
    conn: Connection, *, account_id: int, target_account_id: int, comment: str
) -> None:
    await conn.execute(
        "INSERT INTO account_notes (account_id, target_account_id, comment) VALUES ($1, $2, $3) "
        "ON CONFLICT (account_id, target_account_id) DO UPDATE SET comment = EXCLUDED.comment",
        account_id,
        target_account_id,
        comment,
    )


async def delete_account_note(conn: Connection, *, account_id: int, target_account_id: int) -> None:
    await conn.execute(
        "DELETE FROM account_notes WHERE account_id = $1 AND target_account_id = $2",
        account_id,
        target_account_id,
    )


# --- relationship lookups ------------------------------------------------------------------


async def list_relationship_facts(
    conn: Connection, *, account_id: int, target_ids: list[int]
) -> dict[int, RelationshipFacts]:
    """The viewer's relationship to each existing target, in one round trip."""
    rows = await conn.fetch(
        """
        SELECT t.id AS target_id,
            to_jsonb(f.*) AS following,
            to_jsonb(r.*) AS requested,
            EXISTS (SELECT 1 FROM follows WHERE account_id = t.id AND target_account_id = $1)
                AS followed_by,
            EXISTS (SELECT 1 FROM follow_requests
                    WHERE account_id = t.id AND target_account_id = $1) AS requested_by,
            EXISTS (SELECT 1 FROM blocks WHERE account_id = $1 AND target_account_id = t.id)
                AS blocking,
            EXISTS (SELECT 1 FROM blocks WHERE account_id = t.id AND target_account_id = $1)
                AS blocked_by,
            m.id IS NOT NULL AS muting,
            coalesce(m.hide_notifications, false) AS muting_notifications,
            m.expires_at AS muting_expires_at,
            coalesce(n.comment, '') AS note
        FROM accounts t
        LEFT JOIN follows f ON f.account_id = $1 AND f.target_account_id = t.id
        LEFT JOIN follow_requests r ON r.account_id = $1 AND r.target_account_id = t.id
        LEFT JOIN mutes m ON m.account_id = $1 AND m.target_account_id = t.id
            AND (m.expires_at IS NULL OR m.expires_at > now())
        LEFT JOIN account_notes n ON n.account_id = $1 AND n.target_account_id = t.id
        WHERE t.id = ANY($2::bigint[])
        """,
        account_id,
        target_ids,
    )
    result = {}
    for row in rows:
        data = dict(row)
        for key in ("following", "requested"):
            data[key] = None if data[key] is None else _follow_from_json(data[key])
        result[int(row["target_id"])] = RelationshipFacts(**data)
    return result


def _follow_from_json(data: dict[str, Any]) -> Follow:
    return Follow(
        id=int(data["id"]),
        account_id=int(data["account_id"]),
        target_account_id=int(data["target_account_id"]),
        show_reblogs=bool(data["show_reblogs"]),
        notify=bool(data["notify"]),
        languages=data["languages"],
        uri=data["uri"],
        created_at=datetime.fromisoformat(data["created_at"]),
    )


# --- account lists paged by the relationship row's id --------------------------------------


@dataclass(frozen=True)
class PagedAccount:
    """An account in a list, with the id of the row (follow, block, ...) that pages it."""

    cursor: int
    account: Account


def _paged(rows: list[Any]) -> list[PagedAccount]:
    result = []
    for row in rows:
        data = dict(row)
        cursor = int(data.pop("cursor"))
        result.append(PagedAccount(cursor=cursor, account=account_from_row(data)))
    return result


def _page_sql(table: str, owner_column: str, other_column: str, extra: str = "") -> tuple[str, str]:
    """Newest-first and oldest-first (for min_id) queries over `table`; `$1` is the owner,
    `$2` max_id, `$3` since_id, `$4` min_id, `$5` limit."""
    base = (
        f"SELECT r.id AS cursor, {_ACCOUNT_COLUMNS} FROM {table} r "
        f"JOIN accounts a ON a.id = r.{other_column} "
        "LEFT JOIN account_stats st ON st.account_id = a.id "
        f"WHERE r.{owner_column} = $1 AND a.suspended_at IS NULL {extra} "
        "AND ($2::bigint IS NULL OR r.id < $2) AND ($3::bigint IS NULL OR r.id > $3) "
        "AND ($4::bigint IS NULL OR r.id > $4) "
    )
    return base + "ORDER BY r.id DESC LIMIT $5", base + "ORDER BY r.id ASC LIMIT $5"


_PAGE_QUERIES = {
    "followers": _page_sql("follows", "target_account_id", "account_id"),
    "following": _page_sql("follows", "account_id", "target_account_id"),
    "follow_requests": _page_sql("follow_requests", "target_account_id", "account_id"),
    "blocks": _page_sql("blocks", "account_id", "target_account_id"),
    "mutes": _page_sql(
        "mutes",
        "account_id",
        "target_account_id",
        "AND (r.expires_at IS NULL OR r.expires_at > now())",
    ),
}


async def list_account_page(
    conn: Connection,
    *,
    kind: str,
    owner_id: int,
    max_id: int | None,
    since_id: int | None,
    min_id: int | None,
    limit: int,
) -> list[PagedAccount]:
    """One page of followers, following, follow_requests (incoming), blocks or mutes of
    `owner_id`, newest relationship first. With `min_id` the page starts just after it."""
    newest_first, oldest_first = _PAGE_QUERIES[kind]
    if min_id is not None:
        rows = await conn.fetch(oldest_first, owner_id, max_id, since_id, min_id, limit)
        return list(reversed(_paged(rows)))
    rows = await conn.fetch(newest_first, owner_id, max_id, since_id, None, limit)
    return _paged(rows)


async def list_mutes_by_target(
    conn: Connection, *, account_id: int, target_ids: list[int]
) -> dict[int, Mute]:
    rows = await conn.fetch(
        "SELECT id, account_id, target_account_id, hide_notifications, expires_at, created_at "
        "FROM mutes WHERE account_id = $1 AND target_account_id = ANY($2::bigint[])",
        account_id,
        target_ids,
    )
    return {int(row["target_account_id"]): Mute(**dict(row)) for row in rows}


async def list_familiar_followers(
    conn: Connection, *, account_id: int, target_ids: list[int], limit: int = 40
) -> dict[int, list[Account]]:
    """For each target: accounts that `account_id` follows and that follow the target."""
    rows = await conn.fetch(
        f"""
        SELECT target.id AS target_id, {_ACCOUNT_COLUMNS}
        FROM unnest($2::bigint[]) AS target(id)
        CROSS JOIN LATERAL (
            SELECT theirs.account_id FROM follows theirs
            JOIN follows mine ON mine.account_id = $1
                AND mine.target_account_id = theirs.account_id
            WHERE theirs.target_account_id = target.id
            ORDER BY theirs.id DESC LIMIT $3
        ) familiar
        JOIN accounts a ON a.id = familiar.account_id
        LEFT JOIN account_stats st ON st.account_id = a.id
        WHERE a.suspended_at IS NULL
        """,
        account_id,
        target_ids,
        limit,
    )
    result: dict[int, list[Account]] = {}
    for row in rows:
        data = dict(row)
        target_id = int(data.pop("target_id"))
        result.setdefault(target_id, []).append(account_from_row(data))
    return result


async def list_follower_ids(conn: Connection, *, account_id: int) -> list[int]:
    rows = await conn.fetch(
        "SELECT account_id FROM follows WHERE target_account_id = $1", account_id
    )
    return [int(row["account_id"]) for row in rows]


@dataclass(frozen=True)
class ListSummary:
    """A list as the List entity shows it."""

    id: int
    title: str
    replies_policy: str
    exclusive: bool


async def list_lists_containing(
    conn: Connection, *, owner_id: int, member_id: int
) -> list[ListSummary]:
    """The owner's lists that include `member_id`."""
    rows = await conn.fetch(
        "SELECT l.id, l.title, l.replies_policy, l.exclusive FROM lists l "
        "JOIN list_accounts la ON la.list_id = l.id "
        "WHERE l.account_id = $1 AND la.account_id = $2 ORDER BY l.id",
        owner_id,
        member_id,
    )
    return [ListSummary(**dict(row)) for row in rows]


async def delete_list_memberships(conn: Connection, *, owner_id: int, member_id: int) -> None:
    """Mastodon drops an account from the owner's lists when the follow ends."""
    await conn.execute(
        "DELETE FROM list_accounts la USING lists l "
        "WHERE la.list_id = l.id AND l.account_id = $1 AND la.account_id = $2",
        owner_id,
        member_id,
    )
