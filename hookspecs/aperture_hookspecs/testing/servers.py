"""The two unreachable servers the kit points a provider at: a closed port and a stalling one.

Both listen on 127.0.0.1 only and are context managers that yield a base URL
(``http://127.0.0.1:PORT``); the author's ``settings_for_url`` turns it into settings.

* :func:`closed_port` holds a port bound but not listening, so a connection is refused
  (nothing else can take the port while the check runs).
* :func:`stalling_server` accepts every connection and never answers (nor closes it) until it
  stops: a server that hangs, or a firewall that lets the handshake through.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

__all__ = ["closed_port", "stalling_server"]


@contextlib.contextmanager
def closed_port() -> Iterator[str]:
    """A base URL whose port refuses connections (bound, never listening)."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        holder.close()


@contextlib.contextmanager
def stalling_server() -> Iterator[str]:
    """A base URL whose server accepts connections and never sends a byte."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stopping = threading.Event()

    def accept_and_hold() -> None:
        while not stopping.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)

    thread = threading.Thread(target=accept_and_hold, name="aperture-kit-stalling-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stopping.set()
        thread.join(timeout=5)
        listener.close()
        for connection in held:
            with contextlib.suppress(OSError):
                connection.close()
