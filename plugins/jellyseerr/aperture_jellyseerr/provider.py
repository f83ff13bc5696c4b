"""The Jellyseerr provider: the Seerr-family provider with Jellyseerr's manifest.

Everything else (settings, client, product differences) comes from ``aperture_overseerr``.
"""

from __future__ import annotations

from aperture_hookspecs import ProviderInfo
from aperture_overseerr import SEERR_CAPABILITIES, SeerrProvider, distribution_version

plugin = SeerrProvider(
    ProviderInfo(
        name="jellyseerr",
        title="Jellyseerr",
        version=distribution_version("aperture-jellyseerr"),
        description=(
            "Requests through Jellyseerr or Seerr 3.x (Jellyfin, Emby, Plex); also understands Overseerr."
        ),
        documentation="https://docs.seerr.dev/",
        capabilities=SEERR_CAPABILITIES,
    )
)
"""The Jellyseerr provider (entry point ``jellyseerr``)."""
