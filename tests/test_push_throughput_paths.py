"""What keeps the receiver responsive when pushes come hundreds a second (found by the push benchmark).

* ``PluginHost.apply_push`` gives the provider only the open tracked requests a notice can
  concern (its request id, or its title: a status notice names one or both), read from the real
  store by those keys: reading and building every tracked request per push cost 36 ms a push at
  1,000 tracked requests, so the receiver took under 30 pushes a second.
* The push worker lets the event loop run between two notices: a notice whose provider makes no
  server call never suspends, and the worker would otherwise take its whole backlog in one go
  while answers to the server and lookups wait.
* Authenticating a push decrypts the webhook secret only when its stored envelope changed
  (decrypting was most of the check's cost); a secret renewed by another process counts at once.

Both are behaviours, checked without timing anything.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from pathlib import Path

import pytest

from aperture_hookspecs import (
    ApertureUser,
    MediaRef,
    ProviderContext,
    PushKind,
    PushNotice,
    PushOutcome,
    RequestState,
    TrackedRequest,
    hookimpl,
)
from aperture_plugins.host import PluginHost
from aperture_plugins.push_store import PushStore
from aperture_plugins.store import SettingsStore
from aperture_plugins.web.metrics import Metrics
from aperture_plugins.web.push_worker import PushWorker

from .push_fakes import PushProvider

MOVIE = MediaRef.parse("movie:680")
SHOW = MediaRef.parse("tv:1399")
OTHER = MediaRef.parse("movie:603")
ALICE = ApertureUser("alice")


class RecordingProvider(PushProvider):
    """:class:`PushProvider` that remembers which tracked requests each apply was given."""

    def __init__(self) -> None:
        super().__init__()
        self.given: list[list[str]] = []

    @hookimpl
    async def aperture_apply_push(
        self, context: ProviderContext, notice: PushNotice, requests: Sequence[TrackedRequest]
    ) -> PushOutcome:
        self.given.append(sorted(request.request_id for request in requests))
        return await super().aperture_apply_push(context, notice, requests)


@pytest.fixture
def provider() -> RecordingProvider:
    return RecordingProvider()


@pytest.fixture
def host(data_dir: Path, provider: RecordingProvider) -> PluginHost:
    host = PluginHost(data_dir, load_entry_points=False).load()
    host.register(provider, "pusher")
    host.use("pusher")
    store = SettingsStore(data_dir)
    try:
        store.save_tracked(
            "pusher",
            [
                TrackedRequest("7", MOVIE, ALICE, RequestState.PENDING),
                TrackedRequest("8", SHOW, ALICE, RequestState.PENDING),
                TrackedRequest("9", MOVIE, ApertureUser("bob"), RequestState.APPROVED),  # same title
                TrackedRequest("10", OTHER, ALICE, RequestState.AVAILABLE),  # final
                TrackedRequest("11", OTHER, ALICE, RequestState.PENDING),
            ],
        )
        store.save_tracked("elsewhere", [TrackedRequest("7", SHOW, ALICE, RequestState.PENDING)])
    finally:
        store.close()
    return host


def notice(request_id: str | None, item: MediaRef | None, state: RequestState) -> PushNotice:
    return PushNotice(PushKind.STATUS, state.name, item=item, request_id=request_id, state=state)


async def test_apply_push_gives_the_provider_only_what_the_notice_can_concern(
    host: PluginHost, provider: RecordingProvider, data_dir: Path
) -> None:
    async with host:
        logged, _ = await host.apply_push("pusher", notice("7", MOVIE, RequestState.APPROVED))
        await host.apply_push("pusher", notice("8", SHOW, RequestState.APPROVED))
        await host.apply_push("pusher", notice("12", OTHER, RequestState.APPROVED))  # an untracked one
    assert provider.given == [["7", "9"], ["8"], ["11"]]  # never the final one, never another provider's
    assert [entry.change.request.request_id for entry in logged] == ["7"]
    store = SettingsStore(data_dir)
    try:
        states = {r.request_id: r.state for _, r in store.tracked("pusher")}
    finally:
        store.close()
    assert states == {
        "7": RequestState.APPROVED,
        "8": RequestState.APPROVED,
        "9": RequestState.APPROVED,
        "10": RequestState.AVAILABLE,
        "11": RequestState.PENDING,
    }


class _InstantHost:
    """Stands in for the host: each apply is recorded and never suspends (no server call)."""

    def __init__(self, order: list[str]) -> None:
        self.order = order

    async def apply_push(self, name: str, notice: PushNotice) -> tuple[list[object], list[object]]:
        self.order.append(f"apply {notice.request_id}")
        return [], []


async def test_the_worker_lets_other_tasks_run_between_two_notices() -> None:
    order: list[str] = []
    worker = PushWorker(_InstantHost(order), Metrics())  # type: ignore[arg-type]
    worker.start()
    for n in range(3):
        assert worker.submit("pusher", notice(str(n), MOVIE, RequestState.APPROVED))
    done = asyncio.Event()

    async def other() -> None:  # a route answering the server, a lookup
        while not done.is_set():
            order.append("other")
            await asyncio.sleep(0)

    task = asyncio.get_running_loop().create_task(other())
    await worker.drain()
    done.set()
    await task
    await worker.stop()
    applies = [n for n, step in enumerate(order) if step.startswith("apply")]
    assert len(applies) == 3
    between = [order[a + 1 : b] for a, b in itertools.pairwise(applies)]
    assert all("other" in steps for steps in between), order


def test_the_webhook_secret_is_decrypted_again_only_when_its_envelope_changed(
    host: PluginHost, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = host.settings
    assert isinstance(store, SettingsStore)
    secret = host.push_store().ensure_webhook_secret("pusher")
    decrypted: list[str] = []
    plain_decrypt = store.secrets.decrypt

    def counting(*args: object, **kwargs: object) -> str:
        decrypted.append("once")
        return plain_decrypt(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store.secrets, "decrypt", counting)
    for _ in range(5):
        assert host.push_store().push_authorized("pusher", f"Bearer {secret}")
    assert not host.push_store().push_authorized("pusher", "Bearer wrong")
    assert len(decrypted) == 1
    other = SettingsStore(data_dir)  # another process renews the secret
    try:
        renewed = PushStore(other).ensure_webhook_secret("pusher", renew=True)
    finally:
        other.close()
    assert renewed != secret
    assert not host.push_store().push_authorized("pusher", f"Bearer {secret}")
    assert host.push_store().push_authorized("pusher", f"Bearer {renewed}")
    assert len(decrypted) == 2
