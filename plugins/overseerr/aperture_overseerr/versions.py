"""The installed version of a distribution, for manifests and the User-Agent."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def distribution_version(distribution: str) -> str:
    """The installed version of ``distribution`` ("0.0.0" in an uninstalled source tree)."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "0.0.0"
