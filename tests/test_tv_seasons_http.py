"""TV seasons end to end over real HTTP against the fake server, in its three flavours: what a
card offers for a partially available show while other users' requests move, and the seasons a
request may ask for (refused before anything is sent when the show does not have them). Also
the releases whose seasons behave differently: Overseerr ≥ 1.35 (a season removed from the
library is status 6, DELETED) and Jellyseerr/Seerr with ``enableSpecialEpisodes`` on (season 0
may be requested)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from aperture_hookspecs import (
    ApertureUser,
    MediaRef,
    ProviderInfo,
    QuotaExceededError,
    RequestOptions,
    RequestRefusedError,
    RequestState,
)
from aperture_overseerr import SEERR_CAPABILITIES, SeerrProvider
from aperture_overseerr.testing import FakeSeerr
from aperture_plugins import MemorySettings, PluginHost
from aperture_plugins.cli import main

from .conftest import CANARY

FLAVOURS = ("overseerr", "jellyseerr", "seerr")
THRONES = MediaRef.parse("tv:1399")
ALICE, ERIN = ApertureUser("alice"), ApertureUser("erin")


@dataclass
class Served:
    fake: FakeSeerr
    host: PluginHost

    def runtime(self):
        return self.host._context(self.host.active_provider()).runtime.get("seerr")

    async def card(self, user: ApertureUser = ERIN):
        if self.runtime() is not None:  # as after one index check: the server changed behind us
            self.runtime().index_is_stale()
        [answer] = await self.host.lookup([THRONES], user)
        return answer

    def posts(self) -> int:
        return len([c for c in self.fake.calls if c.method == "POST" and c.path == "/request"])


def make_fake(flavour: str, version: str | None = None) -> FakeSeerr:
    fake = FakeSeerr(flavour, api_key=CANARY, version=version)  # type: ignore[arg-type]
    jelly = flavour != "overseerr"
    for name in ("alice", "erin"):
        fake.add_user(name, jellyfin_username=name if jelly else None)
    fake.add_title("tv", 1399, "Game of Thrones", seasons=8)
    fake.add_title("tv", 1396, "Breaking Bad", seasons=5, specials=True)
    return fake


@asynccontextmanager
async def serving(fake: FakeSeerr) -> AsyncIterator[Served]:
    """The fake over real HTTP, and a host whose active provider is configured for it."""
    with fake.serve() as url:
        provider = SeerrProvider(
            ProviderInfo(
                name="jellyseerr", title="Jellyseerr", version="test", capabilities=SEERR_CAPABILITIES
            )
        )
        host = PluginHost(load_entry_points=False, settings=MemorySettings()).load()
        host.register(provider, "jellyseerr")
        host.use("jellyseerr")
        # progress read at every lookup: the test need not wait the default minute
        host.set_settings("jellyseerr", {"url": url, "api_key": fake.api_key, "progress_interval": 0})
        try:
            yield Served(fake, host)
        finally:
            await host.aclose()


@pytest.fixture(params=FLAVOURS)
async def served(request) -> AsyncIterator[Served]:
    async with serving(make_fake(request.param)) as served:
        yield served


def partly_in_library(fake: FakeSeerr) -> None:
    """Seasons 1–2 in the library, 3–8 known to the scan but not there (as a library scan leaves it)."""
    fake.add_media("tv", 1399, status=4, season_statuses={1: 5, 2: 5, **{n: 1 for n in range(3, 9)}})


# -- the card --------------------------------------------------------------------------------------


async def test_a_season_requested_by_another_user_is_not_offered_again(served):
    fake, host = served.fake, served.host
    partly_in_library(fake)
    await host.submit_request(THRONES, ALICE, RequestOptions(seasons=(3,)))  # pending: no auto-approve
    card = await served.card(ERIN)
    assert card.state is RequestState.PARTIALLY_AVAILABLE and card.can_request
    assert card.requestable_seasons == (4, 5, 6, 7, 8)
    assert "season 3 requested, awaiting approval" in card.reason
    # what the card offers, the server takes: a request, not "nothing new"
    result = await host.submit_request(THRONES, ERIN, RequestOptions(seasons=card.requestable_seasons))
    assert result.seasons == (4, 5, 6, 7, 8) and result.state is RequestState.PENDING
    after = await served.card(ALICE)
    assert after.state is RequestState.PENDING and not after.can_request
    assert after.requestable_seasons == ()
    assert fake.call_count("tmdb", "/tv") == 0  # the lookups read the index only


async def test_a_new_season_downloading_shows_processing_with_its_progress(served):
    fake, host = served.fake, served.host
    partly_in_library(fake)
    fake.add_media("tv", 1399, status=4, season_statuses={n: 5 for n in range(1, 8)})
    result = await host.submit_request(THRONES, ALICE, RequestOptions(seasons=(8,)))
    fake.approve(int(result.request_id))
    approved = await served.card()
    assert approved.state is RequestState.APPROVED
    assert approved.reason == "seasons 1–7 in the library; season 8 approved, not downloading yet"
    fake.set_download(int(result.request_id), fraction=0.4)
    card = await served.card()
    assert card.state is RequestState.PROCESSING
    assert card.progress is not None and card.progress.fraction == pytest.approx(0.4, abs=0.01)
    assert "season 8 downloading" in card.reason
    fake.mark_available(int(result.request_id))
    assert (await served.card()).state is RequestState.AVAILABLE


async def test_a_season_removed_from_the_library_may_be_requested_again(served):
    """Seerr and Jellyseerr 2.7 mark it DELETED (7); Overseerr 1.34's sync sets it back to 1."""
    fake, host = served.fake, served.host
    removed = 1 if fake.flavour == "overseerr" else 7
    statuses = {1: 5, 2: 5, 3: removed, **{n: 1 for n in range(4, 9)}}
    fake.add_media("tv", 1399, status=4, season_statuses=statuses)
    await host.submit_request(THRONES, ALICE, RequestOptions(seasons=(4,)))
    card = await served.card()
    assert card.state is RequestState.PARTIALLY_AVAILABLE and card.can_request
    assert card.requestable_seasons == (3, 5, 6, 7, 8)
    result = await host.submit_request(THRONES, ERIN, RequestOptions(seasons=(3,)))
    assert result.seasons == (3,) and result.state is RequestState.PENDING


