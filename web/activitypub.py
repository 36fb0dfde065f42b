"""ActivityPub endpoints: actors (with content negotiation), the instance actor, collections.

`authorize_fetch(request)` is the one check for signed GETs (authorized fetch); every endpoint
that serves objects calls it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

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
from federation.objects import NOTE_CONTEXT, render_announce, render_create, render_note_document
from federation.policy import FederationPolicy, is_farewell, refused_sender
from federation.publishing import load_note_parts
from federation.signatures import (
    RequestSigner,
    SignatureError,
    VerifiedSignature,
    verify_with_resolver,
)
from fediverse.audience import StatusAudienceFacts, may_remote_see
from fediverse.errors import Forbidden, Gone, NotAuthorized, NotFound
from fediverse.ids import parse_id
from fediverse.storage import accounts as account_store
from fediverse.storage import publishing as publishing_store
from fediverse.storage import remote_accounts
from fediverse.storage import statuses as status_store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Connection
from fediverse.storage.publishing import RemoteViewerFacts
from fediverse.storage.statuses import Status
from fediverse.urls import LocalUrls
from web.responses import ActivityJSONResponse
from web.state import AppState, database_of, settings_of, state_of, urls_of

FEDERATION_POLICY_SERVICE = "federation_policy"

COLLECTION_PAGE_SIZE = 40
OUTBOX_PAGE_SIZE = 20


def policy_of_state(state: AppState) -> FederationPolicy:
    """The process's FederationPolicy (made on first use, kept in `services`)."""
    policy = state.services.get(FEDERATION_POLICY_SERVICE)
    if not isinstance(policy, FederationPolicy):
        policy = FederationPolicy(state.database, local_domain=state.settings.domain)
        state.services[FEDERATION_POLICY_SERVICE] = policy
    return policy


def policy_of(request: Request) -> FederationPolicy:
    return policy_of_state(state_of(request))


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
            settings_of(request),
            instance_signer=await instance_signer_of(request),
            policy=policy_of(request).decide_url,
            is_farewell=is_farewell,
        )
        services["federation_client"] = client
    fetcher = client

    async def fetch(key_id: str) -> FetchedKey:
        return await fetch_actor_key(fetcher, key_id)

    resolver = KeyResolver(fetch, store=AccountKeyStore(database_of(request)))
    services["key_resolver"] = resolver
    return resolver


def request_url(request: Request) -> str:
    """The URL as we are addressed: our configured base URL, never the Host header, and the
    path as it was sent (percent-encoded, trailing slash kept), which is what a peer signs."""
    return signed_url(request.scope, settings_of(request).base_url)


def signed_url(scope: Scope, base_url: str) -> str:
    """`request_url` from an ASGI scope."""
    path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{base_url}{path}{'?' + query if query else ''}"


async def refuse_disallowed_signer(request: Request) -> None:
    """403 when the request is signed with a key on a domain that may not federate with us
    (read from the keyId alone: nothing is fetched)."""
    refused = await refused_sender(policy_of(request), headers=request.headers, document=None)
    if refused is not None:
        raise Forbidden(f"{refused.domain} is not allowed to federate with this server")


async def verify_signed_request(request: Request) -> VerifiedSignature:
    """Verify the request's HTTP signature (draft-cavage or RFC 9421); 401 when it fails.

    A keyId on a domain that may not federate is refused (403) before its key is fetched."""
    await refuse_disallowed_signer(request)
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
    await refuse_disallowed_signer(request)
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
    max_id = parse_id(raw_max) if raw_max else None
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


async def _status_activity(
    conn: Connection, status: Status, author: Account, urls: LocalUrls
) -> dict[str, Any] | None:
    """Create{Note} for a post, Announce for a boost (None when the boosted post is gone)."""
    if status.reblog_of_id is None:
        return render_create(await load_note_parts(conn, status, author), urls)
    original = await status_store.fetch_status(conn, status_id=status.reblog_of_id)
    if original is None:
        return None
    original_author = await account_store.fetch_account(conn, account_id=original.account_id)
    if original_author is None:
        return None
    return render_announce(
        status.uri,
        status.visibility,
        status.created_at,
        author,
        original.uri,
        original_author,
        urls,
    )


def _page_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    return parse_id(raw) if raw else None


