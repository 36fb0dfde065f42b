"""The asyncpg pool: one `Database` per process, transactions owned by the outermost caller."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import asyncpg
import orjson

from fediverse.errors import Conflict, NotFound, ValidationError

Connection = asyncpg.Connection

log = logging.getLogger(__name__)
# asyncpg raises this one itself for a parameter it cannot encode (an int beyond bigint);
# asyncpg.DataError is PostgreSQL's SQLSTATE class 22.
_CLIENT_DATA_ERROR = asyncpg.exceptions._base.DataError


@contextmanager
def refused_input_as_domain_errors() -> Iterator[None]:
    """A backstop: input the database refuses becomes a 4xx, never a 500.

    Input is validated before it reaches SQL; this catches what slipped past (logged, so it
    gets fixed at its source) and unique violations from races (two requests creating the same
    row at once), which no check before the INSERT can rule out.
    """
    try:
        yield
    except asyncpg.UniqueViolationError:
        log.info("unique violation from a concurrent request", exc_info=True)
        raise Conflict("The record was changed by another request; try again") from None
    except (_CLIENT_DATA_ERROR, asyncpg.DataError, asyncpg.CheckViolationError):
        log.warning("the database refused a value that validation let through", exc_info=True)
        raise ValidationError("a value is malformed or out of range") from None
    except asyncpg.ForeignKeyViolationError:
        log.warning("a reference to a missing record reached the database", exc_info=True)
        raise NotFound() from None


def _encode_json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("jsonb", "json"):
        await conn.set_type_codec(
            kind, encoder=_encode_json, decoder=orjson.loads, schema="pg_catalog"
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Reset a connection returned to the pool: nothing beyond asyncpg's own step (roll back an
    open transaction, drop listener callbacks).

    asyncpg's default also runs `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`,
    a round trip on every release: about one per inbox request (bench/inbox.py). This code
    never leaves session state on a pooled connection (no SET, no session advisory locks, no
    cursors outside transactions; `run_woken` UNLISTENs itself), so there is nothing to undo.
    """


class Database:
    """A connection pool to one PostgreSQL database."""

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 10) -> None:
        self.url = url
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None

    async def connect(self) -> None:
        # statement_cache_size stays at the default; set FEDIVERSE_DATABASE_URL with
        # ?statement_cache_size=0 behind PgBouncer in transaction mode.
        self._pool = await asyncpg.create_pool(
            self.url,
            min_size=self._min_size,
            max_size=self._max_size,
            init=_init_connection,
            reset=_keep_session,
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("Database.connect() was not called")
        return self._pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection inside one transaction, committed when the block ends without error."""
        with refused_input_as_domain_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                yield conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection in autocommit mode, for reads that need no transaction."""
        with refused_input_as_domain_errors():
            async with self.pool.acquire() as conn:
                yield conn
