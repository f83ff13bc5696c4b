"""The HTTP surface of the fake Seerr server: routing, validator traps, authentication, JSON shapes.

``FakeRouter.dispatch`` turns one ``httpx.Request`` into one ``httpx.Response`` in the order the
real server's middleware runs (notes §2, §3): fault switches, ``/api/v1`` routing (404/405), the
CSRF check on non-GET requests, the OpenAPI validator's security check (401), its parameter checks
(reserved characters, unknown query parameters, types and enums, request body: 400), the
``isAuthenticated`` guard (403 with ``error``) and finally the route itself. The serializers turn
``fake_state`` records into the camelCase JSON of the servers' entities (``fake_json``). State
changes are delegated to the server it is given (``fake_protocol.FakeServer``, implemented by
``FakeSeerr``, which composes this router); this module holds no state of its own and does not
import ``fake_seerr``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote, unquote_plus

import httpx

from .fake_flavours import (
    ADMIN,
    MANAGE_BLOCKLIST,
    MANAGE_REQUESTS,
    MANAGE_USERS,
    MEDIA_AVAILABLE,
    MEDIA_PARTIALLY_AVAILABLE,
    MEDIA_PENDING,
    MEDIA_PROCESSING,
    REQUEST_APPROVED,
    REQUEST_COMPLETED,
    REQUEST_DECLINED,
    REQUEST_FAILED,
    REQUEST_PENDING,
    REQUEST_VIEW,
    VIEW_BLOCKLIST,
    ParamSpec,
    has_permission,
)
from .fake_json import EntityJson
from .fake_protocol import FakeServer
from .fake_state import (
    FakeHttpError,
    NeverAnsweredError,
    RecordedCall,
    RequestRecord,
    TitleRecord,
    UserRecord,
    entity_not_found,
    iso,
    message_error,
    permission_error,
)
from .fake_webhook import FAILED_TO_SEND

API_PREFIX = "/api/v1"
#: The characters express-openapi-validator 4.13.8 refuses, unencoded, in a query value (notes §2).
RESERVED = re.compile(r"[:/?#\[\]@!$&'()*+,;=]")
_TMDB_PREFIXES = ("/movie/", "/tv/", "/search", "/discover/")
_JSON = "application/json; charset=utf-8"
#: The server's VAPID public key (web push); made up, as every install generates its own.
_VAPID_PUBLIC = "BFAKE-vapid-public-key-of-the-fake-seerr-server-0000000000000000000000000000000000000"
#: ``JSON.stringify`` (Express's ``res.json``) writes no spaces between items or after colons.
JS_SEPARATORS = (",", ":")
_LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>"
    b'<form method="post" action="/login"><input name="username"><input name="password" type="password">'
    b"<button>Sign in</button></form></body></html>"
)


def strip_prefix(path: str) -> str:
    """``/api/v1/request`` → ``/request``; the API root → ``/``; other paths unchanged."""
    if path in (API_PREFIX, API_PREFIX + "/"):
        return "/"
    if path.startswith(API_PREFIX + "/"):
        return path[len(API_PREFIX) :]
    return path


def classify_kind(method: str, path: str) -> Literal["tmdb", "db"]:
    """``"tmdb"`` for the routes that call TMDB on the server (notes §6), else ``"db"``."""
    if method.upper() == "POST" and path.rstrip("/") == "/request":
        return "tmdb"
    if path.startswith(_TMDB_PREFIXES) or path == "/search":
        return "tmdb"
    return "db"


@dataclass
class Context:
    """What a route handler gets: the acting user, path parameters, decoded query, JSON body."""

    user: UserRecord
    params: dict[str, str]
    query: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Context], tuple[int, Any]]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    public: bool = False
    permission: int = 0
    path_params: Mapping[str, ParamSpec] = field(default_factory=dict)
    body: Literal["request", "media_status", "blocklist", "webhook"] | None = None

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template)) + "$")


class FakeRouter:
    """Routes requests into a fake server (``fake_protocol.FakeServer``, whose lock the caller
    holds) and records each call."""

    def __init__(self, fake: FakeServer) -> None:
        self.fake = fake
        self.traits = fake.traits
        self.json = EntityJson(fake)
        number = ParamSpec("number")
        text = ParamSpec("string")
        routes = [
            Route("GET", "/status", self._status, public=True),
            Route("GET", "/status/appdata", self._appdata, public=True),
            Route("GET", "/settings/public", self._settings_public, public=True),
            Route("GET", "/settings/main", self._settings_main, permission=ADMIN),
            Route("GET", "/settings/about", self._settings_about, permission=ADMIN),
            Route("GET", "/auth/me", self._auth_me),
            Route("GET", "/user", self._user_list),
            Route("GET", "/user/{userId}", self._user_get, path_params={"userId": number}),
            Route("GET", "/user/{userId}/requests", self._user_requests, path_params={"userId": number}),
            Route("GET", "/user/{userId}/quota", self._user_quota, path_params={"userId": number}),
            Route("GET", "/media", self._media_list),
            Route(
                "POST",
                "/media/{mediaId}/{status}",
                self._media_status,
                permission=MANAGE_REQUESTS,
                path_params={
                    "mediaId": text,
                    "status": ParamSpec("string", self.traits.media_status_segments),
                },
                body="media_status",
            ),
            Route("GET", "/movie/{movieId}", self._movie, path_params={"movieId": number}),
            Route("GET", "/tv/{tvId}", self._tv, path_params={"tvId": number}),
            Route("GET", "/search", self._search),
            Route("GET", "/request", self._request_list),
            Route("POST", "/request", self._request_create, body="request"),
            Route("GET", "/request/count", self._request_count),
            Route("GET", "/request/{requestId}", self._request_get, path_params={"requestId": text}),
            Route("DELETE", "/request/{requestId}", self._request_delete, path_params={"requestId": text}),
            Route(
                "POST",
                "/request/{requestId}/{status}",
                self._request_status,
                permission=MANAGE_REQUESTS,
                path_params={"requestId": text, "status": ParamSpec("string", ("approve", "decline"))},
            ),
        ]
        if self.traits.csrf_settings_path == "/settings/network":
            routes.append(Route("GET", "/settings/network", self._settings_network, permission=ADMIN))
        hook = "/settings/notifications/webhook"  # the webhook agent (fake_webhook)
        routes += [
            Route("GET", hook, self._webhook_get, permission=ADMIN),
            Route("POST", hook, self._webhook_save, permission=ADMIN, body="webhook"),
            Route("POST", f"{hook}/test", self._webhook_test, permission=ADMIN, body="webhook"),
        ]
        name = self.traits.blocklist_name
        if name:
            # Seerr keeps Jellyseerr's /blacklist as a deprecated alias of /blocklist
            for prefix in dict.fromkeys((f"/{name}", "/blacklist")):
                routes.append(
                    Route("GET", prefix, self._blocklist_list, permission=MANAGE_BLOCKLIST | VIEW_BLOCKLIST)
                )
                routes.append(
                    Route("POST", prefix, self._blocklist_add, permission=MANAGE_BLOCKLIST, body="blocklist")
                )
        # literal templates before templated ones, so /request/count wins over /request/{requestId}
        self.routes = sorted(routes, key=lambda r: "{" in r.template)
        self._patterns = [(route, route.pattern) for route in self.routes]

    # ------------------------------------------------------------------ dispatch
    def dispatch(self, request: httpx.Request) -> httpx.Response:
        method = request.method.upper()
        full_path = request.url.path
        path = strip_prefix(full_path)
        raw_query = request.url.query.decode("latin-1")
        user = self._authenticate(request)
        cookies = self._csrf_cookies(request, method)
        try:
            status, content_type, content, headers = self._answer(
                request, method, full_path, path, raw_query, user
            )
        except NeverAnsweredError:
            self._record(method, path, raw_query, user, 0)
            raise
        except FakeHttpError as error:
            status, content_type, headers = error.status, _JSON, {}
            content = b"" if error.body is None else json.dumps(error.body, separators=JS_SEPARATORS).encode()
            if error.status == 403 and cookies:  # refused by the CSRF check: the secret cookie only
                cookies = cookies[:1]
        self._record(method, path, raw_query, user, status)
        all_headers: list[tuple[str, str]] = [("x-powered-by", "Express"), *headers.items()]
        all_headers.extend(("set-cookie", cookie) for cookie in cookies)
        if content:  # ``res.status(201).send()`` has no content type
            all_headers.append(("content-type", content_type))
        return httpx.Response(status, headers=all_headers, content=content, request=request)

    def _record(self, method: str, path: str, raw_query: str, user: UserRecord | None, status: int) -> None:
        self.fake.calls.append(
            RecordedCall(
                method=method,
                path=path,
                query=raw_query,
                user_id=user.id if user else None,
                status=status,
                kind=classify_kind(method, path),
            )
        )

    def _csrf_cookies(self, request: httpx.Request, method: str) -> list[str]:
        """With CSRF protection on (csurf, ``cookie`` mode, production): a ``_csrf`` secret cookie
        for a client that has none, and on answered requests an ``XSRF-TOKEN`` (notes §14)."""
        if not self.fake.csrf_protection:
            return []
        sent = request.headers.get("cookie", "")
        cookies = []
        if not any(part.strip().startswith("_csrf=") for part in sent.split(";")):
            secret = hashlib.sha1(f"csrf:{len(self.fake.calls)}".encode()).hexdigest()[:24]
            cookies.append(f"_csrf={secret}; Path=/; HttpOnly; Secure; SameSite=Strict")
        if method in ("GET", "HEAD", "OPTIONS"):
            token = hashlib.sha1(f"xsrf:{len(self.fake.calls)}".encode()).hexdigest()[:36]
            cookies.append(f"XSRF-TOKEN={token}; Path=/; Secure; SameSite=Strict")
        return cookies

    def _answer(
        self,
        request: httpx.Request,
        method: str,
        full_path: str,
        path: str,
        raw_query: str,
        user: UserRecord | None,
    ) -> tuple[int, str, bytes, dict[str, str]]:
        fake = self.fake
        if fake.html_login_page:
            return 200, "text/html; charset=utf-8", _LOGIN_PAGE, {}
        fault = fake.take_fault(path)
        if fault is not None:
            return fault.status, fault.content_type, fault.body, {}
        if full_path != API_PREFIX and not full_path.startswith(API_PREFIX + "/"):
            raise FakeHttpError(404, {"message": "not found"})
        if fake.csrf_protection and method not in ("GET", "HEAD", "OPTIONS"):
            raise message_error(403, "invalid csrf token")
        if full_path == API_PREFIX and method in ("GET", "HEAD"):
            return self._json(200, {"api": self.traits.api_name, "version": "1.0"})
        route, params = self._match(method, path, full_path)
        if not route.public and not self._has_credentials(request):
            message = "cookie 'connect.sid' required"
            raise FakeHttpError(
                401, {"message": message, "errors": [{"path": full_path, "message": message}]}
            )
        query = self._validate_query(route, raw_query)
        self._validate_path(route, params)
        body = self._parse_body(route, request, full_path)
        if self._acting_user_is_not_a_number(request):
            raise NeverAnsweredError  # ``checkUser`` with ``X-Api-User: abc``: the server never answers
        if route.public:
            context = Context(user=user or fake.users[1], params=params, query=query, body=body)
        else:
            if user is None or not has_permission(user.permissions, route.permission):
                raise permission_error()
            context = Context(user=user, params=params, query=query, body=body)
        status, payload = route.handler(context)
        if payload is None:
            return status, _JSON, b"", {}
        return self._json(status, payload)

    @staticmethod
    def _json(status: int, payload: Any) -> tuple[int, str, bytes, dict[str, str]]:
        return status, _JSON, json.dumps(payload, separators=JS_SEPARATORS).encode(), {}

    def _match(self, method: str, path: str, full_path: str) -> tuple[Route, dict[str, str]]:
        allowed: list[str] = []
        for route, pattern in self._patterns:
            found = pattern.match(path)
            if found is None:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, {k: unquote(v) for k, v in found.groupdict().items()}
            allowed.append(route.method)
        if allowed:
            message = f"{method} method not allowed"
            raise FakeHttpError(
                405, {"message": message, "errors": [{"path": full_path, "message": message}]}
            )
        raise FakeHttpError(
            404, {"message": "not found", "errors": [{"path": full_path, "message": "not found"}]}
        )

    # ------------------------------------------------------------------ authentication (notes §3)
    @staticmethod
    def _has_credentials(request: httpx.Request) -> bool:
        """The validator's security check: a non-empty ``X-Api-Key`` header or a session cookie."""
        if request.headers.get("x-api-key"):
            return True
        cookies = request.headers.get("cookie", "")
        return any(part.strip().split("=", 1)[0] == "connect.sid" for part in cookies.split(";"))

    def _acting_user_is_not_a_number(self, request: httpx.Request) -> bool:
        """The right key with an ``X-Api-User`` that ``Number()`` makes ``NaN`` (notes §14)."""
        acting = request.headers.get("x-api-user")
        if acting is None or request.headers.get("x-api-key") != self.fake.api_key:
            return False
        try:
            return not math.isfinite(float(acting.strip() or "0"))
        except ValueError:
            return True

    def _authenticate(self, request: httpx.Request) -> UserRecord | None:
        """``checkUser``: the exact API key acts as user 1, or as ``X-Api-User`` (a numeric id)."""
        if request.headers.get("x-api-key") != self.fake.api_key:
            return None
        acting = request.headers.get("x-api-user")
        if acting is None:
            return self.fake.users.get(1)
        user_id = _js_number(acting)
        return self.fake.users.get(user_id) if user_id is not None else None

    # ------------------------------------------------------------------ validation (notes §2)
    def _validate_query(self, route: Route, raw_query: str) -> dict[str, str]:
        specs = self.traits.query_params.get(route.template, {})
        pairs: list[tuple[str, str, str]] = []
        for part in raw_query.split("&") if raw_query else []:
            if not part:
                continue
            raw_name, _, raw_value = part.partition("=")
            pairs.append((unquote_plus(raw_name), raw_value, unquote_plus(raw_value)))
        for name, raw_value, _ in pairs:
            if name in specs and RESERVED.search(raw_value):
                message = (
                    f"Parameter '{name}' must be url encoded. Its value may not contain reserved characters."
                )
                raise _bad_request(f".query.{name}", message)
        for name, _, _ in pairs:
            if name not in specs:
                raise _bad_request(f".query.{name}", f"Unknown query parameter '{name}'")
        query = {name: value for name, _, value in pairs}
        for name, spec in specs.items():
            if name not in query:
                if spec.required:
                    raise _schema_error(
                        f".query.{name}",
                        f"should have required property '{name}'",
                        "required",
                        location="query",
                    )
                continue
            _check_value(f"query.{name}", query[name], spec)
        return query

    @staticmethod
    def _validate_path(route: Route, params: dict[str, str]) -> None:
        for name, spec in route.path_params.items():
            _check_value(f"params.{name}", params[name], spec)

    def _parse_body(self, route: Route, request: httpx.Request, full_path: str) -> dict[str, Any]:
        if route.body is None:
            return {}
        raw = request.content
        if not raw.strip():
            data: Any = {}
        else:
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != "application/json":
                message = f"unsupported media type {content_type or 'none'}"
                raise FakeHttpError(
                    415, {"message": message, "errors": [{"path": full_path, "message": message}]}
                )
            try:
                data = json.loads(raw)
            except ValueError as error:
                raise message_error(
                    400, f"Unexpected token in JSON at position {getattr(error, 'pos', 0)}"
                ) from None
        if not isinstance(data, dict):
            raise _schema_error(".body", "should be object", "type", location="body")
        if route.body == "request":
            _validate_request_body(data)
        elif route.body == "webhook":
            self.fake.webhook.validate(data)
        elif route.body == "blocklist":
            for name, check, kind in (
                ("tmdbId", _is_number, "number"),
                ("title", _is_text, "string"),
                ("userId", _is_number, "number"),
            ):
                if name in data and not check(data[name]):
                    raise _schema_error(f".body.{name}", f"should be {kind}", "type", location=f"body.{name}")
        elif "is4k" in data and not isinstance(data["is4k"], bool):
            raise _schema_error(".body.is4k", "should be boolean", "type", location="body.is4k")
        return data

    # ------------------------------------------------------------------ public routes
    def _status(self, ctx: Context) -> tuple[int, Any]:
        return 200, {
            "version": self.traits.version,
            "commitTag": "local",
            "updateAvailable": False,
            "commitsBehind": 0,
            "restartRequired": False,
        }

    def _appdata(self, ctx: Context) -> tuple[int, Any]:
        body: dict[str, Any] = {"appData": True, "appDataPath": "/app/config"}
        if self.traits.appdata_permissions:
            body["appDataPermissions"] = True
        return 200, body

    def _settings_public(self, ctx: Context) -> tuple[int, Any]:
        """``/settings/public`` with the keys each product sends (recorded)."""
        fake, traits = self.fake, self.traits
        body: dict[str, Any] = {
            "initialized": True,
            "applicationTitle": traits.product,
            "applicationUrl": "",
            "hideAvailable": False,
        }
        if traits.blocklist_name:
            body[f"hide{traits.blocklist_name.capitalize()}ed"] = False
        body["localLogin"] = True
        if traits.jellyseerr_fields:
            body.update(
                {"mediaServerLogin": True, "jellyfinExternalHost": "", "jellyfinForgotPasswordUrl": ""}
            )
        body.update({"movie4kEnabled": fake.radarr_4k, "series4kEnabled": fake.sonarr_4k})
        if traits.jellyseerr_fields:
            body.update({"discoverRegion": "", "streamingRegion": ""})
        else:
            body["region"] = ""
        body["originalLanguage"] = ""
        if traits.media_server_type is not None:
            body["mediaServerType"] = traits.media_server_type
        body["partialRequestsEnabled"] = fake.partial_requests_enabled
        if traits.special_episodes_setting:
            body["enableSpecialEpisodes"] = fake.enable_special_episodes
        body.update(
            {
                "cacheImages": False,
                "vapidPublic": _VAPID_PUBLIC,
                "enablePushRegistration": False,
                "locale": "en",
                "emailEnabled": False,
            }
        )
        if traits.jellyseerr_fields:
            body["userEmailRequired"] = False
        body["newPlexLogin"] = True
        if traits.jellyseerr_fields:
            body["youtubeUrl"] = ""
        return 200, body

    def _settings_main(self, ctx: Context) -> tuple[int, Any]:
        """``/settings/main`` with the keys each product sends (recorded); the CSRF switch is
        here on Overseerr, in ``/settings/network`` on Jellyseerr/Seerr."""
        fake, traits = self.fake, self.traits
        body: dict[str, Any] = {
            "apiKey": fake.api_key,
            "applicationTitle": traits.product,
            "applicationUrl": "",
        }
        if traits.csrf_settings_path == "/settings/main":
            body["csrfProtection"] = fake.csrf_protection
        body.update(
            {
                "cacheImages": False,
                "defaultPermissions": 32,
                "defaultQuotas": fake.default_quotas,
                "hideAvailable": False,
            }
        )
        name = traits.blocklist_name
        if name:
            body[f"hide{name.capitalize()}ed"] = False
        body["localLogin"] = True
        if traits.jellyseerr_fields:
            body["mediaServerLogin"] = True
        body["newPlexLogin"] = True
        if traits.jellyseerr_fields:
            body.update({"discoverRegion": "", "streamingRegion": ""})
        else:
            body["region"] = ""
        body["originalLanguage"] = ""
        if name:
            body.update({f"{name}edTags": "", f"{name}edTagsLimit": 50})
        if traits.csrf_settings_path == "/settings/main":
            body["trustProxy"] = False
        if traits.media_server_type is not None:
            body["mediaServerType"] = traits.media_server_type
        body["partialRequestsEnabled"] = fake.partial_requests_enabled
        if traits.special_episodes_setting:
            body["enableSpecialEpisodes"] = fake.enable_special_episodes
        body["locale"] = "en"
        if traits.jellyseerr_fields:
            body["youtubeUrl"] = ""
        return 200, body

    def _settings_network(self, ctx: Context) -> tuple[int, Any]:
        body: dict[str, Any] = {
            "csrfProtection": self.fake.csrf_protection,
            "forceIpv4First": False,
            "trustProxy": False,
            "proxy": {
                "enabled": False,
                "hostname": "",
                "port": 8080,
                "useSsl": False,
                "user": "",
                "password": "",
                "bypassFilter": "",
                "bypassLocalAddresses": True,
            },
        }
        if self.traits.network_settings_extras:
            body["dnsCache"] = {"enabled": False, "forceMinTtl": 0, "forceMaxTtl": -1}
            body["apiRequestTimeout"] = 10000
        return 200, body

    def _webhook_get(self, ctx: Context) -> tuple[int, Any]:
        return 200, self.fake.webhook.settings_json()

    def _webhook_save(self, ctx: Context) -> tuple[int, Any]:
        return 200, self.fake.webhook.save(ctx.body)

    def _webhook_test(self, ctx: Context) -> tuple[int, Any]:
        """Sends with the body's settings and waits (the server's lock released meanwhile)."""
        if self.fake.webhook.test(ctx.body, ctx.user):
            return 204, None
        raise message_error(500, FAILED_TO_SEND)

    def _settings_about(self, ctx: Context) -> tuple[int, Any]:
        return 200, {
            "version": self.traits.version,
            "totalMediaItems": len(self.fake.media),
            "totalRequests": len(self.fake.requests),
            "appDataPath": "/app/config",  # no ``tz``: the servers send it only with TZ set
        }

    # ------------------------------------------------------------------ users (notes §9)
    def _auth_me(self, ctx: Context) -> tuple[int, Any]:
        return 200, self.json.user(ctx.user, settings=True)

    def _user_list(self, ctx: Context) -> tuple[int, Any]:
        take = _take(ctx.query, 10)
        skip = _skip(ctx.query)
        users = list(self.fake.users.values())
        needle = ctx.query.get("q")
        if needle:
            lowered = needle.lower()
            users = [
                u
                for u in users
                if any(
                    lowered in (value or "").lower()
                    for value in (u.username, u.email, u.plex_username, u.jellyfin_username)
                )
            ]
        if "includeIds" in ctx.query:
            ids = {int(p) for p in ctx.query["includeIds"].split(",") if p.strip().isdigit()}
            users = [u for u in users if u.id in ids]
            if self.traits.include_ids_grow_take:
                take = max(take, len(ids))
        sort = ctx.query.get("sort", "created")
        counts = {u.id: self.json.request_count(u.id) for u in users}
        jellyfin = self.traits.has_jellyfin_fields
        if sort == "updated":
            users.sort(key=lambda u: u.updated_at, reverse=True)  # ties: ascending id (stable)
        elif sort == "requests":
            users.sort(key=lambda u: (-counts.get(u.id, 0), u.id))
        elif sort == "displayname":
            users.sort(key=lambda u: (u.display_name(jellyfin).lower(), u.id))
        else:
            users.sort(key=lambda u: u.id)
        filtered = not has_permission(ctx.user.permissions, MANAGE_USERS)
        page = users[skip : skip + take]
        return 200, {
            "pageInfo": page_info(len(users), take, skip),
            "results": [self.json.user(u, filtered=filtered) for u in page],
        }

    def _user_or_404(self, raw: str) -> UserRecord:
        user_id = _js_number(raw)
        user = self.fake.users.get(user_id) if user_id is not None else None
        if user is None:
            raise message_error(404, "User not found.")
        return user

    def _user_get(self, ctx: Context) -> tuple[int, Any]:
        user = self._user_or_404(ctx.params["userId"])
        own = user.id == ctx.user.id and self.traits.own_profile_unfiltered
        filtered = not own and not has_permission(ctx.user.permissions, MANAGE_USERS)
        return 200, self.json.user(user, settings=True, filtered=filtered)

    def _user_requests(self, ctx: Context) -> tuple[int, Any]:
        user = self._user_or_404(ctx.params["userId"])
        if user.id != ctx.user.id and not _can_view_requests(ctx.user):
            raise message_error(403, "You do not have permission to view this user's requests.")
        take = _take(ctx.query, 20)
        skip = _skip(ctx.query)
        mine = sorted(
            (r for r in self.fake.requests.values() if r.requested_by == user.id), key=lambda r: -r.id
        )
        return 200, {
            "pageInfo": page_info(len(mine), take, skip),
            "results": [self.json.request(r, media="bare") for r in mine[skip : skip + take]],
        }

    def _user_quota(self, ctx: Context) -> tuple[int, Any]:
        """The permission check comes first, then ``findOneOrFail`` (404 with TypeORM's text)."""
        user_id = _js_number(ctx.params["userId"])
        if user_id != ctx.user.id and not has_permission(ctx.user.permissions, MANAGE_USERS, MANAGE_REQUESTS):
            raise message_error(403, "You do not have permission to view this user's request limits.")
        user = self.fake.users.get(user_id) if user_id is not None else None
        if user is None:
            raise message_error(404, entity_not_found("User", user_id))
        return 200, self.fake.quota(user)

    # ------------------------------------------------------------------ media and TMDB (notes §6)
    def _media_list(self, ctx: Context) -> tuple[int, Any]:
        take = _take(ctx.query, 20)
        skip = _skip(ctx.query)
        wanted = {
            "available": (MEDIA_AVAILABLE,),
            "partial": (MEDIA_PARTIALLY_AVAILABLE,),
            "allavailable": (MEDIA_PARTIALLY_AVAILABLE, MEDIA_AVAILABLE),
            "processing": (MEDIA_PROCESSING,),
            "pending": (MEDIA_PENDING,),
        }.get(ctx.query.get("filter", "all"))  # "all", and "deleted" (implemented nowhere): no filter
        rows = [m for m in self.fake.media.values() if wanted is None or m.status in wanted]
        sort = ctx.query.get("sort", "added")
        # rows come in ascending id order; the sorts are stable, so equal timestamps (whole
        # seconds, trap 17) keep ascending id order as the real server's answers do
        if sort == "modified":
            rows.sort(key=lambda m: m.updated_at, reverse=True)
        elif sort == "mediaAdded":  # NULL sorts lowest in SQLite: last when descending
            rows.sort(
                key=lambda m: (m.media_added_at is not None, m.media_added_at or m.created_at), reverse=True
            )
        else:
            rows.sort(key=lambda m: m.id, reverse=True)
        return 200, {
            "pageInfo": page_info(len(rows), take, skip),
            "results": [self.json.media(m) for m in rows[skip : skip + take]],
        }

    def _media_status(self, ctx: Context) -> tuple[int, Any]:
        media_id = _js_number(ctx.params["mediaId"])
        media = self.fake.media.get(media_id) if media_id is not None else None
        if media is None:
            raise message_error(404, "Media does not exist.")
        seasons = [
            int(item["seasonNumber"])
            for item in ctx.body.get("seasons") or []
            if isinstance(item, dict) and _is_number(item.get("seasonNumber"))
        ]
        self.fake.set_media_status(media, ctx.params["status"], bool(ctx.body.get("is4k", False)), seasons)
        return 200, self.json.media(media)

    def _title(self, media_type: str, raw_id: str, noun: str) -> TitleRecord:
        tmdb_id = _js_number(raw_id)
        title = self.fake.titles.get((media_type, tmdb_id)) if tmdb_id is not None else None
        if title is None:
            raise message_error(500, f"Unable to retrieve {noun}.")
        return title

    def _movie(self, ctx: Context) -> tuple[int, Any]:
        title = self._title("movie", ctx.params["movieId"], "movie")
        body: dict[str, Any] = {
            "id": title.tmdb_id,
            "imdbId": title.imdb_id,
            "adult": False,
            "backdropPath": f"/fake-backdrop-{title.tmdb_id}.jpg",
            "posterPath": title.tmdb_poster(),
            "budget": 0,
            "genres": [{"id": 18, "name": "Drama"}],
            "homepage": "",
            "relatedVideos": [],
            "originalLanguage": "en",
            "originalTitle": title.title,
            "overview": title.tmdb_overview(),
            "popularity": 10.0,
            "productionCompanies": [],
            "productionCountries": [],
            "releaseDate": title.tmdb_date(),
            "releases": {"results": []},
            "revenue": 0,
            "runtime": 120,
            "spokenLanguages": [{"english_name": "English", "iso_639_1": "en", "name": "English"}],
            "status": "Released",
            "tagline": "",
            "title": title.title,
            "video": False,
            "voteAverage": 7.0,
            "voteCount": 100,
            "credits": {"cast": [], "crew": []},
            "externalIds": {
                "imdbId": title.imdb_id,
                "facebookId": None,
                "instagramId": None,
                "twitterId": None,
            },
            "watchProviders": [],
            "keywords": [],
        }
        if self.traits.jellyseerr_fields:
            body["onUserWatchlist"] = False
        self._attach_media_info(body, title, ctx.user)
        return 200, body

    def _tv(self, ctx: Context) -> tuple[int, Any]:
        title = self._title("tv", ctx.params["tvId"], "series")
        seasons = [
            {
                "id": title.tmdb_id * 100 + number,
                "airDate": f"{2000 + number}-01-01",
                "episodeCount": 10,
                "name": f"Season {number}" if number else "Specials",
                "overview": "",
                "posterPath": f"/fake-season-{title.tmdb_id}-{number}.jpg",
                "seasonNumber": number,
            }
            for number in title.season_numbers()
        ]
        body: dict[str, Any] = {
            "id": title.tmdb_id,
            "backdropPath": f"/fake-backdrop-{title.tmdb_id}.jpg",
            "posterPath": title.tmdb_poster(),
            "contentRatings": {"results": []},
            "relatedVideos": [],
            "createdBy": [],
            "episodeRunTime": [45],
            "firstAirDate": title.tmdb_date(),
            "genres": [{"id": 18, "name": "Drama"}],
            "homepage": "",
            "inProduction": False,
            "languages": ["en"],
            "lastAirDate": f"{2000 + max(title.seasons, 1)}-06-01",
            "name": title.title,
            "networks": [],
            "numberOfEpisodes": 10 * title.seasons,
            "numberOfSeasons": title.seasons,
            "originCountry": ["US"],
            "originalLanguage": "en",
            "originalName": title.title,
            "overview": title.tmdb_overview(),
            "popularity": 10.0,
            "productionCompanies": [],
            "productionCountries": [],
            "spokenLanguages": [{"englishName": "English", "iso_639_1": "en", "name": "English"}],
            "seasons": seasons,
            "status": "Ended",
            "tagline": "",
            "type": "Scripted",
            "voteAverage": 7.0,
            "voteCount": 100,
            "credits": {"cast": [], "crew": []},
            "externalIds": {
                "facebookId": None,
                "freebaseId": None,
                "freebaseMid": None,
                "imdbId": title.imdb_id,
                "instagramId": None,
                "tvdbId": title.tvdb_id,
                "tvrageId": None,
                "twitterId": None,
            },
            "keywords": [],
            "watchProviders": [],
        }
        if self.traits.jellyseerr_fields:
            body["onUserWatchlist"] = False
        self._attach_media_info(body, title, ctx.user)
        return 200, body

    def _attach_media_info(self, body: dict[str, Any], title: TitleRecord, viewer: UserRecord) -> None:
        """``mediaInfo`` only when a local row exists (no row → no key), with ``requests[]``."""
        media = self.fake.find_media(title.media_type, title.tmdb_id)
        if media is not None:
            body["mediaInfo"] = self.json.media(media, requests="embedded", issues=True)

    def _search(self, ctx: Context) -> tuple[int, Any]:
        text = ctx.query["query"].strip()
        page = max(1, int(float(ctx.query.get("page", "1") or 1)))
        titles = list(self.fake.titles.values())
        if text.lower().startswith("tmdb:"):
            wanted = _js_number(text[5:])
            found = [t for t in titles if t.tmdb_id == wanted]
        else:
            found = [t for t in titles if text.lower() in t.title.lower()]
        found.sort(key=lambda t: (t.title.lower(), t.media_type, t.tmdb_id))
        results = []
        for title in found[(page - 1) * 20 : page * 20]:
            item: dict[str, Any] = {
                "id": title.tmdb_id,
                "mediaType": title.media_type,
                "popularity": 10.0,
                "posterPath": title.tmdb_poster(),
                "backdropPath": f"/fake-backdrop-{title.tmdb_id}.jpg",
                "voteCount": 100,
                "voteAverage": 7.0,
                "genreIds": [18],
                "overview": title.tmdb_overview(),
                "originalLanguage": "en",
            }
            if title.media_type == "movie":
                item.update(
                    {
                        "title": title.title,
                        "originalTitle": title.title,
                        "releaseDate": title.tmdb_date(),
                        "adult": False,
                        "video": False,
                    }
                )
            else:
                item.update(
                    {
                        "name": title.title,
                        "originalName": title.title,
                        "originCountry": ["US"],
                        "firstAirDate": title.tmdb_date(),
                    }
                )
            media = self.fake.find_media(title.media_type, title.tmdb_id)
            if media is not None:
                item["mediaInfo"] = self.json.media(media)
            results.append(item)
        return 200, {
            "page": page,
            "totalPages": max(1, math.ceil(len(found) / 20)),
            "totalResults": len(found),
            "results": results,
        }

    # ------------------------------------------------------------------ blocklist (J: blacklist)
    def _blocklist_list(self, ctx: Context) -> tuple[int, Any]:
        """``GET /blocklist``: newest first; ``filter`` ``manual`` (default: added by hand), the
        tag-based ones, or ``all``; ``search`` in the title."""
        take = _take(ctx.query, 25)
        skip = _skip(ctx.query)
        wanted = ctx.query.get("filter", "manual")
        needle = (ctx.query.get("search") or "").lower()
        entries = [
            e
            for e in sorted(self.fake.blocklist_entries.values(), key=lambda e: e.id, reverse=True)
            if (wanted == "all" or (e.tags is None) == (wanted == "manual"))
            and needle in (e.title or "").lower()
        ]
        tags_key = f"{self.traits.blocklist_name}edTags"
        results = [
            {
                "id": e.id,
                "mediaType": e.media_type,
                "title": e.title,
                "tmdbId": e.tmdb_id,
                tags_key: e.tags,
                "createdAt": iso(e.created_at),
                "user": self.json.user(self.fake.users[e.user_id]),
            }
            for e in entries[skip : skip + take]
        ]
        return 200, {"pageInfo": page_info(len(entries), take, skip), "results": results}

    def _blocklist_add(self, ctx: Context) -> tuple[int, Any]:
        """``POST /blocklist``: 201 with no body (recorded). A body without ``tmdbId`` or
        ``mediaType`` fails the table's NOT NULL constraint, which the route answers 412."""
        tmdb_id: Any = ctx.body.get("tmdbId")
        media_type = ctx.body.get("mediaType")
        if not _is_number(tmdb_id) or media_type not in ("movie", "tv"):
            raise message_error(412, f"Item already {self.traits.blocklist_name}ed")
        title = ctx.body.get("title") if isinstance(ctx.body.get("title"), str) else None
        self.fake.blocklist(media_type, int(tmdb_id), user_id=ctx.user.id, title=title)
        return 201, None

    # ------------------------------------------------------------------ requests (notes §8)
    def _request_matches(self, request: RequestRecord, name: str) -> bool:
        media = self.fake.media[request.media_id]
        media_status = media.status_of(request.is4k)
        done = REQUEST_COMPLETED if self.traits.has_completed_request else REQUEST_APPROVED
        rules: dict[str, Callable[[], bool]] = {
            "pending": lambda: request.status == REQUEST_PENDING,
            "failed": lambda: request.status == REQUEST_FAILED,
            "approved": lambda: request.status == REQUEST_APPROVED,
            "processing": lambda: request.status == REQUEST_APPROVED and media_status != MEDIA_AVAILABLE,
            "unavailable": lambda: (
                request.status in (REQUEST_PENDING, REQUEST_APPROVED) and media_status != MEDIA_AVAILABLE
            ),
            "available": lambda: request.status == done and media_status == MEDIA_AVAILABLE,
            "completed": lambda: request.status == REQUEST_COMPLETED,
            "deleted": lambda: (
                request.status == REQUEST_COMPLETED and media_status == self.traits.deleted_status
            ),
        }
        rule = rules.get(name)
        return True if rule is None else rule()

    def _request_list(self, ctx: Context) -> tuple[int, Any]:
        take = _take(ctx.query, 10)
        skip = _skip(ctx.query)
        requested_by = _js_number(ctx.query["requestedBy"]) if "requestedBy" in ctx.query else None
        if not _can_view_requests(ctx.user):
            if requested_by is not None and requested_by != ctx.user.id:
                raise message_error(403, "You do not have permission to view this user's requests.")
            requested_by = ctx.user.id
        rows = list(self.fake.requests.values())
        if requested_by is not None:
            rows = [r for r in rows if r.requested_by == requested_by]
        media_type = ctx.query.get("mediaType", "all")
        if media_type != "all":
            rows = [r for r in rows if r.media_type == media_type]
        wanted = ctx.query.get("filter", "all")
        rows = [r for r in rows if self._request_matches(r, wanted)]
        descending = ctx.query.get("sortDirection", "desc") != "asc"
        if ctx.query.get("sort", "added") == "modified":
            rows.sort(key=lambda r: r.id)
            rows.sort(key=lambda r: r.updated_at, reverse=descending)  # ties: ascending id (stable)
        else:
            rows.sort(key=lambda r: r.id, reverse=descending)
        results = []
        manager = has_permission(ctx.user.permissions, MANAGE_REQUESTS)
        for request in rows[skip : skip + take]:
            item = self.json.request(request, media="bare")
            if self.traits.has_request_list_extras:
                reachable = (
                    self.fake.arr_configured(request.media_type, request.is4k)
                    and not self.fake.arr_unreachable
                )
                if reachable:
                    item["profileName"] = "Ultra-HD" if request.is4k else "HD-1080p"
                if manager:  # recorded: managers' items only
                    item["canRemove"] = reachable
            results.append(item)
        body: dict[str, Any] = {"pageInfo": page_info(len(rows), take, skip), "results": results}
        if self.traits.has_service_errors:
            body["serviceErrors"] = self._service_errors()
        return 200, body

    def _service_errors(self) -> dict[str, list[dict[str, Any]]]:
        errors: dict[str, list[dict[str, Any]]] = {"radarr": [], "sonarr": []}
        if self.fake.arr_unreachable:
            for kind, regular, uhd in (
                ("radarr", self.fake.radarr, self.fake.radarr_4k),
                ("sonarr", self.fake.sonarr, self.fake.sonarr_4k),
            ):
                if regular:
                    errors[kind].append({"id": 0, "name": kind.capitalize()})
                if uhd:
                    errors[kind].append({"id": 1, "name": f"{kind.capitalize()} 4K"})
        return errors

    def _request_create(self, ctx: Context) -> tuple[int, Any]:
        """201 with the request; its media as it was before an auto-approval took effect."""
        media_type, tmdb_id = ctx.body.get("mediaType"), ctx.body.get("mediaId")
        existed = (
            isinstance(tmdb_id, int | float)
            and self.fake.find_media(str(media_type), int(tmdb_id)) is not None
        )
        before: list[dict[str, Any]] = []
        request = self.fake.create_request(
            ctx.user,
            ctx.body,
            before_approval=lambda r: before.append(self.json.created_request(r, media_existed=existed)),
        )
        body = before[0] if before else self.json.created_request(request, media_existed=existed)
        body["status"] = request.status  # an auto-approval whose push failed is FAILED already
        return 201, body

    def _request_count(self, ctx: Context) -> tuple[int, Any]:
        """Counts per state, as recorded: ``approved`` counts APPROVED requests, ``available`` and
        ``processing`` split them by their media's status (so Overseerr counts an arrived request
        under both ``approved`` and ``available``); a COMPLETED request counts only in ``total``,
        its type and, where ``traits.request_count_has_completed``, ``completed``."""
        rows = list(self.fake.requests.values())
        approved = [r for r in rows if r.status == REQUEST_APPROVED]
        arrived = [r for r in approved if self.fake.media[r.media_id].status_of(r.is4k) == MEDIA_AVAILABLE]
        body = {
            "total": len(rows),
            "movie": sum(r.media_type == "movie" for r in rows),
            "tv": sum(r.media_type == "tv" for r in rows),
            "pending": sum(r.status == REQUEST_PENDING for r in rows),
            "approved": len(approved),
            "declined": sum(r.status == REQUEST_DECLINED for r in rows),
            "processing": len(approved) - len(arrived),
            "available": len(arrived),
        }
        if self.traits.request_count_has_completed:
            body["completed"] = sum(r.status == REQUEST_COMPLETED for r in rows)
        return 200, body

    def _request_or_404(self, raw: str) -> RequestRecord:
        request_id = _js_number(raw)
        request = self.fake.requests.get(request_id) if request_id is not None else None
        if request is None:
            raise message_error(404, "Request not found.")
        return request

    def _request_get(self, ctx: Context) -> tuple[int, Any]:
        request = self._request_or_404(ctx.params["requestId"])
        if request.requested_by != ctx.user.id and not _can_view_requests(ctx.user):
            raise message_error(403, "You do not have permission to view this request.")
        return 200, self.json.request(request, media="full", user_settings=True)

    def _request_delete(self, ctx: Context) -> tuple[int, Any]:
        request = self._request_or_404(ctx.params["requestId"])
        allowed = (
            has_permission(ctx.user.permissions, MANAGE_REQUESTS)
            or request.requested_by == ctx.user.id
            or request.status == REQUEST_PENDING
        )
        if not allowed:
            raise message_error(401, "You do not have permission to delete this request.")
        self.fake.delete_request(request.id)
        return 204, None

    def _request_status(self, ctx: Context) -> tuple[int, Any]:
        """The answer shows the request changed, its embedded media as it was before (recorded:
        a re-read shows the media's new status)."""
        request = self._request_or_404(ctx.params["requestId"])
        media_before = self.json.media(self.fake.media[request.media_id])
        seasons_before = [self.json.season_request(s) for s in request.seasons]
        approve = ctx.params["status"] == "approve"
        if approve:
            self.fake.approve_request(request, actor=ctx.user.id)
        else:
            self.fake.decline_request(request, actor=ctx.user.id)
        body = self.json.request(request, media="full", user_settings=True)
        body["media"] = media_before
        # the season requests keep their old updatedAt in the answer (recorded on Overseerr), and
        # on Jellyseerr 2.7.3 an approval's answer still shows them pending
        for item, old in zip(body["seasons"], seasons_before, strict=True):
            item["updatedAt"] = old["updatedAt"]
            if approve and self.traits.approve_answer_shows_pending_seasons:
                item["status"] = old["status"]
        return 200, body


