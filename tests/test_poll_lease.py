"""One poller per provider and data directory: the poll lease, the event log, and each transition
broadcast exactly once across processes (issue 13, problem 5).

The multi-process tests run real ``aperture-plugins watch`` processes next to a host in the
test process, on one data directory, against the fake Jellyseerr over real HTTP. An observer
plugin, installed through the real entry-point path in every process, appends each transition
it hears (with its process id) to one file: across all processes, each transition must be
heard exactly once, be logged exactly once, and appear exactly once in every watch's output.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aperture_hookspecs import (
    ApertureUser,
    DownloadProgress,
    MediaRef,
    RequestOptions,
    RequestState,
    StatusChange,
    TrackedRequest,
)
from aperture_overseerr.testing import FakeSeerr
from aperture_plugins.admin import configure
from aperture_plugins.event_log import poll_lease_name, process_holder
from aperture_plugins.host import PluginHost
from aperture_plugins.store import SettingsStore

from .conftest import InstallDistribution

API_KEY = "FAKE-KEY-LEASE-0000"
HEARD_ENV = "APERTURE_TEST_HEARD"
EXIT_ENV = "APERTURE_TEST_EXIT_ON_HEARING"

HEARING_OBSERVER = f"""
    import json, os
    from aperture_hookspecs import hookimpl

    @hookimpl
    def aperture_status_changed(change):
        if os.environ.get("{EXIT_ENV}"):
            os._exit(7)  # killed as the broadcast begins: the change is logged, not delivered
        line = json.dumps({{
            "pid": os.getpid(),
            "request_id": change.request.request_id,
            "previous": change.previous.value,
            "current": change.current.value,
        }})
        with open(os.environ["{HEARD_ENV}"], "a", encoding="utf-8") as stream:
            stream.write(line + "\\n")
