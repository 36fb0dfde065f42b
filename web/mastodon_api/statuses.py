"""Mastodon client API: posting, reading, editing and deleting statuses, and acting on them.

docs.joinmastodon.org/methods/statuses is the reference for shapes and status codes. The
domain (fediverse.statuses, fediverse.threads) decides; this module parses, checks scopes,
owns the transaction and renders.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import default_scope, threads
from fediverse import media as media_domain
from fediverse import scheduled as scheduled_domain
from fediverse import statuses as status_domain
from fediverse.errors import NotFound, ValidationError
from fediverse.ids import parse_id
from fediverse.polls import PollDraft, parse_poll_draft
from fediverse.status_views import load_views
from fediverse.statuses import Draft, PostingContext, parse_visibility
from fediverse.storage import accounts as account_store
from fediverse.storage import interactions
from fediverse.storage import statuses as status_store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Connection
from fediverse.storage.statuses import Status
from fediverse.urls import LocalUrls
from web.auth import read_viewer, require_account
from web.forms import Params, read_params
from web.mastodon_api.entities import iso, render_account, render_status
from web.mastodon_api.filters import apply_filters
from web.mastodon_api.media_entities import render_media_attachment
from web.mastodon_api.scheduled_statuses import parse_scheduled_at, render_scheduled_status
from web.pagination import ACCOUNTS_MAX_LIMIT, add_link_header, parse_page
from web.responses import JSONResponse
from web.state import AppState, database_of, state_of, urls_of

# The app's services may hold a federation resolver for `@user@remote` mentions.
MENTION_RESOLVER_SERVICE = "mention_resolver"
# GET /api/v1/statuses?id[]=: Mastodon caps the number of ids per request.
MAX_IDS_PER_REQUEST = 40
_LANGUAGE_RE = re.compile(r"^[a-zA-Z]{2,3}(?:[-_][a-zA-Z0-9]{2,8})*$")


def _status_id(request: Request) -> int:
    status_id = parse_id(request.path_params["id"])
    if status_id is None:
        raise NotFound()
    return status_id


async def _attach_media(
    conn: Connection, account_id: int, media_ids: list[int], status_id: int
) -> None:
    await media_domain.attach_media(
        conn, account_id=account_id, media_ids=media_ids, status_id=status_id
    )


def _posting_context(request: Request) -> PostingContext:
    return posting_context_for(state_of(request))


def posting_context_for(state: AppState) -> PostingContext:
    """What posting needs from the app; also used by background work (scheduled statuses)."""
    return PostingContext(
        urls=state.urls,
        character_limit=state.settings.character_limit,
        resolve_remote_mention=state.services.get(MENTION_RESOLVER_SERVICE),
        attach_media=_attach_media,
    )


MediaSnapshot = Callable[[Connection, int], Awaitable[list[dict[str, Any]]]]


def _media_snapshot(urls: LocalUrls) -> MediaSnapshot:
    """How an edit records the attachments of each version (as rendered entities)."""

    async def snapshot(conn: Connection, status_id: int) -> list[dict[str, Any]]:
        grouped = await media_domain.list_media_for_statuses(conn, status_ids=[status_id])
        return [render_media_attachment(m, urls) for m in grouped.get(status_id, [])]

    return snapshot


def _media_ids(params: Params) -> list[int]:
    result = []
    for raw in params.list("media_ids"):
        media_id = parse_id(raw)
        if media_id is None:
            raise ValidationError(f"media_ids contains an invalid id {raw!r}", field="media_ids")
        result.append(media_id)
    return result


def _poll_draft(params: Params) -> PollDraft | None:
    """`poll[options][]=...` (form) or `"poll": {...}` (JSON); absent or empty means none."""
    raw = params.raw("poll")
    if raw is None or raw == "":
        return None
    if not isinstance(raw, dict):
        raise ValidationError("poll must be an object", field="poll")
    return parse_poll_draft(raw)


def _language(params: Params) -> str | None:
    raw = params.str("language")
    if raw is None or raw.strip() == "":
        return None
    if not _LANGUAGE_RE.match(raw.strip()):
        raise ValidationError("language is not a valid ISO 639 code", field="language")
    # `pt-BR` keeps its region's case; the language part is lower case, as in Mastodon.
    language, _, region = raw.strip().replace("_", "-").partition("-")
    return f"{language.lower()}-{region}" if region else language.lower()


async def _render_statuses(
    conn: Connection, statuses: list[Status], viewer_id: int | None, urls: LocalUrls
) -> list[dict[str, Any]]:
    # load_views adds the `audience` summary to the viewer's own statuses.
    return [render_status(view, urls) for view in await load_views(conn, statuses, viewer_id)]


async def _render_one(
    conn: Connection, status: Status, viewer_id: int | None, urls: LocalUrls
) -> dict[str, Any]:
    rendered = await _render_statuses(conn, [status], viewer_id, urls)
    if not rendered:
        raise NotFound()
    return rendered[0]


def parse_draft(params: Params, application_id: int | None) -> Draft:
    """The parameters of POST /api/v1/statuses (also read by the audience preview)."""
    visibility, local_only = parse_visibility(params.str("visibility"), params.bool("local_only"))
    in_reply_to_id = None
    raw_reply = params.str("in_reply_to_id")
    if raw_reply:
        in_reply_to_id = parse_id(raw_reply)
        if in_reply_to_id is None:
            raise NotFound("The status you are replying to does not exist")
    return Draft(
        text=params.str("status") or "",
        spoiler_text=params.str("spoiler_text") or "",
        visibility=visibility,
        local_only=local_only,
        sensitive=params.bool("sensitive"),
        language=_language(params),
        in_reply_to_id=in_reply_to_id,
        media_ids=_media_ids(params),
        application_id=application_id,
        poll=_poll_draft(params),
    )


async def create_status(request: Request) -> Response:
    """POST /api/v1/statuses."""
    viewer, account = await require_account(request, "write:statuses")
    params = await read_params(request)
    draft = parse_draft(params, viewer.token.application_id)
    user = viewer.user
    assert user is not None
    idempotency_key = (request.headers.get("idempotency-key") or "").strip()[:255]
    urls = urls_of(request)
    scheduled_at = parse_scheduled_at(params.str("scheduled_at"))
    if scheduled_at is not None:
        # Mastodon answers a ScheduledStatus instead of a Status.
        async with database_of(request).transaction() as conn:
            scheduled = await scheduled_domain.schedule(
                conn,
                author=account,
                draft=draft,
                scheduled_at=scheduled_at,
                now=datetime.now(UTC),
                idempotency=idempotency_key or None,
            )
            return JSONResponse(await render_scheduled_status(conn, scheduled, urls))
    async with database_of(request).transaction() as conn:
        if idempotency_key:
            previous_id = await status_store.fetch_idempotent_status_id(
                conn, account_id=account.id, key=idempotency_key
            )
            previous = (
                None
                if previous_id is None
                else await status_store.fetch_status(conn, status_id=previous_id)
            )
            if previous is not None:
                return JSONResponse(await _render_one(conn, previous, account.id, urls))
        defaults = await default_scope.default_for(conn, user)
        status = await status_domain.post_status(
            conn,
            author=account,
            draft=draft,
            ctx=_posting_context(request),
            default_visibility=defaults.visibility,
            default_local_only=defaults.local_only,
            default_sensitive=user.default_sensitive,
            default_language=user.default_language,
        )
        if idempotency_key:
            await status_store.insert_idempotency_key(
                conn, account_id=account.id, key=idempotency_key, status_id=status.id
            )
        body = await _render_one(conn, status, account.id, urls)
    return JSONResponse(body)


async def show_status(request: Request) -> Response:
    """GET /api/v1/statuses/:id: public, but only inside the status's audience (else 404)."""
    viewer = await read_viewer(request, "read:statuses")
    viewer_id = None if viewer is None else viewer.account_id
    status_id = _status_id(request)
    async with database_of(request).transaction() as conn:
        status = await status_domain.fetch_visible(conn, status_id, viewer_id)
        body = await _render_one(conn, status, viewer_id, urls_of(request))
        # Asked for by id, a status is shown even when a `hide` filter matches it.
        await apply_filters(conn, [body], viewer_id=viewer_id, context="thread", drop_hidden=False)
    return JSONResponse(body)


