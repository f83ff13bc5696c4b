"""Sources for the conformance kit's own tests (tests/test_conformance_kit.py), written into a
pytester directory and run by a pytest of their own.

* :data:`REFERENCE_PROVIDER` – a provider that keeps every promise: titles, requests and the
  server's webhook set-up in memory (the module is its own "server state"), reachability and
  the token checked on every call with one HTTP GET to a tiny server, its own timeout,
  ``Capability`` for each operation, push in a JSON format of its own.
* :data:`REFERENCE_CONTRACT` – the kit's suite for it, with every optional input supplied and
  ``require_every_check`` on: the server (:data:`TOKEN_SERVER`), ``settings_for_url``, a
  request counter, a refusal, ``change_request``, ``push_examples``, ``push_elsewhere``.
* :data:`BROKEN_SHELF` – the README's shelf with three bugs: answers in the wrong order, a
  ``KeyError`` for a user it does not know, its token in a log line.
"""

from __future__ import annotations

TOKEN_SERVER = '''
"""An HTTP server that answers 200 to the right X-Token and 403 to any other."""

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextlib.contextmanager
def token_server(token):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.headers.get("X-Token") == token else 403)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
'''

REFERENCE_PROVIDER = '''
"""A provider that keeps every promise of the contract."""

import asyncio
import json
import logging
from urllib.parse import urlsplit

import voluptuous as vol

from aperture_hookspecs import (
    AccountMapping,
    AlreadyRequestedError,
    ApertureError,
    Availability,
    Capability,
    ConnectionProblem,
    ConnectionReport,
    ForeignWebhookError,
    InvalidAPIKeyError,
    InvalidPushError,
    MediaRef,
    MediaType,
    PermissionDeniedError,
    ProviderInfo,
    ProviderTimeoutError,
    RefusedConnectionError,
    RequestResult,
    RequestState,
    Secret,
    StatusUpdate,
    UnexpectedResponseError,
    UserNotMappedError,
    hookimpl,
)
from aperture_hookspecs.push import PushAction, PushKind, PushNotice, PushOutcome, PushSetup

log = logging.getLogger(__name__)
NAME = "reference"
LIBRARY = {MediaRef.parse("movie:603"): RequestState.AVAILABLE}
ACCOUNTS = {"alice": "1", "bob": "2"}  # bob may request movies only
REQUESTS = {}  # request id -> {"id", "item", "user", "state"}
WEBHOOK = {"enabled": False, "url": None, "authorization": None}  # the server's one push set-up
PUSHED = {}  # title -> state, as pushes told it (lookups show it)
EVENTS = {
    "request_pending": RequestState.PENDING,
    "request_approved": RequestState.APPROVED,
    "request_declined": RequestState.DECLINED,
    "request_available": RequestState.AVAILABLE,
}


def approve(request_id):
    REQUESTS[request_id]["state"] = RequestState.APPROVED


def push_elsewhere(url):
    WEBHOOK.update(enabled=True, url=url, authorization="Bearer another-receiver")


@hookimpl
def aperture_provider_info():
    return ProviderInfo(
        name=NAME,
        title="Reference",
        version="1.0.0",
        capabilities={
            Capability.LOOKUP,
            Capability.REQUEST,
            Capability.POLL,
            Capability.USER_MAPPING,
            Capability.PUSH,
        },
    )


SCHEMA = vol.Schema(
    {
        vol.Required("url"): vol.All(str, lambda url: url.rstrip("/")),
        Secret("token"): vol.All(str, vol.Length(min=1)),
        vol.Optional("timeout", default=1.0): vol.Coerce(float),
        vol.Optional("user_map", default=dict): {str: str},
    }
)


@hookimpl
def aperture_settings_schema():
    return SCHEMA


async def reach(settings):
    """One GET to the server with the token: it must answer 200."""
    parts = urlsplit(settings["url"])
    try:
        async with asyncio.timeout(settings["timeout"]):
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            try:
                writer.write(f"GET / HTTP/1.0\\r\\nX-Token: {settings['token']}\\r\\n\\r\\n".encode())
                await writer.drain()
                status = await reader.readline()
            finally:
                writer.close()
    except TimeoutError:
        raise ProviderTimeoutError(f"{parts.netloc} did not answer in {settings['timeout']:g} s") from None
    except OSError as error:
        raise RefusedConnectionError(f"cannot connect to {parts.netloc}: {error.strerror}") from None
    if b" 403 " in status:
        raise InvalidAPIKeyError()
    if b" 200 " not in status:
        raise UnexpectedResponseError(f"{parts.netloc} answered {status[:40]!r}")


def account_of(context, user):
    if user is None:
        return None
    return context.settings["user_map"].get(user.name) or ACCOUNTS.get(user.name)


def availability(item, user, account):
    filed = next((r for r in REQUESTS.values() if r["item"] == item), None)
    if filed is not None:
        return Availability(item, filed["state"], request_id=filed["id"])
    state = PUSHED.get(item) or LIBRARY.get(item, RequestState.REQUESTABLE)
    if state is not RequestState.REQUESTABLE:
        return Availability(item, state)
    if user is None:
        return Availability(item, state, reason="sign in to request")
    if account is None:
        return Availability(item, state, reason="your account is not linked")
    if item.media_type is MediaType.TV and account == "2":
        return Availability(item, state, reason="you may request movies only")
    return Availability(item, state, can_request=True)


@hookimpl
async def aperture_test_connection(context):
    try:
        await reach(context.settings)
    except ApertureError as error:
        return ConnectionReport(NAME, problems=(ConnectionProblem(error.code, error.message, error.hints),))
    return ConnectionReport(NAME, product="Reference server", version="1.0")


@hookimpl
async def aperture_lookup_availability(context, items, user):
    await reach(context.settings)
    account = account_of(context, user)
    return [availability(item, user, account) for item in items]


@hookimpl
async def aperture_submit_request(context, item, user, options):
    await reach(context.settings)
    account = account_of(context, user)
    if account is None:
        raise UserNotMappedError(f"{user.name} has no account")
    if item.media_type is MediaType.TV and account == "2":
        raise PermissionDeniedError(f"{user.name} may request movies only")
    if options.is_4k:
        raise PermissionDeniedError("there is no 4K library")
    if item in LIBRARY:
        raise AlreadyRequestedError(state=LIBRARY[item])
    own = next((r for r in REQUESTS.values() if r["item"] == item and r["user"] == user.name), None)
    if own is not None:
        return RequestResult(item, own["id"], own["state"], already_requested=True, message="yours")
    other = next((r for r in REQUESTS.values() if r["item"] == item), None)
    if other is not None:
        raise AlreadyRequestedError(state=other["state"], requested_by=other["user"])
    request_id = str(len(REQUESTS) + 1)
    REQUESTS[request_id] = {"id": request_id, "item": item, "user": user.name, "state": RequestState.PENDING}
    return RequestResult(item, request_id, RequestState.PENDING)


@hookimpl
async def aperture_poll_status(context, requests):
    await reach(context.settings)
    updates = []
    for tracked in requests:
        filed = REQUESTS.get(tracked.request_id)
        if filed is None:
            updates.append(StatusUpdate(tracked.request_id, RequestState.NOT_AVAILABLE, reason="gone"))
        else:
            updates.append(StatusUpdate(tracked.request_id, filed["state"]))
    return updates


@hookimpl
async def aperture_map_users(context, users):
    await reach(context.settings)
    mappings = []
    for user in users:
        account = account_of(context, user)
        if account is None:
            mappings.append(AccountMapping(user, problems=(f"no account named {user.name}",)))
        else:
            mappings.append(
                AccountMapping(user, account_id=account, account_name=user.name, method="username")
            )
    return mappings


@hookimpl
def aperture_parse_push(context, delivery):
    try:
        body = json.loads(delivery.body)
    except (ValueError, RecursionError) as error:
        raise InvalidPushError(f"the body is not JSON: {type(error).__name__}") from None
    if not isinstance(body, dict):
        raise InvalidPushError(f"the body is JSON {type(body).__name__}, not an object")
    event = body.get("event")
    if not isinstance(event, str):
        raise InvalidPushError(f"event is not a string: {event!r}")
    if event == "test":
        return PushNotice(PushKind.TEST, notification=event)
    if event not in EVENTS:
        return PushNotice(PushKind.IGNORED, notification=event)
    request_id, item = body.get("request_id"), body.get("item")
    if request_id is not None and not (isinstance(request_id, str) and request_id):
        raise InvalidPushError(f"request_id is not a request id: {request_id!r}")
    try:
        item = None if item is None else MediaRef.parse(item)
    except (TypeError, ValueError) as error:
        raise InvalidPushError(f"item is not a title: {error}") from None
    if item is None and request_id is None:
        raise InvalidPushError(f"{event} names neither a title nor a request")
    state = EVENTS[event]
    return PushNotice(PushKind.STATUS, notification=event, item=item, request_id=request_id, state=state)


@hookimpl
async def aperture_apply_push(context, notice, requests):
    if notice.item is not None:
        PUSHED[notice.item] = notice.state
    updates = [
        StatusUpdate(tracked.request_id, notice.state)
        for tracked in requests
        if tracked.request_id == notice.request_id
        or (notice.request_id is None and tracked.item == notice.item)
    ]
    titles = () if notice.item is None else (Availability(notice.item, notice.state),)
    return PushOutcome(updates=tuple(updates), titles=titles)


def webhook_setup(target):
    ours = WEBHOOK["url"] == target.url and WEBHOOK["authorization"] == target.authorization
    where = WEBHOOK["url"] or "nowhere"
    message = f"pushes to {where}" if WEBHOOK["enabled"] else "push is off"
    return PushSetup(WEBHOOK["enabled"], WEBHOOK["url"], ours, events=tuple(EVENTS), message=message)


@hookimpl
async def aperture_push_setup(context, action, target, replace):
    await reach(context.settings)
    found = webhook_setup(target)
    if action is PushAction.INSTALL:
        foreign = WEBHOOK["enabled"] and WEBHOOK["url"] not in (None, target.url)
        if foreign and not replace:
            raise ForeignWebhookError(f"the server pushes to {WEBHOOK['url']}", url=WEBHOOK["url"])
        WEBHOOK.update(enabled=True, url=target.url, authorization=target.authorization)
    elif action is PushAction.REMOVE and found.ours:
        WEBHOOK.update(enabled=False)
    return webhook_setup(target)
'''

