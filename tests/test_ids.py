"""Snowflake ids: ids made for one moment stay distinct, since peers date posts to the second."""

from __future__ import annotations

from datetime import UTC, datetime

from fediverse import ids


def test_ids_made_for_the_same_moment_never_collide() -> None:
    moment = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    made = [ids.new_id(moment) for _ in range(65_536)]
    assert len(set(made)) == len(made)
    assert all(ids.id_at(moment) <= value < ids.id_at(moment) + 65_536 for value in made)