# ---------------------------------------------------------------------- helpers
def page_info(total: int, take: int, skip: int) -> dict[str, int]:
    """``{pages, pageSize, results, page}`` with ``page = ceil(skip / pageSize) + 1`` (notes §10)."""
    return {
        "pages": math.ceil(total / take),
        "pageSize": take,
        "results": total,
        "page": math.ceil(skip / take) + 1,
    }


def _can_view_requests(user: UserRecord) -> bool:
    return has_permission(user.permissions, MANAGE_REQUESTS, REQUEST_VIEW, any_of=True)


def _js_number(raw: str) -> int | None:
    """``Number(raw)`` as an id: None unless it is a finite integer."""
    text = raw.strip()
    if not text:
        return 0
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value) or value != int(value):
        return None
    return int(value)


def _take(query: dict[str, str], default: int) -> int:
    """``req.query.take ? Number(take) : default`` (0 and empty fall back to the default)."""
    value = _js_number(query.get("take", "") or "0")
    return value if value and value > 0 else default


def _skip(query: dict[str, str]) -> int:
    value = _js_number(query.get("skip", "") or "0")
    return max(0, value or 0)


def _bad_request(path: str, message: str) -> FakeHttpError:
    return FakeHttpError(400, {"message": message, "errors": [{"path": path, "message": message}]})


