"""Call counts that keep the provider's cost bounded at scale (issue 7); timings live in ``make bench``.

Each test counts what the fake server saw, never how long it took: a warm Discovery page costs no
call, and one due for an index check at most four cheap ones and no TMDB call; many lookups
arriving together on a cold provider share one rebuild of the media index, one user-list load
and one load of each user's data; a polling cycle with nothing changed costs one quiet index
check however many requests are tracked; and a page of
cards for a user missing from the cached user list reloads that list once, not once per card.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from aperture_hookspecs import ApertureUser, MediaRef, ProviderInfo, RequestState, TrackedRequest
from aperture_overseerr import SEERR_CAPABILITIES, SeerrProvider
from aperture_overseerr.permissions import Permission
from aperture_overseerr.testing import FakeSeerr, MediaRecord, RecordedCall, TitleRecord
from aperture_overseerr.users import UserDirectory
from aperture_plugins import MemorySettings, PluginHost

BASE = "http://seerr.local:5055"
ROWS = 2500  # the rebuild: a first page of 250 rows, then three of (up to) 1000
PER_USER = ("/user/{id}/quota", "/user/{id}/requests")


@dataclass
class Scale:
    fake: FakeSeerr
    known: list[MediaRef]
    users: list[ApertureUser]

    def page(self, start: int, size: int = 200) -> list[MediaRef]:
        """Half titles the server has a media row for, half it has never seen."""
        known = self.known[start : start + size // 2]
        unseen = [MediaRef.parse(f"movie:{9_000_000 + start + n}") for n in range(size - len(known))]
        return [card for pair in zip(known, unseen, strict=False) for card in pair] + unseen[len(known) :]


def build(rows: int = ROWS, users: int = 50) -> Scale:
    """A fake with ``rows`` media rows (filled directly: the builders scan the table per row)."""
    fake = FakeSeerr("jellyseerr")
    people = []
    for n in range(users):
        name = f"viewer{n:02d}"
        fake.add_user(name, jellyfin_username=name, permissions=int(Permission.REQUEST))
        people.append(ApertureUser(name))
    start = fake.now() - timedelta(days=30)
    known = []
    for n in range(rows):
        media_type = "tv" if n % 4 == 0 else "movie"
        tmdb_id = 1000 + n
        fake.titles[(media_type, tmdb_id)] = TitleRecord(media_type, tmdb_id, f"Title {tmdb_id}")
        stamp = start + timedelta(seconds=n)
        fake.media[n + 1] = MediaRecord(
            id=n + 1,
            media_type=media_type,
            tmdb_id=tmdb_id,
            tvdb_id=None,
            imdb_id=None,
            status=(5, 5, 2, 3, 1)[n % 5],
            status4k=1,
            created_at=stamp,
            updated_at=stamp,
            last_season_change=stamp,
        )
        known.append(MediaRef.parse(f"{media_type}:{tmdb_id}"))
    fake._ids["media"] = rows
    return Scale(fake, known, people)


def make_host(fake: FakeSeerr, transport: httpx.AsyncBaseTransport | None = None) -> PluginHost:
    """A host whose Jellyseerr provider talks to ``fake`` (through ``transport`` when given)."""
    provider = SeerrProvider(
        ProviderInfo(name="jellyseerr", title="Jellyseerr", version="test", capabilities=SEERR_CAPABILITIES),
        transport=transport or fake.transport(),
    )
    host = PluginHost(load_entry_points=False, settings=MemorySettings()).load()
    host.register(provider, "jellyseerr")
    host.use("jellyseerr")
    host.set_settings("jellyseerr", {"url": BASE, "api_key": fake.api_key})
    return host


def runtime(host: PluginHost):
    record = host.active_provider()
    return record.plugin.runtime(host._context(record))


def endpoint(call: RecordedCall) -> str:
    return "/".join("{id}" if part.isdigit() else part for part in call.path.split("/"))


class Calls:
    """The calls the fake saw since the last :meth:`take`."""

    def __init__(self, fake: FakeSeerr) -> None:
        self.fake = fake
        self.mark = len(fake.calls)

    def take(self) -> list[RecordedCall]:
        calls, self.mark = self.fake.calls[self.mark :], len(self.fake.calls)
        return calls


@pytest.fixture
def scale() -> Scale:
    return build()


async def test_a_warm_page_costs_no_tmdb_call_and_at_most_one_cheap_call(scale):
    async with make_host(scale.fake) as host:
        calls = Calls(scale.fake)
        user = scale.users[0]
        answers = await host.lookup(scale.page(0), user)
        assert len(answers) == 200 and all(a.state is not RequestState.NOT_AVAILABLE for a in answers)
        cold = calls.take()
        assert [c for c in cold if c.kind == "tmdb"] == []
        # one rebuild (the newest stamp, a first page of 250 rows, three of 1000), no extra progress read
        assert Counter(endpoint(c) for c in cold)["/media"] == 5

        await host.lookup(scale.page(0), user)  # the same page
        await host.lookup(scale.page(400), user)  # another page
        assert calls.take() == []

        runtime(host).index.mark_stale()  # the index is due for a check
        await host.lookup(scale.page(800), user)
        due = calls.take()  # Jellyseerr 2.7.3 never moves updatedAt: counts, new rows, in-flight sets
        assert len(due) <= 4 and [c.kind for c in due] == ["db"] * len(due)
        assert {endpoint(c) for c in due} <= {"/media", "/request/count"}


async def test_fifty_concurrent_cold_lookups_cost_one_rebuild(scale):
    async with make_host(scale.fake) as host:
        calls = Calls(scale.fake)
        await host.lookup(scale.page(0), scale.users[0])
        one = Counter(endpoint(c) for c in calls.take())
    assert one["/media"] == 5 and one["/user"] == 1

    async with make_host(scale.fake) as host:  # a fresh provider: empty index and caches
        calls = Calls(scale.fake)
        pages = [scale.page(40 * n) for n in range(50)]
        await asyncio.gather(*(host.lookup(page, scale.users[0]) for page in pages))
        same_user = Counter(endpoint(c) for c in calls.take())
    assert same_user == one

    async with make_host(scale.fake) as host:
        calls = Calls(scale.fake)
        everyone = zip(pages, scale.users, strict=True)
        await asyncio.gather(*(host.lookup(page, user) for page, user in everyone))
        distinct = Counter(endpoint(c) for c in calls.take())
    shared = {key: count for key, count in distinct.items() if key not in PER_USER}
    assert shared == {key: count for key, count in one.items() if key not in PER_USER}
    # nothing per user: no user has a quota (nor the defaults) or a request (requestCount 0)
    assert {key: distinct[key] for key in PER_USER} == {"/user/{id}/quota": 0, "/user/{id}/requests": 0}
    assert distinct == one


async def test_polling_with_nothing_changed_costs_one_quiet_index_check_for_a_thousand_requests():
    scale = build(rows=0, users=2)
    fake = scale.fake
    waiting = fake.users[2]
    approving = fake.users[3]
    approving.permissions = int(Permission.REQUEST | Permission.AUTO_APPROVE)
    tracked = []
    for n in range(1000):
        fake.add_title("movie", 20_000 + n, f"Requested {n}")
        owner = approving if n % 4 == 0 else waiting
        request = fake.create_request(owner, {"mediaType": "movie", "mediaId": 20_000 + n, "is4k": False})
        tracked.append(
            TrackedRequest(
                request_id=str(request.id),
                item=MediaRef.parse(f"movie:{20_000 + n}"),
                user=ApertureUser(owner.username or "x"),
                state=RequestState.APPROVED if n % 4 == 0 else RequestState.PENDING,
            )
        )
    async with make_host(fake) as host:
        await host.poll(tracked)  # the first cycle learns the counts and builds the index
        calls = Calls(fake)
        for _ in range(3):
            result = await host.poll(tracked)
            assert result.changes == ()
            quiet = calls.take()
            # counts, new rows, the pending and processing sets (updatedAt is frozen on Jellyseerr 2.7)
            assert sorted(endpoint(c) for c in quiet) == ["/media"] * 3 + ["/request/count"]
            assert all(c.kind == "db" for c in quiet)


async def test_a_page_for_a_user_missing_from_the_cached_list_reloads_it_once(scale):
    now = [0.0]
    async with make_host(scale.fake) as host:
        live = runtime(host)
        live.users = UserDirectory(clock=lambda: now[0])
        await host.lookup(scale.page(0), scale.users[0])  # the list is loaded and cached
        now[0] += live.users.miss_refresh_after + 1  # old enough to be reloaded on a miss
        calls = Calls(scale.fake)

        stranger = ApertureUser("stranger")
        cards = scale.page(200)
        answers = await asyncio.gather(*(host.lookup([card], stranger) for card in cards))
        assert not any(a[0].can_request for a in answers)  # unmapped: no Request button
        assert Counter(endpoint(c) for c in calls.take()) == {"/user": 1}

        newcomer_id = scale.fake.add_user("newcomer", jellyfin_username="newcomer")
        now[0] += live.users.miss_refresh_after + 1
        answers = await asyncio.gather(*(host.lookup([card], ApertureUser("newcomer")) for card in cards))
        assert all(a[0].state is not RequestState.NOT_AVAILABLE for a in answers)
        seen = Counter(endpoint(c) for c in calls.take())
        assert seen == {"/user": 1}  # no quota applies and no request yet: nothing per user
        assert newcomer_id > 1
