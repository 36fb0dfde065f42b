"""Mastodon client API: uploading images and editing them before they are posted."""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import media as media_domain
from fediverse.errors import NotFound, ValidationError
from fediverse.ids import parse_id
from fediverse.media import UploadLimits
from web.auth import require_account
from web.forms import read_params
from web.mastodon_api.media_entities import render_media_attachment
from web.responses import JSONResponse
from web.state import database_of, settings_of, urls_of

_FORM_OVERHEAD = 1024 * 1024  # room for the other fields and the multipart framing


def _check_body_size(request: Request, limits: UploadLimits) -> None:
    """Refuse before parsing when Content-Length already says the upload is too large."""
    declared = request.headers.get("content-length", "")
    # A file and a thumbnail may each use the whole limit.
    if declared.isdigit() and int(declared) > 2 * limits.max_bytes + _FORM_OVERHEAD:
        raise ValidationError(
            f"file is too large (the limit is {limits.max_bytes} bytes)", field="file"
        )


async def _read_upload(upload: UploadFile, limits: UploadLimits, *, field: str) -> bytes:
    data = await upload.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise ValidationError(
            f"{field} is too large (the limit is {limits.max_bytes} bytes)", field=field
        )
    return data


def _media_id(request: Request) -> int:
    media_id = parse_id(request.path_params["id"])
    if media_id is None:
        raise NotFound()
    return media_id


async def create_media(request: Request) -> Response:
    """POST /api/v2/media and /api/v1/media: images are processed at once, so always 200."""
    _, account = await require_account(request, "write:media")
    settings = settings_of(request)
    limits = UploadLimits.from_settings(settings)
    _check_body_size(request, limits)
    params = await read_params(request)
    upload = params.file("file")
    if upload is None:
        raise ValidationError("file is missing (send it as multipart form field 'file')")
    data = await _read_upload(upload, limits, field="file")
    thumbnail_upload = params.file("thumbnail")
    thumbnail = (
        None
        if thumbnail_upload is None
        else await _read_upload(thumbnail_upload, limits, field="thumbnail")
    )
    description = media_domain.clean_description(params.str("description"))
    focus = media_domain.parse_focus(params.str("focus"))
    processed = await media_domain.prepare_attachment(data, limits=limits, thumbnail=thumbnail)
    async with (
        media_domain.files_kept_on_success(settings.media_dir, processed.files),
        database_of(request).transaction() as conn,
    ):
        media = await media_domain.create_attachment(
            conn,
            account_id=account.id,
            processed=processed,
            description=description,
            focus=focus,
        )
    return JSONResponse(render_media_attachment(media, urls_of(request)))


async def show_media(request: Request) -> Response:
    _, account = await require_account(request, "write:media")
    async with database_of(request).connection() as conn:
        media = await media_domain.fetch_own_media(
            conn, account_id=account.id, media_id=_media_id(request)
        )
    return JSONResponse(render_media_attachment(media, urls_of(request)))


async def update_media(request: Request) -> Response:
    """PUT /api/v1/media/:id: description, focus and thumbnail of an unattached upload."""
    _, account = await require_account(request, "write:media")
    media_id = _media_id(request)
    settings = settings_of(request)
    limits = UploadLimits.from_settings(settings)
    _check_body_size(request, limits)
    params = await read_params(request)
    description = media_domain.clean_description(params.str("description"))
    if description is None and params.str("description") is not None:
        description = ""  # sent empty: clear the alt text
    focus = media_domain.parse_focus(params.str("focus"))
    thumbnail_upload = params.file("thumbnail")
    thumbnail = None
    if thumbnail_upload is not None:
        data = await _read_upload(thumbnail_upload, limits, field="thumbnail")
        thumbnail = await media_domain.prepare_thumbnail(data, limits=limits)
    new_files = [] if thumbnail is None else thumbnail.files
    async with (
        media_domain.files_kept_on_success(settings.media_dir, new_files),
        database_of(request).transaction() as conn,
    ):
        media, replaced = await media_domain.update_attachment(
            conn,
            account_id=account.id,
            media_id=media_id,
            description=description,
            focus=focus,
            thumbnail=thumbnail,
        )
    if replaced is not None:
        await media_domain.remove_files(settings.media_dir, [replaced])
    return JSONResponse(render_media_attachment(media, urls_of(request)))


async def delete_media(request: Request) -> Response:
    """DELETE /api/v1/media/:id (Mastodon 4.4): only uploads not yet attached to a status."""
    _, account = await require_account(request, "write:media")
    media_id = _media_id(request)
    async with database_of(request).transaction() as conn:
        media = await media_domain.fetch_own_media(conn, account_id=account.id, media_id=media_id)
        if media.status_id is not None:
            raise ValidationError("Media attachment is currently used by a status")
        await media_domain.delete_media(conn, media_id=media.id)
    await media_domain.remove_files(
        settings_of(request).media_dir, [media.file_name, media.thumbnail_name]
    )
    return JSONResponse({})


routes: list[BaseRoute] = [
    Route("/api/v2/media", create_media, methods=["POST"]),
    Route("/api/v1/media", create_media, methods=["POST"]),
    Route("/api/v1/media/{id}", show_media, methods=["GET"]),
    Route("/api/v1/media/{id}", update_media, methods=["PUT"]),
    Route("/api/v1/media/{id}", delete_media, methods=["DELETE"]),
]
