"""``aperture-plugins demo``: the whole Request Flow, for real, on an embedded default.

It starts the fake Seerr server (Jellyseerr flavour, shipped as ``aperture_overseerr.testing``)
on 127.0.0.1 on a free port, in a temporary data directory, and then does what an admin and
two users would do, through the same code paths as production:

1. configure the Jellyseerr provider with ``configure`` (Test Connection, then Save: the API
   key is stored encrypted) and make it active;
2. map users: one automatically by username, one by media-server id, one by hand, and one
   that cannot be mapped (two candidates), with the reason;
3. show a Discovery page of a dozen titles for two users, with their badges and reasons;
4. request a movie and a TV season as a user without auto-approve (Pending);
5. serve Aperture's HTTP surface on 127.0.0.1 and set the server's webhook to it
   (``webhook install``: the server's test notification must arrive);
6. approve them on the server, let the fake "download" them (progress bar), mark them
   available, polling all along; an observer plugin prints each status change as it is
   broadcast, **with the path it came by**: the approvals and the arrivals by push within
   milliseconds, the download progress by poll (no push carries it), ending with "available
   for recommendations" and a count of each path.

Deterministic, a few seconds; stops the server and deletes the directory unless
``keep`` is set. :func:`run_demo` returns the sequence of states it went through (the tests
check it).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from aperture_hookspecs import (
    ApertureUser,
    MediaRef,
    RequestOptions,
    RequestState,
    StatusChange,
    TrackedRequest,
    hookimpl,
)

from . import admin, render, webhook_admin
from .host import PluginHost

PROVIDER = "jellyseerr"
DEMO_API_KEY = "FAKE-DEMO-KEY-0000-not-a-real-key"

TITLES: tuple[tuple[str, int, str, int], ...] = (
    ("movie", 603, "The Matrix", 0),
    ("movie", 27205, "Inception", 0),
    ("movie", 155, "The Dark Knight", 0),
    ("movie", 157336, "Interstellar", 0),
    ("movie", 438631, "Dune", 0),
    ("movie", 680, "Pulp Fiction", 0),
    ("movie", 13, "Forrest Gump", 0),
    ("movie", 550, "Fight Club", 0),
    ("tv", 1399, "Game of Thrones", 8),
    ("tv", 1396, "Breaking Bad", 5),
    ("tv", 66732, "Stranger Things", 4),
    ("tv", 94997, "House of the Dragon", 2),
)
NAMES = {(kind, tmdb): name for kind, tmdb, name, _ in TITLES}


@dataclass
class DemoRecord:
    """What the demo went through, for the tests and for the final summary."""

    server_url: str = ""
    data_dir: str = ""
    states: list[tuple[str, RequestState]] = field(default_factory=list)
    """``(title reference, state)`` in the order they happened: the submit answers, then each change."""
    events: list[StatusChange] = field(default_factory=list)


class EventPrinter:
    """A plugin that observes ``aperture_status_changed`` and prints each transition."""

    def __init__(self, console: Console, record: DemoRecord) -> None:
        self.console = console
        self.record = record

    @hookimpl
    def aperture_status_changed(self, change: StatusChange) -> None:
        self.record.events.append(change)
        self.record.states.append((str(change.request.item), change.current))
        name = NAMES.get((change.request.item.media_type.value, change.request.item.tmdb_id), "?")
        line = render.badge(change.current)
        line.append(f"  {name} ({change.request.item}) for {change.request.user.name}: ")
        line.append(f"{change.previous.label} → {change.current.label}")
        line.append(f"  (by {change.source})", style="bold cyan" if change.source == "push" else "dim")
        if change.current is RequestState.AVAILABLE:
            line.append(" — available for recommendations", style="bold")
        self.console.print(line, soft_wrap=True)


def seed(fake: Any) -> dict[str, int]:
    """The demo's server: users, titles and a media table with every kind of badge."""
    for kind, tmdb, name, seasons in TITLES:
        fake.add_title(kind, tmdb, name, seasons=seasons)
    ids = {
        "alice": fake.add_user("alice", jellyfin_username="Alice"),
        "bruno": fake.add_user(
            "bruno", jellyfin_username="Bruno", jellyfin_user_id="5b0e2c1a-9f4d-4e0b-a8a1-0c5d3e7f9b21"
        ),
        "carmen": fake.add_user("caroline", jellyfin_username="Caroline", email="caroline@example.invalid"),
        "dana-1": fake.add_user("dana", email="dana@example.invalid"),
        "dana-2": fake.add_user(None, jellyfin_username="DANA", email="dana2@example.invalid"),
        "eve": fake.add_user("eve", movie_quota_limit=2, movie_quota_days=7),
    }
    fake.add_media("movie", 27205, status=5)  # Inception: Available
    fake.add_media("tv", 1396, status=4, season_statuses={1: 5, 2: 5, 3: 5, 4: 1, 5: 1})  # partial
    fake.blocklist("movie", 680)  # Pulp Fiction: blocklisted
    eve = fake.users[ids["eve"]]
    fake.create_request(eve, {"mediaType": "movie", "mediaId": 13, "is4k": False})  # Forrest Gump: pending
    declined = fake.create_request(eve, {"mediaType": "movie", "mediaId": 550, "is4k": False})
    fake.decline(declined.id)  # Fight Club: declined (does not count against the quota)
    fake.create_request(
        eve, {"mediaType": "movie", "mediaId": 438631, "is4k": False}
    )  # Dune: quota now used up
    downloading = fake.create_request(
        fake.users[ids["alice"]], {"mediaType": "tv", "mediaId": 66732, "is4k": False, "seasons": [1]}
    )
    fake.approve(downloading.id)
    fake.set_download(downloading.id, fraction=0.35)
    return ids


