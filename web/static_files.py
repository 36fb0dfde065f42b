"""Serving the files that ship with the server at /static/<name> (CSS, placeholder images)."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from fediverse.errors import NotFound

STATIC_DIR = Path(__file__).parent / "static"

_TYPES = {".css": "text/css; charset=utf-8", ".png": "image/png"}
# Plain file names only: no directories, so no way out of STATIC_DIR.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*\.(css|png)$")
_HEADERS = {
    "Cache-Control": "public, max-age=86400",
    "X-Content-Type-Options": "nosniff",
    "Access-Control-Allow-Origin": "*",
}


def static_url_path(name: str) -> str:
    return f"/static/{name}"


async def serve_static(request: Request) -> Response:
    name: str = request.path_params["name"]
    if not _NAME.fullmatch(name):
        raise NotFound()
    path = STATIC_DIR / name
    if not path.is_file():
        raise NotFound()
    return FileResponse(path, media_type=_TYPES[path.suffix], headers=_HEADERS)


routes: list[BaseRoute] = [Route("/static/{name}", serve_static, methods=["GET", "HEAD"])]
