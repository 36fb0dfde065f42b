"""Mastodon's pagination: `max_id`/`since_id`/`min_id`/`limit` in, a `Link` header out.

A page is ordered newest first. `max_id` asks for items older than it, `since_id` for items
newer than it (still the newest ones first), `min_id` for the items right after it (the
oldest ones newer than it). The `Link` header's `next` carries the page's last item as
`max_id`, `prev` its first item as `min_id`. Those ids are whatever the list is ordered by,
which need not be the entity ids (favourites are paged by favourite id, not status id).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from fediverse.errors import ValidationError
from fediverse.ids import parse_id
from web.forms import Params
from web.state import urls_of

DEFAULT_LIMIT = 20
STATUSES_MAX_LIMIT = 40
ACCOUNTS_MAX_LIMIT = 80

_PAGING_KEYS = {"max_id", "since_id", "min_id", "access_token"}


@dataclass(frozen=True)
class PageRequest:
    max_id: int | None
    since_id: int | None
    min_id: int | None
    limit: int


def _cursor(params: Params, key: str) -> int | None:
    raw = params.str(key)
    if raw is None or raw == "":
        return None
    value = parse_id(raw)
    if value is None:
        raise ValidationError(f"{key} must be an id", field=key)
    return value


def parse_page(
    params: Params, *, default_limit: int = DEFAULT_LIMIT, max_limit: int = STATUSES_MAX_LIMIT
) -> PageRequest:
    """The paging parameters. As Mastodon does (`limit.to_i.abs`, capped), a negative limit
    counts by its size and a large one is clamped to `max_limit`; 0 asks for one item."""
    try:
        limit = params.int("limit", default_limit)
    except ValidationError:
        raw = params.data.get("limit")
        if not (isinstance(raw, str) and raw.strip().lstrip("+-").isdigit()):
            raise
        limit = max_limit  # a number beyond any integer column: as many as allowed
    assert limit is not None
    return PageRequest(
        max_id=_cursor(params, "max_id"),
        since_id=_cursor(params, "since_id"),
        min_id=_cursor(params, "min_id"),
        limit=max(1, min(abs(limit), max_limit)),
    )


def _page_url(request: Request, **cursor: int) -> str:
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in _PAGING_KEYS]
    kept.extend((key, str(value)) for key, value in cursor.items())
    return f"{urls_of(request).base}{request.url.path}?{urlencode(kept)}"


def link_header(
    request: Request, *, first_id: int | None, last_id: int | None, has_more: bool = True
) -> str | None:
    """`Link` for a page whose items (newest first) run from `first_id` to `last_id`.

    `next` (older) is left out when the caller knows there is nothing more (`has_more`
    false, e.g. a short page); both are left out for an empty page, as Mastodon does.
    """
    links = []
    if last_id is not None and has_more:
        links.append(f'<{_page_url(request, max_id=last_id)}>; rel="next"')
    if first_id is not None:
        links.append(f'<{_page_url(request, min_id=first_id)}>; rel="prev"')
    return ", ".join(links) or None


def add_link_header(
    response: Response,
    request: Request,
    page: PageRequest,
    page_ids: list[int],
) -> Response:
    """Set `Link` on `response` for a page of items with cursor ids `page_ids` (in order)."""
    header = link_header(
        request,
        first_id=page_ids[0] if page_ids else None,
        last_id=page_ids[-1] if page_ids else None,
        has_more=len(page_ids) >= page.limit,
    )
    if header is not None:
        response.headers["Link"] = header
    return response
