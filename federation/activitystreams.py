"""ActivityStreams 2.0 vocabulary: contexts, media types and defensive readers for AS2 JSON."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from fediverse.url_cache import UrlCached

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
# Compacted spellings of the public collection seen in the wild (AS2 §5.6.1).
PUBLIC_ALIASES = frozenset({PUBLIC, "as:Public", "Public"})

ACTIVITY_JSON = "application/activity+json"
LD_JSON = "application/ld+json"
LD_JSON_ACTIVITYSTREAMS = f'{LD_JSON}; profile="{AS_CONTEXT}"'
# What we send when fetching an ActivityStreams document (ActivityPub §3.2).
ACCEPT_ACTIVITYSTREAMS = f"{ACTIVITY_JSON}, {LD_JSON_ACTIVITYSTREAMS}"
JRD_JSON = "application/jrd+json"

# Mastodon's actor @context: the extension terms its peers read (featured, discoverable, ...).
ACTOR_CONTEXT: list[Any] = [
    AS_CONTEXT,
    SECURITY_CONTEXT,
    {
        "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
        "toot": "http://joinmastodon.org/ns#",
        "featured": {"@id": "toot:featured", "@type": "@id"},
        "featuredTags": {"@id": "toot:featuredTags", "@type": "@id"},
        "alsoKnownAs": {"@id": "as:alsoKnownAs", "@type": "@id"},
        "movedTo": {"@id": "as:movedTo", "@type": "@id"},
        "schema": "http://schema.org#",
        "PropertyValue": "schema:PropertyValue",
        "value": "schema:value",
        "discoverable": "toot:discoverable",
        "suspended": "toot:suspended",
        "memorial": "toot:memorial",
        "indexable": "toot:indexable",
        "attributionDomains": {"@id": "toot:attributionDomains", "@type": "@id"},
        "Emoji": "toot:Emoji",
        "focalPoint": {"@container": "@list", "@id": "toot:focalPoint"},
    },
]

# A DNS name or an IP literal; anything else (templates, spaces, unicode) is no host of ours.
_HOST_RE = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?|[0-9a-f:.]+")

ACTOR_TYPES = frozenset({"Person", "Service", "Application", "Group", "Organization"})


def media_type_of(content_type: str | None) -> str:
    """The bare, lower-case media type of a Content-Type value ('' when absent)."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def is_activitystreams_media_type(content_type: str | None) -> bool:
    """Whether a response's Content-Type announces an AS2 document.

    Like Mastodon, any `application/ld+json` is accepted (many servers omit the profile).
    """
    return media_type_of(content_type) in (ACTIVITY_JSON, LD_JSON)


def wants_activitystreams(accept: str | None) -> bool:
    """Content negotiation: does this Accept header ask for ActivityStreams JSON?

    `application/activity+json` always counts; `application/ld+json` counts when it names the
    ActivityStreams profile (or has no profile, which Mastodon also serves AS2 to).
    """
    if not accept:
        return False
    for part in accept.split(","):
        pieces = [piece.strip() for piece in part.split(";")]
        media = pieces[0].lower()
        if media == ACTIVITY_JSON:
            return True
        if media == LD_JSON:
            profiles = [
                p.split("=", 1)[1].strip().strip('"')
                for p in pieces[1:]
                if "=" in p and p.split("=", 1)[0].strip().lower() == "profile"
            ]
            if not profiles or any(AS_CONTEXT in profile.split() for profile in profiles):
                return True
    return False


def as_list(value: Any) -> list[Any]:
    """AS2 properties may be a single value or an array; always get a list."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def id_of(value: Any) -> str | None:
    """The id of a reference: a bare IRI string or an embedded object's `id`."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        inner = value.get("id") or value.get("href")
        return inner if isinstance(inner, str) and inner else None
    return None


def ids_of(value: Any) -> list[str]:
    """The ids of a single-or-array reference property (to, cc, tag hrefs...), skipping junk."""
    return [ident for item in as_list(value) if (ident := id_of(item)) is not None]


def audience(document: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The `to` and `cc` address lists of an activity or object."""
    return ids_of(document.get("to")), ids_of(document.get("cc"))


def is_public_address(address: str) -> bool:
    return address in PUBLIC_ALIASES


def first_string(value: Any) -> str | None:
    """A plain string out of a value that may be a string, a list, or a language map."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                return item
    if isinstance(value, dict):
        for item in value.values():
            if isinstance(item, str):
                return item
    return None


@UrlCached
def host_of(url: str) -> str:
    """The lower-case host (with a non-default port) of an absolute URL; '' if not one."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    host = parts.hostname.lower()
    if not _HOST_RE.fullmatch(host):
        return ""
    try:
        port = parts.port
    except ValueError:
        return ""
    if port is not None and port != (443 if parts.scheme == "https" else 80):
        host = f"{host}:{port}"
    return host