REFERENCE_CONTRACT = '''
"""The kit's suite for the reference provider, with everything supplied."""

import pytest

from aperture_hookspecs import ApertureUser, MediaRef
from aperture_hookspecs.push import PushKind
from aperture_hookspecs.testing import ProviderContract, PushExample, Refusal
from token_server import token_server

ITEMS = tuple(
    MediaRef.parse(text)
    for text in (
        "movie:603", "tv:1399", "movie:550", "tv:603", "movie:27205", "tv:1396", "movie:155",
        "movie:157336", "tv:71912", "movie:438631",
    )
)


class ReferenceContract(ProviderContract):
    entry_point = "reference"
    require_every_check = True

    @pytest.fixture
    def server(self, aperture_canary):
        with token_server(aperture_canary) as url:
            yield url, aperture_canary

    @pytest.fixture
    def provider_settings(self, server):
        return {"url": server[0], "token": server[1], "timeout": 0.3}

    @pytest.fixture
    def settings_for_url(self, server):
        return lambda url: {"url": url, "token": server[1], "timeout": 0.3}

    @pytest.fixture
    def provider_user(self):
        return ApertureUser("alice")

    @pytest.fixture
    def provider_items(self):
        return ITEMS

    @pytest.fixture
    def request_counter(self):
        return lambda: len(type(self).plugin.REQUESTS)

    @pytest.fixture
    def refused_requests(self):
        return [Refusal(MediaRef.parse("tv:1399"), ApertureUser("bob"), why="bob may request movies only")]

    @pytest.fixture
    def change_request(self):
        return type(self).plugin.approve

    @pytest.fixture
    def push_examples(self):
        return [
            PushExample(b'{"event": "test"}', PushKind.TEST, "the test notification"),
            (b'{"event": "request_approved", "request_id": "41", "item": "movie:680"}', PushKind.STATUS),
            (b'{"event": "request_available", "item": "tv:94605"}', PushKind.STATUS),
            (b'{"event": "issue_created", "issue_id": "3"}', PushKind.IGNORED),
        ]

    @pytest.fixture
    def push_elsewhere(self):
        return type(self).plugin.push_elsewhere
'''

