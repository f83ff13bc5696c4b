"""The HTTP surface under hostile input, over real HTTP (uvicorn on 127.0.0.1).

Unauthorised, wrong-secret, oversized (declared, undeclared, chunked), malformed, wrong-shape,
non-UTF-8 and replayed pushes are refused or ignored and change nothing: the provider never
parses an unauthenticated body, no event is logged, no tracked request moves. Secrets are
compared with ``hmac.compare_digest``. The bearer token guards what it guards. The conftest
leak check (extended here to every HTTP answer and to the secrets and tokens a test makes) is
itself shown to catch a leak.
"""

from __future__ import annotations

import hmac
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aperture_hookspecs import ApertureUser, MediaRef, RequestState, TrackedRequest
from aperture_plugins.host import PluginHost
from aperture_plugins.push_store import PushStore
from aperture_plugins.store import SettingsStore
from aperture_plugins.web import create_app
from aperture_plugins.web.auth import require_token
from aperture_plugins.web.state import MAX_PUSH_BYTES

from .conftest import CANARY, watch_secret
from .fakes import RecordingProvider
from .push_fakes import PushProvider, eventually, push_body, serve_app

MOVIE = MediaRef.parse("movie:680")
ENV_TOKEN = "fake-env-token-for-tests-0001"


@pytest.fixture
def provider() -> PushProvider:
    return PushProvider()


@pytest.fixture
def other() -> PushProvider:
    return PushProvider("other")


@pytest.fixture
def host(data_dir: Path, provider: PushProvider, other: PushProvider) -> PluginHost:
    host = PluginHost(data_dir, load_entry_points=False)
    host.load()
    host.register(provider, "pusher")
    host.register(other, "other")
    host.register(RecordingProvider("plain"), "plain")  # no Capability.PUSH
    host.use("pusher")
    store = host.settings
    assert isinstance(store, SettingsStore)
    store.save_tracked("pusher", [TrackedRequest("7", MOVIE, ApertureUser("alice"), RequestState.PENDING)])
    return host


@pytest.fixture
def secret(host: PluginHost) -> str:
    return host.push_target("pusher", "http://aperture:8765").authorization


async def private(request: Request) -> Response:
    await require_token(request)
    return JSONResponse({"ok": True})


@pytest.fixture
def served(host: PluginHost) -> Iterator[str]:
    watch_secret(ENV_TOKEN)
    app = create_app(host, env_token=ENV_TOKEN, extra_routes=[Route("/private", private)])
    with serve_app(app, host) as running:
        yield running.url


def nothing_changed(host: PluginHost, provider: PushProvider, data_dir: Path) -> None:
    """No event logged, no tracked request moved, nothing applied."""
    reader = SettingsStore(data_dir)
    try:
        assert PushStore(reader).stream_after(0) == []
        assert [r.state for _, r in reader.tracked("pusher")] == [RequestState.PENDING]
    finally:
        reader.close()
    assert provider.applied == []


def post(url: str, body: bytes | Iterator[bytes], authorization: str | bytes | None = None) -> httpx.Response:
    headers: dict[str, str | bytes] = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    return httpx.post(url, content=body, headers=headers, timeout=10)


# -- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer wrong-secret",
        "SECRET",  # the secret without "Bearer "
        "Bearer SECRET-and-more",
        "bearer SECRET",  # the header must be exactly what the server was told to send
        "Basic SECRET",
        "Bearer  SECRET",
        "Bearer SECRET\u00e9",
        "OTHER",  # another provider's exact header
    ],
)
def test_a_push_without_the_providers_exact_secret_is_401_and_never_parsed(
    host: PluginHost,
    provider: PushProvider,
    secret: str,
    served: str,
    data_dir: Path,
    header: str | None,
) -> None:
    bare = secret.removeprefix("Bearer ")
    if header is not None:
        header = header.replace("OTHER", host.push_target("other", "http://aperture:8765").authorization)
        header = header.replace("SECRET", bare)
    answer = post(
        f"{served}/webhooks/pusher",
        push_body(request="7"),
        header.encode("utf-8") if header else header,
    )
    assert answer.status_code == 401
    assert answer.json() == {"error": "unauthorized", "message": "This push is not authorized", "hints": []}
    assert provider.parsed == []
    nothing_changed(host, provider, data_dir)
    refused = PushStore(SettingsStore(data_dir)).receipts("pusher")["refused"]
    assert refused.count == 1 and refused.detail == "unauthorized: wrong or missing secret"