async def list_statuses(request: Request) -> Response:
    """GET /api/v1/statuses?id[]=...: the visible ones, in the order asked for."""
    viewer = await read_viewer(request, "read:statuses")
    viewer_id = None if viewer is None else viewer.account_id
    params = await read_params(request)
    wanted = list(dict.fromkeys(parse_id(raw) for raw in params.list("id")))
    status_ids = [status_id for status_id in wanted if status_id is not None]
    if len(status_ids) > MAX_IDS_PER_REQUEST:
        raise ValidationError(f"At most {MAX_IDS_PER_REQUEST} ids per request", field="id")
    async with database_of(request).transaction() as conn:
        found = {
            s.id: s
            for s in await status_store.list_visible_statuses(
                conn, status_ids=status_ids, viewer_id=viewer_id
            )
        }
        ordered = [found[status_id] for status_id in status_ids if status_id in found]
        body = await _render_statuses(conn, ordered, viewer_id, urls_of(request))
    return JSONResponse(body)


async def delete_status(request: Request) -> Response:
    """DELETE /api/v1/statuses/:id: returns the status with its source `text`, for redrafting."""
    _, account = await require_account(request, "write:statuses")
    status_id = _status_id(request)
    async with database_of(request).transaction() as conn:
        status = await status_store.fetch_status(conn, status_id=status_id)
        if status is None or status.account_id != account.id:
            raise NotFound()
        # Rendered before deleting: attachments and mentions are still linked now.
        body = await _render_one(conn, status, account.id, urls_of(request))
        await status_domain.delete_status(conn, actor=account, status_id=status.id)
    body["text"] = status.text
    body["spoiler_text"] = status.spoiler_text
    return JSONResponse(body)


