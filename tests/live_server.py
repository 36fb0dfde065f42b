"""A real `fediverse serve` process on loopback, for end-to-end tests with real HTTP clients.

`start_live_server` runs the actual command line (migrations, first-admin creation, uvicorn) as
a subprocess against a test database, waits for `/health`, and `stop` ends it with SIGTERM.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_SECONDS = 30.0
SHUTDOWN_TIMEOUT_SECONDS = 15.0


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A running server: where it answers, its settings, and what it printed."""

    process: subprocess.Popen[str]
    port: int
    database_url: str
    data_dir: Path
    _lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.domain}"

    @property
    def output(self) -> str:
        """Everything the process printed so far (stdout and stderr together)."""
        return "".join(self._lines)

    def _printed(self, label: str) -> str | None:
        match = re.search(rf"^\s*{label}:\s*(\S+)\s*$", self.output, re.MULTILINE)
        return match.group(1) if match else None

    @property
    def admin_email(self) -> str | None:
        """The first admin's email, printed once when the database was empty."""
        return self._printed("email")

    @property
    def admin_password(self) -> str | None:
        return self._printed("password")

    @property
    def admin_username(self) -> str | None:
        return self._printed("username")

    def stop(self) -> int:
        """SIGTERM, then wait for a clean exit; returns the exit code (kills if it hangs)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(
                    f"server did not stop within {SHUTDOWN_TIMEOUT_SECONDS}s of SIGTERM\n"
                    + self.output
                ) from None
        if self._reader is not None:
            self._reader.join(timeout=5)
        return int(self.process.returncode)


def _pump(stream: object, lines: list[str]) -> None:
    # Read in a thread so a chatty server never blocks on a full pipe.
    for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
        lines.append(line)


def start_live_server(
    database_url: str,
    *,
    port: int | None = None,
    data_dir: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> LiveServer:
    """Start `python -m fediverse.cli serve` and return once `/health` answers."""
    port = port or free_port()
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="fediverse-live-"))
    env = dict(os.environ)
    env.update(
        {
            "FEDIVERSE_DATABASE_URL": database_url,
            "FEDIVERSE_DOMAIN": f"127.0.0.1:{port}",
            "FEDIVERSE_SCHEME": "http",
            "FEDIVERSE_DATA_DIR": str(data_dir),
            "FEDIVERSE_SECRET_KEY": "test",
            "FEDIVERSE_ALLOW_PRIVATE_NETWORKS": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("FEDIVERSE_CONFIG", None)
    env.update(extra_env or {})
    command = [sys.executable, "-m", "fediverse.cli", "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        bufsize=1,
    )
    server = LiveServer(process=process, port=port, database_url=database_url, data_dir=data_dir)
    server._reader = threading.Thread(
        target=_pump, args=(process.stdout, server._lines), daemon=True
    )
    server._reader.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            server._reader.join(timeout=5)
            raise RuntimeError(
                f"fediverse serve exited with {process.returncode} before answering:\n"
                + server.output
            )
        try:
            if httpx.get(f"{server.base_url}/health", timeout=1.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(
                f"fediverse serve did not answer /health within {STARTUP_TIMEOUT_SECONDS}s:\n"
                + server.output
            )
        time.sleep(0.1)
