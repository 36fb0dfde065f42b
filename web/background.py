"""Background work started with the app (`serve`) or on its own (`fediverse worker`).

Federation adds its delivery and publishing workers here; until then there is nothing to run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fediverse.config import Settings
from web.state import AppState


async def start_background(state: AppState) -> Callable[[], Awaitable[None]]:
    """Start the workers this process should run; returns a coroutine function that stops them."""
    tasks: list[asyncio.Task[None]] = []

    async def stop() -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    return stop


async def run_worker_forever(settings: Settings, database_url: str) -> None:
    """`fediverse worker`: run the queues until interrupted."""
    await asyncio.Event().wait()
