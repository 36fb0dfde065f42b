"""Filters applied where statuses are listed: `filtered` filled for the viewer's active filters in
the list's context; `hide` drops the status; other contexts and expired filters do nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from fediverse.config import Settings
from fediverse.storage.database import Database
from tests.factories import StaffMember, make_staff


async def post(client: httpx.AsyncClient, author: StaffMember, text: str, **extra: Any) -> str:
    response = await client.post(
        "/api/v1/statuses", json={"status": text, **extra}, headers=author.headers
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def add_filter(
    client: httpx.AsyncClient,
    member: StaffMember,
    keyword: str,
    *,
    context: list[str],
    action: str = "warn",
    whole_word: bool = True,
) -> dict[str, Any]:
    response = await client.post(
        "/api/v2/filters",
        json={
            "title": f"no {keyword}",
            "context": context,
            "filter_action": action,
            "keywords_attributes": [{"keyword": keyword, "whole_word": whole_word}],
        },
        headers=member.headers,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def reader_following_writer(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> tuple[StaffMember, StaffMember]:
    reader = await make_staff(database, settings, "reader")
    writer = await make_staff(database, settings, "writer")
    followed = await client.post(f"/api/v1/accounts/{writer.id}/follow", headers=reader.headers)
    assert followed.status_code == 200
    return reader, writer


async def home(client: httpx.AsyncClient, member: StaffMember) -> dict[str, dict[str, Any]]:
    response = await client.get("/api/v1/timelines/home", headers=member.headers)
    assert response.status_code == 200
    return {s["id"]: s for s in response.json()}


async def test_a_home_filter_marks_a_matching_home_status_and_leaves_the_others(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    reader, writer = await reader_following_writer(client, database, settings)
    created = await add_filter(client, reader, "football", context=["home"])
    matching = await post(client, writer, "Who watched the Football match?")
    other = await post(client, writer, "Lunch is ready")

    timeline = await home(client, reader)
    assert set(timeline) == {matching, other}
    (result,) = timeline[matching]["filtered"]
    assert result["filter"]["id"] == created["id"]
    assert result["filter"]["filter_action"] == "warn"
    assert result["filter"]["context"] == ["home"]
    assert result["keyword_matches"] == ["football"]
    assert result["status_matches"] is None
    assert timeline[other]["filtered"] == []


async def test_a_hide_filter_removes_the_status_from_the_home_timeline(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    reader, writer = await reader_following_writer(client, database, settings)
    await add_filter(client, reader, "football", context=["home"], action="hide")
    hidden = await post(client, writer, "football again")
    shown = await post(client, writer, "something else")
    assert set(await home(client, reader)) == {shown}
    assert hidden != shown
    # The writer sees their own post: filters belong to the reader.
    assert hidden in await home(client, writer)


async def test_a_blur_filter_keeps_the_status_with_filtered_filled(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    reader, writer = await reader_following_writer(client, database, settings)
    await add_filter(client, reader, "spoiler", context=["home"], action="blur")
    status_id = await post(client, writer, "a spoiler ahead")
    timeline = await home(client, reader)
    assert timeline[status_id]["filtered"][0]["filter"]["filter_action"] == "blur"


async def test_a_public_filter_does_not_touch_the_home_timeline_but_applies_to_public(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    reader, writer = await reader_following_writer(client, database, settings)
    await add_filter(client, reader, "football", context=["public"], action="hide")
    status_id = await post(client, writer, "football tonight")
    timeline = await home(client, reader)
    assert timeline[status_id]["filtered"] == []
    public = await client.get("/api/v1/timelines/public", headers=reader.headers)
    assert status_id not in {s["id"] for s in public.json()}
    anonymous = await client.get("/api/v1/timelines/public")
    assert status_id in {s["id"] for s in anonymous.json()}


async def test_an_expired_filter_no_longer_applies(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    reader, writer = await reader_following_writer(client, database, settings)
    created = await add_filter(client, reader, "football", context=["home"], action="hide")
    async with database.transaction() as conn:
        await conn.execute(
            "UPDATE filters SET expires_at = $2 WHERE id = $1",
            int(created["id"]),
            datetime.now(UTC) - timedelta(minutes=1),
        )
    status_id = await post(client, writer, "football tonight")
    timeline = await home(client, reader)
    assert timeline[status_id]["filtered"] == []


async def test_whole_word_keywords_match_only_whole_words_and_others_match_inside_words(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    reader, writer = await reader_following_writer(client, database, settings)
    await add_filter(client, reader, "cat", context=["home"], whole_word=True)
    await add_filter(client, reader, "dog", context=["home"], whole_word=False)
    inside_cat = await post(client, writer, "concatenate the files")
    whole_cat = await post(client, writer, "my cat sleeps")
    inside_dog = await post(client, writer, "hotdogs for lunch")
    timeline = await home(client, reader)
    assert timeline[inside_cat]["filtered"] == []
    assert [r["keyword_matches"] for r in timeline[whole_cat]["filtered"]] == [["cat"]]
    assert [r["keyword_matches"] for r in timeline[inside_dog]["filtered"]] == [["dog"]]


async def test_spoiler_text_is_matched_too(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    reader, writer = await reader_following_writer(client, database, settings)
    await add_filter(client, reader, "politics", context=["home"])
    status_id = await post(client, writer, "long thread", spoiler_text="Politics")
    assert (await home(client, reader))[status_id]["filtered"] != []


async def test_a_boost_of_a_filtered_status_is_filtered_in_the_home_timeline(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    reader, writer = await reader_following_writer(client, database, settings)
    stranger = await make_staff(database, settings, "stranger")
    original = await post(client, stranger, "football results")
    boosted = await client.post(f"/api/v1/statuses/{original}/reblog", headers=writer.headers)
    assert boosted.status_code == 200
    await add_filter(client, reader, "football", context=["home"])
    timeline = await home(client, reader)
    boost = timeline[boosted.json()["id"]]
    assert boost["filtered"][0]["keyword_matches"] == ["football"]
    assert boost["reblog"]["filtered"] == boost["filtered"]


async def test_notifications_context_marks_and_hides_mentions(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    reader, writer = await reader_following_writer(client, database, settings)
    await add_filter(client, reader, "football", context=["notifications"], action="hide")
    await add_filter(client, reader, "lunch", context=["notifications"])
    await post(client, writer, "@reader football tonight?")
    lunch = await post(client, writer, "@reader lunch?")
    response = await client.get(
        "/api/v1/notifications", params={"types[]": "mention"}, headers=reader.headers
    )
    notifications = response.json()
    assert [n["status"]["id"] for n in notifications] == [lunch]
    assert notifications[0]["status"]["filtered"][0]["keyword_matches"] == ["lunch"]


async def test_thread_context_applies_to_context_and_show(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    reader, writer = await reader_following_writer(client, database, settings)
    await add_filter(client, reader, "football", context=["thread"], action="hide")
    root = await post(client, writer, "what are you doing tonight?")
    hidden = await post(client, writer, "football", in_reply_to_id=root)
    kept = await post(client, writer, "reading", in_reply_to_id=root)
    context = await client.get(f"/api/v1/statuses/{root}/context", headers=reader.headers)
    assert [s["id"] for s in context.json()["descendants"]] == [kept]
    # Asked for by id it is still shown, with the match reported.
    shown = await client.get(f"/api/v1/statuses/{hidden}", headers=reader.headers)
    assert shown.status_code == 200
    assert shown.json()["filtered"][0]["filter"]["filter_action"] == "hide"


async def test_account_context_applies_to_account_statuses_only(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    reader, writer = await reader_following_writer(client, database, settings)
    await add_filter(client, reader, "football", context=["account"], action="hide")
    hidden = await post(client, writer, "football")
    kept = await post(client, writer, "tennis")
    response = await client.get(f"/api/v1/accounts/{writer.id}/statuses", headers=reader.headers)
    assert [s["id"] for s in response.json()] == [kept]
    assert hidden in await home(client, reader)
