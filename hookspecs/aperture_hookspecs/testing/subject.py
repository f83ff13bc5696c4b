"""The plugin under test: found (by entry point or given), registered with pluggy as the host
would, and asked for its manifest and settings schema.

:class:`PluginUnderTest` is what every check starts from. Admitting the plugin already checks
what pluggy and the host's loader check (every hook is an Aperture hook with the spec's argument
names, no argument has a default), so a plugin the host would refuse fails here, with the
promise it breaks.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import pluggy
import voluptuous as vol

from .. import specs
from ..markers import ENTRY_POINT_GROUP, PROJECT_NAME
from ..types import Capability, ProviderInfo
from .promises import promise

__all__ = ["CAPABILITY_HOOKS", "KitUsageError", "PluginUnderTest", "load_entry_point"]

CAPABILITY_HOOKS: Mapping[Capability, tuple[str, ...]] = {
    Capability.LOOKUP: ("aperture_lookup_availability",),
    Capability.REQUEST: ("aperture_submit_request",),
    Capability.POLL: ("aperture_poll_status",),
    Capability.TV_SEASONS: ("aperture_submit_request",),
    Capability.REQUEST_4K: ("aperture_submit_request",),
    Capability.USER_MAPPING: ("aperture_map_users",),
    Capability.PUSH: ("aperture_parse_push", "aperture_apply_push", "aperture_push_setup"),
}
"""The operation hooks each capability needs (TV seasons and 4K are options of a request)."""

CAPABILITY_OF_HOOK: Mapping[str, Capability] = {
    "aperture_lookup_availability": Capability.LOOKUP,
    "aperture_submit_request": Capability.REQUEST,
    "aperture_poll_status": Capability.POLL,
    "aperture_map_users": Capability.USER_MAPPING,
    "aperture_parse_push": Capability.PUSH,
    "aperture_apply_push": Capability.PUSH,
    "aperture_push_setup": Capability.PUSH,
}
"""The capability an operation hook does the work of (the settings schema and the connection
test belong to every provider)."""


class KitUsageError(Exception):
    """The kit was set up wrongly (no plugin to test): a problem of the test file, not the provider."""


def load_entry_point(name: str) -> Any | None:
    """The object the installed entry point ``name`` of the ``aperture_plugins`` group loads,
    or ``None`` when no such entry point is installed."""
    found = [entry for entry in entry_points(group=ENTRY_POINT_GROUP) if entry.name == name]
    return found[0].load() if found else None


@dataclass
class PluginUnderTest:
    """One provider plugin registered alone with the Aperture hook specifications."""

    plugin: Any
    entry_point: str
    manager: pluggy.PluginManager

    @classmethod
    def admit(cls, plugin: Any, entry_point: str) -> PluginUnderTest:
        """Register ``plugin`` as the host's loader would; a plugin it would refuse breaks a promise.

        ``plugin`` ``None`` means: load it from the installed entry point ``entry_point``.
        """
        if plugin is None:
            plugin = load_entry_point(entry_point)
            if plugin is None:
                raise KitUsageError(
                    f"no entry point named {entry_point!r} is installed in the {ENTRY_POINT_GROUP!r} group: "
                    "install the provider's distribution (pip install -e .) or give the plugin object"
                )
        manager = pluggy.PluginManager(PROJECT_NAME)
        manager.add_hookspecs(specs)
        try:
            manager.register(plugin, name=entry_point)
        except pluggy.PluginValidationError as error:
            text = " ".join(str(error).split())
            raise promise("hooks_known").broken(text) from None
        subject = cls(plugin, entry_point, manager)
        for caller in manager.get_hookcallers(plugin) or ():
            if not caller.has_spec():
                raise promise("hooks_known").broken(f"{caller.name} is not an Aperture hook (misspelled?)")
            for implementation in subject._own(caller):
                if implementation.kwargnames:
                    raise promise("no_defaults").broken(
                        f"{caller.name} gives {', '.join(implementation.kwargnames)} a default value; "
                        "pluggy never passes it"
                    )
        return subject

    def _own(self, caller: Any) -> list[Any]:
        return [i for i in caller.get_hookimpls() if i.plugin is self.plugin]

    def implements(self, hook_name: str) -> bool:
        """Whether the plugin implements ``hook_name`` plainly (not only as a wrapper)."""
        caller = getattr(self.manager.hook, hook_name)
        return any(not (i.wrapper or i.hookwrapper) for i in self._own(caller))

    def implemented_operations(self) -> tuple[str, ...]:
        """The routed operation hooks the plugin implements, in the specs' order."""
        return tuple(name for name in specs.PROVIDER_OPERATION_HOOKS if self.implements(name))

    def info(self) -> ProviderInfo:
        """The manifest, checked to be a ``ProviderInfo`` returned by a plain function."""
        broken = promise("info_type")
        if not self.implements("aperture_provider_info"):
            raise broken.broken("the plugin does not implement aperture_provider_info: it is not a provider")
        try:
            info = self.manager.hook.aperture_provider_info()
        except Exception as error:
            raise broken.broken(f"it raised {type(error).__name__}: {error}") from None
        if isinstance(info, list):  # not firstresult: one answer per implementation
            info = info[0] if info else None
        if inspect.isawaitable(info):
            _close(info)
            raise broken.broken("it is async; the host calls it outside any event loop")
        if not isinstance(info, ProviderInfo):
            raise broken.broken(f"it returned {type(info).__name__}")
        return info

    def schema(self) -> vol.Schema:
        """The settings schema (``vol.Schema({})`` if the hook is not implemented), checked."""
        broken = promise("schema_type")
        if not self.implements("aperture_settings_schema"):
            return vol.Schema({})
        try:
            schema = self.manager.hook.aperture_settings_schema()
        except Exception as error:
            raise broken.broken(f"it raised {type(error).__name__}: {error}") from None
        if inspect.isawaitable(schema):
            _close(schema)
            raise broken.broken("it is async; the host calls it outside any event loop")
        if not isinstance(schema, vol.Schema):
            raise broken.broken(f"it returned {type(schema).__name__}")
        return schema


def _close(awaitable: Any) -> None:
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()
