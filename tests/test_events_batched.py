"""Events recorded inside `events.batched` are written together at the end of the block, in
its transaction, and not at all when the block fails."""

from __future__ import annotations

import pytest

from fediverse import events
from fediverse.storage.database import Database


async def _kinds(database: Database) -> list[str]:
    async with database.connection() as conn:
        return [r["kind"] for r in await conn.fetch("SELECT kind FROM domain_events ORDER BY id")]


async def test_batched_events_are_written_when_the_block_ends(database: Database) -> None:
    async with database.transaction() as conn:
        async with events.batched(conn):
            for n in range(3):
                await events.record(conn, "test.batched", for_publisher=False, n=n)
            assert await conn.fetchval("SELECT count(*) FROM domain_events") == 0
        await events.record(conn, "test.after", for_publisher=False)
        rows = await conn.fetch("SELECT kind, payload, processed_at FROM domain_events ORDER BY id")
    assert [(r["kind"], r["payload"].get("n")) for r in rows] == [
        ("test.batched", 0),
        ("test.batched", 1),
        ("test.batched", 2),
        ("test.after", None),
    ]
    assert all(r["processed_at"] is not None for r in rows)  # not for the publisher
    assert await _kinds(database) == ["test.batched"] * 3 + ["test.after"]


async def test_a_failing_block_writes_none_of_its_events(database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with database.transaction() as conn, events.batched(conn):
            await events.record(conn, "test.lost", for_publisher=True)
            raise RuntimeError("the block fails")
    async with database.transaction() as conn:
        await events.record(conn, "test.kept", for_publisher=True)
    assert await _kinds(database) == ["test.kept"]
