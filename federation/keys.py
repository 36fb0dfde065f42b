"""Actor keys: our RSA key pairs (generated, loaded once and cached) and peers' public keys
(parsed, cached in memory and in storage, refetched once on rotation)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from fediverse.storage import remote_accounts
from fediverse.storage.database import Database


def generate_keypair() -> tuple[str, str]:
    """A new RSA-2048 key pair as (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


@lru_cache(maxsize=4096)
def load_private_key(private_pem: str) -> rsa.RSAPrivateKey:
    """Load one of our own keys; validation is skipped since we generated it (29 ms → 10 µs)."""
    key = serialization.load_pem_private_key(
        private_pem.encode(), password=None, unsafe_skip_rsa_key_validation=True
    )
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


@lru_cache(maxsize=8192)
def load_public_key(public_pem: str) -> PublicKey:
    """A peer's public key from PEM (SubjectPublicKeyInfo or PKCS#1 'RSA PUBLIC KEY'), cached."""
    data = public_pem.strip().encode()
    try:
        if b"BEGIN RSA PUBLIC KEY" in data:
            key = serialization.load_pem_public_key(data.replace(b"RSA PUBLIC", b"PUBLIC"))
            if not isinstance(key, rsa.RSAPublicKey):
                raise ValueError("not an RSA key")
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        # PKCS#1 bodies are not SPKI; load them through the DER path.
        if b"BEGIN RSA PUBLIC KEY" not in data:
            raise
        body = b"".join(line for line in data.splitlines() if not line.startswith(b"-----"))
        key = serialization.load_der_public_key(_pkcs1_to_spki(base64.b64decode(body)))
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise ValueError("unsupported public key type")
    return key


def _pkcs1_to_spki(pkcs1: bytes) -> bytes:
    """Wrap a PKCS#1 RSAPublicKey in a SubjectPublicKeyInfo (DER)."""

    def der_length(length: int) -> bytes:
        if length < 0x80:
            return bytes([length])
        raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
        return bytes([0x80 | len(raw)]) + raw

    algorithm = bytes.fromhex("300d06092a864886f70d0101010500")
    bit_string = b"\x03" + der_length(len(pkcs1) + 1) + b"\x00" + pkcs1
    content = algorithm + bit_string
    return b"\x30" + der_length(len(content)) + content


def public_pem_of(private_pem: str) -> str:
    return (
        load_private_key(private_pem)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


# --- remote keys: fetched once, cached, refetched once when a signature fails ------------------


@dataclass(frozen=True)
class FetchedKey:
    """A remote actor's public key, as its owner's actor document states it."""

    key_id: str
    owner: str
    public_key_pem: str


KeyFetcher = Callable[[str], Awaitable[FetchedKey]]


class KeyStore(Protocol):
    """Durable key cache (the accounts table's public_key_id/public_key_pem columns)."""

    async def load(self, key_id: str) -> FetchedKey | None: ...

    async def save(self, key: FetchedKey) -> None: ...


class KeyResolver:
    """Keys by keyId: memory (with a TTL), then the store, then the network.

    `refresh` refetches a key after a signature failed (the peer may have rotated it), at most
    once per `refresh_interval` per key and with concurrent callers sharing one fetch, so a flood
    of bad signatures can never turn into a flood of fetches.
    """

    def __init__(
        self,
        fetch: KeyFetcher,
        *,
        store: KeyStore | None = None,
        ttl: timedelta = timedelta(hours=24),
        refresh_interval: timedelta = timedelta(minutes=5),
        max_entries: int = 10_000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._fetch = fetch
        self._store = store
        self._ttl = ttl
        self._refresh_interval = refresh_interval
        self._max_entries = max_entries
        self._clock = clock
        self._cache: dict[str, tuple[FetchedKey, datetime]] = {}
        self._refreshed_at: dict[str, datetime] = {}
        self._in_flight: dict[str, asyncio.Future[FetchedKey]] = {}

    async def get(self, key_id: str) -> FetchedKey:
        cached = self._cache.get(key_id)
        if cached is not None and self._clock() - cached[1] < self._ttl:
            return cached[0]
        if self._store is not None:
            stored = await self._store.load(key_id)
            if stored is not None:
                self._remember(stored)
                return stored
        return await self._fetch_shared(key_id)

    async def refresh(self, key_id: str) -> FetchedKey | None:
        """A fresh copy after a verification failure, or None if one was fetched just now."""
        last = self._refreshed_at.get(key_id)
        in_flight = key_id in self._in_flight
        if not in_flight and last is not None and self._clock() - last < self._refresh_interval:
            return None
        return await self._fetch_shared(key_id)

    async def _fetch_shared(self, key_id: str) -> FetchedKey:
        pending = self._in_flight.get(key_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[FetchedKey] = asyncio.get_running_loop().create_future()
        self._in_flight[key_id] = future
        try:
            key = await self._fetch(key_id)
            if key.key_id != key_id:
                raise ValueError("fetched key has another id")
            self._remember(key)
            self._refreshed_at[key_id] = self._clock()
            if self._store is not None:
                await self._store.save(key)
            future.set_result(key)
            return key
        except Exception as error:
            future.set_exception(error)
            future.exception()  # mark retrieved: waiters re-raise it, nobody else must
            raise
        except BaseException:
            future.cancel()
            raise
        finally:
            self._in_flight.pop(key_id, None)

    def _remember(self, key: FetchedKey) -> None:
        if len(self._cache) >= self._max_entries:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key.key_id] = (key, self._clock())


class AccountKeyStore:
    """KeyStore over the accounts table: keys of known peers survive restarts."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def load(self, key_id: str) -> FetchedKey | None:
        async with self._database.connection() as conn:
            stored = await remote_accounts.fetch_remote_key(conn, key_id=key_id)
        if stored is None:
            return None
        return FetchedKey(stored.key_id, stored.owner_uri, stored.public_key_pem)

    async def save(self, key: FetchedKey) -> None:
        # Only keys of accounts we already store are kept; others live in memory until the
        # inbox stores their owner (storing the account writes its key too).
        async with self._database.transaction() as conn:
            await remote_accounts.update_remote_key(
                conn, owner_uri=key.owner, key_id=key.key_id, public_key_pem=key.public_key_pem
            )
