"""Who can see it: a status's audience as resolved at posting time, a preview of a draft's, and
the organization's default scope (an admin setting). Not part of Mastodon's API; documented in
README.md ("Who can see it")."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import audience_report, default_scope
from fediverse.audience_preview import preview_audience
from fediverse.audience_report import AudienceReport
from fediverse.errors import Forbidden, NotFound
from fediverse.ids import parse_id
from fediverse.storage import statuses as status_store
from fediverse.urls import LocalUrls
from web.auth import require_account, require_admin
from web.forms import read_params
from web.mastodon_api.entities import iso, render_account
from web.mastodon_api.statuses import parse_draft, posting_context_for
from web.responses import JSONResponse
from web.state import database_of, state_of, urls_of


def render_audience(report: AudienceReport, urls: LocalUrls) -> dict[str, Any]:
    audience = report.audience
    return {
        "scope": audience.scope.value,
        "visibility": audience.visibility,
        "local_only": audience.local_only,
        "federates": audience.federates,
        "followers_count": audience.followers_local + audience.followers_remote,
        "local_accounts": audience.local_accounts,
        "remote_accounts": audience.remote_accounts,
        "remote_servers": len(report.servers),
        "servers": [
            {
                "domain": server.domain,
                "accounts": server.accounts,
                "delivery": {
                    "state": server.delivery.state,
                    "delivered": server.delivery.delivered,
                    "pending": server.delivery.pending,
                    "failed": server.delivery.failed,
                    "next_attempt_at": iso(server.delivery.next_attempt_at),
                    "last_error": server.delivery.last_error,
                },
            }
            for server in report.servers
        ],
        "mentioned": [render_account(account, urls) for account in report.mentioned],
        "summary": report.summary,
        "short_summary": report.short_summary,
        "warnings": report.warnings,
        "resolved_at": iso(audience.resolved_at),
    }


async def status_audience(request: Request) -> Response:
    """GET /api/v1/statuses/:id/audience: the author and admins; 404 for everyone else."""
    viewer, account = await require_account(request, "read:statuses")
    status_id = parse_id(request.path_params["id"])
    if status_id is None:
        raise NotFound()
    async with database_of(request).transaction() as conn:
        status = await status_store.fetch_status(conn, status_id=status_id)
        if status is None or not audience_report.may_audit(status, account, viewer.user):
            raise NotFound()
        report = await audience_report.status_report(conn, status)
    return JSONResponse(render_audience(report, urls_of(request)))


async def audience_preview(request: Request) -> Response:
    """POST /api/v1/statuses/audience_preview: the parameters of posting; nothing is written."""
    viewer, account = await require_account(request, "write:statuses")
    assert viewer.user is not None
    params = await read_params(request)
    draft = parse_draft(params, viewer.token.application_id)
    async with database_of(request).transaction() as conn:
        report = await preview_audience(
            conn,
            author=account,
            user=viewer.user,
            draft=draft,
            ctx=posting_context_for(state_of(request)),
        )
    return JSONResponse(render_audience(report, urls_of(request)))


async def organization_default_scope(request: Request) -> Response:
    """GET/PUT /api/v1/admin/default_scope: the scope of posts whose author chose no default.
    PUT takes `scope` (public, unlisted, followers, mentioned, internal; empty to unset)."""
    viewer = await require_admin(
        request, "admin:write" if request.method == "PUT" else "admin:read"
    )
    if viewer.user is None or not viewer.user.is_admin:
        raise Forbidden("This action is not allowed")
    async with database_of(request).transaction() as conn:
        if request.method == "PUT":
            raw = (await read_params(request)).str("scope") or ""
            chosen = default_scope.parse_scope(raw) if raw.strip() else None
            await default_scope.set_organization_default(conn, chosen)
        current = await default_scope.organization_default(conn)
    return JSONResponse({"scope": None if current is None else current.value})


routes: list[BaseRoute] = [
    Route("/api/v1/statuses/audience_preview", audience_preview, methods=["POST"]),
    Route("/api/v1/statuses/{id}/audience", status_audience, methods=["GET"]),
    Route("/api/v1/admin/default_scope", organization_default_scope, methods=["GET", "PUT"]),
]
