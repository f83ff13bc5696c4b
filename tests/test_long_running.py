"""A host kept alive sees every change on the server, on every supported version (issue 12 B).

Each test runs against the fake served over real HTTP, in five variants: the three recorded
products (Overseerr 1.34 moves ``updatedAt``; Jellyseerr 2.7.3 and Seerr 3.1.0 never move it,
notes §12 trap 16) and two releases whose stamps move again (Jellyseerr 2.5, Seerr 3.2). The
provider is built once and kept: between steps the test changes the server the way its own web
site or a library scan would (nothing goes through Aperture), marks the index due for a check
(as five seconds passing would) and looks at the cards once: every change must be on them after
that one check. Costs are counted from what the fake saw, never timed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from aperture_hookspecs import ApertureUser, MediaRef, ProviderInfo, RequestState, TrackedRequest
from aperture_overseerr import SEERR_CAPABILITIES, SeerrProvider
from aperture_overseerr.permissions import Permission
from aperture_overseerr.testing import FakeSeerr, RecordedCall, UserRecord
from aperture_plugins import MemorySettings, PluginHost
from aperture_plugins.status import PollResult

VARIANTS = [
    pytest.param(("overseerr", None), id="overseerr-1.34.0-moving"),
    pytest.param(("jellyseerr", None), id="jellyseerr-2.7.3-frozen"),
    pytest.param(("jellyseerr", "2.5.2"), id="jellyseerr-2.5.2-moving"),
    pytest.param(("seerr", None), id="seerr-3.1.0-frozen"),
    pytest.param(("seerr", "3.2.0"), id="seerr-3.2.0-moving"),
]
ALICE = ApertureUser("alice")
#: the calls an index check may make when nothing changed (frozen stamps need all four)
QUIET_CHECK = {"/media", "/request/count"}


@dataclass
class World:
    fake: FakeSeerr
    host: PluginHost
    frozen: bool
    clock: list[float]

    @property
    def runtime(self):  # type: ignore[no-untyped-def]
        record = self.host.active_provider()
        return record.plugin.runtime(self.host._context(record))

    def user(self, name: str) -> UserRecord:
        return next(u for u in self.fake.users.values() if name in (u.jellyfin_username, u.plex_username))

    def tick(self, seconds: float = 2.0) -> None:
        """Time passes, on the server (stamps are whole seconds) and for the host's index."""
        self.fake.advance(timedelta(seconds=seconds))
        self.clock[0] += seconds

    async def card(self, ref: str, user: ApertureUser = ALICE):  # type: ignore[no-untyped-def]
        """One card after exactly one index check."""
        self.use_test_clock()
        self.runtime.index.mark_stale()
        (answer,) = await self.host.lookup([MediaRef.parse(ref)], user)
        return answer

    def use_test_clock(self) -> None:
        """The index's monotonic clock, in the test's hands (``tick`` moves it)."""
        self.runtime.index._clock = lambda: self.clock[0]

    async def poll(self, tracked: list[TrackedRequest]) -> PollResult:
        """One ``watch`` cycle, a polling interval after the last one."""
        self.use_test_clock()
        self.tick(60.0)
        return await self.host.poll(tracked)

    def since(self, mark: int) -> list[RecordedCall]:
        return self.fake.calls[mark:]


def endpoints(calls: list[RecordedCall]) -> Counter[str]:
    return Counter("/".join("{id}" if p.isdigit() else p for p in c.path.split("/")) for c in calls)


@pytest.fixture(params=VARIANTS)
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    flavour, version = request.param
    fake = FakeSeerr(flavour, version=version)
    fake.add_user(
        "alice", jellyfin_username="alice", plex_username="alice", permissions=int(Permission.REQUEST)
    )
    fake.add_user("bob", jellyfin_username="bob", plex_username="bob", permissions=int(Permission.REQUEST))
    for tmdb_id, title in (
        (603, "The Matrix"),
        (680, "Pulp Fiction"),
        (550, "Fight Club"),
        (13, "Forrest Gump"),
    ):
        fake.add_title("movie", tmdb_id, title)
    fake.add_title("movie", 155, "The Dark Knight")
    fake.add_title("movie", 238, "The Godfather")
    fake.add_title("tv", 1399, "Game of Thrones", seasons=3)
    fake.add_media("movie", 603, status=5)
    fake.add_media("tv", 1399, status=4, season_statuses={1: 5, 2: 1, 3: 1})
    with fake.serve() as url:
        provider = SeerrProvider(
            ProviderInfo(name=flavour, title=flavour, version="test", capabilities=SEERR_CAPABILITIES)
        )
        host = PluginHost(load_entry_points=False, settings=MemorySettings()).load()
        host.register(provider, flavour)
        host.use(flavour)
        host.set_settings(flavour, {"url": url, "api_key": fake.api_key, "progress_interval": 0})
        yield World(fake, host, fake.traits.frozen_updated_at, [1000.0])
        await host.aclose()


