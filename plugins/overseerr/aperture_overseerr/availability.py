"""The badge of one title for one user, from local data only (no I/O here).

Inputs: the title's media row from the :class:`~aperture_overseerr.media_index.MediaIndex`
(or none: never requested), the open requests for the title by anyone (TV: which seasons are
asked for), the viewer (the mapped server user with permissions and quota, or why there is
none), the viewer's own latest request for the title (for Declined and Failed), and the product
profile (what status 6 and 7 mean). Rules, for the regular or the 4K instance:

* media AVAILABLE → Available; BLOCKLISTED (6 on Jellyseerr/Seerr) → Blocklisted;
* TV whose seasons say more than the media status (some season in the library, or asked for
  by an open request; see :mod:`~aperture_overseerr.seasons` for each season's state), first
  that applies: a season downloading → Processing with the progress of those seasons; seasons
  left to request → Partially Available (or Request when no season is in the library) with
  ``requestable_seasons`` and the Request button; a season FAILED → Failed; approved →
  Approved; awaiting approval → Pending; else (everything in the library, some seasons only in
  part) Partially Available with nothing to request. The reason lists the seasons by state
  ("seasons 1–2 in the library; season 3 requested, awaiting approval"); the requestable ones
  are in ``requestable_seasons``: those neither in the library nor asked for by an open request,
  what the server's duplicate check lets through, so Request never meets "nothing new";
* PROCESSING with download progress → Processing (fraction and ETA from ``downloadStatus``);
  PROCESSING without → Approved (sent to Radarr/Sonarr, not downloading yet);
* PENDING → Pending;
* the viewer's latest request FAILED → Failed; DECLINED (and nothing newer) → Declined;
* otherwise (unknown, or DELETED: 7, or 6 on Overseerr ≥ 1.35) → Request if the viewer may
  request it (permission and quota), else Not Available with the reason for the user and the
  admin.

``progress_of`` (from :mod:`~aperture_overseerr.progress`) is re-exported here for the modules
that sum download progress.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aperture_hookspecs import Availability, MediaRef, RequestState

from .models import (
    MEDIA_AVAILABLE,
    MEDIA_PARTIAL,
    MEDIA_PENDING,
    MEDIA_PROCESSING,
    MEDIA_STATUS_6,
    MEDIA_STATUS_7,
    MEDIA_UNKNOWN,
    REQUEST_DECLINED,
    REQUEST_FAILED,
    MediaRequest,
    MediaRow,
    Quota,
    SeerrUser,
)
from .permissions import may_request, quota_exempt
from .profiles import ProductProfile, Status6
from .progress import progress_of
from .seasons import SeasonState, ShowSeasons, show_seasons

__all__ = ["Viewer", "availability_for", "describe_quota", "progress_of", "requestability"]


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the mapped server user and their quota, or why nobody is mapped.

    ``user`` is ``None`` for a guest or an unmapped user; then ``reason`` (for the user) and
    ``admin_reason`` (what to fix) say why.
    """

    user: SeerrUser | None
    quota: Quota | None = None
    reason: str | None = None
    admin_reason: str | None = None


def describe_quota(quota: Quota) -> str:
    """One sentence with the numbers: "3 of 5 movie requests left (7 days); TV unlimited"."""
    if quota.movie.limit is None and quota.tv.limit is None:
        return "unlimited"
    parts = []
    for part, unit in ((quota.movie, "movie requests"), (quota.tv, "TV seasons")):
        if part.limit is None:
            parts.append(f"{unit}: unlimited")
        else:
            window = f" (window {part.days} days)" if part.days else ""
            parts.append(
                f"{part.remaining if part.remaining is not None else '?'} of {part.limit} {unit} left{window}"
            )
    return "; ".join(parts)


GUEST_REASON = "sign in to request"
"""Why a guest (``user=None``) is never offered the Request button."""


def requestability(
    viewer: Viewer, media_type: str, is_4k: bool, has_4k_library: bool = True
) -> tuple[bool, str | None, str | None]:
    """May the viewer request a title of this type now? ``(yes, reason, admin_reason)``.

    ``has_4k_library`` is false when the server has no default 4K Radarr/Sonarr for this type:
    a 4K request would be stored but never sent anywhere (notes §5), so it is not offered.
    """
    if viewer.user is None:
        return False, viewer.reason or GUEST_REASON, viewer.admin_reason
    if is_4k and not has_4k_library:
        kind = "movie" if media_type == "movie" else "series"
        arr = "Radarr" if media_type == "movie" else "Sonarr"
        return (
            False,
            f"this server has no 4K {kind} library",
            f"add a default 4K {arr} server in the request server's settings, or turn default 4K off",
        )
    permissions = viewer.user.permissions
    kind = "movies" if media_type == "movie" else "series"
    if not may_request(permissions, media_type, is_4k):
        quality = "4K " if is_4k else ""
        bit = ("REQUEST_4K or REQUEST_4K_" if is_4k else "REQUEST or REQUEST_") + (
            "MOVIE" if media_type == "movie" else "TV"
        )
        return (
            False,
            f"you do not have permission to request {quality}{kind}",
            f"grant {bit} to {viewer.user.display_name} (id {viewer.user.id}) in the server's user settings",
        )
    if viewer.quota is not None and not quota_exempt(permissions):
        part = viewer.quota.movie if media_type == "movie" else viewer.quota.tv
        if part.limit is not None and part.remaining is not None and part.remaining <= 0:
            unit = "movie requests" if media_type == "movie" else "TV seasons"
            window = f"; the window is {part.days} days" if part.days else ""
            return (
                False,
                f"quota reached: 0 of {part.limit} {unit} left{window}",
                f"raise {viewer.user.display_name}'s {unit} quota, or wait for the window to pass",
            )
    return True, None, None


