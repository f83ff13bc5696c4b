"""Reading the media table right while it changes, and what a row read elsewhere may replace.

Over real HTTP against the fake: a row deleted (or added) on the server between two page reads
of a rebuild loses no other row (``table_reader``); rows from request lists, which carry no
seasons (notes §12 trap 18), never strip a show's seasons (``media_table``); and whether the
server moves ``updatedAt`` is learned from the rows it returns (``stamps``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from aperture_overseerr.client import SeerrClient
from aperture_overseerr.media_table import MediaTable
from aperture_overseerr.models import MediaRow, SeasonStatus
from aperture_overseerr.stamps import StampWatch
from aperture_overseerr.table_reader import read_media_table
from aperture_overseerr.testing import FakeSeerr

ROWS = 60


class AfterPage(httpx.AsyncHTTPTransport):
    """Real HTTP; runs ``action`` once, right after the answer to the n-th ``GET /media``."""

    def __init__(self, n: int, action: Callable[[], None]) -> None:
        super().__init__()
        self.n, self.action, self.seen = n, action, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if request.url.path.endswith("/media"):
            self.seen += 1
            if self.seen == self.n:
                self.action()
        return response


@pytest.fixture
def served() -> Iterator[tuple[FakeSeerr, str]]:
    fake = FakeSeerr("seerr")
    for n in range(ROWS):
        fake.add_title("movie", 1000 + n, f"Film {n}")
        fake.add_media("movie", 1000 + n, status=5)
    with fake.serve() as url:
        yield fake, url


def newest_row_id(fake: FakeSeerr) -> int:
    return max(fake.media)


@pytest.mark.parametrize("when", [1, 2, 3])
async def test_a_row_deleted_while_the_table_is_read_loses_no_other_row(
    served: tuple[FakeSeerr, str], when: int
) -> None:
    fake, url = served
    victim = newest_row_id(fake)  # the top of sort=added: every later page moves up by one

    def delete() -> None:
        with fake._lock:
            del fake.media[victim]

    transport = AfterPage(when, delete)
    async with SeerrClient(url, fake.api_key, transport=transport) as client:
        reading = await read_media_table(client, page_size=10, first_page_size=5, overlap=2, concurrency=1)
    kept = {row.tmdb_id for row in reading.rows}
    everyone_else = {media.tmdb_id for media in fake.media.values()}
    assert everyone_else <= kept, sorted(everyone_else - kept)
    assert reading.complete


async def test_without_overlap_a_shifted_boundary_is_noticed_and_read_again(
    served: tuple[FakeSeerr, str],
) -> None:
    """With no rows read past a page's end, the boundary cannot be proven whole: the reader
    reads again (and says so when every attempt saw the table shift)."""
    fake, url = served
    victim = newest_row_id(fake)

    def delete() -> None:
        with fake._lock:
            del fake.media[victim]

    async with SeerrClient(url, fake.api_key, transport=AfterPage(1, delete)) as client:
        reading = await read_media_table(
            client, page_size=10, first_page_size=5, overlap=0, concurrency=1, attempts=1
        )
    assert not reading.complete


async def test_rows_added_while_the_table_is_read_are_read_once(served: tuple[FakeSeerr, str]) -> None:
    fake, url = served

    def add() -> None:
        for n in range(3):
            fake.add_title("movie", 9000 + n, f"New {n}")
            fake.add_media("movie", 9000 + n, status=2)

    async with SeerrClient(url, fake.api_key, transport=AfterPage(2, add)) as client:
        reading = await read_media_table(client, page_size=10, first_page_size=5, overlap=2, concurrency=2)
    ids = [row.id for row in reading.rows]
    assert {m.id for m in fake.media.values() if m.tmdb_id < 9000} <= set(ids)
    assert reading.complete


def show(seasons: tuple[SeasonStatus, ...], *, known: bool = True, status: int = 4) -> MediaRow:
    stamp = datetime(2026, 12, 1, 15, 30, 33, tzinfo=UTC)
    return MediaRow(7, "tv", 1399, status, 1, stamp, seasons, seasons_known=known)


def test_a_row_without_seasons_keeps_the_known_seasons() -> None:
    table = MediaTable()
    full = (SeasonStatus(1, 5, 1), SeasonStatus(2, 1, 1), SeasonStatus(3, 1, 1))
    table.put(show(full))
    kept = table.put(show((), known=False, status=4))  # embedded in GET /request: no seasons key
    assert kept is None  # nothing it carries is new
    assert table.get("tv", 1399).seasons == full
    table.put(show((), known=False, status=5))  # the status moved: taken, the seasons kept
    row = table.get("tv", 1399)
    assert (row.status, row.seasons, row.seasons_known) == (5, full, True)
    table.put(show((SeasonStatus(1, 5, 1),)))  # a full reading replaces them
    assert table.get("tv", 1399).seasons == (SeasonStatus(1, 5, 1),)


def test_stamps_are_learned_from_rows_read_again() -> None:
    watch = StampWatch()
    first = datetime(2026, 12, 1, 15, 30, 33, tzinfo=UTC)
    later = datetime(2026, 12, 1, 15, 31, 0, tzinfo=UTC)
    assert watch.frozen and not watch.known  # no evidence: checked as frozen (always correct)
    watch.observe(first, first, content_changed=False)  # nothing happened: no evidence
    assert not watch.known
    watch.observe(first, later, content_changed=True)
    assert not watch.frozen
    watch.observe(first, first, content_changed=True)  # changed, stamp kept: frozen again
    assert watch.frozen and watch.known
