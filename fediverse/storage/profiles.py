"""SQL for profile pages: one account's statuses and pins, and finding accounts by name."""

from __future__ import annotations

from fediverse.audience import visible_sql
from fediverse.storage.accounts import Account, account_from_row
from fediverse.storage.database import Connection
from fediverse.storage.statuses import STATUS_COLUMNS, Status, status_from_row

_ACCOUNT_STATUSES_FILTER = f"""
    s.account_id = $1
    AND ($3::bigint IS NULL OR s.id < $3)
    AND ($4::bigint IS NULL OR s.id > $4)
    AND ($5::bigint IS NULL OR s.id > $5)
    AND (NOT $7::boolean OR s.in_reply_to_id IS NULL OR s.in_reply_to_account_id = s.account_id)
    AND (NOT $8::boolean OR s.reblog_of_id IS NULL)
    AND (NOT $9::boolean OR EXISTS (
        SELECT 1 FROM media_attachments m WHERE m.status_id = s.id))
    AND ($10::text IS NULL OR EXISTS (
        SELECT 1 FROM status_tags st JOIN tags t ON t.id = st.tag_id
        WHERE st.status_id = s.id AND lower(t.name) = lower($10::text)))
    AND {visible_sql("s", "$2")}
"""


async def list_account_statuses(
    conn: Connection,
    *,
    account_id: int,
    viewer_id: int | None,
    max_id: int | None,
    since_id: int | None,
    min_id: int | None,
    limit: int,
    exclude_replies: bool,
    exclude_reblogs: bool,
    only_media: bool,
    tagged: str | None,
) -> list[Status]:
    """One account's statuses the viewer may see, newest first.

    Walks the `statuses (account_id, id DESC)` index and filters as it goes, so the cost is
    proportional to the page, not to the account's history. With `min_id` the page is the one
    just after `min_id` (read oldest-first, returned newest-first).
    """
    order = "ASC" if min_id is not None else "DESC"
    rows = await conn.fetch(
        f"SELECT {STATUS_COLUMNS} FROM statuses s WHERE {_ACCOUNT_STATUSES_FILTER} "
        f"ORDER BY s.id {order} LIMIT $6",
        account_id,
        viewer_id,
        max_id,
        since_id,
        min_id,
        limit,
        exclude_replies,
        exclude_reblogs,
        only_media,
        tagged,
    )
    statuses = [status_from_row(row) for row in rows]
    return list(reversed(statuses)) if min_id is not None else statuses


async def list_pinned_statuses(
    conn: Connection, *, account_id: int, viewer_id: int | None
) -> list[Status]:
    """The account's pinned statuses the viewer may see, most recently pinned first."""
    rows = await conn.fetch(
        f"SELECT {STATUS_COLUMNS} FROM status_pins p JOIN statuses s ON s.id = p.status_id "
        f"WHERE p.account_id = $1 AND s.account_id = $1 AND {visible_sql('s', '$2')} "
        "ORDER BY p.id DESC",
        account_id,
        viewer_id,
    )
    return [status_from_row(row) for row in rows]


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


async def search_accounts(
    conn: Connection,
    *,
    username_prefix: str,
    domain: str | None,
    any_domain: bool,
    viewer_id: int | None,
    following_only: bool,
    limit: int,
    offset: int,
) -> list[Account]:
    """Accounts whose username or display name starts with the prefix (case-insensitive).

    `domain` narrows to one remote domain (None with `any_domain=False` means local only).
    Exact username matches come first, then accounts the viewer follows, then local ones.
    """
    rows = await conn.fetch(
        """
        SELECT a.id, a.username, a.domain, a.display_name, a.note, a.note_source, a.uri, a.url,
            a.inbox_url, a.shared_inbox_url, a.outbox_url, a.followers_url, a.following_url,
            a.featured_url, a.public_key_id, a.public_key_pem, a.avatar_remote_url,
            a.header_remote_url, a.avatar_file, a.header_file, a.actor_type, a.locked,
            a.discoverable, a.indexable, a.hide_collections, a.memorial, a.fields,
            a.also_known_as, a.moved_to_account_id, a.created_at, a.updated_at, a.fetched_at,
            a.suspended_at, a.silenced_at,
            coalesce(a.remote_statuses_count, st.statuses_count, 0) AS statuses_count,
            coalesce(a.remote_followers_count, st.followers_count, 0) AS followers_count,
            coalesce(a.remote_following_count, st.following_count, 0) AS following_count,
            st.last_status_at
        FROM accounts a
        LEFT JOIN account_stats st ON st.account_id = a.id
        LEFT JOIN follows f ON f.account_id = $3::bigint AND f.target_account_id = a.id
        WHERE a.suspended_at IS NULL
          AND (lower(a.username) LIKE lower($1) OR lower(a.display_name) LIKE lower($1)
               OR lower(a.display_name) LIKE '% ' || lower($1))
          AND ($5::boolean OR coalesce(lower(a.domain), '') = coalesce(lower($2::text), ''))
          AND (NOT $4::boolean OR f.id IS NOT NULL OR a.id = $3::bigint)
          AND NOT EXISTS (SELECT 1 FROM blocks b
                          WHERE b.account_id = a.id AND b.target_account_id = $3::bigint)
        ORDER BY (lower(a.username) = lower($6)) DESC, (f.id IS NOT NULL) DESC,
                 (a.domain IS NULL) DESC, coalesce(st.followers_count, 0) DESC, a.id
        LIMIT $7 OFFSET $8
        """,
        _like_prefix(username_prefix),
        domain,
        viewer_id,
        following_only,
        any_domain,
        username_prefix,
        limit,
        offset,
    )
    return [account_from_row(row) for row in rows]
