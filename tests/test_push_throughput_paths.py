"""What keeps the receiver responsive when pushes come hundreds a second (found by the push benchmark).

* ``PluginHost.apply_push`` gives the provider only the open tracked requests a notice can
  concern (``PushOutcome``: by request id, or by title when it names no request), read from the real
  store by those keys: reading and building every tracked request per push cost 36 ms a push at
  1,000 tracked requests, so the receiver took under 30 pushes a second.
* The push worker lets the event loop run after each slice of work (5 ms): a notice whose
  provider makes no server call never suspends, and the worker would otherwise take a whole
  backlog in one go while answers to the server and lookups wait; yielding after every notice
  instead let the backlog outgrow the queue when 8 connections pushed 1,000 a second.
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
        await host.apply_push("pusher", notice(None, MOVIE, RequestState.APPROVED))  # no request named
        await host.apply_push("pusher", notice(None, OTHER, RequestState.APPROVED))
        await host.apply_push("pusher", notice("10", OTHER, RequestState.APPROVED))  # a final one
    # by request id; by title when the notice names none; never a final one, never another provider's
    assert provider.given == [["7"], ["8"], [], ["7", "9"], ["11"], []]
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
    """Stands in for the host: each apply is recorded, takes 2 ms of a fake clock and never
    suspends (no server call)."""

    def __init__(self, order: list[str]) -> None:
        self.order = order
        self.now = 0.0

    async def apply_push(self, name: str, notice: PushNotice) -> tuple[list[object], list[object]]:
        self.order.append(f"apply {notice.request_id}")
        self.now += 0.002
        return [], []


async def test_the_worker_takes_a_backlog_in_slices_letting_other_tasks_run_between() -> None:
    order: list[str] = []
    host = _InstantHost(order)
    worker = PushWorker(host, Metrics(), work_slice=0.005, clock=lambda: host.now)  # type: ignore[arg-type]
    worker.start()
    for n in range(1, 8):
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
    work = [step for step in order if step.startswith("apply") or step == "other"]
    first = work.index("apply 1")
    steps = [step for step, _ in itertools.groupby(work[first:])]  # runs of "other" as one
    # three notices (6 ms >= the 5 ms slice), the loop, three more, the loop, the last one
    assert steps[:9] == [
        "apply 1",
        "apply 2",
        "apply 3",
        "other",
        "apply 4",
        "apply 5",
        "apply 6",
        "other",
        "apply 7",
    ]


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
