"""The plugin host: what Aperture core talks to.

:class:`PluginHost` loads the plugins (:mod:`.loading`), reads the admin's switches
(:mod:`.config`), picks the provider that answers, hands it a
:class:`~aperture_hookspecs.types.ProviderContext` with its validated settings, and calls it
through the one dispatch module (:mod:`.dispatch`). Its async API is what the Discovery page,
the request button and the poller use::

    async with PluginHost().load() as host:
        badges = await host.lookup([MediaRef.parse("movie:603")], user=ApertureUser("alice"))

Promises to the caller:

* ``lookup`` never raises for a provider failure: every card degrades to "Not Available" with
  a reason for the user and one for the admin.
* ``test_connection`` always returns a report; failures are in its ``problems``.
* ``submit_request`` and ``poll`` raise :class:`~aperture_hookspecs.errors.ApertureError`
  subclasses with messages a person can act on.
* Answers are checked against the contract; a plugin that breaks it is reported as the bug.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any, Protocol

import voluptuous as vol

from aperture_hookspecs import (
    AccountMapping,
    ApertureError,
    ApertureUser,
    Availability,
    CannotConnectError,
    Capability,
    ConnectionProblem,
    ConnectionReport,
    InvalidSettingsError,
    MediaRef,
    NotConfiguredError,
    ProviderContext,
    ProviderContractError,
    PushAction,
    PushDelivery,
    PushKind,
    PushNotice,
    PushOutcome,
    PushSetup,
    PushTarget,
    RequestOptions,
    RequestResult,
    Severity,
    StatusChange,
    StatusUpdate,
    TrackedRequest,
    UnauthorizedError,
    UnsupportedOperationError,
    secret_fields,
    validate_settings,
)

from .breaker import ProviderDownError
from .config import CONFIG_FILE_NAME, ConfigFileError, FileStamp, ProviderConfig, file_stamp
from .dispatch import Dispatcher, Timeouts
from .event_log import POLL_LEASE_SECONDS, LoggedChange, poll_lease_name, process_holder
from .event_signal import EventSignal
from .file_errors import USER_REASON, DataFileError
from .loading import DEFAULT_PLUGINS, BrokenPlugin, PluginRecord, PluginRegistry, load_filter_from_env
from .paths import resolve_data_dir
from .push_store import PushStore, StreamEvent
from .secrets import MasterKeyError, SecretUnreadableError
from .status import PollResult, apply_push_updates, apply_updates
from .store import Revision, SettingsStore, StoredSettings

log = logging.getLogger(__name__)

TRACE_PLUGINS_ENV = "APERTURE_TRACE_PLUGINS"
NULL_PROVIDER = "null"
FOLLOW_INTERVAL = 1.0
"""Seconds between two looks at whether another process changed the settings or config.toml."""
_FROM_ENV: Any = object()


class UnknownPluginError(ApertureError):
    """A command named a plugin or provider that is not loaded."""

    code = "unknown_plugin"
    default_message = "No such plugin"
    default_hints = ("List the installed providers with: aperture-plugins providers",)


class SettingsSource(Protocol):
    """Where the host reads each provider's raw settings from (the settings store)."""

    def get(self, provider: str) -> Mapping[str, Any] | None: ...

    def set(
        self, provider: str, settings: Mapping[str, Any], secret_fields: frozenset[str] = ...
    ) -> None: ...


