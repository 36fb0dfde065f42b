"""The admin API end to end through the ASGI app: domain allows and blocks with Mastodon's
shapes and scopes, the public list of blocks, the mode in /api/v2/instance, accounts, reports,
federation requests (from a refused search or follow) and the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from federation.client import FederationClient
from federation.resolver import Resolver
from fediverse import ids
from fediverse.config import Settings
from fediverse.storage import reports as report_store
from fediverse.storage.database import Database
from fediverse.urls import LocalUrls
from tests.factories import StaffMember, make_staff
from tests.test_publishing import make_remote
from web.mastodon_api.search import SEARCH_RESOLVER_SERVICE

ADMIN_SCOPES = "read write follow admin:read admin:write"


@pytest.fixture
async def admin(database: Database, settings: Settings) -> StaffMember:
    return await make_staff(database, settings, "root", role="admin", scopes=ADMIN_SCOPES)


@pytest.fixture
async def network_log(app: Any, settings: Settings) -> AsyncIterator[list[str]]:
    """A search resolver whose every outgoing request is recorded (and fails)."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(404)

    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    client = FederationClient(settings, transport=httpx.MockTransport(handler), resolver=resolve)
    app.state.fediverse.services[SEARCH_RESOLVER_SERVICE] = Resolver(
        client, urls=LocalUrls(settings)
    )
    yield seen
    await client.aclose()


def auth(staff: StaffMember) -> dict[str, str]:
    return staff.headers


# --- domain allows ----------------------------------------------------------------------------


async def test_an_admin_allows_lists_shows_and_deletes_a_domain(
    client: httpx.AsyncClient, admin: StaffMember
) -> None:
    created = await client.post(
        "/api/v1/admin/domain_allows", data={"domain": "Friend.Example."}, headers=auth(admin)
    )
    assert created.status_code == 200, created.text
    allow = created.json()
    assert set(allow) == {"id", "domain", "created_at"}
    assert allow["domain"] == "friend.example"
    again = await client.post(
        "/api/v1/admin/domain_allows", json={"domain": "friend.example"}, headers=auth(admin)
    )
    assert again.json()["id"] == allow["id"]
    listed = await client.get("/api/v1/admin/domain_allows", headers=auth(admin))
    assert [a["domain"] for a in listed.json()] == ["friend.example"]
    shown = await client.get(f"/api/v1/admin/domain_allows/{allow['id']}", headers=auth(admin))
    assert shown.json() == allow
    deleted = await client.delete(f"/api/v1/admin/domain_allows/{allow['id']}", headers=auth(admin))
    assert deleted.status_code == 200 and deleted.json() == {}
    gone = await client.get(f"/api/v1/admin/domain_allows/{allow['id']}", headers=auth(admin))
    assert gone.status_code == 404


