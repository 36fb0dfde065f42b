"""SQL for search: accounts by name prefix, hashtags by name prefix, statuses by full text."""

from __future__ import annotations

from dataclasses import dataclass

from fediverse.audience import visible_sql
from fediverse.storage.accounts import _ACCOUNT_COLUMNS, _ACCOUNT_FROM, Account, account_from_row
from fediverse.storage.database import Connection
from fediverse.storage.statuses import STATUS_COLUMNS, Status, status_from_row


@dataclass(frozen=True)
class TagMatch:
    id: int
    name: str
    display_name: str
    following: bool


def like_prefix(term: str) -> str:
    """A LIKE pattern matching strings that start with `term` (its wildcards escaped)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped.lower()}%"


async def list_accounts_matching(
    conn: Connection,
    *,
    username: str,
    domain: str | None,
    viewer_id: int | None,
    following_only: bool,
    limit: int,
    offset: int,
) -> list[Account]:
    """Accounts whose username (or, without a domain, a word of the display name) starts with
    `username`.

    `domain` narrows the search: None = any domain, '' = local accounts only, otherwise domains
    starting with it. The exact `username@domain` (a local one when no domain is given) comes
    first, then username matches, then display-name matches, then local and most followed.
    Suspended accounts and accounts blocking or blocked by the viewer are left out.
    """
    pattern = like_prefix(username)
    rows = await conn.fetch(
        f"""
        SELECT {_ACCOUNT_COLUMNS} FROM {_ACCOUNT_FROM}
        WHERE a.suspended_at IS NULL
          AND (lower(a.username) LIKE $1
               OR ($3::text IS NULL AND (lower(a.display_name) LIKE $1
                                         OR lower(a.display_name) LIKE '% ' || $1)))
          AND ($3::text IS NULL
               OR ($3::text = '' AND a.domain IS NULL)
               OR ($3::text <> '' AND lower(a.domain) LIKE $4))
          AND ($5::bigint IS NULL OR NOT EXISTS (
                SELECT 1 FROM blocks b
                WHERE (b.account_id = $5::bigint AND b.target_account_id = a.id)
                   OR (b.account_id = a.id AND b.target_account_id = $5::bigint)))
          AND (NOT $6 OR EXISTS (
                SELECT 1 FROM follows f
                WHERE f.account_id = $5::bigint AND f.target_account_id = a.id))
        ORDER BY
          (lower(a.username) = lower($2)
             AND coalesce(lower(a.domain), '') = coalesce(lower($3::text), '')) DESC,
          (lower(a.username) LIKE $1) DESC,
          (a.domain IS NULL) DESC,
          coalesce(a.remote_followers_count, s.followers_count, 0) DESC,
          a.id
        LIMIT $7 OFFSET $8
        """,
        pattern,
        username,
        domain,
        like_prefix(domain or ""),
        viewer_id,
        following_only,
        limit,
        offset,
    )
    return [account_from_row(row) for row in rows]


async def list_tags_matching(
    conn: Connection,
    *,
    name: str,
    viewer_id: int | None,
    trendable_only: bool,
    limit: int,
    offset: int,
) -> list[TagMatch]:
    """Usable hashtags whose name starts with `name`: the exact name first, then shortest."""
    rows = await conn.fetch(
        """
        SELECT t.id, t.name, t.display_name,
               EXISTS (SELECT 1 FROM tag_follows tf
                       WHERE tf.tag_id = t.id AND tf.account_id = $2::bigint) AS following
        FROM tags t
        WHERE lower(t.name) LIKE $1 AND t.usable AND (NOT $3 OR t.trendable)
        ORDER BY (lower(t.name) = lower($4)) DESC, length(t.name), t.name
        LIMIT $5 OFFSET $6
        """,
        like_prefix(name),
        viewer_id,
        trendable_only,
        name,
        limit,
        offset,
    )
    return [TagMatch(**dict(row)) for row in rows]


async def list_statuses_matching(
    conn: Connection,
    *,
    query: str,
    viewer_id: int,
    account_id: int | None,
    max_id: int | None,
    min_id: int | None,
    limit: int,
    offset: int,
) -> list[Status]:
    """Statuses (not boosts) matching `query` in web-search syntax that the viewer may see,
    newest first; like Mastodon's StatusFilter, none by accounts the viewer blocks or mutes."""
    rows = await conn.fetch(
        f"""
        SELECT {STATUS_COLUMNS} FROM statuses s
        WHERE s.search_vector @@ websearch_to_tsquery('simple', $1)
          AND s.reblog_of_id IS NULL
          AND ($3::bigint IS NULL OR s.account_id = $3::bigint)
          AND ($4::bigint IS NULL OR s.id < $4::bigint)
          AND ($5::bigint IS NULL OR s.id > $5::bigint)
          AND {visible_sql("s", "$2")}
          AND NOT EXISTS (SELECT 1 FROM blocks b
                          WHERE b.account_id = $2 AND b.target_account_id = s.account_id)
          AND NOT EXISTS (SELECT 1 FROM mutes m
                          WHERE m.account_id = $2 AND m.target_account_id = s.account_id
                            AND (m.expires_at IS NULL OR m.expires_at > now()))
        ORDER BY s.id DESC
        LIMIT $6 OFFSET $7
        """,
        query,
        viewer_id,
        account_id,
        max_id,
        min_id,
        limit,
        offset,
    )
    return [status_from_row(row) for row in rows]


async def fetch_account_by_url(conn: Connection, *, url: str) -> Account | None:
    """A known account whose ActivityPub id or profile URL is `url`."""
    row = await conn.fetchrow(
        f"SELECT {_ACCOUNT_COLUMNS} FROM {_ACCOUNT_FROM} "
        "WHERE (a.uri = $1 OR a.url = $1) AND a.suspended_at IS NULL "
        "ORDER BY (a.uri = $1) DESC LIMIT 1",
        url,
    )
    return None if row is None else account_from_row(row)


async def fetch_visible_status_by_url(
    conn: Connection, *, url: str, viewer_id: int | None
) -> Status | None:
    """A known status whose ActivityPub id or web URL is `url`, if the viewer may see it."""
    row = await conn.fetchrow(
        f"SELECT {STATUS_COLUMNS} FROM statuses s "
        f"WHERE (s.uri = $1 OR s.url = $1) AND s.reblog_of_id IS NULL "
        f"AND {visible_sql('s', '$2')} ORDER BY (s.uri = $1) DESC LIMIT 1",
        url,
        viewer_id,
    )
    return None if row is None else status_from_row(row)
