"""``aperture-plugins serve``: the HTTP surface (:mod:`aperture_plugins.web`) on uvicorn.

``serve [--host 127.0.0.1] [--port 8765] [--poll-interval 60]`` serves the webhooks,
``/events``, ``/api``, ``/healthz`` and ``/metrics`` until Ctrl-C or SIGTERM, and polls the
active provider's tracked requests every ``--poll-interval`` seconds beside the pushes (poll
cycles are timed into ``/metrics``; a failing cycle is logged and the server carries on).

**Tokens.** ``/api`` and ``/events`` need a bearer token: one made by ``aperture-plugins token
create`` or ``APERTURE_API_TOKEN``. On a **non-loopback address** (``--host 0.0.0.0``, a LAN
address, a host name) ``serve`` refuses to start without one (:class:`TokenRequiredError`,
``token_required``, exit code 2) and ``/metrics`` asks for the token too; on loopback
``/metrics`` is open (for a local Prometheus).

**The address** is bound before the server starts: an address in use or not of this machine is
``address_unavailable`` (exit 2), not a traceback.

**Shutdown** (Ctrl-C, SIGTERM): uvicorn stops taking connections, open ``/events`` streams are
closed, the push worker finishes what it queued (at most 5 s), the poller stops and the host
is closed (its connections, and its poll lease is given up, so a ``watch`` takes over at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator

import uvicorn

from aperture_hookspecs import ApertureError

from .host import PluginHost
from .web import create_app

log = logging.getLogger(__name__)

API_TOKEN_ENV = "APERTURE_API_TOKEN"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_POLL_INTERVAL = 60.0


class TokenRequiredError(ApertureError):
    """``serve`` on a non-loopback address with no API token to protect ``/api`` and ``/events``."""

    code = "token_required"
    default_message = "Serving on a non-loopback address needs an API token"
    default_hints = (
        "Create one: aperture-plugins token create",
        f"or set {API_TOKEN_ENV} for the server",
        "or serve on loopback only: --host 127.0.0.1",
    )


class AddressUnavailableError(ApertureError):
    """The address and port cannot be listened on (in use, not of this machine, not allowed)."""

    code = "address_unavailable"
    default_message = "Cannot listen on that address"
    default_hints = (
        "Choose another --port, or stop what listens there",
        "Check --host is an address of this machine",
    )


def is_loopback(address: str) -> bool:
    """Whether ``address`` only accepts connections from this machine (``127.x``, ``::1``, ``localhost``)."""
    if address.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def env_token() -> str | None:
    value = os.environ.get(API_TOKEN_ENV, "").strip()
    return value or None


def check_listen_address(host: PluginHost, address: str, token: str | None) -> None:
    """Refuse a non-loopback ``address`` unless a token exists (stored, or ``token``)."""
    if is_loopback(address) or token:
        return
    if not host.push_store().has_api_tokens():
        raise TokenRequiredError(
            f"Refusing to serve on {address}, which other machines can reach, without an API token: "
            "anyone could read /api and /events"
        )


def bind(address: str, port: int) -> socket.socket:
    """A listening socket on ``address``:``port`` (IPv4 or IPv6), or :class:`AddressUnavailableError`."""
    try:
        infos = socket.getaddrinfo(address or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise AddressUnavailableError(f"Cannot listen on {address}: {error.strerror}") from None
    family, kind, proto, _, where = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(where)
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise AddressUnavailableError(f"Cannot listen on {address} port {port}: {error.strerror}") from None
    sock.set_inheritable(True)
    return sock


def serve(
    host: PluginHost,
    *,
    address: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    poll_interval: float | None = DEFAULT_POLL_INTERVAL,
    announce: Callable[[str], None] | None = None,
) -> str:
    """Serve until stopped; return the URL it served on. Raises the errors above before serving.

    ``announce`` is called with the URL once the address is bound (``--port 0``: a free one).
    """
    token = env_token()
    check_listen_address(host, address, token)
    host.push_store()  # a host without a settings store cannot authenticate anything
    sock = bind(address, port)
    bound_port = sock.getsockname()[1]
    shown = f"[{address}]" if ":" in address else address
    url = f"http://{shown}:{bound_port}"
    app = create_app(
        host, env_token=token, poll_interval=poll_interval, metrics_need_token=not is_loopback(address)
    )
    config = uvicorn.Config(
        app, lifespan="on", log_config=None, access_log=False, timeout_graceful_shutdown=5
    )
    server = _Server(config)
    if announce is not None:
        announce(url)
    asyncio.run(_run(server, sock, host))
    return url


class _Server(uvicorn.Server):
    """uvicorn's server, except that Ctrl-C and SIGTERM only stop it.

    uvicorn raises a caught signal again once it has shut down (so a SIGTERM would kill the
    process before the host is closed); here the signal ends :meth:`serve` and the command
    closes the host and exits 0.
    """

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """End the open ``/events`` streams first: uvicorn would otherwise wait its graceful
        timeout for them and then cancel them with an error in the log."""
        state = getattr(getattr(self.config.app, "state", None), "aperture", None)
        if state is not None:
            state.stop_streams()
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


async def _run(server: uvicorn.Server, sock: socket.socket, host: PluginHost) -> None:
    try:
        await server.serve(sockets=[sock])
    finally:
        sock.close()
        await host.aclose()
