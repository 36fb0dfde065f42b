"""Mastodon client API: filters v2 (`/api/v2/filters` with keywords and statuses) and v1's list.

Also `match_filters`, which the status renderer calls to fill a status's `filtered` field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import filters
from fediverse.content import html_to_text
from fediverse.errors import NotFound, ValidationError
from fediverse.filters import (
    FilterChanges,
    FilterDraft,
    FilterWithKeywords,
    KeywordChange,
    KeywordDraft,
)
from fediverse.ids import parse_id
from fediverse.storage.database import Connection
from fediverse.storage.filters import Filter, FilterKeyword, FilterStatus
from web.auth import require_account
from web.forms import Params, read_params
from web.mastodon_api.entities import iso
from web.responses import JSONResponse
from web.state import database_of

READ = "read:filters"
WRITE = "write:filters"


def render_keyword(keyword: FilterKeyword) -> dict[str, Any]:
    return {"id": str(keyword.id), "keyword": keyword.keyword, "whole_word": keyword.whole_word}


def render_filter_status(item: FilterStatus) -> dict[str, Any]:
    return {"id": str(item.id), "status_id": str(item.status_id)}


def _render_filter_only(found: Filter) -> dict[str, Any]:
    return {
        "id": str(found.id),
        "title": found.title,
        "context": found.context,
        "expires_at": iso(found.expires_at),
        "filter_action": found.filter_action,
    }


def render_filter(rules: FilterWithKeywords) -> dict[str, Any]:
    return {
        **_render_filter_only(rules.filter),
        "keywords": [render_keyword(k) for k in rules.keywords],
        "statuses": [render_filter_status(s) for s in rules.statuses],
    }


def render_v1_filters(rules: FilterWithKeywords) -> list[dict[str, Any]]:
    """Mastodon 4 serves v1 filters as one per v2 keyword, with the keyword's id."""
    return [
        {
            "id": str(keyword.id),
            "phrase": keyword.keyword,
            "context": rules.filter.context,
            "whole_word": keyword.whole_word,
            "expires_at": iso(rules.filter.expires_at),
            "irreversible": rules.filter.filter_action == "hide",
        }
        for keyword in rules.keywords
    ]


def match_filters(
    active_filters: list[FilterWithKeywords],
    *,
    context: str,
    text: str,
    status_id: int,
    reblog_of_id: int | None = None,
) -> list[dict[str, Any]]:
    """Mastodon's FilterResult list for one status (its `filtered` field).

    `active_filters` comes from `fediverse.filters.load_active_filters`; `text` is the status
    as plain text (spoiler, content without HTML, media descriptions, poll options); `context`
    is one of home, notifications, public, thread, account. When any result's
    `filter["filter_action"] == "hide"`, the caller leaves the status out of the list instead.
    As in Mastodon, the filter inside a result carries no keywords/statuses; `keyword_matches`
    lists the filter's keywords found in the text.
    """
    return [
        {
            "filter": _render_filter_only(match.filter),
            "keyword_matches": match.keyword_matches,
            "status_matches": (
                None if match.status_matches is None else [str(i) for i in match.status_matches]
            ),
        }
        for match in filters.find_matches(
            active_filters,
            context=context,
            text=text,
            status_id=status_id,
            reblog_of_id=reblog_of_id,
        )
    ]


def status_text(entity: dict[str, Any]) -> str:
    """A rendered status as a reader sees it, for keyword matching: spoiler text, content
    without HTML, media descriptions and poll options."""
    parts = [entity.get("spoiler_text") or "", html_to_text(entity.get("content") or "")]
    parts.extend(m.get("description") or "" for m in entity.get("media_attachments") or [])
    poll = entity.get("poll")
    if isinstance(poll, dict):
        parts.extend(o.get("title") or "" for o in poll.get("options") or [])
    return "\n\n".join(part for part in parts if part)


def _fill_filtered(
    entity: dict[str, Any], active_filters: list[FilterWithKeywords], context: str
) -> bool:
    """Set `filtered` on a rendered status (and on the status it boosts); True when a `hide`
    filter matched. A boost is judged by the boosted status's text and id."""
    proper = entity["reblog"] if isinstance(entity.get("reblog"), dict) else entity
    results = match_filters(
        active_filters,
        context=context,
        text=status_text(proper),
        status_id=int(entity["id"]),
        reblog_of_id=None if proper is entity else int(proper["id"]),
    )
    entity["filtered"] = results
    if proper is not entity:
        proper["filtered"] = results
    return any(result["filter"]["filter_action"] == "hide" for result in results)


