"""Validate HTTP exchanges against the servers' own OpenAPI files, allowing exactly notes §13.

``validate_exchange(flavour, request, response)`` checks an ``httpx`` request/response pair with
openapi-core against ``overseerr-api.yml`` (Overseerr 1.34), ``jellyseerr-v2.7.3-api.yml``
(Jellyseerr 2.7.3) or ``seerr-api.yml`` (Seerr 3.1) from ``../shared/reference/openapi`` and raises
``OpenAPIViolationError`` listing every problem. On top of openapi-core it applies the real validator's
two query rules (notes §2): no undeclared query parameters, no unencoded reserved characters.

The files are incomplete where the servers are right (``shared/reference/seerr-api-notes.md`` §13).
Those gaps, and only those, are tolerated; each is an entry of :data:`ALLOWED_GAPS`:

* ``nullable-columns`` - a JSON ``null`` in a property listed in :data:`NULLABLE_COLUMNS` (entity
  columns declared ``nullable: true`` that the files type as plain ``string``/``number``).
* ``email-stripped`` - a ``User`` object without ``email`` when the call acted as another user
  through ``X-Api-User`` (the server strips it for callers without MANAGE_USERS; the API key
  alone acts as the admin, who always sees it).
* ``quota-fields-omitted`` - needs no filter: the quota schema requires none of its fields.
* ``undocumented-fields`` (``downloadStatus``, ``status4k``, ``jellyfinUserId``, ``displayName``,
  ``warnings``, ``serviceErrors``, ``profileName``, ``canRemove`` …) - needs no filter: no schema
  in the files sets ``additionalProperties: false``.
* ``x-api-user-header`` - needs no filter: openapi-core ignores undeclared headers.
* ``wrong-enum-text`` ("6 = DELETED" on J/S) - needs no filter: a description is not validated.
* ``api-root`` - ``GET /api/v1`` is not in the files: the exchange is not validated at all.

Anything else (a wrong type, a missing required field, an undeclared path, status or query
parameter, a missing API key on a protected route) is a violation. Error answers (4xx/5xx) whose
status the operation does not document can be skipped with ``allow_undocumented_errors=True``
(the files document success bodies only); their requests are still validated.

``ValidatingTransport(fake)`` routes an ``httpx`` client into a ``FakeSeerr`` and validates every
exchange, collecting the problems in ``.violations`` instead of raising.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import httpx
import pytest
import yaml
from jsonschema.exceptions import ValidationError as SchemaError
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.responses.exceptions import ResponseNotFound
from werkzeug.datastructures import Headers, ImmutableMultiDict

from aperture_overseerr.testing import FakeSeerr
from aperture_overseerr.testing.fake_routes import RESERVED

SPEC_DIR = Path(__file__).parents[1].parent / "shared" / "reference" / "openapi"
SPEC_FILES: Mapping[str, str] = {
    "overseerr": "overseerr-api.yml",
    "jellyseerr": "jellyseerr-v2.7.3-api.yml",
    "seerr": "seerr-api.yml",
}
API_ROOT = "/api/v1"

#: (schema component, property) pairs the servers send as ``null`` although the files say otherwise.
NULLABLE_COLUMNS: frozenset[tuple[str, str]] = frozenset(
    {
        ("User", "username"),
        ("User", "plexUsername"),
        ("User", "jellyfinUsername"),
        ("MediaRequest", "serverId"),
        ("MediaRequest", "profileId"),
        ("MediaRequest", "rootFolder"),
        ("MediaRequest", "modifiedBy"),
        ("MediaInfo", "tvdbId"),
        ("MediaInfo", "imdbId"),
    }
)

ALLOWED_GAPS: Mapping[str, str] = {
    "nullable-columns": "null in a nullable entity column typed as non-null (NULLABLE_COLUMNS)",
    "email-stripped": "User.email removed for an X-Api-User caller",
    "quota-fields-omitted": "no filter needed: the quota schema requires nothing",
    "undocumented-fields": "no filter needed: additional properties are allowed by every schema",
    "x-api-user-header": "no filter needed: undeclared headers are ignored",
    "wrong-enum-text": "no filter needed: descriptions are not validated",
    "api-root": "GET /api/v1 is not in the files and is not validated",
}


class OpenAPIViolationError(AssertionError):
    """An exchange disagrees with the OpenAPI file beyond the allowed gaps."""

    def __init__(self, where: str, problems: list[str]) -> None:
        super().__init__(f"{where}: " + "; ".join(problems))
        self.where = where
        self.problems = problems


# ---------------------------------------------------------------------- spec loading
def spec_path(flavour: str) -> Path:
    """The OpenAPI file of a flavour; skips the calling test when the reference folder is missing."""
    path = SPEC_DIR / SPEC_FILES[flavour]
    if not path.is_file():
        pytest.skip(f"OpenAPI reference files not found at {SPEC_DIR} (shared/reference is not checked out)")
    return path


@functools.cache
def _load(path: Path) -> tuple[OpenAPI, dict[str, Any]]:
    """openapi-core's object and the raw document (for locating schema owners), cached per file."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return OpenAPI.from_dict(raw), raw


