"""The push load generator: a process of its own that POSTs webhook deliveries at a steady rate.

:func:`push_load` starts a child process (:class:`~benchmarks.child_run.ChildRun`) which opens
``connections`` keep-alive HTTP/1.1 connections to the receiver (its own pool, nothing shared
with the benchmark's other clients) and, each time it is told to run, sends the given bodies in
turn, each with the ``Authorization`` header the server was given, paced to ``rate`` per second:
delivery ``n`` is due ``n / rate`` seconds after the start, and each connection takes the next
due delivery as soon as its previous one was answered (so when the receiver falls behind, the
connections send back to back and the achieved rate shows it). Requests are written and answers
read with asyncio streams and a minimal HTTP/1.1 reader (status line, ``Content-Length``), so
that the generator's own CPU stays small next to the receiver's; an HTTP client library would
spend more per request than the receiver does, on a machine whose two cores the receiver shares.

Each run reports what it sent, the answers by status, the achieved rate, the answers' latency
and how many deliveries left more than 5 ms after they were due.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from .child_run import ChildRun

Streams = list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]


@dataclass(frozen=True)
class LoadSpec:
    """Where to push, with which header, what (sent in turn, then again), how fast, how many at once."""

    host: str
    port: int
    path: str
    authorization: str
    bodies: tuple[bytes, ...]
    rate: float
    connections: int = 8

    def __repr__(self) -> str:  # never show the authorization
        return f"LoadSpec({self.host}:{self.port}{self.path}, {len(self.bodies)} bodies, {self.rate:g}/s)"


def _request(spec: LoadSpec, body: bytes) -> bytes:
    head = (
        f"POST {spec.path} HTTP/1.1\r\nHost: {spec.host}:{spec.port}\r\n"
        f"Authorization: {spec.authorization}\r\nContent-Type: application/json\r\n"
        f"User-Agent: aperture-bench-load\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


async def _answer(reader: asyncio.StreamReader) -> int:
    """Read one answer; its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def _run(spec: LoadSpec, requests: list[bytes], streams: Streams, duration: float) -> dict[str, Any]:
    """Send for ``duration`` seconds over the open ``streams``; the figures."""
    start = time.monotonic()
    stop = start + duration
    counter = itertools.count()
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    late = 0

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal late
        while True:
            n = next(counter)
            due = start + n / spec.rate
            if due >= stop or time.monotonic() >= stop:
                return
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -0.005:
                late += 1
            sent = time.monotonic()
            writer.write(requests[n % len(requests)])
            try:
                status = await _answer(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                statuses[f"error: {type(error).__name__}"] += 1
                return
            latencies.append(time.monotonic() - sent)
            statuses[str(status)] += 1

    await asyncio.gather(*(worker(reader, writer) for reader, writer in streams))
    elapsed = time.monotonic() - start
    answered = sum(count for status, count in statuses.items() if status.isdigit())
    latencies.sort()
    return {
        "target_rate_per_s": spec.rate,
        "connections": spec.connections,
        "seconds": round(elapsed, 3),
        "sent": sum(statuses.values()),
        "answered": answered,
        "statuses": dict(sorted(statuses.items())),
        "achieved_rate_per_s": round(answered / elapsed, 1) if elapsed else 0.0,
        "answer_p50_ms": round(quantile(latencies, 0.50) * 1000, 2),
        "answer_p95_ms": round(quantile(latencies, 0.95) * 1000, 2),
        "answer_max_ms": round((latencies[-1] if latencies else 0.0) * 1000, 2),
        "sent_late": late,
        "distinct_bodies": len(set(spec.bodies)),
    }


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (sorted or not; 0 when empty)."""
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(sorted(values), n=100, method="inclusive")[round(q * 100) - 1]


def _child(conn: Connection, spec: LoadSpec) -> None:
    """The load generator's process (:class:`~benchmarks.child_run.ChildRun`'s protocol)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        requests = [_request(spec, body) for body in spec.bodies]
        try:
            streams = [await asyncio.open_connection(spec.host, spec.port) for _ in range(spec.connections)]
        except OSError as error:
            conn.send(RuntimeError(f"the load generator could not connect: {error!r}"))
            return
        conn.send("ready")
        while (duration := await loop.run_in_executor(None, conn.recv)) is not None:
            try:
                conn.send(await _run(spec, requests, streams, float(duration)))
            except Exception as error:  # the parent raises it
                conn.send(RuntimeError(f"the load generator failed: {error!r}"))
        for _, writer in streams:
            with contextlib.suppress(OSError):
                writer.close()

    asyncio.run(main())
    conn.close()


def push_load(spec: LoadSpec) -> ChildRun:
    """The load generator's process: ``with push_load(spec) as load: load.start(10); load.result()``."""
    return ChildRun(_child, spec, "push-load")
