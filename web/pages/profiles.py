"""Public HTML pages: `/@username` (profile) and `/@username/{id}` (one status).

They show what an anonymous visitor may see by the audience rule (public and unlisted posts,
never private, direct or internal ones; a status outside that is a 404 like a missing one).
The same URLs serve ActivityStreams to peers: the profile serves the actor document, a status
URL redirects to the status's ActivityPub id. "Follow from another server" asks the visitor's
server (WebFinger subscribe template) through the federation client when one is wired, and
otherwise shows our handle with instructions.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from federation.activitystreams import wants_activitystreams
from federation.webfinger import SUBSCRIBE_REL, WebfingerError, split_acct
from fediverse import profiles
from fediverse import statuses as status_domain
from fediverse.errors import DomainError, Gone, NotFound
from fediverse.ids import parse_id
from fediverse.profiles import StatusQuery
from fediverse.status_views import load_views
from fediverse.storage import accounts as account_store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Connection
from web import activitypub
from web.mastodon_api.entities import render_account, render_status
from web.pages.rendering import (
    error_page,
    link_targets,
    page,
    profile_fields,
    safe_html,
    short_text,
    status_card,
)
from web.state import database_of, state_of, urls_of

log = logging.getLogger(__name__)

PROFILE_STATUSES = 20
FEDERATION_CLIENT_SERVICE = "federation_client"


async def _local_account(conn: Connection, username: str) -> Account:
    """The local account to show: NotFound when unknown, Gone when suspended."""
    account = await account_store.fetch_account_by_username(conn, username=username, domain=None)
    user = (
        None
        if account is None
        else await account_store.fetch_user_by_account(conn, account_id=account.id)
    )
    if account is None or user is None:
        raise NotFound("This page does not exist")
    if account.suspended_at is not None:
        raise Gone("This account has been suspended")
    return account


def _profile_context(request: Request, account: Account) -> dict[str, Any]:
    urls = urls_of(request)
    entity = render_account(account, urls)
    name = account.display_name or account.username
    handle = f"@{account.username}@{urls.domain}"
    fields = profile_fields(entity, account.fields)
    return {
        "account": entity,
        "name": name,
        "handle": handle,
        "note": safe_html(entity["note"]),
        "fields": fields,
        "me_links": [href for item in entity["fields"] for href in link_targets(item["value"])],
        "actor_uri": account.uri,
        "profile_url": urls.profile(account.username),
        "noindex": not account.indexable,
    }


async def profile(request: Request) -> Response:
    """GET /@username: the profile page, or the actor document for ActivityPub clients."""
    if wants_activitystreams(request.headers.get("accept")):
        return await activitypub.actor(request)
    try:
        async with database_of(request).connection() as conn:
            account = await _local_account(conn, request.path_params["username"])
            statuses = await profiles.account_statuses(
                conn,
                account=account,
                viewer_id=None,
                query=StatusQuery(limit=PROFILE_STATUSES, exclude_replies=True),
            )
            views = await load_views(conn, statuses, None)
    except DomainError as error:
        return error_page(request, error)
    urls = urls_of(request)
    context = _profile_context(request, account)
    context["statuses"] = [status_card(render_status(view, urls)) for view in views]
    context["og"] = {
        "type": "profile",
        "title": f"{context['name']} ({context['handle']})",
        "description": short_text(account.note) or f"Posts by {context['handle']}",
        "image": context["account"]["avatar"],
        "url": context["profile_url"],
    }
    return page(request, "profile.html", context)


async def status_page(request: Request) -> Response:
    """GET /@username/{id}: one status an anonymous visitor may see, else 404."""
    username = request.path_params["username"]
    status_id = parse_id(request.path_params["id"])
    try:
        async with database_of(request).connection() as conn:
            account = await _local_account(conn, username)
            if status_id is None:
                raise NotFound("This page does not exist")
            if wants_activitystreams(request.headers.get("accept")):
                # The ActivityPub endpoint decides who may fetch it (signatures, audience).
                response = RedirectResponse(
                    urls_of(request).status_uri(account.username, status_id), status_code=302
                )
                response.headers["Vary"] = "Accept"
                return response
            status = await status_domain.fetch_visible(conn, status_id, None)
            if status.account_id != account.id or status.reblog_of_id is not None:
                raise NotFound("This page does not exist")
            views = await load_views(conn, [status], None)
            if not views:
                raise NotFound("This page does not exist")
    except DomainError as error:
        return error_page(request, error)
    urls = urls_of(request)
    card = status_card(render_status(views[0], urls))
    context = _profile_context(request, account)
    images = [m for m in card["media"] if m["type"] in ("image", "gifv")]
    if card["spoiler_text"]:
        # A content warning hides the text; previews must not reveal it either.
        description = f"Content warning: {card['spoiler_text']}"
    else:
        description = short_text(str(card["content"]))
    hide_media = card["sensitive"] or bool(card["spoiler_text"])
    context["status"] = card
    context["og"] = {
        "type": "article",
        "title": f"{context['name']} ({context['handle']})",
        "description": description,
        "image": images[0]["url"] if images and not hide_media else context["account"]["avatar"],
        "url": card["url"],
    }
    context["status_uri"] = status.uri
    return page(request, "status.html", context)


async def remote_follow(request: Request) -> Response:
    """GET /@username/remote_follow?acct=you@your.server: send the visitor to their server's
    subscribe page (from their WebFinger), or explain how to follow by hand."""
    try:
        async with database_of(request).connection() as conn:
            account = await _local_account(conn, request.path_params["username"])
    except DomainError as error:
        return error_page(request, error)
    context = _profile_context(request, account)
    acct = (request.query_params.get("acct") or "").strip()
    client = state_of(request).services.get(FEDERATION_CLIENT_SERVICE)
    message = None
    if acct and client is not None and hasattr(client, "webfinger"):
        try:
            user, domain = split_acct(acct)
            jrd = await client.webfinger(f"{user}@{domain}")
            template = _subscribe_template(jrd)
        except WebfingerError:
            template = None
        except Exception:
            # A foreign server's failure, whatever it is, means "no follow page found" here.
            log.info("remote follow: no WebFinger answer for %r", acct, exc_info=True)
            template = None
        if template is not None:
            target = template.replace("{uri}", quote(context["handle"].lstrip("@"), safe="@"))
            return RedirectResponse(target, status_code=303)
        message = f"Could not find a follow page for {acct}. Follow by hand as shown below."
    context["acct"] = acct
    context["error"] = message
    return page(request, "remote_follow.html", context)


def _subscribe_template(jrd: Any) -> str | None:
    if not isinstance(jrd, dict) or not isinstance(jrd.get("links"), list):
        return None
    for link in jrd["links"]:
        if isinstance(link, dict) and link.get("rel") == SUBSCRIBE_REL:
            template = link.get("template")
            if isinstance(template, str) and template.startswith(("https://", "http://")):
                return template
    return None


routes: list[BaseRoute] = [
    Route("/@{username}", profile, methods=["GET"]),
    Route("/@{username}/remote_follow", remote_follow, methods=["GET"]),
    Route("/@{username}/{id}", status_page, methods=["GET"]),
]
