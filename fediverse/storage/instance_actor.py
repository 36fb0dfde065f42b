"""SQL for the instance actor's key pair (one row in its own table, see migration 0001)."""

from __future__ import annotations

from dataclasses import dataclass

from fediverse.storage.database import Connection


@dataclass(frozen=True)
class InstanceActorKey:
    private_key_pem: str
    public_key_pem: str


async def fetch_instance_actor_key(conn: Connection) -> InstanceActorKey | None:
    row = await conn.fetchrow(
        "SELECT private_key_pem, public_key_pem FROM instance_actor_keys WHERE singleton"
    )
    return None if row is None else InstanceActorKey(row[0], row[1])


async def insert_instance_actor_key(
    conn: Connection, *, private_key_pem: str, public_key_pem: str
) -> InstanceActorKey:
    """Store a key pair unless another process stored one first; returns the one that won."""
    await conn.execute(
        "INSERT INTO instance_actor_keys (singleton, private_key_pem, public_key_pem) "
        "VALUES (true, $1, $2) ON CONFLICT (singleton) DO NOTHING",
        private_key_pem,
        public_key_pem,
    )
    stored = await fetch_instance_actor_key(conn)
    assert stored is not None
    return stored
