"""How the fake Seerr server's webhook agent sends: one POST per notification, and the fault switches.

What the recordings show (``shared/reference/recorded/*/README.md``, "Timing, retry, timeout"),
and what this module does:

* **Fire and forget.** An event's delivery is queued and sent by a background thread; the API
  call that caused it never waits. Deliveries leave, and reach a receiver that answers, in the
  order they were made: the next one is sent once the previous one was answered, or after
  :data:`ORDER_WAIT` at most, since each answer is awaited in a thread of its own; a receiver that
  never answers delays the next delivery by that much and holds only its own (the real server's
  sockets are independent, its deliveries milliseconds apart; whether a hung delivery delays
  later ones was not recorded).
* **No retry, no timeout.** A refused connection or a 5xx answer is the end of that
  notification (the error is logged, :attr:`WebhookSender.errors`); a receiver that never
  answers is waited on until it closes the connection ("socket hang up").
* **``/test`` is synchronous** (:meth:`WebhookSender.send_now`): the caller waits for the answer;
  2xx is success, anything else (another status, refused, hang-up) failure.
* Exactly the header names, values and order the agent (axios) sends, written byte for byte
  with ``http.client`` (``Host`` and ``Content-Length`` included, nothing added); the request
  line is ``POST <path and query of the URL> HTTP/1.1``.

Fault switches (:class:`WebhookFaults`, for event deliveries; ``/test`` is never faulted): drop,
delay, duplicate and reorder deliveries, so a receiver's handling of lost, late, repeated and
out-of-order pushes can be tested. Everything attempted is in :attr:`WebhookSender.deliveries`
(dropped ones in :attr:`WebhookFaults.dropped`); :meth:`WebhookSender.wait` waits until nothing
is queued, held or waiting for an answer.

This module knows nothing of the server's records; ``fake_webhook`` builds what it sends.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Literal
from urllib.parse import urlsplit

#: How long the next delivery waits for the previous one's answer (keeps their order of arrival).
ORDER_WAIT = 0.5
#: What the repr of a :class:`WebhookDelivery` shows for its ``Authorization`` value.
HIDDEN = "<hidden>"
#: What a fault switch did to a delivery (None: nothing).
FaultKind = Literal["duplicate", "reordered", "delayed"]


@dataclass(repr=False)
class WebhookDelivery:
    """One POST of the agent: what was (or was to be) sent, and what came back.

    ``headers`` are the request's headers in the order sent (its repr shows the
    ``Authorization`` value as ``<hidden>``: a failing assertion prints no webhook secret).
    ``sent`` is True once the request was written to the receiver (False: the connection failed,
    see ``error``). ``status`` is the receiver's answer (None: no answer, yet or ever); ``error``
    says why there is none
    (``connect ECONNREFUSED 127.0.0.1:9``, ``socket hang up``) or, for an answer that is not 2xx,
    ``Request failed with status code 500`` as the server logs it. ``fault`` names the switch
    that changed this delivery; ``test`` marks a ``/test`` notification.
    """

    seq: int
    notification_type: str
    url: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    test: bool = False
    fault: FaultKind | None = None
    delay: float = 0.0
    sent: bool = False
    status: int | None = None
    response_body: bytes = b""
    error: str | None = None
    created: float = field(default_factory=time.monotonic)
    finished: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    def __repr__(self) -> str:
        shown = []
        for item in fields(self):
            if not item.repr:
                continue
            value = getattr(self, item.name)
            if item.name == "headers":
                value = [(name, HIDDEN if name.lower() == "authorization" else v) for name, v in value]
            shown.append(f"{item.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    @property
    def request_line(self) -> str:
        return f"POST {self.target} HTTP/1.1"

    @property
    def ok(self) -> bool:
        """Did the receiver answer 2xx (what the server counts as success)?"""
        return self.status is not None and 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        """The value of a header (case-insensitive), None when it was not sent."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def json(self) -> Any:
        """The body, parsed."""
        return json.loads(self.body)

    def copy(self, seq: int, fault: FaultKind) -> WebhookDelivery:
        """The same request again (a duplicate or a reordered one), not sent yet."""
        return WebhookDelivery(
            seq=seq,
            notification_type=self.notification_type,
            url=self.url,
            target=self.target,
            headers=list(self.headers),
            body=self.body,
            test=self.test,
            fault=fault,
            delay=self.delay,
            created=self.created,
        )


