"""``GET /healthz`` and ``GET /metrics``.

``/healthz`` needs no token and calls no server: it reads what the host knows. It answers
**200** with::

    {"ok": true, "active": "jellyseerr", "problem": null,
     "providers": [{"name": "jellyseerr", "title": "Jellyseerr", "version": "…",
                    "enabled": true, "active": true, "capabilities": [...],
                    "breaker": "closed", "push": {"receives": true, "has_secret": true,
                    "last": {"status": {"at": "…", "count": 12}, "test": {…}}}}, …]}

``push.has_secret``: a webhook secret was made for the provider (``webhook install``);
``push.last``: the last push of each kind received (``status``, ``test``, ``ignored``,
``refused``). ``ok`` is false (still 200) while the active provider's breaker is open or
the configured provider is not the one answering (``problem`` says why). When the settings
cannot be read (a damaged ``aperture.db``, an invalid ``config.toml``) it answers **503**
with ``{"ok": false, "error": CODE, "message": …}``: the error's code (``store_damaged``,
``invalid_config`` …) and a plain message, never a path, a traceback or a secret (the log
has the details).

``/metrics`` is the Prometheus text of the app's own registry (:mod:`.metrics`). It asks for
no token by default (the counts hold no secret; ``serve`` listens on loopback by default); an
app built with ``metrics_need_token=True`` (``serve`` on a non-loopback address) asks for the
bearer token like ``/api`` (Prometheus: ``authorization: {credentials: …}``).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from aperture_hookspecs import ApertureError, Capability

from ..host import PluginHost
from ..push_store import PushStore
from .auth import require_token
from .metrics import CONTENT_TYPE
from .state import web_state

log = logging.getLogger(__name__)


def provider_health(host: PluginHost) -> list[dict[str, Any]]:
    """Each loaded provider as ``/healthz`` shows it (no secret; raises ApertureError if unreadable)."""
    push_store: PushStore | None
    try:
        push_store = host.push_store()
    except ApertureError:  # a host without a settings store: no push
        push_store = None
    answer = []
    for status in host.providers():
        entry = status.to_dict()
        entry.pop("origin", None)  # a file path for plugins installed from a directory
        name = status.record.name
        entry["breaker"] = "open" if host.dispatcher.breaker.is_open(name) else "closed"
        info = status.record.info
        receives = info is not None and Capability.PUSH in info.capabilities
        push: dict[str, Any] = {"receives": receives}
        if receives and push_store is not None:
            push["has_secret"] = push_store.has_webhook_secret(name)
            push["last"] = {
                kind: {"at": receipt.at.isoformat(), "count": receipt.count}
                for kind, receipt in push_store.receipts(name).items()
            }
        entry["push"] = push
        answer.append(entry)
    return answer


async def healthz(request: Request) -> Response:
    host = web_state(request).host
    try:
        providers = provider_health(host)
        active = host.active_provider().name
        problem = host.active_problem()
    except ApertureError as error:
        log.error("healthz: %s", error.message)
        return JSONResponse(
            {
                "ok": False,
                "error": error.code,
                "message": "Aperture's settings need an admin's attention; see the log or run "
                "aperture-plugins diagnostics",
            },
            status_code=503,
        )
    active_entry = next((entry for entry in providers if entry["name"] == active), None)
    ok = problem is None and (active_entry is None or active_entry["breaker"] == "closed")
    return JSONResponse({"ok": ok, "active": active, "problem": problem, "providers": providers})


async def metrics(request: Request) -> Response:
    state = web_state(request)
    if state.metrics_need_token:
        await require_token(request)
    return Response(state.metrics.render(), media_type=CONTENT_TYPE)


HEALTH_ROUTES: list[BaseRoute] = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