def test_unknown_providers_and_providers_without_a_secret_answer_the_same_401(
    host: PluginHost, provider: PushProvider, secret: str, served: str, data_dir: Path
) -> None:
    wrong = post(f"{served}/webhooks/pusher", push_body(), "Bearer wrong")
    unknown = post(f"{served}/webhooks/nobody", push_body(), secret)
    no_secret = post(f"{served}/webhooks/other", push_body(), secret)  # "other" never made one
    for answer in (unknown, no_secret):
        assert (answer.status_code, answer.content) == (wrong.status_code, wrong.content)
    nothing_changed(host, provider, data_dir)
    receipts = PushStore(SettingsStore(data_dir))
    assert receipts.receipts("nobody") == {}  # a name from the URL writes nothing
    assert receipts.receipts("other")["refused"].count == 1


def test_an_authenticated_push_to_a_provider_that_takes_none_is_404(
    host: PluginHost, provider: PushProvider, other: PushProvider, served: str, data_dir: Path
) -> None:
    plain = host.push_target("plain", "http://aperture:8765").authorization
    other_secret = host.push_target("other", "http://aperture:8765").authorization
    host.disable("other")
    for name, header in (("plain", plain), ("other", other_secret)):
        answer = post(f"{served}/webhooks/{name}", push_body(), header)
        assert answer.status_code == 404 and answer.json()["error"] == "not_found"
    assert other.parsed == []
    nothing_changed(host, provider, data_dir)


def test_secrets_are_compared_with_compare_digest(
    host: PluginHost, provider: PushProvider, secret: str, served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spy says no to everything: even the right secret is refused, so compare_digest decides."""
    calls: list[tuple[bytes, bytes]] = []

    def spy(given: bytes, expected: bytes) -> bool:
        calls.append((given, expected))
        return False

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert post(f"{served}/webhooks/pusher", push_body(), secret).status_code == 401
    assert calls == [(secret.encode(), secret.encode())]
    calls.clear()
    assert httpx.get(f"{served}/private", headers={"authorization": f"Bearer {ENV_TOKEN}"}).status_code == 401
    assert calls[0] == (ENV_TOKEN.encode(), ENV_TOKEN.encode())
    assert provider.parsed == []


# -- size -------------------------------------------------------------------------------------


def padded(size: int) -> bytes:
    """A valid status push of exactly ``size`` bytes (JSON padded with spaces)."""
    body = push_body(request="7")
    return body + b" " * (size - len(body))


def test_a_body_of_exactly_64_kib_is_taken(
    host: PluginHost, provider: PushProvider, secret: str, served: str
) -> None:
    answer = post(f"{served}/webhooks/pusher", padded(MAX_PUSH_BYTES), secret)
    assert answer.status_code == 200
    assert len(provider.parsed[0].body) == MAX_PUSH_BYTES


@pytest.mark.parametrize("framing", ["content-length", "chunked", "chunked-large"])
def test_a_body_over_64_kib_is_413_however_it_is_framed(
    host: PluginHost, provider: PushProvider, secret: str, served: str, data_dir: Path, framing: str
) -> None:
    body = padded(MAX_PUSH_BYTES + 1)
    if framing == "content-length":
        content: bytes | Iterator[bytes] = body
    elif framing == "chunked":  # no Content-Length: the limit is found while reading
        content = iter([body[:40_000], body[40_000:]])
    else:
        content = iter([b" " * 16_384] * 64)  # 1 MiB in chunks

    answer = post(f"{served}/webhooks/pusher", content, secret)
    assert answer.status_code == 413
    assert answer.json() == {"error": "too_large", "message": "A push may be at most 64 KiB", "hints": []}
    if framing == "content-length":
        assert "content-length" in {k.lower() for k in answer.request.headers}
    else:
        assert answer.request.headers["transfer-encoding"] == "chunked"
    assert provider.parsed == []
    nothing_changed(host, provider, data_dir)


def raw_request(url: str, head: str, body: bytes = b"") -> bytes:
    """Send raw bytes, read the answer until the server closes or 2 s of silence."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode("latin-1") + b"\r\n" + body)
        sock.settimeout(2)
        answer = b""
        try:
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except TimeoutError:
            pass
    return answer


def test_a_declared_huge_body_is_refused_before_it_is_sent(
    host: PluginHost, provider: PushProvider, secret: str, served: str, data_dir: Path
) -> None:
    """Content-Length: 100 MB and no body yet: the answer comes without waiting for it."""
    answer = raw_request(
        served,
        f"POST /webhooks/pusher HTTP/1.1\nHost: aperture\nAuthorization: {secret}\n"
        "Content-Type: application/json\nContent-Length: 100000000\n",
    )
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert provider.parsed == []
    nothing_changed(host, provider, data_dir)


def test_a_chunked_body_that_lies_about_nothing_but_grows_forever_is_cut_at_the_limit(
    host: PluginHost, provider: PushProvider, secret: str, served: str, data_dir: Path
) -> None:
    chunk = b" " * 8192
    chunks = b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(9))  # 72 KiB, no end
    answer = raw_request(
        served,
        f"POST /webhooks/pusher HTTP/1.1\nHost: aperture\nAuthorization: {secret}\n"
        "Content-Type: application/json\nTransfer-Encoding: chunked\n",
        chunks,
    )
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert provider.parsed == []
    nothing_changed(host, provider, data_dir)


