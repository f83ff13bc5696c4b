"""A small time-limited cache whose loads are single-flight per key.

Used for per-user data (quota, the user's own requests) that many cards of one Discovery page
need at once: the first caller loads, the others await the same load.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TimedCache(Generic[K, V]):
    """Values kept for ``ttl`` seconds; concurrent misses of one key share one load."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._values: dict[K, tuple[float, V]] = {}
        self._inflight: dict[K, asyncio.Future[V]] = {}

    def peek(self, key: K) -> V | None:
        """The value if it is still fresh, without loading it."""
        cached = self._values.get(key)
        if cached is not None and self._clock() - cached[0] < self.ttl:
            return cached[1]
        return None

    def put(self, key: K, value: V, at: float) -> None:
        """Keep ``value`` as read at ``at`` (a time of this cache's clock)."""
        self._values[key] = (at, value)

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        cached = self.peek(key)
        if cached is not None:
            return cached
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(self._load(key, load))
            self._inflight[key] = future
            future.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(future)

    async def _load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        value = await load()
        self.put(key, value, self._clock())
        return value

    def invalidate(self, key: K) -> None:
        self._values.pop(key, None)

    def clear(self) -> None:
        self._values.clear()