def _users(ids: dict[str, int]) -> list[ApertureUser]:
    return [
        ApertureUser("alice"),  # same username: automatic
        ApertureUser("bruno.m", media_server_id="5B0E2C1A9F4D4E0BA8A10C5D3E7F9B21"),  # by media-server id
        ApertureUser("carmen"),  # manual map to "caroline"
        ApertureUser("Dana"),  # two candidates: unmapped, never a guess
        ApertureUser("eve"),
    ]


async def run_demo(console: Console, *, keep: bool = False, step_delay: float = 0.3) -> DemoRecord:
    """Run the demo (see the module docstring); returns what it went through."""
    from aperture_overseerr.testing import FakeSeerr  # the demo's embedded server

    record = DemoRecord()
    with ExitStack() as stack:
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="aperture-demo-"))
        fake = FakeSeerr("jellyseerr", api_key=DEMO_API_KEY)
        ids = seed(fake)
        url = stack.enter_context(fake.serve())
        record.server_url, record.data_dir = url, data_dir
        console.rule("[bold]Aperture request providers — demo")
        console.print(f"Fake Jellyseerr 2.7.3 serving on {url}", soft_wrap=True)
        console.print("Temporary data directory:")
        console.print(data_dir, soft_wrap=True)

        host = PluginHost(data_dir, only=frozenset({PROVIDER})).load()
        host.register(EventPrinter(console, record), "demo-event-printer", origin="demo")
        try:
            await _flow(console, host, fake, ids, record, step_delay)
        finally:
            await host.aclose()
        if keep:
            _keep_running(console, url, data_dir, stack)
    return record


async def _flow(
    console: Console, host: PluginHost, fake: Any, ids: dict[str, int], record: DemoRecord, delay: float
) -> None:
    console.rule("1 · Admin: configure Jellyseerr (Test Connection, then Save)")
    outcome = await admin.configure(
        host, PROVIDER, {"url": record.server_url, "api_key": DEMO_API_KEY, "progress_interval": 0}
    )
    if outcome.report is not None:
        console.print(render.connection_report(outcome.report))
    console.print(
        f"Saved: {outcome.saved}; the API key is stored encrypted and shown as {outcome.settings['api_key']}"
    )
    host.use(PROVIDER)

    console.rule("2 · Admin: map users")
    await admin.map_user(host, ApertureUser("carmen"), "caroline")
    users = _users(ids)
    console.print(render.mappings_table(await host.map_users(users)))

    console.rule("3 · Discovery: the same page for two users")
    page = [MediaRef.parse(f"{kind}:{tmdb}") for kind, tmdb, _, _ in TITLES]
    for user in (users[0], users[4]):
        answers = await host.lookup(page, user)
        console.print(render.availability_table("Jellyseerr", user.name, answers, names=NAMES))

    console.rule("4 · alice requests a movie and one season of a series")
    alice = users[0]
    movie = await host.submit_request(MediaRef.parse("movie:157336"), alice)
    show = await host.submit_request(MediaRef.parse("tv:1399"), alice, RequestOptions(seasons=(1,)))
    for result in (movie, show):
        console.print(
            render.badge(result.state), f" {NAMES[(result.item.media_type.value, result.item.tmdb_id)]}"
        )
        record.states.append((str(result.item), result.state))

    async def poll() -> list[TrackedRequest]:
        """One polling cycle over the requests the host tracks in its store; returns them."""
        return list((await host.poll_tracked(PROVIDER)).tracked)

    await poll()
    console.rule("5 · Admin: let the server push its changes to Aperture")
    async with _serving(host) as public_url:
        report = await webhook_admin.install(host, PROVIDER, public_url)
        console.print(render.webhook_report(report.to_dict()))
        await _the_server_works(console, host, fake, record, movie, show, poll, delay)
    pushed = sum(1 for change in record.events if change.source == "push")
    console.print(
        f"{pushed} change(s) came by push, {len(record.events) - pushed} by poll "
        "(download progress is only polled: no push carries it)."
    )
    console.rule("Done")
    console.print(
        "Requested as alice (X-Api-User), approved by the admin, downloaded, found in the library: "
        "available for recommendations."
    )


