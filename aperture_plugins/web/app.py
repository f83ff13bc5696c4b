"""``create_app``: the host's HTTP surface as one Starlette app.

Standalone (``aperture-plugins serve`` runs it with uvicorn)::

    app = create_app(host, env_token=os.environ.get("APERTURE_API_TOKEN"))
    uvicorn.run(app, host="127.0.0.1", port=8765)

Mounted inside a host's own ASGI app, under any prefix. A mounted app's lifespan is not run
by Starlette, so enter :func:`aperture_lifespan` in the outer app's own lifespan (it starts the
push worker and, if asked, the poller, and finishes them at shutdown)::

    aperture = create_app(host)

    @contextlib.asynccontextmanager
    async def lifespan(outer):
        async with aperture_lifespan(aperture):
            yield

    outer = Starlette(routes=[Mount("/aperture", app=aperture)], lifespan=lifespan)

(Without it the push worker starts with the first push, queued pushes are not finished at
shutdown and no poller runs.) The server then pushes to
``<public URL>/aperture/webhooks/<provider>``: give ``webhook install --public-url`` the prefix
(``--public-url http://aperture:8000/aperture``).

Every error is answered as JSON (``{"error": CODE, "message": …, "hints": […]}``), never with
a traceback or a secret.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute

from ..host import PluginHost
from .api_routes import API_ROUTES
from .errors import http_error_handler
from .events_route import EVENT_ROUTES
from .health import HEALTH_ROUTES
from .metrics import Metrics
from .poller import poll_forever
from .push_route import PUSH_ROUTES
from .state import WebState


@contextlib.asynccontextmanager
async def aperture_lifespan(app: Starlette) -> AsyncIterator[None]:
    """Run the app's background work (the push worker; the poller if ``poll_interval``)."""
    state: WebState = app.state.aperture
    state.worker.start()
    poller = None
    if state.poll_interval is not None:
        poller = asyncio.get_running_loop().create_task(
            poll_forever(state.host, state.metrics, state.poll_interval), name="aperture-poller"
        )
    try:
        yield
    finally:
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
        await state.worker.stop()


def create_app(
    host: PluginHost,
    *,
    env_token: str | None = None,
    heartbeat_seconds: float = 15.0,
    metrics_need_token: bool = False,
    poll_interval: float | None = None,
    extra_routes: list[BaseRoute] | None = None,
) -> Starlette:
    """The HTTP surface of ``host`` (see the module docstring).

    ``env_token``: a bearer token accepted besides the stored ones (``APERTURE_API_TOKEN``);
    ``metrics_need_token``: ``GET /metrics`` asks for the token too; ``poll_interval``: run the
    poller over the tracked requests every so many seconds while the app runs (``serve``).
    """
    metrics = Metrics()
    metrics.watch_host(host)
    state = WebState(
        host=host,
        metrics=metrics,
        heartbeat_seconds=heartbeat_seconds,
        env_token=env_token or None,
        metrics_need_token=metrics_need_token,
        poll_interval=poll_interval,
    )
    routes: list[BaseRoute] = [
        *PUSH_ROUTES,
        *EVENT_ROUTES,
        *API_ROUTES,
        *HEALTH_ROUTES,
        *(extra_routes or []),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error_handler},
        lifespan=aperture_lifespan,
    )
    app.state.aperture = state
    return app
