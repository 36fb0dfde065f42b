"""The outgoing HTTP client: AS2 checks, size and redirect limits, SSRF guard, signing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from federation.client import (
    FederationClient,
    FetchError,
    ResponseTooLarge,
    UnexpectedContentType,
    UnsafeDestination,
    is_public_ip,
)
from federation.signatures import RequestSigner, VerificationKey, verify_request
from fediverse.config import Settings

KEYS = json.loads(
    (
        Path(__file__).parent / "fixtures" / "httpsig" / "rfc9421-appendix-b1-test-keys.json"
    ).read_text()
)["keys"]["test-key-rsa"]
SIGNER = RequestSigner("https://local.test/actor#main-key", KEYS["private_key_pem"])
ADDRESSES = {
    "remote.example": ["93.184.216.34"],
    "cdn.example": ["93.184.216.35"],
    "intranet.example": ["10.1.2.3"],
    "sneaky.example": ["93.184.216.36", "127.0.0.1"],
}


async def fake_resolver(host: str, port: int) -> list[str]:
    if host not in ADDRESSES:
        raise OSError(f"unknown host {host}")
    return ADDRESSES[host]


def make_client(settings: Settings, handler: Any, **overrides: Any) -> FederationClient:
    return FederationClient(
        settings.with_overrides(**overrides),
        transport=httpx.MockTransport(handler),
        resolver=fake_resolver,
        instance_signer=SIGNER,
    )


def as2(document: dict[str, Any], status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(document).encode(),
        headers={"Content-Type": "application/activity+json", **headers},
    )


async def test_documents_are_fetched_with_as2_accept_user_agent_and_a_signature(
    settings: Settings,
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return as2({"id": "https://remote.example/users/bob", "type": "Person"})

    async with make_client(settings, handler) as client:
        document = await client.get_document("https://remote.example/users/bob")
    assert document["type"] == "Person"
    request = seen[0]
    assert request.headers["accept"].startswith("application/activity+json")
    assert 'profile="https://www.w3.org/ns/activitystreams"' in request.headers["accept"]
    assert request.headers["user-agent"] == "fediverse-server/0.1.0 (+https://local.test/)"
    verified = verify_request(
        "GET",
        str(request.url),
        request.headers,
        b"",
        VerificationKey(SIGNER.key_id, KEYS["public_key_pem"]),
        now=datetime.now(UTC),
    )
    assert verified.key_id == "https://local.test/actor#main-key"


@pytest.mark.parametrize(
    "content_type", ['application/ld+json; profile="https://www.w3.org/ns/activitystreams"']
)
async def test_ld_json_documents_are_accepted(settings: Settings, content_type: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.dumps({"id": str(request.url)}).encode()
        return httpx.Response(200, content=body, headers={"Content-Type": content_type})

    async with make_client(settings, handler) as client:
        assert (await client.get_document("https://remote.example/note/1"))["id"]


async def test_a_document_served_as_html_is_refused(settings: Settings) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html></html>", headers={"Content-Type": "text/html"})

    async with make_client(settings, handler) as client:
        with pytest.raises(UnexpectedContentType):
            await client.get_document("https://remote.example/users/bob")


async def test_a_document_claiming_an_id_on_another_host_is_refused(settings: Settings) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return as2({"id": "https://victim.example/users/bob", "type": "Person"})

    async with make_client(settings, handler) as client:
        with pytest.raises(FetchError, match="not on the host"):
            await client.get_document("https://remote.example/users/bob")


async def test_a_document_larger_than_the_limit_is_cut_off(settings: Settings) -> None:
    async def endless() -> AsyncIterator[bytes]:
        yield b'{"id": "https://remote.example/big", "padding": "'
        for _ in range(100):
            yield b"x" * 65536  # no Content-Length: must be cut off while streaming
        yield b'"}'

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=endless(), headers={"Content-Type": "application/activity+json"}
        )

    async with make_client(settings, handler) as client:
        with pytest.raises(ResponseTooLarge):
            await client.get_document("https://remote.example/big")


async def test_same_host_redirects_are_followed_for_documents(settings: Settings) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/@bob":
            return httpx.Response(301, headers={"Location": "/users/bob"})
        return as2({"id": "https://remote.example/users/bob", "type": "Person"})

    async with make_client(settings, handler) as client:
        document = await client.get_document("https://remote.example/@bob")
    assert document["id"] == "https://remote.example/users/bob"


async def test_a_redirect_to_another_host_is_refused_for_documents(settings: Settings) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "https://cdn.example/users/bob"})

    async with make_client(settings, handler) as client:
        with pytest.raises(FetchError, match="redirects to another host"):
            await client.get_document("https://remote.example/users/bob")


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/users/bob",
        "https://[::1]/users/bob",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.8/inbox",
        "https://192.168.1.1/inbox",
        "https://224.0.0.1/inbox",
        "https://[fe80::1]/inbox",
        "https://[::ffff:127.0.0.1]/inbox",
        "https://intranet.example/users/bob",
        "https://sneaky.example/users/bob",
    ],
)
async def test_private_loopback_link_local_and_multicast_destinations_are_refused(
    settings: Settings, url: str
) -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return as2({})

    async with make_client(settings, handler) as client:
        with pytest.raises(UnsafeDestination):
            await client.get_document(url)
    assert requests == []


async def test_a_redirect_to_a_private_address_is_refused(settings: Settings) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "https://intranet.example/x"})

    async with make_client(settings, handler) as client:
        with pytest.raises(UnsafeDestination):
            await client.webfinger("bob@remote.example")


async def test_name_resolution_uses_the_event_loop_by_default(settings: Settings) -> None:
    # No resolver given: "localhost" is resolved with the loop's getaddrinfo → loopback.
    client = FederationClient(settings, transport=httpx.MockTransport(lambda r: as2({})))
    async with client:
        with pytest.raises(UnsafeDestination, match="non-public"):
            await client.get_document("https://localhost/users/bob")


async def test_private_networks_are_allowed_when_the_setting_says_so(settings: Settings) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return as2({"id": str(request.url)})

    async with make_client(settings, handler, allow_private_networks=True) as client:
        document = await client.get_document("http://intranet.example/users/bob")
    assert document["id"] == "http://intranet.example/users/bob"


async def test_plain_http_is_refused_unless_allowed(settings: Settings) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return as2({"id": str(request.url)})

    async with make_client(settings, handler) as client:
        with pytest.raises(UnsafeDestination, match="plain http"):
            await client.get_document("http://remote.example/users/bob")
    async with make_client(settings, handler, scheme="http") as client:
        assert await client.get_document("http://remote.example/users/bob")


async def test_post_activity_signs_the_body_and_returns_the_status(settings: Settings) -> None:
    received: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(202)

    body = b'{"type":"Follow"}'
    async with make_client(settings, handler) as client:
        status = await client.post_activity("https://remote.example/inbox", body, signer=SIGNER)
        status_9421 = await client.post_activity(
            "https://remote.example/inbox", body, signer=SIGNER, scheme="rfc9421"
        )
    assert (status, status_9421) == (202, 202)
    key = VerificationKey(SIGNER.key_id, KEYS["public_key_pem"])
    for request in received:
        assert request.headers["content-type"] == "application/activity+json"
        verified = verify_request(
            "POST", str(request.url), request.headers, request.content, key,
            now=datetime.now(UTC),
        )  # fmt: skip
        assert verified.key_id == SIGNER.key_id
    assert {verify.headers.get("signature-input") is None for verify in received} == {True, False}


async def test_post_activity_reports_error_statuses_without_raising(settings: Settings) -> None:
    async with make_client(settings, lambda request: httpx.Response(410)) as client:
        assert (
            await client.post_activity("https://remote.example/inbox", b"{}", signer=SIGNER) == 410
        )


async def test_webfinger_queries_the_domain_for_the_acct(settings: Settings) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"subject": "acct:bob@remote.example", "links": []})

    async with make_client(settings, handler) as client:
        jrd = await client.webfinger("@bob@remote.example")
    assert jrd["subject"] == "acct:bob@remote.example"
    assert str(seen[0].url) == (
        "https://remote.example/.well-known/webfinger?resource=acct:bob@remote.example"
    )
    assert "signature" not in seen[0].headers


async def test_a_slow_peer_times_out(settings: Settings) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return as2({})

    client = FederationClient(
        settings,
        transport=httpx.MockTransport(handler),
        resolver=fake_resolver,
        total_timeout=0.05,
    )
    async with client:
        with pytest.raises(FetchError, match="timed out"):
            await client.get_document("https://remote.example/users/bob")


def test_only_global_unicast_addresses_count_as_public() -> None:
    assert is_public_ip("93.184.216.34")
    assert is_public_ip("2606:4700:4700::1111")
    for address in ("127.0.0.1", "10.0.0.1", "100.64.0.1", "169.254.1.1", "::1", "fc00::1",
                    "239.1.1.1", "ff02::1", "0.0.0.0", "not-an-ip"):  # fmt: skip
        assert not is_public_ip(address), address


async def test_the_default_aiohttp_transport_fetches_from_a_real_loopback_server(
    settings: Settings,
) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = json.dumps({"type": "Person"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/activity+json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no startup event
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        local = settings.with_overrides(allow_private_networks=True)
        async with FederationClient(local) as client:
            document = await client.get_document(f"http://127.0.0.1:{port}/users/bob")
        assert document["type"] == "Person"
        # With the guard on, the same loopback server is refused before any connection.
        async with FederationClient(settings.with_overrides(scheme="http")) as client:
            with pytest.raises(UnsafeDestination):
                await client.get_document(f"http://127.0.0.1:{port}/users/bob")
    finally:
        server.should_exit = True
        await task
