"""HTTP Signatures: sign outgoing requests, verify incoming ones (draft-cavage-12 and RFC 9421).

Pure functions over (method, url, headers, body): the inbox, the signed-GET check and the fake
fediverse in tests all call the same code. Failures raise `SignatureError(reason)`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from federation.keys import FetchedKey, KeyResolver, load_private_key, load_public_key

Scheme = Literal["draft-cavage", "rfc9421"]
HeaderInput = Mapping[str, str] | Iterable[tuple[str, str]]

# Mastodon's time window (app/lib/signed_request.rb, SignedRequest#matches_time_window?):
# the signature's time (Date header, or `created`) may be at most 1 hour in the future; it
# expires at `expires` or created + 5 minutes, never later than created + 12 hours, and is
# accepted until 1 hour of clock skew after that expiry.
CLOCK_SKEW_MARGIN = timedelta(hours=1)
DEFAULT_VALIDITY = timedelta(minutes=5)
EXPIRATION_WINDOW_LIMIT = timedelta(hours=12)

# Algorithms we verify. HMAC needs a shared secret, which the fediverse has no way to exchange,
# so `hmac-*` (and legacy rsa-sha1, ecdsa-sha256 of draft-cavage) are refused.
CAVAGE_ALGORITHMS = frozenset({"rsa-sha256", "hs2019"})
RFC9421_ALGORITHMS = frozenset(
    {"rsa-v1_5-sha256", "rsa-pss-sha512", "ecdsa-p256-sha256", "ed25519"}
)


class SignatureError(Exception):
    """A request's signature is missing, malformed, stale, or does not verify."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignatureMismatch(SignatureError):
    """The cryptographic check failed: the only failure a key refetch (rotation) can cure."""


@dataclass(frozen=True)
class VerificationKey:
    """A public key to verify with; `algorithm` pins the RFC 9421 algorithm when known."""

    key_id: str
    public_key_pem: str
    owner: str | None = None
    algorithm: str | None = None


@dataclass(frozen=True)
class ParsedSignature:
    """What a request claims before any key is fetched: enough to look the key up."""

    scheme: Scheme
    key_id: str
    algorithm: str | None
    covered: tuple[str, ...]
    signature: bytes
    signing_base: bytes
    created: datetime | None
    expires: datetime | None
    label: str | None = None


@dataclass(frozen=True)
class VerifiedSignature:
    """A signature that verified. The caller checks that `key_owner` is the activity's actor."""

    scheme: Scheme
    key_id: str
    key_owner: str | None
    algorithm: str
    covered: tuple[str, ...]
    created: datetime | None


@dataclass(frozen=True)
class VerifyPolicy:
    """What a valid fediverse request must prove beyond a matching signature."""

    check_time: bool = True
    # Bind the signature to method, path and host, so it cannot be replayed elsewhere.
    require_target: bool = True
    # A request with a body (POST) must sign a digest of it, and the digest must match.
    require_body_digest: bool = True
    require_time: bool = True


STRICT = VerifyPolicy()


# --- headers ------------------------------------------------------------------------------------


_FOLD = re.compile(r"\s*\r?\n\s*")


class NormalizedHeaders(dict[str, str]):
    """Headers already normalized: `normalize_headers` hands these back as they are, so a
    request checked in several steps (domain gate, verification) is normalized once."""


def normalize_headers(headers: HeaderInput) -> NormalizedHeaders:
    """Lower-case names; repeated fields combined with ', ' (RFC 9110 §5.3); folds undone."""
    if isinstance(headers, NormalizedHeaders):
        return headers
    items = headers.items() if isinstance(headers, Mapping) else headers
    result = NormalizedHeaders()
    multi = getattr(headers, "multi_items", None)
    if callable(multi):
        items = multi()
    for name, value in items:
        key = name.lower()
        clean = (_FOLD.sub(" ", value) if "\n" in value else value).strip()
        result[key] = f"{result[key]}, {clean}" if key in result else clean
    return result


