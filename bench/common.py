"""What the federation benchmarks share: a fresh database on the embedded PostgreSQL, the real
server (and worker) as subprocesses, process RSS, and the figure-beside-baseline report.

Not run in CI. Every wait here is bounded in time.
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from federation.actors import parse_actor, store_remote_actor  # noqa: E402
from federation.keys import generate_keypair  # noqa: E402
from fediverse import auth, ids  # noqa: E402
from fediverse.accounts import create_local_account  # noqa: E402
from fediverse.config import load_settings  # noqa: E402
from fediverse.content import sanitize_html  # noqa: E402
from fediverse.storage import migrations  # noqa: E402
from fediverse.storage.database import Database  # noqa: E402
from fediverse.storage.embedded_postgres import EmbeddedPostgres, url_for_database  # noqa: E402
from fediverse.urls import LocalUrls  # noqa: E402


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class BenchDatabase:
    """A freshly migrated database, and the directory the benchmark may write into."""

    url: str
    workdir: Path


@contextmanager
def fresh_database(name: str, *, keep: bool = False) -> Iterator[BenchDatabase]:
    """A new, migrated database `name` on FEDIVERSE_DATABASE_URL's server if set, otherwise on
    an embedded PostgreSQL started in a temporary directory (stopped afterwards)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"fediverse-{name}-"))
    embedded: EmbeddedPostgres | None = None
    external = os.environ.get("FEDIVERSE_DATABASE_URL")
    if external:
        server_url = url_for_database(external, "postgres")
    else:
        embedded = EmbeddedPostgres(workdir)
        server_url = embedded.start()
    url = url_for_database(server_url, name)
    try:

        async def recreate() -> None:
            conn = await asyncpg.connect(server_url)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(recreate())
        migrations.upgrade(url)
        yield BenchDatabase(url=url, workdir=workdir)
    finally:
        if embedded is not None:
            embedded.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def server_env(database_url: str, data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """Environment for `serve`/`worker` on loopback over plain http."""
    env = dict(os.environ)
    env.update(
        FEDIVERSE_DATABASE_URL=database_url,
        FEDIVERSE_DATA_DIR=str(data_dir),
        FEDIVERSE_DOMAIN=f"127.0.0.1:{port}",
        FEDIVERSE_SCHEME="http",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def _log_file(env: dict[str, str], name: str) -> int:
    """The process's stderr goes to a file in its data directory, as a deployment's would."""
    path = Path(env["FEDIVERSE_DATA_DIR"]) / f"{name}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def start_server(
    env: dict[str, str], port: int, *, workers: bool = True, log_level: str = "warning"
) -> subprocess.Popen[bytes]:
    """`python -m fediverse.cli serve` (uvloop + httptools, one process) on 127.0.0.1:port,
    returned once /health answers (at most 60 s). Its log is data_dir/serve.log."""
    command = [sys.executable, "-m", "fediverse.cli", "serve", "--port", str(port)]
    command += ["--log-level", log_level]
    if not workers:
        command.append("--no-workers")
    stderr = _log_file(env, "serve")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    os.close(stderr)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
        if process.poll() is not None:
            raise SystemExit("the server exited during start-up")
    stop_process(process)
    raise SystemExit("the server did not answer /health within 60 s")


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`python -m fediverse.cli worker`: the queues in a process of their own."""
    command = [sys.executable, "-m", "fediverse.cli", "worker"]
    stderr = _log_file(env, "worker")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    os.close(stderr)
    return process


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU ({cpu}), Python {platform.python_version()}"


@dataclass
class Figure:
    """One measured figure beside the baseline it is judged against."""

    name: str
    value: float
    baseline_name: str
    baseline: float
    unit: str
    target: str = ""
    passed: bool | None = None

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("nan")


def report(title: str, figures: list[Figure]) -> None:
    print()
    print(f"== {title} ==  [{machine()}]")
    print(f"{'figure':34} {'value':>12} {'baseline':>34} {'ratio':>7}  target")
    for f in figures:
        verdict = "" if f.passed is None else ("PASS" if f.passed else "FAIL")
        baseline = f"{f.baseline:,.3f} {f.unit} ({f.baseline_name})"
        print(
            f"{f.name:34} {f.value:>8,.3f} {f.unit:3} {baseline:>34} {f.ratio:7.2f}  "
            f"{f.target} {verdict}"
        )


# --- seeding peers ------------------------------------------------------------------------------


def actor_document(uri: str, username: str, *, shared_inbox: str, public_pem: str) -> dict:
    """A minimal Mastodon-shaped Person, as a peer would serve it."""
    return {
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": uri,
        "type": "Person",
        "preferredUsername": username,
        "name": username.title(),
        "inbox": f"{uri}/inbox",
        "outbox": f"{uri}/outbox",
        "followers": f"{uri}/followers",
        "following": f"{uri}/following",
        "endpoints": {"sharedInbox": shared_inbox},
        "publicKey": {"id": f"{uri}#main-key", "owner": uri, "publicKeyPem": public_pem},
    }


async def store_actors(database_url: str, documents: list[dict]) -> dict[str, int]:
    """Store peers through the same code the inbox uses for a fetched actor (parse_actor →
    store_remote_actor), keys included; returns account ids by actor uri."""
    database = Database(database_url, min_size=1, max_size=1)
    await database.connect()
    found: dict[str, int] = {}
    try:
        async with database.transaction() as conn:
            now = datetime.now(UTC)
            for document in documents:
                account = await store_remote_actor(
                    conn, parse_actor(document), now=now, clean_html=sanitize_html
                )
                found[account.uri] = account.id
    finally:
        await database.close()
    return found


async def insert_follows(database_url: str, pairs: list[tuple[int, int]]) -> None:
    """(follower, followed) rows, through the counters' triggers like any follow."""
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.executemany(
                "INSERT INTO follows (id, account_id, target_account_id) VALUES ($1, $2, $3)",
                [(ids.new_id(), a, b) for a, b in pairs],
            )
    finally:
        await conn.close()


async def create_local_accounts(
    database_url: str, domain: str, usernames: list[str], keypair: tuple[str, str] | None = None
) -> list[tuple[int, str]]:
    """Local accounts with users and a `read write` token each: [(account id, token)].

    `keypair` (private, public PEM) is reused for all of them when given, since RSA key
    generation (~40 ms each) would dominate seeding; signing cost does not depend on it.
    """
    settings = load_settings({"FEDIVERSE_DOMAIN": domain, "FEDIVERSE_SCHEME": "http"})
    urls = LocalUrls(settings)
    database = Database(database_url, min_size=1, max_size=1)
    await database.connect()
    made: list[tuple[int, str]] = []
    try:
        async with database.transaction() as conn:
            for username in usernames:
                account, user = await create_local_account(
                    conn,
                    urls=urls,
                    username=username,
                    email=f"{username}@bench.local",
                    password="bench-password-123",
                    make_keypair=(lambda: keypair) if keypair else generate_keypair,
                )
                token, _ = await auth.issue_token(
                    conn, application_id=None, user_id=user.id, scopes="read write"
                )
                made.append((account.id, token))
    finally:
        await database.close()
    return made


def start_profiler(output: str | None, pid: int) -> subprocess.Popen[bytes] | None:
    """py-spy sampling `pid` into `output` (collapsed stacks) until stop_profiler."""
    if not output:
        return None
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    command = [py_spy, "record", "--pid", str(pid), "--format", "raw", "-o", output]
    command += ["--rate", "200", "--nonblocking"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return process


def stop_profiler(process: subprocess.Popen[bytes] | None) -> None:
    """py-spy writes its file on SIGINT."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (/proc/pid/stat). Under a loaded machine
    wall-clock ratios drift; CPU spent per unit of work does not."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds(workdir: Path) -> float:
    """CPU used by the embedded PostgreSQL so far: the postmaster, its reaped children (backends
    that ended) and its live children. NaN for an external server."""
    pid_file = workdir / "postgres" / "postmaster.pid"
    try:
        postmaster = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == postmaster:
            total += sum(int(value) for value in fields[11:15]) / tick  # own + reaped children
        elif ppid == postmaster:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total
