"""The admin flow: Test Connection, Save, and what a settings page or diagnostics may show.

* :func:`configure` validates what the admin entered with the provider's own schema, runs the
  connection test on it, and saves only when the test passes (unless told to save untested).
  It changes only what was entered: every other stored setting (the user map, default 4K,
  the timeout, TLS verification, the API key when none is given) is kept, and the outcome
  says which were. A failure at any step leaves the stored settings as they were.
* :func:`map_user` / :func:`unmap_user` edit the provider's manual user map, checking a new
  entry on the server before it is saved.
* :func:`masked_settings` is what a UI gets back: secrets masked ("••••3f2a"), never in clear.
* :func:`rotate_master_key` re-encrypts every secret under a new master key with no moment in
  which a secret is unreadable (see :mod:`.secrets`).
* :func:`diagnostics` gathers versions, providers, settings and last errors for a bug report,
  with every secret redacted, in the spirit of Home Assistant's diagnostics.

**Edits from several processes at once** (Aperture's settings page, two admins' commands)
never lose one another: each edit reads the stored settings with their revision, applies its
change to them, checks it (on the server if needed), and saves only if the row is still that
revision (:meth:`~aperture_plugins.host.PluginHost.replace_settings`, one transaction). If
another process saved first, the edit is redone on the new settings; the server check is
repeated only if what it depended on changed (not for another user's map entry).
"""

from __future__ import annotations

import asyncio
import functools
import platform
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import voluptuous as vol

from aperture_hookspecs import (
    AccountMapping,
    ApertureError,
    ApertureUser,
    ConnectionReport,
    InvalidSettingsError,
    NotConfiguredError,
    ProviderContext,
    UserNotMappedError,
    secret_fields,
    validate_settings,
)

from .host import PluginHost, run_callbacks
from .push_store import PushStore
from .secrets import SECRET_KEY_ENV, SecretUnreadableError, mask
from .store import SettingsStore, StoredSettings

REDACTED = "**REDACTED**"
DISTRIBUTIONS = ("aperture-plugins", "aperture-hookspecs", "aperture-overseerr", "aperture-jellyseerr")
EDIT_ATTEMPTS = 25
"""How often an edit is redone when other processes keep saving first (then it gives up)."""


class EditConflictError(ApertureError):
    """Other processes kept changing a provider's settings while this edit was being made."""

    code = "edit_conflict"
    default_message = "The settings kept changing while this change was being saved"
    default_hints = ("Try again; nothing of this change was saved",)


@dataclass(frozen=True)
class ConfigureOutcome:
    """What ``configure`` did: the connection report, and whether the settings were saved."""

    provider: str
    report: ConnectionReport | None
    saved: bool
    tested: bool
    settings: Mapping[str, Any]
    kept: tuple[str, ...] = ()
    """Stored settings that were not entered and were kept, e.g. ``"user_map (3 entries)"``
    (values equal to the schema's defaults are left out: keeping them changes nothing)."""

    @property
    def saved_untested(self) -> bool:
        """Saved although the connection test failed (``save_untested``)."""
        return self.saved and self.report is not None and not self.report.ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "saved": self.saved,
            "tested": self.tested,
            "saved_untested": self.saved_untested,
            "report": self.report.to_dict() if self.report else None,
            "settings": dict(self.settings),
            "kept": list(self.kept),
        }


async def configure(
    host: PluginHost, name: str, entered: Mapping[str, Any], *, save_untested: bool = False, test: bool = True
) -> ConfigureOutcome:
    """Validate, test and (if the test passes, or ``save_untested``) save a provider's settings.

    ``entered`` holds what the admin gave; ``None`` (and a blank secret) means "not given":
    the stored value is kept. The change is applied to the settings as stored when it is
    saved (see the module docstring), so an edit another process made meanwhile survives.
    """
    schema = host.settings_schema(name)
    secrets = secret_fields(schema)
    given = {key: value for key, value in entered.items() if value is not None}
    for field in secrets:
        if field in given and not str(given[field]).strip():
            del given[field]
    tested: tuple[dict[str, Any], ConnectionReport | None] | None = None
    for attempt in range(EDIT_ATTEMPTS):
        stored = host.read_settings(name)
        if isinstance(stored.problem, SecretUnreadableError) and secrets - given.keys():
            raise stored.problem  # cannot keep a stored key that cannot be read: say so
        values = validate_settings(schema, {**(stored.values or {}), **given}, provider=name)
        basis = _without_user_map(values)  # what a connection test depends on
        if tested is None or tested[0] != basis:
            tested = (basis, await host.test_settings(name, values) if test else None)
        report = tested[1]
        shown = {key: (mask(str(value)) if key in secrets else value) for key, value in values.items()}
        kept = _kept(schema, stored.values or {}, given, secrets)
        if not (report is None or report.ok or save_untested):
            return ConfigureOutcome(name, report, False, report is not None, shown, kept)
        if host.replace_settings(name, values, stored.revision) is not None:
            return ConfigureOutcome(name, report, True, report is not None, shown, kept)
        await _back_off(attempt)
    raise _conflict(name)


