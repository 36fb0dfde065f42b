"""Mastodon's admin API: domain allows and blocks, accounts, reports; plus federation requests,
the federation mode, impact previews and the audit log (this server's own endpoints), and the
public `GET /api/v1/instance/domain_blocks` / `domain_allows`.

Domain rules need the admin role (Mastodon's "manage federation"); accounts and reports are
open to moderators too. Every change is audited by `fediverse.federation_rules`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from federation.policy import complete_approved_requests
from fediverse import federation_rules as rules
from fediverse import moderation
from fediverse.errors import Forbidden, NotAuthorized, NotFound, ValidationError
from fediverse.federation_rules import Actor, DomainBlockExists, FederationRefused
from fediverse.ids import parse_id
from fediverse.storage import federation_rules as rules_store
from fediverse.storage import moderation as moderation_store
from fediverse.storage.accounts import Account, User
from fediverse.storage.database import Connection
from fediverse.storage.federation_rules import DomainRuleRow
from fediverse.storage.moderation import ReportRow
from fediverse.urls import LocalUrls
from web.activitypub import policy_of
from web.auth import Viewer, optional_viewer, require_scope
from web.forms import Params, read_params
from web.mastodon_api.entities import render_account
from web.pagination import PageRequest, add_link_header, parse_page
from web.responses import JSONResponse
from web.state import database_of, state_of, urls_of

# The composition root's resolver (web/app.py REMOTE_RESOLVER_SERVICE); named here because
# web/app.py imports the routes, so importing it back would be a cycle.
REMOTE_RESOLVER_SERVICE = "remote_resolver"


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def require_staff(request: Request, scope: str, *, admin_only: bool = False) -> Actor:
    """A token with `scope` acting for an admin (or, unless `admin_only`, a moderator)."""
    viewer = await require_scope(request, scope)
    user = viewer.user
    if user is None or not user.is_staff or (admin_only and not user.is_admin):
        raise Forbidden("This action is not allowed")
    assert viewer.account is not None
    return Actor(label=f"@{viewer.account.username}", account_id=viewer.account.id)


def _id(request: Request) -> int:
    value = parse_id(request.path_params["id"])
    if value is None:
        raise NotFound()
    return value


# Mastodon's admin lists: 100 by default, at most twice that (`limit_param(LIMIT)`).
ADMIN_DEFAULT_LIMIT = 100
ADMIN_MAX_LIMIT = 200


def _admin_page(params: Params) -> PageRequest:
    return parse_page(params, default_limit=ADMIN_DEFAULT_LIMIT, max_limit=ADMIN_MAX_LIMIT)


def _limit(params: Params, default: int = 100, maximum: int = 200) -> int:
    limit = params.int("limit", default) or default
    return max(1, min(limit, maximum))


def _bool(params: Params, name: str, default: bool = False) -> bool:
    value = params.bool(name, default)
    return default if value is None else value


# --- entities --------------------------------------------------------------------------------


def _digest(domain: str) -> str:
    return hashlib.sha256(domain.encode()).hexdigest()


def obfuscate(domain: str) -> str:
    """Mastodon's obfuscation: the middle of the name starred, dots kept."""
    length = len(domain)
    visible = length // 4
    return "".join(
        "*" if visible < index < length - visible and char != "." else char
        for index, char in enumerate(domain)
    )


def render_domain_allow(rule: DomainRuleRow) -> dict[str, Any]:
    return {"id": str(rule.id), "domain": rule.domain, "created_at": _iso(rule.created_at)}


def render_domain_block(rule: DomainRuleRow) -> dict[str, Any]:
    return {
        "id": str(rule.id),
        "domain": rule.domain,
        "digest": _digest(rule.domain),
        "created_at": _iso(rule.created_at),
        "severity": rule.severity,
        "reject_media": rule.reject_media,
        "reject_reports": rule.reject_reports,
        "private_comment": rule.private_comment,
        "public_comment": rule.public_comment,
        "obfuscate": rule.obfuscate,
        # Beyond Mastodon: when the block takes effect (a grace period puts it later).
        "effective_at": _iso(rule.effective_at),
        "ends_at": _iso(rule.ends_at),
    }


