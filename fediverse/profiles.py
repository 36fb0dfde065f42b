"""Profiles: editing one's own, finding accounts, and what a viewer may read on someone's page."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from fediverse import events
from fediverse.content import ResolvedMention, extract_mentions, render_plain_text
from fediverse.errors import NotFound, ValidationError
from fediverse.storage import accounts as account_store
from fediverse.storage import profiles as profile_store
from fediverse.storage import relationships as relationship_store
from fediverse.storage.accounts import Account, User
from fediverse.storage.database import Connection
from fediverse.storage.relationships import PagedAccount
from fediverse.storage.statuses import Status
from fediverse.urls import LocalUrls

MAX_DISPLAY_NAME = 30
MAX_NOTE = 500
MAX_FIELDS = 4
MAX_FIELD_LENGTH = 255
DEFAULT_PRIVACY_CHOICES = ("public", "unlisted", "private")
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}$")


@dataclass(frozen=True)
class ProfileField:
    name: str
    value: str


@dataclass(frozen=True)
class ProfileChanges:
    """What `update_credentials` asks to change; None leaves a value as it is."""

    display_name: str | None = None
    note: str | None = None
    locked: bool | None = None
    bot: bool | None = None
    discoverable: bool | None = None
    indexable: bool | None = None
    hide_collections: bool | None = None
    fields: list[ProfileField] | None = None
    privacy: str | None = None
    sensitive: bool | None = None
    language: str | None = None
    avatar_file: str | None = None
    header_file: str | None = None


def validate_changes(changes: ProfileChanges) -> None:
    """Mastodon's limits, checked before anything is stored or uploaded."""
    if changes.display_name is not None and len(changes.display_name) > MAX_DISPLAY_NAME:
        raise ValidationError(
            f"Display name is too long (maximum is {MAX_DISPLAY_NAME} characters)",
            field="display_name",
        )
    if changes.note is not None and len(changes.note) > MAX_NOTE:
        raise ValidationError(f"Note is too long (maximum is {MAX_NOTE} characters)", field="note")
    if changes.fields is not None:
        if len(changes.fields) > MAX_FIELDS:
            raise ValidationError(
                f"Fields is too long (maximum is {MAX_FIELDS} fields)", field="fields_attributes"
            )
        for item in changes.fields:
            if len(item.name) > MAX_FIELD_LENGTH or len(item.value) > MAX_FIELD_LENGTH:
                raise ValidationError(
                    f"Field names and values are limited to {MAX_FIELD_LENGTH} characters",
                    field="fields_attributes",
                )
    if changes.privacy is not None and changes.privacy not in DEFAULT_PRIVACY_CHOICES:
        raise ValidationError(
            f"Privacy must be one of {', '.join(DEFAULT_PRIVACY_CHOICES)}", field="source[privacy]"
        )
    if changes.language and not _LANGUAGE_RE.fullmatch(changes.language):
        raise ValidationError(
            "Language must be an ISO 639 code such as 'en'", field="source[language]"
        )


async def _known_mentions(
    conn: Connection, text: str, urls: LocalUrls
) -> dict[tuple[str, str | None], ResolvedMention]:
    """Mentions of accounts already known here; a profile never triggers network lookups."""
    resolved: dict[tuple[str, str | None], ResolvedMention] = {}
    for ref in extract_mentions(text):
        domain = None if ref.domain in (None, urls.domain) else ref.domain
        account = await account_store.fetch_account_by_username(
            conn, username=ref.username, domain=domain
        )
        if account is None or account.suspended_at is not None:
            continue
        resolved[(ref.username.lower(), ref.domain)] = ResolvedMention(
            account_id=account.id,
            username=account.username,
            acct=account.acct,
            url=account.url or account.uri,
        )
    return resolved


async def _render_text(conn: Connection, text: str, urls: LocalUrls) -> str:
    return render_plain_text(
        text, mentions=await _known_mentions(conn, text, urls), tag_url=urls.tag("")
    )


async def _render_field(conn: Connection, item: ProfileField, urls: LocalUrls) -> dict[str, str]:
    # Field values are one line of HTML without a paragraph, as Mastodon renders them.
    value = await _render_text(conn, " ".join(item.value.splitlines()), urls)
    value = value.removeprefix("<p>").removesuffix("</p>")
    return {
        "name": html.escape(item.name, quote=False),
        "value": value,
        "source_name": item.name,
        "source_value": item.value,
    }