async def edit_status(request: Request) -> Response:
    """PUT /api/v1/statuses/:id: text, spoiler, sensitivity, language and media."""
    _, account = await require_account(request, "write:statuses")
    status_id = _status_id(request)
    params = await read_params(request)
    poll = _poll_draft(params)
    urls = urls_of(request)
    async with database_of(request).transaction() as conn:
        current = await status_store.fetch_status(conn, status_id=status_id)
        if current is None or current.account_id != account.id or current.reblog_of_id:
            raise NotFound()
        status = await status_domain.edit_status(
            conn,
            editor=account,
            status_id=current.id,
            text=params.str("status", current.text) or "",
            spoiler_text=params.str("spoiler_text"),
            sensitive=params.bool("sensitive"),
            language=_language(params),
            media_ids=_media_ids(params) if "media_ids" in params else None,
            ctx=_posting_context(request),
            media_snapshot=_media_snapshot(urls),
            poll=poll,
        )
        body = await _render_one(conn, status, account.id, urls)
    return JSONResponse(body)


async def status_history(request: Request) -> Response:
    """GET /api/v1/statuses/:id/history: every version, oldest first (StatusEdit entities)."""
    viewer = await read_viewer(request, "read:statuses")
    viewer_id = None if viewer is None else viewer.account_id
    status_id = _status_id(request)
    urls = urls_of(request)
    async with database_of(request).transaction() as conn:
        status = await status_domain.fetch_visible(conn, status_id, viewer_id)
        author = await account_store.fetch_account(conn, account_id=status.account_id)
        assert author is not None
        account = render_account(author, urls)
        edits = await status_store.list_edits(conn, status_id=status.id)
        if edits:
            body = [
                {
                    "content": edit.content,
                    "spoiler_text": edit.spoiler_text,
                    "sensitive": edit.sensitive,
                    "created_at": iso(edit.created_at),
                    "account": account,
                    "poll": edit.poll,
                    "media_attachments": edit.media_attachments,
                    "emojis": [],
                }
                for edit in edits
            ]
        else:
            # Never edited: the history is the one current version (as Mastodon answers).
            current = await _render_one(conn, status, viewer_id, urls)
            body = [
                {
                    "content": current["content"],
                    "spoiler_text": current["spoiler_text"],
                    "sensitive": current["sensitive"],
                    "created_at": current["created_at"],
                    "account": account,
                    "poll": None,
                    "media_attachments": current["media_attachments"],
                    "emojis": [],
                }
            ]
    return JSONResponse(body)


