"""Background work started with the app (`serve`) or on its own (`fediverse worker`): the
publisher (domain events → deliveries), the delivery queue and the inbox queue.

`build_workers` is the one place they are assembled, so `serve`, `fediverse worker` and the
multi-instance test rig (tests/fakes/world.py) all run the very same objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from federation.client import DomainNotAllowed, FederationClient, FetchError
from federation.delivery import DeliveryNetworkError, DeliveryRefused, DeliveryWorker, Poster
from federation.inbox_worker import InboxWorker
from federation.policy import run_upkeep_forever
from federation.publishing import Publisher
from federation.signatures import RequestSigner, Scheme
from federation.webpush import PushWorker, vapid_subject
from fediverse.config import Settings
from fediverse.scheduled import run_timed_work
from fediverse.storage.database import Database
from fediverse.urls import LocalUrls
from web.activitypub import policy_of_state
from web.app import FEDERATION_CLIENT_SERVICE, REMOTE_RESOLVER_SERVICE, wire_federation
from web.mastodon_api.statuses import posting_context_for
from web.state import AppState

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 10.0

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class QueueWorker(Protocol):
    """What every queue worker offers: one step, steps until idle, a loop until `stop`."""

    async def run_once(self) -> int: ...

    async def run_until_idle(self) -> int: ...

    async def run_forever(self, stop: asyncio.Event) -> None: ...


def delivery_poster(client: FederationClient) -> Poster:
    """DeliveryWorker's `post` over the one FederationClient: an HTTP answer is a status code,
    anything without one (refused, timed out, unsafe destination) a DeliveryNetworkError."""

    async def post(inbox_url: str, body: bytes, signer: RequestSigner, scheme: str) -> int:
        chosen: Scheme = "rfc9421" if scheme == "rfc9421" else "draft-cavage"
        try:
            return await client.post_activity(inbox_url, body, signer=signer, scheme=chosen)
        except DomainNotAllowed as error:
            raise DeliveryRefused(str(error)) from error
        except FetchError as error:
            if error.status is not None:
                return error.status
            raise DeliveryNetworkError(str(error)) from error

    return post


@dataclass
class Workers:
    """The process's queue workers, in the order a step runs them."""

    publisher: Publisher
    deliveries: DeliveryWorker
    inbox: InboxWorker
    all: tuple[QueueWorker, ...]

    async def run_until_idle(self) -> int:
        """Step every worker until a whole round finds nothing to do; returns the work done."""
        total = 0
        while True:
            done = 0
            for worker in self.all:
                done += await worker.run_until_idle()
            total += done
            if done == 0:
                return total

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Run every worker's loop until `stop` is set (or the task is cancelled)."""
        async with asyncio.TaskGroup() as group:
            for worker in self.all:
                group.create_task(worker.run_forever(stop))


def push_worker(state: AppState, client: FederationClient, clock: Clock) -> PushWorker:
    """Web Push deliveries, sent through the same FederationClient."""
    subject = vapid_subject(state.settings.contact_email, state.settings.base_url)
    return PushWorker(state.database, client, state.urls, subject=subject, clock=clock)


def build_workers(state: AppState, *, clock: Clock = _utcnow) -> Workers:
    """The workers for an app whose federation services are wired (`wire_federation`)."""
    client = state.services[FEDERATION_CLIENT_SERVICE]
    publisher = Publisher(state.database, state.urls, state.settings)
    deliveries = DeliveryWorker(state.database, delivery_poster(client), clock=clock)
    inbox = InboxWorker(state.database, client, state.urls, state.settings, clock=clock)
    # Inbox first (it may record events, e.g. an Accept to send), then publish, then deliver.
    return Workers(
        publisher=publisher,
        deliveries=deliveries,
        inbox=inbox,
        all=(inbox, publisher, deliveries, push_worker(state, client, clock)),
    )


def _federation_upkeep(state: AppState, stop: asyncio.Event) -> Coroutine[Any, Any, None]:
    """Rule changes whose grace period ended, follows of approved federation requests."""
    return run_upkeep_forever(
        state.database,
        policy_of_state(state),
        state.services.get(REMOTE_RESOLVER_SERVICE),
        stop,
    )


def _start_tasks(state: AppState, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """The queue workers, then polls that end and scheduled statuses that fall due
    (fediverse/scheduled.py), then federation upkeep; all run until `stop`."""
    workers = build_workers(state)
    timed = run_timed_work(state.database, posting_context_for(state), stop)
    return [
        asyncio.create_task(workers.run_forever(stop), name="fediverse-workers"),
        asyncio.create_task(timed, name="fediverse-timed-work"),
        asyncio.create_task(_federation_upkeep(state, stop), name="federation-upkeep"),
    ]


async def _stop_tasks(stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    stop.set()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE_SECONDS)
    for task in pending:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            log.error("background worker ended with %r", result)


async def start_background(state: AppState) -> Callable[[], Awaitable[None]]:
    """Start the workers this process should run; returns a coroutine function that stops them.

    With `run_workers` off (`serve --no-workers`) nothing starts: `fediverse worker`
    processes elsewhere drain the queues.
    """
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    if state.settings.run_workers:
        tasks = _start_tasks(state, stop)

    async def stop_all() -> None:
        await _stop_tasks(stop, tasks)

    return stop_all


async def run_worker_forever(settings: Settings, database_url: str) -> None:
    """`fediverse worker`: run the queues until SIGINT/SIGTERM, then stop cleanly."""
    # Four LISTEN connections stay held by the queue loops; the rest serve up to 8 inbox
    # activities and the deliveries' writes at once (10 starved them; bench/inbox.py).
    database = Database(database_url, min_size=1, max_size=24)
    await database.connect()
    state = AppState(settings=settings, database=database, urls=LocalUrls(settings), services={})
    close_federation = await wire_federation(state)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
    try:
        log.info("worker running for %s", settings.base_url)
        tasks = _start_tasks(state, stop)
        stopped = asyncio.create_task(stop.wait())
        # The queue workers ending (a crash) stops the process too.
        await asyncio.wait({tasks[0], stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        await _stop_tasks(stop, tasks)
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        await close_federation()
        await database.close()
