"""The one async HTTP client of the Seerr family (Overseerr, Jellyseerr, Seerr).

:class:`SeerrClient` owns one pooled ``httpx.AsyncClient`` (or uses one it is given, and then
does not close it), and one private :meth:`SeerrClient.request` that does everything that bites
clients of these servers (notes §2, §3, §10):

* ``X-Api-Key`` on every call; ``X-Api-User: <id>`` to act as a mapped user;
* query values percent-encoded by hand with ``quote(value, safe="")`` (space → ``%20``,
  ``:`` → ``%3A``, ``,`` → ``%2C``): the server's validator rejects raw reserved characters
  and ``+``;
* a timeout on every call; transport failures mapped to the error that says what to check
  (refused, DNS, timeout, TLS, connection dropped);
* both error body shapes, ``{"message": …}`` and ``{"status": 403, "error": …}``;
* 401 → missing key, 403 on the key check → wrong key, an HTML page or broken JSON → a clear
  "this is not the API" error, never a ``JSONDecodeError``; a 403 that mentions CSRF, whatever
  its body's shape, → :class:`~aperture_hookspecs.errors.CSRFProtectionError` (``csrf_enabled``);
* messages name the product that was detected (``product``, set once detection has run), and
  until then "the request server": a guess from the provider's name would be wrong on the
  other products ("Jellyseerr refused the API key" on a Seerr server);
* reads (GET) are retried with exponential backoff and jitter, within ``retry_budget``
  seconds of waiting, after a refused or dropped connection and after 429/502/503/504
  (honouring ``Retry-After``); timeouts, DNS and TLS failures are not retried, and writes
  never are (the caller checks before resubmitting);
* redirects are not followed automatically; the only one followed is the same host moving from
  ``http`` to ``https`` (same path). Any other redirect is an error that names the target, and
  the API key never travels to another host;
* every HTTP exchange is reported to ``observer`` (the host's ``/metrics``, through
  ``ProviderContext.report_call``) as its endpoint *template* (``"GET /api/v1/request/{id}"``:
  numeric path segments become ``{id}``; no query, no ids, no secrets), its outcome (the status
  as text, or the failure's code: ``"timeout"``, ``"connection_refused"``) and its duration.

Typed endpoint methods are two lines: call :meth:`request`, parse into a model
(:mod:`.models`). Which query parameters are sent is decided by the caller's
:class:`~aperture_overseerr.profiles.ProductProfile`.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import logging
import random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from aperture_hookspecs import (
    ApertureError,
    CannotConnectError,
    CSRFProtectionError,
    HostNotFoundError,
    InvalidAPIKeyError,
    MissingAPIKeyError,
    ProviderTimeoutError,
    RefusedConnectionError,
    TLSError,
    UnexpectedResponseError,
)

from .models import (
    MainSettings,
    MediaPage,
    MediaRequest,
    PublicSettings,
    Quota,
    QuotaDefaults,
    RequestCounts,
    RequestPage,
    SeerrUser,
    ServerStatus,
    Shape,
    TvShow,
    UserPage,
)
from .versions import distribution_version

log = logging.getLogger(__name__)


API_PREFIX = "/api/v1"
USER_AGENT = f"aperture-plugins/{distribution_version('aperture-overseerr')}"
PERMISSION_TEXT = "You do not have permission to access this endpoint"
NEUTRAL_NAME = "the request server"
"""How messages name the server before its product is detected."""
CSRF_HINTS = (
    "Turn off CSRF Protection in the server's Settings → General (Overseerr) or Settings → Network (Seerr)",
    "CSRF protection blocks every API write made with an API key, so requests cannot be filed",
)

Query = Iterable[tuple[str, str | int | bool]]

CallObserver = Callable[[str, str, float], None]
"""``observer(endpoint_template, outcome, seconds)``: one HTTP exchange with the server."""


def endpoint_template(method: str, path: str) -> str:
    """``("GET", "/request/5")`` → ``"GET /api/v1/request/{id}"``: the call without its values."""
    segments = ["{id}" if segment.isascii() and segment.isdigit() else segment for segment in path.split("/")]
    return f"{method} {API_PREFIX}{'/'.join(segments)}"


def encode_query(params: Query) -> str:
    """Percent-encode query parameters the way the server's validator accepts (never ``+``)."""
    parts = []
    for name, value in params:
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        parts.append(f"{quote(name, safe='')}={quote(text, safe='')}")
    return "&".join(parts)


