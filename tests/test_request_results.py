"""Honest request results, over real HTTP against the fake server in its three flavours.

* A duplicate is the user's *own* request (returned with ``already_requested``, tracked) or
  *someone else's* (``AlreadyRequestedError`` naming them, with the title's state; never
  tracked as the user's), and movies (409) and TV (202) answer alike.
* CSRF protection is ``csrf_enabled`` on the request that runs into it, whatever the body.
* Messages name the detected product, or none ("the request server"), never a guess.
* A submit whose answer is lost (slow TMDB, a dropped answer, a gateway's 504) is looked for with
  backoff before it is sent again; found, it is returned and tracked.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from aperture_hookspecs import (
    AlreadyRequestedError,
    ApertureUser,
    CSRFProtectionError,
    InvalidAPIKeyError,
    MediaRef,
    ProviderInfo,
    ProviderTimeoutError,
    RequestOptions,
    RequestState,
    ServerMisconfiguredError,
    TrackedRequest,
)
from aperture_overseerr import SEERR_CAPABILITIES, SeerrProvider
from aperture_overseerr.client import SeerrClient
from aperture_overseerr.lost_answers import LOST_MESSAGE
from aperture_overseerr.testing import FakeSeerr
from aperture_plugins import PluginHost
from aperture_plugins.cli import main

from .conftest import CANARY

FLAVOURS = ("overseerr", "jellyseerr", "seerr")
PRODUCT = {"overseerr": "Overseerr", "jellyseerr": "Jellyseerr", "seerr": "Seerr"}
FIGHT_CLUB, MATRIX, THRONES = (MediaRef.parse(text) for text in ("movie:550", "movie:603", "tv:1399"))
ALICE, SAM = ApertureUser("alice"), ApertureUser("sam")
ALL = RequestOptions(seasons="all")


def make_fake(flavour: str, **options: float) -> FakeSeerr:
    fake = FakeSeerr(flavour, api_key=CANARY, **options)
    jelly = flavour != "overseerr"
    for name in ("alice", "sam"):
        fake.add_user(name, jellyfin_username=name if jelly else None)
    fake.add_title("movie", 550, "Fight Club")
    fake.add_title("movie", 603, "The Matrix")
    fake.add_title("tv", 1399, "Game of Thrones", seasons=8)
    return fake


@dataclass
class Served:
    """A fake served over HTTP and a host (real SQLite store) whose provider talks to it."""

    fake: FakeSeerr
    host: PluginHost
    url: str

    def runtime(self):
        return self.host._context(self.host.active_provider()).runtime["seerr"]

    async def ready(self, **runtime_values: object) -> None:
        """One lookup (the provider's runtime exists, the index is read), then set runtime values."""
        await self.host.lookup([MATRIX], ALICE)
        for name, value in runtime_values.items():
            setattr(self.runtime(), name, value)

    def tracked(self, user: ApertureUser) -> list[TrackedRequest]:
        return [request for _, request in self.host.settings.tracked(None, user.name)]

    def requests_of(self, user: ApertureUser) -> list[int]:
        user_id = next(u.id for u in self.fake.users.values() if u.username == user.name)
        return sorted(r.id for r in self.fake.requests.values() if r.requested_by == user_id)

    def posts(self) -> int:
        """POST /request calls the server answered."""
        return len([c for c in self.fake.calls if c.method == "POST" and c.path == "/request"])


@asynccontextmanager
async def serving(
    fake: FakeSeerr,
    data_dir: Path,
    *,
    transport: Callable[[str], httpx.AsyncBaseTransport] | None = None,
    **settings: object,
) -> AsyncIterator[Served]:
    with fake.serve() as url:
        provider = SeerrProvider(
            ProviderInfo(
                name="jellyseerr", title="Jellyseerr", version="test", capabilities=SEERR_CAPABILITIES
            ),
            transport=transport(url) if transport else None,
        )
        host = PluginHost(data_dir, load_entry_points=False).load()
        host.register(provider, "jellyseerr")
        host.use("jellyseerr")
        host.set_settings("jellyseerr", {"url": url, "api_key": fake.api_key, **settings})
        try:
            yield Served(fake, host, url)
        finally:
            await host.aclose()


@pytest.fixture(params=FLAVOURS)
async def served(request, data_dir: Path) -> AsyncIterator[Served]:
    async with serving(make_fake(request.param), data_dir) as built:
        yield built


# -- duplicates: the user's own request, or someone else's -------------------------------------------

MOVIE_AND_TV = pytest.mark.parametrize(
    ("item", "options"), [(FIGHT_CLUB, RequestOptions()), (THRONES, ALL)], ids=["movie", "tv"]
)


@MOVIE_AND_TV
async def test_a_title_someone_else_requested_is_theirs_with_its_state_and_not_tracked(served, item, options):
    host = served.host
    alices = await host.submit_request(item, ALICE, options)
    with pytest.raises(AlreadyRequestedError) as caught:
        await host.submit_request(item, SAM, options)
    error = caught.value
    assert (error.code, error.requested_by, error.state) == (
        "already_requested",
        "alice",
        RequestState.PENDING,
    )
    assert f"{item} was already requested by alice (Pending)" in error.message
    assert error.to_dict()["requested_by"] == "alice" and error.to_dict()["state"] == "pending"
    assert served.tracked(SAM) == []  # never tracked as sam's
    assert [t.request_id for t in served.tracked(ALICE)] == [alices.request_id]
    assert served.requests_of(SAM) == []
    # once approved, sam is told the state it is in now
    served.fake.approve(int(alices.request_id))
    with pytest.raises(AlreadyRequestedError) as again:
        await host.submit_request(item, SAM, options)
    assert (again.value.requested_by, again.value.state) == ("alice", RequestState.APPROVED)


@MOVIE_AND_TV
async def test_the_users_own_earlier_request_is_returned_and_tracked(served, item, options):
    host = served.host
    first = await host.submit_request(item, ALICE, options)
    again = await host.submit_request(item, ALICE, options)
    assert (again.request_id, again.state, again.already_requested) == (
        first.request_id,
        RequestState.PENDING,
        True,
    )
    assert again.message == "already requested by you"
    assert again.to_dict()["already_requested"] is True and first.to_dict()["already_requested"] is False
    assert [t.request_id for t in served.tracked(ALICE)] == [first.request_id]
    assert served.requests_of(ALICE) == [int(first.request_id)]
    assert served.posts() == 2  # the server decided; nothing was refused before asking it


async def test_a_show_held_partly_by_the_user_and_partly_by_another_is_the_users_own(served):
    host = served.host
    await host.submit_request(THRONES, ALICE, RequestOptions(seasons=(1, 2)))
    sams = await host.submit_request(THRONES, SAM, RequestOptions(seasons=(3,)))
    again = await host.submit_request(THRONES, SAM, RequestOptions(seasons=(2, 3)))
    assert (again.request_id, again.already_requested, again.seasons) == (sams.request_id, True, (3,))
    assert again.message == "already requested by you; season 2 requested by alice"
    assert [t.request_id for t in served.tracked(SAM)] == [sams.request_id]


async def test_seasons_in_the_library_are_nobodys_request(served):
    served.fake.add_media("tv", 1399, status=4, season_statuses={1: 5, 2: 5, **{n: 1 for n in range(3, 9)}})
    with pytest.raises(AlreadyRequestedError) as caught:
        await served.host.submit_request(THRONES, SAM, RequestOptions(seasons=(1, 2)))
    assert caught.value.requested_by is None
    assert caught.value.state is RequestState.PARTIALLY_AVAILABLE
    assert "every season asked for is already in the library or on its way" in caught.value.message
    assert served.tracked(SAM) == []


async def test_when_the_title_cannot_be_read_the_users_own_request_still_counts(served):
    host, fake = served.host, served.fake
    alices = await host.submit_request(FIGHT_CLUB, ALICE)
    fake.fail_next(2, status=500, body={"message": "Unable to retrieve movie."}, path_prefix="/movie/550")
    again = await host.submit_request(FIGHT_CLUB, ALICE)  # found in her own newest requests
    assert (again.request_id, again.already_requested) == (alices.request_id, True)
    with pytest.raises(AlreadyRequestedError) as caught:  # not hers: whose, the server cannot say now
        await host.submit_request(FIGHT_CLUB, SAM)
    assert caught.value.requested_by is None
    assert "already requested by another user, or is in the library" in caught.value.message
    assert served.tracked(SAM) == []


# -- CSRF protection ---------------------------------------------------------------------------------


async def test_csrf_protection_is_csrf_enabled_on_a_request(served):
    served.fake.csrf_protection = True
    with pytest.raises(CSRFProtectionError) as caught:
        await served.host.submit_request(FIGHT_CLUB, ALICE)
    error = caught.value
    assert isinstance(error, ServerMisconfiguredError)  # what code catching the old error sees
    assert error.code == "csrf_enabled" == error.to_dict()["error"]
    assert error.message.startswith(f"{PRODUCT[served.fake.flavour]} has CSRF protection switched on")
    assert any("Turn off CSRF Protection" in hint for hint in error.hints)
    assert served.tracked(ALICE) == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"message":"invalid csrf token"}', "application/json"),
        ('{"status":403,"error":"invalid csrf token"}', "application/json"),
        ("invalid csrf token", "text/plain"),
        ("<pre>ForbiddenError: invalid csrf token</pre>", "text/html"),
    ],
    ids=["message", "error", "text", "html"],
)
async def test_a_csrf_refusal_is_recognised_whatever_its_body(body, content_type):
    fake = make_fake("seerr")
    with fake.serve() as url:
        fake.fail_next(1, status=403, body=body, content_type=content_type, path_prefix="/request")
        async with SeerrClient(url, fake.api_key, timeout=5) as client:
            client.product = "Seerr"
            with pytest.raises(CSRFProtectionError, match="Seerr has CSRF protection switched on"):
                await client.create_request({"mediaType": "movie", "mediaId": 550, "is4k": False}, act_as=2)