def on_site(world: World, who: str, ref: str, **extra: object) -> int:
    """``who`` files a request on the server's own site; its id."""
    item = MediaRef.parse(ref)
    body: dict[str, object] = {"mediaType": item.media_type.value, "mediaId": item.tmdb_id, "is4k": False}
    body.update(extra)
    return world.fake.create_request(world.user(who), body).id


async def test_every_change_reaches_the_card_within_one_index_check(world: World) -> None:
    assert (await world.card("movie:680")).state is RequestState.REQUESTABLE  # index built
    steps: list[tuple[str, RequestState]] = []

    async def expect(ref: str, state: RequestState, what: str) -> None:
        world.tick()
        answer = await world.card(ref)
        steps.append((what, answer.state))
        assert answer.state is state, f"{what}: {ref} shows {answer.state.value}, expected {state.value}"

    # a request made on the server's own site by someone else, then its whole life
    pulp = on_site(world, "bob", "movie:680")
    await expect("movie:680", RequestState.PENDING, "bob's new request")
    world.fake.approve(pulp)
    await expect("movie:680", RequestState.APPROVED, "approval")
    world.fake.set_download(pulp, fraction=0.25)
    await expect("movie:680", RequestState.PROCESSING, "download started")
    assert (await world.card("movie:680")).progress.fraction == pytest.approx(0.25, abs=0.01)
    world.fake.set_download(pulp, fraction=0.75)
    world.tick()
    assert (await world.card("movie:680")).progress.fraction == pytest.approx(0.75, abs=0.01)
    world.fake.mark_available(pulp)
    await expect("movie:680", RequestState.AVAILABLE, "arrival in the library")
    # declined: the title is requestable again
    fight = on_site(world, "bob", "movie:550")
    await expect("movie:550", RequestState.PENDING, "a second request")
    world.fake.decline(fight)
    await expect("movie:550", RequestState.REQUESTABLE, "decline")
    # alice's own request, made on the site: declined shows Declined to her, failed Failed
    gump = on_site(world, "alice", "movie:13")
    await expect("movie:13", RequestState.PENDING, "alice's request on the site")
    world.fake.decline(gump)
    await expect("movie:13", RequestState.DECLINED, "alice's request declined")
    knight = on_site(world, "alice", "movie:155")
    world.fake.approve(knight)
    await expect("movie:155", RequestState.APPROVED, "alice's request approved")
    world.fake.fail(knight)
    await expect("movie:155", RequestState.FAILED, "alice's request failed")
    # a deleted request: its title goes back to requestable
    godfather = on_site(world, "bob", "movie:238")
    await expect("movie:238", RequestState.PENDING, "another request")
    world.fake.delete_request(godfather)
    await expect("movie:238", RequestState.REQUESTABLE, "request deleted")
    # a title a library scan adds without any request
    world.fake.add_title("movie", 27205, "Inception")
    world.fake.add_media("movie", 27205, status=5)
    await expect("movie:27205", RequestState.AVAILABLE, "scanned into the library")
    assert len(steps) == 13


async def test_a_quiet_index_check_costs_at_most_four_cheap_calls(world: World) -> None:
    await world.card("movie:680")
    pulp = on_site(world, "bob", "movie:680")
    await world.card("movie:680")
    world.tick()
    world.fake.decline(pulp)  # a change to known rows, which the server stamps where stamps move
    await world.card("movie:680")
    for _ in range(3):
        mark = len(world.fake.calls)
        await world.card("movie:680")
        quiet = endpoints(world.since(mark))
        assert set(quiet) <= QUIET_CHECK, quiet
        assert sum(quiet.values()) <= 4, quiet
        assert world.fake.call_count("tmdb") == 0 or all(c.kind == "db" for c in world.since(mark))
    expected = 4 if world.frozen else 2
    assert sum(quiet.values()) == expected, (world.runtime.index.stamps.describe(), quiet)


async def test_a_title_requested_in_the_same_second_as_the_newest_row_is_seen(world: World) -> None:
    frozen_clock = datetime(2026, 12, 1, 15, 30, 33, tzinfo=UTC)
    world.fake._clock = lambda: frozen_clock  # every row from now on shares one second
    world.fake._offset = timedelta()
    first = on_site(world, "bob", "movie:550")
    assert (await world.card("movie:550")).state is RequestState.PENDING
    second = on_site(world, "bob", "movie:680")  # the same second, a higher id
    assert second > first
    assert (await world.card("movie:680")).state is RequestState.PENDING
    world.fake.add_title("movie", 27205, "Inception")
    world.fake.add_media("movie", 27205, status=5)  # a scan, still the same second
    assert (await world.card("movie:27205")).state is RequestState.AVAILABLE


