"""What goes wrong with the files of the data directory, as errors a person can act on.

The data directory holds ``aperture.db`` (the settings store), ``config.toml`` (the provider
switches) and ``secret.key`` (the master key). Any of them can be damaged, the directory can be
read-only, the disk can be full. Each case is a :class:`DataFileError` naming the file, what
happened and what to do (the hints), and carrying a :attr:`~DataFileError.user_reason` that a
Discovery card may show: it never contains a path.

:func:`from_sqlite_error` and :func:`from_os_error` turn the low-level errors into these; an
error they do not recognise (a bug rather than damage) is returned as ``None`` and left alone.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path
from typing import Any, ClassVar

from aperture_hookspecs import ApertureError

USER_REASON = "requests are unavailable right now: Aperture's settings need an admin's attention"
"""What a user sees when a file of the data directory is the problem (no path, no detail)."""


class DataFileError(ApertureError):
    """A file of the data directory cannot be used. ``file_name`` says which (no directory)."""

    code = "data_file_error"
    default_message = "A file of Aperture's data directory cannot be used"
    user_reason: ClassVar[str] = USER_REASON

    def __init__(
        self,
        message: str | None = None,
        *,
        file_name: str,
        hints: tuple[str, ...] | list[str] | None = None,
        provider: str | None = None,
    ) -> None:
        self.file_name = file_name
        super().__init__(message, hints=hints, provider=provider)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "file": self.file_name}


class StoreDamagedError(DataFileError):
    """``aperture.db`` is not a database, or its pages or schema are damaged."""

    code = "store_damaged"


class StoreTooNewError(DataFileError):
    """``aperture.db`` was written by a newer version of aperture-plugins (a newer schema)."""

    code = "store_too_new"


class ReadOnlyError(DataFileError):
    """A file or the data directory cannot be written (permissions, a read-only mount)."""

    code = "read_only"


class DiskFullError(DataFileError):
    """The disk (or the quota) holding the data directory is full."""

    code = "disk_full"


class StoreBusyError(DataFileError):
    """Another process held the store's write lock for longer than the busy timeout."""

    code = "store_busy"


def damaged_hints(path: Path) -> tuple[str, ...]:
    return (
        f"Stop Aperture, then restore {path.name} (with secret.key) from your backup of {path.parent}",
        f"Or move {path.name} aside to start with empty settings, then configure the provider again",
    )


def read_only_hints(path: Path) -> tuple[str, ...]:
    return (
        f"Let the user running Aperture write {path.parent} and its files "
        "(file ownership, chmod u+w, or the volume's mount options)",
        "Reading still works; saving needs a writable data directory",
    )


def full_hints(path: Path) -> tuple[str, ...]:
    return (f"Free some space on the disk holding {path.parent}, then try again; nothing was saved",)


def _kind(error: sqlite3.Error) -> str | None:
    """The kind of a SQLite error: by its result code, else (an error made by hand) by its text."""
    name = getattr(error, "sqlite_errorname", None) or ""
    text = str(error).lower()
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or (
        "not a database" in text or "malformed" in text
    ):
        return "damaged"
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return "full"
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")) or (
        "readonly database" in text or "unable to open database" in text
    ):
        return "read_only"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
        return "busy"
    if name.startswith("SQLITE_IOERR") or "disk i/o error" in text:
        return "io"
    if "no such table" in text or "no such column" in text or "could not decode to utf-8" in text:
        return "damaged"  # the file says it is at our schema version, but its contents are not
    return None


def disk_is_full(path: Path) -> bool:
    """Whether the file system holding ``path`` has no space left for this user."""
    try:
        info = os.statvfs(path if path.is_dir() else path.parent)
    except (AttributeError, OSError):  # no statvfs (Windows), or the directory is gone
        return False
    return info.f_bavail == 0


def from_sqlite_error(error: sqlite3.Error, path: Path) -> DataFileError | None:
    """The :class:`DataFileError` for a SQLite error on the database at ``path`` (or ``None``).

    An I/O error on a disk with no space left is a full disk: SQLite reports a ``-shm`` file it
    cannot grow as ``SQLITE_IOERR_SHMSIZE``, not as ``SQLITE_FULL``.
    """
    kind = _kind(error)
    if kind == "io" and disk_is_full(path):
        kind = "full"
    name = path.name
    if kind == "damaged":
        return StoreDamagedError(
            f"{name} in {path.parent} is damaged ({error})", file_name=name, hints=damaged_hints(path)
        )
    if kind == "full":
        return DiskFullError(
            f"Cannot save to {name} in {path.parent}: the disk is full",
            file_name=name,
            hints=full_hints(path),
        )
    if kind == "read_only":
        return ReadOnlyError(
            f"Cannot write {name} in {path.parent} ({error})", file_name=name, hints=read_only_hints(path)
        )
    if kind == "busy":
        return StoreBusyError(
            f"{name} in {path.parent} stayed locked by another process ({error})",
            file_name=name,
            hints=(
                "Try again in a moment",
                "If it keeps happening, look for a stuck aperture-plugins process using this data directory",
            ),
        )
    if kind == "io":
        return DataFileError(
            f"Reading or writing {name} in {path.parent} failed ({error})",
            file_name=name,
            hints=("Check the disk holding the data directory (dmesg, SMART)", *damaged_hints(path)),
        )
    return None


_READ_ONLY_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def from_os_error(error: OSError, path: Path, doing: str = "write") -> DataFileError | None:
    """The :class:`DataFileError` for an OS error on ``path`` (or ``None`` if not recognised).

    ``doing`` says what failed ("write", "read", "create") for the message.
    """
    name = path.name
    reason = error.strerror or str(error)
    if error.errno in _READ_ONLY_ERRNOS:
        return ReadOnlyError(
            f"Cannot {doing} {name} in {path.parent}: {reason}", file_name=name, hints=read_only_hints(path)
        )
    if error.errno in _FULL_ERRNOS:
        return DiskFullError(
            f"Cannot {doing} {name} in {path.parent}: the disk is full",
            file_name=name,
            hints=full_hints(path),
        )
    return None
