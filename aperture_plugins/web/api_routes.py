"""GET/POST /api/...: placeholder until its module lands."""

from __future__ import annotations

from starlette.routing import BaseRoute

API_ROUTES: list[BaseRoute] = []