async def test_domain_rules_need_the_admin_role_and_the_admin_scope(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    moderator = await make_staff(database, settings, "mod", role="moderator", scopes=ADMIN_SCOPES)
    user = await make_staff(database, settings, "joe", scopes=ADMIN_SCOPES)
    narrow = await make_staff(
        database, settings, "narrow", role="admin", scopes="read admin:read:domain_allows"
    )
    for staff in (moderator, user):
        answer = await client.get("/api/v1/admin/domain_blocks", headers=auth(staff))
        assert answer.status_code == 403
    assert (
        await client.get("/api/v1/admin/domain_allows", headers=auth(narrow))
    ).status_code == 200
    refused = await client.post(
        "/api/v1/admin/domain_allows", data={"domain": "x.example"}, headers=auth(narrow)
    )
    assert refused.status_code == 403
    assert refused.json() == {"error": "This action is outside the authorized scopes"}
    assert (await client.get("/api/v1/admin/domain_allows")).status_code == 401


# --- domain blocks -------------------------------------------------------------------------------


async def test_an_admin_blocks_updates_and_removes_a_domain_with_mastodons_fields(
    client: httpx.AsyncClient, admin: StaffMember
) -> None:
    created = await client.post(
        "/api/v1/admin/domain_blocks",
        json={
            "domain": "spam.example",
            "severity": "suspend",
            "reject_media": True,
            "private_comment": "flood",
            "public_comment": "spam",
            "obfuscate": True,
        },
        headers=auth(admin),
    )
    assert created.status_code == 200, created.text
    block = created.json()
    for key in (
        "id",
        "domain",
        "digest",
        "created_at",
        "severity",
        "reject_media",
        "reject_reports",
        "private_comment",
        "public_comment",
        "obfuscate",
    ):
        assert key in block
    assert (block["severity"], block["reject_media"], block["reject_reports"]) == (
        "suspend",
        True,
        False,
    )
    assert len(block["digest"]) == 64

    duplicate = await client.post(
        "/api/v1/admin/domain_blocks", data={"domain": "SPAM.example"}, headers=auth(admin)
    )
    assert duplicate.status_code == 422
    assert duplicate.json()["existing_domain_block"]["id"] == block["id"]

    updated = await client.put(
        f"/api/v1/admin/domain_blocks/{block['id']}",
        data={"severity": "silence", "reject_reports": "true"},
        headers=auth(admin),
    )
    assert updated.status_code == 200
    assert (updated.json()["severity"], updated.json()["reject_reports"]) == ("silence", True)
    assert updated.json()["private_comment"] == "flood"

    bad = await client.put(
        f"/api/v1/admin/domain_blocks/{block['id']}",
        data={"severity": "obliterate"},
        headers=auth(admin),
    )
    assert bad.status_code == 422

    deleted = await client.delete(f"/api/v1/admin/domain_blocks/{block['id']}", headers=auth(admin))
    assert deleted.status_code == 200
    assert (await client.get("/api/v1/admin/domain_blocks", headers=auth(admin))).json() == []


async def test_the_public_list_of_blocks_is_for_signed_in_users_unless_opened(
    client: httpx.AsyncClient, admin: StaffMember, database: Database
) -> None:
    await client.post(
        "/api/v1/admin/domain_blocks",
        json={
            "domain": "spam.example",
            "severity": "suspend",
            "public_comment": "spam",
            "obfuscate": True,
        },
        headers=auth(admin),
    )
    assert (await client.get("/api/v1/instance/domain_blocks")).status_code == 401
    listed = await client.get("/api/v1/instance/domain_blocks", headers=auth(admin))
    assert listed.status_code == 200
    [entry] = listed.json()
    assert set(entry) == {"domain", "digest", "severity", "comment"}
    assert entry["domain"] != "spam.example" and "*" in entry["domain"]
    assert entry["severity"] == "suspend" and entry["comment"] == "spam"
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO server_settings (key, value) "
            "VALUES ('domain_blocks_visibility', '\"all\"')"
        )
    assert (await client.get("/api/v1/instance/domain_blocks")).status_code == 200


async def test_the_mode_is_reported_in_instance_v2_and_v1_stays_public(
    client: httpx.AsyncClient, admin: StaffMember
) -> None:
    before = await client.get("/api/v2/instance")
    assert before.json()["configuration"]["limited_federation"] is False
    switched = await client.put(
        "/api/v1/admin/federation", data={"mode": "allowlist"}, headers=auth(admin)
    )
    assert switched.status_code == 200 and switched.json()["mode"] == "allowlist"
    after = await client.get("/api/v2/instance")
    assert after.json()["configuration"]["limited_federation"] is True
    assert (await client.get("/api/v1/instance")).status_code == 200
    assert (await client.get("/nodeinfo/2.0")).status_code == 200
    bad = await client.put("/api/v1/admin/federation", data={"mode": "closed"}, headers=auth(admin))
    assert bad.status_code == 422


async def test_instance_v2_shows_the_rules_public_parts_to_whom_the_block_list_is_shown(
    client: httpx.AsyncClient, admin: StaffMember, database: Database
) -> None:
    await client.put("/api/v1/admin/federation", data={"mode": "allowlist"}, headers=auth(admin))
    await client.post(
        "/api/v1/admin/domain_allows", data={"domain": "peer.example"}, headers=auth(admin)
    )
    await client.post(
        "/api/v1/admin/domain_blocks",
        data={
            "domain": "spam.example",
            "severity": "suspend",
            "public_comment": "spam",
            "private_comment": "secret",
        },
        headers=auth(admin),
    )

    anonymous = (await client.get("/api/v2/instance")).json()["configuration"]["federation"]
    assert anonymous == {"mode": "allowlist"}  # the lists are for signed-in users by default

    signed_in = (await client.get("/api/v2/instance", headers=auth(admin))).json()
    federation = signed_in["configuration"]["federation"]
    assert federation["domain_allows"] == [{"domain": "peer.example"}]
    assert [(b["domain"], b["severity"], b["comment"]) for b in federation["domain_blocks"]] == [
        ("spam.example", "suspend", "spam")
    ]
    assert "secret" not in str(signed_in)

    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO server_settings (key, value) "
            "VALUES ('domain_blocks_visibility', '\"all\"')"
        )
    opened = (await client.get("/api/v2/instance")).json()["configuration"]["federation"]
    assert opened["domain_allows"] == [{"domain": "peer.example"}]


# --- federation requests -------------------------------------------------------------------


