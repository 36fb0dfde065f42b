"""What peers do to relationships with local accounts beyond following: block, unblock, move.

Follow, Accept and Reject go through `fediverse.relationships` (receive_follow, confirm_follow,
drop_follow); these are the remaining cases the inbox needs.
"""

from __future__ import annotations

from fediverse import ids
from fediverse.relationships import drop_follow, follow, unfollow
from fediverse.storage import relationships as relationship_store
from fediverse.storage import remote_statuses as remote_store
from fediverse.storage.accounts import Account, fetch_account
from fediverse.storage.database import Connection


async def receive_block(
    conn: Connection, *, blocker: Account, target: Account, uri: str | None
) -> bool:
    """A peer blocks a local account: follows both ways end, the block is kept (so the local
    account cannot follow again). No event: the peer already knows."""
    await drop_follow(conn, follower_id=blocker.id, target_id=target.id)
    await drop_follow(conn, follower_id=target.id, target_id=blocker.id)
    return await remote_store.insert_block_with_uri(
        conn, block_id=ids.new_id(), account_id=blocker.id, target_account_id=target.id, uri=uri
    )


async def receive_unblock(conn: Connection, *, blocker: Account, target: Account) -> bool:
    removed = await relationship_store.delete_block(
        conn, account_id=blocker.id, target_account_id=target.id
    )
    return removed is not None


async def receive_move(conn: Connection, *, old: Account, new: Account) -> int:
    """`old` moved to `new` (which lists `old` in alsoKnownAs, checked by the caller): every
    local follower of `old` follows `new` (a request the new server answers) and stops following
    `old`. Returns how many followers moved."""
    await remote_store.set_moved_to(conn, account_id=old.id, moved_to_account_id=new.id)
    moved = 0
    for follower_id in await remote_store.list_local_follower_ids(conn, account_id=old.id):
        follower = await fetch_account(conn, account_id=follower_id)
        if follower is None or follower.id == new.id:
            continue
        blocked = await relationship_store.fetch_block_exists(
            conn, account_id=follower.id, target_account_id=new.id
        ) or await relationship_store.fetch_block_exists(
            conn, account_id=new.id, target_account_id=follower.id
        )
        if not blocked:
            await follow(conn, account=follower, target=new)
        await unfollow(conn, account=follower, target=old)
        moved += 1
    return moved