def test_an_unauthenticated_oversized_push_is_401_not_413(
    host: PluginHost, provider: PushProvider, served: str, data_dir: Path
) -> None:
    """Authentication comes first: a stranger learns nothing, not even the limit."""
    answer = post(f"{served}/webhooks/pusher", padded(MAX_PUSH_BYTES * 2), "Bearer wrong")
    assert answer.status_code == 401
    nothing_changed(host, provider, data_dir)


# -- malformed --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "the body is not JSON: Expecting property name enclosed in double quotes"),
        (b"", "the body is not JSON: Expecting value"),
        (b"[1, 2]", "the body must be an object with an 'event' string"),
        (b'{"event": 5}', "the body must be an object with an 'event' string"),
        (b'{"event": "status", "item": "movie:680"}', "a status push needs 'item' and 'state'"),
        (
            b'{"event": "status", "item": "film:x", "state": "approved"}',
            "a status push needs 'item' and 'state'",
        ),
        (b'{"event": "status", "item": "movie:680", "state": "\xff\xfe"}', "the body is not UTF-8 (byte 51)"),
        ('{"event": "test"}'.encode("utf-16"), "the body is not UTF-8 (byte 0)"),
    ],
)
def test_a_malformed_push_is_400_with_the_message_logged_and_changes_nothing(
    host: PluginHost,
    provider: PushProvider,
    secret: str,
    served: str,
    data_dir: Path,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    message: str,
) -> None:
    answer = post(f"{served}/webhooks/pusher", body, secret)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_push"
    assert answer.json()["message"].startswith(message)
    assert f"push for pusher refused (400 malformed): {message}" in caplog.text
    nothing_changed(host, provider, data_dir)
    refused = PushStore(SettingsStore(data_dir)).receipts("pusher")["refused"]
    assert refused.detail.startswith(f"malformed: {message}")


async def test_a_content_length_that_is_not_a_number_is_400(host: PluginHost, provider: PushProvider) -> None:
    """uvicorn's parser already refuses it; another ASGI server might not (called directly here)."""
    app = create_app(host)
    authorization = host.push_target("pusher", "http://aperture:8765").authorization
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/webhooks/pusher",
        "raw_path": b"/webhooks/pusher",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"authorization", authorization.encode()), (b"content-length", b"12x")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": push_body(), "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 400
    assert json.loads(sent[1]["body"])["message"] == "Content-Length is not a number"  # type: ignore[arg-type]
    assert provider.parsed == []