# -- the seasons a request may ask for -------------------------------------------------------------


async def test_seasons_the_show_does_not_have_are_refused_before_anything_is_sent(served):
    fake, host = served.fake, served.host
    for asked in ((99,), (8, 9)):
        with pytest.raises(RequestRefusedError) as refused:
            await host.submit_request(THRONES, ALICE, RequestOptions(seasons=asked))
        assert refused.value.code == "request_refused"
        assert "the show has seasons 1–8" in refused.value.message
        assert f"has no season {asked[-1]}" in refused.value.message
    with pytest.raises(RequestRefusedError, match="the show has seasons 1–8"):
        await host.submit_request(THRONES, ALICE, RequestOptions(seasons=(0,)))
    assert served.posts() == 0
    assert fake.requests == {}


async def test_season_0_is_sent_only_where_the_server_takes_specials(served):
    fake, host = served.fake, served.host
    breaking_bad = MediaRef.parse("tv:1396")  # TMDB lists specials for it
    if fake.flavour == "overseerr":  # no specials setting: Overseerr files season 0 when asked
        result = await host.submit_request(breaking_bad, ALICE, RequestOptions(seasons=(0, 1)))
        assert result.seasons == (0, 1)
    else:  # enableSpecialEpisodes is off: the server would drop season 0 and answer "nothing new"
        with pytest.raises(
            RequestRefusedError, match=r"season 0 \(specials\) cannot be requested"
        ) as refused:
            await host.submit_request(breaking_bad, ALICE, RequestOptions(seasons=(0,)))
        assert "the show has seasons 1–5" in refused.value.message
        assert served.posts() == 0


async def test_the_show_is_read_only_when_its_rows_do_not_prove_the_seasons(served):
    fake, host = served.fake, served.host
    await host.submit_request(THRONES, ALICE, RequestOptions(seasons=(1,)))
    assert fake.call_count("tmdb", "/tv/1399") == 1  # no season rows yet: TMDB says
    partly_in_library(fake)
    served.runtime().index_is_stale()
    await host.submit_request(THRONES, ERIN, RequestOptions(seasons=(4, 5)))
    await host.submit_request(THRONES, ERIN, RequestOptions(seasons="all"))
    assert fake.call_count("tmdb", "/tv/1399") == 1  # the scan's rows prove 4 and 5; "all" needs nothing


# -- the CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def cli_server(tmp_path: Path) -> Iterator[tuple[FakeSeerr, str, Path]]:
    fake = make_fake("seerr")
    key_file = tmp_path / "api.key"
    key_file.write_text(CANARY + "\n")
    with fake.serve() as url:
        yield fake, url, key_file


