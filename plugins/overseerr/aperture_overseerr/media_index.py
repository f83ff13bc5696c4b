"""A local index of the server's media table, so a Discovery page costs no TMDB round trips.

The server's ``GET /media`` lists bare media rows (TMDB id, status, status4k, seasons,
``downloadStatus``) from its database only (notes §6). :class:`MediaIndex` pages through it
once (a *rebuild*), then keeps up with ``sort=modified`` (newest ``updatedAt`` first): an
*incremental* refresh reads pages until it meets a row no newer than the newest it already
had, which is one small call when nothing changed. A rebuild runs again every
``rebuild_every`` seconds to forget rows deleted on the server (deletions leave no trace in
``sort=modified``).

Refreshes are single-flight: many lookups arriving together share one refresh.
Timestamps from the server are only compared with each other, so a server whose clock is off
does not confuse it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from .client import SeerrClient
from .models import MediaRow

MediaKey = tuple[str, int]


@dataclass(frozen=True)
class Refresh:
    """What a refresh found: the rows that changed (new or different) and how it ran."""

    changed: tuple[MediaRow, ...]
    rebuilt: bool
    calls: int


class MediaIndex:
    """The media table by ``(media_type, tmdb_id)`` and by local media id."""

    def __init__(
        self,
        *,
        page_size: int = 1000,
        incremental_page_size: int = 50,
        max_staleness: float = 5.0,
        rebuild_every: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.page_size = page_size
        self.incremental_page_size = incremental_page_size
        self.max_staleness = max_staleness
        self.rebuild_every = rebuild_every
        self._clock = clock
        self._rows: dict[MediaKey, MediaRow] = {}
        self._by_id: dict[int, MediaRow] = {}
        self._newest: datetime | None = None
        self._built_at: float | None = None
        self._checked_at: float | None = None
        self._inflight: asyncio.Future[Refresh] | None = None
        self._downloads_at: float | None = None
        self._downloads_inflight: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, media_type: str, tmdb_id: int) -> MediaRow | None:
        return self._rows.get((media_type, tmdb_id))

    def by_media_id(self, media_id: int) -> MediaRow | None:
        return self._by_id.get(media_id)

    @property
    def is_built(self) -> bool:
        return self._built_at is not None

    def mark_stale(self) -> None:
        """Make the next :meth:`refresh` call the server (after a write that changed media)."""
        self._checked_at = None

    def needs_refresh(self) -> bool:
        now = self._clock()
        return self._checked_at is None or now - self._checked_at >= self.max_staleness

    async def refresh_downloads(self, client: SeerrClient, *, max_age: float) -> bool:
        """Re-read download progress of PROCESSING titles if older than ``max_age`` seconds.

        Progress lives in the server's memory and does not touch ``updatedAt`` (notes §7), so the
        incremental refresh cannot see it; ``GET /media?filter=processing`` returns every
        processing row with its ``downloadStatus`` in one cheap call. (The filter looks at
        ``status`` only: 4K-only downloads are refreshed by the periodic rebuild.) Single-flight;
        returns whether it called the server.
        """
        now = self._clock()
        if self._downloads_at is not None and now - self._downloads_at < max_age:
            return False
        if self._downloads_inflight is None:
            self._downloads_inflight = asyncio.ensure_future(self._read_downloads(client, now))
            self._downloads_inflight.add_done_callback(self._clear_downloads_inflight)
        await asyncio.shield(self._downloads_inflight)
        return True

    def _clear_downloads_inflight(self, _: asyncio.Future[None]) -> None:
        self._downloads_inflight = None

    async def _read_downloads(self, client: SeerrClient, started: float) -> None:
        skip = 0
        while True:
            page = await client.media(take=self.page_size, skip=skip, sort="modified", filter="processing")
            for row in page.results:
                key = (row.media_type, row.tmdb_id)
                known = self._rows.get(key)
                if (
                    known is None
                    or known.updated_at is None
                    or row.updated_at is None
                    or (row.updated_at >= known.updated_at)
                ):
                    self._rows[key] = row
                    self._by_id[row.id] = row
            skip += len(page.results)
            if len(page.results) < self.page_size or skip >= page.page_info.results:
                break
        self._downloads_at = started

    async def refresh(self, client: SeerrClient, *, force: bool = False) -> Refresh:
        """Bring the index up to date (rebuild if due); concurrent callers share one refresh."""
        if not force and not self.needs_refresh():
            return Refresh((), rebuilt=False, calls=0)
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._refresh(client))
            self._inflight.add_done_callback(self._clear_inflight)
        return await asyncio.shield(self._inflight)

    def _clear_inflight(self, _: asyncio.Future[Refresh]) -> None:
        self._inflight = None

    async def _refresh(self, client: SeerrClient) -> Refresh:
        now = self._clock()
        if self._built_at is None or now - self._built_at >= self.rebuild_every:
            return await self._rebuild(client, now)
        return await self._incremental(client, now)

    async def _rebuild(self, client: SeerrClient, started: float) -> Refresh:
        rows: dict[MediaKey, MediaRow] = {}
        skip = calls = 0
        newest: datetime | None = None
        while True:
            page = await client.media(take=self.page_size, skip=skip, sort="modified")
            calls += 1
            for row in page.results:
                rows.setdefault((row.media_type, row.tmdb_id), row)
                if row.updated_at and (newest is None or row.updated_at > newest):
                    newest = row.updated_at
            skip += len(page.results)
            if len(page.results) < self.page_size or skip >= page.page_info.results:
                break
        changed = tuple(row for key, row in rows.items() if self._rows.get(key) != row)
        self._rows = rows
        self._by_id = {row.id: row for row in rows.values()}
        self._newest = newest
        self._built_at = self._checked_at = started
        return Refresh(changed, rebuilt=True, calls=calls)

    async def _incremental(self, client: SeerrClient, started: float) -> Refresh:
        changed: list[MediaRow] = []
        skip = calls = 0
        take = self.incremental_page_size
        while True:
            page = await client.media(take=take, skip=skip, sort="modified")
            calls += 1
            reached_known = False
            for row in page.results:
                if self._newest is not None and row.updated_at is not None and row.updated_at < self._newest:
                    reached_known = True
                    break
                if self._rows.get((row.media_type, row.tmdb_id)) != row:
                    changed.append(row)
            skip += len(page.results)
            if reached_known or len(page.results) < take or skip >= page.page_info.results:
                break
            take = min(take * 4, self.page_size)
        for row in changed:
            previous = self._rows.get((row.media_type, row.tmdb_id))
            if previous is not None and previous.id != row.id:
                self._by_id.pop(previous.id, None)
            self._rows[(row.media_type, row.tmdb_id)] = row
            self._by_id[row.id] = row
            if row.updated_at and (self._newest is None or row.updated_at > self._newest):
                self._newest = row.updated_at
        self._checked_at = started
        return Refresh(tuple(changed), rebuilt=False, calls=calls)