def authority_of(url: str) -> str:
    """The `host` of a URL as HTTP sends it: lower-case, port only when not the default."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != (443 if parts.scheme == "https" else 80):
        host = f"{host}:{parts.port}"
    return host


def request_target_of(url: str) -> str:
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


# --- digests --------------------------------------------------------------------------------------


def digest_header(body: bytes) -> str:
    """`Digest: SHA-256=<base64>` (RFC 3230), which Mastodon requires on signed POSTs."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def content_digest_header(body: bytes) -> str:
    """`Content-Digest: sha-256=:<base64>:` (RFC 9530), used with RFC 9421 signatures."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


_DIGEST_FUNCTIONS = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}


def _check_legacy_digest(value: str, body: bytes) -> None:
    checked = False
    for part in value.split(","):
        name, _, encoded = part.strip().partition("=")
        function = _DIGEST_FUNCTIONS.get(name.strip().lower())
        if function is None:
            continue
        try:
            expected = base64.b64decode(encoded.strip(), validate=True)
        except ValueError as error:
            raise SignatureError("Digest header is not valid base64") from error
        if not hmac.compare_digest(expected, function(body).digest()):
            raise SignatureError("Digest does not match the request body")
        checked = True
    if not checked:
        raise SignatureError("Digest header has no SHA-256 or SHA-512 value")


def _check_content_digest(value: str, body: bytes) -> None:
    members = parse_sf_dictionary(value)
    checked = False
    for name, (item, _params) in members.items():
        function = _DIGEST_FUNCTIONS.get(name)
        if function is None:
            continue
        if not isinstance(item, bytes):
            raise SignatureError("Content-Digest value is not a byte sequence")
        if not hmac.compare_digest(item, function(body).digest()):
            raise SignatureError("Content-Digest does not match the request body")
        checked = True
    if not checked:
        raise SignatureError("Content-Digest has no sha-256 or sha-512 value")


# --- structured fields (RFC 8941), just what signatures need ------------------------------------


class Token(str):
    """An sf-token (unquoted), as opposed to an sf-string."""


SfItem = int | float | str | bytes | bool
SfParams = dict[str, SfItem]
SfInnerList = list[tuple[SfItem, SfParams]]
SfMember = tuple[SfItem | SfInnerList, SfParams]


class _SfParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, what: str) -> SignatureError:
        return SignatureError(f"malformed structured field: {what} at {self.pos}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_spaces(self, tabs: bool = False) -> None:
        while self.peek() == " " or (tabs and self.peek() == "\t"):
            self.pos += 1

    def key(self) -> str:
        match = re.compile(r"[a-z*][a-z0-9_\-.*]*").match(self.text, self.pos)
        if not match:
            raise self.error("expected a key")
        self.pos = match.end()
        return match.group()

    def bare_item(self) -> SfItem:
        char = self.peek()
        if char == '"':
            self.pos += 1
            out = []
            while True:
                char = self.peek()
                if not char:
                    raise self.error("unterminated string")
                self.pos += 1
                if char == "\\":
                    out.append(self.peek())
                    self.pos += 1
                elif char == '"':
                    return "".join(out)
                else:
                    out.append(char)
        if char == ":":
            end = self.text.find(":", self.pos + 1)
            if end < 0:
                raise self.error("unterminated byte sequence")
            raw = self.text[self.pos + 1 : end]
            self.pos = end + 1
            try:
                return base64.b64decode(raw, validate=True)
            except ValueError as error:
                raise self.error("bad base64") from error
        if char == "?":
            value = self.text[self.pos + 1 : self.pos + 2]
            if value not in ("0", "1"):
                raise self.error("bad boolean")
            self.pos += 2
            return value == "1"
        number = re.compile(r"-?\d+(\.\d+)?").match(self.text, self.pos)
        if number:
            self.pos = number.end()
            return float(number.group()) if number.group(1) else int(number.group())
        token = re.compile(r"[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]*").match(self.text, self.pos)
        if token:
            self.pos = token.end()
            return Token(token.group())
        raise self.error("expected an item")

    def params(self) -> SfParams:
        params: SfParams = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip_spaces()
            name = self.key()
            value: SfItem = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare_item()
            params[name] = value
        return params

    def item_or_inner_list(self) -> SfMember:
        if self.peek() == "(":
            self.pos += 1
            items: SfInnerList = []
            while True:
                self.skip_spaces()
                if self.peek() == ")":
                    self.pos += 1
                    return items, self.params()
                item = self.bare_item()
                items.append((item, self.params()))
                if self.peek() not in (" ", ")"):
                    raise self.error("expected space or ')'")
        return self.bare_item(), self.params()

    def dictionary(self) -> dict[str, SfMember]:
        members: dict[str, SfMember] = {}
        self.skip_spaces()
        while self.pos < len(self.text):
            name = self.key()
            if self.peek() == "=":
                self.pos += 1
                members[name] = self.item_or_inner_list()
            else:
                members[name] = (True, self.params())
            self.skip_spaces(tabs=True)
            if self.pos >= len(self.text):
                break
            if self.peek() != ",":
                raise self.error("expected ','")
            self.pos += 1
            self.skip_spaces(tabs=True)
        return members


def parse_sf_dictionary(text: str) -> dict[str, SfMember]:
    return _SfParser(text.strip()).dictionary()


def serialize_sf_item(value: SfItem, params: SfParams | None = None) -> str:
    if isinstance(value, bool):
        out = "?1" if value else "?0"
    elif isinstance(value, Token):
        out = str(value)
    elif isinstance(value, str):
        out = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif isinstance(value, bytes):
        out = ":" + base64.b64encode(value).decode() + ":"
    else:
        out = str(value)
    return out + serialize_sf_params(params or {})


def serialize_sf_params(params: SfParams) -> str:
    parts = []
    for name, value in params.items():
        parts.append(f";{name}" if value is True else f";{name}={serialize_sf_item(value)}")
    return "".join(parts)


def serialize_sf_inner_list(items: SfInnerList, params: SfParams) -> str:
    inner = " ".join(serialize_sf_item(item, item_params) for item, item_params in items)
    return f"({inner}){serialize_sf_params(params)}"


# --- draft-cavage-12 ------------------------------------------------------------------------------


_ESCAPE = re.compile(r"\\(.)")
# A quoted value as an "unrolled loop" (runs of plain characters between escapes): the same
# language as (?:[^"\\]|\\.)*, but not one alternation per character, which made parsing a
# Signature header (a 344-character base64 value) 4x slower.
_CAVAGE_PARAM = re.compile(
    r'\s*([A-Za-z]+)\s*=\s*(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([^,\s]*))\s*(?:,|$)'
)


def parse_cavage_params(value: str) -> dict[str, str]:
    """`keyId="...",algorithm="...",headers="...",signature="..."` into a dict."""
    return dict(_parse_cavage_params(value))


@functools.lru_cache(maxsize=64)
def _parse_cavage_params(value: str) -> tuple[tuple[str, str], ...]:
    # Cached: one inbox request parses its header twice (the domain gate, then verification).
    text = value.strip()
    if text.lower().startswith("signature "):  # the Authorization: Signature form
        text = text[len("signature ") :]
    params: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        match = _CAVAGE_PARAM.match(text, pos)
        if not match or match.end() == pos:
            raise SignatureError("malformed Signature header")
        quoted, bare = match.group(2), match.group(3)
        if quoted is None:
            params[match.group(1)] = bare
        else:
            params[match.group(1)] = _ESCAPE.sub(r"\1", quoted) if "\\" in quoted else quoted
        pos = match.end()
    return tuple(params.items())


def cavage_signing_string(
    covered: Iterable[str],
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    created: str | None = None,
    expires: str | None = None,
) -> str:
    """The draft-cavage signing string; `host` is the URL's authority, the host we answer as."""
    lines = []
    for name in covered:
        if name == "(request-target)":
            value = f"{method.lower()} {request_target_of(url)}"
        elif name == "(created)":
            if created is None:
                raise SignatureError("(created) is signed but the created parameter is missing")
            value = created
        elif name == "(expires)":
            if expires is None:
                raise SignatureError("(expires) is signed but the expires parameter is missing")
            value = expires
        elif name == "host":
            # The host we answer as, never the Host header: a signature made for another
            # host must not verify here even if the replayed request carries that Host.
            value = authority_of(url)
        elif name in headers:
            value = headers[name]
        else:
            raise SignatureError(f"signed header {name!r} is missing from the request")
        lines.append(f"{name}: {value}")
    return "\n".join(lines)


