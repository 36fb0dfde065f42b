"""WebFinger (RFC 7033): find a remote actor from `user@domain`, and render our own JRD."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from federation.activitystreams import ACTIVITY_JSON, AS_CONTEXT, LD_JSON, host_of, media_type_of

PROFILE_PAGE_REL = "http://webfinger.net/rel/profile-page"
SUBSCRIBE_REL = "http://ostatus.org/schema/1.0/subscribe"


class WebfingerError(Exception):
    """The JRD was missing, malformed or had no ActivityPub actor link."""


@dataclass(frozen=True)
class WebfingerResult:
    subject: str
    actor_url: str
    profile_url: str | None
    aliases: tuple[str, ...]


class JrdFetcher(Protocol):
    async def webfinger(self, acct: str) -> dict[str, Any]: ...


def split_acct(resource: str) -> tuple[str, str]:
    """`acct:user@domain`, `user@domain` or `@user@domain` into (user, domain)."""
    text = resource.strip().removeprefix("acct:").lstrip("@")
    user, at, domain = text.rpartition("@")
    if not at or not user or not domain or "@" in user or "/" in domain:
        raise WebfingerError(f"{resource!r} is not user@domain")
    return user, domain.lower()


def _is_actor_link(link: dict[str, Any]) -> bool:
    if link.get("rel") != "self" or not isinstance(link.get("href"), str):
        return False
    kind = link.get("type")
    if not isinstance(kind, str):
        return False
    media = media_type_of(kind)
    return media == ACTIVITY_JSON or (
        media == LD_JSON and (AS_CONTEXT in kind or "profile" not in kind)
    )


def parse_jrd(jrd: Any) -> WebfingerResult:
    """Read a JRD defensively: any field may be missing or of the wrong type."""
    if not isinstance(jrd, dict):
        raise WebfingerError("JRD is not a JSON object")
    subject = jrd.get("subject")
    links = jrd.get("links")
    if not isinstance(links, list):
        raise WebfingerError("JRD has no links")
    actor_url = None
    profile_url = None
    for link in links:
        if not isinstance(link, dict):
            continue
        if actor_url is None and _is_actor_link(link):
            href = link["href"]
            if host_of(href):
                actor_url = href
        elif profile_url is None and link.get("rel") == PROFILE_PAGE_REL:
            href = link.get("href")
            profile_url = href if isinstance(href, str) else None
    if actor_url is None:
        raise WebfingerError("JRD has no ActivityPub self link")
    aliases_raw = jrd.get("aliases")
    aliases = (
        tuple(a for a in aliases_raw if isinstance(a, str)) if isinstance(aliases_raw, list) else ()
    )
    return WebfingerResult(
        subject=subject if isinstance(subject, str) else "",
        actor_url=actor_url,
        profile_url=profile_url,
        aliases=aliases,
    )


async def lookup(client: JrdFetcher, acct: str) -> WebfingerResult:
    """Ask `domain`'s WebFinger endpoint for `user@domain`; the result names the actor URL."""
    user, domain = split_acct(acct)
    return parse_jrd(await client.webfinger(f"{user}@{domain}"))


async def lookup_actor_url(client: JrdFetcher, acct: str) -> str:
    return (await lookup(client, acct)).actor_url


def render_jrd(
    *, username: str, domain: str, actor_url: str, profile_url: str, subscribe_template: str
) -> dict[str, Any]:
    """Our JRD, shaped as Mastodon serves it."""
    return {
        "subject": f"acct:{username}@{domain}",
        "aliases": [profile_url, actor_url],
        "links": [
            {"rel": PROFILE_PAGE_REL, "type": "text/html", "href": profile_url},
            {"rel": "self", "type": ACTIVITY_JSON, "href": actor_url},
            {"rel": SUBSCRIBE_REL, "template": subscribe_template},
        ],
    }
