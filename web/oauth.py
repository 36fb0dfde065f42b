"""OAuth 2 endpoints as Mastodon clients use them: the sign-in and consent pages of
`/oauth/authorize`, `/oauth/token`, `/oauth/revoke`, `/oauth/userinfo` and the RFC 8414
metadata document. The rules live in `fediverse/oauth.py`; this module speaks HTTP and HTML.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from fediverse import auth
from fediverse import oauth as oauth_domain
from fediverse.errors import Forbidden, NotAuthorized, RateLimited
from fediverse.oauth import AuthorizationRequest, OAuthError
from fediverse.storage.accounts import Account, User
from fediverse.storage.auth import AccessToken, Application
from web.auth import optional_viewer
from web.forms import Params, read_params
from web.mastodon_api.entities import render_account
from web.responses import JSONResponse, error_response
from web.sessions import CSRF_FIELD, Session, check_csrf, load_session, save_session
from web.state import database_of, settings_of, urls_of
from web.templates import templates

# Parameters of an authorization request that survive the sign-in round trip.
_AUTHORIZE_KEYS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "lang",
)
_LANG_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
_TRUE = {"1", "true", "t", "on", "yes"}

# HTML pages must not be framed (clickjacking the consent button) nor cached. No form-action
# directive: browsers apply it to the redirect after consent, which goes to the app's scheme.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
}
_TOKEN_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _now() -> datetime:
    return datetime.now(UTC)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _flag(params: Params, key: str) -> bool:
    # Mastodon.py sends force_login=False/True; anything unrecognised counts as false.
    return str(params.raw(key) or "").strip().lower() in _TRUE


def _lang(params: Params) -> str | None:
    value = params.str("lang")
    return value if value and _LANG_RE.fullmatch(value) else None


def _authorize_query(params: Params) -> str:
    """The authorization request as a query string, without `force_login`."""
    pairs = [(key, params.str(key)) for key in _AUTHORIZE_KEYS]
    return urlencode([(key, value) for key, value in pairs if value is not None])


def _params_from_query(query: str | None) -> Params:
    pairs = parse_qsl(query or "", keep_blank_values=True)
    return Params({key: value for key, value in pairs if key in _AUTHORIZE_KEYS})


# --- HTML rendering -----------------------------------------------------------------------------


def _page(
    request: Request,
    session: Session,
    name: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    lang: str | None = None,
) -> Response:
    settings = settings_of(request)
    full = {
        "instance_title": settings.instance_title,
        "csrf_token": session.csrf_token,
        "lang": lang,
        **context,
    }
    response = templates.TemplateResponse(
        request, name, full, status_code=status, headers=_PAGE_HEADERS
    )
    save_session(request, response, session)
    return response


def _error_page(
    request: Request, session: Session, error: str, description: str = "", *, status: int = 400
) -> Response:
    return _page(
        request,
        session,
        "oauth/error.html",
        {"error": error, "description": description},
        status=status,
    )


def _sign_in_page(
    request: Request,
    session: Session,
    application: Application,
    query: str,
    *,
    login: str = "",
    error: str | None = None,
    status: int = 200,
    lang: str | None = None,
) -> Response:
    return _page(
        request,
        session,
        "oauth/sign_in.html",
        {"app_name": application.name, "authorize_query": query, "login": login, "error": error},
        status=status,
        lang=lang,
    )


def _redirect_back(uri: str, values: dict[str, str | None]) -> Response:
    """A redirect to the app's registered URI with the result in the query (RFC 6749 §4.1.2)."""
    query = urlencode({key: value for key, value in values.items() if value is not None})
    separator = "&" if "?" in uri else "?"
    return RedirectResponse(f"{uri}{separator}{query}", status_code=302, headers=_TOKEN_HEADERS)


def _error_redirect(
    request: Request,
    session: Session,
    redirect_uri: str,
    state: str | None,
    error: OAuthError,
) -> Response:
    if redirect_uri == oauth_domain.OOB_REDIRECT_URI:
        return _error_page(request, session, error.error, error.description or "")
    return _redirect_back(
        redirect_uri,
        {"error": error.error, "error_description": error.description, "state": state},
    )


# --- /oauth/authorize ---------------------------------------------------------------------------