def _epoch(raw: str | None, what: str) -> datetime | None:
    if raw is None or raw == "":
        return None
    try:
        return datetime.fromtimestamp(float(raw), UTC)
    except (ValueError, OverflowError) as error:
        raise SignatureError(f"{what} parameter is not a timestamp") from error


@functools.lru_cache(maxsize=256)
def _parse_http_date(raw: str) -> datetime:
    # Cached: deliveries arriving in the same second carry the same Date.
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError) as error:
        raise SignatureError("Date header is not an HTTP date") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_cavage_signature(method: str, url: str, headers: Mapping[str, str]) -> ParsedSignature:
    raw = headers.get("signature")
    if raw is None:
        authorization = headers.get("authorization", "")
        if not authorization.lower().startswith("signature "):
            raise SignatureError("request is not signed")
        raw = authorization
    params = parse_cavage_params(raw)
    key_id, encoded = params.get("keyId"), params.get("signature")
    if not key_id or not encoded:
        raise SignatureError("Signature header lacks keyId or signature")
    algorithm = params.get("algorithm", "hs2019").lower()
    if algorithm not in CAVAGE_ALGORITHMS:
        raise SignatureError(
            f"unsupported signature algorithm {algorithm!r} (rsa-sha256 and hs2019 are accepted)"
        )
    # The default when `headers` is absent: draft-cavage-08 and Mastodon use `date`.
    covered = tuple(params.get("headers", "date").lower().split())
    if not covered:
        raise SignatureError("Signature covers no headers")
    if algorithm != "hs2019" and ("(created)" in covered or "(expires)" in covered):
        # draft-cavage-12 §2.3: (created)/(expires) with rsa-*/hmac-*/ecdsa-* is an error.
        raise SignatureError(f"(created)/(expires) may not be signed with {algorithm}")
    try:
        signature = base64.b64decode(re.sub(r"\s+", "", encoded), validate=True)
    except ValueError as error:
        raise SignatureError("signature is not valid base64") from error
    # The created/expires parameters count only when signed: unsigned, anyone replaying the
    # request could refresh them. Otherwise the (signed) Date header dates the signature.
    created_raw = params.get("created") if "(created)" in covered else None
    expires_raw = params.get("expires") if "(expires)" in covered else None
    created = _epoch(created_raw, "created")
    if created is None and "date" in covered and "date" in headers:
        created = _parse_http_date(headers["date"])
    base = cavage_signing_string(
        covered, method=method, url=url, headers=headers, created=created_raw, expires=expires_raw
    )
    return ParsedSignature(
        scheme="draft-cavage",
        key_id=key_id,
        algorithm=algorithm,
        covered=covered,
        signature=signature,
        signing_base=base.encode(),
        created=created,
        expires=_epoch(expires_raw, "expires"),
    )


