"""Lists: an account's curated timelines of people it follows (Mastodon's rules)."""

from __future__ import annotations

from enum import StrEnum

from fediverse import ids
from fediverse.errors import NotFound, ValidationError
from fediverse.storage import accounts as account_store
from fediverse.storage import lists as list_store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Connection
from fediverse.storage.lists import AccountList

# Mastodon caps lists per account at 50.
MAX_LISTS = 50
MAX_TITLE = 256


class RepliesPolicy(StrEnum):
    FOLLOWED = "followed"
    LIST = "list"
    NONE = "none"


def _valid_title(title: str | None) -> str:
    value = (title or "").strip()
    if not value:
        raise ValidationError("Title can't be blank", field="title")
    if len(value) > MAX_TITLE:
        raise ValidationError(
            f"Title is too long (maximum is {MAX_TITLE} characters)", field="title"
        )
    return value


def _valid_policy(policy: str | None) -> str:
    if policy is None or policy == "":
        return RepliesPolicy.LIST.value
    if policy not in {p.value for p in RepliesPolicy}:
        raise ValidationError(
            "Replies policy must be one of followed, list, none", field="replies_policy"
        )
    return policy


async def own_list(conn: Connection, *, owner_id: int, list_id: int) -> AccountList:
    """The owner's list; someone else's list is as missing as one that never existed."""
    found = await list_store.fetch_list(conn, owner_id=owner_id, list_id=list_id)
    if found is None:
        raise NotFound()
    return found


async def all_lists(conn: Connection, *, owner_id: int) -> list[AccountList]:
    return await list_store.list_lists(conn, owner_id=owner_id)


async def create_list(
    conn: Connection,
    *,
    owner_id: int,
    title: str | None,
    replies_policy: str | None = None,
    exclusive: bool | None = None,
) -> AccountList:
    clean_title = _valid_title(title)
    policy = _valid_policy(replies_policy)
    if await list_store.count_lists(conn, owner_id=owner_id) >= MAX_LISTS:
        raise ValidationError(f"You can have at most {MAX_LISTS} lists", field="title")
    return await list_store.insert_list(
        conn,
        list_id=ids.new_id(),
        owner_id=owner_id,
        title=clean_title,
        replies_policy=policy,
        exclusive=bool(exclusive),
    )


async def update_list(
    conn: Connection,
    *,
    owner_id: int,
    list_id: int,
    title: str | None = None,
    replies_policy: str | None = None,
    exclusive: bool | None = None,
) -> AccountList:
    """Change what was given; what was not keeps its value."""
    current = await own_list(conn, owner_id=owner_id, list_id=list_id)
    updated = await list_store.update_list(
        conn,
        owner_id=owner_id,
        list_id=list_id,
        title=current.title if title is None else _valid_title(title),
        replies_policy=(
            current.replies_policy if replies_policy is None else _valid_policy(replies_policy)
        ),
        exclusive=current.exclusive if exclusive is None else exclusive,
    )
    assert updated is not None
    return updated


async def delete_list(conn: Connection, *, owner_id: int, list_id: int) -> None:
    if not await list_store.delete_list(conn, owner_id=owner_id, list_id=list_id):
        raise NotFound()


async def members(
    conn: Connection,
    *,
    owner_id: int,
    list_id: int,
    max_id: int | None,
    since_id: int | None,
    min_id: int | None,
    limit: int | None,
) -> list[Account]:
    """Members ordered by account id, highest first; `limit` None means all of them."""
    await own_list(conn, owner_id=owner_id, list_id=list_id)
    below = max_id if max_id is not None else 2**63 - 1
    above = max(b for b in (since_id, min_id, 0) if b is not None)
    if min_id is not None:
        member_ids = await list_store.list_member_ids_ascending(
            conn, list_id=list_id, above_id=above, below_id=below, count=limit
        )
        member_ids.reverse()
    else:
        member_ids = await list_store.list_member_ids(
            conn, list_id=list_id, below_id=below, above_id=above, count=limit
        )
    accounts = {
        a.id: a for a in await account_store.list_accounts_by_ids(conn, account_ids=member_ids)
    }
    return [accounts[i] for i in member_ids if i in accounts]


async def add_members(
    conn: Connection, *, owner_id: int, list_id: int, account_ids: list[int]
) -> None:
    """Add accounts the owner follows (or asked to follow); anyone else is refused (422)."""
    await own_list(conn, owner_id=owner_id, list_id=list_id)
    wanted = sorted(set(account_ids))
    if not wanted:
        raise ValidationError("account_ids can't be blank", field="account_ids")
    known = {a.id for a in await account_store.list_accounts_by_ids(conn, account_ids=wanted)}
    if set(wanted) - known:
        raise NotFound()
    followed = await list_store.list_followed_or_requested(
        conn, owner_id=owner_id, account_ids=wanted
    )
    if set(wanted) - followed:
        raise ValidationError(
            "Account must be followed before being added to a list", field="account_ids"
        )
    await list_store.insert_members(conn, list_id=list_id, account_ids=wanted)


async def remove_members(
    conn: Connection, *, owner_id: int, list_id: int, account_ids: list[int]
) -> None:
    await own_list(conn, owner_id=owner_id, list_id=list_id)
    await list_store.delete_members(conn, list_id=list_id, account_ids=sorted(set(account_ids)))
