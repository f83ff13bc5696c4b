"""The badge of one title for one user, from local data only (no I/O here).

Inputs: the title's media row from the :class:`~aperture_overseerr.media_index.MediaIndex`
(or none: never requested), the viewer (the mapped server user with permissions and quota, or
why there is none), the viewer's own latest request for the title (for Declined and Failed),
and the product profile (what status 6 and 7 mean). Rules, for the regular or the 4K instance:

* media AVAILABLE → Available; PARTIALLY_AVAILABLE → Partially Available, the seasons whose
  status is unknown or deleted requestable;
* PROCESSING with download progress → Processing (fraction and ETA from ``downloadStatus``);
  PROCESSING without → Approved (sent to Radarr/Sonarr, not downloading yet);
* PENDING → Pending; BLOCKLISTED (6 on Jellyseerr/Seerr) → Blocklisted;
* the viewer's latest request FAILED → Failed; DECLINED (and nothing newer) → Declined;
* otherwise (unknown, or DELETED: 7, or 6 on Overseerr) → Request if the viewer may request it
  (permission and quota), else Not Available with the reason for the user and the admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aperture_hookspecs import Availability, DownloadProgress, MediaRef, RequestState

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
    DownloadItem,
    MediaRequest,
    MediaRow,
    Quota,
    SeerrUser,
)
from .permissions import may_request, quota_exempt
from .profiles import ProductProfile, Status6


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


def progress_of(items: tuple[DownloadItem, ...], seasons: set[int] | None = None) -> DownloadProgress | None:
    """Sum a media row's queue items (for TV, those of ``seasons`` if given) into one progress."""
    chosen = [i for i in items if seasons is None or i.season_number is None or i.season_number in seasons]
    if not chosen:
        return None
    sized = [i for i in chosen if i.size and i.size_left is not None]
    size = sum(i.size or 0 for i in sized)
    left = sum(min(i.size_left or 0, i.size or 0) for i in sized)
    etas = [i.estimated_completion for i in chosen if i.estimated_completion]
    eta: datetime | None = max(etas) if etas else None
    statuses = {i.status for i in chosen if i.status}
    status = "downloading" if "downloading" in statuses else (sorted(statuses)[0] if statuses else None)
    return DownloadProgress(
        fraction=round(1 - left / size, 4) if size else None,
        eta=eta,
        status=status,
        size_bytes=size or None,
        size_left_bytes=left if size else None,
    )


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


def requestability(
    viewer: Viewer, media_type: str, is_4k: bool, has_4k_library: bool = True
) -> tuple[bool, str | None, str | None]:
    """May the viewer request a title of this type now? ``(yes, reason, admin_reason)``.

    ``has_4k_library`` is false when the server has no default 4K Radarr/Sonarr for this type:
    a 4K request would be stored but never sent anywhere (notes §5), so it is not offered.
    """
    if viewer.user is None:
        return False, viewer.reason or "sign in to request", viewer.admin_reason
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
) -> Availability:
    """The badge of ``item`` for ``viewer`` (see the module docstring)."""
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
    if status == MEDIA_PARTIAL and row is not None:
        missing = tuple(
            s.season_number
            for s in row.seasons
            if s.season_number > 0 and (s.status4k if is_4k else s.status) in (MEDIA_UNKNOWN, MEDIA_STATUS_7)
        )
        allowed, reason, admin_reason = requestability(viewer, media_type, is_4k, has_4k_library)
        return Availability(
            item,
            RequestState.PARTIALLY_AVAILABLE,
            can_request=allowed,
            reason=reason if not allowed else "some seasons are in the library; request the others",
            admin_reason=admin_reason,
            requestable_seasons=missing,
            is_4k=is_4k,
            request_id=request_id,
            progress=progress_of(row.downloads_for(is_4k)),
        )
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


def _failed(item: MediaRef, is_4k: bool, request_id: str | None) -> Availability:
    return Availability(
        item,
        RequestState.FAILED,
        reason="the request was approved but could not be sent to the downloader",
        admin_reason="check Radarr/Sonarr in the server's settings, then retry the request there",
        is_4k=is_4k,
        request_id=request_id,
    )
