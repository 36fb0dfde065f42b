"""Mastodon client API: `GET /api/v2/search` (accounts, hashtags, statuses the viewer may see).

`/api/v1/search` stays unrouted (404), as in Mastodon since 3.0. A remote resolver for
`resolve=true` is taken from the app's services under `SEARCH_RESOLVER_SERVICE`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import search as search_domain
from fediverse.errors import BadRequest, NotAuthorized
from fediverse.federation_rules import FederationRefused
from fediverse.ids import parse_id
from fediverse.search import RemoteResolver, SearchQuery, SearchResults
from fediverse.status_views import load_views
from fediverse.storage.database import Connection
from fediverse.urls import LocalUrls
from web.auth import read_viewer
from web.forms import read_params
from web.mastodon_api.admin import record_federation_request
from web.mastodon_api.entities import render_account, render_status, render_tag
from web.responses import JSONResponse
from web.state import database_of, settings_of, state_of, urls_of

SEARCH_RESOLVER_SERVICE = "search_resolver"


def _id_param(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    value = parse_id(raw)
    if value is None:
        raise BadRequest(f"{name} must be an id")
    return value


async def search_v2(request: Request) -> Response:
    viewer = await read_viewer(request, "read:search")
    viewer_id = None if viewer is None else viewer.account_id
    params = await read_params(request)
    q = params.str("q")
    if q is None or not q.strip():
        raise BadRequest("param is missing or the value is empty: q")
    resolve = bool(params.bool("resolve", False))
    if viewer_id is None:
        # Mastodon's Api::V2::SearchController refuses these to anonymous callers.
        if params.str("offset"):
            raise NotAuthorized("Search queries pagination is not supported without authentication")
        if resolve:
            raise NotAuthorized(
                "Search queries that resolve remote resources are not supported without "
                "authentication"
            )
    limit = params.int("limit")
    offset = params.int("offset", 0) or 0
    if (limit is not None and limit < 0) or offset < 0:
        raise BadRequest("Pagination values for `offset` and `limit` must be positive")
    query = SearchQuery(
        q=q,
        type=search_domain.parse_search_type(params.str("type")),
        resolve=resolve,
        following=bool(params.bool("following", False)),
        account_id=_id_param(params.str("account_id"), "account_id"),
        exclude_unreviewed=bool(params.bool("exclude_unreviewed", False)),
        max_id=_id_param(params.str("max_id"), "max_id"),
        min_id=_id_param(params.str("min_id"), "min_id"),
        limit=search_domain.clamp_limit(limit),
        offset=offset,
    )
    resolver: RemoteResolver | None = state_of(request).services.get(SEARCH_RESOLVER_SERVICE)
    try:
        async with database_of(request).transaction() as conn:
            results = await search_domain.search(
                conn,
                query=query,
                viewer_id=viewer_id,
                local_domain=settings_of(request).domain,
                resolver=resolver,
            )
            body = await render_results(conn, results, viewer_id, urls_of(request))
    except FederationRefused as refused:
        # 422 "x is not allowed to federate with this server"; in allowlist mode the lookup
        # becomes a federation request for the admins.
        await record_federation_request(request, refused, follow=False)
        raise
    return JSONResponse(body)


async def render_results(
    conn: Connection, results: SearchResults, viewer_id: int | None, urls: LocalUrls
) -> dict[str, Any]:
    views = await load_views(conn, results.statuses, viewer_id)
    return {
        "accounts": [render_account(account, urls) for account in results.accounts],
        "statuses": [render_status(view, urls) for view in views],
        "hashtags": [
            render_tag(
                tag.display_name, urls, following=tag.following if viewer_id is not None else None
            )
            for tag in results.hashtags
        ],
    }


routes: list[BaseRoute] = [Route("/api/v2/search", search_v2, methods=["GET"])]
