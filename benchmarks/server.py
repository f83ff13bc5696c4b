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

The pipe commands: ``mark`` (number of calls so far), ``calls`` (calls since a mark, as
``(method, path, kind)``), ``tmdb_rps`` (the throttle), ``approve`` (approve request ids, as an
admin would), ``stop``.
"""

from __future__ import annotations

import http.server
import multiprocessing
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from aperture_overseerr.testing.fake_routes import classify_kind, strip_prefix

from .world import Latency, seed


@dataclass(frozen=True)
class ServerSpec:
    """What the child seeds and how it answers."""

    rows: int
    users: int
    requests: int
    unseen: int
    latency: Latency
    tmdb_rps: float = 0.0
    flavour: str = "jellyseerr"


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
        flavour=spec.flavour,
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
                else:
                    conn.send(ValueError(f"unknown command {command!r}"))
    conn.close()


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
