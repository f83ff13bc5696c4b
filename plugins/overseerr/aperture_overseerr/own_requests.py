"""Each viewer's own latest request per title, read for many viewers at once when that is cheaper.

The media list carries no requests (notes §6), yet three things on a Discovery card belong to the
viewer alone: Declined and Failed (a declined request leaves the title "unknown" for everyone
else) and the id of the viewer's own request. :class:`OwnRequests` keeps, per server user, the
newest request of each title (keyed ``(media_type, tmdb_id, is_4k)``) for ``ttl`` seconds, and
reads them one of two ways:

* **per user**: ``GET /user/{id}/requests``, the newest ``page_size``; database only, a small
  answer;
* **in bulk**: ``GET /request?filter=all&sort=added``, every request of every user,
  ``bulk_page_size`` per page (the first page alone, then the rest ``bulk_concurrency`` at a
  time). On Jellyseerr and Seerr this list also asks Radarr/Sonarr for profile names, which the
  server caches for an hour (notes §6 and §12, trap 13).

Lookups that arrive together form a *batch* (the DataLoader pattern): a lookup announces itself
when it starts (:meth:`OwnRequests.expect`) and says whose requests it needs once it knows its
viewer (:meth:`OwnRequests.get`). The batch is read as soon as every announced lookup has said so,
or ``batch_wait`` seconds after its first miss, whichever comes first; a lone lookup never waits.
A batch is read in bulk when that takes fewer calls than reading its users one by one (the cached
user list's ``requestCount`` says how many pages the bulk read needs), otherwise per user. A bulk
read fills the entry of every user in the list (an empty one for users without requests), so
viewers who come later cost nothing until ``ttl`` passes: 50 users opening Discovery at once cost
the server what one user costs. If the bulk read fails or takes longer than ``bulk_deadline``
(say a Radarr that does not answer), the batch is read per user instead, and so are the batches
of the next ``bulk_cooldown`` seconds; a slow bulk read that ends well still fills the entries.

Users whose ``requestCount`` is 0 in the cached list, and who have not filed through us since
(:meth:`OwnRequests.forget`), are never read: they have none.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from aperture_hookspecs import ApertureError

from .cache import TimedCache
from .client import SeerrClient
from .models import MediaRequest, RequestPage, SeerrUser
from .together import gather_or_cancel
from .users import UserDirectory

log = logging.getLogger(__name__)

TitleKey = tuple[str, int, bool]
"""``(media_type, tmdb_id, is_4k)``: one title in one quality."""

Latest = Mapping[TitleKey, MediaRequest]
"""A user's newest request per title."""

PAGE_SIZE = 100
BULK_PAGE_SIZE = 1000


class Expectation:
    """A lookup in flight that has not yet said whose requests it needs (see :meth:`OwnRequests.expect`)."""

    __slots__ = ("_loader", "_open")

    def __init__(self, loader: OwnRequests) -> None:
        self._loader = loader
        self._open = True

    def settle(self) -> None:
        """The lookup has asked (or will not ask): stop holding the batch back. Idempotent."""
        if self._open:
            self._open = False
            self._loader._settled()


