"""Download progress from Radarr/Sonarr queue items (``downloadStatus``, notes §7), summed."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from aperture_hookspecs import DownloadProgress

from .models import DownloadItem


def progress_of(
    items: tuple[DownloadItem, ...], seasons: Collection[int] | None = None
) -> DownloadProgress | None:
    """Sum a media row's queue items into one progress; ``None`` when there are none.

    For TV, ``seasons`` keeps only the items of those seasons (items that name no season count
    for every season). The fraction is of the bytes of the sized items; the ETA is the latest.
    """
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
