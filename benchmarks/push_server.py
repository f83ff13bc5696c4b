"""The fake server for the push benchmark: :class:`PushFake`, a :class:`~benchmarks.server.RemoteFake`
whose child also answers for its webhook agent.

The child seeds the same world as the other scenarios (:func:`benchmarks.world.seed`) and serves it
the same way (``TCP_NODELAY``, a listen backlog of 511, the injected latency; see
:mod:`benchmarks.server`). Its Webhook notification agent is the fake's own: Aperture's provider
sets it up over the server's settings API (``webhook install``), and every transition made here
(:func:`benchmarks.server.apply_change`) makes the agent POST its delivery from the child, in the
background, as the real server does.

The pipe commands besides ``stop``:

* ``transition``: one change (``("approve", id)``, ``("decline", id)``, ``("arrive", id)``);
  answers the ``time.monotonic()`` read just *before* the change was made (the start of the
  benchmark's measurement: the clock is the same in every process on Linux) and how many
  webhook deliveries left the child before it;
* ``deliveries``: the deliveries since a position, as ``(notification_type, body, ok, error)``
  (the load generator replays their bodies);
* ``unannounced``: changes made with every delivery they cause dropped (``drop_next``), answering
  the dropped deliveries: real notices of real transitions that the receiver has not heard of (the
  load generator sends them);
* ``wait``: wait until no delivery is queued or waiting for its answer (``wait_for_deliveries``).
"""

from __future__ import annotations

import http.server
import multiprocessing
import time
from multiprocessing.connection import Connection
from typing import Any

from .server import RemoteFake, ServerSpec, apply_change
from .world import seed


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
    with fake.serve() as url:
        conn.send(url)
        while True:
            command, *args = conn.recv()
            if command == "stop":
                break
            try:
                conn.send(_answer(fake, command, args))
            except Exception as error:  # the parent raises it (as a picklable error)
                conn.send(RuntimeError(f"the server refused {command} {args!r}: {error!r}"))
    conn.close()


def _answer(fake: Any, command: str, args: list[Any]) -> Any:
    if command == "transition":
        with fake._lock:
            sent_before = len(fake.webhook_deliveries)
            started = time.monotonic()
            apply_change(fake, tuple(args[0]))
        return started, sent_before
    if command == "unannounced":
        faults = fake.webhook_faults
        with fake._lock:
            start = len(faults.dropped)
            faults.drop_next(1_000_000)
            try:
                for change in args[0]:
                    apply_change(fake, tuple(change))
            finally:
                faults.reset()
            return [(d.notification_type, d.body) for d in faults.dropped[start:]]
    if command == "deliveries":
        return [(d.notification_type, d.body, d.ok, d.error) for d in fake.webhook_deliveries[args[0] :]]
    if command == "wait":
        fake.wait_for_deliveries(float(args[0]))
        return None
    raise ValueError(f"unknown command {command!r}")


class PushFake(RemoteFake):
    """:class:`RemoteFake` with the child of this module (use as a context manager)."""

    def __init__(self, spec: ServerSpec) -> None:
        super().__init__(spec)
        context = multiprocessing.get_context("spawn")
        self._conn, child_end = context.Pipe()
        self._process = context.Process(
            target=_child, args=(child_end, spec), name="fake-seerr-push", daemon=True
        )

    def __enter__(self) -> PushFake:
        super().__enter__()
        return self

    def transition(self, change: tuple[Any, ...]) -> float:
        """Make one change on the server; returns ``time.monotonic()`` just before it was made."""
        started, _ = self._ask("transition", change)
        return float(started)

    def deliveries(self, since: int = 0) -> list[tuple[str, bytes, bool, str | None]]:
        """The webhook deliveries that left the server from position ``since`` on."""
        return [tuple(row) for row in self._ask("deliveries", since)]  # type: ignore[misc]

    def unannounced(self, changes: list[tuple[Any, ...]]) -> list[tuple[str, bytes]]:
        """Make these changes with the agent's deliveries dropped (the receiver hears of none of
        them); the deliveries the agent would have sent, as ``(notification_type, body)``."""
        return [tuple(row) for row in self._ask("unannounced", changes)]  # type: ignore[misc]

    def wait_for_deliveries(self, timeout: float = 10.0) -> None:
        self._ask("wait", timeout)
