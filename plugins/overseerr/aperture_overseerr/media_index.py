"""A local mirror of the server's media table and of its open requests, kept up to date cheaply.

A Discovery page costs no server call per card: :class:`MediaIndex` answers from its copy of
``GET /media`` (TMDB id, status, status4k, seasons, ``downloadStatus``: database only, notes §6)
and of the requests that can still change (:mod:`~aperture_overseerr.request_table`). It reads
the whole table once (a *rebuild*, :mod:`~aperture_overseerr.table_reader`), then runs an
*index check* when a lookup finds it older than ``max_staleness`` seconds (5) and on every
polling cycle. A check sees, for any title (tracked or not, requested through Aperture or on the
server's own site), a new request, an approval, a decline, a failure, a deletion and an arrival
in the library, on every supported version, at a cost that does not depend on the library size:

``GET /request/count`` (database only) moves whenever a request is created, approved, declined,
fails, completes or is deleted, and whenever the media of an approved request becomes available
(its ``processing``/``available`` numbers look at the media too, notes §8). Then, and only then,
the requests are read again: the newest ones (``GET /request?sort=added`` down to the highest id
known) and every open one (one by one with ``GET /request/{id}`` up to ``SMALL_BATCH``, else the
``filter=unavailable`` and ``filter=failed`` lists, then one by one those that left them). Each
request read brings its media row; a row from a request *list* has no seasons (trap 18) and
never replaces a full row (:mod:`~aperture_overseerr.media_table`).

How the media rows themselves are watched depends on the server's ``updatedAt``, learned from
the rows (:mod:`~aperture_overseerr.stamps`; "frozen" until a row shows it moving):

* **moving** (Overseerr, Jellyseerr < 2.6, Seerr after 3.1): ``GET /media?sort=modified`` read
  down to the newest second seen before, that second included (stamps are whole seconds and
  equal stamps come back in ascending id order, trap 17: a read that stopped at the first known
  row of that second would miss a newer row of the same second). Two calls per check.
* **frozen** (Jellyseerr 2.6 – 2.7, Seerr 3.0 – 3.1 on SQLite and PostgreSQL, trap 16):
  ``sort=modified`` orders by creation there. Instead: the top of ``sort=added`` (new rows have
  higher ids) and the two in-flight sets, ``filter=pending`` and ``filter=processing`` (small on
  any server); a row that leaves them without a request read explaining it is read again with
  ``GET /movie|tv/{id}``. Four calls per check.

Both read the server's row count from those pages: when the table holds fewer rows than the
index (a row was deleted) or more than the reads explain, the next check rebuilds. A rebuild
also runs every ``rebuild_every`` seconds (15 min) and forgets what the checks cannot see: a
title known to the server as unknown or removed that a library scan brings back without any
request, on a server with frozen stamps.

Download progress lives in the server's memory and never touches ``updatedAt`` (notes §7).
``filter=processing`` carries it for every processing row (read each check when stamps are
frozen, else every ``progress_every`` seconds by :meth:`MediaIndex.refresh_downloads`); approved
open requests whose title the filter does not list (a 4K download of a title in the library, a
new season of a partially available show: approval keeps such a show at status 4, trap 19) are
read again themselves every ``progress_every`` seconds.

Refreshes are single-flight: many lookups arriving together share one check. Timestamps from
the server are only compared with each other, so a server whose clock is off does not confuse it.

Pushes (the server's webhook, :mod:`~aperture_overseerr.push_apply`) reach the index through
:meth:`MediaIndex.take_push`, which changes the title's row and the request at once, so the next
lookup by anyone shows it without a call. What they said is kept as
:mod:`~aperture_overseerr.push_facts` until a read that *began after* them supersedes it: every
row and request a read brings is checked against them (:meth:`PushFacts.guard_row`), so a check
or a rebuild that was in flight when a push came cannot put the old status back. Each request
change a read finds is reported to the :class:`~aperture_overseerr.push_health.PushLedger`,
which counts those no push announced. While pushes arrive and none go missing, the check interval
stretches from ``max_staleness`` to ``max_staleness × push_stretch`` (at most
``push_stretch_cap`` seconds): :meth:`MediaIndex.check_interval`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aperture_hookspecs import ApertureError

from .client import SeerrClient
from .media_table import MediaTable
from .models import (
    MEDIA_PENDING,
    MEDIA_PROCESSING,
    REQUEST_APPROVED,
    REQUEST_COMPLETED,
    REQUEST_DECLINED,
    MediaPage,
    MediaRequest,
    MediaRow,
    RequestCounts,
    RequestPage,
)
from .push_facts import PushFacts, RequestFact, TitleFact
from .push_health import PushLedger
from .request_state import is_fulfilled
from .request_table import RequestTable
from .stamps import StampWatch, Watermark
from .table_reader import read_media_table
from .together import gather_or_cancel

log = logging.getLogger(__name__)

#: up to this many requests are read one by one (``GET /request/{id}``), more from the lists
SMALL_BATCH = 10
LIST_PAGE = 100
#: at most this many requests or titles are read one by one at once
READ_CONCURRENCY = 8
#: a rebuild the checks asked for (row counts that do not add up) waits at least this long
REBUILD_BACKOFF = 60.0
#: while pushes arrive, the check interval is this many times ``max_staleness`` …
PUSH_STRETCH = 12.0
#: … but never more than this many seconds
PUSH_STRETCH_CAP = 120.0
_IN_FLIGHT = {"pending": MEDIA_PENDING, "processing": MEDIA_PROCESSING}

TitleKey = tuple[str, int]


@dataclass(frozen=True)
class Refresh:
    """What a refresh found: the rows that changed (new or different) and how it ran."""

    changed: tuple[MediaRow, ...]
    rebuilt: bool
    calls: int


@dataclass
class _Round:
    """What one refresh did so far: calls made, rows changed, titles read afresh."""

    calls: int = 0
    changed: dict[TitleKey, MediaRow] = field(default_factory=dict)
    fresh: set[TitleKey] = field(default_factory=set)
    #: a row appeared, or its status or seasons changed (download progress aside)
    media_moved: bool = False
    #: the newest ``updatedAt`` of the rows read
    newest_stamp: datetime | None = None
    #: titles whose row appeared or changed status (download progress aside)
    moved_titles: set[TitleKey] = field(default_factory=set)
    #: the newest ``updatedAt`` of the requests read
    newest_request_stamp: datetime | None = None
    #: requests read in this refresh
    requests_read: set[int] = field(default_factory=set)
    #: how many push facts had arrived when this refresh began (``None``: unknown, the oldest)
    pushes_seen: int | None = None


class MediaIndex:
    """The media table by ``(media_type, tmdb_id)`` and the open requests (module docstring)."""

    def __init__(
        self,
        *,
        page_size: int = 1000,
        first_page_size: int = 250,
        incremental_page_size: int = 20,
        rebuild_concurrency: int = 4,
        max_staleness: float = 5.0,
        rebuild_every: float = 900.0,
        progress_every: float = 60.0,
        push_stretch: float = PUSH_STRETCH,
        push_stretch_cap: float = PUSH_STRETCH_CAP,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.page_size = page_size
        self.first_page_size = min(first_page_size, page_size)
        self.incremental_page_size = incremental_page_size
        self.rebuild_concurrency = rebuild_concurrency
        self.max_staleness = max_staleness
        self.rebuild_every = rebuild_every
        self.progress_every = progress_every
        self.push_stretch = push_stretch
        self.push_stretch_cap = push_stretch_cap
        self._clock = clock
        #: what pushes said that no read has superseded yet
        self.facts = PushFacts()
        #: what pushes announced, against what reads found
        self.ledger = PushLedger(clock)
        self.table = MediaTable()
        self.requests = RequestTable()
        self.stamps = StampWatch()
        self._counts: RequestCounts | None = None
        self._in_flight: dict[str, set[TitleKey]] = {name: set() for name in _IN_FLIGHT}
        #: moving stamps: how far ``GET /media?sort=modified`` has been read
        self._media_mark = Watermark()
        #: the highest media id and request id read from the top of ``sort=added``: only those
        #: reads move them, so a row read elsewhere (a set, a request) hides no row created before it
        self._newest_media_id = 0
        self._newest_request_id = 0
        #: moving stamps: how far ``GET /request?sort=modified`` has been read
        self._request_mark = Watermark()
        #: frozen stamps: titles that left the in-flight sets in this check
        self._left: set[TitleKey] = set()
        self._built_at: float | None = None
        self._rebuild_wanted_at: float | None = None
        self._last_rebuild_request: float | None = None
        self._checked_at: float | None = None
        self._inflight: asyncio.Future[Refresh] | None = None
        self._downloads_at: float | None = None
        self._downloads_inflight: asyncio.Future[None] | None = None
        self._open_progress_at: float | None = None
        #: called with each request found new, changed or deleted (the runtime forgets that
        #: user's cached own requests, so their Declined/Failed badge follows at once)
        self.on_request_change: Callable[[MediaRequest], None] | None = None

    # -- reading -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.table)

    def get(self, media_type: str, tmdb_id: int) -> MediaRow | None:
        return self.table.get(media_type, tmdb_id)

    def open_requests(self, media_type: str, tmdb_id: int) -> tuple[MediaRequest, ...]:
        """The title's requests by anyone that are still open (pending, approved and not yet
        fulfilled, failed), both 4K flags, oldest first, each with its requested ``seasons``."""
        return self.requests.for_title(media_type, tmdb_id)

    def request(self, request_id: int) -> MediaRequest | None:
        """The last reading of an open or watched request."""
        return self.requests.get(request_id)

    def request_deleted(self, request_id: int) -> bool:
        """Was this watched request found deleted on the server?"""
        return self.requests.is_deleted(request_id)

    @property
    def is_built(self) -> bool:
        return self._built_at is not None

    def offer(self, row: MediaRow) -> None:
        """Keep ``row``, read elsewhere just now (say embedded in a request), unless the index has
        a newer one; a row without seasons keeps the known seasons."""
        self._offer(row)

    def mark_stale(self) -> None:
        """Make the next :meth:`refresh` call the server (after a write that changed media)."""
        self._checked_at = None

    def needs_refresh(self) -> bool:
        now = self._clock()
        return self._checked_at is None or now - self._checked_at >= self.check_interval()

    def check_interval(self) -> float:
        """Seconds a check is good for: ``max_staleness``, stretched while pushes arrive (and
        none went missing lately), never beyond ``push_stretch_cap``."""
        if not self.ledger.healthy():
            return self.max_staleness
        return max(self.max_staleness, min(self.max_staleness * self.push_stretch, self.push_stretch_cap))

    @property
    def newest_request_id(self) -> int:
        """The highest request id read from the newest requests (0 before the first read)."""
        return self._newest_request_id

    # -- pushes ----------------------------------------------------------------------------------

    def take_push(self, title: TitleFact | None, request: RequestFact | None) -> MediaRequest | None:
        """Apply what one push said (see the module docstring); the request's reading after it
        (``None`` when the index keeps none: closed and not watched, or not placeable)."""
        now = self._clock()
        if title is not None:
            title = self.facts.add_title(title, now)
            known = self.table.get(title.media_type, title.tmdb_id)
            row = title.apply(known)
            if row is not None and row != known:
                self.table.put(row)
        if request is None:
            return None
        request = self.facts.add_request(request, now)
        previous = self.requests.get(request.request_id)
        if request.media_type is not None and request.tmdb_id is not None:
            media = self.table.get(request.media_type, request.tmdb_id)
        else:
            media = previous.media if previous is not None else None
        reading = request.apply(previous, media)
        if reading is None or reading == previous:
            return reading
        if reading.media is not None:
            media = self.table.get(reading.media_type, reading.media.tmdb_id) or media
        self.requests.put(reading, is_open=_still_open(reading, media))
        if self.on_request_change is not None:
            self.on_request_change(reading)
        return self.requests.get(reading.id) or reading

    async def read_pushed(self, client: SeerrClient) -> None:
        """Read again (by id) the requests pushes told of that no read has superseded yet, the
        oldest ``SMALL_BATCH``: so the index converges with the server after a push."""
        request_ids = self.facts.request_ids()[:SMALL_BATCH]
        if request_ids:
            await self._read_by_id(client, request_ids, _Round(pushes_seen=self.facts.sequence))

    def watch(self, request_ids: Iterable[int]) -> None:
        """Keep these requests (the ones a poller tracks) up to date even when they close."""
        self.requests.watch(request_ids)

    # -- refreshing ----------------------------------------------------------------------------

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
        round_ = _Round(pushes_seen=self.facts.sequence)
        rebuilt = self._rebuild_due(now)
        if rebuilt:
            await self._rebuild(client, round_, now)
        else:
            await self._check(client, round_, now)
        await self._read_unknown_watched(client, round_)
        await self._refresh_open_progress(client, round_, now)
        self._checked_at = now
        return Refresh(tuple(round_.changed.values()), rebuilt=rebuilt, calls=round_.calls)

    def _rebuild_due(self, now: float) -> bool:
        if self._built_at is None or now - self._built_at >= self.rebuild_every:
            return True
        return self._rebuild_wanted_at is not None and now >= self._rebuild_wanted_at

    def _want_rebuild(self, why: str) -> None:
        """Rebuild at the next refresh, but not more often than every ``REBUILD_BACKOFF`` seconds."""
        now = self._clock()
        last = self._last_rebuild_request
        self._rebuild_wanted_at = (
            now if last is None or now - last >= REBUILD_BACKOFF else last + REBUILD_BACKOFF
        )
        self._last_rebuild_request = now
        log.info("the media index will be read again in full: %s", why)

    # -- rebuild -------------------------------------------------------------------------------

    async def _rebuild(self, client: SeerrClient, round_: _Round, started: float) -> None:
        # What moves after these four reads shows up at the next check: a count that differs, a
        # row or request above the newest id, a row or request stamped at or after the newest stamp.
        counts, newest_modified, newest_request, modified_request = await gather_or_cancel(
            client.request_counts(),
            client.media(take=1, skip=0, sort="modified"),
            client.requests_page([("take", 1), ("skip", 0), ("filter", "all"), ("sort", "added")]),
            client.requests_page([("take", 1), ("skip", 0), ("filter", "all"), ("sort", "modified")]),
        )
        round_.calls += 4
        reading, open_requests = await gather_or_cancel(
            read_media_table(
                client,
                page_size=self.page_size,
                first_page_size=self.first_page_size,
                concurrency=self.rebuild_concurrency,
            ),
            self._read_open_lists(client, round_),
        )
        round_.calls += reading.calls
        known_newest = self._newest_request_id
        for row in self.table.replace_all(self._guard_rows(reading.rows, round_.pushes_seen)):
            round_.changed[(row.media_type, row.tmdb_id)] = row
        round_.fresh.update((row.media_type, row.tmdb_id) for row in reading.rows)
        for name, status in _IN_FLIGHT.items():
            self._in_flight[name] = {(r.media_type, r.tmdb_id) for r in self.table if r.status == status}
        stamps = [row.updated_at for row in newest_modified.results if row.updated_at]
        self._media_mark.reset(max(stamps) if stamps else None, started)
        self._newest_media_id = reading.newest_id
        self._newest_request_id = max([r.id for r in newest_request.results] + [self._newest_request_id])
        request_stamps = [r.updated_at for r in modified_request.results if r.updated_at]
        self._request_mark.reset(max(request_stamps) if request_stamps else None, started)
        before = {request.id: request for request in self.requests.open_requests()}
        self.requests.clear_open()
        for request in open_requests:
            # a request first seen by the first reading is no news to anyone; later, one is news
            # when it is newer than every request known before
            news = self._built_at is not None and request.id > known_newest
            self._keep(request, round_, before.get(request.id), first_sight_is_news=news)
            if news:
                self.ledger.found(request.id, request.status, request.media_type)
        self._restore_pushed_requests(round_.pushes_seen, {request.id for request in open_requests})
        # open before, not in the lists now: closed (or deleted) meanwhile; read them again
        await self._read_by_id(client, before.keys() - {r.id for r in open_requests}, round_)
        self._counts = counts
        self._built_at = started
        self._rebuild_wanted_at = None
        self._downloads_at = started  # every row's downloadStatus was just read
        if round_.pushes_seen is not None:
            self.facts.supersede(round_.pushes_seen)  # everything was read since those came
        if not reading.complete:
            self._want_rebuild("the table kept changing while it was read")

    def _guard_rows(self, rows: Iterable[MediaRow], pushes_seen: int | None) -> list[MediaRow]:
        """A whole table read: each row with the pushes that came since applied, plus the rows
        of titles pushed since that the reading does not have yet."""
        guarded = [self.facts.guard_row(row, pushes_seen) for row in rows]
        read = {(row.media_type, row.tmdb_id) for row in guarded}
        for key, facts in self.facts.titles_newer_than(pushes_seen):
            if key in read:
                continue
            row: MediaRow | None = None
            for fact in facts:
                row = fact.apply(row)
            if row is not None:
                guarded.append(row)
        return guarded

    def _restore_pushed_requests(self, pushes_seen: int | None, listed: set[int]) -> None:
        """After the open requests were read anew: put back those pushed since that the lists
        did not have yet (a request created while they were read)."""
        for fact in self.facts.requests_newer_than(pushes_seen):
            if fact.request_id in listed or fact.media_type is None or fact.tmdb_id is None:
                continue
            media = self.table.get(fact.media_type, fact.tmdb_id)
            reading = fact.apply(self.requests.get(fact.request_id), media)
            if reading is not None:
                self.requests.put(reading, is_open=_still_open(reading, media))

    async def _read_open_lists(self, client: SeerrClient, round_: _Round) -> list[MediaRequest]:
        """Every open request: ``filter=unavailable`` (pending, or approved and not available)
        and ``filter=failed``, page by page."""
        lists = await gather_or_cancel(
            *(self._read_list(client, name, round_) for name in ("unavailable", "failed"))
        )
        return [request for found in lists for request in found]

    async def _read_list(self, client: SeerrClient, filter_name: str, round_: _Round) -> list[MediaRequest]:
        """Every page of one request list: the first alone (it says how many there are), the
        others ``rebuild_concurrency`` at a time, then on to a short page if the list grew."""
        first = await self._request_page(client, round_, filter_name, 0, LIST_PAGE, sort="added")
        pages = [first]
        if len(first.results) == LIST_PAGE:
            gate = asyncio.Semaphore(max(1, self.rebuild_concurrency))

            async def read(skip: int) -> RequestPage:
                async with gate:
                    return await self._request_page(
                        client, round_, filter_name, skip, LIST_PAGE, sort="added"
                    )

            offsets = range(LIST_PAGE, first.page_info.results, LIST_PAGE)
            pages += await gather_or_cancel(*(read(skip) for skip in offsets))
            skip = LIST_PAGE * len(pages)
            while len(pages[-1].results) == LIST_PAGE:  # the list grew while it was read
                pages.append(await read(skip))
                skip += LIST_PAGE
        found: dict[int, MediaRequest] = {}
        for page in pages:
            for request in page.results:
                found.setdefault(request.id, request)  # a request read twice (the list moved)
        return list(found.values())

    async def _request_page(
        self, client: SeerrClient, round_: _Round, filter_name: str, skip: int, take: int, *, sort: str
    ) -> RequestPage:
        round_.calls += 1
        return await client.requests_page(
            [("take", take), ("skip", skip), ("filter", filter_name), ("sort", sort)]
        )

    # -- the index check ---------------------------------------------------------------------------

    async def _check(self, client: SeerrClient, round_: _Round, now: float) -> None:
        was_frozen = self.stamps.frozen
        if was_frozen:
            counts, total = await self._check_frozen(client, round_, now)
        else:
            counts, total = await gather_or_cancel(
                client.request_counts(), self._read_modified(client, round_, now)
            )
            round_.calls += 1
        # A media row that appeared or changed status means requests moved too, even when the
        # counts add up to the same numbers (one request deleted, another created meanwhile).
        if counts != self._counts or round_.media_moved:
            await self._reconcile_requests(client, round_, counts, now)
            self._counts = counts
        if was_frozen:
            await self._read_rows_that_left(client, round_)
            if not self.stamps.frozen:  # learned just now: moving checks start from these rows
                self._start_moving_checks(round_, now)
        if total != len(self.table):
            self._want_rebuild(f"the server has {total} media rows, the index {len(self.table)}")

    async def _check_frozen(
        self, client: SeerrClient, round_: _Round, now: float
    ) -> tuple[RequestCounts, int]:
        """Counts, new rows (``sort=added``) and the in-flight sets; returns the counts and the
        server's row count."""
        counts, total, pending, processing = await gather_or_cancel(
            client.request_counts(),
            self._read_new_rows(client, round_),
            self._read_set(client, "pending", round_),
            self._read_set(client, "processing", round_),
        )
        round_.calls += 1
        self._left = set()
        for name, rows in (("pending", pending), ("processing", processing)):
            keys = {(row.media_type, row.tmdb_id) for row in rows}
            self._left |= self._in_flight[name] - keys
            self._in_flight[name] = keys
            for row in rows:
                self._offer(row, round_)
        self._left -= {key for name in _IN_FLIGHT for key in self._in_flight[name]}
        self._downloads_at = now  # filter=processing carries every processing row's progress
        return counts, total

    async def _read_new_rows(self, client: SeerrClient, round_: _Round) -> int:
        """Rows above the highest id known (``sort=added``, newest first); the server's row count."""
        known_max = self._newest_media_id
        skip, take = 0, self.incremental_page_size
        while True:
            page = await self._media_page(client, round_, take=take, skip=skip, sort="added")
            new = [row for row in page.results if row.id > known_max]
            for row in new:
                self._offer(row, round_)
                self._newest_media_id = max(self._newest_media_id, row.id)
            skip += len(page.results)
            if len(new) < len(page.results) or len(page.results) < take or skip >= page.page_info.results:
                return page.page_info.results
            take = min(take * 4, self.page_size)

    async def _read_set(self, client: SeerrClient, filter_name: str, round_: _Round) -> list[MediaRow]:
        """Every row of an in-flight set; one call while it is under twice its last size."""
        take = max(self.page_size, 2 * len(self._in_flight.get(filter_name, ())))
        rows: list[MediaRow] = []
        skip = 0
        while True:
            page = await self._media_page(client, round_, take=take, skip=skip, filter=filter_name)
            rows += page.results
            skip += len(page.results)
            if len(page.results) < take or skip >= page.page_info.results:
                return rows

    async def _read_modified(self, client: SeerrClient, round_: _Round, now: float) -> int:
        """Moving stamps: rows stamped after the newest stamp seen; the server's row count.

        The newest second is read again until it has certainly ended (trap 17, see
        :class:`~aperture_overseerr.stamps.Watermark`).
        """
        mark = self._media_mark
        mark.begin()
        skip, take = 0, self.incremental_page_size
        while True:
            page = await self._media_page(client, round_, take=take, skip=skip, sort="modified")
            reached_known = False
            for row in page.results:
                if mark.is_known(row.updated_at):
                    reached_known = True
                    break
                self._offer(row, round_)
                mark.saw(row.updated_at)
            skip += len(page.results)
            if reached_known or len(page.results) < take or skip >= page.page_info.results:
                break
            take = min(take * 4, self.page_size)
        mark.end(now)
        return page.page_info.results

    def _start_moving_checks(self, round_: _Round, now: float) -> None:
        """The first moving check reads from the newest stamp this (frozen) check read: what
        changed before it, this check saw by its own means."""
        stamps = [stamp for stamp in (self._media_mark.stamp, round_.newest_stamp) if stamp is not None]
        self._media_mark.reset(max(stamps) if stamps else None, now)

    async def _media_page(
        self,
        client: SeerrClient,
        round_: _Round,
        *,
        take: int,
        skip: int,
        sort: str = "added",
        filter: str | None = None,
    ) -> MediaPage:
        round_.calls += 1
        return await client.media(take=take, skip=skip, sort=sort, filter=filter)

    async def _read_rows_that_left(self, client: SeerrClient, round_: _Round) -> None:
        """Frozen stamps: titles that left the in-flight sets and that no request read explained."""
        left = self._left - round_.fresh
        self._left = set()
        if len(left) > SMALL_BATCH:
            self._want_rebuild(f"{len(left)} titles left the pending and processing sets at once")
            return
        await _bounded(self._read_title(client, key, round_) for key in sorted(left))

    async def _read_title(self, client: SeerrClient, key: TitleKey, round_: _Round) -> None:
        """One title's media row from ``GET /movie|tv/{id}`` (TMDB-backed; only for a few titles)."""
        media_type, tmdb_id = key
        round_.calls += 1
        try:
            details = await client.title_details(media_type, tmdb_id)
        except ApertureError as error:
            log.info("could not read %s %s again (%s); the next rebuild will", media_type, tmdb_id, error)
            self._want_rebuild(f"{media_type} {tmdb_id} could not be read")
            return
        info = details.value.get("mediaInfo")
        round_.fresh.add(key)
        if not isinstance(info, dict):
            if self.facts.title_newer_than(media_type, tmdb_id, round_.pushes_seen):
                return  # a push since the read began says it has a row now
            gone = self.table.remove(media_type, tmdb_id)  # the server forgot the title
            if gone is not None:
                round_.changed[key] = gone
            return
        where = f"GET /api/v1/{media_type}/{{id}}.mediaInfo"
        self._offer(MediaRow.parse(info, where), round_)
        # the title's requests are all listed there: an open one that is missing was deleted
        listed = {item.get("id") for item in info.get("requests") or () if isinstance(item, dict)}
        missing = {r.id for r in self.requests.for_title(media_type, tmdb_id) if r.id not in listed}
        await self._read_by_id(client, missing, round_)

    # -- requests --------------------------------------------------------------------------------

    async def _reconcile_requests(
        self, client: SeerrClient, round_: _Round, counts: RequestCounts, now: float
    ) -> None:
        """The counts (or a media row) moved: read the new requests, then the ones that changed.

        Where request stamps move and no request was deleted (the total did not fall), the
        changed ones are the top of ``GET /request?sort=modified``, read down to the newest
        stamp seen (that second included until it has certainly ended); elsewhere every open or
        watched request is read again. Either way, the open requests of titles whose media row
        moved in this check are read again if nothing else did (a request deleted while another
        was created leaves the counts as they were, but resets its media).
        """
        new = await self._read_new_requests(client, round_)
        shrank = self._counts is not None and counts.total < self._counts.total
        if not self.stamps.frozen and not shrank and self._request_mark.stamp is not None:
            await self._read_modified_requests(client, round_, now)
        else:
            again = self.requests.open_ids() | self._watched_open()
            await self._read_again(client, again - {r.id for r in new}, round_)
            self._start_request_stamps(round_, now)
        stale = {
            request.id
            for key in round_.moved_titles
            for request in self.requests.for_title(*key)
            if request.id not in round_.requests_read
        }
        await self._read_by_id(client, stale, round_)

    async def _read_modified_requests(self, client: SeerrClient, round_: _Round, now: float) -> None:
        """Moving stamps: requests stamped after the newest request stamp seen (see
        :meth:`_read_modified`, which does the same for media rows)."""
        mark = self._request_mark
        mark.begin()
        skip, take = 0, SMALL_BATCH * 2
        while True:
            page = await self._request_page(client, round_, "all", skip, take, sort="modified")
            reached_known = False
            for request in page.results:
                if mark.is_known(request.updated_at):
                    reached_known = True
                    break
                self._keep(request, round_)
                mark.saw(request.updated_at)
            skip += len(page.results)
            if reached_known or len(page.results) < take or skip >= page.page_info.results:
                break
            take = LIST_PAGE
        mark.end(now)

    def _start_request_stamps(self, round_: _Round, now: float) -> None:
        """After every open request was read: later modified reads start from the newest stamp."""
        stamps = [s for s in (self._request_mark.stamp, round_.newest_request_stamp) if s is not None]
        self._request_mark.reset(max(stamps) if stamps else None, now)

    def _watched_open(self) -> set[int]:
        """Watched requests whose last reading could still change."""
        result = set()
        for request_id in self.requests.watched():
            request = self.requests.get(request_id)
            if request is not None and request.status not in (REQUEST_DECLINED, REQUEST_COMPLETED):
                result.add(request_id)
        return result

    async def _read_new_requests(self, client: SeerrClient, round_: _Round) -> list[MediaRequest]:
        """Requests above the highest id known (``sort=added``, newest first)."""
        known_max = self._newest_request_id
        new: list[MediaRequest] = []
        skip, take = 0, SMALL_BATCH * 2
        while True:
            page = await self._request_page(client, round_, "all", skip, take, sort="added")
            fresh = [request for request in page.results if request.id > known_max]
            new += fresh
            self._newest_request_id = max([self._newest_request_id] + [r.id for r in fresh])
            skip += len(page.results)
            if len(fresh) < len(page.results) or len(page.results) < take or skip >= page.page_info.results:
                break
            take = LIST_PAGE
        for request in new:
            self._keep(request, round_)
            if self._built_at is not None:
                self.ledger.found(request.id, request.status, request.media_type)
        return new

    async def _read_again(self, client: SeerrClient, request_ids: set[int], round_: _Round) -> None:
        """Read these requests again: one by one when few, else from the open lists first."""
        if len(request_ids) > SMALL_BATCH:
            listed = await self._read_open_lists(client, round_)
            for request in listed:
                self._keep(request, round_)
            request_ids = request_ids - {request.id for request in listed}
        await self._read_by_id(client, request_ids, round_)

    async def _read_by_id(self, client: SeerrClient, request_ids: Iterable[int], round_: _Round) -> None:
        async def read(request_id: int) -> None:
            round_.calls += 1
            request = await client.get_request(request_id)
            if request is not None:
                self._keep(request, round_)
                return
            if self.facts.request_newer_than(request_id, round_.pushes_seen):
                return  # pushed while this read ran: created since, or its push came first
            self.facts.supersede_request(request_id, round_.pushes_seen)
            gone = self.requests.deleted(request_id)
            if gone is not None and self.on_request_change is not None:
                self.on_request_change(gone)
            if gone is not None and gone.media is not None:
                key = (gone.media_type, gone.media.tmdb_id)
                if key not in round_.fresh and not self.requests.for_title(*key):
                    await self._read_title(client, key, round_)  # a deleted request resets its media

        await _bounded(read(request_id) for request_id in sorted(request_ids))

    async def read_watched(self, client: SeerrClient) -> None:
        """Read the watched requests never read yet (without a whole index check)."""
        if self.requests.unknown_watched():
            await self._read_unknown_watched(client, _Round(pushes_seen=self.facts.sequence))

    async def _read_unknown_watched(self, client: SeerrClient, round_: _Round) -> None:
        """Watched requests never read yet (a poller's first cycle, or after a restart)."""
        unknown = self.requests.unknown_watched()
        if len(unknown) > SMALL_BATCH:
            await self._scan_requests_down_to(client, min(unknown), unknown, round_)
            unknown = self.requests.unknown_watched()
        await self._read_by_id(client, unknown, round_)

    async def _scan_requests_down_to(
        self, client: SeerrClient, lowest: int, wanted: set[int], round_: _Round
    ) -> None:
        """Page through every request, newest first, down to id ``lowest``, keeping ``wanted`` ones."""
        skip = 0
        while True:
            page = await self._request_page(client, round_, "all", skip, LIST_PAGE, sort="added")
            for request in page.results:
                if request.id in wanted:
                    self._keep(request, round_)
            skip += len(page.results)
            ids = [request.id for request in page.results]
            if not ids or min(ids) <= lowest or len(ids) < LIST_PAGE or skip >= page.page_info.results:
                return

    async def _refresh_open_progress(self, client: SeerrClient, round_: _Round, now: float) -> None:
        """Approved open requests whose title ``filter=processing`` does not list (its regular
        status is not processing: a 4K download, a new season of a partially available show):
        read them again every ``progress_every`` seconds for their ``downloadStatus``."""
        if self._open_progress_at is not None and now - self._open_progress_at < self.progress_every:
            return
        unseen = [
            request.id
            for request in self.requests.open_requests()
            if request.status == REQUEST_APPROVED and self._regular_status(request) != MEDIA_PROCESSING
        ]
        self._open_progress_at = now
        if not unseen:
            return
        if len(unseen) <= SMALL_BATCH:
            await self._read_by_id(client, unseen, round_)
            return
        skip = 0
        while True:  # approved, media not available (status4k for 4K requests)
            page = await self._request_page(client, round_, "processing", skip, LIST_PAGE, sort="added")
            for request in page.results:
                self._keep(request, round_)
            skip += len(page.results)
            if len(page.results) < LIST_PAGE or skip >= page.page_info.results:
                return

    def _regular_status(self, request: MediaRequest) -> int | None:
        if request.media is None:
            return None
        row = self.table.get(request.media_type, request.media.tmdb_id)
        return (row or request.media).status

    # -- keeping what was read -----------------------------------------------------------------

    def _keep(
        self,
        request: MediaRequest,
        round_: _Round,
        earlier: MediaRequest | None = None,
        *,
        first_sight_is_news: bool = True,
    ) -> None:
        """A request read just now: its media row joins the table, the request the request table.

        ``earlier`` is the reading before this one when the table no longer has it (a rebuild);
        :attr:`on_request_change` hears of a request never seen before only if
        ``first_sight_is_news``. Pushes that came since the read began stand (push_facts)."""
        request = self.facts.guard_request(request, round_.pushes_seen)
        media = request.media
        if media is not None:
            self._offer(media, round_)
            media = self.table.get(media.media_type, media.tmdb_id) or media
        previous = self.requests.put(request, is_open=_still_open(request, media)) or earlier
        round_.requests_read.add(request.id)
        stamp = request.updated_at
        if stamp and (round_.newest_request_stamp is None or stamp > round_.newest_request_stamp):
            round_.newest_request_stamp = stamp
        if previous is None:
            changed = first_sight_is_news
        else:
            changed = previous.status != request.status or previous.seasons != request.seasons
        if previous is not None:
            self.stamps.observe(previous.updated_at, request.updated_at, changed)
            if previous.status != request.status:
                self.ledger.found(request.id, request.status, request.media_type)
        if changed and self.on_request_change is not None:
            self.on_request_change(request)

    def _offer(self, row: MediaRow, round_: _Round | None = None) -> None:
        row = self.facts.guard_row(row, round_.pushes_seen if round_ is not None else None)
        known = self.table.get(row.media_type, row.tmdb_id)
        kept = self.table.put(row)
        key = (row.media_type, row.tmdb_id)
        moved = known is None or known.id != row.id or _content_changed(known, row)
        if known is not None and known.id == row.id:
            self.stamps.observe(known.updated_at, row.updated_at, moved)
        if round_ is not None:
            round_.fresh.add(key)
            round_.media_moved |= moved
            if moved:
                round_.moved_titles.add(key)
            if row.updated_at and (round_.newest_stamp is None or row.updated_at > round_.newest_stamp):
                round_.newest_stamp = row.updated_at
            if kept is not None:
                round_.changed[key] = kept

    # -- download progress -------------------------------------------------------------------------

    async def refresh_downloads(
        self, client: SeerrClient, *, max_age: float, checked_now: bool = False
    ) -> bool:
        """Re-read download progress of PROCESSING titles if older than ``max_age`` seconds.

        ``checked_now``: the caller's own refresh just made calls (where stamps are frozen
        that check read the processing rows, so they are not read twice in one cycle; while
        pushes arrive a polling cycle may run no check, and the downloads are read here).

        ``GET /media?filter=processing`` returns every processing row with its
        ``downloadStatus`` in one cheap call (with frozen stamps every index check reads it
        anyway). Single-flight; returns whether it called the server.
        """
        now = self._clock()
        if self._downloads_at is not None and now - self._downloads_at < max_age:
            return False
        if checked_now and self.stamps.frozen and self._downloads_at == self._checked_at:
            return False  # the index check the caller just ran read them
        if self._downloads_inflight is None:
            self._downloads_inflight = asyncio.ensure_future(self._read_downloads(client, now))
            self._downloads_inflight.add_done_callback(self._clear_downloads_inflight)
        await asyncio.shield(self._downloads_inflight)
        return True

    def _clear_downloads_inflight(self, _: asyncio.Future[None]) -> None:
        self._downloads_inflight = None

    async def _read_downloads(self, client: SeerrClient, started: float) -> None:
        round_ = _Round(pushes_seen=self.facts.sequence)
        for row in await self._read_set(client, "processing", round_):
            self._offer(row, round_)
        self._downloads_at = started


def _still_open(request: MediaRequest, media: MediaRow | None) -> bool:
    """Can this request still change (pending, approved and not fulfilled, failed)?"""
    return request.status not in (REQUEST_DECLINED, REQUEST_COMPLETED) and not (
        request.status == REQUEST_APPROVED and is_fulfilled(request, media)
    )


def _content_changed(before: MediaRow, after: MediaRow) -> bool:
    """Did what moves ``updatedAt`` change (statuses; seasons where both readings have them)?
    Download progress never moves it."""
    if (before.status, before.status4k) != (after.status, after.status4k):
        return True
    return before.seasons_known and after.seasons_known and before.seasons != after.seasons


async def _bounded(calls: Iterable[Coroutine[Any, Any, None]], limit: int = READ_CONCURRENCY) -> None:
    """Await these coroutines, at most ``limit`` at once."""
    gate = asyncio.Semaphore(limit)

    async def run(call: Coroutine[Any, Any, None]) -> None:
        try:
            async with gate:
                await call
        finally:
            call.close()  # cancelled while waiting its turn: it never ran, and must not warn so

    await gather_or_cancel(*(run(call) for call in calls))


__all__: Sequence[str] = ("SMALL_BATCH", "MediaIndex", "Refresh")
