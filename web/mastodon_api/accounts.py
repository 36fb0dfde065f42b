"""Mastodon client API: accounts, profiles and relationships (docs: methods/accounts).

The domain (fediverse.profiles, fediverse.relationships) decides; this module checks scopes,
parses parameters, owns the transaction and renders Account and Relationship entities.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import auth, default_scope, federation_rules, profiles
from fediverse import media as media_domain
from fediverse import relationships as relationship_domain
from fediverse.default_scope import DefaultScope
from fediverse.errors import (
    BadRequest,
    Forbidden,
    NotAuthorized,
    NotFound,
    Unprocessable,
    ValidationError,
)
from fediverse.federation_rules import FederationRefused
from fediverse.ids import parse_id
from fediverse.media import UploadLimits
from fediverse.profiles import ProfileChanges, ProfileField, StatusQuery
from fediverse.relationships import Relationship
from fediverse.status_views import load_views
from fediverse.storage import accounts as account_store
from fediverse.storage import relationships as relationship_store
from fediverse.storage.accounts import Account, User
from fediverse.storage.database import Connection
from fediverse.storage.relationships import PagedAccount
from fediverse.urls import LocalUrls
from web.auth import Viewer, optional_viewer, read_viewer, require_account
from web.forms import Params, read_params
from web.mastodon_api.admin import record_federation_request
from web.mastodon_api.entities import iso, render_account, render_credential_account, render_status
from web.mastodon_api.filters import apply_filters
from web.pagination import ACCOUNTS_MAX_LIMIT, PageRequest, add_link_header, parse_page
from web.responses import JSONResponse
from web.state import database_of, settings_of, urls_of

ACCOUNTS_DEFAULT_LIMIT = 40
MAX_IDS_PER_REQUEST = 40


# --- rendering -------------------------------------------------------------------------------


def render_profile(account: Account, urls: LocalUrls) -> dict[str, Any]:
    """An Account entity; a suspended account shows only that it exists, as in Mastodon."""
    entity = render_account(account, urls)
    if account.suspended_at is not None:
        entity.update(
            display_name="",
            note="",
            fields=[],
            emojis=[],
            avatar=urls.avatar_missing(),
            avatar_static=urls.avatar_missing(),
            header=urls.header_missing(),
            header_static=urls.header_missing(),
            followers_count=0,
            following_count=0,
            statuses_count=0,
            last_status_at=None,
        )
    return entity


def render_relationship(relationship: Relationship) -> dict[str, Any]:
    return {
        "id": str(relationship.target_id),
        "following": relationship.following,
        "showing_reblogs": relationship.showing_reblogs,
        "notifying": relationship.notifying,
        "languages": relationship.languages,
        "followed_by": relationship.followed_by,
        "blocking": relationship.blocking,
        "blocked_by": relationship.blocked_by,
        "muting": relationship.muting,
        "muting_notifications": relationship.muting_notifications,
        "muting_expires_at": iso(relationship.muting_expires_at),
        "requested": relationship.requested,
        "requested_by": relationship.requested_by,
        "domain_blocking": False,
        "endorsed": False,
        "note": relationship.note,
    }


def render_credentials(
    account: Account,
    user: User,
    urls: LocalUrls,
    follow_requests_count: int,
    defaults: DefaultScope,
) -> dict[str, Any]:
    """`source.privacy` and `source.local_only` are the scope new posts get (the person's
    choice, else the organization's default)."""
    entity = render_credential_account(
        account,
        urls,
        privacy=defaults.visibility,
        sensitive=user.default_sensitive,
        language=user.default_language,
        follow_requests_count=follow_requests_count,
        role=user.role,
        local_only_default=defaults.local_only,
    )
    # `source.fields` holds what the person typed; the rendered HTML stays in `fields`.
    entity["source"]["fields"] = [
        {
            "name": str(item.get("source_name", item.get("name", ""))),
            "value": str(item.get("source_value", item.get("value", ""))),
            "verified_at": None,
        }
        for item in account.fields
    ]
    return entity


def paged_accounts_response(
    request: Request, page: PageRequest, rows: list[PagedAccount], extra: dict[int, dict[str, Any]]
) -> Response:
    urls = urls_of(request)
    body = []
    for row in rows:
        entity = render_profile(row.account, urls)
        entity.update(extra.get(row.account.id, {}))
        body.append(entity)
    return add_link_header(JSONResponse(body), request, page, [row.cursor for row in rows])


# --- helpers ---------------------------------------------------------------------------------


def _account_id(request: Request) -> int:
    account_id = parse_id(request.path_params["id"])
    if account_id is None:
        raise NotFound()
    return account_id


def _ids(params: Params) -> list[int]:
    raw = params.list("id")
    if len(raw) > MAX_IDS_PER_REQUEST:
        raise ValidationError(f"At most {MAX_IDS_PER_REQUEST} ids per request", field="id")
    parsed = [parse_id(value) for value in raw]
    return [value for value in parsed if value is not None]


async def _require_any_scope(request: Request, *scopes: str) -> tuple[Viewer, Account]:
    viewer = await optional_viewer(request)
    if viewer is None:
        raise NotAuthorized()
    if not any(auth.scope_allows(viewer.token.scopes, scope) for scope in scopes):
        raise Forbidden("This action is outside the authorized scopes")
    if viewer.account is None:
        raise Unprocessable("This method requires an authenticated user")
    return viewer, viewer.account


async def _fetch_user(conn: Connection, viewer: Viewer) -> User:
    assert viewer.user is not None
    user = await account_store.fetch_user(conn, user_id=viewer.user.id)
    assert user is not None
    return user


# --- own profile -----------------------------------------------------------------------------


async def verify_credentials(request: Request) -> Response:
    viewer, account = await _require_any_scope(request, "read:accounts", "profile")
    async with database_of(request).connection() as conn:
        fresh = await profiles.fetch_account(conn, account.id)
        user = await _fetch_user(conn, viewer)
        count = await relationship_store.count_follow_requests(conn, target_account_id=account.id)
        defaults = await default_scope.default_for(conn, user)
    return JSONResponse(render_credentials(fresh, user, urls_of(request), count, defaults))


def _parse_fields(params: Params) -> list[ProfileField] | None:
    if "fields_attributes" not in params and "fields_attributes[]" not in params:
        return None
    items = params.list("fields_attributes")
    fields = []
    for item in items:
        if not isinstance(item, dict):
            raise ValidationError(
                "fields_attributes must be a list of {name, value}", field="fields_attributes"
            )
        name, value = item.get("name", ""), item.get("value", "")
        if not isinstance(name, str) or not isinstance(value, str):
            raise ValidationError(
                "Field names and values must be strings", field="fields_attributes"
            )
        fields.append(ProfileField(name=name.strip(), value=value.strip()))
    return fields


def _parse_changes(params: Params) -> ProfileChanges:
    source = params.dict("source")
    source_params = Params(source)
    return ProfileChanges(
        display_name=params.str("display_name"),
        note=params.str("note"),
        locked=params.bool("locked"),
        bot=params.bool("bot"),
        discoverable=params.bool("discoverable"),
        indexable=params.bool("indexable"),
        hide_collections=params.bool("hide_collections"),
        fields=_parse_fields(params),
        # source[privacy] is applied with source[local_only] by fediverse.default_scope.
        privacy=None,
        sensitive=source_params.bool("sensitive"),
        language=source_params.str("language"),
    )


async def update_credentials(request: Request) -> Response:
    viewer, account = await require_account(request, "write:accounts")
    params = await read_params(request, max_body=40_000_000)
    changes = _parse_changes(params)
    profiles.validate_changes(changes)
    source_params = Params(params.dict("source"))
    default_privacy = source_params.str("privacy")
    default_local_only = source_params.bool("local_only")
    settings = settings_of(request)
    uploads = {
        purpose: params.file(purpose)
        for purpose in ("avatar", "header")
        if params.file(purpose) is not None
    }
    urls = urls_of(request)
    async with database_of(request).transaction() as conn:
        files: dict[str, str] = {}
        if uploads:
            limits = UploadLimits.from_settings(settings)
            for purpose, upload in uploads.items():
                assert upload is not None
                data = await upload.read(limits.max_bytes + 1)
                if len(data) > limits.max_bytes:
                    raise ValidationError(f"{purpose} is too large", field=purpose)
                stored = await media_domain.store_profile_image(
                    conn,
                    media_dir=settings.media_dir,
                    limits=limits,
                    account_id=account.id,
                    data=data,
                    purpose=purpose,
                )
                assert stored.file_name is not None
                files[f"{purpose}_file"] = stored.file_name
        if files:
            changes = ProfileChanges(**{**changes.__dict__, **files})
        user = await _fetch_user(conn, viewer)
        updated, user = await profiles.update_profile(
            conn, account=account, user=user, changes=changes, urls=urls
        )
        user = await default_scope.choose_default(
            conn, user=user, privacy=default_privacy, local_only=default_local_only
        )
        count = await relationship_store.count_follow_requests(conn, target_account_id=account.id)
        defaults = await default_scope.default_for(conn, user)
    return JSONResponse(render_credentials(updated, user, urls, count, defaults))


# --- reading accounts ------------------------------------------------------------------------


async def show_account(request: Request) -> Response:
    await read_viewer(request, "read:accounts")
    account_id = _account_id(request)
    async with database_of(request).connection() as conn:
        account = await profiles.fetch_account(conn, account_id)
    return JSONResponse(render_profile(account, urls_of(request)))


async def list_accounts(request: Request) -> Response:
    """GET /api/v1/accounts?id[]= (Mastodon 4.3): the known ones, in the order asked."""
    await read_viewer(request, "read:accounts")
    wanted = _ids(await read_params(request))
    async with database_of(request).connection() as conn:
        found = {
            a.id: a for a in await account_store.list_accounts_by_ids(conn, account_ids=wanted)
        }
    urls = urls_of(request)
    return JSONResponse(
        [render_profile(found[i], urls) for i in dict.fromkeys(wanted) if i in found]
    )


async def lookup(request: Request) -> Response:
    await read_viewer(request, "read:accounts")
    params = await read_params(request)
    acct = params.str("acct")
    if not acct:
        raise NotFound()
    async with database_of(request).connection() as conn:
        account = await profiles.lookup(conn, acct=acct, urls=urls_of(request))
    return JSONResponse(render_profile(account, urls_of(request)))


async def search(request: Request) -> Response:
    _, account = await require_account(request, "read:accounts")
    params = await read_params(request)
    query = params.str("q")
    if query is None:
        raise BadRequest("Missing parameter: q")
    limit = max(1, min(params.int("limit", ACCOUNTS_DEFAULT_LIMIT) or 1, ACCOUNTS_MAX_LIMIT))
    offset = max(0, params.int("offset", 0) or 0)
    async with database_of(request).connection() as conn:
        found = await profiles.search(
            conn,
            query=query,
            urls=urls_of(request),
            viewer_id=account.id,
            following_only=bool(params.bool("following", False)),
            limit=limit,
            offset=offset,
        )
    urls = urls_of(request)
    return JSONResponse([render_profile(a, urls) for a in found])


async def account_statuses(request: Request) -> Response:
    viewer = await read_viewer(request, "read:statuses")
    viewer_id = None if viewer is None else viewer.account_id
    account_id = _account_id(request)
    params = await read_params(request)
    page = parse_page(params)
    query = StatusQuery(
        max_id=page.max_id,
        since_id=page.since_id,
        min_id=page.min_id,
        limit=page.limit,
        pinned=bool(params.bool("pinned", False)),
        exclude_replies=bool(params.bool("exclude_replies", False)),
        exclude_reblogs=bool(params.bool("exclude_reblogs", False)),
        only_media=bool(params.bool("only_media", False)),
        tagged=params.str("tagged") or None,
    )
    async with database_of(request).connection() as conn:
        account = await profiles.fetch_account(conn, account_id)
        statuses = await profiles.account_statuses(
            conn, account=account, viewer_id=viewer_id, query=query
        )
        views = await load_views(conn, statuses, viewer_id)
        urls = urls_of(request)
        rendered = await apply_filters(
            conn,
            [render_status(view, urls) for view in views],
            viewer_id=viewer_id,
            context="account",
        )
    response = JSONResponse(rendered)
    if query.pinned:
        return response
    return add_link_header(response, request, page, [s.id for s in statuses])


async def _follow_collection(request: Request, kind: str) -> Response:
    viewer = await read_viewer(request, "read:accounts")
    viewer_id = None if viewer is None else viewer.account_id
    account_id = _account_id(request)
    page = parse_page(
        await read_params(request),
        default_limit=ACCOUNTS_DEFAULT_LIMIT,
        max_limit=ACCOUNTS_MAX_LIMIT,
    )
    async with database_of(request).connection() as conn:
        account = await profiles.fetch_account(conn, account_id)
        rows = await profiles.follow_collection(
            conn,
            account=account,
            viewer_id=viewer_id,
            kind=kind,
            max_id=page.max_id,
            since_id=page.since_id,
            min_id=page.min_id,
            limit=page.limit,
        )
    return paged_accounts_response(request, page, rows, {})


async def followers(request: Request) -> Response:
    return await _follow_collection(request, "followers")


async def following(request: Request) -> Response:
    return await _follow_collection(request, "following")


async def relationships(request: Request) -> Response:
    _, account = await require_account(request, "read:follows")
    wanted = _ids(await read_params(request))
    async with database_of(request).connection() as conn:
        found = await relationship_domain.relationships(
            conn, account_id=account.id, target_ids=wanted
        )
    return JSONResponse([render_relationship(r) for r in found])


async def familiar_followers(request: Request) -> Response:
    _, account = await require_account(request, "read:follows")
    wanted = list(dict.fromkeys(_ids(await read_params(request))))
    async with database_of(request).connection() as conn:
        familiar = await relationship_store.list_familiar_followers(
            conn, account_id=account.id, target_ids=wanted
        )
    urls = urls_of(request)
    return JSONResponse(
        [
            {
                "id": str(target_id),
                "accounts": [render_profile(a, urls) for a in familiar.get(target_id, [])],
            }
            for target_id in wanted
        ]
    )


async def account_lists(request: Request) -> Response:
    _, account = await require_account(request, "read:lists")
    member_id = _account_id(request)
    async with database_of(request).connection() as conn:
        await profiles.fetch_account(conn, member_id)
        found = await relationship_store.list_lists_containing(
            conn, owner_id=account.id, member_id=member_id
        )
    return JSONResponse(
        [
            {
                "id": str(item.id),
                "title": item.title,
                "replies_policy": item.replies_policy,
                "exclusive": item.exclusive,
            }
            for item in found
        ]
    )


# --- acting on accounts ----------------------------------------------------------------------


async def _act(request: Request, scope: str, action: str) -> Response:
    _, account = await require_account(request, scope)
    target_id = _account_id(request)
    params = await read_params(request)
    try:
        async with database_of(request).transaction() as conn:
            target = await relationship_domain.fetch_target(conn, target_id)
            result = await _ACTIONS[action](conn, account, target, params)
    except FederationRefused as refused:
        # Following someone on a server we do not federate with: 422, and in allowlist mode
        # a federation request for the admins (approving it sends the follow).
        await record_federation_request(
            request, refused, follow=True, reason=params.str("reason") or ""
        )
        raise
    return JSONResponse(render_relationship(result))


async def _follow(conn: Connection, account: Account, target: Account, params: Params) -> Any:
    languages = (
        params.list("languages") if ("languages" in params or "languages[]" in params) else None
    )
    await federation_rules.ensure_may_federate(
        conn, domain=target.domain, now=datetime.now(UTC), acct=target.acct
    )
    return await relationship_domain.follow(
        conn,
        account=account,
        target=target,
        reblogs=params.bool("reblogs"),
        notify_posts=params.bool("notify"),
        languages=[str(lang) for lang in languages] if languages is not None else None,
    )


async def _unfollow(conn: Connection, account: Account, target: Account, params: Params) -> Any:
    return await relationship_domain.unfollow(conn, account=account, target=target)


async def _remove_from_followers(
    conn: Connection, account: Account, target: Account, params: Params
) -> Any:
    return await relationship_domain.remove_from_followers(conn, account=account, follower=target)


async def _block(conn: Connection, account: Account, target: Account, params: Params) -> Any:
    return await relationship_domain.block(conn, account=account, target=target)


async def _unblock(conn: Connection, account: Account, target: Account, params: Params) -> Any:
    return await relationship_domain.unblock(conn, account=account, target=target)


async def _mute(conn: Connection, account: Account, target: Account, params: Params) -> Any:
    notifications = params.bool("notifications", True)
    return await relationship_domain.mute(
        conn,
        account=account,
        target=target,
        notifications=True if notifications is None else notifications,
        duration_seconds=params.int("duration", 0) or 0,
    )


async def _unmute(conn: Connection, account: Account, target: Account, params: Params) -> Any:
    return await relationship_domain.unmute(conn, account=account, target=target)


async def _note(conn: Connection, account: Account, target: Account, params: Params) -> Any:
    return await relationship_domain.set_note(
        conn, account=account, target=target, comment=params.str("comment", "") or ""
    )


_ACTIONS = {
    "follow": _follow,
    "unfollow": _unfollow,
    "remove_from_followers": _remove_from_followers,
    "block": _block,
    "unblock": _unblock,
    "mute": _mute,
    "unmute": _unmute,
    "note": _note,
}

_ACTION_SCOPES = {
    "follow": "write:follows",
    "unfollow": "write:follows",
    "remove_from_followers": "write:follows",
    "block": "write:blocks",
    "unblock": "write:blocks",
    "mute": "write:mutes",
    "unmute": "write:mutes",
    "note": "write:accounts",
}


def _action_endpoint(action: str) -> Any:
    async def endpoint(request: Request) -> Response:
        return await _act(request, _ACTION_SCOPES[action], action)

    endpoint.__name__ = action
    return endpoint


# --- the viewer's own lists of blocked and muted accounts ------------------------------------


async def blocks(request: Request) -> Response:
    _, account = await require_account(request, "read:blocks")
    page = parse_page(
        await read_params(request),
        default_limit=ACCOUNTS_DEFAULT_LIMIT,
        max_limit=ACCOUNTS_MAX_LIMIT,
    )
    async with database_of(request).connection() as conn:
        rows = await relationship_store.list_account_page(
            conn,
            kind="blocks",
            owner_id=account.id,
            max_id=page.max_id,
            since_id=page.since_id,
            min_id=page.min_id,
            limit=page.limit,
        )
    return paged_accounts_response(request, page, rows, {})


async def mutes(request: Request) -> Response:
    _, account = await require_account(request, "read:mutes")
    page = parse_page(
        await read_params(request),
        default_limit=ACCOUNTS_DEFAULT_LIMIT,
        max_limit=ACCOUNTS_MAX_LIMIT,
    )
    async with database_of(request).connection() as conn:
        rows = await relationship_store.list_account_page(
            conn,
            kind="mutes",
            owner_id=account.id,
            max_id=page.max_id,
            since_id=page.since_id,
            min_id=page.min_id,
            limit=page.limit,
        )
        found = await relationship_store.list_mutes_by_target(
            conn, account_id=account.id, target_ids=[row.account.id for row in rows]
        )
    # Mastodon adds when each mute ends to the accounts in this list.
    extra = {
        target_id: {"mute_expires_at": iso(mute.expires_at)} for target_id, mute in found.items()
    }
    return paged_accounts_response(request, page, rows, extra)


_PREFIX = "/api/v1/accounts"

routes: list[BaseRoute] = [
    Route(f"{_PREFIX}/verify_credentials", verify_credentials, methods=["GET"]),
    Route(f"{_PREFIX}/update_credentials", update_credentials, methods=["PATCH"]),
    Route(f"{_PREFIX}/relationships", relationships, methods=["GET"]),
    Route(f"{_PREFIX}/lookup", lookup, methods=["GET"]),
    Route(f"{_PREFIX}/search", search, methods=["GET"]),
    Route(f"{_PREFIX}/familiar_followers", familiar_followers, methods=["GET"]),
    Route(_PREFIX, list_accounts, methods=["GET"]),
    Route(f"{_PREFIX}/{{id}}", show_account, methods=["GET"]),
    Route(f"{_PREFIX}/{{id}}/statuses", account_statuses, methods=["GET"]),
    Route(f"{_PREFIX}/{{id}}/followers", followers, methods=["GET"]),
    Route(f"{_PREFIX}/{{id}}/following", following, methods=["GET"]),
    Route(f"{_PREFIX}/{{id}}/lists", account_lists, methods=["GET"]),
    *[
        Route(f"{_PREFIX}/{{id}}/{action}", _action_endpoint(action), methods=["POST"])
        for action in _ACTIONS
    ],
    Route("/api/v1/blocks", blocks, methods=["GET"]),
    Route("/api/v1/mutes", mutes, methods=["GET"]),
]