def test_only_post_is_answered_and_no_route_has_a_traceback(
    host: PluginHost, served: str, secret: str
) -> None:
    answer = httpx.get(f"{served}/webhooks/pusher", headers={"authorization": secret})
    assert answer.status_code == 405 and answer.json()["error"] == "method_not_allowed"
    missing = httpx.get(f"{served}/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


# -- replay -----------------------------------------------------------------------------------


def test_replayed_pushes_change_nothing_after_the_first(
    host: PluginHost, provider: PushProvider, secret: str, served: str, data_dir: Path
) -> None:
    body = push_body(request="7", state="approved")
    for _ in range(5):
        assert post(f"{served}/webhooks/pusher", body, secret).status_code == 200
    reader = PushStore(SettingsStore(data_dir))
    eventually(lambda: len(provider.applied) == 5, what="five applies")
    eventually(lambda: reader.receipts("pusher")["status"].count == 5, what="five receipts")
    assert [event.kind for event in reader.stream_after(0)] == ["status", "badge"]


# -- bearer tokens ----------------------------------------------------------------------------


def test_the_bearer_token_guards_its_routes(host: PluginHost, served: str, data_dir: Path) -> None:
    store = host.push_store()
    token = store.create_api_token("front end")

    def get(header: str | None) -> httpx.Response:
        return httpx.get(f"{served}/private", headers={"authorization": header} if header else {})

    for header in (None, "Bearer", "Bearer wrong", f"Basic {token}", token, f"Bearer {token}x"):
        refused = get(header)
        assert refused.status_code == 401, header
        assert refused.json()["error"] == "unauthorized" and refused.headers["www-authenticate"] == "Bearer"
    assert get(f"Bearer {token}").json() == {"ok": True}
    assert get(f"bearer {ENV_TOKEN}").json() == {"ok": True}
    token_id = store.api_tokens()[0]["id"]
    assert store.revoke_api_token(token_id)
    assert get(f"Bearer {token}").status_code == 401  # revoked: refused at once
    rows = SettingsStore(data_dir)._connection().execute("SELECT * FROM api_tokens").fetchall()
    assert rows == []


def test_a_damaged_store_makes_the_token_check_503_without_details(
    host: PluginHost, served: str, data_dir: Path
) -> None:
    store = host.settings
    assert isinstance(store, SettingsStore)
    store.close()
    (data_dir / "aperture.db").write_bytes(b"not a database" * 500)
    for suffix in ("-wal", "-shm"):
        (data_dir / f"aperture.db{suffix}").unlink(missing_ok=True)
    answer = httpx.get(f"{served}/private", headers={"authorization": "Bearer apt_whatever"})
    assert answer.status_code == 503 and answer.json()["error"] == "store_unavailable"
    assert str(data_dir) not in answer.text
    assert httpx.get(f"{served}/private", headers={"authorization": f"Bearer {ENV_TOKEN}"}).status_code == 200


# -- the leak check covers the HTTP surface ---------------------------------------------------


def test_no_answer_holds_a_secret_whatever_is_asked(
    host: PluginHost, secret: str, served: str, no_secret_in_answers: list[bytearray]
) -> None:
    """Every route, right and wrong; the conftest check scans each answer for every secret."""
    token = host.push_store().create_api_token()
    auth = {"authorization": f"Bearer {token}"}
    for method, path, headers, body in [
        ("GET", "/healthz", {}, None),
        ("GET", "/metrics", {}, None),
        ("GET", "/private", auth, None),
        ("GET", "/private", {}, None),
        ("POST", "/webhooks/pusher", {"authorization": secret}, push_body("test")),
        ("POST", "/webhooks/pusher", {"authorization": secret}, b"{" + secret.encode()),
        ("POST", "/webhooks/pusher", {"authorization": f"{secret}x"}, push_body()),
        ("POST", "/webhooks/plain", {"authorization": secret}, push_body()),
        ("GET", "/webhooks/pusher", {"authorization": secret}, None),
    ]:
        httpx.request(method, f"{served}{path}", headers=headers, content=body, timeout=10)
    assert len(no_secret_in_answers) >= 9  # every answer was seen by the check


def test_the_leak_check_fails_a_test_whose_answer_or_log_holds_a_secret(pytester: pytest.Pytester) -> None:
    """The conftest check itself, on a leaky route and a leaky log line."""
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(
        test_leaky=f"""
        import logging
        from starlette.applications import Starlette
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route
        from starlette.testclient import TestClient
        from aperture_plugins.host import PluginHost

        def leaky_app(text):
            return Starlette(routes=[Route("/", lambda request: PlainTextResponse(text))])

        def test_a_webhook_secret_in_an_answer(data_dir):
            secret = PluginHost(data_dir).push_target("x", "http://a").authorization
            TestClient(leaky_app("the secret is " + secret)).get("/")

        def test_a_token_in_a_log(data_dir):
            token = PluginHost(data_dir).push_store().create_api_token()
            logging.getLogger("some.route").debug("made %s", token)

        def test_the_api_key_in_an_answer():
            TestClient(leaky_app({CANARY!r})).get("/")

        def test_clean(data_dir):
            PluginHost(data_dir).push_target("x", "http://a")
            TestClient(leaky_app("nothing secret")).get("/")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, errors=3)
    output = result.stdout.str()
    assert "ERROR test_leaky.py::test_a_webhook_secret_in_an_answer" in output
    assert "ERROR test_leaky.py::test_the_api_key_in_an_answer" in output
    assert "1 of 1 HTTP answers hold the API key, a webhook secret or an API token" in output
    assert "a webhook secret or API token leaked into log records of ['some.route']" in output
    assert "ERROR test_leaky.py::test_clean" not in output


def test_a_flood_of_unauthenticated_pushes_is_counted_but_recorded_and_logged_once(
    host: PluginHost, secret: str, served: str, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each refused push is counted; the store is written (and a warning logged) at most once per
    provider and reason every ten seconds, so a scanner costs no writes."""
    for _ in range(30):
        assert post(f"{served}/webhooks/pusher", push_body(request="7"), "Bearer wrong").status_code == 401
    metrics = httpx.get(f"{served}/metrics", timeout=10).text
    assert 'aperture_pushes_refused_total{provider="pusher",reason="unauthorized"} 30.0' in metrics
    reader = SettingsStore(data_dir)
    try:
        refused = PushStore(reader).receipts("pusher")["refused"]
    finally:
        reader.close()
    assert refused.count == 1 and refused.detail.startswith("unauthorized")
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "refused" in r.getMessage()]
    assert len(warnings) == 1