async def map_user(
    host: PluginHost, user: ApertureUser, target: str, name: str | None = None
) -> AccountMapping:
    """Map ``user`` by hand to a server account (id, username or email), checked on the server first.

    The entry goes into the provider's ``user_map`` setting only if the provider then maps
    the user *manually* to exactly one account; otherwise nothing is saved and the error
    says why. Entries other processes add meanwhile are kept (see the module docstring).
    """
    record = host._provider(name)
    schema = host.settings_schema(record.name)
    entry = int(target) if target.isascii() and target.isdigit() else target
    checked: tuple[Any, AccountMapping] | None = None
    for attempt in range(EDIT_ATTEMPTS):
        snapshot = host.read_settings(record.name)
        stored = _configured(snapshot, record.name)
        user_map = dict(stored.get("user_map") or {})
        user_map[user.name] = entry
        values = validate_settings(schema, {**stored, "user_map": user_map}, provider=record.name)
        basis = (_without_user_map(values), (values.get("user_map") or {}).get(user.name.strip()))
        if checked is None or checked[0] != basis:
            checked = (basis, await _check_mapping(host, record.name, values, user))
        mapping = checked[1]
        if mapping.method != "manual" or not mapping.mapped:
            raise UserNotMappedError(
                f"Cannot map {user.name} to {target!r}: "
                + ("; ".join(mapping.problems) or "no such account"),
                hints=("Give the account's id, username or email exactly as the server shows it",),
                provider=record.name,
            )
        if host.replace_settings(record.name, values, snapshot.revision) is not None:
            return mapping
        await _back_off(attempt)
    raise _conflict(record.name)


def unmap_user(host: PluginHost, user_name: str, name: str | None = None) -> bool:
    """Remove a manual mapping; returns whether there was one (other entries are kept)."""
    record = host._provider(name)
    for attempt in range(EDIT_ATTEMPTS):
        snapshot = host.read_settings(record.name)
        if snapshot.problem is not None:
            raise snapshot.problem
        stored = dict(snapshot.values or {})
        user_map = dict(stored.get("user_map") or {})
        if user_name not in user_map:
            return False
        del user_map[user_name]
        values = {**stored, "user_map": user_map}
        if host.replace_settings(record.name, values, snapshot.revision) is not None:
            return True
        _sleep_before_retry(attempt)
    raise _conflict(record.name)


def _configured(snapshot: StoredSettings, provider: str) -> dict[str, Any]:
    """The stored settings an edit starts from; unreadable or absent ones are an error."""
    if snapshot.problem is not None:
        raise snapshot.problem
    if not snapshot.values:
        raise NotConfiguredError(
            f"Configure {provider} before mapping users",
            hints=(f"aperture-plugins configure {provider} --url URL --api-key-stdin",),
        )
    return dict(snapshot.values)


async def _check_mapping(
    host: PluginHost, provider: str, values: Mapping[str, Any], user: ApertureUser
) -> AccountMapping:
    """How the provider maps ``user`` with settings that are not saved yet."""
    record = host._provider(provider)
    context = ProviderContext(record.name, dict(values), host.data_dir / "providers" / record.name)
    try:
        [mapping] = await host.map_users_with(record, context, [user])
    finally:
        await run_callbacks(context.close_callbacks())
    return mapping


def _without_user_map(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if key != "user_map"}


def _defaults(schema: vol.Schema) -> dict[str, Any]:
    """The schema's default value of each optional field that has one."""
    found = {}
    if isinstance(schema.schema, Mapping):
        for marker in schema.schema:
            default = getattr(marker, "default", vol.UNDEFINED)
            if isinstance(marker, vol.Optional) and default is not vol.UNDEFINED and callable(default):
                found[str(marker.schema)] = default()
    return found


def _kept(
    schema: vol.Schema, stored: Mapping[str, Any], given: Mapping[str, Any], secrets: frozenset[str]
) -> tuple[str, ...]:
    """The stored settings a configure kept because they were not entered (see ConfigureOutcome)."""
    defaults = _defaults(schema)
    kept = []
    for key, value in sorted(stored.items()):
        default = defaults.get(key, vol.UNDEFINED) if key not in secrets else vol.UNDEFINED
        if key in given or value is None or value == default:
            continue
        if isinstance(value, Mapping):
            kept.append(f"{key} ({len(value)} {'entry' if len(value) == 1 else 'entries'})")
        else:
            kept.append(f"{key} (the stored one)" if key in secrets else key)
    return tuple(kept)


async def _back_off(attempt: int) -> None:
    await asyncio.sleep(_retry_delay(attempt))


def _sleep_before_retry(attempt: int) -> None:
    time.sleep(_retry_delay(attempt))


def _retry_delay(attempt: int) -> float:
    """Jittered and growing, so processes that collided do not collide again in step."""
    return random.uniform(0.005, 0.02) * min(attempt + 1, 8)


def _conflict(provider: str) -> EditConflictError:
    return EditConflictError(
        f"The settings of {provider} kept changing in other processes while this change was being saved",
        hints=("Try again; nothing of this change was saved",),
        provider=provider,
    )