async def test_a_search_for_a_refused_domain_answers_422_and_asks_nothing_of_it(
    client: httpx.AsyncClient, admin: StaffMember, network_log: list[str]
) -> None:
    await client.post(
        "/api/v1/admin/domain_blocks",
        data={"domain": "blocked.example", "severity": "suspend"},
        headers=auth(admin),
    )
    answer = await client.get(
        "/api/v2/search",
        params={"q": "@user@blocked.example", "resolve": "true"},
        headers=auth(admin),
    )
    assert answer.status_code == 422
    assert answer.json() == {"error": "blocked.example is not allowed to federate with this server"}
    assert network_log == []
    # A suspended domain is no request an admin could approve.
    listed = await client.get("/api/v1/admin/federation_requests", headers=auth(admin))
    assert listed.json() == []


async def test_in_allowlist_mode_a_refused_lookup_becomes_a_request_and_denial_notifies(
    client: httpx.AsyncClient,
    admin: StaffMember,
    database: Database,
    settings: Settings,
    network_log: list[str],
) -> None:
    alice = await make_staff(database, settings, "alice")
    await client.put("/api/v1/admin/federation", data={"mode": "allowlist"}, headers=auth(admin))
    answer = await client.get(
        "/api/v2/search",
        params={"q": "@bob@new.example", "resolve": "true"},
        headers=auth(alice),
    )
    assert answer.status_code == 422
    assert "new.example is not allowed to federate" in answer.json()["error"]
    assert network_log == []
    [request] = (await client.get("/api/v1/admin/federation_requests", headers=auth(admin))).json()
    assert (request["acct"], request["domain"], request["requester_username"]) == (
        "bob@new.example",
        "new.example",
        "alice",
    )
    assert request["state"] == "pending" and request["created_at"]
    denied = await client.post(
        f"/api/v1/admin/federation_requests/{request['id']}/deny", headers=auth(admin)
    )
    assert denied.status_code == 200 and denied.json()["state"] == "denied"
    notes = await client.get(
        "/api/v1/notifications", params={"types[]": "moderation_warning"}, headers=auth(alice)
    )
    assert notes.status_code == 200
    assert [n["type"] for n in notes.json()] == ["moderation_warning"]
    again = await client.post(
        f"/api/v1/admin/federation_requests/{request['id']}/approve", headers=auth(admin)
    )
    assert again.status_code == 422


