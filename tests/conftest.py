"""Shared fixtures: an isolated data directory, and throwaway installed distributions.

No test reads the developer's real data directory or depends on the environment's plugin
switches. ``install_distribution`` writes a real ``*.dist-info`` with an ``entry_points.txt``
onto ``sys.path``, so third-party plugins are found through the very same entry-point loading
path as the built-in Seerr providers.

Every test also runs under the leak check: logging is captured at DEBUG for every logger, and
the test fails if the fake API key :data:`CANARY` shows up in any record. The same goes for
every webhook secret and API token the test makes (:class:`PushStore` is watched) or names
(:func:`watch_secret`), and the check covers the HTTP surface too: every answer any Starlette
app sends during the test (headers and body) is scanned for all of them.
"""

from __future__ import annotations

import importlib
import logging
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]  # tests/test_admin_flow.py checks the leak check itself

InstallDistribution = Callable[..., Path]

#: The fake API key the leak scenarios use: it must never appear in a log record, at any level.
CANARY = "FAKE-KEY-CANARY-7f3a9c"

#: The secrets the running test made or named (webhook secrets, API tokens, an
#: ``APERTURE_API_TOKEN``): like CANARY, none may appear in a log record or an HTTP answer.
WATCHED_SECRETS: set[str] = set()


def watch_secret(secret: str) -> str:
    """Put ``secret`` under the running test's leak check (logs and HTTP answers); return it."""
    WATCHED_SECRETS.add(secret)
    return secret


@pytest.fixture(autouse=True)
def no_canary_in_logs(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Capture every log record at DEBUG, and fail the test if :data:`CANARY` is in one of them.

    The CLI calls ``logging.basicConfig(force=True)``, which removes every root handler (the
    capture's too) and sets the root level. Wrapped here: after it runs, the new handlers keep
    the level the CLI chose (so stderr shows what it would have), the capture handler is put
    back and the root logger lets DEBUG records through to it.
    """
    WATCHED_SECRETS.clear()
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
    watched = tuple(WATCHED_SECRETS)
    leaked = sorted(
        {record.name for record in records if any(secret in _record_text(record) for secret in watched)}
    )
    assert not leaked, f"a webhook secret or API token leaked into log records of {leaked}"


@pytest.fixture(autouse=True)
def no_secret_in_answers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytearray]]:
    """Watch the secrets the test makes, and fail it if one (or CANARY) is in an HTTP answer.

    :meth:`PushStore.ensure_webhook_secret` and :meth:`PushStore.create_api_token` are wrapped
    so that what they return is watched (:data:`WATCHED_SECRETS`); ``Starlette.__call__`` is
    wrapped so that every answer of the HTTP surface (status line headers and the whole body,
    streams included) is kept and scanned at the end of the test. Yields the answers.
    """
    from starlette.applications import Starlette

    from aperture_plugins.push_store import PushStore

    make_secret = PushStore.ensure_webhook_secret
    make_token = PushStore.create_api_token

    def watched_secret(self: PushStore, provider: str, *, renew: bool = False) -> str:
        return watch_secret(make_secret(self, provider, renew=renew))

    def watched_token(self: PushStore, label: str = "") -> str:
        return watch_secret(make_token(self, label))

    monkeypatch.setattr(PushStore, "ensure_webhook_secret", watched_secret)
    monkeypatch.setattr(PushStore, "create_api_token", watched_token)
    answers: list[bytearray] = []
    serve = Starlette.__call__

    async def recording_call(self: Starlette, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await serve(self, scope, receive, send)
            return
        answer = bytearray()
        answers.append(answer)

        async def recording_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                for key, value in message.get("headers", ()):
                    answer.extend(bytes(key) + b": " + bytes(value) + b"\n")
            elif message["type"] == "http.response.body":
                answer.extend(message.get("body", b""))
            await send(message)

        await serve(self, scope, receive, recording_send)

    monkeypatch.setattr(Starlette, "__call__", recording_call)
    yield answers
    secrets = [secret.encode() for secret in (CANARY, *WATCHED_SECRETS)]
    leaks = sum(1 for answer in answers if any(secret in answer for secret in secrets))
    assert not leaks, (
        f"{leaks} of {len(answers)} HTTP answers hold the API key, a webhook secret or an API token"
    )


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
