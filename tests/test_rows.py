"""Rows into frozen dataclasses without __init__ (fediverse.storage.rows): the same values as
__init__ would give, still frozen, and a missing column is an error."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from fediverse.config import Settings
from fediverse.storage import accounts as account_store
from fediverse.storage import statuses as status_store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Database
from fediverse.storage.rows import field_names, from_row
from fediverse.storage.statuses import Status
from tests.factories import make_staff


async def test_rows_become_equal_frozen_instances(
    database: Database, settings: Settings, client: httpx.AsyncClient
) -> None:
    alice = await make_staff(database, settings, "alice")
    posted = await client.post("/api/v1/statuses", headers=alice.headers, data={"status": "hi"})
    async with database.connection() as conn:
        account_row = await conn.fetchrow(
            f"SELECT {account_store._ACCOUNT_COLUMNS} FROM {account_store._ACCOUNT_FROM} "
            "WHERE a.id = $1",
            alice.account.id,
        )
        status_row = await conn.fetchrow(
            f"SELECT {status_store.STATUS_COLUMNS} FROM statuses s WHERE s.id = $1",
            int(posted.json()["id"]),
        )
    account = account_store.account_from_row(account_row)
    status = status_store.status_from_row(status_row)
    assert account == Account(**dict(account_row))  # what __init__ makes of the same row
    assert status == Status(**dict(status_row))
    for instance in (account, status):
        with pytest.raises(dataclasses.FrozenInstanceError):
            instance.id = 1  # type: ignore[misc]
    assert account.username == "alice" and status.content == "<p>hi</p>"


def test_a_missing_column_is_an_error() -> None:
    with pytest.raises(KeyError):
        from_row(Status, field_names(Status), {"id": 1})


def test_a_class_from_row_cannot_build_is_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            assert self.value >= 0

    @dataclasses.dataclass(frozen=True, slots=True)
    class Slotted:
        value: int

    for cls in (Checked, Slotted):
        with pytest.raises(TypeError):
            field_names(cls)
