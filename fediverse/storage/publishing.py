"""SQL the publisher and the ActivityPub object endpoints need beyond statuses and accounts:
outbox pages, a remote requester's relation to a status, event bookkeeping, follow ids."""

from __future__ import annotations

from dataclasses import dataclass

from fediverse.storage.database import Connection
from fediverse.storage.statuses import STATUS_COLUMNS, Status, status_from_row


async def list_outbox_statuses(
    conn: Connection,
    *,
    account_id: int,
    max_id: int | None,
    min_id: int | None,
    limit: int,
) -> list[Status]:
    """The account's public and unlisted posts and boosts (never internal ones), newest first.

    With `min_id` the page is the oldest `limit` rows above it (Mastodon's `prev` link), still
    returned newest first.
    """
    rows = await conn.fetch(
        f"""
        SELECT * FROM (
            SELECT {STATUS_COLUMNS} FROM statuses s
            WHERE s.account_id = $1 AND s.visibility IN ('public', 'unlisted')
              AND NOT s.local_only
              AND ($2::bigint IS NULL OR s.id < $2) AND ($3::bigint IS NULL OR s.id > $3)
            ORDER BY CASE WHEN $3::bigint IS NULL THEN -s.id ELSE s.id END
            LIMIT $4
        ) page ORDER BY id DESC
        """,
        account_id,
        max_id,
        min_id,
        limit,
    )
    return [status_from_row(row) for row in rows]


@dataclass(frozen=True)
class RemoteViewerFacts:
    """How a remote account stands to one local status (for the audience rule)."""

    account_id: int
    follows_author: bool
    mentioned: bool
    blocked_by_author: bool


async def fetch_remote_viewer_facts(
    conn: Connection, *, actor_uri: str, author_id: int, status_id: int
) -> RemoteViewerFacts | None:
    """None when `actor_uri` is no remote account we know (e.g. a peer's instance actor), or
    one a moderator suspended: its follows and mentions no longer open anything to it."""
    row = await conn.fetchrow(
        """
        SELECT a.id,
            EXISTS (SELECT 1 FROM follows f
                    WHERE f.account_id = a.id AND f.target_account_id = $2) AS follows_author,
            EXISTS (SELECT 1 FROM mentions m
                    WHERE m.status_id = $3 AND m.account_id = a.id) AS mentioned,
            EXISTS (SELECT 1 FROM blocks b
                    WHERE b.account_id = $2 AND b.target_account_id = a.id) AS blocked
        FROM accounts a WHERE a.uri = $1 AND a.domain IS NOT NULL AND a.suspended_at IS NULL
        """,
        actor_uri,
        author_id,
        status_id,
    )
    if row is None:
        return None
    return RemoteViewerFacts(
        account_id=int(row["id"]),
        follows_author=row["follows_author"],
        mentioned=row["mentioned"],
        blocked_by_author=row["blocked"],
    )


async def fetch_favourite_id(conn: Connection, *, account_id: int, status_id: int) -> int | None:
    value = await conn.fetchval(
        "SELECT id FROM favourites WHERE account_id = $1 AND status_id = $2",
        account_id,
        status_id,
    )
    return None if value is None else int(value)


async def fetch_follow_request_uri(conn: Connection, *, request_id: int) -> str | None:
    return await conn.fetchval(  # type: ignore[no-any-return]
        "SELECT uri FROM follow_requests WHERE id = $1", request_id
    )


async def update_follow_request_uri(conn: Connection, *, request_id: int, uri: str) -> None:
    """Remember the id of the Follow we sent, so the follow it becomes (and its Undo) keep it."""
    await conn.execute(
        "UPDATE follow_requests SET uri = $2 WHERE id = $1 AND uri IS NULL", request_id, uri
    )


async def update_event_failure(conn: Connection, *, event_id: int, error: str) -> int:
    """Count a failed attempt at an event; returns the attempts so far."""
    value = await conn.fetchval(
        "UPDATE domain_events SET attempts = attempts + 1, last_error = $2 WHERE id = $1 "
        "RETURNING attempts",
        event_id,
        error,
    )
    return int(value or 0)
