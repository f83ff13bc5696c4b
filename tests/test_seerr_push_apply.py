"""Taking pushed notices into the Seerr provider (``aperture_apply_push``), in the three flavours.

The deliveries are built as the server's agent fills its default template (strings, the status
as its name, ``extra`` with the requested seasons; the recorded deliveries are parsed by
``test_seerr_push_payload``) from the fake server's state, after the change was made there.
What is proven:

* the next lookup of the title by anyone shows the pushed state, without a server call;
* tracked requests get their news, by request id or by title;
* a read of the server that began before the push (a rebuild or a check in flight, answering
  the old status) does not undo it; a read that began after is the server's word;
* duplicates, replays and out-of-order deliveries never move anything backwards;
* an index check follows a push in the background and the index converges with the server;
* what polling finds that no push announced is counted (``push_health``), and while pushes
  arrive the full check runs less often.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from aperture_hookspecs import (
    ApertureUser,
    Availability,
    MediaRef,
    MediaType,
    ProviderContext,
    ProviderInfo,
    PushAction,
    PushDelivery,
    PushKind,
    PushNotice,
    PushOutcome,
    PushTarget,
    RequestState,
    TrackedRequest,
)
from aperture_overseerr import SEERR_CAPABILITIES, SeerrProvider
from aperture_overseerr.runtime import SeerrRuntime
from aperture_overseerr.testing import FakeSeerr

from .conftest import CANARY

FLAVOURS = ("overseerr", "jellyseerr", "seerr")
MATRIX, PULP, FIGHT = (MediaRef.parse(f"movie:{i}") for i in (603, 680, 550))
BREAKING = MediaRef.parse("tv:1396")
EVENTS = {
    "MEDIA_PENDING": "New {kind} Request",
    "MEDIA_AUTO_APPROVED": "{kind} Request Automatically Approved",
    "MEDIA_APPROVED": "{kind} Request Approved",
    "MEDIA_DECLINED": "{kind} Request Declined",
    "MEDIA_FAILED": "{kind} Request Failed",
    "MEDIA_AVAILABLE": "{kind} Request Now Available",
}
STATUS_NAMES = {1: "UNKNOWN", 2: "PENDING", 3: "PROCESSING", 4: "PARTIALLY_AVAILABLE", 5: "AVAILABLE"}


def delivery_body(fake: FakeSeerr, kind: str, request_id: int, *, media_status: int | None = None) -> bytes:
    """The body the server's agent sends for ``kind`` about this request, from the fake's state
    (``media_status`` overrides what the fake's media says, for a late or replayed delivery)."""
    request = fake.requests[request_id]
    media = fake.media[request.media_id]
    user = fake.users[request.requested_by]
    title = fake.titles[(media.media_type, media.tmdb_id)]
    what = "Movie" if media.media_type == "movie" else "Series"
    event = EVENTS[kind].format(kind=("4K " if request.is4k else "") + what)
    status = media_status if media_status is not None else media.status_of(request.is4k)
    payload = {
        "notification_type": kind,
        "event": event[0].upper() + event[1:],
        "subject": f"{title.title} (1999)",
        "message": f"Overview of {title.title}.",
        "image": f"https://image.tmdb.org/t/p/w600_and_h900_bestv2/poster{media.tmdb_id}.jpg",
        "media": {
            "media_type": media.media_type,
            "tmdbId": str(media.tmdb_id),
            "tvdbId": str(media.tvdb_id or ""),
            "status": STATUS_NAMES.get(status if not request.is4k else media.status, "UNKNOWN"),
            "status4k": STATUS_NAMES.get(status if request.is4k else media.status4k, "UNKNOWN"),
        },
        "request": {
            "request_id": str(request.id),
            "requestedBy_email": user.email,
            "requestedBy_username": user.username or "",
            "requestedBy_avatar": user.avatar,
            "requestedBy_settings_discordId": "",
            "requestedBy_settings_telegramChatId": "",
        },
        "issue": None,
        "comment": None,
        "extra": (
            [{"name": "Requested Seasons", "value": ", ".join(str(s.season_number) for s in request.seasons)}]
            if request.seasons
            else []
        ),
    }
    return json.dumps(payload, separators=(",", ":")).encode()


@dataclass
class Harness:
    """A fake server and a provider context talking to it (in-process transport)."""

    fake: FakeSeerr
    provider: SeerrProvider
    context: ProviderContext
    ids: dict[str, int]

    @property
    def runtime(self) -> SeerrRuntime:
        return self.provider.runtime(self.context)

    async def badges(self, user: str | None, *items: MediaRef) -> list[Availability]:
        viewer = ApertureUser(user) if user else None
        return await self.provider.aperture_lookup_availability(self.context, list(items), viewer)

    async def state(self, user: str | None, item: MediaRef) -> RequestState:
        return (await self.badges(user, item))[0].state

    async def push(
        self, kind: str, request_id: int, tracked: Iterable[TrackedRequest] = (), **options: Any
    ) -> PushOutcome:
        body = delivery_body(self.fake, kind, request_id, **options)
        return await self.push_body(body, tracked)

    async def push_body(self, body: bytes, tracked: Iterable[TrackedRequest] = ()) -> PushOutcome:
        delivery = PushDelivery(body, datetime.now(UTC), "application/json", {})
        notice = self.provider.aperture_parse_push(self.context, delivery)
        assert notice.kind is PushKind.STATUS
        return await self.provider.aperture_apply_push(self.context, notice, list(tracked))

    def request(self, user: str, item: MediaRef, **body: Any) -> int:
        caller = self.fake.users[self.ids[user]]
        fields = {"mediaType": item.media_type.value, "mediaId": item.tmdb_id, "is4k": False, **body}
        return self.fake.create_request(caller, fields).id

    async def close(self) -> None:
        for callback in self.context.close_callbacks():
            await callback()


def build_fake(flavour: str) -> tuple[FakeSeerr, dict[str, int]]:
    fake = FakeSeerr(flavour, api_key=CANARY)
    jelly = flavour != "overseerr"
    ids = {
        "alice": fake.add_user("alice", jellyfin_username="alice" if jelly else None),
        "bob": fake.add_user("bob", jellyfin_username="bob" if jelly else None),
    }
    fake.add_title("movie", 603, "The Matrix")
    fake.add_title("movie", 680, "Pulp Fiction")
    fake.add_title("movie", 550, "Fight Club")
    fake.add_title("tv", 1396, "Breaking Bad", seasons=3)
    return fake, ids


def make_harness(
    flavour: str,
    tmp_path: Path,
    transport: Callable[[FakeSeerr], httpx.AsyncBaseTransport] | None = None,
) -> Harness:
    fake, ids = build_fake(flavour)
    info = ProviderInfo(
        name="jellyseerr", title="Jellyseerr", version="test", capabilities=SEERR_CAPABILITIES
    )
    provider = SeerrProvider(info, transport=transport(fake) if transport else fake.transport())
    context = ProviderContext("jellyseerr", {"url": "http://seerr.test", "api_key": CANARY}, tmp_path)
    harness = Harness(fake, provider, context, ids)
    harness.runtime.pushes.converge_after = 3600.0  # converging is tested on its own below
    return harness


@pytest.fixture(params=FLAVOURS)
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    built = make_harness(request.param, tmp_path)
    yield built
    await built.close()


def tracked(request_id: int, item: MediaRef, state: RequestState, user: str = "alice") -> TrackedRequest:
    return TrackedRequest(str(request_id), item, ApertureUser(user), state)


# -- a push reaches every viewer at once ----------------------------------------------------------


async def test_a_push_changes_the_title_for_everyone_without_a_server_call(harness: Harness):
    assert await harness.state(None, PULP) is RequestState.NOT_AVAILABLE  # a guest cannot request
    assert await harness.state("bob", PULP) is RequestState.REQUESTABLE
    request_id = harness.request("alice", PULP)  # on the server's own site: the index has not seen it
    calls = harness.fake.call_count()

    outcome = await harness.push("MEDIA_PENDING", request_id)
    assert [title.state for title in outcome.titles] == [RequestState.PENDING]
    assert await harness.state(None, PULP) is RequestState.PENDING
    assert await harness.state("bob", PULP) is RequestState.PENDING
    assert harness.fake.call_count() == calls, "the push itself answered the lookups"

    harness.fake.approve(request_id)
    outcome = await harness.push("MEDIA_APPROVED", request_id)
    assert outcome.titles[0].state is RequestState.APPROVED
    assert await harness.state("bob", PULP) is RequestState.APPROVED

    harness.fake.mark_available(request_id)
    outcome = await harness.push("MEDIA_AVAILABLE", request_id)
    assert outcome.titles[0].state is RequestState.AVAILABLE
    assert await harness.state(None, PULP) is RequestState.AVAILABLE
    assert await harness.state("bob", PULP) is RequestState.AVAILABLE
    assert harness.fake.call_count() == calls
    await assert_as_the_server_says(harness, "bob", PULP)


async def assert_as_the_server_says(harness: Harness, user: str, item: MediaRef) -> None:
    """The badge the pushes made is the one a complete new reading of the server gives."""
    pushed = (await harness.badges(user, item))[0]
    index = harness.runtime.index
    index.rebuild_every = 0.0
    await index.refresh(harness.runtime.client, force=True)
    index.rebuild_every = 900.0
    assert len(index.facts) == 0
    assert (await harness.badges(user, item))[0] == pushed


async def test_tracked_requests_get_their_news_by_id_and_by_title(harness: Harness):
    await harness.badges(None, PULP)
    request_id = harness.request("alice", PULP)
    mine = tracked(request_id, PULP, RequestState.PENDING)
    other = tracked(999, MATRIX, RequestState.PENDING)
    outcome = await harness.push("MEDIA_PENDING", request_id, [mine, other])
    assert [(u.request_id, u.state) for u in outcome.updates] == [(str(request_id), RequestState.PENDING)]

    harness.fake.approve(request_id)
    outcome = await harness.push("MEDIA_APPROVED", request_id, [mine, other])
    assert [(u.request_id, u.state) for u in outcome.updates] == [(str(request_id), RequestState.APPROVED)]

    # a delivery that names only the title (an admin's own template): the title's tracked ones
    harness.fake.mark_available(request_id)
    body = json.loads(delivery_body(harness.fake, "MEDIA_AVAILABLE", request_id))
    body["request"] = None
    outcome = await harness.push_body(json.dumps(body).encode(), [mine, other])
    assert [(u.request_id, u.state) for u in outcome.updates] == [(str(request_id), RequestState.AVAILABLE)]


async def test_a_decline_shows_for_everyone_and_for_its_author(harness: Harness):
    await harness.badges("alice", PULP)
    await harness.badges("bob", PULP)
    request_id = harness.request("alice", PULP)
    await harness.push("MEDIA_PENDING", request_id)
    assert await harness.state("alice", PULP) is RequestState.PENDING
    harness.fake.decline(request_id)
    outcome = await harness.push(
        "MEDIA_DECLINED", request_id, [tracked(request_id, PULP, RequestState.PENDING)]
    )
    assert outcome.updates[0].state is RequestState.DECLINED
    assert outcome.updates[0].reason == "the request was declined"
    assert await harness.state("bob", PULP) is RequestState.REQUESTABLE  # the server resets the movie
    assert await harness.state("alice", PULP) is RequestState.DECLINED  # her own requests read again
    await assert_as_the_server_says(harness, "bob", PULP)


async def test_a_failed_approval_shows_as_failed_and_the_title_pending(harness: Harness):
    await harness.badges(None, PULP)
    request_id = harness.request("alice", PULP)
    await harness.push("MEDIA_PENDING", request_id)
    harness.fake.fail(request_id)  # the push to Radarr failed: the server left the media pending
    await harness.push("MEDIA_APPROVED", request_id)  # the server sent both, 13 ms apart
    assert await harness.state(None, PULP) is RequestState.APPROVED
    outcome = await harness.push(
        "MEDIA_FAILED", request_id, [tracked(request_id, PULP, RequestState.APPROVED)]
    )
    assert outcome.updates[0].state is RequestState.FAILED
    assert await harness.state(None, PULP) is RequestState.PENDING  # as the server has it
    await assert_as_the_server_says(harness, "bob", PULP)
    assert await harness.state("alice", PULP) is RequestState.PENDING


async def test_a_series_request_shows_its_seasons_and_its_arrival(harness: Harness):
    await harness.badges("bob", BREAKING)
    request_id = harness.request("alice", BREAKING, seasons=[1, 2])
    outcome = await harness.push("MEDIA_PENDING", request_id)
    badge = outcome.titles[0]
    assert badge.state is RequestState.PENDING and badge.reason and "1–2" in badge.reason
    bob = (await harness.badges("bob", BREAKING))[0]
    assert bob.state is RequestState.PENDING
    harness.fake.approve(request_id)
    await harness.push("MEDIA_APPROVED", request_id)
    harness.fake.mark_available(request_id)  # seasons 1 and 2 of 3: the show is partly available
    track = tracked(request_id, BREAKING, RequestState.APPROVED)
    outcome = await harness.push("MEDIA_AVAILABLE", request_id, [track])
    assert outcome.updates[0].state is RequestState.AVAILABLE  # everything it asked for arrived
    bob = (await harness.badges("bob", BREAKING))[0]
    assert bob.state is RequestState.PARTIALLY_AVAILABLE
    await assert_as_the_server_says(harness, "bob", BREAKING)


# -- a read in flight cannot undo a push ------------------------------------------------------------


class OldWorld(httpx.AsyncBaseTransport):
    """Routes calls to the live fake, or, while ``stale``, to ``old``: a second fake built the
    same way and left as the live one was when a read began. A read in flight when a push came
    answers the old state to its last call. ``pause`` holds that read after its first answer so
    the test can change the live fake and push meanwhile."""

    def __init__(self, live: FakeSeerr, old: FakeSeerr) -> None:
        self.live, self.old = live.transport(), old.transport()
        self.stale = False
        self.pause = asyncio.Event()
        self.paused = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.stale:
            return await self.live.handle_async_request(request)
        response = await self.old.handle_async_request(request)
        self.paused.set()
        await self.pause.wait()
        return response


async def _old_read_does_not_undo(flavour: str, tmp_path: Path, *, rebuild: bool) -> None:
    old, _ = build_fake(flavour)
    worlds: list[OldWorld] = []

    def switch(live: FakeSeerr) -> OldWorld:
        worlds.append(OldWorld(live, old))
        return worlds[0]

    harness = make_harness(flavour, tmp_path, switch)
    world = worlds[0]
    try:
        request_id = harness.request("alice", PULP)
        assert request_id == old.create_request(old.users[2], {"mediaType": "movie", "mediaId": 680}).id
        assert await harness.state("bob", PULP) is RequestState.PENDING  # built, and pending
        index = harness.runtime.index
        if rebuild:
            index.rebuild_every = 0.0
        world.stale = True
        reading = asyncio.ensure_future(index.refresh(harness.runtime.client, force=True))
        await world.paused.wait()  # the read has begun; all it reads is the old state
        harness.fake.approve(request_id)
        await harness.push("MEDIA_APPROVED", request_id)
        assert await _state_now(harness, "bob", PULP) is RequestState.APPROVED
        world.pause.set()
        await reading
        world.stale = False
        assert await _state_now(harness, "bob", PULP) is RequestState.APPROVED, "the old read undid the push"
        reading_after = index.request(request_id)
        assert reading_after is not None and reading_after.status == 2
        # a read that begins after the push is the server's word (and agrees): the facts go
        index.rebuild_every = 0.0
        await index.refresh(harness.runtime.client, force=True)
        assert await _state_now(harness, "bob", PULP) is RequestState.APPROVED
        assert len(index.facts) == 0
    finally:
        await harness.close()


async def _state_now(harness: Harness, user: str, item: MediaRef) -> RequestState:
    """The badge from the index as it is (no check first)."""
    runtime = harness.runtime
    viewer = await runtime.viewer(ApertureUser(user))
    identity = await runtime.identity()
    return runtime._badge(item, identity, viewer, {}).state


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_rebuild_in_flight_does_not_undo_a_push(flavour: str, tmp_path: Path):
    await _old_read_does_not_undo(flavour, tmp_path, rebuild=True)


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_an_index_check_in_flight_does_not_undo_a_push(flavour: str, tmp_path: Path):
    await _old_read_does_not_undo(flavour, tmp_path, rebuild=False)


# -- the first push after a start ------------------------------------------------------------------


async def test_the_first_push_after_a_start_reads_the_server_before_its_badge(harness: Harness):
    # nothing has been looked up yet (the index is not built) when a decline of a request for a
    # partly available show comes: the badge streamed to everyone is the server's, not a guess
    harness.fake.add_media(MediaType.TV, 1396, status=4, season_statuses={1: 5})
    request_id = harness.request("alice", BREAKING, seasons=[2])
    harness.fake.decline(request_id)
    assert not harness.runtime.index.is_built
    outcome = await harness.push("MEDIA_DECLINED", request_id)
    assert [title.state for title in outcome.titles] == [RequestState.PARTIALLY_AVAILABLE]
    assert harness.runtime.index.is_built
    assert outcome.titles == tuple(await harness.badges(None, BREAKING)), "the guest's lookup agrees"


class Unplugged(httpx.AsyncBaseTransport):
    """The fake's transport, or a refused connection while ``down``."""

    def __init__(self, live: FakeSeerr) -> None:
        self.live = live.transport()
        self.down = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        return await self.live.handle_async_request(request)


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_the_first_push_gives_no_badge_when_the_server_cannot_be_read(flavour: str, tmp_path: Path):
    plugs: list[Unplugged] = []

    def unplugged(live: FakeSeerr) -> Unplugged:
        plugs.append(Unplugged(live))
        return plugs[0]

    harness = make_harness(flavour, tmp_path, unplugged)
    try:
        await harness.runtime.identity()  # detected, but the index was never read
        harness.fake.add_media(MediaType.TV, 1396, status=4, season_statuses={1: 5})
        request_id = harness.request("alice", BREAKING, seasons=[2])
        harness.fake.decline(request_id)
        harness.runtime.client.retries = 0
        plugs[0].down = True
        track = tracked(request_id, BREAKING, RequestState.PENDING)
        outcome = await harness.push("MEDIA_DECLINED", request_id, [track])
        assert outcome.titles == (), "no badge rather than one guessed from an empty index"
        [update] = outcome.updates
        assert (update.request_id, update.state) == (str(request_id), RequestState.DECLINED)
        assert harness.runtime.push_health().pushes_applied == 1, "the push itself was taken in"
    finally:
        await harness.close()


# -- duplicates, replays, out of order ------------------------------------------------------------


async def test_duplicates_replays_and_late_deliveries_never_move_backwards(harness: Harness):
    await harness.badges(None, PULP)
    request_id = harness.request("alice", PULP)
    track = tracked(request_id, PULP, RequestState.PENDING)
    pending = delivery_body(harness.fake, "MEDIA_PENDING", request_id)
    harness.fake.approve(request_id)
    approved = delivery_body(harness.fake, "MEDIA_APPROVED", request_id)

    # out of order: the approval arrives before the creation
    assert (await harness.push_body(approved, [track])).updates[0].state is RequestState.APPROVED
    late = await harness.push_body(pending, [track])
    assert late.updates[0].state is RequestState.APPROVED and late.titles[0].state is RequestState.APPROVED
    # duplicates and a replay
    for body in (approved, approved, pending):
        outcome = await harness.push_body(body, [track])
        assert outcome.updates[0].state is RequestState.APPROVED
    assert await harness.state("bob", PULP) is RequestState.APPROVED

    harness.fake.mark_available(request_id)
    available = delivery_body(harness.fake, "MEDIA_AVAILABLE", request_id)
    await harness.push_body(available, [track])
    for body in (pending, approved, available):  # replayed long after
        outcome = await harness.push_body(body, [track])
        assert outcome.updates[0].state is RequestState.AVAILABLE
        assert outcome.titles[0].state is RequestState.AVAILABLE
    assert await harness.state("bob", PULP) is RequestState.AVAILABLE


async def test_a_replay_of_a_request_closed_before_the_index_looked_changes_nothing(harness: Harness):
    request_id = harness.request("alice", PULP)
    pending = delivery_body(harness.fake, "MEDIA_PENDING", request_id)
    harness.fake.decline(request_id)
    assert await harness.state("bob", PULP) is RequestState.REQUESTABLE  # built after the decline
    outcome = await harness.push_body(pending)  # an old delivery, replayed
    # streamed to everyone: a title only a guest cannot request is Requestable for all
    assert (outcome.titles[0].state, outcome.titles[0].can_request) == (RequestState.REQUESTABLE, False)
    assert await harness.state("bob", PULP) is RequestState.REQUESTABLE


# -- converging with the server --------------------------------------------------------------------


async def test_an_index_check_follows_a_push_and_the_server_stays_the_truth(harness: Harness):
    await harness.badges("bob", PULP)
    request_id = harness.request("alice", PULP)
    harness.runtime.pushes.converge_after = 0.05
    # a delivery that says more than the server did (say a delivery of another server's): the
    # index shows it at once, and the check that follows puts the server's state back
    harness.fake.approve(request_id)
    approved = delivery_body(harness.fake, "MEDIA_APPROVED", request_id)
    harness.fake.decline(request_id)
    counts_before = harness.fake.call_count(path_prefix="/request/count")
    await harness.push_body(approved)
    assert await _state_now(harness, "bob", PULP) is RequestState.APPROVED
    for _ in range(200):
        await asyncio.sleep(0.01)
        if harness.fake.call_count(path_prefix="/request/count") > counts_before and not len(
            harness.runtime.index.facts
        ):
            break
    assert harness.fake.call_count(path_prefix="/request/count") > counts_before, "no check after the push"
    assert len(harness.runtime.index.facts) == 0, "the pushed facts were not superseded by a read"
    assert await _state_now(harness, "bob", PULP) is RequestState.REQUESTABLE


# -- push health ---------------------------------------------------------------------------------


async def test_changes_polling_finds_without_a_push_are_counted(harness: Harness):
    runtime = harness.runtime
    ledger = runtime.index.ledger
    ledger.grace = 0.0
    first = harness.request("alice", PULP)
    await harness.badges("bob", PULP)
    health = runtime.push_health()
    assert (health.pushes_applied, health.unpushed_changes, health.pushes_arriving) == (0, 0, False)

    # pushed: the poll that finds the same change counts nothing
    harness.fake.approve(first)
    await harness.push("MEDIA_APPROVED", first)
    await runtime.refresh_index(force=True)
    health = runtime.push_health()
    assert (health.pushes_applied, health.unpushed_changes) == (1, 0)
    assert health.pushes_arriving is True and health.last_push_at is not None

    # not pushed: a new request and a decline found by polling
    second = harness.request("bob", FIGHT)
    await runtime.refresh_index(force=True)
    harness.fake.decline(second)
    await runtime.refresh_index(force=True)
    health = runtime.push_health()
    assert health.unpushed_changes == 2
    assert health.last_unpushed == f"request {second} → declined"
    assert health.last_unpushed_at is not None
    assert health.pushes_arriving is False, "pushes went missing: the check does not slow down"
    assert json.dumps(health.to_dict())
    target = PushTarget("http://aperture.test/webhooks/jellyseerr", "Bearer FAKE-PUSH-SECRET")
    setup = await harness.provider.aperture_push_setup(harness.context, PushAction.INSPECT, target, False)
    assert (setup.unpushed_changes, setup.last_unpushed_at) == (2, health.last_unpushed_at)


async def test_a_test_or_an_ignored_notice_changes_nothing(harness: Harness):
    await harness.badges(None, PULP)
    for kind in (PushKind.TEST, PushKind.IGNORED):
        notice = PushNotice(kind, notification="TEST_NOTIFICATION")
        assert await harness.provider.aperture_apply_push(harness.context, notice, []) == PushOutcome()
    assert harness.runtime.push_health().pushes_applied == 0


async def test_a_push_that_comes_a_moment_after_the_poll_is_not_missing(harness: Harness):
    runtime = harness.runtime
    await harness.badges("bob", PULP)
    request_id = harness.request("alice", PULP)
    await runtime.refresh_index(force=True)  # polling saw it first
    await harness.push("MEDIA_PENDING", request_id)  # within the grace period
    runtime.index.ledger.grace = 0.0
    assert runtime.push_health().unpushed_changes == 0


async def test_while_pushes_arrive_the_full_check_runs_less_often(tmp_path: Path):
    now = [1000.0]
    harness = make_harness("seerr", tmp_path)
    try:
        index = harness.runtime.index
        index._clock = lambda: now[0]
        index.ledger._clock = lambda: now[0]
        request_id = harness.request("alice", PULP)
        track = tracked(request_id, PULP, RequestState.PENDING)
        await harness.provider.aperture_poll_status(harness.context, [track])
        assert index.check_interval() == index.max_staleness
        counts = lambda: harness.fake.call_count(path_prefix="/request/count")  # noqa: E731
        before = counts()
        now[0] += 1
        await harness.provider.aperture_poll_status(harness.context, [track])
        assert counts() == before + 1, "without pushes every poll cycle checks"

        harness.fake.approve(request_id)
        await harness.push("MEDIA_APPROVED", request_id, [track])
        stretched = index.check_interval()
        assert stretched == min(index.max_staleness * index.push_stretch, index.push_stretch_cap) > 5
        before = counts()
        now[0] += 1
        await harness.provider.aperture_poll_status(harness.context, [track])
        await harness.badges("bob", PULP)
        assert counts() == before, "pushes arrive: the check waits for its stretched interval"
        harness.fake.set_download(request_id, fraction=0.5)  # no push carries download progress
        index.progress_every = 10.0  # the progress_interval setting: shorter than the stretched check
        now[0] += index.progress_every
        approved = tracked(request_id, PULP, RequestState.APPROVED)
        [update] = await harness.provider.aperture_poll_status(harness.context, [approved])
        assert counts() == before, "still no check"
        assert update.state is RequestState.PROCESSING and update.progress is not None
        assert update.progress.fraction == 0.5, "download progress is polled as before"
        now[0] += stretched - index.progress_every
        await harness.provider.aperture_poll_status(harness.context, [track])
        assert counts() == before + 1
        now[0] += index.ledger.recent + 1  # no push for a while: back to the usual pace
        before = counts()
        await harness.provider.aperture_poll_status(harness.context, [track])
        now[0] += 1
        await harness.provider.aperture_poll_status(harness.context, [track])
        assert counts() == before + 2
    finally:
        await harness.close()
