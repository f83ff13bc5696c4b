"""The admin's provider switches: ``config.toml`` in the data directory.

The file is small and meant to be edited by hand as well as by ``aperture-plugins
enable/disable/use``::

    # Which request provider answers Discovery. "null" (or absent) = none.
    active = "jellyseerr"

    [plugins.overseerr]
    enabled = false

Every installed plugin is enabled unless its table says ``enabled = false``. The active provider
must be enabled; if it is not (or not installed), the null provider answers. Writes go to a
temporary file that replaces the old one, so a crash never leaves half a file.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from aperture_hookspecs import InvalidSettingsError

CONFIG_FILE_NAME = "config.toml"

_HEADER = (
    "# Aperture request providers. Edit by hand or with `aperture-plugins enable/disable/use`.\n"
    '# active: the provider that answers Discovery ("null" = none); [plugins.NAME] enabled = false\n'
    "# switches a plugin off.\n"
)


@dataclass
class ProviderConfig:
    """The parsed ``config.toml``: the active provider and the disabled plugins."""

    path: Path
    active: str | None = None
    disabled: set[str] = field(default_factory=set)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, data_dir: Path) -> ProviderConfig:
        """Read ``config.toml`` from ``data_dir``; a missing file is an empty config.

        A file that is not valid TOML, or has values of the wrong type, raises
        :class:`~aperture_hookspecs.errors.InvalidSettingsError` naming the file and the place.
        """
        path = data_dir / CONFIG_FILE_NAME
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path)
        except OSError as error:
            raise InvalidSettingsError(
                f"Cannot read {path}: {error.strerror}", hints=("Check the file's permissions",)
            ) from None
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise InvalidSettingsError(
                f"{path} is not valid TOML ({error})",
                hints=("Fix the line named, or delete the file to start again",),
            ) from None
        return cls._from_document(path, document)

    @classmethod
    def _from_document(cls, path: Path, document: dict[str, Any]) -> ProviderConfig:
        active = document.pop("active", None)
        if active is not None and not isinstance(active, str):
            raise InvalidSettingsError(
                f"{path}: 'active' must be a provider name in quotes, not {active!r}",
                field_errors={"active": "must be a string"},
            )
        plugins = document.pop("plugins", {})
        if not isinstance(plugins, dict):
            raise InvalidSettingsError(
                f"{path}: [plugins] must be a table", field_errors={"plugins": "table"}
            )
        disabled: set[str] = set()
        for name, table in plugins.items():
            enabled = table.get("enabled", True) if isinstance(table, dict) else None
            if not isinstance(enabled, bool):
                raise InvalidSettingsError(
                    f"{path}: [plugins.{name}] enabled must be true or false",
                    field_errors={f"plugins.{name}.enabled": "must be true or false"},
                )
            if not enabled:
                disabled.add(name)
        return cls(path, active=active or None, disabled=disabled, extra=document)

    def is_enabled(self, name: str) -> bool:
        return name not in self.disabled

    def save(self) -> None:
        """Write the file atomically (temporary file + rename), creating the directory."""
        document: dict[str, Any] = dict(self.extra)
        if self.active:
            document["active"] = self.active
        if self.disabled:
            document["plugins"] = {name: {"enabled": False} for name in sorted(self.disabled)}
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temporary = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(_HEADER)
                stream.write(tomli_w.dumps(document))
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
