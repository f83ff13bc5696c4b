"""The receiving side of the push benchmark: a host with a real store, serving its HTTP surface
over uvicorn on 127.0.0.1, and a Server-Sent Events client of ``GET /events``.

:func:`serving_host` builds a :class:`~aperture_plugins.PluginHost` on a temporary data directory
(the real SQLite store: the API key and the webhook secret encrypted, the tracked requests, the
event log), registers the Seerr-family provider for the server's product, configures it, tracks
the given requests, creates an API token, and serves ``create_app(host)`` with uvicorn in a
background thread (the approach of ``tests/web_server.py``: the socket bound first, the server's
own event loop, :meth:`ServedHost.call` runs a coroutine there so the host is only ever used from
that loop). Nothing polls: what reaches ``/events`` came by push.

The socket is bound by ``serve``'s own :func:`aperture_plugins.serve.bind` and uvicorn is configured
as ``serve`` configures it (no access log). That matters: asyncio switches Nagle's algorithm off
(``TCP_NODELAY``) only on sockets whose protocol is ``IPPROTO_TCP``, which ``getaddrinfo`` gives
and ``socket.socket(AF_INET, SOCK_STREAM)`` does not (protocol 0); on such a socket every answer
uvicorn writes in two parts (head, body) waits for the client's delayed ACK, about 40 ms.

:class:`EventReader` reads ``/events`` with httpx in a thread of its own and stamps each message
with ``time.monotonic()`` the moment its blank line arrived, the way a browser's ``EventSource``
dispatches it.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from aperture_hookspecs import ProviderInfo, TrackedRequest
from aperture_overseerr import SEERR_CAPABILITIES, SeerrProvider
from aperture_plugins import PluginHost
from aperture_plugins.serve import bind
from aperture_plugins.store import SettingsStore
from aperture_plugins.web import create_app
from aperture_plugins.web.metrics import Metrics

_T = TypeVar("_T")


@dataclass
class ServedHost:
    """The running host: its base URL, provider name, API token, the server's loop, the app's metrics."""

    url: str
    host: PluginHost
    provider: str
    token: str
    loop: asyncio.AbstractEventLoop
    data_dir: Path
    metrics: Metrics

    def call(self, coroutine: Coroutine[Any, Any, _T], timeout: float = 120.0) -> _T:
        """Run ``coroutine`` in the server's loop (where the host lives) and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def provider_name(product: str) -> str:
    """The provider a server of ``product`` is used through (as :func:`benchmarks.world.make_host`)."""
    return "overseerr" if product == "overseerr" else "jellyseerr"


def _host(
    data_dir: Path, url: str, api_key: str, product: str, tracked: Sequence[TrackedRequest]
) -> PluginHost:
    name = provider_name(product)
    provider = SeerrProvider(
        ProviderInfo(name=name, title=name.capitalize(), version="bench", capabilities=SEERR_CAPABILITIES)
    )
    host = PluginHost(data_dir, load_entry_points=False).load()
    host.register(provider, name)
    host.use(name)
    host.set_settings(name, {"url": url, "api_key": api_key})
    store = host.settings
    assert isinstance(store, SettingsStore)
    store.save_tracked(name, list(tracked))
    return host


@contextmanager
def serving_host(
    url: str, api_key: str, product: str, tracked: Sequence[TrackedRequest]
) -> Iterator[ServedHost]:
    """A host on a fresh data directory serving its HTTP surface until the block ends."""
    with tempfile.TemporaryDirectory(prefix="aperture-bench-push-") as directory:
        data_dir = Path(directory)
        host = _host(data_dir, url, api_key, product, tracked)
        token = host.push_store().create_api_token("benchmark")
        app = create_app(host)
        sock = bind("127.0.0.1", 0)  # as ``serve`` binds it (its protocol is TCP: see the module docstring)
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            loop="asyncio",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        loops: list[asyncio.AbstractEventLoop] = []
        failures: list[BaseException] = []

        def run() -> None:
            async def main() -> None:
                loops.append(asyncio.get_running_loop())
                await server.serve(sockets=[sock])

            try:
                asyncio.run(main())
            except BaseException as error:  # raised in the benchmark's thread below
                failures.append(error)

        thread = threading.Thread(target=run, name="aperture-uvicorn", daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 30
            while not server.started and not failures and thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.02)
            if not server.started:
                raise RuntimeError(f"uvicorn did not start: {failures or 'it did not come up'}")
            served = ServedHost(
                f"http://127.0.0.1:{port}",
                host,
                provider_name(product),
                token,
                loops[0],
                data_dir,
                app.state.aperture.metrics,
            )
            try:
                yield served
            finally:
                served.call(host.aclose())
        finally:
            server.should_exit = True
            thread.join(timeout=30)
            sock.close()
        if failures:
            raise failures[0]


@dataclass
class Arrival:
    """One SSE message as the client dispatched it."""

    at: float
    id: int | None
    event: str | None
    data: dict[str, Any] | None


@dataclass
class EventReader:
    """``GET /events`` read in a background thread; :meth:`wait_for` finds an arrival."""

    url: str
    headers: dict[str, str]
    arrivals: list[Arrival] = field(default_factory=list)
    condition: threading.Condition = field(default_factory=threading.Condition)
    error: BaseException | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _connected: threading.Event = field(default_factory=threading.Event)

    def start(self, timeout: float = 10.0) -> EventReader:
        self._thread = threading.Thread(target=self._read, name="bench-sse-client", daemon=True)
        self._thread.start()
        if not self._connected.wait(timeout):
            raise RuntimeError(f"the /events stream did not open: {self.error!r}")
        return self

    def _read(self) -> None:
        headers = {"Accept": "text/event-stream", **self.headers}
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(10.0, read=None)) as client,
                client.stream("GET", self.url, headers=headers) as response,
            ):
                response.raise_for_status()
                fields: dict[str, str] = {}
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line:
                        name, _, value = line.partition(":")
                        if name:
                            fields[name] = value.removeprefix(" ")
                        continue
                    if not fields:
                        continue
                    arrival = Arrival(
                        time.monotonic(),
                        int(fields["id"]) if fields.get("id", "").isdigit() else None,
                        fields.get("event"),
                        json.loads(fields["data"]) if "data" in fields else None,
                    )
                    fields = {}
                    with self.condition:
                        self.arrivals.append(arrival)
                        self.condition.notify_all()
                    self._connected.set()  # the first message is the stream's retry/id
        except BaseException as error:  # reported by wait_for
            if not self._stop.is_set():
                self.error = error
        finally:
            self._connected.set()
            with self.condition:
                self.condition.notify_all()

    def position(self) -> int:
        with self.condition:
            return len(self.arrivals)

    def wait_for(
        self, matches: Callable[[Arrival], bool], since: int, timeout: float
    ) -> tuple[Arrival | None, int]:
        """The first arrival from position ``since`` on that ``matches`` (None after ``timeout``),
        and the position after it."""
        deadline = time.monotonic() + timeout
        with self.condition:
            position = since
            while True:
                while position < len(self.arrivals):
                    arrival = self.arrivals[position]
                    position += 1
                    if matches(arrival):
                        return arrival, position
                left = deadline - time.monotonic()
                if left <= 0 or self.error is not None:
                    return None, position
                self.condition.wait(left)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=0.1)  # blocked in a read: a daemon, it ends with the server
