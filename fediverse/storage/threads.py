"""SQL for conversation threads: the ancestors and descendants of one status.

Both walk `in_reply_to_id` with a recursive CTE bounded by depth, then keep only what the
viewer may see (the audience rule) and what the viewer has not blocked or muted.
"""

from __future__ import annotations

from fediverse.audience import visible_sql
from fediverse.storage.database import Connection
from fediverse.storage.statuses import STATUS_COLUMNS, Status, status_from_row

# The viewer's own blocks and (unexpired) mutes hide authors from the thread; $2 is the viewer.
_NOT_EXCLUDED_BY_VIEWER = """(
    $2::bigint IS NULL OR (
        NOT EXISTS (SELECT 1 FROM blocks vb
                    WHERE vb.account_id = $2::bigint AND vb.target_account_id = s.account_id)
        AND NOT EXISTS (SELECT 1 FROM mutes vm
                        WHERE vm.account_id = $2::bigint AND vm.target_account_id = s.account_id
                          AND (vm.expires_at IS NULL OR vm.expires_at > now()))
    )
)"""


async def list_visible_ancestors(
    conn: Connection, *, status_id: int, viewer_id: int | None, max_depth: int
) -> list[Status]:
    """The statuses `status_id` replies to, oldest (the root) first, at most `max_depth` up."""
    rows = await conn.fetch(
        f"""
        WITH RECURSIVE up (id, parent_id, depth) AS (
            SELECT id, in_reply_to_id, 0 FROM statuses WHERE id = $1
            UNION ALL
            SELECT p.id, p.in_reply_to_id, up.depth + 1
            FROM statuses p JOIN up ON p.id = up.parent_id
            WHERE up.depth < $3
        )
        SELECT {STATUS_COLUMNS}
        FROM up JOIN statuses s ON s.id = up.id
        WHERE up.depth > 0 AND {visible_sql("s", "$2")} AND {_NOT_EXCLUDED_BY_VIEWER}
        ORDER BY up.depth DESC
        """,
        status_id,
        viewer_id,
        max_depth,
    )
    return [status_from_row(row) for row in rows]


async def list_visible_descendants(
    conn: Connection, *, status_id: int, viewer_id: int | None, max_depth: int, limit: int
) -> list[Status]:
    """Replies to `status_id` and their replies, depth first in thread order (each branch
    oldest first), at most `max_depth` levels and `limit` statuses before filtering."""
    rows = await conn.fetch(
        f"""
        WITH RECURSIVE down (id, path, depth) AS (
            SELECT id, ARRAY[id], 1 FROM statuses WHERE in_reply_to_id = $1
            UNION ALL
            SELECT c.id, down.path || c.id, down.depth + 1
            FROM statuses c JOIN down ON c.in_reply_to_id = down.id
            WHERE down.depth < $3
        ),
        tree AS (SELECT id, path FROM down ORDER BY path LIMIT $4)
        SELECT {STATUS_COLUMNS}
        FROM tree JOIN statuses s ON s.id = tree.id
        WHERE {visible_sql("s", "$2")} AND {_NOT_EXCLUDED_BY_VIEWER}
        ORDER BY tree.path
        """,
        status_id,
        viewer_id,
        max_depth,
        limit,
    )
    return [status_from_row(row) for row in rows]
