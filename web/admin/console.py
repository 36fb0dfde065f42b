"""What every admin console page shares: who may see it, CSRF on every POST, HTML rendering.

Handlers are wrapped by `console_page`: a signed-in admin (or moderator, read-only) gets through;
anyone else is sent to the sign-in form (not signed in) or shown a 403 page (not staff).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from fediverse import oauth as oauth_domain
from fediverse.errors import DomainError, Forbidden
from fediverse.storage.accounts import Account, User
from web.forms import Params, read_params
from web.sessions import CSRF_FIELD, Session, check_csrf, load_session, save_session
from web.state import database_of, settings_of
from web.templates import templates

# Console pages are never framed, cached or sent elsewhere; only our own CSS, no scripts.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "same-origin",
}
SIGN_IN_PATH = "/admin/sign_in"


@dataclass
class Console:
    """The request as a console handler sees it: the session, the staff member, the params."""

    request: Request
    session: Session
    user: User
    account: Account
    params: Params

    @property
    def may_write(self) -> bool:
        return self.user.is_admin


def render(
    request: Request,
    session: Session,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    user: User | None = None,
    account: Account | None = None,
) -> Response:
    """A console page with the instance name, the CSRF token and who is signed in."""
    response = templates.TemplateResponse(
        request,
        f"admin/{template}",
        {
            "instance_title": settings_of(request).instance_title,
            "csrf_token": session.csrf_token,
            "csrf_field": CSRF_FIELD,
            "user": user,
            "account": account,
            "may_write": user is not None and user.is_admin,
            "notice": request.query_params.get("notice"),
            **context,
        },
        status_code=status,
        headers=PAGE_HEADERS,
    )
    save_session(request, response, session)
    return response


def error_page(
    request: Request,
    session: Session,
    status: int,
    message: str,
    *,
    user: User | None = None,
    account: Account | None = None,
) -> Response:
    titles = {403: "Not allowed", 404: "Not found", 409: "Conflict", 422: "Not accepted"}
    return render(
        request,
        session,
        "error.html",
        {"title": titles.get(status, "Error"), "message": message},
        status=status,
        user=user,
        account=account,
    )


def redirect(path: str, *, notice: str | None = None) -> Response:
    """303 after a POST (POST-redirect-GET), with an optional one-line notice for the next page."""
    if notice:
        path = f"{path}{'&' if '?' in path else '?'}{urlencode({'notice': notice})}"
    return RedirectResponse(path, status_code=303, headers={"Cache-Control": "no-store"})


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a path inside the console, never another site."""
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    return "/admin"


async def signed_in_user(request: Request, session: Session) -> tuple[User, Account] | None:
    if session.user_id is None or session.fingerprint is None:
        return None
    async with database_of(request).connection() as conn:
        return await oauth_domain.user_for_session(
            conn, user_id=session.user_id, fingerprint=session.fingerprint
        )


Handler = Callable[[Console], Awaitable[Response]]


def console_page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Staff only; POSTs need an admin and this session's CSRF token. Domain errors → HTML."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        session = load_session(request)
        current = await signed_in_user(request, session)
        if current is None:
            if request.method != "GET":
                return error_page(request, session, 403, "Sign in to use the admin console.")
            query = urlencode({"next": request.url.path + _query_suffix(request)})
            response = RedirectResponse(f"{SIGN_IN_PATH}?{query}", status_code=303)
            save_session(request, response, session)
            return response
        user, account = current
        if not user.is_staff:
            return error_page(
                request,
                session,
                403,
                "The admin console is for admins and moderators.",
                user=user,
                account=account,
            )
        params = await read_params(request)
        try:
            if request.method != "GET":
                check_csrf(session, params.str(CSRF_FIELD))
                if not user.is_admin:
                    raise Forbidden("Moderators may look but only admins may change this.")
            return await handler(Console(request, session, user, account, params))
        except DomainError as exc:
            return error_page(request, session, exc.status, exc.message, user=user, account=account)

    return endpoint


def _query_suffix(request: Request) -> str:
    query = request.url.query
    return f"?{query}" if query else ""
