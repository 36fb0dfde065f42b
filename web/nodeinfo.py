"""NodeInfo 2.0 and 2.1 (nodeinfo.diaspora.software): what software runs here, honest usage.

Discovery at `/.well-known/nodeinfo`; Mastodon serves 2.0, others 2.0 and 2.1; we serve both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import fediverse
from fediverse import instance
from fediverse.instance import InstanceProfile, InstanceUsage
from web.responses import JSONResponse
from web.state import database_of, settings_of

SCHEMA_VERSIONS = ("2.0", "2.1")


def schema_url(version: str) -> str:
    return f"http://nodeinfo.diaspora.software/ns/schema/{version}"


def render_nodeinfo(version: str, profile: InstanceProfile, usage: InstanceUsage) -> dict[str, Any]:
    software: dict[str, Any] = {"name": instance.SOFTWARE_NAME, "version": fediverse.__version__}
    if version == "2.1":
        if profile.source_url:
            software["repository"] = profile.source_url
        software["homepage"] = profile.base_url
    return {
        "version": version,
        "software": software,
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": profile.registrations_open,
        "usage": {
            "users": {
                "total": usage.users_total,
                "activeMonth": usage.active_month,
                "activeHalfyear": usage.active_halfyear,
            },
            "localPosts": usage.local_posts,
        },
        "metadata": {"nodeName": profile.title, "nodeDescription": profile.short_description},
    }


async def discovery(request: Request) -> Response:
    base = settings_of(request).base_url
    return JSONResponse(
        {
            "links": [
                {"rel": schema_url(version), "href": f"{base}/nodeinfo/{version}"}
                for version in SCHEMA_VERSIONS
            ]
        }
    )


async def nodeinfo(request: Request) -> Response:
    version = request.path_params["version"]
    if version not in SCHEMA_VERSIONS:
        return JSONResponse({"error": "Record not found"}, status_code=404)
    async with database_of(request).transaction() as conn:
        profile = await instance.load_profile(conn, settings_of(request))
        usage = await instance.load_usage(conn, now=datetime.now(UTC))
    return JSONResponse(
        render_nodeinfo(version, profile, usage),
        media_type=f'application/json; profile="{schema_url(version)}#"',
    )


routes: list[BaseRoute] = [
    Route("/.well-known/nodeinfo", discovery, methods=["GET"]),
    Route("/nodeinfo/{version}", nodeinfo, methods=["GET"]),
]
