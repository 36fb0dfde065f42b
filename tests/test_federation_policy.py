"""The federation policy: domain names, rule coverage, modes, the cached policy, and its
enforcement at the edges (the one client, the inbox, the delivery queue) and in the domain
(severing, silence, suspend, grace periods, requests, audit)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest

from federation import delivery
from federation.client import DomainNotAllowed, FederationClient
from federation.inbox import InboxError, receive
from federation.policy import FederationPolicy, claimed_key_id, is_farewell
from fediverse import federation_rules as rules
from fediverse.config import Settings
from fediverse.errors import ValidationError
from fediverse.federation_rules import Actor, DomainBlockExists, Mode
from fediverse.storage import accounts as account_store
from fediverse.storage.database import Database
from tests.factories import make_staff
from tests.test_publishing import make_follow, make_remote

ADMIN = Actor(label="cli:test")


def now() -> datetime:
    return datetime.now(UTC)


# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("LOCALHOST:8001", "localhost:8001"),
        ("localhost:8002", "localhost:8002"),
        ("Example.COM.", "example.com"),
        ("example.com:443", "example.com"),
        ("https://Social.Example/@bob", "social.example"),
        ("Bücher.example", "xn--bcher-kva.example"),
        ("@peer.example", "peer.example"),
        ("*.peer.example", "peer.example"),
    ],
)
def test_domains_are_normalized_as_mastodon_names_servers(raw: str, expected: str) -> None:
    assert rules.normalize_domain(raw) == expected


@pytest.mark.parametrize("raw", ["", "bad domain", "exa_mple..com", "host:99999", "[::1]"])
def test_garbage_is_not_a_domain(raw: str) -> None:
    with pytest.raises(ValidationError):
        rules.normalize_domain(raw)


def test_a_rule_covers_subdomains_and_ports_only_when_it_names_none() -> None:
    assert rules.covers("example.com", "example.com")
    assert rules.covers("example.com", "social.example.com")
    assert rules.covers("example.com", "example.com:8443")
    assert not rules.covers("example.com", "badexample.com")
    assert rules.covers("localhost:8001", "localhost:8001")
    assert not rules.covers("localhost:8001", "localhost:8002")
    assert not rules.covers("localhost:8001", "localhost")


def _snapshot(
    mode: Mode, allows: tuple[str, ...], blocks: list[tuple[str, str]]
) -> rules.PolicySnapshot:
    moment = now()
    rows = tuple(
        rules.DomainRule(
            id=index,
            domain=domain,
            kind="block",
            severity=severity,
            reject_media=False,
            reject_reports=False,
            private_comment=None,
            public_comment=None,
            obfuscate=False,
            effective_at=moment,
            ends_at=None,
            applied_at=moment,
            created_by="",
            created_at=moment,
            updated_at=moment,
        )
        for index, (domain, severity) in enumerate(blocks)
    )
    return rules.PolicySnapshot(mode=mode, allows=allows, blocks=rows, taken_at=moment)


def test_open_mode_federates_with_everyone_but_suspended_domains() -> None:
    snapshot = _snapshot(Mode.OPEN, (), [("bad.example", "suspend"), ("loud.example", "silence")])
    assert snapshot.decide("anyone.example").federates
    assert not snapshot.decide("sub.bad.example").federates
    loud = snapshot.decide("loud.example")
    assert loud.federates and loud.silenced


def test_allowlist_mode_federates_only_with_allowed_domains_and_a_block_wins() -> None:
    snapshot = _snapshot(
        Mode.ALLOWLIST,
        ("friend.example", "localhost:8001", "both.example"),
        [("both.example", "suspend")],
    )
    assert snapshot.decide("friend.example").federates
    assert snapshot.decide("www.friend.example").federates
    assert snapshot.decide("localhost:8001").federates
    assert not snapshot.decide("localhost:8002").federates
    assert not snapshot.decide("stranger.example").federates
    both = snapshot.decide("both.example")
    assert not both.federates and both.suspended and not both.may_receive_farewell
    stranger = snapshot.decide("stranger.example")
    assert stranger.may_receive_farewell


def test_farewells_and_claimed_key_ids_are_read_without_any_network() -> None:
    undo = {"type": "Undo", "object": {"type": "Follow"}}
    assert is_farewell(orjson.dumps(undo))
    assert is_farewell(orjson.dumps({"type": "Reject", "object": {"type": "Follow"}}))
    assert not is_farewell(orjson.dumps({"type": "Create", "object": {"type": "Note"}}))
    headers = {"Signature": 'keyId="https://bad.example/users/x#main-key",signature="AA=="'}
    assert claimed_key_id(headers) == "https://bad.example/users/x#main-key"
    rfc = {"Signature-Input": 'sig1=("@method");keyid="https://b.example/k";alg="rsa"'}
    assert claimed_key_id(rfc) == "https://b.example/k"


# --- the cached policy -----------------------------------------------------------------------


async def test_a_change_made_elsewhere_is_seen_when_the_cache_expires(database: Database) -> None:
    ticks = [0.0]
    policy = FederationPolicy(
        database, local_domain="local.test", ttl=2.0, monotonic=lambda: ticks[0]
    )
    assert (await policy.decide("peer.example")).federates
    # Another process (the CLI) switches to allowlist mode.
    async with database.transaction() as conn:
        await rules.set_mode(conn, mode=Mode.ALLOWLIST, who=ADMIN, now=now())
    assert (await policy.decide("peer.example")).federates  # still cached
    ticks[0] = 2.5
    assert not (await policy.decide("peer.example")).federates
    assert (await policy.decide("local.test")).federates  # we never refuse ourselves


async def test_invalidate_makes_the_change_visible_at_once(database: Database) -> None:
    policy = FederationPolicy(database, local_domain="local.test", ttl=3600)
    assert (await policy.decide("bad.example")).federates
    async with database.transaction() as conn:
        await rules.block_domain(
            conn, domain="bad.example", who=ADMIN, now=now(), severity="suspend"
        )
    policy.invalidate()
    assert not (await policy.decide("bad.example")).federates


# --- enforcement at the edges ------------------------------------------------------------------


async def test_the_client_makes_no_request_to_a_domain_that_may_not_federate(
    database: Database, settings: Settings
) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={}, headers={"content-type": "application/activity+json"})

    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    async with database.transaction() as conn:
        await rules.block_domain(
            conn, domain="bad.example", who=ADMIN, now=now(), severity="suspend"
        )
    policy = FederationPolicy(database, local_domain=settings.domain, ttl=0)
    async with FederationClient(
        settings,
        transport=httpx.MockTransport(handler),
        resolver=resolve,
        policy=policy.decide_url,
        is_farewell=is_farewell,
    ) as client:
        with pytest.raises(DomainNotAllowed, match=r"bad\.example is not allowed to federate"):
            await client.get_document("https://sub.bad.example/users/x")
        with pytest.raises(DomainNotAllowed):
            await client.webfinger("x@bad.example")
        with pytest.raises(DomainNotAllowed):
            await client.post_activity(
                "https://bad.example/inbox",
                orjson.dumps({"type": "Undo", "object": {"type": "Follow"}}),
                signer=None,  # type: ignore[arg-type]
            )
        await client.get_document("https://good.example/users/y")
    assert seen == ["https://good.example/users/y"]


class RecordingResolver:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def get(self, key_id: str) -> object:
        self.asked.append(key_id)
        raise AssertionError("no key may be fetched for a refused sender")

    async def refresh(self, key_id: str) -> object:
        self.asked.append(key_id)
        raise AssertionError("no key may be fetched for a refused sender")


async def test_the_inbox_refuses_a_blocked_sender_before_fetching_its_key_or_storing(
    database: Database, settings: Settings
) -> None:
    async with database.transaction() as conn:
        await rules.set_mode(conn, mode=Mode.ALLOWLIST, who=ADMIN, now=now())
    policy = FederationPolicy(database, local_domain=settings.domain, ttl=0)
    resolver = RecordingResolver()
    body = orjson.dumps(
        {
            "id": "https://never.example/activities/1",
            "type": "Create",
            "actor": "https://never.example/users/eve",
            "object": {"id": "https://never.example/notes/1", "type": "Note"},
        }
    )
    headers = {"Signature": 'keyId="https://never.example/users/eve#main-key",signature="AA=="'}
    with pytest.raises(InboxError) as refused:
        await receive(
            database=database,
            resolver=resolver,  # type: ignore[arg-type]
            method="POST",
            url=f"{settings.base_url}/inbox",
            headers=headers,
            body=body,
            domain_policy=policy,
        )
    assert refused.value.status == 403
    assert "never.example is not allowed to federate" in refused.value.reason
    assert resolver.asked == []
    async with database.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM inbox_activities") == 0


async def test_a_signed_key_on_an_allowed_host_with_a_blocked_actor_is_refused_too(
    database: Database, settings: Settings
) -> None:
    async with database.transaction() as conn:
        await rules.block_domain(
            conn, domain="bad.example", who=ADMIN, now=now(), severity="suspend"
        )
    resolver = RecordingResolver()
    body = orjson.dumps(
        {"id": "https://bad.example/a/1", "type": "Follow", "actor": "https://bad.example/u/x"}
    )
    with pytest.raises(InboxError) as refused:
        await receive(
            database=database,
            resolver=resolver,  # type: ignore[arg-type]
            method="POST",
            url=f"{settings.base_url}/inbox",
            headers={"Signature": 'keyId="https://ok.example/k",signature="AA=="'},
            body=body,
            domain_policy=FederationPolicy(database, local_domain=settings.domain, ttl=0),
        )
    assert refused.value.status == 403 and resolver.asked == []


async def test_deliveries_to_a_refused_domain_are_failed_with_the_reason(
    database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    async with database.transaction() as conn:
        await rules.set_mode(conn, mode=Mode.ALLOWLIST, who=ADMIN, now=now())
        await rules.allow_domain(conn, domain="friend.example", who=ADMIN, now=now())
        await rules.block_domain(
            conn, domain="bad.example", who=ADMIN, now=now(), severity="suspend"
        )
        note = {"id": "https://local.test/a/1", "type": "Create", "object": {"type": "Note"}}
        await delivery.enqueue(
            conn,
            activity=note,
            sender_account_id=alice.account.id,
            inboxes=["https://friend.example/inbox", "https://stranger.example/inbox"],
        )
        # A farewell (Undo Follow) still reaches a peer that is merely not allowed,
        # never a suspended one.
        undo = {"id": "https://local.test/a/2", "type": "Undo", "object": {"type": "Follow"}}
        await delivery.enqueue(
            conn,
            activity=undo,
            sender_account_id=alice.account.id,
            inboxes=["https://stranger.example/inbox", "https://bad.example/inbox"],
        )
        rows = await conn.fetch(
            "SELECT activity_id, domain, state, last_error FROM deliveries "
            "ORDER BY activity_id, domain"
        )
    states = {
        (row["activity_id"][-1], row["domain"]): (row["state"], row["last_error"]) for row in rows
    }
    assert states[("1", "friend.example")] == ("pending", None)
    state, error = states[("1", "stranger.example")]
    assert state == "failed" and "stranger.example is not allowed to federate" in error
    assert states[("2", "stranger.example")][0] == "pending"
    assert states[("2", "bad.example")][0] == "failed"


# --- domain changes ------------------------------------------------------------------------------


async def test_a_silence_block_silences_existing_and_new_accounts_and_lifting_it_restores(
    database: Database,
) -> None:
    before = await make_remote(database, "old", "loud.example")
    async with database.transaction() as conn:
        rule = await rules.block_domain(conn, domain="loud.example", who=ADMIN, now=now())
    assert rule.severity == "silence"
    after = await make_remote(database, "new", "sub.loud.example")
    async with database.transaction() as conn:
        old = await account_store.fetch_account(conn, account_id=before.id)
        new = await account_store.fetch_account(conn, account_id=after.id)
        assert old is not None and old.silenced_at is not None
        assert new is not None and new.silenced_at is not None
        await rules.remove_rule(conn, rule_id=rule.id, who=ADMIN, now=now())
        old = await account_store.fetch_account(conn, account_id=before.id)
        assert old is not None and old.silenced_at is None


async def test_a_suspend_severs_follows_both_ways_removes_the_data_and_sends_nothing(
    database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    eve = await make_remote(database, "eve", "bad.example")
    await make_follow(database, alice.account, eve)
    await make_follow(database, eve, alice.account)
    async with database.transaction() as conn:
        preview = await rules.impact(conn, domain="bad.example")
        assert preview.local_following == [("alice", "eve@bad.example")]
        assert preview.remote_followers == [("eve@bad.example", "alice")]
        await rules.block_domain(
            conn, domain="bad.example", who=ADMIN, now=now(), severity="suspend"
        )
        assert await account_store.fetch_account(conn, account_id=eve.id) is None
        assert await conn.fetchval("SELECT count(*) FROM follows") == 0
        kinds = await conn.fetch("SELECT kind FROM domain_events")
        assert [k["kind"] for k in kinds if k["kind"].startswith("follow.")] == []
        severed = await conn.fetchval(
            "SELECT count(*) FROM notifications WHERE account_id = $1 "
            "AND type = 'severed_relationships'",
            alice.account.id,
        )
        assert severed == 1


async def test_removing_an_allow_in_allowlist_mode_severs_with_undo_and_reject(
    database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_remote(database, "bob", "gone.example")
    await make_follow(database, alice.account, bob)
    await make_follow(database, bob, alice.account)
    async with database.transaction() as conn:
        rule = await rules.allow_domain(conn, domain="gone.example", who=ADMIN, now=now())
        report = await rules.set_mode(conn, mode=Mode.ALLOWLIST, who=ADMIN, now=now())
        assert report.following == 0 and report.followers == 0
        await rules.remove_rule(conn, rule_id=rule.id, who=ADMIN, now=now())
        assert await conn.fetchval("SELECT count(*) FROM follows") == 0
        kinds = sorted(r["kind"] for r in await conn.fetch("SELECT kind FROM domain_events"))
        assert kinds.count("follow.undone") == 1 and kinds.count("follow.rejected") == 1
        # The account stays: only the relationship ended.
        assert await account_store.fetch_account(conn, account_id=bob.id) is not None


async def test_a_block_in_its_grace_period_can_be_undone_without_losing_data(
    database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    eve = await make_remote(database, "eve", "bad.example")
    await make_follow(database, alice.account, eve)
    start = now()
    async with database.transaction() as conn:
        rule = await rules.block_domain(
            conn,
            domain="bad.example",
            who=ADMIN,
            now=start,
            severity="suspend",
            grace=timedelta(hours=24),
        )
        assert rule.applied_at is None
        assert (await rules.load_snapshot(conn, now=start)).decide("bad.example").federates
        assert await rules.apply_due(conn, now=start + timedelta(hours=1)) == 0
        await rules.cancel_pending(conn, rule_id=rule.id, who=ADMIN, now=start)
        assert await rules.apply_due(conn, now=start + timedelta(days=2)) == 0
        assert await conn.fetchval("SELECT count(*) FROM follows") == 1
        assert await account_store.fetch_account(conn, account_id=eve.id) is not None


async def test_a_block_takes_effect_when_its_grace_period_ends(
    database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    eve = await make_remote(database, "eve", "bad.example")
    await make_follow(database, alice.account, eve)
    start = now()
    async with database.transaction() as conn:
        await rules.block_domain(
            conn,
            domain="bad.example",
            who=ADMIN,
            now=start,
            severity="suspend",
            grace=timedelta(hours=1),
        )
    async with database.transaction() as conn:
        assert await rules.apply_due(conn, now=start + timedelta(hours=2)) == 1
        assert await conn.fetchval("SELECT count(*) FROM follows") == 0
        assert await account_store.fetch_account(conn, account_id=eve.id) is None
        actions = [entry.action for entry in await rules.list_audit(conn)]
        assert actions[:2] == ["domain_rule.applied", "domain_block.create"]


async def test_a_second_block_of_a_domain_is_refused_with_the_existing_one(
    database: Database,
) -> None:
    async with database.transaction() as conn:
        first = await rules.block_domain(conn, domain="bad.example", who=ADMIN, now=now())
        with pytest.raises(DomainBlockExists) as exists:
            await rules.block_domain(conn, domain="BAD.example.", who=ADMIN, now=now())
    assert exists.value.existing.id == first.id


async def test_every_change_is_in_the_audit_log_with_who_and_before_and_after(
    database: Database,
) -> None:
    async with database.transaction() as conn:
        await rules.set_mode(conn, mode=Mode.ALLOWLIST, who=ADMIN, now=now())
        rule = await rules.block_domain(conn, domain="bad.example", who=ADMIN, now=now())
        await rules.update_block(
            conn,
            rule_id=rule.id,
            who=Actor("@root", None),
            now=now(),
            changes={"severity": "suspend"},
        )
        entries = await rules.list_audit(conn)
    assert [e.action for e in entries] == [
        "domain_block.update",
        "domain_block.create",
        "federation.mode",
    ]
    update = entries[0]
    assert update.actor == "@root"
    assert update.before["severity"] == "silence" and update.after["severity"] == "suspend"
    assert entries[2].before == {"mode": "open"} and entries[2].after == {"mode": "allowlist"}


async def test_requests_are_recorded_once_and_approval_allows_the_domain(
    database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    async with database.transaction() as conn:
        await rules.set_mode(conn, mode=Mode.ALLOWLIST, who=ADMIN, now=now())
        first = await rules.record_request(
            conn, requester_account_id=alice.account.id, acct="bob@New.example", now=now()
        )
        again = await rules.record_request(
            conn,
            requester_account_id=alice.account.id,
            acct="@bob@new.example",
            reason="project partner",
            follow=True,
            now=now(),
        )
        assert first == again
        [pending] = await rules.list_requests(conn)
        assert (pending.acct, pending.domain, pending.follow, pending.reason) == (
            "bob@new.example",
            "new.example",
            True,
            "project partner",
        )
        approved = await rules.approve_request(conn, request_id=pending.id, who=ADMIN, now=now())
        assert approved.state == "approved"
        assert (await rules.load_snapshot(conn, now=now())).decide("new.example").federates
        assert await rules.list_requests(conn) == []


# --- the CLI, as a script runs it -----------------------------------------------------------


async def fediverse(database_url: str, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """Run `fediverse ARGS` in a subprocess against the test database."""
    env = {
        **os.environ,
        "FEDIVERSE_DATABASE_URL": database_url,
        "FEDIVERSE_DOMAIN": "local.test",
        "FEDIVERSE_DATA_DIR": str(tmp_path / "cli-data"),
        "FEDIVERSE_SECRET_KEY": "cli-secret",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fediverse.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_cli_manages_mode_rules_impact_requests_and_audit_with_script_exit_codes(
    database: Database, database_url: str, settings: Settings, tmp_path: Path
) -> None:
    alice = await make_staff(database, settings, "alice")
    eve = await make_remote(database, "eve", "bad.example")
    await make_follow(database, alice.account, eve)
    # The running server's policy, to see that a CLI change reaches it.
    policy = FederationPolicy(database, local_domain=settings.domain, ttl=0)

    code, out, _ = await fediverse(database_url, tmp_path, "federation", "mode", "allowlist")
    assert code == 0 and "allowlist" in out
    assert "Severed 1 follow" in out
    assert not (await policy.decide("friend.example")).federates

    code, out, _ = await fediverse(database_url, tmp_path, "federation", "allow", "Friend.Example.")
    assert code == 0 and "Allowed friend.example" in out
    assert (await policy.decide("www.friend.example")).federates

    code, out, _ = await fediverse(
        database_url,
        tmp_path,
        "federation",
        "block",
        "bad.example",
        "--severity",
        "silence",
        "--reject-media",
        "--comment",
        "noisy",
        "--grace-hours",
        "2",
    )
    assert code == 0 and "cancel bad.example" in out
    code, out, err = await fediverse(database_url, tmp_path, "federation", "block", "bad.example")
    assert code == 1 and "already blocked" in err

    code, out, _ = await fediverse(database_url, tmp_path, "federation", "list")
    assert code == 0
    assert "mode: allowlist" in out
    assert "friend.example" in out and "allow" in out
    assert "block:silence -media" in out and "pending until" in out

    code, out, _ = await fediverse(database_url, tmp_path, "federation", "cancel", "bad.example")
    assert code == 0 and "Cancelled" in out
    code, out, err = await fediverse(database_url, tmp_path, "federation", "cancel", "bad.example")
    assert code == 1 and "nothing pending" in err

    carol = await make_remote(database, "carol", "friend.example")
    await make_follow(database, carol, alice.account)
    code, out, _ = await fediverse(database_url, tmp_path, "federation", "impact", "friend.example")
    assert (
        code == 0
        and "followers from there: 1" in out
        and "carol@friend.example follows @alice" in out
    )

    async with database.transaction() as conn:
        request_id = await rules.record_request(
            conn, requester_account_id=alice.account.id, acct="zed@far.example", now=now()
        )
    code, out, _ = await fediverse(database_url, tmp_path, "federation", "requests")
    assert code == 0 and "zed@far.example" in out and "@alice" in out
    code, out, _ = await fediverse(
        database_url, tmp_path, "federation", "requests", "approve", str(request_id)
    )
    assert code == 0 and "far.example is allowed" in out
    assert (await policy.decide("far.example")).federates
    code, out, err = await fediverse(
        database_url, tmp_path, "federation", "requests", "deny", str(request_id)
    )
    assert code == 1 and "already approved" in err
    code, _, err = await fediverse(database_url, tmp_path, "federation", "requests", "deny")
    assert code == 2

    code, out, _ = await fediverse(database_url, tmp_path, "federation", "remove", "friend.example")
    assert code == 0 and "Removed the allow rule for friend.example" in out
    code, out, err = await fediverse(
        database_url, tmp_path, "federation", "remove", "nowhere.example"
    )
    assert code == 1 and "no rule for nowhere.example" in err
    code, _, err = await fediverse(database_url, tmp_path, "federation", "block", "not a domain")
    assert code == 1 and "not a domain name" in err
    code, _, _ = await fediverse(database_url, tmp_path, "federation", "mode", "closed")
    assert code == 2

    code, out, _ = await fediverse(database_url, tmp_path, "federation", "audit", "--json")
    assert code == 0
    entries = [orjson.loads(line) for line in out.splitlines()]
    actions = [entry["action"] for entry in entries]
    assert actions[:3] == [
        "domain_allow.destroy",
        "federation_request.approve",
        "domain_allow.create",
    ]
    assert "federation.mode" in actions and "domain_rule.cancel" in actions
    assert all(entry["actor"].startswith("cli:") for entry in entries)
    mode_entry = next(entry for entry in entries if entry["action"] == "federation.mode")
    assert mode_entry["before"] == {"mode": "open"} and mode_entry["after"] == {"mode": "allowlist"}

    code, out, _ = await fediverse(database_url, tmp_path, "federation", "apply-pending")
    assert code == 0 and "Applied 0" in out


async def test_reports_from_a_domain_blocked_with_reject_reports_are_dropped(
    database: Database, settings: Settings
) -> None:
    from federation.handlers import on_flag
    from federation.ingest import ActivityIgnored, IngestContext
    from fediverse.urls import LocalUrls

    alice = await make_staff(database, settings, "alice")
    eve = await make_remote(database, "eve", "noisy.example")
    flag = {
        "id": "https://noisy.example/flags/1",
        "type": "Flag",
        "actor": eve.uri,
        "object": [alice.account.uri],
        "content": "spam",
    }
    async with database.transaction() as conn:
        await rules.block_domain(
            conn,
            domain="noisy.example",
            who=ADMIN,
            now=now(),
            severity="noop",
            reject_reports=True,
        )
        ctx = IngestContext(conn=conn, fetcher=None, urls=LocalUrls(settings), now=now())  # type: ignore[arg-type]
        with pytest.raises(ActivityIgnored, match="rejected"):
            await on_flag(ctx, flag, eve)
        assert await conn.fetchval("SELECT count(*) FROM reports") == 0


def test_a_snapshot_copied_with_another_mode_decides_afresh() -> None:
    # Snapshots remember their decisions; a copy with other rules (an impact preview) must
    # not inherit them.
    open_rules = _snapshot(Mode.OPEN, (), [])
    assert open_rules.decide("stranger.example").federates
    allowlist = dataclasses.replace(open_rules, mode=Mode.ALLOWLIST)
    assert not allowlist.decide("stranger.example").federates
    assert open_rules.decide("stranger.example").federates
