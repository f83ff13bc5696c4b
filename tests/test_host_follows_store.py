"""The running host follows the store (issue 13 B, problem 3).

A long-lived :class:`PluginHost` in this process, the ``aperture-plugins`` CLI in subprocesses,
two fake Jellyseerr servers over real HTTP. What the CLI changes (``configure`` to a new URL and
key, ``use null``) reaches the running host within a few seconds without a restart; a call in
flight finishes on the old provider context, which is closed after it, and the next call uses
the new one. Unrelated writes by other processes (tracked requests, caches) rebuild nothing.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aperture_hookspecs import ApertureUser, MediaRef, RequestState
from aperture_overseerr.testing import FakeSeerr
from aperture_plugins.host import PluginHost
from aperture_plugins.null_provider import REASON as NO_PROVIDER
from aperture_plugins.store import SettingsStore

KEY_A = "FAKE-KEY-server-a-1111"
KEY_B = "FAKE-KEY-server-b-2222"
MATRIX = MediaRef.parse("movie:603")
ALICE = ApertureUser("alice")


def make_fake(key: str) -> FakeSeerr:
    fake = FakeSeerr("jellyseerr", api_key=key)
    fake.add_user("alice", jellyfin_username="alice")
    fake.add_title("movie", 603, "The Matrix")
    return fake


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[dict[str, Any]]:
    a, b = make_fake(KEY_A), make_fake(KEY_B)
    (tmp_path / "a.key").write_text(KEY_A + "\n")
    (tmp_path / "b.key").write_text(KEY_B + "\n")
    with a.serve() as url_a, b.serve() as url_b:
        yield {"a": a, "b": b, "url_a": url_a, "url_b": url_b, "keys": tmp_path}


async def cli(*args: str) -> Any:
    """Run ``aperture-plugins ARGS --json`` in a subprocess (the data dir from the environment)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aperture_plugins.cli",
        *args,
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    return json.loads(out)


async def eventually(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 15.0) -> None:
    """Retry ``check`` until it holds (the host looks for changes about once a second)."""
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f"the running host never {what}"
        await asyncio.sleep(0.1)


class HeldFirstCall:
    """Holds the first HTTP call a fake receives until :meth:`release` (a call in flight).

    Wraps the fake's ``_respond``, which every request goes through (served over HTTP or not).
    """

    def __init__(self, fake: FakeSeerr) -> None:
        self.arrived = threading.Event()
        self._release = threading.Event()
        self._respond = fake._respond
        fake._respond = self._held  # type: ignore[method-assign]

    def _held(self, request: httpx.Request) -> httpx.Response:
        if not self.arrived.is_set():
            self.arrived.set()
            self._release.wait(timeout=60)
        return self._respond(request)

    def release(self) -> None:
        self._release.set()


async def test_configure_and_use_null_reach_a_running_host(servers, data_dir):
    a, b = servers["a"], servers["b"]
    await cli(
        "configure", "jellyseerr", "--url", servers["url_a"], "--api-key-file", str(servers["keys"] / "a.key")
    )
    await cli("use", "jellyseerr")

    async with PluginHost(data_dir) as host:
        [card] = await host.lookup([MATRIX], ALICE)
        assert card.state is RequestState.REQUESTABLE and a.call_count() > 0 and b.call_count() == 0
        closed: list[str] = []
        old = host._contexts["jellyseerr"]
        old.on_close(lambda: closed.append("server A"))

        held = HeldFirstCall(a)  # a call through the old context stays in flight meanwhile
        in_flight = asyncio.create_task(host.test_connection())
        assert await asyncio.to_thread(held.arrived.wait, 30)

        await cli(
            "configure",
            "jellyseerr",
            "--url",
            servers["url_b"],
            "--api-key-file",
            str(servers["keys"] / "b.key"),
        )
        calls_by_the_cli = b.call_count()

        async def uses_server_b() -> bool:
            [card] = await host.lookup([MATRIX], ALICE)
            return b.call_count() > calls_by_the_cli and card.state is RequestState.REQUESTABLE

        await eventually(uses_server_b, "called the new server")
        assert not in_flight.done() and closed == []  # not closed under the call still using it
        held.release()
        report = await in_flight
        assert report.ok, report.problems  # finished on the old context's HTTP pool
        assert closed == ["server A"]  # and then closed, once
        calls_a = a.call_count()
        await host.lookup([MATRIX], ALICE)
        assert a.call_count() == calls_a and host._contexts["jellyseerr"] is not old

        newer = host._contexts["jellyseerr"]
        newer.on_close(lambda: closed.append("server B"))
        await cli("use", "null")

        async def answers_with_the_null_provider() -> bool:
            [card] = await host.lookup([MATRIX], ALICE)
            return card.reason == NO_PROVIDER

        await eventually(answers_with_the_null_provider, "switched to the null provider")
        assert closed == ["server A", "server B"]  # the provider no longer active is closed too
        assert host.active_provider().name == "null"


async def test_a_running_host_sees_config_toml_edited_by_hand(servers, data_dir):
    await cli(
        "configure", "jellyseerr", "--url", servers["url_a"], "--api-key-file", str(servers["keys"] / "a.key")
    )
    async with PluginHost(data_dir) as host:
        [card] = await host.lookup([MATRIX], ALICE)
        assert card.reason == NO_PROVIDER
        (data_dir / "config.toml").write_text('active = "jellyseerr"\n')

        async def answers_with_jellyseerr() -> bool:
            [card] = await host.lookup([MATRIX], ALICE)
            return card.state is RequestState.REQUESTABLE

        await eventually(answers_with_jellyseerr, "read the edited config.toml")


async def test_writes_that_do_not_change_settings_rebuild_nothing_and_checks_are_cheap(
    servers, data_dir, monkeypatch
):
    await cli(
        "configure", "jellyseerr", "--url", servers["url_a"], "--api-key-file", str(servers["keys"] / "a.key")
    )
    await cli("use", "jellyseerr")
    async with PluginHost(data_dir) as host:
        await host.lookup([MATRIX], ALICE)
        context = host._contexts["jellyseerr"]
        reads: list[str] = []
        get = host.settings.get
        monkeypatch.setattr(host.settings, "get", lambda name: reads.append(name) or get(name))

        for _ in range(50):  # nothing changed: the change counter says so, no settings are read
            host.follow_changes(force=True)
        await host.lookup([MATRIX], ALICE)
        assert reads == []

        other = SettingsStore(data_dir)  # another process's kind of write: a cache entry
        other.cache_set("unrelated", {"n": 1})
        other.close()
        host.follow_changes(force=True)
        assert reads == ["jellyseerr"]  # read once, found unchanged
        await host.lookup([MATRIX], ALICE)
        assert host._contexts["jellyseerr"] is context  # the same context, the same HTTP pool
