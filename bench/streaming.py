"""Streaming benchmark: N concurrent WebSockets on one `serve` process, post-to-delivery delay.

Starts `python -m fediverse.cli serve --no-workers` on a fresh database, makes one poster and a
few readers who follow them, then:

1. baseline: opens N authenticated WebSockets that subscribe to nothing (idle sockets), and
   records the accept time and the server's memory growth;
2. load: subscribes every socket to `user` (the readers' home streams, which hold the poster's
   posts) and posts `--posts` statuses one after another, timing each delivery from just before
   the POST to its arrival at each socket; p50/p99 over all deliveries.

Every socket is one client; sockets are spread round-robin over the readers. The clients run in
this process, so at large N part of the delay is the client's own event loop. Not run in CI.

    python bench/streaming.py                  # 5,000 connections
    python bench/streaming.py --connections 300 --posts 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.timeline import free_port, rss_mb, start_server  # noqa: E402
from federation.keys import generate_keypair  # noqa: E402
from fediverse import accounts as account_domain  # noqa: E402
from fediverse import auth  # noqa: E402
from fediverse.config import load_settings  # noqa: E402
from fediverse.storage import migrations  # noqa: E402
from fediverse.storage.database import _init_connection  # noqa: E402
from fediverse.storage.embedded_postgres import EmbeddedPostgres, url_for_database  # noqa: E402
from fediverse.urls import LocalUrls  # noqa: E402

DATABASE = "fediverse_bench_streaming"
TARGET_P99_MS = 200.0
MARKER = re.compile(r"benchmark post (\d+)")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def make_people(url: str, domain: str, readers: int) -> tuple[str, list[str]]:
    """The poster's token and one token per reader (tokens issued directly, scopes read write)."""
    settings = load_settings(environ={}, domain=domain, scheme="http", secret_key="bench")
    conn = await asyncpg.connect(url)
    await _init_connection(conn)
    try:
        tokens = []
        for n in range(readers + 1):
            async with conn.transaction():
                _, user = await account_domain.create_local_account(
                    conn,
                    urls=LocalUrls(settings),
                    username=f"user{n}",
                    email=f"user{n}@bench.example",
                    password="bench password",
                    role="user",
                    make_keypair=generate_keypair,
                )
                token, _ = await auth.issue_token(
                    conn, application_id=None, user_id=user.id, scopes="read write follow"
                )
                tokens.append(token)
        return tokens[0], tokens[1:]
    finally:
        await conn.close()


async def open_sockets(base: str, tokens: list[str], count: int) -> list[ClientConnection]:
    sockets: list[ClientConnection] = []
    batch = 200
    for start in range(0, count, batch):
        opening = [
            connect(
                f"{base}/api/v1/streaming",
                additional_headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"},
                open_timeout=60,
                ping_interval=None,
            )
            for i in range(start, min(count, start + batch))
        ]
        sockets.extend(await asyncio.gather(*opening))
    return sockets


async def subscribe_all(sockets: list[ClientConnection]) -> None:
    async def one(ws: ClientConnection) -> None:
        await ws.send('{"type":"subscribe","stream":"user"}')
        # An unknown command is answered after the subscribe is handled: a barrier.
        await ws.send('{"type":"barrier"}')
        while "error" not in orjson.loads(await ws.recv()):
            pass

    for start in range(0, len(sockets), 500):
        await asyncio.gather(*(one(ws) for ws in sockets[start : start + 500]))


