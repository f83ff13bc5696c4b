"""The Jellyseerr and Overseerr providers end to end over HTTP against the stateful fake server,
in the three flavours (Overseerr 1.34, Jellyseerr 2.7.3, Seerr 3.1) where they differ."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from aperture_hookspecs import (
    AlreadyRequestedError,
    ApertureUser,
    BlocklistedError,
    MediaRef,
    PermissionDeniedError,
    ProviderInfo,
    QuotaExceededError,
    RequestOptions,
    RequestState,
    TrackedRequest,
    UnexpectedResponseError,
    UserNotMappedError,
)
from aperture_overseerr import SEERR_CAPABILITIES, SeerrProvider
from aperture_overseerr.permissions import Permission
from aperture_overseerr.testing import FakeSeerr
from aperture_plugins import MemorySettings, PluginHost, admin

from .conftest import CANARY

FLAVOURS = ("overseerr", "jellyseerr", "seerr")
PRODUCT = {"overseerr": "Overseerr", "jellyseerr": "Jellyseerr", "seerr": "Seerr"}
VERSION = {"overseerr": "1.34.0", "jellyseerr": "2.7.3", "seerr": "3.1.0"}
BASE = "http://seerr.local:5055"

MATRIX, INCEPTION, DARK_KNIGHT, INTERSTELLAR, DUNE = (
    MediaRef.parse(f"movie:{i}") for i in (603, 27205, 155, 157336, 438631)
)
THRONES, BREAKING_BAD, WITCHER = (MediaRef.parse(f"tv:{i}") for i in (1399, 1396, 71912))


@dataclass
class World:
    """A fake server, a host whose provider talks to it, and the users on it."""

    fake: FakeSeerr
    host: PluginHost
    provider: SeerrProvider
    ids: dict[str, int]

    def runtime(self):
        record = self.host.active_provider()
        return self.host._context(record).runtime["seerr"]


def make_fake(flavour: str) -> tuple[FakeSeerr, dict[str, int]]:
    fake = FakeSeerr(flavour, api_key=CANARY)  # the leak check watches every log record for it
    jelly = flavour != "overseerr"
    ids = {
        "alice": fake.add_user("alice", jellyfin_username="Alice" if jelly else None),
        "bob": fake.add_user("bob", permissions=int(Permission.REQUEST_MOVIE)),
        "carol": fake.add_user("carol", permissions=int(Permission.REQUEST | Permission.AUTO_APPROVE)),
        "dave": fake.add_user(
            "dave", movie_quota_limit=1, movie_quota_days=7, tv_quota_limit=2, tv_quota_days=7
        ),
    }
    for tmdb_id, title in ((603, "The Matrix"), (27205, "Inception"), (155, "The Dark Knight")):
        fake.add_title("movie", tmdb_id, title)
    fake.add_title("movie", 157336, "Interstellar")
    fake.add_title("movie", 438631, "Dune")
    fake.add_title("tv", 1399, "Game of Thrones", seasons=8)
    fake.add_title("tv", 1396, "Breaking Bad", seasons=5)
    fake.add_title("tv", 71912, "The Witcher", seasons=3)
    return fake, ids


async def make_world(flavour: str, provider_name: str = "jellyseerr", **settings: object) -> World:
    fake, ids = make_fake(flavour)
    title = "Jellyseerr" if provider_name == "jellyseerr" else "Overseerr"
    provider = SeerrProvider(
        ProviderInfo(name=provider_name, title=title, version="test", capabilities=SEERR_CAPABILITIES),
        transport=fake.transport(),
    )
    host = PluginHost(load_entry_points=False, settings=MemorySettings()).load()
    host.register(provider, provider_name)
    host.use(provider_name)
    host.set_settings(provider_name, {"url": BASE, "api_key": fake.api_key, **settings})
    return World(fake, host, provider, ids)


@pytest.fixture(params=FLAVOURS)
async def world(request) -> AsyncIterator[World]:
    built = await make_world(request.param)
    yield built
    await built.host.aclose()


def alice() -> ApertureUser:
    return ApertureUser("alice")


# -- connection test --------------------------------------------------------------------------


async def test_connection_report_names_product_version_and_acting_user(world):
    report = await world.host.test_connection()
    assert report.ok, report.problems
    assert report.product == PRODUCT[world.fake.flavour]
    assert report.version == VERSION[world.fake.flavour]
    assert report.acting_user.endswith("(id 1)")
    assert report.is_admin is True
    other_product = [p.code for p in report.problems if p.code == "other_product"]
    assert other_product == ([] if world.fake.flavour != "overseerr" else ["other_product"])


async def test_the_overseerr_plugin_on_a_jellyseerr_server_works_and_says_so():
    world = await make_world("jellyseerr", provider_name="overseerr")
    report = await world.host.test_connection()
    assert report.ok
    [warning] = report.problems
    assert warning.code == "other_product"
    assert "This is a Jellyseerr server" in warning.message
    answers = await world.host.lookup([MATRIX], alice())
    assert answers[0].state is RequestState.REQUESTABLE
    await world.host.aclose()


async def test_a_wrong_key_is_reported_with_the_fix(world):
    world.host.set_settings(world.host.active_provider().name, {"url": BASE, "api_key": "FAKE-WRONG-KEY-1"})
    report = await world.host.test_connection()
    assert not report.ok
    problem = report.problems[-1]
    assert problem.code == "invalid_api_key"
    assert "API key is invalid or expired" in problem.hints


async def test_csrf_protection_is_reported(world):
    world.fake.csrf_protection = True
    report = await world.host.test_connection()
    assert [p.code for p in report.problems if p.severity == "error"] == ["csrf_enabled"]


async def test_a_login_page_is_not_a_seerr_server(world):
    world.fake.html_login_page = True
    report = await world.host.test_connection()
    assert [p.code for p in report.problems] == ["unsupported_server"]
    assert "HTML page" in report.problems[0].message


# -- availability -------------------------------------------------------------------------------


async def test_a_discovery_page_in_order_from_the_media_table_without_tmdb_calls(world):
    fake = world.fake
    fake.add_media("movie", 27205, status=5)  # Inception available
    fake.add_media("tv", 1396, status=4, season_statuses={1: 5, 2: 5, 3: 1, 4: 1, 5: 1})
    page = [MATRIX, INCEPTION, BREAKING_BAD, THRONES]
    answers = await world.host.lookup(page, alice())
    assert [a.item for a in answers] == page
    assert [a.state for a in answers] == [
        RequestState.REQUESTABLE,
        RequestState.AVAILABLE,
        RequestState.PARTIALLY_AVAILABLE,
        RequestState.REQUESTABLE,
    ]
    assert answers[0].can_request and answers[0].color == "blue"
    assert answers[1].color == "purple" and not answers[1].can_request
    assert answers[2].requestable_seasons == (3, 4, 5) and answers[2].can_request
    assert fake.call_count("tmdb") == 0


async def test_request_flow_states_are_seen_on_the_card(world):
    fake, host = world.fake, world.host
    result = await host.submit_request(MATRIX, alice())
    assert result.state is RequestState.PENDING
    request_id = int(result.request_id)
    assert (await host.lookup([MATRIX], alice()))[0].state is RequestState.PENDING
    fake.approve(request_id)
    world.runtime().index_is_stale()
    assert (await host.lookup([MATRIX], alice()))[0].state is RequestState.APPROVED
    eta = datetime.now(UTC) + timedelta(minutes=12)
    fake.set_download(request_id, fraction=0.4, eta=eta)
    world.runtime().index.mark_stale()
    [card] = await host.lookup([MATRIX], alice())
    assert card.state is RequestState.PROCESSING and card.color == "orange"
    assert card.progress.fraction == pytest.approx(0.4, abs=0.01)
    assert abs((card.progress.eta - eta).total_seconds()) < 2
    fake.mark_available(request_id)
    world.runtime().index_is_stale()
    [card] = await host.lookup([MATRIX], alice())
    assert card.state is RequestState.AVAILABLE


async def test_declined_and_failed_are_shown_to_the_requester(world):
    fake, host = world.fake, world.host
    declined = await host.submit_request(MATRIX, alice())
    failed = await host.submit_request(INCEPTION, alice())
    fake.decline(int(declined.request_id))
    fake.approve(int(failed.request_id))
    fake.fail(int(failed.request_id))
    world.runtime().forget_user_data(world.ids["alice"])
    world.runtime().index_is_stale()
    declined_card, failed_card = await host.lookup([MATRIX, INCEPTION], alice())
    assert (declined_card.state, declined_card.color) == (RequestState.DECLINED, "red")
    assert failed_card.state is RequestState.FAILED
    # someone else does not see alice's decline as theirs
    [for_carol] = await host.lookup([MATRIX], ApertureUser("carol"))
    assert for_carol.state is RequestState.REQUESTABLE


@pytest.mark.parametrize("flavour", ["jellyseerr", "seerr"])
async def test_blocklisted_and_deleted_follow_the_product(flavour):
    world = await make_world(flavour)
    world.fake.blocklist("movie", 603)
    world.fake.add_media("movie", 155, status=5)
    world.fake.remove_from_library("movie", 155)
    blocked, removed = await world.host.lookup([MATRIX, DARK_KNIGHT], alice())
    assert blocked.state is RequestState.BLOCKLISTED and not blocked.can_request
    assert removed.state is RequestState.REQUESTABLE
    assert "removed" in removed.reason
    with pytest.raises(BlocklistedError):
        await world.host.submit_request(MATRIX, alice())
    await world.host.aclose()


async def test_status_6_on_overseerr_135_is_deleted_not_blocklisted():
    from aperture_overseerr.availability import Viewer, availability_for
    from aperture_overseerr.models import MediaRow, SeerrUser
    from aperture_overseerr.profiles import OVERSEERR_135

    row = MediaRow(1, "movie", 603, 6, 1, None)
    viewer = Viewer(SeerrUser(2, 32, "alice"))
    answer = availability_for(MATRIX, row, viewer, None, OVERSEERR_135, False)
    assert answer.state is RequestState.REQUESTABLE and "removed" in answer.reason


async def test_status_7_means_removed_only_where_the_product_has_it():
    from aperture_overseerr.availability import Viewer, availability_for
    from aperture_overseerr.models import MediaRow, SeerrUser
    from aperture_overseerr.profiles import JELLYSEERR_20, SEERR

    row = MediaRow(1, "movie", 603, 7, 1, None)
    viewer = Viewer(SeerrUser(2, 32, "alice"))
    assert "removed" in availability_for(MATRIX, row, viewer, None, SEERR, False).reason
    assert availability_for(MATRIX, row, viewer, None, JELLYSEERR_20, False).reason is None


async def test_4k_uses_status4k():
    world = await make_world("seerr", default_4k=True)
    world.fake.radarr_4k = True  # a default 4K Radarr exists
    world.fake.add_media("movie", 603, status=5, status4k=1)
    [card] = await world.host.lookup([MATRIX], ApertureUser("carol"))
    assert card.is_4k
    assert card.state is RequestState.NOT_AVAILABLE  # carol may not request 4K
    assert "4K" in card.reason
    [admin_card] = await world.host.lookup([MATRIX], ApertureUser("admin"))
    assert admin_card.state is RequestState.REQUESTABLE and admin_card.can_request
    await world.host.aclose()


async def test_who_cannot_request_sees_why(world):
    fake, host = world.fake, world.host
    guest, stranger, bob_tv = await host.lookup([MATRIX, MATRIX, THRONES], None), None, None
    stranger = (await host.lookup([MATRIX], ApertureUser("stranger")))[0]
    bob_tv = (await host.lookup([THRONES], ApertureUser("bob")))[0]
    assert guest[0].reason == "sign in to request" and not guest[0].can_request
    assert stranger.state is RequestState.NOT_AVAILABLE
    assert stranger.reason == "your account is not linked to the request server"
    assert "map the user by hand" in stranger.admin_reason
    assert bob_tv.reason == "you do not have permission to request series"
    assert "REQUEST or REQUEST_TV" in bob_tv.admin_reason
    await host.submit_request(MATRIX, ApertureUser("dave"))
    world.runtime().forget_user_data(world.ids["dave"])
    dave_movie, dave_tv = await host.lookup([INCEPTION, THRONES], ApertureUser("dave"))
    assert dave_movie.reason == "quota reached: 0 of 1 movie requests left; the window is 7 days"
    assert dave_tv.can_request
    assert fake.call_count("tmdb") == 1  # only the POST /request looked the title up


# -- requests -----------------------------------------------------------------------------------


async def test_requests_act_as_the_mapped_user(world):
    fake, host = world.fake, world.host
    pending = await host.submit_request(MATRIX, alice())
    approved = await host.submit_request(INCEPTION, ApertureUser("carol"))
    assert pending.state is RequestState.PENDING
    assert approved.state is RequestState.APPROVED
    assert fake.requests[int(pending.request_id)].requested_by == world.ids["alice"]
    assert fake.requests[int(approved.request_id)].requested_by == world.ids["carol"]
    posts = [c for c in fake.calls if c.method == "POST" and c.path.endswith("/request")]
    assert [c.user_id for c in posts] == [world.ids["alice"], world.ids["carol"]]


async def test_tv_requests_send_seasons_and_say_when_nothing_is_new(world):
    host = world.host
    first = await host.submit_request(THRONES, alice(), RequestOptions(seasons=(1, 2)))
    assert first.seasons == (1, 2) and not first.already_requested
    again = await host.submit_request(THRONES, alice(), RequestOptions(seasons=(2, 1)))
    assert (again.request_id, again.already_requested) == (first.request_id, True)
    assert again.message == "already requested by you"
    everything = await host.submit_request(THRONES, ApertureUser("carol"), RequestOptions(seasons="all"))
    assert 1 not in everything.seasons and 8 in everything.seasons


async def test_a_duplicate_movie_returns_the_users_own_request_and_refuses_someone_elses(world):
    host = world.host
    first = await host.submit_request(MATRIX, alice())
    again = await host.submit_request(MATRIX, alice())
    assert (again.request_id, again.state, again.already_requested) == (
        first.request_id,
        RequestState.PENDING,
        True,
    )
    assert again.message == "already requested by you"
    with pytest.raises(AlreadyRequestedError, match="already requested by alice") as caught:
        await host.submit_request(MATRIX, ApertureUser("carol"))
    assert (caught.value.requested_by, caught.value.state) == ("alice", RequestState.PENDING)


async def test_refusals_are_the_right_errors(world):
    fake, host = world.fake, world.host
    with pytest.raises(PermissionDeniedError, match="permission to request series"):
        await host.submit_request(THRONES, ApertureUser("bob"))
    await host.submit_request(MATRIX, ApertureUser("dave"))
    with pytest.raises(QuotaExceededError, match="0 of 1 movie requests left; the window is 7 days"):
        await host.submit_request(INCEPTION, ApertureUser("dave"))
    with pytest.raises(QuotaExceededError, match="3 new seasons asked, but only 2 of 2 TV seasons left"):
        await host.submit_request(THRONES, ApertureUser("dave"), RequestOptions(seasons=(1, 2, 3)))
    with pytest.raises(UserNotMappedError):
        await host.submit_request(MATRIX, ApertureUser("stranger"))
    with pytest.raises(UnexpectedResponseError, match="TMDB"):
        await host.submit_request(MediaRef.parse("movie:999999"), alice())
    fake.add_media("movie", 155, status=5)
    posts_before = len([c for c in fake.calls if c.method == "POST"])
    with pytest.raises(AlreadyRequestedError, match="already in the library"):
        await host.submit_request(DARK_KNIGHT, alice())
    assert len([c for c in fake.calls if c.method == "POST"]) == posts_before


async def test_server_side_quota_refusal_carries_the_numbers(world):
    """The server refuses (403 "Movie Quota exceeded.") even when our cached quota said 1 left."""
    fake, host = world.fake, world.host
    await host.lookup([MATRIX], ApertureUser("dave"))  # caches dave's quota: 1 of 1 left
    dave = fake.users[world.ids["dave"]]
    fake.create_request(dave, {"mediaType": "movie", "mediaId": 155, "is4k": False})  # elsewhere
    with pytest.raises(QuotaExceededError, match="Movie Quota exceeded") as caught:
        await host.submit_request(INTERSTELLAR, ApertureUser("dave"))
    assert "0 of 1 movie requests left; the window is 7 days" in str(caught.value)


async def test_csrf_breaks_requests_with_a_clear_error(world):
    world.fake.csrf_protection = True
    with pytest.raises(Exception, match="CSRF protection") as caught:
        await world.host.submit_request(MATRIX, alice())
    assert any("Turn off CSRF Protection" in hint for hint in caught.value.hints)


class CommitThenTimeout(httpx.AsyncBaseTransport):
    """Lets the fake commit the first POST /request, then loses the answer (a read timeout)."""

    def __init__(self, fake: FakeSeerr) -> None:
        self.fake = fake
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        response = self.fake.handle(request)
        if request.method == "POST" and request.url.path.endswith("/request") and self.lost == 0:
            self.lost += 1
            raise httpx.ReadTimeout("read timed out", request=request)
        return response


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_timeout_after_commit_never_files_twice(flavour):
    world = await make_world(flavour)
    world.provider.transport = CommitThenTimeout(world.fake)
    world.host.set_settings("jellyseerr", {"url": BASE, "api_key": world.fake.api_key})
    result = await world.host.submit_request(MATRIX, alice())
    assert result.state is RequestState.PENDING
    assert "answer was lost" in result.message
    assert len([r for r in world.fake.requests.values() if r.requested_by == world.ids["alice"]]) == 1
    await world.host.aclose()


# -- polling ------------------------------------------------------------------------------------


def tracked(result, user: ApertureUser, item: MediaRef) -> TrackedRequest:
    return TrackedRequest(
        result.request_id, item, user, result.state, is_4k=result.is_4k, seasons=result.seasons
    )


async def test_polling_emits_each_transition_at_a_bounded_cost(world):
    fake, host = world.fake, world.host
    movie = await host.submit_request(MATRIX, alice())
    show = await host.submit_request(THRONES, alice(), RequestOptions(seasons=(1,)))
    gone = await host.submit_request(INCEPTION, alice())
    watching = [
        tracked(movie, alice(), MATRIX),
        tracked(show, alice(), THRONES),
        tracked(gone, alice(), INCEPTION),
    ]
    first = await host.poll(watching)
    assert first.changes == ()
    # nothing changed: one quiet index check (four cheap database-only calls until the server has
    # shown that it moves updatedAt, two after), whatever the number of tracked requests
    before = len(fake.calls)
    second = await host.poll(first.tracked)
    assert second.changes == ()
    assert {c.path for c in fake.calls[before:]} == {"/media", "/request/count"}
    assert len(fake.calls) - before == 4
    # the three POSTs and the show's TMDB seasons (it has no season rows to prove season 1)
    assert fake.call_count("tmdb") == 4
    world.runtime().index.progress_every = 0

    fake.approve(int(movie.request_id))
    fake.decline(int(show.request_id))
    fake.delete_request(int(gone.request_id))
    third = await host.poll(second.tracked)
    assert {(c.request.request_id, c.previous, c.current) for c in third.changes} == {
        (movie.request_id, RequestState.PENDING, RequestState.APPROVED),
        (show.request_id, RequestState.PENDING, RequestState.DECLINED),
        (gone.request_id, RequestState.PENDING, RequestState.NOT_AVAILABLE),
    }
    fake.set_download(int(movie.request_id), fraction=0.5)
    fourth = await host.poll(third.tracked)
    [change] = fourth.changes
    assert (change.current, change.progress.fraction) == (
        RequestState.PROCESSING,
        pytest.approx(0.5, abs=0.01),
    )
    fake.restart()  # download status wiped: no step back to approved
    fifth = await host.poll(fourth.tracked)
    assert fifth.changes == ()
    fake.mark_available(int(movie.request_id))
    sixth = await host.poll(fifth.tracked)
    assert [(c.previous, c.current) for c in sixth.changes] == [
        (RequestState.PROCESSING, RequestState.AVAILABLE)
    ]
    assert await host.poll(sixth.tracked) == type(sixth)(sixth.tracked, ())


async def test_a_4k_download_of_a_title_already_in_the_library_shows_its_progress(world):
    fake, host = world.fake, world.host
    fake.radarr_4k = True
    fake.add_media("movie", 603, status=5)  # the regular version is in the library
    admin = ApertureUser("admin")  # auto-approved: sent to the 4K Radarr at once
    result = await host.submit_request(MATRIX, admin, RequestOptions(is_4k=True))
    assert result.state is RequestState.APPROVED
    world.runtime().index.progress_every = 0
    fake.add_media("movie", 27205, status=5)  # a newer row: the incremental read stops above ours
    first = await host.poll([tracked(result, admin, MATRIX)])
    fake.set_download(int(result.request_id), fraction=0.3)
    # /media?filter=processing lists rows whose *regular* status is processing: not this one
    before = len(fake.calls)
    second = await host.poll(first.tracked)
    [change] = second.changes
    assert change.current is RequestState.PROCESSING
    assert change.progress.fraction == pytest.approx(0.3, abs=0.01)
    assert [c.path for c in fake.calls[before:]].count(f"/request/{result.request_id}") == 1
    fake.set_download(int(result.request_id), fraction=0.8)
    third = await host.poll(second.tracked)
    assert third.changes == ()  # progress alone is not a transition; the tracked request has it
    assert third.tracked[0].progress.fraction == pytest.approx(0.8, abs=0.01)
    [card] = await host.lookup([MATRIX], admin)  # the regular version: in the library
    assert card.state is RequestState.AVAILABLE
    world.runtime().default_4k = True  # as with the provider's default_4k setting
    [card] = await host.lookup([MATRIX], admin)
    assert card.state is RequestState.PROCESSING
    assert card.progress.fraction == pytest.approx(0.8, abs=0.01)


# -- user mapping -------------------------------------------------------------------------------


async def test_map_users_explains_each_user(world):
    mappings = await world.host.map_users(
        [alice(), ApertureUser("bob"), ApertureUser("dave"), ApertureUser("stranger")]
    )
    by_name = {m.user.name: m for m in mappings}
    assert by_name["alice"].account_id == str(world.ids["alice"]) and by_name["alice"].method == "username"
    assert by_name["bob"].may_request_movie and not by_name["bob"].may_request_tv
    assert by_name["dave"].quota.startswith("1 of 1 movie requests left")
    assert not by_name["stranger"].mapped and "map the user by hand" in by_name["stranger"].problems[0]


async def test_map_and_unmap_by_hand(world):
    host = world.host
    mapping = await admin.map_user(host, ApertureUser("stranger"), "carol")
    assert (mapping.account_id, mapping.method) == (str(world.ids["carol"]), "manual")
    [card] = await host.lookup([MATRIX], ApertureUser("stranger"))
    assert card.can_request
    with pytest.raises(UserNotMappedError, match="not a user on the server"):
        await admin.map_user(host, ApertureUser("other"), "nobody-here")
    assert admin.unmap_user(host, "stranger") is True
    assert admin.unmap_user(host, "stranger") is False


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_every_request_the_provider_sends_matches_the_openapi_file(flavour):
    """The provider's whole flow through a transport that validates each exchange against the
    flavour's OpenAPI file (allowing exactly the documented gaps of notes §13)."""
    from .openapi_validation import ValidatingTransport, spec_path

    spec_path(flavour)  # skips with a reason when ../shared/reference is missing
    world = await make_world(flavour)
    validating = ValidatingTransport(world.fake, allow_undocumented_errors=True)
    world.provider.transport = validating
    world.host.set_settings("jellyseerr", {"url": BASE, "api_key": world.fake.api_key})
    host, fake = world.host, world.fake
    assert (await host.test_connection()).ok
    fake.add_media("tv", 1396, status=4, season_statuses={1: 5, 2: 1})
    await host.lookup([MATRIX, BREAKING_BAD, THRONES], alice())
    movie = await host.submit_request(MATRIX, alice())
    show = await host.submit_request(THRONES, alice(), RequestOptions(seasons=(1, 2)))
    with pytest.raises(AlreadyRequestedError):  # 409, then /movie/{id} says whose request it is
        await host.submit_request(MATRIX, ApertureUser("carol"))
    world.runtime().index.progress_every = 0
    watching = [tracked(movie, alice(), MATRIX), tracked(show, alice(), THRONES)]
    polled = await host.poll(watching)
    fake.approve(int(movie.request_id))
    fake.set_download(int(movie.request_id), fraction=0.3)
    polled = await host.poll(polled.tracked)
    await host.map_users([alice(), ApertureUser("bob")])
    assert validating.exchanges > 15
    validating.assert_clean()
    await host.aclose()


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_many_unfinished_requests_are_read_from_the_list_not_one_by_one(flavour):
    world = await make_world(flavour)
    fake, host = world.fake, world.host
    watching = []
    for number in range(15):
        fake.add_title("movie", 5000 + number, f"Film {number}")
        item = MediaRef.parse(f"movie:{5000 + number}")
        watching.append(
            tracked(await host.submit_request(item, ApertureUser("carol")), ApertureUser("carol"), item)
        )
    fake.delete_request(int(watching[0].request_id))
    before = len(fake.calls)
    result = await host.poll(watching)  # first cycle: every request is checked
    calls = fake.calls[before:]
    singles = [c.path for c in calls if c.path.startswith("/request/") and c.path != "/request/count"]
    assert singles == [f"/request/{watching[0].request_id}"]  # only the one missing from the lists
    # the newest requests, then the open ones: filter=unavailable and filter=failed
    assert len([c for c in calls if c.path == "/request"]) == 3
    assert [(c.request.request_id, c.current) for c in result.changes] == [
        (watching[0].request_id, RequestState.NOT_AVAILABLE)
    ]
    await host.aclose()


