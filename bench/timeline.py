"""Home timeline benchmark: 10k accounts x 200 follows, 1M statuses, real HTTP against `serve`.

Seeds a fresh database with COPY, starts `python -m fediverse.cli serve` (uvloop + httptools)
against it, then times sequential keep-alive requests to GET /api/v1/timelines/home for several
user classes, and to GET /api/v1/instance as the baseline in the same run. Not run in CI.

    python bench/timeline.py                 # full scale (a few minutes of seeding)
    python bench/timeline.py --scale 0.05    # quick check that everything works
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fediverse import auth  # noqa: E402
from fediverse.storage import migrations  # noqa: E402
from fediverse.storage.embedded_postgres import EmbeddedPostgres, url_for_database  # noqa: E402

DATABASE = "fediverse_bench"
DOMAIN_BASE = "http://bench.local"
FOLLOWS_PER_USER = 200
QUIET_FOLLOWS = 20
DORMANT_POSTS_EACH = 5
CHUNK = 50_000


@dataclass
class World:
    account_ids: list[int]
    dormant: list[int]
    active: list[int]
    busy_users: list[int]
    quiet_users: list[int]
    typical_users: list[int]
    status_ids: list[int]


def snowflake(moment_ms: int, sequence: int) -> int:
    return (moment_ms << 16) | (sequence & 0xFFFF)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


async def copy(
    conn: asyncpg.Connection, table: str, columns: list[str], rows: Iterator[tuple]
) -> int:
    total = 0
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= CHUNK:
            await conn.copy_records_to_table(table, records=batch, columns=columns)
            total += len(batch)
            batch = []
    if batch:
        await conn.copy_records_to_table(table, records=batch, columns=columns)
        total += len(batch)
    return total


async def seed(url: str, scale: float, rng: random.Random) -> World:
    n_accounts = max(300, int(10_000 * scale))
    n_statuses = max(20_000, int(1_000_000 * scale))
    n_dormant = max(40, n_accounts // 20)
    n_special = max(30, n_accounts // 100)
    follows_each = min(FOLLOWS_PER_USER, n_accounts // 2)

    first_id = 10_000
    account_ids = list(range(first_id, first_id + n_accounts))
    dormant = account_ids[:n_dormant]
    active = account_ids[n_dormant:]
    users = account_ids[n_dormant:]
    rng.shuffle(users)
    busy_users = users[:n_special]
    quiet_users = users[n_special : 2 * n_special]
    typical_users = users[2 * n_special : 4 * n_special]

    conn = await asyncpg.connect(url)
    try:
        # Per-row triggers (counters, foreign keys) are skipped for the bulk load; the counters
        # are recomputed below in one statement.
        await conn.execute("SET session_replication_role = replica")
        created = datetime.now(UTC) - timedelta(days=400)
        log(f"seeding {n_accounts:,} accounts")
        await copy(
            conn,
            "accounts",
            ["id", "username", "uri", "url", "created_at"],
            (
                (aid, f"u{aid}", f"{DOMAIN_BASE}/users/u{aid}", f"{DOMAIN_BASE}/@u{aid}", created)
                for aid in account_ids
            ),
        )
        await copy(
            conn,
            "users",
            ["id", "account_id", "email", "password_hash"],
            ((aid, aid, f"u{aid}@bench.local", "x") for aid in account_ids),
        )

        log("seeding follows")
        follow_rows: list[tuple[int, int, int]] = []
        next_follow = 1
        special = set(busy_users) | set(quiet_users)
        for aid in account_ids:
            if aid in special:
                continue
            for target in [t for t in rng.sample(account_ids, follows_each + 1) if t != aid][
                :follows_each
            ]:
                follow_rows.append((next_follow, aid, target))
                next_follow += 1
        for aid in busy_users:
            for target in [t for t in rng.sample(active, follows_each + 1) if t != aid][
                :follows_each
            ]:
                follow_rows.append((next_follow, aid, target))
                next_follow += 1
        for aid in quiet_users:
            for target in rng.sample(dormant, QUIET_FOLLOWS):
                follow_rows.append((next_follow, aid, target))
                next_follow += 1
        await copy(
            conn,
            "follows",
            ["id", "account_id", "target_account_id", "created_at"],
            ((fid, a, t, created) for fid, a, t in follow_rows),
        )
        log(f"  {len(follow_rows):,} follows")

        log(f"seeding {n_statuses:,} statuses")
        end_ms = int(datetime.now(UTC).timestamp() * 1000) - 60_000
        start_ms = end_ms - 180 * 86_400_000
        step = (end_ms - start_ms) // n_statuses
        status_ids: list[int] = []
        authors: list[int] = []
        roots: list[int] = []
        public_originals: list[int] = []
        reblogged: set[tuple[int, int]] = set()
        n_dormant_posts = n_dormant * DORMANT_POSTS_EACH

        def statuses() -> Iterator[tuple]:
            for i in range(n_statuses):
                moment_ms = start_ms + i * step
                sid = snowflake(moment_ms, i)
                author = dormant[i % n_dormant] if i < n_dormant_posts else rng.choice(active)
                created_at = datetime.fromtimestamp(moment_ms / 1000, UTC)
                roll = rng.random()
                reply_to = reply_account = root = reblog_of = None
                visibility = "public"
                text = f"Status {i} by u{author}: a short line of ordinary text."
                if i > 1000 and i >= n_dormant_posts and roll < 0.10:
                    parent = rng.randrange(max(0, len(status_ids) - 1000), len(status_ids))
                    reply_to = status_ids[parent]
                    reply_account = authors[parent]
                    root = roots[parent] or reply_to
                elif i > 1000 and i >= n_dormant_posts and roll < 0.13 and public_originals:
                    candidate = public_originals[rng.randrange(len(public_originals))]
                    if (author, candidate) not in reblogged:
                        reblogged.add((author, candidate))
                        reblog_of = candidate
                        text = ""
                if reblog_of is None:
                    visibility = rng.choices(
                        ("public", "unlisted", "private"), weights=(75, 15, 10)
                    )[0]
                status_ids.append(sid)
                authors.append(author)
                roots.append(root or 0)
                if visibility == "public" and reblog_of is None and reply_to is None:
                    public_originals.append(sid)
                    if len(public_originals) > 5000:
                        public_originals.pop(0)
                yield (
                    sid,
                    f"{DOMAIN_BASE}/users/u{author}/statuses/{sid}",
                    None if reblog_of else f"{DOMAIN_BASE}/@u{author}/{sid}",
                    author,
                    text,
                    f"<p>{text}</p>" if text else "",
                    text,
                    visibility,
                    reply_to,
                    reply_account,
                    root,
                    reblog_of,
                    created_at,
                    created_at,
                )

        await copy(
            conn,
            "statuses",
            [
                "id",
                "uri",
                "url",
                "account_id",
                "text",
                "content",
                "search_text",
                "visibility",
                "in_reply_to_id",
                "in_reply_to_account_id",
                "thread_root_id",
                "reblog_of_id",
                "created_at",
                "updated_at",
            ],
            statuses(),
        )
        await conn.execute("SET session_replication_role = DEFAULT")

        log("recomputing counters")
        await conn.execute("INSERT INTO account_stats (account_id) SELECT id FROM accounts")
        await conn.execute(
            """
            UPDATE account_stats st SET
                statuses_count = coalesce(s.n, 0), posts_count = coalesce(s.posts, 0),
                last_status_at = s.last,
                following_count = coalesce(fo.n, 0), followers_count = coalesce(fr.n, 0)
            FROM accounts a
            LEFT JOIN (SELECT account_id, count(*) AS n, max(created_at) AS last,
                              count(*) FILTER (WHERE reblog_of_id IS NULL) AS posts
                       FROM statuses GROUP BY account_id) s ON s.account_id = a.id
            LEFT JOIN (SELECT account_id, count(*) AS n FROM follows GROUP BY account_id) fo
                ON fo.account_id = a.id
            LEFT JOIN (SELECT target_account_id, count(*) AS n FROM follows
                       GROUP BY target_account_id) fr ON fr.target_account_id = a.id
            WHERE st.account_id = a.id
            """
        )
        log("vacuum analyze")
        for table in ("accounts", "account_stats", "users", "follows", "statuses"):
            await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()
    return World(
        account_ids=account_ids,
        dormant=dormant,
        active=active,
        busy_users=busy_users,
        quiet_users=quiet_users,
        typical_users=typical_users,
        status_ids=status_ids,
    )


async def issue_tokens(url: str, account_ids: list[int]) -> dict[int, str]:
    conn = await asyncpg.connect(url)
    try:
        tokens = {}
        async with conn.transaction():
            for aid in account_ids:
                tokens[aid], _ = await auth.issue_token(
                    conn, application_id=None, user_id=aid, scopes="read"
                )
        return tokens
    finally:
        await conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(url: str, port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        FEDIVERSE_DATABASE_URL=url,
        FEDIVERSE_DATA_DIR=str(data_dir),
        FEDIVERSE_DOMAIN=f"127.0.0.1:{port}",
        FEDIVERSE_SCHEME="http",
    )
    command = [sys.executable, "-m", "fediverse.cli", "serve", "--port", str(port)]
    command += ["--no-workers", "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
        if process.poll() is not None:
            raise SystemExit("the server exited during start-up")
    process.terminate()
    raise SystemExit("the server did not answer /health within 60 s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_cpu_seconds(database: str) -> dict[int, float]:
    """CPU time of each local PostgreSQL backend serving `database`, by pid (empty when none
    are visible, e.g. a remote server)."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if title.startswith("postgres: ") and f" {database} " in title:
                found[int(entry.name)] = cpu_seconds(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def backend_cpu_since(before: dict[int, float], database: str) -> float:
    # Per pid: a backend that exits (the pool retires idle connections) takes its total with
    # it, which would otherwise read as negative time.
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in backend_cpu_seconds(database).items())


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Result:
    name: str
    p50: float
    p99: float
    empty: int
    # CPU per request (ms): the server process and its PostgreSQL backends. Unlike latency,
    # these barely move when other work shares the machine.
    server_cpu: float = float("nan")
    db_cpu: float = float("nan")
    load: float = float("nan")


