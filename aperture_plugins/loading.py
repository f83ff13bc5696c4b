"""Finding, importing and admitting plugins, without letting a broken one take the host down.

Plugins come from two places: the host's own default plugins (the null provider) and every
entry point of the group ``aperture_plugins``. Each is admitted through the same checks:

1. it imports (an exception at import time is reported, the plugin skipped);
2. pluggy accepts its hook implementations (a wrong argument name is reported, skipped);
   pluggy also refuses a wrapper that is not a generator (an ``async def`` wrapper);
3. every hook it implements exists (a misspelled hook is reported, skipped);
4. if it declares :func:`aperture_provider_info`, the answer is a valid ``ProviderInfo`` whose
   name equals the entry-point name and is not taken;
5. if it implements an operation hook plainly, it must be a provider.

``APERTURE_LOAD_PLUGINS`` restricts which entry points load at all, for debugging: unset means
all installed plugins, an empty value means none, a comma-separated list means only those
names. Default plugins always load.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import pluggy

from aperture_hookspecs import ENTRY_POINT_GROUP, PROJECT_NAME, ProviderInfo, specs

log = logging.getLogger(__name__)

LOAD_PLUGINS_ENV = "APERTURE_LOAD_PLUGINS"
BUILT_IN = "built-in"

DEFAULT_PLUGINS: tuple[tuple[str, str], ...] = (("null", "aperture_plugins.null_provider"),)
"""The host's own plugins, registered like any other; none of them is named in the host's logic."""


@dataclass(frozen=True)
class PluginRecord:
    """An admitted plugin: its name, where it came from, and what it declared."""

    name: str
    plugin: Any
    origin: str
    origin_version: str | None
    info: ProviderInfo | None
    hooks: tuple[str, ...]

    @property
    def is_provider(self) -> bool:
        return self.info is not None

    @property
    def version(self) -> str | None:
        return self.info.version if self.info else self.origin_version


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that was found but not admitted, and why (shown by ``providers``)."""

    name: str
    origin: str
    stage: str
    error: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "origin": self.origin, "stage": self.stage, "error": self.error}


def load_filter_from_env(environ: dict[str, str] | os._Environ[str] | None = None) -> frozenset[str] | None:
    """The entry-point names ``APERTURE_LOAD_PLUGINS`` allows; ``None`` means all."""
    environ = os.environ if environ is None else environ
    if LOAD_PLUGINS_ENV not in environ:
        return None
    return frozenset(part.strip() for part in environ[LOAD_PLUGINS_ENV].split(",") if part.strip())


