"""ActivityPub inboxes: the shared `/inbox` and each user's; verify now, apply later (202).

Both are plain ASGI endpoints rather than Starlette request handlers: the inbox is what peers
call most, and reading the scope directly (headers, path, body) instead of through Request
and Response objects took accepting an activity from 0.35 to 0.30 ms of this process's CPU
(bench/inbox.py --phases).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from federation.inbox import MAX_BODY_BYTES, InboxError, InboxWriter, receive
from federation.signatures import NormalizedHeaders, normalize_headers
from fediverse.errors import DomainError
from fediverse.storage import accounts as account_store
from web.activitypub import key_resolver_of, policy_of, signed_url
from web.errors import on_domain_error
from web.responses import error_response
from web.state import database_of, settings_of, state_of

INBOX_WRITER_SERVICE = "inbox_writer"


def _writer_of(request: Request) -> InboxWriter:
    """The process's InboxWriter: one per app, so that concurrent requests share commits."""
    services = state_of(request).services
    writer = services.get(INBOX_WRITER_SERVICE)
    if not isinstance(writer, InboxWriter):
        writer = services[INBOX_WRITER_SERVICE] = InboxWriter(database_of(request))
    return writer


async def _read_body(scope: Scope, receive_message: Receive) -> bytes:
    """The body, refusing more than MAX_BODY_BYTES without reading it all."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > MAX_BODY_BYTES:
            raise InboxError(413, "activity is larger than 1 MB")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive_message()
        if message["type"] == "http.disconnect":
            raise InboxError(400, "the request body was cut short")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise InboxError(413, "activity is larger than 1 MB")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _headers_of(scope: Scope) -> NormalizedHeaders:
    return normalize_headers(
        [(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]]
    )


async def _personal_inbox_exists(request: Request) -> bool:
    async with database_of(request).connection() as conn:
        account = await account_store.fetch_account_by_username(
            conn, username=request.path_params["username"], domain=None
        )
        return (
            account is not None
            and await account_store.fetch_user_by_account(conn, account_id=account.id) is not None
        )


class Inbox:
    """POST /inbox, or (`personal`) /users/{username}/inbox for a user who exists here."""

    def __init__(self, *, personal: bool) -> None:
        self.personal = personal

    async def __call__(self, scope: Scope, receive_message: Receive, send: Send) -> None:
        request = Request(scope, receive_message)  # for the app's state only
        if self.personal and not await _personal_inbox_exists(request):
            await error_response(404, "Record not found")(scope, receive_message, send)
            return
        url = signed_url(scope, settings_of(request).base_url)
        try:
            await receive(
                database=database_of(request),
                resolver=await key_resolver_of(request),
                method=scope["method"],
                url=url,
                headers=_headers_of(scope),
                body=await _read_body(scope, receive_message),
                domain_policy=policy_of(request),
                writer=_writer_of(request),
            )
        except InboxError as error:
            await error_response(error.status, error.reason)(scope, receive_message, send)
            return
        # Messages made per response: a middleware may change their headers in place.
        await send(
            {
                "type": "http.response.start",
                "status": 202,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")],
            }
        )
        await send({"type": "http.response.body", "body": b"{}"})


_SHARED = Inbox(personal=False)
_PERSONAL = Inbox(personal=True)

routes: list[BaseRoute] = [
    Route("/inbox", _SHARED, methods=["POST"]),
    Route("/users/{username}/inbox", _PERSONAL, methods=["POST"]),
]


class InboxFastPath:
    """Hands POST /inbox and /users/{username}/inbox straight to their endpoints, ahead of
    the app's other middleware and its router (the busiest path of a federated server): in
    bench/inbox.py, 0.48 -> 0.45 ms of `serve`'s CPU per activity. Anything else, and any
    path these exact forms do not match, goes through the app as usual (the routes stay)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive_message: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"")
        # A NUL in the query goes the usual way too (RejectNulCharacters answers it).
        if scope["type"] == "http" and scope["method"] == "POST" and b"%00" not in query:
            path: str = scope["path"]
            if path == "/inbox":
                await self._call(_SHARED, scope, receive_message, send)
                return
            if path.startswith("/users/") and path.endswith("/inbox"):
                username = path[len("/users/") : -len("/inbox")]
                if username and "/" not in username and "\x00" not in username:
                    scope = {**scope, "path_params": {"username": username}}
                    await self._call(_PERSONAL, scope, receive_message, send)
                    return
        await self.app(scope, receive_message, send)

    @staticmethod
    async def _call(endpoint: Inbox, scope: Scope, receive_message: Receive, send: Send) -> None:
        try:
            await endpoint(scope, receive_message, send)
        except DomainError as error:
            response = await on_domain_error(Request(scope, receive_message), error)
            await response(scope, receive_message, send)
