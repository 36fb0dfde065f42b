"""The invite sign-up page: GET /invite/{code} shows the form, POST creates the account.

Invites work in every registrations mode (that is how a closed server grows) and respect
their use limit and expiry; the form is CSRF-protected with the browser session's token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from federation.keys import generate_keypair
from fediverse import invites
from fediverse.errors import DomainError, ValidationError
from web.pages.rendering import error_page, page
from web.sessions import CSRF_FIELD, check_csrf, load_session, save_session
from web.state import database_of, urls_of


def _form(
    request: Request, code: str, *, values: dict[str, str], error: str | None, status_code: int
) -> Response:
    session = load_session(request)
    response = page(
        request,
        "signup.html",
        {
            "code": code,
            "csrf_token": session.csrf_token,
            "values": values,
            "error": error,
            "noindex": True,
        },
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"
    save_session(request, response, session)
    return response


async def show_form(request: Request) -> Response:
    code = request.path_params["code"]
    try:
        async with database_of(request).connection() as conn:
            await invites.usable_invite(conn, code=code, now=datetime.now(UTC))
    except DomainError as error:
        return error_page(request, error)
    return _form(request, code, values={}, error=None, status_code=200)


async def sign_up(request: Request) -> Response:
    code = request.path_params["code"]
    form = await request.form()
    values: dict[str, Any] = {
        name: str(form.get(name) or "") for name in ("username", "email", "password")
    }
    session = load_session(request)
    try:
        check_csrf(session, str(form.get(CSRF_FIELD) or ""))
        if values["password"] != str(form.get("password_confirmation") or ""):
            raise ValidationError("Passwords do not match", field="password_confirmation")
        async with database_of(request).transaction() as conn:
            account, _ = await invites.register_with_invite(
                conn,
                code=code,
                urls=urls_of(request),
                username=values["username"].strip(),
                email=values["email"].strip(),
                password=values["password"],
                make_keypair=generate_keypair,
                now=datetime.now(UTC),
            )
    except ValidationError as error:
        shown = {k: v for k, v in values.items() if k != "password"}
        return _form(request, code, values=shown, error=error.message, status_code=422)
    except DomainError as error:
        return error_page(request, error)
    return page(
        request,
        "signup_done.html",
        {"username": account.username, "profile_url": urls_of(request).profile(account.username)},
    )


routes: list[BaseRoute] = [
    Route("/invite/{code}", show_form, methods=["GET"]),
    Route("/invite/{code}", sign_up, methods=["POST"]),
]
