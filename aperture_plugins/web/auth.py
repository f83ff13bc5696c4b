"""Bearer tokens for ``/api`` and ``/events`` (and ``/metrics`` when the app asks for it).

A request is let in when its ``Authorization: Bearer <token>`` header carries either
``APERTURE_API_TOKEN`` (:attr:`WebState.env_token`, compared in constant time) or one of the
tokens made by ``aperture-plugins token create`` (only their SHA-256 hashes are stored;
:meth:`PushStore.api_token_valid`). Use it at the top of a route::

    async def tracked(request: Request) -> Response:
        await require_token(request)
        ...

Anything else is answered ``401`` with ``{"error": "unauthorized", ...}`` and
``WWW-Authenticate: Bearer`` (the same answer whether a token was missing, malformed or
unknown). A store that cannot be read answers ``503`` (``store_unavailable``) with a plain
message, never the file's details. The token is never logged or echoed.

Webhooks do not use this: a push authenticates with its provider's webhook secret
(:mod:`.push_route`).
"""

from __future__ import annotations

import hmac
import logging

from starlette.requests import HTTPConnection

from aperture_hookspecs import ApertureError

from .errors import JSONHTTPError
from .state import web_state

log = logging.getLogger(__name__)


def unauthorized() -> JSONHTTPError:
    """The one 401 answer, whatever was wrong with the token."""
    return JSONHTTPError(
        401,
        "unauthorized",
        "A bearer token is required: Authorization: Bearer <token>",
        hints=("Create one with: aperture-plugins token create", "or set APERTURE_API_TOKEN for the server"),
        headers={"WWW-Authenticate": "Bearer"},
    )


def bearer_token(connection: HTTPConnection) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None``."""
    header = connection.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def token_valid(connection: HTTPConnection) -> bool:
    """Whether the request carries a valid API token (raises 503 when the store is unreadable)."""
    state = web_state(connection)
    token = bearer_token(connection)
    if token is None:
        return False
    if state.env_token and hmac.compare_digest(
        token.encode("utf-8", "surrogateescape"), state.env_token.encode("utf-8", "surrogateescape")
    ):
        return True
    try:
        return state.host.push_store().api_token_valid(token)
    except ApertureError as error:
        log.error("cannot check an API token: %s", error.message)
        raise JSONHTTPError(
            503,
            "store_unavailable",
            "Aperture's settings cannot be read right now; an admin has been told (see the log)",
        ) from None


async def require_token(connection: HTTPConnection) -> None:
    """Let the request through with a valid bearer token; raise the JSON 401 otherwise."""
    if not token_valid(connection):
        raise unauthorized()