# -- naming the product --------------------------------------------------------------------------------


async def test_messages_name_the_detected_product_never_the_providers_guess(data_dir):
    fake = make_fake("seerr")  # a Seerr server, reached through the Jellyseerr provider
    async with serving(fake, data_dir) as served:
        served.host.set_settings("jellyseerr", {"url": served.url, "api_key": "FAKE-WRONG-KEY-0000"})
        [card] = await served.host.lookup([MATRIX], ALICE)  # detection runs beside the other calls
        assert "refused the API key" in card.admin_reason
        assert "Jellyseerr" not in card.admin_reason
        with pytest.raises(InvalidAPIKeyError) as caught:
            await served.host.map_users([ALICE])  # detected first: named
        assert caught.value.message.startswith("Seerr refused the API key")
        assert "Jellyseerr" not in str(caught.value)
        assert caught.value.product == "Seerr"
        served.runtime().index.mark_stale()
        [card] = await served.host.lookup([MATRIX], ALICE)  # the card names the server, too
        assert card.reason == "Seerr refused Aperture's credentials"


async def test_a_server_that_cannot_be_reached_is_named_neutrally(data_dir):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    async with serving(make_fake("seerr"), data_dir) as served:
        served.host.set_settings("jellyseerr", {"url": f"http://127.0.0.1:{closed}", "api_key": CANARY})
        report = await served.host.test_connection()
    [problem] = report.problems
    assert problem.code == "connection_refused"
    assert "Check the request server is running" in problem.hints
    assert "Jellyseerr" not in problem.message + " ".join(problem.hints)