# --- RFC 9421 -------------------------------------------------------------------------------------


def _component_value(
    name: str,
    params: SfParams,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    status: int | None,
) -> str:
    parts = urlsplit(url)
    if name.startswith("@"):
        if name == "@query-param":
            wanted = params.get("name")
            if not isinstance(wanted, str) or set(params) != {"name"}:
                raise SignatureError("@query-param needs exactly a name parameter")
            values = [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k == wanted]
            if len(values) != 1:
                raise SignatureError(f"query parameter {wanted!r} is absent or repeated")
            return quote(values[0], safe="")
        if params:
            raise SignatureError(f"unsupported parameters on {name}")
        if name == "@method":
            return method.upper()
        if name == "@target-uri":
            return url
        if name == "@authority":
            return authority_of(url)
        if name == "@scheme":
            return parts.scheme.lower()
        if name == "@request-target":
            return request_target_of(url)
        if name == "@path":
            return parts.path or "/"
        if name == "@query":
            return f"?{parts.query}"
        if name == "@status":
            if status is None:
                raise SignatureError("@status is only defined for responses")
            return str(status)
        raise SignatureError(f"unsupported derived component {name}")
    if params:
        # ;sf, ;key, ;bs, ;req and ;tr re-serialize or re-route values; fediverse peers don't
        # use them, and accepting them half-way would be worse than refusing.
        raise SignatureError(f"unsupported parameters on component {name!r}")
    if name not in headers:
        raise SignatureError(f"signed component {name!r} is missing from the message")
    return headers[name]


def rfc9421_signature_base(
    components: SfInnerList,
    signature_params: SfParams,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    status: int | None = None,
) -> str:
    """The signature base of RFC 9421 §2.5 for covered components and signature parameters."""
    lines = []
    seen: set[str] = set()
    for name, params in components:
        if not isinstance(name, str) or isinstance(name, Token):
            raise SignatureError("component identifiers must be strings")
        if name != name.lower():
            raise SignatureError(f"component identifier {name!r} must be lower case")
        identifier = serialize_sf_item(name, params)
        if identifier in seen:
            raise SignatureError(f"component {identifier} is covered twice")
        seen.add(identifier)
        value = _component_value(
            name, params, method=method, url=url, headers=headers, status=status
        )
        lines.append(f"{identifier}: {value}")
    lines.append(f'"@signature-params": {serialize_sf_inner_list(components, signature_params)}')
    return "\n".join(lines)


