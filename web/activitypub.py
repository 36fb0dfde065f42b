"""ActivityPub endpoints: actors (with content negotiation), the instance actor, collections.

`authorize_fetch(request)` is the one check for signed GETs (authorized fetch); every endpoint
that serves objects calls it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from federation.activitystreams import AS_CONTEXT, wants_activitystreams
from federation.actors import (
    fetch_actor_key,
    load_instance_signer,
    render_actor,
    render_instance_actor,
    render_moved_to,
)
from federation.client import FederationClient
from federation.keys import AccountKeyStore, FetchedKey, KeyResolver, public_pem_of
from federation.signatures import (
    RequestSigner,
    SignatureError,
    VerifiedSignature,
    verify_with_resolver,
)
from fediverse.errors import Gone, NotAuthorized, NotFound
from fediverse.storage import accounts as account_store
from fediverse.storage import remote_accounts
from fediverse.storage.accounts import Account
from web.responses import ActivityJSONResponse
from web.state import database_of, settings_of, state_of, urls_of

COLLECTION_PAGE_SIZE = 40


async def instance_signer_of(request: Request) -> RequestSigner:
    """The instance actor's signer: from `services`, else loaded (or made once) and kept."""
    services = state_of(request).services
    signer = services.get("instance_signer")
    if not isinstance(signer, RequestSigner):
        async with database_of(request).transaction() as conn:
            signer = await load_instance_signer(conn, urls_of(request))
        services["instance_signer"] = signer
    return signer


async def key_resolver_of(request: Request) -> KeyResolver:
    """The KeyResolver in `services['key_resolver']`; without one (no composition root wired
    it), one is built over a FederationClient in `services['federation_client']`, which the
    app's owner closes at shutdown."""
    services = state_of(request).services
    resolver = services.get("key_resolver")
    if isinstance(resolver, KeyResolver):
        return resolver
    client = services.get("federation_client")
    if not isinstance(client, FederationClient):
        client = FederationClient(
            settings_of(request), instance_signer=await instance_signer_of(request)
        )
        services["federation_client"] = client
    fetcher = client

    async def fetch(key_id: str) -> FetchedKey:
        return await fetch_actor_key(fetcher, key_id)

    resolver = KeyResolver(fetch, store=AccountKeyStore(database_of(request)))
    services["key_resolver"] = resolver
    return resolver


def request_url(request: Request) -> str:
    """The URL as we are addressed: our configured base URL, never the Host header."""
    query = request.url.query
    path = request.url.path
    return f"{settings_of(request).base_url}{path}{'?' + query if query else ''}"


async def verify_signed_request(request: Request) -> VerifiedSignature:
    """Verify the request's HTTP signature (draft-cavage or RFC 9421); 401 when it fails."""
    body = await request.body()
    try:
        return await verify_with_resolver(
            request.method,
            request_url(request),
            request.headers,
            body,
            await key_resolver_of(request),
        )
    except SignatureError as error:
        raise NotAuthorized(f"Request not signed or signature invalid: {error.reason}") from error


async def authorize_fetch(request: Request) -> VerifiedSignature | None:
    """Authorized fetch: with `settings.authorized_fetch` on, a GET must carry a valid signature.

    With it off, a signature is still verified when present (so callers may use the signer).
    """
    if settings_of(request).authorized_fetch or (
        "signature" in request.headers or "signature-input" in request.headers
    ):
        return await verify_signed_request(request)
    return None


def _vary(response: Response) -> Response:
    response.headers["Vary"] = "Accept, Signature"
    return response


async def _local_account(request: Request) -> Account:
    username = request.path_params["username"]
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
    return account


async def actor(request: Request) -> Response:
    """GET /users/{username}: AS2 for ActivityPub clients, a redirect to the profile page else.

    The actor stays fetchable without a signature even in authorized-fetch mode, as Mastodon
    does, so peers can fetch the key they need to verify our signatures.
    """
    account = await _local_account(request)
    urls = urls_of(request)
    if not wants_activitystreams(request.headers.get("accept")):
        return _vary(RedirectResponse(urls.profile(account.username), status_code=302))
    document = render_actor(account, urls)
    if account.moved_to_account_id is not None:
        async with database_of(request).connection() as conn:
            moved = await account_store.fetch_account(conn, account_id=account.moved_to_account_id)
        render_moved_to(document, moved.uri if moved else None)
    return _vary(ActivityJSONResponse(document))


