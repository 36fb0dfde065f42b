"""Signing in to the admin console with a password, on the same session cookie as OAuth's pages."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import oauth as oauth_domain
from fediverse.errors import Forbidden, RateLimited
from web.admin.console import SIGN_IN_PATH, error_page, redirect, render, safe_next, signed_in_user
from web.forms import read_params
from web.sessions import CSRF_FIELD, check_csrf, load_session, save_session
from web.state import database_of


async def sign_in_form(request: Request) -> Response:
    """GET /admin/sign_in: the form (or straight on when already signed in as staff)."""
    session = load_session(request)
    target = safe_next(request.query_params.get("next"))
    current = await signed_in_user(request, session)
    if current is not None and current[0].is_staff:
        return redirect(target)
    return render(request, session, "sign_in.html", {"next": target, "login": "", "error": None})


async def sign_in(request: Request) -> Response:
    """POST /admin/sign_in: check the password, then on to the page that asked for it."""
    params = await read_params(request)
    session = load_session(request)
    target = safe_next(params.str("next"))
    login = (params.str("login") or "").strip()
    try:
        check_csrf(session, params.str(CSRF_FIELD))
    except Forbidden as exc:
        return error_page(request, session, 403, exc.message)
    try:
        async with database_of(request).transaction() as conn:
            user = await oauth_domain.check_sign_in(
                conn,
                login=login,
                password=params.str("password"),
                address=request.client.host if request.client else "unknown",
                now=datetime.now(UTC),
            )
    except (Forbidden, RateLimited) as exc:
        context = {"next": target, "login": login, "error": exc.message}
        return render(request, session, "sign_in.html", context, status=exc.status)
    if user is None:
        context = {"next": target, "login": login, "error": oauth_domain.BAD_CREDENTIALS}
        return render(request, session, "sign_in.html", context, status=401)
    session.sign_in(user.id, oauth_domain.session_fingerprint(user))
    response = redirect(target)
    save_session(request, response, session)
    return response


async def sign_out(request: Request) -> Response:
    """POST /admin/sign_out: forget who signed in (the form carries the CSRF token)."""
    params = await read_params(request)
    session = load_session(request)
    try:
        check_csrf(session, params.str(CSRF_FIELD))
    except Forbidden as exc:
        return error_page(request, session, 403, exc.message)
    session.sign_out()
    response = redirect(SIGN_IN_PATH)
    save_session(request, response, session)
    return response


routes: list[BaseRoute] = [
    Route(SIGN_IN_PATH, sign_in_form, methods=["GET"]),
    Route(SIGN_IN_PATH, sign_in, methods=["POST"]),
    Route("/admin/sign_out", sign_out, methods=["POST"]),
]
