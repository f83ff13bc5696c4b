"""The pluggy markers of the Aperture plugin system.

``PROJECT_NAME`` is the pluggy project name; ``ENTRY_POINT_GROUP`` is the entry-point group a
distribution registers its plugin module (or plugin object) under::

    [project.entry-points.aperture_plugins]
    myprovider = "my_package.provider"

Plugin authors import :data:`hookimpl` from :mod:`aperture_hookspecs` and never import pluggy.
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "aperture"
"""The pluggy project name: every hook specification and implementation carries it."""

ENTRY_POINT_GROUP = "aperture_plugins"
"""The entry-point group the host loads plugins from."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marks a hook specification (used by :mod:`aperture_hookspecs.specs` only)."""

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a hook implementation in a plugin: ``@hookimpl`` or ``@hookimpl(wrapper=True)``."""
