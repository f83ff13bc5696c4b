"""``GET /events`` over real HTTP (uvicorn on 127.0.0.1): resuming with ``Last-Event-ID``, the
user and provider filters, heartbeats, the gap event, the token, and clean-up on disconnect.

The host serves a small in-test provider with ``Capability.PUSH`` (its pushes are tiny JSON
objects, as in ``test_host_push``), so events come from the host's real paths: a push taken in
by the server's own host (``apply_push``, run in the server's loop: it wakes the streams), a
polling cycle saved by another store object of the same data directory (``record_cycle``, as
another worker would), and a badge written by **another process** on the same data directory.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from aperture_hookspecs import (
    ApertureUser,
    Availability,
    MediaRef,
    PushDelivery,
    RequestState,
    StatusChange,
    TrackedRequest,
)
from aperture_plugins.host import PluginHost
from aperture_plugins.push_store import PushStore
from aperture_plugins.store import SettingsStore
from aperture_plugins.web import create_app, events_route

from .conftest import watch_secret
from .push_fakes import PushProvider, push_body
from .web_server import ServedApp, SSEClient, SSEMessage, serve_app

MOVIE = MediaRef.parse("movie:680")
SHOW = MediaRef.parse("tv:1399")
ALICE = ApertureUser("alice")
BOB = ApertureUser("bob")
ENV_TOKEN = "apt_FAKE-env-token-for-tests-0000"


@dataclass
class World:
    host: PluginHost
    served: ServedApp
    token: str
    data_dir: Path
    markers: int = 0
    last_marker: int = 0

    @property
    def url(self) -> str:
        return self.served.url + "/events"

    def stream(self, **options: Any) -> SSEClient:
        options.setdefault("token", self.token)
        return SSEClient(self.url, **options)

    def push(self, request_id: str, state: str, item: MediaRef = MOVIE) -> list[int]:
        """A push taken in by the server's own host; the ids of the events it logged."""
        body = push_body(request=request_id, state=state, item=str(item))
        notice = self.host.parse_push("pusher", PushDelivery(body, datetime.now(UTC), "application/json"))
        logged, badges = self.served.call(self.host.apply_push("pusher", notice))
        return [entry.id for entry in logged] + [event.id for event in badges]

    def until_marker(self, client: SSEClient) -> list[SSEMessage]:
        """The events a stream sends before a marker badge logged now (heartbeats left out)."""
        return self.until_markers(client)[0]

    def until_markers(self, *clients: SSEClient) -> list[list[SSEMessage]]:
        """Per stream, the events it sends before one marker badge logged now.

        The marker is logged after everything the test wrote, and a stream sends in id
        order: what comes before it is all the stream sent for those writes, extras included.
        """
        self.markers += 1
        marker = MediaRef("movie", 900_000 + self.markers)
        store = SettingsStore(self.data_dir)
        try:
            [marker_event] = PushStore(store).record_badges(
                "pusher", [Availability(marker, RequestState.PENDING)], "poll"
            )
        finally:
            store.close()
        self.last_marker = marker_event.id
        answers = []
        for client in clients:
            found = []
            while True:
                message = client.next()
                if message.data is None:
                    continue
                if message.event == "badge" and message.json()["tmdb_id"] == marker.tmdb_id:
                    break
                found.append(message)
            answers.append(found)
        return answers

    def sse_clients(self) -> float:
        metrics = self.served.server.config.app.state.aperture.metrics
        return metrics.registry.get_sample_value("aperture_sse_clients")


def track(data_dir: Path, request_id: str, state: RequestState, user: ApertureUser = ALICE) -> None:
    store = SettingsStore(data_dir)
    try:
        store.save_tracked("pusher", [TrackedRequest(request_id, MOVIE, user, state)])
    finally:
        store.close()


def poll_cycle(
    data_dir: Path, request_id: str, current: RequestState, *, retention: int | None = None
) -> int:
    """A polling cycle saved by another store object (another worker): one status event."""
    store = SettingsStore(data_dir)
    if retention is not None:
        store.event_retention_count = retention
    try:
        [(_, request)] = [(p, r) for p, r in store.tracked("pusher") if r.request_id == request_id]
        moved = replace(request, state=current)
        change = StatusChange("pusher", moved, request.state, current, datetime.now(UTC))
        [logged] = store.record_cycle("pusher", [moved], [change])
        return logged.id
    finally:
        store.close()


BADGE_WRITER = """
import sys
from pathlib import Path
from aperture_hookspecs import Availability, MediaRef, RequestState
from aperture_plugins.push_store import PushStore
from aperture_plugins.store import SettingsStore

provider, item, state = sys.argv[2:5]
store = SettingsStore(Path(sys.argv[1]))
badge = Availability(MediaRef.parse(item), RequestState(state))
[event] = PushStore(store).record_badges(provider, [badge], "poll")
print(event.id)
"""


