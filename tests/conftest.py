"""Shared fixtures: an isolated data directory, and throwaway installed distributions.

No test reads the developer's real data directory or depends on the environment's plugin
switches. ``install_distribution`` writes a real ``*.dist-info`` with an ``entry_points.txt``
onto ``sys.path``, so third-party plugins are found through the very same entry-point loading
path as the built-in Seerr providers.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

InstallDistribution = Callable[..., Path]


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the data directory at a temporary one and clear the plugin switches."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("APERTURE_DATA_DIR", str(data_dir))
    monkeypatch.delenv("APERTURE_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("APERTURE_TRACE_PLUGINS", raising=False)
    return data_dir


@pytest.fixture
def data_dir(isolated_environment: Path) -> Path:
    return isolated_environment


@pytest.fixture
def site_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on ``sys.path`` for throwaway distributions."""
    root = tmp_path / "site-packages"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    return root


@pytest.fixture
def install_distribution(site_dir: Path) -> Iterator[InstallDistribution]:
    """Install a one-module distribution with an ``aperture_plugins`` entry point.

    ``install_distribution("aperture-fake", "aperture_fake", SOURCE, entry_name="fake")``
    writes ``aperture_fake.py`` and ``aperture_fake-1.0.0.dist-info/`` into ``site_dir``.
    """
    modules: list[str] = []

    def install(
        dist_name: str,
        module_name: str,
        source: str,
        *,
        entry_name: str | None = None,
        target: str | None = None,
        version: str = "1.0.0",
    ) -> Path:
        (site_dir / f"{module_name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        info = site_dir / f"{dist_name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n", encoding="utf-8"
        )
        (info / "entry_points.txt").write_text(
            f"[aperture_plugins]\n{entry_name or module_name} = {target or module_name}\n", encoding="utf-8"
        )
        modules.append(module_name)
        importlib.invalidate_caches()
        return site_dir

    yield install
    for name in modules:
        sys.modules.pop(name, None)
