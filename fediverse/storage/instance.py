"""SQL for server-wide facts: usage counts, peers, activity, settings, rules, custom emojis."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fediverse.storage.database import Connection


@dataclass(frozen=True)
class ServerSetting:
    """One admin-editable value; `value` is whatever JSON the admin console stored."""

    key: str
    value: Any
    updated_at: datetime


@dataclass(frozen=True)
class InstanceRule:
    id: int
    text: str
    hint: str
    position: int


@dataclass(frozen=True)
class CustomEmoji:
    id: int
    shortcode: str
    domain: str | None
    image_url: str
    static_url: str
    visible_in_picker: bool
    category: str | None
    disabled: bool


@dataclass(frozen=True)
class WeeklyActivity:
    """Counts for the week that starts at `week_start` (Monday 00:00 UTC)."""

    week_start: datetime
    statuses: int
    logins: int
    registrations: int


@dataclass(frozen=True)
class UsageCounts:
    users_total: int
    active_month: int
    active_halfyear: int
    local_posts: int


async def count_usage(
    conn: Connection, *, month_since: datetime, halfyear_since: datetime
) -> UsageCounts:
    """Public usage counts in one pass over the local accounts (one scan instead of four).

    A counted user is a local person whose account is not suspended and who has been let in
    (approval-mode sign-ups are not users until approved); an active one signed in, used or
    got a token, or posted at or after the given moment. Posts are the local statuses people
    wrote (boosts are not posts), summed from per-account counters kept by a trigger.
    """
    row = await conn.fetchrow(
        """
        SELECT count(*) FILTER (WHERE counted) AS users_total,
               count(*) FILTER (WHERE counted AND last_active >= $1) AS active_month,
               count(*) FILTER (WHERE counted AND last_active >= $2) AS active_halfyear,
               coalesce(sum(posts), 0) AS local_posts
        FROM (
            SELECT a.suspended_at IS NULL AND u.approved IS TRUE AS counted,
                   st.posts_count AS posts,
                   -- greatest() skips NULLs: the latest of any sign of activity.
                   greatest(u.last_sign_in_at, st.last_status_at, tk.last_used) AS last_active
            FROM accounts a
            LEFT JOIN users u ON u.account_id = a.id
            LEFT JOIN account_stats st ON st.account_id = a.id
            LEFT JOIN (SELECT t.user_id, max(greatest(t.created_at, t.last_used_at)) AS last_used
                       FROM oauth_access_tokens t GROUP BY t.user_id) tk ON tk.user_id = u.id
            WHERE a.domain IS NULL
        ) local_accounts
        """,
        month_since,
        halfyear_since,
    )
    return UsageCounts(**{key: int(value) for key, value in dict(row).items()})


async def count_peer_domains(conn: Connection) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(DISTINCT lower(domain)) FROM accounts WHERE domain IS NOT NULL"
        )
    )


async def list_peer_domains(conn: Connection) -> list[str]:
    """Domains of every known remote account, sorted."""
    rows = await conn.fetch(
        "SELECT DISTINCT lower(domain) AS domain FROM accounts WHERE domain IS NOT NULL ORDER BY 1"
    )
    return [str(row["domain"]) for row in rows]


async def list_weekly_activity(
    conn: Connection, *, newest_week_start: datetime, weeks: int
) -> list[WeeklyActivity]:
    """Counts per week, newest first, for `weeks` weeks ending with the one starting at
    `newest_week_start`. A login is a password sign-in or a new token (each OAuth login makes
    one); we keep no full login history, so a user counts once per week they did either."""
    rows = await conn.fetch(
        """
        WITH weeks AS (
            SELECT generate_series($1::timestamptz - ($2 - 1) * interval '1 week',
                                   $1::timestamptz, interval '1 week') AS week_start
        )
        SELECT w.week_start,
            (SELECT count(*) FROM statuses s
              WHERE s.local AND s.reblog_of_id IS NULL
                AND s.created_at >= w.week_start
                AND s.created_at < w.week_start + interval '1 week') AS statuses,
            (SELECT count(DISTINCT x.user_id) FROM (
                SELECT u.id AS user_id FROM users u
                 WHERE u.last_sign_in_at >= w.week_start
                   AND u.last_sign_in_at < w.week_start + interval '1 week'
                UNION ALL
                SELECT t.user_id FROM oauth_access_tokens t
                 WHERE t.user_id IS NOT NULL AND t.created_at >= w.week_start
                   AND t.created_at < w.week_start + interval '1 week'
             ) x) AS logins,
            (SELECT count(*) FROM users u
              WHERE u.created_at >= w.week_start
                AND u.created_at < w.week_start + interval '1 week') AS registrations
        FROM weeks w
        ORDER BY w.week_start DESC
        """,
        newest_week_start,
        weeks,
    )
    return [WeeklyActivity(**dict(row)) for row in rows]


async def list_server_settings(conn: Connection) -> list[ServerSetting]:
    rows = await conn.fetch("SELECT key, value, updated_at FROM server_settings ORDER BY key")
    return [ServerSetting(**dict(row)) for row in rows]


async def upsert_server_setting(conn: Connection, *, key: str, value: Any) -> None:
    await conn.execute(
        "INSERT INTO server_settings (key, value, updated_at) VALUES ($1, $2, now()) "
        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
        key,
        value,
    )


async def delete_server_setting(conn: Connection, *, key: str) -> None:
    await conn.execute("DELETE FROM server_settings WHERE key = $1", key)


async def list_instance_rules(conn: Connection) -> list[InstanceRule]:
    rows = await conn.fetch(
        "SELECT id, text, hint, position FROM instance_rules ORDER BY position, id"
    )
    return [InstanceRule(**dict(row)) for row in rows]


async def insert_instance_rule(
    conn: Connection, *, rule_id: int, text: str, hint: str, position: int
) -> InstanceRule:
    row = await conn.fetchrow(
        "INSERT INTO instance_rules (id, text, hint, position) VALUES ($1, $2, $3, $4) "
        "RETURNING id, text, hint, position",
        rule_id,
        text,
        hint,
        position,
    )
    return InstanceRule(**dict(row))


_EMOJI_COLUMNS = (
    "id, shortcode, domain, image_url, static_url, visible_in_picker, category, disabled"
)


async def list_local_custom_emojis(conn: Connection) -> list[CustomEmoji]:
    """This server's own enabled emojis (remote ones are only used inside remote posts)."""
    rows = await conn.fetch(
        f"SELECT {_EMOJI_COLUMNS} FROM custom_emojis "
        "WHERE domain IS NULL AND NOT disabled ORDER BY lower(shortcode)"
    )
    return [CustomEmoji(**dict(row)) for row in rows]


async def insert_custom_emoji(
    conn: Connection,
    *,
    emoji_id: int,
    shortcode: str,
    domain: str | None,
    image_url: str,
    static_url: str,
    visible_in_picker: bool = True,
    category: str | None = None,
    disabled: bool = False,
) -> CustomEmoji:
    row = await conn.fetchrow(
        "INSERT INTO custom_emojis (id, shortcode, domain, image_url, static_url, "
        "visible_in_picker, category, disabled) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        f"RETURNING {_EMOJI_COLUMNS}",
        emoji_id,
        shortcode,
        domain,
        image_url,
        static_url,
        visible_in_picker,
        category,
        disabled,
    )
    return CustomEmoji(**dict(row))


async def fetch_first_admin_account_id(conn: Connection) -> int | None:
    """The oldest admin whose account is active: the default contact of the server."""
    value = await conn.fetchval(
        "SELECT a.id FROM users u JOIN accounts a ON a.id = u.account_id "
        "WHERE u.role = 'admin' AND a.suspended_at IS NULL AND NOT u.disabled "
        "ORDER BY u.created_at, u.id LIMIT 1"
    )
    return None if value is None else int(value)
