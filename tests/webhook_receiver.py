"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 that records every POST.

Like the recorder's receivers (``shared/reference/recorded/*/README.md``, "Webhook deliveries"):
it logs each request's line, its headers in the order received and the raw body, and answers
according to its ``mode``: ``"ok"`` (200 ``{"ok":true}``), ``"fail"`` (500) or ``"hang"`` (reads
the request, never answers, closes the connection after ``hang_seconds``). :func:`closed_port`
gives a port nothing listens on (the "down" case).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Mode = Literal["ok", "fail", "hang"]


@dataclass(frozen=True)
class Received:
    request_line: str
    headers: list[tuple[str, str]]
    body: bytes
    answered: int | None  # None: the receiver never answered
    port: int = 0  # the receiver's port
    at: float = field(default_factory=time.monotonic)  # when the request had been read


class Receiver:
    """A running receiver; ``url`` is ``http://127.0.0.1:<port>/hook``."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self.port: int = server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.mode: Mode = "ok"
        self.hang_seconds = 0.5
        self.received: list[Received] = []
        self._changed = threading.Condition()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Wait until ``count`` requests have been received (fails the test otherwise)."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.received) >= count, timeout=timeout):
                raise AssertionError(f"the receiver got {len(self.received)} requests, expected {count}")
            return list(self.received)

    def record(self, item: Received) -> None:
        with self._changed:
            self.received.append(item)
            self._changed.notify_all()


@contextmanager
def running_receiver(mode: Mode = "ok") -> Iterator[Receiver]:
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            receiver = holder[0]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            mode = receiver.mode
            answered = {"ok": 200, "fail": 500}.get(mode)
            receiver.record(
                Received(self.requestline, list(self.headers.items()), body, answered, receiver.port)
            )
            if mode == "hang":
                time.sleep(receiver.hang_seconds)
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            payload = b'{"ok":true}' if mode == "ok" else b'{"error":"receiver configured to answer 500"}'
            self.send_response(answered or 500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(server)
    receiver.mode = mode
    holder.append(receiver)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port() -> int:
    """A loopback port with no listener (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
