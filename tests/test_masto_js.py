"""masto.js (npm) against a real `fediverse serve`, cross-checked with Mastodon.py: two
independent client libraries must agree on polls, grouped notifications and conversations.

The npm dependencies (tests/js/package-lock.json) are installed into tests/js/node_modules on
first use with `npm ci`; Node.js and npm come with the machine (.ci/run installs Debian's).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from mastodon import Mastodon

from tests.live_server import REPO_ROOT, LiveServer
from tests.streaming_client import people

JS_DIR = REPO_ROOT / "tests" / "js"
NPM_TIMEOUT_SECONDS = 300
SCRIPT_TIMEOUT_SECONDS = 120


def _installed_version(package: str) -> str | None:
    manifest = JS_DIR / "node_modules" / package / "package.json"
    if not manifest.exists():
        return None
    return str(json.loads(manifest.read_text())["version"])


def _locked_version(package: str) -> str:
    lock = json.loads((JS_DIR / "package-lock.json").read_text())
    return str(lock["packages"][f"node_modules/{package}"]["version"])


def install_node_modules() -> None:
    """`npm ci` from the lock file, unless node_modules already holds the locked masto."""
    if _installed_version("masto") == _locked_version("masto"):
        return
    npm = shutil.which("npm")
    assert npm is not None, "npm is needed for the masto.js check (.ci/run installs it)"
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT_SECONDS,
    )
    assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    assert _installed_version("masto") == _locked_version("masto")


def run_script(env: dict[str, str]) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed for the masto.js check"
    done = subprocess.run(
        [node, str(JS_DIR / "script.mjs")],
        cwd=JS_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_SECONDS,
    )
    assert done.returncode == 0, f"masto.js script failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def mastodon_py(server: LiveServer, token: str) -> Mastodon:
    return Mastodon(
        access_token=token,
        api_base_url=server.base_url,
        request_timeout=30,
        ratelimit_method="throw",
    )


def test_the_masto_js_lock_file_pins_the_declared_masto_version() -> None:
    declared = json.loads((JS_DIR / "package.json").read_text())["dependencies"]["masto"]
    assert _locked_version("masto") == declared
    ignored = (REPO_ROOT / ".gitignore").read_text().split()
    assert "node_modules/" in ignored


async def test_masto_js_and_mastodon_py_agree_on_polls_notifications_and_conversations(
    live_server: LiveServer, tmp_path: Path
) -> None:
    await asyncio.to_thread(install_node_modules)
    alice, bob, carol = await people(live_server, "alice", "bob", "carol")

    seen = await asyncio.to_thread(
        run_script,
        {
            "BASE_URL": live_server.base_url,
            "ALICE_TOKEN": alice.token,
            "BOB_TOKEN": bob.token,
            "CAROL_TOKEN": carol.token,
        },
    )

    api = {p.username: mastodon_py(live_server, p.token) for p in (alice, bob, carol)}

    # Polls: what masto.js made and voted is what Mastodon.py reads.
    assert seen["status"]["multiple"] is True
    assert (seen["bobVote"], seen["carolVote"]) == (
        {"voted": True, "ownVotes": [0, 2]},
        {"voted": True, "ownVotes": [2]},
    )
    poll = api["alice"].poll(seen["status"]["pollId"])
    assert str(poll.id) == seen["poll"]["id"]
    assert [o.title for o in poll.options] == seen["poll"]["titles"] == ["tea", "coffee", "water"]
    assert [o.votes_count for o in poll.options] == seen["poll"]["votesCounts"] == [1, 0, 2]
    assert poll.voters_count == seen["poll"]["votersCount"] == 2
    assert poll.votes_count == seen["poll"]["votesCount"] == 3
    assert poll.expired is seen["poll"]["expired"] is False
    assert api["bob"].poll(poll.id).own_votes == [0, 2]
    status = api["bob"].status(seen["status"]["id"])
    assert str(status.poll.id) == seen["status"]["pollId"]

    # Grouped notifications (v2): the same groups, counts, samples and unread count.
    # masto.js asks for full accounts (the API's default); Mastodon.py defaults to partial.
    grouped = api["alice"].grouped_notifications(
        grouped_types=["favourite"], expand_accounts="full"
    )
    groups = [
        {
            "groupKey": g.group_key,
            "type": g.type,
            "notificationsCount": g.notifications_count,
            "sampleAccountIds": [str(i) for i in g.sample_account_ids],
            "statusId": None if g.status_id is None else str(g.status_id),
            "mostRecentNotificationId": str(g.most_recent_notification_id),
        }
        for g in grouped.notification_groups
    ]
    assert groups == seen["groups"]
    [favourites] = [g for g in groups if g["type"] == "favourite"]
    assert favourites["notificationsCount"] == 2
    assert favourites["sampleAccountIds"] == [carol.id, bob.id]
    assert favourites["statusId"] == seen["status"]["id"]
    assert sorted(str(a.id) for a in grouped.accounts) == seen["groupedAccountIds"]
    assert [str(s.id) for s in grouped.statuses] == seen["groupedStatusIds"]
    accounts = api["alice"].grouped_notification_accounts(favourites["groupKey"])
    assert [a.username for a in accounts] == seen["groupAccounts"] == ["carol", "bob"]
    # Mastodon.py reads after the script's direct message, which notified nobody but bob.
    assert api["alice"].unread_grouped_notifications_count() == seen["unreadCount"]

    # Conversations: the same conversation, read by masto.js, is read for Mastodon.py too.
    [conversation] = api["bob"].conversations()
    [as_masto_saw] = seen["bobConversations"]
    assert str(conversation.id) == as_masto_saw["id"] == seen["readConversation"]["id"]
    assert as_masto_saw["unread"] is True
    assert seen["readConversation"]["unread"] is False
    assert conversation.unread is False
    assert [a.acct for a in conversation.accounts] == as_masto_saw["accounts"] == ["alice"]
    assert str(conversation.last_status.id) == as_masto_saw["lastStatusId"]
    assert as_masto_saw["lastStatusId"] == seen["message"]["id"]
    assert seen["message"]["visibility"] == "direct"
    assert api["carol"].conversations() == [] and seen["carolConversations"] == []
