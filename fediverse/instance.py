"""Facts about this server: who it says it is, honest usage counts, rules, peers and activity.

Admins change the profile at run time through `server_settings` rows (keys in PROFILE_KEYS);
a missing row falls back to the configuration file / environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import fediverse
from fediverse.config import Settings
from fediverse.storage import accounts as account_store
from fediverse.storage import instance as instance_store
from fediverse.storage.accounts import Account
from fediverse.storage.database import Connection
from fediverse.storage.instance import CustomEmoji, InstanceRule, WeeklyActivity

SOFTWARE_NAME = "fediverse-server"
# The Mastodon release whose client API we follow. Clients parse `version` (Mastodon.py takes
# what comes before the first space), so it leads with this and names us in parentheses.
MASTODON_COMPATIBLE_VERSION = "4.3.0"
MASTODON_API_VERSION = 6
REGISTRATION_MODES = ("closed", "open", "approval")

# server_settings keys an admin may set; the value type is what the key's default has.
PROFILE_KEYS = (
    "title",
    "short_description",
    "description",
    "extended_description",
    "privacy_policy",
    "contact_email",
    "contact_username",
    "thumbnail_url",
    "languages",
    "registrations",
    "registrations_message",
    "source_url",
    "vapid_public_key",
)


def version_string() -> str:
    return f"{MASTODON_COMPATIBLE_VERSION} (compatible; {SOFTWARE_NAME} {fediverse.__version__})"


@dataclass(frozen=True)
class PolicyText:
    """An HTML page the admin wrote (extended description, privacy policy)."""

    content: str
    updated_at: datetime | None


@dataclass(frozen=True)
class InstanceProfile:
    """What the server says about itself."""

    domain: str
    base_url: str
    title: str
    short_description: str
    description: str
    extended_description: PolicyText
    privacy_policy: PolicyText
    contact_email: str
    contact_username: str | None
    thumbnail_url: str
    languages: list[str]
    registrations: str
    registrations_message: str | None
    source_url: str
    vapid_public_key: str
    character_limit: int
    max_upload_bytes: int
    max_image_pixels: int

    @property
    def registrations_open(self) -> bool:
        return self.registrations != "closed"

    @property
    def approval_required(self) -> bool:
        return self.registrations == "approval"

    @property
    def streaming_url(self) -> str:
        """Where clients open the streaming WebSocket: this server, with ws(s)."""
        scheme = "wss" if self.base_url.startswith("https:") else "ws"
        return f"{scheme}://{self.domain}"


@dataclass(frozen=True)
class InstanceUsage:
    """Honest counts: local users with active accounts, and the posts they wrote."""

    users_total: int
    active_month: int
    active_halfyear: int
    local_posts: int
    domain_count: int


def _text(stored: dict[str, Any], key: str, default: str) -> str:
    value = stored.get(key)
    return value if isinstance(value, str) else default


async def load_profile(conn: Connection, settings: Settings) -> InstanceProfile:
    rows = {row.key: row for row in await instance_store.list_server_settings(conn)}
    stored = {key: row.value for key, row in rows.items()}

    def policy(key: str) -> PolicyText:
        row = rows.get(key)
        if row is None or not isinstance(row.value, str):
            return PolicyText(content="", updated_at=None)
        return PolicyText(content=row.value, updated_at=row.updated_at)

    languages = stored.get("languages")
    registrations = _text(stored, "registrations", settings.registrations)
    contact_username = stored.get("contact_username")
    message = stored.get("registrations_message")
    return InstanceProfile(
        domain=settings.domain,
        base_url=settings.base_url,
        title=_text(stored, "title", settings.instance_title),
        short_description=_text(stored, "short_description", settings.instance_description),
        description=_text(stored, "description", settings.instance_description),
        extended_description=policy("extended_description"),
        privacy_policy=policy("privacy_policy"),
        contact_email=_text(stored, "contact_email", settings.contact_email),
        contact_username=contact_username if isinstance(contact_username, str) else None,
        thumbnail_url=_text(stored, "thumbnail_url", f"{settings.base_url}/static/thumbnail.png"),
        languages=[str(code) for code in languages] if isinstance(languages, list) else ["en"],
        registrations=registrations if registrations in REGISTRATION_MODES else "closed",
        registrations_message=message if isinstance(message, str) and message else None,
        source_url=_text(stored, "source_url", ""),
        vapid_public_key=_text(stored, "vapid_public_key", ""),
        character_limit=settings.character_limit,
        max_upload_bytes=settings.max_upload_bytes,
        max_image_pixels=settings.max_image_pixels,
    )


async def set_profile_value(conn: Connection, *, key: str, value: Any) -> None:
    """Store an admin's change to the profile; `None` returns the key to its configured value."""
    if key not in PROFILE_KEYS:
        raise ValueError(f"unknown instance setting {key!r}")
    if value is None:
        await instance_store.delete_server_setting(conn, key=key)
    else:
        await instance_store.upsert_server_setting(conn, key=key, value=value)


async def load_usage(conn: Connection, *, now: datetime) -> InstanceUsage:
    counts = await instance_store.count_usage(
        conn, month_since=now - timedelta(days=30), halfyear_since=now - timedelta(days=180)
    )
    return InstanceUsage(
        users_total=counts.users_total,
        active_month=counts.active_month,
        active_halfyear=counts.active_halfyear,
        local_posts=counts.local_posts,
        domain_count=await instance_store.count_peer_domains(conn),
    )


async def contact_account(conn: Connection, profile: InstanceProfile) -> Account | None:
    """The account people should write to: the configured one, else the oldest admin."""
    if profile.contact_username:
        account = await account_store.fetch_account_by_username(
            conn, username=profile.contact_username, domain=None
        )
        if account is not None and account.suspended_at is None:
            return account
    account_id = await instance_store.fetch_first_admin_account_id(conn)
    if account_id is None:
        return None
    return await account_store.fetch_account(conn, account_id=account_id)


async def list_rules(conn: Connection) -> list[InstanceRule]:
    return await instance_store.list_instance_rules(conn)


async def list_peers(conn: Connection) -> list[str]:
    return await instance_store.list_peer_domains(conn)


async def list_custom_emojis(conn: Connection) -> list[CustomEmoji]:
    return await instance_store.list_local_custom_emojis(conn)


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the week holding `moment` (Mastodon's activity buckets)."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


async def weekly_activity(
    conn: Connection, *, now: datetime, weeks: int = 12
) -> list[WeeklyActivity]:
    """The last `weeks` weeks, the current (partial) one first."""
    return await instance_store.list_weekly_activity(
        conn, newest_week_start=week_start(now), weeks=weeks
    )
