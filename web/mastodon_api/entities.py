"""Mastodon entities rendered from domain values: Account, Status, Tag, Relationship, Context.

Shapes follow docs.joinmastodon.org/entities exactly: every field present, ids as strings,
`null` where Mastodon sends null. One renderer per entity, used by every endpoint.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fediverse.status_views import StatusView
from fediverse.storage.accounts import Account
from fediverse.storage.polls import Poll
from fediverse.urls import LocalUrls
from web.mastodon_api.media_entities import render_media_attachment


def iso(moment: datetime | None) -> str | None:
    """Mastodon's timestamp format: UTC with milliseconds and a Z."""
    return None if moment is None else _utc(moment)


def _utc(moment: datetime) -> str:
    value = moment.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _day(moment: datetime | None) -> str | None:
    return None if moment is None else moment.date().isoformat()


def _image_url(file_name: str | None, remote: str | None, fallback: str, urls: LocalUrls) -> str:
    if file_name:
        return urls.media(file_name)
    return remote or fallback


def render_account(
    account: Account, urls: LocalUrls, *, moved: dict[str, Any] | None = None
) -> dict[str, Any]:
    avatar = _image_url(account.avatar_file, account.avatar_remote_url, urls.avatar_missing(), urls)
    header = _image_url(account.header_file, account.header_remote_url, urls.header_missing(), urls)
    created = account.created_at.replace(hour=0, minute=0, second=0, microsecond=0)
    entity: dict[str, Any] = {
        "id": str(account.id),
        "username": account.username,
        "acct": account.acct,
        "display_name": account.display_name,
        "locked": account.locked,
        "bot": account.is_bot,
        "discoverable": account.discoverable,
        "indexable": account.indexable,
        "group": account.actor_type == "Group",
        "created_at": _utc(created),
        "note": account.note,
        "url": account.url or account.uri,
        "uri": account.uri,
        "avatar": avatar,
        "avatar_static": avatar,
        "header": header,
        "header_static": header,
        "followers_count": account.followers_count,
        "following_count": account.following_count,
        "statuses_count": account.statuses_count,
        "last_status_at": _day(account.last_status_at),
        "hide_collections": account.hide_collections,
        "noindex": not account.indexable,
        "emojis": [],
        "roles": [],
        "fields": [
            {
                "name": str(item.get("name", "")),
                "value": str(item.get("value", "")),
                "verified_at": item.get("verified_at"),
            }
            for item in account.fields
        ],
    }
    if account.suspended_at is not None:
        entity["suspended"] = True
    if account.silenced_at is not None:
        entity["limited"] = True
    if account.memorial:
        entity["memorial"] = True
    if moved is not None:
        entity["moved"] = moved
    return entity


def render_credential_account(
    account: Account,
    urls: LocalUrls,
    *,
    privacy: str,
    sensitive: bool,
    language: str | None,
    follow_requests_count: int,
    role: str,
    local_only_default: bool = False,
) -> dict[str, Any]:
    """`verify_credentials`: the account plus `source` and `role`."""
    entity = render_account(account, urls)
    entity["source"] = {
        "privacy": privacy,
        "sensitive": sensitive,
        "language": language or "",
        "note": account.note_source,
        "fields": [
            {"name": str(f.get("name", "")), "value": str(f.get("value", "")), "verified_at": None}
            for f in account.fields
        ],
        "follow_requests_count": follow_requests_count,
        "hide_collections": account.hide_collections,
        "discoverable": account.discoverable,
        "indexable": account.indexable,
        # The internal-scope default, as Hometown names the preference.
        "local_only": local_only_default,
    }
    entity["role"] = {
        "id": {"user": "-99", "moderator": "2", "admin": "3"}.get(role, "-99"),
        "name": "" if role == "user" else role.capitalize(),
        "color": "",
        "permissions": {"user": "65536", "moderator": "1308", "admin": "1"}.get(role, "65536"),
        "highlighted": role != "user",
    }
    return entity


def render_status(view: StatusView, urls: LocalUrls) -> dict[str, Any]:
    status = view.status
    account = render_account(view.account, urls)
    entity: dict[str, Any] = {
        "id": str(status.id),
        "created_at": _utc(status.created_at),
        "in_reply_to_id": None if status.in_reply_to_id is None else str(status.in_reply_to_id),
        "in_reply_to_account_id": (
            None if status.in_reply_to_account_id is None else str(status.in_reply_to_account_id)
        ),
        "sensitive": status.sensitive,
        "spoiler_text": status.spoiler_text,
        "visibility": status.visibility,
        "local_only": status.local_only,
        "language": status.language,
        "uri": status.uri,
        "url": status.url,
        "replies_count": status.replies_count,
        "reblogs_count": status.reblogs_count,
        "favourites_count": status.favourites_count,
        "quotes_count": 0,
        "edited_at": _utc(status.edited_at) if status.edited_at else None,
        "content": status.content,
        "reblog": None if view.reblog is None else render_status(view.reblog, urls),
        "application": (
            None
            if view.application is None
            else {"name": view.application.name, "website": view.application.website}
        ),
        "account": account,
        "media_attachments": [render_media_attachment(m, urls) for m in view.media],
        "mentions": [
            {
                "id": str(mentioned.id),
                "username": mentioned.username,
                "url": mentioned.url or mentioned.uri,
                "acct": mentioned.acct,
            }
            for mentioned in view.mentions
        ],
        "tags": [{"name": name, "url": urls.tag(name)} for name in view.tags],
        "emojis": [],
        "card": None,
        "poll": (
            None
            if view.poll is None
            else render_poll(view.poll, own_votes=view.own_votes, viewer_id=view.viewer_id)
        ),
        "quote": None,
        "filtered": [],
    }
    if view.reblog is not None:
        # A boost has no content of its own; Mastodon sends empty content and the original.
        entity["content"] = ""
        entity["in_reply_to_id"] = None
    if view.viewer_id is not None:
        entity["favourited"] = bool(view.favourited)
        entity["reblogged"] = bool(view.reblogged)
        entity["muted"] = bool(view.muted)
        entity["bookmarked"] = bool(view.bookmarked)
        if status.account_id == view.viewer_id:
            entity["pinned"] = bool(view.pinned)
    for key, value in view.extras.items():
        entity[key] = value
    return entity


def render_poll(
    poll: Poll,
    *,
    own_votes: list[int] | None,
    viewer_id: int | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Poll entity. With hide_totals, option counts stay null until the poll ends, except for
    its author; `voted`/`own_votes` only for a signed-in viewer (the author counts as voted,
    as in Mastodon, so apps show the author the results)."""
    expired = poll.expired_at(now or datetime.now(UTC))
    show_counts = expired or not poll.hide_totals or poll.account_id == viewer_id
    entity: dict[str, Any] = {
        "id": str(poll.id),
        "expires_at": iso(poll.expires_at),
        "expired": expired,
        "multiple": poll.multiple,
        "votes_count": sum(poll.tallies),
        "voters_count": poll.voters_count,
        "options": [
            {"title": title, "votes_count": count if show_counts else None}
            for title, count in zip(poll.options, poll.tallies, strict=True)
        ],
        "emojis": [],
    }
    if viewer_id is not None:
        entity["voted"] = poll.account_id == viewer_id or bool(own_votes)
        entity["own_votes"] = list(own_votes or [])
    return entity


def render_tag(
    name: str,
    urls: LocalUrls,
    *,
    following: bool | None = None,
    history: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    entity: dict[str, Any] = {"name": name, "url": urls.tag(name), "history": history or []}
    if following is not None:
        entity["following"] = following
    return entity