# -- a submit whose answer is lost ---------------------------------------------------------------------

SLOW_TMDB_RECHECKS = (0.25, 0.5, 1.0, 2.0)  # the default is 1, 3, 6 s: the same shape, shorter
QUICK_RECHECKS = (0.05, 0.1, 0.2, 0.4)


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_submit_that_times_out_while_tmdb_is_slow_is_found_and_tracked(flavour, data_dir):
    fake = make_fake(flavour, tmdb_latency=2.0)  # the server files it 2 s after the POST arrives
    async with serving(fake, data_dir, timeout=1) as served:  # the client waits 1 s
        await served.ready(submit_rechecks=SLOW_TMDB_RECHECKS)
        result = await served.host.submit_request(FIGHT_CLUB, ALICE)
        assert (result.state, result.message, result.already_requested) == (
            RequestState.PENDING,
            LOST_MESSAGE,
            False,
        )
        assert served.requests_of(ALICE) == [int(result.request_id)]
        assert served.posts() == 1  # looked for, found: never sent twice
        assert [t.request_id for t in served.tracked(ALICE)] == [result.request_id]


@dataclass
class LosingGate(httpx.AsyncBaseTransport):
    """Real HTTP to the served fake, except for the first ``POST /request``, which it treats as
    ``mode`` says: ``drop`` (never sent; the client times out), ``late`` (the client times out
    at once; the server gets it ``delay`` seconds later), ``504`` (sent, filed, but the answer
    replaced by a proxy's 504 page). With ``unreadable`` the user's request list answers 500."""

    url: str
    mode: str
    delay: float = 0.0
    unreadable: bool = False
    sent: int = 0
    inner: httpx.AsyncHTTPTransport = field(default_factory=httpx.AsyncHTTPTransport)
    late: list[asyncio.Task[None]] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if self.unreadable and request.method == "GET" and path.endswith("/requests"):
            return httpx.Response(500, json={"message": "SQLITE_BUSY: database is locked"})
        if request.method == "POST" and path == "/api/v1/request":
            self.sent += 1
            if self.sent == 1:
                return await self._lose(request)
        return await self.inner.handle_async_request(request)

    async def _lose(self, request: httpx.Request) -> httpx.Response:
        if self.mode == "drop":
            raise httpx.ReadTimeout("timed out", request=request)
        if self.mode == "late":
            copy = httpx.Request(
                request.method, request.url, headers=request.headers, content=await request.aread()
            )
            self.late.append(asyncio.create_task(self._send_later(copy)))
            raise httpx.ReadTimeout("timed out", request=request)
        response = await self.inner.handle_async_request(request)
        await response.aread()
        return httpx.Response(504, html="<html><body><h1>504 Gateway Time-out</h1></body></html>")

    async def _send_later(self, request: httpx.Request) -> None:
        await asyncio.sleep(self.delay)
        async with httpx.AsyncHTTPTransport() as transport:
            response = await transport.handle_async_request(request)
            await response.aread()

    async def aclose(self) -> None:
        await asyncio.gather(*self.late)
        await self.inner.aclose()