def availability_for(
    item: MediaRef,
    row: MediaRow | None,
    viewer: Viewer,
    own_request: MediaRequest | None,
    profile: ProductProfile,
    is_4k: bool,
    has_4k_library: bool = True,
    *,
    open_requests: Sequence[MediaRequest] = (),
    specials: bool = False,
) -> Availability:
    """The badge of ``item`` for ``viewer`` (see the module docstring).

    ``open_requests`` are the title's requests by anyone that may still be open (both 4K flags;
    closed ones are ignored); ``specials`` says whether season 0 may be requested.
    """
    media_type = item.media_type.value
    status = row.status_for(is_4k) if row else MEDIA_UNKNOWN
    request_id = str(own_request.id) if own_request else None
    blocklisted = status == MEDIA_STATUS_6 and profile.status6 is Status6.BLOCKLISTED
    if status == MEDIA_AVAILABLE:
        return Availability(item, RequestState.AVAILABLE, is_4k=is_4k, request_id=request_id)
    if blocklisted:
        return Availability(
            item,
            RequestState.BLOCKLISTED,
            reason="the server's admin has blocked this title",
            is_4k=is_4k,
        )
    if media_type == "tv" and (row is not None or open_requests):
        seasons = show_seasons(row, open_requests, profile, is_4k, specials=specials)
        by_seasons = _by_seasons(
            item, status == MEDIA_PARTIAL, seasons, viewer, request_id, is_4k, has_4k_library
        )
        if by_seasons is not None:
            return by_seasons
    if status == MEDIA_PROCESSING and row is not None:
        progress = progress_of(row.downloads_for(is_4k))
        if own_request is not None and own_request.status == REQUEST_FAILED:
            return _failed(item, is_4k, request_id)
        state = RequestState.PROCESSING if progress else RequestState.APPROVED
        return Availability(item, state, progress=progress, is_4k=is_4k, request_id=request_id)
    if status == MEDIA_PENDING:
        return Availability(item, RequestState.PENDING, is_4k=is_4k, request_id=request_id)
    if own_request is not None and own_request.status == REQUEST_FAILED:
        return _failed(item, is_4k, request_id)
    if own_request is not None and own_request.status == REQUEST_DECLINED:
        return Availability(
            item,
            RequestState.DECLINED,
            reason="your request was declined",
            is_4k=is_4k,
            request_id=request_id,
        )
    allowed, reason, admin_reason = requestability(viewer, media_type, is_4k, has_4k_library)
    was_removed = (status == MEDIA_STATUS_7 and profile.status7_deleted) or (
        status == MEDIA_STATUS_6 and profile.status6 is Status6.DELETED
    )
    if allowed:
        note = "it was in the library before and has been removed" if was_removed else None
        return Availability(item, RequestState.REQUESTABLE, can_request=True, reason=note, is_4k=is_4k)
    return Availability(
        item,
        RequestState.NOT_AVAILABLE,
        reason=reason or "you cannot request this title",
        admin_reason=admin_reason,
        is_4k=is_4k,
    )


_CLAIMED = (SeasonState.PROCESSING, SeasonState.APPROVED, SeasonState.FAILED, SeasonState.PENDING)
_IN_LIBRARY = (SeasonState.AVAILABLE, SeasonState.PARTIAL)


def _by_seasons(
    item: MediaRef,
    partial: bool,
    seasons: ShowSeasons,
    viewer: Viewer,
    request_id: str | None,
    is_4k: bool,
    has_4k_library: bool,
) -> Availability | None:
    """A TV show's badge from its seasons; ``None`` when they say no more than the media status."""
    partial = partial or bool(seasons.numbers(*_IN_LIBRARY))
    if not partial and not seasons.numbers(*_CLAIMED):
        return None
    summary = seasons.describe()
    requestable = seasons.requestable
    if seasons.numbers(SeasonState.PROCESSING):
        return Availability(
            item,
            RequestState.PROCESSING,
            reason=summary,
            progress=seasons.progress,
            requestable_seasons=requestable,
            is_4k=is_4k,
            request_id=request_id,
        )
    if requestable or not seasons.states:  # no season known: let the server pick ("all")
        allowed, reason, admin_reason = requestability(viewer, item.media_type.value, is_4k, has_4k_library)
        fallback = "some seasons are in the library; request the others"
        return Availability(
            item,
            RequestState.PARTIALLY_AVAILABLE if partial else RequestState.REQUESTABLE,
            can_request=allowed,
            reason=(summary or fallback) if allowed else reason,
            admin_reason=admin_reason,
            requestable_seasons=requestable,
            is_4k=is_4k,
            request_id=request_id,
        )
    if seasons.numbers(SeasonState.FAILED):
        return _failed(item, is_4k, request_id, summary)
    for season_state, state in (
        (SeasonState.APPROVED, RequestState.APPROVED),
        (SeasonState.PENDING, RequestState.PENDING),
    ):
        if seasons.numbers(season_state):
            return Availability(item, state, reason=summary, is_4k=is_4k, request_id=request_id)
    return Availability(
        item,
        RequestState.PARTIALLY_AVAILABLE,
        reason="; ".join(part for part in (summary, "nothing left to request") if part),
        is_4k=is_4k,
        request_id=request_id,
    )


def _failed(item: MediaRef, is_4k: bool, request_id: str | None, seasons: str | None = None) -> Availability:
    return Availability(
        item,
        RequestState.FAILED,
        reason=seasons or "the request was approved but could not be sent to the downloader",
        admin_reason="check Radarr/Sonarr in the server's settings, then retry the request there",
        is_4k=is_4k,
        request_id=request_id,
    )