def request_target(url: str) -> str:
    """The request target axios sends for ``url``: its path (``/`` when empty) and query."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def host_header(url: str) -> str:
    """``Host`` as Node writes it: the host, and the port unless it is the scheme's default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


class WebhookFaults:
    """Fault switches for event deliveries (``/test`` is never faulted); all thread-safe.

    * :meth:`drop_next` — the next ``n`` deliveries are never sent (kept in :attr:`dropped`);
    * :meth:`delay` — every later delivery leaves ``seconds`` after it was made (0: no delay),
      still in order;
    * :meth:`duplicate_next` — the next ``n`` deliveries are each sent twice, back to back;
    * :meth:`reorder_next` — the next ``n`` deliveries are held and sent in reverse order once
      the ``n``-th is made (``n=2`` swaps two); :meth:`release` sends what is held at once.

    A delivery meets the switches in that order: a dropped one counts for no other switch.
    """

    def __init__(self, sender: WebhookSender) -> None:
        self._sender = sender
        self.dropped: list[WebhookDelivery] = []
        self._drop = 0
        self._duplicate = 0
        self._reorder = 0
        self._delay = 0.0
        self._held: list[WebhookDelivery] = []

    def drop_next(self, count: int = 1) -> None:
        with self._sender.condition:
            self._drop += _count(count)

    def delay(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a delay is a number of seconds >= 0")
        with self._sender.condition:
            self._delay = float(seconds)

    def duplicate_next(self, count: int = 1) -> None:
        with self._sender.condition:
            self._duplicate += _count(count)

    def reorder_next(self, count: int = 2) -> None:
        if count < 2:
            raise ValueError("reordering needs at least 2 deliveries")
        with self._sender.condition:
            self._reorder = count

    def release(self) -> None:
        """Send the deliveries held by :meth:`reorder_next` now, in reverse order."""
        with self._sender.condition:
            self._reorder = 0
            self._flush_held()

    def reset(self) -> None:
        """Switch every fault off (what is held is sent)."""
        with self._sender.condition:
            self._drop = self._duplicate = 0
            self._delay = 0.0
            self._reorder = 0
            self._flush_held()

    @property
    def held(self) -> list[WebhookDelivery]:
        with self._sender.condition:
            return list(self._held)

    # ------------------------------------------------------------------ used by the sender
    def _apply(self, delivery: WebhookDelivery) -> list[WebhookDelivery]:
        """What to queue for a new delivery (the sender's lock is held)."""
        if self._drop:
            self._drop -= 1
            self.dropped.append(delivery)
            return []
        if self._delay:
            delivery.delay = self._delay
            delivery.fault = "delayed"
        out = [delivery]
        if self._duplicate:
            self._duplicate -= 1
            out.append(delivery.copy(self._sender.next_seq(), "duplicate"))
        if self._reorder:
            self._held.extend(out)
            if len(self._held) >= self._reorder:
                self._reorder = 0
                return self._take_held()
            return []
        return out

    def _take_held(self) -> list[WebhookDelivery]:
        held, self._held = self._held, []
        for item in held:
            item.fault = item.fault or "reordered"
        return list(reversed(held))

    def _flush_held(self) -> None:
        for item in self._take_held():
            self._sender.enqueue(item)


class WebhookSender:
    """Sends the agent's deliveries (see the module docstring); one per fake server."""

    def __init__(self) -> None:
        self.condition = threading.Condition(threading.Lock())
        #: every delivery attempted, in the order it left (duplicates included, dropped ones not)
        self.deliveries: list[WebhookDelivery] = []
        #: the server log's error lines of the agent (a template that breaks, a refused connection, ...)
        self.errors: list[str] = []
        self.faults = WebhookFaults(self)
        self._queue: deque[WebhookDelivery] = deque()
        self._outstanding = 0  # queued or waiting for an answer
        self._seq = 0
        self._worker: threading.Thread | None = None

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def log_error(self, message: str) -> None:
        with self.condition:
            self.errors.append(message)

    # ------------------------------------------------------------------ events: fire and forget
    def submit(self, delivery: WebhookDelivery) -> None:
        """Queue an event's delivery through the fault switches; returns at once."""
        with self.condition:
            for item in self.faults._apply(delivery):
                self.enqueue(item)

    def enqueue(self, delivery: WebhookDelivery) -> None:
        """Put a delivery on the queue (the lock is held)."""
        self._queue.append(delivery)
        self._outstanding += 1
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._run, name="fake-seerr-webhook", daemon=True)
            self._worker.start()
        self.condition.notify_all()

    def _run(self) -> None:
        while True:
            with self.condition:
                while not self._queue:
                    self.condition.wait()
                delivery = self._queue.popleft()
            wait = delivery.created + delivery.delay - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            connection = self._write(delivery)
            if connection is None:
                self._finish(delivery)
                continue
            threading.Thread(
                target=self._await_answer,
                args=(delivery, connection),
                name="fake-seerr-webhook-answer",
                daemon=True,
            ).start()
            delivery.finished.wait(ORDER_WAIT)

    # ------------------------------------------------------------------ /test: synchronous
    def send_now(self, delivery: WebhookDelivery, *, on_done: Callable[[], None] | None = None) -> None:
        """Send in this thread and wait for the answer (``/test``); never faulted."""
        with self.condition:
            self._outstanding += 1
        connection = self._write(delivery)
        if connection is not None:
            self._read_answer(delivery, connection)
        self._finish(delivery)
        if on_done is not None:
            on_done()

    # ------------------------------------------------------------------ the wire
    def _write(self, delivery: WebhookDelivery) -> http.client.HTTPConnection | None:
        """Connect and write the request; None (and ``error`` set) when that failed."""
        with self.condition:
            self.deliveries.append(delivery)
        parts = urlsplit(delivery.url)
        connection: http.client.HTTPConnection
        port = 0
        try:
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"Invalid URL: {delivery.url!r}")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            if parts.scheme == "https":
                connection = http.client.HTTPSConnection(parts.hostname, port, timeout=None)
            else:
                connection = http.client.HTTPConnection(parts.hostname, port, timeout=None)
            connection.putrequest("POST", delivery.target, skip_host=True, skip_accept_encoding=True)
            for name, value in delivery.headers:
                connection.putheader(name, value)
            connection.endheaders(delivery.body)
        except ConnectionRefusedError:
            self._fail(delivery, f"connect ECONNREFUSED {parts.hostname}:{port}")
            return None
        except (OSError, ValueError, UnicodeError) as error:
            self._fail(delivery, str(error) or type(error).__name__)
            return None
        delivery.sent = True
        return connection

    def _await_answer(self, delivery: WebhookDelivery, connection: http.client.HTTPConnection) -> None:
        self._read_answer(delivery, connection)
        self._finish(delivery)

    def _read_answer(self, delivery: WebhookDelivery, connection: http.client.HTTPConnection) -> None:
        try:
            response = connection.getresponse()
            delivery.response_body = response.read()
            delivery.status = response.status
        except (OSError, http.client.HTTPException):
            self._fail(delivery, "socket hang up")
        finally:
            connection.close()
        if delivery.status is not None and not delivery.ok:
            self._fail(delivery, f"Request failed with status code {delivery.status}")

    def _fail(self, delivery: WebhookDelivery, error: str) -> None:
        delivery.error = error
        self.log_error(f"Error sending webhook notification {delivery.notification_type}: {error}")

    def _finish(self, delivery: WebhookDelivery) -> None:
        delivery.finished.set()
        with self.condition:
            self._outstanding -= 1
            self.condition.notify_all()

    # ------------------------------------------------------------------ for tests
    def wait(self, timeout: float) -> list[WebhookDelivery]:
        """Wait until nothing is queued, held or waiting for an answer; every delivery so far.

        Raises ``TimeoutError`` saying what is still pending (a receiver that never answers, a
        :meth:`WebhookFaults.reorder_next` still short of deliveries)."""
        with self.condition:
            idle = self.condition.wait_for(
                lambda: self._outstanding == 0 and not self.faults._held, timeout=timeout
            )
            if not idle:
                waiting = [d for d in self.deliveries if not d.finished.is_set()]
                parts = []
                if self._queue:
                    parts.append(f"{len(self._queue)} queued")
                if waiting:
                    parts.append(
                        f"{len(waiting)} waiting for an answer from "
                        + ", ".join(sorted({d.url for d in waiting}))
                    )
                if self.faults._held:
                    parts.append(
                        f"{len(self.faults._held)} held by reorder_next (waiting for more deliveries; "
                        "release() sends them)"
                    )
                raise TimeoutError(f"webhook deliveries still pending after {timeout} s: {'; '.join(parts)}")
            return list(self.deliveries)


def _count(count: int) -> int:
    if count < 1:
        raise ValueError("count must be at least 1")
    return count
