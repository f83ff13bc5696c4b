"""What differs between the Seerr-family products, in one frozen table, and how to tell them apart.

Jellyseerr forked Overseerr and Seerr merged both; the API is the same except where this table
says (seerr-api-notes §1, §5, §8, §9). Nothing else in the plugin branches on the product: it
asks its :class:`ProductProfile`. The profile follows the *detected* server, not the plugin's
name, so the Overseerr plugin pointed at a Jellyseerr server speaks Jellyseerr.

Detection (:func:`identify`) reads ``GET /api/v1/status`` (``version``),
``GET /api/v1/settings/public`` (``mediaServerType`` exists only on Jellyseerr and Seerr) and
``GET /api/v1`` (``{"api": "Overseerr API" | "Jellyseerr API" | "Seerr API"}``):

* ``3.x`` → Seerr; ``2.x`` → Jellyseerr (2.0–2.3, 2.4–2.5 or 2.6+);
* ``1.x`` → Jellyseerr 1.x if ``mediaServerType`` is present, else Overseerr (≤ 1.34 or ≥ 1.35);
* ``develop-…`` builds: the newest profile of the product the API name says.

Where a version boundary is not pinned down by the notes (Jellyseerr gained ``COMPLETED``,
``DELETED`` and the ``mediaType`` request filter with the 2.6–2.7 specs, ``includeIds`` in 2.4),
the profile errs on the side of sending less: an unsupported parameter is a 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum


class Status6(StrEnum):
    """What media status 6 means on a product."""

    UNUSED = "unused"
    DELETED = "deleted"
    BLOCKLISTED = "blocklisted"


_BASE_REQUEST_FILTERS = frozenset(
    {"all", "approved", "available", "pending", "processing", "unavailable", "failed"}
)


@dataclass(frozen=True)
class ProductProfile:
    """The behaviour of one product line (see the module docstring)."""

    key: str
    product: str
    status6: Status6
    status7_deleted: bool
    request_completed: bool
    jellyfin_users: bool
    user_search: bool
    user_include_ids: bool
    request_sort_direction: bool
    request_media_type: bool
    request_filters: frozenset[str]
    blocklist_word: str | None
    all_seasons_include_specials: bool

    def user_list_params(self) -> frozenset[str]:
        params = {"take", "skip", "sort"}
        if self.user_search:
            params.add("q")
        if self.user_include_ids:
            params.add("includeIds")
        return frozenset(params)

    def request_list_params(self) -> frozenset[str]:
        params = {"take", "skip", "filter", "sort", "requestedBy"}
        if self.request_sort_direction:
            params.add("sortDirection")
        if self.request_media_type:
            params.add("mediaType")
        return frozenset(params)


OVERSEERR = ProductProfile(
    key="overseerr",
    product="Overseerr",
    status6=Status6.UNUSED,
    status7_deleted=False,
    request_completed=False,
    jellyfin_users=False,
    user_search=False,
    user_include_ids=False,
    request_sort_direction=False,
    request_media_type=False,
    request_filters=_BASE_REQUEST_FILTERS,
    blocklist_word=None,
    all_seasons_include_specials=True,
)
OVERSEERR_135 = replace(
    OVERSEERR,
    key="overseerr-1.35",
    status6=Status6.DELETED,
    request_completed=True,
    request_filters=_BASE_REQUEST_FILTERS | {"completed", "deleted"},
    all_seasons_include_specials=False,
)
JELLYSEERR_1 = replace(
    OVERSEERR,
    key="jellyseerr-1",
    product="Jellyseerr",
    jellyfin_users=True,
    all_seasons_include_specials=False,
)
JELLYSEERR_20 = replace(
    JELLYSEERR_1,
    key="jellyseerr-2.0",
    status6=Status6.BLOCKLISTED,
    user_search=True,
    request_sort_direction=True,
    blocklist_word="blacklisted",
)
JELLYSEERR_24 = replace(JELLYSEERR_20, key="jellyseerr-2.4", user_include_ids=True)
JELLYSEERR_26 = replace(
    JELLYSEERR_24,
    key="jellyseerr-2.6",
    status7_deleted=True,
    request_completed=True,
    request_media_type=True,
    request_filters=_BASE_REQUEST_FILTERS | {"completed", "deleted"},
)
SEERR = replace(JELLYSEERR_26, key="seerr-3", product="Seerr", blocklist_word="blocklisted")

PROFILES = (OVERSEERR, OVERSEERR_135, JELLYSEERR_1, JELLYSEERR_20, JELLYSEERR_24, JELLYSEERR_26, SEERR)

API_NAMES = {"Overseerr API": "Overseerr", "Jellyseerr API": "Jellyseerr", "Seerr API": "Seerr"}

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(version: str) -> tuple[int, int, int] | None:
    """``"2.7.3"`` → ``(2, 7, 3)``; ``None`` for ``develop-…`` or anything unversioned."""
    match = _VERSION.match(version.strip())
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def identify(version: str, media_server_type: int | None, api_name: str | None) -> ProductProfile:
    """Pick the profile for a server (see the module docstring for the rules)."""
    numbers = parse_version(version)
    product = API_NAMES.get(api_name or "")
    if numbers is None:
        if product == "Overseerr" or (product is None and media_server_type is None):
            return OVERSEERR_135
        return SEERR if product == "Seerr" else JELLYSEERR_26
    major, minor, _ = numbers
    if major >= 3:
        return SEERR
    if major == 2:
        if minor >= 6:
            return JELLYSEERR_26
        return JELLYSEERR_24 if minor >= 4 else JELLYSEERR_20
    if media_server_type is not None or product == "Jellyseerr":
        return JELLYSEERR_1
    return OVERSEERR_135 if (major, minor) >= (1, 35) else OVERSEERR
