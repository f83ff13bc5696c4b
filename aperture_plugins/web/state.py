"""What the HTTP surface's routes share: one :class:`WebState` per app, at ``app.state.aperture``.

Routes reach it with :func:`web_state` (``web_state(request).host``), which works the same
when the app is mounted inside a host's own ASGI app (Starlette sets ``request.app`` to the
innermost app).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from ..host import PluginHost
from .metrics import Metrics
from .push_worker import PushWorker

MAX_PUSH_BYTES = 64 * 1024
"""A push body larger than this is refused with 413 (the default template is about 1 KiB)."""


@dataclass
class WebState:
    """The app's shared objects and settings.

    * ``host``: the :class:`~aperture_plugins.host.PluginHost` every route works through.
    * ``metrics``: the app's own :class:`~aperture_plugins.web.metrics.Metrics` (its own
      Prometheus registry); ``metrics.time_lookup()`` for lookups, ``metrics.sse_client()``
      (or ``sse_client_connected``/``sse_client_disconnected``) for ``/events`` streams.
    * ``heartbeat_seconds``: how often an idle ``/events`` stream sends a comment line.
    * ``env_token``: ``APERTURE_API_TOKEN``, a bearer token accepted besides the stored ones.
    * ``metrics_need_token``: whether ``GET /metrics`` asks for the bearer token too
      (``serve`` sets it when listening on a non-loopback address).
    * ``max_push_bytes``: the body limit of ``POST /webhooks/{provider}``.
    * ``push_worker``: the background worker that applies accepted status pushes.
    * ``poll_interval``: seconds between the poller's cycles when the app runs one (``serve``),
      else ``None``.
    * ``stopping``: set by :meth:`stop_streams` when the server shuts down: open ``/events``
      streams end at once instead of holding the shutdown until they are cancelled.
    """

    host: PluginHost
    metrics: Metrics = field(default_factory=Metrics)
    heartbeat_seconds: float = 15.0
    env_token: str | None = None
    metrics_need_token: bool = False
    max_push_bytes: int = MAX_PUSH_BYTES
    push_worker: PushWorker | None = None
    poll_interval: float | None = None
    stopping: bool = False
    refusals_recorded_at: dict[tuple[str, str], float] = field(default_factory=dict)
    """When each (provider, reason) of refused pushes was last logged and recorded."""

    def stop_streams(self) -> None:
        """End every open ``/events`` stream (the server is shutting down)."""
        self.stopping = True
        self.host.events_logged.notify()

    def __post_init__(self) -> None:
        if self.push_worker is None:
            self.push_worker = PushWorker(self.host, self.metrics)

    @property
    def worker(self) -> PushWorker:
        assert self.push_worker is not None
        return self.push_worker

    def __repr__(self) -> str:
        token = "<set>" if self.env_token else None
        return f"WebState(host={self.host!r}, env_token={token}, poll_interval={self.poll_interval})"


def web_state(connection: HTTPConnection) -> WebState:
    """The :class:`WebState` of the app serving this request (or websocket)."""
    state = getattr(connection.app.state, "aperture", None)
    if not isinstance(state, WebState):
        raise RuntimeError("this route must be served by aperture_plugins.web.create_app's app")
    return state
