"""The admin lists page as Mastodon's do: `max_id`/`since_id`/`min_id`/`limit` in (100 by
default, at most 200), newest first by id, and a `Link` header (`next`/`prev`) out that keeps
the filters, walked here end to end through the API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from fediverse import ids
from fediverse.config import Settings
from fediverse.storage.database import Database
from tests.factories import StaffMember, make_staff

ADMIN_SCOPES = "read write follow admin:read admin:write"


@pytest.fixture
async def admin(database: Database, settings: Settings) -> StaffMember:
    return await make_staff(database, settings, "root", role="admin", scopes=ADMIN_SCOPES)


def _fresh_ids(count: int) -> list[int]:
    """`count` increasing ids (oldest first), as rows made one after another get."""
    return [ids.new_id() for _ in range(count)]


async def _seed_rules(database: Database, kind: str, count: int) -> list[int]:
    made = _fresh_ids(count)
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO federation_domain_rules (id, domain, kind, severity) "
            "SELECT id, 'peer' || n || '.example', $2, $3 "
            "FROM unnest($1::bigint[]) WITH ORDINALITY AS t(id, n)",
            made,
            kind,
            "noop" if kind == "allow" else "suspend",
        )
    return made


async def _seed_remote_accounts(database: Database, count: int) -> list[int]:
    made = _fresh_ids(count)
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO accounts (id, username, domain, uri) "
            "SELECT id, 'user' || n, 'peer.example', 'https://peer.example/users/user' || n "
            "FROM unnest($1::bigint[]) WITH ORDINALITY AS t(id, n)",
            made,
        )
    return made


async def _seed_reports(database: Database, admin: StaffMember, count: int) -> list[int]:
    [troll] = await _seed_remote_accounts(database, 1)
    made = _fresh_ids(count)
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO reports (id, account_id, target_account_id, comment) "
            "SELECT id, $2, $3, 'report ' || n "
            "FROM unnest($1::bigint[]) WITH ORDINALITY AS t(id, n)",
            made,
            troll,
            admin.account.id,
        )
    return made


@dataclass(frozen=True)
class AdminList:
    path: str
    filters: dict[str, str]
    seed: Callable[[Database, StaffMember, int], Awaitable[list[int]]]


LISTS = {
    "domain_allows": AdminList(
        "/api/v1/admin/domain_allows", {}, lambda db, _, n: _seed_rules(db, "allow", n)
    ),
    "domain_blocks": AdminList(
        "/api/v1/admin/domain_blocks", {}, lambda db, _, n: _seed_rules(db, "block", n)
    ),
    # `remote=true` keeps the admin's own (local) account out, and shows filters kept in links.
    "accounts": AdminList(
        "/api/v1/admin/accounts", {"remote": "true"}, lambda db, _, n: _seed_remote_accounts(db, n)
    ),
    "reports": AdminList("/api/v1/admin/reports", {}, _seed_reports),
}


def _ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [int(item["id"]) for item in response.json()]


@pytest.mark.parametrize("name", sorted(LISTS))
async def test_admin_lists_are_walked_through_the_link_header(
    name: str, client: httpx.AsyncClient, database: Database, admin: StaffMember
) -> None:
    listing = LISTS[name]
    made = await listing.seed(database, admin, 5)
    newest_first = list(reversed(made))
    headers = admin.headers

    first = await client.get(listing.path, params={**listing.filters, "limit": 2}, headers=headers)
    pages = [_ids(first)]
    page = first
    while "next" in page.links:
        next_url = page.links["next"]["url"]
        assert next_url.startswith(f"https://local.test{listing.path}?")
        assert "limit=2" in next_url
        for key, value in listing.filters.items():
            assert f"{key}={value}" in next_url
        page = await client.get(next_url, headers=headers)
        pages.append(_ids(page))

    assert pages == [newest_first[:2], newest_first[2:4], newest_first[4:]]
    assert first.links["next"]["url"].endswith(f"max_id={newest_first[1]}")
    assert first.links["prev"]["url"].endswith(f"min_id={newest_first[0]}")

    second = await client.get(first.links["next"]["url"], headers=headers)
    back = await client.get(second.links["prev"]["url"], headers=headers)
    assert _ids(back) == newest_first[:2]

    since = await client.get(
        listing.path, params={**listing.filters, "since_id": made[1], "limit": 2}, headers=headers
    )
    after = await client.get(
        listing.path, params={**listing.filters, "min_id": made[1], "limit": 2}, headers=headers
    )
    below = await client.get(
        listing.path, params={**listing.filters, "max_id": made[3]}, headers=headers
    )
    assert _ids(since) == newest_first[:2]
    assert _ids(after) == [made[3], made[2]]
    assert _ids(below) == [made[2], made[1], made[0]]
    # A short page has no `next`; a page past the end has no links at all.
    assert "next" not in below.links and "prev" in below.links
    empty = await client.get(
        listing.path, params={**listing.filters, "min_id": made[-1]}, headers=headers
    )
    assert empty.json() == [] and "link" not in empty.headers


@pytest.mark.parametrize("name", sorted(LISTS))
async def test_admin_lists_default_to_100_and_cap_the_limit_at_200(
    name: str, client: httpx.AsyncClient, database: Database, admin: StaffMember
) -> None:
    listing = LISTS[name]
    made = await listing.seed(database, admin, 201)
    newest_first = list(reversed(made))
    headers = admin.headers

    default = await client.get(listing.path, params=listing.filters, headers=headers)
    capped = await client.get(
        listing.path, params={**listing.filters, "limit": 1000}, headers=headers
    )

    assert _ids(default) == newest_first[:100]
    assert _ids(capped) == newest_first[:200]
    rest = await client.get(capped.links["next"]["url"], headers=headers)
    assert _ids(rest) == [made[0]]
    assert "next" not in rest.links


async def test_a_negative_or_huge_limit_is_read_as_mastodon_reads_it(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    """`limit.to_i.abs`, capped: -2 asks for two, a number past any integer for the most."""
    alice = await make_staff(database, settings, "alice")
    for number in range(3):
        response = await client.post(
            "/api/v1/statuses", json={"status": f"post {number}"}, headers=alice.headers
        )
        assert response.status_code == 200
    two = await client.get(
        f"/api/v1/accounts/{alice.account.id}/statuses?limit=-2", headers=alice.headers
    )
    huge = await client.get(
        f"/api/v1/accounts/{alice.account.id}/statuses?limit=99999999999999999999999999",
        headers=alice.headers,
    )
    assert two.status_code == 200 and len(two.json()) == 2
    assert huge.status_code == 200 and len(huge.json()) == 3
    bad = await client.get(
        f"/api/v1/accounts/{alice.account.id}/statuses?limit=many", headers=alice.headers
    )
    assert bad.status_code == 422 and "error" in bad.json()
