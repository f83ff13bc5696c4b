"""Reading the whole media table without losing a row while the server's table changes.

``GET /media`` pages by offset. A row deleted on the server while a reader pages moves every
later row up by one, so a plain reader skips one row at the next page boundary (an Available
title then looks requestable, and the server accepts duplicate requests for it). A row added
moves them down (a row read twice: harmless).

:func:`read_media_table` therefore

* pages in ``sort=added`` order (by id, newest first: an order that changing a row never
  alters; new rows appear at the top, before the first page, where the next index check finds
  them),
* reads every page ``overlap`` rows past its end, and checks that each page's first row was
  also read by the page before it: then no row can have slipped through the boundary (up to
  ``overlap`` deletions between two page reads),
* reads again, up to ``attempts`` times, when a boundary does not join up.

A small first page is read alone (it says how many rows there are and comes back quickly), then
the others ``concurrency`` at a time, so the server prepares one page while the client parses
another.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass

from .client import SeerrClient
from .models import MediaPage, MediaRow
from .together import gather_or_cancel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TableReading:
    """A complete reading of the media table."""

    rows: tuple[MediaRow, ...]
    #: the server's row count, from the last page read
    total: int
    #: the highest media id on the first page (rows created later have higher ids)
    newest_id: int
    calls: int
    #: every page boundary joined up (False only when every attempt saw the table shift)
    complete: bool


async def read_media_table(
    client: SeerrClient,
    *,
    page_size: int = 1000,
    first_page_size: int = 250,
    overlap: int = 25,
    concurrency: int = 4,
    attempts: int = 3,
) -> TableReading:
    """Read every row of ``GET /media`` (see the module docstring)."""
    calls = 0
    reading: TableReading | None = None
    for attempt in range(1, attempts + 1):
        reading = await _read_once(client, page_size, first_page_size, overlap, concurrency)
        calls += reading.calls
        if reading.complete:
            break
        log.info("the media table changed while it was read (attempt %d of %d)", attempt, attempts)
    assert reading is not None
    return TableReading(reading.rows, reading.total, reading.newest_id, calls, reading.complete)


async def _read_once(
    client: SeerrClient, page_size: int, first_page_size: int, overlap: int, concurrency: int
) -> TableReading:
    first_size = min(first_page_size, page_size)
    first = _Page(0, first_size, overlap, await client.media(take=first_size + overlap, skip=0, sort="added"))
    pages = [first]
    if first.full:
        limit = asyncio.Semaphore(max(1, concurrency))

        async def read(offset: int) -> _Page:
            async with limit:
                page = await client.media(take=page_size + overlap, skip=offset, sort="added")
                return _Page(offset, page_size, overlap, page)

        total = first.page.page_info.results
        pages += await gather_or_cancel(*(read(offset) for offset in range(first_size, total, page_size)))
        # the table grew while it was read: go on one page at a time until a page ends it
        while pages[-1].full:
            pages.append(await read(pages[-1].end))
    complete = all(before.joins(after) for before, after in itertools.pairwise(pages))
    rows = tuple(row for page in pages for row in page.page.results)
    newest = max((row.id for row in first.page.results), default=0)
    return TableReading(rows, pages[-1].page.page_info.results, newest, len(pages), complete)


@dataclass(frozen=True)
class _Page:
    """One page read ``overlap`` rows past its nominal end ``offset + size``."""

    offset: int
    size: int
    overlap: int
    page: MediaPage

    @property
    def end(self) -> int:
        return self.offset + self.size

    @property
    def full(self) -> bool:
        """Did the server fill the whole ``take``? Then more rows may follow."""
        return len(self.page.results) >= self.size + self.overlap

    def joins(self, later: _Page) -> bool:
        """No row can have slipped between this page and the next one."""
        if not self.full:
            return True  # this page reached the end of the table: rows beyond it were added later
        if not later.page.results:
            return False  # rows vanished: one may have moved up past this page's end
        head = later.page.results[0].id
        return any(row.id == head for row in self.page.results)
