"""Console pages for federation control: the mode, allowed and blocked domains with their
figures, the impact of a change before it is made, staff requests to federate, the audit log.

The rules themselves live in `fediverse.federation_rules`; these handlers read forms, open the
transaction, call it, tell this process's policy cache, and redirect (POST-redirect-GET).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from federation.policy import complete_approved_requests
from fediverse import federation_rules as rules
from fediverse.errors import ValidationError
from fediverse.storage import federation_rules as rule_store
from fediverse.storage.database import Connection
from web.activitypub import policy_of
from web.admin.console import Console, console_page, redirect, render
from web.mastodon_api.admin import REMOTE_RESOLVER_SERVICE
from web.state import database_of, state_of

SEVERITIES = ("silence", "suspend", "noop")
SEVERITY_LABELS = {
    "silence": "Silence (kept out of public timelines)",
    "suspend": "Suspend (nothing in or out, data removed)",
    "noop": "No restriction (only the options below)",
}
MAX_GRACE_HOURS = 24 * 30
AUDIT_PAGE_SIZE = 50


def _now() -> datetime:
    return datetime.now(UTC)


def _who(console: Console) -> rules.Actor:
    # Labelled as the admin API labels its changes, so the audit log reads the same.
    return rules.Actor(label=f"@{console.account.username}", account_id=console.account.id)


def _policy_changed(request: Request) -> None:
    """This process sees the change at once; other processes within the policy's TTL."""
    policy_of(request).invalidate()


def _page(console: Console, template: str, context: dict[str, Any]) -> Response:
    return render(
        console.request,
        console.session,
        template,
        context,
        user=console.user,
        account=console.account,
    )


def _grace(console: Console) -> timedelta | None:
    hours = console.params.int("grace_hours", 0) or 0
    if hours < 0 or hours > MAX_GRACE_HOURS:
        raise ValidationError(
            f"The grace period must be between 0 and {MAX_GRACE_HOURS} hours.", field="grace_hours"
        )
    return timedelta(hours=hours) if hours else None


def _severity(console: Console) -> str:
    severity = console.params.str("severity") or "silence"
    if severity not in SEVERITIES:
        raise ValidationError("Choose silence, suspend or no restriction.", field="severity")
    return severity


def _comment(console: Console, key: str) -> str | None:
    text = (console.params.str(key) or "").strip()
    return text or None


def _block_fields(console: Console) -> dict[str, Any]:
    """The block form's fields, as `block_domain` and `update_block` take them."""
    return {
        "severity": _severity(console),
        "reject_media": bool(console.params.bool("reject_media", False)),
        "reject_reports": bool(console.params.bool("reject_reports", False)),
        "private_comment": _comment(console, "private_comment"),
        "public_comment": _comment(console, "public_comment"),
    }


# --- the overview -------------------------------------------------------------------------------


@console_page
async def home(console: Console) -> Response:
    return redirect("/admin/federation")


@console_page
async def overview(console: Console) -> Response:
    """GET /admin/federation: the mode, both rule lists with figures, pending requests."""
    async with database_of(console.request).connection() as conn:
        mode = await rules.read_mode(conn)
        all_rules = await rules.list_rules(conn)
        known = await rule_store.list_remote_tie_domains(conn)
        domains = sorted({rule.domain for rule in all_rules} | set(known))
        figures = await rules.domain_figures(conn, domains=domains)
        pending = await rules.list_requests(conn, state="pending")
        recent = await rules.list_audit(conn, limit=5)
    ruled = {rule.domain for rule in all_rules}
    return _page(
        console,
        "federation.html",
        {
            "mode": str(mode),
            "allows": [rule for rule in all_rules if rule.kind == "allow"],
            "blocks": [rule for rule in all_rules if rule.kind == "block"],
            "figures": figures,
            "unruled": sorted(
                (item for domain, item in figures.items() if domain not in ruled),
                key=lambda item: (-(item.staff_following + item.followers_from_there), item.domain),
            ),
            "pending": pending,
            "recent": recent,
            "severities": SEVERITY_LABELS,
        },
    )


# --- the mode -----------------------------------------------------------------------------------


def _mode_value(raw: str | None) -> rules.Mode:
    try:
        return rules.Mode(raw or "")
    except ValueError:
        raise ValidationError("The mode is open or allowlist.", field="mode") from None


async def _mode_impact(conn: Connection, target: rules.Mode) -> list[rules.Impact]:
    """What switching to `target` would sever: the impact on each domain we have ties with
    that the current rules, under the other mode, would stop federating with."""
    snapshot = await rules.load_snapshot(conn, now=_now())
    after = dataclasses.replace(snapshot, mode=target)
    return [
        await rules.impact(conn, domain=domain)
        for domain in await rule_store.list_remote_tie_domains(conn)
        if snapshot.decide(domain).federates and not after.decide(domain).federates
    ]