def render_public_domain_block(rule: DomainRuleRow) -> dict[str, Any]:
    return {
        "domain": obfuscate(rule.domain) if rule.obfuscate else rule.domain,
        "digest": _digest(rule.domain),
        "severity": rule.severity,
        "comment": rule.public_comment,
    }


_ROLES = {
    "admin": {"id": "3", "name": "Admin", "permissions": "1", "highlighted": True},
    "moderator": {"id": "2", "name": "Moderator", "permissions": "1308", "highlighted": True},
    "user": {"id": "-99", "name": "", "permissions": "65536", "highlighted": False},
}


def render_admin_account(account: Account, user: User | None, urls: LocalUrls) -> dict[str, Any]:
    """Mastodon's Admin::Account."""
    role = _ROLES.get(user.role if user is not None else "user", _ROLES["user"])
    return {
        "id": str(account.id),
        "username": account.username,
        "domain": account.domain,
        "created_at": _iso(account.created_at),
        "email": user.email if user is not None else None,
        "ip": None,
        "ips": [],
        "locale": user.locale if user is not None else None,
        "invite_request": None,
        "role": {**role, "color": ""},
        "confirmed": True,
        "approved": user.approved if user is not None else True,
        "disabled": user.disabled if user is not None else False,
        "silenced": account.silenced_at is not None,
        "suspended": account.suspended_at is not None,
        "sensitized": False,
        "account": render_account(account, urls),
        "created_by_application_id": None,
        "invited_by_account_id": None,
    }


async def _admin_account(conn: Connection, account_id: int | None, urls: LocalUrls) -> Any:
    if account_id is None:
        return None
    try:
        account, user = await moderation.account_with_user(conn, account_id)
    except NotFound:
        return None
    return render_admin_account(account, user, urls)


async def render_report(conn: Connection, report: ReportRow, urls: LocalUrls) -> dict[str, Any]:
    """Mastodon's Admin::Report (statuses are given by id in `status_ids`)."""
    return {
        "id": str(report.id),
        "action_taken": report.action_taken_at is not None,
        "action_taken_at": _iso(report.action_taken_at),
        "category": report.category,
        "comment": report.comment,
        "forwarded": report.forwarded,
        "created_at": _iso(report.created_at),
        "updated_at": _iso(report.updated_at),
        "account": await _admin_account(conn, report.account_id, urls),
        "target_account": await _admin_account(conn, report.target_account_id, urls),
        "assigned_account": await _admin_account(conn, report.assigned_account_id, urls),
        "action_taken_by_account": await _admin_account(
            conn, report.action_taken_by_account_id, urls
        ),
        "statuses": [],
        "status_ids": [str(status_id) for status_id in report.status_ids],
        "rules": [],
    }


def render_federation_request(request: rules.FederationRequest) -> dict[str, Any]:
    return {
        "id": str(request.id),
        "requester_account_id": (
            None if request.requester_account_id is None else str(request.requester_account_id)
        ),
        "requester_username": request.requester_username,
        "acct": request.acct,
        "domain": request.domain,
        "reason": request.reason,
        "follow": request.follow,
        "state": request.state,
        "decided_by": request.decided_by,
        "decided_at": _iso(request.decided_at),
        "created_at": _iso(request.created_at),
    }


def render_audit(entry: rules.AuditEntry) -> dict[str, Any]:
    return {
        "id": str(entry.id),
        "actor": entry.actor,
        "actor_account_id": (
            None if entry.actor_account_id is None else str(entry.actor_account_id)
        ),
        "action": entry.action,
        "target": entry.target,
        "before": entry.before,
        "after": entry.after,
        "created_at": _iso(entry.created_at),
    }


def render_sever_report(report: rules.SeverReport) -> dict[str, Any]:
    return {
        "following_severed": report.following,
        "followers_severed": report.followers,
        "farewells_sent": report.farewells,
        "accounts_removed": report.accounts_removed,
        "domains": report.domains,
    }


async def _rule_page(
    request: Request, kind: str, render: Callable[[DomainRuleRow], dict[str, Any]]
) -> Response:
    """One page of allows or blocks, newest first, with Mastodon's `Link` header."""
    page = _admin_page(await read_params(request))
    async with database_of(request).connection() as conn:
        found = await rules_store.list_rule_page(
            conn,
            kind=kind,
            max_id=page.max_id,
            since_id=page.since_id,
            min_id=page.min_id,
            limit=page.limit,
        )
    response = JSONResponse([render(rule) for rule in found])
    return add_link_header(response, request, page, [rule.id for rule in found])


