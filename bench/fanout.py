"""Fan-out benchmark: one post by a local account with 10,000 remote followers on 1,000 hosts.

Each remote host is a distinct loopback address (127.0.1.1, 127.0.1.2, ... all of 127.0.0.0/8
is loopback on Linux) on one port, so the delivery code sees 1,000 distinct domains with one
shared inbox each. One receiver process listens on all of them, checks that the Host header
names the address it was reached on, VERIFIES every signature with our account's public key
(federation.signatures.verify_request) and counts deliveries per shared inbox. The real server
(`python -m fediverse.cli serve`, uvloop + httptools, workers in-process) runs against a fresh
database with FEDIVERSE_ALLOW_PRIVATE_NETWORKS=true.

Measured: from POST /api/v1/statuses until every shared inbox has acknowledged its delivery,
against the time to sign 1,000 requests alone (sign_cavage with the same key) in the same run.
Target: within 3x of the sign-only time, exactly one delivery per shared inbox, bounded memory
(the server's RSS before and after). Not run in CI.

    python bench/fanout.py                        # 10,000 followers on 1,000 hosts, 3 posts
    python bench/fanout.py --followers 1000 --hosts 100 --posts 1   # quick check
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import asyncpg
import orjson
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Figure,
    actor_document,
    cpu_seconds,
    create_local_accounts,
    free_port,
    fresh_database,
    insert_follows,
    log,
    report,
    rss_mb,
    server_env,
    start_profiler,
    start_server,
    stop_process,
    stop_profiler,
    store_actors,
)

from federation.client import FederationClient
from federation.keys import generate_keypair
from federation.signatures import (
    RequestSigner,
    SignatureError,
    VerificationKey,
    sign_cavage,
    verify_request,
)
from fediverse.config import load_settings

RECEIVER_PORT = 9000


def host_address(index: int) -> str:
    """The loopback address of remote host `index`: 127.0.1.1 ... 127.0.4.250 for 1,000."""
    return f"127.0.{1 + index // 250}.{1 + index % 250}"


# --- the receiver process -----------------------------------------------------------------------


def run_receiver(args: argparse.Namespace) -> int:
    """Listen on every host's address; verify and count deliveries; /stats on the control port."""
    import uvloop

    key = VerificationKey(args.key_id, Path(args.key_file).read_text())
    counts: Counter[str] = Counter()
    failures: list[str] = []

    async def inbox(request: web.Request) -> web.Response:
        body = await request.read()
        host = request.headers.get("Host", "")
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        if sockname is None or host != f"{sockname[0]}:{sockname[1]}":
            failures.append(f"Host {host!r} reached on {sockname}")
            return web.Response(status=400)
        try:
            verify_request("POST", f"http://{host}/inbox", request.headers, body, key)
        except SignatureError as error:
            failures.append(f"{host}: {error}")
            return web.Response(status=401)
        counts[host] += 1
        return web.Response(status=202)

    async def stats(request: web.Request) -> web.Response:
        per_host = list(counts.values())
        return web.json_response(
            {
                "total": sum(per_host),
                "hosts": len(per_host),
                "max_per_host": max(per_host, default=0),
                "failures": len(failures),
                "first_failures": failures[:5],
            }
        )

    async def reset(request: web.Request) -> web.Response:
        counts.clear()
        failures.clear()
        return web.json_response({})

    async def main() -> None:
        app = web.Application(client_max_size=2 * 1024 * 1024)
        app.router.add_post("/inbox", inbox)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for index in range(args.hosts):
            await web.TCPSite(runner, host_address(index), RECEIVER_PORT, backlog=128).start()
        control = web.Application()
        control.router.add_get("/stats", stats)
        control.router.add_post("/reset", reset)
        control_runner = web.AppRunner(control, access_log=None)
        await control_runner.setup()
        await web.TCPSite(control_runner, "127.0.0.1", args.control_port).start()
        print("ready", flush=True)
        await asyncio.Event().wait()

    uvloop.run(main())
    return 0


def start_receiver(hosts: int, key_file: Path, key_id: str) -> tuple[subprocess.Popen[bytes], str]:
    control_port = free_port()
    command = [sys.executable, __file__, "--receiver", "--hosts", str(hosts)]
    command += ["--control-port", str(control_port), "--key-file", str(key_file)]
    command += ["--key-id", key_id]
    process = subprocess.Popen(command, stdout=subprocess.PIPE)
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until the sockets are bound (or it dies)
    if line.strip() != b"ready":
        stop_process(process)
        raise SystemExit("the receiver did not start")
    return process, f"http://127.0.0.1:{control_port}"


# --- the benchmark ------------------------------------------------------------------------------


async def sign_only(
    private_pem: str, key_id: str, body: bytes, inboxes: list[str]
) -> tuple[float, float]:
    """Seconds to sign one request per inbox, the key already loaded (as the worker has it);
    (wall, CPU)."""
    sign_cavage("POST", inboxes[0], body, key_id=key_id, private_key_pem=private_pem)
    started, cpu = time.perf_counter(), time.process_time()
    for inbox in inboxes:
        sign_cavage("POST", inbox, body, key_id=key_id, private_key_pem=private_pem)
    return time.perf_counter() - started, time.process_time() - cpu


