"""The push benchmark's front end: Discovery lookups over HTTP from a process of its own.

:func:`front_end` starts a child process (:class:`~benchmarks.child_run.ChildRun`) with one
keep-alive ``httpx.Client`` that, each time it is told to run, looks up 200-card pages through
``POST /api/availability`` (the bearer token, one user, the pages in turn) every ``cadence``
seconds, as a host's front end would, and reports each lookup's wall time from the request
written to the answer read and parsed. A lookup that comes due while the previous one is still
running starts when it ends (counted as ``started_late``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import httpx

from .child_run import ChildRun
from .push_load import quantile


@dataclass(frozen=True)
class LookupSpec:
    url: str
    token: str
    user: str
    pages: tuple[tuple[str, ...], ...]
    cadence: float

    def __repr__(self) -> str:  # never show the token
        return f"LookupSpec({self.url}, {len(self.pages)} pages, every {self.cadence:g} s)"


def _lookup(client: httpx.Client, spec: LookupSpec, page: tuple[str, ...]) -> float:
    started = time.perf_counter()
    answer = client.post(f"{spec.url}/api/availability", json={"user": spec.user, "items": list(page)})
    cards = answer.json()
    took = time.perf_counter() - started
    if answer.status_code != 200 or len(cards) != len(page):
        raise RuntimeError(f"a lookup answered {answer.status_code}: {str(cards)[:200]}")
    return took


def _run(client: httpx.Client, spec: LookupSpec, duration: float) -> dict[str, Any]:
    start = time.monotonic()
    latencies: list[float] = []
    late = 0
    n = 0
    while (due := start + n * spec.cadence) < start + duration:
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        elif wait < -0.005:
            late += 1
        latencies.append(_lookup(client, spec, spec.pages[n % len(spec.pages)]))
        n += 1
    return summary(latencies) | {"started_late": late, "cadence_s": spec.cadence}


def summary(latencies: list[float]) -> dict[str, Any]:
    """Count, p50, p95 and max of latencies in seconds, as milliseconds."""
    ordered = sorted(latencies)
    return {
        "count": len(ordered),
        "p50_ms": round(quantile(ordered, 0.50) * 1000, 2),
        "p95_ms": round(quantile(ordered, 0.95) * 1000, 2),
        "max_ms": round((ordered[-1] if ordered else 0.0) * 1000, 2),
    }


def _child(conn: Connection, spec: LookupSpec) -> None:
    """The front end's process (:class:`~benchmarks.child_run.ChildRun`'s protocol)."""
    headers = {"Authorization": f"Bearer {spec.token}"}
    with httpx.Client(headers=headers, timeout=60.0) as client:
        try:
            for page in spec.pages:  # warm: the connection, and every page once
                _lookup(client, spec, page)
        except Exception as error:  # the parent raises it
            conn.send(RuntimeError(f"the front end's first lookups failed: {error!r}"))
            return
        conn.send("ready")
        while (duration := conn.recv()) is not None:
            try:
                conn.send(_run(client, spec, float(duration)))
            except Exception as error:
                conn.send(RuntimeError(f"the front end's lookups failed: {error!r}"))
    conn.close()


def front_end(spec: LookupSpec) -> ChildRun:
    """The front end's process: ``with front_end(spec) as lookups: lookups.start(10); lookups.result()``."""
    return ChildRun(_child, spec, "front-end")
