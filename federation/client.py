"""The one outgoing HTTP client: limits, SSRF guard, ActivityStreams checks and signing.

Transport: httpx's API over aiohttp's connection pool (httpx-aiohttp), because measured on this
machine POSTing to a local server httpx's own pool gave 446/s at 16 concurrent requests and
266/s at 64, while the aiohttp transport gave 2,680/s and 2,597/s (server-bound).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import os
import socket
import ssl
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import aiohttp
import httpx
import orjson
from aiohttp.abc import AbstractResolver, ResolveResult
from httpx_aiohttp import AiohttpTransport

from federation.activitystreams import (
    ACCEPT_ACTIVITYSTREAMS,
    ACTIVITY_JSON,
    JRD_JSON,
    host_of,
    is_activitystreams_media_type,
)
from federation.signatures import RequestSigner, Scheme
from fediverse import __version__
from fediverse.config import Settings
from fediverse.federation_rules import Decision

log = logging.getLogger(__name__)

Resolver = Callable[[str, int], Awaitable[list[str]]]
# url -> the federation policy's decision for its domain (federation.policy.FederationPolicy).
PolicyGate = Callable[[str], Awaitable[Decision]]
# body -> whether it only ends a follow (Undo/Reject Follow), which a removed peer may receive.
FarewellTest = Callable[[bytes], bool]

MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_RESPONSE_BYTES_ON_POST = 64 * 1024
MAX_REDIRECTS = 3


class FetchError(Exception):
    """An outgoing request failed or returned something we will not use."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class DomainNotAllowed(FetchError):
    """The destination's domain may not federate with this server (federation/policy.py)."""


class UnsafeDestination(FetchError):
    """The URL points at a private, loopback, link-local or multicast address, or bad scheme."""


class ResponseTooLarge(FetchError):
    pass


class UnexpectedContentType(FetchError):
    pass


def is_public_ip(address: str) -> bool:
    """Only globally routable unicast addresses are fair game for outgoing requests."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve_with_loop(host: str, port: int) -> list[str]:
    """All addresses of a host name, from the event loop's getaddrinfo."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class _GuardedResolver(AbstractResolver):
    """aiohttp resolver that refuses non-public addresses at connect time.

    The client checks the destination before each request; checking again here, on the very
    addresses the socket will use, closes the DNS-rebinding gap between the two lookups.
    """

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        safe = [result for result in results if is_public_ip(result["host"])]
        if not safe:
            raise OSError(f"{host} resolves only to non-public addresses")
        return safe

    async def close(self) -> None:
        await self._inner.close()


def ssl_context_for(settings: Settings) -> ssl.SSLContext:
    """The system trust store, plus the operator's extra CA bundle when configured."""
    context = ssl.create_default_context()
    if settings.ca_bundle:
        context.load_verify_locations(cafile=settings.ca_bundle)
    return context


def _default_transport(settings: Settings) -> httpx.AsyncBaseTransport:
    context = ssl_context_for(settings)
    allow_private = settings.allow_private_networks

    def make_session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            ssl=context,
            limit=256,
            limit_per_host=16,
            resolver=None if allow_private else _GuardedResolver(),
        )
        return aiohttp.ClientSession(connector=connector)

    return AiohttpTransport(verify=context, client=make_session)