# ---------------------------------------------------------------------- httpx adapters
class HttpxOpenAPIRequest:
    """openapi-core's ``Request`` protocol over an ``httpx.Request``."""

    def __init__(self, request: httpx.Request) -> None:
        self._request = request
        query = parse_qsl(request.url.query.decode("latin-1"), keep_blank_values=True)
        cookie = SimpleCookie()
        cookie.load(request.headers.get("cookie", ""))
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(query),
            header=Headers(list(request.headers.multi_items())),
            cookie=ImmutableMultiDict({name: morsel.value for name, morsel in cookie.items()}),
        )

    @property
    def host_url(self) -> str:
        return f"{self._request.url.scheme}://{self._request.url.netloc.decode('ascii')}"

    @property
    def path(self) -> str:
        return self._request.url.path

    @property
    def method(self) -> str:
        return self._request.method.lower()

    @property
    def body(self) -> bytes | None:
        return self._request.content or None

    @property
    def content_type(self) -> str:
        return self._request.headers.get("content-type", "").lower()


class HttpxOpenAPIResponse:
    """openapi-core's ``Response`` protocol over an ``httpx.Response`` (already read)."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status_code(self) -> int:
        return self._response.status_code

    @property
    def content_type(self) -> str:
        return self._response.headers.get("content-type", "").lower()

    @property
    def headers(self) -> Headers:
        return Headers(list(self._response.headers.multi_items()))

    @property
    def data(self) -> bytes | None:
        return self._response.content or None


# ---------------------------------------------------------------------- the allow-list
def _resolve(document: dict[str, Any], node: Any) -> tuple[Any, str | None]:
    """Follow ``$ref`` chains; returns the schema and the component name reached (if any)."""
    name = None
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        name = ref.rsplit("/", 1)[-1]
        node = document["components"]["schemas"][name]
    return node, name


def _owner(
    document: dict[str, Any], root: Any, schema_path: Iterable[Any]
) -> tuple[str | None, str | None, str | None]:
    """Walk a failing keyword's schema path from the response schema ``root``.

    Returns (component owning the last property stepped into, that property, component of the
    schema the keyword sits in). Inline schemas have no component name (None)."""
    steps = list(schema_path)[:-1]  # the last step is the failing keyword
    node, component = _resolve(document, root)
    owner: str | None = None
    prop: str | None = None
    index = 0
    while index < len(steps):
        step = steps[index]
        if step == "properties" and index + 1 < len(steps):
            owner, prop = component, steps[index + 1]
            node = node["properties"][prop]
            index += 2
        else:
            owner, prop = None, None
            node = node[step]
            index += 1
        node, component = _resolve(document, node)
    return owner, prop, component


def _allowed(error: SchemaError, document: dict[str, Any], root: Any, request: httpx.Request) -> str | None:
    """The name of the allowed gap that covers ``error``, or None."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict[Any, list[SchemaError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        for subs in branches.values():
            # a branch is acceptable when each of its failures is an allowed gap
            gaps = {_allowed(sub, document, root, request) for sub in subs}
            if None not in gaps:
                return next(iter(gaps))
        return None
    owner, prop, component = _owner(document, root, error.absolute_schema_path)
    if error.validator == "type" and error.instance is None and (owner, prop) in NULLABLE_COLUMNS:
        return "nullable-columns"
    if (
        error.validator == "required"
        and component == "User"
        and isinstance(error.instance, dict)
        and "email" not in error.instance
        and "'email' is a required property" in error.message
        and request.headers.get("x-api-user") not in (None, "1")
    ):
        return "email-stripped"
    return None


