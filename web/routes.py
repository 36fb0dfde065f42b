"""The URL map: every module's routes in one list."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from web import activitypub, inbox, media_files, nodeinfo, oauth, pages, static_files, wellknown
from web.mastodon_api import (
    accounts,
    announcements,
    apps,
    bookmarks,
    custom_emojis,
    filters,
    follow_requests,
    instance,
    lists,
    markers,
    media,
    notifications,
    preferences,
    push,
    registrations,
    search,
    statuses,
    tags,
    timelines,
)


async def health(request: Request) -> Response:
    return PlainTextResponse("OK")


def all_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [Route("/health", health)]
    for module in (
        wellknown,
        activitypub,
        inbox,
        oauth,
        apps,
        accounts,
        follow_requests,
        statuses,
        timelines,
        notifications,
        media,
        search,
        instance,
        lists,
        bookmarks,
        tags,
        filters,
        markers,
        preferences,
        push,
        announcements,
        custom_emojis,
        nodeinfo,
        media_files,
        registrations,
        pages,
        static_files,
    ):
        routes.extend(module.routes)
    return routes