async def _resolve_request(
    request: Request, session: Session, params: Params
) -> AuthorizationRequest | Response:
    """The checked request, or the response to send: an error page when the client or redirect
    URI is wrong (never redirect there), an error redirect for the other mistakes.
    """
    async with database_of(request).connection() as conn:
        application = await oauth_domain.find_application(conn, client_id=params.str("client_id"))
    if application is None:
        return _error_page(
            request,
            session,
            "invalid_client",
            "The app that sent you here is not registered on this server.",
        )
    try:
        redirect_uri = oauth_domain.resolve_redirect_uri(application, params.str("redirect_uri"))
    except ValueError:
        return _error_page(
            request,
            session,
            "invalid_redirect_uri",
            "The redirect URI in the request is not one the app registered.",
        )
    state = params.str("state")
    try:
        return oauth_domain.check_authorization_request(
            application,
            redirect_uri=redirect_uri,
            response_type=params.str("response_type"),
            scope=params.raw("scope"),
            state=state,
            code_challenge=params.str("code_challenge"),
            code_challenge_method=params.str("code_challenge_method"),
        )
    except OAuthError as error:
        return _error_redirect(request, session, redirect_uri, state, error)


async def _signed_in(request: Request, session: Session) -> tuple[User, Account] | None:
    if session.user_id is None or session.fingerprint is None:
        return None
    async with database_of(request).connection() as conn:
        return await oauth_domain.user_for_session(
            conn, user_id=session.user_id, fingerprint=session.fingerprint
        )


def _consent_page(
    request: Request,
    session: Session,
    auth_request: AuthorizationRequest,
    account: Account,
    query: str,
    lang: str | None,
) -> Response:
    application = auth_request.application
    return _page(
        request,
        session,
        "oauth/authorize.html",
        {
            "app_name": application.name,
            "app_website": application.website,
            "username": account.username,
            "scopes": auth_request.scopes,
            "client_id": application.client_id,
            "redirect_uri": auth_request.redirect_uri,
            "out_of_band": auth_request.is_out_of_band,
            "state": auth_request.state,
            "code_challenge": auth_request.code_challenge,
            "code_challenge_method": auth_request.code_challenge_method,
            "authorize_query": query,
        },
        lang=lang,
    )


async def authorize_page(request: Request) -> Response:
    """GET /oauth/authorize: the sign-in form, or the consent page when signed in."""
    params = await read_params(request)
    session = load_session(request)
    resolved = await _resolve_request(request, session, params)
    if isinstance(resolved, Response):
        return resolved
    query = _authorize_query(params)
    lang = _lang(params)
    current = await _signed_in(request, session)
    if current is None or _flag(params, "force_login"):
        return _sign_in_page(request, session, resolved.application, query, lang=lang)
    return _consent_page(request, session, resolved, current[1], query, lang)


async def authorize_decision(request: Request) -> Response:
    """POST /oauth/authorize: the consent form's Authorize or Deny."""
    params = await read_params(request)
    session = load_session(request)
    try:
        check_csrf(session, params.str(CSRF_FIELD))
    except Forbidden as exc:
        return _error_page(request, session, "invalid_request", exc.message, status=403)
    resolved = await _resolve_request(request, session, params)
    if isinstance(resolved, Response):
        return resolved
    if params.str("decision") == "deny":
        return _error_redirect(
            request,
            session,
            resolved.redirect_uri,
            resolved.state,
            OAuthError(
                "access_denied",
                "The resource owner or authorization server denied the request.",
            ),
        )
    async with database_of(request).transaction() as conn:
        current = None
        if session.user_id is not None and session.fingerprint is not None:
            current = await oauth_domain.user_for_session(
                conn, user_id=session.user_id, fingerprint=session.fingerprint
            )
        if current is None:
            code = None
        else:
            code = await oauth_domain.issue_authorization_code(
                conn, resolved, user=current[0], now=_now()
            )
    if code is None:
        # The session ended between the two pages (signed out, password changed).
        return _sign_in_page(
            request,
            session,
            resolved.application,
            _authorize_query(params),
            error="Please sign in again.",
            status=401,
        )
    if resolved.is_out_of_band:
        return _page(
            request,
            session,
            "oauth/code.html",
            {"app_name": resolved.application.name, "code": code},
        )
    response = _redirect_back(resolved.redirect_uri, {"code": code, "state": resolved.state})
    save_session(request, response, session)
    return response


