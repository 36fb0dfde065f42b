"""SQL for who receives our activities: inboxes of remote followers and of named accounts.

A status goes to each peer once: followers behind one shared inbox share one delivery, so the
lists prefer `shared_inbox_url` and are de-duplicated here. Suspended accounts receive nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from fediverse.storage.database import Connection


@dataclass(frozen=True)
class RemoteInbox:
    """A remote account's address for one-to-one activities (Follow, Like, Block...)."""

    account_id: int
    uri: str
    inbox_url: str


async def list_follower_inboxes(conn: Connection, *, account_id: int) -> list[str]:
    """One inbox per remote follower server: the shared inbox where the follower has one."""
    rows = await conn.fetch(
        "SELECT DISTINCT coalesce(a.shared_inbox_url, a.inbox_url) AS inbox "
        "FROM follows f JOIN accounts a ON a.id = f.account_id "
        "WHERE f.target_account_id = $1 AND a.domain IS NOT NULL AND a.suspended_at IS NULL "
        "AND coalesce(a.shared_inbox_url, a.inbox_url) IS NOT NULL ORDER BY 1",
        account_id,
    )
    return [row["inbox"] for row in rows]


async def list_preferred_inboxes(conn: Connection, *, account_ids: list[int]) -> list[str]:
    """The preferred (shared, else personal) inboxes of those of `account_ids` that are remote."""
    if not account_ids:
        return []
    rows = await conn.fetch(
        "SELECT DISTINCT coalesce(shared_inbox_url, inbox_url) AS inbox FROM accounts "
        "WHERE id = ANY($1::bigint[]) AND domain IS NOT NULL AND suspended_at IS NULL "
        "AND coalesce(shared_inbox_url, inbox_url) IS NOT NULL ORDER BY 1",
        account_ids,
    )
    return [row["inbox"] for row in rows]


async def fetch_personal_inbox(conn: Connection, *, account_id: int) -> RemoteInbox | None:
    """The personal inbox of a remote account (None for local or suspended accounts), which
    is where Mastodon sends Follow, Accept, Reject, Like, Block and their Undo."""
    row = await conn.fetchrow(
        "SELECT id, uri, coalesce(inbox_url, shared_inbox_url) AS inbox FROM accounts "
        "WHERE id = $1 AND domain IS NOT NULL AND suspended_at IS NULL "
        "AND coalesce(inbox_url, shared_inbox_url) IS NOT NULL",
        account_id,
    )
    if row is None:
        return None
    return RemoteInbox(account_id=int(row["id"]), uri=row["uri"], inbox_url=row["inbox"])


async def list_interactor_ids(conn: Connection, *, status_id: int) -> list[int]:
    """Remote accounts that boosted or favourited the status: Mastodon tells them of edits."""
    rows = await conn.fetch(
        "SELECT s.account_id FROM statuses s JOIN accounts a ON a.id = s.account_id "
        "WHERE s.reblog_of_id = $1 AND a.domain IS NOT NULL "
        "UNION "
        "SELECT f.account_id FROM favourites f JOIN accounts a ON a.id = f.account_id "
        "WHERE f.status_id = $1 AND a.domain IS NOT NULL",
        status_id,
    )
    return [int(row["account_id"]) for row in rows]
