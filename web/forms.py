"""Read request parameters the way Mastodon does: query, form, multipart or JSON, merged.

Rails accepts `key[]=a&key[]=b` arrays and `key[sub]=v` nested hashes; so do we.
"""

from __future__ import annotations

import builtins
from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request

from fediverse.errors import BadRequest, ValidationError

# PostgreSQL's bigint; a larger number can name nothing stored and cannot be sent as a parameter.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_TRUE = {"1", "true", "t", "on", "yes"}
_FALSE = {"0", "false", "f", "off", "no", ""}


class Params:
    """Merged request parameters with typed accessors that raise 422 naming the field."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __contains__(self, key: builtins.str) -> bool:
        return key in self.data

    def raw(self, key: builtins.str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def str(self, key: builtins.str, default: builtins.str | None = None) -> builtins.str | None:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, list | dict):
            raise ValidationError(f"{key} must be a string", field=key)
        return str(value)

    def bool(self, key: builtins.str, default: bool | None = None) -> bool | None:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValidationError(f"{key} must be a boolean", field=key)

    def int(self, key: builtins.str, default: int | None = None) -> int | None:
        value = self.data.get(key)
        if value is None or value == "":
            return default
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool | float | list | dict | UploadFile):
            raise ValidationError(f"{key} must be an integer", field=key)
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValidationError(f"{key} must be an integer", field=key) from None
        if not _INT_MIN <= number <= _INT_MAX:
            raise ValidationError(f"{key} is out of range", field=key)
        return number

    def list(self, key: builtins.str) -> list[Any]:
        value = self.data.get(key)
        if value is None:
            value = self.data.get(f"{key}[]")
        if value is None:
            return []
        if isinstance(value, dict):
            # Rails-style indexed hashes: key[0]=a&key[1]=b
            return [value[k] for k in sorted(value, key=lambda k: (len(str(k)), str(k)))]
        return value if isinstance(value, list) else [value]

    def dict(self, key: builtins.str) -> builtins.dict[builtins.str, Any]:
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValidationError(f"{key} must be an object", field=key)
        return value

    def file(self, key: builtins.str) -> UploadFile | None:
        value = self.data.get(key)
        return value if isinstance(value, UploadFile) else None


def _insert(target: dict[str, Any], key: str, value: Any) -> None:
    """Insert `a[b][]=v` style keys into nested dicts/lists."""
    if "[" not in key:
        if key in target and isinstance(target[key], list):
            target[key].append(value)
        else:
            target[key] = value
        return
    head, rest = key.split("[", 1)
    parts = [head] + [p.rstrip("]") for p in rest.split("[")]
    node: Any = target
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        next_is_list = not last and parts[index + 1] == ""
        if part == "" and not isinstance(node, list):
            # `a[b]=1&a[][c]=2`: one name used as a hash and an array; Rails answers 400 too.
            raise BadRequest(f"Invalid parameters: {head} mixes an array and a hash")
        if last:
            if part == "":
                node.append(value)
            elif isinstance(node, dict):
                node[part] = value
            return
        if part == "":
            # `a[][b]=v`: arrays of hashes; start a new element when the key repeats.
            if not node or not isinstance(node[-1], dict) or parts[index + 1] in node[-1]:
                node.append({})
            node = node[-1]
            continue
        if not isinstance(node, dict):
            return
        if part not in node or not isinstance(node[part], dict | list):
            node[part] = [] if next_is_list else {}
        node = node[part]


def _merge_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key.endswith("[]") and "[" not in key[:-2]:
            result.setdefault(key[:-2], [])
            if isinstance(result[key[:-2]], list):
                result[key[:-2]].append(value)
            continue
        _insert(result, key, value)
    return result


def _reject_nul(value: Any, key: str) -> None:
    """PostgreSQL text cannot hold U+0000, so no stored field may contain it (nor a key)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationError(f"{key} must not contain NUL characters", field=key)
    elif isinstance(value, dict):
        for sub_key, sub_value in value.items():
            _reject_nul(sub_key, key)
            _reject_nul(sub_value, f"{key}[{sub_key}]")
    elif isinstance(value, list):
        for item in value:
            _reject_nul(item, f"{key}[]")


def _checked(data: dict[str, Any]) -> Params:
    for key, value in data.items():
        _reject_nul(key, "parameter names")
        _reject_nul(value, key)
    return Params(data)


async def read_params(request: Request, *, max_body: int = 1_000_000) -> Params:
    """Query parameters, then the body (JSON, urlencoded or multipart) on top.

    Every shape a client can send parses to a Params or raises BadRequest/ValidationError.
    """
    pairs: list[tuple[str, Any]] = list(request.query_params.multi_items())
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/json":
            body = await request.body()
            if len(body) > max_body:
                raise BadRequest("Request body is too large")
            if body.strip():
                try:
                    data = orjson.loads(body)
                except orjson.JSONDecodeError:
                    raise BadRequest("Request body is not valid JSON") from None
                if not isinstance(data, dict):
                    raise BadRequest("Request body must be a JSON object")
                merged = _merge_pairs(pairs)
                merged.update(data)
                return _checked(merged)
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            try:
                form = await request.form(max_files=10, max_fields=1000)
            except Exception as exc:  # malformed multipart bodies raise several kinds
                raise BadRequest(f"Malformed form body: {exc}") from None
            pairs.extend(form.multi_items())
    return _checked(_merge_pairs(pairs))
