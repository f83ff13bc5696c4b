"""The Seerr-family client's transport rules and error mapping, with respx answering exactly as
the servers do (notes §2, §3, §10) and with real sockets for refused / DNS / timeout."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
import respx

from aperture_hookspecs import (
    HostNotFoundError,
    InvalidAPIKeyError,
    MissingAPIKeyError,
    ProviderTimeoutError,
    RefusedConnectionError,
    ServerMisconfiguredError,
    UnexpectedResponseError,
)
from aperture_overseerr.client import SeerrClient, encode_query

BASE = "http://seerr.test:5055"
KEY = "FAKE-API-KEY-0000"
PERMISSION_BODY = {"status": 403, "error": "You do not have permission to access this endpoint"}
MISSING_KEY_BODY = {
    "message": "cookie 'connect.sid' required",
    "errors": [{"path": "/api/v1/auth/me", "message": "cookie 'connect.sid' required"}],
}
ME = {
    "id": 1,
    "email": "admin@example.invalid",
    "permissions": 2,
    "displayName": "admin",
    "username": "admin",
}


@pytest.fixture
async def client():
    async with SeerrClient(BASE, KEY, timeout=2) as seerr:
        yield seerr


def test_query_values_are_percent_encoded_never_plus():
    assert encode_query([("q", "josé a:b"), ("includeIds", "1,2"), ("flag", True)]) == (
        "q=jos%C3%A9%20a%3Ab&includeIds=1%2C2&flag=true"
    )


@respx.mock
async def test_the_key_and_acting_user_headers_and_the_raw_query(client):
    route = respx.get(f"{BASE}/api/v1/user").mock(
        return_value=httpx.Response(
            200, json={"pageInfo": {"pages": 1, "pageSize": 10, "results": 0, "page": 1}, "results": []}
        )
    )
    await client.users(take=10, skip=0, extra=[("q", "Mary Ann")])
    request = route.calls.last.request
    assert request.headers["X-Api-Key"] == KEY
    assert "X-Api-User" not in request.headers
    assert request.url.raw_path == b"/api/v1/user?take=10&skip=0&q=Mary%20Ann"
    respx.get(f"{BASE}/api/v1/auth/me").mock(return_value=httpx.Response(200, json={**ME, "id": 7}))
    await client.me(act_as=7)
    assert respx.calls.last.request.headers["X-Api-User"] == "7"


@respx.mock
async def test_401_is_a_missing_key_and_403_a_wrong_key(client):
    respx.get(f"{BASE}/api/v1/auth/me").mock(return_value=httpx.Response(401, json=MISSING_KEY_BODY))
    with pytest.raises(MissingAPIKeyError, match="no API key reached it"):
        await client.me()
    respx.get(f"{BASE}/api/v1/auth/me").mock(return_value=httpx.Response(403, json=PERMISSION_BODY))
    with pytest.raises(InvalidAPIKeyError) as caught:
        await client.me()
    assert "Generate a new key" in str(caught.value)
    assert "API key is invalid or expired" in caught.value.hints


@respx.mock
async def test_csrf_protection_is_recognised(client):
    respx.post(f"{BASE}/api/v1/request").mock(
        return_value=httpx.Response(403, json={"message": "invalid csrf token"})
    )
    with pytest.raises(ServerMisconfiguredError, match="CSRF protection") as caught:
        await client.request("POST", "/request", body={"mediaType": "movie", "mediaId": 603, "is4k": False})
    assert any("Turn off CSRF Protection" in hint for hint in caught.value.hints)


@pytest.mark.parametrize(
    ("response", "fragment"),
    [
        (
            httpx.Response(
                200, text="<!doctype html><title>Login</title>", headers={"content-type": "text/html"}
            ),
            "HTML page",
        ),
        (
            httpx.Response(200, text='{"version": "2.7', headers={"content-type": "application/json"}),
            "not valid JSON",
        ),
        (httpx.Response(200, json=None), "expected a JSON object, got null"),
        (httpx.Response(200, json={"version": 273}), "field 'version' should be text, got a number"),
        (httpx.Response(200, json=["2.7.3"]), "expected a JSON object, got a list"),
        (httpx.Response(502, text="Bad Gateway", headers={"content-type": "text/plain"}), "not valid JSON"),
        (httpx.Response(503, json={"message": "Service Unavailable"}), "Service Unavailable (503)"),
        (httpx.Response(302, headers={"location": "https://seerr.test/login"}), "redirected (302)"),
    ],
)
@respx.mock
async def test_answers_of_the_wrong_shape_are_clear_errors(client, response, fragment):
    respx.get(f"{BASE}/api/v1/status").mock(return_value=response)
    with pytest.raises(UnexpectedResponseError) as caught:
        await client.status()
    assert fragment in str(caught.value)


@respx.mock
async def test_both_error_body_shapes_are_read(client):
    respx.get(f"{BASE}/api/v1/request/9").mock(
        return_value=httpx.Response(400, json={"message": "Unknown query parameter 'x'"})
    )
    with pytest.raises(UnexpectedResponseError, match="Unknown query parameter 'x'"):
        await client.request("GET", "/request/9")
    respx.get(f"{BASE}/api/v1/request/9").mock(
        return_value=httpx.Response(418, json={"status": 418, "error": "teapot"})
    )
    with pytest.raises(UnexpectedResponseError, match="teapot"):
        await client.request("GET", "/request/9")


@respx.mock
async def test_a_deleted_request_is_none_not_an_error(client):
    respx.get(f"{BASE}/api/v1/request/41").mock(
        return_value=httpx.Response(404, json={"message": "Request not found."})
    )
    assert await client.get_request(41) is None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_connection_refused_says_what_to_check():
    async with SeerrClient(f"http://127.0.0.1:{_free_port()}", KEY, timeout=2) as seerr:
        with pytest.raises(RefusedConnectionError) as caught:
            await seerr.status()
    assert caught.value.hints == (
        "Verify URL is correct",
        "Check the request server is running",
        "Ensure port is accessible",
    )


async def test_an_unknown_host_is_a_dns_failure():
    async with SeerrClient("http://seerr.invalid:5055", KEY, timeout=2) as seerr:
        with pytest.raises(HostNotFoundError, match="could not be resolved"):
            await seerr.status()


async def test_a_server_that_accepts_and_stalls_times_out_in_bounded_time():
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)
        writer.close()

    server = await asyncio.start_server(stall, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, SeerrClient(f"http://127.0.0.1:{port}", KEY, timeout=0.2) as seerr:
        with pytest.raises(ProviderTimeoutError, match="timed out while waiting for an answer"):
            await asyncio.wait_for(seerr.status(), timeout=3)


@respx.mock
async def test_an_http_to_https_redirect_on_the_same_host_is_followed(client):
    respx.get(f"{BASE}/api/v1/status").mock(
        return_value=httpx.Response(301, headers={"location": "https://seerr.test:5055/api/v1/status"})
    )
    secure = respx.get("https://seerr.test:5055/api/v1/status").mock(
        return_value=httpx.Response(200, json={"version": "2.7.3", "commitTag": "v2.7.3"})
    )
    assert (await client.status()).version == "2.7.3"
    assert secure.calls.last.request.headers["X-Api-Key"] == KEY


@pytest.mark.parametrize(
    "location",
    ["https://evil.example/api/v1/status", "http://other.test:5055/api/v1/status", "/login"],
)
@respx.mock
async def test_a_redirect_elsewhere_never_carries_the_key(client, location):
    respx.get(f"{BASE}/api/v1/status").mock(return_value=httpx.Response(302, headers={"location": location}))
    evil = respx.route(host="evil.example").mock(return_value=httpx.Response(200))
    other = respx.route(host="other.test").mock(return_value=httpx.Response(200))
    with pytest.raises(UnexpectedResponseError, match="the API key is not sent across redirects"):
        await client.status()
    assert not evil.called
    assert not other.called
    assert len(respx.calls) == 1


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("http://jellyseerr:5055", False),
        ("http://192.168.1.20:5055", False),
        ("http://127.0.0.1:5055", False),
        ("http://[::1]:5055", False),
        ("http://seerr.home.arpa", False),
        ("https://requests.example.com", False),
        ("http://requests.example.com", True),
        ("http://8.8.8.8:5055", True),
    ],
)
def test_plain_http_to_a_remote_host_is_warned(url, warned):
    from aperture_overseerr.connection import transport_warnings

    problems = transport_warnings(url)
    assert bool(problems) is warned
    if warned:
        assert problems[0].message.startswith("Remote: use HTTPS")


def test_clients_share_one_tls_context_per_verification_setting():
    import ssl

    from aperture_overseerr.client import tls_context

    first = SeerrClient("https://seerr.local", "FAKE-KEY", verify_tls=True)
    second = SeerrClient("https://other.local", "FAKE-KEY", verify_tls=True)
    assert first.http._transport._pool._ssl_context is second.http._transport._pool._ssl_context
    assert tls_context(True).verify_mode is ssl.CERT_REQUIRED and tls_context(True).check_hostname
    assert tls_context(False).verify_mode is ssl.CERT_NONE and not tls_context(False).check_hostname