class OwnRequests:
    """Per-user latest requests, batched across concurrent lookups (see the module docstring)."""

    def __init__(
        self,
        client: SeerrClient,
        users: UserDirectory,
        *,
        ttl: float = 30.0,
        page_size: int = PAGE_SIZE,
        bulk_page_size: int = BULK_PAGE_SIZE,
        bulk_concurrency: int = 4,
        batch_wait: float = 0.05,
        bulk_deadline: float = 2.0,
        bulk_cooldown: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.users = users
        self.page_size = page_size
        self.bulk_page_size = bulk_page_size
        self.bulk_concurrency = bulk_concurrency
        self.batch_wait = batch_wait
        self.bulk_deadline = bulk_deadline
        self.bulk_cooldown = bulk_cooldown
        self._bulk_refused_until: float | None = None
        self._clock = clock
        self.cache: TimedCache[int, Latest] = TimedCache(ttl, clock)
        self._inflight: dict[int, asyncio.Future[Latest]] = {}
        self._waiting: dict[int, asyncio.Future[Latest]] = {}
        self._expected = 0
        self._timer: asyncio.TimerHandle | None = None
        self._bulk: asyncio.Task[dict[int, Latest]] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._filed_here: set[int] = set()
        self._generation = 0
        self._forgotten: dict[int, int] = {}

    # -- what lookups call ----------------------------------------------------------------------

    @contextmanager
    def expect(self) -> Iterator[Expectation]:
        """Hold the next batch back until this lookup has asked (or left).

        Wrap a whole lookup in it and pass the expectation to :meth:`get`::

            with own_requests.expect() as expectation:
                viewer = await resolve_viewer()
                latest = await own_requests.get(viewer, expectation)
        """
        expectation = Expectation(self)
        self._expected += 1
        try:
            yield expectation
        finally:
            expectation.settle()

    async def get(self, account: SeerrUser, expectation: Expectation | None = None) -> Latest:
        """``account``'s newest request per title: cached, or read with the current batch."""
        try:
            if account.request_count == 0 and account.id not in self._filed_here:
                return {}
            cached = self.cache.peek(account.id)
            if cached is not None:
                return cached
            future = self._inflight.get(account.id) or self._waiting.get(account.id)
            if future is None:
                future = asyncio.get_running_loop().create_future()
                future.add_done_callback(_retrieve)
                self._waiting[account.id] = future
                if self._timer is None:
                    self._timer = asyncio.get_running_loop().call_later(self.batch_wait, self._dispatch)
        finally:
            if expectation is not None:
                expectation.settle()
        if self._expected == 0 and self._waiting:
            self._dispatch()
        return await asyncio.shield(future)

    def forget(self, seerr_user_id: int) -> None:
        """This user has just filed a request through us: read theirs again on next use.

        A read already under way when this is called does not store what it found for them, and
        the next :meth:`get` does not wait for it but reads again."""
        self.cache.invalidate(seerr_user_id)
        self._inflight.pop(seerr_user_id, None)
        self._filed_here.add(seerr_user_id)
        self._generation += 1
        self._forgotten[seerr_user_id] = self._generation

    async def aclose(self) -> None:
        """Cancel reads under way (the runtime is closing)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for future in self._waiting.values():
            future.cancel()
        self._waiting = {}
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- batches --------------------------------------------------------------------------------

    def _settled(self) -> None:
        self._expected -= 1
        if self._expected == 0 and self._waiting:
            self._dispatch()

    def _dispatch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._waiting = self._waiting, {}
        if batch:
            self._inflight.update(batch)
            self._spawn(self._read_batch(batch))

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_batch(self, batch: dict[int, asyncio.Future[Latest]]) -> None:
        try:
            found = await self._bulk_within_deadline() if self._bulk_pays(len(batch)) else None
            if found is not None:
                for user_id, future in batch.items():
                    _resolve(future, found.get(user_id, {}))
                return
            user_ids = sorted(batch)
            answers = await asyncio.gather(*(self._read_one(i) for i in user_ids), return_exceptions=True)
            for user_id, answer in zip(user_ids, answers, strict=True):
                _resolve(batch[user_id], answer)
        except BaseException as error:  # cancelled while reading: nobody waits for nothing
            for future in batch.values():
                _resolve(future, error)
            raise
        finally:
            for user_id, future in batch.items():
                if self._inflight.get(user_id) is future:
                    del self._inflight[user_id]

    def _bulk_pays(self, batch_size: int) -> bool:
        """Does one bulk read take fewer calls than ``batch_size`` per-user reads?"""
        if batch_size < 2:
            return False
        if self._bulk_refused_until is not None and self._clock() < self._bulk_refused_until:
            return False  # it failed or was slow a moment ago
        counts = [user.request_count for user in self.users.users]
        if not counts or any(count is None for count in counts):
            return False  # how many pages the bulk read needs is unknown
        pages = max(1, math.ceil(sum(count or 0 for count in counts) / self.bulk_page_size))
        return pages < batch_size

    async def _bulk_within_deadline(self) -> dict[int, Latest] | None:
        if self._bulk is None:
            self._bulk = asyncio.ensure_future(self._read_bulk())
            self._tasks.add(self._bulk)
            self._bulk.add_done_callback(self._bulk_done)
        try:
            return await asyncio.wait_for(asyncio.shield(self._bulk), self.bulk_deadline)
        except TimeoutError:
            log.info(
                "The list of all requests took over %.1f s; reading each viewer's for %.0f s",
                self.bulk_deadline,
                self.bulk_cooldown,
            )
        except ApertureError as error:
            log.info(
                "Could not read the list of all requests (%s); reading each viewer's for %.0f s",
                error,
                self.bulk_cooldown,
            )
        self._bulk_refused_until = self._clock() + self.bulk_cooldown
        return None

    def _bulk_done(self, task: asyncio.Task[dict[int, Latest]]) -> None:
        self._tasks.discard(task)
        if self._bulk is task:
            self._bulk = None
        _retrieve(task)

    # -- reads ----------------------------------------------------------------------------------

    async def _read_one(self, user_id: int) -> Latest:
        started, generation = self._clock(), self._generation
        page = await self.client.user_requests(user_id, take=self.page_size)
        latest = _newest_per_title(page.results)
        self._store(user_id, latest, started, generation)
        return latest

    async def _read_bulk(self) -> dict[int, Latest]:
        started, generation = self._clock(), self._generation
        first = await self._bulk_page(0)
        rest: list[RequestPage] = []
        if len(first.results) == self.bulk_page_size:  # more pages: read them a few at a time
            limit = asyncio.Semaphore(self.bulk_concurrency)

            async def page_at(skip: int) -> RequestPage:
                async with limit:
                    return await self._bulk_page(skip)

            skips = range(self.bulk_page_size, first.page_info.results, self.bulk_page_size)
            rest = list(await gather_or_cancel(*(page_at(skip) for skip in skips)))
        by_user: dict[int, list[MediaRequest]] = {}
        for page in (first, *rest):  # newest first throughout: pages are in ``sort=added`` order
            for request in page.results:
                if request.requested_by is not None:
                    by_user.setdefault(request.requested_by, []).append(request)
        found: dict[int, Latest] = {user_id: _newest_per_title(rs) for user_id, rs in by_user.items()}
        for user in self.users.users:
            found.setdefault(user.id, {})
        for user_id, latest in found.items():
            self._store(user_id, latest, started, generation)
        return found

    async def _bulk_page(self, skip: int) -> RequestPage:
        return await self.client.requests_page(
            [("take", self.bulk_page_size), ("skip", skip), ("filter", "all"), ("sort", "added")]
        )

    def _store(self, user_id: int, latest: Latest, started: float, generation: int) -> None:
        if self._forgotten.get(user_id, 0) > generation:
            return  # they filed a request while this read ran: it may miss it
        self.cache.put(user_id, latest, started)


def _newest_per_title(requests: Sequence[MediaRequest]) -> dict[TitleKey, MediaRequest]:
    """The first request seen per title: the newest, as both lists come newest first."""
    latest: dict[TitleKey, MediaRequest] = {}
    for request in requests:
        if request.media is not None:
            latest.setdefault((request.media.media_type, request.media.tmdb_id, request.is_4k), request)
    return latest


def _resolve(future: asyncio.Future[Latest], answer: Latest | BaseException) -> None:
    if future.done():
        return
    if isinstance(answer, asyncio.CancelledError):
        future.cancel()
    elif isinstance(answer, BaseException):
        future.set_exception(answer)
    else:
        future.set_result(answer)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a failure as seen: a waiter may have gone (its lookup was cancelled)."""
    if not future.cancelled():
        future.exception()
