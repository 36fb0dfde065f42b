"""Media attachments: decode, check and re-encode uploaded images, store their files, attach them.

Uploads are never stored as sent: Pillow decodes them (the type is whatever Pillow recognises in
the bytes, never the file name or the client's content type), applies the EXIF orientation,
converts to sRGB and writes fresh JPEG/PNG/WebP files that carry no metadata at all.
Animated GIF/WebP/APNG uploads keep only their first frame (type "image"): making a `gifv`
needs a video encoder we do not ship.
"""

from __future__ import annotations

import asyncio
import io
import math
import re
import secrets
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blurhash
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from fediverse import ids
from fediverse.config import Settings
from fediverse.errors import NotFound, ValidationError
from fediverse.storage import media as media_store
from fediverse.storage.database import Connection
from fediverse.storage.media import MediaAttachment

# Mastodon's limits: originals are downscaled to 3840x2160 worth of pixels, previews to 640x360.
MAX_ORIGINAL_PIXELS = 3840 * 2160
MAX_PREVIEW_PIXELS = 640 * 360
MAX_ATTACHMENTS = 4
MAX_DESCRIPTION_LENGTH = 1500
PROFILE_IMAGE_SIZES = {"avatar": (400, 400), "header": (1500, 500)}

_ACCEPTED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "AVIF")
_OUTPUT = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
}
CONTENT_TYPES = {extension: content_type for extension, content_type in _OUTPUT.values()}
# Every stored file: "<shard>/<token>.<ext>" with a 32-character token_urlsafe(24) token.
_FILE_NAME = re.compile(r"[A-Za-z0-9_-]{2}/[A-Za-z0-9_-]{32}\.(?:jpg|png|webp)")
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError)


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int
    max_pixels: int

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadLimits:
        return cls(max_bytes=settings.max_upload_bytes, max_pixels=settings.max_image_pixels)


@dataclass(frozen=True)
class StoredFile:
    """A file about to be written: its name below the media directory and its bytes."""

    name: str
    data: bytes
    content_type: str


@dataclass(frozen=True)
class ProcessedImage:
    """A re-encoded image and its preview, ready to be written and recorded."""

    original: StoredFile
    preview: StoredFile | None
    width: int
    height: int
    preview_width: int | None
    preview_height: int | None
    blurhash: str

    @property
    def files(self) -> list[StoredFile]:
        return [self.original] if self.preview is None else [self.original, self.preview]


# --- input values ------------------------------------------------------------------------------


def parse_focus(raw: str | None) -> tuple[float, float] | None:
    """Mastodon's focal point "x,y", each from -1.0 to 1.0; None when not given."""
    if raw is None or not raw.strip():
        return None
    parts = raw.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        x, y = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValidationError(
            "focus must be two numbers separated by a comma, like 0.5,-0.25", field="focus"
        ) from None
    if not (-1.0 <= x <= 1.0 and -1.0 <= y <= 1.0) or math.isnan(x) or math.isnan(y):
        raise ValidationError("focus values must be between -1.0 and 1.0", field="focus")
    return x, y


def clean_description(raw: str | None) -> str | None:
    """The alt text, stripped; empty means none. Mastodon's limit is 1500 characters."""
    if raw is None:
        return None
    text = raw.strip()
    if len(text) > MAX_DESCRIPTION_LENGTH:
        raise ValidationError(
            f"description is too long (maximum is {MAX_DESCRIPTION_LENGTH} characters)",
            field="description",
        )
    return text or None


# --- image processing (synchronous, CPU-bound: call through the async wrappers) ---------------