async def instance_actor(request: Request) -> Response:
    """GET /actor: the instance actor (`Application`), always served unsigned."""
    signer = await instance_signer_of(request)
    document = render_instance_actor(
        settings_of(request), urls_of(request), public_pem_of(signer.private_key_pem)
    )
    return ActivityJSONResponse(document)


def _collection(collection_id: str, total: int, first: str | None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "@context": AS_CONTEXT,
        "id": collection_id,
        "type": "OrderedCollection",
        "totalItems": total,
    }
    if first is not None:
        document["first"] = first
    return document


async def _follow_collection(request: Request, direction: str) -> Response:
    account = await _local_account(request)
    await authorize_fetch(request)
    urls = urls_of(request)
    collection_id = (
        urls.followers(account.username)
        if direction == "followers"
        else urls.following(account.username)
    )
    total = account.followers_count if direction == "followers" else account.following_count
    if account.hide_collections:
        # Mastodon: totals only, no pages, when the user hides their network.
        return _vary(ActivityJSONResponse(_collection(collection_id, total, None)))
    if "page" not in request.query_params:
        return _vary(
            ActivityJSONResponse(_collection(collection_id, total, f"{collection_id}?page=1"))
        )
    raw_max = request.query_params.get("max_id")
    max_id = int(raw_max) if raw_max and raw_max.isdigit() else None
    async with database_of(request).connection() as conn:
        page = await remote_accounts.list_follow_uris(
            conn,
            account_id=account.id,
            direction=direction,
            max_id=max_id,
            limit=COLLECTION_PAGE_SIZE,
        )
    page_id = f"{collection_id}?page=1" + (f"&max_id={max_id}" if max_id else "")
    document: dict[str, Any] = {
        "@context": AS_CONTEXT,
        "id": page_id,
        "type": "OrderedCollectionPage",
        "totalItems": total,
        "partOf": collection_id,
        "orderedItems": page.uris,
    }
    if page.next_max_id is not None:
        document["next"] = f"{collection_id}?page=1&max_id={page.next_max_id}"
    return _vary(ActivityJSONResponse(document))


async def followers(request: Request) -> Response:
    return await _follow_collection(request, "followers")


async def following(request: Request) -> Response:
    return await _follow_collection(request, "following")


async def featured(request: Request) -> Response:
    """Pinned posts; empty until pinning federates."""
    account = await _local_account(request)
    await authorize_fetch(request)
    document = _collection(urls_of(request).featured(account.username), 0, None)
    document["orderedItems"] = []
    return _vary(ActivityJSONResponse(document))


async def featured_tags(request: Request) -> Response:
    account = await _local_account(request)
    await authorize_fetch(request)
    document = {
        "@context": AS_CONTEXT,
        "id": urls_of(request).featured_tags(account.username),
        "type": "Collection",
        "totalItems": 0,
        "items": [],
    }
    return _vary(ActivityJSONResponse(document))


async def outbox(request: Request) -> Response:
    """The outbox's size; its pages (public posts) are served by the publishing work."""
    account = await _local_account(request)
    await authorize_fetch(request)
    outbox_id = urls_of(request).outbox(account.username)
    document = _collection(outbox_id, account.statuses_count, f"{outbox_id}?page=true")
    return _vary(ActivityJSONResponse(document))


routes: list[BaseRoute] = [
    Route("/users/{username}", actor, methods=["GET"]),
    Route("/actor", instance_actor, methods=["GET"]),
    Route("/users/{username}/followers", followers, methods=["GET"]),
    Route("/users/{username}/following", following, methods=["GET"]),
    Route("/users/{username}/collections/featured", featured, methods=["GET"]),
    Route("/users/{username}/collections/tags", featured_tags, methods=["GET"]),
    Route("/users/{username}/outbox", outbox, methods=["GET"]),
]