def badge_from_another_process(data_dir: Path, item: MediaRef, state: str, provider: str = "pusher") -> int:
    done = subprocess.run(
        [sys.executable, "-c", BADGE_WRITER, str(data_dir), provider, str(item), state],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def until(condition: Callable[[], bool], what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def refusal(
    url: str, token: str, *, headers: dict[str, str] | None = None, params: dict[str, str] | None = None
) -> tuple[int, Any]:
    """The status and JSON document of an answer that should be an error (a stream would
    never end, so it is not read unless it is an error)."""
    headers = {"Authorization": f"Bearer {token}", **(headers or {})}
    with httpx.stream("GET", url, headers=headers, params=params, timeout=10) as answer:
        assert answer.status_code != 200, "a stream, not an error"
        return answer.status_code, json.loads(answer.read())


def ids(messages: Sequence[SSEMessage]) -> list[tuple[int, str]]:
    return [(int(m.id or 0), m.event or "") for m in messages]


@pytest.fixture
def make_world(data_dir: Path) -> Iterator[Callable[..., World]]:
    worlds: list[Any] = []

    def make(heartbeat_seconds: float = 0.4) -> World:
        host = PluginHost(data_dir, load_entry_points=False)
        host.load()
        host.register(PushProvider(), "pusher")
        host.use("pusher")
        token = host.push_store().create_api_token("tests")
        context = serve_app(
            create_app(host, heartbeat_seconds=heartbeat_seconds, env_token=watch_secret(ENV_TOKEN))
        )
        served = context.__enter__()
        worlds.append(context)
        return World(host, served, token, data_dir)

    yield make
    for context in worlds:
        context.__exit__(None, None, None)


@pytest.fixture
def world(make_world: Callable[..., World]) -> World:
    return make_world()


# -- access ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer apt_not-a-token", "Basic YWxpY2U6c2VjcmV0", "Bearer", f"Bearer {ENV_TOKEN}x"],
)
def test_events_need_the_bearer_token(world, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    with httpx.stream("GET", world.url, headers=headers, timeout=10) as answer:
        assert answer.status_code == 401  # checked before the body: a stream would never end
        assert json.loads(answer.read())["error"] == "unauthorized"
        assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("which", ["stored", "env"])
def test_a_valid_token_opens_the_stream_at_now(world, which):
    track(world.data_dir, "7", RequestState.PENDING)
    before = world.push("7", "approved")
    with world.stream(token=world.token if which == "stored" else ENV_TOKEN) as client:
        assert client.response.status_code == 200
        assert client.response.headers["content-type"].startswith("text/event-stream")
        first = client.next()
        assert first.retry == 3000
        assert first.id == str(max(before))  # from now: what was logged before is not sent again
        assert world.until_marker(client) == []


# -- resuming -------------------------------------------------------------------------------------


def test_a_client_that_reconnects_receives_exactly_what_it_missed(world):
    track(world.data_dir, "7", RequestState.PENDING)
    track(world.data_dir, "8", RequestState.PENDING)
    client = world.stream()
    start = client.next()
    live = world.push("7", "approved")  # the server's own host: the stream wakes at once
    received = world.until_marker(client)
    assert ids(received) == [(live[0], "status"), (live[1], "badge")]
    status = received[0].json()
    assert (status["request_id"], status["previous"], status["current"], status["source"]) == (
        "7",
        "pending",
        "approved",
        "push",
    )
    assert (status["user"], status["media_type"], status["tmdb_id"]) == ("alice", "movie", 680)
    badge = received[1].json()
    assert (badge["state"], badge["label"], badge["source"], badge["tmdb_id"]) == (
        "approved",
        "Approved",
        "push",
        680,
    )
    assert client.last_event_id == str(world.last_marker)
    assert int(start.id or 0) < live[0]
    client.close()

    missed = [
        (poll_cycle(world.data_dir, "8", RequestState.DECLINED), "status"),  # another worker
        (badge_from_another_process(world.data_dir, SHOW, "available"), "badge"),  # another process
        *zip(world.push("7", "processing"), ["status", "badge"], strict=True),  # this host
    ]
    with world.stream(last_event_id=client.last_event_id) as again:
        assert again.next().id == str(world.last_marker)  # where it resumes from
        resumed = world.until_marker(again)
        assert ids(resumed) == missed
        assert resumed[0].json()["source"] == "poll" and resumed[0].json()["current"] == "declined"
        assert (resumed[1].json()["media_type"], resumed[1].json()["state"]) == ("tv", "available")
        later = badge_from_another_process(world.data_dir, MOVIE, "available")  # while connected
        assert ids(world.until_marker(again)) == [(later, "badge")]


def test_resuming_by_query_parameter_and_the_header_wins(world):
    track(world.data_dir, "7", RequestState.PENDING)
    first = world.push("7", "approved")
    second = world.push("7", "processing")
    url = world.url
    with SSEClient(url, token=world.token, params={"last_event_id": str(first[0])}) as client:
        client.next()
        assert ids(world.until_marker(client)) == [
            (first[1], "badge"),
            (second[0], "status"),
            (second[1], "badge"),
        ]
    marker = world.last_marker
    # a browser that reconnects sends the header; the URL still has the id it was opened with
    with SSEClient(
        url, token=world.token, params={"last_event_id": str(first[0])}, last_event_id=str(second[0])
    ) as client:
        client.next()
        assert ids(world.until_marker(client)) == [(second[1], "badge"), (marker, "badge")]


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "9" * 40, "0x10"])
def test_a_malformed_last_event_id_is_refused(world, value):
    for headers, params in (({"Last-Event-ID": value}, {}), ({}, {"last_event_id": value})):
        status, document = refusal(world.url, world.token, headers=headers, params=params)
        assert (status, document["error"]) == (400, "bad_request")
        assert "Last-Event-ID" in document["message"]


