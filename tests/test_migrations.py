"""Migrations run both ways on a fresh database (upgrade → downgrade to base → upgrade gives the
same schema), and every CLI command answers `--help`."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tomllib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from fediverse.cli import build_parser
from fediverse.storage import migrations
from fediverse.storage.embedded_postgres import url_for_database
from tests.conftest import drop_database

ROOT = Path(__file__).resolve().parent.parent

SCHEMA_QUERIES = {
    "columns": """
        SELECT table_name || '.' || column_name || ' ' || data_type || ' '
               || is_nullable || ' ' || coalesce(column_default, '')
        FROM information_schema.columns WHERE table_schema = 'public'
    """,
    "indexes": "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "constraints": """
        SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    """,
    "functions": "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace",
    "triggers": """
        SELECT tgrelid::regclass::text || ' ' || tgname FROM pg_trigger WHERE NOT tgisinternal
    """,
    "types": """
        SELECT typname FROM pg_type
        WHERE typnamespace = 'public'::regnamespace AND typtype IN ('e', 'd')
    """,
    "sequences": "SELECT sequence_name FROM information_schema.sequences "
    "WHERE sequence_schema = 'public'",
}


async def schema_of(url: str) -> dict[str, list[str]]:
    """Everything the migrations create in the public schema, except alembic's own table."""
    conn = await asyncpg.connect(url)
    try:
        snapshot = {}
        for kind, query in SCHEMA_QUERIES.items():
            rows = await conn.fetch(query)
            snapshot[kind] = sorted(
                str(row[0]) for row in rows if "alembic_version" not in str(row[0])
            )
        return snapshot
    finally:
        await conn.close()


@pytest.fixture
async def empty_database_url(server_url: str) -> AsyncIterator[str]:
    name = f"migrations_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    yield url_for_database(server_url, name)
    await drop_database(server_url, name)


async def test_upgrade_downgrade_to_base_and_upgrade_again_rebuild_the_same_schema(
    empty_database_url: str,
) -> None:
    await asyncio.to_thread(migrations.upgrade, empty_database_url)
    upgraded = await schema_of(empty_database_url)
    assert "accounts.id bigint NO " in upgraded["columns"]
    assert any("statuses_search" in index for index in upgraded["indexes"])

    await asyncio.to_thread(migrations.downgrade, empty_database_url, "base")
    emptied = await schema_of(empty_database_url)
    assert emptied == {kind: [] for kind in SCHEMA_QUERIES}

    await asyncio.to_thread(migrations.upgrade, empty_database_url)
    assert await schema_of(empty_database_url) == upgraded


async def test_each_revision_steps_down_and_up_again(empty_database_url: str) -> None:
    await asyncio.to_thread(migrations.upgrade, empty_database_url)
    upgraded = await schema_of(empty_database_url)
    revisions = sorted(path.name for path in (ROOT / "alembic" / "versions").glob("0*.py"))

    for _ in revisions:
        await asyncio.to_thread(migrations.downgrade, empty_database_url, "-1")
    assert await schema_of(empty_database_url) == {kind: [] for kind in SCHEMA_QUERIES}
    for _ in revisions:
        await asyncio.to_thread(migrations.upgrade, empty_database_url, "+1")
    assert await schema_of(empty_database_url) == upgraded


async def test_upgrading_an_up_to_date_database_changes_nothing(empty_database_url: str) -> None:
    await asyncio.to_thread(migrations.upgrade, empty_database_url)
    before = await schema_of(empty_database_url)

    await asyncio.to_thread(migrations.upgrade, empty_database_url)

    assert await schema_of(empty_database_url) == before


# --- the command line ---------------------------------------------------------------------


def command_paths(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    """Every command and sub-command the parser knows, read from argparse itself so that new
    commands are covered without editing this test."""
    paths = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths.extend(command_paths(sub, (*prefix, name)))
    return paths


COMMANDS = command_paths(build_parser())


def test_the_command_list_covers_the_documented_commands() -> None:
    expected = {
        (),
        ("serve",),
        ("worker",),
        ("migrate",),
        ("accounts",),
        ("accounts", "create"),
        ("accounts", "list"),
        ("accounts", "suspend"),
        ("accounts", "unsuspend"),
        ("accounts", "reset-password"),
        ("accounts", "make-admin"),
    }

    assert expected <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "fediverse")
def test_every_command_answers_help(command: tuple[str, ...]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fediverse.cli", *command, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: fediverse")
    assert result.stderr == ""


def test_the_console_script_is_the_cli() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())

    assert pyproject["project"]["scripts"]["fediverse"] == "fediverse.cli:main"