async def sign_in(request: Request) -> Response:
    """POST /oauth/sign_in: check the password, then back to the authorization request."""
    params = await read_params(request)
    session = load_session(request)
    query_params = _params_from_query(params.str("authorize_query"))
    query = _authorize_query(query_params)
    lang = _lang(query_params)
    try:
        check_csrf(session, params.str(CSRF_FIELD))
    except Forbidden as exc:
        return _error_page(request, session, "invalid_request", exc.message, status=403)
    resolved = await _resolve_request(request, session, query_params)
    if isinstance(resolved, Response):
        return resolved
    login = (params.str("login") or "").strip()
    try:
        async with database_of(request).transaction() as conn:
            user = await oauth_domain.check_sign_in(
                conn,
                login=login,
                password=params.str("password"),
                address=_address(request),
                now=_now(),
            )
    except (RateLimited, Forbidden) as exc:
        return _sign_in_page(
            request,
            session,
            resolved.application,
            query,
            login=login,
            error=exc.message,
            status=exc.status,
            lang=lang,
        )
    if user is None:
        return _sign_in_page(
            request,
            session,
            resolved.application,
            query,
            login=login,
            error=oauth_domain.BAD_CREDENTIALS,
            status=401,
            lang=lang,
        )
    session.sign_in(user.id, oauth_domain.session_fingerprint(user))
    response = RedirectResponse(f"/oauth/authorize?{query}", status_code=303)
    save_session(request, response, session)
    return response


async def sign_out(request: Request) -> Response:
    """POST /oauth/sign_out: forget the signed-in user and show the sign-in form again."""
    params = await read_params(request)
    session = load_session(request)
    try:
        check_csrf(session, params.str(CSRF_FIELD))
    except Forbidden as exc:
        return _error_page(request, session, "invalid_request", exc.message, status=403)
    session.sign_out()
    query = _authorize_query(_params_from_query(params.str("authorize_query")))
    response = RedirectResponse(f"/oauth/authorize?{query}", status_code=303)
    save_session(request, response, session)
    return response


# --- /oauth/token and /oauth/revoke -------------------------------------------------------------


def _client_credentials(request: Request, params: Params) -> tuple[str | None, str | None, bool]:
    """Client id and secret from HTTP Basic (RFC 6749 §2.3.1) or the body; and whether Basic."""
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_client", oauth_domain.INVALID_CLIENT, status=401) from None
        client_id, _, client_secret = decoded.partition(":")
        return unquote(client_id.replace("+", " ")), unquote(client_secret.replace("+", " ")), True
    return params.str("client_id"), params.str("client_secret"), False


def _oauth_error_response(error: OAuthError, *, basic: bool = False) -> Response:
    response = JSONResponse(
        {"error": error.error, "error_description": error.description},
        status_code=error.status,
        headers=_TOKEN_HEADERS,
    )
    if error.error == "invalid_client" and basic:
        response.headers["WWW-Authenticate"] = 'Basic realm="oauth"'
    return response


def _token_response(token: str, record: AccessToken) -> Response:
    return JSONResponse(
        {
            "access_token": token,
            "token_type": "Bearer",
            "scope": record.scopes,
            "created_at": int(record.created_at.timestamp()),
        },
        headers=_TOKEN_HEADERS,
    )


