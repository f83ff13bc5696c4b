"""The host's side of push, on a real store: forward-only updates, one event per transition
whether push or poll saw it first, badges for everyone, secrets and tokens at rest.

The provider is ``push_fakes.PushProvider`` (``Capability.PUSH``): its ``aperture_parse_push``
reads ``push_body(...)`` documents and its ``aperture_poll_status`` answers what the test says
the server has (``provider.server``); the Seerr plugin's own
push is tested in ``test_seerr_push_*``.
"""

from __future__ import annotations

import hmac
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aperture_hookspecs import (
    ApertureUser,
    Availability,
    InvalidPushError,
    MediaRef,
    ProviderContractError,
    PushDelivery,
    PushNotice,
    PushOutcome,
    RequestState,
    StatusChange,
    TrackedRequest,
    UnsupportedOperationError,
    hookimpl,
)
from aperture_plugins.event_log import change_payload, utc_text
from aperture_plugins.host import PluginHost
from aperture_plugins.push_store import PushStore
from aperture_plugins.store import MIGRATIONS, SettingsStore

from .push_fakes import PushProvider, push_body

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


def track(host: PluginHost, request_id: str, state: RequestState, user: ApertureUser = ALICE) -> None:
    store = host.settings
    assert isinstance(store, SettingsStore)
    store.save_tracked("pusher", [TrackedRequest(request_id, MOVIE, user, state)])


def notice(host: PluginHost, *, test: bool = False, other: str | None = None, **status: str) -> PushNotice:
    """What the host makes of a push: a test, another event (``other``), or a status push."""
    body = push_body("test") if test else push_body(other) if other else push_body(**status)
    delivery = PushDelivery(body, datetime.now(UTC), "application/json")
    return host.parse_push("pusher", delivery)


def stored_state(host: PluginHost, request_id: str) -> RequestState:
    store = host.settings
    assert isinstance(store, SettingsStore)
    return next(r.state for _, r in store.tracked("pusher") if r.request_id == request_id)


async def test_a_push_moves_a_tracked_request_and_the_poll_that_sees_it_too_adds_nothing(host, provider):
    heard: list[StatusChange] = []

    class Observer:
        @hookimpl
        def aperture_status_changed(self, change: StatusChange) -> None:
            heard.append(change)

    host.register(Observer(), "observer")
    track(host, "7", RequestState.PENDING)
    logged, badges = await host.apply_push("pusher", notice(host, request="7", state="approved"))
    assert [(e.change.previous, e.change.current, e.change.source) for e in logged] == [
        (RequestState.PENDING, RequestState.APPROVED, "push")
    ]
    assert [b.data["state"] for b in badges] == ["approved"]
    provider.server["7"] = RequestState.APPROVED
    polled = await host.poll_tracked("pusher")
    assert polled.changes == ()
    assert [(c.current, c.source) for c in heard] == [(RequestState.APPROVED, "push")]
    assert [e.change.current for e in host.events_since(0, "pusher")] == [RequestState.APPROVED]
    await host.aclose()


async def test_a_push_after_the_poll_saw_the_same_transition_adds_nothing(host, provider):
    track(host, "7", RequestState.PENDING)
    provider.server["7"] = RequestState.APPROVED
    assert len((await host.poll_tracked("pusher")).changes) == 1
    logged, _ = await host.apply_push("pusher", notice(host, request="7", state="approved"))
    assert logged == []
    assert len(host.events_since(0, "pusher")) == 1
    await host.aclose()


async def test_duplicated_replayed_and_out_of_order_pushes_never_move_a_request_backwards(host):
    track(host, "7", RequestState.PENDING)
    available = notice(host, request="7", state="available")
    approved = notice(host, request="7", state="approved")
    pending = notice(host, request="7", state="pending")
    assert len((await host.apply_push("pusher", available))[0]) == 1
    for late in (approved, pending, available, approved):
        logged, _ = await host.apply_push("pusher", late)
        assert logged == []
    assert stored_state(host, "7") is RequestState.AVAILABLE
    assert [(e.change.previous, e.change.current) for e in host.events_since(0, "pusher")] == [
        (RequestState.PENDING, RequestState.AVAILABLE)
    ]
    await host.aclose()


