"""Memoizing a pure function of one URL, bounded in entries and in the size of what it keeps.

The inbox asks for the host or domain of the same actor and key URLs over and over, before
any signature is checked. An unverified sender can make a URL nearly 1 MB long, so only URLs
up to MAX_URL_LENGTH are cached: at most 4,096 entries of 512 characters each.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Generic, TypeVar

R = TypeVar("R")

MAX_URL_LENGTH = 512
MAX_ENTRIES = 4096


class UrlCached(Generic[R]):
    """`function(url)`, remembered for short URLs (`cache_info` as functools.lru_cache's)."""

    def __init__(self, function: Callable[[str], R]) -> None:
        self._function = function
        self._cached = functools.lru_cache(maxsize=MAX_ENTRIES)(function)
        self.cache_info = self._cached.cache_info
        functools.update_wrapper(self, function)

    def __call__(self, url: str) -> R:
        if len(url) <= MAX_URL_LENGTH:
            return self._cached(url)
        return self._function(url)