@contextlib.asynccontextmanager
async def _serving(host: PluginHost) -> AsyncIterator[str]:
    """Aperture's HTTP surface on a free loopback port, in this event loop; yields its URL."""
    import uvicorn

    from .web import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio sets TCP_NODELAY
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(host), log_level="warning", lifespan="on", loop="asyncio")
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]), name="demo-http")
    try:
        while not server.started:
            if task.done():
                task.result()  # uvicorn could not start: say why
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def _the_server_works(
    console: Console,
    host: PluginHost,
    fake: Any,
    record: DemoRecord,
    movie: Any,
    show: Any,
    poll: Callable[[], Awaitable[list[TrackedRequest]]],
    delay: float,
) -> None:
    """Approve, download, mark available: pushes bring the approvals and arrivals, polls the rest."""
    console.rule("6 · The admin approves; Radarr/Sonarr download; the library scan finds them")

    def reached(state: RequestState) -> Callable[[], bool]:
        def check() -> bool:
            seen = {(c.request.request_id, c.current) for c in record.events}
            return all((r.request_id, state) in seen for r in (movie, show))

        return check

    for result in (movie, show):
        fake.approve(int(result.request_id))
    await _until(reached(RequestState.APPROVED))  # the pushes; a poll is the safety net
    tracked = await poll()
    with _progress(console) as progress:
        tasks = {
            r.request_id: progress.add_task(NAMES[(r.item.media_type.value, r.item.tmdb_id)], total=100)
            for r in tracked
        }
        for fraction in (0.2, 0.55, 0.9):
            for result in (movie, show):
                fake.set_download(
                    int(result.request_id), fraction=fraction, eta=datetime.now(UTC) + timedelta(minutes=5)
                )
            tracked = await poll()
            for request in tracked:
                if request.progress and request.progress.fraction is not None:
                    progress.update(
                        tasks[request.request_id], completed=round(request.progress.fraction * 100)
                    )
            await asyncio.sleep(delay)
        for task in tasks.values():
            progress.update(task, completed=100)
    for result in (movie, show):
        fake.mark_available(int(result.request_id))
    await _until(reached(RequestState.AVAILABLE))
    await poll()


def _progress(console: Console) -> Any:
    if console.is_terminal:
        return Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), console=console)
    return _PlainProgress(console)


class _PlainProgress:
    """Progress as plain lines when stdout is not a terminal (no control characters)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._names: dict[int, str] = {}
        self._shown: dict[int, int] = {}

    def __enter__(self) -> _PlainProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def add_task(self, description: str, total: int) -> int:
        task = len(self._names)
        self._names[task] = description
        return task

    def update(self, task: int, completed: int) -> None:
        if self._shown.get(task) != completed:
            self._shown[task] = completed
            self.console.print(f"{self._names[task]}: {completed}% downloaded")


def _keep_running(console: Console, url: str, data_dir: str, stack: ExitStack) -> None:
    """``--keep``: leave the server and the data directory until Ctrl-C."""
    console.rule("Still running (--keep)")
    console.print(f"The fake Jellyseerr serves on {url}. In another shell:")
    console.print(f"  export APERTURE_DATA_DIR={data_dir}", soft_wrap=True)
    console.print("  aperture-plugins providers\n  aperture-plugins lookup movie:603 tv:1399 --user alice")
    console.print("  aperture-plugins users --user alice --user eve\nPress Ctrl-C to stop.")
    stopped = threading.Event()
    try:
        stopped.wait()
    except KeyboardInterrupt:
        console.print("Stopping.")
