"""Hostile input never gives a 500 or a half-stored change.

Every route the app serves is walked and sent malformed bodies, wrong shapes, wrong types, huge
strings, NUL bytes, invalid percent-encodings, out-of-range numbers and odd path ids, as a
staff member and as an admin. A 4xx from the API always carries Mastodon's `{"error": ...}`,
rejected writes leave every table as it was, and the server keeps serving afterwards.
"""

from __future__ import annotations

import ast
import asyncio
import collections
import inspect
import io
import json
import logging
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote, urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from PIL import Image
from starlette.requests import Request
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from fediverse import announcements, ids
from fediverse.config import Settings
from fediverse.errors import DomainError
from fediverse.storage import reports as report_store
from fediverse.storage.database import Database
from tests.factories import StaffMember, make_staff
from web.forms import read_params
from web.routes import all_routes

ADMIN_SCOPES = "read write follow push admin:read admin:write"
HUGE = "99999999999999999999999"
BIG_TEXT = "x" * 100_000
BOGUS = "bogus_value"

# --- the routes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    path: str
    methods: tuple[str, ...]
    keys: tuple[str, ...]  # parameter names the handler's module reads


_ACCESSORS = {"str", "int", "bool", "list", "dict", "raw", "file"}
_module_keys: dict[str, tuple[str, ...]] = {}


def _keys_read_by(endpoint: Any) -> tuple[str, ...]:
    """Every `x.str("key")`-style literal in the endpoint's module: the fields it may read."""
    module = inspect.getmodule(inspect.unwrap(endpoint))
    if module is None:
        return ()
    name = module.__name__
    if name not in _module_keys:
        found: set[str] = set()
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in _ACCESSORS
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and re.fullmatch(r"[a-z_\[\]]+", node.args[0].value)
            ):
                found.add(node.args[0].value.removesuffix("[]"))
        _module_keys[name] = tuple(sorted(found))
    return _module_keys[name]


def _walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[Endpoint]:
    for route in routes:
        if isinstance(route, Mount):
            yield from _walk(list(route.routes), prefix + route.path)
        elif isinstance(route, Route):
            methods = tuple(sorted(set(route.methods or ()) - {"HEAD"}))
            yield Endpoint(prefix + route.path, methods, _keys_read_by(route.endpoint))
        elif isinstance(route, WebSocketRoute):
            # A plain HTTP request to the streaming socket must not break anything either.
            yield Endpoint(prefix + route.path, ("GET",), ())


def endpoints() -> list[Endpoint]:
    return list(_walk(all_routes()))


# --- a small world with one thing of every kind ---------------------------------------------


@dataclass
class World:
    alice: StaffMember
    bob: StaffMember
    carol: StaffMember
    admin: StaffMember
    existing: dict[str, str] = field(default_factory=dict)


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buffer, "PNG")
    return buffer.getvalue()


async def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, (response.request.url, response.text)
    return response.json()