"""

Transition = tuple[str, str, str]


@dataclass
class World:
    fake: FakeSeerr
    url: str
    data_dir: Path
    heard: Path
    site: Path

    def host(self) -> PluginHost:
        return PluginHost(self.data_dir, only=frozenset({"jellyseerr", "heard"})).load()

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(self.site), os.environ.get("PYTHONPATH", "")]),
            "APERTURE_LOAD_PLUGINS": "jellyseerr,heard",
            **extra,
        }

    def logged(self) -> list[Transition]:
        store = SettingsStore(self.data_dir)
        try:
            return [transition(entry.change) for entry in store.events_after(0)]
        finally:
            store.close()

    def heard_lines(self) -> list[dict[str, Any]]:
        if not self.heard.exists():
            return []
        return [json.loads(line) for line in self.heard.read_text().splitlines()]

    def watch(self, *args: str, name: str) -> tuple[subprocess.Popen[str], Path]:
        """Start ``aperture-plugins watch --json ARGS`` (stderr to a file, read while it runs)."""
        errors = self.data_dir.parent / f"{name}.stderr"
        command = [
            str(Path(sys.executable).with_name("aperture-plugins")),
            "--data-dir",
            str(self.data_dir),
            "watch",
            "--json",
            *args,
        ]
        with errors.open("w") as stream:
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=stream, text=True, env=self.env()
            )
        return process, errors


def transition(change: StatusChange) -> Transition:
    return (change.request.request_id, change.previous.value, change.current.value)


def heard_transition(line: dict[str, Any]) -> Transition:
    return (line["request_id"], line["previous"], line["current"])


@pytest.fixture
def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, install_distribution: InstallDistribution
) -> Iterator[World]:
    site = install_distribution("aperture-heard", "aperture_heard", HEARING_OBSERVER, entry_name="heard")
    heard = tmp_path / "heard.jsonl"
    monkeypatch.setenv(HEARD_ENV, str(heard))
    fake = FakeSeerr("jellyseerr", api_key=API_KEY)
    fake.add_user("alice", jellyfin_username="alice")
    fake.add_title("movie", 603, "The Matrix")
    fake.add_title("tv", 1399, "Game of Thrones", seasons=3)
    with fake.serve() as url:
        yield World(fake, url, tmp_path / "data", heard, site)


async def configured_host(world: World) -> PluginHost:
    host = world.host()
    settings = {"url": world.url, "api_key": API_KEY, "progress_interval": 0}
    assert (await configure(host, "jellyseerr", settings)).saved
    host.use("jellyseerr")
    return host


async def until(condition: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def finish(process: subprocess.Popen[str], errors: Path) -> list[Transition]:
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, errors.read_text()
    return [(c["request_id"], c["previous"], c["current"]) for c in json.loads(out)]


# -- the multi-process scenario ------------------------------------------------------------------


async def test_a_running_host_and_two_watches_see_every_transition_exactly_once(world):
    """The host polls first; two watches show what it finds; the host stops, one watch takes over."""
    host = await configured_host(world)
    alice = ApertureUser("alice")
    movie = await host.submit_request(MediaRef.parse("movie:603"), alice)
    show = await host.submit_request(MediaRef.parse("tv:1399"), alice, RequestOptions(seasons=(1,)))
    movie_id, show_id = int(movie.request_id), int(show.request_id)

    async def poll_like_aperture() -> None:
        while True:
            await host.poll_tracked()
            await asyncio.sleep(0.2)

    poller = asyncio.create_task(poll_like_aperture())
    watches = []
    try:
        await until(lambda: world.logged() == [] and _lease_holder(world) == process_holder(), "the lease")
        watches = [world.watch("--interval", "1", name=f"watch{n}") for n in (1, 2)]
        for _, errors in watches:  # each watch found the lease held by the host, and says so
            await until(lambda errors=errors: "polls these requests" in errors.read_text(), "a watch")

        world.fake.approve(movie_id)  # found by the host, shown by both watches
        await until(lambda: len(world.logged()) == 1, "the approval")
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        await host.aclose()  # gives the lease up: a watch takes over
    world.fake.set_download(movie_id, fraction=0.5)
    await until(lambda: len(world.logged()) == 2, "the download")
    world.fake.decline(show_id)
    world.fake.mark_available(movie_id)
    outputs = [finish(process, errors) for process, errors in watches]

    expected = [
        (str(movie_id), "pending", "approved"),
        (str(movie_id), "approved", "processing"),
    ]
    logged = world.logged()
    assert logged[:2] == expected
    assert sorted(logged[2:]) == sorted(
        [(str(movie_id), "processing", "available"), (str(show_id), "pending", "declined")]
    )
    assert outputs == [logged, logged]  # each watch showed each transition once, in log order
    heard = world.heard_lines()
    assert Counter(map(heard_transition, heard)) == Counter(logged)  # broadcast once in all
    by_process = {heard_transition(line): line["pid"] for line in heard}
    assert by_process[expected[0]] == os.getpid()  # the host held the lease then
    assert by_process[expected[1]] in {process.pid for process, _ in watches}  # then a watch


async def test_two_watch_once_started_together_report_an_approval_once(world):
    host = await configured_host(world)
    result = await host.submit_request(MediaRef.parse("movie:603"), ApertureUser("alice"))
    await host.aclose()
    world.fake.db_latency = 0.05  # a cycle takes long enough for the two to overlap
    world.fake.approve(int(result.request_id))

    watches = [world.watch("--once", name=f"once{n}") for n in (1, 2)]
    outputs = [finish(process, errors) for process, errors in watches]

    approval = (result.request_id, "pending", "approved")
    assert [heard_transition(line) for line in world.heard_lines()] == [approval]  # broadcast once
    assert world.logged() == [approval]
    assert approval in outputs[0] + outputs[1]
    assert all(output.count(approval) <= 1 for output in outputs)
    notes = [errors.read_text() for _, errors in watches]
    assert sum("polls these requests" in note for note in notes) == 1  # the other one held it


async def test_a_holder_killed_while_broadcasting_is_made_good_by_the_next_holder(world):
    """The change is logged with the new state; the process dies before its observers hear it
    (``os._exit`` as the broadcast begins). The next holder broadcasts it before polling, once."""
    host = await configured_host(world)
    result = await host.submit_request(MediaRef.parse("movie:603"), ApertureUser("alice"))
    await host.aclose()
    world.fake.approve(int(result.request_id))
    crashing = await asyncio.to_thread(
        subprocess.run,
        [
            str(Path(sys.executable).with_name("aperture-plugins")),
            "--data-dir",
            str(world.data_dir),
            "watch",
            "--once",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=world.env(**{EXIT_ENV: "1"}),
    )
    assert crashing.returncode == 7, crashing.stderr
    approval = (result.request_id, "pending", "approved")
    assert world.logged() == [approval]
    assert world.heard_lines() == []  # the dying process delivered nothing

    host = world.host()
    first = await host.poll_tracked()  # takes over from the dead process at once
    second = await host.poll_tracked()
    await host.aclose()
    assert first.polled_by is None and first.changes == () and second.changes == ()
    assert [heard_transition(line) for line in world.heard_lines()] == [approval]  # once, here
    assert world.logged() == [approval]


def _lease_holder(world: World) -> str | None:
    store = SettingsStore(world.data_dir)
    try:
        lease = store.lease(poll_lease_name("jellyseerr"))
        return lease.holder if lease and lease.expires_at > time.time() else None
    finally:
        store.close()


# -- the lease and the log in one store ----------------------------------------------------------


def tracked(request_id: str, state: RequestState) -> TrackedRequest:
    return TrackedRequest(request_id, MediaRef.parse("movie:603"), ApertureUser("alice"), state)


def change(
    request_id: str, previous: RequestState, current: RequestState, at: datetime | None = None
) -> StatusChange:
    at = at or datetime.now(UTC)
    return StatusChange("jellyseerr", tracked(request_id, current), previous, current, at)


def test_a_held_lease_is_refused_to_others_until_released_or_expired(data_dir):
    store = SettingsStore(data_dir)
    first = store.acquire_lease("poll:x", "1@elsewhere", 60)
    assert first.held_by("1@elsewhere") and first.taken_over
    assert store.acquire_lease("poll:x", "1@elsewhere", 60).taken_over is False  # a renewal
    refused = store.acquire_lease("poll:x", "2@elsewhere", 60)
    assert refused.holder == "1@elsewhere" and not refused.held_by("2@elsewhere")
    store.release_lease("poll:x", "2@elsewhere")  # not theirs to give up: nothing happens
    assert not store.acquire_lease("poll:x", "2@elsewhere", 60).held_by("2@elsewhere")
    store.release_lease("poll:x", "1@elsewhere")
    assert store.acquire_lease("poll:x", "2@elsewhere", 0.01).held_by("2@elsewhere")
    time.sleep(0.02)  # 2 stopped renewing: its lease ran out
    assert store.acquire_lease("poll:x", "1@elsewhere", 60).taken_over


def test_the_lease_of_a_process_that_is_gone_is_taken_at_once(data_dir):
    store = SettingsStore(data_dir)
    store.close()
    gone = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from aperture_plugins.store import SettingsStore; "
            "from aperture_plugins.event_log import process_holder; "
            "SettingsStore(Path(sys.argv[1])).acquire_lease('poll:x', process_holder(), 3600); "
            "print(process_holder())",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert SettingsStore(data_dir).lease("poll:x").holder == gone
    assert SettingsStore(data_dir).acquire_lease("poll:x", process_holder(), 60).taken_over
    # a live process of this machine keeps it (this one, seen from another holder name)
    store = SettingsStore(data_dir)
    alive = f"{os.getppid()}@{process_holder().split('@', 1)[1]}"
    store.release_lease("poll:x", process_holder())
    store.acquire_lease("poll:x", alive, 3600)
    assert not store.acquire_lease("poll:x", process_holder(), 60).held_by(process_holder())


def test_a_transition_saved_by_another_poller_first_is_logged_once(data_dir):
    """Two pollers that overlap (a lease that ran out mid-cycle) both found the approval."""
    first, second = SettingsStore(data_dir), SettingsStore(data_dir)
    first.save_tracked("jellyseerr", [tracked("1", RequestState.PENDING)])
    found = change("1", RequestState.PENDING, RequestState.APPROVED)
    logged = first.record_cycle("jellyseerr", [found.request], [found])
    again = second.record_cycle("jellyseerr", [found.request], [found])
    assert [entry.change for entry in logged] == [found] and again == []
    assert [entry.id for entry in second.events_after(0)] == [logged[0].id]
    [(_, saved)] = second.tracked("jellyseerr")
    assert saved.state is RequestState.APPROVED


def test_progress_read_for_an_older_state_does_not_overwrite_a_newer_one(data_dir):
    store = SettingsStore(data_dir)
    store.save_tracked("jellyseerr", [tracked("1", RequestState.AVAILABLE)])
    stale = TrackedRequest(
        "1",
        MediaRef.parse("movie:603"),
        ApertureUser("alice"),
        RequestState.PROCESSING,
        progress=DownloadProgress(0.5),
    )
    assert store.record_cycle("jellyseerr", [stale], []) == []
    [(_, saved)] = store.tracked("jellyseerr")
    assert (saved.state, saved.progress) == (RequestState.AVAILABLE, None)


def test_the_event_log_keeps_an_hour_and_a_bounded_number_and_never_reuses_ids(data_dir):
    store = SettingsStore(data_dir)
    store.event_retention_count = 3
    store.save_tracked("jellyseerr", [tracked(str(n), RequestState.PENDING) for n in range(6)])
    old = change("0", RequestState.PENDING, RequestState.APPROVED, at=datetime.now(UTC) - timedelta(hours=2))
    store.record_cycle("jellyseerr", [old.request], [old])
    assert store.events_after(0) == []  # older than an hour: pruned at once
    ids = []
    for n in range(1, 6):
        found = change(str(n), RequestState.PENDING, RequestState.APPROVED, at=datetime.now(UTC))
        ids += [entry.id for entry in store.record_cycle("jellyseerr", [found.request], [found])]
    assert ids == sorted(ids) and len(set(ids)) == 5
    kept = store.events_after(0)
    assert [entry.id for entry in kept] == ids[-3:]
    assert [entry.change.request.request_id for entry in kept] == ["3", "4", "5"]
    assert store.last_event_id() == ids[-1]
    assert store.events_after(ids[-2]) == kept[-1:]  # resuming after a seen id
    assert kept[-1].to_dict()["event_id"] == ids[-1]
    assert kept[-1].change == change("5", RequestState.PENDING, RequestState.APPROVED, at=kept[-1].change.at)