async def test_a_declined_request_is_not_revived_by_a_late_approval_push(host):
    track(host, "7", RequestState.PENDING)
    await host.apply_push("pusher", notice(host, request="7", state="declined"))
    logged, _ = await host.apply_push("pusher", notice(host, request="7", state="approved"))
    assert logged == [] and stored_state(host, "7") is RequestState.DECLINED
    await host.aclose()


async def test_a_push_for_an_untracked_request_streams_the_badge_once_to_every_user(host):
    track(host, "7", RequestState.PENDING)
    logged, badges = await host.apply_push(
        "pusher", notice(host, request="99", state="approved", item="tv:1396")
    )
    assert logged == []
    assert [(b.kind, b.data["media_type"], b.data["tmdb_id"], b.data["source"]) for b in badges] == [
        ("badge", "tv", 1396, "push")
    ]
    again, repeated = await host.apply_push(
        "pusher", notice(host, request="99", state="approved", item="tv:1396")
    )
    assert again == [] and repeated == []
    stream = host.push_store().stream_after(0, user="bob")
    assert [event.kind for event in stream] == ["badge"]
    await host.aclose()


async def test_the_stream_gives_a_user_their_own_status_events_and_every_badge(host):
    track(host, "7", RequestState.PENDING, ALICE)
    track(host, "8", RequestState.PENDING, ApertureUser("bob"))
    await host.apply_push("pusher", notice(host, request="7", state="approved"))
    await host.apply_push("pusher", notice(host, request="8", state="approved", item="movie:603"))
    push_store = host.push_store()
    alice = [(e.kind, e.data.get("request_id")) for e in push_store.stream_after(0, user="alice")]
    assert alice == [("status", "7"), ("badge", None), ("badge", None)]
    everyone = push_store.stream_after(0)
    assert [e.kind for e in everyone] == ["status", "badge", "status", "badge"]
    assert [e.id for e in everyone] == sorted(e.id for e in everyone)
    assert push_store.stream_after(everyone[1].id, user="bob")[0].data["request_id"] == "8"
    await host.aclose()


async def test_test_and_ignored_notices_are_only_counted(host, provider):
    track(host, "7", RequestState.PENDING)
    await host.apply_push("pusher", notice(host, test=True))
    await host.apply_push("pusher", notice(host, other="issue"))
    await host.apply_push("pusher", notice(host, test=True))
    receipts = host.push_store().receipts("pusher")
    assert receipts["test"].count == 2 and receipts["ignored"].count == 1 and "status" not in receipts
    assert provider.applied == [] and host.events_since(0, "pusher") == []
    await host.aclose()


def test_a_malformed_delivery_is_the_providers_invalid_push_error(host):
    delivery = PushDelivery(b"{not json", datetime.now(UTC), "application/json")
    with pytest.raises(InvalidPushError, match="not JSON") as caught:
        host.parse_push("pusher", delivery)
    assert caught.value.provider == "pusher"


def test_a_provider_without_push_cannot_be_pushed_to(data_dir):
    host = PluginHost(data_dir, load_entry_points=False).load()
    delivery = PushDelivery(b"{}", datetime.now(UTC))
    with pytest.raises(UnsupportedOperationError, match="cannot receive pushes"):
        host.parse_push("null", delivery)


def test_a_parse_hook_that_answers_the_wrong_type_is_a_plugin_bug(host, provider, monkeypatch):
    monkeypatch.setattr(
        provider, "aperture_parse_push", hookimpl(lambda context, delivery: {"kind": "status"})
    )
    host.unregister("pusher")
    host.register(provider, "pusher")
    host.use("pusher")
    with pytest.raises(ProviderContractError, match="must return a PushNotice"):
        host.parse_push("pusher", PushDelivery(b"{}", datetime.now(UTC)))


