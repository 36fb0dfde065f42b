"""Two real servers (`fediverse serve` on two loopback ports, each with its own database)
federating over real sockets, driven by Mastodon.py: a user on A finds a user on B by address,
follows them, sees B's post in the home timeline, and B gets A's reply as a notification.

Nothing here sleeps for a fixed time: every wait polls until the condition holds, bounded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from mastodon import Mastodon

from fediverse.storage.embedded_postgres import url_for_database
from tests.conftest import clone_database, drop_database
from tests.live_server import REPO_ROOT, LiveServer, start_live_server

SCOPES = ["read", "write", "follow", "push"]
PASSWORD = "a long staff password"
TIMEOUT = 30
FEDERATION_WAIT_SECONDS = 15.0

T = TypeVar("T")


@pytest.fixture
async def second_database_url(server_url: str, template_database: str) -> AsyncIterator[str]:
    name = await clone_database(server_url, template_database)
    yield url_for_database(server_url, name)
    await drop_database(server_url, name)


@pytest.fixture
def two_servers(
    database_url: str, second_database_url: str, tmp_path: Path
) -> Iterator[tuple[LiveServer, LiveServer]]:
    first = start_live_server(database_url, data_dir=tmp_path / "a")
    try:
        second = start_live_server(second_database_url, data_dir=tmp_path / "b")
    except BaseException:
        first.stop()
        raise
    try:
        yield first, second
    finally:
        codes = (first.stop(), second.stop())
    assert codes == (0, 0), f"A:\n{first.output}\nB:\n{second.output}"


def cli(server: LiveServer, *args: str) -> None:
    env = dict(os.environ)
    env.update(
        {
            "FEDIVERSE_DATABASE_URL": server.database_url,
            "FEDIVERSE_DOMAIN": server.domain,
            "FEDIVERSE_SCHEME": "http",
            "FEDIVERSE_DATA_DIR": str(server.data_dir),
            "FEDIVERSE_SECRET_KEY": "test",
        }
    )
    env.pop("FEDIVERSE_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-m", "fediverse.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def signed_in(server: LiveServer, username: str) -> Mastodon:
    """A new account on `server` (made with the CLI), signed in through an OAuth app."""
    email = f"{username}@staff.example"
    cli(server, "accounts", "create", username, "--email", email, "--password", PASSWORD)
    client_id, client_secret = Mastodon.create_app(
        "Federation e2e", scopes=SCOPES, api_base_url=server.base_url, request_timeout=TIMEOUT
    )
    client = Mastodon(
        client_id=client_id,
        client_secret=client_secret,
        api_base_url=server.base_url,
        request_timeout=TIMEOUT,
        ratelimit_method="throw",
    )
    client.log_in(username=email, password=PASSWORD, scopes=SCOPES, allow_http=True)
    return client


def eventually(what: str, probe: Callable[[], T | None]) -> T:
    """Poll `probe` until it returns something truthy, for at most FEDERATION_WAIT_SECONDS."""
    deadline = time.monotonic() + FEDERATION_WAIT_SECONDS
    delay = 0.05
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {FEDERATION_WAIT_SECONDS}s: {what}")
        time.sleep(delay)  # a poll interval, not a wait for some assumed duration
        delay = min(delay * 2, 0.5)


def test_two_real_servers_follow_post_and_reply_over_loopback(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    server_a, server_b = two_servers
    alice = signed_in(server_a, "alice")
    bob = signed_in(server_b, "bob")
    bob_address = f"bob@{server_b.domain}"

    found = alice.search_v2(f"@{bob_address}", resolve=True)
    assert [a.acct for a in found.accounts] == [bob_address]
    remote_bob = found.accounts[0]
    assert remote_bob.url == f"{server_b.base_url}/@bob"

    alice.account_follow(remote_bob.id)
    eventually(
        "B accepts alice's follow",
        lambda: alice.account_relationships(remote_bob.id)[0].following,
    )
    assert [f.acct for f in bob.account_followers(bob.me().id)] == [f"alice@{server_a.domain}"]

    posted = bob.status_post("Hello from server B")

    def in_alices_home() -> object:
        return next((s for s in alice.timeline_home() if s.uri == posted.uri), None)

    copy = eventually("bob's post reaches alice's home timeline", in_alices_home)
    assert copy.account.acct == bob_address
    assert "Hello from server B" in copy.content

    reply = alice.status_post(f"@{bob_address} hello back from A", in_reply_to_id=copy.id)

    def reply_notification() -> object:
        return next(
            (n for n in bob.notifications(types=["mention"]) if n.status.uri == reply.uri), None
        )

    note = eventually("alice's reply reaches bob as a mention", reply_notification)
    assert note.account.acct == f"alice@{server_a.domain}"
    assert str(note.status.in_reply_to_id) == str(posted.id)
