"""A benchmark client in a process of its own: :class:`ChildRun`.

The push benchmark's load generator and its front end (the lookups) run in their own processes,
so that neither shares the receiving host's interpreter lock: with a busy server thread in the
same process, a client thread waits for the lock (up to ``sys.getswitchinterval()``, 5 ms, per
hand-over) and the benchmark would measure itself.

The protocol over the pipe: the child prepares (opens its connections) and sends ``"ready"``;
then, for each ``duration`` the parent sends, it runs that long and sends back its figures (a
dict, or an exception the parent raises); ``None`` ends it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any


class ChildRun:
    """The parent's handle (use as a context manager): :meth:`start`, then :meth:`result`."""

    def __init__(self, target: Callable[[Connection, Any], None], spec: Any, name: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_end = context.Pipe()
        self._process = context.Process(target=target, args=(child_end, spec), name=name, daemon=True)
        self.name = name

    def __enter__(self) -> ChildRun:
        self._process.start()
        answer = self._receive(60.0)
        if answer != "ready":
            raise RuntimeError(f"{self.name} said {answer!r} instead of ready")
        return self

    def start(self, duration: float) -> None:
        """Run for ``duration`` seconds (returns at once)."""
        self._conn.send(float(duration))

    def result(self, timeout: float = 600.0) -> dict[str, Any]:
        """The figures of the run :meth:`start` began."""
        return dict(self._receive(timeout))

    def _receive(self, timeout: float) -> Any:
        if not self._conn.poll(timeout):
            raise TimeoutError(f"{self.name} did not answer within {timeout:g} s")
        answer = self._conn.recv()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5)
