"""The receivers of a recorded webhook run, stood up again for a replay against the fake.

The recorder pointed the agent at three loopback ports (``README.md``, "Webhook deliveries"):
a receiver answering 200 (or 500 while switched so), one that reads the request and never
answers, and one where nothing listens. The ports are read from the recording itself, never
assumed: every ``webhookUrl`` of ``webhook-exchanges.jsonl`` names one, and ``webhooks.jsonl``
tells which it was: a port whose deliveries were never answered is the hanging receiver, one
with answered deliveries the normal one, one that got nothing the closed port.

:class:`WebhookRun` starts a real receiver on a free port for each, rewrites the recorded URLs
to those ports before a request is sent (:meth:`WebhookRun.outgoing`) and back in the answers
(:meth:`WebhookRun.restore`), switches the normal receiver to 500 for the exchanges whose
deliveries were answered 500 (:meth:`WebhookRun.before`) and, after each exchange, collects what
the receivers got (:meth:`WebhookRun.after`). The hanging receiver closes after
:data:`HANG_SECONDS` instead of the recorder's 60 s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from aperture_overseerr.testing import FakeSeerr

from .webhook_receiver import Receiver, closed_port, running_receiver

HANG_SECONDS = 0.3
_URL_PORT = re.compile(r"127\.0\.0\.1:(\d+)")


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def recorded_deliveries(folder: Path) -> list[dict[str, Any]]:
    return _lines(folder / "webhooks.jsonl")


def _webhook_url_ports(folder: Path) -> set[int]:
    ports: set[int] = set()
    for record in _lines(folder / "webhook-exchanges.jsonl"):
        body = record["request"].get("body")
        options = body.get("options") if isinstance(body, dict) else None
        url = options.get("webhookUrl") if isinstance(options, dict) else None
        if isinstance(url, str):
            ports.update(int(p) for p in _URL_PORT.findall(url))
    return ports


class WebhookRun:
    """The receivers of one recorded folder's webhook run (see the module docstring)."""

    def __init__(self, folder: Path, receivers: dict[int, Receiver], closed: dict[int, int]) -> None:
        self.receivers = receivers  # recorded port -> running receiver
        self.ports = {port: r.port for port, r in receivers.items()} | closed  # recorded -> real
        self._back = {real: port for port, real in self.ports.items()}
        self._seen = {port: 0 for port in receivers}
        self._by_exchange: dict[int, list[dict[str, Any]]] = {}
        for delivery in recorded_deliveries(folder):
            self._by_exchange.setdefault(delivery["trigger"]["exchange_seq"], []).append(delivery)

    def expected(self, exchange_seq: int) -> list[dict[str, Any]]:
        """The deliveries the real server sent for that exchange."""
        return self._by_exchange.get(exchange_seq, [])

    def outgoing(self, request: dict[str, Any]) -> dict[str, Any]:
        """The recorded request with its webhook URL pointing at this run's receivers."""
        if request.get("body") is None:
            return request
        text = _URL_PORT.sub(
            lambda m: f"127.0.0.1:{self.ports.get(int(m[1]), int(m[1]))}", json.dumps(request["body"])
        )
        return {**request, "body": json.loads(text)}

    def restore(self, raw: bytes) -> bytes:
        """An answer with this run's receiver ports written back as the recorded ones."""
        text = raw.decode("utf-8", "surrogateescape")
        return _URL_PORT.sub(lambda m: f"127.0.0.1:{self._back.get(int(m[1]), int(m[1]))}", text).encode(
            "utf-8", "surrogateescape"
        )

    def before(self, exchange_seq: int) -> None:
        """Switch the receivers as the recorder had them for this exchange."""
        failing = {
            d["receiver"]["port"] for d in self.expected(exchange_seq) if d["receiver"]["answered"] == 500
        }
        for port, receiver in self.receivers.items():
            if receiver.mode != "hang":
                receiver.mode = "fail" if port in failing else "ok"

    def after(self, fake: FakeSeerr) -> list[tuple[int, Any]]:
        """What the receivers got during the exchange: ``(recorded port, Received)`` in order."""
        fake.wait_for_deliveries(10 + HANG_SECONDS)
        got: list[tuple[float, int, Any]] = []
        for port, receiver in self.receivers.items():
            new = receiver.received[self._seen[port] :]
            self._seen[port] += len(new)
            got.extend((item.at, port, item) for item in new)
        return [(port, item) for _, port, item in sorted(got, key=lambda entry: entry[0])]


@contextmanager
def webhook_run(folder: Path) -> Iterator[WebhookRun]:
    """Receivers for every port of the folder's recorded webhook run."""
    deliveries = recorded_deliveries(folder)
    answered: dict[int, set[Any]] = {}
    for delivery in deliveries:
        answered.setdefault(delivery["receiver"]["port"], set()).add(delivery["receiver"]["answered"])
    with ExitStack() as stack:
        receivers: dict[int, Receiver] = {}
        closed: dict[int, int] = {}
        for port in sorted(_webhook_url_ports(folder) | set(answered)):
            if port not in answered:
                closed[port] = closed_port()
                continue
            receiver = stack.enter_context(running_receiver("hang" if answered[port] == {None} else "ok"))
            receiver.hang_seconds = HANG_SECONDS
            receivers[port] = receiver
        yield WebhookRun(folder, receivers, closed)