def parse_rfc9421_signature(
    method: str, url: str, headers: Mapping[str, str], *, status: int | None = None
) -> ParsedSignature:
    inputs = parse_sf_dictionary(headers.get("signature-input", ""))
    signatures = parse_sf_dictionary(headers.get("signature", ""))
    # With several signatures, verify the first one we can; fediverse senders send one.
    for label, (components, params) in inputs.items():
        if not isinstance(components, list):
            raise SignatureError(f"Signature-Input {label} is not an inner list")
        signature_member = signatures.get(label)
        if signature_member is None or not isinstance(signature_member[0], bytes):
            raise SignatureError(f"no Signature value for label {label!r}")
        key_id = params.get("keyid")
        if not isinstance(key_id, str) or not key_id:
            raise SignatureError("Signature-Input lacks keyid")
        algorithm = params.get("alg")
        if algorithm is not None and (
            not isinstance(algorithm, str) or algorithm not in RFC9421_ALGORITHMS
        ):
            raise SignatureError(f"unsupported signature algorithm {algorithm!r}")
        created_raw, expires_raw = params.get("created"), params.get("expires")
        if created_raw is not None and not isinstance(created_raw, int):
            raise SignatureError("created parameter is not an integer")
        if expires_raw is not None and not isinstance(expires_raw, int):
            raise SignatureError("expires parameter is not an integer")
        base = rfc9421_signature_base(
            components, params, method=method, url=url, headers=headers, status=status
        )
        return ParsedSignature(
            scheme="rfc9421",
            key_id=key_id,
            algorithm=algorithm,
            covered=tuple(serialize_sf_item(name, p) for name, p in components),
            signature=signature_member[0],
            signing_base=base.encode(),
            created=_epoch(None if created_raw is None else str(created_raw), "created"),
            expires=_epoch(None if expires_raw is None else str(expires_raw), "expires"),
            label=label,
        )
    raise SignatureError("Signature-Input is empty")


# --- verification ---------------------------------------------------------------------------------


def parse_signature(method: str, url: str, headers: HeaderInput) -> ParsedSignature:
    """Read the request's signature (RFC 9421 if `Signature-Input` is present, else cavage)."""
    normalized = normalize_headers(headers)
    if "signature-input" in normalized:
        return parse_rfc9421_signature(method, url, normalized)
    return parse_cavage_signature(method, url, normalized)


def _check_time(parsed: ParsedSignature, now: datetime) -> None:
    created = parsed.created
    if created is None:
        return
    if created > now + CLOCK_SKEW_MARGIN:
        raise SignatureError("signature date is in the future")
    expires = parsed.expires or created + DEFAULT_VALIDITY
    expires = min(expires, created + EXPIRATION_WINDOW_LIMIT)
    if now > expires + CLOCK_SKEW_MARGIN:
        raise SignatureError("signature has expired (date outside the acceptable window)")


def _check_coverage(parsed: ParsedSignature, method: str, policy: VerifyPolicy) -> None:
    covered = set(parsed.covered)
    has_body = method.upper() not in ("GET", "HEAD")
    if parsed.scheme == "draft-cavage":
        if policy.require_time and not ({"date", "(created)"} & covered):
            raise SignatureError("the Date header or (created) must be signed")
        if policy.require_target and not {"(request-target)", "host"} <= covered:
            raise SignatureError("(request-target) and host must be signed")
        if policy.require_body_digest and has_body and "digest" not in covered:
            raise SignatureError("a POST must sign the Digest header")
    else:
        if policy.require_time and parsed.created is None:
            raise SignatureError("the created parameter is required")
        if policy.require_target:
            target = '"@target-uri"' in covered or (
                '"@authority"' in covered and ({'"@path"', '"@request-target"'} & covered)
            )
            if '"@method"' not in covered or not target:
                raise SignatureError("@method and @target-uri (or @authority, @path) unsigned")
        if policy.require_body_digest and has_body and '"content-digest"' not in covered:
            raise SignatureError("a POST must sign the Content-Digest header")


