"""ActivityPub inboxes: the shared `/inbox` and each user's; verify now, apply later (202)."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from federation.inbox import MAX_BODY_BYTES, InboxError, InboxWriter, receive
from fediverse.storage import accounts as account_store
from web.activitypub import key_resolver_of, policy_of, request_url
from web.responses import JSONResponse, error_response
from web.state import database_of, state_of

INBOX_WRITER_SERVICE = "inbox_writer"


def _writer_of(request: Request) -> InboxWriter:
    """The process's InboxWriter: one per app, so that concurrent requests share commits."""
    services = state_of(request).services
    writer = services.get(INBOX_WRITER_SERVICE)
    if not isinstance(writer, InboxWriter):
        writer = services[INBOX_WRITER_SERVICE] = InboxWriter(database_of(request))
    return writer


async def _read_body(request: Request) -> bytes:
    """The body, refusing more than MAX_BODY_BYTES without reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise InboxError(413, "activity is larger than 1 MB")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise InboxError(413, "activity is larger than 1 MB")
            chunks.append(chunk)
    except ClientDisconnect as error:
        raise InboxError(400, "the request body was cut short") from error
    return b"".join(chunks)


async def _receive(request: Request) -> Response:
    try:
        body = await _read_body(request)
        await receive(
            database=database_of(request),
            resolver=await key_resolver_of(request),
            method=request.method,
            url=request_url(request),
            headers=request.headers,
            body=body,
            domain_policy=policy_of(request),
            writer=_writer_of(request),
        )
    except InboxError as error:
        return error_response(error.status, error.reason)
    return JSONResponse({}, status_code=202)


async def shared_inbox(request: Request) -> Response:
    """POST /inbox."""
    return await _receive(request)


async def user_inbox(request: Request) -> Response:
    """POST /users/{username}/inbox: like the shared inbox, for a user who exists here."""
    async with database_of(request).connection() as conn:
        account = await account_store.fetch_account_by_username(
            conn, username=request.path_params["username"], domain=None
        )
        user = (
            await account_store.fetch_user_by_account(conn, account_id=account.id)
            if account is not None
            else None
        )
    if account is None or user is None:
        return error_response(404, "Record not found")
    return await _receive(request)


routes: list[BaseRoute] = [
    Route("/inbox", shared_inbox, methods=["POST"]),
    Route("/users/{username}/inbox", user_inbox, methods=["POST"]),
]
