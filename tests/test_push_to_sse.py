"""Issue 14's "done when": a transition on the server reaches an SSE client through the webhook,
without waiting for a poll, on every version the fake models.

Everything is real: the fake Seerr over HTTP with its Webhook agent, ``webhook install`` through
the host (the server's test notification must arrive), Aperture's app under uvicorn with no
poller (``poll_tracked`` is made to fail, so a poll cannot be what brought anything), and an
SSE client reading ``GET /events?user=alice`` with a bearer token. Alice's request is approved
and becomes available; bob's request, which nobody tracks, reaches alice's stream as badges.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aperture_hookspecs import ApertureUser, MediaRef, RequestOptions, RequestState
from aperture_overseerr.testing import FakeSeerr
from aperture_plugins import webhook_admin
from aperture_plugins.host import PluginHost
from aperture_plugins.web import create_app

from .conftest import CANARY, watch_secret
from .web_server import SSEClient, SSEMessage, serve_app

ALICE = ApertureUser("alice")
MINE = MediaRef.parse("movie:680")
BOBS = MediaRef.parse("movie:603")

VERSIONS = [
    ("overseerr", "1.34.0"),
    ("overseerr", "1.35.0"),
    ("jellyseerr", "2.5.2"),
    ("jellyseerr", "2.7.3"),
    ("seerr", "3.1.0"),
    ("seerr", "3.2.0"),
]


def read_until(
    client: SSEClient, wanted: Callable[[SSEMessage], bool], what: str, seconds: float = 15.0
) -> list[SSEMessage]:
    """Messages up to and including the first that is ``wanted`` (heartbeats keep it moving)."""
    seen: list[SSEMessage] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = client.next()
        seen.append(message)
        if message.data is not None and wanted(message):
            return seen
    raise AssertionError(f"{what} did not arrive within {seconds} s; got {[m.data for m in seen]}")


def status(current: str) -> Callable[[SSEMessage], bool]:
    def check(message: SSEMessage) -> bool:
        data: dict[str, Any] = message.json()
        return message.event == "status" and data["current"] == current and data["tmdb_id"] == MINE.tmdb_id

    return check


def badge_of(item: MediaRef, state: str | None = None) -> Callable[[SSEMessage], bool]:
    def check(message: SSEMessage) -> bool:
        data: dict[str, Any] = message.json()
        return (
            message.event == "badge"
            and data["tmdb_id"] == item.tmdb_id
            and (state is None or data["state"] == state)
        )

    return check


@pytest.mark.parametrize(("flavour", "version"), VERSIONS, ids=[f"{f}-{v}" for f, v in VERSIONS])
def test_a_transition_reaches_the_sse_client_through_the_webhook_without_a_poll(
    flavour: str, version: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeSeerr(flavour, version=version, api_key=CANARY)
    alice = fake.add_user("alice", jellyfin_username=None if flavour == "overseerr" else "alice")
    bob = fake.add_user("bob", jellyfin_username=None if flavour == "overseerr" else "bob")
    fake.add_title("movie", MINE.tmdb_id, "Pulp Fiction")
    fake.add_title("movie", BOBS.tmdb_id, "The Matrix")

    async def no_poll(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("nothing may be polled in this test")

    monkeypatch.setattr(PluginHost, "poll_tracked", no_poll)
    provider = "overseerr" if flavour == "overseerr" else "jellyseerr"
    host = PluginHost(data_dir).load()
    token = watch_secret(host.push_store().create_api_token("test"))
    with fake.serve() as seerr_url:
        host.set_settings(provider, {"url": seerr_url, "api_key": CANARY, "timeout": 5})
        host.use(provider)
        with serve_app(create_app(host, heartbeat_seconds=0.5)) as served:
            report = served.call(webhook_admin.install(host, provider, served.url))
            assert report.test_received is True and report.setup is not None and report.setup.ours
            filed = served.call(host.submit_request(MINE, ALICE, RequestOptions()))
            assert filed.state is RequestState.PENDING
            with SSEClient(f"{served.url}/events", token=token, params={"user": "alice"}) as client:
                assert client.response.status_code == 200
                client.next()  # retry: and the id the stream starts from

                fake.approve(int(filed.request_id))
                approved = read_until(client, status("approved"), "alice's approval")[-1].json()
                assert (approved["user"], approved["source"], approved["previous"]) == (
                    "alice",
                    "push",
                    "pending",
                )

                fake.mark_available(int(filed.request_id))
                available = read_until(client, status("available"), "alice's title arriving")[-1].json()
                assert (available["source"], available["label"], available["color"]) == (
                    "push",
                    "Available",
                    "purple",
                )

                bobs = fake.create_request(fake.users[bob], {"mediaType": "movie", "mediaId": BOBS.tmdb_id})
                badge = read_until(client, badge_of(BOBS, "pending"), "the badge of bob's request")[-1]
                assert badge.json()["source"] == "push"  # nobody tracks bob's request
                fake.decline(bobs.id)
                after = read_until(client, badge_of(BOBS), "the badge after the decline")[-1].json()
                assert (after["state"], after["reason"], after["source"]) == ("requestable", None, "push")
    assert alice != bob
    stored = {request.request_id: request.state for _, request in host.settings.tracked()}  # type: ignore[attr-defined]
    assert stored == {filed.request_id: RequestState.AVAILABLE}
