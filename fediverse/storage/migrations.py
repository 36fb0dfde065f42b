"""Apply alembic migrations programmatically (used by `serve`, `migrate` and the tests)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_ROOT = Path(__file__).resolve().parents[2]


def sqlalchemy_url(url: str) -> str:
    """A libpq URL rewritten for SQLAlchemy's asyncpg dialect (unix-socket `host=` kept)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    scheme = "postgresql+asyncpg"
    return urlunsplit(parts._replace(scheme=scheme, query=urlencode(query)))


def _alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config(str(_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(_ROOT / "alembic"))
    config.attributes["database_url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision` (blocking; call from a thread in async code)."""
    from alembic import command

    command.upgrade(_alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(_alembic_config(url), revision)
