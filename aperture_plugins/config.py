"""The admin's provider switches: ``config.toml`` in the data directory.

The file is small and meant to be edited by hand as well as by ``aperture-plugins
enable/disable/use``::

    # Which request provider answers Discovery. "null" (or absent) = none.
    active = "jellyseerr"

    [plugins.overseerr]
    enabled = false

Every installed plugin is enabled unless its table says ``enabled = false``. The active provider
must be enabled; if it is not (or not installed), the null provider answers.

* **Writes** go to a temporary file that replaces the old one, so a crash never leaves half a
  file. A command changes only what it is given: :meth:`ProviderConfig.update` re-reads the
  file under a lock (``.config.lock`` beside it), applies the change and writes it, so two
  commands at once both take effect and a hand edit made before is kept.
* **Mistakes** in a hand-edited file are :class:`ConfigFileError` naming the file, the key and
  the line (a TOML typo, ``active = 5``, ``enabled = "no"``), with what to write instead.
* **Changes by another process** are seen through :func:`file_stamp` (size, mtime, inode),
  which the host compares now and then instead of re-reading the file.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from aperture_hookspecs import InvalidSettingsError

from .file_errors import from_os_error

CONFIG_FILE_NAME = "config.toml"
LOCK_FILE_NAME = ".config.lock"

_HEADER = (
    "# Aperture request providers. Edit by hand or with `aperture-plugins enable/disable/use`.\n"
    '# active: the provider that answers Discovery ("null" = none); [plugins.NAME] enabled = false\n'
    "# switches a plugin off.\n"
)

FileStamp = tuple[int, int, int, int] | None
"""What :func:`file_stamp` says about a file: size, mtime, ctime and inode (``None``: no file)."""


def file_stamp(path: Path) -> FileStamp:
    """A cheap fingerprint of a file that changes when it is rewritten or replaced."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    except OSError:
        return (-1, -1, -1, -1)
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)


class ConfigFileError(InvalidSettingsError):
    """``config.toml`` cannot be used: not valid TOML, or a value of the wrong type.

    ``key`` is the dotted key at fault (``active``, ``plugins.overseerr.enabled``), ``line``
    its line in the file (1-based; ``None`` when it cannot be told), ``file_name`` the file.
    """

    code = "invalid_config"

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        line: int | None = None,
        hints: tuple[str, ...] | None = None,
    ) -> None:
        self.key = key
        self.line = line
        self.file_name = CONFIG_FILE_NAME
        super().__init__(message, field_errors={key: message} if key else None, hints=hints)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "file": self.file_name, "key": self.key, "line": self.line}


@dataclass
class ProviderConfig:
    """The parsed ``config.toml``: the active provider and the disabled plugins."""

    path: Path
    active: str | None = None
    disabled: set[str] = field(default_factory=set)
    extra: dict[str, Any] = field(default_factory=dict)
    stamp: FileStamp = None
    """The file as it was when read (:func:`file_stamp`, taken before reading it)."""

    @classmethod
    def load(cls, data_dir: Path) -> ProviderConfig:
        """Read ``config.toml`` from ``data_dir``; a missing file is an empty config.

        A file that cannot be read, is not valid TOML, or has values of the wrong type raises
        :class:`ConfigFileError` naming the file, the key and the line.
        """
        path = data_dir / CONFIG_FILE_NAME
        stamp = file_stamp(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path, stamp=None)
        except UnicodeDecodeError as error:
            line = text_line(error.object, error.start)
            raise ConfigFileError(
                f"{path} line {line}: the file is not UTF-8 text", line=line, hints=_fix_hints(path, line)
            ) from None
        except OSError as error:
            raise ConfigFileError(
                f"Cannot read {path}: {error.strerror}",
                hints=("Let the user running Aperture read the file (ownership, chmod u+r)",),
            ) from None
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            found = re.search(r"at line (\d+)", str(error))
            where = int(found.group(1)) if found else None
            raise ConfigFileError(
                f"{path} is not valid TOML ({error})", line=where, hints=_fix_hints(path, where)
            ) from None
        config = cls._from_document(path, document, text)
        config.stamp = stamp
        return config

    @classmethod
    def _from_document(cls, path: Path, document: dict[str, Any], text: str = "") -> ProviderConfig:
        active = document.pop("active", None)
        if active is not None and not isinstance(active, str):
            raise _wrong_type(
                path, text, ("active",), active, 'a provider name in quotes, like active = "jellyseerr"'
            )
        plugins = document.pop("plugins", {})
        if not isinstance(plugins, dict):
            raise _wrong_type(
                path, text, ("plugins",), plugins, "a table: [plugins.NAME] with enabled = false"
            )
        disabled: set[str] = set()
        for name, table in plugins.items():
            if not isinstance(table, dict):
                raise _wrong_type(
                    path, text, ("plugins", name), table, f"a table: [plugins.{name}] with enabled = false"
                )
            enabled = table.get("enabled", True)
            if not isinstance(enabled, bool):
                raise _wrong_type(
                    path, text, ("plugins", name, "enabled"), enabled, "true or false (no quotes)"
                )
            if not enabled:
                disabled.add(name)
        return cls(path, active=active or None, disabled=disabled, extra=document)

    @classmethod
    def update(cls, data_dir: Path, change: Callable[[ProviderConfig], None]) -> ProviderConfig:
        """Re-read the file, apply ``change`` to it and save it, under the config lock.

        Only what ``change`` touches changes: a hand edit or another command that came first
        is kept. Returns the config as saved.
        """
        with _config_lock(data_dir):
            config = cls.load(data_dir)
            change(config)
            config.save()
            return config

    def is_enabled(self, name: str) -> bool:
        return name not in self.disabled

    def save(self) -> None:
        """Write the file atomically (temporary file + rename), creating the directory.

        A read-only directory or a full disk is a
        :class:`~aperture_plugins.file_errors.DataFileError`; the old file stays as it was.
        """
        document: dict[str, Any] = dict(self.extra)
        if self.active:
            document["active"] = self.active
        if self.disabled:
            document["plugins"] = {name: {"enabled": False} for name in sorted(self.disabled)}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            handle, temporary = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=self.path.parent)
        except OSError as error:
            raise _file_error(error, self.path) from None
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(_HEADER)
                stream.write(tomli_w.dumps(document))
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.path)
        except OSError as error:
            Path(temporary).unlink(missing_ok=True)
            raise _file_error(error, self.path) from None
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self.stamp = file_stamp(self.path)


