"""Each viewer's own requests (Declined, Failed, request ids), read per user or in one bulk read.

Over the fake's HTTP transport: lookups arriving together form one batch; a batch of one user is
read with ``GET /user/{id}/requests``, a batch of many with one ``GET /request`` (when that takes
fewer calls), and every user's badges are the same either way. A failed or slow bulk read falls
back to per-user reads; a request filed during a bulk read is not hidden by it.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from aperture_hookspecs import ApertureUser, MediaRef, RequestState
from aperture_overseerr.models import SeerrUser
from aperture_overseerr.own_requests import BULK_PAGE_SIZE, OwnRequests
from aperture_overseerr.testing import FakeSeerr
from aperture_overseerr.users import UserDirectory
from aperture_plugins import PluginHost

from .test_scale import Calls, Scale, build, endpoint, make_host, runtime

USERS = 8


def account(fake: FakeSeerr, user: ApertureUser):
    return next(record for record in fake.users.values() if record.username == user.name)


@pytest.fixture
def world() -> tuple[Scale, list[MediaRef], dict[str, int]]:
    """Each viewer has requested one title of their own; the even viewers' were declined."""
    scale = build(rows=300, users=USERS)
    unknown = [ref for n, ref in enumerate(scale.known) if n % 5 == 4 and ref.media_type.value == "movie"]
    titles = unknown[:USERS]
    request_ids: dict[str, int] = {}
    for n, (user, title) in enumerate(zip(scale.users, titles, strict=True)):
        request = scale.fake.create_request(
            account(scale.fake, user), {"mediaType": "movie", "mediaId": title.tmdb_id, "is4k": False}
        )
        if n % 2 == 0:
            scale.fake.decline(request.id)
        request_ids[user.name] = request.id
    return scale, titles, request_ids


def check_badges(
    answers: list, n: int, titles: list[MediaRef], request_ids: dict[str, int], user: ApertureUser
):
    """Viewer ``n`` sees their own request (Declined or Pending, with its id), nobody else's."""
    for m, (title, card) in enumerate(zip(titles, answers, strict=True)):
        assert card.item == title
        if m == n:
            assert card.state is (RequestState.DECLINED if n % 2 == 0 else RequestState.PENDING)
            assert card.request_id == str(request_ids[user.name])
        else:  # another viewer's: pending shows for everyone, a declined one is requestable again
            assert card.state is (RequestState.REQUESTABLE if m % 2 == 0 else RequestState.PENDING)
            assert card.request_id is None


def is_bulk_read(call) -> bool:  # type: ignore[no-untyped-def]
    """The own-requests bulk read (every user's requests), not the media index's request reads."""
    return endpoint(call) == "/request" and is_bulk_query(call.query)


def is_bulk_query(query: str) -> bool:
    return query.startswith(f"take={BULK_PAGE_SIZE}&") and "filter=all" in query


async def index_built(host: PluginHost) -> None:
    """The media index (which reads the server's open requests itself) is built and fresh, so
    what follows counts only the viewers' own requests."""
    await host.lookup([], None)
    await host.lookup([MediaRef.parse("movie:1")], None)


async def test_viewers_arriving_together_cost_one_bulk_read(world):
    scale, titles, request_ids = world
    async with make_host(scale.fake) as host:
        calls = Calls(scale.fake)
        await host.lookup(titles, scale.users[0])
        one_viewer = len(calls.take())
    async with make_host(scale.fake) as host:  # a fresh provider: cold again
        calls = Calls(scale.fake)
        answers = await asyncio.gather(*(host.lookup(titles, user) for user in scale.users))
        made = calls.take()
        assert len(made) == one_viewer  # the issue-7 target: many users cost what one costs
        for n, (user, cards) in enumerate(zip(scale.users, answers, strict=True)):
            check_badges(cards, n, titles, request_ids, user)
        assert Counter(endpoint(c) for c in made)["/user/{id}/requests"] == 0
        [bulk] = [c for c in made if is_bulk_read(c)]
        assert "sort=added" in bulk.query and "filter=all" in bulk.query

        latecomer = ApertureUser("viewer99")  # in the user list, never looked up: filled too
        scale.fake.add_user("viewer99", jellyfin_username="viewer99", permissions=32)
        runtime(host).users.expire()
        await host.lookup(titles, scale.users[0])
        assert [endpoint(c) for c in calls.take()] == ["/user"]  # nothing per user: all cached
        await host.lookup(titles, latecomer)  # requestCount 0: nothing to read
        assert calls.take() == []