def test_the_webhook_secret_is_encrypted_at_rest_survives_rotation_and_is_compared_in_constant_time(
    host, data_dir, monkeypatch
):
    push_store = host.push_store()
    assert push_store.webhook_secret("pusher") is None
    assert not push_store.push_authorized("pusher", "Bearer anything")
    secret = push_store.ensure_webhook_secret("pusher")
    assert push_store.ensure_webhook_secret("pusher") == secret  # made once
    assert len(secret) >= 40
    raw = b"".join(path.read_bytes() for path in data_dir.glob("settings.db*"))
    assert secret.encode() not in raw
    store = host.settings
    assert isinstance(store, SettingsStore)
    assert secret in store.readable_secrets()  # so the leak checks scrub it
    envelope = sqlite3.connect(store.path).execute("SELECT envelope FROM webhook_secrets").fetchone()[0]
    store.rotate_master_key()
    rotated = sqlite3.connect(store.path).execute("SELECT envelope FROM webhook_secrets").fetchone()[0]
    assert rotated != envelope and push_store.webhook_secret("pusher") == secret
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr("aperture_plugins.push_store.hmac.compare_digest", spy)
    assert push_store.push_authorized("pusher", f"Bearer {secret}")
    assert not push_store.push_authorized("pusher", secret)  # the scheme is part of the header
    assert not push_store.push_authorized("pusher", f"Bearer {secret}x")
    assert not push_store.push_authorized("pusher", None)
    assert len(compared) == 3
    assert push_store.ensure_webhook_secret("pusher", renew=True) != secret


def test_api_tokens_are_shown_once_and_kept_only_as_hashes(host, data_dir):
    push_store = host.push_store()
    assert not push_store.has_api_tokens()
    token = push_store.create_api_token("front end")
    assert token.startswith("apt_") and push_store.api_token_valid(token)
    assert not push_store.api_token_valid(token + "x") and not push_store.api_token_valid("")
    raw = b"".join(path.read_bytes() for path in data_dir.glob("settings.db*"))
    assert token.encode() not in raw
    (listed,) = push_store.api_tokens()
    assert listed["label"] == "front end" and token not in json.dumps(listed)
    assert not push_store.revoke_api_token(listed["id"][:4])  # too short to be meant
    assert push_store.revoke_api_token(listed["id"])
    assert not push_store.api_token_valid(token)


def test_a_store_of_schema_2_keeps_its_events_as_status_events_from_polls(data_dir):
    data_dir.mkdir(parents=True, exist_ok=True)
    path = SettingsStore(data_dir).path
    connection = sqlite3.connect(path)
    for script in MIGRATIONS[:2]:
        connection.executescript(script)
    connection.execute("PRAGMA user_version = 2")
    change = StatusChange(
        "pusher",
        TrackedRequest("7", MOVIE, ALICE, RequestState.APPROVED),
        RequestState.PENDING,
        RequestState.APPROVED,
        datetime.now(UTC),
    )
    payload = json.loads(change_payload(change))
    del payload["source"]  # written before push existed
    connection.execute(
        "INSERT INTO events (at, provider, request_id, user_name, previous, current, payload_json) "
        "VALUES (?, 'pusher', '7', 'alice', 'pending', 'approved', ?)",
        (utc_text(change.at), json.dumps(payload)),
    )
    connection.commit()
    connection.close()
    store = SettingsStore(data_dir)
    assert store.schema_version == len(MIGRATIONS) == 3
    (event,) = PushStore(store).stream_after(0)
    assert (event.kind, event.user, event.data["source"], event.data["current"]) == (
        "status",
        "alice",
        "poll",
        "approved",
    )