class MemorySettings:
    """Settings kept in memory only (for embedding and tests)."""

    def __init__(self, initial: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._values = {name: dict(value) for name, value in (initial or {}).items()}

    def get(self, provider: str) -> Mapping[str, Any] | None:
        return self._values.get(provider)

    def set(
        self, provider: str, settings: Mapping[str, Any], secret_fields: frozenset[str] = frozenset()
    ) -> None:
        self._values[provider] = dict(settings)


@dataclass(frozen=True)
class ProviderStatus:
    """A provider as the admin sees it in ``aperture-plugins providers``."""

    record: PluginRecord
    enabled: bool
    active: bool

    def to_dict(self) -> dict[str, Any]:
        info = self.record.info
        assert info is not None
        return {
            "name": self.record.name,
            "title": info.title,
            "version": info.version,
            "origin": self.record.origin,
            "enabled": self.enabled,
            "active": self.active,
            "description": info.description,
            "documentation": info.documentation,
            "capabilities": sorted(c.value for c in info.capabilities),
        }


class PluginHost:
    """Loads request providers and routes Aperture's calls to the active one."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        load_entry_points: bool = True,
        only: frozenset[str] | None = _FROM_ENV,
        settings: SettingsSource | None = None,
        timeouts: Timeouts | None = None,
        default_plugins: Sequence[tuple[str, str]] = DEFAULT_PLUGINS,
        follow_interval: float = FOLLOW_INTERVAL,
    ) -> None:
        self.data_dir = resolve_data_dir(data_dir)
        self.registry = PluginRegistry()
        self.dispatcher = Dispatcher(self.registry.manager, timeouts)
        self.settings: SettingsSource = settings if settings is not None else SettingsStore(self.data_dir)
        self._load_entry_points = load_entry_points
        self._only = load_filter_from_env() if only is _FROM_ENV else only
        self._default_plugins = tuple(default_plugins)
        self._loaded = False
        self._config: ProviderConfig | None = None
        self._config_failure: ConfigFileError | None = None
        self._failed_stamp: FileStamp = None
        self._contexts: dict[str, ProviderContext] = {}
        self._built_from: dict[str, Mapping[str, Any] | None] = {}  # the raw settings of each context
        self._in_use: dict[int, int] = {}  # id(context) -> calls in flight
        self._retired: list[ProviderContext] = []  # replaced, closed once no call uses them
        self._contexts_under_test: list[ProviderContext] = []
        self.follow_interval = follow_interval
        self._next_follow = 0.0
        self._change_token: object = None
        self._holder = process_holder()  # this process, as the holder of poll leases
        self._leases: set[str] = set()
        self.events_logged = EventSignal()
        """Notified whenever this host logs events (the SSE streams wait on it)."""
        self.call_observer: Callable[[str, str, str, float], None] | None = None
        """Set by the HTTP surface's metrics: called with (provider, endpoint, outcome, seconds)
        for every server call a provider reports (:meth:`ProviderContext.report_call`)."""

    # -- loading --------------------------------------------------------------------------

    def load(self) -> PluginHost:
        """Load the default plugins and the installed entry points (once; later calls do nothing)."""
        if self._loaded:
            return self
        self._loaded = True
        self.registry.load_defaults(self._default_plugins)
        if NULL_PROVIDER not in self.registry.records:
            raise RuntimeError("the built-in null provider failed to load; see the log")
        if self._load_entry_points:
            self.registry.load_entry_points(self._only)
        if os.environ.get(TRACE_PLUGINS_ENV):
            self.registry.manager.trace.root.setwriter(sys.stderr.write)
            self.registry.manager.enable_tracing()
        return self

    def register(self, plugin: Any, name: str, origin: str = "registered in code") -> PluginRecord:
        """Admit a plugin object through the same checks as installed ones (for embedding, tests).

        Raises :class:`~aperture_hookspecs.errors.ProviderContractError` with the reason when
        the plugin is refused.
        """
        self.load()
        before = len(self.registry.broken)
        record = self.registry.admit(plugin, name=name, origin=origin)
        if record is None:
            raise ProviderContractError(f"Plugin {name!r} refused: {self.registry.broken[before].error}")
        return record

    def unregister(self, name: str) -> None:
        """Remove a plugin admitted with :meth:`register`."""
        self._contexts.pop(name, None)
        self.registry.unregister(name)

    @property
    def broken(self) -> list[BrokenPlugin]:
        """Plugins that were found but refused, with the reason."""
        self.load()
        return list(self.registry.broken)

    # -- the admin's switches -------------------------------------------------------------

    @property
    def config(self) -> ProviderConfig:
        """``config.toml`` as last read; a damaged file raises its :class:`ConfigFileError`
        (remembered until the file changes, not re-read on every use)."""
        if self._config is None:
            if self._config_failure is not None:
                raise self._config_failure.with_traceback(None)
            stamp = file_stamp(self.data_dir / CONFIG_FILE_NAME)
            try:
                self._config = ProviderConfig.load(self.data_dir)
            except ConfigFileError as error:
                self._config_failure, self._failed_stamp = error, stamp
                raise
        return self._config

    def follow_changes(self, force: bool = False) -> None:
        """Pick up what another process changed: ``config.toml``, and the stored settings.

        Cheap and throttled (at most once per ``follow_interval`` seconds unless ``force``):
        a stat of ``config.toml`` and the store's change counter (``PRAGMA data_version``);
        only when that moved are the settings of the live provider contexts read again. A
        context whose settings changed is retired: calls in flight finish on it, it is closed
        after the last one, and the next call gets a fresh one. Never raises: a damaged file
        is reported by the operation that needs it.
        """
        now = time.monotonic()
        if not force and now < self._next_follow:
            return
        self._next_follow = now + self.follow_interval
        self._follow_config()
        self._follow_settings()

    def _settings_change_token(self) -> object:
        """The store's change counter (``None`` if the source has none or cannot be read)."""
        change_token = getattr(self.settings, "change_token", None)
        if change_token is None:
            return None  # settings kept in this process only: set_settings retires what it changes
        try:
            return change_token()
        except Exception as failure:  # a damaged store: compare again, the operation will say why
            log.debug("Cannot read the store's change counter: %s", failure)
            return None

    def _follow_config(self) -> None:
        if self._config is not None:
            known = self._config.stamp
        elif self._config_failure is not None:
            known = self._failed_stamp
        else:
            return  # not read yet: it will be read fresh when needed
        if file_stamp(self.data_dir / CONFIG_FILE_NAME) == known:
            return
        before = self._config.active if self._config is not None else None
        self._config, self._config_failure = None, None
        try:
            after = self.config.active
        except ConfigFileError:
            after = None
        if after != before:
            log.info("config.toml changed: the active provider is now %s", after or NULL_PROVIDER)
        for name in list(self._contexts):
            if name != after:
                self._retire(name)

    def _follow_settings(self) -> None:
        if not self._contexts:
            return  # nothing built from the settings yet (the store is not even opened)
        token = self._settings_change_token()
        if token is not None and token == self._change_token:
            return
        self._change_token = token
        for name in list(self._contexts):
            try:
                same = self.settings.get(name) == self._built_from.get(name)
            except Exception:  # damaged or unreadable now: the next call reports it
                same = False
            if not same:
                log.info("The settings of %s changed in another process: using them", name)
                self._retire(name)

    def is_enabled(self, name: str) -> bool:
        return name == NULL_PROVIDER or self.config.is_enabled(name)

    def providers(self) -> list[ProviderStatus]:
        """Every loaded provider with its enabled/active flags (built-ins first)."""
        self.load()
        active = self.active_provider().name
        return [
            ProviderStatus(record, self.is_enabled(record.name), record.name == active)
            for record in self.registry.providers()
        ]

    def observers(self) -> list[PluginRecord]:
        """Loaded plugins that are not providers (observers, wrappers)."""
        self.load()
        return self.registry.observers()

    def active_provider(self) -> PluginRecord:
        """The provider that answers: the configured one if loaded and enabled, else the null one."""
        self.load()
        self.follow_changes()
        name = self.config.active
        record = self.registry.records.get(name) if name else None
        if record is not None and record.is_provider and self.is_enabled(record.name):
            return record
        return self.registry.records[NULL_PROVIDER]

    def active_problem(self) -> str | None:
        """Why the configured active provider is not answering, if it is not."""
        name = self.config.active
        if not name or name == self.active_provider().name:
            return None
        if name not in self.registry.records:
            return (
                f"the configured provider {name!r} is not installed (or failed to load); "
                "the null provider answers"
            )
        if not self.registry.records[name].is_provider:
            return f"{name!r} is not a provider; the null provider answers"
        return f"the configured provider {name!r} is disabled; the null provider answers"

    def enable(self, name: str) -> None:
        """Enable a plugin (persisted in config.toml, changing nothing else in it)."""
        self._known(name)
        self._update_config(lambda config: config.disabled.discard(name))

    def _update_config(self, change: Any) -> ProviderConfig:
        """Apply ``change`` to config.toml as it is on disk now (see :meth:`ProviderConfig.update`)."""
        self._config = ProviderConfig.update(self.data_dir, change)
        self._config_failure = None
        return self._config

    def disable(self, name: str) -> bool:
        """Disable a plugin; returns whether it was the active provider (the null one answers now)."""
        record = self._known(name)
        if name == NULL_PROVIDER:
            raise InvalidSettingsError(
                "The null provider is built in and cannot be disabled",
                hints=("Make another provider active instead: aperture-plugins use NAME",),
            )
        was_active = False

        def switch_off(config: ProviderConfig) -> None:
            nonlocal was_active
            was_active = config.active == name
            config.disabled.add(record.name)
            if was_active:
                config.active = None

        self._update_config(switch_off)
        self._retire(name)
        return was_active

    def use(self, name: str) -> PluginRecord:
        """Make ``name`` the active provider, enabling it if needed (``null`` = none)."""
        record = self._known(name)
        if not record.is_provider:
            raise UnknownPluginError(
                f"{name!r} is a plugin but not a request provider",
                hints=("Choose one of the providers listed by: aperture-plugins providers",),
            )

        def make_active(config: ProviderConfig) -> None:
            config.disabled.discard(name)
            config.active = None if name == NULL_PROVIDER else name

        self._update_config(make_active)
        for other in list(self._contexts):
            if other != name:
                self._retire(other)
        return record

    def _known(self, name: str) -> PluginRecord:
        self.load()
        record = self.registry.records.get(name)
        if record is None:
            installed = ", ".join(sorted(self.registry.records)) or "none"
            broken = next((b for b in self.registry.broken if b.name == name), None)
            if broken is not None:
                raise UnknownPluginError(f"Plugin {name!r} is installed but failed to load: {broken.error}")
            raise UnknownPluginError(f"No plugin named {name!r} (loaded: {installed})")
        return record

    def _provider(self, name: str | None) -> PluginRecord:
        if name is None:
            return self.active_provider()
        record = self._known(name)
        if not record.is_provider:
            raise UnknownPluginError(f"{name!r} is not a request provider")
        if not self.is_enabled(name):
            raise InvalidSettingsError(
                f"The {name} provider is disabled", hints=(f"Enable it: aperture-plugins enable {name}",)
            )
        return record

    def _leave_out(self, target: PluginRecord) -> list[Any]:
        return [
            record.plugin
            for record in self.registry.records.values()
            if (record.is_provider and record is not target) or not self.is_enabled(record.name)
        ]

    # -- settings and contexts -----------------------------------------------------------

    def settings_schema(self, name: str | None = None) -> vol.Schema:
        """The voluptuous schema of a provider's settings (the active one by default)."""
        record = self._provider(name)
        schema = self.dispatcher.call_sync("aperture_settings_schema", record, self._leave_out(record))
        if schema is None:
            return vol.Schema({})
        if not isinstance(schema, vol.Schema):
            raise ProviderContractError(
                f"{record.name}: aperture_settings_schema returned {type(schema).__name__}, "
                "not a voluptuous Schema",
                provider=record.name,
            )
        return schema

    def set_settings(self, name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and store a provider's settings; the next call gets a fresh context."""
        record = self._provider(name)
        schema = self.settings_schema(name)
        values = validate_settings(schema, raw, provider=record.name)
        self.settings.set(record.name, values, secret_fields(schema))
        self._retire(record.name)
        return values

    def stored_settings(self, name: str) -> Mapping[str, Any] | None:
        """The saved settings of a provider, secrets in clear text (never show them)."""
        return self.settings.get(self._provider(name).name)

    def read_settings(self, name: str) -> StoredSettings:
        """A provider's saved settings with their revision, for :meth:`replace_settings`.

        What cannot be read (damaged values, an unreadable secret) is in ``problem``
        instead of raised. A settings source without revisions gives ``revision=None``.
        """
        record = self._provider(name)
        read = getattr(self.settings, "read", None)
        if read is not None:
            stored: StoredSettings = read(record.name)
            return stored
        values = self.settings.get(record.name)
        return StoredSettings(dict(values) if values is not None else None, None)

    def replace_settings(
        self, name: str, raw: Mapping[str, Any], revision: Revision
    ) -> dict[str, Any] | None:
        """Validate and save settings only if the stored ones are still at ``revision``.

        Returns the values saved, or ``None`` (nothing saved) when another process changed
        the settings since :meth:`read_settings`: redo the change on what is stored now.
        """
        record = self._provider(name)
        schema = self.settings_schema(name)
        values = validate_settings(schema, raw, provider=record.name)
        replace_row = getattr(self.settings, "replace", None)
        if replace_row is None:
            self.settings.set(record.name, values, secret_fields(schema))
        elif not replace_row(record.name, values, secret_fields(schema), revision):
            return None
        self._retire(record.name)
        return values

    async def test_settings(self, name: str, values: Mapping[str, Any]) -> ConnectionReport:
        """Run a provider's connection test on settings that are not saved (yet)."""
        record = self._provider(name)
        context = ProviderContext(
            name=record.name, settings=dict(values), data_dir=self.data_dir / "providers" / record.name
        )
        self._contexts_under_test.append(context)
        try:
            return await self._test(record, context)
        finally:
            self._contexts_under_test.remove(context)
            await run_callbacks(context.close_callbacks())

    def _context(self, record: PluginRecord) -> ProviderContext:
        context = self._contexts.get(record.name)
        if context is not None:
            return context
        schema = self.settings_schema(record.name)
        if self._change_token is None:  # taken before reading, so no later change goes unseen
            self._change_token = self._settings_change_token()
        raw = self.settings.get(record.name)
        title = record.info.title if record.info else record.name
        try:
            values = validate_settings(schema, raw or {}, provider=record.name)
        except InvalidSettingsError as error:
            if raw is None:
                raise NotConfiguredError(
                    f"{title} is not configured yet",
                    hints=(f"Enter its URL and API key: aperture-plugins configure {record.name}",),
                    provider=record.name,
                ) from None
            error.hints = (f"Enter the settings again: aperture-plugins configure {record.name}",)
            raise
        context = ProviderContext(
            name=record.name,
            settings=values,
            data_dir=self.data_dir / "providers" / record.name,
            call_observer=lambda endpoint, outcome, seconds: self._observe_call(
                record.name, endpoint, outcome, seconds
            ),
        )
        self._contexts[record.name] = context
        self._built_from[record.name] = raw
        return context

    @asynccontextmanager
    async def _using(self, record: PluginRecord) -> AsyncIterator[ProviderContext]:
        """The provider's live context for one call; a context retired meanwhile is closed
        when its last call is done (never under a call still using its HTTP pool)."""
        context = self._context(record)
        key = id(context)
        self._in_use[key] = self._in_use.get(key, 0) + 1
        try:
            yield context
        finally:
            self._in_use[key] -= 1
            if not self._in_use[key]:
                del self._in_use[key]
            await self._close_retired()

    def _retire(self, name: str) -> None:
        context = self._contexts.pop(name, None)
        self._built_from.pop(name, None)
        if context is not None:
            self._retired.append(context)

    async def _close_retired(self, everything: bool = False) -> None:
        """Run the close callbacks of the retired contexts no call is using (or of all)."""
        idle = [c for c in self._retired if everything or id(c) not in self._in_use]
        if not idle:
            return
        closing = {id(c) for c in idle}
        self._retired = [c for c in self._retired if id(c) not in closing]
        for context in idle:
            await run_callbacks(context.close_callbacks())

    async def aclose(self) -> None:
        """Retire every provider context (closing their HTTP clients and the like) and give up
        the poll leases this host took."""
        self._release_leases()
        for name in list(self._contexts):
            self._retire(name)
        await self._close_retired(everything=True)

    async def __aenter__(self) -> PluginHost:
        return self.load()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- operations -------------------------------------------------------------------------

    async def test_connection(self, name: str | None = None) -> ConnectionReport:
        """Test a provider's connection (the active one by default); never raises for a failure."""
        record = self._provider(name)
        try:
            self._context(record)
        except ApertureError as error:
            return ConnectionReport(
                provider=record.name,
                problems=(ConnectionProblem(error.code, error.message, error.hints),),
            )
        async with self._using(record) as context:
            return await self._test(record, context)

    async def _test(self, record: PluginRecord, context: ProviderContext) -> ConnectionReport:
        try:
            report = await self.dispatcher.call_provider(
                "aperture_test_connection", record, self._leave_out(record), context=context
            )
        except ApertureError as error:
            return ConnectionReport(
                provider=record.name,
                problems=(ConnectionProblem(error.code, error.message, error.hints),),
            )
        if report is None:
            raise UnsupportedOperationError(f"{record.name} has no connection test", provider=record.name)
        if isinstance(report, ConnectionReport) and report.ok:
            self.dispatcher.breaker.succeeded(record.name)
            report = await self._with_push_state(record, report)
        if not isinstance(report, ConnectionReport):
            raise ProviderContractError(
                f"{record.name}: aperture_test_connection returned {type(report).__name__}, "
                "not a ConnectionReport",
                provider=record.name,
            )
        return report

    async def lookup(self, items: Sequence[MediaRef], user: ApertureUser | None = None) -> list[Availability]:
        """One badge per item, in order, from the active provider; degrades instead of raising."""
        items = list(items)
        if not items:
            return []
        try:
            record = self.active_provider()
        except ApertureError as error:  # config.toml is damaged: no provider can be chosen
            log.warning("Lookup degraded to Not Available: %s", error)
            return [Availability.not_available(item, _user_reason(error), str(error)) for item in items]
        try:
            async with self._using(record) as context:
                answers = await self.dispatcher.call_provider(
                    "aperture_lookup_availability",
                    record,
                    self._leave_out(record),
                    context=context,
                    items=tuple(items),
                    user=user,
                )
            if answers is None:
                raise UnsupportedOperationError(
                    f"{record.name} cannot look up availability", provider=record.name
                )
            return _checked_availability(record.name, items, answers)
        except ApertureError as error:
            log.info("Lookup through %s degraded to Not Available: %s", record.name, error)
            self._note_error(record.name, "lookup", error)
            title = record.info.title if record.info else record.name
            reason = _user_reason(error, title)
            return [Availability.not_available(item, reason, admin_reason=str(error)) for item in items]

    async def submit_request(
        self, item: MediaRef, user: ApertureUser, options: RequestOptions | None = None
    ) -> RequestResult:
        """File a request through the active provider on behalf of ``user``."""
        record = self.active_provider()
        options = options or RequestOptions()
        try:
            async with self._using(record) as context:
                result = await self.dispatcher.call_provider(
                    "aperture_submit_request",
                    record,
                    self._leave_out(record),
                    context=context,
                    item=item,
                    user=user,
                    options=options,
                )
        except ApertureError as error:
            self._note_error(record.name, "request", error)
            raise
        if result is None:
            raise UnsupportedOperationError(f"{record.name} cannot submit requests", provider=record.name)
        if not isinstance(result, RequestResult) or result.item != item:
            raise ProviderContractError(
                f"{record.name}: aperture_submit_request must return a RequestResult for {item}",
                provider=record.name,
            )
        save_tracked = getattr(self.settings, "save_tracked", None)
        if save_tracked is not None:
            tracked = TrackedRequest(
                request_id=result.request_id,
                item=item,
                user=user,
                state=result.state,
                is_4k=result.is_4k,
                seasons=result.seasons,
            )
            try:
                save_tracked(record.name, [tracked])
            except DataFileError as error:  # the request exists: say so, not that it failed
                log.error("Request %s was filed but cannot be tracked: %s", result.request_id, error)
                self._note_error(record.name, "track", error)
                note = "it was filed, but Aperture cannot follow its status right now"
                result = replace(result, message=f"{result.message}; {note}" if result.message else note)
        return result

    async def poll(self, tracked: Sequence[TrackedRequest], name: str | None = None) -> PollResult:
        """Poll the given tracked requests, broadcast each transition, and return the new states.

        For callers that keep their own tracked requests: no lease is taken and nothing is
        saved or logged. The requests the host tracks in the store are polled by
        :meth:`poll_tracked`, which takes the poll lease and logs each transition once.
        """
        record = self._provider(name)
        result = await self._poll_once(record, list(tracked))
        for change in result.changes:
            await self.notify_status_changed(change)
        return result

    async def _poll_once(self, record: PluginRecord, tracked: list[TrackedRequest]) -> PollResult:
        """Ask the provider about ``tracked`` and work out the transitions (no broadcast)."""
        if not tracked:
            return PollResult((), ())
        async with self._using(record) as context:
            updates = await self.dispatcher.call_provider(
                "aperture_poll_status",
                record,
                self._leave_out(record),
                context=context,
                requests=tuple(tracked),
            )
        if updates is None:
            raise UnsupportedOperationError(f"{record.name} cannot poll request status", provider=record.name)
        if not all(isinstance(update, StatusUpdate) for update in updates):
            raise ProviderContractError(
                f"{record.name}: aperture_poll_status must return StatusUpdate objects", provider=record.name
            )
        return apply_updates(record.name, tracked, updates)

    async def poll_tracked(
        self, name: str | None = None, *, lease_seconds: float = POLL_LEASE_SECONDS
    ) -> PollResult:
        """One polling cycle over the requests tracked in the settings store, if this host holds the lease.

        **One poller per provider and data directory.** The cycle first takes (or renews) the
        store's poll lease of the provider (the active one by default) for ``lease_seconds``
        (call this more often than that to keep it). If another process holds it, nothing is
        polled: the answer has no changes, ``polled_by`` names the holder and ``tracked`` is
        what the holder last saved; that process's findings are in the event log
        (:meth:`events_since`). The lease is given up by :meth:`aclose`; a holder that stops
        polling loses it when it expires, one that crashed at once (on the same machine).

        **Each transition once.** The holder polls the unfinished requests, then saves their
        new states and logs each transition in one transaction, a transition only if the
        stored state is still the one it started from. Then it broadcasts what it logged to
        the ``aperture_status_changed`` observers of this host (and of no other process).
        A crash between the save and the broadcast is made good by the next holder, which
        broadcasts what was logged but not delivered before it polls. So a restart resumes
        from the saved states and reports what changed meanwhile, and two processes polling
        one store never report a transition twice nor hide one from each other's log.
        """
        record = self._provider(name)
        store = self.settings
        if not isinstance(store, SettingsStore):
            raise UnsupportedOperationError("This host has no settings store to track requests in")
        lease = store.acquire_lease(poll_lease_name(record.name), self._holder, lease_seconds)
        if not lease.held_by(self._holder):
            stored = tuple(request for _, request in store.tracked(record.name) if not request.state.is_final)
            return PollResult(stored, (), polled_by=lease.holder)
        self._leases.add(lease.name)
        if lease.taken_over:  # a previous holder may have logged changes it never broadcast
            # pushes are broadcast by the process that received them, whoever holds the lease
            undelivered = store.events_after(lease.delivered_id, record.name, polled_only=True)
            await self._deliver(store, lease.name, undelivered)
        tracked = [request for _, request in store.tracked(record.name) if not request.state.is_final]
        result = await self._poll_once(record, tracked)
        logged = store.record_cycle(record.name, result.tracked, result.changes)
        await self._deliver(store, lease.name, logged)
        return PollResult(result.tracked, tuple(entry.change for entry in logged), tuple(logged))

    async def _deliver(self, store: SettingsStore, lease_name: str, logged: Sequence[LoggedChange]) -> None:
        """Broadcast logged changes in order, moving the lease's delivery cursor past them."""
        if logged:
            self.events_logged.notify()
        delivered = 0
        try:
            for entry in logged:
                await self.notify_status_changed(entry.change)
                delivered = entry.id
        finally:
            if delivered:
                store.mark_delivered(lease_name, delivered)

    # -- push ---------------------------------------------------------------------------------

    def push_store(self) -> PushStore:
        """Push's part of the settings store (webhook secrets, API tokens, receipts, the stream)."""
        if not isinstance(self.settings, SettingsStore):
            raise UnsupportedOperationError("This host has no settings store to keep push's secrets in")
        return PushStore(self.settings)

    def push_provider(self, name: str) -> PluginRecord:
        """The enabled provider ``name`` if it declares ``Capability.PUSH`` (else an ApertureError)."""
        record = self._provider(name)
        if record.info is None or Capability.PUSH not in record.info.capabilities:
            raise UnsupportedOperationError(
                f"The {name} provider cannot receive pushes", provider=name, hints=("Rely on polling",)
            )
        return record

    def parse_push(self, name: str, delivery: PushDelivery) -> PushNotice:
        """What a delivery (already authenticated) says, from the provider's ``aperture_parse_push``.

        Synchronous and without I/O, so the caller can answer the server at once; raises
        :class:`~aperture_hookspecs.errors.InvalidPushError` for a malformed delivery.
        """
        record = self.push_provider(name)
        context = self._context(record)
        notice = self.dispatcher.call_sync(
            "aperture_parse_push", record, self._leave_out(record), context=context, delivery=delivery
        )
        if not isinstance(notice, PushNotice):
            raise ProviderContractError(
                f"{name}: aperture_parse_push must return a PushNotice, not {type(notice).__name__}",
                provider=name,
            )
        return notice

    async def apply_push(self, name: str, notice: PushNotice) -> tuple[list[LoggedChange], list[StreamEvent]]:
        """Take in a parsed push: the provider updates its data, the host logs and broadcasts.

        Tracked requests move only forwards (an older state never overwrites a newer one) and
        each transition is logged once, whether this push or a poll saw it first (the store's
        compare-and-swap). Title badges are logged when they differ from the last one logged.
        The provider is given the open tracked requests the notice can concern (``PushOutcome``):
        the one with its request id, or those of its title when it names no request. Returns the
        status changes and the badge events logged.
        """
        record = self.push_provider(name)
        store = self.settings
        if not isinstance(store, SettingsStore):
            raise UnsupportedOperationError("This host has no settings store to track requests in")
        push_store = PushStore(store)
        if notice.kind is not PushKind.STATUS:
            await asyncio.to_thread(
                push_store.record_receipt, record.name, notice.kind.value, notice.describe()
            )
            return [], []
        # only what the notice can concern (by request id, or by title when it names no request):
        # reading every tracked request for each push was the receiver's bottleneck (benchmarks)
        candidates = store.tracked_concerning(record.name, notice.request_id, notice.item)
        tracked = [request for request in candidates if not request.state.is_final]
        async with self._using(record) as context:
            outcome = await self.dispatcher.call_provider(
                "aperture_apply_push",
                record,
                self._leave_out(record),
                context=context,
                notice=notice,
                requests=tuple(tracked),
            )
        if not isinstance(outcome, PushOutcome) or not all(
            isinstance(update, StatusUpdate) for update in outcome.updates
        ):
            raise ProviderContractError(
                f"{name}: aperture_apply_push must return a PushOutcome of StatusUpdates", provider=name
            )
        result = apply_push_updates(record.name, tracked, outcome.updates)
        came_late = any(r.request_id == notice.request_id and r.state is notice.state for r in candidates)

        def write() -> tuple[list[LoggedChange], list[StreamEvent]]:
            """The writes, in a worker thread: a store another process holds locked (for up to
            its busy timeout) must not stop the event loop, which answers the server's pushes."""
            if came_late and notice.request_id is not None and notice.state is not None:
                push_store.confirm_polled(name, notice.request_id, notice.state)  # a poll saw it first
            changed = {change.request.request_id for change in result.changes}
            logged = store.record_cycle(
                name, [r for r in result.tracked if r.request_id in changed], result.changes
            )
            badges = push_store.record_badges(name, outcome.titles, "push")
            push_store.record_receipt(name, "status", notice.describe())
            return logged, badges

        logged, badges = await asyncio.to_thread(write)
        if logged or badges:
            self.events_logged.notify()
        for entry in logged:  # a poller taking the lease over never broadcasts these again
            await self.notify_status_changed(entry.change)
        return logged, badges

    def push_target(self, name: str, public_url: str) -> PushTarget:
        """Where the server should push for provider ``name``: ``<public_url>/webhooks/<name>``
        and ``Bearer <its webhook secret>`` (made on first use)."""
        secret = self.push_store().ensure_webhook_secret(name)
        return PushTarget(f"{public_url.rstrip('/')}/webhooks/{name}", f"Bearer {secret}")

    async def push_setup(
        self, name: str, action: PushAction, target: PushTarget, *, replace: bool = False
    ) -> PushSetup:
        """Read or change the server's push set-up through the provider (``webhook install`` …)."""
        record = self.push_provider(name)
        async with self._using(record) as context:
            setup = await self.dispatcher.call_provider(
                "aperture_push_setup",
                record,
                self._leave_out(record),
                context=context,
                action=PushAction(action),
                target=target,
                replace=replace,
            )
        if not isinstance(setup, PushSetup):
            raise ProviderContractError(
                f"{name}: aperture_push_setup must return a PushSetup, not {type(setup).__name__}",
                provider=name,
            )
        return setup

    async def _with_push_state(self, record: PluginRecord, report: ConnectionReport) -> ConnectionReport:
        """Add to a passed connection test whether the server pushes to Aperture (``details["push"]``),
        with a warning when Aperture's webhook is off or pushes go missing."""
        if record.info is None or Capability.PUSH not in record.info.capabilities:
            return report
        if not isinstance(self.settings, SettingsStore):
            return report
        push_store = PushStore(self.settings)
        public_url = push_store.public_url(record.name)
        install = f"aperture-plugins webhook install --provider {record.name} --public-url URL"
        if public_url is None:
            details = {
                "configured": False,
                "message": f"Push is not set up; changes come by polling ({install})",
            }
            return replace(report, details={**report.details, "push": details})
        try:
            setup = await self.push_setup(
                record.name, PushAction.INSPECT, self.push_target(record.name, public_url)
            )
        except ApertureError as error:
            problem = ConnectionProblem(
                "push_unknown",
                f"Could not read the server's webhook: {error.message}",
                error.hints,
                Severity.WARNING,
            )
            return replace(report, problems=(*report.problems, problem))
        details = {"configured": setup.ours and setup.enabled, **setup.to_dict()}
        problems = list(report.problems)
        if not (setup.ours and setup.enabled):
            where = setup.url or "nowhere"
            problems.append(
                ConnectionProblem(
                    "push_not_set_up",
                    f"The server's webhook no longer goes to Aperture (it goes to {where}, "
                    f"{'on' if setup.enabled else 'off'}); changes come by polling",
                    (f"Set it again: {install} (add --replace if another receiver should lose it)",),
                    Severity.WARNING,
                )
            )
        elif missing := max(push_store.unpushed_transitions(record.name)[0], setup.unpushed_changes):
            # the event log counts every process's polls; the provider, this process's
            problems.append(
                ConnectionProblem(
                    "pushes_missing",
                    f"Pushes are missing: polling found {missing} change(s) no push announced",
                    ("Check the server reaches Aperture: webhook install sends a test",),
                    Severity.WARNING,
                )
            )
        return replace(report, problems=tuple(problems), details={**report.details, "push": details})

    def _observe_call(self, provider: str, endpoint: str, outcome: str, seconds: float) -> None:
        if self.call_observer is not None:
            self.call_observer(provider, endpoint, outcome, seconds)

    def last_event_id(self) -> int:
        """The newest event id of the store's event log (0 if none): resume after it."""
        store = self.settings
        return store.last_event_id() if isinstance(store, SettingsStore) else 0

    def events_since(self, event_id: int, name: str | None = None, limit: int = 1000) -> list[LoggedChange]:
        """Transitions of a provider (the active one by default) logged after ``event_id``, oldest first.

        Whoever polled them (this host or the lease holder in another process), each appears
        once; read again from the last id returned to follow the log.
        """
        store = self.settings
        if not isinstance(store, SettingsStore):
            return []
        return store.events_after(event_id, self._provider(name).name, limit)

    async def map_users(self, users: Sequence[ApertureUser], name: str | None = None) -> list[AccountMapping]:
        """How each Aperture user maps to an account of the provider (the active one by default)."""
        record = self._provider(name)
        users = list(users)
        if not users:
            return []
        async with self._using(record) as context:
            return await self.map_users_with(record, context, users)

    async def map_users_with(
        self, record: PluginRecord, context: ProviderContext, users: list[ApertureUser]
    ) -> list[AccountMapping]:
        """:meth:`map_users` with a given context (e.g. settings not saved yet)."""
        answers = await self.dispatcher.call_provider(
            "aperture_map_users", record, self._leave_out(record), context=context, users=tuple(users)
        )
        if answers is None:
            raise UnsupportedOperationError(f"{record.name} does not map users", provider=record.name)
        answers = list(answers)
        if len(answers) != len(users) or any(
            not isinstance(a, AccountMapping) or a.user != u for a, u in zip(answers, users, strict=False)
        ):
            raise ProviderContractError(
                f"{record.name}: aperture_map_users must answer one AccountMapping per user, in order",
                provider=record.name,
            )
        return answers

    async def notify_status_changed(self, change: StatusChange) -> None:
        """Broadcast one transition to every enabled plugin; failures are logged, not raised."""
        self.load()
        enabled = {r.plugin for r in self.registry.records.values() if self.is_enabled(r.name)}
        await self.dispatcher.broadcast("aperture_status_changed", enabled, change=change)

    def _release_leases(self) -> None:
        leases, self._leases = self._leases, set()
        if not leases or not isinstance(self.settings, SettingsStore):
            return
        for name in leases:
            try:
                self.settings.release_lease(name, self._holder)
            except Exception as failure:  # the lease then runs out on its own
                log.warning("Could not give up the lease %s: %s", name, failure)

    def _note_error(self, provider: str, operation: str, error: ApertureError) -> None:
        """Remember the last error of each operation for ``diagnostics`` (if the store can)."""
        record_error = getattr(self.settings, "record_error", None)
        if record_error is None:
            return
        try:
            record_error(provider, operation, error.code, error.message)
        except Exception as failure:  # remembering an error must never cause one
            log.debug("Could not record the error: %s", failure)


async def run_callbacks(callbacks: Sequence[Any]) -> None:
    for callback in callbacks:
        try:
            result = callback()
            if hasattr(result, "__await__"):
                await result
        except Exception as error:
            log.warning("A provider's close callback failed: %s: %s", type(error).__name__, error)


def _checked_availability(provider: str, items: list[MediaRef], answers: Any) -> list[Availability]:
    answers = list(answers)
    if len(answers) != len(items):
        raise ProviderContractError(
            f"{provider} answered {len(answers)} availabilities for {len(items)} titles", provider=provider
        )
    for item, answer in zip(items, answers, strict=True):
        if not isinstance(answer, Availability) or answer.item != item:
            raise ProviderContractError(
                f"{provider} answered out of order or with the wrong type for {item}", provider=provider
            )
    return answers


def _user_reason(error: ApertureError, title: str | None = None) -> str:
    """What a Discovery card tells the user: short, no detail meant for the admin, never a path.

    The server is named as the provider detected it (``error.product``), else by the provider's
    title."""
    if title is not None and error.product:
        title = error.product
    if isinstance(error, DataFileError | ConfigFileError | MasterKeyError | SecretUnreadableError):
        return f"{title}: {USER_REASON}" if title else USER_REASON[0].upper() + USER_REASON[1:]
    if title is None:
        return f"Requests are unavailable right now: {error.message}"
    if isinstance(error, NotConfiguredError):
        return f"{title} is not set up yet"
    if isinstance(error, ProviderDownError):
        return error.user_reason
    if isinstance(error, CannotConnectError):
        return f"{title} is unreachable right now"
    if isinstance(error, UnauthorizedError):
        return f"{title} refused Aperture's credentials"
    if isinstance(error, ProviderContractError):
        return f"{title} gave an answer Aperture could not use"
    return f"{title} could not answer: {error.message}"
