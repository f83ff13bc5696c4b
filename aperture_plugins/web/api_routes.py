"""``/api/…``: JSON for a host's front end, in the shapes of the CLI's ``--json``.

Every route needs the bearer token (:mod:`.auth`). Answers are the documents the CLI prints
with ``--json`` (built from the same ``to_dict()`` of the contract's types):

===========================================  ==============================================
``GET  /api/availability?user=U&items=I,…``  ``lookup --json``: one badge per title, in order
``POST /api/availability``                   the same; body ``{"user": U, "items": [I, …]}``
                                             or a bare list ``[I, …]`` (user: ``?user=``)
``POST /api/requests``                       ``request --json``: body ``{"item": I, "user": U,
                                             "seasons": "all" | [1, 2], "is_4k": true}``;
                                             201 when filed, 200 when the user's own earlier
                                             request already covers it (``already_requested``)
``GET  /api/requests?user=U``                ``requests --json``: the tracked requests
``GET  /api/providers``                      ``providers --json`` with each provider's health
                                             (breaker, push), as ``/healthz`` shows it
``POST /api/providers/{name}/test``          ``test --json``: the connection report (200 even
                                             when the test fails: ``"ok": false``)
``GET  /api/users?user=U&user=…``            ``users --json``: who each user acts as
===========================================  ==============================================

* A title ``I`` is ``"movie:603"`` / ``"tv:1399"``, or ``{"media_type": "movie", "tmdb_id": 603}``
  (the shape the answers use). ``items`` may be repeated or comma-separated in a query.
* A user ``U`` is a name, ``NAME=MEDIA_SERVER_ID`` (as the CLI's ``--user``), or an object
  ``{"name": …, "media_server_id": …, "email": …, "display_name": …}``. Without a user a
  lookup is for a guest; a request needs one.
* A page holds at most :data:`MAX_PAGE` titles (or users); bodies at most
  :data:`MAX_BODY_BYTES` (else 413).

Errors are the CLI's error documents (``{"error": CODE, "message": …, "hints": […], …}``):
bad input (malformed JSON, a wrong type, an unknown field, a bad title) is **400** with a
message saying what and where; the server's refusals and failures have the statuses of
:mod:`.error_status` (403 permission, 409 already requested, 429 quota, 502/503/504 the server).
An unexpected failure is a 500 ``internal_error`` naming only the exception's type (the log has
the traceback). No answer holds a secret: settings are never returned, only what ``to_dict()``
of the answers holds.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NoReturn

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from aperture_hookspecs import (
    ALL_SEASONS,
    ApertureError,
    ApertureUser,
    MediaRef,
    MediaType,
    RequestOptions,
)

from ..host import PluginHost
from .auth import require_token
from .bodies import read_limited
from .error_status import error_answer
from .errors import JSONHTTPError
from .health import provider_health
from .state import web_state

log = logging.getLogger(__name__)

MAX_PAGE = 200
"""The most titles one availability call looks up (and users one mapping call maps)."""

MAX_BODY_BYTES = 64 * 1024
"""The largest JSON body a route reads."""

MAX_TEXT = 500
"""The longest user name, id or e-mail a route takes."""

_USER_FIELDS = ("name", "media_server_id", "email", "display_name")

Handler = Callable[[Request], Awaitable[Response]]


def bad_input(message: str) -> NoReturn:
    """Answer 400 with ``message`` (what is wrong, and where)."""
    raise JSONHTTPError(400, "bad_request", message)


# -- reading input ---------------------------------------------------------------------------


async def read_json(request: Request) -> Any:
    """The request's JSON body: 413 above :data:`MAX_BODY_BYTES`, 400 if missing or not JSON."""
    body = await read_limited(
        request,
        MAX_BODY_BYTES,
        too_large=_too_large,
        bad_length=lambda: JSONHTTPError(400, "bad_request", "Content-Length is not a number"),
    )
    if not body.strip():
        bad_input("a JSON body is required")
    try:
        return json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        bad_input("the body is not usable JSON: nested too deeply")
    except ValueError as error:  # JSONDecodeError, a bad encoding, NaN
        bad_input(f"the body is not JSON: {error}")


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _too_large() -> JSONHTTPError:
    return JSONHTTPError(413, "too_large", f"the body is larger than {MAX_BODY_BYTES // 1024} KiB")


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        bad_input(f"{where} must be a string, not {_json_type(value)}")
    if len(value) > MAX_TEXT:
        bad_input(f"{where} is longer than {MAX_TEXT} characters")
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _only_fields(value: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        bad_input(
            f"{where} has unknown field(s) {', '.join(map(repr, unknown))}; expected {', '.join(allowed)}"
        )


def parse_item(value: Any, where: str) -> MediaRef:
    """A title from ``"movie:603"`` or ``{"media_type": "movie", "tmdb_id": 603}``."""
    if isinstance(value, dict):
        _only_fields(value, ("media_type", "tmdb_id"), where)
        media_type, tmdb_id = value.get("media_type"), value.get("tmdb_id")
        if media_type not in {kind.value for kind in MediaType}:
            bad_input(f"{where}.media_type must be 'movie' or 'tv', not {json.dumps(media_type)[:40]}")
        if isinstance(tmdb_id, bool) or not isinstance(tmdb_id, int) or not 0 < tmdb_id < 10**10:
            bad_input(f"{where}.tmdb_id must be a positive TMDB id, not {json.dumps(tmdb_id)[:40]}")
        return MediaRef(MediaType(media_type), tmdb_id)
    if not isinstance(value, str):
        bad_input(f"{where} must be a title like movie:603 or tv:1399, not {_json_type(value)}")
    if len(value) > 40:
        bad_input(f"{where} is not a title reference ({value[:40]!r}…); use movie:TMDB_ID or tv:TMDB_ID")
    try:
        return MediaRef.parse(value)
    except ValueError as error:
        bad_input(f"{where}: {error}")


def parse_items(values: Any, where: str) -> list[MediaRef]:
    """A page of titles: a non-empty list of at most :data:`MAX_PAGE`."""
    if not isinstance(values, list):
        bad_input(f'{where} must be a list of titles like ["movie:603", "tv:1399"], not {_json_type(values)}')
    if not values:
        bad_input(f"{where} is empty: name at least one title")
    if len(values) > MAX_PAGE:
        bad_input(f"{where} has {len(values)} titles; at most {MAX_PAGE} per page")
    return [parse_item(value, f"{where}[{index}]") for index, value in enumerate(values)]


def parse_user(value: Any, where: str) -> ApertureUser:
    """A user from ``"alice"``, ``"alice=MEDIA_SERVER_ID"`` or ``{"name": "alice", …}``."""
    if isinstance(value, dict):
        _only_fields(value, _USER_FIELDS, where)
        fields = {
            key: _text(value[key], f"{where}.{key}")
            for key in _USER_FIELDS
            if key in value and value[key] is not None
        }
        name = fields.pop("name", "").strip()
        if not name:
            bad_input(f"{where}.name is required (the media-server username)")
        return ApertureUser(name, **{key: text.strip() or None for key, text in fields.items()})
    if not isinstance(value, str):
        bad_input(f"{where} must be a user name (or an object with a name), not {_json_type(value)}")
    name, _, server_id = _text(value, where).partition("=")
    if not name.strip():
        bad_input(f"{where} needs a user name, e.g. alice or alice=MEDIA_SERVER_ID")
    return ApertureUser(name.strip(), media_server_id=server_id.strip() or None)


def _query_items(request: Request) -> list[Any]:
    values = [*request.query_params.getlist("items"), *request.query_params.getlist("item")]
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _query_user(request: Request) -> ApertureUser | None:
    users = request.query_params.getlist("user")
    if len(users) > 1:
        bad_input("give one ?user=")
    return parse_user(users[0], "?user") if users else None


def parse_options(body: Mapping[str, Any]) -> RequestOptions:
    """``seasons`` (``"all"``, a list of season numbers, or absent) and ``is_4k`` (bool or null)."""
    seasons = body.get("seasons", ALL_SEASONS)
    if seasons is None:
        seasons = ALL_SEASONS
    if seasons != ALL_SEASONS:
        if not isinstance(seasons, list) or not all(
            isinstance(number, int) and not isinstance(number, bool) for number in seasons
        ):
            bad_input('"seasons" must be "all" or a list of season numbers like [1, 2]')
        if len(seasons) > 1000:
            bad_input('"seasons" lists more than 1000 seasons')
    is_4k = body.get("is_4k")
    if is_4k is not None and not isinstance(is_4k, bool):
        bad_input(f'"is_4k" must be true, false or null, not {_json_type(is_4k)}')
    try:
        return RequestOptions(seasons=ALL_SEASONS if seasons == ALL_SEASONS else tuple(seasons), is_4k=is_4k)
    except ValueError as error:
        bad_input(f'"seasons": {error}')


# -- the routes ----------------------------------------------------------------------------------


def api_route(handler: Handler) -> Handler:
    """Check the token first; answer an :class:`ApertureError` with its document and status,
    and anything unexpected with a 500 that names only the exception's type."""

    @functools.wraps(handler)
    async def route(request: Request) -> Response:
        await require_token(request)
        try:
            return await handler(request)
        except JSONHTTPError:
            raise
        except ApertureError as error:
            return error_answer(error)
        except Exception as error:
            log.exception("%s %s failed", request.method, request.url.path)
            return JSONResponse(
                {
                    "error": "internal_error",
                    "message": f"Unexpected error ({type(error).__name__}); the server log has the details",
                    "hints": ["Report it with the output of: aperture-plugins diagnostics --json"],
                },
                status_code=500,
            )

    return route


def _active_name(host: PluginHost) -> str | None:
    """The provider answering lookups (``None`` when ``config.toml`` is damaged), as the CLI."""
    try:
        return host.active_provider().name
    except ApertureError:
        return None


async def _lookup(request: Request, items: list[MediaRef], user: ApertureUser | None) -> Response:
    state = web_state(request)
    with state.metrics.time_lookup():
        answers = await state.host.lookup(items, user)
    provider = _active_name(state.host)
    return JSONResponse([{**answer.to_dict(), "provider": provider} for answer in answers])


@api_route
async def availability(request: Request) -> Response:
    """``GET|POST /api/availability``: the Discovery badges of a page of titles for a user."""
    if request.method == "GET":
        items = _query_items(request)
        if not items:
            bad_input("name the titles: ?items=movie:603,tv:1399")
        return await _lookup(request, parse_items(items, "?items"), _query_user(request))
    body = await read_json(request)
    user = _query_user(request)
    if isinstance(body, dict):
        _only_fields(body, ("items", "user"), "the body")
        if "items" not in body:
            bad_input('the body needs "items": a list of titles')
        if body.get("user") is not None:
            if user is not None:
                bad_input("give the user once: in the body or as ?user=")
            user = parse_user(body["user"], '"user"')
        return await _lookup(request, parse_items(body["items"], '"items"'), user)
    return await _lookup(request, parse_items(body, "the body"), user)


@api_route
async def requests(request: Request) -> Response:
    """``POST /api/requests`` files a request; ``GET /api/requests?user=`` lists the tracked ones."""
    host = web_state(request).host
    if request.method == "GET":
        user = _query_user(request)
        tracked_of = getattr(host.settings, "tracked", None)
        rows = tracked_of(None, user.name if user else None) if tracked_of else []
        return JSONResponse([{"provider": provider, **r.to_dict()} for provider, r in rows])
    body = await read_json(request)
    if not isinstance(body, dict):
        bad_input(
            'the body must be an object like {"item": "movie:603", "user": "alice"}, '
            f"not {_json_type(body)}"
        )
    _only_fields(body, ("item", "user", "seasons", "is_4k"), "the body")
    for field in ("item", "user"):
        if body.get(field) is None:
            bad_input(f'the body needs "{field}"')
    item = parse_item(body["item"], '"item"')
    result = await host.submit_request(item, parse_user(body["user"], '"user"'), parse_options(body))
    return JSONResponse(result.to_dict(), status_code=200 if result.already_requested else 201)


@api_route
async def providers(request: Request) -> Response:
    """``GET /api/providers``: every provider with its health; which one answers and why."""
    host = web_state(request).host
    return JSONResponse(
        {
            "active": host.active_provider().name,
            "active_problem": host.active_problem(),
            "providers": provider_health(host),
            "broken": [{"name": b.name, "stage": b.stage, "error": b.error} for b in host.broken],
        }
    )


@api_route
async def test_provider(request: Request) -> Response:
    """``POST /api/providers/{name}/test``: the provider's connection test with its saved settings."""
    report = await web_state(request).host.test_connection(request.path_params["name"])
    return JSONResponse(report.to_dict())


@api_route
async def users(request: Request) -> Response:
    """``GET /api/users?user=alice&user=bob=MEDIA_SERVER_ID``: how each user maps to the server."""
    values = request.query_params.getlist("user")
    if not values:
        bad_input("name the users: ?user=alice&user=bob (or bob=MEDIA_SERVER_ID)")
    if len(values) > MAX_PAGE:
        bad_input(f"{len(values)} users; at most {MAX_PAGE} at once")
    chosen = [parse_user(value, f"?user ({index + 1})") for index, value in enumerate(values)]
    mappings = await web_state(request).host.map_users(chosen)
    return JSONResponse([mapping.to_dict() for mapping in mappings])


API_ROUTES: list[BaseRoute] = [
    Route("/api/availability", availability, methods=["GET", "POST"]),
    Route("/api/requests", requests, methods=["GET", "POST"]),
    Route("/api/providers", providers, methods=["GET"]),
    Route("/api/providers/{name}/test", test_provider, methods=["POST"]),
    Route("/api/users", users, methods=["GET"]),
]
