"""OAuth 2 as Mastodon apps use it: app registration, authorization codes with PKCE, grants,
revocation, and the sign-in check with its rate limit (RFC 6749, RFC 7636, RFC 7009).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from fediverse import auth, ids
from fediverse.errors import DomainError, Forbidden, RateLimited, ValidationError
from fediverse.passwords import verify_password
from fediverse.storage import accounts as account_store
from fediverse.storage import auth as auth_store
from fediverse.storage import oauth as oauth_store
from fediverse.storage.accounts import Account, User
from fediverse.storage.auth import AccessToken, Application
from fediverse.storage.database import Connection

OOB_REDIRECT_URI = "urn:ietf:wg:oauth:2.0:oob"
CODE_LIFETIME = timedelta(minutes=10)
GRANT_TYPES = ("authorization_code", "client_credentials", "password")

# Failed sign-ins allowed per window, per address and login, and per address across logins
# (the second stops one address from trying one password against many accounts).
SIGN_IN_WINDOW = timedelta(minutes=5)
SIGN_IN_FAILURES_PER_LOGIN = 5
SIGN_IN_FAILURES_PER_ADDRESS = 30

MAX_NAME_LENGTH = 60  # Mastodon's limit for application names
MAX_URI_LENGTH = 2000
MAX_REDIRECT_URIS = 20
# Schemes that would run code in the user's browser instead of returning to an app.
_FORBIDDEN_SCHEMES = {"javascript", "data", "vbscript", "file"}
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_PKCE_VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_PKCE_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9\-_]{43}$")

INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the "
    "redirection URI used in the authorization request, or was issued to another client."
)
INVALID_CLIENT = (
    "Client authentication failed due to unknown client, no client authentication included, "
    "or unsupported authentication method."
)
INVALID_SCOPE = "The requested scope is invalid, unknown, or malformed."
BAD_CREDENTIALS = "Invalid email or password."


class OAuthError(DomainError):
    """An RFC 6749 error: `message` is the error code, `description` the sentence for people."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(error, description=description)
        self.error = error
        self.status = status


def invalid_client() -> OAuthError:
    return OAuthError("invalid_client", INVALID_CLIENT, status=401)


def invalid_grant() -> OAuthError:
    return OAuthError("invalid_grant", INVALID_GRANT)


# --- applications -------------------------------------------------------------------------------


def parse_redirect_uris(raw: object) -> list[str]:
    """Redirect URIs as sent: one string with several separated by whitespace, or a list."""
    items: list[str] = []
    values = raw if isinstance(raw, list) else [raw]
    for value in values:
        if value is None:
            continue
        items.extend(str(value).split())
    return list(dict.fromkeys(items))


def validate_redirect_uri(uri: str) -> None:
    """Absolute URIs (custom app schemes included) or the out-of-band URN; no fragment."""
    if uri == OOB_REDIRECT_URI:
        return
    if len(uri) > MAX_URI_LENGTH:
        raise ValidationError("Redirect URI is too long", field="redirect_uris")
    scheme, separator, _ = uri.partition(":")
    if not separator or not _SCHEME_RE.fullmatch(scheme) or uri == f"{scheme}:":
        raise ValidationError("Redirect URI must be an absolute URI", field="redirect_uris")
    if scheme.lower() in _FORBIDDEN_SCHEMES:
        raise ValidationError("Redirect URI uses a forbidden scheme", field="redirect_uris")
    if "#" in uri:
        # RFC 6749 §3.1.2: the redirection endpoint URI must not include a fragment.
        raise ValidationError("Redirect URI cannot contain a fragment", field="redirect_uris")
    if scheme.lower() in ("http", "https") and not urlsplit(uri).netloc:
        raise ValidationError("Redirect URI must be an absolute URI", field="redirect_uris")


def _scope_text(raw: object) -> str | None:
    if isinstance(raw, list):
        return " ".join(str(item) for item in raw)
    return None if raw is None or raw == "" else str(raw)