def _schema_error(path: str, message: str, code: str, *, location: str) -> FakeHttpError:
    """An Ajv error as express-openapi-validator 4.x reports it (``request.<location> <message>``;
    a missing property's ``path`` names the property: ``.body.mediaId``)."""
    return FakeHttpError(
        400,
        {
            "message": f"request.{location} {message}",
            "errors": [{"path": path, "message": message, "errorCode": f"{code}.openapi.validation"}],
        },
    )


def _check_value(location: str, value: str, spec: ParamSpec) -> None:
    if spec.kind == "number" and value != "":
        try:
            float(value)
        except ValueError:
            expected = "number,null" if spec.nullable else "number"
            raise _schema_error(f".{location}", f"should be {expected}", "type", location=location) from None
    if spec.enum is not None and value not in spec.enum:
        message = f"should be equal to one of the allowed values: {', '.join(spec.enum)}"
        raise _schema_error(f".{location}", message, "enum", location=location)


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _validate_request_body(body: dict[str, Any]) -> None:
    """The ``POST /request`` body schema of the three specs (identical)."""
    for name in ("mediaType", "mediaId"):
        if name not in body:
            raise _schema_error(
                f".body.{name}", f"should have required property '{name}'", "required", location="body"
            )
    if body["mediaType"] not in ("movie", "tv"):
        raise _schema_error(
            ".body.mediaType",
            "should be equal to one of the allowed values: movie, tv",
            "enum",
            location="body.mediaType",
        )
    for name in ("mediaId", "tvdbId", "serverId", "profileId", "languageProfileId"):
        if name in body and not _is_number(body[name]):
            raise _schema_error(f".body.{name}", "should be number", "type", location=f"body.{name}")
    if "userId" in body and body["userId"] is not None and not _is_number(body["userId"]):
        raise _schema_error(".body.userId", "should be number", "type", location="body.userId")
    if "rootFolder" in body and not isinstance(body["rootFolder"], str):
        raise _schema_error(".body.rootFolder", "should be string", "type", location="body.rootFolder")
    if "is4k" in body and not isinstance(body["is4k"], bool):
        raise _schema_error(".body.is4k", "should be boolean", "type", location="body.is4k")
    if "seasons" in body:
        seasons = body["seasons"]
        valid = seasons == "all" or (
            isinstance(seasons, list) and all(_is_number(n) and n >= 0 for n in seasons)
        )
        if not valid:
            raise _schema_error(
                ".body.seasons", "should match exactly one schema in oneOf", "oneOf", location="body.seasons"
            )