def new_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager that knows the Aperture hook specifications."""
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(specs)
    return manager


@dataclass
class PluginRegistry:
    """The plugin manager plus what the host knows about each plugin it admitted or refused."""

    manager: pluggy.PluginManager = field(default_factory=new_plugin_manager)
    records: dict[str, PluginRecord] = field(default_factory=dict)
    broken: list[BrokenPlugin] = field(default_factory=list)

    # -- loading --------------------------------------------------------------------------

    def load_defaults(self, modules: Iterable[tuple[str, str]] = DEFAULT_PLUGINS) -> None:
        """Import and admit the host's default plugins, given as ``(name, module)`` pairs."""
        for name, module_name in modules:
            plugin = self._import(name, BUILT_IN, lambda m=module_name: importlib.import_module(m))
            if plugin is not None:
                self.admit(plugin, name=name, origin=BUILT_IN)

    def load_entry_points(self, only: frozenset[str] | None = None, group: str = ENTRY_POINT_GROUP) -> None:
        """Import and admit every entry point of ``group`` (those in ``only``, if given)."""
        for entry_point in _unique_entry_points(group):
            if only is not None and entry_point.name not in only:
                continue
            origin, origin_version = _origin_of(entry_point)
            plugin = self._import(entry_point.name, origin, entry_point.load)
            if plugin is not None:
                self.admit(plugin, name=entry_point.name, origin=origin, origin_version=origin_version)

    def _import(self, name: str, origin: str, load: Any) -> Any:
        try:
            return load()
        except Exception as error:
            self._refuse(name, origin, "import", f"{type(error).__name__}: {error}")
            return None

    # -- admission ------------------------------------------------------------------------

    def admit(
        self, plugin: Any, *, name: str, origin: str, origin_version: str | None = None
    ) -> PluginRecord | None:
        """Register ``plugin`` under ``name`` if it passes every check; report it otherwise."""
        if name in self.records or self.manager.has_plugin(name):
            self._refuse(name, origin, "register", f"a plugin named {name!r} is already loaded")
            return None
        try:
            self.manager.register(plugin, name=name)
        except pluggy.PluginValidationError as error:
            self._refuse(name, origin, "register", _explain_validation_error(error))
            return None
        except ValueError as error:
            self._refuse(name, origin, "register", str(error))
            return None
        problem, info = self._check(plugin, name)
        if problem:
            self.manager.unregister(plugin)
            self._refuse(name, origin, "validate", problem)
            return None
        hooks = tuple(sorted(caller.name for caller in self.manager.get_hookcallers(plugin) or ()))
        record = PluginRecord(name, plugin, origin, origin_version or _module_version(plugin), info, hooks)
        self.records[name] = record
        return record

    def _check(self, plugin: Any, name: str) -> tuple[str | None, ProviderInfo | None]:
        callers = self.manager.get_hookcallers(plugin) or []
        for caller in callers:
            if not caller.has_spec():
                return f"implements {caller.name!r}, which is not an Aperture hook (misspelled?)", None
        info_problem, info = self._provider_info(plugin, name, callers)
        if info_problem:
            return info_problem, None
        if info is None:
            plain = [
                caller.name
                for caller in callers
                if caller.name in specs.PROVIDER_OPERATION_HOOKS
                and any(
                    i.plugin is plugin and not (i.wrapper or i.hookwrapper) for i in caller.get_hookimpls()
                )
            ]
            if plain:
                return (
                    f"implements {', '.join(plain)} without aperture_provider_info: only providers answer "
                    "operation hooks (declare provider info, or make it a wrapper)"
                ), None
        return None, info

    def _provider_info(
        self, plugin: Any, name: str, callers: list[Any]
    ) -> tuple[str | None, ProviderInfo | None]:
        implementation = next(
            (
                i
                for caller in callers
                if caller.name == "aperture_provider_info"
                for i in caller.get_hookimpls()
                if i.plugin is plugin
            ),
            None,
        )
        if implementation is None:
            return None, None
        try:
            info = implementation.function()
        except Exception as error:
            return f"aperture_provider_info raised {type(error).__name__}: {error}", None
        if not isinstance(info, ProviderInfo):
            return f"aperture_provider_info returned {type(info).__name__}, not a ProviderInfo", None
        if info.name != name:
            return (
                f"declares the provider name {info.name!r} but is registered as {name!r}; make them equal",
                None,
            )
        return None, info

    def _refuse(self, name: str, origin: str, stage: str, error: str) -> None:
        log.warning("Skipped plugin %r (from %s) at %s: %s", name, origin, stage, error)
        self.broken.append(BrokenPlugin(name, origin, stage, error))

    def unregister(self, name: str) -> None:
        """Remove an admitted plugin (tests use it to clean up)."""
        record = self.records.pop(name)
        self.manager.unregister(record.plugin)

    # -- queries --------------------------------------------------------------------------

    def providers(self) -> list[PluginRecord]:
        """Admitted providers, built-ins first, then by name."""
        return sorted(
            (record for record in self.records.values() if record.is_provider),
            key=lambda record: (record.origin != BUILT_IN, record.name),
        )

    def observers(self) -> list[PluginRecord]:
        """Admitted plugins that are not providers."""
        return sorted((r for r in self.records.values() if not r.is_provider), key=lambda r: r.name)


def _unique_entry_points(group: str) -> Iterator[EntryPoint]:
    seen: set[str] = set()
    for entry_point in entry_points(group=group):
        if entry_point.name in seen:  # the same distribution seen twice on sys.path
            continue
        seen.add(entry_point.name)
        yield entry_point


def _origin_of(entry_point: EntryPoint) -> tuple[str, str | None]:
    dist = entry_point.dist
    if dist is None:
        return "unknown distribution", None
    return dist.metadata["Name"] or dist.name, dist.version


def _module_version(plugin: Any) -> str | None:
    module = plugin if isinstance(plugin, ModuleType) else inspect.getmodule(type(plugin))
    return getattr(module, "__version__", None)


def _explain_validation_error(error: pluggy.PluginValidationError) -> str:
    text = "; ".join(line.strip() for line in str(error).splitlines() if line.strip())
    if "can not be found in the hookspec" in text:
        return f"wrong hook signature: {text} (the arguments are documented in aperture_hookspecs.specs)"
    if "not a generator function" in text:
        return f"{text} (a wrapper is a plain generator with one 'yield', not async def)"
    return text