def parse_requested_scopes(raw: object, *, default: str = "read") -> list[str]:
    try:
        return auth.parse_scopes(_scope_text(raw), default=default)
    except ValueError as exc:
        raise ValidationError(str(exc).capitalize(), field="scopes") from None


async def register_application(
    conn: Connection,
    *,
    name: str | None,
    redirect_uris: object,
    scopes: object,
    website: str | None,
) -> Application:
    """Register a client app (POST /api/v1/apps); anyone may, as on Mastodon."""
    name = (name or "").strip()
    if not name:
        raise ValidationError("Application name can't be blank", field="client_name")
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(
            f"Application name is too long (maximum is {MAX_NAME_LENGTH} characters)",
            field="client_name",
        )
    uris = parse_redirect_uris(redirect_uris)
    if not uris:
        raise ValidationError("Redirect URI can't be blank", field="redirect_uris")
    if len(uris) > MAX_REDIRECT_URIS:
        raise ValidationError("Too many redirect URIs", field="redirect_uris")
    for uri in uris:
        validate_redirect_uri(uri)
    scope_list = parse_requested_scopes(scopes)
    website = (website or "").strip() or None
    if website is not None:
        parts = urlsplit(website)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(website) > 2000:
            raise ValidationError("Website must be an http(s) URL", field="website")
    return await auth_store.insert_application(
        conn,
        app_id=ids.new_id(),
        name=name,
        website=website,
        redirect_uris=uris,
        scopes=" ".join(scope_list),
        client_id=secrets.token_urlsafe(32),
        client_secret=secrets.token_urlsafe(32),
    )


async def find_application(conn: Connection, *, client_id: str | None) -> Application | None:
    if not client_id:
        return None
    return await auth_store.fetch_application_by_client_id(conn, client_id=client_id)


# A secret compared against when the client is unknown, so timing does not tell the difference.
_DUMMY_SECRET = secrets.token_urlsafe(32)


async def authenticate_client(
    conn: Connection, *, client_id: str | None, client_secret: str | None
) -> Application:
    """The app whose id and secret were presented, or `invalid_client` (401)."""
    application = await find_application(conn, client_id=client_id)
    expected = application.client_secret if application is not None else _DUMMY_SECRET
    matches = hmac.compare_digest(expected.encode(), (client_secret or "").encode())
    if application is None or not client_secret or not matches:
        raise invalid_client()
    return application


def granted_scopes(application: Application, requested: object) -> list[str]:
    """Requested scopes (default: all the app registered), each covered by the app's scopes."""
    try:
        scopes = auth.parse_scopes(_scope_text(requested), default=application.scopes)
    except ValueError:
        raise OAuthError("invalid_scope", INVALID_SCOPE) from None
    if not scopes or not all(auth.scope_allows(application.scopes, s) for s in scopes):
        raise OAuthError("invalid_scope", INVALID_SCOPE)
    return scopes


# --- authorization requests and codes -------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizationRequest:
    """A checked `/oauth/authorize` request: safe to show consent for and to redirect back to."""

    application: Application
    redirect_uri: str
    scopes: list[str]
    state: str | None
    code_challenge: str | None
    code_challenge_method: str | None

    @property
    def is_out_of_band(self) -> bool:
        return self.redirect_uri == OOB_REDIRECT_URI


def resolve_redirect_uri(application: Application, redirect_uri: str | None) -> str:
    """The registered URI the request names, compared exactly (RFC 6749 §3.1.2.3).

    Raises ValueError when it does not match: the caller must then show an error page, never
    redirect, since the URI may belong to an attacker.
    """
    if not redirect_uri:
        if len(application.redirect_uris) == 1:
            return application.redirect_uris[0]
        raise ValueError("redirect_uri is required")
    if redirect_uri not in application.redirect_uris:
        raise ValueError("redirect_uri does not match a registered redirect URI")
    return redirect_uri