# --- domain allows ------------------------------------------------------------------------------


async def list_domain_allows(request: Request) -> Response:
    await require_staff(request, "admin:read:domain_allows", admin_only=True)
    return await _rule_page(request, "allow", render_domain_allow)


async def show_domain_allow(request: Request) -> Response:
    await require_staff(request, "admin:read:domain_allows", admin_only=True)
    async with database_of(request).connection() as conn:
        rule = await rules.fetch_rule(conn, rule_id=_id(request), kind="allow")
    return JSONResponse(render_domain_allow(rule))


async def create_domain_allow(request: Request) -> Response:
    who = await require_staff(request, "admin:write:domain_allows", admin_only=True)
    params = await read_params(request)
    domain = params.str("domain")
    if not domain:
        raise ValidationError("Domain can't be blank", field="domain")
    async with database_of(request).transaction() as conn:
        rule = await rules.allow_domain(conn, domain=domain, who=who, now=_now())
    policy_of(request).invalidate()
    return JSONResponse(render_domain_allow(rule))


async def delete_domain_allow(request: Request) -> Response:
    who = await require_staff(request, "admin:write:domain_allows", admin_only=True)
    async with database_of(request).transaction() as conn:
        await rules.fetch_rule(conn, rule_id=_id(request), kind="allow")
        await rules.remove_rule(conn, rule_id=_id(request), who=who, now=_now())
    policy_of(request).invalidate()
    return JSONResponse({})


# --- domain blocks ------------------------------------------------------------------------------


_MAX_GRACE_HOURS = 24 * 365  # a year; larger values would overflow datetime arithmetic


def _grace(params: Params) -> timedelta | None:
    hours = params.str("grace_hours")
    if not hours:
        return None
    try:
        value = float(hours)
    except ValueError:
        raise ValidationError("grace_hours must be a number", field="grace_hours") from None
    if not value <= _MAX_GRACE_HOURS:  # also refuses nan and inf
        raise ValidationError(
            f"grace_hours must be at most {_MAX_GRACE_HOURS}", field="grace_hours"
        )
    return timedelta(hours=value) if value > 0 else None


async def list_domain_blocks(request: Request) -> Response:
    await require_staff(request, "admin:read:domain_blocks", admin_only=True)
    return await _rule_page(request, "block", render_domain_block)


async def show_domain_block(request: Request) -> Response:
    await require_staff(request, "admin:read:domain_blocks", admin_only=True)
    async with database_of(request).connection() as conn:
        rule = await rules.fetch_rule(conn, rule_id=_id(request), kind="block")
    return JSONResponse(render_domain_block(rule))


async def create_domain_block(request: Request) -> Response:
    who = await require_staff(request, "admin:write:domain_blocks", admin_only=True)
    params = await read_params(request)
    domain = params.str("domain")
    if not domain:
        raise ValidationError("Domain can't be blank", field="domain")
    try:
        async with database_of(request).transaction() as conn:
            rule = await rules.block_domain(
                conn,
                domain=domain,
                who=who,
                now=_now(),
                severity=params.str("severity") or "silence",
                reject_media=_bool(params, "reject_media"),
                reject_reports=_bool(params, "reject_reports"),
                private_comment=params.str("private_comment"),
                public_comment=params.str("public_comment"),
                obfuscate=_bool(params, "obfuscate"),
                grace=_grace(params),
            )
    except DomainBlockExists as exists:
        # Mastodon's ExistingDomainBlockErrorSerializer.
        return JSONResponse(
            {
                "error": f"You have already imposed stricter limits on {exists.existing.domain}.",
                "existing_domain_block": render_domain_block(exists.existing),
            },
            status_code=422,
        )
    policy_of(request).invalidate()
    return JSONResponse(render_domain_block(rule))


async def update_domain_block(request: Request) -> Response:
    who = await require_staff(request, "admin:write:domain_blocks", admin_only=True)
    params = await read_params(request)
    changes: dict[str, Any] = {}
    for name in ("severity", "private_comment", "public_comment"):
        if name in params:
            changes[name] = params.str(name)
    for name in ("reject_media", "reject_reports", "obfuscate"):
        if name in params:
            changes[name] = _bool(params, name)
    async with database_of(request).transaction() as conn:
        rule = await rules.update_block(
            conn, rule_id=_id(request), who=who, now=_now(), changes=changes
        )
    policy_of(request).invalidate()
    return JSONResponse(render_domain_block(rule))


