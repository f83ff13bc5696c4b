"""aperture_jellyseerr: the Jellyseerr (and Seerr 3.x) request provider for Aperture."""

from __future__ import annotations

from aperture_overseerr import distribution_version

from .provider import plugin

__version__ = distribution_version("aperture-jellyseerr")

__all__ = ["__version__", "plugin"]
