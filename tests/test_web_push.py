"""The HTTP surface's push receiver, health and metrics, over real HTTP (uvicorn on 127.0.0.1).

A small provider with ``Capability.PUSH`` (:mod:`tests.push_fakes`) receives pushes at
``POST /webhooks/pusher``; the store is a real SQLite file, read back through a second
``SettingsStore`` as another process would. What the Seerr plugin makes of the Seerr agent's
real payloads is tested against the fake Seerr (``test_seerr_push_*``); the last test here
runs the whole way: the fake Seerr's webhook agent, a real POST to the app, the event in the
store.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from aperture_hookspecs import ApertureUser, MediaRef, RequestOptions, RequestState, TrackedRequest
from aperture_overseerr.testing import FakeSeerr
from aperture_plugins import webhook_admin
from aperture_plugins.host import PluginHost
from aperture_plugins.push_store import PushStore
from aperture_plugins.store import SettingsStore
from aperture_plugins.web import aperture_lifespan, create_app
from aperture_plugins.web.metrics import Metrics

from .conftest import CANARY
from .push_fakes import PushProvider, eventually, push_body, serve_app

MOVIE = MediaRef.parse("movie:680")
ALICE = ApertureUser("alice")


@pytest.fixture
def provider() -> PushProvider:
    return PushProvider()


@pytest.fixture
def host(data_dir: Path, provider: PushProvider) -> PluginHost:
    host = PluginHost(data_dir, load_entry_points=False)
    host.load()
    host.register(provider, "pusher")
    host.use("pusher")
    return host


@pytest.fixture
def secret(host: PluginHost) -> str:
    """The exact Authorization header the server is told to send."""
    return host.push_target("pusher", "http://aperture:8765").authorization


@pytest.fixture
def reader(data_dir: Path) -> Iterator[PushStore]:
    """The store as another process sees it."""
    store = SettingsStore(data_dir)
    yield PushStore(store)
    store.close()


def track(data_dir: Path, request_id: str, state: RequestState) -> None:
    store = SettingsStore(data_dir)
    try:
        store.save_tracked("pusher", [TrackedRequest(request_id, MOVIE, ALICE, state)])
    finally:
        store.close()


def post(url: str, body: bytes, authorization: str | None, **options: object) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    return httpx.post(url, content=body, headers=headers, timeout=10, **options)  # type: ignore[arg-type]


def stored_state(data_dir: Path, request_id: str) -> RequestState:
    store = SettingsStore(data_dir)
    try:
        return next(r.state for _, r in store.tracked("pusher") if r.request_id == request_id)
    finally:
        store.close()


def test_a_status_push_is_answered_at_once_and_applied_afterwards(
    host: PluginHost, provider: PushProvider, secret: str, reader: PushStore, data_dir: Path
) -> None:
    track(data_dir, "7", RequestState.PENDING)
    provider.gate = threading.Event()  # the apply waits until the test lets it go
    with serve_app(create_app(host), host) as served:
        answer = post(f"{served.url}/webhooks/pusher", push_body(request="7"), secret)
        assert answer.status_code == 200
        assert answer.json() == {"ok": True, "kind": "status", "queued": True}
        assert provider.applied == []  # answered before the work was done
        assert reader.stream_after(0) == []
        provider.gate.set()
        events = eventually(lambda: reader.stream_after(0), what="the push's events")
        eventually(lambda: len(reader.stream_after(0)) == 2, what="both events")
        events = reader.stream_after(0)
    assert [event.kind for event in events] == ["status", "badge"]
    assert events[0].data["current"] == "approved" and events[0].user == "alice"
    assert events[0].data["source"] == "push"
    assert events[1].data["state"] == "approved" and events[1].data["tmdb_id"] == 680
    assert stored_state(data_dir, "7") is RequestState.APPROVED
    assert reader.receipts("pusher")["status"].count == 1


def test_a_replayed_push_changes_nothing_more(
    host: PluginHost, provider: PushProvider, secret: str, reader: PushStore, data_dir: Path
) -> None:
    track(data_dir, "7", RequestState.PENDING)
    with serve_app(create_app(host), host) as served:
        for _ in range(3):
            assert post(f"{served.url}/webhooks/pusher", push_body(request="7"), secret).status_code == 200
        eventually(lambda: len(provider.applied) == 3, what="three applies")
        eventually(lambda: reader.receipts("pusher").get("status"), what="the receipt")
        eventually(lambda: reader.receipts("pusher")["status"].count == 3, what="three receipts")
    assert [event.kind for event in reader.stream_after(0)] == ["status", "badge"]


def test_an_older_state_pushed_late_never_overwrites_a_newer_one(
    host: PluginHost, provider: PushProvider, secret: str, reader: PushStore, data_dir: Path
) -> None:
    track(data_dir, "7", RequestState.PENDING)
    with serve_app(create_app(host), host) as served:
        url = f"{served.url}/webhooks/pusher"
        assert post(url, push_body(request="7", state="available"), secret).status_code == 200
        assert post(url, push_body(request="7", state="approved"), secret).status_code == 200
        eventually(lambda: len(provider.applied) == 2, what="both applies")
        eventually(lambda: reader.receipts("pusher")["status"].count == 2, what="both receipts")
    status = [event for event in reader.stream_after(0) if event.kind == "status"]
    assert [event.data["current"] for event in status] == ["available"]
    assert stored_state(data_dir, "7") is RequestState.AVAILABLE


def test_the_test_notification_is_recorded_and_ignored_types_are_dropped(
    host: PluginHost, provider: PushProvider, secret: str, reader: PushStore
) -> None:
    with serve_app(create_app(host), host) as served:
        url = f"{served.url}/webhooks/pusher"
        test = post(url, push_body("test"), secret)
        ignored = post(url, push_body("issue_created"), secret)
    assert (test.status_code, test.json()) == (200, {"ok": True, "kind": "test"})
    assert (ignored.status_code, ignored.json()) == (200, {"ok": True, "kind": "ignored"})
    receipts = reader.receipts("pusher")
    assert receipts["test"].count == 1 and receipts["ignored"].count == 1
    assert "ISSUE_CREATED" in receipts["ignored"].detail
    assert provider.applied == [] and reader.stream_after(0) == []


def test_a_failing_apply_is_logged_and_the_worker_goes_on(
    host: PluginHost,
    provider: PushProvider,
    secret: str,
    reader: PushStore,
    data_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    track(data_dir, "7", RequestState.PENDING)
    provider.fail_next_apply = True
    app = create_app(host)
    with serve_app(app, host) as served:
        url = f"{served.url}/webhooks/pusher"
        assert post(url, push_body(request="7", state="approved"), secret).status_code == 200
        assert post(url, push_body(request="7", state="processing"), secret).status_code == 200
        eventually(lambda: len(provider.applied) == 1, what="the second apply")
        eventually(lambda: len(reader.stream_after(0)) == 2, what="its events")
    assert stored_state(data_dir, "7") is RequestState.PROCESSING
    assert (
        "pusher: could not take in APPROVED for movie:680 (request 7): "
        "The pusher plugin failed in apply push: RuntimeError: a bug in apply_push"
    ) in caplog.text
    text = app.state.aperture.metrics.render().decode()
    assert 'aperture_push_work_total{outcome="failed",provider="pusher"} 1.0' in text
    assert 'aperture_push_work_total{outcome="applied",provider="pusher"} 1.0' in text


def test_a_full_queue_drops_the_push_with_200_and_says_so(
    host: PluginHost, provider: PushProvider, secret: str, reader: PushStore, data_dir: Path
) -> None:
    """The server never retries: answering 503 would lose the push just the same."""
    track(data_dir, "7", RequestState.PENDING)
    provider.gate = threading.Event()
    app = create_app(host)
    app.state.aperture.worker.queue_size = 1
    with serve_app(app, host) as served:
        url = f"{served.url}/webhooks/pusher"
        first = post(url, push_body(request="7", state="approved"), secret)
        depth = app.state.aperture.metrics.push_queue_depth
        eventually(lambda: provider.parsed and depth._value.get() == 0, what="the worker taking the first")
        second = post(url, push_body(request="7", state="processing"), secret)  # waits in the queue
        third = post(url, push_body(request="7", state="available"), secret)  # the queue is full
        assert [a.json()["queued"] for a in (first, second, third)] == [True, True, False]
        assert third.status_code == 200
        provider.gate.set()
        eventually(lambda: len(provider.applied) == 2, what="the two queued applies")
        eventually(lambda: reader.receipts("pusher")["status"].count == 2)
    assert "dropped, queue full: AVAILABLE" in reader.receipts("pusher")["refused"].detail
    text = app.state.aperture.metrics.render().decode()
    assert 'aperture_push_work_total{outcome="dropped",provider="pusher"} 1.0' in text
    assert stored_state(data_dir, "7") is RequestState.PROCESSING


def test_mounted_inside_a_hosts_app_with_its_lifespan(
    host: PluginHost, provider: PushProvider, secret: str, reader: PushStore, data_dir: Path
) -> None:
    track(data_dir, "7", RequestState.PENDING)
    aperture = create_app(host)

    @contextlib.asynccontextmanager
    async def lifespan(outer: Starlette) -> AsyncIterator[None]:
        async with aperture_lifespan(aperture):
            yield

    outer = Starlette(routes=[Mount("/aperture", app=aperture)], lifespan=lifespan)
    with serve_app(outer, host) as served:
        assert aperture.state.aperture.worker.running  # started by the outer app's lifespan
        answer = post(f"{served.url}/aperture/webhooks/pusher", push_body(request="7"), secret)
        assert answer.status_code == 200 and answer.json()["queued"] is True
        eventually(lambda: len(reader.stream_after(0)) == 2, what="the push's events")
        health = httpx.get(f"{served.url}/aperture/healthz", timeout=10)
        assert health.status_code == 200 and health.json()["active"] == "pusher"
        assert httpx.get(f"{served.url}/aperture/metrics", timeout=10).status_code == 200
        assert post(f"{served.url}/webhooks/pusher", push_body(), secret).status_code == 404  # outer app
    assert not aperture.state.aperture.worker.running  # stopped with the outer app


def test_mounted_without_its_lifespan_the_worker_starts_with_the_first_push(
    host: PluginHost, secret: str, reader: PushStore, data_dir: Path
) -> None:
    track(data_dir, "7", RequestState.PENDING)
    aperture = create_app(host)
    with serve_app(Starlette(routes=[Mount("/aperture", app=aperture)]), host) as served:
        assert not aperture.state.aperture.worker.running
        assert (
            post(f"{served.url}/aperture/webhooks/pusher", push_body(request="7"), secret).status_code == 200
        )
        eventually(lambda: len(reader.stream_after(0)) == 2, what="the push's events")
    assert stored_state(data_dir, "7") is RequestState.APPROVED


# -- /healthz ---------------------------------------------------------------------------------


def test_healthz_shows_providers_and_their_health_without_secrets(host: PluginHost, secret: str) -> None:
    with serve_app(create_app(host), host) as served:
        post(f"{served.url}/webhooks/pusher", push_body("test"), secret)
        answer = httpx.get(f"{served.url}/healthz", timeout=10)
    assert answer.status_code == 200
    health = answer.json()
    assert health["ok"] is True and health["active"] == "pusher" and health["problem"] is None
    pusher = next(entry for entry in health["providers"] if entry["name"] == "pusher")
    assert pusher["breaker"] == "closed"
    assert pusher["push"]["receives"] is True and pusher["push"]["has_secret"] is True
    assert pusher["push"]["last"]["test"]["count"] == 1
    assert "origin" not in pusher
    assert secret.removeprefix("Bearer ") not in answer.text


def test_healthz_is_not_ok_while_the_active_providers_breaker_is_open(host: PluginHost) -> None:
    from aperture_hookspecs import CannotConnectError

    for _ in range(host.dispatcher.breaker.threshold):
        host.dispatcher.breaker.failed("pusher", CannotConnectError("refused"))
    with serve_app(create_app(host), host) as served:
        health = httpx.get(f"{served.url}/healthz", timeout=10).json()
        metrics = httpx.get(f"{served.url}/metrics", timeout=10).text
    assert health["ok"] is False
    assert next(e for e in health["providers"] if e["name"] == "pusher")["breaker"] == "open"
    assert 'aperture_breaker_open{provider="pusher"} 1.0' in metrics
    assert 'aperture_breaker_open{provider="null"} 0.0' in metrics


def test_healthz_of_a_damaged_store_is_503_with_the_reason_and_no_traceback(
    host: PluginHost, data_dir: Path, secret: str
) -> None:
    store = host.settings
    assert isinstance(store, SettingsStore)
    store.close()
    (data_dir / "aperture.db").write_bytes(b"this is not a database" * 200)
    for suffix in ("-wal", "-shm"):
        (data_dir / f"aperture.db{suffix}").unlink(missing_ok=True)
    with serve_app(create_app(host), host) as served:
        health = httpx.get(f"{served.url}/healthz", timeout=10)
        push = post(f"{served.url}/webhooks/pusher", push_body(), secret)
    assert health.status_code == 503
    assert health.json()["ok"] is False and health.json()["error"] == "store_damaged"
    assert "Traceback" not in health.text and str(data_dir) not in health.text
    assert push.status_code == 503 and push.json()["error"] == "store_unavailable"
    assert str(data_dir) not in push.text
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(data_dir / "aperture.db").execute("SELECT 1 FROM events").fetchall()


# -- /metrics ---------------------------------------------------------------------------------


def test_metrics_count_pushes_server_calls_and_lookups_in_the_apps_own_registry(
    host: PluginHost, provider: PushProvider, secret: str, data_dir: Path
) -> None:
    track(data_dir, "7", RequestState.PENDING)
    app = create_app(host)
    other = create_app(host)  # a second app: its own registry, its own counts
    metrics: Metrics = app.state.aperture.metrics
    with serve_app(app, host) as served:
        url = f"{served.url}/webhooks/pusher"
        post(url, push_body(request="7"), secret)
        post(url, push_body("test"), secret)
        post(url, push_body(), "Bearer wrong")
        post(f"{served.url}/webhooks/nobody", push_body(), "Bearer wrong")
        post(url, b"{", secret)
        with metrics.time_lookup():
            pass
        with metrics.sse_client():
            inside = httpx.get(f"{served.url}/metrics", timeout=10).text
        text = httpx.get(f"{served.url}/metrics", timeout=10)
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
    body = text.text
    assert 'aperture_pushes_received_total{kind="status",provider="pusher"} 1.0' in body
    assert 'aperture_pushes_received_total{kind="test",provider="pusher"} 1.0' in body
    assert 'aperture_pushes_refused_total{provider="pusher",reason="unauthorized"} 1.0' in body
    assert 'aperture_pushes_refused_total{provider="(unknown)",reason="unauthorized"} 1.0' in body
    assert 'aperture_pushes_refused_total{provider="pusher",reason="malformed"} 1.0' in body
    assert 'aperture_lookups_total{outcome="ok"} 1.0' in body
    assert "aperture_lookup_seconds_count 1.0" in body
    assert "aperture_sse_clients 1.0" in inside and "aperture_sse_clients 0.0" in body
    assert "nobody" not in body  # a name from the URL never becomes a series
    assert "aperture_pushes_received_total{" not in other.state.aperture.metrics.render().decode()


def test_server_calls_a_provider_reports_are_counted_by_provider_endpoint_and_outcome(
    host: PluginHost, provider: PushProvider, data_dir: Path
) -> None:
    track(data_dir, "7", RequestState.PENDING)
    app = create_app(host)

    async def poll_twice() -> None:
        await host.poll_tracked("pusher")
        await host.poll_tracked("pusher")
        await host.aclose()

    asyncio.run(poll_twice())
    text = app.state.aperture.metrics.render().decode()
    assert (
        'aperture_server_calls_total{endpoint="GET /status/{id}",outcome="200",provider="pusher"} 2.0' in text
    )
    assert 'aperture_server_call_seconds_count{endpoint="GET /status/{id}",provider="pusher"} 2.0' in text


def test_metrics_ask_for_the_token_when_the_app_says_so(host: PluginHost) -> None:
    with serve_app(create_app(host, env_token="fake-env-token-1", metrics_need_token=True), host) as served:
        refused = httpx.get(f"{served.url}/metrics", timeout=10)
        allowed = httpx.get(f"{served.url}/metrics", headers={"authorization": "Bearer fake-env-token-1"})
        health = httpx.get(f"{served.url}/healthz", timeout=10)
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    assert refused.headers["www-authenticate"] == "Bearer"
    assert allowed.status_code == 200 and "aperture_sse_clients" in allowed.text
    assert health.status_code == 200  # healthz never needs a token


# -- the poller of serve -----------------------------------------------------------------------


def test_the_poller_polls_every_interval_and_times_its_cycles(
    host: PluginHost, provider: PushProvider, reader: PushStore, data_dir: Path
) -> None:
    track(data_dir, "7", RequestState.PENDING)
    provider.server["7"] = RequestState.APPROVED
    app = create_app(host, poll_interval=0.05)
    with serve_app(app, host):
        event = eventually(lambda: reader.stream_after(0), what="the poll's event")
        eventually(
            lambda: (
                'aperture_poll_cycles_total{outcome="ok",provider="pusher"} 2.0'
                in app.state.aperture.metrics.render().decode()
            ),
            what="two cycles",
        )
    assert event[0].kind == "status" and event[0].data["source"] == "poll"
    assert "aperture_poll_cycle_seconds_count" in app.state.aperture.metrics.render().decode()


def test_a_failing_poll_cycle_is_logged_and_the_poller_goes_on(
    host: PluginHost,
    provider: PushProvider,
    reader: PushStore,
    data_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    track(data_dir, "7", RequestState.PENDING)
    provider.server["7"] = RequestState.APPROVED
    provider.fail_next_poll = True
    app = create_app(host, poll_interval=0.05)
    with serve_app(app, host) as served:
        eventually(lambda: reader.stream_after(0), what="the second cycle's event")
        assert httpx.get(f"{served.url}/healthz", timeout=10).status_code == 200
    text = app.state.aperture.metrics.render().decode()
    assert 'aperture_poll_cycles_total{outcome="error",provider="pusher"} 1.0' in text
    assert "pusher: polling failed" in caplog.text


# -- end to end: the fake Seerr's webhook agent -> uvicorn -> the store ------------------------


@pytest.mark.parametrize("flavour", ["overseerr", "jellyseerr", "seerr"])
def test_a_transition_on_the_fake_seerr_reaches_the_store_through_its_webhook_not_a_poll(
    flavour: str, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``webhook install`` through the host, then an approval on the server: its agent POSTs to
    the real app, the Seerr provider takes it in, the event is in the store (source ``push``;
    no poller runs)."""
    fake = FakeSeerr(flavour, api_key=CANARY)
    fake.add_user("alice", jellyfin_username="alice" if flavour != "overseerr" else None)
    fake.add_title("movie", 680, "Pulp Fiction")
    host = PluginHost(data_dir).load()
    reader = PushStore(SettingsStore(data_dir))
    with fake.serve() as seerr_url:
        host.set_settings("jellyseerr", {"url": seerr_url, "api_key": CANARY, "timeout": 5})
        host.use("jellyseerr")
        with serve_app(create_app(host), host) as served:
            report = served.call(webhook_admin.install(host, "jellyseerr", served.url))
            assert report.test_received is True
            test = fake.webhook_deliveries[0]
            assert test.test and test.status == 200  # our app answered the server's test
            filed = served.call(host.submit_request(MOVIE, ALICE, RequestOptions()))
            assert filed.state is RequestState.PENDING
            fake.approve(int(filed.request_id))
            status = eventually(
                lambda: [event for event in reader.stream_after(0) if event.kind == "status"],
                what="the approval's status event",
            )
            badges = [event for event in reader.stream_after(0) if event.kind == "badge"]
    assert [(event.data["current"], event.data["source"], event.user) for event in status] == [
        ("approved", "push", "alice")
    ]
    assert badges and badges[-1].data["state"] == "approved" and badges[-1].data["source"] == "push"
    assert reader.receipts("jellyseerr")["test"].count == 1
    assert reader.receipts("jellyseerr")["status"].count >= 2  # pending, then approved
    assert "refused" not in reader.receipts("jellyseerr")
    reader.store.close()