def check_authorization_request(
    application: Application,
    *,
    redirect_uri: str,
    response_type: str | None,
    scope: object,
    state: str | None,
    code_challenge: str | None,
    code_challenge_method: str | None,
) -> AuthorizationRequest:
    """Validate the rest of the request; errors here may be sent back to the redirect URI."""
    if response_type != "code":
        raise OAuthError(
            "unsupported_response_type",
            "The authorization server does not support this response type.",
        )
    scopes = granted_scopes(application, scope)
    if code_challenge:
        if (code_challenge_method or "") != "S256":
            raise OAuthError("invalid_request", "The code_challenge_method must be S256.")
        if not _PKCE_CHALLENGE_RE.fullmatch(code_challenge):
            raise OAuthError("invalid_request", "The code_challenge is malformed.")
    elif code_challenge_method:
        raise OAuthError("invalid_request", "The code_challenge is missing.")
    return AuthorizationRequest(
        application=application,
        redirect_uri=redirect_uri,
        scopes=scopes,
        state=state or None,
        code_challenge=code_challenge or None,
        code_challenge_method="S256" if code_challenge else None,
    )


def _code_digest(code: str) -> bytes:
    return hashlib.sha256(code.encode()).digest()


async def issue_authorization_code(
    conn: Connection, request: AuthorizationRequest, *, user: User, now: datetime
) -> str:
    """The user consented: a single-use code valid for ten minutes, stored as a digest."""
    await oauth_store.delete_expired_authorization_codes(conn, before=now - CODE_LIFETIME)
    code = secrets.token_urlsafe(32)
    await oauth_store.insert_authorization_code(
        conn,
        code_hash=_code_digest(code),
        application_id=request.application.id,
        user_id=user.id,
        redirect_uri=request.redirect_uri,
        scopes=" ".join(request.scopes),
        code_challenge=request.code_challenge,
        code_challenge_method=request.code_challenge_method,
        expires_at=now + CODE_LIFETIME,
    )
    return code


def pkce_matches(verifier: str | None, challenge: str) -> bool:
    """RFC 7636 §4.6 with S256: BASE64URL(SHA256(verifier)) == challenge."""
    if not verifier or not _PKCE_VERIFIER_RE.fullmatch(verifier):
        return False
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return hmac.compare_digest(computed, challenge)


async def exchange_authorization_code(
    conn: Connection,
    *,
    application: Application,
    code: str | None,
    redirect_uri: str | None,
    code_verifier: str | None,
    now: datetime,
) -> tuple[str, AccessToken]:
    """Trade a code for a token once; any mismatch is `invalid_grant`."""
    if not code:
        raise OAuthError("invalid_request", "The code parameter is missing.")
    digest = _code_digest(code)
    record = await oauth_store.fetch_authorization_code_for_update(conn, code_hash=digest)
    if (
        record is None
        or record.used_at is not None
        or record.expires_at <= now
        or record.application_id != application.id
    ):
        raise invalid_grant()
    # RFC 6749 §4.1.3: required when the authorization request named one; an app with a
    # single registered URI may have left it out of both requests.
    omitted_for_sole_uri = redirect_uri is None and application.redirect_uris == [
        record.redirect_uri
    ]
    if redirect_uri != record.redirect_uri and not omitted_for_sole_uri:
        raise invalid_grant()
    if record.code_challenge is not None and not pkce_matches(code_verifier, record.code_challenge):
        raise invalid_grant()
    user = await account_store.fetch_user(conn, user_id=record.user_id)
    if user is None or not await _may_sign_in(conn, user):
        raise invalid_grant()
    await oauth_store.update_authorization_code_used(conn, code_hash=digest, used_at=now)
    return await auth.issue_token(
        conn, application_id=application.id, user_id=user.id, scopes=record.scopes
    )