def test_resuming_from_a_pruned_id_sends_a_gap_first(world):
    track(world.data_dir, "7", RequestState.PENDING)
    seen = poll_cycle(world.data_dir, "7", RequestState.APPROVED)
    kept = [
        poll_cycle(world.data_dir, "7", state, retention=2)
        for state in (RequestState.PROCESSING, RequestState.PARTIALLY_AVAILABLE, RequestState.AVAILABLE)
    ]
    assert SettingsStore(world.data_dir).events_after(0)[0].id == kept[1]  # the first two are gone
    with world.stream(last_event_id=str(seen)) as client:
        client.next()
        gap = client.next()
        assert (gap.event, gap.id) == ("gap", str(kept[-1]))
        assert gap.json() == {
            "last_event_id": seen,
            "oldest_event_id": kept[1],
            "resume_from": kept[-1],
            "message": f"Events were lost: events after {seen} are no longer kept; reload the state",
        }
        assert world.until_marker(client) == []  # what is still kept is not sent: reload instead
        later = badge_from_another_process(world.data_dir, MOVIE, "available")
        assert ids(world.until_marker(client)) == [(later, "badge")]


def test_resuming_from_the_id_just_before_the_oldest_kept_is_no_gap(world):
    track(world.data_dir, "7", RequestState.PENDING)
    poll_cycle(world.data_dir, "7", RequestState.APPROVED)
    second = poll_cycle(world.data_dir, "7", RequestState.PROCESSING)
    third = poll_cycle(world.data_dir, "7", RequestState.AVAILABLE, retention=2)
    with world.stream(last_event_id=str(second - 1)) as client:
        client.next()
        assert ids(world.until_marker(client)) == [(second, "status"), (third, "status")]


def test_an_id_this_log_never_gave_is_a_gap(world):
    track(world.data_dir, "7", RequestState.PENDING)
    newest = poll_cycle(world.data_dir, "7", RequestState.APPROVED)
    with world.stream(last_event_id="123456") as client:
        client.next()
        gap = client.next()
        assert (gap.event, gap.json()["resume_from"], gap.json()["last_event_id"]) == ("gap", newest, 123456)
        assert "never logged here" in gap.json()["message"]


# -- filters --------------------------------------------------------------------------------------


def test_the_user_filter_keeps_that_users_status_events_and_every_badge(world):
    track(world.data_dir, "7", RequestState.PENDING, ALICE)
    track(world.data_dir, "9", RequestState.PENDING, BOB)
    with world.stream(params={"user": "alice"}) as alice, world.stream(params={"user": "bob"}) as bob:
        alice.next()
        bob.next()
        alices = poll_cycle(world.data_dir, "7", RequestState.APPROVED)
        bobs = poll_cycle(world.data_dir, "9", RequestState.DECLINED)
        badge = badge_from_another_process(world.data_dir, SHOW, "available")
        to_alice, to_bob = world.until_markers(alice, bob)
        assert ids(to_alice) == [(alices, "status"), (badge, "badge")]
        assert ids(to_bob) == [(bobs, "status"), (badge, "badge")]


