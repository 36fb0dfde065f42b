"""The admin console for federation control, driven in headless Chromium against a real server.

Browser tests sign in through the form of a live `fediverse serve` and click through the pages;
access and CSRF checks use plain httpx on the ASGI app.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from fediverse import federation_rules as rules
from fediverse import ids
from fediverse.config import Settings
from fediverse.storage import deliveries as delivery_store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Database
from tests.browser import Browser, headless_chromium
from tests.factories import make_staff
from tests.live_server import LiveServer
from tests.test_publishing import make_follow, make_remote

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


# --- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def browser(live_server: LiveServer) -> Iterator[Browser]:
    with headless_chromium(live_server.base_url) as opened:
        yield opened


def sign_in_in_browser(browser: Browser, login: str, password: str) -> None:
    browser.open("/admin")
    assert browser.path.startswith("/admin/sign_in")
    browser.fill("login", login)
    browser.fill("password", password)
    browser.click("Sign in")


def sign_in_as_admin(browser: Browser, server: LiveServer) -> None:
    assert server.admin_email and server.admin_password
    sign_in_in_browser(browser, server.admin_email, server.admin_password)
    assert browser.path == "/admin/federation", browser.text()


def csrf_token(html: str) -> str:
    match = _CSRF.search(html)
    assert match, html
    return match.group(1)


async def sign_in_with_httpx(client: httpx.AsyncClient, login: str) -> httpx.Response:
    """Sign in through the form; returns the response of the POST."""
    form = await client.get("/admin/sign_in")
    return await client.post(
        "/admin/sign_in",
        data={
            "csrf_token": csrf_token(form.text),
            "login": login,
            "password": PASSWORD,
            "next": "/admin/federation",
        },
    )


async def audit_actions(database: Database) -> list[tuple[str, str]]:
    async with database.connection() as conn:
        return [(entry.action, entry.target) for entry in await rules.list_audit(conn, limit=100)]


async def local_follows_remote(
    database: Database, settings: Settings, username: str, remote: Account
) -> None:
    staff = await make_staff(database, settings, username)
    await make_follow(database, staff.account, remote)


async def remote_follows_local(
    database: Database, settings: Settings, username: str, remote: Account
) -> None:
    staff = await make_staff(database, settings, username)
    await make_follow(database, remote, staff.account)


# --- who may enter ------------------------------------------------------------------------------


async def test_visitor_who_is_not_signed_in_is_sent_to_the_sign_in_form(
    browser: Browser,
) -> None:
    browser.open("/admin/federation/audit")
    assert browser.path == "/admin/sign_in?next=%2Fadmin%2Ffederation%2Faudit"
    assert "Sign in to the admin console" in browser.text()


async def test_admin_signs_in_through_the_form_and_lands_on_the_page_that_asked(
    browser: Browser, live_server: LiveServer
) -> None:
    browser.open("/admin/federation/audit")
    browser.fill("login", live_server.admin_email or "")
    browser.fill("password", live_server.admin_password or "")
    browser.click("Sign in")
    assert browser.path == "/admin/federation/audit"
    assert "Audit log" in browser.text("h1")
    browser.open("/admin")
    assert browser.path == "/admin/federation"
    assert browser.text("#current-mode") == "open"


async def test_wrong_password_is_refused_on_the_sign_in_form(
    browser: Browser, live_server: LiveServer
) -> None:
    sign_in_in_browser(browser, live_server.admin_email or "", "not the password")
    assert browser.path.startswith("/admin/sign_in")
    assert browser.exists("p.error")
    browser.open("/admin/federation")
    assert browser.path.startswith("/admin/sign_in")


async def test_staff_member_without_a_staff_role_gets_403(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await make_staff(database, settings, "carol")
    signed_in = await sign_in_with_httpx(client, "carol")
    assert signed_in.status_code == 303
    page = await client.get("/admin/federation")
    assert page.status_code == 403
    assert "for admins and moderators" in page.text


async def test_unauthenticated_request_is_redirected_to_sign_in(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/admin/federation/requests")
    assert response.status_code == 303
    assert response.headers["location"] == ("/admin/sign_in?next=%2Fadmin%2Ffederation%2Frequests")
    refused = await client.post("/admin/federation/allows", data={"domain": "peer.example"})
    assert refused.status_code == 403


async def test_post_without_the_csrf_token_is_refused_with_403(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await make_staff(database, settings, "root", role="admin")
    assert (await sign_in_with_httpx(client, "root")).status_code == 303
    page = await client.get("/admin/federation")
    assert page.status_code == 200
    missing = await client.post("/admin/federation/allows", data={"domain": "peer.example"})
    wrong = await client.post(
        "/admin/federation/allows", data={"domain": "peer.example", "csrf_token": "forged"}
    )
    assert (missing.status_code, wrong.status_code) == (403, 403)
    async with database.connection() as conn:
        assert await rules.list_rules(conn) == []
    accepted = await client.post(
        "/admin/federation/allows",
        data={"domain": "peer.example", "csrf_token": csrf_token(page.text)},
    )
    assert accepted.status_code == 303
    async with database.connection() as conn:
        assert [rule.domain for rule in await rules.list_rules(conn)] == ["peer.example"]


async def test_sign_in_form_without_the_csrf_token_is_refused(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await make_staff(database, settings, "root", role="admin")
    response = await client.post(
        "/admin/sign_in", data={"login": "root", "password": PASSWORD, "next": "/admin"}
    )
    assert response.status_code == 403
    assert (await client.get("/admin/federation")).status_code == 303


async def test_moderator_may_read_the_console_but_not_change_it(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await make_staff(database, settings, "mod", role="moderator")
    assert (await sign_in_with_httpx(client, "mod")).status_code == 303
    page = await client.get("/admin/federation")
    assert page.status_code == 200
    assert 'action="/admin/federation/allows"' not in page.text
    refused = await client.post(
        "/admin/federation/allows",
        data={"domain": "peer.example", "csrf_token": csrf_token(page.text)},
    )
    assert refused.status_code == 403
    async with database.connection() as conn:
        assert await rules.list_rules(conn) == []


async def test_redirect_after_sign_in_never_leaves_the_console(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await make_staff(database, settings, "root", role="admin")
    form = await client.get("/admin/sign_in")
    response = await client.post(
        "/admin/sign_in",
        data={
            "csrf_token": csrf_token(form.text),
            "login": "root",
            "password": PASSWORD,
            "next": "https://evil.example/admin",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin"


# --- the federation pages in a browser ----------------------------------------------------------


async def test_switching_to_allowlist_mode_shows_the_impact_first(
    browser: Browser, live_server: LiveServer, database: Database, settings: Settings
) -> None:
    friend = await make_remote(database, "friend", "peer.example")
    stranger = await make_remote(database, "stranger", "far.example")
    await local_follows_remote(database, settings, "alice", stranger)
    await remote_follows_local(database, settings, "bob", stranger)
    await local_follows_remote(database, settings, "dora", friend)
    sign_in_as_admin(browser, live_server)
    browser.fill("domain", "peer.example", within="#allow-form")
    browser.click("Allow", within="#allow-form")
    assert "peer.example is allowed." in browser.text(".notice")

    browser.click("Switch to allowlist mode…")
    assert browser.path == "/admin/federation/mode?mode=allowlist"
    preview = browser.text("#mode-confirm")
    assert "@alice follows stranger@far.example" in preview
    assert "stranger@far.example follows @bob" in preview
    assert "peer.example" not in preview
    async with database.connection() as conn:
        assert await rules.read_mode(conn) == rules.Mode.OPEN

    browser.click("Switch to allowlist mode")
    assert browser.path.startswith("/admin/federation?")
    assert browser.text("#current-mode") == "allowlist"
    async with database.connection() as conn:
        assert await rules.read_mode(conn) == rules.Mode.ALLOWLIST
        figures = await rules.domain_figures(conn, domains=["far.example", "peer.example"])
    assert figures["far.example"].staff_following == 0
    assert figures["peer.example"].staff_following == 1

    browser.open("/admin/federation/audit")
    actions = browser.texts("#audit tr.entry code")
    assert actions[:2] == ["federation.mode", "domain_allow.create"]


async def test_allowed_domain_shows_its_figures(
    browser: Browser, live_server: LiveServer, database: Database, settings: Settings
) -> None:
    friend = await make_remote(database, "friend", "peer.example")
    await local_follows_remote(database, settings, "alice", friend)
    await remote_follows_local(database, settings, "bob", friend)
    await remote_follows_local(database, settings, "carl", friend)
    delivered_at = datetime(2025, 3, 4, 10, 30, tzinfo=UTC)
    failed_at = datetime(2025, 3, 5, 11, 45, tzinfo=UTC)
    async with database.transaction() as conn:
        for state, at in (("delivered", delivered_at), ("failed", failed_at)):
            await delivery_store.insert_deliveries(
                conn,
                rows=[
                    (
                        ids.new_id(),
                        f"https://local.test/activities/{ids.new_id()}",
                        "https://peer.example/inbox",
                        "peer.example",
                        None,
                        None,
                        b"{}",
                        at + timedelta(days=2),
                        state,
                        at,
                    )
                ],
            )
        await conn.execute("UPDATE deliveries SET last_error = 'HTTP 503' WHERE state = 'failed'")
    sign_in_as_admin(browser, live_server)
    browser.fill("domain", "Peer.Example.", within="#allow-form")
    browser.click("Allow", within="#allow-form")
    row = '#allowed tr[data-domain="peer.example"]'
    assert browser.text(f"{row} .staff-following") == "1"
    assert browser.text(f"{row} .followers-from") == "2"
    assert "2025-03-04 10:30" in browser.text(f"{row} .last-delivered")
    assert "2025-03-05 11:45" in browser.text(f"{row} .last-failed")
    assert "HTTP 503" in browser.text(f"{row} .last-failed")
    browser.click("peer.example", within=row)
    assert browser.text("#figures .followers-from") == "2"
    assert "2025-03-04 10:30" in browser.text("#figures .last-delivered")


async def test_block_with_severity_then_edit_then_remove_each_logged(
    browser: Browser, live_server: LiveServer, database: Database, settings: Settings
) -> None:
    spammer = await make_remote(database, "spammer", "spam.example")
    await remote_follows_local(database, settings, "erin", spammer)
    sign_in_as_admin(browser, live_server)
    browser.click("Block a server…", within="#blocked")
    browser.fill("domain", "spam.example", within="#block-form")
    browser.fill("severity", "suspend", within="#block-form")
    browser.fill("reject_media", True, within="#block-form")
    browser.fill("private_comment", "bulk spam", within="#block-form")
    browser.click("Preview the impact…", within="#block-form")
    preview = browser.text("#block-confirm")
    assert "spammer@spam.example follows @erin" in preview
    async with database.connection() as conn:
        assert await rules.list_rules(conn, kind="block") == []

    browser.click("Block spam.example")
    assert "spam.example is blocked." in browser.text(".notice")
    async with database.connection() as conn:
        [block] = await rules.list_rules(conn, kind="block")
    assert (block.domain, block.severity, block.reject_media, block.private_comment) == (
        "spam.example",
        "suspend",
        True,
        "bulk spam",
    )
    assert browser.path.startswith(f"/admin/federation/rules/{block.id}")

    browser.fill("severity", "silence", within="#edit")
    browser.fill("reject_media", False, within="#edit")
    browser.fill("reject_reports", True, within="#edit")
    browser.fill("public_comment", "Spam", within="#edit")
    browser.click("Save", within="#edit")
    assert "is saved" in browser.text(".notice")
    async with database.connection() as conn:
        edited = await rules.fetch_rule(conn, rule_id=block.id)
    assert (edited.severity, edited.reject_media, edited.reject_reports) == (
        "silence",
        False,
        True,
    )
    assert edited.public_comment == "Spam"

    browser.click("Remove this rule…")
    assert "Remove the block rule for spam.example?" in browser.text("h1")
    browser.click("Remove the rule for spam.example")
    assert "removed now" in browser.text(".notice")
    async with database.connection() as conn:
        assert await rules.list_rules(conn, kind="block") == []

    browser.open("/admin/federation/audit")
    logged = [
        (action, target)
        for action, target in zip(
            browser.texts("#audit tr.entry td:nth-child(3)"),
            browser.texts("#audit tr.entry td:nth-child(4)"),
            strict=True,
        )
    ]
    assert len(logged) >= 3
    assert set(browser.texts("#audit tr.entry td:nth-child(2)")[:3]) == {"@admin"}
    update = browser.text('#audit tr.entry[data-action="domain_block.update"]')
    assert "severity: suspend → silence" in update
    assert "reject_media: True → False" in update
    assert all("spam.example" in target for _, target in logged[:3])
    assert (
        logged
        == [(action, target) for action, target in await audit_actions(database) if target][
            : len(logged)
        ]
    )


async def test_pending_requests_are_approved_and_denied(
    browser: Browser, live_server: LiveServer, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    now = datetime.now(UTC)
    async with database.transaction() as conn:
        await rules.set_mode(conn, mode=rules.Mode.ALLOWLIST, who=rules.Actor(label="cli"), now=now)
        wanted = await rules.record_request(
            conn,
            requester_account_id=alice.account.id,
            acct="partner@partner.example",
            reason="We work with them",
            follow=False,
            now=now,
        )
        unwanted = await rules.record_request(
            conn,
            requester_account_id=bob.account.id,
            acct="troll@trolls.example",
            reason="",
            follow=False,
            now=now,
        )
    sign_in_as_admin(browser, live_server)
    assert "2 pending federation requests" in browser.text("#pending-summary")
    browser.open("/admin/federation/requests")
    assert "We work with them" in browser.text(f"#request-{wanted}")
    assert "@alice" in browser.text(f"#request-{wanted}")
    assert "@bob" in browser.text(f"#request-{unwanted}")
    browser.click("Approve", within=f"#request-{wanted}")
    assert "partner.example is allowed" in browser.text(".notice")
    browser.click("Deny", within=f"#request-{unwanted}")
    assert "troll@trolls.example (trolls.example) is denied" in browser.text(".notice")
    assert browser.exists("#no-pending")
    assert browser.text(f"#decided #request-{wanted} .state") == "approved"
    assert browser.text(f"#decided #request-{unwanted} .state") == "denied"
    async with database.connection() as conn:
        allowed = [rule.domain for rule in await rules.list_rules(conn, kind="allow")]
        snapshot = await rules.load_snapshot(conn, now=datetime.now(UTC))
    assert allowed == ["partner.example"]
    assert snapshot.decide("partner.example").federates
    assert not snapshot.decide("trolls.example").federates
    browser.open("/admin/federation/audit")
    audit = browser.text("#audit")
    assert "partner.example" in audit and "trolls.example" in audit


async def test_console_page_is_readable(
    browser: Browser, live_server: LiveServer, tmp_path: object
) -> None:
    sign_in_as_admin(browser, live_server)
    style = browser.driver.execute_script(
        "const s = getComputedStyle(document.querySelector('header.top'));"
        "return [s.display, s.backgroundColor];"
    )
    # The stylesheet loaded under the page's Content-Security-Policy.
    assert style == ["flex", "rgb(43, 42, 92)"]
    for heading in ("Mode", "Allowed servers", "Blocked servers", "Recent changes"):
        assert heading in browser.texts("section.card h2")
