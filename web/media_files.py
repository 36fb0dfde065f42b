"""Serving stored media files at /media/<name>; their unguessable names are the access control."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from fediverse.errors import NotFound
from fediverse.media import content_type_of, media_path
from web.state import settings_of

_HEADERS = {
    # A name never gets new content: a replaced file gets a new name.
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
    # Should a file ever be opened as a document, it may run nothing and load nothing.
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Access-Control-Allow-Origin": "*",
}


async def serve_media(request: Request) -> Response:
    file_name: str = request.path_params["file_name"]
    # Only names the media module itself makes resolve to a path, so `..` and friends cannot.
    path = media_path(settings_of(request).media_dir, file_name)
    if path is None or not path.is_file():
        raise NotFound()
    return FileResponse(path, media_type=content_type_of(file_name), headers=_HEADERS)


routes: list[BaseRoute] = [Route("/media/{file_name:path}", serve_media, methods=["GET", "HEAD"])]
