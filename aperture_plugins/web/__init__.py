"""The host's HTTP surface: an ASGI app (Starlette) served by ``aperture-plugins serve``.

* ``POST /webhooks/{provider}``: pushes from request servers (:mod:`.push_route`);
* ``GET /events``: Server-Sent Events of status and badge changes (:mod:`.events_route`);
* ``GET|POST /api/...``: JSON for a host's front end (:mod:`.api_routes`);
* ``GET /healthz``, ``GET /metrics`` (:mod:`.health`, :mod:`.metrics`).

Build it with :func:`create_app`; it can be mounted in a host's own app
(``Mount("/aperture", app=create_app(host))``, see :mod:`.app`).
"""

from __future__ import annotations

from .app import aperture_lifespan, create_app
from .state import WebState, web_state

__all__ = ["WebState", "aperture_lifespan", "create_app", "web_state"]
