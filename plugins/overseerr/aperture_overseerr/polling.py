"""Polling tracked requests at a bounded cost per cycle.

A cycle with nothing changed costs two cheap, database-only calls whatever the number of
tracked requests: an incremental media refresh (``GET /media?sort=modified``, one small page)
and ``GET /request/count``. Only when one of them moved are requests read again:

* requests whose title's media row changed, and all unfinished ones when the counts changed;
* up to ``SMALL_BATCH`` of them one by one with ``GET /request/{id}`` (404 = deleted on the
  server); more than that, in pages of ``GET /request?sort=modified`` (on Jellyseerr/Seerr that
  list asks Radarr/Sonarr for profile names, cached an hour by the server; rarely needed).

Download progress is not part of ``updatedAt`` (the server keeps it in memory and refreshes it
once a minute, notes §7), so approved/processing titles are re-read with one
``GET /media?filter=processing`` at most every ``progress_every`` seconds
(:meth:`~aperture_overseerr.media_index.MediaIndex.refresh_downloads`). A server restart
wipes that memory: a request already seen processing stays processing (with unknown progress)
rather than stepping back to approved.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from aperture_hookspecs import DownloadProgress, RequestState, StatusUpdate, TrackedRequest

from .availability import progress_of
from .models import MediaRequest, MediaRow
from .request_state import requested_seasons, state_of

if TYPE_CHECKING:
    from .runtime import SeerrRuntime

SMALL_BATCH = 10
LIST_PAGE = 100
PROGRESS_EVERY = 60.0


class RequestPoller:
    """Keeps what the last cycle saw (request counts, progress time) for one provider."""

    def __init__(
        self, *, progress_every: float = PROGRESS_EVERY, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.progress_every = progress_every
        self._clock = clock
        self._counts: object | None = None

    async def poll(self, runtime: SeerrRuntime, tracked: Sequence[TrackedRequest]) -> list[StatusUpdate]:
        active = [t for t in tracked if not t.state.is_final and t.request_id.isdigit()]
        if not active:
            return []
        await runtime.identity()
        refresh = await runtime.refresh_index(force=True)
        counts = await runtime.client.request_counts()
        changed_titles = {(row.media_type, row.tmdb_id) for row in refresh.changed}
        if self._counts is None or counts != self._counts:
            suspects = active
        else:
            suspects = [t for t in active if (t.item.media_type.value, t.item.tmdb_id) in changed_titles]
        self._counts = counts
        await self._refresh_progress(runtime, active)
        fetched = await self._fetch(runtime, suspects)
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

    async def _refresh_progress(self, runtime: SeerrRuntime, active: list[TrackedRequest]) -> None:
        if any(t.state in (RequestState.APPROVED, RequestState.PROCESSING) for t in active):
            await runtime.index.refresh_downloads(runtime.client, max_age=self.progress_every)

    async def _fetch(self, runtime: SeerrRuntime, suspects: list[TrackedRequest]) -> dict[str, MediaRequest]:
        if not suspects:
            return {}
        wanted = {t.request_id for t in suspects}
        found: dict[str, MediaRequest] = {}
        if len(suspects) > SMALL_BATCH:
            profile = (await runtime.identity()).profile
            allowed = profile.request_list_params()
            skip = 0
            while wanted - found.keys():
                query = [("take", LIST_PAGE), ("skip", skip), ("filter", "all"), ("sort", "modified")]
                page = await runtime.client.requests_page([(k, v) for k, v in query if k in allowed])
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