async def test_following_a_known_account_on_a_refused_domain_records_a_follow_request(
    client: httpx.AsyncClient, admin: StaffMember, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_remote(database, "bob", "old.example")
    await client.put("/api/v1/admin/federation", data={"mode": "allowlist"}, headers=auth(admin))
    answer = await client.post(
        f"/api/v1/accounts/{bob.id}/follow",
        data={"reason": "we work together"},
        headers=auth(alice),
    )
    assert answer.status_code == 422
    [request] = (await client.get("/api/v1/admin/federation_requests", headers=auth(admin))).json()
    assert request["follow"] is True and request["reason"] == "we work together"
    approved = await client.post(
        f"/api/v1/admin/federation_requests/{request['id']}/approve", headers=auth(admin)
    )
    assert approved.json()["state"] == "approved"
    allows = (await client.get("/api/v1/admin/domain_allows", headers=auth(admin))).json()
    assert [a["domain"] for a in allows] == ["old.example"]
    followed = await client.post(f"/api/v1/accounts/{bob.id}/follow", headers=auth(alice))
    assert followed.status_code == 200 and followed.json()["requested"] is True


# --- impact, figures and audit -----------------------------------------------------------------


async def test_impact_figures_and_audit_log_through_the_api(
    client: httpx.AsyncClient, admin: StaffMember, database: Database, settings: Settings
) -> None:
    from tests.test_publishing import make_follow

    alice = await make_staff(database, settings, "alice")
    carol = await make_remote(database, "carol", "peer.example")
    await make_follow(database, alice.account, carol)
    await make_follow(database, carol, alice.account)
    await client.post(
        "/api/v1/admin/domain_allows", data={"domain": "peer.example"}, headers=auth(admin)
    )
    impact = (
        await client.get(
            "/api/v1/admin/domain_impact", params={"domain": "peer.example"}, headers=auth(admin)
        )
    ).json()
    assert impact["following"] == [{"local": "alice", "remote": "carol@peer.example"}]
    assert impact["followers"] == [{"remote": "carol@peer.example", "local": "alice"}]
    federation = (await client.get("/api/v1/admin/federation", headers=auth(admin))).json()
    assert federation["mode"] == "open"
    [figures] = federation["domains"]
    assert (figures["domain"], figures["staff_following"], figures["followers_from_there"]) == (
        "peer.example",
        1,
        1,
    )
    log = (await client.get("/api/v1/admin/audit_log", headers=auth(admin))).json()
    assert log[0]["action"] == "domain_allow.create"
    assert log[0]["actor"] == "@root" and log[0]["actor_account_id"] == admin.id
    assert log[0]["before"] is None and log[0]["after"]["domain"] == "peer.example"


# --- accounts and reports ------------------------------------------------------------------------


async def test_admin_accounts_list_show_approve_and_act(
    client: httpx.AsyncClient, admin: StaffMember, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await make_remote(database, "dan", "peer.example")
    async with database.transaction() as conn:
        await conn.execute("UPDATE users SET approved = false WHERE id = $1", alice.user.id)
    local = (
        await client.get("/api/v1/admin/accounts", params={"local": "true"}, headers=auth(admin))
    ).json()
    assert sorted(a["username"] for a in local) == ["alice", "root"]
    remote = (
        await client.get("/api/v1/admin/accounts", params={"remote": "true"}, headers=auth(admin))
    ).json()
    assert [(a["username"], a["domain"]) for a in remote] == [("dan", "peer.example")]
    pending = (
        await client.get("/api/v1/admin/accounts", params={"pending": "true"}, headers=auth(admin))
    ).json()
    assert [a["username"] for a in pending] == ["alice"]
    entity = pending[0]
    for key in ("email", "role", "approved", "disabled", "silenced", "suspended", "account"):
        assert key in entity
    assert entity["approved"] is False and entity["account"]["id"] == alice.id

    approved = await client.post(f"/api/v1/admin/accounts/{alice.id}/approve", headers=auth(admin))
    assert approved.status_code == 200 and approved.json()["approved"] is True
    acted = await client.post(
        f"/api/v1/admin/accounts/{alice.id}/action", data={"type": "suspend"}, headers=auth(admin)
    )
    assert acted.status_code == 200
    shown = (await client.get(f"/api/v1/admin/accounts/{alice.id}", headers=auth(admin))).json()
    assert shown["suspended"] is True
    assert (
        await client.get("/api/v1/accounts/verify_credentials", headers=auth(alice))
    ).status_code in (401, 403)
    lifted = await client.post(f"/api/v1/admin/accounts/{alice.id}/unsuspend", headers=auth(admin))
    assert lifted.json()["suspended"] is False
    silenced = await client.post(
        f"/api/v1/admin/accounts/{alice.id}/action", data={"type": "silence"}, headers=auth(admin)
    )
    assert silenced.status_code == 200
    assert (await client.get(f"/api/v1/admin/accounts/{alice.id}", headers=auth(admin))).json()[
        "silenced"
    ] is True
    log = (await client.get("/api/v1/admin/audit_log", headers=auth(admin))).json()
    assert [e["action"] for e in log[:4]] == [
        "account.silence",
        "account.unsuspend",
        "account.suspend",
        "account.approve",
    ]


async def test_reports_are_listed_resolved_reopened_and_assigned(
    client: httpx.AsyncClient, admin: StaffMember, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    troll = await make_remote(database, "troll", "peer.example")
    report_id = ids.new_id()
    async with database.transaction() as conn:
        await report_store.insert_report(
            conn,
            report_id=report_id,
            account_id=troll.id,
            target_account_id=alice.account.id,
            status_ids=[],
            comment="mean",
            uri="https://peer.example/flags/1",
            forwarded=True,
        )
    moderator = await make_staff(database, settings, "mod", role="moderator", scopes=ADMIN_SCOPES)
    listed = (await client.get("/api/v1/admin/reports", headers=auth(moderator))).json()
    assert [r["id"] for r in listed] == [str(report_id)]
    report = listed[0]
    assert report["comment"] == "mean" and report["action_taken"] is False
    assert report["account"]["username"] == "troll"
    assert report["target_account"]["username"] == "alice"
    assigned = await client.post(
        f"/api/v1/admin/reports/{report_id}/assign_to_self", headers=auth(moderator)
    )
    assert assigned.json()["assigned_account"]["username"] == "mod"
    resolved = await client.post(
        f"/api/v1/admin/reports/{report_id}/resolve", headers=auth(moderator)
    )
    assert resolved.json()["action_taken"] is True
    assert resolved.json()["action_taken_by_account"]["username"] == "mod"
    assert (await client.get("/api/v1/admin/reports", headers=auth(moderator))).json() == []
    done = (
        await client.get(
            "/api/v1/admin/reports", params={"resolved": "true"}, headers=auth(moderator)
        )
    ).json()
    assert [r["id"] for r in done] == [str(report_id)]
    reopened = await client.post(
        f"/api/v1/admin/reports/{report_id}/reopen", headers=auth(moderator)
    )
    assert reopened.json()["action_taken"] is False
    user = await make_staff(database, settings, "joe", scopes=ADMIN_SCOPES)
    assert (await client.get("/api/v1/admin/reports", headers=auth(user))).status_code == 403