@console_page
async def mode_confirmation(console: Console) -> Response:
    """GET /admin/federation/mode?mode=…: what the switch would cut, and the button to do it."""
    target = _mode_value(console.params.str("mode"))
    async with database_of(console.request).connection() as conn:
        current = await rules.read_mode(conn)
        impacts = await _mode_impact(conn, target)
    return _page(
        console,
        "mode_confirm.html",
        {"current": str(current), "target": str(target), "impacts": impacts},
    )


@console_page
async def change_mode(console: Console) -> Response:
    """POST /admin/federation/mode: switch, sever what no longer federates, log it."""
    target = _mode_value(console.params.str("mode"))
    async with database_of(console.request).transaction() as conn:
        await rules.set_mode(conn, mode=target, who=_who(console), now=_now())
    _policy_changed(console.request)
    return redirect("/admin/federation", notice=f"Federation mode is now {target}.")


# --- allowing and blocking ----------------------------------------------------------------------


@console_page
async def add_allow(console: Console) -> Response:
    """POST /admin/federation/allows: allow a domain (and its subdomains)."""
    domain = rules.normalize_domain(console.params.str("domain") or "")
    async with database_of(console.request).transaction() as conn:
        await rules.allow_domain(conn, domain=domain, who=_who(console), now=_now())
    _policy_changed(console.request)
    return redirect("/admin/federation", notice=f"{domain} is allowed.")