async def delete_domain_block(request: Request) -> Response:
    who = await require_staff(request, "admin:write:domain_blocks", admin_only=True)
    async with database_of(request).transaction() as conn:
        await rules.fetch_rule(conn, rule_id=_id(request), kind="block")
        await rules.remove_rule(conn, rule_id=_id(request), who=who, now=_now())
    policy_of(request).invalidate()
    return JSONResponse({})


# --- mode, impact, figures, audit (this server's own) ---------------------------------------


async def show_federation(request: Request) -> Response:
    """GET /api/v1/admin/federation: the mode and per-domain figures."""
    await require_staff(request, "admin:read:domain_allows", admin_only=True)
    async with database_of(request).connection() as conn:
        mode = await rules.read_mode(conn)
        figures = await rules.domain_figures(conn)
    return JSONResponse(
        {
            "mode": mode.value,
            "domains": [
                {
                    "domain": row.domain,
                    "staff_following": row.staff_following,
                    "followers_from_there": row.followers_from_there,
                    "last_delivered_at": _iso(row.last_delivered_at),
                    "last_failed_at": _iso(row.last_failed_at),
                    "last_error": row.last_error,
                }
                for row in figures.values()
            ],
        }
    )


async def set_federation_mode(request: Request) -> Response:
    """PUT /api/v1/admin/federation {mode: open|allowlist}."""
    who = await require_staff(request, "admin:write:domain_allows", admin_only=True)
    params = await read_params(request)
    try:
        mode = rules.Mode(params.str("mode") or "")
    except ValueError:
        raise ValidationError("mode must be open or allowlist", field="mode") from None
    async with database_of(request).transaction() as conn:
        report = await rules.set_mode(conn, mode=mode, who=who, now=_now())
    policy_of(request).invalidate()
    return JSONResponse({"mode": mode.value, "severed": render_sever_report(report)})


async def domain_impact(request: Request) -> Response:
    """GET /api/v1/admin/domain_impact?domain=: what blocking or removing it would sever."""
    await require_staff(request, "admin:read:domain_blocks", admin_only=True)
    params = await read_params(request)
    async with database_of(request).connection() as conn:
        found = await rules.impact(conn, domain=params.str("domain") or "")
    return JSONResponse(
        {
            "domain": found.domain,
            "following": [
                {"local": local, "remote": remote} for local, remote in found.local_following
            ],
            "followers": [
                {"remote": remote, "local": local} for remote, local in found.remote_followers
            ],
            "following_count": found.following_count,
            "followers_count": found.followers_count,
            "accounts_count": found.accounts_count,
            "statuses_count": found.statuses_count,
            "follow_requests_count": found.requests_count,
        }
    )


async def audit_log(request: Request) -> Response:
    await require_staff(request, "admin:read", admin_only=True)
    params = await read_params(request)
    async with database_of(request).connection() as conn:
        entries = await rules.list_audit(conn, limit=_limit(params), before_id=params.int("max_id"))
    return JSONResponse([render_audit(entry) for entry in entries])


# --- federation requests -------------------------------------------------------------------


async def list_federation_requests(request: Request) -> Response:
    await require_staff(request, "admin:read:domain_allows", admin_only=True)
    params = await read_params(request)
    state = params.str("state") or "pending"
    async with database_of(request).connection() as conn:
        found = await rules.list_requests(conn, state=None if state == "all" else state)
    return JSONResponse([render_federation_request(item) for item in found])


async def decide_federation_request(request: Request) -> Response:
    who = await require_staff(request, "admin:write:domain_allows", admin_only=True)
    decision = request.path_params["decision"]
    if decision not in ("approve", "deny"):
        raise NotFound()
    async with database_of(request).transaction() as conn:
        if decision == "approve":
            found = await rules.approve_request(conn, request_id=_id(request), who=who, now=_now())
        else:
            found = await rules.deny_request(conn, request_id=_id(request), who=who, now=_now())
    policy_of(request).invalidate()
    resolver = state_of(request).services.get(REMOTE_RESOLVER_SERVICE)
    if decision == "approve" and resolver is not None:
        await complete_approved_requests(database_of(request), resolver)
    return JSONResponse(render_federation_request(found))


