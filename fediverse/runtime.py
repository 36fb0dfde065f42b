"""Find the database to use: FEDIVERSE_DATABASE_URL, or the embedded PostgreSQL in the data dir."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

import asyncpg

from fediverse.config import Settings
from fediverse.storage.embedded_postgres import EmbeddedPostgres, url_for_database

EMBEDDED_DATABASE_NAME = "fediverse"


@dataclass
class DatabaseHandle:
    url: str
    embedded: EmbeddedPostgres | None

    def close(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()


async def _ensure_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def open_database(settings: Settings) -> DatabaseHandle:
    """The configured database URL, starting (or attaching to) the embedded server if needed."""
    if settings.database_url:
        return DatabaseHandle(url=settings.database_url, embedded=None)
    embedded = EmbeddedPostgres(settings.data_dir)
    server_url = embedded.start()
    asyncio.run(_ensure_database(server_url, EMBEDDED_DATABASE_NAME))
    return DatabaseHandle(
        url=url_for_database(server_url, EMBEDDED_DATABASE_NAME), embedded=embedded
    )


def generate_password() -> str:
    return secrets.token_urlsafe(12)