async def test_request_lists_never_strip_a_shows_seasons(world: World) -> None:
    """More than ten open requests are read from the lists, whose media rows have no seasons."""
    for n in range(12):
        world.fake.add_title("movie", 100_000 + n, f"Generated Movie {n}")
        on_site(world, "bob", f"movie:{100_000 + n}")
    show = on_site(world, "bob", "tv:1399", seasons=[2])
    await world.card("tv:1399")
    world.tick()
    world.fake.approve(show)  # the counts move: the open requests are read from the lists
    await world.card("movie:603")
    world.tick()
    world.fake.decline(on_site(world, "alice", "movie:155"))
    await world.card("movie:603")
    row = world.runtime.index.get("tv", 1399)
    assert row is not None and row.seasons_known
    assert {s.season_number: s.status for s in row.seasons}[1] == 5
    assert len(world.runtime.index.open_requests("tv", 1399)) == 1


@pytest.mark.parametrize("count", [1, 10, 11, 500])
async def test_watch_sees_every_transition(world: World, count: int) -> None:
    """``count`` tracked requests of alice; every one changes; one cycle sees every change."""
    refs = []
    for n in range(count):
        tmdb_id = 200_000 + n
        world.fake.add_title("movie", tmdb_id, f"Generated Movie {tmdb_id}")
        refs.append(MediaRef.parse(f"movie:{tmdb_id}"))
    ids = [on_site(world, "alice", str(ref)) for ref in refs]
    tracked = [
        TrackedRequest(str(request_id), ref, ALICE, RequestState.PENDING)
        for request_id, ref in zip(ids, refs, strict=True)
    ]
    result = await world.poll(tracked)
    assert result.changes == ()
    tracked = list(result.tracked)
    world.tick()
    wanted: dict[str, RequestState] = {}
    for n, request_id in enumerate(ids):
        kind = n % 5
        if kind == 0:
            world.fake.approve(request_id)
            wanted[str(request_id)] = RequestState.APPROVED
        elif kind == 1:
            world.fake.decline(request_id)
            wanted[str(request_id)] = RequestState.DECLINED
        elif kind == 2:
            world.fake.approve(request_id)
            world.fake.mark_available(request_id)
            wanted[str(request_id)] = RequestState.AVAILABLE
        elif kind == 3:
            world.fake.delete_request(request_id)
            wanted[str(request_id)] = RequestState.NOT_AVAILABLE
        # kind 4 stays pending
    result = await world.poll(tracked)
    seen = {change.request.request_id: change.current for change in result.changes}
    assert seen == wanted
    assert len(result.changes) == len(wanted)
    # nothing changed since: no event; once the second of the burst has been read again (stamps
    # are whole seconds, trap 17: the first cycle after it re-reads that second's rows where
    # stamps move), every cycle costs a quiet index check
    tracked = list(result.tracked)
    for cycle in range(3):
        mark = len(world.fake.calls)
        again = await world.poll(tracked)
        assert again.changes == ()
        quiet = world.since(mark)
        assert set(endpoints(quiet)) <= QUIET_CHECK, quiet
        if cycle or world.frozen:
            assert len(quiet) <= 4, [c.path + "?" + c.query for c in quiet]


async def test_one_change_among_many_open_requests_costs_the_changed_one_where_stamps_move(
    world: World,
) -> None:
    """30 open requests; one is approved on the server. Where request stamps move, the newest
    modified requests say which (one short page); where they are frozen, the open lists are read."""
    ids = []
    for n in range(30):
        world.fake.add_title("movie", 300_000 + n, f"Generated Movie {n}")
        ids.append(on_site(world, "bob", f"movie:{300_000 + n}"))
    await world.card("movie:300000")
    world.tick()
    world.fake.decline(ids[0])  # a change to a known request: the index learns how stamps behave
    await world.card("movie:300000")
    world.tick()
    world.fake.approve(ids[17])
    mark = len(world.fake.calls)
    answer = await world.card("movie:300017")
    assert answer.state is RequestState.APPROVED
    reads = world.since(mark)
    lists = [c.query for c in reads if c.path == "/request"]
    singles = [c.path for c in reads if c.path.startswith("/request/") and c.path != "/request/count"]
    if world.frozen:
        assert any("filter=unavailable" in q for q in lists), lists
    else:
        assert not any("filter=unavailable" in q for q in lists), lists
        assert len(lists) <= 2 and singles == [], (lists, singles)  # the newest; the modified ones
