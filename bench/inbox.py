"""Inbox ingest benchmark: 5,000 pre-signed Create{Note} to the shared inbox over real HTTP.

500 remote actors (keys already stored) post ~2 KB public Notes addressed to their followers;
local accounts follow them, so every note belongs in someone's home timeline. The real server
runs against a fresh database, in two layouts, one after the other (`--layout`):
  one: `python -m fediverse.cli serve` alone, its queue workers in-process (the default
       `serve`; one Python process does everything);
  two: `serve --no-workers` plus one `fediverse worker` process (the scale-out layout of the
       README: web and queue workers as separate processes).
A bare asyncio HTTP/1.1 client
(requests built beforehand, keep-alive) posts at concurrency 16. Reported: accepted/s (2xx)
and processed/s (from the first request until every note is a stored status), beside the
baseline measured in the same run on the same database: bare single-row autocommit INSERTs
of the same JSON into a scratch table, from this process.
Target: processed/s >= 40% of that baseline. Duplicates (2%) must create nothing. Not run in CI.

    python bench/inbox.py                  # full size, both layouts
    python bench/inbox.py --layout two     # one layout only
    python bench/inbox.py --activities 500 --actors 50   # quick check
    python bench/inbox.py --phases         # accepting and draining apart, to see the costs
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BenchDatabase,
    Figure,
    actor_document,
    cpu_seconds,
    create_local_accounts,
    free_port,
    fresh_database,
    insert_follows,
    log,
    postgres_cpu_seconds,
    report,
    rss_mb,
    server_env,
    start_profiler,
    start_server,
    start_worker,
    stop_process,
    stop_profiler,
    store_actors,
)

from federation.keys import generate_keypair
from federation.signatures import sign_cavage

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
LOREM = (
    "Federated timelines carry ordinary words from one server to another; this sentence is "
    "only here to give the note a realistic length and a little <em>markup</em>. "
)


@dataclass
class Prepared:
    body: bytes
    headers: dict[str, str]
    note_uri: str


def note_activity(actor: str, number: int, now: str) -> dict:
    note_id = f"{actor}/statuses/{number}"
    content = "<p>" + f"Note {number}. " + LOREM * 3 + "</p>"
    return {
        "@context": [
            "https://www.w3.org/ns/activitystreams",
            {"sensitive": "as:sensitive", "Hashtag": "as:Hashtag"},
        ],
        "id": f"{note_id}/activity",
        "type": "Create",
        "actor": actor,
        "published": now,
        "to": [PUBLIC],
        "cc": [f"{actor}/followers"],
        "object": {
            "id": note_id,
            "type": "Note",
            "summary": None,
            "inReplyTo": None,
            "published": now,
            "url": f"{actor.replace('/users/', '/@')}/{number}",
            "attributedTo": actor,
            "to": [PUBLIC],
            "cc": [f"{actor}/followers"],
            "sensitive": False,
            "content": content,
            "contentMap": {"en": content},
            "attachment": [],
            "tag": [],
            "replies": {"id": f"{note_id}/replies", "type": "Collection", "totalItems": 0},
        },
    }


def prepare(
    inbox_url: str,
    actors: list[tuple[str, str]],
    count: int,
    duplicates: int,
    rng: random.Random,
) -> list[Prepared]:
    """Signed requests (Date now, within the verification window), duplicates mixed in."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    prepared = []
    for number in range(count):
        actor, private_pem = actors[number % len(actors)]
        body = orjson.dumps(note_activity(actor, number, now))
        headers = sign_cavage(
            "POST", inbox_url, body, key_id=f"{actor}#main-key", private_key_pem=private_pem
        )
        headers["Content-Type"] = "application/activity+json"
        prepared.append(Prepared(body, headers, f"{actor}/statuses/{number}"))
    # A redelivery repeats an earlier request, placed later in the stream.
    for _ in range(duplicates):
        original = rng.randrange(count // 2)
        prepared.insert(rng.randrange(original + 1, len(prepared) + 1), prepared[original])
    return prepared


async def baseline_inserts(url: str, bodies: list[bytes]) -> float:
    """Bare single-row autocommit INSERTs of the same JSON, one connection: rows/s."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_scratch (id bigserial PRIMARY KEY, body jsonb)"
        )
        statement = await conn.prepare("INSERT INTO bench_scratch (body) VALUES ($1::jsonb)")
        texts = [body.decode() for body in bodies]
        started = time.perf_counter()
        for text in texts:
            await statement.fetch(text)
        elapsed = time.perf_counter() - started
        await conn.execute("DROP TABLE bench_scratch")
    finally:
        await conn.close()
    return len(bodies) / elapsed


def _request_bytes(item: Prepared) -> bytes:
    """The whole HTTP/1.1 request, built once: the load generator only writes it."""
    head = "POST /inbox HTTP/1.1\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in item.headers.items()
    )
    head += f"Content-Length: {len(item.body)}\r\n\r\n"
    return head.encode() + item.body


async def post_all(
    base: str, prepared: list[Prepared], concurrency: int
) -> tuple[list[int], list[float], float]:
    """POST everything at `concurrency` keep-alive connections; (status codes, latencies in ms,
    seconds taken). A bare asyncio HTTP/1.1 client with requests built beforehand: on two
    cores the load generator competes with the server for CPU, and aiohttp's client cost
    ~0.18 ms per request, a tenth of what the server and PostgreSQL spend (see --phases)."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    requests = [_request_bytes(item) for item in prepared]
    statuses: list[int] = [0] * len(prepared)
    latencies: list[float] = [0.0] * len(prepared)
    position = 0

    async def worker() -> None:
        nonlocal position
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while position < len(requests):
                index = position
                position += 1
                started = time.perf_counter()
                writer.write(requests[index])
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                statuses[index] = int(lines[0].split()[1])
                latencies[index] = (time.perf_counter() - started) * 1000
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses, latencies, time.perf_counter() - started


async def count_remote_statuses(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM statuses WHERE NOT local"))


async def timed_run(
    url: str, base: str, prepared: list[Prepared], expected: int, args: argparse.Namespace
) -> dict[str, float]:
    poll = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        posting = asyncio.create_task(post_all(base, prepared, args.concurrency))
        processed_at = None
        deadline = started + args.timeout
        while time.perf_counter() < deadline:
            if await count_remote_statuses(poll) >= expected:
                processed_at = time.perf_counter()
                break
            await asyncio.sleep(0.05)  # each poll is a count(*) on PostgreSQL: keep it rare
        codes, latencies, post_seconds = await posting
        if processed_at is None:
            stored = await count_remote_statuses(poll)
            raise SystemExit(f"only {stored}/{expected} statuses after {args.timeout} s")
    finally:
        await poll.close()
    accepted = sum(1 for code in codes if 200 <= code < 300)
    if accepted != len(prepared):
        others = sorted({code for code in codes if not 200 <= code < 300})
        raise SystemExit(f"{len(prepared) - accepted} requests were refused: {others}")
    latencies.sort()
    return {
        "accepted_per_s": accepted / post_seconds,
        "processed_per_s": expected / (processed_at - started),
        "post_seconds": post_seconds,
        "processed_seconds": processed_at - started,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[int(len(latencies) * 0.99)],
    }


async def database_work(url: str) -> tuple[int, list[tuple[str, int, int, int, int]]]:
    """Commits so far, and rows written per table (inserted, updated, HOT-updated, deleted)."""
    conn = await asyncpg.connect(url)
    try:
        commits = await conn.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
        rows = await conn.fetch(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del "
            "FROM pg_stat_user_tables ORDER BY relname"
        )
    finally:
        await conn.close()
    return int(commits), [tuple(row) for row in rows]


async def check_effects(url: str, base: str, token: str, expected: int) -> list[str]:
    """Duplicates created nothing, nothing failed, and a follower's home timeline shows notes."""
    problems = []
    conn = await asyncpg.connect(url)
    try:
        statuses = await count_remote_statuses(conn)
        distinct = await conn.fetchval("SELECT count(DISTINCT uri) FROM statuses WHERE NOT local")
        activities = await conn.fetchval("SELECT count(*) FROM inbox_activities")
        failed = await conn.fetchval(
            "SELECT count(*) FROM inbox_activities WHERE last_error IS NOT NULL"
        )
    finally:
        await conn.close()
    if statuses != expected or distinct != expected:
        problems.append(f"{statuses} statuses ({distinct} distinct), expected {expected}")
    if activities != expected:
        problems.append(f"{activities} stored activities, expected {expected}")
    if failed:
        problems.append(f"{failed} activities recorded an error")
    async with aiohttp.ClientSession() as session:
        async with session.get(
            f"{base}/api/v1/timelines/home?limit=20",
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            timeline = await response.json()
    if response.status != 200 or not timeline:
        problems.append(f"home timeline of a follower is empty ({response.status})")
    elif any(entry["account"]["acct"].count("@") != 1 for entry in timeline):
        problems.append("home timeline shows statuses that are not from followed peers")
    return problems


def seed(
    db: BenchDatabase, args: argparse.Namespace, rng: random.Random, port: int
) -> tuple[list[tuple[int, str]], list[Prepared], int]:
    """Remote actors with known keys, local accounts following them, the signed requests.
    Returns (local accounts as (id, token), prepared requests, duplicates among them)."""
    base = f"http://127.0.0.1:{port}"
    log(f"generating {args.keys} key pairs for {args.actors} actors")
    keys = [generate_keypair() for _ in range(args.keys)]
    actors: list[tuple[str, str]] = []
    documents = []
    for index in range(args.actors):
        host = f"peer{index % args.hosts:03d}.example"
        uri = f"https://{host}/users/a{index}"
        private_pem, public_pem = keys[index % len(keys)]
        actors.append((uri, private_pem))
        documents.append(
            actor_document(
                uri, f"a{index}", shared_inbox=f"https://{host}/inbox", public_pem=public_pem
            )
        )
    account_ids = asyncio.run(store_actors(db.url, documents))
    local = asyncio.run(
        create_local_accounts(
            db.url,
            f"127.0.0.1:{port}",
            [f"local{i}" for i in range(args.locals)],
            keypair=keys[0],
        )
    )
    remote_ids = [account_ids[uri] for uri, _ in actors]
    pairs = []
    for local_id, _ in local:
        for remote_id in rng.sample(remote_ids, min(args.follows, len(remote_ids))):
            pairs.append((local_id, remote_id))
    asyncio.run(insert_follows(db.url, pairs))
    followed = len({remote for _, remote in pairs})
    log(
        f"seeded {len(actors)} actors on {args.hosts} hosts, {len(local)} local accounts, "
        f"{len(pairs)} follows ({followed} actors followed)"
    )

    duplicates = int(args.activities * args.duplicate_share)
    log(f"signing {args.activities} activities (+{duplicates} duplicates)")
    prepared = prepare(f"{base}/inbox", actors, args.activities, duplicates, rng)
    size = statistics.mean(len(p.body) for p in prepared)
    log(f"mean body {size:.0f} bytes")

    return local, prepared, duplicates


def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    with fresh_database("fediverse_bench_inbox", keep=args.keep) as db:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        local, prepared, duplicates = seed(db, args, rng, port)
        env = server_env(db.url, db.workdir / "data", port)
        server = worker = None
        try:
            server = start_server(env, port, workers=not args.separate_worker)
            if args.separate_worker:
                worker = start_worker(env)
            rss_before = rss_mb(server.pid)
            log(f"server pid {server.pid} on {base}, RSS {rss_before:.0f} MB")
            log("baseline: single-row autocommit INSERTs of the same JSON")
            unique_bodies = [p.body for p in prepared[: args.activities]]
            baseline = asyncio.run(baseline_inserts(db.url, unique_bodies))
            log(f"  {baseline:,.0f} rows/s")
            log(f"posting {len(prepared)} requests at concurrency {args.concurrency}")
            profiler = start_profiler(args.py_spy, server.pid)
            pids = [server.pid] + ([worker.pid] if worker else [])
            cpu_before = sum(cpu_seconds(pid) for pid in pids)
            pg_before = postgres_cpu_seconds(db.workdir)
            commits_before, _ = asyncio.run(database_work(db.url))
            result = asyncio.run(timed_run(db.url, base, prepared, args.activities, args))
            app_cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
            pg_cpu = postgres_cpu_seconds(db.workdir) - pg_before
            # Statistics reach the views lazily (up to seconds): the rows are approximate.
            time.sleep(1.5)
            commits_after, table_writes = asyncio.run(database_work(db.url))
            log(
                f"  accepted in {result['post_seconds']:.2f} s (p50 {result['p50_ms']:.1f} ms, "
                f"p99 {result['p99_ms']:.1f} ms); all stored after "
                f"{result['processed_seconds']:.2f} s"
            )
            stop_profiler(profiler)
            baseline_after = asyncio.run(baseline_inserts(db.url, unique_bodies))
            log(f"baseline again after the run: {baseline_after:,.0f} rows/s")
            # Other processes on the machine move both; the mean of the two brackets the run.
            baseline = (baseline + baseline_after) / 2
            rss_after = rss_mb(server.pid)
            problems = asyncio.run(check_effects(db.url, base, local[0][1], args.activities))
        finally:
            stop_process(worker)
            stop_process(server)

    mode = (
        "layout two: serve --no-workers + worker"
        if args.separate_worker
        else "layout one: serve, workers in-process"
    )
    figures = [
        Figure(
            "accepted/s (2xx)",
            result["accepted_per_s"],
            "single-row INSERT/s",
            baseline,
            "/s",
        ),
        Figure(
            "processed/s (stored statuses)",
            result["processed_per_s"],
            "single-row INSERT/s",
            baseline,
            "/s",
            target=">= 0.40",
            passed=result["processed_per_s"] >= 0.4 * baseline,
        ),
    ]
    report(
        f"inbox: {args.activities} Create(Note) + {duplicates} duplicates, {args.actors} "
        f"actors, concurrency {args.concurrency}, {mode}",
        figures,
    )
    print(
        f"app CPU (server{' + worker' if args.separate_worker else ''}): {app_cpu:.2f} s, "
        f"{1000 * app_cpu / args.activities:.2f} ms per activity; PostgreSQL CPU {pg_cpu:.2f} s, "
        f"{1000 * pg_cpu / args.activities:.2f} ms per activity"
    )
    per = args.activities
    print(
        f"database: {(commits_after - commits_before) / per:.1f} commits per activity; rows "
        "written per activity (insert/update/hot/delete): "
        + ", ".join(
            f"{name} {ins / per:.1f}/{upd / per:.1f}/{hot / per:.1f}/{dele / per:.1f}"
            for name, ins, upd, hot, dele in table_writes
            if name != "bench_scratch" and (ins + upd + dele) >= per // 2
        )
    )
    print(f"request latency p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms")
    print(f"server RSS {rss_before:.0f} MB before, {rss_after:.0f} MB after")
    print("duplicates and home timeline: " + ("OK" if not problems else "; ".join(problems)))
    return 1 if problems else 0


def run_phases(args: argparse.Namespace) -> int:
    """The two halves apart, to see where time goes: first every request accepted with no
    worker running (`serve --no-workers`), then one `fediverse worker` draining the queue
    alone (timed from the first stored status, so its start-up is not counted)."""
    rng = random.Random(args.seed)
    with fresh_database("fediverse_bench_inbox", keep=args.keep) as db:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        local, prepared, duplicates = seed(db, args, rng, port)
        env = server_env(db.url, db.workdir / "data", port)
        server = worker = None
        try:
            server = start_server(env, port, workers=False)
            unique_bodies = [p.body for p in prepared[: args.activities]]
            baseline = asyncio.run(baseline_inserts(db.url, unique_bodies))
            log(f"baseline {baseline:,.0f} rows/s; posting with no worker running")
            server_cpu, pg_cpu = cpu_seconds(server.pid), postgres_cpu_seconds(db.workdir)
            profiler = start_profiler(args.py_spy, server.pid)  # the accepting half only
            codes, _, post_seconds = asyncio.run(post_all(base, prepared, args.concurrency))
            stop_profiler(profiler)
            accept_cpu = cpu_seconds(server.pid) - server_cpu
            accept_pg = postgres_cpu_seconds(db.workdir) - pg_cpu
            if any(not 200 <= code < 300 for code in codes):
                raise SystemExit("some requests were refused")
            worker = start_worker(env)
            profiler = start_profiler(args.py_spy and args.py_spy + ".worker", worker.pid)
            drain_seconds, worker_cpu, drain_pg = asyncio.run(
                _drain(db, worker.pid, args.activities, args.timeout)
            )
            stop_profiler(profiler)
            problems = asyncio.run(check_effects(db.url, base, local[0][1], args.activities))
        finally:
            stop_process(worker)
            stop_process(server)
    per = args.activities
    report(
        f"inbox phases: {args.activities} Create(Note) + {duplicates} duplicates, "
        f"concurrency {args.concurrency}",
        [
            Figure(
                "accept only (no worker)",
                len(prepared) / post_seconds,
                "single-row INSERT/s",
                baseline,
                "/s",
            ),
            Figure(
                "drain only (one worker)",
                per / drain_seconds,
                "single-row INSERT/s",
                baseline,
                "/s",
            ),
        ],
    )
    print(
        f"accepting: server {1000 * accept_cpu / len(prepared):.2f} ms + PostgreSQL "
        f"{1000 * accept_pg / len(prepared):.2f} ms CPU per request; draining: worker "
        f"{1000 * worker_cpu / per:.2f} ms + PostgreSQL {1000 * drain_pg / per:.2f} ms CPU "
        "per activity"
    )
    print("duplicates and home timeline: " + ("OK" if not problems else "; ".join(problems)))
    return 1 if problems else 0


async def _drain(
    db: BenchDatabase, worker_pid: int, expected: int, limit_seconds: float
) -> tuple[float, float, float]:
    """(seconds from the first stored status to the last, worker CPU and PostgreSQL CPU in
    that time)."""
    conn = await asyncpg.connect(db.url)
    try:
        deadline = time.perf_counter() + limit_seconds
        while await count_remote_statuses(conn) == 0:
            if time.perf_counter() > deadline:
                raise SystemExit("the worker stored nothing")
            await asyncio.sleep(0.005)
        started = time.perf_counter()
        cpu, pg = cpu_seconds(worker_pid), postgres_cpu_seconds(db.workdir)
        while await count_remote_statuses(conn) < expected:
            if time.perf_counter() > deadline:
                raise SystemExit("the worker did not finish in time")
            await asyncio.sleep(0.05)  # each poll is a count(*) on PostgreSQL: keep it rare
        return (
            time.perf_counter() - started,
            cpu_seconds(worker_pid) - cpu,
            postgres_cpu_seconds(db.workdir) - pg,
        )
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activities", type=int, default=5000)
    parser.add_argument("--actors", type=int, default=500)
    parser.add_argument("--hosts", type=int, default=50, help="peer domains the actors live on")
    parser.add_argument(
        "--keys", type=int, default=50, help="distinct key pairs (RSA keygen is ~40 ms each)"
    )
    parser.add_argument("--locals", type=int, default=50, help="local accounts")
    parser.add_argument("--follows", type=int, default=40, help="peers each local account follows")
    parser.add_argument("--duplicate-share", type=float, default=0.02)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--layout", choices=["one", "two", "both"], default="both")
    parser.add_argument(
        "--phases", action="store_true", help="time accepting and draining apart (diagnosis)"
    )
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for all")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--py-spy",
        metavar="FILE",
        help="profile the server into FILE (collapsed stacks); with --phases, the worker too "
        "(FILE.worker)",
    )
    args = parser.parse_args()
    if args.phases:
        return run_phases(args)
    failed = 0
    for separate in {"one": [False], "two": [True], "both": [False, True]}[args.layout]:
        args.separate_worker = separate
        failed |= run(args)
    return failed


if __name__ == "__main__":
    sys.exit(main())
