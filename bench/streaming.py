"""Streaming benchmark: N concurrent WebSockets on one `serve` process, post-to-delivery delay.

Starts `python -m fediverse.cli serve --no-workers` (uvloop + httptools) on a fresh database,
makes one poster and `--readers` accounts who follow them, then:

1. baseline: opens N authenticated WebSockets that subscribe to nothing (idle sockets), and
   records the accept time and the server's memory growth;
2. load: subscribes every socket to `user` (the readers' home streams, which hold the poster's
   posts) and posts `--posts` statuses one after another, timing each delivery from just before
   the POST to its arrival at each socket; p50/p99 over all deliveries.

Sockets are spread round-robin over the readers. The clients run in `--client-processes`
separate processes (uvloop, a minimal frame reader that only scans each frame for the post's
number), so the measured delay is the server's, not the client's event loop; the clock is
CLOCK_MONOTONIC, shared by all processes. Clients offer no permessage-deflate unless `--deflate`
(browsers do offer it; uvicorn then compresses every frame per connection). Not run in CI.

    python bench/streaming.py                  # 5,000 connections
    python bench/streaming.py --connections 1000 --posts 10

Measured on a 2-CPU VM (50 readers, 20 posts), 5,000 sockets: idle 34.9 KB per socket, 38.5 KB
after the posts; p50 69 ms / p99 140 ms with the machine quiet (load 1.5), p99 ~250 ms with
other work on it (load 4-7); server CPU ~100 ms per post (20 us per delivery, about 40% of it
the kernel's loopback write). With --deflate: 84 KB per socket, 46 us per delivery, p99 282 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import multiprocessing
import multiprocessing.connection
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import asyncpg
import httpx

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
MARKER = re.compile(rb"benchmark post (\d+)")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def cpu_seconds(pid: int) -> tuple[float, float]:
    """A process's user and system CPU time so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def machine_busy() -> tuple[int, int]:
    """Busy and total jiffies of all CPUs (from /proc/stat), for the share used meanwhile."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def raise_file_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, wanted), hard))


# --- the client side (runs in worker processes) ---------------------------------------------------


class Socket(asyncio.Protocol):
    """A minimal WebSocket client: handshake, masked text frames out, unmasked frames in (ping
    answered, text scanned for the benchmark marker). Enough for a benchmark, nothing more."""

    def __init__(
        self,
        host: str,
        token: str,
        deflate: bool,
        arrivals: list[tuple[int, float]],
        counts: dict[int, int],
    ) -> None:
        self.host = host
        self.token = token
        self.deflate = deflate
        self.arrivals = arrivals
        self.buffer = bytearray()
        self.upgraded = asyncio.get_running_loop().create_future()
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.Transport | None = None
        self.inflater: Any = None
        self.counts = counts

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        extension = (
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
            if self.deflate
            else ""
        )
        transport.write(  # type: ignore[attr-defined]
            (
                f"GET /api/v1/streaming HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {self.token}\r\n"
                f"{extension}\r\n"
            ).encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("closed during the handshake"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            del self.buffer[: end + 4]
            if b" 101 " not in head.split(b"\r\n", 1)[0] + b" ":
                self.upgraded.set_exception(ConnectionError(head.split(b"\r\n", 1)[0].decode()))
                return
            if b"permessage-deflate" in head:
                self.inflater = zlib.decompressobj(-15)
            self.upgraded.set_result(None)
        self._frames()

    def _frames(self) -> None:
        buffer = self.buffer
        while len(buffer) >= 2:
            first, length = buffer[0], buffer[1] & 0x7F
            start = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = int.from_bytes(buffer[2:4]), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = int.from_bytes(buffer[2:10]), 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            opcode = first & 0x0F
            if first & 0x40 and self.inflater is not None:
                payload = self.inflater.decompress(payload + b"\x00\x00\xff\xff")
            if opcode == 1:
                found = MARKER.search(payload)
                if found is not None and b'"event":"update"' in payload:
                    k = int(found.group(1))
                    self.arrivals.append((k, time.perf_counter()))
                    self.counts[k] = self.counts.get(k, 0) + 1
                elif found is None:
                    self.replies.put_nowait(payload)
            elif opcode == 9:
                self.send(0xA, payload)
            elif opcode == 8 and self.transport is not None:
                self.transport.close()

    def send(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None and len(payload) < 126
        # An all-zero mask leaves the payload as it is; the server unmasks it all the same.
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)


async def _client_main(
    port: int, tokens: list[str], deflate: bool, control: multiprocessing.connection.Connection
) -> None:
    loop = asyncio.get_running_loop()
    arrivals: list[tuple[int, float]] = []
    counts: dict[int, int] = {}
    sockets: list[Socket] = []
    host = f"127.0.0.1:{port}"
    while True:
        command, argument = await loop.run_in_executor(None, control.recv)
        if command == "open":
            for start in range(0, len(tokens), 100):
                batch = []
                for token in tokens[start : start + 100]:
                    _, protocol = await loop.create_connection(
                        functools.partial(Socket, host, token, deflate, arrivals, counts),
                        "127.0.0.1",
                        port,
                    )
                    batch.append(protocol)
                await asyncio.gather(*(s.upgraded for s in batch))
                sockets.extend(batch)
            control.send(("opened", len(sockets)))
        elif command == "subscribe":

            async def subscribe(socket: Socket) -> None:
                socket.send(0x1, b'{"type":"subscribe","stream":"user"}')
                # An unknown command is answered after the subscribe is handled: a barrier.
                socket.send(0x1, b'{"type":"barrier"}')
                while b"error" not in await socket.replies.get():
                    pass

            await asyncio.gather(*(subscribe(s) for s in sockets))
            control.send(("subscribed", len(sockets)))
        elif command == "wait":
            # Tell the parent when every socket here has post `argument` (or after 30 s).
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if counts.get(argument, 0) >= len(sockets):
                    break
                await asyncio.sleep(0.005)
            control.send(("arrived", argument))
        elif command == "report":
            control.send(("arrivals", arrivals))
            for socket in sockets:
                if socket.transport is not None:
                    socket.transport.close()
            return


def client_process(
    port: int, tokens: list[str], deflate: bool, control: multiprocessing.connection.Connection
) -> None:
    import uvloop

    raise_file_limit(len(tokens) + 1000)
    uvloop.run(_client_main(port, tokens, deflate, control))


# --- the server side and the conductor --------------------------------------------------------


async def make_people(url: str, domain: str, readers: int) -> tuple[str, list[str]]:
    """The poster's token and one token per reader (tokens issued directly, scopes read write).
    All accounts share one key pair: making thousands of RSA keys would dominate the set-up."""
    settings = load_settings(environ={}, domain=domain, scheme="http", secret_key="bench")
    keypair = generate_keypair()
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
                    make_keypair=lambda: keypair,
                )
                token, _ = await auth.issue_token(
                    conn, application_id=None, user_id=user.id, scopes="read write follow"
                )
                tokens.append(token)
        return tokens[0], tokens[1:]
    finally:
        await conn.close()


async def follow_all(base: str, poster: str, readers: list[str]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        me = (
            await http.get(
                "/api/v1/accounts/verify_credentials",
                headers={"Authorization": f"Bearer {poster}"},
            )
        ).json()

        async def follow(token: str) -> None:
            response = await http.post(
                f"/api/v1/accounts/{me['id']}/follow", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 200, response.text

        for start in range(0, len(readers), 20):
            await asyncio.gather(*(follow(t) for t in readers[start : start + 20]))


def run(args: argparse.Namespace, url: str, port: int, pid: int) -> None:
    started = time.perf_counter()
    poster, readers = asyncio.run(make_people(url, f"127.0.0.1:{port}", args.readers))
    asyncio.run(follow_all(f"http://127.0.0.1:{port}", poster, readers))
    log(f"{args.readers} readers following the poster in {time.perf_counter() - started:.1f} s")

    n = args.connections
    workers = args.client_processes
    tokens = [readers[i % len(readers)] for i in range(n)]
    context = multiprocessing.get_context("spawn")
    controls: list[multiprocessing.connection.Connection] = []
    processes = []
    for w in range(workers):
        ours, theirs = context.Pipe()
        process = context.Process(
            target=client_process, args=(port, tokens[w::workers], args.deflate, theirs)
        )
        process.start()
        controls.append(ours)
        processes.append(process)

    def all_answer(command: str, argument: object = None, timeout: float = 120) -> list[Any]:
        for control in controls:
            control.send((command, argument))
        answers = []
        for control in controls:
            if not control.poll(timeout):
                raise SystemExit(f"a client process did not answer {command!r}")
            answers.append(control.recv()[1])
        return answers

    try:
        time.sleep(1)
        rss_before = rss_mb(pid)
        started = time.perf_counter()
        opened = sum(all_answer("open"))
        accept_s = time.perf_counter() - started
        time.sleep(1)
        rss_idle = rss_mb(pid)
        log(f"{opened} idle sockets open in {accept_s:.1f} s")

        started = time.perf_counter()
        all_answer("subscribe")
        subscribe_s = time.perf_counter() - started
        time.sleep(1)
        rss_subscribed = rss_mb(pid)
        log(f"subscribed in {subscribe_s:.1f} s")

        sent_at: dict[int, float] = {}
        post_ms: list[float] = []
        cpu_before, busy_before = cpu_seconds(pid), machine_busy()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            headers = {"Authorization": f"Bearer {poster}"}
            for k in range(args.posts):
                before = sent_at[k] = time.perf_counter()
                response = http.post(
                    "/api/v1/statuses", headers=headers, json={"status": f"benchmark post {k}"}
                )
                assert response.status_code == 200, response.text
                post_ms.append((time.perf_counter() - before) * 1000)
                all_answer("wait", k, timeout=60)
                time.sleep(args.pause)
        cpu_after, busy_after = cpu_seconds(pid), machine_busy()
        rss_loaded = rss_mb(pid)
        arrivals = [a for answer in all_answer("report") for a in answer]
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()

    delays = [(at - sent_at[k]) * 1000 for k, at in arrivals if k in sent_at]
    expected = n * args.posts
    print(
        f"connections            {n} (spread over {args.readers} readers, clients in "
        f"{workers} processes, deflate {'on' if args.deflate else 'off'}), posts {args.posts}"
    )
    print("baseline: idle WebSockets")
    print(f"  accept time          {accept_s:.2f} s ({accept_s / n * 1000:.2f} ms per socket)")
    idle_mb = rss_idle - rss_before
    print(f"  server memory        {idle_mb:.1f} MB ({idle_mb * 1024 / n:.1f} KB per socket)")
    print("subscribed to `user`, posting")
    print(f"  subscribe time       {subscribe_s:.2f} s")
    subscribed_mb, loaded_mb = rss_subscribed - rss_before, rss_loaded - rss_before
    print(
        f"  server memory        {subscribed_mb:.1f} MB subscribed, {loaded_mb:.1f} MB after the "
        f"posts ({loaded_mb * 1024 / n:.1f} KB per socket)"
    )
    print(f"  deliveries           {len(delays)} of {expected}")
    if delays:
        p50, p99 = statistics.median(delays), percentile(delays, 0.99)
        print(
            f"  post-to-delivery     p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {max(delays):.0f} ms"
        )
        firsts = [min((at - sent_at[k]) * 1000 for kk, at in arrivals if kk == k) for k in sent_at]
        print(f"  first delivery       p50 {statistics.median(firsts):.0f} ms")
        print(f"  the POST alone       p50 {statistics.median(post_ms):.0f} ms")
        user_ms = (cpu_after[0] - cpu_before[0]) * 1000 / args.posts
        system_ms = (cpu_after[1] - cpu_before[1]) * 1000 / args.posts
        print(
            f"  server CPU per post  {user_ms + system_ms:.0f} ms (user {user_ms:.0f}, system "
            f"{system_ms:.0f}; {(user_ms + system_ms) * 1000 / n:.0f} us per delivery), the POST "
            f"and its pause included"
        )
        busy = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
        print(f"  machine CPUs busy    {busy * 100:.0f}% while posting (all processes)")
        print("ratios")
        print(f"  memory after posts / idle   {loaded_mb / max(idle_mb, 0.1):.2f}")
        print(f"  p99 / p50                   {p99 / p50:.2f}")
        print(f"  p99 / target ({TARGET_P99_MS:.0f} ms)      {p99 / TARGET_P99_MS:.2f}")
    print(f"machine load after the run: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between posts")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--deflate", action="store_true", help="offer permessage-deflate")
    args = parser.parse_args()
    # The server inherits this limit (it needs one descriptor per socket, plus its pool).
    raise_file_limit(args.connections * 2 + 1000)

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
        run(args, url, port, process.pid)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        if embedded is not None:
            embedded.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
