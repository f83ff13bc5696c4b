"""What differs between the Seerr-family products, in one frozen table, and how to tell them apart.

Jellyseerr forked Overseerr and Seerr merged both; the API is the same except where this table
says (seerr-api-notes §1, §5). Nothing else in the plugin branches on the product: it asks its
:class:`ProductProfile`. The profile follows the *detected* server, not the plugin's name, so
the Overseerr plugin pointed at a Jellyseerr server speaks Jellyseerr.

The table holds only what the plugin acts on: what media status 6 and 7 mean. The query
parameters are not in it because the plugin only sends ones every version accepts
(``take``, ``skip``, ``sort=modified``, ``filter=all`` / ``filter=processing``); the
version-specific ones (``q``, ``includeIds``, ``sortDirection``, ``mediaType``) are 400s on
Overseerr (notes §2) and are never sent. Request status 5 (COMPLETED, O+/J 2.6+/S) is read as
"available" wherever it appears, so it needs no switch either.

Detection (:func:`identify`) reads ``GET /api/v1/status`` (``version``),
``GET /api/v1/settings/public`` (``mediaServerType`` exists only on Jellyseerr and Seerr) and
``GET /api/v1`` (``{"api": "Overseerr API" | "Jellyseerr API" | "Seerr API"}``):

* ``3.x`` → Seerr; ``2.x`` → Jellyseerr (2.0–2.5, or 2.6+ with DELETED);
* ``1.x`` → Jellyseerr 1.x if ``mediaServerType`` is present, else Overseerr (≤ 1.34 or ≥ 1.35);
* ``develop-…`` builds: the newest profile of the product the API name says.

Where a version boundary is not pinned down by the notes (Jellyseerr gained ``DELETED`` with
the 2.6–2.7 specs), the profile is an inference from the spec snapshots.
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


@dataclass(frozen=True)
class ProductProfile:
    """The behaviour of one product line (see the module docstring).

    * ``status6``: what media status 6 means (unused, DELETED, or BLACK/BLOCKLISTED);
    * ``status7_deleted``: whether status 7 is DELETED (Jellyseerr 2.6+, Seerr).
    """

    key: str
    product: str
    status6: Status6
    status7_deleted: bool


OVERSEERR = ProductProfile("overseerr", "Overseerr", Status6.UNUSED, status7_deleted=False)
OVERSEERR_135 = replace(OVERSEERR, key="overseerr-1.35", status6=Status6.DELETED)
JELLYSEERR_1 = replace(OVERSEERR, key="jellyseerr-1", product="Jellyseerr")
JELLYSEERR_20 = replace(JELLYSEERR_1, key="jellyseerr-2.0", status6=Status6.BLOCKLISTED)
JELLYSEERR_26 = replace(JELLYSEERR_20, key="jellyseerr-2.6", status7_deleted=True)
SEERR = replace(JELLYSEERR_26, key="seerr-3", product="Seerr")

PROFILES = (OVERSEERR, OVERSEERR_135, JELLYSEERR_1, JELLYSEERR_20, JELLYSEERR_26, SEERR)

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
        return JELLYSEERR_26 if minor >= 6 else JELLYSEERR_20
    if media_server_type is not None or product == "Jellyseerr":
        return JELLYSEERR_1
    return OVERSEERR_135 if (major, minor) >= (1, 35) else OVERSEERR
