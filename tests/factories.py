"""Small factories: make exactly the accounts and tokens a test reads, nothing more."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from federation.keys import generate_keypair
from fediverse import accounts as account_domain
from fediverse import auth
from fediverse.config import Settings
from fediverse.passwords import hash_password
from fediverse.storage import accounts as account_store
from fediverse.storage.accounts import Account, User
from fediverse.storage.database import Database
from fediverse.urls import LocalUrls

DEFAULT_SCOPES = "read write follow push"

# RSA key generation (~40 ms) and argon2 hashing (~0.1 s) dominate account creation, so tests
# draw keys from a pool made once per session and reuse one real hash per password. The pool is
# large enough that no test holds two accounts with the same key.
_KEY_POOL_SIZE = 256
_key_pool: list[tuple[str, str]] = []
_key_draws = itertools.count()
_password_hashes: dict[str, str] = {}


def pooled_keypair() -> tuple[str, str]:
    index = next(_key_draws) % _KEY_POOL_SIZE
    while len(_key_pool) <= index:
        _key_pool.append(generate_keypair())
    return _key_pool[index]


def cached_password_hash(password: str) -> str:
    if password not in _password_hashes:
        _password_hashes[password] = hash_password(password)
    return _password_hashes[password]


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
            make_keypair=pooled_keypair,
            password_hasher=cached_password_hash,
        )
        if locked:
            await account_store.update_account(
                conn, account_id=account.id, changes={"locked": True}
            )
            account = await account_store.fetch_account(conn, account_id=account.id)  # type: ignore[assignment]
        token, _ = await auth.issue_token(conn, application_id=None, user_id=user.id, scopes=scopes)
    assert account is not None
    return StaffMember(account=account, user=user, token=token)
