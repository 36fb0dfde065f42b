"""Mastodon streaming API: the multiplexed WebSocket and the server-sent-events endpoints
(docs: methods/streaming). Routing and rules live in `fediverse.streaming`; fan-out in
`web.streaming_hub`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from fediverse import auth, streaming
from fediverse.errors import DomainError, NotFound, ValidationError
from fediverse.storage import accounts as account_store
from fediverse.streaming import StreamKey
from web.responses import error_response
from web.state import database_of, state_of
from web.streaming_hub import StreamClient, StreamingHub

HUB_SERVICE = "streaming_hub"
# Closing code for a client dropped because it could not keep up (RFC 6455: try again later).
CLOSE_TOO_SLOW = 1013


class StreamingAuthError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def hub_of(connection: HTTPConnection) -> StreamingHub:
    """The process's hub (made on first use; tests may install their own in `services`)."""
    state = state_of(connection)
    hub = state.services.get(HUB_SERVICE)
    if hub is None:
        hub = state.services[HUB_SERVICE] = StreamingHub(state.database, state.urls)
    return hub


def _token_from(connection: HTTPConnection) -> tuple[str | None, bool]:
    """The access token, and whether it came as the WebSocket subprotocol (to be echoed)."""
    header = connection.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None, False
    protocol = connection.headers.get("sec-websocket-protocol", "").strip()
    if protocol and connection.scope["type"] == "websocket":
        return protocol.split(",")[0].strip(), True
    return connection.query_params.get("access_token") or None, False


async def _authenticate(connection: HTTPConnection) -> tuple[int, str]:
    """The account id and scopes behind a user token (Mastodon 4.2+: no anonymous streams)."""
    token, _ = _token_from(connection)
    if token is None:
        raise StreamingAuthError("Missing access token")
    async with database_of(connection).connection() as conn:
        record = await auth.find_token(conn, token)
        if record is None or record.user_id is None:
            raise StreamingAuthError("Invalid access token")
        user = await account_store.fetch_user(conn, user_id=record.user_id)
        if user is None or user.disabled:
            raise StreamingAuthError("Invalid access token")
        account = await account_store.fetch_account(conn, account_id=user.account_id)
        if account is None or account.suspended_at is not None:
            raise StreamingAuthError("Invalid access token")
    if not any(
        auth.scope_allows(record.scopes, s) for s in ("read", "read:statuses", "read:notifications")
    ):
        raise StreamingAuthError("Access token does not have the required scopes")
    return account.id, record.scopes


async def _open_stream(connection: HTTPConnection, client: StreamClient, stream: StreamKey) -> None:
    if not streaming.token_allows(client.scopes, stream):
        raise StreamingAuthError("Access token does not have the required scopes")
    async with database_of(connection).connection() as conn:
        await streaming.check_access(conn, viewer_id=client.account_id, stream=stream)
    client.subscribe(stream)


# --- WebSocket ----------------------------------------------------------------------------------


def _stream_of(message: dict[str, Any]) -> StreamKey:
    return streaming.parse_stream(
        str(message.get("stream") or ""),
        tag=None if message.get("tag") is None else str(message["tag"]),
        list_id=None if message.get("list") is None else str(message["list"]),
    )


async def _send_error(websocket: WebSocket, message: str, status: int) -> None:
    await websocket.send_text(orjson.dumps({"error": message, "status": status}).decode())


async def _handle_command(websocket: WebSocket, client: StreamClient, text: str) -> None:
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        await _send_error(websocket, "Invalid JSON", 400)
        return
    if not isinstance(message, dict) or message.get("type") not in ("subscribe", "unsubscribe"):
        await _send_error(websocket, "Unknown message type", 400)
        return
    try:
        stream = _stream_of(message)
        if message["type"] == "subscribe":
            await _open_stream(websocket, client, stream)
        else:
            client.unsubscribe(stream)
    except StreamingAuthError as error:
        await _send_error(websocket, error.message, 401)
    except NotFound as error:
        await _send_error(websocket, str(error) or "Not found", 404)
    except ValidationError as error:
        await _send_error(websocket, str(error).removeprefix("Validation failed: "), 400)


