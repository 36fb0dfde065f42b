"""A status's conversation: the posts above it and the replies below it, as one viewer sees them.

Bounds follow Mastodon's ContextController: 40 ancestors; anonymous viewers get 60 descendants
20 levels deep, signed-in viewers up to 4096.
"""

from __future__ import annotations

from dataclasses import dataclass

from fediverse.statuses import fetch_visible
from fediverse.storage import threads as thread_store
from fediverse.storage.database import Connection
from fediverse.storage.statuses import Status

ANCESTORS_LIMIT = 40
ANONYMOUS_DESCENDANTS_LIMIT = 60
ANONYMOUS_DESCENDANTS_DEPTH = 20
DESCENDANTS_LIMIT = 4096
DESCENDANTS_DEPTH = 256


@dataclass(frozen=True)
class Context:
    status: Status
    ancestors: list[Status]
    descendants: list[Status]


async def load_context(conn: Connection, *, status_id: int, viewer_id: int | None) -> Context:
    """The thread around a status the viewer may see (NotFound otherwise).

    Both lists honour the audience rule and hide authors the viewer blocks or mutes. A boost
    has no thread of its own; Mastodon answers with the boosted status's context.
    """
    status = await fetch_visible(conn, status_id, viewer_id)
    if status.reblog_of_id is not None:
        status = await fetch_visible(conn, status.reblog_of_id, viewer_id)
    anonymous = viewer_id is None
    ancestors = await thread_store.list_visible_ancestors(
        conn, status_id=status.id, viewer_id=viewer_id, max_depth=ANCESTORS_LIMIT
    )
    descendants = await thread_store.list_visible_descendants(
        conn,
        status_id=status.id,
        viewer_id=viewer_id,
        max_depth=ANONYMOUS_DESCENDANTS_DEPTH if anonymous else DESCENDANTS_DEPTH,
        limit=ANONYMOUS_DESCENDANTS_LIMIT if anonymous else DESCENDANTS_LIMIT,
    )
    return Context(status=status, ancestors=ancestors, descendants=descendants)
