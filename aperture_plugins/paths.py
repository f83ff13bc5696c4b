"""Where Aperture's request-provider layer keeps its files: the data directory.

Resolution order: an explicit path (``--data-dir``), then ``APERTURE_DATA_DIR``, then the
per-user data directory of the platform (``~/.local/share/aperture`` on Linux, honouring
``XDG_DATA_HOME``; ``~/Library/Application Support/aperture`` on macOS;
``%LOCALAPPDATA%\\aperture`` on Windows).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

DATA_DIR_ENV = "APERTURE_DATA_DIR"
APP_NAME = "aperture"


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data directory to use (not created here; see :func:`ensure_data_dir`)."""
    if explicit:
        return Path(explicit).expanduser()
    from_env = os.environ.get(DATA_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def ensure_data_dir(path: Path) -> Path:
    """Create the data directory (private to the user) if it does not exist yet."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
