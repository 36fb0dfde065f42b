"""The audience rule exists twice (Python `may_see`, SQL `visible_sql`); they must agree.

Every visibility × local_only × relationship is built in a real database, then each viewer's
SQL answer is compared with the Python answer, and both with the rule as Mastodon states it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from fediverse import ids
from fediverse.audience import StatusAudienceFacts, ViewerFacts, may_see, visible_sql
from fediverse.storage.database import Connection, Database

VISIBILITIES = ("public", "unlisted", "private", "direct")
RELATIONSHIPS = ("author", "follower", "mentioned", "stranger", "anonymous", "blocked")
AUTHORS = ("active", "suspended")


@dataclass(frozen=True)
class Case:
    author: str
    visibility: str
    local_only: bool
    relationship: str


CASES = [
    Case(*combo) for combo in itertools.product(AUTHORS, VISIBILITIES, (False, True), RELATIONSHIPS)
]


def expected_by_mastodon(case: Case) -> bool:
    """The rule as written down (issue 2 and DESIGN.md §3), independent of both versions."""
    if case.relationship == "author":
        return True  # authors always see their own posts, even while suspended
    if case.author == "suspended" or case.relationship == "blocked":
        return False
    if case.relationship == "anonymous" and case.local_only:
        return False  # internal posts are for signed-in staff only
    audience = {
        "public": {"follower", "mentioned", "stranger", "anonymous"},
        "unlisted": {"follower", "mentioned", "stranger", "anonymous"},
        "private": {"follower", "mentioned"},
        "direct": {"mentioned"},
    }
    return case.relationship in audience[case.visibility]


def python_answer(case: Case, author_id: int, viewer_id: int | None) -> bool:
    status = StatusAudienceFacts(
        author_id=author_id,
        visibility=case.visibility,
        local_only=case.local_only,
        author_suspended=case.author == "suspended",
    )
    viewer = ViewerFacts(
        viewer_id=viewer_id,
        is_local=viewer_id is not None,
        # The blocked viewer also follows: a block must win over a follow.
        follows_author=case.relationship in ("follower", "blocked"),
        mentioned=case.relationship == "mentioned",
        blocked_by_author=case.relationship == "blocked",
    )
    return may_see(status, viewer)


async def insert_account(conn: Connection, username: str, *, suspended: bool = False) -> int:
    account_id = ids.new_id()
    await conn.execute(
        "INSERT INTO accounts (id, username, uri, suspended_at) "
        "VALUES ($1, $2, $3, CASE WHEN $4 THEN now() END)",
        account_id,
        username,
        f"https://local.test/users/{username}",
        suspended,
    )
    return account_id


async def insert_relation(conn: Connection, table: str, account_id: int, target_id: int) -> None:
    # `table` is one of two literals below, never input.
    await conn.execute(
        f"INSERT INTO {table} (id, account_id, target_account_id) VALUES ($1, $2, $3)",
        ids.new_id(),
        account_id,
        target_id,
    )


async def build_world(
    conn: Connection,
) -> tuple[dict[str, int], dict[str, int], dict[Case, int]]:
    """Two authors (one suspended), one viewer per relationship, one status per case."""
    authors = {
        name: await insert_account(conn, name, suspended=name == "suspended") for name in AUTHORS
    }
    viewers = {
        name: await insert_account(conn, name)
        for name in ("follower", "mentioned", "stranger", "blocked")
    }
    for author_id in authors.values():
        await insert_relation(conn, "follows", viewers["follower"], author_id)
        await insert_relation(conn, "follows", viewers["blocked"], author_id)
        await insert_relation(conn, "blocks", author_id, viewers["blocked"])
    statuses: dict[Case, int] = {}
    for author, visibility, local_only in itertools.product(AUTHORS, VISIBILITIES, (False, True)):
        status_id = ids.new_id()
        await conn.execute(
            "INSERT INTO statuses (id, uri, account_id, visibility, local_only) "
            "VALUES ($1, $2, $3, $4, $5)",
            status_id,
            f"https://local.test/statuses/{status_id}",
            authors[author],
            visibility,
            local_only,
        )
        await conn.execute(
            "INSERT INTO mentions (status_id, account_id) VALUES ($1, $2)",
            status_id,
            viewers["mentioned"],
        )
        for relationship in RELATIONSHIPS:
            statuses[Case(author, visibility, local_only, relationship)] = status_id
    return authors, viewers, statuses


def viewer_id_for(case: Case, authors: dict[str, int], viewers: dict[str, int]) -> int | None:
    if case.relationship == "anonymous":
        return None
    if case.relationship == "author":
        return authors[case.author]
    return viewers[case.relationship]


async def test_python_and_sql_audience_rules_agree_for_every_case(database: Database) -> None:
    async with database.transaction() as conn:
        authors, viewers, statuses = await build_world(conn)
        disagreements = []
        for case in CASES:
            viewer_id = viewer_id_for(case, authors, viewers)
            in_sql = await conn.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM statuses s WHERE s.id = $2 "
                f"AND {visible_sql('s', '$1')})",
                viewer_id,
                statuses[case],
            )
            in_python = python_answer(case, authors[case.author], viewer_id)
            if in_sql != in_python:
                disagreements.append((case, in_python, in_sql))
    assert disagreements == []
    assert len(CASES) == 2 * 4 * 2 * 6


async def test_each_viewer_lists_exactly_the_statuses_the_rule_allows(database: Database) -> None:
    """The predicate inside a listing query (the way timelines use it) gives the same sets."""
    async with database.transaction() as conn:
        authors, viewers, statuses = await build_world(conn)
        for relationship in RELATIONSHIPS:
            for author in AUTHORS:
                cases = [c for c in CASES if c.relationship == relationship and c.author == author]
                viewer_id = viewer_id_for(cases[0], authors, viewers)
                rows = await conn.fetch(
                    f"SELECT s.id FROM statuses s WHERE s.account_id = $2 "
                    f"AND {visible_sql('s', '$1')}",
                    viewer_id,
                    authors[author],
                )
                listed = {row["id"] for row in rows}
                allowed = {
                    statuses[c] for c in cases if python_answer(c, authors[author], viewer_id)
                }
                assert listed == allowed, (relationship, author)


def test_python_rule_matches_mastodons_rules_as_written() -> None:
    author_id, other_id = 1, 2
    mismatches = []
    for case in CASES:
        viewer_id = {"anonymous": None, "author": author_id}.get(case.relationship, other_id)
        if python_answer(case, author_id, viewer_id) != expected_by_mastodon(case):
            mismatches.append(case)
    assert mismatches == []