class FederationClient:
    """Every outgoing request to a peer goes through one long-lived instance of this class.

    `transport` is the test seam: pass `httpx.MockTransport` or an ASGI transport. `resolver`
    (host, port) -> addresses lets tests give fake host names public or private addresses.
    `policy` (the federation policy's `decide_url`) is asked before every request, redirects
    included: nothing reaches a domain that may not federate (DomainNotAllowed).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
        instance_signer: RequestSigner | None = None,
        connect_timeout: float = 5.0,
        total_timeout: float = 20.0,
        max_document_bytes: int = MAX_DOCUMENT_BYTES,
        policy: PolicyGate | None = None,
        is_farewell: FarewellTest | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self._is_farewell = is_farewell
        self.instance_signer = instance_signer
        self.user_agent = f"fediverse-server/{__version__} (+{settings.base_url}/)"
        self._resolver = resolver or resolve_with_loop
        self._total_timeout = total_timeout
        self._max_document_bytes = max_document_bytes
        self._transport = transport or _default_transport(settings)
        self._http = httpx.AsyncClient(
            transport=self._transport,
            timeout=httpx.Timeout(total_timeout, connect=connect_timeout),
            follow_redirects=False,
            headers={"User-Agent": self.user_agent},
        )
        # Requests go straight to the transport (see _request); these are what the client
        # would have added to each.
        self._base_headers = httpx.Headers(self._http.headers)
        self._timeouts = self._http.timeout.as_dict()
        # RSA signing releases the GIL: on threads it runs beside the event loop, on other
        # cores, instead of stalling every other request (it was 45% of the serving process
        # during a fan-out; bench/fanout.py).
        self._signing = ThreadPoolExecutor(
            max_workers=os.cpu_count() or 1, thread_name_prefix="fediverse-sign"
        )

    async def aclose(self) -> None:
        await self._http.aclose()
        self._signing.shutdown(wait=False)

    async def _sign(
        self, signer: RequestSigner, method: str, url: str, content: bytes | None, scheme: Scheme
    ) -> dict[str, str]:
        loop = asyncio.get_running_loop()
        sign = functools.partial(signer.sign, method, url, content, scheme=scheme)
        return await loop.run_in_executor(self._signing, sign)

    async def __aenter__(self) -> FederationClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- public API -------------------------------------------------------------------------

    async def get_document(
        self, url: str, *, signer: RequestSigner | None = None
    ) -> dict[str, Any]:
        """Fetch an ActivityStreams document (signed GET, as the instance actor by default).

        Redirects are followed only on the same host; the Content-Type must be AS2 and the
        document's `id`, if any, must live on the host it was fetched from.
        """
        response, body, final_url = await self._request(
            "GET",
            url,
            accept=ACCEPT_ACTIVITYSTREAMS,
            signer=signer or self.instance_signer,
            same_host_redirects=True,
            max_bytes=self._max_document_bytes,
        )
        self._raise_for_status(response, final_url)
        if not is_activitystreams_media_type(response.headers.get("content-type")):
            raise UnexpectedContentType(
                f"{final_url} answered {response.headers.get('content-type')!r}, not AS2",
                url=final_url,
            )
        document = _parse_json_object(body, final_url)
        ident = document.get("id")
        if ident is not None and (not isinstance(ident, str) or host_of(ident) != host_of(url)):
            raise FetchError(f"document id {ident!r} is not on the host of {url}", url=url)
        return document

    async def post_activity(
        self,
        inbox_url: str,
        body: bytes,
        *,
        signer: RequestSigner,
        scheme: Scheme = "draft-cavage",
    ) -> int:
        """Deliver a signed activity; returns the status code (the caller decides on retries)."""
        response, _, _ = await self._request(
            "POST",
            inbox_url,
            accept=ACCEPT_ACTIVITYSTREAMS,
            signer=signer,
            scheme=scheme,
            content=body,
            content_type=ACTIVITY_JSON,
            follow_redirects=False,
            max_bytes=MAX_RESPONSE_BYTES_ON_POST,
            truncate=True,
        )
        return response.status_code

    async def post_web_push(self, endpoint: str, body: bytes, *, headers: dict[str, str]) -> int:
        """POST an encrypted Web Push message (RFC 8030) to a push service; returns the status.

        `headers` carry the VAPID Authorization, Content-Encoding and TTL (federation/webpush.py).
        """
        response, _, _ = await self._request(
            "POST",
            endpoint,
            accept="*/*",
            signer=None,
            content=body,
            content_type="application/octet-stream",
            follow_redirects=False,
            max_bytes=MAX_RESPONSE_BYTES_ON_POST,
            truncate=True,
            extra_headers=headers,
            # A push service (the person's browser vendor) is no fediverse peer.
            federation=False,
        )
        return response.status_code

    async def webfinger(self, acct: str) -> dict[str, Any]:
        """The JRD for `user@domain` (parse it with `federation.webfinger.parse_jrd`)."""
        _, _, domain = acct.removeprefix("acct:").lstrip("@").rpartition("@")
        if not domain:
            raise FetchError(f"{acct!r} is not user@domain")
        scheme = "https" if self._https_only() else self.settings.scheme
        resource = quote(f"acct:{acct.removeprefix('acct:').lstrip('@')}", safe=":@")
        url = f"{scheme}://{domain}/.well-known/webfinger?resource={resource}"
        response, body, final_url = await self._request(
            "GET",
            url,
            accept=f"{JRD_JSON}, application/json",
            signer=None,
            same_host_redirects=False,
            max_bytes=64 * 1024,
        )
        self._raise_for_status(response, final_url)
        return _parse_json_object(body, final_url)

    # --- the one request path ----------------------------------------------------------------

    def _https_only(self) -> bool:
        return not (self.settings.allow_private_networks or self.settings.scheme == "http")

    async def check_policy(self, url: str, *, body: bytes | None = None) -> None:
        """DomainNotAllowed unless the federation policy lets us talk to `url`'s domain.

        An Undo/Reject of a Follow may still reach a peer that is no longer allowed but not
        suspended: severing tells it the follow is over."""
        if self.policy is None:
            return
        decision = await self.policy(url)
        if decision.federates:
            return
        if (
            body is not None
            and decision.may_receive_farewell
            and self._is_farewell is not None
            and self._is_farewell(body)
        ):
            return
        raise DomainNotAllowed(
            f"{decision.domain} is not allowed to federate with this server ({decision.reason})",
            url=url,
        )

    async def check_destination(self, url: str) -> None:
        """Refuse bad schemes and destinations that resolve to non-public addresses."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UnsafeDestination(f"not an http(s) URL: {url!r}", url=url)
        if parts.scheme == "http" and self._https_only():
            raise UnsafeDestination(f"plain http is not allowed: {url}", url=url)
        if self.settings.allow_private_networks:
            return
        host = parts.hostname
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as error:
            raise UnsafeDestination(f"bad port in {url!r}", url=url) from error
        try:
            ipaddress.ip_address(host)
            addresses = [host]
        except ValueError:
            try:
                addresses = await self._resolver(host, port)
            except OSError as error:
                raise FetchError(f"cannot resolve {host}: {error}", url=url) from error
        if not addresses or not all(is_public_ip(address) for address in addresses):
            raise UnsafeDestination(f"{host} resolves to a non-public address", url=url)

    async def _request(
        self,
        method: str,
        url: str,
        *,
        accept: str,
        signer: RequestSigner | None,
        scheme: Scheme = "draft-cavage",
        content: bytes | None = None,
        content_type: str | None = None,
        follow_redirects: bool = True,
        same_host_redirects: bool = True,
        max_bytes: int,
        truncate: bool = False,
        extra_headers: dict[str, str] | None = None,
        federation: bool = True,
    ) -> tuple[httpx.Response, bytes, str]:
        try:
            async with asyncio.timeout(self._total_timeout):
                for _ in range(MAX_REDIRECTS + 1):
                    if federation:
                        await self.check_policy(url, body=content if method == "POST" else None)
                    await self.check_destination(url)
                    headers = {"Accept": accept}
                    if content_type:
                        headers["Content-Type"] = content_type
                    if extra_headers:
                        headers.update(extra_headers)
                    if signer is not None:
                        headers.update(await self._sign(signer, method, url, content, scheme))
                    merged = self._base_headers.copy()
                    merged.update(headers)
                    request = httpx.Request(
                        method,
                        url,
                        headers=merged,
                        content=content,
                        extensions={"timeout": self._timeouts},
                    )
                    # Straight to the transport, past AsyncClient.send: we follow redirects
                    # ourselves and want no cookie jar, whose bookkeeping (http.cookiejar on
                    # every request and response) cost as much CPU as the RSA signature of a
                    # delivery (bench/fanout.py).
                    response = await self._transport.handle_async_request(request)
                    try:
                        location = response.headers.get("location")
                        if follow_redirects and response.is_redirect and location:
                            target = urljoin(url, location)
                            if same_host_redirects and host_of(target) != host_of(url):
                                raise FetchError(
                                    f"{url} redirects to another host ({target})", url=url
                                )
                            url = target
                            continue
                        body = await _read_limited(response, max_bytes, url, truncate=truncate)
                    finally:
                        await response.aclose()
                    return response, body, url
                raise FetchError(f"too many redirects from {url}", url=url)
        except TimeoutError as error:
            raise FetchError(f"{method} {url} timed out", url=url) from error
        except httpx.HTTPError as error:
            raise FetchError(f"{method} {url} failed: {error}", url=url) from error

    @staticmethod
    def _raise_for_status(response: httpx.Response, url: str) -> None:
        if response.status_code >= 300:
            raise FetchError(
                f"{url} answered {response.status_code}", status=response.status_code, url=url
            )


async def _read_limited(
    response: httpx.Response, max_bytes: int, url: str, *, truncate: bool
) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes and not truncate:
        raise ResponseTooLarge(f"{url} is larger than {max_bytes} bytes", url=url)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            if truncate:
                break
            raise ResponseTooLarge(f"{url} is larger than {max_bytes} bytes", url=url)
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_json_object(body: bytes, url: str) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise FetchError(f"{url} did not return JSON", url=url) from error
    if not isinstance(document, dict):
        raise FetchError(f"{url} did not return a JSON object", url=url)
    return document