async def token(request: Request) -> Response:
    """POST /oauth/token: authorization_code (+PKCE), client_credentials and password grants."""
    params = await read_params(request)
    basic = False
    try:
        client_id, client_secret, basic = _client_credentials(request, params)
        grant_type = params.str("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "The grant_type parameter is missing.")
        if grant_type not in oauth_domain.GRANT_TYPES:
            raise OAuthError(
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
            )
        if grant_type == "password":
            return await _password_grant(request, params, client_id, client_secret)
        async with database_of(request).transaction() as conn:
            application = await oauth_domain.authenticate_client(
                conn, client_id=client_id, client_secret=client_secret
            )
            if grant_type == "client_credentials":
                issued = await oauth_domain.client_credentials_grant(
                    conn, application=application, scope=params.raw("scope")
                )
            else:
                issued = await oauth_domain.exchange_authorization_code(
                    conn,
                    application=application,
                    code=params.str("code"),
                    redirect_uri=params.str("redirect_uri"),
                    code_verifier=params.str("code_verifier"),
                    now=_now(),
                )
        return _token_response(*issued)
    except OAuthError as error:
        return _oauth_error_response(error, basic=basic)


async def _password_grant(
    request: Request, params: Params, client_id: str | None, client_secret: str | None
) -> Response:
    login = params.str("username")
    password = params.str("password")
    if not login or not password:
        raise OAuthError("invalid_request", "The username and password parameters are required.")
    try:
        async with database_of(request).transaction() as conn:
            application = await oauth_domain.authenticate_client(
                conn, client_id=client_id, client_secret=client_secret
            )
            user = await oauth_domain.check_sign_in(
                conn, login=login, password=password, address=_address(request), now=_now()
            )
            issued = None
            if user is not None:
                issued = await oauth_domain.password_grant(
                    conn, application=application, user=user, scope=params.raw("scope")
                )
    except Forbidden as exc:
        raise OAuthError("invalid_grant", exc.message) from None
    if issued is None:
        # Raised after the commit, so the failed attempt counts towards the rate limit.
        raise OAuthError("invalid_grant", oauth_domain.INVALID_GRANT)
    return _token_response(*issued)


async def revoke(request: Request) -> Response:
    """POST /oauth/revoke (RFC 7009): 200 `{}` whether or not the token existed."""
    params = await read_params(request)
    basic = False
    try:
        client_id, client_secret, basic = _client_credentials(request, params)
        async with database_of(request).transaction() as conn:
            application = await oauth_domain.authenticate_client(
                conn, client_id=client_id, client_secret=client_secret
            )
            await oauth_domain.revoke_token(
                conn, application=application, token=params.str("token"), now=_now()
            )
    except OAuthError as error:
        return _oauth_error_response(error, basic=basic)
    return JSONResponse({}, headers=_TOKEN_HEADERS)


# --- userinfo and metadata ----------------------------------------------------------------------


async def userinfo(request: Request) -> Response:
    """GET/POST /oauth/userinfo (OpenID Connect style, Mastodon 4.4): who the token acts for."""
    viewer = await optional_viewer(request)
    if viewer is None:
        raise NotAuthorized()
    granted = viewer.token.scopes
    if not (auth.scope_allows(granted, "profile") or auth.scope_allows(granted, "read:accounts")):
        raise Forbidden("This action is outside the authorized scopes")
    account = viewer.account
    if account is None:
        # Mastodon's wording, without the "Validation failed:" prefix of ValidationError.
        return error_response(422, "This method requires an authenticated user")
    urls = urls_of(request)
    return JSONResponse(
        {
            "iss": f"{settings_of(request).base_url}/",
            "sub": account.uri,
            "name": account.display_name or account.username,
            "preferred_username": account.username,
            "profile": account.url or urls.profile(account.username),
            "picture": render_account(account, urls)["avatar"],
        }
    )


async def authorization_server_metadata(request: Request) -> Response:
    """GET /.well-known/oauth-authorization-server (RFC 8414), as Mastodon 4.3+ serves it."""
    base = settings_of(request).base_url
    return JSONResponse(
        {
            "issuer": f"{base}/",
            "service_documentation": "https://docs.joinmastodon.org/",
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "userinfo_endpoint": f"{base}/oauth/userinfo",
            "app_registration_endpoint": f"{base}/api/v1/apps",
            "scopes_supported": sorted(auth.ALL_SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": list(oauth_domain.GRANT_TYPES),
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
        },
        headers={"Access-Control-Allow-Origin": "*"},
    )


routes: list[BaseRoute] = [
    Route("/oauth/authorize", authorize_page, methods=["GET"]),
    Route("/oauth/authorize", authorize_decision, methods=["POST"]),
    Route("/oauth/sign_in", sign_in, methods=["POST"]),
    Route("/oauth/sign_out", sign_out, methods=["POST"]),
    Route("/oauth/token", token, methods=["POST"]),
    Route("/oauth/revoke", revoke, methods=["POST"]),
    Route("/oauth/userinfo", userinfo, methods=["GET", "POST"]),
    Route("/.well-known/oauth-authorization-server", authorization_server_metadata),
]
