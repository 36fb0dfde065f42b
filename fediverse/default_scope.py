"""The scope a post gets when its author picks none: the person's own choice if they made one,
else the organization's default set by an admin, else public.

A person's choice lives in `users.default_privacy` and `users.default_federation` (Hometown's
"federation" preference: off means internal); `users.settings[CHOSEN_KEY]` records that they
chose, so that the organization's default applies to everyone else.
"""

from __future__ import annotations

from dataclasses import dataclass

from fediverse.audience import Visibility
from fediverse.audience_report import Scope, scope_of, scope_to_visibility
from fediverse.errors import ValidationError
from fediverse.storage import accounts as account_store
from fediverse.storage import audiences as audience_store
from fediverse.storage import instance as instance_store
from fediverse.storage.accounts import User
from fediverse.storage.database import Connection

# server_settings key holding the organization's default scope (one of Scope's values).
ORGANIZATION_DEFAULT_KEY = "default_scope"
CHOSEN_KEY = "posting:default:chosen"


@dataclass(frozen=True)
class DefaultScope:
    visibility: str
    local_only: bool

    @property
    def scope(self) -> Scope:
        return scope_of(self.visibility, self.local_only)

    @property
    def federates(self) -> bool:
        return not self.local_only


def parse_scope(raw: str) -> Scope:
    """A scope name (ours, or a Mastodon visibility, or Akkoma's `local`)."""
    value = raw.strip().lower()
    aliases = {"private": Scope.FOLLOWERS, "direct": Scope.MENTIONED, "local": Scope.INTERNAL}
    if value in aliases:
        return aliases[value]
    try:
        return Scope(value)
    except ValueError:
        choices = ", ".join(s.value for s in Scope)
        raise ValidationError(f"Scope must be one of {choices}", field="scope") from None


async def organization_default(conn: Connection) -> Scope | None:
    value = await audience_store.fetch_setting_value(conn, key=ORGANIZATION_DEFAULT_KEY)
    try:
        return Scope(value) if isinstance(value, str) else None
    except ValueError:
        return None


async def set_organization_default(conn: Connection, scope: Scope | None) -> None:
    """An admin's choice; None returns to "public" for everyone who has not chosen."""
    if scope is None:
        await instance_store.delete_server_setting(conn, key=ORGANIZATION_DEFAULT_KEY)
    else:
        await instance_store.upsert_server_setting(
            conn, key=ORGANIZATION_DEFAULT_KEY, value=scope.value
        )


def effective_default(user: User, organization: Scope | None) -> DefaultScope:
    if organization is not None and not user.settings.get(CHOSEN_KEY):
        visibility, local_only = scope_to_visibility(organization)
        return DefaultScope(visibility=visibility, local_only=local_only)
    return DefaultScope(visibility=user.default_privacy, local_only=not user.default_federation)


async def default_for(conn: Connection, user: User) -> DefaultScope:
    return effective_default(user, await organization_default(conn))


async def choose_default(
    conn: Connection, *, user: User, privacy: str | None, local_only: bool | None
) -> User:
    """A person sets their default: `privacy` is a Mastodon visibility (or Akkoma's `local`),
    `local_only` the inverse of Hometown's federation preference. What they leave out keeps
    the default they had, which from now on is theirs rather than the organization's."""
    if privacy is None and local_only is None:
        return user
    current = await default_for(conn, user)
    visibility, federation_off = current.visibility, current.local_only
    if privacy is not None:
        value = privacy.strip().lower()
        if value == "local":
            visibility, federation_off = Visibility.PUBLIC.value, True
        elif value in {v.value for v in Visibility}:
            visibility = value
        else:
            choices = ", ".join([*(v.value for v in Visibility), "local"])
            raise ValidationError(f"Privacy must be one of {choices}", field="source[privacy]")
    if local_only is not None:
        federation_off = local_only
    await account_store.update_user(
        conn,
        user_id=user.id,
        changes={
            "default_privacy": visibility,
            "default_federation": not federation_off,
            "settings": {**user.settings, CHOSEN_KEY: True},
        },
    )
    updated = await account_store.fetch_user(conn, user_id=user.id)
    assert updated is not None
    return updated