def test_a_filtered_stream_moves_its_resume_id_past_what_it_skipped(world):
    """Bob's events move alice's lastEventId at the next heartbeat (an id without data), so
    that a resume after the log dropped them is no false gap."""
    track(world.data_dir, "9", RequestState.PENDING, BOB)
    with world.stream(params={"user": "alice"}) as alice:
        alice.next()
        bobs = poll_cycle(world.data_dir, "9", RequestState.APPROVED)
        for _ in range(20):  # heartbeats sent before bob's event was logged have no id
            heartbeat = alice.next()
            assert heartbeat.comments == ["heartbeat"] and heartbeat.data is None
            if heartbeat.id is not None:
                break
        assert heartbeat.id == str(bobs)
        assert alice.last_event_id == str(bobs)
        assert alice.next().id is None  # told once


def test_the_provider_filter(world):
    track(world.data_dir, "7", RequestState.PENDING)
    with world.stream(params={"provider": "pusher"}) as client:
        client.next()
        other = badge_from_another_process(world.data_dir, SHOW, "available", provider="null")
        ours = badge_from_another_process(world.data_dir, MOVIE, "available")
        assert other < ours
        assert ids(world.until_marker(client)) == [(ours, "badge")]
    status, document = refusal(world.url, world.token, params={"provider": "nope"})
    assert (status, document["error"]) == (400, "unknown_plugin")
    status, document = refusal(world.url, world.token, params={"user": " "})
    assert (status, document["error"]) == (400, "bad_request")


# -- keeping the stream, waking, cleaning up ---------------------------------------------------------


def test_heartbeats_arrive_when_nothing_happens(make_world):
    world = make_world(heartbeat_seconds=0.3)
    with world.stream() as client:
        client.next()
        beats = [client.next() for _ in range(3)]
        assert all(beat.comments == ["heartbeat"] and beat.data is None for beat in beats)


def test_a_push_in_this_process_wakes_the_stream_without_waiting_for_the_recheck(make_world, monkeypatch):
    """With the log re-read only every hour, the event can only come through the host's signal."""
    monkeypatch.setattr(events_route, "STORE_RECHECK_SECONDS", 3600.0)
    world = make_world(heartbeat_seconds=3600.0)
    track(world.data_dir, "7", RequestState.PENDING)
    with world.stream(read_timeout=15) as client:
        client.next()
        until(lambda: world.host.events_logged.waiting == 1, "the stream to wait")
        pushed = world.push("7", "approved")
        assert ids([client.next(), client.next()]) == [(pushed[0], "status"), (pushed[1], "badge")]


def test_events_of_another_process_arrive_within_the_recheck(make_world):
    world = make_world(heartbeat_seconds=3600.0)
    with world.stream(read_timeout=15) as client:
        client.next()
        badge = badge_from_another_process(world.data_dir, SHOW, "available")
        assert ids([client.next()]) == [(badge, "badge")]


def test_a_client_that_disconnects_leaves_no_stream_behind(world):
    baseline = world.served.tasks()
    clients = [world.stream() for _ in range(3)]
    for client in clients:
        client.next()
    until(lambda: world.sse_clients() == 3, "three open streams")
    until(lambda: world.host.events_logged.waiting == 3, "three waiting streams")
    assert world.served.tasks() > baseline
    for client in clients:
        client.close()
    until(lambda: world.sse_clients() == 0, "the gauge to go down")
    until(lambda: world.host.events_logged.waiting == 0, "no stream waiting")
    until(lambda: world.served.tasks() == baseline, "the streams' tasks to end")
    metrics = httpx.get(world.served.url + "/metrics", timeout=10).text
    assert "aperture_sse_clients 0.0" in metrics


def test_the_store_is_unusable_for_events_without_a_settings_store(tmp_path):
    from aperture_plugins.host import MemorySettings

    host = PluginHost(tmp_path / "d", load_entry_points=False, settings=MemorySettings())
    with serve_app(create_app(host, env_token=watch_secret(ENV_TOKEN))) as served:
        status, document = refusal(served.url + "/events", ENV_TOKEN)
    assert (status, document["error"]) == (501, "unsupported_operation")


def test_push_store_reads_match_what_the_stream_sends(world):
    """The stream's data is the log's own: the same dicts PushStore.stream_after returns."""
    track(world.data_dir, "7", RequestState.PENDING)
    with world.stream() as client:
        start = int(client.next().id or 0)
        world.push("7", "approved")
        sent = world.until_marker(client)
    stored = PushStore(SettingsStore(world.data_dir)).stream_after(start)[:-1]  # not the marker
    assert [(m.json(), int(m.id or 0), m.event) for m in sent] == [(e.data, e.id, e.kind) for e in stored]
