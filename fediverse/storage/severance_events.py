"""SQL for relationship severance events (Mastodon 4.3): what a moderation change cut, per
domain and per local account, for the `event` of `severed_relationships` notifications."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fediverse.storage.database import Connection


@dataclass(frozen=True)
class AccountSeveranceEvent:
    """One account's share of an event, as the API shows it (the id is the account's row)."""

    id: int
    notification_id: int
    type: str
    purged: bool
    target_name: str
    followers_count: int
    following_count: int
    created_at: datetime


async def insert_event(
    conn: Connection, *, event_id: int, type: str, target_name: str, purged: bool, now: datetime
) -> None:
    await conn.execute(
        "INSERT INTO relationship_severance_events (id, type, target_name, purged, created_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        event_id,
        type,
        target_name,
        purged,
        now,
    )


async def insert_account_event(
    conn: Connection,
    *,
    account_event_id: int,
    account_id: int,
    event_id: int,
    notification_id: int | None,
    followers_count: int,
    following_count: int,
    now: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO account_relationship_severance_events (id, account_id, "
        "relationship_severance_event_id, notification_id, followers_count, following_count, "
        "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        account_event_id,
        account_id,
        event_id,
        notification_id,
        followers_count,
        following_count,
        now,
    )


async def list_by_notification(
    conn: Connection, *, notification_ids: list[int], account_id: int
) -> dict[int, AccountSeveranceEvent]:
    """The events the given notifications tell of, by notification id."""
    if not notification_ids:
        return {}
    rows = await conn.fetch(
        """
        SELECT ae.id, ae.notification_id, e.type, e.purged, e.target_name,
               ae.followers_count, ae.following_count, e.created_at
        FROM account_relationship_severance_events ae
        JOIN relationship_severance_events e ON e.id = ae.relationship_severance_event_id
        WHERE ae.notification_id = ANY($1::bigint[]) AND ae.account_id = $2
        """,
        notification_ids,
        account_id,
    )
    return {int(row["notification_id"]): AccountSeveranceEvent(**dict(row)) for row in rows}
