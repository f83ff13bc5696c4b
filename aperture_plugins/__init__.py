"""aperture_plugins: the request-provider host of Aperture.

Aperture core uses :class:`PluginHost`; admins use the ``aperture-plugins`` command
(:mod:`aperture_plugins.cli`). Plugin authors need only :mod:`aperture_hookspecs`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .dispatch import Timeouts
from .host import MemorySettings, PluginHost, ProviderStatus, UnknownPluginError
from .status import PollResult

try:
    __version__ = version("aperture-plugins")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0.0.0"

__all__ = [
    "MemorySettings",
    "PluginHost",
    "PollResult",
    "ProviderStatus",
    "Timeouts",
    "UnknownPluginError",
    "__version__",
]
