"""``POST /webhooks/{provider}``: a request server pushes a notification.

The steps, in this order, each answering at once when it fails (a JSON error,
``{"error": CODE, "message": …}``; counted in ``aperture_pushes_refused_total{reason}``;
recorded as the provider's last refused push for ``webhook status`` when the name is a loaded
provider):

1. **Authenticate before anything else**: the ``Authorization`` header must be exactly
   ``Bearer <the provider's webhook secret>`` (:meth:`PushStore.push_authorized`, constant
   time). Otherwise **401** ``unauthorized``, the same answer whether the secret is wrong, the
   header missing, no secret was ever made or no provider has that name, so an unauthenticated
   sender learns nothing. Nothing of the body is read.
2. **The provider must take pushes** (loaded, enabled, ``Capability.PUSH``), else **404**
   ``not_found``: only a sender holding that provider's secret gets this far.
3. **At most 64 KiB** (:data:`~aperture_plugins.web.state.MAX_PUSH_BYTES`), else **413**
   ``too_large``: a ``Content-Length`` above it is refused before reading, and the body is
   read as a stream that stops at the limit, so a chunked body or one whose length was not
   declared is refused too.
4. **Parse** synchronously through the provider (:meth:`PluginHost.parse_push`): a body that
   is not JSON, not UTF-8 or not the server's shape is **400** ``invalid_push`` with the
   provider's message, logged, and nothing changes. A provider that fails otherwise is **500**
   ``provider_error``.
5. **Answer**: ``ignored`` (issues, comments, types the provider does not know) and ``test``
   (recorded: "push works") are taken in at once and answered **200**; a ``status`` push is
   answered **200** at once and queued for the :class:`~.push_worker.PushWorker`, which applies
   it afterwards (the server waits on the receiver with no timeout). When that queue is full the
   push is dropped with 200 all the same, see :mod:`.push_worker`.

A store that cannot be read (damaged, locked) is **503** ``store_unavailable`` with no detail;
the log says more. No answer and no log line ever holds the secret or the header.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from aperture_hookspecs import ApertureError, InvalidPushError, PushDelivery, PushKind, PushNotice

from .bodies import read_limited
from .errors import error_response
from .metrics import UNKNOWN_PROVIDER
from .state import WebState, web_state

log = logging.getLogger(__name__)


class _RefusedPushError(Exception):
    """A push refused at one of the steps: its status, reason code and message."""

    def __init__(self, status: int, reason: str, error: str, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.error = error
        self.message = message
        self.detail = detail or message


async def receive_push(request: Request) -> Response:
    """The route (see the module docstring)."""
    state = web_state(request)
    name = request.path_params["provider"]
    label = _label(state, name)
    try:
        notice = await _accept(request, state, name)
    except _RefusedPushError as refusal:
        _refused(state, name, label, refusal)
        return error_response(refusal.status, refusal.error, refusal.message)
    state.metrics.push_received(label, notice.kind.value)
    if notice.kind is PushKind.STATUS:
        queued = state.worker.submit(name, notice)
        log.debug("%s: push accepted: %s", label, notice.describe())
        return JSONResponse({"ok": True, "kind": notice.kind.value, "queued": queued})
    try:
        await state.host.apply_push(name, notice)  # records the receipt ("push works" for a test)
    except ApertureError as error:
        log.error("%s: could not record a %s push: %s", label, notice.kind.value, error.message)
    log.info("%s: %s push received: %s", label, notice.kind.value, notice.describe())
    return JSONResponse({"ok": True, "kind": notice.kind.value})


async def _accept(request: Request, state: WebState, name: str) -> PushNotice:
    """Steps 1 to 4: the notice, or a :class:`_RefusedPushError`."""
    host = state.host
    try:
        authorized = host.push_store().push_authorized(name, request.headers.get("authorization"))
    except ApertureError as error:
        raise _unavailable(error) from None
    if not authorized:
        raise _RefusedPushError(
            401,
            "unauthorized",
            "unauthorized",
            "This push is not authorized",
            detail="wrong or missing secret",
        )
    try:
        host.push_provider(name)
    except ApertureError as error:
        raise _RefusedPushError(
            404,
            "not_found",
            "not_found",
            f"No provider here receives pushes as {name!r}",
            detail=error.message,
        ) from None
    body = await _read_limited(request, state.max_push_bytes)
    delivery = PushDelivery(
        body=body,
        received_at=datetime.now(UTC),
        content_type=request.headers.get("content-type"),
        headers={key: value for key, value in request.headers.items() if key != "authorization"},
    )
    try:
        return host.parse_push(name, delivery)
    except InvalidPushError as error:
        raise _RefusedPushError(400, "malformed", "invalid_push", error.message) from None
    except ApertureError as error:
        log.error("%s: reading a push failed: %s", name, error.message)
        raise _RefusedPushError(
            500,
            "provider_error",
            "provider_error",
            "The provider failed to read this push; see Aperture's log",
            detail=error.message,
        ) from None


async def _read_limited(request: Request, limit: int) -> bytes:
    """The body, or a 413 refusal as soon as it is known to exceed ``limit`` bytes."""
    return await read_limited(
        request,
        limit,
        too_large=lambda: _RefusedPushError(
            413,
            "too_large",
            "too_large",
            f"A push may be at most {limit // 1024} KiB",
            detail="body too large",
        ),
        bad_length=lambda: _RefusedPushError(
            400, "malformed", "bad_request", "Content-Length is not a number"
        ),
    )


def _unavailable(error: ApertureError) -> _RefusedPushError:
    log.error("cannot check a push: %s", error.message)
    return _RefusedPushError(
        503,
        "unavailable",
        "store_unavailable",
        "Aperture's settings cannot be read right now; an admin has been told (see the log)",
    )


def _label(state: WebState, name: str) -> str:
    """``name`` if it is a loaded plugin, else ``"(unknown)"`` (for metrics and logs)."""
    try:
        state.host.load()
        return name if name in state.host.registry.records else UNKNOWN_PROVIDER
    except Exception:  # a metric label must never fail a request
        return UNKNOWN_PROVIDER


REFUSAL_RECORD_SECONDS = 10.0
"""A kind of refusal is logged and written to the store at most this often per provider (each is
counted in the metrics): a flood of unauthenticated POSTs costs no writes and no log flood."""


def _refused(state: WebState, name: str, label: str, refusal: _RefusedPushError) -> None:
    state.metrics.push_refused(label, refusal.reason)
    now = time.monotonic()
    key = (label, refusal.reason)
    last = state.refusals_recorded_at.get(key)
    if last is not None and now - last < REFUSAL_RECORD_SECONDS:
        log.debug("push for %s refused (%d %s) again", label, refusal.status, refusal.reason)
        return
    if len(state.refusals_recorded_at) > 1000:  # bounded: labels are loaded providers or "(unknown)"
        state.refusals_recorded_at.clear()
    state.refusals_recorded_at[key] = now
    log.warning("push for %s refused (%d %s): %s", label, refusal.status, refusal.reason, refusal.detail)
    if label == UNKNOWN_PROVIDER or refusal.reason == "unavailable":
        return
    try:
        state.host.push_store().record_receipt(name, "refused", f"{refusal.reason}: {refusal.detail}")
    except ApertureError as error:
        log.error("%s: could not record a refused push: %s", label, error.message)


PUSH_ROUTES: list[BaseRoute] = [Route("/webhooks/{provider}", receive_push, methods=["POST"])]