async def record_federation_request(
    request: Request, refused: FederationRefused, *, follow: bool, reason: str = ""
) -> None:
    """In allowlist mode, a staff member's refused lookup or follow becomes a request for
    the admins (in its own transaction: the refused one is rolled back)."""
    if not refused.requestable:
        return
    viewer: Viewer | None = await optional_viewer(request)
    if viewer is None or viewer.account is None:
        return
    async with database_of(request).transaction() as conn:
        await rules.record_request(
            conn,
            requester_account_id=viewer.account.id,
            acct=refused.acct or refused.domain,
            reason=reason,
            follow=follow,
            now=_now(),
        )


# --- accounts --------------------------------------------------------------------------------


async def list_accounts(request: Request) -> Response:
    await require_staff(request, "admin:read:accounts")
    params = await read_params(request)
    page = _admin_page(params)
    origin = "local" if _bool(params, "local") else "remote" if _bool(params, "remote") else None
    status = None
    for name in ("active", "pending", "disabled", "silenced", "suspended"):
        if _bool(params, name):
            status = name
    async with database_of(request).connection() as conn:
        account_ids = await moderation_store.list_account_ids(
            conn,
            origin=origin,
            status=status,
            username=params.str("username"),
            domain=params.str("by_domain"),
            staff=_bool(params, "staff"),
            max_id=page.max_id,
            since_id=page.since_id,
            min_id=page.min_id,
            limit=page.limit,
        )
        body = []
        for account_id in account_ids:
            account, user = await moderation.account_with_user(conn, account_id)
            body.append(render_admin_account(account, user, urls_of(request)))
    return add_link_header(JSONResponse(body), request, page, account_ids)


async def show_account(request: Request) -> Response:
    await require_staff(request, "admin:read:accounts")
    async with database_of(request).connection() as conn:
        account, user = await moderation.account_with_user(conn, _id(request))
    return JSONResponse(render_admin_account(account, user, urls_of(request)))


async def account_action(request: Request) -> Response:
    """POST /api/v1/admin/accounts/:id/{approve,reject,action,unsuspend,unsilence,enable}."""
    who = await require_staff(request, "admin:write:accounts")
    verb = request.path_params["verb"]
    if verb not in ("approve", "reject", "action", "unsuspend", "unsilence", "enable"):
        raise NotFound()
    if verb == "action":
        params = await read_params(request)
        action = params.str("type") or "none"
        if action not in moderation.ACCOUNT_ACTIONS:
            raise ValidationError(
                "type must be one of none, disable, silence, suspend, sensitive", field="type"
            )
    else:
        action = verb
    async with database_of(request).transaction() as conn:
        await moderation.act_on_account(
            conn, account_id=_id(request), action=action, who=who, now=_now()
        )
        if verb in ("action", "reject"):
            return JSONResponse({})
        account, user = await moderation.account_with_user(conn, _id(request))
    return JSONResponse(render_admin_account(account, user, urls_of(request)))


# --- reports -------------------------------------------------------------------------------------


async def list_reports(request: Request) -> Response:
    await require_staff(request, "admin:read:reports")
    params = await read_params(request)
    page = _admin_page(params)
    async with database_of(request).connection() as conn:
        found = await moderation_store.list_reports(
            conn,
            resolved=_bool(params, "resolved"),
            account_id=params.int("account_id"),
            target_account_id=params.int("target_account_id"),
            max_id=page.max_id,
            since_id=page.since_id,
            min_id=page.min_id,
            limit=page.limit,
        )
        body = [await render_report(conn, report, urls_of(request)) for report in found]
    response = JSONResponse(body)
    return add_link_header(response, request, page, [report.id for report in found])


async def show_report(request: Request) -> Response:
    await require_staff(request, "admin:read:reports")
    async with database_of(request).connection() as conn:
        found = await moderation.report(conn, report_id=_id(request))
        body = await render_report(conn, found, urls_of(request))
    return JSONResponse(body)


