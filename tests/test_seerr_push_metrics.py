"""Every call the Seerr client makes is reported through ``ProviderContext.report_call`` (the
host's ``/metrics``): the endpoint as a template (no ids, no query values, no secrets), the
outcome (the status, or the failure's code) and how long it took."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from aperture_hookspecs import ApertureUser, MediaRef, ProviderContext, RequestState, TrackedRequest
from aperture_overseerr.client import SeerrClient, endpoint_template
from aperture_overseerr.provider import plugin
from aperture_overseerr.testing import FakeSeerr

from .conftest import CANARY


def test_endpoint_templates_carry_no_values():
    assert endpoint_template("GET", "/request/5") == "GET /api/v1/request/{id}"
    assert endpoint_template("GET", "/user/12/quota") == "GET /api/v1/user/{id}/quota"
    assert endpoint_template("GET", "/movie/603") == "GET /api/v1/movie/{id}"
    assert endpoint_template("POST", "/settings/notifications/webhook/test") == (
        "POST /api/v1/settings/notifications/webhook/test"
    )
    assert endpoint_template("GET", "") == "GET /api/v1"


@pytest.mark.parametrize("flavour", ["overseerr", "jellyseerr", "seerr"])
async def test_every_server_call_is_reported_as_a_template(flavour, tmp_path: Path):
    fake = FakeSeerr(flavour, api_key=CANARY)
    alice = fake.add_user("alice", jellyfin_username="alice" if flavour != "overseerr" else None)
    fake.add_title("movie", 603, "The Matrix")
    fake.add_title("movie", 680, "Pulp Fiction")
    request_id = fake.create_request(fake.users[alice], {"mediaType": "movie", "mediaId": 680}).id
    calls: list[tuple[str, str, float]] = []
    with fake.serve() as url:
        context = ProviderContext(
            "overseerr",
            {"url": url, "api_key": CANARY, "timeout": 5},
            tmp_path,
            call_observer=lambda endpoint, outcome, seconds: calls.append((endpoint, outcome, seconds)),
        )
        try:
            items = [MediaRef.parse("movie:603"), MediaRef.parse("movie:680")]
            await plugin.aperture_lookup_availability(context, items, ApertureUser("alice"))
            fake.approve(request_id)  # the poll reads it again by id
            tracked = TrackedRequest(str(request_id), items[1], ApertureUser("alice"), RequestState.PENDING)
            await plugin.aperture_poll_status(context, [tracked])
        finally:
            for callback in context.close_callbacks():
                await callback()
    served = fake.call_count()
    assert len(calls) == served, "one report per HTTP exchange the server saw"
    endpoints = {endpoint for endpoint, _, _ in calls}
    assert "GET /api/v1/request/{id}" in endpoints
    assert "GET /api/v1/media" in endpoints
    for endpoint, outcome, seconds in calls:
        method, _, path = endpoint.partition(" ")
        assert method in ("GET", "POST") and path.startswith("/api/v1")
        assert "?" not in path and CANARY not in endpoint and str(request_id) not in path.split("/")
        assert not any(part.isdigit() for part in path.split("/")), endpoint
        assert outcome == "200" and 0 <= seconds < 10


async def test_a_refused_connection_is_reported_with_its_code():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    calls: list[tuple[str, str, float]] = []
    observer = lambda *call: calls.append(call)  # noqa: E731
    async with SeerrClient(f"http://127.0.0.1:{port}", "FAKE-KEY", retries=0, observer=observer) as client:
        with pytest.raises(Exception, match="refused"):
            await client.get_request(7)
    assert [(endpoint, outcome) for endpoint, outcome, _ in calls] == [
        ("GET /api/v1/request/{id}", "connection_refused")
    ]


async def test_a_broken_observer_never_breaks_a_call(tmp_path: Path):
    fake = FakeSeerr("seerr", api_key=CANARY)

    def broken(endpoint: str, outcome: str, seconds: float) -> None:
        raise RuntimeError("metrics are down")

    context = ProviderContext("overseerr", {"url": "http://seerr.test", "api_key": CANARY}, tmp_path)
    object.__setattr__(context, "call_observer", broken)
    provider = type(plugin)(plugin.info, transport=fake.transport())
    try:
        report = await provider.aperture_test_connection(context)
    finally:
        for callback in context.close_callbacks():
            await callback()
    assert report.ok, report.problems
