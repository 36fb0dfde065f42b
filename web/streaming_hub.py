"""The per-process streaming hub: one LISTEN connection fanning events out to connected clients.

Each domain event (woken by NOTIFY, read back from `domain_events`) is routed by
`fediverse.streaming`, rendered once per distinct payload, and offered to every client's
bounded queue. A client whose queue is full is dropped (its connection closed), never buffered
without bound. The hub starts with the first client and stops after the last one leaves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import orjson

from fediverse import auth, streaming
from fediverse import conversations as conversation_domain
from fediverse.errors import NotFound
from fediverse.storage import streaming as stream_store
from fediverse.storage.database import Connection, Database
from fediverse.streaming import NOTIFICATION_STREAMS, Stream, StreamKey
from fediverse.urls import LocalUrls
from web.mastodon_api.conversations import render_conversations
from web.mastodon_api.streaming_entities import (
    load_status_payloads,
    render_notification_payloads,
)

log = logging.getLogger(__name__)

CLIENT_QUEUE_LIMIT = 512
HEARTBEAT_SECONDS = 15.0
# Notifications made without an event of their own are still found by this periodic scan.
NOTIFICATION_SCAN_SECONDS = 5.0


@dataclass(eq=False)
class Message:
    """One event on one stream, serialized lazily (and once) for each wire format."""

    stream: list[str]
    event: str
    # None for events without one (filters_changed): Mastodon then leaves `payload` out of the
    # WebSocket message and writes `data: undefined` on SSE.
    payload: str | None

    @cached_property
    def websocket_text(self) -> str:
        body: dict[str, object] = {"stream": self.stream, "event": self.event}
        if self.payload is not None:
            body["payload"] = self.payload
        return orjson.dumps(body).decode()

    @cached_property
    def sse_text(self) -> str:
        data = "undefined" if self.payload is None else self.payload
        return f"event: {self.event}\ndata: {data}\n\n"


# Sends one message on a connection; returns the coroutine (not yet started) doing it.
Sink = Callable[[Message], Coroutine[Any, Any, None]]


@dataclass(eq=False)
class StreamClient:
    """One connection: whose it is, what it subscribed to, and its bounded outgoing backlog.

    Without a `sink` (SSE) messages wait in `queue` for the connection's writer; `None` in the
    queue means "closed by the hub" (dropped for being too slow). With a sink (WebSocket) the
    hub writes each message at once, in its own fan-out loop: a send that does not have to wait
    (the usual case: the transport takes the frame) then costs no task switch and no queue
    hand-off, which at thousands of connections is most of the delivery time. Only a send that
    has to wait (the socket's buffer is full) continues in a task, and messages offered
    meanwhile wait in the same bounded queue. `closed` is set when the client is dropped or its
    connection failed."""

    account_id: int
    scopes: str
    queue_limit: int = CLIENT_QUEUE_LIMIT
    streams: list[StreamKey] = field(default_factory=list)
    dropped: bool = False
    # Notifications older than the connection are not replayed.
    since_id: int = field(default_factory=lambda: int(time.time() * 1000) << 16)
    sink: Sink | None = None
    # Told when the streams change, so the hub can refresh what it keeps about subscriptions.
    on_change: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self.queue: asyncio.Queue[Message | None] = asyncio.Queue(maxsize=self.queue_limit + 1)
        self.closed = asyncio.Event()
        self.failed = False
        self.gets_notifications = False
        self._sending: asyncio.Task[None] | None = None

    def _streams_changed(self) -> None:
        self.gets_notifications = any(s.name == Stream.USER_NOTIFICATION for s in self.streams) or (
            any(s.name == Stream.USER for s in self.streams)
            and auth.scope_allows(self.scopes, "read:notifications")
        )
        if self.on_change is not None:
            self.on_change()

    def subscribe(self, stream: StreamKey) -> None:
        if stream not in self.streams:
            self.streams.append(stream)
            self._streams_changed()

    def unsubscribe(self, stream: StreamKey) -> None:
        if stream in self.streams:
            self.streams.remove(stream)
            self._streams_changed()

    def offer(self, message: Message) -> None:
        """Send or queue a message; a client already `queue_limit` behind is dropped instead."""
        if self.dropped or self.failed:
            return
        if self.sink is not None and self._sending is None:
            self._send_now(message)
            return
        if self.queue.qsize() >= self.queue_limit:
            self.dropped = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)
            self.closed.set()
            return
        self.queue.put_nowait(message)

    def _send_now(self, message: Message) -> None:
        assert self.sink is not None
        sending = self.sink(message)
        try:
            waiting_on = sending.send(None)
        except StopIteration:
            return
        except Exception:
            self._fail()
            return
        self._sending = asyncio.ensure_future(self._finish(sending, waiting_on))

    async def _finish(self, sending: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        """Carry on a send that had to wait, then send what was queued meanwhile."""
        try:
            await _resume(sending, waiting_on)
            while not self.queue.empty():
                message = self.queue.get_nowait()
                if message is None:
                    return
                assert self.sink is not None
                await self.sink(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            self._fail()
        finally:
            self._sending = None

    def _fail(self) -> None:
        """The connection is gone (a send raised): stop offering, let the handler finish."""
        self.failed = True
        self.closed.set()

    def close(self) -> None:
        if self._sending is not None:
            self._sending.cancel()
            self._sending = None


async def _resume(coroutine: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    """Run a coroutine to its end that was started by hand (`send(None)`) and is now waiting on
    `waiting_on`, as an asyncio Task would: wait for that future, then step the coroutine on."""
    while True:
        try:
            if waiting_on is None:  # a bare yield (asyncio.sleep(0))
                await asyncio.sleep(0)
            else:
                # The coroutine's own await marked the future as being waited on; a Task clears
                # this before it waits, and so must we.
                waiting_on._asyncio_future_blocking = False
                await waiting_on
        except BaseException as error:
            try:
                waiting_on = coroutine.throw(error)
            except StopIteration:
                return
            continue
        try:
            waiting_on = coroutine.send(None)
        except StopIteration:
            return


class StreamingHub:
    def __init__(
        self,
        database: Database,
        urls: LocalUrls,
        *,
        queue_limit: int = CLIENT_QUEUE_LIMIT,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.database = database
        self.urls = urls
        self.queue_limit = queue_limit
        self.heartbeat_seconds = heartbeat_seconds
        self.dropped_count = 0
        self._clients: dict[int, set[StreamClient]] = {}
        self._events: asyncio.Queue[int] = asyncio.Queue()
        self._listener: stream_store.EventListener | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self._last_event_id = 0
        self._sent_notifications: dict[int, float] = {}
        # `_subscriptions` answers, kept until a client connects, leaves or (un)subscribes.
        self._routing_cache: dict[frozenset[Stream], dict[int, list[StreamKey]]] = {}

    @property
    def client_count(self) -> int:
        return sum(len(clients) for clients in self._clients.values())

    # --- clients --------------------------------------------------------------------------

    async def connect(self, account_id: int, scopes: str) -> StreamClient:
        client = StreamClient(
            account_id=account_id,
            scopes=scopes,
            queue_limit=self.queue_limit,
            on_change=self._routing_cache.clear,
        )
        async with self._lock:
            if self._listener is None:
                await self._start()
            self._clients.setdefault(account_id, set()).add(client)
        return client

    async def disconnect(self, client: StreamClient) -> None:
        if client.dropped:
            self.dropped_count += 1
        client.close()
        self._routing_cache.clear()
        async with self._lock:
            clients = self._clients.get(client.account_id)
            if clients is not None:
                clients.discard(client)
                if not clients:
                    del self._clients[client.account_id]
            if not self._clients and self._listener is not None:
                await self._stop()

    async def _start(self) -> None:
        listener = stream_store.EventListener(self.database.url, self._events.put_nowait)
        await listener.open()
        self._listener = listener
        self._last_event_id = int(time.time() * 1000) << 16
        self._tasks = [
            asyncio.create_task(self._dispatch_forever()),
            asyncio.create_task(self._scan_forever()),
        ]

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._listener is not None:
            listener, self._listener = self._listener, None
            await listener.close()

    async def close(self) -> None:
        async with self._lock:
            await self._stop()

    # --- the loops ----------------------------------------------------------------------------

    async def _dispatch_forever(self) -> None:
        while True:
            event_id = await self._events.get()
            try:
                await self.dispatch(event_id)
            except Exception:
                log.exception("streaming: event %s could not be dispatched", event_id)

    async def _scan_forever(self) -> None:
        while True:
            await asyncio.sleep(NOTIFICATION_SCAN_SECONDS)
            try:
                await self._reconnect_if_closed()
                async with self.database.connection() as conn:
                    await self._send_notifications(conn)
            except Exception:
                log.exception("streaming: notification scan failed")

    async def _reconnect_if_closed(self) -> None:
        """After a lost LISTEN connection, reopen it and replay the events it missed."""
        if self._listener is None or self._listener.is_open:
            return
        await self._listener.close()
        await self._listener.open()
        async with self.database.connection() as conn:
            missed = await stream_store.list_event_ids_since(conn, above_id=self._last_event_id)
        for event_id in missed:
            self._events.put_nowait(event_id)

    # --- routing ----------------------------------------------------------------------------

    def _subscriptions(self, names: Iterable[Stream]) -> dict[int, list[StreamKey]]:
        """Per account, its clients' streams among `names` (the caller must not change it)."""
        wanted = frozenset(names)
        cached = self._routing_cache.get(wanted)
        if cached is not None:
            return cached
        found: dict[int, list[StreamKey]] = {}
        for account_id, clients in self._clients.items():
            streams: list[StreamKey] = []
            for client in clients:
                streams.extend(s for s in client.streams if s.name in wanted and s not in streams)
            if streams:
                found[account_id] = streams
        self._routing_cache[wanted] = found
        return found

    def _offer(self, account_id: int, stream: StreamKey, message: Message) -> None:
        for client in list(self._clients.get(account_id, ())):
            if stream in client.streams:
                client.offer(message)

    async def dispatch(self, event_id: int) -> None:
        """Route one domain event to the connected clients."""
        self._last_event_id = max(self._last_event_id, event_id)
        async with self.database.connection() as conn:
            event = await stream_store.fetch_event(conn, event_id=event_id)
            if event is None:
                return
            if event.kind in streaming.STATUS_EVENT_KINDS:
                await self._send_status(
                    conn, streaming.STATUS_EVENT_KINDS[event.kind], int(event.payload["status_id"])
                )
            elif event.kind == streaming.CONVERSATION_EVENT_KIND:
                await self._send_conversation(conn, event.payload)
            elif event.kind in streaming.DELETE_EVENT_KINDS:
                await self._send_delete(conn, event.payload)
            elif event.kind in streaming.FILTER_EVENT_KINDS:
                account_id = int(event.payload["account_id"])
                message = Message(["user"], "filters_changed", None)
                self._offer(account_id, StreamKey(Stream.USER), message)
            await self._send_notifications(conn)

    async def _send_status(self, conn: Connection, event: str, status_id: int) -> None:
        everything = set(Stream) - {Stream.USER_NOTIFICATION, Stream.DIRECT}
        subscriptions = self._subscriptions(everything)
        if not subscriptions:
            return
        routing = await streaming.route_status(
            conn,
            event=event,
            status_id=status_id,
            subscriptions=subscriptions,
            now=datetime.now(UTC),
        )
        if routing is None:
            return
        payloads = await load_status_payloads(conn, routing, self.urls)
        if payloads is None:
            return
        # One Message (and so one encoded frame text) per distinct (stream, payload).
        shared: dict[tuple[StreamKey, str], Message] = {}
        for viewer, streams in routing.recipients.items():
            for stream in streams:
                payload = payloads.payload(viewer, stream)
                key = (stream, payload)
                message = shared.get(key)
                if message is None:
                    message = shared[key] = Message(stream.label(), event, payload)
                self._offer(viewer, stream, message)

    async def _send_conversation(self, conn: Connection, payload: dict[str, object]) -> None:
        """One participant's conversation changed (conversations.record_direct_status): send
        the Conversation entity exactly as GET /api/v1/conversations shows it, same id."""
        account_id = int(str(payload["account_id"]))
        if account_id not in self._subscriptions([Stream.DIRECT]):
            return
        routed = await streaming.route_conversation(
            conn, status_id=int(str(payload["status_id"])), subscribers=[account_id]
        )
        if routed is None or account_id not in routed[1]:
            return
        try:
            conversation = await conversation_domain.fetch_conversation(
                conn, account_id=account_id, conversation_id=int(str(payload["conversation_id"]))
            )
        except NotFound:  # removed by its owner since
            return
        entities = await render_conversations(conn, [conversation], account_id, self.urls)
        direct = StreamKey(Stream.DIRECT)
        for entity in entities:
            message = Message(direct.label(), "conversation", orjson.dumps(entity).decode())
            self._offer(account_id, direct, message)

    async def _send_delete(self, conn: Connection, payload: dict[str, object]) -> None:
        subscriptions = self._subscriptions(set(Stream) - {Stream.USER_NOTIFICATION})
        recipients = await streaming.route_delete(
            conn, payload=payload, subscriptions=subscriptions
        )
        for deleted in streaming.deleted_ids(payload):
            for viewer, streams in recipients.items():
                for stream in streams:
                    self._offer(viewer, stream, Message(stream.label(), "delete", str(deleted)))

    async def _send_notifications(self, conn: Connection) -> None:
        floor = streaming.notification_floor(int(time.time() * 1000))
        horizon = time.monotonic() - streaming.NOTIFICATION_LOOKBACK_MS / 1000 * 2
        self._sent_notifications = {
            n: at for n, at in self._sent_notifications.items() if at > horizon
        }
        listeners = {
            account_id: [c for c in clients if c.gets_notifications]
            for account_id, clients in self._clients.items()
        }
        listeners = {a: cs for a, cs in listeners.items() if cs}
        if not listeners:
            return
        found = await streaming.new_notifications(conn, account_ids=list(listeners), above_id=floor)
        for account_id, notifications in found.items():
            fresh = [n for n in notifications if n.id not in self._sent_notifications]
            if not fresh:
                continue
            rendered = await render_notification_payloads(conn, fresh, account_id, self.urls)
            by_id = dict(zip([n.id for n in fresh], rendered, strict=False))
            if len(rendered) != len(fresh):
                # Some were left out by the renderer; match them back by id.
                by_id = {int(orjson.loads(p)["id"]): p for p in rendered}
            now = time.monotonic()
            for notification in fresh:
                self._sent_notifications[notification.id] = now
                payload = by_id.get(notification.id)
                if payload is None:
                    continue
                for client in listeners[account_id]:
                    if notification.id <= client.since_id:
                        continue
                    for stream in client.streams:
                        if stream.name in NOTIFICATION_STREAMS:
                            client.offer(Message(stream.label(), "notification", payload))
