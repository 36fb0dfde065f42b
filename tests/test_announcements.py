"""Announcements: admin-made, listed with read state, dismissed, and reacted to with emoji."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx

from fediverse import announcements
from fediverse.config import Settings
from fediverse.storage.database import Database
from tests.factories import make_staff


async def announce(database: Database, text: str, **options: object) -> str:
    async with database.transaction() as conn:
        made = await announcements.create_announcement(conn, text=text, **options)  # type: ignore[arg-type]
    return str(made.id)


async def test_an_announcement_is_listed_with_its_content_and_unread(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    announcement_id = await announce(database, "Office closed on Friday.\n\nEnjoy <the> break!")
    response = await client.get("/api/v1/announcements", headers=alice.headers)
    assert response.status_code == 200
    [entity] = response.json()
    assert entity["id"] == announcement_id
    assert entity["content"] == "<p>Office closed on Friday.</p><p>Enjoy &lt;the&gt; break!</p>"
    assert entity["read"] is False
    assert entity["published"] is True
    assert entity["all_day"] is False
    assert entity["reactions"] == []
    assert entity["mentions"] == [] and entity["tags"] == [] and entity["emojis"] == []


async def test_unpublished_and_ended_announcements_are_not_listed(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    now = datetime.now(UTC)
    await announce(database, "Draft", publish=False)
    await announce(
        database, "Over", starts_at=now - timedelta(days=3), ends_at=now - timedelta(days=1)
    )
    current = await announce(database, "Current", ends_at=now + timedelta(days=1))
    listed = (await client.get("/api/v1/announcements", headers=alice.headers)).json()
    assert [item["id"] for item in listed] == [current]


async def test_dismissing_marks_an_announcement_read_for_that_person_only(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    announcement_id = await announce(database, "New coffee machine")
    dismissed = await client.post(
        f"/api/v1/announcements/{announcement_id}/dismiss", headers=alice.headers
    )
    assert dismissed.status_code == 200
    [for_alice] = (await client.get("/api/v1/announcements", headers=alice.headers)).json()
    [for_bob] = (await client.get("/api/v1/announcements", headers=bob.headers)).json()
    assert for_alice["read"] is True
    assert for_bob["read"] is False
    missing = await client.post("/api/v1/announcements/12345/dismiss", headers=alice.headers)
    assert missing.status_code == 404


async def test_reactions_are_counted_with_me_for_the_viewer(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    announcement_id = await announce(database, "Launch day")
    base = f"/api/v1/announcements/{announcement_id}/reactions"
    for member, emoji in ((alice, "🎉"), (bob, "🎉"), (bob, "👍🏽")):
        response = await client.put(f"{base}/{quote(emoji)}", headers=member.headers)
        assert response.status_code == 200, response.text
    [entity] = (await client.get("/api/v1/announcements", headers=alice.headers)).json()
    assert entity["reactions"] == [
        {"name": "🎉", "count": 2, "me": True},
        {"name": "👍🏽", "count": 1, "me": False},
    ]

    await client.delete(f"{base}/{quote('🎉')}", headers=alice.headers)
    [entity] = (await client.get("/api/v1/announcements", headers=alice.headers)).json()
    assert entity["reactions"][0] == {"name": "🎉", "count": 1, "me": False}


async def test_only_unicode_emoji_are_accepted_as_reactions(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    announcement_id = await announce(database, "Launch day")
    base = f"/api/v1/announcements/{announcement_id}/reactions"
    assert (await client.put(f"{base}/blobcat", headers=alice.headers)).status_code == 422
    assert (await client.put(f"{base}/{quote(':)')}", headers=alice.headers)).status_code == 422
    [entity] = (await client.get("/api/v1/announcements", headers=alice.headers)).json()
    assert entity["reactions"] == []


async def test_announcements_need_a_signed_in_user(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/announcements")).status_code == 401


async def test_an_admin_announces_from_the_command_line_and_apps_show_it(
    client: httpx.AsyncClient,
    database: Database,
    database_url: str,
    settings: Settings,
    tmp_path: Path,
) -> None:
    from tests.test_federation_policy import fediverse

    alice = await make_staff(database, settings, "alice")
    code, out, err = await fediverse(database_url, tmp_path, "announce", "Office closed Friday")
    assert code == 0, err
    assert out.startswith("Published announcement ")
    shown = await client.get("/api/v1/announcements", headers=alice.headers)
    assert ["Office closed Friday" in a["content"] for a in shown.json()] == [True]

    code, _, err = await fediverse(database_url, tmp_path, "announce", "   ")
    assert code == 1 and "blank" in err
