"""aperture_overseerr: the Overseerr request provider and the Seerr-family building blocks.

The Jellyseerr provider (``aperture_jellyseerr``) reuses :class:`SeerrProvider` and the settings
schema from here; nothing is copied between the two.
"""

from __future__ import annotations

from .provider import SEERR_CAPABILITIES, SeerrProvider, distribution_version, plugin
from .settings import SETTINGS_SCHEMA

__version__ = distribution_version("aperture-overseerr")

__all__ = [
    "SEERR_CAPABILITIES",
    "SETTINGS_SCHEMA",
    "SeerrProvider",
    "__version__",
    "distribution_version",
    "plugin",
]
