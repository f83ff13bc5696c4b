"""Polling tracked requests at a bounded cost per cycle.

A cycle is one index check (:mod:`~aperture_overseerr.media_index`; while pushes arrive and none
went missing, only when the index's stretched check interval has passed): two to four cheap,
database-only calls whatever the number of tracked requests, when nothing changed. The index
keeps every open request of the server and the last reading of every tracked one up to date
(the poller tells it which to watch): when ``GET /request/count`` moves, it reads the requests
that can have changed (one by one up to ten, else from the lists), so a tracked request's
approval, decline, failure, completion or deletion is seen in the cycle after it happened on
every server version, including those whose ``updatedAt`` never moves (notes §12 trap 16).
Tracked requests the index has never read (the first cycle, or after a restart) are read once.

Download progress is not part of ``updatedAt`` (the server keeps it in memory and refreshes it
once a minute, notes §7): processing titles are re-read with one ``GET /media?filter=processing``
at most every ``progress_every`` seconds (the index's, from the ``progress_interval`` setting),
and approved requests whose title that filter does not list (4K downloads, new seasons of a
partially available show) are re-read by the index at the same pace. A server restart wipes
that memory: a request already seen processing stays processing (with unknown progress) rather
than stepping back to approved.
"""

from __future__ import annotations

from collections.abc import Sequence

from aperture_hookspecs import DownloadProgress, RequestState, StatusUpdate, TrackedRequest

from .client import SeerrClient
from .media_index import MediaIndex
from .models import MediaRequest, MediaRow
from .progress import progress_of
from .request_state import requested_seasons, state_of


class RequestPoller:
    """Polls the tracked requests of one provider through its media index."""

    async def poll(
        self, index: MediaIndex, client: SeerrClient, tracked: Sequence[TrackedRequest]
    ) -> list[StatusUpdate]:
        """One cycle: an index check, then each unfinished tracked request's state as the index
        now knows it (the host turns the differences into status-changed events)."""
        active = [t for t in tracked if not t.state.is_final and t.request_id.isdigit()]
        if not active:
            return []
        index.watch(int(t.request_id) for t in active)
        # every cycle checks the index, except while pushes arrive (then as often as lookups do)
        checked = await index.refresh(client, force=not index.ledger.healthy())
        await index.read_watched(client)  # in case the check it joined had begun before watch()
        if any(t.state in (RequestState.APPROVED, RequestState.PROCESSING) for t in active):
            # download progress is polled even while pushes arrive: no push carries it
            await index.refresh_downloads(client, max_age=index.progress_every, checked_now=checked.calls > 0)
        updates: list[StatusUpdate] = []
        for request in active:
            request_id = int(request.request_id)
            if index.request_deleted(request_id):
                updates.append(
                    StatusUpdate(
                        request.request_id,
                        RequestState.NOT_AVAILABLE,
                        reason="the request was deleted on the server",
                    )
                )
                continue
            server_request = index.request(request_id)
            if server_request is None:
                continue  # cannot happen after read_watched; never guess a state
            media = index.get(request.item.media_type.value, request.item.tmdb_id)
            updates.append(status_update(request, server_request, media))
        return updates


def status_update(tracked: TrackedRequest, request: MediaRequest, media: MediaRow | None) -> StatusUpdate:
    """The news of a tracked request from the index's reading of it and of its title's row
    (for a poll, and for a push: :mod:`~aperture_overseerr.push_apply`)."""
    # the index's row is at least as fresh as the one embedded in the request: every request
    # the index reads offers its media row to it
    media = media or request.media
    state = state_of(request, media)
    progress = _progress(request, media)
    if state is RequestState.APPROVED and tracked.state is RequestState.PROCESSING:
        state = RequestState.PROCESSING  # downloadStatus wiped by a restart: do not step back
    return StatusUpdate(tracked.request_id, state, progress=progress, reason=reason_for(state))


def reason_for(state: RequestState) -> str | None:
    """Why a tracked request is in ``state``, when that needs saying."""
    if state is RequestState.DECLINED:
        return "the request was declined"
    if state is RequestState.FAILED:
        return "the request could not be sent to Radarr/Sonarr"
    return None


def _progress(request: MediaRequest, media: MediaRow | None) -> DownloadProgress | None:
    if media is None:
        return None
    return progress_of(media.downloads_for(request.is_4k), requested_seasons(request) or None)
