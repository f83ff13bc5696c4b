"""The fault matrix: whatever the request server does, Discovery keeps working.

Each :class:`Fault` is made for real where a socket can make it (a closed port, a server that
stalls or hangs up mid-answer, a self-signed certificate, the fake server with its fault
switches), and with an httpx transport where it cannot (a connect timeout). For each, the
connection test must name the failure with its hint, a lookup must degrade to "Not Available"
with a reason (or work, when the client rides it out), nothing may raise, and it must end in
bounded time.

The README's fault table is generated from :data:`FAULTS` (``python -m tests.test_faults``
prints it) and a test fails if the README drifts from it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from aperture_hookspecs import ApertureUser, MediaRef, ProviderInfo, RequestState
from aperture_overseerr import SEERR_CAPABILITIES, SeerrProvider
from aperture_overseerr.testing import FakeSeerr
from aperture_plugins import MemorySettings, PluginHost

from .conftest import CANARY

KEY = CANARY  # watched for in every log record (conftest)
MATRIX = MediaRef.parse("movie:603")
ALICE = ApertureUser("alice")
TIMEOUT = 1.0


@dataclass(frozen=True)
class Target:
    """Where the provider is pointed for one fault."""

    url: str
    transport: httpx.AsyncBaseTransport | None = None
    verify_tls: bool = True
    fake: FakeSeerr | None = None


@dataclass(frozen=True)
class Fault:
    """One row of the matrix: how the fault is made and what Aperture must do about it."""

    name: str
    made_by: str
    make: Callable[[], AbstractAsyncContextManager[Target]]
    problem: str | None  # the connection test's error code; None = the test passes
    hint: str  # a fragment of the problem's message or hints
    card: str  # the lookup's reason (Not Available), or "works" / "works (retried)"


def new_fake() -> FakeSeerr:
    fake = FakeSeerr("jellyseerr", api_key=KEY)
    fake.add_user("alice", jellyfin_username="alice")
    fake.add_title("movie", 603, "The Matrix")
    return fake


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@asynccontextmanager
async def refused() -> AsyncIterator[Target]:
    yield Target(f"http://127.0.0.1:{free_port()}")


@asynccontextmanager
async def unknown_host() -> AsyncIterator[Target]:
    yield Target("http://seerr.invalid:5055")


@asynccontextmanager
async def connect_timeout() -> AsyncIterator[Target]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out connecting", request=request)

    yield Target("http://seerr.local:5055", transport=httpx.MockTransport(handler))


@asynccontextmanager
async def raw_server(
    respond: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await respond(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"


@asynccontextmanager
async def stalls() -> AsyncIterator[Target]:
    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(30)

    async with raw_server(respond) as url:
        yield Target(url)


@asynccontextmanager
async def hangs_up_mid_answer() -> AsyncIterator[Target]:
    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{"ver')
        await writer.drain()

    async with raw_server(respond) as url:
        yield Target(url)


def fake_with(configure: Callable[[FakeSeerr], None]) -> Callable[[], AbstractAsyncContextManager[Target]]:
    @asynccontextmanager
    async def make() -> AsyncIterator[Target]:
        fake = new_fake()
        configure(fake)
        with fake.serve() as url:
            yield Target(url, fake=fake)

    return make


def scripted(answers: Callable[[httpx.Request, FakeSeerr], httpx.Response | None]):
    """A transport into a fake that lets ``answers`` replace some responses (None = the fake's)."""

    @asynccontextmanager
    async def make() -> AsyncIterator[Target]:
        fake = new_fake()

        def handler(request: httpx.Request) -> httpx.Response:
            request.read()
            return answers(request, fake) or fake.handle(request)

        yield Target("http://seerr.local:5055", transport=httpx.MockTransport(handler), fake=fake)

    return make


def _rate_limited(after: str | None) -> Callable[[httpx.Request, FakeSeerr], httpx.Response | None]:
    state = {"sent": 0}

    def answer(request: httpx.Request, fake: FakeSeerr) -> httpx.Response | None:
        if request.url.path.endswith("/status") and state["sent"] < 1:
            state["sent"] += 1
            headers = {"retry-after": after} if after else {}
            return httpx.Response(429, json={"message": "Too Many Requests"}, headers=headers)
        return None

    return answer


def _always_429(request: httpx.Request, fake: FakeSeerr) -> httpx.Response | None:
    return httpx.Response(429, json={"message": "Too Many Requests"})


def _redirect_to(location: str, follow_to: FakeSeerr | None = None):
    def answer(request: httpx.Request, fake: FakeSeerr) -> httpx.Response | None:
        if request.url.scheme == "http":
            return httpx.Response(301, headers={"location": location + request.url.raw_path.decode()})
        if request.url.host != "seerr.local":
            raise AssertionError("the API key travelled to another host")
        return None

    return answer


def self_signed_context() -> tuple[ssl.SSLContext, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    folder = Path(__import__("tempfile").mkdtemp(prefix="aperture-tls-"))
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context, folder


def tls(verify: bool) -> Callable[[], AbstractAsyncContextManager[Target]]:
    @asynccontextmanager
    async def make() -> AsyncIterator[Target]:
        fake = new_fake()
        context, _ = self_signed_context()
        with fake.serve(ssl_context=context) as url:
            yield Target(url, verify_tls=verify, fake=fake)

    return make


def clock_far_off(fake: FakeSeerr) -> None:
    fake.advance(dt.timedelta(days=3650))
    fake.add_media("movie", 27205, status=5)  # rows stamped ten years ahead


def truncated_status(fake: FakeSeerr) -> None:
    fake.fail_next(5, status=200, body='{"version": "2.7', path_prefix="/status")


UNREACHABLE = "Jellyseerr is unreachable right now"
UNUSABLE = "Jellyseerr could not answer"

FAULTS: tuple[Fault, ...] = (
    Fault(
        "connection refused",
        "a closed port",
        refused,
        "connection_refused",
        "Verify URL is correct",
        UNREACHABLE,
    ),
    Fault(
        "DNS failure",
        "a `.invalid` host name",
        unknown_host,
        "host_not_found",
        "could not be resolved",
        UNREACHABLE,
    ),
    Fault(
        "connect timeout",
        "transport raises ConnectTimeout",
        connect_timeout,
        "timeout",
        "timed out",
        UNREACHABLE,
    ),
    Fault(
        "read timeout",
        "a server that accepts, then stalls",
        stalls,
        "timeout",
        "waiting for an answer",
        UNREACHABLE,
    ),
    Fault(
        "server closes mid-response",
        "a server that hangs up after 5 bytes",
        hangs_up_mid_answer,
        "cannot_connect",
        "broke",
        UNREACHABLE,
    ),
    Fault(
        "503 burst (2 answers)",
        "fake `fail_next(2, 503)`",
        fake_with(lambda f: f.fail_next(2, status=503, body={"message": "Service Unavailable"})),
        None,
        "",
        "works (retried)",
    ),
    Fault(
        "502 for good",
        "fake `fail_next(50, 502)`",
        fake_with(lambda f: f.fail_next(50, status=502, body="Bad Gateway", content_type="text/plain")),
        "unsupported_server",
        "does not answer like Jellyseerr",
        UNUSABLE,
    ),
    Fault(
        "500 from the server",
        "fake `fail_next(50, 500)`",
        fake_with(lambda f: f.fail_next(50, status=500, body={"message": "Internal Server Error"})),
        "unsupported_server",
        "Internal Server Error",
        UNUSABLE,
    ),
    Fault(
        "429 with Retry-After",
        "transport: one 429, `Retry-After: 1`",
        scripted(_rate_limited("1")),
        None,
        "",
        "works (retried)",
    ),
    Fault(
        "429 without Retry-After",
        "transport: one 429",
        scripted(_rate_limited(None)),
        None,
        "",
        "works (retried)",
    ),
    Fault(
        "429 for good",
        "transport: every answer 429",
        scripted(_always_429),
        "unsupported_server",
        "rate-limited",
        UNUSABLE,
    ),
    Fault(
        "HTML login page (200)",
        "fake `html_login_page`",
        fake_with(lambda f: setattr(f, "html_login_page", True)),
        "unsupported_server",
        "HTML page",
        UNUSABLE,
    ),
    Fault(
        "truncated JSON",
        "fake `fail_next` with half a body",
        fake_with(truncated_status),
        "unsupported_server",
        "not valid JSON",
        UNUSABLE,
    ),
    Fault(
        "JSON null instead of an object",
        "fake `fail_next(…, body='null')`",
        fake_with(lambda f: f.fail_next(5, status=200, body="null", path_prefix="/status")),
        "unsupported_server",
        "expected a JSON object, got null",
        UNUSABLE,
    ),
    Fault(
        "strings for numbers",
        'fake answers `/media` with `"tmdbId": "603"`',
        fake_with(
            lambda f: f.fail_next(
                5,
                status=200,
                path_prefix="/media",
                body={
                    "pageInfo": {"pages": 1, "pageSize": 1000, "results": 1, "page": 1},
                    "results": [{"id": 1, "mediaType": "movie", "tmdbId": "603", "status": 5}],
                },
            )
        ),
        None,
        "",
        UNUSABLE,
    ),
    Fault(
        "missing fields",
        "fake answers `/media` without `pageInfo`",
        fake_with(lambda f: f.fail_next(5, status=200, path_prefix="/media", body={"results": []})),
        None,
        "",
        UNUSABLE,
    ),
    Fault(
        "extra fields",
        "fake answers `/status` with unknown fields",
        fake_with(
            lambda f: f.fail_next(
                1,
                status=200,
                path_prefix="/status",
                body={"version": "2.7.3", "commitTag": "x", "new": {"a": 1}},
            )
        ),
        None,
        "",
        "works",
    ),
    Fault(
        "redirect http → https, same host",
        "transport: 301 to `https://seerr.local:5055`",
        scripted(_redirect_to("https://seerr.local:5055")),
        None,
        "",
        "works",
    ),
    Fault(
        "redirect to another host",
        "transport: 301 to `https://elsewhere.example`",
        scripted(_redirect_to("https://elsewhere.example")),
        "unsupported_server",
        "not sent across redirects",
        UNUSABLE,
    ),
    Fault(
        "self-signed TLS, verification on",
        "fake over HTTPS, own certificate",
        tls(True),
        "tls_error",
        "TLS",
        UNREACHABLE,
    ),
    Fault(
        "self-signed TLS, verification off", "the same, `verify_tls: false`", tls(False), None, "", "works"
    ),
    Fault(
        "CSRF protection on",
        "fake `csrf_protection`",
        fake_with(lambda f: setattr(f, "csrf_protection", True)),
        "csrf_enabled",
        "Turn off CSRF Protection",
        "works",
    ),
    Fault("server clock far off", "fake clock + 10 years", fake_with(clock_far_off), None, "", "works"),
)


def host_for(target: Target) -> PluginHost:
    provider = SeerrProvider(
        ProviderInfo(name="jellyseerr", title="Jellyseerr", version="test", capabilities=SEERR_CAPABILITIES),
        transport=target.transport,
    )
    host = PluginHost(load_entry_points=False, settings=MemorySettings()).load()
    host.register(provider, "jellyseerr")
    host.use("jellyseerr")
    host.set_settings(
        "jellyseerr",
        {"url": target.url, "api_key": KEY, "timeout": TIMEOUT, "verify_tls": target.verify_tls},
    )
    return host


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
async def test_fault(fault: Fault) -> None:
    async with fault.make() as target:
        host = host_for(target)
        started = time.monotonic()
        try:
            report = await asyncio.wait_for(host.test_connection(), timeout=15)
            cards = await asyncio.wait_for(host.lookup([MATRIX], ALICE), timeout=15)
        finally:
            await host.aclose()
        elapsed = time.monotonic() - started
    errors = [p for p in report.problems if p.severity == "error"]
    if fault.problem is None:
        assert errors == [], errors
    else:
        assert [p.code for p in errors][-1:] == [fault.problem]
        text = errors[-1].message + " " + " ".join(errors[-1].hints)
        assert fault.hint in text
    [card] = cards
    if fault.card.startswith("works"):
        assert card.state is RequestState.REQUESTABLE, card
    else:
        assert card.state is RequestState.NOT_AVAILABLE
        assert card.reason.startswith(fault.card), card.reason
        assert card.admin_reason
    assert elapsed < 10 * TIMEOUT + 5  # bounded: a few timeouts at most, never a hang


async def test_a_provider_that_keeps_failing_is_skipped_until_a_probe_succeeds():
    fake = new_fake()
    port = free_port()
    host = host_for(Target(f"http://127.0.0.1:{port}"))
    breaker = host.dispatcher.breaker
    for _ in range(breaker.threshold):
        [card] = await host.lookup([MATRIX], ALICE)
        assert card.reason == UNREACHABLE
    started = time.monotonic()
    [card] = await host.lookup([MATRIX], ALICE)
    assert time.monotonic() - started < 0.05  # answered at once, no connection attempt
    assert re.fullmatch(r"Jellyseerr is unreachable since \d\d:\d\d:\d\d", card.reason)
    assert "next try in" in card.admin_reason
    # the server comes back on the same port; the admin's connection test is the probe
    with fake.serve(port=port):
        report = await host.test_connection()
        assert report.ok
        [card] = await host.lookup([MATRIX], ALICE)
        assert card.state is RequestState.REQUESTABLE
    await host.aclose()


async def test_a_failed_probe_opens_the_breaker_for_longer():
    host = host_for(Target(f"http://127.0.0.1:{free_port()}"))
    breaker = host.dispatcher.breaker
    now = [1000.0]
    breaker._clock = lambda: now[0]
    for _ in range(breaker.threshold):
        await host.lookup([MATRIX], ALICE)
    assert breaker.is_open("jellyseerr")
    now[0] += breaker.base_delay  # probe due
    await host.lookup([MATRIX], ALICE)  # the probe fails
    [card] = await host.lookup([MATRIX], ALICE)
    assert f"next try in {2 * breaker.base_delay:.0f} s" in card.admin_reason
    await host.aclose()


def matrix_markdown() -> str:
    """The README's fault table, from :data:`FAULTS`."""
    lines = [
        "| fault | made by | connection test says | a Discovery card shows |",
        "| --- | --- | --- | --- |",
    ]
    for fault in FAULTS:
        test = f"`{fault.problem}`: …{fault.hint}…" if fault.problem else "OK"
        card = fault.card if fault.card.startswith("works") else f'Not Available: "{fault.card}…"'
        lines.append(f"| {fault.name} | {fault.made_by} | {test} | {card} |")
    return "\n".join(lines)


def test_the_readme_matrix_is_generated_from_these_faults():
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- fault-matrix:start -->\n(.*?)\n<!-- fault-matrix:end -->", readme, re.DOTALL)
    assert match, "the README lost its fault matrix markers"
    assert match.group(1) == matrix_markdown(), "regenerate it: python -m tests.test_faults"


if __name__ == "__main__":
    print(matrix_markdown())
