"""JSON responses serialized with orjson, and Mastodon's error body."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class ActivityJSONResponse(JSONResponse):
    media_type = "application/activity+json"


def error_response(status: int, message: str, description: str | None = None) -> JSONResponse:
    body: dict[str, str] = {"error": message}
    if description:
        body["error_description"] = description
    return JSONResponse(body, status_code=status)
