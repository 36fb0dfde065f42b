"""Typed access to what the app holds for every request: settings, database, URLs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection

from fediverse.config import Settings
from fediverse.storage.database import Database
from fediverse.urls import LocalUrls


@dataclass
class AppState:
    settings: Settings
    database: Database
    urls: LocalUrls
    # Filled by the composition root: the federation service, media store, etc.
    services: dict[str, Any]


def state_of(request: HTTPConnection) -> AppState:
    return request.app.state.fediverse  # type: ignore[no-any-return]


def database_of(request: HTTPConnection) -> Database:
    return state_of(request).database


def settings_of(request: HTTPConnection) -> Settings:
    return state_of(request).settings


def urls_of(request: HTTPConnection) -> LocalUrls:
    return state_of(request).urls