async def build_world(client: httpx.AsyncClient, database: Database, settings: Settings) -> World:
    alice = await make_staff(database, settings, "alice", locked=True)
    bob = await make_staff(database, settings, "bob")
    carol = await make_staff(database, settings, "carol")
    admin = await make_staff(database, settings, "root", role="admin", scopes=ADMIN_SCOPES)
    world = World(alice=alice, bob=bob, carol=carol, admin=admin)
    a, b = alice.headers, bob.headers
    media = await _ok(
        await client.post(
            "/api/v2/media", headers=a, files={"file": ("a.png", png_bytes(), "image/png")}
        )
    )
    status = await _ok(
        await client.post(
            "/api/v1/statuses",
            headers=a,
            json={"status": "hello #fediverse @bob", "media_ids": [media["id"]]},
        )
    )
    poll = await _ok(
        await client.post(
            "/api/v1/statuses",
            headers=b,
            json={"status": "pick", "poll": {"options": ["a", "b"], "expires_in": 3600}},
        )
    )
    await _ok(
        await client.post(
            "/api/v1/statuses", headers=b, json={"status": "@alice psst", "visibility": "direct"}
        )
    )
    await _ok(await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=carol.headers))
    scheduled = await _ok(
        await client.post(
            "/api/v1/statuses",
            headers=a,
            json={
                "status": "later",
                "scheduled_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            },
        )
    )
    a_list = await _ok(await client.post("/api/v1/lists", headers=a, json={"title": "team"}))
    a_filter = await _ok(
        await client.post(
            "/api/v2/filters",
            headers=a,
            json={
                "title": "spoilers",
                "context": ["home"],
                "keywords_attributes": [{"keyword": "ending"}],
            },
        )
    )
    filter_status = await _ok(
        await client.post(
            f"/api/v2/filters/{a_filter['id']}/statuses",
            headers=a,
            json={"status_id": poll["id"]},
        )
    )
    featured = await _ok(
        await client.post("/api/v1/featured_tags", headers=a, json={"name": "fediverse"})
    )
    notifications = await _ok(await client.get("/api/v1/notifications", headers=a))
    groups = await _ok(await client.get("/api/v2/notifications", headers=a))
    conversations = await _ok(await client.get("/api/v1/conversations", headers=a))
    block = await _ok(
        await client.post(
            "/api/v1/admin/domain_blocks", headers=admin.headers, json={"domain": "bad.example"}
        )
    )
    allow = await _ok(
        await client.post(
            "/api/v1/admin/domain_allows", headers=admin.headers, json={"domain": "ok.example"}
        )
    )
    invite = await _ok(await client.post("/api/v1/invites", headers=admin.headers, json={}))
    async with database.transaction() as conn:
        announcement = await announcements.create_announcement(conn, text="Closed Friday")
        report_id = ids.new_id()
        await report_store.insert_report(
            conn,
            report_id=report_id,
            account_id=bob.account.id,
            target_account_id=carol.account.id,
            status_ids=[],
            comment="mean",
            uri=None,
            forwarded=False,
        )
    world.existing = {
        "status": status["id"],
        "account": bob.id,
        "requester": carol.id,
        "notification": notifications[0]["id"],
        "group": groups["notification_groups"][0]["group_key"],
        "poll": poll["poll"]["id"],
        "conversation": conversations[0]["id"],
        "scheduled": scheduled["id"],
        "media": media["id"],
        "domain_block": block["id"],
        "domain_allow": allow["id"],
        "report": str(report_id),
        "list": a_list["id"],
        "filter": a_filter["id"],
        "keyword": a_filter["keywords"][0]["id"],
        "filter_status": filter_status["id"],
        "announcement": str(announcement.id),
        "featured_tag": featured["id"],
        "invite": invite.get("code") or invite.get("id") or "nope",
        "media_file": media["url"].split("/media/", 1)[-1],
    }
    return world


# Which kind of thing an `{id}` names, by path prefix (most specific first).
_KINDS = [
    ("/api/v1/statuses/", "status"),
    ("/api/v1/follow_requests/", "requester"),
    ("/api/v1/suggestions/", "account"),
    ("/api/v1/accounts/", "account"),
    ("/api/v1/notifications/requests/", "account"),
    ("/api/v1/notifications/", "notification"),
    ("/api/v2/notifications/", "group"),
    ("/api/v1/polls/", "poll"),
    ("/api/v1/conversations/", "conversation"),
    ("/api/v1/scheduled_statuses/", "scheduled"),
    ("/api/v1/media/", "media"),
    ("/api/v1/admin/domain_blocks/", "domain_block"),
    ("/api/v1/admin/domain_allows/", "domain_allow"),
    ("/api/v1/admin/reports/", "report"),
    ("/api/v1/admin/accounts/", "account"),
    ("/api/v1/lists/", "list"),
    ("/api/v1/timelines/list/", "list"),
    ("/api/v2/filters/keywords/", "keyword"),
    ("/api/v2/filters/statuses/", "filter_status"),
    ("/api/v2/filters/", "filter"),
    ("/api/v1/filters/", "filter"),
    ("/api/v1/announcements/", "announcement"),
    ("/api/v1/featured_tags/", "featured_tag"),
    ("/@", "status"),
    ("/users/", "status"),
]

_PLAIN_VALUES = {
    "username": "alice",
    "hashtag": "fediverse",
    "version": "2.0",
    "decision": "approve",
    "rule_id": "1",
    "request_id": "1",
}


def _existing_value(world: World, path: str, param: str) -> str:
    if param in _PLAIN_VALUES:
        return _PLAIN_VALUES[param]
    if param == "verb":
        return "resolve" if "/reports/" in path else "approve"
    if param == "code":
        return world.existing["invite"]
    if param == "file_name":
        return world.existing["media_file"]
    if param == "name":
        if path.startswith("/api/v1/streaming"):
            return "public"
        if path.startswith("/static"):
            return "style.css"
        if path.startswith("/api/v1/announcements"):
            return "%F0%9F%91%8D"
        return "fediverse"
    if param == "group_key":
        return world.existing["group"]
    for prefix, kind in _KINDS:
        if path.startswith(prefix):
            return world.existing[kind]
    return world.existing["status"]


_PARAM = re.compile(r"{([a-z_]+)(?::[a-z]+)?}")


def _fill(path: str, values: dict[str, str]) -> str:
    return _PARAM.sub(lambda match: values[match.group(1)], path)


def path_variants(world: World, path: str) -> list[str]:
    """The path with its parameters existing, missing, non-numeric, huge and negative."""
    names = _PARAM.findall(path)
    if not names:
        return [path]
    existing = {name: _existing_value(world, path, name) for name in names}
    variants = [_fill(path, existing)]
    for odd in (str(ids.new_id()), "abc", HUGE, "-5", "%00"):
        for name in names:
            variants.append(_fill(path, existing | {name: odd}))
    return variants


# --- hostile requests ------------------------------------------------------------------------

COMMON_KEYS = (
    "id",
    "q",
    "limit",
    "offset",
    "max_id",
    "since_id",
    "min_id",
    "type",
    "types",
    "status",
    "visibility",
    "account_id",
    "media_ids",
    "title",
    "context",
)


@dataclass(frozen=True)
class Hostile:
    """One request's worth of bad input: a query string, and a body with its content type."""

    label: str
    query: str = ""
    body: bytes | None = None
    content_type: str | None = None


def _form(pairs: list[tuple[str, str]]) -> str:
    """urlencoded pairs where values may hold raw `%..` escapes (kept as given)."""
    return "&".join(f"{quote(k, safe='[]')}={v}" for k, v in pairs)


_FORM_SHAPES: list[tuple[str, Any]] = [
    ("array", lambda k: [(f"{k}[]", "x"), (f"{k}[]", "y")]),
    ("nested", lambda k: [(f"{k}[a][b]", ""), (f"{k}[a][c][]", "1")]),
    ("indexed", lambda k: [(f"{k}[0][x]", "1"), (f"{k}[1]", "2")]),
    ("huge number", lambda k: [(k, HUGE)]),
    ("negative", lambda k: [(k, "-5")]),
    ("nul", lambda k: [(k, "a%00b")]),
    ("bad utf-8", lambda k: [(k, "%FF%FE%C3")]),
    ("unknown enum", lambda k: [(k, BOGUS)]),
    ("empty", lambda k: [(k, "")]),
    ("empty bracket", lambda k: [(f"{k}[", "1"), (f"{k}]]", "2"), ("[]", "3")]),
]

_JSON_SHAPES: list[tuple[str, Any]] = [
    ("object", lambda k: b'{"%s": {"a": {"b": [1]}}}' % k.encode()),
    ("array", lambda k: b'{"%s": [1, "x", null, {"a": 1}]}' % k.encode()),
    ("huge int", lambda k: b'{"%s": %s}' % (k.encode(), HUGE.encode())),
    ("float", lambda k: b'{"%s": 1.5e300}' % k.encode()),
    ("bool", lambda k: b'{"%s": true}' % k.encode()),
    ("null", lambda k: b'{"%s": null}' % k.encode()),
    ("nul string", lambda k: b'{"%s": "a\\u0000b"}' % k.encode()),
    ("lone surrogate", lambda k: b'{"%s": "\\ud800"}' % k.encode()),
    ("negative", lambda k: b'{"%s": -99999}' % k.encode()),
]

_STREAM_HEALTH = "/api/v1/streaming/health"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
MULTIPART = "multipart/form-data; boundary=BOUNDARY"


def _multipart(parts: list[tuple[str, bytes | None]]) -> bytes:
    """A multipart body: `None` makes a plain field, bytes a file part."""
    chunks = []
    for name, content in parts:
        if content is None:
            head = f'Content-Disposition: form-data; name="{name}"\r\n\r\n'
            chunks.append(b"--BOUNDARY\r\n" + head.encode() + b"x\r\n")
        else:
            head = (
                f'Content-Disposition: form-data; name="{name}"; filename="x.bin"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            )
            chunks.append(b"--BOUNDARY\r\n" + head.encode() + content + b"\r\n")
    return b"".join(chunks) + b"--BOUNDARY--\r\n"


def query_hostiles(keys: tuple[str, ...]) -> list[Hostile]:
    everything = tuple(dict.fromkeys(COMMON_KEYS + keys))
    result = [
        Hostile("paging letters", "limit=abc&max_id=abc&since_id=-1&min_id=" + HUGE),
        Hostile("paging huge", f"limit={HUGE}&offset={HUGE}&max_id={HUGE}&min_id=0"),
        Hostile("paging negative", "limit=-5&offset=-5&since_id=-5"),
        Hostile("huge q", _form([("q", BIG_TEXT[:20_000]), ("acct", BIG_TEXT[:20_000])])),
        Hostile("bad escapes", "q=%ZZ&%=%&&&=&a=%FF&b=%00"),
    ]
    for label, shape in _FORM_SHAPES:
        result.append(Hostile(f"query {label}", _form([p for k in everything for p in shape(k)])))
    return result


def body_hostiles(keys: tuple[str, ...]) -> list[Hostile]:
    everything = tuple(dict.fromkeys(COMMON_KEYS + keys))
    result = [
        Hostile("malformed json", body=b"{", content_type=JSON),
        Hostile("json array", body=b"[1, 2]", content_type=JSON),
        Hostile("json string", body=b'"status"', content_type=JSON),
        Hostile("json null", body=b"null", content_type=JSON),
        Hostile("json invalid utf-8", body=b'{"status": "\xff\xfe"}', content_type=JSON),
        Hostile("json deep", body=b"[" * 5000 + b"]" * 5000, content_type=JSON),
        Hostile("empty json", body=b"", content_type=JSON),
        Hostile("empty form", body=b"", content_type=FORM),
        Hostile("no content type", body=b"status=hi"),
        Hostile("text/plain", body=b"status=hi", content_type="text/plain"),
        Hostile("xml", body=b"<status>hi</status>", content_type="application/xml"),
        Hostile("json charset", body=b'{"a": 1}', content_type="application/json; charset=latin1"),
        Hostile("multipart no boundary", body=b"--x\r\n", content_type="multipart/form-data"),
        Hostile(
            "multipart broken",
            body=b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n",
            content_type="multipart/form-data; boundary=b",
        ),
        Hostile(
            "multipart no file",
            body=_multipart([(k, None) for k in everything]),
            content_type=MULTIPART,
        ),
        Hostile(
            "multipart file everywhere",
            body=_multipart([(k, b"\x00\x01\xff") for k in everything]),
            content_type=MULTIPART,
        ),
    ]
    for label, shape in _FORM_SHAPES:
        body = _form([p for k in everything for p in shape(k)]).encode()
        result.append(Hostile(f"form {label}", body=body, content_type=FORM))
    for label, shape in _JSON_SHAPES:
        objects = [shape(k)[1:-1] for k in everything]
        result.append(
            Hostile(f"json {label}", body=b"{" + b",".join(objects) + b"}", content_type=JSON)
        )
    result.append(
        Hostile(
            "form huge", body=_form([(k, BIG_TEXT) for k in everything]).encode(), content_type=FORM
        )
    )
    return result


def per_key_hostiles(keys: tuple[str, ...], *, write: bool) -> list[Hostile]:
    """Each key alone with each bad shape, so a key read late is still reached."""
    result = []
    for key in keys:
        for label, shape in _FORM_SHAPES:
            encoded = _form(shape(key))
            if write:
                result.append(
                    Hostile(f"{key} form {label}", body=encoded.encode(), content_type=FORM)
                )
            else:
                result.append(Hostile(f"{key} query {label}", encoded))
        if write:
            for label, shape in _JSON_SHAPES:
                result.append(Hostile(f"{key} json {label}", body=shape(key), content_type=JSON))
    return result


# --- the sweep -------------------------------------------------------------------------------


async def first_response(
    app: Any, method: str, url: str, headers: dict[str, str], body: bytes
) -> httpx.Response:
    """Call the ASGI app directly and stop at the first body chunk: streams never end."""
    path, _, query = url.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": unquote(path),
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"host", b"local.test")],
        "client": ("127.0.0.1", 1234),
        "server": ("local.test", 443),
    }
    started = asyncio.Event()
    status: list[int] = []
    chunks: list[bytes] = []
    sent_body = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await started.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            started.set()

    task = asyncio.create_task(app(scope, receive, send))
    try:
        await asyncio.wait_for(started.wait(), 10)
    finally:
        started.set()
        try:
            await asyncio.wait_for(task, 10)
        except TimeoutError:
            task.cancel()
    return httpx.Response(status[0], content=b"".join(chunks))


