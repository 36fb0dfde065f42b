"""Registrations: invite links (CLI, admin API, the sign-up page with its limits) and
Mastodon's registration API in closed, open and approval modes."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from fediverse import auth, invites
from fediverse.config import Settings
from fediverse.errors import Forbidden
from fediverse.oauth import check_sign_in
from fediverse.storage import accounts as account_store
from fediverse.storage import invites as invite_store
from fediverse.storage.database import Database
from tests.factories import make_staff
from web.app import create_app


async def make_invite(
    database: Database, *, max_uses: int | None = None, expires_in: timedelta | None = None
) -> str:
    async with database.transaction() as conn:
        invite = await invites.create_invite(
            conn,
            created_by_user_id=None,
            max_uses=max_uses,
            expires_in=expires_in,
            now=datetime.now(UTC),
        )
    return invite.code


async def account_exists(database: Database, username: str) -> bool:
    async with database.connection() as conn:
        found = await account_store.fetch_account_by_username(conn, username=username, domain=None)
    return found is not None


async def sign_up(
    client: httpx.AsyncClient, code: str, username: str, *, csrf: bool = True
) -> httpx.Response:
    form_page = await client.get(f"/invite/{code}")
    assert form_page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', form_page.text)
    assert token is not None
    return await client.post(
        f"/invite/{code}",
        data={
            "csrf_token": token.group(1) if csrf else "forged",
            "username": username,
            "email": f"{username}@example.org",
            "password": "a long enough password",
            "password_confirmation": "a long enough password",
        },
    )


async def test_an_invite_link_shows_a_form_and_creates_an_account(
    client: httpx.AsyncClient, database: Database
) -> None:
    code = await make_invite(database)
    page = await client.get(f"/invite/{code}")
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'name="password"' in page.text
    response = await sign_up(client, code, "newbie")
    assert response.status_code == 200
    assert "Welcome, @newbie" in response.text
    assert await account_exists(database, "newbie")
    async with database.transaction() as conn:
        user = await check_sign_in(
            conn,
            login="newbie@example.org",
            password="a long enough password",
            address="198.51.100.7",
            now=datetime.now(UTC),
        )
    assert user is not None and user.approved


async def test_an_invite_stops_working_after_its_uses(
    client: httpx.AsyncClient, database: Database
) -> None:
    code = await make_invite(database, max_uses=1)
    form_page = await client.get(f"/invite/{code}")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form_page.text)
    assert csrf is not None
    assert (await sign_up(client, code, "first")).status_code == 200
    assert (await client.get(f"/invite/{code}")).status_code == 410
    late = await client.post(
        f"/invite/{code}",
        data={
            "csrf_token": csrf.group(1),
            "username": "second",
            "email": "second@example.org",
            "password": "a long enough password",
            "password_confirmation": "a long enough password",
        },
    )
    assert late.status_code == 410
    assert not await account_exists(database, "second")


async def test_the_last_use_of_an_invite_is_counted_once(database: Database) -> None:
    code = await make_invite(database, max_uses=1)
    async with database.connection() as conn:
        invite = await invite_store.fetch_invite_by_code(conn, code=code)
    assert invite is not None
    now = datetime.now(UTC)
    async with database.transaction() as conn:
        assert await invite_store.claim_invite_use(conn, invite_id=invite.id, now=now)
        assert not await invite_store.claim_invite_use(conn, invite_id=invite.id, now=now)


async def test_an_expired_invite_is_gone_and_an_unknown_one_not_found(
    client: httpx.AsyncClient, database: Database
) -> None:
    code = await make_invite(database, expires_in=timedelta(hours=1))
    async with database.transaction() as conn:
        await conn.execute(
            "UPDATE invites SET expires_at = now() - interval '1 minute' WHERE code = $1", code
        )
    assert (await client.get(f"/invite/{code}")).status_code == 410
    assert (await client.get("/invite/no-such-code")).status_code == 404


async def test_the_sign_up_form_refuses_a_forged_csrf_token(
    client: httpx.AsyncClient, database: Database
) -> None:
    code = await make_invite(database)
    response = await sign_up(client, code, "forger", csrf=False)
    assert response.status_code == 403
    assert not await account_exists(database, "forger")


async def test_a_rejected_sign_up_shows_why_and_does_not_use_up_the_invite(
    client: httpx.AsyncClient, database: Database
) -> None:
    code = await make_invite(database, max_uses=1)
    response = await sign_up(client, code, "not valid!")
    assert response.status_code == 422
    assert "Username must be" in response.text
    assert 'name="csrf_token"' in response.text
    assert (await sign_up(client, code, "valid_name")).status_code == 200


async def test_cli_invite_prints_a_working_invite_url(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "FEDIVERSE_DATABASE_URL": database_url,
        "FEDIVERSE_DOMAIN": "local.test",
        "FEDIVERSE_DATA_DIR": str(tmp_path / "data"),
        "FEDIVERSE_SECRET_KEY": "test",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fediverse.cli",
        "accounts",
        "invite",
        "--max-uses",
        "3",
        "--expires-in",
        "48",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    url = out.decode().strip().splitlines()[-1]
    match = re.fullmatch(r"https://local\.test/invite/([A-Za-z0-9_-]{16,})", url)
    assert match is not None, url
    async with database.connection() as conn:
        invite = await invite_store.fetch_invite_by_code(conn, code=match.group(1))
    assert invite is not None
    assert invite.max_uses == 3
    assert invite.expires_at is not None
    remaining = invite.expires_at - datetime.now(UTC)
    assert timedelta(hours=47) < remaining <= timedelta(hours=48)


async def test_admins_can_make_invites_over_the_api_and_others_cannot(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    admin = await make_staff(
        database, settings, "boss", role="admin", scopes="read write admin:write"
    )
    member = await make_staff(database, settings, "member", scopes="read write admin:write")
    made = await client.post("/api/v1/invites", json={"max_uses": 2}, headers=admin.headers)
    assert made.status_code == 200
    body = made.json()
    assert body["url"] == f"https://local.test/invite/{body['code']}"
    assert body["max_uses"] == 2 and body["uses"] == 0
    assert (await client.get(f"/invite/{body['code']}")).status_code == 200
    refused = await client.post("/api/v1/invites", headers=member.headers)
    assert refused.status_code == 403


@asynccontextmanager
async def client_in_mode(
    settings: Settings, database: Database, mode: str
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.with_overrides(registrations=mode), database, connect_database=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=settings.base_url) as http:
        yield http


async def app_token(database: Database) -> dict[str, str]:
    async with database.transaction() as conn:
        token, _ = await auth.issue_token(
            conn, application_id=None, user_id=None, scopes="read write"
        )
    return {"Authorization": f"Bearer {token}"}


REGISTRATION = {
    "username": "joiner",
    "email": "joiner@example.org",
    "password": "a long enough password",
    "agreement": True,
    "locale": "de",
}


async def test_registration_api_is_refused_while_registrations_are_closed(
    client: httpx.AsyncClient, database: Database
) -> None:
    response = await client.post(
        "/api/v1/accounts", json=REGISTRATION, headers=await app_token(database)
    )
    assert response.status_code == 403
    assert response.json() == {"error": "This action is not allowed"}
    assert not await account_exists(database, "joiner")
    unauthenticated = await client.post("/api/v1/accounts", json=REGISTRATION)
    assert unauthenticated.status_code == 401


async def test_open_registration_returns_a_working_token(
    settings: Settings, database: Database
) -> None:
    async with client_in_mode(settings, database, "open") as http:
        response = await http.post(
            "/api/v1/accounts", json=REGISTRATION, headers=await app_token(database)
        )
        assert response.status_code == 200, response.text
        token = response.json()
        assert token["token_type"] == "Bearer"
        assert token["scope"] == "read write"
        assert isinstance(token["created_at"], int)
        me = await http.get(
            "/api/v1/accounts/verify_credentials",
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        assert me.status_code == 200
        assert me.json()["username"] == "joiner"
    async with database.connection() as conn:
        user = await account_store.fetch_user_by_login(conn, login="joiner")
    assert user is not None and user.locale == "de" and user.approved


async def test_registration_needs_agreement_and_valid_fields(
    settings: Settings, database: Database
) -> None:
    headers = await app_token(database)
    async with client_in_mode(settings, database, "open") as http:
        no_agreement = await http.post(
            "/api/v1/accounts", json={**REGISTRATION, "agreement": False}, headers=headers
        )
        assert no_agreement.status_code == 422
        assert "Agreement" in no_agreement.json()["error"]
        bad_name = await http.post(
            "/api/v1/accounts", json={**REGISTRATION, "username": "no spaces"}, headers=headers
        )
        assert bad_name.status_code == 422
    assert not await account_exists(database, "joiner")


async def test_approval_mode_accounts_cannot_sign_in_until_approved(
    settings: Settings, database: Database
) -> None:
    async with client_in_mode(settings, database, "approval") as http:
        response = await http.post(
            "/api/v1/accounts", json=REGISTRATION, headers=await app_token(database)
        )
        assert response.status_code == 200
        user_headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        pending = await http.get("/api/v1/accounts/verify_credentials", headers=user_headers)
        assert pending.status_code == 403
        assert pending.json()["error"] == "Your login is currently pending approval"
        with pytest.raises(Forbidden):
            async with database.transaction() as conn:
                await check_sign_in(
                    conn,
                    login="joiner",
                    password="a long enough password",
                    address="198.51.100.7",
                    now=datetime.now(UTC),
                )
        async with database.transaction() as conn:
            user = await account_store.fetch_user_by_login(conn, login="joiner")
            assert user is not None and not user.approved
            await invites.approve(conn, user=user)
        approved = await http.get("/api/v1/accounts/verify_credentials", headers=user_headers)
        assert approved.status_code == 200


async def test_invited_people_skip_approval(settings: Settings, database: Database) -> None:
    code = await make_invite(database)
    async with client_in_mode(settings, database, "approval") as http:
        assert (await sign_up(http, code, "invited")).status_code == 200
    async with database.connection() as conn:
        user = await account_store.fetch_user_by_login(conn, login="invited")
    assert user is not None and user.approved
