"""The HTTP surface's Prometheus metrics (``GET /metrics``), one registry per app.

Each :func:`~aperture_plugins.web.app.create_app` makes its own :class:`Metrics` with its own
``CollectorRegistry`` (never prometheus-client's global one), so two apps in one process, or
the tests' many apps, never share or collide on series.

What it counts, and who feeds it:

* ``aperture_lookups_total{outcome}``, ``aperture_lookup_seconds`` (histogram): the routes
  that look titles up, through :meth:`Metrics.time_lookup` (a context manager: ``ok``, or
  ``error`` when the block raises) or :meth:`Metrics.observe_lookup`.
* ``aperture_server_calls_total{provider,endpoint,outcome}`` and
  ``aperture_server_call_seconds{provider,endpoint}``: every call a provider makes to its
  server, reported through :attr:`PluginHost.call_observer` (:meth:`Metrics.observe_call`;
  :meth:`Metrics.watch_host` plugs it in). Endpoints are templates, never values.
* ``aperture_breaker_open{provider}``: 1 while a provider's circuit breaker is open (half-open
  included), else 0; read from the host's dispatcher at each scrape.
* ``aperture_pushes_received_total{provider,kind}`` (kind ``status``, ``test``, ``ignored``) and
  ``aperture_pushes_refused_total{provider,reason}`` (``unauthorized``, ``too_large``,
  ``malformed``, ``not_found``, ``unavailable``, ``provider_error``): the webhook route.
  Refusals for a name that is no loaded provider are counted under provider ``"(unknown)"``,
  so a scanner cannot grow the number of series.
* ``aperture_push_work_total{provider,outcome}`` (``applied``, ``failed``, ``dropped``) and
  ``aperture_push_queue_depth``: the background worker that applies accepted pushes.
* ``aperture_poll_cycle_seconds{provider}`` (histogram) and
  ``aperture_poll_cycles_total{provider,outcome}``: the ``serve`` poller
  (:meth:`Metrics.observe_poll_cycle`).
* ``aperture_sse_clients``: the open ``GET /events`` streams; the events route calls
  :meth:`Metrics.sse_client_connected` / :meth:`Metrics.sse_client_disconnected`, or wraps the
  stream in :meth:`Metrics.sse_client` (a context manager doing both).

Nothing here ever holds a secret: labels are provider names, endpoint templates, outcomes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from ..host import PluginHost

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text exposition format served by ``GET /metrics``."""

UNKNOWN_PROVIDER = "(unknown)"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _BreakerCollector(Collector):
    """Reads the breaker state of each loaded provider at scrape time."""

    def __init__(self, providers: Callable[[], Iterable[str]], is_open: Callable[[str], bool]) -> None:
        self._providers = providers
        self._is_open = is_open

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "aperture_breaker_open",
            "1 while the provider's circuit breaker is open or half-open (calls fail at once), else 0",
            labels=["provider"],
        )
        try:
            names = list(self._providers())
        except Exception:  # a scrape never fails because of the host
            names = []
        for name in names:
            family.add_metric([name], 1.0 if self._is_open(name) else 0.0)
        yield family


class Metrics:
    """The series of one app (see the module docstring for names and feeders)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.lookups = Counter("aperture_lookups", "Discovery lookups served", ["outcome"], registry=registry)
        self.lookup_seconds = Histogram(
            "aperture_lookup_seconds",
            "Time to answer one lookup",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.server_calls = Counter(
            "aperture_server_calls",
            "Calls to request servers by provider, endpoint template, outcome (HTTP status or failure code)",
            ["provider", "endpoint", "outcome"],
            registry=registry,
        )
        self.server_call_seconds = Histogram(
            "aperture_server_call_seconds",
            "Duration of calls to request servers",
            ["provider", "endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.pushes_received = Counter(
            "aperture_pushes_received",
            "Pushes accepted from request servers, by kind (status, test, ignored)",
            ["provider", "kind"],
            registry=registry,
        )
        self.pushes_refused = Counter(
            "aperture_pushes_refused",
            "Pushes refused by reason (unauthorized, too_large, malformed, not_found, unavailable, ...)",
            ["provider", "reason"],
            registry=registry,
        )
        self.push_work = Counter(
            "aperture_push_work",
            "Accepted status pushes taken in by the background worker (applied, failed, dropped: queue full)",
            ["provider", "outcome"],
            registry=registry,
        )
        self.push_queue_depth = Gauge(
            "aperture_push_queue_depth",
            "Accepted pushes waiting for the background worker",
            registry=registry,
        )
        self.poll_cycle_seconds = Histogram(
            "aperture_poll_cycle_seconds",
            "Duration of one polling cycle of the tracked requests",
            ["provider"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.poll_cycles = Counter(
            "aperture_poll_cycles",
            "Polling cycles, by outcome (ok, error)",
            ["provider", "outcome"],
            registry=registry,
        )
        self.sse_clients = Gauge("aperture_sse_clients", "Open GET /events streams", registry=registry)

    # -- feeders ---------------------------------------------------------------------------

    def watch_host(self, host: PluginHost) -> None:
        """Count the host's server calls and read its breakers at each scrape."""
        host.call_observer = self.observe_call
        self.registry.register(
            _BreakerCollector(
                lambda: [record.name for record in host.registry.providers()],
                host.dispatcher.breaker.is_open,
            )
        )

    def observe_call(self, provider: str, endpoint: str, outcome: str, seconds: float) -> None:
        """One server call (the signature of :attr:`PluginHost.call_observer`)."""
        self.server_calls.labels(provider, endpoint, outcome).inc()
        self.server_call_seconds.labels(provider, endpoint).observe(max(seconds, 0.0))

    def observe_lookup(self, seconds: float, *, outcome: str = "ok") -> None:
        """One lookup that took ``seconds`` (``outcome``: ``ok`` or ``error``)."""
        self.lookups.labels(outcome).inc()
        self.lookup_seconds.observe(max(seconds, 0.0))

    @contextmanager
    def time_lookup(self) -> Iterator[None]:
        """Time the block as one lookup: ``ok`` if it ends normally, ``error`` if it raises."""
        started = time.perf_counter()
        outcome = "error"
        try:
            yield
            outcome = "ok"
        finally:
            self.observe_lookup(time.perf_counter() - started, outcome=outcome)

    def push_received(self, provider: str, kind: str) -> None:
        self.pushes_received.labels(provider, kind).inc()

    def push_refused(self, provider: str, reason: str) -> None:
        self.pushes_refused.labels(provider, reason).inc()

    def push_worked(self, provider: str, outcome: str) -> None:
        self.push_work.labels(provider, outcome).inc()

    def observe_poll_cycle(self, provider: str, seconds: float, *, outcome: str = "ok") -> None:
        """One polling cycle of ``provider`` that took ``seconds`` (``ok`` or ``error``)."""
        self.poll_cycles.labels(provider, outcome).inc()
        self.poll_cycle_seconds.labels(provider).observe(max(seconds, 0.0))

    def sse_client_connected(self) -> None:
        self.sse_clients.inc()

    def sse_client_disconnected(self) -> None:
        self.sse_clients.dec()

    @contextmanager
    def sse_client(self) -> Iterator[None]:
        """Count one open ``/events`` stream for the duration of the block."""
        self.sse_client_connected()
        try:
            yield
        finally:
            self.sse_client_disconnected()

    # -- exposition ------------------------------------------------------------------------

    def render(self) -> bytes:
        """The Prometheus text of every series of this app."""
        return generate_latest(self.registry)