async def apply_filters(
    conn: Connection,
    entities: list[dict[str, Any]],
    *,
    viewer_id: int | None,
    context: str,
    now: datetime | None = None,
    drop_hidden: bool = True,
) -> list[dict[str, Any]]:
    """Apply the viewer's active filters for `context` to rendered statuses.

    Fills each status's `filtered`; statuses matched by a `hide` filter are left out unless
    `drop_hidden` is false (a single status asked for by id is still shown, with `filtered`).
    As in Mastodon, the viewer's own statuses are never filtered.
    """
    if viewer_id is None or not entities:
        return entities
    active = await filters.load_active_filters(
        conn, account_id=viewer_id, now=now or datetime.now(UTC)
    )
    if not active:
        return entities
    kept = []
    for entity in entities:
        if str(viewer_id) == entity["account"]["id"] and not isinstance(entity.get("reblog"), dict):
            kept.append(entity)
            continue
        if _fill_filtered(entity, active, context) and drop_hidden:
            continue
        kept.append(entity)
    return kept


async def apply_filters_to_notifications(
    conn: Connection,
    notifications: list[dict[str, Any]],
    *,
    viewer_id: int,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The `notifications` context: fill the status of each notification; a notification
    whose status a `hide` filter matches is left out."""
    with_status = [n["status"] for n in notifications if isinstance(n.get("status"), dict)]
    shown = await apply_filters(
        conn, with_status, viewer_id=viewer_id, context="notifications", now=now
    )
    shown_ids = {id(entity) for entity in shown}
    return [
        n
        for n in notifications
        if not isinstance(n.get("status"), dict) or id(n["status"]) in shown_ids
    ]


def _path_id(request: Request, name: str = "id") -> int:
    value = parse_id(request.path_params[name])
    if value is None:
        raise NotFound()
    return value


def _expires_in(params: Params) -> int | None:
    """`expires_in` in seconds; empty means never."""
    raw = params.raw("expires_in")
    if raw is None or raw == "":
        return None
    return params.int("expires_in")


def _keyword_items(params: Params) -> list[Params]:
    items = params.list("keywords_attributes")
    if not all(isinstance(item, dict) for item in items):
        raise ValidationError("keywords_attributes must be a list of objects", field="keywords")
    return [Params(item) for item in items]


def _whole_word(item: Params) -> bool | None:
    return item.bool("whole_word")


async def list_filters_v2(request: Request) -> Response:
    _, account = await require_account(request, READ)
    async with database_of(request).transaction() as conn:
        found = await filters.list_filters(conn, account_id=account.id)
    return JSONResponse([render_filter(rules) for rules in found])


async def show_filter(request: Request) -> Response:
    _, account = await require_account(request, READ)
    async with database_of(request).transaction() as conn:
        found = await filters.get_filter(conn, account_id=account.id, filter_id=_path_id(request))
    return JSONResponse(render_filter(found))


async def create_filter(request: Request) -> Response:
    _, account = await require_account(request, WRITE)
    params = await read_params(request)
    draft = FilterDraft(
        title=params.str("title"),
        context=[str(value) for value in params.list("context")],
        filter_action=params.str("filter_action") or "warn",
        expires_in=_expires_in(params),
        keywords=[
            KeywordDraft(
                keyword=item.str("keyword") or "", whole_word=_whole_word(item) is not False
            )
            for item in _keyword_items(params)
            if not item.bool("_destroy", False)
        ],
    )
    async with database_of(request).transaction() as conn:
        created = await filters.create_filter(
            conn, account_id=account.id, draft=draft, now=datetime.now(UTC)
        )
    return JSONResponse(render_filter(created))


async def update_filter(request: Request) -> Response:
    _, account = await require_account(request, WRITE)
    filter_id = _path_id(request)
    params = await read_params(request)
    keyword_changes = []
    for item in _keyword_items(params):
        raw_id = item.raw("id")
        keyword_id = None if raw_id in (None, "") else parse_id(raw_id)
        if raw_id not in (None, "") and keyword_id is None:
            raise NotFound()
        keyword_changes.append(
            KeywordChange(
                id=keyword_id,
                keyword=item.str("keyword"),
                whole_word=_whole_word(item),
                destroy=bool(item.bool("_destroy", False)),
            )
        )
    context = params.list("context") if ("context" in params or "context[]" in params) else None
    changes = FilterChanges(
        title=params.str("title"),
        context=None if context is None else [str(value) for value in context],
        filter_action=params.str("filter_action"),
        change_expiry="expires_in" in params,
        expires_in=_expires_in(params),
        keywords=keyword_changes,
    )
    async with database_of(request).transaction() as conn:
        updated = await filters.update_filter(
            conn, account_id=account.id, filter_id=filter_id, changes=changes, now=datetime.now(UTC)
        )
    return JSONResponse(render_filter(updated))


async def delete_filter(request: Request) -> Response:
    _, account = await require_account(request, WRITE)
    async with database_of(request).transaction() as conn:
        await filters.delete_filter(conn, account_id=account.id, filter_id=_path_id(request))
    return JSONResponse({})


async def list_keywords(request: Request) -> Response:
    _, account = await require_account(request, READ)
    async with database_of(request).transaction() as conn:
        found = await filters.list_keywords(
            conn, account_id=account.id, filter_id=_path_id(request)
        )
    return JSONResponse([render_keyword(k) for k in found])


async def add_keyword(request: Request) -> Response:
    _, account = await require_account(request, WRITE)
    filter_id = _path_id(request)
    params = await read_params(request)
    async with database_of(request).transaction() as conn:
        added = await filters.add_keyword(
            conn,
            account_id=account.id,
            filter_id=filter_id,
            keyword=params.str("keyword"),
            whole_word=_whole_word(params) is not False,
        )
    return JSONResponse(render_keyword(added))


async def show_keyword(request: Request) -> Response:
    _, account = await require_account(request, READ)
    async with database_of(request).transaction() as conn:
        found = await filters.get_keyword(conn, account_id=account.id, keyword_id=_path_id(request))
    return JSONResponse(render_keyword(found))


async def update_keyword(request: Request) -> Response:
    _, account = await require_account(request, WRITE)
    keyword_id = _path_id(request)
    params = await read_params(request)
    async with database_of(request).transaction() as conn:
        updated = await filters.update_keyword(
            conn,
            account_id=account.id,
            keyword_id=keyword_id,
            keyword=params.str("keyword"),
            whole_word=_whole_word(params),
        )
    return JSONResponse(render_keyword(updated))


async def delete_keyword(request: Request) -> Response:
    _, account = await require_account(request, WRITE)
    async with database_of(request).transaction() as conn:
        await filters.delete_keyword(conn, account_id=account.id, keyword_id=_path_id(request))
    return JSONResponse({})


async def list_filter_statuses(request: Request) -> Response:
    _, account = await require_account(request, READ)
    async with database_of(request).transaction() as conn:
        found = await filters.list_filter_statuses(
            conn, account_id=account.id, filter_id=_path_id(request)
        )
    return JSONResponse([render_filter_status(s) for s in found])


async def add_filter_status(request: Request) -> Response:
    _, account = await require_account(request, WRITE)
    filter_id = _path_id(request)
    params = await read_params(request)
    async with database_of(request).transaction() as conn:
        added = await filters.add_filter_status(
            conn,
            account_id=account.id,
            filter_id=filter_id,
            status_id=parse_id(params.raw("status_id")),
        )
    return JSONResponse(render_filter_status(added))


async def show_filter_status(request: Request) -> Response:
    _, account = await require_account(request, READ)
    async with database_of(request).transaction() as conn:
        found = await filters.get_filter_status(
            conn, account_id=account.id, filter_status_id=_path_id(request)
        )
    return JSONResponse(render_filter_status(found))


async def delete_filter_status(request: Request) -> Response:
    _, account = await require_account(request, WRITE)
    async with database_of(request).transaction() as conn:
        await filters.delete_filter_status(
            conn, account_id=account.id, filter_status_id=_path_id(request)
        )
    return JSONResponse({})


async def list_filters_v1(request: Request) -> Response:
    _, account = await require_account(request, READ)
    async with database_of(request).transaction() as conn:
        found = await filters.list_filters(conn, account_id=account.id)
    return JSONResponse([entry for rules in found for entry in render_v1_filters(rules)])


async def show_filter_v1(request: Request) -> Response:
    _, account = await require_account(request, READ)
    keyword_id = _path_id(request)
    async with database_of(request).transaction() as conn:
        keyword = await filters.get_keyword(conn, account_id=account.id, keyword_id=keyword_id)
        rules = await filters.get_filter(conn, account_id=account.id, filter_id=keyword.filter_id)
    (entry,) = [e for e in render_v1_filters(rules) if e["id"] == str(keyword_id)]
    return JSONResponse(entry)


routes: list[BaseRoute] = [
    Route("/api/v2/filters", list_filters_v2, methods=["GET"]),
    Route("/api/v2/filters", create_filter, methods=["POST"]),
    Route("/api/v2/filters/keywords/{id}", show_keyword, methods=["GET"]),
    Route("/api/v2/filters/keywords/{id}", update_keyword, methods=["PUT"]),
    Route("/api/v2/filters/keywords/{id}", delete_keyword, methods=["DELETE"]),
    Route("/api/v2/filters/statuses/{id}", show_filter_status, methods=["GET"]),
    Route("/api/v2/filters/statuses/{id}", delete_filter_status, methods=["DELETE"]),
    Route("/api/v2/filters/{id}", show_filter, methods=["GET"]),
    Route("/api/v2/filters/{id}", update_filter, methods=["PUT"]),
    Route("/api/v2/filters/{id}", delete_filter, methods=["DELETE"]),
    Route("/api/v2/filters/{id}/keywords", list_keywords, methods=["GET"]),
    Route("/api/v2/filters/{id}/keywords", add_keyword, methods=["POST"]),
    Route("/api/v2/filters/{id}/statuses", list_filter_statuses, methods=["GET"]),
    Route("/api/v2/filters/{id}/statuses", add_filter_status, methods=["POST"]),
    Route("/api/v1/filters", list_filters_v1, methods=["GET"]),
    Route("/api/v1/filters/{id}", show_filter_v1, methods=["GET"]),
]
