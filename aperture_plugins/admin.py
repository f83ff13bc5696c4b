"""The admin flow: Test Connection, Save, and what a settings page or diagnostics may show.

* :func:`configure` validates what the admin entered with the provider's own schema, runs the
  connection test on it, and saves only when the test passes (unless told to save untested).
  A secret field left empty keeps the stored value, so a form can be saved again without
  re-typing the API key. A failure at any step leaves the stored settings as they were.
* :func:`map_user` / :func:`unmap_user` edit the provider's manual user map, checking a new
  entry on the server before it is saved.
* :func:`masked_settings` is what a UI gets back: secrets masked ("••••3f2a"), never in clear.
* :func:`rotate_master_key` re-encrypts every secret under a new master key with no moment in
  which a secret is unreadable (see :mod:`.secrets`).
* :func:`diagnostics` gathers versions, providers, settings and last errors for a bug report,
  with every secret redacted, in the spirit of Home Assistant's diagnostics.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from aperture_hookspecs import (
    AccountMapping,
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
from .secrets import SECRET_KEY_ENV, SecretUnreadableError, mask
from .store import SettingsStore

REDACTED = "**REDACTED**"
DISTRIBUTIONS = ("aperture-plugins", "aperture-hookspecs", "aperture-overseerr", "aperture-jellyseerr")


@dataclass(frozen=True)
class ConfigureOutcome:
    """What ``configure`` did: the connection report, and whether the settings were saved."""

    provider: str
    report: ConnectionReport | None
    saved: bool
    tested: bool
    settings: Mapping[str, Any]

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
        }


async def configure(
    host: PluginHost, name: str, entered: Mapping[str, Any], *, save_untested: bool = False, test: bool = True
) -> ConfigureOutcome:
    """Validate, test and (if the test passes, or ``save_untested``) save a provider's settings."""
    schema = host.settings_schema(name)
    secrets = secret_fields(schema)
    unreadable: SecretUnreadableError | None = None
    try:
        stored = host.stored_settings(name) or {}
    except SecretUnreadableError as error:  # entering the key again is the way to recover
        stored, unreadable = {}, error
    merged = {key: value for key, value in entered.items() if value is not None}
    for field in secrets:
        if not str(merged.get(field) or "").strip():
            if unreadable is not None:
                raise unreadable  # cannot keep a stored key that cannot be read: say so
            if stored.get(field):
                merged[field] = stored[field]  # left empty: keep the stored secret
    values = validate_settings(schema, merged, provider=name)
    report = await host.test_settings(name, values) if test else None
    saved = report is None or report.ok or save_untested
    if saved:
        host.set_settings(name, values)
    shown = {key: (mask(str(value)) if key in secrets else value) for key, value in values.items()}
    return ConfigureOutcome(name, report, saved, report is not None, shown)


async def map_user(
    host: PluginHost, user: ApertureUser, target: str, name: str | None = None
) -> AccountMapping:
    """Map ``user`` by hand to a server account (id, username or email), checked on the server first.

    The entry goes into the provider's ``user_map`` setting only if the provider then maps
    the user *manually* to exactly one account; otherwise nothing is saved and the error
    says why.
    """
    record = host._provider(name)
    stored = dict(host.settings.get(record.name) or {})
    if not stored:
        raise NotConfiguredError(
            f"Configure {record.name} before mapping users",
            hints=(f"aperture-plugins configure {record.name} --url URL --api-key-stdin",),
        )
    user_map = dict(stored.get("user_map") or {})
    user_map[user.name] = int(target) if target.isascii() and target.isdigit() else target
    schema = host.settings_schema(record.name)
    values = validate_settings(schema, {**stored, "user_map": user_map}, provider=record.name)
    context = ProviderContext(record.name, values, host.data_dir / "providers" / record.name)
    try:
        [mapping] = await host.map_users_with(record, context, [user])
    finally:
        await run_callbacks(context.close_callbacks())
    if mapping.method != "manual" or not mapping.mapped:
        raise UserNotMappedError(
            f"Cannot map {user.name} to {target!r}: " + ("; ".join(mapping.problems) or "no such account"),
            hints=("Give the account's id, username or email exactly as the server shows it",),
            provider=record.name,
        )
    host.set_settings(record.name, values)
    return mapping


def unmap_user(host: PluginHost, user_name: str, name: str | None = None) -> bool:
    """Remove a manual mapping; returns whether there was one."""
    record = host._provider(name)
    stored = dict(host.settings.get(record.name) or {})
    user_map = dict(stored.get("user_map") or {})
    if user_name not in user_map:
        return False
    del user_map[user_name]
    host.set_settings(record.name, {**stored, "user_map": user_map})
    return True


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


def diagnostics(host: PluginHost) -> dict[str, Any]:
    """Everything useful for a bug report, with secrets redacted."""
    host.load()
    store = host.settings if isinstance(host.settings, SettingsStore) else None
    providers = []
    for status in host.providers():
        name = status.record.name
        entry = status.to_dict()
        try:
            secrets = secret_fields(host.settings_schema(name))
            stored = store.masked(name, secrets) if store else host.settings.get(name)
            entry["settings"] = redact(stored, secrets) if stored is not None else None
        except Exception as error:  # diagnostics must not fail because one provider does
            entry["settings_error"] = f"{type(error).__name__}: {error}"
        providers.append(entry)
    document = {
        "versions": {
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            **{name: _version(name) for name in DISTRIBUTIONS},
        },
        "data_dir": str(host.data_dir),
        "master_key_source": SECRET_KEY_ENV if store and store.secrets.from_environment else "key file",
        "active": host.active_provider().name,
        "active_problem": host.active_problem(),
        "providers": providers,
        "plugins": [
            {"name": r.name, "origin": r.origin, "version": r.version, "hooks": list(r.hooks)}
            for r in host.observers()
        ],
        "broken": [b.to_dict() for b in host.broken],
        "last_errors": store.last_errors() if store else [],
        "schema_version": store.schema_version if store else None,
    }
    return redact(document, frozenset(), _known_secrets(host, store))