async def test_a_lone_viewer_reads_only_their_own_requests_and_does_not_wait(world):
    scale, titles, request_ids = world
    async with make_host(scale.fake) as host:
        runtime(host).own_requests.batch_wait = 60.0  # a lone lookup must not wait for the timer
        calls = Calls(scale.fake)
        cards = await asyncio.wait_for(host.lookup(titles, scale.users[1]), timeout=10)
        check_badges(cards, 1, titles, request_ids, scale.users[1])
        made = calls.take()
        assert Counter(endpoint(c) for c in made)["/user/{id}/requests"] == 1
        assert not any(is_bulk_read(c) for c in made)


async def test_a_failed_bulk_read_falls_back_to_reading_each_viewer(world):
    scale, titles, request_ids = world
    async with make_host(scale.fake) as host:
        await index_built(host)  # fresh for 5 s: the next call to /request* is the bulk read
        scale.fake.fail_next(1, status=500, body={"message": "Request list failed"}, path_prefix="/request")
        calls = Calls(scale.fake)
        answers = await asyncio.gather(*(host.lookup(titles, user) for user in scale.users))
        for n, (user, cards) in enumerate(zip(scale.users, answers, strict=True)):
            check_badges(cards, n, titles, request_ids, user)
        by_endpoint = Counter(endpoint(c) for c in calls.take())
        assert by_endpoint["/request"] == 1  # tried once (a 500 is not worth a retry)
        assert by_endpoint["/user/{id}/requests"] == USERS

        loader = runtime(host).own_requests
        loader.cache.clear()  # as if the TTL had passed: the batch is read again...
        await asyncio.gather(*(host.lookup(titles, user) for user in scale.users))
        by_endpoint = Counter(endpoint(c) for c in calls.take())
        assert by_endpoint["/request"] == 0  # ...per user, without trying the list again so soon
        assert by_endpoint["/user/{id}/requests"] == USERS
        loader._bulk_refused_until = 0.0  # the cooldown has passed: the list is tried again
        loader.cache.clear()
        await asyncio.gather(*(host.lookup(titles, user) for user in scale.users))
        by_endpoint = Counter(endpoint(c) for c in calls.take())
        assert by_endpoint == Counter({"/request": 1})


class HeldTransport(httpx.AsyncBaseTransport):
    """The fake's transport, holding the answers (made at once) of the own-requests bulk read
    (``GET /request?take=1000&…&filter=all``) until :attr:`release`."""

    def __init__(self, fake: FakeSeerr) -> None:
        self.inner = fake.transport()
        self.release = asyncio.Event()
        self.held = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        query = request.url.query.decode()
        if request.url.path.endswith("/api/v1/request") and request.method == "GET" and is_bulk_query(query):
            self.held.set()
            await self.release.wait()
        return response


async def test_a_slow_bulk_read_falls_back_and_still_fills_the_cache_when_it_ends(world):
    scale, titles, request_ids = world
    transport = HeldTransport(scale.fake)
    async with make_host(scale.fake, transport) as host:
        runtime(host).own_requests.bulk_deadline = 0.05
        calls = Calls(scale.fake)
        first = scale.users[:4]
        answers = await asyncio.gather(*(host.lookup(titles, user) for user in first))
        for n, (user, cards) in enumerate(zip(first, answers, strict=True)):
            check_badges(cards, n, titles, request_ids, user)
        made = calls.take()
        assert Counter(endpoint(c) for c in made)["/user/{id}/requests"] == 4
        assert len([c for c in made if is_bulk_read(c)]) == 1
        assert transport.held.is_set()

        transport.release.set()  # the bulk read ends: every user's entry is filled
        await asyncio.gather(*runtime(host).own_requests._tasks)
        assert calls.take() == []
        cards = await host.lookup(titles, scale.users[5])
        check_badges(cards, 5, titles, request_ids, scale.users[5])
        assert calls.take() == []


