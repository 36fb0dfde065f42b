"""A whole staff day against the real server (`fediverse serve` on loopback), driven by the
Mastodon.py library exactly as a script or app would drive Mastodon.

Accounts come from the CLI while the server runs; people sign in with the password grant and
with the authorization-code flow through the HTML pages; then they post in every visibility,
reply, boost, favourite, bookmark, edit, delete, follow an unlocked and a locked colleague,
page through timelines and notifications, and search. A colleague outside a private post's
audience must meet 404 everywhere the post could show up.

Every step runs even when an earlier one failed, so one run says which steps work; the test
fails if any step did, naming each failed step.
"""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonIllegalArgumentError,
    MastodonNotFoundError,
)

from tests.live_server import REPO_ROOT, LiveServer

SCOPES = ["read", "write", "follow", "push"]
OUT_OF_BAND = "urn:ietf:wg:oauth:2.0:oob"
APP_CALLBACK = "org.example.staffday:/oauth-callback"
PASSWORD = "a long staff password"
TIMEOUT = 30


# --- driving the HTML sign-in and consent pages as a browser would ----------------------


@dataclass
class HtmlForm:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)


class FormParser(HTMLParser):
    """Collects every form with its named inputs and submit buttons, and the code block."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[HtmlForm] = []
        self.code: str | None = None
        self._in_code = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(
                HtmlForm(action=values.get("action", ""), method=values.get("method", "get"))
            )
        elif tag == "input" and self.forms and "name" in values:
            self.forms[-1].fields[values["name"]] = values.get("value", "")
        elif tag == "button" and self.forms and "name" in values:
            self.forms[-1].buttons.append((values["name"], values.get("value", "")))
        elif values.get("id") == "authorization-code":
            self._in_code = True

    def handle_data(self, data: str) -> None:
        if self._in_code and data.strip():
            self.code = data.strip()
            self._in_code = False


def authorize_in_browser(server: LiveServer, url: str, email: str, password: str) -> str:
    """Follow the authorization URL like a person: sign in, approve, and return the code
    (shown on the page for out-of-band apps, or sent back in the redirect)."""
    with httpx.Client(follow_redirects=False, timeout=TIMEOUT) as browser:
        response = browser.get(url)
        for _ in range(8):
            if response.is_redirect:
                location = urljoin(str(response.url), response.headers["location"])
                if not location.startswith(server.base_url):
                    return parse_qs(urlsplit(location).query)["code"][0]
                response = browser.get(location)
                continue
            assert response.status_code == 200, f"{response.status_code}: {response.text[:500]}"
            parser = FormParser()
            parser.feed(response.text)
            if parser.code:
                return parser.code
            sign_in = next((f for f in parser.forms if "password" in f.fields), None)
            if sign_in is not None:
                data = sign_in.fields | {"login": email, "password": password}
                response = browser.post(urljoin(str(response.url), sign_in.action), data=data)
                continue
            consent = next(f for f in parser.forms if ("decision", "authorize") in f.buttons)
            data = consent.fields | {"decision": "authorize"}
            response = browser.post(urljoin(str(response.url), consent.action), data=data)
    raise AssertionError("the authorization pages never produced a code")


# --- the day ------------------------------------------------------------------------------


def ids_of(items: Any) -> list[str]:
    return [str(item.id) for item in items]


def all_pages(client: Mastodon, first_page: Any) -> list[list[str]]:
    """Ids page by page, following the Link headers through Mastodon.py's `fetch_next`."""
    pages: list[list[str]] = []
    page = first_page
    while page:
        pages.append(ids_of(page))
        assert len(pages) < 50, "pagination never ends"
        page = client.fetch_next(page)
    return pages


def assert_newest_first_without_overlap(pages: list[list[str]]) -> list[str]:
    flat = [status_id for page in pages for status_id in page]
    assert len(flat) == len(set(flat)), f"pages overlap: {pages}"
    assert [int(i) for i in flat] == sorted((int(i) for i in flat), reverse=True), pages
    return flat