def _match_template(document: dict[str, Any], path: str) -> str | None:
    relative = path[len(API_ROOT) :] if path.startswith(API_ROOT) else path
    for template in document["paths"]:
        parts, wanted = template.strip("/").split("/"), relative.strip("/").split("/")
        if len(parts) == len(wanted) and all(
            p == w or (p.startswith("{") and p.endswith("}")) for p, w in zip(parts, wanted, strict=True)
        ):
            return template
    return None


def _query_problems(document: dict[str, Any], request: httpx.Request) -> Iterator[str]:
    """The real validator's extra query rules (notes §2), which openapi-core does not apply."""
    template = _match_template(document, request.url.path)
    if template is None:
        return
    operation = document["paths"][template].get(request.method.lower(), {})
    declared = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
    raw = request.url.query.decode("latin-1")
    for part in filter(None, raw.split("&")):
        raw_name, _, raw_value = part.partition("=")
        name = unquote_plus(raw_name)
        if name not in declared:
            yield f"request: unknown query parameter {name!r}"
        elif RESERVED.search(raw_value):
            yield f"request: query parameter {name!r} has unencoded reserved characters: {raw_value!r}"


def _response_schema(document: dict[str, Any], request: httpx.Request, status: int) -> Any:
    template = _match_template(document, request.url.path)
    if template is None:
        return None
    operation = document["paths"][template].get(request.method.lower(), {})
    response = operation.get("responses", {}).get(str(status), {})
    return response.get("content", {}).get("application/json", {}).get("schema")


def _describe(error: SchemaError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"{where}: {error.message}"


def exchange_problems(
    flavour: str,
    request: httpx.Request,
    response: httpx.Response,
    *,
    allow_undocumented_errors: bool = False,
) -> list[str]:
    """Every problem of one exchange after the allow-list (empty = valid)."""
    if request.url.path == API_ROOT:
        return []  # api-root
    api, document = _load(spec_path(flavour))
    oa_request = HttpxOpenAPIRequest(request)
    problems = list(_query_problems(document, request))
    for error in api.iter_request_errors(oa_request):
        cause = error.__cause__
        detail = f" ({cause})" if cause is not None else ""
        problems.append(f"request: {error}{detail}")
    root = _response_schema(document, request, response.status_code)
    for error in api.iter_response_errors(oa_request, HttpxOpenAPIResponse(response)):
        if isinstance(error, ResponseNotFound):
            if allow_undocumented_errors and response.status_code >= 400:
                continue
            problems.append(f"response: status {response.status_code} is not documented")
            continue
        schema_errors = getattr(error.__cause__, "schema_errors", None)
        if not schema_errors:
            problems.append(f"response: {error}")
            continue
        for schema_error in schema_errors:
            if _allowed(schema_error, document, root, request) is None:
                problems.append(f"response: {_describe(schema_error)}")
    return problems


def validate_exchange(
    flavour: str,
    request: httpx.Request,
    response: httpx.Response,
    *,
    allow_undocumented_errors: bool = False,
) -> None:
    """Raise ``OpenAPIViolationError`` unless the exchange matches the flavour's file (allowing §13)."""
    problems = exchange_problems(
        flavour, request, response, allow_undocumented_errors=allow_undocumented_errors
    )
    if problems:
        raise OpenAPIViolationError(f"{request.method} {request.url.raw_path.decode('ascii')}", problems)


class ValidatingTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An httpx transport into ``fake`` that validates each exchange; problems go to ``violations``.

    Error answers whose status the file does not document are skipped unless
    ``allow_undocumented_errors=False`` (their requests are always checked).
    """

    def __init__(self, fake: FakeSeerr, *, allow_undocumented_errors: bool = True) -> None:
        self.fake = fake
        self.allow_undocumented_errors = allow_undocumented_errors
        self.violations: list[str] = []
        self.exchanges = 0
        self._inner = fake.transport()

    def _check(self, request: httpx.Request, response: httpx.Response) -> None:
        self.exchanges += 1
        for problem in exchange_problems(
            self.fake.flavour, request, response, allow_undocumented_errors=self.allow_undocumented_errors
        ):
            self.violations.append(f"{request.method} {request.url.raw_path.decode('ascii')}: {problem}")

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        response.read()
        self._check(request, response)
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        await response.aread()
        self._check(request, response)
        return response

    def assert_clean(self) -> None:
        assert self.exchanges > 0, "no exchange went through the validating transport"
        assert not self.violations, "OpenAPI violations:\n" + "\n".join(self.violations)