def test_a_webhook_secret_read_while_another_process_rotates_the_key_is_read_again(
    host, data_dir, monkeypatch
):
    """The reader got the envelope, then a rotation re-encrypted it and dropped the old key
    before the reader decrypted: the row is read once more instead of failing the push."""
    push_store = host.push_store()
    secret = push_store.ensure_webhook_secret("pusher")
    reader = PushStore(SettingsStore(data_dir))  # another process's view: no decrypted memo
    rotator = SettingsStore(data_dir)
    real = PushStore._envelope
    reads: list[str | None] = []

    def envelope_then_rotation(self: PushStore, provider: str) -> str | None:
        found = real(self, provider)
        reads.append(found)
        if len(reads) == 1:
            rotator.rotate_master_key()
        return found

    monkeypatch.setattr(PushStore, "_envelope", envelope_then_rotation)
    assert reader.webhook_secret("pusher") == secret
    assert len(reads) == 2 and reads[0] != reads[1]
    reader.store.close()
    rotator.close()


async def test_a_push_that_comes_after_the_poll_saw_its_transition_is_not_a_missing_push(host, provider):
    """Polling found the approval first (the push waited in a queue): counted as unpushed until
    the push arrives, then no longer; one that never arrives stays counted."""
    push_store = host.push_store()
    push_store.remember_public_url("pusher", "http://aperture:8765")
    track(host, "7", RequestState.PENDING)
    track(host, "8", RequestState.PENDING)
    provider.server.update({"7": RequestState.APPROVED, "8": RequestState.APPROVED})
    assert len((await host.poll_tracked("pusher")).changes) == 2
    assert push_store.unpushed_transitions("pusher")[0] == 2
    logged, _ = await host.apply_push("pusher", notice(host, request="7", state="approved"))
    assert logged == []  # the poll logged it: one event
    assert push_store.unpushed_transitions("pusher")[0] == 1  # request 8's push never came
    stream = [
        (e.data["request_id"], e.data["source"]) for e in push_store.stream_after(0) if e.kind == "status"
    ]
    assert stream == [("7", "poll"), ("8", "poll")]  # what was streamed stays as it was
    await host.aclose()


async def test_a_requestable_badge_carries_no_guest_reason(host, provider, monkeypatch):
    """The badge streamed to everyone is the guest-level one; "sign in to request" is the
    guest's reason, not every user's."""

    async def requestable(context, notice, requests):
        badge = Availability(notice.item, RequestState.REQUESTABLE, reason="sign in to request")
        return PushOutcome(titles=(badge,))

    monkeypatch.setattr(provider, "aperture_apply_push", hookimpl(requestable))
    host.unregister("pusher")
    host.register(provider, "pusher")
    host.use("pusher")
    _, badges = await host.apply_push("pusher", notice(host, request="9", state="declined"))
    assert [(b.data["state"], b.data["reason"]) for b in badges] == [("requestable", None)]
    await host.aclose()


async def test_a_store_locked_by_another_process_does_not_stop_the_event_loop(host, data_dir):
    """The push's writes wait for the lock in a worker thread: meanwhile the loop goes on
    (answering the server's next pushes). Without that, it stood still for the whole wait."""
    import asyncio
    import threading

    track(host, "7", RequestState.PENDING)
    store = host.settings
    assert isinstance(store, SettingsStore)
    locked, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        other = sqlite3.connect(store.path, timeout=30)
        other.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(30)
        other.rollback()
        other.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    locked.wait(10)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    applying = asyncio.create_task(host.apply_push("pusher", notice(host, request="7", state="approved")))
    await asyncio.sleep(0.5)
    ticks_while_locked = ticks
    assert not applying.done()
    release.set()
    logged, _ = await applying
    ticker.cancel()
    holder.join()
    assert ticks_while_locked >= 5
    assert [e.change.current for e in logged] == [RequestState.APPROVED]
    await host.aclose()
