"""The state of a request, as Aperture's badges name it, from the request and its media row.

Portable across products (notes §5): "done" is media status AVAILABLE (per 4K flag, or for TV
every requested season), and request status COMPLETED where the product has it; on Overseerr
≤ 1.34 and Jellyseerr < 2.6 a fulfilled request stays APPROVED forever, so the media tells.
"""

from __future__ import annotations

from aperture_hookspecs import RequestState

from .models import (
    MEDIA_AVAILABLE,
    REQUEST_APPROVED,
    REQUEST_COMPLETED,
    REQUEST_DECLINED,
    REQUEST_FAILED,
    REQUEST_PENDING,
    MediaRequest,
    MediaRow,
)
from .progress import progress_of

_BY_REQUEST_STATUS = {
    REQUEST_PENDING: RequestState.PENDING,
    REQUEST_DECLINED: RequestState.DECLINED,
    REQUEST_FAILED: RequestState.FAILED,
    REQUEST_COMPLETED: RequestState.AVAILABLE,
}


def requested_seasons(request: MediaRequest) -> set[int]:
    return {season.season_number for season in request.seasons}


def is_fulfilled(request: MediaRequest, media: MediaRow | None) -> bool:
    """Is everything this request asked for in the library?"""
    if media is None:
        return False
    if media.status_for(request.is_4k) == MEDIA_AVAILABLE:
        return True
    wanted = requested_seasons(request)
    if request.media_type != "tv" or not wanted:
        return False
    available = {
        s.season_number
        for s in media.seasons
        if (s.status4k if request.is_4k else s.status) == MEDIA_AVAILABLE
    }
    return wanted <= available


def state_of(request: MediaRequest, media: MediaRow | None) -> RequestState:
    """The badge state of a request (``media`` is the freshest row known for its title)."""
    media = media or request.media
    if request.status in _BY_REQUEST_STATUS:
        return _BY_REQUEST_STATUS[request.status]
    if request.status != REQUEST_APPROVED:
        return RequestState.PENDING
    if is_fulfilled(request, media):
        return RequestState.AVAILABLE
    # downloading, whatever the media status says: approving a new season of a partially
    # available show leaves the show at PARTIALLY_AVAILABLE (notes §12 trap 19)
    if media is not None and progress_of(
        media.downloads_for(request.is_4k), requested_seasons(request) or None
    ):
        return RequestState.PROCESSING
    return RequestState.APPROVED
