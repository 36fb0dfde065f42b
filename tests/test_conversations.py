"""Direct conversations: one per local participant, unread for recipients, read, delete, and
never shown to anyone outside the thread."""

from __future__ import annotations

from typing import Any

import httpx

from fediverse.config import Settings
from fediverse.storage.database import Database
from tests.factories import StaffMember, make_staff
from tests.test_timelines import next_link


async def direct(
    client: httpx.AsyncClient, author: StaffMember, text: str, reply_to: str | None = None
) -> str:
    data = {"status": text, "visibility": "direct"}
    if reply_to is not None:
        data["in_reply_to_id"] = reply_to
    response = await client.post("/api/v1/statuses", headers=author.headers, data=data)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def conversations(client: httpx.AsyncClient, who: StaffMember) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/conversations", headers=who.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def usernames(conversation: dict[str, Any]) -> list[str]:
    return sorted(account["username"] for account in conversation["accounts"])


async def test_a_direct_post_makes_a_conversation_for_each_participant(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")

    status_id = await direct(client, alice, "@bob @carol secret plan")

    for who, others, unread in (
        (alice, ["bob", "carol"], False),
        (bob, ["alice", "carol"], True),
        (carol, ["alice", "bob"], True),
    ):
        found = await conversations(client, who)
        assert len(found) == 1, who.account.username
        assert set(found[0]) == {"id", "unread", "accounts", "last_status"}
        assert usernames(found[0]) == others
        assert found[0]["unread"] is unread
        assert found[0]["last_status"]["id"] == status_id


async def test_a_reply_in_the_thread_moves_the_last_status_and_marks_it_unread(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    first = await direct(client, alice, "@bob lunch?")
    bob_conversation = (await conversations(client, bob))[0]
    read = await client.post(
        f"/api/v1/conversations/{bob_conversation['id']}/read", headers=bob.headers
    )
    assert read.status_code == 200 and read.json()["unread"] is False

    reply = await direct(client, bob, "@alice yes", reply_to=first)

    for_alice = await conversations(client, alice)
    for_bob = await conversations(client, bob)
    assert len(for_alice) == 1 and len(for_bob) == 1
    assert for_alice[0]["last_status"]["id"] == reply and for_alice[0]["unread"] is True
    assert for_bob[0]["last_status"]["id"] == reply and for_bob[0]["unread"] is False
    assert for_bob[0]["id"] == bob_conversation["id"]


async def test_read_marks_only_the_owners_conversation(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    await direct(client, alice, "@bob @carol hello")
    bob_conversation = (await conversations(client, bob))[0]

    # Someone else's conversation id is a 404.
    stolen = await client.post(
        f"/api/v1/conversations/{bob_conversation['id']}/read", headers=carol.headers
    )
    assert stolen.status_code == 404
    response = await client.post(
        f"/api/v1/conversations/{bob_conversation['id']}/read", headers=bob.headers
    )

    assert response.status_code == 200
    assert response.json()["unread"] is False
    assert (await conversations(client, bob))[0]["unread"] is False
    assert (await conversations(client, carol))[0]["unread"] is True


async def test_delete_removes_the_conversation_for_its_owner_only(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await direct(client, alice, "@bob psst")
    bob_conversation = (await conversations(client, bob))[0]

    path = f"/api/v1/conversations/{bob_conversation['id']}"
    assert (await client.delete(path, headers=alice.headers)).status_code == 404
    deleted = await client.delete(
        f"/api/v1/conversations/{bob_conversation['id']}", headers=bob.headers
    )

    assert deleted.status_code == 200
    assert await conversations(client, bob) == []
    assert len(await conversations(client, alice)) == 1
    again = await client.delete(
        f"/api/v1/conversations/{bob_conversation['id']}", headers=bob.headers
    )
    assert again.status_code == 404


async def test_a_non_participant_never_sees_the_conversation(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    await make_staff(database, settings, "bob")
    outsider = await make_staff(database, settings, "outsider")
    await direct(client, alice, "@bob between us")
    await client.post(
        "/api/v1/statuses",
        headers=alice.headers,
        data={"status": "@outsider a public mention", "visibility": "public"},
    )

    assert await conversations(client, outsider) == []
    # Only direct posts make conversations.
    assert len(await conversations(client, alice)) == 1


async def test_a_deleted_last_status_falls_back_to_the_previous_one_the_owner_may_see(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    first = await direct(client, alice, "@bob one")
    second = await direct(client, alice, "@bob two", reply_to=first)

    assert (await conversations(client, bob))[0]["last_status"]["id"] == second
    assert (
        await client.delete(f"/api/v1/statuses/{second}", headers=alice.headers)
    ).status_code == 200
    assert (await conversations(client, bob))[0]["last_status"]["id"] == first
    assert (
        await client.delete(f"/api/v1/statuses/{first}", headers=alice.headers)
    ).status_code == 200
    assert await conversations(client, bob) == []


async def test_a_new_thread_with_the_same_people_is_another_conversation_and_pages_work(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    older = await direct(client, alice, "@bob topic one")
    newer = await direct(client, alice, "@bob topic two")

    first_page = await client.get("/api/v1/conversations", headers=bob.headers, params={"limit": 1})
    assert [c["last_status"]["id"] for c in first_page.json()] == [newer]
    link = next_link(first_page)
    assert link is not None
    second_page = await client.get(link, headers=bob.headers)
    assert [c["last_status"]["id"] for c in second_page.json()] == [older]


async def test_conversations_need_a_token_with_the_right_scopes(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    reader = await make_staff(database, settings, "reader", scopes="read")
    await direct(client, await make_staff(database, settings, "alice"), "@reader hi")

    assert (await client.get("/api/v1/conversations")).status_code == 401
    listed = await conversations(client, reader)
    assert len(listed) == 1
    refused = await client.post(
        f"/api/v1/conversations/{listed[0]['id']}/read", headers=reader.headers
    )
    assert refused.status_code == 403
