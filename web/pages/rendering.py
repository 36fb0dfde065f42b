"""What every HTML page shares: the template call with the instance's name, HTML error pages,
and turning Mastodon entities into what the templates show (HTML sanitized once more here)."""

from __future__ import annotations

import html
import re
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from fediverse.content import html_to_text, sanitize_html
from fediverse.errors import DomainError
from web.state import settings_of
from web.templates import templates

DESCRIPTION_LENGTH = 300
_HREF = re.compile(r'<a\s[^>]*?href="([^"]+)"', re.IGNORECASE)


def page(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> Response:
    settings = settings_of(request)
    response = templates.TemplateResponse(
        request,
        f"pages/{template}",
        {"instance_title": settings.instance_title, "domain": settings.domain, **context},
        status_code=status_code,
    )
    # The same URL serves ActivityStreams JSON to peers: caches must keep them apart.
    response.headers["Vary"] = "Accept"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def error_page(request: Request, error: DomainError) -> Response:
    titles = {404: "Not found", 410: "Gone"}
    return page(
        request,
        "error.html",
        {"title": titles.get(error.status, "Error"), "message": error.message},
        status_code=error.status,
    )


def safe_html(dirty: str, *, rel_me: bool = False) -> Markup:
    """Sanitized HTML for a template. `rel_me` marks links as the profile owner's own sites."""
    clean = sanitize_html(dirty)
    if rel_me:
        # The sanitizer writes exactly this rel on every link, so the replacement is exact.
        clean = clean.replace('rel="nofollow noopener"', 'rel="me nofollow noopener"')
    return Markup(clean)


def link_targets(fragment: str) -> list[str]:
    return [html.unescape(href) for href in _HREF.findall(sanitize_html(fragment))]


def short_text(fragment: str, limit: int = DESCRIPTION_LENGTH) -> str:
    text = " ".join(html_to_text(fragment).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def profile_fields(account: dict[str, Any], sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fields for the profile page: plain names, sanitized values with `rel="me"` links."""
    shown = []
    for index, item in enumerate(account["fields"]):
        source = sources[index] if index < len(sources) else {}
        name = source.get("source_name") or html.unescape(item["name"])
        shown.append(
            {
                "name": name,
                "value": safe_html(item["value"], rel_me=True),
                "verified": item.get("verified_at") is not None,
            }
        )
    return shown


def status_card(entity: dict[str, Any]) -> dict[str, Any]:
    """A rendered status (a Mastodon entity) as the templates show it; a boost shows the
    boosted status with a line naming the booster."""
    proper = entity["reblog"] if isinstance(entity.get("reblog"), dict) else entity
    author = proper["account"]
    return {
        "id": proper["id"],
        "url": proper["url"] or proper["uri"],
        "created_at": proper["created_at"],
        "edited_at": proper["edited_at"],
        "spoiler_text": proper["spoiler_text"],
        "content": safe_html(proper["content"]),
        "media": [
            {
                "url": m["url"],
                "preview_url": m["preview_url"] or m["url"],
                "description": m["description"] or "",
                "type": m["type"],
            }
            for m in proper["media_attachments"]
        ],
        "sensitive": proper["sensitive"],
        "author": {
            "display_name": author["display_name"] or author["username"],
            "acct": author["acct"],
            "avatar": author["avatar"],
            "url": author["url"],
        },
        "boosted_by": (
            None
            if proper is entity
            else entity["account"]["display_name"] or entity["account"]["username"]
        ),
        "replies_count": proper["replies_count"],
        "reblogs_count": proper["reblogs_count"],
        "favourites_count": proper["favourites_count"],
    }