async def _close_when_dropped(websocket: WebSocket, client: StreamClient) -> None:
    """The hub writes the messages itself (`StreamClient.sink`); this only ends the connection
    when the hub drops the client or a send failed."""
    await client.closed.wait()
    if client.dropped:
        await websocket.close(code=CLOSE_TOO_SLOW, reason="Too slow to keep up")


async def websocket_stream(websocket: WebSocket) -> None:
    token, as_protocol = _token_from(websocket)
    try:
        account_id, scopes = await _authenticate(websocket)
    except StreamingAuthError as error:
        await _deny(websocket, error.message)
        return
    await websocket.accept(subprotocol=token if as_protocol else None)
    hub = hub_of(websocket)
    client = await hub.connect(account_id, scopes)
    client.sink = lambda message: websocket.send_text(message.websocket_text)
    writer = asyncio.create_task(_close_when_dropped(websocket, client))
    try:
        # Mastodon also accepts the first stream in the URL (`?stream=user&tag=...`).
        if websocket.query_params.get("stream"):
            query = dict(websocket.query_params)
            await _handle_command(
                websocket, client, orjson.dumps(query | {"type": "subscribe"}).decode()
            )
        reader = asyncio.create_task(_read_forever(websocket, client))
        done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                task.result()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await reader
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await writer
        await hub.disconnect(client)


async def _read_forever(websocket: WebSocket, client: StreamClient) -> None:
    while True:
        text = await websocket.receive_text()
        await _handle_command(websocket, client, text)


async def _deny(websocket: WebSocket, message: str) -> None:
    """Refuse the upgrade with 401 as Mastodon does (or close with 1008 where a server cannot
    send an HTTP response to a WebSocket request)."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(error_response(401, message))
    else:
        await websocket.close(code=1008, reason=message)


# --- server-sent events ---------------------------------------------------------------------


async def event_stream(client: StreamClient, heartbeat_seconds: float) -> AsyncIterator[str]:
    """The text/event-stream body: `:)` first, events, and `:thump` whenever it is quiet."""
    yield ":)\n"
    while True:
        try:
            message = await asyncio.wait_for(client.queue.get(), heartbeat_seconds)
        except TimeoutError:
            yield ":thump\n"
            continue
        if message is None:
            return
        yield message.sse_text


async def _sse_body(hub: StreamingHub, client: StreamClient) -> AsyncIterator[str]:
    try:
        async for chunk in event_stream(client, hub.heartbeat_seconds):
            yield chunk
    finally:
        await hub.disconnect(client)


async def server_sent_events(request: Request) -> Response:
    name = request.path_params["name"].strip("/").replace("/", ":")
    try:
        account_id, scopes = await _authenticate(request)
        stream = streaming.parse_stream(
            name,
            tag=request.query_params.get("tag"),
            list_id=request.query_params.get("list"),
        )
    except StreamingAuthError as error:
        return error_response(401, error.message)
    except ValidationError:
        return error_response(404, "Not found")
    hub = hub_of(request)
    client = await hub.connect(account_id, scopes)
    try:
        await _open_stream(request, client, stream)
    except StreamingAuthError as error:
        await hub.disconnect(client)
        return error_response(401, error.message)
    except DomainError:
        await hub.disconnect(client)
        return error_response(404, "Not found")
    return StreamingResponse(
        _sse_body(hub, client),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def health(request: Request) -> Response:
    return PlainTextResponse("OK")


routes: list[BaseRoute] = [
    WebSocketRoute("/api/v1/streaming", websocket_stream),
    Route("/api/v1/streaming/health", health, methods=["GET", "HEAD"]),
    Route("/api/v1/streaming/{name:path}", server_sent_events, methods=["GET"]),
]