def measure(
    client: httpx.Client,
    name: str,
    requests: list[tuple[str, dict[str, str]]],
    server_pid: int | None = None,
) -> Result:
    timings = []
    empty = 0
    cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
    db_before = backend_cpu_seconds(DATABASE)
    for path, headers in requests:
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{name}: {path} answered {response.status_code}: {response.text}")
        if response.content in (b"[]", b""):
            empty += 1
    timings.sort()
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    per_request = 1000 / max(1, len(requests))
    return Result(
        name=name,
        p50=statistics.median(timings),
        p99=p99,
        empty=empty,
        server_cpu=(cpu_seconds(server_pid) - cpu_before) * per_request if server_pid else 0.0,
        db_cpu=backend_cpu_since(db_before, DATABASE) * per_request,
        load=os.getloadavg()[0],
    )


def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="fediverse-bench-"))
    embedded: EmbeddedPostgres | None = None
    external = os.environ.get("FEDIVERSE_DATABASE_URL")
    if external:
        server_url = url_for_database(external, "postgres")
    else:
        embedded = EmbeddedPostgres(workdir)
        server_url = embedded.start()
    url = url_for_database(server_url, DATABASE)
    process: subprocess.Popen[bytes] | None = None
    try:

        async def fresh() -> None:
            conn = await asyncpg.connect(server_url)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
                await conn.execute(f'CREATE DATABASE "{DATABASE}"')
            finally:
                await conn.close()

        asyncio.run(fresh())
        migrations.upgrade(url)
        started = time.monotonic()
        world = asyncio.run(seed(url, args.scale, rng))
        log(f"seeded in {time.monotonic() - started:.0f} s")
        sampled = world.busy_users + world.quiet_users + world.typical_users
        tokens = asyncio.run(issue_tokens(url, sampled))

        port = free_port()
        process = start_server(url, port, workdir / "data")
        log(f"server pid {process.pid} on port {port}")
        n = args.requests
        ids_sorted = world.status_ids  # ascending by construction

        def home(users: list[int], deep: bool = False) -> list[tuple[str, dict[str, str]]]:
            result = []
            for i in range(n):
                user = users[i % len(users)]
                path = "/api/v1/timelines/home?limit=20"
                if deep:
                    # A cursor somewhere in the older 90% of the table.
                    max_id = ids_sorted[
                        rng.randrange(len(ids_sorted) // 20, len(ids_sorted) * 9 // 10)
                    ]
                    path += f"&max_id={max_id}"
                result.append((path, {"Authorization": f"Bearer {tokens[user]}"}))
            return result

        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            log("warming up")
            measure(client, "warm-up", home(sampled)[:300])
            measure(client, "warm-up", [("/api/v1/instance", {})] * 20)
            load_before = os.getloadavg()[0]
            pid = process.pid
            results = [
                measure(client, "instance (baseline)", [("/api/v1/instance", {})] * n, pid),
                # Not a target: the cheapest route, to show the HTTP floor beside the baseline.
                measure(client, "health (HTTP floor)", [("/health", {})] * n, pid),
                measure(client, "home: typical (200 follows)", home(world.typical_users), pid),
                measure(client, "home: busy (200 active)", home(world.busy_users), pid),
                measure(client, "home: quiet (20 dormant)", home(world.quiet_users), pid),
                measure(client, "home: deep max_id (busy)", home(world.busy_users, deep=True), pid),
                measure(
                    client,
                    "home: deep max_id (typical)",
                    home(world.typical_users, deep=True),
                    pid,
                ),
            ]
        rss = rss_mb(process.pid)
        baseline = results[0]
        print()
        print(
            f"scale {args.scale}: {len(world.account_ids):,} accounts, "
            f"{len(world.status_ids):,} statuses, {n} requests per case, sequential keep-alive"
        )
        # Latency depends on what else runs on the machine; the load average (1 min, taken
        # after each case) and the CPU each request cost say how comparable a run is.
        print(
            f"{'case':32} {'p50 ms':>8} {'p99 ms':>8} {'p50/base':>9} {'p99/base':>9} {'empty':>6}"
            f" {'srv cpu':>8} {'db cpu':>7} {'load':>5}"
        )
        for r in results:
            print(
                f"{r.name:32} {r.p50:8.2f} {r.p99:8.2f} {r.p50 / baseline.p50:9.2f} "
                f"{r.p99 / baseline.p99:9.2f} {r.empty:6d} {r.server_cpu:8.2f} {r.db_cpu:7.2f}"
                f" {r.load:5.2f}"
            )
        print(
            f"cpu columns: ms per request; load average before the cases {load_before:.2f} "
            f"on {os.cpu_count()} CPUs"
        )
        print(f"server RSS at the end: {rss:.1f} MB (pid {process.pid})")
        homes = [r for r in results if r.name.startswith("home")]
        worst = max(r.p99 for r in homes)
        worst_ratio = max(r.p50 / baseline.p50 for r in homes)
        print(
            f"targets: home p99 < 25 ms -> {'PASS' if worst < 25 else 'FAIL'} ({worst:.2f}); "
            f"p50 within 3x baseline -> {'PASS' if worst_ratio <= 3 else 'FAIL'} "
            f"({worst_ratio:.2f}x); RSS < 150 MB -> {'PASS' if rss < 150 else 'FAIL'}"
        )
        return 0
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        if embedded is not None:
            embedded.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 10k accounts, 1M posts")
    parser.add_argument("--requests", type=int, default=1000, help="requests per case")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
