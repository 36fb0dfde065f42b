"""Map the domain's error tree (and malformed requests) to Mastodon's `{"error": ...}` bodies."""

from __future__ import annotations

import logging
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from fediverse.errors import DomainError
from web.responses import error_response

log = logging.getLogger(__name__)

_HTTP_MESSAGES = {
    400: "Bad request",
    401: "The access token is invalid",
    403: "This action is not allowed",
    404: "Record not found",
    405: "Method not allowed",
    410: "Gone",
    413: "Request entity too large",
    422: "Unprocessable entity",
    429: "Too many requests",
}

_STATUSES = {status.value for status in HTTPStatus}


async def on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    response = error_response(exc.status, exc.message, exc.description)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    # Starlette's default detail is the HTTP phrase ("Not Found"); Mastodon words it otherwise.
    default_phrase = HTTPStatus(exc.status_code).phrase if exc.status_code in _STATUSES else ""
    message = exc.detail if exc.detail and exc.detail != default_phrase else None
    return error_response(
        exc.status_code, message or _HTTP_MESSAGES.get(exc.status_code, "Error"), None
    )


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "Internal server error")


EXCEPTION_HANDLERS = {
    DomainError: on_domain_error,
    HTTPException: on_http_exception,
    Exception: on_unexpected,
}