async def report_action(request: Request) -> Response:
    who = await require_staff(request, "admin:write:reports")
    if request.path_params["verb"] not in ("resolve", "reopen", "assign_to_self", "unassign"):
        raise NotFound()
    async with database_of(request).transaction() as conn:
        found = await moderation.act_on_report(
            conn, report_id=_id(request), action=request.path_params["verb"], who=who, now=_now()
        )
        body = await render_report(conn, found, urls_of(request))
    return JSONResponse(body)


# --- public lists ----------------------------------------------------------------------------


async def _may_see_public_lists(request: Request) -> None:
    async with database_of(request).connection() as conn:
        visibility = await rules.blocks_visibility(conn)
    if visibility == "disabled":
        raise NotFound()
    if visibility == "users" and await optional_viewer(request) is None:
        raise NotAuthorized("This method requires an authenticated user")


async def render_public_blocks(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """The public parts of the blocks in force (Mastodon's instance DomainBlock entity)."""
    found = await rules.list_rules(conn, kind="block")
    return [
        render_public_domain_block(rule)
        for rule in found
        if rule.effective_at <= now
        and (rule.severity != "noop" or rule.reject_media or rule.reject_reports)
    ]


async def render_public_allows(conn: Connection) -> list[dict[str, Any]]:
    return [{"domain": rule.domain} for rule in await rules.list_rules(conn, kind="allow")]


async def may_see_public_lists(request: Request) -> bool:
    """Whether this caller may see the public parts of the domain rules."""
    async with database_of(request).connection() as conn:
        visibility = await rules.blocks_visibility(conn)
    if visibility == "disabled":
        return False
    return visibility == "all" or await optional_viewer(request) is not None


async def public_domain_blocks(request: Request) -> Response:
    """GET /api/v1/instance/domain_blocks (signed-in users by default; a setting opens it)."""
    await _may_see_public_lists(request)
    async with database_of(request).connection() as conn:
        return JSONResponse(await render_public_blocks(conn, _now()))


async def public_domain_allows(request: Request) -> Response:
    """GET /api/v1/instance/domain_allows (as GoToSocial), under the same visibility."""
    await _may_see_public_lists(request)
    async with database_of(request).connection() as conn:
        return JSONResponse(await render_public_allows(conn))


routes: list[BaseRoute] = [
    Route("/api/v1/admin/domain_allows", list_domain_allows, methods=["GET"]),
    Route("/api/v1/admin/domain_allows", create_domain_allow, methods=["POST"]),
    Route("/api/v1/admin/domain_allows/{id}", show_domain_allow, methods=["GET"]),
    Route("/api/v1/admin/domain_allows/{id}", delete_domain_allow, methods=["DELETE"]),
    Route("/api/v1/admin/domain_blocks", list_domain_blocks, methods=["GET"]),
    Route("/api/v1/admin/domain_blocks", create_domain_block, methods=["POST"]),
    Route("/api/v1/admin/domain_blocks/{id}", show_domain_block, methods=["GET"]),
    Route("/api/v1/admin/domain_blocks/{id}", update_domain_block, methods=["PUT"]),
    Route("/api/v1/admin/domain_blocks/{id}", delete_domain_block, methods=["DELETE"]),
    Route("/api/v1/admin/federation", show_federation, methods=["GET"]),
    Route("/api/v1/admin/federation", set_federation_mode, methods=["PUT", "POST"]),
    Route("/api/v1/admin/domain_impact", domain_impact, methods=["GET"]),
    Route("/api/v1/admin/audit_log", audit_log, methods=["GET"]),
    Route("/api/v1/admin/federation_requests", list_federation_requests, methods=["GET"]),
    Route(
        "/api/v1/admin/federation_requests/{id}/{decision:str}",
        decide_federation_request,
        methods=["POST"],
    ),
    Route("/api/v1/admin/accounts", list_accounts, methods=["GET"]),
    Route("/api/v1/admin/accounts/{id}", show_account, methods=["GET"]),
    Route("/api/v1/admin/accounts/{id}/{verb:str}", account_action, methods=["POST"]),
    Route("/api/v1/admin/reports", list_reports, methods=["GET"]),
    Route("/api/v1/admin/reports/{id}", show_report, methods=["GET"]),
    Route("/api/v1/admin/reports/{id}/{verb:str}", report_action, methods=["POST"]),
    Route("/api/v1/instance/domain_blocks", public_domain_blocks, methods=["GET"]),
    Route("/api/v1/instance/domain_allows", public_domain_allows, methods=["GET"]),
]
