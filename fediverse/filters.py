"""Content filters: a person's rules that warn about, blur or hide statuses in chosen contexts.

A filter matches a status by keyword (case-insensitive; `whole_word` puts word boundaries at
the keyword's ends, as Mastodon does) or by status id. What a match does is the caller's job:
`warn` and `blur` keep the status and report the match in its `filtered` field; `hide` means
the caller drops the status from the list it is building.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from fediverse import events, ids
from fediverse import statuses as status_domain
from fediverse.errors import NotFound, ValidationError
from fediverse.storage import filters as filter_store
from fediverse.storage.database import Connection
from fediverse.storage.filters import Filter, FilterKeyword, FilterStatus

CONTEXTS = ("home", "notifications", "public", "thread", "account")
ACTIONS = ("warn", "hide", "blur")
MAX_TITLE_LENGTH = 256
MAX_KEYWORD_LENGTH = 512


@dataclass(frozen=True)
class FilterWithKeywords:
    """A filter with its rules: the keywords and the statuses it names."""

    filter: Filter
    keywords: list[FilterKeyword] = field(default_factory=list)
    statuses: list[FilterStatus] = field(default_factory=list)


@dataclass(frozen=True)
class KeywordDraft:
    keyword: str
    whole_word: bool = True


@dataclass(frozen=True)
class KeywordChange:
    """One entry of `keywords_attributes` on update: no id creates, `destroy` removes."""

    id: int | None
    keyword: str | None = None
    whole_word: bool | None = None
    destroy: bool = False


@dataclass(frozen=True)
class FilterDraft:
    title: str | None
    context: list[str]
    filter_action: str = "warn"
    expires_in: int | None = None
    keywords: list[KeywordDraft] = field(default_factory=list)


@dataclass(frozen=True)
class FilterChanges:
    """Fields left None stay as they are; `change_expiry` with `expires_in=None` clears it."""

    title: str | None = None
    context: list[str] | None = None
    filter_action: str | None = None
    change_expiry: bool = False
    expires_in: int | None = None
    keywords: list[KeywordChange] = field(default_factory=list)


@dataclass(frozen=True)
class FilterMatch:
    """Why a filter applies to a status: the keywords found and/or the status ids it names."""

    filter: Filter
    keyword_matches: list[str] | None
    status_matches: list[int] | None


def _valid_title(title: str | None) -> str:
    text = (title or "").strip()
    if not text:
        raise ValidationError("Title can't be blank", field="title")
    if len(text) > MAX_TITLE_LENGTH:
        raise ValidationError(
            f"Title is too long (maximum is {MAX_TITLE_LENGTH} characters)", field="title"
        )
    return text


def _valid_context(context: list[str]) -> list[str]:
    if not context:
        raise ValidationError("Context can't be blank", field="context")
    unknown = [value for value in context if value not in CONTEXTS]
    if unknown:
        raise ValidationError(
            f"Context contains an invalid value {unknown[0]!r} (allowed: {', '.join(CONTEXTS)})",
            field="context",
        )
    return list(dict.fromkeys(context))


def _valid_action(action: str) -> str:
    if action not in ACTIONS:
        raise ValidationError(
            f"Filter action must be one of {', '.join(ACTIONS)}", field="filter_action"
        )
    return action


def _valid_keyword(keyword: str | None) -> str:
    text = (keyword or "").strip()
    if not text:
        raise ValidationError("Keyword can't be blank", field="keyword")
    if len(text) > MAX_KEYWORD_LENGTH:
        raise ValidationError(
            f"Keyword is too long (maximum is {MAX_KEYWORD_LENGTH} characters)", field="keyword"
        )
    return text


def _expiry(expires_in: int | None, now: datetime) -> datetime | None:
    if expires_in is None:
        return None
    if expires_in <= 0:
        raise ValidationError("Expires in must be a positive number of seconds", field="expires_in")
    return now + timedelta(seconds=expires_in)


async def _with_rules(conn: Connection, filters: list[Filter]) -> list[FilterWithKeywords]:
    if not filters:
        return []  # most people have none: two round trips saved on every timeline read
    filter_ids = [f.id for f in filters]
    keywords = await filter_store.list_keywords(conn, filter_ids=filter_ids)
    statuses = await filter_store.list_filter_statuses(conn, filter_ids=filter_ids)
    return [
        FilterWithKeywords(
            filter=f,
            keywords=[k for k in keywords if k.filter_id == f.id],
            statuses=[s for s in statuses if s.filter_id == f.id],
        )
        for f in filters
    ]


async def _own_filter(conn: Connection, account_id: int, filter_id: int) -> Filter:
    found = await filter_store.fetch_filter(conn, filter_id=filter_id, account_id=account_id)
    if found is None:
        raise NotFound()
    return found


async def list_filters(conn: Connection, *, account_id: int) -> list[FilterWithKeywords]:
    """Every filter of the account, expired ones included (apps show and renew them)."""
    return await _with_rules(conn, await filter_store.list_filters(conn, account_id=account_id))


async def load_active_filters(
    conn: Connection, *, account_id: int, now: datetime
) -> list[FilterWithKeywords]:
    """The filters in force at `now`, for `match_filters` while rendering statuses."""
    found = await filter_store.list_active_filters(conn, account_id=account_id, now=now)
    return await _with_rules(conn, found)


async def _changed(conn: Connection, account_id: int) -> None:
    # Streams tell the owner's clients to reload their filters (Mastodon's filters_changed).
    await events.record(conn, "filters.changed", account_id=account_id)


async def get_filter(conn: Connection, *, account_id: int, filter_id: int) -> FilterWithKeywords:
    (result,) = await _with_rules(conn, [await _own_filter(conn, account_id, filter_id)])
    return result


async def create_filter(
    conn: Connection, *, account_id: int, draft: FilterDraft, now: datetime
) -> FilterWithKeywords:
    title = _valid_title(draft.title)
    context = _valid_context(draft.context)
    action = _valid_action(draft.filter_action)
    keywords = [(_valid_keyword(k.keyword), k.whole_word) for k in draft.keywords]
    created = await filter_store.insert_filter(
        conn,
        filter_id=ids.new_id(),
        account_id=account_id,
        title=title,
        context=context,
        filter_action=action,
        expires_at=_expiry(draft.expires_in, now),
    )
    for keyword, whole_word in keywords:
        await filter_store.insert_keyword(
            conn, keyword_id=ids.new_id(), filter_id=created.id, keyword=keyword,
            whole_word=whole_word,
        )  # fmt: skip
    await _changed(conn, account_id)
    return await get_filter(conn, account_id=account_id, filter_id=created.id)


async def update_filter(
    conn: Connection, *, account_id: int, filter_id: int, changes: FilterChanges, now: datetime
) -> FilterWithKeywords:
    current = await _own_filter(conn, account_id, filter_id)
    title = current.title if changes.title is None else _valid_title(changes.title)
    context = current.context if changes.context is None else _valid_context(changes.context)
    action = (
        current.filter_action
        if changes.filter_action is None
        else _valid_action(changes.filter_action)
    )
    expires_at = _expiry(changes.expires_in, now) if changes.change_expiry else current.expires_at
    existing = {k.id: k for k in await filter_store.list_keywords(conn, filter_ids=[filter_id])}
    for change in changes.keywords:
        if change.id is not None and change.id not in existing:
            raise NotFound()
    await filter_store.update_filter(
        conn, filter_id=filter_id, title=title, context=context, filter_action=action,
        expires_at=expires_at,
    )  # fmt: skip
    for change in changes.keywords:
        if change.id is None:
            if not change.destroy:
                await filter_store.insert_keyword(
                    conn, keyword_id=ids.new_id(), filter_id=filter_id,
                    keyword=_valid_keyword(change.keyword),
                    whole_word=True if change.whole_word is None else change.whole_word,
                )  # fmt: skip
        elif change.destroy:
            await filter_store.delete_keyword(conn, keyword_id=change.id)
        else:
            old = existing[change.id]
            await filter_store.update_keyword(
                conn,
                keyword_id=change.id,
                keyword=old.keyword if change.keyword is None else _valid_keyword(change.keyword),
                whole_word=old.whole_word if change.whole_word is None else change.whole_word,
            )
    await _changed(conn, account_id)
    return await get_filter(conn, account_id=account_id, filter_id=filter_id)


async def delete_filter(conn: Connection, *, account_id: int, filter_id: int) -> None:
    await _own_filter(conn, account_id, filter_id)
    await filter_store.delete_filter(conn, filter_id=filter_id)
    await _changed(conn, account_id)


async def list_keywords(
    conn: Connection, *, account_id: int, filter_id: int
) -> list[FilterKeyword]:
    await _own_filter(conn, account_id, filter_id)
    return await filter_store.list_keywords(conn, filter_ids=[filter_id])


async def add_keyword(
    conn: Connection, *, account_id: int, filter_id: int, keyword: str | None, whole_word: bool
) -> FilterKeyword:
    await _own_filter(conn, account_id, filter_id)
    await _changed(conn, account_id)
    return await filter_store.insert_keyword(
        conn, keyword_id=ids.new_id(), filter_id=filter_id, keyword=_valid_keyword(keyword),
        whole_word=whole_word,
    )  # fmt: skip


async def get_keyword(conn: Connection, *, account_id: int, keyword_id: int) -> FilterKeyword:
    found = await filter_store.fetch_keyword(conn, keyword_id=keyword_id, account_id=account_id)
    if found is None:
        raise NotFound()
    return found


async def update_keyword(
    conn: Connection,
    *,
    account_id: int,
    keyword_id: int,
    keyword: str | None,
    whole_word: bool | None,
) -> FilterKeyword:
    current = await get_keyword(conn, account_id=account_id, keyword_id=keyword_id)
    await _changed(conn, account_id)
    return await filter_store.update_keyword(
        conn,
        keyword_id=keyword_id,
        keyword=current.keyword if keyword is None else _valid_keyword(keyword),
        whole_word=current.whole_word if whole_word is None else whole_word,
    )


async def delete_keyword(conn: Connection, *, account_id: int, keyword_id: int) -> None:
    await get_keyword(conn, account_id=account_id, keyword_id=keyword_id)
    await filter_store.delete_keyword(conn, keyword_id=keyword_id)
    await _changed(conn, account_id)


async def list_filter_statuses(
    conn: Connection, *, account_id: int, filter_id: int
) -> list[FilterStatus]:
    await _own_filter(conn, account_id, filter_id)
    return await filter_store.list_filter_statuses(conn, filter_ids=[filter_id])


async def add_filter_status(
    conn: Connection, *, account_id: int, filter_id: int, status_id: int | None
) -> FilterStatus:
    """Name a status in the filter; it must be one the account may see (Mastodon checks too)."""
    await _own_filter(conn, account_id, filter_id)
    if status_id is None:
        raise ValidationError("Status must exist", field="status_id")
    try:
        await status_domain.fetch_visible(conn, status_id, account_id)
    except NotFound:
        raise ValidationError("Status must exist", field="status_id") from None
    added = await filter_store.insert_filter_status(
        conn, filter_status_id=ids.new_id(), filter_id=filter_id, status_id=status_id
    )
    if added is None:
        raise ValidationError("Status has already been taken", field="status_id")
    await _changed(conn, account_id)
    return added


async def get_filter_status(
    conn: Connection, *, account_id: int, filter_status_id: int
) -> FilterStatus:
    found = await filter_store.fetch_filter_status(
        conn, filter_status_id=filter_status_id, account_id=account_id
    )
    if found is None:
        raise NotFound()
    return found


async def delete_filter_status(conn: Connection, *, account_id: int, filter_status_id: int) -> None:
    await get_filter_status(conn, account_id=account_id, filter_status_id=filter_status_id)
    await filter_store.delete_filter_status(conn, filter_status_id=filter_status_id)
    await _changed(conn, account_id)


@lru_cache(maxsize=4096)
def keyword_pattern(keyword: str, whole_word: bool) -> re.Pattern[str]:
    """Mastodon's rule: with `whole_word`, a `\\b` goes at each end of the keyword that is a
    word character, so `#tag` or `c++` still match at their non-word ends."""
    escaped = re.escape(keyword)
    if not whole_word:
        return re.compile(escaped, re.IGNORECASE)
    start = r"\b" if re.match(r"\w", keyword[:1]) else ""
    end = r"\b" if re.match(r"\w", keyword[-1:]) else ""
    return re.compile(f"{start}{escaped}{end}", re.IGNORECASE)


def find_matches(
    active_filters: list[FilterWithKeywords],
    *,
    context: str,
    text: str,
    status_id: int,
    reblog_of_id: int | None = None,
) -> list[FilterMatch]:
    """The filters (for `context`) that apply to a status with plain `text`.

    `text` is the status as a reader sees it: spoiler text, content stripped of HTML, media
    descriptions and poll options. A boost matches a filter naming the boosted status.
    """
    matches: list[FilterMatch] = []
    ids_of_status = {status_id} | ({reblog_of_id} if reblog_of_id is not None else set())
    for rules in active_filters:
        if context not in rules.filter.context:
            continue
        keyword_matches = [
            k.keyword
            for k in rules.keywords
            if keyword_pattern(k.keyword, k.whole_word).search(text)
        ]
        status_matches = [s.status_id for s in rules.statuses if s.status_id in ids_of_status]
        if keyword_matches or status_matches:
            matches.append(
                FilterMatch(
                    filter=rules.filter,
                    keyword_matches=keyword_matches or None,
                    status_matches=status_matches or None,
                )
            )
    return matches