@asynccontextmanager
async def gated(
    flavour: str, data_dir: Path, rechecks: tuple[float, ...] = QUICK_RECHECKS, **gate_options: object
) -> AsyncIterator[tuple[Served, LosingGate]]:
    gates: list[LosingGate] = []

    def make(url: str) -> LosingGate:
        gates.append(LosingGate(url, **gate_options))  # type: ignore[arg-type]
        return gates[-1]

    async with serving(make_fake(flavour), data_dir, transport=make) as served:
        await served.ready(submit_rechecks=rechecks)
        try:
            yield served, gates[-1]
        finally:
            await gates[-1].aclose()


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_request_that_never_reached_the_server_is_sent_again_once(flavour, data_dir):
    async with gated(flavour, data_dir, mode="drop") as (served, gate):
        before = len(served.fake.calls)
        result = await served.host.submit_request(FIGHT_CLUB, ALICE)
        assert (result.state, result.message) == (RequestState.PENDING, None)
        assert (gate.sent, served.posts()) == (2, 1)  # the first never arrived; the second was filed
        # sent again only once every look had found it absent
        calls = served.fake.calls[before:]
        reads = [c for c in calls if c.method == "GET" and c.path.endswith("/requests")]
        assert len(reads) == len(QUICK_RECHECKS)
        assert served.requests_of(ALICE) == [int(result.request_id)]


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_gateway_timeout_for_a_request_the_server_filed_is_found(flavour, data_dir):
    async with gated(flavour, data_dir, mode="504") as (served, gate):
        result = await served.host.submit_request(FIGHT_CLUB, ALICE)
        assert (result.state, result.message) == (RequestState.PENDING, LOST_MESSAGE)
        assert (gate.sent, served.posts()) == (1, 1)
        assert [t.request_id for t in served.tracked(ALICE)] == [result.request_id]


