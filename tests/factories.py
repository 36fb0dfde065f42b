"""Small factories: make exactly the accounts and tokens a test reads, nothing more."""

from __future__ import annotations

from dataclasses import dataclass

from fediverse import accounts as account_domain
from fediverse import auth
from fediverse.config import Settings
from fediverse.storage import accounts as account_store
from fediverse.storage.accounts import Account, User
from fediverse.storage.database import Database
from fediverse.urls import LocalUrls
from federation.keys import generate_keypair

DEFAULT_SCOPES = "read write follow push"


@dataclass
class StaffMember:
    account: Account
    user: User
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def id(self) -> str:
        return str(self.account.id)


async def make_staff(
    database: Database,
    settings: Settings,
    username: str,
    *,
    role: str = "user",
    locked: bool = False,
    scopes: str = DEFAULT_SCOPES,
    password: str = "correct horse battery",
) -> StaffMember:
    """A local account with a user and a bearer token granting `scopes`."""
    async with database.transaction() as conn:
        account, user = await account_domain.create_local_account(
            conn,
            urls=LocalUrls(settings),
            username=username,
            email=f"{username}@example.org",
            password=password,
            role=role,
            make_keypair=generate_keypair,
        )
        if locked:
            await account_store.update_account(conn, account_id=account.id, changes={"locked": True})
            account = await account_store.fetch_account(conn, account_id=account.id)  # type: ignore[assignment]
        token, _ = await auth.issue_token(conn, application_id=None, user_id=user.id, scopes=scopes)
    assert account is not None
    return StaffMember(account=account, user=user, token=token)
