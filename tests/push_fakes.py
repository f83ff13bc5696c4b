"""A small provider with ``Capability.PUSH`` and a real uvicorn server for the HTTP surface's tests.

:class:`PushProvider` reads pushes shaped ``{"event": "status", "request": "7",
"state": "approved", "item": "movie:680"}`` (``"event": "test"`` for a test, any other event
is ignored) and refuses, with :class:`InvalidPushError`, a body that is not UTF-8, not JSON or
not that shape; it polls what ``server`` says. The Seerr plugin's own push is tested against
the fake Seerr.

:func:`serve_app` runs an ASGI app with uvicorn on 127.0.0.1 (:mod:`tests.web_server`) and
closes the host's contexts in the server's own loop when the block ends.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import voluptuous as vol

from aperture_hookspecs import (
    Availability,
    Capability,
    ConnectionReport,
    InvalidPushError,
    MediaRef,
    ProviderContext,
    ProviderInfo,
    PushAction,
    PushDelivery,
    PushKind,
    PushNotice,
    PushOutcome,
    PushSetup,
    PushTarget,
    RequestState,
    StatusUpdate,
    TrackedRequest,
    hookimpl,
)
from aperture_plugins.host import PluginHost

from . import web_server
from .web_server import ServedApp


class PushProvider:
    """Parses the tiny push shape above; applies a status push to the tracked request it names.

    ``gate``: while it is an unset ``threading.Event``, ``aperture_apply_push`` waits (proves
    the route answered before the work); ``fail_next_apply``: the next apply raises (a plugin
    bug); ``fail_next_poll``: the same for a poll.
    """

    def __init__(self, name: str = "pusher") -> None:
        self.name = name
        self.server: dict[str, RequestState] = {}
        self.parsed: list[PushDelivery] = []
        self.applied: list[PushNotice] = []
        self.gate: threading.Event | None = None  # set: apply_push waits until it is set
        self.fail_next_apply = False
        self.fail_next_poll = False

    @hookimpl
    def aperture_provider_info(self) -> ProviderInfo:
        return ProviderInfo(
            name=self.name,
            title="Pusher",
            version="1.0",
            capabilities=frozenset({Capability.POLL, Capability.PUSH}),
        )

    @hookimpl
    def aperture_settings_schema(self) -> vol.Schema:
        return vol.Schema({})

    @hookimpl
    async def aperture_test_connection(self, context: ProviderContext) -> ConnectionReport:
        return ConnectionReport(provider=self.name)

    @hookimpl
    async def aperture_poll_status(
        self, context: ProviderContext, requests: Sequence[TrackedRequest]
    ) -> list[StatusUpdate]:
        await asyncio.sleep(0)
        if self.fail_next_poll:
            self.fail_next_poll = False
            raise RuntimeError("the server sent nonsense")
        context.report_call("GET /status/{id}", "200", 0.001)  # as a real provider reports each call
        return [
            StatusUpdate(r.request_id, self.server[r.request_id])
            for r in requests
            if r.request_id in self.server
        ]

    @hookimpl
    def aperture_parse_push(self, context: ProviderContext, delivery: PushDelivery) -> PushNotice:
        self.parsed.append(delivery)
        try:
            text = delivery.body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidPushError(f"the body is not UTF-8 (byte {error.start})") from None
        try:
            data = json.loads(text)
        except ValueError as error:
            raise InvalidPushError(f"the body is not JSON: {error}") from None
        if not isinstance(data, dict) or not isinstance(data.get("event"), str):
            raise InvalidPushError("the body must be an object with an 'event' string")
        if data["event"] == "test":
            return PushNotice(PushKind.TEST, "TEST")
        if data["event"] != "status":
            return PushNotice(PushKind.IGNORED, data["event"].upper())
        try:
            item = MediaRef.parse(data["item"])
            state = RequestState(data["state"])
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidPushError(f"a status push needs 'item' and 'state': {error}") from None
        request = data.get("request")
        return PushNotice(
            PushKind.STATUS,
            state.name,
            item=item,
            request_id=str(request) if request is not None else None,
            state=state,
        )

    @hookimpl
    async def aperture_apply_push(
        self, context: ProviderContext, notice: PushNotice, requests: Sequence[TrackedRequest]
    ) -> PushOutcome:
        if self.gate is not None:
            await asyncio.to_thread(self.gate.wait, 30)
        if self.fail_next_apply:
            self.fail_next_apply = False
            raise RuntimeError("a bug in apply_push")
        self.applied.append(notice)
        assert notice.state is not None and notice.item is not None
        updates = tuple(
            StatusUpdate(r.request_id, notice.state) for r in requests if r.request_id == notice.request_id
        )
        return PushOutcome(updates=updates, titles=(Availability(notice.item, notice.state),))

    @hookimpl
    async def aperture_push_setup(
        self, context: ProviderContext, action: PushAction, target: PushTarget, replace: bool
    ) -> PushSetup:
        return PushSetup(enabled=False, url=None, ours=False)


def eventually(condition: Callable[[], Any], *, timeout: float = 10.0, what: str = "the condition") -> Any:
    """Wait until ``condition()`` is truthy (the server works in its own thread); return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.01)


def push_body(
    event: str = "status", *, request: str | None = "7", state: str = "approved", item: str = "movie:680"
) -> bytes:
    data: dict[str, Any] = {"event": event, "state": state, "item": item}
    if request is not None:
        data["request"] = request
    return json.dumps(data).encode()


@contextmanager
def serve_app(app: Any, host: PluginHost | None = None) -> Iterator[ServedApp]:
    """:func:`tests.web_server.serve_app`, closing ``host`` in the server's loop at the end."""
    with web_server.serve_app(app) as served:
        try:
            yield served
        finally:
            if host is not None:
                served.call(host.aclose())
