"""Finding remote things on demand: `user@domain` via WebFinger, actor and status URLs by
fetching them, for search (`resolve=true`), for `@user@domain` mentions while posting, and for
refreshing a stored remote profile once it is stale."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from federation.activitystreams import ACTOR_TYPES, host_of, id_of
from federation.actors import (
    ActorRejected,
    DocumentFetcher,
    RemoteActor,
    fetch_remote_actor,
    parse_actor,
    store_remote_actor,
)
from federation.client import FetchError
from federation.ingest import (
    NOTE_TYPES,
    ActivityIgnored,
    ActivityRejected,
    FetchFailed,
    IngestContext,
    attributed_to,
    ingest_note,
)
from federation.webfinger import JrdFetcher, WebfingerError, lookup
from fediverse import federation_rules
from fediverse.content import sanitize_html
from fediverse.federation_rules import FederationRefused
from fediverse.search import Resolved
from fediverse.storage import accounts as account_store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Connection
from fediverse.urls import LocalUrls

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(days=1)

Clock = Callable[[], datetime]


class RemoteFetcher(JrdFetcher, DocumentFetcher, Protocol):
    """What the resolver needs of `federation.client.FederationClient`."""


# What "cannot be found" looks like on the way: network, parsing, origin checks.
_NOT_FOUND_ERRORS = (
    FetchError,
    WebfingerError,
    ActorRejected,
    ValueError,
    ActivityRejected,
    ActivityIgnored,
    FetchFailed,
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def is_stale(account: Account, now: datetime, *, stale_after: timedelta = STALE_AFTER) -> bool:
    """A remote profile fetched longer ago than `stale_after` (or never) is refetched."""
    if account.domain is None:
        return False
    return account.fetched_at is None or now - account.fetched_at > stale_after


class Resolver:
    """Implements `fediverse.search.RemoteResolver` and the posting mention resolver.

    Every network failure means "not found" to the caller (search shows nothing, a mention of
    an unknown address stays plain text); the reason is logged.
    """

    def __init__(
        self,
        client: RemoteFetcher,
        *,
        urls: LocalUrls,
        clock: Clock = _utcnow,
        stale_after: timedelta = STALE_AFTER,
    ) -> None:
        self.client = client
        self.urls = urls
        self.local_domain = host_of(urls.base)
        self.clock = clock
        self.stale_after = stale_after

    # --- accounts -------------------------------------------------------------------------

    async def resolve_account(self, conn: Connection, username: str, domain: str) -> int | None:
        """`username@domain`: the stored account (refreshed when stale), else WebFinger → actor.

        FederationRefused when the domain may not federate with us (nothing is requested)."""
        domain = domain.lower()
        if domain == self.local_domain:
            local = await account_store.fetch_account_by_username(
                conn, username=username, domain=None
            )
            return None if local is None else local.id
        await federation_rules.ensure_may_federate(
            conn, domain=domain, now=self.clock(), acct=f"{username}@{domain}"
        )
        known = await account_store.fetch_account_by_username(
            conn, username=username, domain=domain
        )
        if known is not None and not is_stale(known, self.clock(), stale_after=self.stale_after):
            return known.id
        try:
            account = await self._webfinger_and_store(conn, username, domain)
        except _NOT_FOUND_ERRORS as error:
            log.info("cannot resolve %s@%s: %s", username, domain, error)
            return None if known is None else known.id
        return account.id

    async def resolve_mention(self, conn: Connection, username: str, domain: str) -> int | None:
        """`fediverse.statuses.RemoteMentionResolver`: the account a `@user@domain` names
        (a mention of a server we do not federate with stays plain text)."""
        try:
            return await self.resolve_account(conn, username, domain)
        except FederationRefused:
            return None

    async def refresh_if_stale(self, conn: Connection, account: Account) -> Account:
        """Refetch a remote profile not fetched for `stale_after`; the old row if that fails."""
        if not is_stale(account, self.clock(), stale_after=self.stale_after):
            return account
        try:
            return await self._fetch_and_store_actor(conn, account.uri)
        except _NOT_FOUND_ERRORS as error:
            log.info("cannot refresh %s: %s", account.uri, error)
            return account

    async def _webfinger_and_store(self, conn: Connection, username: str, domain: str) -> Account:
        found = await lookup(self.client, f"{username}@{domain}")
        actor = await fetch_remote_actor(self.client, found.actor_url)
        if actor.domain != domain:
            # WebFinger on one host may name an actor on another (Mastodon's LOCAL_DOMAIN vs
            # WEB_DOMAIN); believe it only when the actor's own host confirms the address.
            confirmed = await lookup(self.client, f"{actor.preferred_username}@{actor.domain}")
            if confirmed.actor_url != actor.id:
                raise ActorRejected(f"{actor.domain} does not confirm {actor.id}")
        return await self._store(conn, actor)

    async def _fetch_and_store_actor(self, conn: Connection, url: str) -> Account:
        return await self._store(conn, await fetch_remote_actor(self.client, url))

    async def _store(self, conn: Connection, actor: RemoteActor) -> Account:
        """Store the actor, with the counts its collections state (as Mastodon shows them)."""
        account = await store_remote_actor(conn, actor, now=self.clock(), clean_html=sanitize_html)
        counts = await asyncio.gather(
            self._total_items(actor.followers),
            self._total_items(actor.following),
            self._total_items(actor.outbox),
        )
        columns = ("remote_followers_count", "remote_following_count", "remote_statuses_count")
        changes = {
            column: count
            for column, count in zip(columns, counts, strict=True)
            if count is not None
        }
        if changes:
            await account_store.update_account(conn, account_id=account.id, changes=changes)
            refreshed = await account_store.fetch_account(conn, account_id=account.id)
            if refreshed is not None:
                account = refreshed
        return account

    async def _total_items(self, collection_url: str | None) -> int | None:
        """A collection's `totalItems`, or None when hidden, absent or unreachable."""
        if collection_url is None:
            return None
        try:
            document = await self.client.get_document(collection_url)
        except _NOT_FOUND_ERRORS as error:
            log.debug("no total for %s: %s", collection_url, error)
            return None
        total = document.get("totalItems")
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            return None
        return total

    async def account_by_actor_url(self, conn: Connection, url: str) -> Account | None:
        """The stored account with this actor id (refreshed when stale), else fetched."""
        known = await account_store.fetch_account_by_uri(conn, uri=url)
        if known is not None:
            return await self.refresh_if_stale(conn, known)
        try:
            return await self._fetch_and_store_actor(conn, url)
        except _NOT_FOUND_ERRORS as error:
            log.info("cannot fetch actor %s: %s", url, error)
            return None

    async def _store_status(self, conn: Connection, document: dict[str, Any]) -> int:
        """A post fetched from its origin, stored with its author (and reply parents) as the
        inbox stores delivered ones."""
        author_uri = attributed_to(document)
        if author_uri is None:
            raise ActivityRejected("the post has no attributedTo")
        ctx = IngestContext(conn=conn, fetcher=self.client, urls=self.urls, now=self.clock())
        author = await self.account_by_actor_url(conn, author_uri)
        if author is None:
            raise ActivityRejected(f"its author {author_uri} cannot be fetched")
        status, _ = await ingest_note(ctx, document, author=author, activity_uri=None)
        return status.id

    # --- URLs -----------------------------------------------------------------------------

    async def resolve_url(self, conn: Connection, url: str) -> Resolved:
        """Fetch what `url` names (an actor or a post) and store it; empty when it is neither."""
        if host_of(url) == self.local_domain or not host_of(url):
            return Resolved()
        await federation_rules.ensure_may_federate(conn, domain=host_of(url), now=self.clock())
        try:
            document = await self.client.get_document(url)
        except _NOT_FOUND_ERRORS as error:
            log.info("cannot fetch %s: %s", url, error)
            return Resolved()
        kind = document.get("type")
        ident = id_of(document)
        if ident is not None and ident != url:
            # A profile or post page URL answered with the object's canonical id (same host,
            # checked by the client): look that one up, in case we already have it.
            known = await account_store.fetch_account_by_uri(conn, uri=ident)
            if known is not None:
                return Resolved(account_id=(await self.refresh_if_stale(conn, known)).id)
        if kind in ACTOR_TYPES:
            try:
                actor = parse_actor(document)
            except ActorRejected as error:
                log.info("%s is not a usable actor: %s", url, error)
                return Resolved()
            return Resolved(account_id=(await self._store(conn, actor)).id)
        if kind in NOTE_TYPES:
            try:
                return Resolved(status_id=await self._store_status(conn, document))
            except _NOT_FOUND_ERRORS as error:
                log.info("cannot store %s: %s", url, error)
                return Resolved()
        return Resolved()
