"""Polling tracked requests at a bounded cost per cycle.

A cycle with nothing changed costs two cheap, database-only calls whatever the number of
tracked requests: an incremental media refresh (``GET /media?sort=modified``, one small page)
and ``GET /request/count``. Only when one of them moved are requests read again:

* requests whose title's media row changed;
* when the counts moved, the requests modified since the newest one seen before: the top of
  ``GET /request?sort=modified``, read down to that watermark (usually one page; on
  Jellyseerr/Seerr that list asks Radarr/Sonarr for profile names, cached an hour by the server);
* every unfinished request on the first cycle, after a deletion (the total fell: a deleted
  request leaves no trace in ``sort=modified``) and every ``full_check_every`` seconds: up to
  ``SMALL_BATCH`` one by one with ``GET /request/{id}`` (404 = deleted), more from the list.

Download progress is not part of ``updatedAt`` (the server keeps it in memory and refreshes it
once a minute, notes §7), so approved/processing titles are re-read with one
``GET /media?filter=processing`` at most every ``progress_every`` seconds
(:meth:`~aperture_overseerr.media_index.MediaIndex.refresh_downloads`). That filter reads the
regular ``status`` only, so a 4K download of a title whose regular version is not processing
(typically: already in the library) is missed by it; those tracked 4K requests are read
themselves (``GET /request/{id}`` embeds the media row with ``downloadStatus4k``; more than
``SMALL_BATCH`` from the list) at the same pace. A server restart
wipes that memory: a request already seen processing stays processing (with unknown progress)
rather than stepping back to approved.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from aperture_hookspecs import DownloadProgress, RequestState, StatusUpdate, TrackedRequest

from .availability import progress_of
from .models import MEDIA_PROCESSING, MediaRequest, MediaRow, RequestCounts, RequestPage
from .request_state import requested_seasons, state_of

if TYPE_CHECKING:
    from .runtime import SeerrRuntime

SMALL_BATCH = 10
LIST_PAGE = 100
PROGRESS_EVERY = 60.0
FULL_CHECK_EVERY = 900.0


class RequestPoller:
    """Keeps what the last cycle saw (request counts, progress time) for one provider."""

    def __init__(
        self,
        *,
        progress_every: float = PROGRESS_EVERY,
        full_check_every: float = FULL_CHECK_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.progress_every = progress_every
        self.full_check_every = full_check_every
        self._clock = clock
        self._counts: RequestCounts | None = None
        self._watermark: datetime | None = None
        self._at_watermark: set[int] = set()
        self._full_check_at: float | None = None
        self._progress4k_at: float | None = None

    async def poll(self, runtime: SeerrRuntime, tracked: Sequence[TrackedRequest]) -> list[StatusUpdate]:
        active = [t for t in tracked if not t.state.is_final and t.request_id.isdigit()]
        if not active:
            return []
        await runtime.identity()
        refresh = await runtime.refresh_index(force=True)
        counts = await runtime.client.request_counts()
        changed_titles = {(row.media_type, row.tmdb_id) for row in refresh.changed}
        suspects = [t for t in active if (t.item.media_type.value, t.item.tmdb_id) in changed_titles]
        fetched: dict[str, MediaRequest] = {}
        if counts != self._counts:
            if self._needs_full_check(counts):
                suspects = active
            else:  # only what was modified since the last cycle: usually one page
                recent = await self._recently_modified(runtime)
                active_ids = {t.request_id for t in active}
                fetched = {key: r for key, r in recent.items() if key in active_ids}
                suspects += [t for t in active if t.request_id in fetched and t not in suspects]
        self._counts = counts
        await self._refresh_progress(runtime, active)
        suspects += self._unseen_4k_downloads(runtime, active, suspects)
        fetched.update(await self._fetch(runtime, [t for t in suspects if t.request_id not in fetched]))
        for read in fetched.values():  # Discovery cards see the progress read here too
            if read.media is not None:
                runtime.index.offer(read.media)
        suspect_ids = {t.request_id for t in suspects}
        updates: list[StatusUpdate] = []
        for request in active:
            key = (request.item.media_type.value, request.item.tmdb_id)
            media = runtime.index.get(*key)
            if request.request_id in suspect_ids:
                server_request = fetched.get(request.request_id)
                if server_request is None:
                    updates.append(
                        StatusUpdate(
                            request.request_id,
                            RequestState.NOT_AVAILABLE,
                            reason="the request was deleted on the server",
                        )
                    )
                    continue
                updates.append(_update(request, server_request, media))
            elif request.state in (RequestState.APPROVED, RequestState.PROCESSING) and media is not None:
                updates.append(_progress_update(request, media))
        return updates

    def _needs_full_check(self, counts: RequestCounts) -> bool:
        """Read every unfinished request: on the first cycle, after a deletion (the total fell,
        and a deleted request leaves no trace in ``sort=modified``) and every
        ``full_check_every`` seconds."""
        now = self._clock()
        due = self._full_check_at is None or now - self._full_check_at >= self.full_check_every
        shrank = self._counts is not None and counts.total < self._counts.total
        if self._watermark is None or due or shrank:
            self._full_check_at = now
            return True
        return False

    async def _recently_modified(self, runtime: SeerrRuntime) -> dict[str, MediaRequest]:
        """Requests modified since the newest one seen before (``GET /request?sort=modified``)."""
        found: dict[str, MediaRequest] = {}
        skip = 0
        while True:
            page = await self._list_page(runtime, skip)
            reached_known = False
            for request in page.results:
                stamp = request.updated_at
                if (
                    self._watermark is not None
                    and stamp is not None
                    and (
                        stamp < self._watermark
                        or (stamp == self._watermark and request.id in self._at_watermark)
                    )
                ):
                    reached_known = True  # older, or as old and already seen: the rest is known
                    break
                found[str(request.id)] = request
            self._note(page.results)
            skip += len(page.results)
            if reached_known or len(page.results) < LIST_PAGE or skip >= page.page_info.results:
                return found

    async def _list_page(self, runtime: SeerrRuntime, skip: int) -> RequestPage:
        """One page of every request, most recently modified first (parameters all versions accept)."""
        return await runtime.client.requests_page(
            [("take", LIST_PAGE), ("skip", skip), ("filter", "all"), ("sort", "modified")]
        )

    def _note(self, requests: Sequence[MediaRequest]) -> None:
        """Move the watermark to the newest ``updatedAt`` seen, remembering who stands on it."""
        for request in requests:
            stamp = request.updated_at
            if stamp is None or (self._watermark is not None and stamp < self._watermark):
                continue
            if self._watermark is None or stamp > self._watermark:
                self._watermark, self._at_watermark = stamp, set()
            self._at_watermark.add(request.id)

    async def _refresh_progress(self, runtime: SeerrRuntime, active: list[TrackedRequest]) -> None:
        if any(t.state in (RequestState.APPROVED, RequestState.PROCESSING) for t in active):
            await runtime.index.refresh_downloads(runtime.client, max_age=self.progress_every)

    def _unseen_4k_downloads(
        self, runtime: SeerrRuntime, active: list[TrackedRequest], suspects: list[TrackedRequest]
    ) -> list[TrackedRequest]:
        """Approved or processing 4K requests whose title ``filter=processing`` does not list (its
        regular status is not processing), when their progress is due to be read again."""
        now = self._clock()
        if self._progress4k_at is not None and now - self._progress4k_at < self.progress_every:
            return []
        unseen = [
            t
            for t in active
            if t.is_4k
            and t.state in (RequestState.APPROVED, RequestState.PROCESSING)
            and t not in suspects
            and _regular_status(runtime, t) != MEDIA_PROCESSING
        ]
        if unseen:
            self._progress4k_at = now
        return unseen

    async def _fetch(self, runtime: SeerrRuntime, suspects: list[TrackedRequest]) -> dict[str, MediaRequest]:
        if not suspects:
            return {}
        wanted = {t.request_id for t in suspects}
        found: dict[str, MediaRequest] = {}
        if len(suspects) > SMALL_BATCH:
            skip = 0
            while wanted - found.keys():
                page = await self._list_page(runtime, skip)
                self._note(page.results)
                found.update({str(r.id): r for r in page.results if str(r.id) in wanted})
                skip += len(page.results)
                if len(page.results) < LIST_PAGE or skip >= page.page_info.results:
                    break
        missing = sorted(wanted - found.keys())
        if len(missing) > SMALL_BATCH and len(suspects) > SMALL_BATCH:
            return found  # the whole list was read: the rest were deleted on the server
        answers = await asyncio.gather(
            *(runtime.client.get_request(int(request_id)) for request_id in missing)
        )
        found.update({request_id: r for request_id, r in zip(missing, answers, strict=True) if r is not None})
        return found


def _update(tracked: TrackedRequest, request: MediaRequest, media: MediaRow | None) -> StatusUpdate:
    state = state_of(request, _fresher(media, request.media))
    progress = _progress(request, _fresher(media, request.media))
    if state is RequestState.APPROVED and tracked.state is RequestState.PROCESSING:
        state = RequestState.PROCESSING  # downloadStatus wiped by a restart: do not step back
    reason = "the request was declined" if state is RequestState.DECLINED else None
    if state is RequestState.FAILED:
        reason = "the request could not be sent to Radarr/Sonarr"
    return StatusUpdate(tracked.request_id, state, progress=progress, reason=reason)


def _progress_update(tracked: TrackedRequest, media: MediaRow) -> StatusUpdate:
    seasons = {s for s in (tracked.seasons or ()) if isinstance(s, int)} or None
    progress = progress_of(media.downloads_for(tracked.is_4k), seasons)
    state = RequestState.PROCESSING if progress or tracked.state is RequestState.PROCESSING else tracked.state
    return StatusUpdate(tracked.request_id, state, progress=progress)


def _regular_status(runtime: SeerrRuntime, tracked: TrackedRequest) -> int | None:
    row = runtime.index.get(tracked.item.media_type.value, tracked.item.tmdb_id)
    return row.status if row is not None else None


def _fresher(first: MediaRow | None, second: MediaRow | None) -> MediaRow | None:
    """The newer of two rows of one title; on a tie the second (read just now) wins."""
    if first is None or second is None:
        return first or second
    if first.updated_at and second.updated_at and first.updated_at > second.updated_at:
        return first
    return second


def _progress(request: MediaRequest, media: MediaRow | None) -> DownloadProgress | None:
    if media is None:
        return None
    return progress_of(media.downloads_for(request.is_4k), requested_seasons(request) or None)
