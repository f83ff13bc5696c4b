"""GET /events (Server-Sent Events): placeholder until its module lands."""

from __future__ import annotations

from starlette.routing import BaseRoute

EVENT_ROUTES: list[BaseRoute] = []