async def test_after_the_first_cycle_changes_among_many_requests_cost_the_lists_not_one_call_each():
    """On Seerr 3.1 ``updatedAt`` never moves (trap 16): the counts tell that something moved, the
    open lists which requests, and only those that left the lists are read one by one."""
    world = await make_world("seerr")
    fake, host = world.fake, world.host
    watching = []
    carol = fake.users[world.ids["carol"]]
    for number in range(130):  # more than one page of the request list
        fake.add_title("movie", 6000 + number, f"Film {number}")
        created = fake.create_request(carol, {"mediaType": "movie", "mediaId": 6000 + number, "is4k": False})
        item = MediaRef.parse(f"movie:{6000 + number}")
        watching.append(TrackedRequest(str(created.id), item, ApertureUser("carol"), RequestState.APPROVED))
    first = await host.poll(watching)
    fake.advance(timedelta(seconds=5))
    fake.fail(int(watching[3].request_id))
    fake.decline(int(watching[7].request_id))
    before = len(fake.calls)
    second = await host.poll(first.tracked)
    paths = Counter(c.path for c in fake.calls[before:])
    # an index check (counts, new rows, the pending and processing sets), the newest requests,
    # the open ones (filter=unavailable: two pages of 100; filter=failed), and the declined one,
    # which left both lists, by id
    assert paths == {"/media": 3, "/request/count": 1, "/request": 4, f"/request/{watching[7].request_id}": 1}
    assert {(c.request.request_id, c.current) for c in second.changes} == {
        (watching[3].request_id, RequestState.FAILED),
        (watching[7].request_id, RequestState.DECLINED),
    }
    fake.delete_request(int(watching[9].request_id))  # the total falls: a full check finds it
    third = await host.poll(second.tracked)
    assert [(c.request.request_id, c.current) for c in third.changes] == [
        (watching[9].request_id, RequestState.NOT_AVAILABLE)
    ]
    await host.aclose()


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_quota_is_read_only_when_one_can_apply(flavour):
    world = await make_world(flavour)
    fake, host = world.fake, world.host
    await host.lookup([MATRIX], alice())  # no quota of her own, no defaults: not read
    assert fake.call_count(path_prefix=f"/user/{world.ids['alice']}/quota") == 0
    await host.lookup([MATRIX], ApertureUser("dave"))  # a quota of his own: read
    assert fake.call_count(path_prefix=f"/user/{world.ids['dave']}/quota") == 1
    await host.aclose()


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_default_quotas_apply_to_users_without_their_own(flavour):
    world = await make_world(flavour)
    fake, host = world.fake, world.host
    fake.default_quotas = {"movie": {"quotaLimit": 1, "quotaDays": 7}, "tv": {}}
    await host.submit_request(MATRIX, alice())
    world.runtime().forget_user_data(world.ids["alice"])
    [card] = await host.lookup([INCEPTION], alice())
    assert card.reason == "quota reached: 0 of 1 movie requests left; the window is 7 days"
    await host.aclose()


