"""The harness itself: a database per test, the app answers, errors have Mastodon's shape."""

from __future__ import annotations

import httpx

from fediverse.config import Settings
from fediverse.storage.database import Database
from tests.factories import make_staff


async def test_health_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.text == "OK"


async def test_unknown_endpoint_is_a_mastodon_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/does-not-exist")
    assert response.status_code == 404
    assert response.json() == {"error": "Record not found"}


async def test_each_test_gets_a_clean_database(database: Database, settings: Settings) -> None:
    await make_staff(database, settings, "alice")
    async with database.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM accounts") == 1
        stats = await conn.fetchrow("SELECT * FROM account_stats")
        assert stats["statuses_count"] == 0