@dataclass
class Sweep:
    client: httpx.AsyncClient
    app: Any
    headers: dict[str, str]
    failures: list[str] = field(default_factory=list)
    sent: int = 0
    codes: collections.Counter[int] = field(default_factory=collections.Counter)

    async def send(self, method: str, path: str, hostile: Hostile) -> httpx.Response | None:
        url = path + (f"?{hostile.query}" if hostile.query else "")
        headers = dict(self.headers)
        if hostile.content_type is not None:
            headers["Content-Type"] = hostile.content_type
        self.sent += 1
        try:
            if url.startswith("/api/v1/streaming/") and not url.startswith(_STREAM_HEALTH):
                response = await first_response(self.app, method, url, headers, hostile.body or b"")
            else:
                response = await asyncio.wait_for(
                    self.client.request(method, url, headers=headers, content=hostile.body), 30
                )
        except Exception as exc:  # the app raising through the transport is a 500 too
            self.failures.append(f"{method} {url[:200]} [{hostile.label}]: raised {exc!r}")
            return None
        self.check(method, url, hostile.label, response)
        return response

    def check(self, method: str, url: str, label: str, response: httpx.Response) -> None:
        where = f"{method} {url[:200]} [{label}]"
        self.codes[response.status_code] += 1
        if response.status_code >= 500:
            self.failures.append(f"{where}: {response.status_code} {response.text[:200]}")
            return
        path = url.split("?", 1)[0]
        if 400 <= response.status_code < 500 and (
            path.startswith("/api/") or path == "/oauth/token"
        ):
            try:
                body = response.json()
            except ValueError:
                self.failures.append(f"{where}: {response.status_code} not JSON")
                return
            if not (isinstance(body, dict) and isinstance(body.get("error"), str)):
                self.failures.append(f"{where}: {response.status_code} without error: {body!r}")