def _decode(data: bytes, limits: UploadLimits, *, field: str) -> tuple[Image.Image, str]:
    """The first frame, upright, in sRGB, as RGB or RGBA; and the detected source format."""
    if not data:
        raise ValidationError(f"{field} is empty", field=field)
    if len(data) > limits.max_bytes:
        raise ValidationError(
            f"{field} is too large ({len(data)} bytes; the limit is {limits.max_bytes} bytes)",
            field=field,
        )
    try:
        opened = Image.open(io.BytesIO(data), formats=_ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValidationError(
            f"{field} has too many pixels (the limit is {limits.max_pixels} pixels)", field=field
        ) from None
    except UnidentifiedImageError:
        raise ValidationError(
            f"{field} is not a supported image (JPEG, PNG, GIF, WebP or AVIF)", field=field
        ) from None
    except _DECODE_ERRORS:
        raise ValidationError(f"{field} could not be decoded as an image", field=field) from None
    source_format = opened.format or ""
    width, height = opened.size
    # Checked on the header's size, before any pixel is decoded (decompression bombs).
    if width < 1 or height < 1 or width * height > limits.max_pixels:
        raise ValidationError(
            f"{field} has too many pixels ({width}x{height}; the limit is "
            f"{limits.max_pixels} pixels)",
            field=field,
        )
    try:
        if source_format == "JPEG" and width * height > MAX_ORIGINAL_PIXELS:
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: faster and far less memory.
            scale = math.sqrt(MAX_ORIGINAL_PIXELS / (width * height))
            opened.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
        opened.load()
        icc_profile = opened.info.get("icc_profile")
        image = ImageOps.exif_transpose(opened)
        image = _to_srgb(image, icc_profile)
        alpha = _has_alpha(image)
        image = image.convert("RGBA" if alpha else "RGB")
        if alpha and image.getchannel("A").getextrema() == (255, 255):
            image = image.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValidationError(f"{field} has too many pixels", field=field) from None
    except _DECODE_ERRORS:
        raise ValidationError(f"{field} could not be decoded as an image", field=field) from None
    image.info = {}  # nothing of the upload's metadata may reach an encoder
    return image, source_format


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info


def _to_srgb(image: Image.Image, icc_profile: Any) -> Image.Image:
    """Colours as the camera meant them once the profile is gone; unchanged if that fails."""
    if not icc_profile or image.mode not in ("RGB", "RGBA", "CMYK", "L"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        target = ImageCms.createProfile("sRGB")
        output_mode = "RGBA" if image.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(image, source, target, outputMode=output_mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image
    return converted if converted is not None else image


def _output_format(source_format: str, alpha: bool) -> str:
    """Keep the upload's family: photos stay JPEG, graphics PNG, WebP WebP; alpha never lost."""
    if source_format == "WEBP":
        return "WEBP"
    if alpha or source_format in ("PNG", "GIF"):
        return "PNG"
    return "JPEG"


def _fit_pixels(image: Image.Image, max_pixels: int) -> Image.Image:
    width, height = image.size
    if width * height <= max_pixels:
        return image
    scale = math.sqrt(max_pixels / (width * height))
    size = (max(1, math.floor(width * scale)), max(1, math.floor(height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _new_file_name(extension: str) -> str:
    token = secrets.token_urlsafe(24)
    return f"{token[:2]}/{token}.{extension}"


def _encode(image: Image.Image, image_format: str, *, quality: int) -> StoredFile:
    extension, content_type = _OUTPUT[image_format]
    buffer = io.BytesIO()
    if image_format == "JPEG":
        image.save(buffer, "JPEG", quality=quality, optimize=True, progressive=True)
    elif image_format == "WEBP":
        image.save(buffer, "WEBP", quality=quality, method=4)
    else:
        image.save(buffer, "PNG")
    return StoredFile(
        name=_new_file_name(extension), data=buffer.getvalue(), content_type=content_type
    )


def _blurhash(image: Image.Image) -> str:
    """Computed on a 32-pixel copy: the hash only holds 4x3 components anyway."""
    tiny = image.copy()
    tiny.thumbnail((32, 32), Image.Resampling.BILINEAR)
    if tiny.mode == "RGBA":
        background = Image.new("RGBA", tiny.size, (255, 255, 255, 255))
        tiny = Image.alpha_composite(background, tiny)
    tiny = tiny.convert("RGB")
    width, height = tiny.size
    raw = tiny.tobytes()
    rows = [
        [list(raw[(y * width + x) * 3 : (y * width + x) * 3 + 3]) for x in range(width)]
        for y in range(height)
    ]
    x_components, y_components = (4, 3) if width >= height else (3, 4)
    return str(blurhash.encode(rows, x_components, y_components))


def _preview(image: Image.Image) -> tuple[StoredFile, int, int]:
    small = _fit_pixels(image, MAX_PREVIEW_PIXELS)
    image_format = "PNG" if small.mode == "RGBA" else "JPEG"
    return _encode(small, image_format, quality=80), small.width, small.height


def process_attachment(
    data: bytes, *, limits: UploadLimits, thumbnail: bytes | None = None
) -> ProcessedImage:
    """Validate and re-encode an uploaded image; a custom `thumbnail` replaces the preview."""
    image, source_format = _decode(data, limits, field="file")
    image = _fit_pixels(image, MAX_ORIGINAL_PIXELS)
    original = _encode(image, _output_format(source_format, image.mode == "RGBA"), quality=90)
    if thumbnail is not None:
        preview_image, _ = _decode(thumbnail, limits, field="thumbnail")
        preview, preview_width, preview_height = _preview(preview_image)
    else:
        preview, preview_width, preview_height = _preview(image)
    return ProcessedImage(
        original=original,
        preview=preview,
        width=image.width,
        height=image.height,
        preview_width=preview_width,
        preview_height=preview_height,
        blurhash=_blurhash(image),
    )


def process_thumbnail(data: bytes, *, limits: UploadLimits) -> ProcessedImage:
    """A replacement preview image (PUT /api/v1/media/:id with `thumbnail`)."""
    image, _ = _decode(data, limits, field="thumbnail")
    preview, width, height = _preview(image)
    return ProcessedImage(
        original=preview,
        preview=None,
        width=width,
        height=height,
        preview_width=None,
        preview_height=None,
        blurhash=_blurhash(image),
    )


def process_profile_image(data: bytes, *, limits: UploadLimits, purpose: str) -> ProcessedImage:
    """An avatar (400x400) or header (1500x500), cropped to fill from the centre."""
    if purpose not in PROFILE_IMAGE_SIZES:
        raise ValueError(f"unknown profile image purpose {purpose!r}")
    image, _ = _decode(data, limits, field=purpose)
    image = ImageOps.fit(image, PROFILE_IMAGE_SIZES[purpose], Image.Resampling.LANCZOS)
    image_format = "PNG" if image.mode == "RGBA" else "JPEG"
    return ProcessedImage(
        original=_encode(image, image_format, quality=90),
        preview=None,
        width=image.width,
        height=image.height,
        preview_width=None,
        preview_height=None,
        blurhash=_blurhash(image),
    )


async def prepare_attachment(
    data: bytes, *, limits: UploadLimits, thumbnail: bytes | None = None
) -> ProcessedImage:
    """`process_attachment` on a worker thread, so decoding never blocks the event loop."""
    return await asyncio.to_thread(process_attachment, data, limits=limits, thumbnail=thumbnail)


async def prepare_thumbnail(data: bytes, *, limits: UploadLimits) -> ProcessedImage:
    return await asyncio.to_thread(process_thumbnail, data, limits=limits)


# --- files on disk -----------------------------------------------------------------------------


def media_path(media_dir: Path, file_name: str) -> Path | None:
    """Where a stored file lives, or None for any name this module could not have made."""
    if not _FILE_NAME.fullmatch(file_name):
        return None
    root = media_dir.resolve()
    path = (root / file_name).resolve()
    return path if path.is_relative_to(root) else None


def content_type_of(file_name: str) -> str:
    return CONTENT_TYPES.get(file_name.rsplit(".", 1)[-1], "application/octet-stream")


def _write_files(media_dir: Path, files: Sequence[StoredFile]) -> None:
    written: list[str] = []
    try:
        for stored in files:
            path = media_path(media_dir, stored.name)
            assert path is not None, stored.name
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.partial")
            partial.write_bytes(stored.data)
            partial.replace(path)  # readers see the whole file or none
            written.append(stored.name)
    except BaseException:
        _remove_files(media_dir, written)
        raise


def _remove_files(media_dir: Path, names: Iterable[str | None]) -> None:
    for name in names:
        path = None if name is None else media_path(media_dir, name)
        if path is not None:
            path.unlink(missing_ok=True)


async def remove_files(media_dir: Path, names: Iterable[str | None]) -> None:
    """Delete stored files; call after the transaction that forgot them has committed."""
    await asyncio.to_thread(_remove_files, media_dir, list(names))


@asynccontextmanager
async def files_kept_on_success(
    media_dir: Path, files: Sequence[StoredFile]
) -> AsyncIterator[None]:
    """Write `files`, and delete them again if the block (the whole transaction) fails.

    Wrap the transaction in it: `async with files_kept_on_success(...), db.transaction():`,
    so a failed commit also leaves no stray file behind.
    """
    await asyncio.to_thread(_write_files, media_dir, files)
    try:
        yield
    except BaseException:
        await remove_files(media_dir, [stored.name for stored in files])
        raise


# --- records -----------------------------------------------------------------------------------


def _meta(processed: ProcessedImage) -> dict[str, Any]:
    meta: dict[str, Any] = {"original": _dimensions(processed.width, processed.height)}
    if processed.preview_width is not None and processed.preview_height is not None:
        meta["small"] = _dimensions(processed.preview_width, processed.preview_height)
    return meta


def _dimensions(width: int, height: int) -> dict[str, Any]:
    return {"width": width, "height": height, "size": f"{width}x{height}", "aspect": width / height}


async def create_attachment(
    conn: Connection,
    *,
    account_id: int,
    processed: ProcessedImage,
    description: str | None,
    focus: tuple[float, float] | None,
) -> MediaAttachment:
    """Record an uploaded image whose files `files_kept_on_success` is writing."""
    return await media_store.insert_media(
        conn,
        media_id=ids.new_id(),
        account_id=account_id,
        type="image",
        file_name=processed.original.name,
        thumbnail_name=None if processed.preview is None else processed.preview.name,
        content_type=processed.original.content_type,
        file_size=len(processed.original.data),
        description=description,
        focus_x=None if focus is None else focus[0],
        focus_y=None if focus is None else focus[1],
        blurhash=processed.blurhash,
        meta=_meta(processed),
    )


async def fetch_own_media(conn: Connection, *, account_id: int, media_id: int) -> MediaAttachment:
    """The caller's own post attachment; anyone else's (or a profile image) is not found."""
    media = await media_store.fetch_media(conn, media_id=media_id)
    if media is None or media.account_id != account_id or media.purpose is not None:
        raise NotFound()
    return media


async def update_attachment(
    conn: Connection,
    *,
    account_id: int,
    media_id: int,
    description: str | None = None,
    focus: tuple[float, float] | None = None,
    thumbnail: ProcessedImage | None = None,
) -> tuple[MediaAttachment, str | None]:
    """Change alt text, focus or preview of an unattached upload (None leaves a value as is).

    Returns the row and the name of a replaced preview file, to remove after commit. Mastodon
    answers 404 for media already attached to a status; their alt text changes by status edit.
    """
    media = await fetch_own_media(conn, account_id=account_id, media_id=media_id)
    if media.status_id is not None:
        raise NotFound()
    meta = dict(media.meta)
    thumbnail_name = media.thumbnail_name
    if thumbnail is not None:
        thumbnail_name = thumbnail.original.name
        meta["small"] = _dimensions(thumbnail.width, thumbnail.height)
    updated = await media_store.update_media(
        conn,
        media_id=media.id,
        description=media.description if description is None else (description or None),
        focus_x=media.focus_x if focus is None else focus[0],
        focus_y=media.focus_y if focus is None else focus[1],
        thumbnail_name=thumbnail_name,
        meta=meta,
    )
    assert updated is not None
    replaced = media.thumbnail_name if thumbnail is not None else None
    return updated, replaced


async def attach_media(
    conn: Connection, *, account_id: int, media_ids: list[int], status_id: int
) -> list[MediaAttachment]:
    """Attach the author's uploads to a status in the given order (422 when any is not theirs,
    is attached elsewhere or does not exist, or when there are more than four)."""
    wanted = list(dict.fromkeys(media_ids))  # a repeated id is one attachment
    if len(wanted) > MAX_ATTACHMENTS:
        raise ValidationError(
            f"You cannot attach more than {MAX_ATTACHMENTS} files", field="media_ids"
        )
    if not wanted:
        return []
    attached = await media_store.attach_media_to_status(
        conn, account_id=account_id, media_ids=wanted, status_id=status_id
    )
    missing = sorted(set(wanted) - {media.id for media in attached})
    if missing:
        # The caller's transaction rolls back the rows that were taken.
        raise ValidationError(
            "Media attachment " + ", ".join(str(media_id) for media_id in missing) + " not found",
            field="media_ids",
        )
    return attached


async def list_media_for_statuses(
    conn: Connection, *, status_ids: list[int]
) -> dict[int, list[MediaAttachment]]:
    """Each status's attachments in order; statuses without media are absent."""
    grouped: dict[int, list[MediaAttachment]] = {}
    for media in await media_store.list_media_for_statuses(conn, status_ids=status_ids):
        assert media.status_id is not None
        grouped.setdefault(media.status_id, []).append(media)
    return grouped


async def store_profile_image(
    conn: Connection,
    *,
    media_dir: Path,
    limits: UploadLimits,
    account_id: int,
    data: bytes,
    purpose: str,
) -> MediaAttachment:
    """Crop, re-encode and record an avatar or header; the caller sets avatar_media_id.

    The file is written at once and removed if recording fails here; if the caller's
    transaction rolls back later the file stays behind, unreferenced and unguessable.
    """
    processed = await asyncio.to_thread(process_profile_image, data, limits=limits, purpose=purpose)
    async with files_kept_on_success(media_dir, processed.files):
        return await media_store.insert_media(
            conn,
            media_id=ids.new_id(),
            account_id=account_id,
            type="image",
            file_name=processed.original.name,
            thumbnail_name=None,
            content_type=processed.original.content_type,
            file_size=len(processed.original.data),
            description=None,
            focus_x=None,
            focus_y=None,
            blurhash=processed.blurhash,
            meta={**_meta(processed), "purpose": purpose},
        )


async def delete_media(conn: Connection, *, media_id: int) -> MediaAttachment | None:
    """Forget a media row; then `remove_files(media_dir, [m.file_name, m.thumbnail_name])`
    once the transaction has committed."""
    return await media_store.delete_media(conn, media_id=media_id)
