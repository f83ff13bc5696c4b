"""Serve an ASGI app with uvicorn on 127.0.0.1 in a background thread, for tests over real HTTP.

::

    with serve_app(create_app(host)) as served:
        httpx.get(served.url + "/healthz")
        served.call(host.apply_push("pusher", notice))  # a coroutine run in the server's loop

The socket is bound before uvicorn starts (a free port, no race with other tests). The server
has its own event loop in its thread; :meth:`ServedApp.call` runs a coroutine there, so the
host the app serves is only ever used from one loop. Long-lived responses (``/events``) do not
hold the shutdown: after ``graceful_seconds`` uvicorn cancels them.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import uvicorn

_T = TypeVar("_T")


@dataclass
class ServedApp:
    """A running server: its base URL, its uvicorn server and its event loop."""

    url: str
    server: uvicorn.Server
    loop: asyncio.AbstractEventLoop

    def call(self, coroutine: Coroutine[Any, Any, _T], timeout: float = 30.0) -> _T:
        """Run ``coroutine`` in the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def tasks(self) -> int:
        """How many tasks are alive in the server's loop (to find leaked ones)."""

        async def count() -> int:
            return len(asyncio.all_tasks()) - 1  # not this one

        return self.call(count())


@contextmanager
def serve_app(app: Any, *, graceful_seconds: float = 1.0) -> Iterator[ServedApp]:
    """Run ``app`` until the block ends (see the module docstring)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio sets TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="on",
        loop="asyncio",
        timeout_graceful_shutdown=graceful_seconds,
    )
    server = uvicorn.Server(config)
    loops: list[asyncio.AbstractEventLoop] = []
    failures: list[BaseException] = []

    def run() -> None:
        async def main() -> None:
            loops.append(asyncio.get_running_loop())
            await server.serve(sockets=[sock])

        try:
            asyncio.run(main())
        except BaseException as error:  # reported by the test, not lost in the thread
            failures.append(error)

    thread = threading.Thread(target=run, name="uvicorn-test", daemon=True)
    thread.start()
    try:
        for _ in range(600):
            if server.started or failures or not thread.is_alive():
                break
            threading.Event().wait(0.05)
        if not server.started:
            raise RuntimeError(f"uvicorn did not start: {failures or 'no error, it did not come up'}")
        yield ServedApp(f"http://127.0.0.1:{port}", server, loops[0])
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        if thread.is_alive():
            raise RuntimeError("uvicorn did not stop within 30 s")
    if failures:
        raise failures[0]


@dataclass
class SSEMessage:
    """One Server-Sent Events message as a client parses it (comments kept, for heartbeats)."""

    id: str | None = None
    event: str | None = None
    data: str | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    def json(self) -> Any:
        assert self.data is not None, f"no data in {self}"
        return json.loads(self.data)


class SSEClient:
    """A blocking ``text/event-stream`` reader over real HTTP (httpx), parsing as browsers do.

    ``next()`` returns the next message; a read that waits longer than ``read_timeout``
    raises ``httpx.ReadTimeout``. ``last_event_id`` follows the ids as ``EventSource`` does
    (a message with an ``id:`` and no ``data:`` moves it too).
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None,
        params: dict[str, str] | None = None,
        last_event_id: str | None = None,
        read_timeout: float = 20.0,
    ) -> None:
        headers = {"Accept": "text/event-stream"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self._client = httpx.Client(timeout=httpx.Timeout(10.0, read=read_timeout))
        self._stream = self._client.stream("GET", url, headers=headers, params=params)
        self.response = self._stream.__enter__()
        self._lines = self.response.iter_lines()
        self.last_event_id = last_event_id

    def next(self) -> SSEMessage:
        message = SSEMessage()
        seen = False
        for line in self._lines:
            if line == "":
                if seen:
                    if message.id is not None:
                        self.last_event_id = message.id
                    return message
                continue
            seen = True
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                message.comments.append(value)
            elif name == "id":
                message.id = value
            elif name == "event":
                message.event = value
            elif name == "data":
                message.data = value if message.data is None else f"{message.data}\n{value}"
            elif name == "retry":
                message.retry = int(value)
        raise EOFError("the stream ended")

    def close(self) -> None:
        self._stream.__exit__(None, None, None)
        self._client.close()

    def __enter__(self) -> SSEClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