@dataclass(frozen=True, slots=True)
class Answer:
    """A raw answer: status code and parsed JSON body (``None`` for an empty body)."""

    status: int
    body: Any

    def message(self) -> str:
        return error_text(self.body)


def error_text(body: Any) -> str:
    """The human text of an error body in either shape (``message`` or ``error``)."""
    if isinstance(body, Mapping):
        for key in ("message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    return ""


@functools.cache
def tls_context(verify: bool) -> ssl.SSLContext:
    """The process's TLS context for ``verify`` (certificates checked, or not).

    Building one loads the CA bundle, about 15 ms; a context is safe to share, so every client
    (one per provider and set of settings) uses the same one instead of paying that on its first
    call."""
    return httpx.create_ssl_context(verify=verify)


class SeerrClient:
    """An async client for one Seerr-family server (see the module docstring).

    ``http`` is an injected ``httpx.AsyncClient`` (for sharing a pool, or for tests); when it is
    not given the client creates one and :meth:`aclose` closes it. ``transport`` is passed to
    the client it creates (tests route it to a fake server). ``product`` is the detected
    product's name for messages; leave it out until detection has run (messages then say
    "the request server"), and set the attribute once it has. ``observer`` hears of every HTTP
    exchange (see the module docstring); it must not raise (``ProviderContext.report_call``
    never does).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        verify_tls: bool = True,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        product: str | None = None,
        retries: int = 2,
        retry_budget: float = 2.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        observer: CallObserver | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.observer = observer
        self.retries = retries
        self.retry_budget = retry_budget
        self._sleep = sleep
        self._random = jitter
        self._api_key = api_key
        self.timeout = timeout
        self.product: str = product or NEUTRAL_NAME
        self._owns_http = http is None
        self.http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            verify=tls_context(verify_tls),
            transport=transport,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"SeerrClient({self.base_url!r})"

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    async def __aenter__(self) -> SeerrClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- the one request method -----------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Query = (),
        body: Any = None,
        act_as: int | None = None,
        expect: Iterable[int] = (200,),
        time_limit: float | None = None,
    ) -> Answer:
        """Send one API call and return its answer if its status is in ``expect`` (see
        :meth:`_call`). An error raised carries the detected product (``error.product``).
        ``time_limit`` replaces the client's timeout for this call (seconds)."""
        try:
            return await self._call(
                method, path, query=query, body=body, act_as=act_as, expect=expect, time_limit=time_limit
            )
        except ApertureError as error:
            if error.product is None and self.product != NEUTRAL_NAME:
                error.product = self.product
            raise

    async def _call(
        self,
        method: str,
        path: str,
        *,
        query: Query,
        body: Any,
        act_as: int | None,
        expect: Iterable[int],
        time_limit: float | None = None,
    ) -> Answer:
        """Send one API call and return its answer if its status is in ``expect``.

        Other statuses raise: 401 → :class:`MissingAPIKeyError`; 403 with the permission body
        on a call made as the key's owner → :class:`InvalidAPIKeyError`; a 403 that mentions
        CSRF (``invalid csrf token``, in any body, even where 403 is expected) →
        :class:`CSRFProtectionError`; anything else →
        :class:`UnexpectedResponseError` with the server's message. Callers that handle a
        status themselves (404, 409, 202, 403 on a request) list it in ``expect``.
        """
        url = f"{self.base_url}{API_PREFIX}{path}"
        encoded = encode_query(query)
        if encoded:
            url = f"{url}?{encoded}"
        headers = {"X-Api-Key": self._api_key}
        if act_as is not None:
            headers["X-Api-User"] = str(act_as)
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        where = f"{method} {API_PREFIX}{path}"
        template = endpoint_template(method, path)
        expected = set(expect)
        attempts = 1 + (self.retries if method == "GET" else 0)
        budget_ends = time.monotonic() + self.retry_budget
        for attempt in range(attempts):
            last = attempt == attempts - 1
            delay: float | None
            try:
                response = await self._send(method, url, headers, content, where, template, time_limit)
            except CannotConnectError as error:
                if last or not _transient(error):
                    raise
                delay = self._backoff(attempt)
                log.info("%s failed (%s); retrying in %.2f s", where, error.message, delay)
            else:
                if response.status_code == 403 and b"csrf" in response.content.lower():
                    raise self._csrf_error(where)
                if response.status_code in expected and response.status_code in GATEWAY_STATUSES:
                    # a proxy's own page (often HTML): the status is the answer the caller wants
                    answer = Answer(response.status_code, _json_or_none(response))
                else:
                    answer = Answer(response.status_code, self._json(response, where))
                if answer.status in expected:
                    return answer
                delay = self._retry_delay(answer, response, attempt)
                if last or answer.status not in RETRY_STATUSES or delay is None:
                    raise self._status_error(answer, where, act_as, response)
                log.info("%s answered %s; retrying in %.2f s", where, answer.status, delay)
            if time.monotonic() + delay > budget_ends:
                break
            await self._sleep(delay)
        raise CannotConnectError(f"{self._subject} kept failing {where}; gave up after {attempts} tries")

    @property
    def _subject(self) -> str:
        """The server's name at the start of a sentence."""
        return self.product[:1].upper() + self.product[1:]

    def _csrf_error(self, where: str) -> CSRFProtectionError:
        return CSRFProtectionError(
            f"{self._subject} has CSRF protection switched on: it refused {where} (403 invalid csrf token)",
            hints=CSRF_HINTS,
        )

    async def _send(
        self,
        method: str,
        url: str | httpx.URL,
        headers: dict[str, str],
        content: bytes | None,
        where: str,
        template: str,
        time_limit: float | None = None,
    ) -> httpx.Response:
        """One HTTP exchange, with the only redirect ever followed (same host, http → https)."""
        response = await self._exchange(method, url, headers, content, where, template, time_limit)
        if response.is_redirect and _is_https_upgrade(response.request.url, response.headers.get("location")):
            upgraded = response.request.url.copy_with(scheme="https", port=_https_port(response))
            log.warning("%s redirects to HTTPS; following it (save the https:// URL)", self.base_url)
            response = await self._exchange(method, upgraded, headers, content, where, template, time_limit)
        if response.is_redirect:
            raise self._redirect_error(response, where)
        return response

    async def _exchange(
        self,
        method: str,
        url: str | httpx.URL,
        headers: dict[str, str],
        content: bytes | None,
        where: str,
        template: str,
        time_limit: float | None,
    ) -> httpx.Response:
        """One request and its answer, reported to :attr:`observer`."""
        started = time.perf_counter()
        try:
            if time_limit is None:
                response = await self.http.request(method, url, headers=headers, content=content)
            else:
                response = await self.http.request(
                    method, url, headers=headers, content=content, timeout=httpx.Timeout(time_limit)
                )
        except httpx.HTTPError as error:
            failure = self._transport_error(error, where, time_limit)
            self._report(template, failure.code, started)
            raise failure from None
        except asyncio.CancelledError:
            self._report(template, "cancelled", started)
            raise
        except Exception:
            self._report(template, "error", started)
            raise
        self._report(template, str(response.status_code), started)
        return response

    def _report(self, template: str, outcome: str, started: float) -> None:
        if self.observer is not None:
            self.observer(template, outcome, time.perf_counter() - started)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: 0.25 s, 0.5 s, … plus up to 25 % more."""
        base = 0.25 * (2**attempt)
        return base * (1 + 0.25 * self._random())

    def _retry_delay(self, answer: Answer, response: httpx.Response, attempt: int) -> float | None:
        """How long to wait before retrying a read; ``None`` when it is not worth it."""
        if answer.status != 429:
            return self._backoff(attempt)
        wait = _retry_after(response.headers.get("retry-after"))
        if wait is None:
            return self._backoff(attempt)
        return wait if wait <= self.retry_budget else None

    def _redirect_error(self, response: httpx.Response, where: str) -> UnexpectedResponseError:
        location = response.headers.get("location", "")
        target = httpx.URL(self.base_url).join(location) if location else None
        hint = (
            f"Enter the address it redirects to as the URL ({target.scheme}://{target.netloc.decode()})"
            if target is not None
            else "Enter the server's final address as the URL"
        )
        return UnexpectedResponseError(
            f"{where} was redirected ({response.status_code}) to {location or 'an unknown place'}; "
            "the API key is not sent across redirects",
            hints=(hint,),
        )

    def _json(self, response: httpx.Response, where: str) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        content_type = response.headers.get("content-type", "")
        if "html" in content_type or response.content.lstrip()[:1] == b"<":
            raise UnexpectedResponseError(
                f"{where} answered with an HTML page (status {response.status_code}), "
                f"not the API of {self.product}",
                hints=(
                    f"Check the URL points at {self.product} itself (e.g. http://host:5055), "
                    "not a reverse proxy's login page or another web app",
                    "If a single sign-on proxy sits in front, let /api/v1 through without login",
                ),
            )
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError):
            raise UnexpectedResponseError(
                f"{where} answered with a body that is not valid JSON (status {response.status_code}; "
                "truncated or not an API answer)",
                hints=("Check the server's logs, and that nothing between here and it cuts answers short",),
            ) from None

    def _status_error(
        self, answer: Answer, where: str, act_as: int | None, response: httpx.Response | None = None
    ) -> Exception:
        text = answer.message()
        if answer.status == 429:
            after = response.headers.get("retry-after") if response is not None else None
            when = f"; it asks to wait {after} s" if after and after.strip().isdigit() else ""
            return UnexpectedResponseError(
                f"Too many requests: {where} was rate-limited (429){when}",
                hints=(
                    f"{self._subject} does not rate-limit its API itself: check a reverse proxy in front",
                    "Raise the proxy's limit for Aperture's address, or poll less often",
                ),
            )
        if answer.status == 401:
            return MissingAPIKeyError(
                f"{self._subject} says no API key reached it (401 on {where})",
                hints=(
                    f"Enter the API key from {self.product}'s Settings → General",
                    "If a reverse proxy sits in front, make it pass the X-Api-Key header",
                ),
            )
        if answer.status == 403 and text == PERMISSION_TEXT and act_as is None:
            return InvalidAPIKeyError(
                f"{self._subject} refused the API key (403 on {where})",
                hints=(
                    "API key is invalid or expired",
                    f"Generate a new key in {self.product}'s Settings → General",
                ),
            )
        if answer.status == 403:
            return UnexpectedResponseError(f"{self._subject} refused {where}: {text or 'forbidden'} (403)")
        if answer.status >= 500:
            return UnexpectedResponseError(
                f"{self._subject} failed to answer {where}: {text or 'server error'} ({answer.status})",
                hints=(f"Check {self.product}'s logs", "Try again in a minute; the server may be restarting"),
            )
        return UnexpectedResponseError(
            f"{self._subject} answered {where} with {answer.status}: {text or 'no message'}"
        )

    def _transport_error(
        self, error: httpx.HTTPError, where: str, time_limit: float | None = None
    ) -> CannotConnectError:
        target = self.base_url
        if isinstance(error, httpx.TimeoutException):
            kind = "connecting" if isinstance(error, httpx.ConnectTimeout) else "waiting for an answer"
            seconds = self.timeout if time_limit is None else time_limit
            return ProviderTimeoutError(
                f"{self._subject} at {target} timed out while {kind} ({seconds:g} s, {where})",
                hints=(
                    f"Check {self.product} is running and reachable from this machine",
                    "Ensure no firewall silently drops the connection",
                    "Raise the timeout if the server is slow",
                ),
            )
        cause = _root_cause(error)
        if isinstance(cause, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(error):
            return TLSError(f"TLS with {target} failed: {_short(cause or error)}")
        if isinstance(cause, socket.gaierror) or "Name or service not known" in str(error):
            return HostNotFoundError(f"The host in {target} could not be resolved (DNS)")
        if isinstance(cause, ConnectionRefusedError) or "refused" in str(error).lower():
            return RefusedConnectionError(
                f"Connection refused by {target}",
                hints=(
                    "Verify URL is correct",
                    f"Check {self.product} is running",
                    "Ensure port is accessible",
                ),
            )
        if isinstance(error, httpx.ConnectError):
            return CannotConnectError(f"Cannot connect to {target}: {_short(cause or error)}")
        return CannotConnectError(
            f"The connection to {target} broke during {where}: {_short(cause or error)}",
            hints=(f"Check {self.product} is running and stable", "Try again"),
        )

    # -- public endpoints -----------------------------------------------------------------

    async def api_root(self) -> Any:
        """``GET /api/v1``: ``{"api": "Jellyseerr API", …}``, or ``None`` if it does not say."""
        return (await self.request("GET", "", expect=range(200, 600))).body

    async def status(self) -> ServerStatus:
        return ServerStatus.parse((await self.request("GET", "/status")).body)

    async def public_settings(self) -> PublicSettings:
        return PublicSettings.parse((await self.request("GET", "/settings/public")).body)

    # -- authenticated endpoints ----------------------------------------------------------

    async def me(self, act_as: int | None = None) -> SeerrUser:
        return SeerrUser.parse(
            (await self.request("GET", "/auth/me", act_as=act_as)).body, "GET /api/v1/auth/me"
        )

    async def quota_defaults(self) -> QuotaDefaults | None:
        """The global default quotas (admin key only); ``None`` when the server does not say."""
        return QuotaDefaults.parse((await self.request("GET", "/settings/main")).body)

    async def csrf_protection(self) -> bool:
        """Is CSRF protection on? (admin key only; ``/settings/main`` on Overseerr, ``/settings/network``
        on Jellyseerr 2.x and Seerr, where the switch moved)."""
        main = (await self.request("GET", "/settings/main")).body
        if isinstance(main, Mapping) and "csrfProtection" in main:
            return MainSettings.parse(main).csrf_protection
        network = (await self.request("GET", "/settings/network", expect=(200, 404))).body
        if isinstance(network, Mapping) and "csrfProtection" in network:
            return MainSettings.parse(network).csrf_protection
        return False

    async def users(self, *, take: int, skip: int, extra: Query = ()) -> UserPage:
        answer = await self.request("GET", "/user", query=[("take", take), ("skip", skip), *extra])
        return UserPage.parse(answer.body)

    async def user(self, user_id: int) -> SeerrUser | None:
        answer = await self.request("GET", f"/user/{user_id}", expect=(200, 404))
        return None if answer.status == 404 else SeerrUser.parse(answer.body, "GET /api/v1/user/{id}")

    async def quota(self, user_id: int) -> Quota:
        answer = await self.request("GET", f"/user/{user_id}/quota")
        return Quota.parse(answer.body, "GET /api/v1/user/{id}/quota")

    async def user_requests(self, user_id: int, *, take: int, skip: int = 0) -> RequestPage:
        answer = await self.request(
            "GET", f"/user/{user_id}/requests", query=[("take", take), ("skip", skip)]
        )
        return RequestPage.parse(answer.body, "GET /api/v1/user/{id}/requests")

    async def media(
        self, *, take: int, skip: int, sort: str = "modified", filter: str | None = None
    ) -> MediaPage:
        query: list[tuple[str, str | int | bool]] = [("take", take), ("skip", skip), ("sort", sort)]
        if filter is not None:
            query.append(("filter", filter))
        return MediaPage.parse((await self.request("GET", "/media", query=query)).body)

    async def get_request(self, request_id: int) -> MediaRequest | None:
        """``GET /request/{id}``; ``None`` when the server no longer has it (404)."""
        answer = await self.request("GET", f"/request/{request_id}", expect=(200, 404))
        if answer.status == 404:
            return None
        return MediaRequest.parse(answer.body, "GET /api/v1/request/{id}")

    async def request_counts(self) -> RequestCounts:
        return RequestCounts.parse((await self.request("GET", "/request/count")).body)

    async def requests_page(self, query: Query) -> RequestPage:
        answer = await self.request("GET", "/request", query=query)
        return RequestPage.parse(answer.body, "GET /api/v1/request")

    async def title_details(self, media_type: str, tmdb_id: int) -> Shape:
        """``GET /movie/{id}`` or ``/tv/{id}`` (TMDB-backed: slow; use sparingly)."""
        answer = await self.request("GET", f"/{media_type}/{tmdb_id}")
        return Shape(answer.body, f"GET /api/v1/{media_type}/{{id}}")

    async def tv_show(self, tmdb_id: int) -> TvShow:
        """``GET /tv/{id}``: the show's TMDB seasons (TMDB-backed: only before a TV request)."""
        answer = await self.request("GET", f"/tv/{tmdb_id}")
        return TvShow.parse(answer.body)

    async def webhook_settings(self) -> Shape:
        """``GET /settings/notifications/webhook`` (admin key): the webhook agent's settings."""
        answer = await self.request("GET", WEBHOOK_SETTINGS)
        return Shape(answer.body, f"GET {API_PREFIX}{WEBHOOK_SETTINGS}")

    async def save_webhook_settings(self, body: Mapping[str, Any]) -> Shape:
        """``POST /settings/notifications/webhook`` (admin key): save them; the stored form."""
        answer = await self.request("POST", WEBHOOK_SETTINGS, body=dict(body))
        return Shape(answer.body, f"POST {API_PREFIX}{WEBHOOK_SETTINGS}")

    async def test_webhook(self, body: Mapping[str, Any], *, time_limit: float) -> Answer:
        """``POST /settings/notifications/webhook/test``: the server sends its test notification
        with these settings, unsaved, and answers 204 once the receiver answered 2xx, 500 when it
        could not deliver (the caller says which). It waits on the receiver without a limit of
        its own (notes §11), so this call has its own ``time_limit`` (seconds)."""
        return await self.request(
            "POST", f"{WEBHOOK_SETTINGS}/test", body=dict(body), expect=(204, 500), time_limit=time_limit
        )

    async def create_request(self, body: Mapping[str, Any], act_as: int) -> Answer:
        """``POST /request`` as ``act_as``; returns 201/202/403/409/500 answers for the caller, and
        the gateway answers 502/503/504 too: a proxy that gave up may have passed the request on,
        so whether it was filed is unknown (the caller checks before sending it again)."""
        return await self.request(
            "POST",
            "/request",
            body=dict(body),
            act_as=act_as,
            expect=(201, 202, 403, 409, 500, *GATEWAY_STATUSES),
        )


WEBHOOK_SETTINGS = "/settings/notifications/webhook"
"""The webhook agent's settings (admin only; notes §11)."""

GATEWAY_STATUSES = (502, 503, 504)
"""A proxy's answers when the server behind it failed, or did not answer in time."""

RETRY_STATUSES = frozenset({429, *GATEWAY_STATUSES})
"""Answers worth retrying a read for: rate limiting, and a proxy whose server is restarting."""


def _json_or_none(response: httpx.Response) -> Any:
    """The JSON body of an answer, or ``None`` when it has none or is not JSON."""
    try:
        return response.json() if response.content else None
    except (ValueError, UnicodeDecodeError):
        return None


def _transient(error: CannotConnectError) -> bool:
    """Connection failures worth a quick retry: refused (restarting) or dropped mid-way.

    Not DNS or TLS failures (they will not fix themselves in a second), and not timeouts (one
    already used the whole timeout; a retry would double the wait)."""
    return not isinstance(error, HostNotFoundError | TLSError | ProviderTimeoutError)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (a number or an HTTP date), if it has one."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _is_https_upgrade(url: httpx.URL, location: str | None) -> bool:
    """Is this redirect the same host moving from http to https (the only one followed)?"""
    if not location or url.scheme != "http":
        return False
    target = url.join(location)
    return target.scheme == "https" and target.host == url.host and target.path == url.path


def _https_port(response: httpx.Response) -> int | None:
    target = response.request.url.join(response.headers["location"])
    return target.port


def _root_cause(error: BaseException) -> BaseException | None:
    seen: set[int] = set()
    current: BaseException | None = error
    deepest: BaseException | None = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError | ssl.SSLError):
            deepest = current
        current = current.__cause__ or current.__context__
    return deepest


def _short(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "…"