BROKEN_SHELF = '''
"""The README's shelf with three bugs (see the comments)."""

import logging

import voluptuous as vol

from aperture_hookspecs import (
    Availability,
    Capability,
    MediaRef,
    ProviderInfo,
    RequestResult,
    RequestState,
    Secret,
    hookimpl,
)

log = logging.getLogger("broken_shelf")
SHELF = {MediaRef.parse("movie:603"): RequestState.AVAILABLE}
ACCOUNTS = {"aperture-kit-user": 1}


@hookimpl
def aperture_provider_info():
    return ProviderInfo(
        name="broken",
        title="Broken Shelf",
        version="1.0.0",
        capabilities={Capability.LOOKUP, Capability.REQUEST},
    )


@hookimpl
def aperture_settings_schema():
    return vol.Schema({Secret("token"): vol.All(str, vol.Length(min=1))})


def answer(item, user):
    state = SHELF.get(item, RequestState.REQUESTABLE)
    if state is RequestState.REQUESTABLE and user is None:
        return Availability(item, state, reason="sign in to request")
    return Availability(item, state, can_request=state is RequestState.REQUESTABLE)


@hookimpl
async def aperture_lookup_availability(context, items, user):
    return [answer(item, user) for item in sorted(items, key=lambda item: item.tmdb_id)]  # bug: sorted


@hookimpl
async def aperture_submit_request(context, item, user, options):
    account = ACCOUNTS[user.name]  # bug: KeyError for a user it does not know
    log.info("filing %s for account %s with token %s", item, account, context.settings["token"])  # bug
    SHELF[item] = RequestState.PENDING
    return RequestResult(item=item, request_id=f"shelf-{item}", state=RequestState.PENDING)
'''