def _check_digest(
    parsed: ParsedSignature, headers: Mapping[str, str], body: bytes, method: str
) -> None:
    has_body = method.upper() not in ("GET", "HEAD")
    if parsed.scheme == "draft-cavage":
        if "digest" in parsed.covered or (has_body and "digest" in headers):
            if "digest" not in headers:
                raise SignatureError("Digest header is missing")
            _check_legacy_digest(headers["digest"], body)
    elif '"content-digest"' in parsed.covered or (has_body and "content-digest" in headers):
        _check_content_digest(headers.get("content-digest", ""), body)


def _algorithm_for(parsed: ParsedSignature, key: VerificationKey, public_key: Any) -> str:
    if parsed.scheme == "draft-cavage":
        if isinstance(public_key, rsa.RSAPublicKey):
            return "rsa-v1_5-sha256"
        if isinstance(public_key, ed25519.Ed25519PublicKey) and parsed.algorithm == "hs2019":
            return "ed25519"
        raise SignatureError("key type does not match the signature algorithm")
    algorithm = parsed.algorithm or key.algorithm
    if parsed.algorithm and key.algorithm and parsed.algorithm != key.algorithm:
        raise SignatureError("signature algorithm does not match the key's algorithm")
    if algorithm is None:
        if isinstance(public_key, rsa.RSAPublicKey):
            algorithm = "rsa-v1_5-sha256"
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            algorithm = "ecdsa-p256-sha256"
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            algorithm = "ed25519"
        else:
            raise SignatureError("unsupported key type")
    return algorithm


def verify_signature_bytes(algorithm: str, public_key: Any, signature: bytes, base: bytes) -> None:
    """The cryptographic check alone; raises SignatureMismatch when it fails."""
    try:
        if algorithm == "rsa-v1_5-sha256" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, base, padding.PKCS1v15(), hashes.SHA256())
        elif algorithm == "rsa-pss-sha512" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(
                signature,
                base,
                padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64),
                hashes.SHA512(),
            )
        elif algorithm == "ecdsa-p256-sha256" and isinstance(public_key, ec.EllipticCurvePublicKey):
            if public_key.curve.name != "secp256r1" or len(signature) != 64:
                raise SignatureError("ecdsa-p256-sha256 needs a P-256 key and a 64-byte signature")
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            public_key.verify(der, base, ec.ECDSA(hashes.SHA256()))
        elif algorithm == "ed25519" and isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, base)
        else:
            raise SignatureError(f"key type does not fit algorithm {algorithm}")
    except InvalidSignature as error:
        raise SignatureMismatch("signature does not match") from error


def verify_parsed(
    parsed: ParsedSignature,
    key: VerificationKey,
    *,
    method: str,
    headers: HeaderInput,
    body: bytes,
    now: datetime | None = None,
    policy: VerifyPolicy = STRICT,
) -> VerifiedSignature:
    """Check a parsed signature against its key: time, coverage, digest, then cryptography."""
    normalized = normalize_headers(headers)
    if key.key_id != parsed.key_id:
        raise SignatureError("key does not match the signature's keyId")
    if key.algorithm is not None and key.algorithm not in RFC9421_ALGORITHMS:
        raise SignatureError(f"unsupported signature algorithm {key.algorithm!r}")
    if policy.check_time:
        _check_time(parsed, now or datetime.now(UTC))
    _check_coverage(parsed, method, policy)
    _check_digest(parsed, normalized, body, method)
    try:
        public_key = load_public_key(key.public_key_pem)
    except ValueError as error:
        raise SignatureError("the signer's public key cannot be read") from error
    algorithm = _algorithm_for(parsed, key, public_key)
    verify_signature_bytes(algorithm, public_key, parsed.signature, parsed.signing_base)
    return VerifiedSignature(
        scheme=parsed.scheme,
        key_id=parsed.key_id,
        key_owner=key.owner,
        algorithm=algorithm,
        covered=parsed.covered,
        created=parsed.created,
    )


def verify_request(
    method: str,
    url: str,
    headers: HeaderInput,
    body: bytes,
    key: VerificationKey,
    *,
    now: datetime | None = None,
    policy: VerifyPolicy = STRICT,
) -> VerifiedSignature:
    """Parse and verify in one go, for callers that already hold the key."""
    parsed = parse_signature(method, url, headers)
    return verify_parsed(
        parsed, key, method=method, headers=headers, body=body, now=now, policy=policy
    )


