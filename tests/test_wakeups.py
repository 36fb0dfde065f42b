"""The woken loop (fediverse.storage.wakeups.run_woken): a NOTIFY that arrives while a step is
running starts another round at once, instead of waiting for the next poll tick."""

from __future__ import annotations

import asyncio

from fediverse.storage.database import Database
from fediverse.storage.wakeups import run_woken


async def test_a_notify_during_a_step_is_not_lost(database: Database) -> None:
    calls: list[float] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def step() -> int:
        calls.append(loop.time())
        if len(calls) == 1:  # work arrives (and its NOTIFY) while this step runs
            async with database.connection() as conn:
                await conn.execute("SELECT pg_notify('test_wakeups', '')")
            await asyncio.sleep(0.2)  # the notification is delivered before the step ends
        if len(calls) == 2:
            stop.set()
        return 0

    runner = asyncio.create_task(
        run_woken(database, "test_wakeups", step, stop, idle_poll=30, name="test")
    )
    await asyncio.wait_for(runner, timeout=10)
    assert len(calls) == 2 and calls[1] - calls[0] < 5  # not the 30 s poll tick
