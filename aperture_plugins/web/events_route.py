"""``GET /events``: the store's event log as Server-Sent Events (``text/event-stream``).

Needs the bearer token (:mod:`.auth`). Two kinds of events, each with the log's id::

    id: 42
    event: status
    data: {"provider": "jellyseerr", "request_id": "7", "media_type": "movie", "tmdb_id": 603, ...}

    id: 43
    event: badge
    data: {"provider": "jellyseerr", "media_type": "movie", "tmdb_id": 603, "state": "available", ...}

* ``status``: a tracked request moved (one JSON line, the shape of ``watch --json``:
  :meth:`~aperture_hookspecs.types.StatusChange.to_dict`, with ``source`` ``poll`` or ``push``).
* ``badge``: a title's badge changed for everyone (``state``, ``label``, ``color``, ``reason``,
  ``at``, ``source``).

Query parameters: ``?user=alice`` streams that user's status events and every badge (badges
concern everyone); ``?provider=jellyseerr`` only that provider's events.

**Resuming.** A client that reconnects sends the last id it saw as the ``Last-Event-ID``
header (browsers' ``EventSource`` does so by itself), or as ``?last_event_id=`` when it cannot
set headers (the header wins when both are given). It then receives exactly the events logged
after that id, as long as they are still in the log (one hour, at most 10,000 events:
:mod:`aperture_plugins.event_log`). Without either, the stream starts from now.

**Lost events: ``event: gap``.** When the id is older than the oldest event still kept (or is
not one this log ever gave), the first event is::

    id: 90210
    event: gap
    data: {"last_event_id": 17, "oldest_event_id": 80211, "resume_from": 90210, "message": "..."}

Events between were lost: reload the state (``GET /api/availability``, ``GET /api/requests``);
the stream goes on with what is logged after ``resume_from``. A client that falls more than
the retention behind while connected gets a gap the same way.

**Keeping the stream open.** The first message is ``retry: 3000`` (reconnect after three
seconds) with the id the stream starts from, so a client that drops before any event still
resumes from when it connected. After ``heartbeat_seconds`` (15 s by default) without anything
sent, a comment ``: heartbeat`` keeps proxies from closing the connection; when events of other
users or providers were skipped meanwhile, it carries their last id (``id:`` without
``data:``, which moves a browser's ``lastEventId`` and dispatches nothing), so that a resume
never asks for more than it needs.

**Arriving.** The stream wakes when this process logs events (:attr:`PluginHost.events_logged`,
at once) and reads the log at least every :data:`STORE_RECHECK_SECONDS`, so events logged by
another process on the same data directory (a ``watch``, another worker) arrive too. When the
client disconnects, the stream's task ends and the ``aperture_sse_clients`` gauge goes down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from aperture_hookspecs import ApertureError

from ..host import PluginHost, UnknownPluginError
from ..push_store import PushStore, StreamEvent
from .auth import require_token
from .error_status import error_answer
from .errors import JSONHTTPError
from .metrics import Metrics
from .state import web_state

log = logging.getLogger(__name__)

RETRY_MILLISECONDS = 3000
"""The ``retry:`` hint: how long a browser waits before it reconnects."""

STORE_RECHECK_SECONDS = 1.0
"""The longest a stream waits before it reads the log again (events of other processes)."""

BATCH_SIZE = 500
"""Events read from the log at once (a stream catching up reads again at once)."""

_EVENT_ID = re.compile(r"^\d{1,18}$")


@dataclass(frozen=True)
class Gap:
    """Events after ``last_event_id`` were lost; the stream goes on after ``resume_from``."""

    last_event_id: int
    oldest_event_id: int
    resume_from: int

    def to_dict(self) -> dict[str, Any]:
        if self.last_event_id > self.resume_from:
            why = f"event {self.last_event_id} was never logged here (the log ends at {self.resume_from})"
        else:
            why = f"events after {self.last_event_id} are no longer kept"
        return {
            "last_event_id": self.last_event_id,
            "oldest_event_id": self.oldest_event_id,
            "resume_from": self.resume_from,
            "message": f"Events were lost: {why}; reload the state",
        }


class EventFeed:
    """One stream's position in the log, and its reads (filtered by user and provider).

    ``cursor`` is the id read up to: the last event returned, or the newest id of the whole
    log when a read found nothing more for this stream (skipped events of other users or
    providers need not be read again).
    """

    def __init__(
        self,
        host: PluginHost,
        push_store: PushStore,
        cursor: int,
        *,
        user: str | None = None,
        provider: str | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.host = host
        self.push_store = push_store
        self.cursor = cursor
        self.user = user
        self.provider = provider
        self.batch_size = batch_size

    def read(self) -> tuple[Gap | None, list[StreamEvent]]:
        """The events after the cursor (moving it), or a :class:`Gap` if some were lost.

        The newest id is read before the events and the oldest after them: ids only grow
        and pruning only removes the oldest, so a gap is never missed (at worst one is
        reported for events pruned just after they were read).
        """
        newest = self.host.last_event_id()
        events = self.push_store.stream_after(
            self.cursor, provider=self.provider, user=self.user, limit=self.batch_size
        )
        oldest = self.push_store.oldest_event_id()
        first_kept = oldest or newest + 1  # an empty log keeps nothing up to the newest id
        if self.cursor > newest or self.cursor + 1 < first_kept:
            gap = Gap(self.cursor, oldest, newest)
            self.cursor = newest
            return gap, []
        if events:
            self.cursor = events[-1].id
        if len(events) < self.batch_size:
            self.cursor = max(self.cursor, newest)
        return None, events

    def behind(self) -> bool:
        """Whether events were logged after the cursor (a cheap look at the newest id)."""
        try:
            return self.host.last_event_id() > self.cursor
        except ApertureError:  # the next read says why
            return False


def sse_message(
    *, event_id: int | None = None, event: str | None = None, data: Any = None, comment: str | None = None
) -> str:
    """One Server-Sent Events message; ``data`` is written as one line of JSON."""
    lines = []
    if comment is not None:
        lines.append(f": {comment}")
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event is not None:
        lines.append(f"event: {event}")
    if data is not None:
        lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


async def event_stream(
    feed: EventFeed,
    host: PluginHost,
    heartbeat_seconds: float,
    stopping: Callable[[], bool] = lambda: False,
) -> AsyncGenerator[str, None]:
    """The messages of one stream, from the feed's cursor on, until ``stopping()`` (the server
    shuts down; the client then reconnects elsewhere or later with its last id)."""
    sent_id = feed.cursor
    yield f"retry: {RETRY_MILLISECONDS}\n" + sse_message(event_id=sent_id)
    last_write = time.monotonic()
    failing = False
    while not stopping():
        try:
            gap, batch = feed.read()
        except ApertureError as error:  # a store locked or damaged for now: try again later
            if not failing:
                log.warning("An /events stream cannot read the event log: %s", error)
            failing, gap, batch = True, None, []
        else:
            if failing:
                log.info("An /events stream reads the event log again")
            failing = False
        if gap is not None:
            yield sse_message(event_id=gap.resume_from, event="gap", data=gap.to_dict())
            sent_id, last_write = gap.resume_from, time.monotonic()
        for entry in batch:
            yield sse_message(event_id=entry.id, event=entry.kind, data=entry.data)
            sent_id, last_write = entry.id, time.monotonic()
        idle = time.monotonic() - last_write
        if idle >= heartbeat_seconds:
            skipped = feed.cursor if feed.cursor > sent_id else None
            yield sse_message(comment="heartbeat", event_id=skipped)
            sent_id, last_write, idle = max(sent_id, feed.cursor), time.monotonic(), 0.0
        if len(batch) == feed.batch_size or (not failing and feed.behind()):
            # catching up, or events were logged while this stream was writing (their
            # wake-up came before it waited): read again, after letting others run
            await asyncio.sleep(0)
            continue
        await host.events_logged.wait(max(0.0, min(STORE_RECHECK_SECONDS, heartbeat_seconds - idle)))


class EventStreamResponse(StreamingResponse):
    """A ``text/event-stream`` answer that ends as soon as the client disconnects.

    Starlette's own response notices a disconnect only at its next write under ASGI 2.4; this
    one always listens for ``http.disconnect`` beside the stream, cancels the stream when it
    comes, closes the generator and counts the open streams in the metrics.
    """

    def __init__(self, content: AsyncGenerator[str, None], metrics: Metrics) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._generator = content
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with self._metrics.sse_client():
            try:
                async with anyio.create_task_group() as group:

                    async def stream() -> None:
                        with contextlib.suppress(OSError):  # the client left in the middle of a write
                            await self.stream_response(send)
                        group.cancel_scope.cancel()

                    group.start_soon(stream)
                    await self.listen_for_disconnect(receive)
                    group.cancel_scope.cancel()
            finally:
                with anyio.CancelScope(shield=True):
                    await self._generator.aclose()


def resume_id(request: Request) -> int | None:
    """The id to resume after: the ``Last-Event-ID`` header, else ``?last_event_id=``; 400 if
    it is not a whole number."""
    header = request.headers.get("last-event-id", "").strip()
    value = header or request.query_params.get("last_event_id", "").strip()
    if not value:
        return None
    if not _EVENT_ID.match(value):
        raise JSONHTTPError(
            400,
            "bad_request",
            f"Last-Event-ID must be an event id (a whole number), not {value[:40]!r}",
            hints=("Leave it out to start from now",),
        )
    return int(value)


def _filters(request: Request, host: PluginHost) -> tuple[str | None, str | None]:
    user = request.query_params.get("user")
    provider = request.query_params.get("provider")
    if user is not None and not user.strip():
        raise JSONHTTPError(400, "bad_request", "?user= needs a user name (or leave it out for everyone)")
    if provider is not None:
        known = {status.record.name for status in host.providers()}
        if provider not in known:
            raise UnknownPluginError(
                f"No provider named {provider[:60]!r} (loaded: {', '.join(sorted(known))})"
            )
    return (user.strip() if user else None), provider


async def events(request: Request) -> Response:
    """``GET /events`` (see the module docstring)."""
    await require_token(request)
    state = web_state(request)
    host = state.host
    after = resume_id(request)
    try:
        user, provider = _filters(request, host)
        feed = EventFeed(
            host,
            host.push_store(),
            host.last_event_id() if after is None else after,
            user=user,
            provider=provider,
        )
    except ApertureError as error:
        return error_answer(error)
    stream = event_stream(feed, host, state.heartbeat_seconds, lambda: state.stopping)
    return EventStreamResponse(stream, state.metrics)


EVENT_ROUTES: list[BaseRoute] = [Route("/events", events, methods=["GET"])]