# --- signing --------------------------------------------------------------------------------------


def sign_cavage(
    method: str,
    url: str,
    body: bytes | None,
    *,
    key_id: str,
    private_key_pem: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """Headers for a draft-cavage `rsa-sha256` signature, as Mastodon sends them.

    GET covers `(request-target) host date`; a request with a body adds `digest`.
    """
    headers = {"Host": authority_of(url), "Date": http_date(now or datetime.now(UTC))}
    covered = ["(request-target)", "host", "date"]
    if body is not None:
        headers["Digest"] = digest_header(body)
        covered.append("digest")
    lower = {name.lower(): value for name, value in headers.items()}
    base = cavage_signing_string(covered, method=method, url=url, headers=lower)
    key = load_private_key(private_key_pem)
    signature = key.sign(base.encode(), padding.PKCS1v15(), hashes.SHA256())
    headers["Signature"] = (
        f'keyId="{key_id}",algorithm="rsa-sha256",headers="{" ".join(covered)}",'
        f'signature="{base64.b64encode(signature).decode()}"'
    )
    return headers


def sign_rfc9421(
    method: str,
    url: str,
    body: bytes | None,
    *,
    key_id: str,
    private_key_pem: str,
    now: datetime | None = None,
    label: str = "sig1",
) -> dict[str, str]:
    """Headers for an RFC 9421 `rsa-v1_5-sha256` signature over method, target URI and digest."""
    headers: dict[str, str] = {}
    components: SfInnerList = [("@method", {}), ("@target-uri", {})]
    if body is not None:
        headers["Content-Digest"] = content_digest_header(body)
        components.append(("content-digest", {}))
    params: SfParams = {
        "created": int((now or datetime.now(UTC)).timestamp()),
        "keyid": key_id,
        "alg": "rsa-v1_5-sha256",
    }
    lower = {name.lower(): value for name, value in headers.items()}
    base = rfc9421_signature_base(components, params, method=method, url=url, headers=lower)
    key = load_private_key(private_key_pem)
    signature = key.sign(base.encode(), padding.PKCS1v15(), hashes.SHA256())
    headers["Signature-Input"] = f"{label}={serialize_sf_inner_list(components, params)}"
    headers["Signature"] = f"{label}=:{base64.b64encode(signature).decode()}:"
    return headers


@dataclass(frozen=True)
class RequestSigner:
    """An actor's key, able to sign requests. `scheme` picks the signature format."""

    key_id: str
    private_key_pem: str = field(repr=False)

    def sign(
        self,
        method: str,
        url: str,
        body: bytes | None,
        *,
        scheme: Scheme = "draft-cavage",
        now: datetime | None = None,
    ) -> dict[str, str]:
        sign = sign_cavage if scheme == "draft-cavage" else sign_rfc9421
        return sign(
            method, url, body, key_id=self.key_id, private_key_pem=self.private_key_pem, now=now
        )


async def verify_with_resolver(
    method: str,
    url: str,
    headers: HeaderInput,
    body: bytes,
    resolver: KeyResolver,
    *,
    now: datetime | None = None,
    policy: VerifyPolicy = STRICT,
) -> VerifiedSignature:
    """Verify with a key looked up by keyId; on a mismatch, refetch the key once (rotation).

    Raises SignatureError; errors fetching the key surface as SignatureError too.
    """
    parsed = parse_signature(method, url, headers)

    def check(fetched: FetchedKey) -> VerifiedSignature:
        key = VerificationKey(fetched.key_id, fetched.public_key_pem, owner=fetched.owner)
        return verify_parsed(
            parsed, key, method=method, headers=headers, body=body, now=now, policy=policy
        )

    try:
        fetched = await resolver.get(parsed.key_id)
    except SignatureError:
        raise
    except Exception as error:
        raise SignatureError(f"could not fetch key {parsed.key_id}: {error}") from error
    try:
        return check(fetched)
    except SignatureMismatch:
        try:
            fresh = await resolver.refresh(parsed.key_id)
        except Exception as error:
            raise SignatureMismatch("signature does not match (key refetch failed)") from error
        if fresh is None or fresh.public_key_pem == fetched.public_key_pem:
            raise
        return check(fresh)