async def run_async(args: argparse.Namespace, url: str, port: int, pid: int) -> None:
    base_http = f"http://127.0.0.1:{port}"
    base_ws = f"ws://127.0.0.1:{port}"
    poster, readers = await make_people(url, f"127.0.0.1:{port}", args.readers)
    async with httpx.AsyncClient(base_url=base_http, timeout=60) as http:
        me = (
            await http.get(
                "/api/v1/accounts/verify_credentials",
                headers={"Authorization": f"Bearer {poster}"},
            )
        ).json()
        for token in readers:
            response = await http.post(
                f"/api/v1/accounts/{me['id']}/follow",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 200, response.text

        n = args.connections
        rss_before = rss_mb(pid)
        started = time.perf_counter()
        sockets = await open_sockets(base_ws, readers, n)
        accept_s = time.perf_counter() - started
        await asyncio.sleep(1)
        rss_idle = rss_mb(pid)
        log(f"{n} idle sockets open in {accept_s:.1f} s")

        started = time.perf_counter()
        await subscribe_all(sockets)
        subscribe_s = time.perf_counter() - started
        await asyncio.sleep(1)
        rss_subscribed = rss_mb(pid)

        sent_at: dict[str, float] = {}
        delays: list[float] = []
        received: dict[str, int] = {}
        post_ms: list[float] = []
        all_arrived: dict[str, asyncio.Event] = {}

        async def read(ws: ClientConnection) -> None:
            async for raw in ws:
                message = orjson.loads(raw)
                if message.get("event") != "update":
                    continue
                # Keyed by the post's number in its text: a delivery may beat the POST's response.
                found = MARKER.search(orjson.loads(message["payload"])["content"])
                status_id = found.group(1) if found else ""
                at = sent_at.get(status_id)
                if at is not None:
                    delays.append((time.perf_counter() - at) * 1000)
                    received[status_id] = received.get(status_id, 0) + 1
                    if received[status_id] >= n:
                        all_arrived[status_id].set()

        readers_tasks = [asyncio.create_task(read(ws)) for ws in sockets]
        for k in range(args.posts):
            all_arrived[str(k)] = asyncio.Event()
            before = sent_at[str(k)] = time.perf_counter()
            response = await http.post(
                "/api/v1/statuses",
                headers={"Authorization": f"Bearer {poster}"},
                json={"status": f"benchmark post {k}"},
            )
            assert response.status_code == 200, response.text
            post_ms.append((time.perf_counter() - before) * 1000)
            status_id = str(k)
            if received.get(status_id, 0) < n:
                try:
                    await asyncio.wait_for(all_arrived[status_id].wait(), 30)
                except TimeoutError:
                    log(f"post {k}: only {received.get(status_id, 0)} of {n} arrived in 30 s")
            await asyncio.sleep(args.pause)
        rss_loaded = rss_mb(pid)
        for task in readers_tasks:
            task.cancel()
        await asyncio.gather(*readers_tasks, return_exceptions=True)
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

    expected = n * args.posts
    print(f"connections            {n} (spread over {args.readers} readers), posts {args.posts}")
    print("baseline: idle WebSockets")
    print(f"  accept time          {accept_s:.2f} s ({accept_s / n * 1000:.2f} ms per socket)")
    print(
        f"  server memory        {rss_idle - rss_before:.1f} MB "
        f"({(rss_idle - rss_before) * 1024 / n:.1f} KB per socket)"
    )
    print("subscribed to `user`, posting")
    print(f"  subscribe time       {subscribe_s:.2f} s")
    print(
        f"  server memory        {rss_subscribed - rss_before:.1f} MB subscribed, "
        f"{rss_loaded - rss_before:.1f} MB after the posts"
    )
    print(f"  deliveries           {len(delays)} of {expected}")
    if delays:
        p50, p99 = statistics.median(delays), percentile(delays, 0.99)
        print(
            f"  post-to-delivery     p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {max(delays):.0f} ms"
        )
        print(f"  the POST alone       p50 {statistics.median(post_ms):.0f} ms")
        print("ratios")
        print(
            f"  memory subscribed/idle  "
            f"{(rss_subscribed - rss_before) / max(rss_idle - rss_before, 0.1):.2f}"
        )
        print(f"  p99 / target ({TARGET_P99_MS:.0f} ms)    {p99 / TARGET_P99_MS:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between posts")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, args.connections * 2 + 1000))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))

    workdir = Path(tempfile.mkdtemp(prefix="fediverse-bench-streaming-"))
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
        port = free_port()
        process = start_server(url, port, workdir / "data")
        log(f"server pid {process.pid} on port {port}")
        asyncio.run(run_async(args, url, port, process.pid))
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        if embedded is not None:
            embedded.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