async def status_source(request: Request) -> Response:
    """GET /api/v1/statuses/:id/source: the plain text, for the edit form."""
    _, account = await require_account(request, "read:statuses")
    status_id = _status_id(request)
    async with database_of(request).transaction() as conn:
        status = await status_domain.fetch_visible(conn, status_id, account.id)
    return JSONResponse(
        {"id": str(status.id), "text": status.text, "spoiler_text": status.spoiler_text}
    )


async def status_context(request: Request) -> Response:
    """GET /api/v1/statuses/:id/context: {ancestors, descendants} the viewer may see."""
    viewer = await read_viewer(request, "read:statuses")
    viewer_id = None if viewer is None else viewer.account_id
    status_id = _status_id(request)
    urls = urls_of(request)
    async with database_of(request).transaction() as conn:
        context = await threads.load_context(conn, status_id=status_id, viewer_id=viewer_id)
        ancestors = await apply_filters(
            conn,
            await _render_statuses(conn, context.ancestors, viewer_id, urls),
            viewer_id=viewer_id,
            context="thread",
        )
        descendants = await apply_filters(
            conn,
            await _render_statuses(conn, context.descendants, viewer_id, urls),
            viewer_id=viewer_id,
            context="thread",
        )
    return JSONResponse({"ancestors": ancestors, "descendants": descendants})


Action = Callable[[Connection, Account, int], Awaitable[Status]]


def _action(scope: str, act: Action) -> Callable[[Request], Awaitable[Response]]:
    """A POST /api/v1/statuses/:id/<verb> handler: act, then render the new state."""

    async def handler(request: Request) -> Response:
        _, account = await require_account(request, scope)
        status_id = _status_id(request)
        async with database_of(request).transaction() as conn:
            status = await act(conn, account, status_id)
            body = await _render_one(conn, status, account.id, urls_of(request))
        return JSONResponse(body)

    handler.__name__ = getattr(act, "__name__", "action")
    return handler


async def _favourite(conn: Connection, account: Account, status_id: int) -> Status:
    return await status_domain.favourite(conn, account=account, status_id=status_id)


async def _unfavourite(conn: Connection, account: Account, status_id: int) -> Status:
    return await status_domain.unfavourite(conn, account=account, status_id=status_id)


async def _unreblog(conn: Connection, account: Account, status_id: int) -> Status:
    return await status_domain.unreblog(conn, account=account, status_id=status_id)


async def _bookmark(conn: Connection, account: Account, status_id: int) -> Status:
    return await status_domain.bookmark(conn, account=account, status_id=status_id, on=True)


async def _unbookmark(conn: Connection, account: Account, status_id: int) -> Status:
    return await status_domain.bookmark(conn, account=account, status_id=status_id, on=False)


async def _pin(conn: Connection, account: Account, status_id: int) -> Status:
    return await status_domain.pin(conn, account=account, status_id=status_id, on=True)


async def _unpin(conn: Connection, account: Account, status_id: int) -> Status:
    return await status_domain.pin(conn, account=account, status_id=status_id, on=False)


async def _mute(conn: Connection, account: Account, status_id: int) -> Status:
    return await status_domain.mute_conversation(
        conn, account=account, status_id=status_id, on=True
    )


async def _unmute(conn: Connection, account: Account, status_id: int) -> Status:
    return await status_domain.mute_conversation(
        conn, account=account, status_id=status_id, on=False
    )


async def reblog_status(request: Request) -> Response:
    """POST /api/v1/statuses/:id/reblog: the boost, with the original (reblogged) inside."""
    _, account = await require_account(request, "write:statuses")
    status_id = _status_id(request)
    params = await read_params(request)
    visibility, _ = parse_visibility(params.str("visibility"), None)
    async with database_of(request).transaction() as conn:
        boost = await status_domain.reblog(
            conn,
            account=account,
            status_id=status_id,
            visibility=visibility,
            urls=urls_of(request),
        )
        body = await _render_one(conn, boost, account.id, urls_of(request))
    return JSONResponse(body)


