"""The loop every queue worker runs: drain the queue, then sleep until NOTIFY or a poll tick.

Workers (delivery, publishing, inbox, push) differ only in what one step does and which
channel wakes them; the waiting, the LISTEN connection and the stop signal live here once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fediverse.storage.database import Database

log = logging.getLogger(__name__)


async def run_woken(
    database: Database,
    channel: str,
    step: Callable[[], Awaitable[int]],
    stop: asyncio.Event,
    *,
    idle_poll: float = 5.0,
    name: str = "worker",
) -> None:
    """Call `step` until it reports no work (0), then wait for a NOTIFY on `channel`, the
    next poll tick or `stop`. A failing step is logged and retried on the next wake-up."""
    wake = asyncio.Event()

    def on_notify(*_: Any) -> None:
        wake.set()

    async with database.connection() as listener:
        await listener.add_listener(channel, on_notify)
        try:
            while not stop.is_set():
                # Cleared before the steps, not after: a NOTIFY that arrives while they run
                # must wake the next round, not be forgotten.
                wake.clear()
                try:
                    while await step():
                        if stop.is_set():
                            return
                except Exception:  # a task boundary: the loop must survive any one step
                    log.exception("%s loop failed; retrying shortly", name)
                waiter = asyncio.ensure_future(wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait(
                    {waiter, stopper}, timeout=idle_poll, return_when=asyncio.FIRST_COMPLETED
                )
                waiter.cancel()
                stopper.cancel()
        finally:
            await listener.remove_listener(channel, on_notify)