async def client_credentials_grant(
    conn: Connection, *, application: Application, scope: object
) -> tuple[str, AccessToken]:
    """An app-only token (no user), for endpoints that need only the app."""
    scopes = granted_scopes(application, scope)
    return await auth.issue_token(
        conn, application_id=application.id, user_id=None, scopes=" ".join(scopes)
    )


async def password_grant(
    conn: Connection, *, application: Application, user: User, scope: object
) -> tuple[str, AccessToken]:
    """A token for a user whose password was checked with `check_sign_in`."""
    scopes = granted_scopes(application, scope)
    return await auth.issue_token(
        conn, application_id=application.id, user_id=user.id, scopes=" ".join(scopes)
    )


async def revoke_token(
    conn: Connection, *, application: Application, token: str | None, now: datetime
) -> None:
    """RFC 7009: unknown tokens are not an error; another app's token is refused."""
    if not token:
        return
    record = await auth.find_token(conn, token)
    if record is None:
        return
    if record.application_id != application.id:
        raise OAuthError(
            "unauthorized_client", "You are not authorized to revoke this token", status=403
        )
    await oauth_store.update_token_revoked(conn, token_id=record.id, revoked_at=now)


# --- signing in -----------------------------------------------------------------------------------


def _buckets(login: str, address: str) -> tuple[str, str]:
    return (f"sign_in:{address}:{login.strip().casefold()[:320]}", f"sign_in:{address}")


async def _may_sign_in(conn: Connection, user: User) -> bool:
    if user.disabled or not user.approved:
        return False
    account = await account_store.fetch_account(conn, account_id=user.account_id)
    return account is not None and account.suspended_at is None


async def check_sign_in(
    conn: Connection, *, login: str | None, password: str | None, address: str, now: datetime
) -> User | None:
    """The user whose email or username and password these are, or None.

    A failure is recorded in `rate_limit_hits` (the caller must commit even then); past the
    limit every attempt is refused with RateLimited. An unknown login and a wrong password
    take the same time and give the same answer; a correct password for a suspended or
    disabled user raises Forbidden.
    """
    login = (login or "").strip()
    per_login, per_address = _buckets(login, address)
    since = now - SIGN_IN_WINDOW
    if (
        await oauth_store.count_rate_limit_hits(conn, bucket=per_login, since=since)
        >= SIGN_IN_FAILURES_PER_LOGIN
        or await oauth_store.count_rate_limit_hits(conn, bucket=per_address, since=since)
        >= SIGN_IN_FAILURES_PER_ADDRESS
    ):
        raise RateLimited("Too many failed sign-in attempts. Try again in a few minutes.")
    user = await account_store.fetch_user_by_login(conn, login=login) if login else None
    if not verify_password(None if user is None else user.password_hash, password or ""):
        for bucket in (per_login, per_address):
            await oauth_store.delete_old_rate_limit_hits(conn, bucket=bucket, before=since)
            await oauth_store.insert_rate_limit_hit(conn, bucket=bucket, hit_at=now)
        return None
    assert user is not None
    if not await _may_sign_in(conn, user):
        raise Forbidden("Your login is currently disabled")
    await oauth_store.delete_rate_limit_bucket(conn, bucket=per_login)
    await account_store.update_user(conn, user_id=user.id, changes={"last_sign_in_at": now})
    return user


def session_fingerprint(user: User) -> str:
    """Changes when the password does, so a password reset ends every signed-in session."""
    return hashlib.sha256(f"{user.id}:{user.password_hash}".encode()).hexdigest()[:24]


async def user_for_session(
    conn: Connection, *, user_id: int, fingerprint: str
) -> tuple[User, Account] | None:
    """The signed-in user of a browser session, if it is still valid and may sign in."""
    user = await account_store.fetch_user(conn, user_id=user_id)
    if user is None or not hmac.compare_digest(session_fingerprint(user), fingerprint):
        return None
    if not await _may_sign_in(conn, user):
        return None
    account = await account_store.fetch_account(conn, account_id=user.account_id)
    return None if account is None else (user, account)