async def test_settings_without_default_quotas_mean_every_quota_is_read():
    world = await make_world("seerr")
    fake, host = world.fake, world.host
    fake.fail_next(5, status=200, path_prefix="/settings/main", body={"applicationTitle": "Seerr"})
    await host.lookup([MATRIX], alice())
    assert fake.call_count(path_prefix=f"/user/{world.ids['alice']}/quota") == 1
    await host.aclose()


async def test_own_requests_are_read_only_for_users_who_have_some():
    world = await make_world("jellyseerr")
    fake, host = world.fake, world.host
    requests_of = f"/user/{world.ids['alice']}/requests"
    await host.lookup([MATRIX], alice())  # requestCount 0 in the user list: nothing to read
    assert fake.call_count(path_prefix=requests_of) == 0
    result = await host.submit_request(MATRIX, alice())
    fake.decline(int(result.request_id))
    world.runtime().index_is_stale()
    [card] = await host.lookup([MATRIX], alice())  # filed through us: read from now on
    assert card.state is RequestState.DECLINED
    assert fake.call_count(path_prefix=requests_of) >= 1
    bob = world.ids["bob"]
    fake.create_request(fake.users[bob], {"mediaType": "movie", "mediaId": 27205, "is4k": False})
    world.runtime().users.expire()  # the list is reloaded (TTL): bob's requestCount is 1 now
    await host.lookup([INCEPTION], ApertureUser("bob"))
    assert fake.call_count(path_prefix=f"/user/{bob}/requests") == 1
    await host.aclose()


async def test_4k_is_not_offered_without_a_4k_library():
    world = await make_world("seerr", default_4k=True)  # the fake has no 4K Radarr/Sonarr
    [card] = await world.host.lookup([MATRIX], ApertureUser("admin"))
    assert card.state is RequestState.NOT_AVAILABLE
    assert card.reason == "this server has no 4K movie library"
    assert "add a default 4K Radarr" in card.admin_reason
    with pytest.raises(PermissionDeniedError, match="no 4K movie library"):
        await world.host.submit_request(MATRIX, ApertureUser("admin"))
    regular = await world.host.submit_request(MATRIX, ApertureUser("admin"), RequestOptions(is_4k=False))
    assert regular.is_4k is False
    await world.host.aclose()
