"""SQL for polls and their votes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fediverse.storage.database import Connection


@dataclass(frozen=True)
class Poll:
    id: int
    status_id: int
    account_id: int
    options: list[str]
    tallies: list[int]
    voters_count: int
    multiple: bool
    hide_totals: bool
    expires_at: datetime | None
    closed_at: datetime | None
    created_at: datetime

    def expired_at(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


POLL_COLUMNS = (
    "p.id, p.status_id, p.account_id, p.options, p.tallies, p.voters_count, p.multiple, "
    "p.hide_totals, p.expires_at, p.closed_at, p.created_at"
)


def _poll(row: Any) -> Poll:
    values = dict(row)
    values["options"] = list(values["options"])
    values["tallies"] = list(values["tallies"])
    return Poll(**values)


async def insert_poll(
    conn: Connection,
    *,
    poll_id: int,
    status_id: int,
    account_id: int,
    options: list[str],
    multiple: bool,
    hide_totals: bool,
    expires_at: datetime | None,
) -> None:
    await conn.execute(
        "INSERT INTO polls (id, status_id, account_id, options, tallies, multiple, hide_totals, "
        "expires_at) VALUES ($1, $2, $3, $4::text[], $5::integer[], $6, $7, $8)",
        poll_id,
        status_id,
        account_id,
        options,
        [0] * len(options),
        multiple,
        hide_totals,
        expires_at,
    )


async def delete_poll_of_status(conn: Connection, *, status_id: int) -> None:
    await conn.execute("DELETE FROM polls WHERE status_id = $1", status_id)


async def fetch_poll(conn: Connection, *, poll_id: int) -> Poll | None:
    row = await conn.fetchrow(f"SELECT {POLL_COLUMNS} FROM polls p WHERE p.id = $1", poll_id)
    return None if row is None else _poll(row)


async def fetch_poll_for_update(conn: Connection, *, poll_id: int) -> Poll | None:
    """The poll, locked until the transaction ends, so concurrent votes count one at a time."""
    row = await conn.fetchrow(
        f"SELECT {POLL_COLUMNS} FROM polls p WHERE p.id = $1 FOR UPDATE", poll_id
    )
    return None if row is None else _poll(row)


async def list_polls_for_statuses(conn: Connection, *, status_ids: list[int]) -> list[Poll]:
    rows = await conn.fetch(
        f"SELECT {POLL_COLUMNS} FROM polls p WHERE p.status_id = ANY($1::bigint[])", status_ids
    )
    return [_poll(row) for row in rows]


async def list_own_choices(
    conn: Connection, *, account_id: int, poll_ids: list[int]
) -> dict[int, list[int]]:
    """poll id → the choices `account_id` voted for (absent when they did not vote)."""
    rows = await conn.fetch(
        "SELECT poll_id, array_agg(choice ORDER BY choice) AS choices FROM poll_votes "
        "WHERE account_id = $1 AND poll_id = ANY($2::bigint[]) GROUP BY poll_id",
        account_id,
        poll_ids,
    )
    return {row["poll_id"]: list(row["choices"]) for row in rows}


async def insert_votes(
    conn: Connection,
    *,
    poll_id: int,
    account_id: int,
    choices: list[int],
    vote_ids: list[int],
    uri: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO poll_votes (id, poll_id, account_id, choice, uri) "
        "SELECT v.id, $1, $2, v.choice, $5 "
        "FROM unnest($3::bigint[], $4::integer[]) AS v(id, choice)",
        poll_id,
        account_id,
        vote_ids,
        choices,
        uri,
    )


async def fetch_poll_of_status(conn: Connection, *, status_id: int) -> Poll | None:
    row = await conn.fetchrow(
        f"SELECT {POLL_COLUMNS} FROM polls p WHERE p.status_id = $1", status_id
    )
    return None if row is None else _poll(row)


async def fetch_vote_exists(conn: Connection, *, uri: str) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM poll_votes WHERE uri = $1)", uri))


async def add_to_tallies(
    conn: Connection, *, poll_id: int, choices: list[int], new_voter: bool
) -> None:
    """Count `choices` (0-based) in the poll's cached tallies; a first vote adds a voter."""
    await conn.execute(
        """
        UPDATE polls SET
            tallies = ARRAY(
                SELECT t.n + (SELECT count(*) FROM unnest($2::integer[]) c WHERE c = t.i - 1)
                FROM unnest(tallies) WITH ORDINALITY AS t(n, i) ORDER BY t.i),
            voters_count = voters_count + CASE WHEN $3 THEN 1 ELSE 0 END,
            updated_at = now()
        WHERE id = $1
        """,
        poll_id,
        choices,
        new_voter,
    )