class StaffDay:
    """The people of one organization and what they did, step by step."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.client_id = ""
        self.client_secret = ""
        self.people: dict[str, Mastodon] = {}
        self.account_ids: dict[str, str] = {}
        self.posts: dict[str, Any] = {}

    def email(self, username: str) -> str:
        return f"{username}@staff.example"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        env.update(
            {
                "FEDIVERSE_DATABASE_URL": self.server.database_url,
                "FEDIVERSE_DOMAIN": self.server.domain,
                "FEDIVERSE_SCHEME": "http",
                "FEDIVERSE_DATA_DIR": str(self.server.data_dir),
                "FEDIVERSE_SECRET_KEY": "test",
            }
        )
        env.pop("FEDIVERSE_CONFIG", None)
        return subprocess.run(
            [sys.executable, "-m", "fediverse.cli", *args],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def app_client(self, access_token: str | None = None) -> Mastodon:
        return Mastodon(
            client_id=self.client_id,
            client_secret=self.client_secret,
            access_token=access_token,
            api_base_url=self.server.base_url,
            request_timeout=TIMEOUT,
            ratelimit_method="throw",
        )

    # 1
    def create_accounts_with_the_cli_while_the_server_runs(self) -> None:
        for username in ("alice", "bob", "carol", "dave"):
            created = self.cli(
                "accounts",
                "create",
                username,
                "--email",
                self.email(username),
                "--password",
                PASSWORD,
            )
            assert created.returncode == 0, created.stderr
            assert f"@{username}" in created.stdout
        listed = self.cli("accounts", "list")
        assert listed.returncode == 0, listed.stderr
        for username in ("admin", "alice", "bob", "carol", "dave"):
            assert username in listed.stdout
        duplicate = self.cli(
            "accounts", "create", "Alice", "--email", "x@staff.example", "--password", PASSWORD
        )
        assert duplicate.returncode != 0
        assert "taken" in duplicate.stderr

    # 2
    def register_an_app(self) -> None:
        self.client_id, self.client_secret = Mastodon.create_app(
            "Staff day",
            scopes=SCOPES,
            redirect_uris=[OUT_OF_BAND, APP_CALLBACK],
            website="https://staffday.example",
            api_base_url=self.server.base_url,
            request_timeout=TIMEOUT,
        )
        assert self.client_id and self.client_secret
        info = self.app_client().oauth_authorization_server_info()
        assert "password" in info["grant_types_supported"]
        assert "authorization_code" in info["grant_types_supported"]

    # 3
    def sign_in_with_the_password_grant(self) -> None:
        for username in ("alice", "dave"):
            client = self.app_client()
            client.log_in(
                username=self.email(username), password=PASSWORD, scopes=SCOPES, allow_http=True
            )
            me = client.me()
            assert me.username == username
            assert me.acct == username  # local accounts have a bare acct
            self.people[username] = client
            self.account_ids[username] = str(me.id)
        with pytest.raises(MastodonIllegalArgumentError, match="Invalid user name, password"):
            self.app_client().log_in(
                username=self.email("alice"), password="wrong", scopes=SCOPES, allow_http=True
            )
        assert self.people["alice"].retrieve_mastodon_version().startswith("4.")

    # 4
    def sign_in_with_the_authorization_code_flow(self) -> None:
        for username, redirect_uri in (("bob", OUT_OF_BAND), ("carol", APP_CALLBACK)):
            client = self.app_client()
            url = client.auth_request_url(
                redirect_uris=redirect_uri, scopes=SCOPES, force_login=True, allow_http=True
            )
            code = authorize_in_browser(self.server, url, self.email(username), PASSWORD)
            client.log_in(code=code, redirect_uri=redirect_uri, scopes=SCOPES, allow_http=True)
            me = client.me()
            assert me.username == username
            self.people[username] = client
            self.account_ids[username] = str(me.id)
            # A code works once.
            with pytest.raises(MastodonIllegalArgumentError, match="Invalid access token"):
                self.app_client().log_in(
                    code=code, redirect_uri=redirect_uri, scopes=SCOPES, allow_http=True
                )

    # 5
    def apps_load_what_they_need_after_sign_in(self) -> None:
        # Apps fetch these right after login; several crash on any error here.
        alice = self.people["alice"]
        assert alice.account_verify_credentials().source.privacy == "public"
        assert alice.instance_v2().domain == self.server.domain
        assert alice.instance_v1().uri == self.server.domain
        assert alice.preferences()["posting:default:visibility"] == "public"
        assert alice.account(self.account_ids["bob"]).acct == "bob"
        assert alice.account_lookup("bob").id == alice.account(self.account_ids["bob"]).id
        assert alice.lists() == []
        assert alice.filters_v2() == []
        assert alice.custom_emojis() == []
        assert alice.markers_get(["home", "notifications"]) == {}

    # 6
    def carol_locks_her_account(self) -> None:
        carol = self.people["carol"].account_update_credentials(
            locked=True, display_name="Carol Reviewer"
        )
        assert carol.locked is True
        assert carol.display_name == "Carol Reviewer"
        assert self.people["carol"].me().locked is True

    # 7
    def follow_an_unlocked_colleague(self) -> None:
        bob = self.people["bob"]
        relationship = bob.account_follow(self.account_ids["alice"])
        assert relationship.following is True
        assert relationship.requested is False
        [again] = bob.account_relationships(self.account_ids["alice"])
        assert again.following is True
        followers = self.people["alice"].account_followers(self.account_ids["alice"])
        assert self.account_ids["bob"] in ids_of(followers)

    # 8
    def follow_a_locked_colleague_after_approval(self) -> None:
        dave, carol = self.people["dave"], self.people["carol"]
        asked = dave.account_follow(self.account_ids["carol"])
        assert asked.following is False
        assert asked.requested is True
        assert self.account_ids["dave"] in ids_of(carol.follow_requests())
        requests = carol.notifications(types=["follow_request"])
        assert [(n.type, str(n.account.id)) for n in requests] == [
            ("follow_request", self.account_ids["dave"])
        ]
        approved = carol.follow_request_authorize(self.account_ids["dave"])
        assert approved.followed_by is True
        assert carol.follow_requests() == []
        [now] = dave.account_relationships(self.account_ids["carol"])
        assert now.following is True
        assert now.requested is False

    # 9
    def post_in_each_visibility(self) -> None:
        alice = self.people["alice"]
        public = alice.status_post(
            "Standup at ten, agenda in the doc #standup", visibility="public"
        )
        assert public.visibility == "public"
        assert [tag.name for tag in public.tags] == ["standup"]
        assert "#<span>standup</span>" in public.content
        unlisted = alice.status_post("Thoughts on the coffee machine", visibility="unlisted")
        assert unlisted.visibility == "unlisted"
        private = alice.status_post(
            "The reorg plan stays between us and followers #standup", visibility="private"
        )
        assert private.visibility == "private"
        direct = alice.status_post("@bob your quarterly review is due", visibility="direct")
        assert direct.visibility == "direct"
        assert [m.acct for m in direct.mentions] == ["bob"]
        self.posts.update(public=public, unlisted=unlisted, private=private, direct=direct)
        # More standup posts, so that timelines have several pages.
        self.posts["standups"] = [
            alice.status_post(f"Standup notes, day {n} #standup", visibility="public")
            for n in range(1, 5)
        ]
        shown = self.people["bob"].status(public.id)
        assert shown.content == public.content

    # 10
    def reply_to_a_colleague(self) -> None:
        bob = self.people["bob"]
        reply = bob.status_reply(self.posts["public"], "Thanks, I'll bring the numbers")
        assert str(reply.in_reply_to_id) == str(self.posts["public"].id)
        assert str(reply.in_reply_to_account_id) == self.account_ids["alice"]
        assert "alice" in [m.acct for m in reply.mentions]
        self.posts["reply"] = reply
        context = self.people["alice"].status_context(self.posts["public"].id)
        assert ids_of(context.descendants) == [str(reply.id)]
        assert ids_of(bob.status_context(reply.id).ancestors) == [str(self.posts["public"].id)]

    # 11
    def boost_favourite_and_bookmark(self) -> None:
        bob, public = self.people["bob"], self.posts["public"]
        boost = bob.status_reblog(public.id)
        assert str(boost.reblog.id) == str(public.id)
        assert boost.reblog.reblogged is True
        favourited = bob.status_favourite(public.id)
        assert favourited.favourited is True
        assert favourited.favourites_count == 1
        bookmarked = bob.status_bookmark(public.id)
        assert bookmarked.bookmarked is True
        assert str(public.id) in ids_of(bob.bookmarks())
        assert str(public.id) in ids_of(bob.favourites())
        assert ids_of(bob.status_favourited_by(public.id)) == [self.account_ids["bob"]]
        assert ids_of(bob.status_reblogged_by(public.id)) == [self.account_ids["bob"]]
        self.posts["boost"] = boost
        with pytest.raises(MastodonAPIError):
            bob.status_reblog(self.posts["private"].id)
        assert self.people["alice"].status(self.posts["private"].id).reblogs_count == 0

    # 12
    def edit_a_post_with_history(self) -> None:
        alice, public = self.people["alice"], self.posts["public"]
        edited = alice.status_update(public.id, "Standup at eleven, agenda in the doc #standup")
        assert edited.edited_at is not None
        assert "eleven" in edited.content
        history = alice.status_history(public.id)
        assert len(history) == 2
        assert "ten" in history[0].content
        assert "eleven" in history[-1].content
        source = alice.status_source(public.id)
        assert source.text == "Standup at eleven, agenda in the doc #standup"
        self.posts["public"] = edited

    # 13
    def delete_a_post(self) -> None:
        alice = self.people["alice"]
        typo = alice.status_post("Standup moved to the moon #standup", visibility="public")
        deleted = alice.status_delete(typo.id)
        assert deleted.text == "Standup moved to the moon #standup"  # the source, to redraft
        with pytest.raises(MastodonNotFoundError):
            alice.status(typo.id)
        with pytest.raises(MastodonNotFoundError):
            self.people["bob"].status(typo.id)

    # 14
    def an_outsider_never_sees_the_private_or_direct_post(self) -> None:
        dave = self.people["dave"]
        for name in ("private", "direct"):
            hidden = self.posts[name].id
            with pytest.raises(MastodonNotFoundError):
                dave.status(hidden)
            with pytest.raises(MastodonNotFoundError):
                dave.status_context(hidden)
            with pytest.raises(MastodonNotFoundError):
                dave.status_favourited_by(hidden)
            with pytest.raises(MastodonNotFoundError):
                dave.status_reblogged_by(hidden)
            with pytest.raises(MastodonNotFoundError):
                dave.status_favourite(hidden)
            with pytest.raises(MastodonNotFoundError):
                dave.status_reply(self.posts[name], "let me in")
        hidden_ids = {str(self.posts["private"].id), str(self.posts["direct"].id)}
        profile = set(ids_of(dave.account_statuses(self.account_ids["alice"], limit=40)))
        assert str(self.posts["public"].id) in profile
        assert str(self.posts["unlisted"].id) in profile  # unlisted: on the profile, not public
        assert not profile & hidden_ids
        assert not set(ids_of(dave.timeline_public(limit=40))) & hidden_ids
        assert not set(ids_of(dave.timeline_home(limit=40))) & hidden_ids
        assert dave.search_v2("reorg", result_type="statuses").statuses == []
        assert dave.search_v2("quarterly review", result_type="statuses").statuses == []
        # The follower and the mentioned do see them.
        bob = self.people["bob"]
        assert str(bob.status(self.posts["private"].id).id) == str(self.posts["private"].id)
        assert str(bob.status(self.posts["direct"].id).id) == str(self.posts["direct"].id)
        assert ids_of(bob.search_v2("reorg", result_type="statuses").statuses) == [
            str(self.posts["private"].id)
        ]

    # 15
    def read_timelines_page_by_page(self) -> None:
        bob, dave = self.people["bob"], self.people["dave"]
        home = assert_newest_first_without_overlap(all_pages(bob, bob.timeline_home(limit=3)))
        for name in ("private", "unlisted", "reply"):
            assert str(self.posts[name].id) in home, name
        assert str(self.posts["boost"].id) in home
        public = assert_newest_first_without_overlap(all_pages(dave, dave.timeline_public(limit=2)))
        assert str(self.posts["public"].id) in public
        for name in ("unlisted", "private", "direct"):
            assert str(self.posts[name].id) not in public, name
        local = ids_of(dave.timeline_local(limit=40))
        assert set(local) == set(public[:40])  # everyone here is local
        tagged_pages = all_pages(dave, dave.timeline_hashtag("standup", limit=2))
        tagged = assert_newest_first_without_overlap(tagged_pages)
        # Only public posts: the private one tagged #standup stays out, as in Mastodon.
        expected = [str(s.id) for s in [self.posts["public"], *self.posts["standups"]]]
        assert sorted(tagged) == sorted(expected)
        assert len(tagged_pages) >= 3
        anonymous = Mastodon(api_base_url=self.server.base_url, request_timeout=TIMEOUT)
        assert set(ids_of(anonymous.timeline_public(limit=40))) == set(public[:40])

    # 16
    def read_notifications(self) -> None:
        alice, bob = self.people["alice"], self.people["bob"]
        got = {(n.type, str(n.account.id)) for n in all_notifications(alice)}
        bob_id = self.account_ids["bob"]
        for kind in ("follow", "favourite", "reblog", "mention"):
            assert (kind, bob_id) in got, kind
        mentions = bob.notifications(types=["mention"])
        assert str(self.posts["direct"].id) in [str(n.status.id) for n in mentions]
        favourites = alice.notifications(types=["favourite"])
        assert [str(n.status.id) for n in favourites] == [str(self.posts["public"].id)]
        without = alice.notifications(exclude_types=["favourite", "reblog", "follow"])
        assert {n.type for n in without} == {"mention"}
        first = alice.notifications(limit=1)
        pages = all_pages(alice, first)
        assert all(len(page) == 1 for page in pages)
        assert len(pages) == len(all_notifications(alice))
        marked = alice.markers_set("notifications", first[0].id)
        assert str(marked["notifications"].last_read_id) == str(first[0].id)

    # 17
    def search_for_people_tags_and_posts(self) -> None:
        bob = self.people["bob"]
        found = bob.search_v2("agenda")
        assert str(self.posts["public"].id) in ids_of(found.statuses)
        assert (
            ids_of(bob.search_v2("car", result_type="accounts").accounts)[0]
            == (self.account_ids["carol"])
        )
        reviewer = bob.search_v2("Reviewer", result_type="accounts").accounts
        assert ids_of(reviewer) == [self.account_ids["carol"]]
        assert [t.name for t in bob.search_v2("#stand", result_type="hashtags").hashtags] == [
            "standup"
        ]
        paged = bob.search_v2("standup", result_type="statuses", limit=2, offset=2)
        everything = bob.search_v2("standup", result_type="statuses", limit=40)
        assert ids_of(paged.statuses) == ids_of(everything.statuses)[2:4]
        assert str(self.posts["private"].id) in ids_of(everything.statuses)  # bob follows alice
        outsider = self.people["dave"].search_v2("standup", result_type="statuses", limit=40)
        assert str(self.posts["private"].id) not in ids_of(outsider.statuses)
        assert len(ids_of(outsider.statuses)) == len(ids_of(everything.statuses)) - 1

    def steps(self) -> list[Callable[[], None]]:
        return [
            self.create_accounts_with_the_cli_while_the_server_runs,
            self.register_an_app,
            self.sign_in_with_the_password_grant,
            self.sign_in_with_the_authorization_code_flow,
            self.apps_load_what_they_need_after_sign_in,
            self.carol_locks_her_account,
            self.follow_an_unlocked_colleague,
            self.follow_a_locked_colleague_after_approval,
            self.post_in_each_visibility,
            self.reply_to_a_colleague,
            self.boost_favourite_and_bookmark,
            self.edit_a_post_with_history,
            self.delete_a_post,
            self.an_outsider_never_sees_the_private_or_direct_post,
            self.read_timelines_page_by_page,
            self.read_notifications,
            self.search_for_people_tags_and_posts,
        ]


def all_notifications(client: Mastodon) -> list[Any]:
    return list(client.notifications(limit=40))


def test_a_staff_day_through_mastodon_py(live_server: LiveServer) -> None:
    day = StaffDay(live_server)
    passed: list[str] = []
    failed: list[tuple[str, str]] = []
    for step in day.steps():
        try:
            step()
        except Exception as exc:
            failed.append((step.__name__, "".join(traceback.format_exception(exc))))
        else:
            passed.append(step.__name__)
    if failed:
        summary = "\n".join(
            [f"passed: {name}" for name in passed]
            + [f"FAILED: {name}: {trace.splitlines()[-1]}" for name, trace in failed]
        )
        details = "\n\n".join(f"--- {name}\n{trace}" for name, trace in failed)
        pytest.fail(f"{len(failed)} of {len(day.steps())} steps failed\n{summary}\n\n{details}")