async def test_a_request_filed_during_a_bulk_read_is_not_hidden_by_it(world):
    scale, titles, _ = world
    transport = HeldTransport(scale.fake)
    async with make_host(scale.fake, transport) as host:
        lookups = [asyncio.ensure_future(host.lookup(titles, user)) for user in scale.users[:3]]
        await transport.held.wait()  # the bulk read has been sent; the server has not answered
        viewer = scale.users[7]
        another = next(r for n, r in enumerate(scale.known) if n % 5 == 4 and r not in titles and n % 4)
        filed = await host.submit_request(another, viewer)  # through us, after the list was read
        transport.release.set()
        await asyncio.gather(*lookups)
        [card] = await host.lookup([another], viewer)
        assert card.state is RequestState.PENDING and card.request_id == filed.request_id


async def test_the_batch_does_not_wait_longer_than_batch_wait_for_a_stuck_lookup(world):
    scale, titles, request_ids = world
    async with make_host(scale.fake) as host:
        loader = runtime(host).own_requests
        loader.batch_wait = 0.01
        with loader.expect():  # a lookup that never says whose requests it needs
            cards = await asyncio.wait_for(host.lookup(titles, scale.users[2]), timeout=10)
        check_badges(cards, 2, titles, request_ids, scale.users[2])


async def test_a_read_outside_any_lookup_does_not_wait_for_the_timer(world):
    scale, _, request_ids = world
    async with make_host(scale.fake) as host:
        live = runtime(host)
        loader = live.own_requests
        loader.batch_wait = 60.0
        users = await live.users.all(live.client)
        [mine] = [user for user in users if user.jellyfin_username == scale.users[3].name]
        latest = await asyncio.wait_for(loader.get(mine), timeout=10)
        assert [request.id for request in latest.values()] == [request_ids[scale.users[3].name]]


def loader_with(counts: list[int | None], *, page: int = 1000) -> OwnRequests:
    directory = UserDirectory()
    directory._users = [
        SeerrUser(id=n + 1, permissions=32, display_name=f"user{n}", request_count=count)
        for n, count in enumerate(counts)
    ]
    return OwnRequests(client=None, users=directory, bulk_page_size=page)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("counts", "batch", "bulk"),
    [
        ([20] * 50, 50, True),  # 1,000 requests: one page instead of 50 calls
        ([20] * 50, 1, False),  # one viewer: their own, smaller answer
        ([20] * 50, 2, True),  # one page instead of two
        ([1000] * 5, 5, False),  # 5,000 requests: five pages, no fewer than five users
        ([1000] * 5, 6, True),
        ([20, None, 3], 3, False),  # a count is unknown: so is the bulk read's cost
        ([], 3, False),
    ],
)
def test_the_bulk_read_is_chosen_only_when_it_takes_fewer_calls(counts, batch, bulk):
    assert loader_with(counts)._bulk_pays(batch) is bulk


async def test_a_viewer_who_files_during_a_read_of_theirs_does_not_wait_for_it(world):
    scale, titles, _ = world
    transport = HeldTransport(scale.fake)
    async with make_host(scale.fake, transport) as host:
        runtime(host).own_requests.bulk_deadline = 60.0  # no fallback to per-user reads meanwhile
        batch = [asyncio.ensure_future(host.lookup(titles, user)) for user in scale.users[:3]]
        await transport.held.wait()  # viewer 0's requests are being read in bulk, and held
        viewer = scale.users[0]
        another = next(r for n, r in enumerate(scale.known) if n % 5 == 4 and r not in titles and n % 4)
        filed = await host.submit_request(another, viewer)
        [card] = await asyncio.wait_for(host.lookup([another], viewer), timeout=5)  # not held
        assert card.state is RequestState.PENDING and card.request_id == filed.request_id
        transport.release.set()
        await asyncio.gather(*batch)
