"""The poller of ``serve``: one :meth:`PluginHost.poll_tracked` cycle every ``interval`` seconds.

Polling stays beside push: nothing pushes download progress, and a server never retries a
delivery it could not make. Each cycle polls the tracked requests of the active provider (if
this process holds the poll lease, see :mod:`aperture_plugins.event_log`), logs and broadcasts
what changed (the ``/events`` streams wake) and is timed into
``aperture_poll_cycle_seconds``. A failing cycle (the server down, a damaged store, a bug in a
plugin) is logged and counted as ``outcome="error"``; the loop goes on and never takes the
server down with it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aperture_hookspecs import ApertureError

from ..event_log import POLL_LEASE_SECONDS
from ..host import NULL_PROVIDER, PluginHost
from .metrics import Metrics

log = logging.getLogger(__name__)


async def poll_once(host: PluginHost, metrics: Metrics, interval: float) -> None:
    """One cycle for the active provider (nothing for the null provider); never raises."""
    name = NULL_PROVIDER
    started = time.perf_counter()
    outcome = "ok"
    try:
        name = host.active_provider().name
        if name == NULL_PROVIDER:
            return
        result = await host.poll_tracked(name, lease_seconds=max(POLL_LEASE_SECONDS, 2.5 * interval))
        if result.changes:
            log.info("%s: %d status changes found by polling", name, len(result.changes))
    except asyncio.CancelledError:
        raise
    except ApertureError as error:
        outcome = "error"
        log.warning("%s: polling failed: %s", name, error.message)
    except Exception:
        outcome = "error"
        log.exception("%s: polling failed", name)
    metrics.observe_poll_cycle(name, time.perf_counter() - started, outcome=outcome)


async def poll_forever(host: PluginHost, metrics: Metrics, interval: float) -> None:
    """Poll every ``interval`` seconds until cancelled."""
    while True:
        await poll_once(host, metrics, interval)
        await asyncio.sleep(interval)
