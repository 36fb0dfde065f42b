"""Per-user endpoints: preferences, markers, filters v2 (and v1's list) and filter matching."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import pytest

from fediverse import filters, ids
from fediverse.config import Settings
from fediverse.filters import FilterWithKeywords
from fediverse.storage import accounts as account_store
from fediverse.storage.database import Database
from fediverse.storage.filters import Filter, FilterKeyword, FilterStatus
from tests.factories import StaffMember, make_staff
from web.mastodon_api.filters import match_filters

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def add_status(database: Database, author: StaffMember, visibility: str = "public") -> int:
    status_id = ids.new_id()
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO statuses (id, uri, account_id, visibility) VALUES ($1, $2, $3, $4)",
            status_id,
            f"https://local.test/users/{author.account.username}/statuses/{status_id}",
            author.account.id,
            visibility,
        )
    return status_id


# --- preferences ------------------------------------------------------------------------------


async def test_preferences_show_the_users_posting_and_reading_defaults(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    response = await client.get("/api/v1/preferences", headers=alice.headers)
    assert response.status_code == 200
    assert response.json() == {
        "posting:default:visibility": "public",
        "posting:default:federation": True,
        "posting:default:sensitive": False,
        "posting:default:language": None,
        "reading:expand:media": "default",
        "reading:expand:spoilers": False,
    }
    async with database.transaction() as conn:
        await account_store.update_user(
            conn,
            user_id=alice.user.id,
            changes={
                "default_privacy": "private",
                "default_sensitive": True,
                "default_language": "de",
                "settings": {"reading:expand:media": "show_all", "reading:expand:spoilers": True},
            },
        )
    assert (await client.get("/api/v1/preferences", headers=alice.headers)).json() == {
        "posting:default:visibility": "private",
        "posting:default:federation": True,
        "posting:default:sensitive": True,
        "posting:default:language": "de",
        "reading:expand:media": "show_all",
        "reading:expand:spoilers": True,
    }


async def test_preferences_need_a_token_with_read_accounts(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    assert (await client.get("/api/v1/preferences")).status_code == 401
    narrow = await make_staff(database, settings, "narrow", scopes="read:statuses")
    response = await client.get("/api/v1/preferences", headers=narrow.headers)
    assert response.status_code == 403
    assert "error" in response.json()
    granular = await make_staff(database, settings, "granular", scopes="read:accounts")
    assert (await client.get("/api/v1/preferences", headers=granular.headers)).status_code == 200


# --- markers ----------------------------------------------------------------------------------


async def test_markers_are_saved_and_read_back_per_timeline(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    empty = await client.get(
        "/api/v1/markers?timeline[]=home&timeline[]=notifications", headers=alice.headers
    )
    assert empty.status_code == 200
    assert empty.json() == {}
    saved = await client.post(
        "/api/v1/markers", data={"home[last_read_id]": "103194548672408537"}, headers=alice.headers
    )
    assert saved.status_code == 200
    home = saved.json()["home"]
    assert set(saved.json()) == {"home"}
    assert home["last_read_id"] == "103194548672408537"
    assert home["version"] == 1
    assert ISO.match(home["updated_at"])
    both = await client.get(
        "/api/v1/markers",
        params=[("timeline[]", "home"), ("timeline[]", "notifications")],
        headers=alice.headers,
    )
    assert both.json() == {"home": home}
    only_notifications = await client.get(
        "/api/v1/markers?timeline[]=notifications", headers=alice.headers
    )
    assert only_notifications.json() == {}


async def test_marker_version_goes_up_with_each_change_of_position(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    versions = []
    for last_read_id in ("100", "200", "300"):
        response = await client.post(
            "/api/v1/markers",
            json={"notifications": {"last_read_id": last_read_id}},
            headers=alice.headers,
        )
        marker = response.json()["notifications"]
        assert marker["last_read_id"] == last_read_id
        versions.append(marker["version"])
    assert versions == [1, 2, 3]
    # Saving the same position again is no change (Rails' optimistic lock does not bump either).
    again = await client.post(
        "/api/v1/markers", json={"notifications": {"last_read_id": "300"}}, headers=alice.headers
    )
    assert again.json()["notifications"]["version"] == 3


async def test_markers_are_private_to_each_account(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    await client.post("/api/v1/markers", data={"home[last_read_id]": "5"}, headers=alice.headers)
    response = await client.get("/api/v1/markers?timeline[]=home", headers=bob.headers)
    assert response.json() == {}


async def test_markers_reject_a_bad_last_read_id_and_check_scopes(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bad = await client.post(
        "/api/v1/markers", data={"home[last_read_id]": "soon"}, headers=alice.headers
    )
    assert bad.status_code == 422
    assert "error" in bad.json()
    assert (await client.get("/api/v1/markers?timeline[]=home")).status_code == 401
    reader = await make_staff(database, settings, "reader", scopes="read:statuses")
    assert (
        await client.get("/api/v1/markers?timeline[]=home", headers=reader.headers)
    ).status_code == 200
    denied = await client.post(
        "/api/v1/markers", data={"home[last_read_id]": "5"}, headers=reader.headers
    )
    assert denied.status_code == 403
    writer = await make_staff(database, settings, "writer", scopes="write:statuses")
    assert (
        await client.get("/api/v1/markers?timeline[]=home", headers=writer.headers)
    ).status_code == 403


# --- filters v2: CRUD -------------------------------------------------------------------------


async def create_filter(
    client: httpx.AsyncClient, member: StaffMember, **fields: object
) -> dict[str, object]:
    body = {"title": "Spoilers", "context": ["home", "public"], **fields}
    response = await client.post("/api/v2/filters", json=body, headers=member.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_creating_a_filter_with_keywords_returns_the_whole_filter(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    response = await client.post(
        "/api/v2/filters",
        content=urlencode(
            [
                ("title", "Politics"),
                ("context[]", "home"),
                ("context[]", "thread"),
                ("filter_action", "hide"),
                ("keywords_attributes[][keyword]", "election"),
                ("keywords_attributes[][whole_word]", "true"),
                ("keywords_attributes[][keyword]", "#vote"),
                ("keywords_attributes[][whole_word]", "false"),
            ]
        ),
        headers={**alice.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    created = response.json()
    assert set(created) == {
        "id", "title", "context", "expires_at", "filter_action", "keywords", "statuses",
    }  # fmt: skip
    assert created["id"].isdigit()
    assert created["title"] == "Politics"
    assert created["context"] == ["home", "thread"]
    assert created["filter_action"] == "hide"
    assert created["expires_at"] is None
    assert created["statuses"] == []
    assert [(k["keyword"], k["whole_word"]) for k in created["keywords"]] == [
        ("election", True),
        ("#vote", False),
    ]
    assert all(k["id"].isdigit() for k in created["keywords"])
    listed = (await client.get("/api/v2/filters", headers=alice.headers)).json()
    assert listed == [created]
    shown = await client.get(f"/api/v2/filters/{created['id']}", headers=alice.headers)
    assert shown.json() == created


async def test_filter_action_defaults_to_warn_and_accepts_blur(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    assert (await create_filter(client, alice))["filter_action"] == "warn"
    assert (await create_filter(client, alice, filter_action="blur"))["filter_action"] == "blur"


async def test_filter_expires_in_sets_expires_at_and_an_empty_value_clears_it(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    before = datetime.now(UTC)
    created = await create_filter(client, alice, expires_in=3600)
    expires_at = datetime.fromisoformat(str(created["expires_at"]).replace("Z", "+00:00"))
    assert timedelta(minutes=59) < expires_at - before < timedelta(minutes=61)
    kept = await client.put(
        f"/api/v2/filters/{created['id']}", json={"title": "Renamed"}, headers=alice.headers
    )
    assert kept.json()["expires_at"] == created["expires_at"]
    assert kept.json()["title"] == "Renamed"
    cleared = await client.put(
        f"/api/v2/filters/{created['id']}", data={"expires_in": ""}, headers=alice.headers
    )
    assert cleared.json()["expires_at"] is None


async def test_updating_a_filter_adds_changes_and_destroys_keywords(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    created = await create_filter(
        client,
        alice,
        keywords_attributes=[{"keyword": "one"}, {"keyword": "two"}, {"keyword": "three"}],
    )
    one, two, three = created["keywords"]  # type: ignore[misc]
    response = await client.put(
        f"/api/v2/filters/{created['id']}",
        json={
            "context": ["notifications"],
            "filter_action": "hide",
            "keywords_attributes": [
                {"id": one["id"], "keyword": "uno", "whole_word": False},
                {"id": two["id"], "_destroy": True},
                {"keyword": "four", "whole_word": True},
            ],
        },
        headers=alice.headers,
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["context"] == ["notifications"]
    assert updated["filter_action"] == "hide"
    assert updated["title"] == "Spoilers"
    keywords = {k["keyword"]: k for k in updated["keywords"]}
    assert set(keywords) == {"uno", "three", "four"}
    assert keywords["uno"]["id"] == one["id"]
    assert keywords["uno"]["whole_word"] is False
    assert keywords["three"] == three
    assert keywords["four"]["whole_word"] is True


async def test_deleting_a_filter_removes_it(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    created = await create_filter(client, alice)
    deleted = await client.delete(f"/api/v2/filters/{created['id']}", headers=alice.headers)
    assert deleted.status_code == 200
    assert deleted.json() == {}
    gone = await client.get(f"/api/v2/filters/{created['id']}", headers=alice.headers)
    assert gone.status_code == 404
    assert (await client.get("/api/v2/filters", headers=alice.headers)).json() == []


async def test_filters_of_another_account_are_not_found(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    created = await create_filter(client, alice, keywords_attributes=[{"keyword": "x"}])
    keyword_id = created["keywords"][0]["id"]  # type: ignore[index]
    filter_url = f"/api/v2/filters/{created['id']}"
    assert (await client.get(filter_url, headers=bob.headers)).status_code == 404
    renamed = await client.put(filter_url, json={"title": "Mine"}, headers=bob.headers)
    assert renamed.status_code == 404
    assert (await client.delete(filter_url, headers=bob.headers)).status_code == 404
    assert (await client.get(f"{filter_url}/keywords", headers=bob.headers)).status_code == 404
    keyword_url = f"/api/v2/filters/keywords/{keyword_id}"
    assert (await client.get(keyword_url, headers=bob.headers)).status_code == 404
    assert (await client.delete(keyword_url, headers=bob.headers)).status_code == 404
    assert (await client.get("/api/v2/filters", headers=bob.headers)).json() == []
    assert (await client.get(filter_url, headers=alice.headers)).json()["title"] == "Spoilers"


async def test_filter_validation_errors_are_422_with_an_error_message(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    cases = [
        {"context": ["home"]},  # no title
        {"title": "  ", "context": ["home"]},
        {"title": "x"},  # no context
        {"title": "x", "context": ["home", "everywhere"]},
        {"title": "x", "context": ["home"], "filter_action": "delete"},
        {"title": "x", "context": ["home"], "keywords_attributes": [{"keyword": ""}]},
        {"title": "x", "context": ["home"], "expires_in": "soon"},
    ]
    for body in cases:
        response = await client.post("/api/v2/filters", json=body, headers=alice.headers)
        assert response.status_code == 422, body
        assert isinstance(response.json()["error"], str), body
    assert (await client.get("/api/v2/filters", headers=alice.headers)).json() == []
    created = await create_filter(client, alice)
    bad = await client.put(
        f"/api/v2/filters/{created['id']}", json={"context": ["nowhere"]}, headers=alice.headers
    )
    assert bad.status_code == 422
    assert "Context" in bad.json()["error"]


async def test_filters_need_the_filters_scopes(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    assert (await client.get("/api/v2/filters")).status_code == 401
    assert (await client.get("/api/v1/filters")).status_code == 401
    reader = await make_staff(database, settings, "reader", scopes="read:filters")
    assert (await client.get("/api/v2/filters", headers=reader.headers)).status_code == 200
    assert (await client.get("/api/v1/filters", headers=reader.headers)).status_code == 200
    denied = await client.post(
        "/api/v2/filters", json={"title": "x", "context": ["home"]}, headers=reader.headers
    )
    assert denied.status_code == 403
    other = await make_staff(database, settings, "other", scopes="read:statuses write:statuses")
    assert (await client.get("/api/v2/filters", headers=other.headers)).status_code == 403
    writer = await make_staff(database, settings, "writer", scopes="write:filters")
    created = await create_filter(client, writer)
    assert (
        await client.get(f"/api/v2/filters/{created['id']}", headers=writer.headers)
    ).status_code == 403


# --- filters v2: keywords and statuses sub-resources -----------------------------------------


async def test_filter_keywords_can_be_listed_added_shown_changed_and_deleted(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    created = await create_filter(client, alice)
    base = f"/api/v2/filters/{created['id']}/keywords"
    assert (await client.get(base, headers=alice.headers)).json() == []
    added = await client.post(base, data={"keyword": "ending", "whole_word": "false"},
                              headers=alice.headers)  # fmt: skip
    assert added.status_code == 200
    keyword = added.json()
    assert set(keyword) == {"id", "keyword", "whole_word"}
    assert keyword["keyword"] == "ending"
    assert keyword["whole_word"] is False
    assert (await client.get(base, headers=alice.headers)).json() == [keyword]
    url = f"/api/v2/filters/keywords/{keyword['id']}"
    assert (await client.get(url, headers=alice.headers)).json() == keyword
    changed = await client.put(url, json={"whole_word": True}, headers=alice.headers)
    assert changed.json() == {**keyword, "whole_word": True}
    renamed = await client.put(url, json={"keyword": "finale"}, headers=alice.headers)
    assert renamed.json() == {**keyword, "keyword": "finale", "whole_word": True}
    blank = await client.put(url, json={"keyword": ""}, headers=alice.headers)
    assert blank.status_code == 422
    assert (await client.delete(url, headers=alice.headers)).json() == {}
    assert (await client.get(url, headers=alice.headers)).status_code == 404
    filter_now = await client.get(f"/api/v2/filters/{created['id']}", headers=alice.headers)
    assert filter_now.json()["keywords"] == []


async def test_filter_statuses_can_be_listed_added_shown_and_deleted(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    status_id = await add_status(database, bob)
    created = await create_filter(client, alice)
    base = f"/api/v2/filters/{created['id']}/statuses"
    added = await client.post(base, data={"status_id": str(status_id)}, headers=alice.headers)
    assert added.status_code == 200, added.text
    item = added.json()
    assert set(item) == {"id", "status_id"}
    assert item["status_id"] == str(status_id)
    assert item["id"].isdigit()
    assert (await client.get(base, headers=alice.headers)).json() == [item]
    again = await client.post(base, data={"status_id": str(status_id)}, headers=alice.headers)
    assert again.status_code == 422
    url = f"/api/v2/filters/statuses/{item['id']}"
    assert (await client.get(url, headers=alice.headers)).json() == item
    assert (await client.get(url, headers=bob.headers)).status_code == 404
    shown = (await client.get(f"/api/v2/filters/{created['id']}", headers=alice.headers)).json()
    assert shown["statuses"] == [item]
    assert (await client.delete(url, headers=alice.headers)).json() == {}
    assert (await client.get(base, headers=alice.headers)).json() == []


async def test_a_filter_cannot_name_a_status_its_owner_cannot_see(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    hidden = await add_status(database, bob, visibility="direct")
    created = await create_filter(client, alice)
    base = f"/api/v2/filters/{created['id']}/statuses"
    for status_id in (str(hidden), "12345", "nonsense"):
        response = await client.post(base, data={"status_id": status_id}, headers=alice.headers)
        assert response.status_code == 422, status_id
        assert "error" in response.json()


async def test_v1_filters_list_one_entry_per_v2_keyword(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    created = await create_filter(
        client,
        alice,
        filter_action="hide",
        expires_in=600,
        keywords_attributes=[{"keyword": "cats"}, {"keyword": "dogs", "whole_word": False}],
    )
    await create_filter(client, alice, title="Empty")  # no keywords: nothing in v1
    response = await client.get("/api/v1/filters", headers=alice.headers)
    assert response.status_code == 200
    cats, dogs = created["keywords"]  # type: ignore[misc]
    expected = [
        {
            "id": cats["id"],
            "phrase": "cats",
            "context": ["home", "public"],
            "whole_word": True,
            "expires_at": created["expires_at"],
            "irreversible": True,
        },
        {
            "id": dogs["id"],
            "phrase": "dogs",
            "context": ["home", "public"],
            "whole_word": False,
            "expires_at": created["expires_at"],
            "irreversible": True,
        },
    ]
    assert response.json() == expected
    one = await client.get(f"/api/v1/filters/{dogs['id']}", headers=alice.headers)
    assert one.json() == expected[1]


# --- matching ---------------------------------------------------------------------------------


def rules_with(
    *keywords: tuple[str, bool],
    context: tuple[str, ...] = ("home",),
    action: str = "warn",
    status_ids: tuple[int, ...] = (),
) -> FilterWithKeywords:
    found = Filter(
        id=ids.new_id(),
        account_id=1,
        title="Test",
        context=list(context),
        filter_action=action,
        expires_at=None,
        created_at=datetime.now(UTC),
    )
    return FilterWithKeywords(
        filter=found,
        keywords=[
            FilterKeyword(id=ids.new_id(), filter_id=found.id, keyword=word, whole_word=whole)
            for word, whole in keywords
        ],
        statuses=[
            FilterStatus(id=ids.new_id(), filter_id=found.id, status_id=status_id)
            for status_id in status_ids
        ],
    )


@pytest.mark.parametrize(
    ("keyword", "whole_word", "text", "matches"),
    [
        ("cat", True, "I love my cat.", True),
        ("cat", True, "CAT pictures", True),
        ("cat", True, "concatenate these", False),
        ("cat", True, "cats everywhere", False),
        ("cat", False, "concatenate these", True),
        ("cat", False, "CATS everywhere", True),
        ("new york", True, "Greetings from New York!", True),
        ("new york", True, "Greetings from New Yorkshire", False),
        ("#tag", True, "look at this #tag here", True),
        ("#tag", True, "look at this #tagged post", False),
        ("c++", True, "I write C++ daily", True),
        ("c++", True, "I write abc++ daily", False),
        ("straße", True, "Die Straße ist lang", True),
        ("café", True, "un café noir", True),
        ("café", True, "cafés", False),
        ("a.b", False, "axb", False),
    ],
)
def test_keyword_matching_follows_mastodons_whole_word_rules(
    keyword: str, whole_word: bool, text: str, matches: bool
) -> None:
    rules = rules_with((keyword, whole_word))
    results = filters.find_matches([rules], context="home", text=text, status_id=1)
    assert bool(results) is matches
    if matches:
        assert results[0].keyword_matches == [keyword]
        assert results[0].status_matches is None


def test_match_filters_returns_mastodons_filter_result_shape() -> None:
    warn = rules_with(("spoiler", True), ("finale", True), context=("home", "thread"))
    hide = rules_with(("spoiler", False), action="hide", context=("home",))
    elsewhere = rules_with(("spoiler", True), context=("notifications",))
    results = match_filters(
        [warn, hide, elsewhere],
        context="home",
        text="Big spoiler about the series",
        status_id=42,
    )
    assert results == [
        {
            "filter": {
                "id": str(warn.filter.id),
                "title": "Test",
                "context": ["home", "thread"],
                "expires_at": None,
                "filter_action": "warn",
            },
            "keyword_matches": ["spoiler"],
            "status_matches": None,
        },
        {
            "filter": {
                "id": str(hide.filter.id),
                "title": "Test",
                "context": ["home"],
                "expires_at": None,
                "filter_action": "hide",
            },
            "keyword_matches": ["spoiler"],
            "status_matches": None,
        },
    ]
    assert match_filters([warn], context="public", text="spoiler", status_id=42) == []


def test_a_filter_naming_a_status_matches_it_and_its_boosts() -> None:
    rules = rules_with(status_ids=(42,))
    direct = match_filters([rules], context="home", text="", status_id=42)
    assert direct[0]["status_matches"] == ["42"]
    assert direct[0]["keyword_matches"] is None
    boost = match_filters([rules], context="home", text="", status_id=99, reblog_of_id=42)
    assert boost[0]["status_matches"] == ["42"]
    assert match_filters([rules], context="home", text="", status_id=43) == []


async def test_load_active_filters_skips_expired_filters_and_brings_the_rules(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    status_id = await add_status(database, bob)
    lasting = await create_filter(client, alice, keywords_attributes=[{"keyword": "cats"}])
    await client.post(
        f"/api/v2/filters/{lasting['id']}/statuses",
        data={"status_id": str(status_id)},
        headers=alice.headers,
    )
    brief = await create_filter(
        client, alice, title="Brief", expires_in=60, keywords_attributes=[{"keyword": "dogs"}]
    )
    await create_filter(client, bob, keywords_attributes=[{"keyword": "birds"}])
    async with database.transaction() as conn:
        now = datetime.now(UTC)
        active = await filters.load_active_filters(conn, account_id=alice.account.id, now=now)
        later = await filters.load_active_filters(
            conn, account_id=alice.account.id, now=now + timedelta(minutes=5)
        )
    assert {str(rules.filter.id) for rules in active} == {lasting["id"], brief["id"]}
    assert [str(rules.filter.id) for rules in later] == [lasting["id"]]
    assert [k.keyword for k in later[0].keywords] == ["cats"]
    assert [s.status_id for s in later[0].statuses] == [status_id]
    assert match_filters(later, context="home", text="dogs and cats", status_id=1)[0][
        "keyword_matches"
    ] == ["cats"]
    assert match_filters(later, context="home", text="only dogs", status_id=1) == []
    # An expired filter is still listed to its owner, who may renew it.
    listed = (await client.get("/api/v2/filters", headers=alice.headers)).json()
    assert {f["id"] for f in listed} == {lasting["id"], brief["id"]}
