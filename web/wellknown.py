"""Discovery: WebFinger (RFC 7033) for our accounts and host-meta (RFC 6415)."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from federation.activitystreams import JRD_JSON
from federation.webfinger import WebfingerError, render_jrd, split_acct
from fediverse.errors import BadRequest, Gone, NotFound
from fediverse.storage import accounts as account_store
from web.responses import JSONResponse
from web.state import database_of, settings_of, urls_of


class JRDResponse(JSONResponse):
    media_type = JRD_JSON


def _username_from_resource(request: Request, resource: str) -> str:
    """`acct:user@ourdomain`, our actor URL or our profile URL → the local username."""
    settings = settings_of(request)
    urls = urls_of(request)
    if resource.startswith(("https://", "http://")):
        for prefix in (urls.actor(""), urls.profile("")):
            if resource.startswith(prefix) and "/" not in resource[len(prefix) :]:
                return resource[len(prefix) :]
        if resource == urls.instance_actor():
            return settings.domain
        raise NotFound()
    try:
        username, domain = split_acct(resource)
    except WebfingerError as error:
        raise BadRequest("resource must be acct:user@domain or an actor URL") from error
    if domain != settings.domain.lower():
        raise NotFound()
    return username


async def webfinger(request: Request) -> Response:
    resource = request.query_params.get("resource", "").strip()
    if not resource:
        raise BadRequest("The resource parameter is required")
    settings = settings_of(request)
    urls = urls_of(request)
    username = _username_from_resource(request, resource)
    if username.lower() == settings.domain.lower():
        # The instance actor, as Mastodon answers for acct:domain@domain.
        jrd = render_jrd(
            username=settings.domain,
            domain=settings.domain,
            actor_url=urls.instance_actor(),
            profile_url=f"{settings.base_url}/about/more?instance_actor=true",
            subscribe_template=f"{settings.base_url}/authorize_interaction?uri={{uri}}",
        )
        return _cors(JRDResponse(jrd))
    async with database_of(request).connection() as conn:
        account = await account_store.fetch_account_by_username(
            conn, username=username, domain=None
        )
        if (
            account is None
            or await account_store.fetch_user_by_account(conn, account_id=account.id) is None
        ):
            raise NotFound()
    if account.suspended_at is not None:
        raise Gone("Account suspended")
    jrd = render_jrd(
        username=account.username,
        domain=settings.domain,
        actor_url=urls.actor(account.username),
        profile_url=urls.profile(account.username),
        subscribe_template=f"{settings.base_url}/authorize_interaction?uri={{uri}}",
    )
    return _cors(JRDResponse(jrd))


def _lrdd_template(request: Request) -> str:
    return f"{settings_of(request).base_url}/.well-known/webfinger?resource={{uri}}"


async def host_meta(request: Request) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" template={quoteattr(_lrdd_template(request))}/>\n'
        "</XRD>\n"
    )
    return _cors(Response(body, media_type="application/xrd+xml; charset=utf-8"))


async def host_meta_json(request: Request) -> Response:
    return _cors(JSONResponse({"links": [{"rel": "lrdd", "template": _lrdd_template(request)}]}))


def _cors(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


routes: list[BaseRoute] = [
    Route("/.well-known/webfinger", webfinger, methods=["GET"]),
    Route("/.well-known/host-meta", host_meta, methods=["GET"]),
    Route("/.well-known/host-meta.json", host_meta_json, methods=["GET"]),
]
