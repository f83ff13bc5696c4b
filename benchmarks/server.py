"""The fake server in its own process, over real HTTP on 127.0.0.1, driven through a pipe.

A real Jellyseerr runs in another process (usually on another machine), so the benchmark does
not let the fake's Python work (sorting and serialising thousands of rows per page) share the
client's interpreter lock: :class:`RemoteFake` starts a child process that seeds the same world
(:func:`benchmarks.world.seed` is deterministic) and serves it with ``FakeSeerr.serve()``. The
client's CPU time (``time.process_time`` in the parent) is then the client's alone.

Two adjustments model the real server and are kept out of the fake itself:

* ``TCP_NODELAY`` on the server's sockets. The fake's handler writes the headers and the body in
  two ``send`` calls; with Nagle's algorithm on, the body waits for the client's delayed ACK
  (~40 ms on Linux) on every call, which would add 40 ms to each call of both the provider and
  the naive baseline. Node's HTTP server (what Jellyseerr runs on) sets ``noDelay`` by default.
* a listen backlog of 511 (Node's default) instead of ``socketserver``'s 5: with 5, a burst of
  new connections (50 users at once) overflows the accept queue and the kernel makes clients
  retry their SYN after a second.
* the server's TMDB throttle (axios-rate-limit, 50 requests per second; notes §6), switched on
  only for the second naive baseline (``set_tmdb_rps``); every other scenario runs without it.

The server is any :class:`~benchmarks.flavours.Flavour` (product, release, frozen or moving
``updatedAt``): ``ServerSpec.flavour``.

The pipe commands: ``mark`` (number of calls so far), ``calls`` (calls since a mark, as
``(method, path, kind)``), ``tmdb_rps`` (the throttle), ``approve`` (approve request ids, as an
admin would), ``advance`` (move the server's clock on, seconds), ``change`` (one change as the
server's web site, an admin or a library scan makes it, see :func:`apply_change`; answers the
``time.monotonic()`` at which it was made, a clock the parent shares on Linux), ``stop``.
"""

from __future__ import annotations

import http.server
import multiprocessing
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection
from typing import Any

from aperture_overseerr.testing import FakeSeerr
from aperture_overseerr.testing.fake_flavours import MEDIA_AVAILABLE
from aperture_overseerr.testing.fake_routes import classify_kind, strip_prefix
from aperture_plugins import PluginHost

from .flavours import Flavour
from .world import Latency, make_host, seed


@dataclass(frozen=True)
class ServerSpec:
    """What the child seeds and how it answers."""

    rows: int
    users: int
    requests: int
    unseen: int
    latency: Latency
    flavour: Flavour
    tmdb_rps: float = 0.0
    #: only requested titles are in flight (``world.seed(settle=True)``)
    settle: bool = False


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    kind: str


class _Throttle:
    """At most ``rps`` TMDB-backed answers per second, like the server's outgoing TMDB limiter."""

    def __init__(self, rps: float) -> None:
        self.rps = rps
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + 1.0 / self.rps
        if start > now:
            time.sleep(start - now)


def _child(conn: Connection, spec: ServerSpec) -> None:
    http.server.BaseHTTPRequestHandler.disable_nagle_algorithm = True
    http.server.ThreadingHTTPServer.request_queue_size = 511
    world = seed(
        spec.rows,
        latency=spec.latency,
        users=spec.users,
        requests=spec.requests,
        unseen=spec.unseen,
        flavour=spec.flavour.product,
        version=spec.flavour.version,
        frozen_updated_at=spec.flavour.frozen_updated_at,
        settle=spec.settle,
    )
    fake = world.fake
    throttle = _Throttle(spec.tmdb_rps)
    plain_latency = fake._latency

    def throttled_latency(request: Any) -> float:
        if throttle.rps > 0 and classify_kind(request.method, strip_prefix(request.url.path)) == "tmdb":
            throttle.wait()
        return plain_latency(request)

    fake._latency = throttled_latency  # type: ignore[method-assign]
    with fake.serve() as url:
        conn.send(url)
        while True:
            command, *args = conn.recv()
            if command == "stop":
                break
            with fake._lock:
                if command == "mark":
                    conn.send(len(fake.calls))
                elif command == "calls":
                    conn.send([(c.method, c.path, c.kind) for c in fake.calls[args[0] :]])
                elif command == "tmdb_rps":
                    throttle.rps = float(args[0])
                    conn.send(None)
                elif command == "approve":
                    for request_id in args[0]:
                        fake.approve(request_id)
                    conn.send(None)
                elif command == "advance":
                    fake.advance(timedelta(seconds=float(args[0])))
                    conn.send(None)
                elif command == "change":
                    try:
                        apply_change(fake, tuple(args[0]))
                    except Exception as error:  # the parent raises it (as a picklable error)
                        conn.send(RuntimeError(f"the server refused {args[0]!r}: {error!r}"))
                    else:
                        conn.send(time.monotonic())
                else:
                    conn.send(ValueError(f"unknown command {command!r}"))
    conn.close()


