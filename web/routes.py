"""The URL map: every module's routes in one list."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from web import (
    activitypub,
    admin,
    inbox,
    media_files,
    nodeinfo,
    oauth,
    pages,
    static_files,
    wellknown,
)
from web.mastodon_api import (
    accounts,
    announcements,
    apps,
    audience,
    bookmarks,
    conversations,
    custom_emojis,
    directory,
    endorsements,
    featured_tags,
    filters,
    follow_requests,
    instance,
    lists,
    markers,
    media,
    notifications,
    notifications_v2,
    polls,
    preferences,
    push,
    registrations,
    scheduled_statuses,
    search,
    statuses,
    streaming,
    tags,
    timelines,
    trends,
)
from web.mastodon_api import admin as admin_api


async def health(request: Request) -> Response:
    return PlainTextResponse("OK")


def all_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [Route("/health", health)]
    # The inboxes first: peers POST to them more than anything else is asked for, and a
    # router tries its routes in order.
    for module in (
        inbox,
        wellknown,
        activitypub,
        oauth,
        apps,
        accounts,
        follow_requests,
        audience,
        statuses,
        timelines,
        # Before v1 notifications: /api/v1/notifications/requests must not match /{id}.
        notifications_v2,
        notifications,
        polls,
        conversations,
        scheduled_statuses,
        media,
        search,
        # Before instance: /api/v1/instance/domain_blocks is served by admin_api.
        admin_api,
        instance,
        lists,
        bookmarks,
        tags,
        filters,
        markers,
        preferences,
        streaming,
        push,
        announcements,
        directory,
        trends,
        featured_tags,
        endorsements,
        custom_emojis,
        nodeinfo,
        media_files,
        registrations,
        admin,
        pages,
        static_files,
    ):
        routes.extend(module.routes)
    return routes