@console_page
async def block_preview(console: Console) -> Response:
    """GET /admin/federation/blocks/preview: the impact of the block, then confirm it."""
    domain = rules.normalize_domain(console.params.str("domain") or "")
    fields = _block_fields(console)
    grace = _grace(console)
    async with database_of(console.request).connection() as conn:
        impact = await rules.impact(conn, domain=domain)
    return _page(
        console,
        "block_confirm.html",
        {
            "domain": domain,
            "fields": fields,
            "grace_hours": 0 if grace is None else int(grace.total_seconds() // 3600),
            "impact": impact,
            "severities": SEVERITY_LABELS,
        },
    )


@console_page
async def add_block(console: Console) -> Response:
    """POST /admin/federation/blocks: block a domain with the confirmed settings."""
    domain = rules.normalize_domain(console.params.str("domain") or "")
    async with database_of(console.request).transaction() as conn:
        rule = await rules.block_domain(
            conn,
            domain=domain,
            who=_who(console),
            now=_now(),
            grace=_grace(console),
            **_block_fields(console),
        )
    _policy_changed(console.request)
    return redirect(f"/admin/federation/rules/{rule.id}", notice=f"{domain} is blocked.")


# --- one rule -----------------------------------------------------------------------------------


@console_page
async def rule_page(console: Console) -> Response:
    """GET /admin/federation/rules/{id}: the rule, its figures, the edit and remove forms."""
    rule_id: int = console.request.path_params["rule_id"]
    async with database_of(console.request).connection() as conn:
        rule = await rules.fetch_rule(conn, rule_id=rule_id)
        figures = await rules.domain_figures(conn, domains=[rule.domain])
    return _page(
        console,
        "rule.html",
        {
            "rule": rule,
            "figure": figures.get(rule.domain),
            "severities": SEVERITY_LABELS,
            "now": _now(),
        },
    )


@console_page
async def update_rule(console: Console) -> Response:
    """POST /admin/federation/rules/{id}: change a block's severity, options or comments."""
    rule_id: int = console.request.path_params["rule_id"]
    async with database_of(console.request).transaction() as conn:
        rule = await rules.update_block(
            conn, rule_id=rule_id, who=_who(console), now=_now(), changes=_block_fields(console)
        )
    _policy_changed(console.request)
    return redirect(
        f"/admin/federation/rules/{rule.id}", notice=f"The rule for {rule.domain} is saved."
    )


@console_page
async def remove_confirmation(console: Console) -> Response:
    """GET /admin/federation/rules/{id}/remove: what removing it cuts, and the button."""
    rule_id: int = console.request.path_params["rule_id"]
    async with database_of(console.request).connection() as conn:
        rule = await rules.fetch_rule(conn, rule_id=rule_id)
        mode = await rules.read_mode(conn)
        # Removing an allow in allowlist mode severs; removing a block severs nothing.
        severs = rule.kind == "allow" and mode == rules.Mode.ALLOWLIST
        impact = await rules.impact(conn, domain=rule.domain) if severs else None
    return _page(console, "remove_confirm.html", {"rule": rule, "impact": impact})


@console_page
async def remove_rule(console: Console) -> Response:
    """POST /admin/federation/rules/{id}/remove: remove it, now or after a grace period."""
    rule_id: int = console.request.path_params["rule_id"]
    grace = _grace(console)
    async with database_of(console.request).transaction() as conn:
        rule = await rules.remove_rule(
            conn, rule_id=rule_id, who=_who(console), now=_now(), grace=grace
        )
    _policy_changed(console.request)
    when = "now" if grace is None else f"in {int(grace.total_seconds() // 3600)} h"
    return redirect("/admin/federation", notice=f"The rule for {rule.domain} is removed {when}.")


@console_page
async def cancel_rule_change(console: Console) -> Response:
    """POST /admin/federation/rules/{id}/cancel: undo a change still in its grace period."""
    rule_id: int = console.request.path_params["rule_id"]
    async with database_of(console.request).transaction() as conn:
        await rules.cancel_pending(conn, rule_id=rule_id, who=_who(console), now=_now())
    _policy_changed(console.request)
    return redirect("/admin/federation", notice="The pending change is undone.")


# --- requests from staff ------------------------------------------------------------------------


@console_page
async def requests_page(console: Console) -> Response:
    """GET /admin/federation/requests: pending requests first, then the recent decisions."""
    async with database_of(console.request).connection() as conn:
        everything = await rules.list_requests(conn, state=None)
    pending = [item for item in everything if item.state == "pending"]
    decided = [item for item in everything if item.state != "pending"][:50]
    return _page(console, "requests.html", {"pending": pending, "decided": decided})


@console_page
async def approve_request(console: Console) -> Response:
    """POST /admin/federation/requests/{id}/approve: allow the domain; the follow proceeds."""
    request_id: int = console.request.path_params["request_id"]
    async with database_of(console.request).transaction() as conn:
        item = await rules.approve_request(
            conn, request_id=request_id, who=_who(console), now=_now()
        )
    _policy_changed(console.request)
    # The requester's follow goes out now where we can resolve; else the upkeep loop sends it.
    resolver = state_of(console.request).services.get(REMOTE_RESOLVER_SERVICE)
    if item.follow and resolver is not None:
        await complete_approved_requests(database_of(console.request), resolver)
    notice = f"{item.domain} is allowed; {item.acct} may now federate."
    return redirect("/admin/federation/requests", notice=notice)


@console_page
async def deny_request(console: Console) -> Response:
    """POST /admin/federation/requests/{id}/deny: refuse; the requester is notified."""
    request_id: int = console.request.path_params["request_id"]
    async with database_of(console.request).transaction() as conn:
        item = await rules.deny_request(conn, request_id=request_id, who=_who(console), now=_now())
    notice = f"The request for {item.acct} ({item.domain}) is denied."
    return redirect("/admin/federation/requests", notice=notice)


# --- the audit log ------------------------------------------------------------------------------


# Bookkeeping columns that change with every write and say nothing to a reader of the log.
_UNINTERESTING = {"id", "created_at", "updated_at", "applied_at"}


def _changes(before: Any, after: Any) -> list[tuple[str, Any, Any]]:
    """(field, before, after) for what an entry changed; every field for a creation/removal."""
    old = before if isinstance(before, dict) else {}
    new = after if isinstance(after, dict) else {}
    return [
        (key, old.get(key), new.get(key))
        for key in sorted(old.keys() | new.keys())
        if key not in _UNINTERESTING
        and old.get(key) != new.get(key)
        and not (old.get(key) in (None, False, "") and new.get(key) in (None, False, ""))
    ]


@console_page
async def audit_page(console: Console) -> Response:
    """GET /admin/federation/audit: every admin change, newest first, paged by id."""
    before_id = console.params.int("before_id")
    async with database_of(console.request).connection() as conn:
        entries = await rules.list_audit(conn, limit=AUDIT_PAGE_SIZE, before_id=before_id)
    older = entries[-1].id if len(entries) == AUDIT_PAGE_SIZE else None
    shown = [(entry, _changes(entry.before, entry.after)) for entry in entries]
    return _page(console, "audit.html", {"entries": shown, "older": older})


routes: list[BaseRoute] = [
    Route("/admin", home, methods=["GET"]),
    Route("/admin/federation", overview, methods=["GET"]),
    Route("/admin/federation/mode", mode_confirmation, methods=["GET"]),
    Route("/admin/federation/mode", change_mode, methods=["POST"]),
    Route("/admin/federation/allows", add_allow, methods=["POST"]),
    Route("/admin/federation/blocks/preview", block_preview, methods=["GET"]),
    Route("/admin/federation/blocks", add_block, methods=["POST"]),
    Route("/admin/federation/rules/{rule_id:int}", rule_page, methods=["GET"]),
    Route("/admin/federation/rules/{rule_id:int}", update_rule, methods=["POST"]),
    Route("/admin/federation/rules/{rule_id:int}/remove", remove_confirmation, methods=["GET"]),
    Route("/admin/federation/rules/{rule_id:int}/remove", remove_rule, methods=["POST"]),
    Route("/admin/federation/rules/{rule_id:int}/cancel", cancel_rule_change, methods=["POST"]),
    Route("/admin/federation/requests", requests_page, methods=["GET"]),
    Route("/admin/federation/requests/{request_id:int}/approve", approve_request, methods=["POST"]),
    Route("/admin/federation/requests/{request_id:int}/deny", deny_request, methods=["POST"]),
    Route("/admin/federation/audit", audit_page, methods=["GET"]),
]