async def update_profile(
    conn: Connection, *, account: Account, user: User, changes: ProfileChanges, urls: LocalUrls
) -> tuple[Account, User]:
    """Apply `changes` to a local account and its user; records "account.updated"."""
    validate_changes(changes)
    account_changes: dict[str, object] = {}
    if changes.display_name is not None:
        account_changes["display_name"] = changes.display_name
    if changes.note is not None:
        account_changes["note_source"] = changes.note
        account_changes["note"] = await _render_text(conn, changes.note, urls)
    for name in ("locked", "discoverable", "indexable", "hide_collections"):
        value = getattr(changes, name)
        if value is not None:
            account_changes[name] = value
    if changes.bot is not None:
        account_changes["actor_type"] = "Service" if changes.bot else "Person"
    if changes.fields is not None:
        account_changes["fields"] = [
            await _render_field(conn, item, urls)
            for item in changes.fields
            if item.name.strip() or item.value.strip()
        ]
    if changes.avatar_file is not None:
        account_changes["avatar_file"] = changes.avatar_file
    if changes.header_file is not None:
        account_changes["header_file"] = changes.header_file

    user_changes: dict[str, object] = {}
    if changes.privacy is not None:
        user_changes["default_privacy"] = changes.privacy
    if changes.sensitive is not None:
        user_changes["default_sensitive"] = changes.sensitive
    if changes.language is not None:
        user_changes["default_language"] = changes.language or None

    await account_store.update_account(conn, account_id=account.id, changes=account_changes)
    await account_store.update_user(conn, user_id=user.id, changes=user_changes)
    if account_changes:
        await events.record(conn, "account.updated", account_id=account.id)
    updated_account = await account_store.fetch_account(conn, account_id=account.id)
    updated_user = await account_store.fetch_user(conn, user_id=user.id)
    assert updated_account is not None and updated_user is not None
    return updated_account, updated_user


# --- finding accounts ------------------------------------------------------------------------


async def fetch_account(conn: Connection, account_id: int) -> Account:
    """Any known account; suspended ones too (Mastodon shows them, flagged `suspended`)."""
    account = await account_store.fetch_account(conn, account_id=account_id)
    if account is None:
        raise NotFound()
    return account


def split_acct(acct: str, local_domain: str) -> tuple[str, str | None]:
    """`user`, `@user`, `user@domain` → (username, domain or None for local)."""
    text = acct.strip().removeprefix("@")
    username, _, domain_text = text.partition("@")
    if not username:
        raise NotFound()
    domain = domain_text.lower() or None
    if domain == local_domain.lower():
        domain = None
    return username, domain


async def lookup(conn: Connection, *, acct: str, urls: LocalUrls) -> Account:
    username, domain = split_acct(acct, urls.domain)
    account = await account_store.fetch_account_by_username(conn, username=username, domain=domain)
    if account is None:
        raise NotFound()
    return account


async def search(
    conn: Connection,
    *,
    query: str,
    urls: LocalUrls,
    viewer_id: int | None,
    following_only: bool,
    limit: int,
    offset: int,
) -> list[Account]:
    """Known accounts by username or display-name prefix (`user@domain` narrows the domain)."""
    text = query.strip().removeprefix("@")
    if not text:
        return []
    username, _, domain = text.partition("@")
    any_domain = not domain
    narrowed: str | None = None
    if domain:
        narrowed = None if domain.lower() == urls.domain.lower() else domain.lower()
    return await profile_store.search_accounts(
        conn,
        username_prefix=username,
        domain=narrowed,
        any_domain=any_domain,
        viewer_id=viewer_id,
        following_only=following_only,
        limit=limit,
        offset=offset,
    )


# --- what a viewer may read on a profile -----------------------------------------------------


@dataclass(frozen=True)
class StatusQuery:
    """Filters and a page of `GET /api/v1/accounts/:id/statuses`."""

    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None
    limit: int = 20
    pinned: bool = False
    exclude_replies: bool = False
    exclude_reblogs: bool = False
    only_media: bool = False
    tagged: str | None = None


async def account_statuses(
    conn: Connection, *, account: Account, viewer_id: int | None, query: StatusQuery
) -> list[Status]:
    """The account's statuses that the viewer may see (the audience rule decides in SQL)."""
    if account.suspended_at is not None and viewer_id != account.id:
        return []
    if query.pinned:
        if query.max_id is not None or query.min_id is not None or query.since_id is not None:
            # Pins are one short list; later pages are empty, as in Mastodon.
            return []
        return await profile_store.list_pinned_statuses(
            conn, account_id=account.id, viewer_id=viewer_id
        )
    return await profile_store.list_account_statuses(
        conn,
        account_id=account.id,
        viewer_id=viewer_id,
        max_id=query.max_id,
        since_id=query.since_id,
        min_id=query.min_id,
        limit=query.limit,
        exclude_replies=query.exclude_replies,
        exclude_reblogs=query.exclude_reblogs,
        only_media=query.only_media,
        tagged=query.tagged.removeprefix("#") if query.tagged else None,
    )


async def follow_collection(
    conn: Connection,
    *,
    account: Account,
    viewer_id: int | None,
    kind: str,
    max_id: int | None,
    since_id: int | None,
    min_id: int | None,
    limit: int,
) -> list[PagedAccount]:
    """Followers or following of `account`, paged by follow id. Empty for others when the
    owner hides their collections, and for anyone the owner blocks."""
    if kind not in ("followers", "following"):
        raise ValueError(kind)
    if viewer_id != account.id:
        if account.hide_collections or account.suspended_at is not None:
            return []
        if viewer_id is not None and await relationship_store.fetch_block_exists(
            conn, account_id=account.id, target_account_id=viewer_id
        ):
            return []
    return await relationship_store.list_account_page(
        conn,
        kind=kind,
        owner_id=account.id,
        max_id=max_id,
        since_id=since_id,
        min_id=min_id,
        limit=limit,
    )