def test_the_cli_refuses_a_season_the_show_does_not_have(cli_server, capsys):
    fake, url, key_file = cli_server
    assert main(["configure", "jellyseerr", "--url", url, "--api-key-file", str(key_file), "--json"]) == 0
    assert main(["use", "jellyseerr"]) == 0
    capsys.readouterr()
    code = main(["request", "tv:1399", "--user", "alice", "--seasons", "99", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 6
    assert document["error"] == "request_refused"
    assert document["message"] == "tv:1399 (Game of Thrones) has no season 99; the show has seasons 1–8"
    assert [c for c in fake.calls if c.method == "POST"] == []


# -- Overseerr 1.35: a season removed from the library is status 6 ---------------------------------


async def test_on_overseerr_135_a_season_removed_from_the_library_is_offered_again():
    """Overseerr ≥ 1.35 marks a season that left the library DELETED, which is 6 there (7 on
    Jellyseerr and Seerr, where 6 is the blocklist): the card offers it, the server takes it."""
    fake = make_fake("overseerr", version="1.35.0")
    partly_in_library(fake)
    fake.remove_from_library("tv", 1399, seasons=[2])
    assert fake.find_media("tv", 1399).season(2).status == 6  # type: ignore[union-attr]
    async with serving(fake) as served:
        card = await served.card(ERIN)
        assert card.state is RequestState.PARTIALLY_AVAILABLE and card.can_request
        assert card.requestable_seasons == (2, 3, 4, 5, 6, 7, 8)
        assert card.reason == "season 1 in the library; season 2 removed from the library"
        result = await served.host.submit_request(THRONES, ERIN, RequestOptions(seasons=(2,)))
        assert result.seasons == (2,) and result.state is RequestState.PENDING
        [request] = fake.requests.values()
        assert request.season_numbers() == [2] and request.requested_by == fake_user(fake, "erin")
        after = await served.card(ALICE)
        assert after.requestable_seasons == (3, 4, 5, 6, 7, 8)
        assert "season 2 requested, awaiting approval" in after.reason


async def test_on_overseerr_135_a_show_removed_from_the_library_may_be_requested_again():
    fake = make_fake("overseerr", version="1.35.0")
    fake.add_media("tv", 1399, status=5, season_statuses={n: 5 for n in range(1, 9)})
    fake.remove_from_library("tv", 1399)
    media = fake.find_media("tv", 1399)
    assert media is not None and media.status == 6 and {s.status for s in media.seasons} == {6}
    async with serving(fake) as served:
        card = await served.card(ERIN)
        assert card.state is RequestState.REQUESTABLE and card.can_request
        assert card.reason == "it was in the library before and has been removed"
        assert card.requestable_seasons == ()  # listed for partially available shows only
        result = await served.host.submit_request(THRONES, ERIN, RequestOptions(seasons=(1, 2)))
        assert result.seasons == (1, 2) and result.state is RequestState.PENDING
        assert media.status == 2  # DELETED → PENDING, as for UNKNOWN


def fake_user(fake: FakeSeerr, name: str) -> int:
    return next(user.id for user in fake.users.values() if user.username == name)


# -- specials: season 0 where the server enables special episodes ----------------------------------

BREAKING_BAD = MediaRef.parse("tv:1396")  # TMDB lists a season 0 for it


def specials_scanned(fake: FakeSeerr) -> None:
    """Seasons 1–2 in the library; the scan also wrote rows for the specials and seasons 3–5."""
    fake.add_media("tv", 1396, status=4, season_statuses={0: 1, 1: 5, 2: 5, 3: 1, 4: 1, 5: 1})


@pytest.mark.parametrize(
    ("flavour", "version"), [("jellyseerr", None), ("seerr", None), ("jellyseerr", "2.5.2")]
)
async def test_with_specials_on_season_0_is_offered_and_taken(flavour: str, version: str | None):
    fake = make_fake(flavour, version)
    fake.enable_special_episodes = True
    specials_scanned(fake)
    async with serving(fake) as served:
        [card] = await served.host.lookup([BREAKING_BAD], ERIN)
        assert card.state is RequestState.PARTIALLY_AVAILABLE and card.can_request
        assert card.requestable_seasons == (0, 3, 4, 5)
        result = await served.host.submit_request(BREAKING_BAD, ERIN, RequestOptions(seasons=(0,)))
        assert result.seasons == (0,) and result.state is RequestState.PENDING
        assert [r.season_numbers() for r in fake.requests.values()] == [[0]]
        assert fake.call_count("tmdb", "/tv/1396") == 0  # the scan's rows prove season 0
        served.runtime().index_is_stale()
        [after] = await served.host.lookup([BREAKING_BAD], ALICE)
        assert after.requestable_seasons == (3, 4, 5)


@pytest.mark.parametrize("flavour", ["jellyseerr", "seerr"])
async def test_with_specials_on_season_0_is_taken_for_a_show_without_rows(flavour: str):
    fake = make_fake(flavour)
    fake.enable_special_episodes = True
    async with serving(fake) as served:
        result = await served.host.submit_request(BREAKING_BAD, ALICE, RequestOptions(seasons=(0, 1)))
        assert result.seasons == (0, 1)
        assert fake.call_count("tmdb", "/tv/1396") == 1  # no rows: TMDB says the show has a season 0


@pytest.mark.parametrize("flavour", ["jellyseerr", "seerr"])
async def test_with_specials_off_season_0_is_neither_offered_nor_sent(flavour: str):
    fake = make_fake(flavour)
    specials_scanned(fake)  # a season 0 row exists, but the server drops season 0 from requests
    async with serving(fake) as served:
        [card] = await served.host.lookup([BREAKING_BAD], ERIN)
        assert card.requestable_seasons == (3, 4, 5)
        with pytest.raises(
            RequestRefusedError, match=r"season 0 \(specials\) cannot be requested"
        ) as refused:
            await served.host.submit_request(BREAKING_BAD, ERIN, RequestOptions(seasons=(0,)))
        assert "the show has seasons 1–5" in refused.value.message
        assert any("special episodes" in hint for hint in refused.value.hints)
        assert served.posts() == 0 and fake.requests == {}


@pytest.mark.parametrize("flavour", ["jellyseerr", "seerr"])
async def test_a_running_host_follows_specials_switched_on_later(flavour: str):
    """The server's public settings are read again in the background every ten minutes: a host
    alive for days sees the admin switch special episodes on."""
    fake = make_fake(flavour)
    specials_scanned(fake)
    async with serving(fake) as served:
        [card] = await served.host.lookup([BREAKING_BAD], ERIN)
        assert card.requestable_seasons == (3, 4, 5)
        fake.enable_special_episodes = True
        runtime = served.runtime()
        now = [runtime._clock()]
        runtime._clock = lambda: now[0]
        served.runtime().index_is_stale()
        [card] = await served.host.lookup([BREAKING_BAD], ERIN)
        assert card.requestable_seasons == (3, 4, 5)  # within ten minutes: as detected
        now[0] += runtime.identity_max_age
        served.runtime().index_is_stale()
        [card] = await served.host.lookup([BREAKING_BAD], ERIN)  # answers with what it had...
        assert card.requestable_seasons == (3, 4, 5)
        if runtime._reidentifying is not None:  # ...while the settings are read again
            await runtime._reidentifying
        served.runtime().index_is_stale()
        [card] = await served.host.lookup([BREAKING_BAD], ERIN)
        assert card.requestable_seasons == (0, 3, 4, 5)
        result = await served.host.submit_request(BREAKING_BAD, ERIN, RequestOptions(seasons=(0,)))
        assert result.seasons == (0,)


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_seasons_in_the_library_or_requested_do_not_count_against_the_tv_quota(flavour: str):
    """The server counts only the seasons it files (notes §8): a user with one TV season left
    may ask for seasons 1–3 of a show whose season 1 is in the library and season 2 requested."""
    fake = make_fake(flavour)
    frank = fake.add_user("frank", jellyfin_username="frank" if flavour != "overseerr" else None)
    fake.users[frank].tv_quota_limit, fake.users[frank].tv_quota_days = 1, 7
    fake.add_media("tv", 1399, status=4, season_statuses={1: 5, 2: 1, 3: 1})
    fake.create_request(
        fake.users[fake_user(fake, "alice")],
        {"mediaType": "tv", "mediaId": 1399, "is4k": False, "seasons": [2]},
    )
    async with serving(fake) as served:
        result = await served.host.submit_request(
            THRONES, ApertureUser("frank"), RequestOptions(seasons=(1, 2, 3))
        )
        assert result.state is RequestState.PENDING and not result.already_requested
        assert [r.season_numbers() for r in fake.requests.values() if r.requested_by == frank] == [[3]]
        with pytest.raises(QuotaExceededError, match="quota reached: 0 of 1 TV seasons left"):
            await served.host.submit_request(THRONES, ApertureUser("frank"), RequestOptions(seasons=(4, 5)))