def _file_error(error: OSError, path: Path) -> Exception:
    return from_os_error(error, path) or error


@contextmanager
def _config_lock(data_dir: Path) -> Iterator[None]:
    """Hold the lock of ``config.toml`` (an advisory lock on ``.config.lock``, 0600)."""
    lock_path = data_dir / LOCK_FILE_NAME
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise _file_error(error, data_dir / CONFIG_FILE_NAME) from None
    try:
        _lock(descriptor)
        yield
    finally:
        os.close(descriptor)  # closing the descriptor releases the lock


def _lock(descriptor: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        msvcrt.locking(descriptor, msvcrt.LK_LOCK, 1)
    else:
        import fcntl

        fcntl.flock(descriptor, fcntl.LOCK_EX)


def text_line(data: bytes | str, offset: int) -> int:
    """The 1-based line of ``offset`` in ``data``."""
    newline: Any = b"\n" if isinstance(data, bytes) else "\n"
    return data.count(newline, 0, offset) + 1


def _fix_hints(path: Path, line: int | None) -> tuple[str, ...]:
    where = f"line {line} of {path}" if line else str(path)
    return (
        f"Fix {where} (a hand edit?)",
        "Or delete the file and choose the provider again: aperture-plugins use NAME",
    )


def _wrong_type(path: Path, text: str, key: tuple[str, ...], value: Any, wanted: str) -> ConfigFileError:
    dotted = ".".join(key)
    line = key_line(text, key)
    where = f"{path} line {line}" if line else str(path)
    return ConfigFileError(
        f"{where}: {dotted} must be {wanted}, not {_shown(value)}",
        key=dotted,
        line=line,
        hints=_fix_hints(path, line),
    )


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    try:
        return tomli_w.dumps({"v": value})[4:].strip()  # as TOML would write it: "no", 5, true
    except (TypeError, ValueError):
        return repr(value)


_TABLE_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY_VALUE = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")


def _key_parts(text: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in text.split("."))


def key_line(text: str, key: tuple[str, ...]) -> int | None:
    """The line (1-based) where ``key`` is set in the TOML ``text``, or ``None``.

    Follows ``[table]`` headers and dotted keys; a key set inside an inline table
    (``name = { enabled = "no" }``) is found at the line of that table.
    """
    table: tuple[str, ...] = ()
    best: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _TABLE_HEADER.match(line)
        if header:
            table = _key_parts(header.group(1))
            if table == key:
                best = number
            continue
        assignment = _KEY_VALUE.match(line)
        if not assignment:
            continue
        full = table + _key_parts(assignment.group(1))
        if full == key:
            return number
        if key[: len(full)] == full:  # an inline table holding the key
            best = number
    return best