async def test_when_the_server_cannot_say_whether_it_was_filed_nothing_is_sent_again(data_dir):
    async with gated("seerr", data_dir, mode="drop", unreadable=True) as (served, gate):
        with pytest.raises(ProviderTimeoutError) as caught:
            await served.host.submit_request(FIGHT_CLUB, ALICE)
        assert caught.value.hints[0].startswith("The request may have been filed")
        assert gate.sent == 1  # not sent again: it might exist
        assert served.tracked(ALICE) == []


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_late_tv_request_is_told_from_the_users_older_request_of_the_show(flavour, data_dir):
    # the first looks come before the server gets it; the later ones leave it time to arrive
    rechecks = (0.05, 0.1, 0.4, 0.8, 1.6)
    async with gated(flavour, data_dir, rechecks, mode="late", delay=0.2) as (served, gate):
        gate.sent = 1  # the first POST goes through: alice's older request of the show
        older = await served.host.submit_request(THRONES, ALICE, RequestOptions(seasons=(1,)))
        gate.sent = 0  # the next one is answered late
        result = await served.host.submit_request(THRONES, ALICE, ALL)  # the older one covers season 1
        assert result.request_id != older.request_id  # it was there all along: not the one sent now
        assert (result.seasons, result.message) == ((2, 3, 4, 5, 6, 7, 8), LOST_MESSAGE)
        assert served.requests_of(ALICE) == sorted([int(older.request_id), int(result.request_id)])
        assert {t.request_id for t in served.tracked(ALICE)} == {older.request_id, result.request_id}


# -- the CLI: one result kind and one exit code for movies and TV ------------------------------------


@pytest.fixture
def cli_server(tmp_path: Path, capsys) -> Iterator[tuple[FakeSeerr, Callable[..., tuple[int, Any]]]]:
    fake = make_fake("jellyseerr")
    key_file = tmp_path / "api.key"
    key_file.write_text(CANARY + "\n")

    def run(*args: str) -> tuple[int, Any]:
        code = main([*args, "--json"])
        captured = capsys.readouterr()
        assert CANARY not in captured.out + captured.err
        return code, json.loads(captured.out)

    with fake.serve() as url:
        assert run("configure", "jellyseerr", "--url", url, "--api-key-file", str(key_file))[0] == 0
        assert run("use", "jellyseerr")[0] == 0
        yield fake, run


@pytest.mark.parametrize("item", ["movie:550", "tv:1399"])
def test_the_request_command_answers_movies_and_tv_alike(cli_server, item):
    fake, run = cli_server
    code, first = run("request", item, "--user", "alice")
    assert (code, first["state"], first["already_requested"]) == (0, "pending", False)
    code, again = run("request", item, "--user", "alice")
    assert (code, again["request_id"], again["already_requested"]) == (0, first["request_id"], True)
    assert again["message"] == "already requested by you"
    code, refused = run("request", item, "--user", "sam")
    assert code == 6
    assert (refused["error"], refused["requested_by"], refused["state"]) == (
        "already_requested",
        "alice",
        "pending",
    )
    code, tracked = run("requests")
    assert [(t["user"], t["request_id"]) for t in tracked] == [("alice", first["request_id"])]
    assert len(fake.requests) == 1


def test_the_request_command_reports_csrf_protection_as_csrf_enabled(cli_server):
    fake, run = cli_server
    fake.csrf_protection = True
    code, document = run("request", "movie:550", "--user", "alice")
    assert (code, document["error"]) == (5, "csrf_enabled")
    assert document["message"].startswith("Jellyseerr has CSRF protection switched on")


def test_map_takes_the_user_spelled_exactly_as_given(cli_server):
    fake, run = cli_server
    sam_id = fake.add_user("Sam")  # a second "sam", differing only in case
    code, mapping = run("map", "sam", "Sam")
    assert (code, mapping["account_id"], mapping["account_name"]) == (0, str(sam_id), "Sam")
    code, document = run("map", "carl", "SAM")  # spelled like neither: both match, none is chosen
    assert (code, document["error"]) == (2, "user_not_mapped")
    assert "2 server users match by the manual map" in document["message"]