async def raw_aiohttp_posts(
    private_pem: str, key_id: str, body: bytes, inboxes: list[str], concurrency: int
) -> float:
    """Seconds for signed POSTs to every inbox straight over one aiohttp session: the HTTP
    client's own floor, without queue, database or httpx."""
    pending = list(inboxes)
    connector = aiohttp.TCPConnector(limit=256, limit_per_host=16)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while pending:
                inbox = pending.pop()
                headers = sign_cavage(
                    "POST", inbox, body, key_id=key_id, private_key_pem=private_pem
                )
                headers["Content-Type"] = "application/activity+json"
                async with session.post(inbox, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 202:
                        raise SystemExit(f"receiver answered {response.status}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


async def federation_client_posts(
    private_pem: str, key_id: str, body: bytes, inboxes: list[str], concurrency: int
) -> float:
    """The same through FederationClient.post_activity (httpx API over the aiohttp transport,
    the code path deliveries take), without queue or database."""
    settings = load_settings(
        {"FEDIVERSE_DOMAIN": "bench.local", "FEDIVERSE_ALLOW_PRIVATE_NETWORKS": "true"}
    )
    signer = RequestSigner(key_id=key_id, private_key_pem=private_pem)
    pending = list(inboxes)
    async with FederationClient(settings) as client:

        async def worker() -> None:
            while pending:
                status = await client.post_activity(pending.pop(), body, signer=signer)
                if status != 202:
                    raise SystemExit(f"receiver answered {status}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


async def one_post(
    base: str, control: str, token: str, expected: int, number: int, limit: float
) -> tuple[float, dict]:
    """POST a status; seconds until the receivers have acknowledged `expected` deliveries."""
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{control}/reset") as response:
            await response.read()
        started = time.perf_counter()
        async with session.post(
            f"{base}/api/v1/statuses",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "status": f"Hello, fediverse #{number}: a post for many servers.",
                "visibility": "public",
            },
        ) as response:
            if response.status != 200:
                raise SystemExit(f"posting failed: {response.status} {await response.text()}")
            await response.read()
        deadline = started + limit
        while True:
            async with session.get(f"{control}/stats") as response:
                stats = await response.json()
            if stats["total"] >= expected:
                elapsed = time.perf_counter() - started
                break
            if time.perf_counter() > deadline:
                raise SystemExit(f"only {stats['total']}/{expected} deliveries after {limit} s")
            await asyncio.sleep(0.005)
        # Anything beyond one request per shared inbox would show up now.
        await asyncio.sleep(1.0)
        async with session.get(f"{control}/stats") as response:
            stats = await response.json()
    return elapsed, stats


async def delivery_states(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT state, count(*) AS n FROM deliveries GROUP BY state")
    finally:
        await conn.close()
    return {row["state"]: int(row["n"]) for row in rows}


async def pipeline_times(url: str) -> list[tuple[float, float]]:
    """Per post: (status stored -> deliveries queued, queued -> last delivery recorded), s."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT extract(epoch FROM min(d.created_at) - s.created_at) AS queued, "
            "extract(epoch FROM max(d.finished_at) - min(d.created_at)) AS sent "
            "FROM deliveries d JOIN statuses s ON s.id = d.status_id "
            "GROUP BY s.id, s.created_at ORDER BY s.id"
        )
    finally:
        await conn.close()
    return [(float(row["queued"]), float(row["sent"])) for row in rows]


def run(args: argparse.Namespace) -> int:
    with fresh_database("fediverse_bench_fanout", keep=args.keep) as db:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        domain = f"127.0.0.1:{port}"
        keypair = generate_keypair()
        [(poster_id, token)] = asyncio.run(
            create_local_accounts(db.url, domain, ["poster"], keypair=keypair)
        )
        key_id = f"http://{domain}/users/poster#main-key"
        key_file = db.workdir / "poster.pem"
        key_file.write_text(keypair[1])

        log(f"seeding {args.followers:,} remote followers on {args.hosts:,} hosts")
        follower_pem = generate_keypair()[1]
        documents = []
        for number in range(args.followers):
            authority = f"{host_address(number % args.hosts)}:{RECEIVER_PORT}"
            uri = f"http://{authority}/users/f{number}"
            documents.append(
                actor_document(
                    uri,
                    f"f{number}",
                    shared_inbox=f"http://{authority}/inbox",
                    public_pem=follower_pem,
                )
            )
        followers = asyncio.run(store_actors(db.url, documents))
        asyncio.run(insert_follows(db.url, [(fid, poster_id) for fid in followers.values()]))
        inboxes = sorted({document["endpoints"]["sharedInbox"] for document in documents})
        log(f"  {len(followers):,} followers, {len(inboxes):,} shared inboxes")

        receiver, control = start_receiver(args.hosts, key_file, key_id)
        env = server_env(db.url, db.workdir / "data", port, FEDIVERSE_ALLOW_PRIVATE_NETWORKS="true")
        server = None
        try:
            server = start_server(env, port)
            rss_before = rss_mb(server.pid)
            log(f"server pid {server.pid} on {base}, RSS {rss_before:.0f} MB")
            body = orjson.dumps({"type": "Create", "padding": "x" * 1500})
            fanouts: list[float] = []
            signs: list[float] = []
            raws: list[float] = []
            sign_cpus: list[float] = []
            server_cpus: list[float] = []
            receiver_cpus: list[float] = []
            clients: list[float] = []
            profiler = start_profiler(args.py_spy, server.pid)
            for number in range(args.posts):
                sign_wall, sign_cpu = asyncio.run(sign_only(keypair[0], key_id, body, inboxes))
                signs.append(sign_wall)
                sign_cpus.append(sign_cpu)
                raws.append(asyncio.run(raw_aiohttp_posts(keypair[0], key_id, body, inboxes, 32)))
                clients.append(
                    asyncio.run(federation_client_posts(keypair[0], key_id, body, inboxes, 32))
                )
                cpu_before = cpu_seconds(server.pid)
                receiver_before = cpu_seconds(receiver.pid)
                elapsed, stats = asyncio.run(
                    one_post(base, control, token, len(inboxes), number, args.timeout)
                )
                # Includes the 1 s watch for extra deliveries, when the server is idle.
                server_cpus.append(cpu_seconds(server.pid) - cpu_before)
                receiver_cpus.append(cpu_seconds(receiver.pid) - receiver_before)
                fanouts.append(elapsed)
                log(
                    f"post {number + 1}: {stats['total']} deliveries to {stats['hosts']} inboxes "
                    f"(max {stats['max_per_host']} per inbox, {stats['failures']} refused) "
                    f"in {elapsed:.3f} s; sign-only {signs[-1]:.3f} s, raw aiohttp "
                    f"{raws[-1]:.3f} s, FederationClient {clients[-1]:.3f} s; server CPU "
                    f"{server_cpus[-1]:.3f} s, receivers' CPU {receiver_cpus[-1]:.3f} s, sign CPU "
                    f"{sign_cpus[-1]:.3f} s; server RSS {rss_mb(server.pid):.0f} MB"
                )
                if stats["failures"]:
                    log(f"  refused: {stats['first_failures']}")
                exact = (
                    stats["total"] == len(inboxes)
                    and stats["hosts"] == len(inboxes)
                    and stats["max_per_host"] == 1
                    and stats["failures"] == 0
                )
                if not exact:
                    raise SystemExit("not exactly one verified delivery per shared inbox")
            stop_profiler(profiler)
            rss_after = rss_mb(server.pid)
            states = asyncio.run(delivery_states(db.url))
            stages = asyncio.run(pipeline_times(db.url))
        finally:
            stop_process(server)
            stop_process(receiver)

    fanout = statistics.median(fanouts)
    sign = statistics.median(signs)
    report(
        f"fan-out: {args.followers:,} followers on {args.hosts:,} hosts, median of "
        f"{args.posts} posts",
        [
            Figure(
                "post -> all deliveries acked",
                fanout,
                f"sign {len(inboxes)} requests",
                sign,
                "s",
                target="<= 3.00",
                passed=fanout <= 3 * sign,
            ),
            Figure(
                "server CPU for the fan-out",
                statistics.median(server_cpus),
                "CPU to sign them",
                statistics.median(sign_cpus),
                "s",
            ),
            Figure(
                "client floor: raw aiohttp",
                statistics.median(raws),
                f"sign {len(inboxes)} requests",
                sign,
                "s",
            ),
            Figure(
                "client floor: FederationClient",
                statistics.median(clients),
                f"sign {len(inboxes)} requests",
                sign,
                "s",
            ),
        ],
    )
    print(f"all runs: fan-out {[round(f, 3) for f in fanouts]} s")
    print(f"          sign    {[round(s, 3) for s in signs]} s")
    print(f"          aiohttp {[round(s, 3) for s in raws]} s")
    print(f"          client  {[round(s, 3) for s in clients]} s")
    print(f"deliveries table: {states}")
    print(
        "stages per post (status stored -> queued, queued -> last recorded): "
        + ", ".join(f"{queued:.3f} + {sent:.3f} s" for queued, sent in stages)
    )
    print(f"server RSS {rss_before:.0f} MB before, {rss_after:.0f} MB after")
    return 0 if states.get("pending", 0) == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, default=1_000)
    parser.add_argument("--posts", type=int, default=3, help="posts timed (median reported)")
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--py-spy", metavar="FILE", help="profile the server (collapsed stacks)")
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--control-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--key-file", help=argparse.SUPPRESS)
    parser.add_argument("--key-id", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hosts > 250 * 250:
        parser.error("at most 62,500 hosts")
    return run_receiver(args) if args.receiver else run(args)


if __name__ == "__main__":
    sys.exit(main())