def apply_change(fake: FakeSeerr, change: tuple[Any, ...]) -> None:
    """One change made on the server itself, not through Aperture:

    * ``("approve", request_id)``, ``("decline", request_id)``: an admin on the server's web site;
    * ``("progress", request_id, fraction)``: Radarr/Sonarr's queue as the download-sync job reads it;
    * ``("arrive", request_id)``: a library scan finds the request's media (its seasons, for TV);
    * ``("scan", media_type, tmdb_id)``: a library scan finds a title nobody requested (a new
      media row, or a row the server knew as unknown), every season of a show;
    * ``("request", user_id, media_type, tmdb_id)``: a user files a request on the web site
      (every season of a show).
    """
    kind, *args = change
    if kind == "approve":
        fake.approve(int(args[0]))
    elif kind == "decline":
        fake.decline(int(args[0]))
    elif kind == "progress":
        fake.set_download(int(args[0]), fraction=float(args[1]))
    elif kind == "arrive":
        fake.mark_available(int(args[0]))
    elif kind == "scan":
        media_type, tmdb_id = str(args[0]), int(args[1])
        title = fake.titles[(media_type, tmdb_id)]
        seasons = {n: MEDIA_AVAILABLE for n in range(1, title.seasons + 1)} if media_type == "tv" else None
        fake.add_media(media_type, tmdb_id, status=MEDIA_AVAILABLE, season_statuses=seasons)  # type: ignore[arg-type]
    elif kind == "request":
        user_id, media_type, tmdb_id = int(args[0]), str(args[1]), int(args[2])
        body: dict[str, Any] = {"mediaType": media_type, "mediaId": tmdb_id, "is4k": False}
        if media_type == "tv":
            body["seasons"] = list(range(1, fake.titles[(media_type, tmdb_id)].seasons + 1))
        fake.create_request(fake.users[user_id], body)
    else:
        raise ValueError(f"unknown change {kind!r}")


class RemoteFake:
    """The parent's handle on the child process (use as a context manager)."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.api_key = "FAKE-API-KEY-0000"
        context = multiprocessing.get_context("spawn")
        self._conn, child_end = context.Pipe()
        self._process = context.Process(target=_child, args=(child_end, spec), name="fake-seerr", daemon=True)
        self.url = ""

    def __enter__(self) -> RemoteFake:
        self._process.start()
        self.url = self._ask()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._conn.send(("stop",))
        finally:
            self._process.join(timeout=30)
            if self._process.is_alive():
                self._process.terminate()

    def _ask(self, *message: Any) -> Any:
        if message:
            self._conn.send(message)
        answer = self._conn.recv()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def mark(self) -> int:
        return self._ask("mark")

    def calls_since(self, mark: int) -> list[Call]:
        return [Call(*row) for row in self._ask("calls", mark)]

    def set_tmdb_rps(self, rps: float) -> None:
        """Throttle TMDB-backed answers to ``rps`` per second (0 = no throttle)."""
        self._ask("tmdb_rps", rps)

    def approve(self, request_ids: list[int]) -> None:
        self._ask("approve", request_ids)

    def advance(self, seconds: float) -> None:
        """Move the server's clock ``seconds`` on (its ``updatedAt`` stamps follow)."""
        self._ask("advance", seconds)

    def change(self, change: tuple[Any, ...]) -> float:
        """Make one change on the server (:func:`apply_change`); returns when it was made
        (``time.monotonic()``)."""
        return float(self._ask("change", change))

    def host(self, **settings: object) -> PluginHost:
        """A fresh host whose provider talks to this server (the provider for its product)."""
        return make_host(self.url, self.api_key, product=self.spec.flavour.product, **settings)
