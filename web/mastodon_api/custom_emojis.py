"""Mastodon client API: `/api/v1/custom_emojis`, this server's emojis for the picker."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fediverse import instance
from fediverse.storage.instance import CustomEmoji
from web.responses import JSONResponse
from web.state import database_of


def render_custom_emoji(emoji: CustomEmoji) -> dict[str, Any]:
    return {
        "shortcode": emoji.shortcode,
        "url": emoji.image_url,
        "static_url": emoji.static_url,
        "visible_in_picker": emoji.visible_in_picker,
        "category": emoji.category,
    }


async def list_custom_emojis(request: Request) -> Response:
    async with database_of(request).transaction() as conn:
        emojis = await instance.list_custom_emojis(conn)
    return JSONResponse([render_custom_emoji(emoji) for emoji in emojis])


routes: list[BaseRoute] = [Route("/api/v1/custom_emojis", list_custom_emojis, methods=["GET"])]