async def update_remote_tallies(
    conn: Connection, *, poll_id: int, tallies: list[int], voters_count: int
) -> None:
    """For federation: the counts a remote poll's origin server published."""
    await conn.execute(
        "UPDATE polls SET tallies = $2::integer[], voters_count = $3, updated_at = now() "
        "WHERE id = $1 AND cardinality(tallies) = cardinality($2::integer[])",
        poll_id,
        tallies,
        voters_count,
    )


async def claim_expired_polls(conn: Connection, *, now: datetime, limit: int) -> list[Poll]:
    """Polls that ended and were not closed yet, locked (SKIP LOCKED: workers never collide)."""
    rows = await conn.fetch(
        f"SELECT {POLL_COLUMNS} FROM polls p WHERE p.closed_at IS NULL "
        "AND p.expires_at IS NOT NULL AND p.expires_at <= $1 ORDER BY p.expires_at "
        "LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        limit,
    )
    return [_poll(row) for row in rows]


async def mark_closed(conn: Connection, *, poll_id: int, now: datetime) -> None:
    await conn.execute("UPDATE polls SET closed_at = $2 WHERE id = $1", poll_id, now)


async def list_voter_ids(conn: Connection, *, poll_id: int) -> list[int]:
    """Local accounts that voted in the poll (they are told when it ends)."""
    rows = await conn.fetch(
        "SELECT DISTINCT v.account_id FROM poll_votes v JOIN accounts a ON a.id = v.account_id "
        "WHERE v.poll_id = $1 AND a.domain IS NULL ORDER BY v.account_id",
        poll_id,
    )
    return [row["account_id"] for row in rows]


async def list_remote_voter_ids(conn: Connection, *, poll_id: int) -> list[int]:
    """Remote accounts that voted in the poll (their servers are sent its new counts)."""
    rows = await conn.fetch(
        "SELECT DISTINCT v.account_id FROM poll_votes v JOIN accounts a ON a.id = v.account_id "
        "WHERE v.poll_id = $1 AND a.domain IS NOT NULL ORDER BY v.account_id",
        poll_id,
    )
    return [row["account_id"] for row in rows]


# --- the debounced Update of our polls' counts (poll_update_schedule) ---------------------


@dataclass(frozen=True)
class DuePollUpdate:
    poll_id: int
    status_id: int


async def insert_update_schedule(conn: Connection, *, poll_id: int, due_at: datetime) -> None:
    """Schedule the poll's Update unless one is already pending: the first vote of a quiet
    spell sets the time, later ones ride along (Mastodon's `unique: :until_executed`)."""
    # DO UPDATE (to the same time) rather than DO NOTHING: the vote then holds the pending
    # row's lock until it commits, so the loop cannot send the Update without this vote and
    # drop the row meanwhile (it skips locked rows and takes this one on its next pass).
    await conn.execute(
        "INSERT INTO poll_update_schedule (poll_id, due_at) VALUES ($1, $2) "
        "ON CONFLICT (poll_id) DO UPDATE SET due_at = poll_update_schedule.due_at",
        poll_id,
        due_at,
    )


async def delete_update_schedule(conn: Connection, *, poll_id: int) -> None:
    await conn.execute("DELETE FROM poll_update_schedule WHERE poll_id = $1", poll_id)


async def claim_due_updates(conn: Connection, *, now: datetime, limit: int) -> list[DuePollUpdate]:
    """Take (delete) the pending Updates due by `now`, SKIP LOCKED so workers never collide;
    a rollback puts them back."""
    rows = await conn.fetch(
        """
        WITH due AS (
            SELECT poll_id FROM poll_update_schedule WHERE due_at <= $1
            ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED
        ), taken AS (
            DELETE FROM poll_update_schedule s USING due WHERE s.poll_id = due.poll_id
            RETURNING s.poll_id
        )
        SELECT p.id AS poll_id, p.status_id FROM taken JOIN polls p ON p.id = taken.poll_id
        ORDER BY p.id
        """,
        now,
        limit,
    )
    return [DuePollUpdate(poll_id=row["poll_id"], status_id=row["status_id"]) for row in rows]
