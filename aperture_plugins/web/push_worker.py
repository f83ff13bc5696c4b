"""The background worker that takes in accepted status pushes, after the server got its answer.

A Seerr server waits on the receiver with no timeout, so ``POST /webhooks/{provider}`` answers
as soon as the delivery is authenticated and parsed, and queues the notice here. One task takes
the notices out **in arrival order** and calls :meth:`PluginHost.apply_push` for each (the
provider updates its data, the host logs and broadcasts); a failure is logged and counted, and
the worker goes on with the next one.

**A full queue drops, it does not refuse.** The queue is bounded (:data:`QUEUE_SIZE`). When it
is full the route still answers 200 and the notice is dropped, logged, counted
(``aperture_push_work_total{outcome="dropped"}``) and recorded as a refused push for
``webhook status``: the server never retries a delivery, so answering 503 would lose the push
just the same while making the server wait and log an error, and polling is the safety net
that catches what a lost push said.

**Started by the app's lifespan, or on first use.** ``create_app``'s lifespan starts and stops
the worker. A Starlette app mounted inside another does not get its own lifespan; then the
first accepted push starts the worker in the running loop (call :meth:`PushWorker.stop`
from the host's own shutdown, or enter ``aperture_lifespan(app)`` in the host's lifespan, to
finish what is queued).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from aperture_hookspecs import ApertureError, PushNotice

from ..host import PluginHost
from .metrics import Metrics

log = logging.getLogger(__name__)

QUEUE_SIZE = 10_000
"""Accepted status pushes that may wait for the worker (about ten seconds at 1,000 per second)."""

WORK_SLICE = 0.005
"""Seconds of taking in notices after which the worker lets the event loop run: a notice whose
provider makes no server call never suspends, and a backlog taken in one go would hold the
answers to the server and the lookups meanwhile (yielding after every notice instead lets the
backlog grow when many connections push at once)."""


@dataclass(frozen=True)
class _Job:
    provider: str
    notice: PushNotice


class PushWorker:
    """A bounded queue of parsed notices and the one task that applies them in order."""

    def __init__(
        self,
        host: PluginHost,
        metrics: Metrics,
        *,
        queue_size: int = QUEUE_SIZE,
        work_slice: float = WORK_SLICE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.metrics = metrics
        self.queue_size = queue_size
        self.work_slice = work_slice
        self._clock = clock
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the worker task in the running loop (does nothing if it runs already)."""
        if self.running:
            return
        self._queue = asyncio.Queue(self.queue_size)
        self._task = asyncio.get_running_loop().create_task(
            self._run(self._queue), name="aperture-push-worker"
        )

    def submit(self, provider: str, notice: PushNotice) -> bool:
        """Queue a notice; ``False`` (logged, counted, recorded) when the queue is full."""
        self.start()
        assert self._queue is not None
        try:
            self._queue.put_nowait(_Job(provider, notice))
        except asyncio.QueueFull:
            self.metrics.push_worked(provider, "dropped")
            log.warning(
                "%s: push dropped, %d pushes are waiting already (%s); polling will catch up",
                provider,
                self.queue_size,
                notice.describe(),
            )
            with contextlib.suppress(ApertureError):
                self.host.push_store().record_receipt(
                    provider, "refused", f"dropped, queue full: {notice.describe()}"
                )
            return False
        self.metrics.push_queue_depth.set(self._queue.qsize())
        return True

    async def drain(self) -> None:
        """Wait until every queued notice has been applied (tests, shutdown)."""
        if self._queue is not None and self.running:
            await self._queue.join()

    async def stop(self, *, drain_seconds: float = 5.0) -> None:
        """Apply what is queued (for at most ``drain_seconds``), then stop the task."""
        task, self._task = self._task, None
        if task is None:
            return
        if self._queue is not None and not task.done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(drain_seconds):
                    await self._queue.join()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self._queue is not None and self._queue.qsize():
            log.warning("%d accepted pushes were not applied before shutdown", self._queue.qsize())

    async def _run(self, queue: asyncio.Queue[_Job]) -> None:
        slice_started = self._clock()
        while True:
            if queue.empty():
                job = await queue.get()  # waits: the loop ran meanwhile
                slice_started = self._clock()
            else:
                job = queue.get_nowait()
            self.metrics.push_queue_depth.set(queue.qsize())
            try:
                await self.host.apply_push(job.provider, job.notice)
            except asyncio.CancelledError:
                raise
            except ApertureError as error:
                self.metrics.push_worked(job.provider, "failed")
                log.warning(
                    "%s: could not take in %s: %s", job.provider, job.notice.describe(), error.message
                )
            except Exception:
                self.metrics.push_worked(job.provider, "failed")
                log.exception("%s: taking in %s failed", job.provider, job.notice.describe())
            else:
                self.metrics.push_worked(job.provider, "applied")
            finally:
                queue.task_done()
                self.metrics.push_queue_depth.set(queue.qsize())
            if self._clock() - slice_started >= self.work_slice:  # see WORK_SLICE
                await asyncio.sleep(0)
                slice_started = self._clock()