PageLister = Callable[..., Awaitable[list[tuple[int, int]]]]


def _accounts_page(lister: PageLister) -> Callable[[Request], Awaitable[Response]]:
    """GET /:id/favourited_by and /:id/reblogged_by: Accounts with Link pagination, paged by
    the favourite (or boost) id; 404 unless the viewer may see the status."""

    async def handler(request: Request) -> Response:
        viewer = await read_viewer(request, "read:accounts")
        viewer_id = None if viewer is None else viewer.account_id
        status_id = _status_id(request)
        params = await read_params(request)
        page = parse_page(params, max_limit=ACCOUNTS_MAX_LIMIT, default_limit=40)
        async with database_of(request).transaction() as conn:
            status = await status_domain.fetch_visible(conn, status_id, viewer_id)
            if status.reblog_of_id is not None:
                status = await status_domain.fetch_visible(conn, status.reblog_of_id, viewer_id)
            pairs = await lister(
                conn,
                status_id=status.id,
                viewer_id=viewer_id,
                max_id=page.max_id,
                since_id=page.since_id,
                min_id=page.min_id,
                limit=page.limit,
            )
            accounts = {
                a.id: a
                for a in await account_store.list_accounts_by_ids(
                    conn, account_ids=[account_id for _, account_id in pairs]
                )
            }
        urls = urls_of(request)
        body = [render_account(accounts[aid], urls) for _, aid in pairs if aid in accounts]
        response = JSONResponse(body)
        return add_link_header(response, request, page, [page_id for page_id, _ in pairs])

    return handler


routes: list[BaseRoute] = [
    Route("/api/v1/statuses", create_status, methods=["POST"]),
    Route("/api/v1/statuses", list_statuses, methods=["GET"]),
    Route("/api/v1/statuses/{id}", show_status, methods=["GET"]),
    Route("/api/v1/statuses/{id}", delete_status, methods=["DELETE"]),
    Route("/api/v1/statuses/{id}", edit_status, methods=["PUT"]),
    Route("/api/v1/statuses/{id}/history", status_history, methods=["GET"]),
    Route("/api/v1/statuses/{id}/source", status_source, methods=["GET"]),
    Route("/api/v1/statuses/{id}/context", status_context, methods=["GET"]),
    Route("/api/v1/statuses/{id}/reblog", reblog_status, methods=["POST"]),
    Route(
        "/api/v1/statuses/{id}/favourite",
        _action("write:favourites", _favourite),
        methods=["POST"],
    ),
    Route(
        "/api/v1/statuses/{id}/unfavourite",
        _action("write:favourites", _unfavourite),
        methods=["POST"],
    ),
    Route("/api/v1/statuses/{id}/unreblog", _action("write:statuses", _unreblog), methods=["POST"]),
    Route(
        "/api/v1/statuses/{id}/bookmark", _action("write:bookmarks", _bookmark), methods=["POST"]
    ),
    Route(
        "/api/v1/statuses/{id}/unbookmark",
        _action("write:bookmarks", _unbookmark),
        methods=["POST"],
    ),
    Route("/api/v1/statuses/{id}/pin", _action("write:accounts", _pin), methods=["POST"]),
    Route("/api/v1/statuses/{id}/unpin", _action("write:accounts", _unpin), methods=["POST"]),
    Route("/api/v1/statuses/{id}/mute", _action("write:mutes", _mute), methods=["POST"]),
    Route("/api/v1/statuses/{id}/unmute", _action("write:mutes", _unmute), methods=["POST"]),
    Route(
        "/api/v1/statuses/{id}/favourited_by",
        _accounts_page(interactions.list_favouriter_page),
        methods=["GET"],
    ),
    Route(
        "/api/v1/statuses/{id}/reblogged_by",
        _accounts_page(interactions.list_reblogger_page),
        methods=["GET"],
    ),
]
