"""Shared fixtures: an isolated data directory, and throwaway installed distributions.

No test reads the developer's real data directory or depends on the environment's plugin
switches. ``install_distribution`` writes a real ``*.dist-info`` with an ``entry_points.txt``
onto ``sys.path``, so third-party plugins are found through the very same entry-point loading
path as the built-in Seerr providers.

Every test also runs under the leak check: logging is captured at DEBUG for every logger, and
the test fails if the fake API key :data:`CANARY` shows up in any record.
"""

from __future__ import annotations

import importlib
import logging
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]  # tests/test_admin_flow.py checks the leak check itself

InstallDistribution = Callable[..., Path]

#: The fake API key the leak scenarios use: it must never appear in a log record, at any level.
CANARY = "FAKE-KEY-CANARY-7f3a9c"


@pytest.fixture(autouse=True)
def no_canary_in_logs(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Capture every log record at DEBUG, and fail the test if :data:`CANARY` is in one of them.

    The CLI calls ``logging.basicConfig(force=True)``, which removes every root handler (the
    capture's too) and sets the root level. Wrapped here: after it runs, the new handlers keep
    the level the CLI chose (so stderr shows what it would have), the capture handler is put
    back and the root logger lets DEBUG records through to it.
    """
    caplog.set_level(logging.DEBUG)
    basic_config = logging.basicConfig

    def capturing_basic_config(**kwargs: object) -> None:
        basic_config(**kwargs)
        root = logging.getLogger()
        for handler in root.handlers:
            handler.setLevel(max(handler.level, root.level))
        if caplog.handler not in root.handlers:
            root.addHandler(caplog.handler)
        root.setLevel(logging.DEBUG)

    monkeypatch.setattr(logging, "basicConfig", capturing_basic_config)
    yield
    # Each phase has its own capture handler: look at all of them, not only teardown's.
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    leaked = sorted({record.name for record in records if CANARY in _record_text(record)})
    assert not leaked, f"the fake API key leaked into log records of {leaked}"


_FORMATTER = logging.Formatter("%(levelname)s %(name)s %(message)s")


def _record_text(record: logging.LogRecord) -> str:
    """A record as a handler would write it, traceback included."""
    try:
        return _FORMATTER.format(record)
    except Exception:  # a record that cannot be formatted: check its raw parts
        return f"{record.msg!r} {record.args!r} {record.exc_info!r}"


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
