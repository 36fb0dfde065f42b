"""The browser session of HTML pages (sign-in, consent): a signed cookie with a CSRF token.

The cookie holds JSON signed with HMAC-SHA256 under a key derived from `settings.secret_key`;
it carries who signed in (user id and a fingerprint that changes with the password) and the
CSRF token every POST form must echo back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field

import orjson
from starlette.requests import Request
from starlette.responses import Response

from fediverse.errors import Forbidden
from web.state import settings_of

COOKIE_NAME = "fediverse_session"
MAX_AGE_SECONDS = 14 * 24 * 3600
CSRF_FIELD = "csrf_token"


@dataclass
class Session:
    """What the cookie says; `changed` marks it for writing back on the response."""

    csrf_token: str
    user_id: int | None = None
    fingerprint: str | None = None
    issued_at: int = field(default_factory=lambda: int(time.time()))
    changed: bool = False

    def sign_in(self, user_id: int, fingerprint: str) -> None:
        # A fresh CSRF token at sign-in, so a token seen before signing in is worthless after.
        self.user_id = user_id
        self.fingerprint = fingerprint
        self.csrf_token = secrets.token_urlsafe(32)
        self.issued_at = int(time.time())
        self.changed = True

    def sign_out(self) -> None:
        self.user_id = None
        self.fingerprint = None
        self.csrf_token = secrets.token_urlsafe(32)
        self.changed = True


def _key(request: Request) -> bytes:
    secret = settings_of(request).secret_key.encode()
    return hmac.new(secret, b"fediverse web session v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())


def _decode(request: Request, raw: str) -> Session | None:
    payload, _, signature = raw.partition(".")
    if not payload or not signature:
        return None
    if not hmac.compare_digest(_sign(_key(request), payload), signature):
        return None
    try:
        data = orjson.loads(_unb64(payload))
        session = Session(
            csrf_token=str(data["c"]),
            user_id=None if data.get("u") is None else int(data["u"]),
            fingerprint=data.get("f"),
            issued_at=int(data["t"]),
        )
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None
    if session.issued_at + MAX_AGE_SECONDS < time.time():
        return None
    return session


def load_session(request: Request) -> Session:
    """The request's session, or a new anonymous one (marked changed so it gets saved)."""
    cached = request.scope.get("fediverse.session")
    if isinstance(cached, Session):
        return cached
    raw = request.cookies.get(COOKIE_NAME)
    session = _decode(request, raw) if raw else None
    if session is None:
        session = Session(csrf_token=secrets.token_urlsafe(32), changed=True)
    request.scope["fediverse.session"] = session
    return session


def save_session(request: Request, response: Response, session: Session) -> None:
    """Write the cookie when the session changed."""
    if not session.changed:
        return
    data = {
        "c": session.csrf_token,
        "u": session.user_id,
        "f": session.fingerprint,
        "t": session.issued_at,
    }
    payload = _b64(orjson.dumps(data))
    response.set_cookie(
        COOKIE_NAME,
        f"{payload}.{_sign(_key(request), payload)}",
        max_age=MAX_AGE_SECONDS,
        path="/",
        secure=settings_of(request).scheme == "https",
        httponly=True,
        samesite="lax",
    )


def check_csrf(session: Session, submitted: str | None) -> None:
    """Refuse a form whose CSRF token is not this session's."""
    if not submitted or not hmac.compare_digest(session.csrf_token, submitted):
        raise Forbidden(
            "This form has expired or was not sent from this site. Go back, reload and try again."
        )