async def outbox(request: Request) -> Response:
    """The outbox: its size, and (`?page=true`) pages of Create/Announce for public and unlisted
    posts, newest first, paged by `max_id`/`min_id` as Mastodon pages it. Internal, private
    and direct posts never appear, nor anything to a signer the author blocks (the audience
    rule, as for one status)."""
    account = await _local_account(request)
    signature = await authorize_fetch(request)
    urls = urls_of(request)
    outbox_id = urls.outbox(account.username)
    if "page" not in request.query_params:
        collection = _collection(outbox_id, account.statuses_count, f"{outbox_id}?page=true")
        return _vary(ActivityJSONResponse(collection))
    max_id, min_id = _page_param(request, "max_id"), _page_param(request, "min_id")
    items: list[dict[str, Any]] = []
    async with database_of(request).connection() as conn:
        page = await publishing_store.list_outbox_statuses(
            conn, account_id=account.id, max_id=max_id, min_id=min_id, limit=OUTBOX_PAGE_SIZE
        )
        # The page holds public and unlisted posts only, so no mention can matter (status 0 is
        # none); the signer's follow and the author's block of it do.
        viewer = await _signer_facts(conn, signature, account.id, status_id=0)
        for status in page:
            if not _may_fetch(status, account, viewer):
                continue
            activity = await _status_activity(conn, status, account, urls)
            if activity is not None:
                items.append({key: value for key, value in activity.items() if key != "@context"})
    query = "&".join(f"{k}={v}" for k, v in (("max_id", max_id), ("min_id", min_id)) if v)
    document: dict[str, Any] = {
        "@context": NOTE_CONTEXT,
        "id": f"{outbox_id}?{query + '&' if query else ''}page=true",
        "type": "OrderedCollectionPage",
        "partOf": outbox_id,
        "orderedItems": items,
    }
    if page:
        document["next"] = f"{outbox_id}?max_id={page[-1].id}&page=true"
        document["prev"] = f"{outbox_id}?min_id={page[0].id}&page=true"
    return _vary(ActivityJSONResponse(document))


async def _requested_status(request: Request) -> tuple[Account, Status]:
    """The local status named by the path, if this remote requester may see it; 404 else.

    Internal posts are 404 to every remote request, signed or not, before anything else; then
    authorized fetch applies; private and direct posts need a signature whose key owner is a
    follower (private) or mentioned, exactly as the audience rule says.
    """
    account = await _local_account(request)
    status_id = parse_id(request.path_params["status_id"])
    if status_id is None:
        raise NotFound()
    async with database_of(request).connection() as conn:
        status = await status_store.fetch_status(conn, status_id=status_id)
    if status is None or status.account_id != account.id or not status.local:
        raise NotFound()
    if status.local_only:
        raise NotFound()
    signature = await authorize_fetch(request)
    async with database_of(request).connection() as conn:
        viewer = await _signer_facts(conn, signature, account.id, status_id=status.id)
    if not _may_fetch(status, account, viewer):
        raise NotFound()
    return account, status


async def _signer_facts(
    conn: Connection, signature: VerifiedSignature | None, author_id: int, *, status_id: int
) -> RemoteViewerFacts | None:
    """How the signer of a fetch stands to the author and the status (None: unsigned, or
    signed by no account we know, such as a peer's instance actor)."""
    if signature is None or not signature.key_owner:
        return None
    return await publishing_store.fetch_remote_viewer_facts(
        conn, actor_uri=signature.key_owner, author_id=author_id, status_id=status_id
    )


def _may_fetch(status: Status, author: Account, viewer: RemoteViewerFacts | None) -> bool:
    """The audience rule for a remote fetch of one of `author`'s statuses."""
    facts = StatusAudienceFacts(
        author_id=author.id,
        visibility=status.visibility,
        local_only=status.local_only,
        author_suspended=author.suspended_at is not None,
    )
    return may_remote_see(
        facts,
        follows_author=viewer is not None and viewer.follows_author,
        mentioned=viewer is not None and viewer.mentioned,
        blocked_by_author=viewer is not None and viewer.blocked_by_author,
    )


async def status_object(request: Request) -> Response:
    """GET /users/{username}/statuses/{id}: the Note to ActivityPub clients, else a redirect
    to the status page (which applies the audience rule for people)."""
    account = await _local_account(request)
    if not wants_activitystreams(request.headers.get("accept")):
        status_id = parse_id(request.path_params["status_id"])
        if status_id is None:
            raise NotFound()
        target = urls_of(request).status_url(account.username, status_id)
        return _vary(RedirectResponse(target, status_code=302))
    account, status = await _requested_status(request)
    if status.reblog_of_id is not None:
        raise NotFound()
    async with database_of(request).connection() as conn:
        parts = await load_note_parts(conn, status, account)
    return _vary(ActivityJSONResponse(render_note_document(parts, urls_of(request))))


async def status_activity(request: Request) -> Response:
    """GET /users/{username}/statuses/{id}/activity: Create for a post, Announce for a boost."""
    account, status = await _requested_status(request)
    async with database_of(request).connection() as conn:
        activity = await _status_activity(conn, status, account, urls_of(request))
    if activity is None:
        raise NotFound()
    return _vary(ActivityJSONResponse(activity))


routes: list[BaseRoute] = [
    Route("/users/{username}", actor, methods=["GET"]),
    Route("/actor", instance_actor, methods=["GET"]),
    Route("/users/{username}/followers", followers, methods=["GET"]),
    Route("/users/{username}/following", following, methods=["GET"]),
    Route("/users/{username}/collections/featured", featured, methods=["GET"]),
    Route("/users/{username}/collections/tags", featured_tags, methods=["GET"]),
    Route("/users/{username}/outbox", outbox, methods=["GET"]),
    Route("/users/{username}/statuses/{status_id}", status_object, methods=["GET"]),
    Route("/users/{username}/statuses/{status_id}/activity", status_activity, methods=["GET"]),
]
