"""OAuth 2 as Mastodon clients use it: app registration, the sign-in and consent pages,
every grant, PKCE, revocation, scopes, the sign-in rate limit, and Mastodon.py on a live server.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from fediverse import accounts as account_domain
from fediverse.config import Settings
from fediverse.storage.database import Database
from tests.factories import StaffMember, make_staff
from tests.live_server import LiveServer

OOB = "urn:ietf:wg:oauth:2.0:oob"
CALLBACK = "https://app.example/callback"
PASSWORD = "correct horse battery"


# --- helpers ----------------------------------------------------------------------------------


@dataclass
class Form:
    action: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)


class FormParser(HTMLParser):
    """Collects each <form>'s action, inputs and submit buttons, as a browser would send them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._current: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._current = Form(action=values.get("action", ""))
            self.forms.append(self._current)
        elif self._current is not None and tag == "input" and "name" in values:
            self._current.fields[values["name"]] = values.get("value", "")
        elif self._current is not None and tag == "button" and "name" in values:
            self._current.buttons.append((values["name"], values.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def forms_in(html: str) -> list[Form]:
    parser = FormParser()
    parser.feed(html)
    return parser.forms


def form_posting_to(html: str, action: str) -> Form:
    for form in forms_in(html):
        if form.action == action:
            return form
    raise AssertionError(f"no form posting to {action} in:\n{html}")


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def register_app(
    client: httpx.AsyncClient,
    *,
    redirect_uris: str = f"{CALLBACK}\n{OOB}\ncom.example.app:/oauth",
    scopes: str = "read write profile",
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/apps",
        data={"client_name": "Test App", "redirect_uris": redirect_uris, "scopes": scopes},
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def authorize_url(app: dict[str, Any], **overrides: str) -> str:
    params = {
        "response_type": "code",
        "client_id": app["client_id"],
        "redirect_uri": CALLBACK,
        "scope": "read",
        "state": "opaque-state",
    }
    params.update(overrides)
    return "/oauth/authorize?" + urlencode(params)


async def sign_in_through_form(
    client: httpx.AsyncClient, url: str, login: str, password: str = PASSWORD
) -> httpx.Response:
    """GET the authorization URL, submit the sign-in form; returns the form POST's response."""
    page = await client.get(url)
    assert page.status_code == 200, page.text
    form = form_posting_to(page.text, "/oauth/sign_in")
    return await client.post(
        "/oauth/sign_in", data={**form.fields, "login": login, "password": password}
    )


async def consent(
    client: httpx.AsyncClient, url: str, login: str, *, decision: str = "authorize"
) -> httpx.Response:
    """Sign in (if the form shows), then press Authorize or Deny on the consent page."""
    page = await client.get(url)
    if "/oauth/sign_in" in page.text:
        signed_in = await sign_in_through_form(client, url, login)
        assert signed_in.status_code == 303, signed_in.text
        page = await client.get(signed_in.headers["location"])
    assert page.status_code == 200, page.text
    form = form_posting_to(page.text, "/oauth/authorize")
    assert form.buttons == [("decision", "authorize"), ("decision", "deny")]
    return await client.post("/oauth/authorize", data={**form.fields, "decision": decision})


def redirect_query(response: httpx.Response, expected_base: str) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(expected_base + "?"), location
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


async def authorization_code(
    client: httpx.AsyncClient, app: dict[str, Any], login: str, **overrides: str
) -> str:
    response = await consent(client, authorize_url(app, **overrides), login)
    query = redirect_query(response, overrides.get("redirect_uri", CALLBACK))
    assert query["state"] == overrides.get("state", "opaque-state")
    return query["code"]


async def exchange(
    client: httpx.AsyncClient, app: dict[str, Any], code: str, **extra: str
) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
    }
    data.update(extra)
    return await client.post("/oauth/token", data=data)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def alice(database: Database, settings: Settings) -> StaffMember:
    return await make_staff(database, settings, "alice")


# --- app registration -------------------------------------------------------------------------


async def test_registering_an_app_returns_mastodons_credential_application(
    client: httpx.AsyncClient,
) -> None:
    uris = f"{CALLBACK}\n{OOB} com.example.app:/oauth"
    response = await client.post(
        "/api/v1/apps",
        data={
            "client_name": "Test App",
            "redirect_uris": uris,
            "scopes": "read write:statuses",
            "website": "https://app.example",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "Test App"
    assert body["website"] == "https://app.example"
    assert body["scopes"] == ["read", "write:statuses"]
    assert body["redirect_uris"] == [CALLBACK, OOB, "com.example.app:/oauth"]
    assert body["redirect_uri"] == f"{CALLBACK}\n{OOB}\ncom.example.app:/oauth"
    assert isinstance(body["id"], str) and body["id"].isdigit()
    assert len(body["client_id"]) >= 32 and len(body["client_secret"]) >= 32
    assert body["client_id"] != body["client_secret"]
    assert body["client_secret_expires_at"] == 0
    # The server's VAPID public key: base64url of an uncompressed P-256 point (65 bytes).
    instance = (await client.get("/api/v2/instance")).json()
    assert body["vapid_key"] == instance["configuration"]["vapid"]["public_key"]
    assert len(body["vapid_key"]) == 87


async def test_registering_an_app_accepts_json_with_a_list_of_redirect_uris(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/v1/apps",
        json={"client_name": "Ivory", "redirect_uris": ["com.tapbots.Ivory.1:/request_token", OOB]},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["redirect_uris"] == ["com.tapbots.Ivory.1:/request_token", OOB]
    assert body["scopes"] == ["read"]  # Mastodon's default
    assert body["website"] is None


async def test_registering_an_app_with_an_unknown_scope_is_a_422(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/v1/apps",
        data={"client_name": "x", "redirect_uris": OOB, "scopes": "read bogus"},
    )
    assert response.status_code == 422
    assert "bogus" in response.json()["error"]


@pytest.mark.parametrize(
    "data",
    [
        {"redirect_uris": OOB},
        {"client_name": "", "redirect_uris": OOB},
        {"client_name": "x"},
        {"client_name": "x", "redirect_uris": "  "},
        {"client_name": "x", "redirect_uris": "not a uri"},
        {"client_name": "x", "redirect_uris": "javascript:alert(1)"},
        {"client_name": "x", "redirect_uris": "https://app.example/cb#fragment"},
    ],
)
async def test_registering_an_app_without_a_name_or_valid_redirect_uris_is_a_422(
    client: httpx.AsyncClient, data: dict[str, str]
) -> None:
    response = await client.post("/api/v1/apps", data=data)
    assert response.status_code == 422
    assert response.json()["error"].startswith("Validation failed")


async def test_metadata_document_describes_the_endpoints(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    body = response.json()
    base = "https://local.test"
    assert body["issuer"] == f"{base}/"
    assert body["authorization_endpoint"] == f"{base}/oauth/authorize"
    assert body["token_endpoint"] == f"{base}/oauth/token"
    assert body["revocation_endpoint"] == f"{base}/oauth/revoke"
    assert body["userinfo_endpoint"] == f"{base}/oauth/userinfo"
    assert body["app_registration_endpoint"] == f"{base}/api/v1/apps"
    assert body["response_types_supported"] == ["code"]
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert set(body["grant_types_supported"]) >= {"authorization_code", "client_credentials"}
    assert {"read", "write", "profile", "read:statuses"} <= set(body["scopes_supported"])
    assert "client_secret_basic" in body["token_endpoint_auth_methods_supported"]


# --- authorization code flow ------------------------------------------------------------------


async def test_authorization_code_flow_with_pkce_gives_a_working_user_token(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    app = await register_app(client)
    verifier, challenge = pkce_pair()
    code = await authorization_code(
        client,
        app,
        "alice",
        scope="read profile",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    response = await exchange(client, app, code, code_verifier=verifier)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "read profile"
    assert isinstance(body["created_at"], int)
    assert response.headers["cache-control"] == "no-store"

    me = await client.get("/oauth/userinfo", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["sub"] == alice.account.uri
    assert me.json()["preferred_username"] == "alice"
    assert me.json()["iss"] == "https://local.test/"
    assert me.json()["profile"] == "https://local.test/@alice"
    assert me.json()["picture"].startswith("https://local.test/")

    creds = await client.get(
        "/api/v1/apps/verify_credentials", headers=bearer(body["access_token"])
    )
    assert creds.status_code == 200
    assert creds.json()["name"] == "Test App"
    assert "client_secret" not in creds.json()


async def test_wrong_or_missing_pkce_verifier_is_an_invalid_grant(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    app = await register_app(client)
    verifier, challenge = pkce_pair()
    code = await authorization_code(
        client, app, "alice", code_challenge=challenge, code_challenge_method="S256"
    )
    wrong = await exchange(client, app, code, code_verifier=pkce_pair()[0])
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    assert wrong.json()["error_description"]
    missing = await exchange(client, app, code)
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_grant"
    # The rightful client, holding the verifier, still gets its token.
    right = await exchange(client, app, code, code_verifier=verifier)
    assert right.status_code == 200


async def test_plain_pkce_method_is_refused_back_at_the_redirect_uri(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    app = await register_app(client)
    response = await client.get(
        authorize_url(app, code_challenge=pkce_pair()[1], code_challenge_method="plain")
    )
    query = redirect_query(response, CALLBACK)
    assert query["error"] == "invalid_request"
    assert query["state"] == "opaque-state"


async def test_authorization_code_flow_without_pkce_works_and_codes_are_single_use(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    app = await register_app(client)
    code = await authorization_code(client, app, "alice", scope="read write")
    first = await exchange(client, app, code)
    assert first.status_code == 200
    assert first.json()["scope"] == "read write"
    again = await exchange(client, app, code)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


async def test_expired_code_is_refused(
    client: httpx.AsyncClient, alice: StaffMember, database: Database
) -> None:
    app = await register_app(client)
    code = await authorization_code(client, app, "alice")
    async with database.connection() as conn:
        stored = await conn.fetchval(
            "SELECT expires_at - created_at FROM oauth_authorization_codes"
        )
        assert stored.total_seconds() == pytest.approx(600, abs=5)
        await conn.execute(
            "UPDATE oauth_authorization_codes SET expires_at = now() - interval '1 second'"
        )
    response = await exchange(client, app, code)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_code_exchange_with_another_redirect_uri_or_client_is_refused(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    app = await register_app(client)
    other = await register_app(client)
    code = await authorization_code(client, app, "alice")
    mismatch = await exchange(client, app, code, redirect_uri=OOB)
    assert mismatch.status_code == 400
    assert mismatch.json()["error"] == "invalid_grant"
    stolen = await exchange(
        client, app, code, client_id=other["client_id"], client_secret=other["client_secret"]
    )
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"


async def test_unregistered_redirect_uri_shows_an_error_page_and_never_redirects(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    app = await register_app(client)
    for uri in ("https://evil.example/steal", CALLBACK + "/extra", CALLBACK.upper()):
        response = await client.get(authorize_url(app, redirect_uri=uri))
        assert response.status_code == 400
        assert "location" not in response.headers
        assert response.headers["content-type"].startswith("text/html")
        assert "redirect URI" in response.text
        assert "evil.example" not in response.text


async def test_redirect_uri_may_be_left_out_only_when_the_app_registered_one(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    single = await register_app(client, redirect_uris=CALLBACK)
    url = "/oauth/authorize?" + urlencode(
        {"response_type": "code", "client_id": single["client_id"], "scope": "read"}
    )
    code = redirect_query(await consent(client, url, "alice"), CALLBACK)["code"]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": single["client_id"],
        "client_secret": single["client_secret"],
    }
    assert (await client.post("/oauth/token", data=data)).status_code == 200
    several = await register_app(client)
    page = await client.get(
        "/oauth/authorize?"
        + urlencode({"response_type": "code", "client_id": several["client_id"]})
    )
    assert page.status_code == 400
    assert "location" not in page.headers


async def test_unknown_client_id_shows_an_error_page(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/oauth/authorize?"
        + urlencode({"response_type": "code", "client_id": "nope", "redirect_uri": CALLBACK})
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "not registered" in response.text


async def test_scope_the_app_did_not_register_is_sent_back_as_invalid_scope(
    client: httpx.AsyncClient,
) -> None:
    app = await register_app(client, scopes="read")
    response = await client.get(authorize_url(app, scope="read write"))
    query = redirect_query(response, CALLBACK)
    assert query["error"] == "invalid_scope"
    assert query["state"] == "opaque-state"


async def test_custom_scheme_redirect_uri_receives_the_code(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    app = await register_app(client)
    response = await consent(
        client, authorize_url(app, redirect_uri="com.example.app:/oauth"), "alice"
    )
    query = redirect_query(response, "com.example.app:/oauth")
    token = await exchange(client, app, query["code"], redirect_uri="com.example.app:/oauth")
    assert token.status_code == 200


async def test_out_of_band_redirect_shows_the_code_on_a_page(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    app = await register_app(client)
    response = await consent(client, authorize_url(app, redirect_uri=OOB), "alice")
    assert response.status_code == 200
    assert "location" not in response.headers
    match = re.search(r'id="authorization-code">([^<]+)<', response.text)
    assert match is not None
    token = await exchange(client, app, match.group(1), redirect_uri=OOB)
    assert token.status_code == 200


async def test_signed_in_user_goes_straight_to_consent_but_force_login_shows_the_form(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    app = await register_app(client)
    await authorization_code(client, app, "alice")  # signs in, cookie kept by the client
    again = await client.get(authorize_url(app))
    assert 'action="/oauth/authorize"' in again.text
    assert "@alice" in again.text
    assert 'action="/oauth/sign_in"' not in again.text
    forced = await client.get(authorize_url(app, force_login="true"))
    assert 'action="/oauth/sign_in"' in forced.text
    assert 'name="password"' in forced.text
    not_forced = await client.get(authorize_url(app, force_login="False"))
    assert 'action="/oauth/sign_in"' not in not_forced.text


async def test_another_account_can_sign_in_with_force_login(
    client: httpx.AsyncClient, alice: StaffMember, database: Database, settings: Settings
) -> None:
    await make_staff(database, settings, "bob")
    app = await register_app(client)
    await authorization_code(client, app, "alice")
    signed_in = await sign_in_through_form(
        client, authorize_url(app, force_login="true", scope="profile"), "bob"
    )
    assert signed_in.status_code == 303
    assert "force_login" not in signed_in.headers["location"]
    page = await client.get(signed_in.headers["location"])
    assert "@bob" in page.text
    form = form_posting_to(page.text, "/oauth/authorize")
    code = redirect_query(
        await client.post("/oauth/authorize", data={**form.fields, "decision": "authorize"}),
        CALLBACK,
    )["code"]
    token = (await exchange(client, app, code)).json()["access_token"]
    me = await client.get("/oauth/userinfo", headers=bearer(token))
    assert me.json()["preferred_username"] == "bob"


async def test_deny_redirects_with_access_denied_and_issues_no_code(
    client: httpx.AsyncClient, alice: StaffMember, database: Database
) -> None:
    app = await register_app(client)
    response = await consent(client, authorize_url(app), "alice", decision="deny")
    query = redirect_query(response, CALLBACK)
    assert query["error"] == "access_denied"
    assert query["state"] == "opaque-state"
    assert "code" not in query
    async with database.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM oauth_authorization_codes") == 0


async def test_forms_without_the_csrf_token_are_refused(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    app = await register_app(client)
    page = await client.get(authorize_url(app))
    form = form_posting_to(page.text, "/oauth/sign_in")
    fields = {**form.fields, "login": "alice", "password": PASSWORD}
    forged = await client.post("/oauth/sign_in", data={**fields, "csrf_token": "forged"})
    assert forged.status_code == 403
    signed_in = await client.post("/oauth/sign_in", data=fields)
    assert signed_in.status_code == 303
    consent_page = await client.get(signed_in.headers["location"])
    consent_form = form_posting_to(consent_page.text, "/oauth/authorize")
    fields = {**consent_form.fields, "decision": "authorize"}
    # The token from before signing in no longer counts: sign-in rotates it.
    stale = await client.post(
        "/oauth/authorize", data={**fields, "csrf_token": form.fields["csrf_token"]}
    )
    assert stale.status_code == 403
    assert "location" not in stale.headers
    fresh = await client.post("/oauth/authorize", data=fields)
    assert fresh.status_code == 302


async def test_a_tampered_session_cookie_is_ignored(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    app = await register_app(client)
    await authorization_code(client, app, "alice")
    cookie = client.cookies.get("fediverse_session")
    assert cookie is not None
    payload, _, signature = cookie.partition(".")
    client.cookies.clear()
    client.cookies.set("fediverse_session", payload + "." + signature[::-1], domain="local.test")
    page = await client.get(authorize_url(app))
    assert 'action="/oauth/sign_in"' in page.text


async def test_password_change_ends_the_signed_in_session(
    client: httpx.AsyncClient, alice: StaffMember, database: Database
) -> None:
    app = await register_app(client)
    await authorization_code(client, app, "alice")
    async with database.transaction() as conn:
        await account_domain.reset_password(conn, alice.user, "another long password")
    page = await client.get(authorize_url(app))
    assert 'action="/oauth/sign_in"' in page.text


# --- other grants, client authentication, revocation ------------------------------------------


async def test_client_credentials_token_verifies_the_app_but_is_no_user(
    client: httpx.AsyncClient, database: Database
) -> None:
    app = await register_app(client)
    response = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": "read",
        },
    )
    assert response.status_code == 200
    token = response.json()["access_token"]
    assert response.json()["scope"] == "read"
    creds = await client.get("/api/v1/apps/verify_credentials", headers=bearer(token))
    assert creds.status_code == 200
    assert creds.json()["name"] == "Test App"
    assert creds.json()["scopes"] == ["read", "write", "profile"]
    me = await client.get("/oauth/userinfo", headers=bearer(token))
    assert me.status_code == 422
    assert me.json() == {"error": "This method requires an authenticated user"}
    home = await client.get("/api/v1/timelines/home", headers=bearer(token))
    assert home.status_code == 422
    assert home.json() == {"error": "This method requires an authenticated user"}
    async with database.connection() as conn:
        assert await conn.fetchval("SELECT user_id FROM oauth_access_tokens") is None


async def test_client_authentication_with_http_basic(client: httpx.AsyncClient) -> None:
    app = await register_app(client)
    response = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(app["client_id"], app["client_secret"]),
    )
    assert response.status_code == 200
    # No scope asked for: the app's registered scopes.
    assert response.json()["scope"] == "read write profile"
    wrong = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(app["client_id"], "wrong"),
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize("secret", ["wrong", ""])
async def test_wrong_client_secret_is_invalid_client(
    client: httpx.AsyncClient, alice: StaffMember, secret: str
) -> None:
    app = await register_app(client)
    code = await authorization_code(client, app, "alice")
    response = await exchange(client, app, code, client_secret=secret)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.json()["error_description"]
    # The failed attempt did not use up the code.
    assert (await exchange(client, app, code)).status_code == 200


async def test_unknown_grant_type_and_missing_grant_type(client: httpx.AsyncClient) -> None:
    app = await register_app(client)
    credentials = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    unknown = await client.post("/oauth/token", data={**credentials, "grant_type": "implicit"})
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "unsupported_grant_type"
    missing = await client.post("/oauth/token", data=credentials)
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"


@pytest.mark.parametrize("login", ["alice", "alice@example.org", "ALICE@Example.org"])
async def test_password_grant_accepts_username_or_email(
    client: httpx.AsyncClient, alice: StaffMember, login: str
) -> None:
    app = await register_app(client)
    response = await client.post(
        "/oauth/token",
        json={
            "grant_type": "password",
            "username": login,
            "password": PASSWORD,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": "read profile",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read profile"
    me = await client.get("/oauth/userinfo", headers=bearer(response.json()["access_token"]))
    assert me.json()["sub"] == alice.account.uri


async def test_revoked_token_is_refused(client: httpx.AsyncClient, alice: StaffMember) -> None:
    app = await register_app(client)
    code = await authorization_code(client, app, "alice")
    token = (await exchange(client, app, code)).json()["access_token"]
    assert (
        await client.get("/api/v1/apps/verify_credentials", headers=bearer(token))
    ).status_code == 200
    other = await register_app(client)
    refused = await client.post(
        "/oauth/revoke",
        data={
            "token": token,
            "client_id": other["client_id"],
            "client_secret": other["client_secret"],
        },
    )
    assert refused.status_code == 403
    assert (
        await client.get("/api/v1/apps/verify_credentials", headers=bearer(token))
    ).status_code == 200
    response = await client.post(
        "/oauth/revoke",
        data={"token": token, "client_id": app["client_id"], "client_secret": app["client_secret"]},
    )
    assert response.status_code == 200
    assert response.json() == {}
    after = await client.get("/api/v1/apps/verify_credentials", headers=bearer(token))
    assert after.status_code == 401
    unknown = await client.post(
        "/oauth/revoke",
        data={
            "token": "nope",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        },
    )
    assert unknown.status_code == 200


async def test_app_verify_credentials_without_a_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/apps/verify_credentials")
    assert response.status_code == 401


# --- scopes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "status"),
    [
        ("profile", 200),
        ("read", 200),
        ("read:accounts", 200),
        ("write", 403),
        ("read:statuses", 403),
    ],
)
async def test_userinfo_needs_profile_or_read_accounts_scope(
    client: httpx.AsyncClient, database: Database, settings: Settings, scopes: str, status: int
) -> None:
    app = await register_app(client, scopes="read write profile")
    await make_staff(database, settings, "carol")
    response = await client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": "carol",
            "password": PASSWORD,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": scopes,
        },
    )
    assert response.status_code == 200, response.text
    me = await client.get("/oauth/userinfo", headers=bearer(response.json()["access_token"]))
    assert me.status_code == status
    if status == 403:
        assert me.json() == {"error": "This action is outside the authorized scopes"}


async def test_read_only_token_from_the_code_flow_cannot_post(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    app = await register_app(client)
    read_only = await exchange(client, app, await authorization_code(client, app, "alice"))
    headers = bearer(read_only.json()["access_token"])
    response = await client.post("/api/v1/statuses", data={"status": "hi"}, headers=headers)
    assert response.status_code == 403
    assert response.json() == {"error": "This action is outside the authorized scopes"}


async def test_token_scope_cannot_exceed_the_apps_scopes(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    app = await register_app(client, scopes="read")
    response = await client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": "alice",
            "password": PASSWORD,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": "read write",
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


# --- sign-in failures and rate limiting --------------------------------------------------------


async def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: httpx.AsyncClient, alice: StaffMember
) -> None:
    app = await register_app(client)
    answers = []
    for login, password in (("alice", "wrong password"), ("nobody@example.org", PASSWORD)):
        page = await sign_in_through_form(client, authorize_url(app), login, password)
        assert page.status_code == 401
        answers.append(re.sub(r'value="[^"]*"', "", page.text))
        assert "Invalid email or password." in page.text
    assert answers[0].replace("alice", "LOGIN") == answers[1].replace("nobody@example.org", "LOGIN")
    grants = []
    for login, password in (("alice", "wrong password"), ("nobody", PASSWORD)):
        response = await client.post(
            "/oauth/token",
            data={
                "grant_type": "password",
                "username": login,
                "password": password,
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
            },
        )
        grants.append((response.status_code, response.json()))
    assert grants[0] == grants[1]
    assert grants[0][0] == 400 and grants[0][1]["error"] == "invalid_grant"


async def test_five_failed_sign_ins_lock_out_that_login_from_that_address(
    client: httpx.AsyncClient, alice: StaffMember, database: Database
) -> None:
    app = await register_app(client)
    for _ in range(5):
        page = await sign_in_through_form(client, authorize_url(app), "alice", "wrong password")
        assert page.status_code == 401
    limited = await sign_in_through_form(client, authorize_url(app), "alice", PASSWORD)
    assert limited.status_code == 429
    assert "Too many failed sign-in attempts" in limited.text
    grant = await client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": "alice",
            "password": PASSWORD,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        },
    )
    assert grant.status_code == 429
    # The limit is kept in the database, shared by every process, and expires with its window.
    async with database.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM rate_limit_hits") >= 5
        await conn.execute("UPDATE rate_limit_hits SET hit_at = hit_at - interval '6 minutes'")
    page = await sign_in_through_form(client, authorize_url(app), "alice", PASSWORD)
    assert page.status_code == 303


async def test_suspended_or_disabled_users_cannot_sign_in(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    app = await register_app(client)
    dave = await make_staff(database, settings, "dave")
    erin = await make_staff(database, settings, "erin")
    async with database.transaction() as conn:
        await account_domain.set_suspended(conn, dave.account, True)
        await conn.execute("UPDATE users SET disabled = true WHERE id = $1", erin.user.id)
    for login in ("dave", "erin"):
        page = await sign_in_through_form(client, authorize_url(app), login)
        assert page.status_code == 403
        assert "disabled" in page.text
        grant = await client.post(
            "/oauth/token",
            data={
                "grant_type": "password",
                "username": login,
                "password": PASSWORD,
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
            },
        )
        assert grant.status_code == 400
        assert grant.json()["error"] == "invalid_grant"


# --- a real server and a real client library ---------------------------------------------------


def test_mastodon_py_registers_and_logs_in_on_a_live_server(live_server: LiveServer) -> None:
    from mastodon import Mastodon

    base = live_server.base_url
    callback = "http://127.0.0.1:9/callback"
    client_id, client_secret = Mastodon.create_app(
        "Mastodon.py test",
        scopes=["read", "write", "profile"],
        redirect_uris=[OOB, callback],
        website="https://example.org",
        api_base_url=base,
    )
    assert live_server.admin_email and live_server.admin_password

    # Password grant, as scripts use it.
    scripted = Mastodon(
        client_id=client_id,
        client_secret=client_secret,
        api_base_url=base,
        version_check_mode="none",
    )
    scripted.log_in(
        username=live_server.admin_email,
        password=live_server.admin_password,
        scopes=["read", "write"],
        allow_http=True,
    )
    assert scripted.app_verify_credentials()["name"] == "Mastodon.py test"

    # Authorization-code flow, driving the HTML pages like a browser without JavaScript.
    app = Mastodon(
        client_id=client_id,
        client_secret=client_secret,
        api_base_url=base,
        version_check_mode="none",
    )
    url = app.auth_request_url(
        redirect_uris=callback, scopes=["read", "profile"], state="s-123", allow_http=True
    )
    assert url.startswith(f"{base}/oauth/authorize?")
    with httpx.Client(base_url=base, timeout=10) as browser:
        page = browser.get(url)
        assert page.status_code == 200
        form = form_posting_to(page.text, "/oauth/sign_in")
        signed_in = browser.post(
            "/oauth/sign_in",
            data={
                **form.fields,
                "login": live_server.admin_email,
                "password": live_server.admin_password,
            },
        )
        assert signed_in.status_code == 303, signed_in.text
        consent_page = browser.get(signed_in.headers["location"])
        consent_form = form_posting_to(consent_page.text, "/oauth/authorize")
        decided = browser.post(
            "/oauth/authorize", data={**consent_form.fields, "decision": "authorize"}
        )
    query = redirect_query(decided, callback)
    assert query["state"] == "s-123"
    token = app.log_in(
        code=query["code"], redirect_uri=callback, scopes=["read", "profile"], allow_http=True
    )
    assert token
    assert app.app_verify_credentials()["name"] == "Mastodon.py test"
    # Mastodon.py's oauth_userinfo() insists on https, so ask directly with the token.
    me = httpx.get(f"{base}/oauth/userinfo", headers=bearer(token), timeout=10)
    assert me.json()["preferred_username"] == "admin"
