"""Search: accounts and hashtags by name prefix, statuses by full text, only what the viewer
may see; remote accounts and URLs are resolved through a `RemoteResolver` when one is given.

Mastodon's rules (app/services/search_service.rb): a query with `@` and no space is an address
(no status search), a query starting with `#` is no account search, an address is no hashtag
search, and full-text status search needs a signed-in viewer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from fediverse.errors import ValidationError
from fediverse.storage import accounts as account_store
from fediverse.storage import search as search_store
from fediverse.storage import statuses as status_store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Connection
from fediverse.storage.search import TagMatch
from fediverse.storage.statuses import Status

DEFAULT_LIMIT = 20
MAX_LIMIT = 40

_ADDRESS_RE = re.compile(r"^@?(?P<username>[\w.-]*)(?:@(?P<domain>[\w.:-]*))?$", re.UNICODE)
_URL_RE = re.compile(r"^https?://\S+$", re.IGNORECASE)


class SearchType(StrEnum):
    ACCOUNTS = "accounts"
    HASHTAGS = "hashtags"
    STATUSES = "statuses"


@dataclass(frozen=True)
class Resolved:
    """What a URL turned out to be, as rows now stored locally."""

    account_id: int | None = None
    status_id: int | None = None


class RemoteResolver(Protocol):
    """Fetches what is not known yet from other servers; federation implements it."""

    async def resolve_account(self, conn: Connection, username: str, domain: str) -> int | None:
        """Look up `username@domain` (WebFinger, then the actor); its local account id."""
        ...

    async def resolve_url(self, conn: Connection, url: str) -> Resolved:
        """Fetch the ActivityPub object at `url` and store the account or status it is."""
        ...


@dataclass(frozen=True)
class SearchQuery:
    q: str
    type: SearchType | None = None
    resolve: bool = False
    following: bool = False
    account_id: int | None = None
    exclude_unreviewed: bool = False
    max_id: int | None = None
    min_id: int | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0


@dataclass(frozen=True)
class SearchResults:
    accounts: list[Account] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    hashtags: list[TagMatch] = field(default_factory=list)


def parse_search_type(raw: str | None) -> SearchType | None:
    if raw is None or raw == "":
        return None
    try:
        return SearchType(raw)
    except ValueError:
        # Mastodon ignores an unknown type and searches nothing of it; we name the field.
        raise ValidationError(
            "type must be one of accounts, hashtags, statuses", field="type"
        ) from None


def clamp_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    return max(1, min(limit, MAX_LIMIT))


async def search(
    conn: Connection,
    *,
    query: SearchQuery,
    viewer_id: int | None,
    local_domain: str,
    resolver: RemoteResolver | None = None,
) -> SearchResults:
    """Everything matching `query` that `viewer_id` (None = anonymous) may see."""
    text = query.q.strip()
    if not text:
        return SearchResults()
    wants = {query.type} if query.type is not None else set(SearchType)
    # Without a viewer there is nothing to resolve on behalf of; the web layer refuses earlier.
    resolve = query.resolve and viewer_id is not None

    if resolve and _URL_RE.match(text):
        return await _search_url(conn, text, viewer_id, wants, resolver)

    is_address = "@" in text and " " not in text
    accounts: list[Account] = []
    hashtags: list[TagMatch] = []
    statuses: list[Status] = []
    if SearchType.ACCOUNTS in wants and not (text.startswith("#") or ("@" in text and " " in text)):
        accounts = await _search_accounts(
            conn, text, query, viewer_id, local_domain, resolver if resolve else None
        )
    if SearchType.HASHTAGS in wants and "@" not in text:
        name = text.lstrip("#").strip()
        if name and " " not in name:
            hashtags = await search_store.list_tags_matching(
                conn,
                name=name,
                viewer_id=viewer_id,
                trendable_only=query.exclude_unreviewed,
                limit=query.limit,
                offset=query.offset,
            )
    if SearchType.STATUSES in wants and viewer_id is not None and not is_address:
        statuses = await search_store.list_statuses_matching(
            conn,
            query=text,
            viewer_id=viewer_id,
            account_id=query.account_id,
            max_id=query.max_id,
            min_id=query.min_id,
            limit=query.limit,
            offset=query.offset,
        )
    return SearchResults(accounts=accounts, statuses=statuses, hashtags=hashtags)


async def _search_accounts(
    conn: Connection,
    text: str,
    query: SearchQuery,
    viewer_id: int | None,
    local_domain: str,
    resolver: RemoteResolver | None,
) -> list[Account]:
    match = _ADDRESS_RE.match(text)
    if match is None:
        # A display name with spaces or punctuation: match it as typed.
        username, domain = text.lstrip("@"), None
    else:
        username = match["username"]
        raw_domain = match["domain"]
        if raw_domain is None:
            domain = None
        elif raw_domain.lower() == local_domain.lower():
            domain = ""  # `bob@our.domain` means the local bob
        else:
            domain = raw_domain.lower()
    if not username:
        return []

    if resolver is not None and domain and "." in domain and query.offset == 0:
        # Unknown accounts are looked up and known ones refreshed when stale; either way they
        # land in the table, and the query below returns them first.
        await resolver.resolve_account(conn, username, domain)

    return await search_store.list_accounts_matching(
        conn,
        username=username,
        domain=domain,
        viewer_id=viewer_id,
        following_only=query.following and viewer_id is not None,
        limit=query.limit,
        offset=query.offset,
    )


async def _search_url(
    conn: Connection,
    url: str,
    viewer_id: int | None,
    wants: set[SearchType],
    resolver: RemoteResolver | None,
) -> SearchResults:
    """A URL names one account or one status: known ones are found here, others fetched."""
    account = await search_store.fetch_account_by_url(conn, url=url)
    status = await search_store.fetch_visible_status_by_url(conn, url=url, viewer_id=viewer_id)
    if account is None and status is None and resolver is not None:
        found = await resolver.resolve_url(conn, url)
        if found.account_id is not None:
            account = await account_store.fetch_account(conn, account_id=found.account_id)
        if found.status_id is not None:
            status = await status_store.fetch_visible_status(
                conn, status_id=found.status_id, viewer_id=viewer_id
            )
    return SearchResults(
        accounts=[account] if account is not None and SearchType.ACCOUNTS in wants else [],
        statuses=[status] if status is not None and SearchType.STATUSES in wants else [],
    )