def is_admin_path(path: str) -> bool:
    return path.startswith(
        ("/api/v1/admin", "/admin", "/api/v1/instance/domain", "/api/v1/invites")
    )


async def sweep_routes(
    sweep: Sweep, world: World, *, keys_per_route: int, only: Any = None
) -> None:
    # Deletions last, so the things other routes name still exist while they are probed.
    pairs = [(e, m) for e in endpoints() for m in e.methods if only is None or only(e.path)]
    pairs.sort(key=lambda pair: pair[1] == "DELETE")
    sample = random.Random(7)  # fixed: the same requests every run, reproducible failures
    for endpoint, method in pairs:
        variants = path_variants(world, endpoint.path)
        for variant in variants[1:]:
            await sweep.send(method, variant, Hostile("odd path"))
        write = method != "GET"
        hostiles = query_hostiles(endpoint.keys)
        if write:
            hostiles = hostiles[:5] + body_hostiles(endpoint.keys)
        single = per_key_hostiles(endpoint.keys, write=write)
        hostiles += sample.sample(single, min(keys_per_route, len(single)))
        for hostile in hostiles:
            await sweep.send(method, variants[0], hostile)


def backstop_warnings(records: list[logging.LogRecord]) -> list[str]:
    """Values the database refused although validation should have stopped them first."""
    return [
        f"database backstop: {record.getMessage()} ({record.exc_info[1]!r})"
        for record in records
        if record.name == "fediverse.storage.database"
        and record.levelno >= logging.WARNING
        and record.exc_info
    ]