def masked_settings(host: PluginHost, name: str) -> dict[str, Any] | None:
    """A provider's saved settings for display: every secret masked, never in clear text."""
    record = host._provider(name)
    if isinstance(host.settings, SettingsStore):
        return host.settings.masked(record.name, secret_fields(host.settings_schema(record.name)))
    stored = host.settings.get(record.name)
    if stored is None:
        return None
    secrets = secret_fields(host.settings_schema(record.name))
    return {key: (mask(str(value)) if key in secrets else value) for key, value in stored.items()}


def rotate_master_key(host: PluginHost) -> int:
    """Re-encrypt every stored secret under a new master key; returns how many were rotated."""
    store = host.settings
    if not isinstance(store, SettingsStore):
        raise InvalidSettingsError("This host keeps its settings in memory; there is nothing to rotate")
    # Three durable steps (SettingsStore.rotate_master_key): a crash or a power loss anywhere
    # leaves every secret readable, and running it again finishes the job.
    return store.rotate_master_key()


def _version(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def redact(value: Any, secret_keys: frozenset[str], secret_values: frozenset[str] = frozenset()) -> Any:
    """Replace the values of secret keys anywhere in nested data with :data:`REDACTED`.

    Any string containing one of ``secret_values`` (say, an error message in which a plugin
    echoed its API key) has that value replaced too.
    """
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if k in secret_keys else redact(v, secret_keys, secret_values))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, secret_keys, secret_values) for v in value]
    if isinstance(value, str):
        for secret in secret_values:
            value = value.replace(secret, REDACTED)
    return value


def _known_secrets(host: PluginHost, store: SettingsStore | None) -> frozenset[str]:
    """The stored secret values that can be read (to scrub them from free text)."""
    if store is not None:
        found = set(store.readable_secrets())
    else:
        found = set()
        for status in host.providers():
            try:
                schema = host.settings_schema(status.record.name)
                stored = host.settings.get(status.record.name) or {}
            except Exception:  # diagnostics must not fail because one provider does
                continue
            found.update(str(stored[k]) for k in secret_fields(schema) if stored.get(k))
    return frozenset(value for value in found if len(value) >= 4)


def _push_state(store: SettingsStore, provider: str) -> dict[str, Any]:
    """What the store knows of a provider's push: where ``webhook install`` pointed the server,
    the last pushes received, and transitions polling found that no push announced."""
    push_store = PushStore(store)
    unpushed, last_unpushed = push_store.unpushed_transitions(provider)
    public_url = push_store.public_url(provider)
    return {
        "public_url": public_url,
        "receipts": {kind: receipt.to_dict() for kind, receipt in push_store.receipts(provider).items()},
        "pushes_missing": bool(public_url and unpushed),
        "unpushed_transitions": unpushed,
        "last_unpushed_at": last_unpushed.isoformat() if last_unpushed else None,
    }


def diagnostics(host: PluginHost) -> dict[str, Any]:
    """Everything useful for a bug report, with secrets redacted.

    A damaged file of the data directory does not stop it: what could not be read is left
    out, and ``problems`` says what and why (the same errors the other commands raise).
    """
    host.load()
    store = host.settings if isinstance(host.settings, SettingsStore) else None
    problems: list[dict[str, Any]] = []

    def attempt(what: str, default: Any, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except ApertureError as error:
            problems.append({"while": what, **error.to_dict()})
            return default

    providers = []
    for status in attempt("reading config.toml", [], host.providers):
        name = status.record.name
        entry = status.to_dict()
        try:
            secrets = secret_fields(host.settings_schema(name))
            stored = store.masked(name, secrets) if store else host.settings.get(name)
            entry["settings"] = redact(stored, secrets) if stored is not None else None
        except Exception as error:  # diagnostics must not fail because one provider does
            entry["settings_error"] = f"{type(error).__name__}: {error}"
        if store is not None and "push" in entry["capabilities"]:
            read_push = functools.partial(_push_state, store, name)
            entry["push"] = attempt(f"reading the push state of {name}", None, read_push)
        providers.append(entry)
    document = {
        "versions": {
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            **{name: _version(name) for name in DISTRIBUTIONS},
        },
        "data_dir": str(host.data_dir),
        "master_key_source": SECRET_KEY_ENV if store and store.secrets.from_environment else "key file",
        "active": attempt("choosing the active provider", None, lambda: host.active_provider().name),
        "active_problem": attempt("choosing the active provider", None, host.active_problem),
        "providers": providers,
        "plugins": [
            {"name": r.name, "origin": r.origin, "version": r.version, "hooks": list(r.hooks)}
            for r in host.observers()
        ],
        "broken": [b.to_dict() for b in host.broken],
        "last_errors": attempt("reading the last errors", [], store.last_errors) if store else [],
        "schema_version": attempt("reading the schema version", None, lambda: store.schema_version)
        if store
        else None,
        "problems": problems,
    }
    known = attempt("reading the stored secrets", frozenset(), lambda: _known_secrets(host, store))
    return redact(document, frozenset(), known)
