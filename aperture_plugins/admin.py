"""The admin flow: Test Connection, Save, and what a settings page or diagnostics may show.

* :func:`configure` validates what the admin entered with the provider's own schema, runs the
  connection test on it, and saves only when the test passes (unless told to save untested).
  A secret field left empty keeps the stored value, so a form can be saved again without
  re-typing the API key. A failure at any step leaves the stored settings as they were.
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

from aperture_hookspecs import ConnectionReport, InvalidSettingsError, secret_fields, validate_settings

from .host import PluginHost
from .secrets import SECRET_KEY_ENV, mask
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "saved": self.saved,
            "tested": self.tested,
            "report": self.report.to_dict() if self.report else None,
            "settings": dict(self.settings),
        }


async def configure(
    host: PluginHost, name: str, entered: Mapping[str, Any], *, save_untested: bool = False, test: bool = True
) -> ConfigureOutcome:
    """Validate, test and (if the test passes, or ``save_untested``) save a provider's settings."""
    schema = host.settings_schema(name)
    secrets = secret_fields(schema)
    stored = host.stored_settings(name) or {}
    merged = {key: value for key, value in entered.items() if value is not None}
    for field in secrets:
        if not str(merged.get(field) or "").strip() and stored.get(field):
            merged[field] = stored[field]  # left empty: keep the stored secret
    values = validate_settings(schema, merged, provider=name)
    report = await host.test_settings(name, values) if test else None
    saved = report is None or report.ok or save_untested
    if saved:
        host.set_settings(name, values)
    shown = {key: (mask(str(value)) if key in secrets else value) for key, value in values.items()}
    return ConfigureOutcome(name, report, saved, report is not None, shown)


def masked_settings(host: PluginHost, name: str) -> dict[str, Any] | None:
    """A provider's saved settings for display: every secret masked, never in clear text."""
    record = host._provider(name)
    if isinstance(host.settings, SettingsStore):
        return host.settings.masked(record.name)
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
    store.secrets.begin_rotation()
    count = store.rotate_secrets()
    store.secrets.finish_rotation()
    return count


def _version(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def redact(value: Any, secret_keys: frozenset[str]) -> Any:
    """Replace the values of secret keys anywhere in nested data with :data:`REDACTED`."""
    if isinstance(value, Mapping):
        return {k: (REDACTED if k in secret_keys else redact(v, secret_keys)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, secret_keys) for v in value]
    return value


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
            stored = store.masked(name) if store else host.settings.get(name)
            entry["settings"] = redact(stored, secrets) if stored is not None else None
        except Exception as error:  # diagnostics must not fail because one provider does
            entry["settings_error"] = f"{type(error).__name__}: {error}"
        providers.append(entry)
    return {
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