async def assert_still_serving(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).status_code == 200
    instance = await client.get("/api/v1/instance")
    assert instance.status_code == 200 and instance.json()["uri"]


async def test_no_route_answers_a_hostile_request_with_a_server_error(
    app: Any,
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = await build_world(client, database, settings)
    caplog.set_level(logging.WARNING)
    staff = Sweep(client, app, world.alice.headers)
    await sweep_routes(staff, world, keys_per_route=6)
    admin = Sweep(client, app, world.admin.headers)
    await sweep_routes(admin, world, keys_per_route=12, only=is_admin_path)
    failures = staff.failures + admin.failures + backstop_warnings(caplog.records)
    assert not failures, "\n".join(failures[:60]) + f"\n({len(failures)} in all)"
    await assert_still_serving(client)


# --- one bad field inside an otherwise valid request -----------------------------------------

P256DH = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
AUTH_KEY = "BTBZMqHH6r4Tts7J_aSIgg"


def valid_bodies(world: World) -> list[tuple[str, str, dict[str, Any]]]:
    """Requests that succeed as they are, to carry one hostile field past the early checks."""
    e = world.existing
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    return [
        ("POST", "/api/v1/statuses", {"status": "hi", "visibility": "public", "language": "en"}),
        (
            "POST",
            "/api/v1/statuses",
            {"status": "q", "poll": {"options": ["a", "b"], "expires_in": 600}},
        ),
        ("POST", "/api/v1/statuses", {"status": "later", "scheduled_at": tomorrow}),
        ("PUT", f"/api/v1/statuses/{e['status']}", {"status": "edited", "spoiler_text": "cw"}),
        ("PATCH", "/api/v1/accounts/update_credentials", {"display_name": "A", "note": "n"}),
        ("POST", "/api/v1/lists", {"title": "x", "replies_policy": "list", "exclusive": False}),
        ("PUT", f"/api/v1/lists/{e['list']}", {"title": "y"}),
        ("POST", "/api/v2/filters", {"title": "f", "context": ["home"], "filter_action": "warn"}),
        ("PUT", f"/api/v2/filters/{e['filter']}", {"title": "g", "expires_in": 3600}),
        ("POST", f"/api/v2/filters/{e['filter']}/keywords", {"keyword": "k", "whole_word": True}),
        (
            "POST",
            "/api/v1/push/subscription",
            {
                "subscription": {
                    "endpoint": "https://push.example/1",
                    "keys": {"p256dh": P256DH, "auth": AUTH_KEY},
                },
                "data": {"alerts": {"mention": True}, "policy": "all"},
            },
        ),
        ("PUT", f"/api/v1/media/{e['media']}", {"description": "d", "focus": "0.1,0.2"}),
        ("POST", "/api/v1/markers", {"home": {"last_read_id": e["status"]}}),
        ("POST", f"/api/v1/polls/{e['poll']}/votes", {"choices": ["0"]}),
        ("POST", f"/api/v1/accounts/{e['account']}/follow", {"reblogs": True, "notify": False}),
        ("POST", f"/api/v1/accounts/{e['account']}/mute", {"notifications": True, "duration": 60}),
        (
            "POST",
            "/api/v1/apps",
            {"client_name": "c", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"},
        ),
        ("PUT", f"/api/v1/scheduled_statuses/{e['scheduled']}", {"scheduled_at": tomorrow}),
        ("PATCH", "/api/v2/notifications/policy", {"for_not_following": "filter"}),
        ("POST", "/api/v1/featured_tags", {"name": "other"}),
        ("GET", "/api/v2/search", {"q": "hello", "type": "statuses", "limit": 5}),
        ("GET", "/api/v1/notifications", {"types": ["mention"], "limit": 5}),
        ("GET", "/api/v2/notifications", {"grouped_types": ["favourite"], "limit": 5}),
        ("GET", f"/api/v1/accounts/{e['account']}/statuses", {"pinned": False, "limit": 5}),
        ("GET", "/api/v1/timelines/public", {"local": True, "limit": 5}),
    ]


def _json_bad_values() -> list[Any]:
    return [
        {"a": {"b": [1]}},
        [1, "x", None, {"a": 1}],
        int(HUGE),
        1.5e300,
        None,
        "a\x00b",
        BIG_TEXT,
        BOGUS,
    ]


def _form_pairs(prefix: str, value: Any) -> list[tuple[str, str]]:
    """Rails-style form pairs for a nested value."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _form_pairs(f"{prefix}[{k}]", v)]
    if isinstance(value, list):
        return [p for v in value for p in _form_pairs(f"{prefix}[]", v)]
    if isinstance(value, bool):
        return [(prefix, "true" if value else "false")]
    return [(prefix, str(value))]


async def test_one_hostile_field_in_an_otherwise_valid_request_is_refused_cleanly(
    app: Any,
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = await build_world(client, database, settings)
    caplog.set_level(logging.WARNING)
    sweep = Sweep(client, app, world.alice.headers)
    for method, path, base in valid_bodies(world):
        keys = list(base) + [k for k in _keys_read_by(_endpoint_for(method, path)) if k not in base]
        for key in keys:
            for bad in _json_bad_values():
                body = json_bytes(base | {key: bad})
                if method == "GET":
                    pairs = [p for k, v in (base | {key: bad}).items() for p in _form_pairs(k, v)]
                    query = _form([(k, quote(v[:20_000], safe="")) for k, v in pairs])
                    await sweep.send(method, path, Hostile(f"{key}={bad!r:.30}", query))
                else:
                    await sweep.send(
                        method, path, Hostile(f"{key}={bad!r:.30}", body=body, content_type=JSON)
                    )
            for label, shape in _FORM_SHAPES[:3]:
                pairs = [p for k, v in base.items() if k != key for p in _form_pairs(k, v)]
                encoded = _form([(k, quote(v, safe="")) for k, v in pairs] + shape(key))
                if method == "GET":
                    await sweep.send(method, path, Hostile(f"{key} {label}", encoded))
                else:
                    await sweep.send(
                        method,
                        path,
                        Hostile(f"{key} {label}", body=encoded.encode(), content_type=FORM),
                    )
    failures = sweep.failures + backstop_warnings(caplog.records)
    assert not failures, "\n".join(failures[:60]) + f"\n({len(failures)} in all)"
    await assert_still_serving(client)


def _endpoint_for(method: str, path: str) -> Any:
    for route in all_routes():
        if isinstance(route, Route) and method in (route.methods or ()):
            match, _ = route.matches({"type": "http", "path": path, "method": method})
            if match.name == "FULL":
                return route.endpoint
    raise AssertionError(f"no route for {method} {path}")


def json_bytes(value: Any) -> bytes:
    # Python's json (not orjson) writes ints beyond 64 bits and lone surrogates as they are.
    return json.dumps(value).encode()


# --- rejected writes store nothing -----------------------------------------------------------


async def row_counts(database: Database) -> dict[str, int]:
    async with database.connection() as conn:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        return {
            row["tablename"]: await conn.fetchval(f'SELECT count(*) FROM "{row["tablename"]}"')
            for row in tables
        }


def rejected_writes(world: World) -> list[tuple[StaffMember, str, str, dict[str, Any]]]:
    e, a, root = world.existing, world.alice, world.admin
    missing = str(ids.new_id())
    return [
        (a, "POST", "/api/v1/statuses", {"status": "x", "media_ids": [missing]}),
        (a, "POST", "/api/v1/statuses", {"status": "x", "media_ids": [e["media"], HUGE]}),
        (a, "POST", "/api/v1/statuses", {"status": "x", "media_ids": ["abc"]}),
        (a, "POST", "/api/v1/statuses", {"status": "x", "poll": {"options": ["only"]}}),
        (
            a,
            "POST",
            "/api/v1/statuses",
            {"status": "x", "poll": {"options": "a", "expires_in": 60}},
        ),
        (
            a,
            "POST",
            "/api/v1/statuses",
            {"status": "x", "poll": {"options": ["a", "b"], "expires_in": HUGE}},
        ),
        (
            a,
            "POST",
            "/api/v1/statuses",
            {
                "status": "x",
                "poll": {"options": ["a", "b"], "expires_in": 600},
                "media_ids": [e["media"]],
            },
        ),
        (a, "POST", "/api/v1/statuses", {"status": "x", "in_reply_to_id": missing}),
        (a, "POST", "/api/v1/statuses", {"status": "x", "in_reply_to_id": HUGE}),
        (a, "POST", "/api/v1/statuses", {"status": "x", "in_reply_to_id": "abc"}),
        (a, "POST", "/api/v1/statuses", {"status": "x", "visibility": BOGUS}),
        (a, "POST", "/api/v1/statuses", {"status": BIG_TEXT}),
        (a, "POST", "/api/v1/statuses", {"status": "x", "scheduled_at": "yesterday"}),
        (a, "PUT", f"/api/v1/statuses/{e['status']}", {"status": ""}),
        (a, "PUT", f"/api/v1/statuses/{e['status']}", {"status": BIG_TEXT}),
        (a, "PUT", f"/api/v1/statuses/{e['status']}", {"status": "y", "media_ids": [missing]}),
        (a, "PUT", f"/api/v1/statuses/{e['status']}", {"status": "y", "poll": {"options": []}}),
        (a, "PUT", f"/api/v1/statuses/{e['status']}", {"status": ["y"]}),
        (a, "POST", "/api/v1/lists", {}),
        (a, "POST", "/api/v1/lists", {"title": ["x"]}),
        (a, "POST", "/api/v1/lists", {"title": "x", "replies_policy": BOGUS}),
        (a, "POST", "/api/v2/filters", {"context": ["home"]}),
        (a, "POST", "/api/v2/filters", {"title": "t", "context": [BOGUS]}),
        (a, "POST", "/api/v2/filters", {"title": "t", "context": ["home"], "filter_action": BOGUS}),
        (a, "POST", "/api/v2/filters", {"title": "t", "context": ["home"], "expires_in": HUGE}),
        (
            a,
            "POST",
            "/api/v2/filters",
            {"title": "t", "context": ["home"], "keywords_attributes": [{"keyword": ""}]},
        ),
        (
            a,
            "POST",
            "/api/v2/filters",
            {"title": "t", "context": ["home"], "keywords_attributes": "k"},
        ),
        (
            a,
            "POST",
            "/api/v1/push/subscription",
            {"subscription": {"endpoint": "https://p.example"}},
        ),
        (a, "POST", "/api/v1/push/subscription", {"subscription": "x"}),
        (
            a,
            "POST",
            "/api/v1/push/subscription",
            {
                "subscription": {
                    "endpoint": "https://p.example/1",
                    "keys": {"p256dh": "bad", "auth": "bad"},
                }
            },
        ),
        (root, "POST", "/api/v1/admin/domain_blocks", {}),
        (root, "POST", "/api/v1/admin/domain_blocks", {"domain": "x.example", "severity": BOGUS}),
        (root, "POST", "/api/v1/admin/domain_blocks", {"domain": "not a domain"}),
        (root, "POST", "/api/v1/admin/domain_blocks", {"domain": "y.example", "grace_hours": HUGE}),
        (root, "POST", "/api/v1/admin/domain_blocks", {"domain": "bad.example"}),
        (root, "PUT", f"/api/v1/admin/domain_blocks/{e['domain_block']}", {"severity": BOGUS}),
    ]


async def test_a_rejected_write_leaves_every_table_as_it_was(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    world = await build_world(client, database, settings)
    for staff, method, path, body in rejected_writes(world):
        before = await row_counts(database)
        response = await client.request(
            method, path, content=json_bytes(body), headers=staff.headers | {"Content-Type": JSON}
        )
        assert 400 <= response.status_code < 500, (method, path, body, response.text[:300])
        assert isinstance(response.json()["error"], str)
        assert await row_counts(database) == before, (method, path, body)


# --- the 500s this file found, one regression test each --------------------------------------


async def test_nul_characters_in_a_path_are_not_found_and_in_parameters_name_the_field(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    bob = await make_staff(database, settings, "bob")
    assert (await client.get("/users/%00")).status_code == 404
    assert (await client.get("/api/v1/timelines/tag/a%00b")).json() == {"error": "Record not found"}
    lookup = await client.get("/api/v1/accounts/lookup?acct=a%00b", headers=alice.headers)
    assert lookup.status_code == 422 and "acct" in lookup.json()["error"]
    note = await client.post(
        f"/api/v1/accounts/{bob.id}/note", headers=alice.headers, json={"comment": "a\x00b"}
    )
    assert note.status_code == 422 and "comment" in note.json()["error"]
    nested = await client.post(
        "/api/v1/statuses", headers=alice.headers, data={"poll[options][]": "a\x00"}
    )
    assert nested.status_code == 422 and "poll[options][]" in nested.json()["error"]


async def test_numbers_beyond_bigint_are_refused_before_they_reach_the_database(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    root = await make_staff(database, settings, "root", role="admin", scopes=ADMIN_SCOPES)
    trends = await client.get(f"/api/v1/trends/statuses?offset={HUGE}")
    assert trends.status_code == 422 and "offset" in trends.json()["error"]
    assert (await client.get(f"/users/alice/statuses/{HUGE}/activity")).status_code == 404
    assert (await client.get(f"/users/alice/statuses/{HUGE}")).status_code == 404
    outbox = await client.get(f"/users/alice/outbox?page=true&max_id={HUGE}")
    assert outbox.status_code in (200, 401)  # 401 when fetches must be signed
    admin_account = await client.get(f"/api/v1/admin/accounts/{HUGE}", headers=root.headers)
    assert admin_account.status_code == 404
    search = await client.get(f"/api/v2/search?q=x&account_id={HUGE}", headers=alice.headers)
    assert search.status_code == 400 and "account_id" in search.json()["error"]
    grace = await client.post(
        "/api/v1/admin/domain_blocks",
        headers=root.headers,
        json={"domain": "slow.example", "grace_hours": "inf"},
    )
    assert grace.status_code == 422 and "grace_hours" in grace.json()["error"]


async def test_one_name_used_as_both_a_hash_and_an_array_is_a_bad_request(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    for query in ("a[b]=&a[][b]=", "a[b]=1&a[]=2&a[][c]=3", "poll[x]=1&poll[][y]=2"):
        response = await client.get(f"/api/v1/notifications?{query}", headers=alice.headers)
        assert response.status_code == 400, query
        assert "mixes an array and a hash" in response.json()["error"]


async def test_dismissing_the_suggestion_of_a_missing_account_is_not_found(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    alice = await make_staff(database, settings, "alice")
    missing = await client.delete(f"/api/v1/suggestions/{ids.new_id()}", headers=alice.headers)
    assert missing.status_code == 404 and missing.json() == {"error": "Record not found"}


# --- the parameter reader itself, property-tested --------------------------------------------

_text = st.text(st.characters(codec="utf-8"), max_size=20)
_key = st.one_of(st.sampled_from(["status", "limit", "poll", "a[b]", "a[]", "[]", "a[][b]"]), _text)


def _request(method: str, query: bytes, body: bytes, content_type: str) -> Request:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": method,
        "path": "/",
        "query_string": query,
        "headers": [(b"content-type", content_type.encode())],
    }
    return Request(scope, receive)


@settings_(max_examples=150, deadline=None)
@given(
    pairs=st.lists(st.tuples(_key, _text), max_size=8),
    json_body=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | _text,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
        max_leaves=10,
    ),
    accessor=st.sampled_from(["str", "int", "bool", "list", "dict", "file", "raw"]),
    key=_key,
    as_json=st.booleans(),
)
async def test_any_query_form_or_json_parses_to_params_or_a_client_error(
    pairs: list[tuple[str, str]], json_body: Any, accessor: str, key: str, as_json: bool
) -> None:
    query = urlencode(pairs).encode()
    if as_json:
        request = _request("POST", query, json.dumps(json_body).encode(), JSON)
    else:
        request = _request("POST", b"", query, FORM)
    try:
        params = await read_params(request)
        value = getattr(params, accessor)(key)
    except DomainError as error:
        assert 400 <= error.status < 500
        return
    expected = {"str": (str, type(None)), "int": (int, type(None)), "bool": (bool, type(None))}
    if accessor in expected:
        assert isinstance(value, expected[accessor])
    if accessor == "int" and value is not None:
        assert -(2**63) <= value < 2**63
    if accessor == "list":
        assert isinstance(value, list)
    if accessor == "dict":
        assert isinstance(value, dict)
