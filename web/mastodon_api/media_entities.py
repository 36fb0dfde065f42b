"""Mastodon's MediaAttachment entity (docs.joinmastodon.org/entities/MediaAttachment)."""

from __future__ import annotations

from typing import Any

from fediverse.storage.media import MediaAttachment
from fediverse.urls import LocalUrls


def render_media_attachment(media: MediaAttachment, urls: LocalUrls) -> dict[str, Any]:
    """The entity for a local upload or a remote attachment (served from its origin)."""
    url = urls.media(media.file_name) if media.file_name else media.remote_url
    preview_url = (
        urls.media(media.thumbnail_name)
        if media.thumbnail_name
        else media.remote_preview_url or url
    )
    meta: dict[str, Any] = {
        key: media.meta[key] for key in ("original", "small") if key in media.meta
    }
    if media.focus_x is not None and media.focus_y is not None:
        # Stored as `real`: round away float32 noise (0.3 → 0.30000001192092896).
        meta["focus"] = {"x": round(media.focus_x, 6), "y": round(media.focus_y, 6)}
    return {
        "id": str(media.id),
        "type": media.type,
        "url": url,
        "preview_url": preview_url,
        "remote_url": media.remote_url,
        "preview_remote_url": media.remote_preview_url,
        "text_url": None,
        "meta": meta,
        "description": media.description,
        "blurhash": media.blurhash,
    }
