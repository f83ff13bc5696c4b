"""Property tests and crash tests: any answer is parsed or refused cleanly, every transition is
reported exactly once, and a killed process loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aperture_hookspecs import (
    ApertureError,
    ApertureUser,
    CannotConnectError,
    MediaRef,
    RequestState,
    StatusUpdate,
    TrackedRequest,
    UnexpectedResponseError,
    hookimpl,
)
from aperture_overseerr import models
from aperture_overseerr.client import SeerrClient
from aperture_overseerr.testing import FakeSeerr
from aperture_plugins import MemorySettings, PluginHost
from aperture_plugins.status import apply_updates

from .fakes import RecordingProvider, StatusObserver

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)

MEDIA_ROW = {
    "id": 1,
    "mediaType": "movie",
    "tmdbId": 603,
    "status": 5,
    "status4k": 1,
    "updatedAt": "2026-11-24T10:00:00.000Z",
    "seasons": [{"seasonNumber": 1, "status": 5, "status4k": 1}],
    "downloadStatus": [{"size": 10, "sizeLeft": 5, "status": "downloading", "estimatedCompletionTime": None}],
}
PAGE_INFO = {"pages": 1, "pageSize": 20, "results": 1, "page": 1}
VALID = {
    models.ServerStatus.parse: {"version": "2.7.3", "commitTag": "v2.7.3"},
    models.PublicSettings.parse: {"mediaServerType": 2, "movie4kEnabled": False},
    (lambda v: models.SeerrUser.parse(v, "user")): {"id": 2, "permissions": 32, "username": "alice"},
    models.MediaPage.parse: {"pageInfo": PAGE_INFO, "results": [MEDIA_ROW]},
    models.UserPage.parse: {"pageInfo": PAGE_INFO, "results": [{"id": 2, "permissions": 32}]},
    (lambda v: models.RequestPage.parse(v, "requests")): {
        "pageInfo": PAGE_INFO,
        "results": [{"id": 9, "status": 1, "type": "movie", "is4k": False, "media": MEDIA_ROW}],
    },
    (lambda v: models.Quota.parse(v, "quota")): {
        "movie": {"used": 1, "limit": 5, "days": 7, "remaining": 4, "restricted": False},
        "tv": {"used": 0, "restricted": False},
    },
    models.RequestCounts.parse: {"total": 3, "pending": 1},
}
PARSERS = list(VALID)


def mutate(value: object, replacement: object, path: list[int]) -> object:
    """Replace one node of ``value`` (chosen by ``path``) with ``replacement``."""
    if not path or not isinstance(value, dict | list) or not value:
        return replacement
    keys = list(value) if isinstance(value, dict) else list(range(len(value)))
    key = keys[path[0] % len(keys)]
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[key] = mutate(copy[key], replacement, path[1:])
    return copy


@given(parser=st.sampled_from(PARSERS), value=json_values)
def test_any_json_is_parsed_or_refused_cleanly(parser, value):
    try:
        parser(value)
    except UnexpectedResponseError as error:
        message = error.message
    else:
        return
    assert "wrong shape" in message


@settings(max_examples=300)
@given(
    parser=st.sampled_from(PARSERS),
    replacement=json_values,
    path=st.lists(st.integers(min_value=0, max_value=50), max_size=5),
)
def test_a_valid_answer_with_any_node_replaced_is_parsed_or_refused_cleanly(parser, replacement, path):
    """Near-valid answers reach deep into the parsers (a string for a number, null for a list…)."""
    with contextlib.suppress(UnexpectedResponseError):
        parser(mutate(VALID[parser], replacement, path))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=60) | json_values.map(lambda v: json.dumps(v).encode()))
async def test_any_body_over_http_is_an_answer_or_a_provider_error(body):
    with respx.mock:
        respx.get("http://seerr.local:5055/api/v1/media").mock(
            return_value=httpx.Response(200, content=body, headers={"content-type": "application/json"})
        )
        async with SeerrClient("http://seerr.local:5055", "FAKE-KEY-0000", retries=0) as client:
            with contextlib.suppress(ApertureError):
                await client.media(take=10, skip=0)


STATES = st.sampled_from(list(RequestState))


@given(states=st.lists(STATES, min_size=1, max_size=12))
def test_any_sequence_of_states_gives_each_transition_exactly_once(states):
    request = TrackedRequest("1", MediaRef.parse("movie:603"), ApertureUser("alice"), states[0])
    tracked, seen = [request], []
    for state in states[1:]:
        result = apply_updates("p", tracked, [StatusUpdate("1", state)])
        tracked = list(result.tracked)
        seen += [(c.previous, c.current) for c in result.changes]
    expected = [(a, b) for a, b in itertools.pairwise(states) if a != b]
    assert seen == expected


class ScriptedProvider(RecordingProvider):
    """Reports the next state of a script at each poll."""

    def __init__(self, script: list[RequestState]) -> None:
        super().__init__("scripted", "Scripted")
        self.script = list(script)

    @hookimpl
    async def aperture_poll_status(self, requests):
        state = self.script.pop(0) if self.script else requests[0].state
        return [StatusUpdate(r.request_id, state) for r in requests]


@settings(max_examples=40, deadline=None)
@given(states=st.lists(STATES.filter(lambda s: not s.is_final), min_size=1, max_size=8), end=STATES)
async def test_observers_hear_every_transition_once_through_the_host(states, end):
    script = [*states[1:], end]
    host = PluginHost(load_entry_points=False, settings=MemorySettings()).load()
    host.register(ScriptedProvider(script), "scripted")
    observer = StatusObserver()
    host.register(observer, "observer")
    host.use("scripted")
    tracked = [TrackedRequest("1", MediaRef.parse("movie:603"), ApertureUser("alice"), states[0])]
    for _ in script:
        tracked = list((await host.poll(tracked)).tracked)
    full = [states[0], *script]
    expected = [(a, b) for a, b in itertools.pairwise(full) if a != b]
    assert [(c.previous, c.current) for c in observer.changes] == expected


CRASHING_CLIENT = """
    import asyncio, os, sys
    from aperture_hookspecs import ApertureUser, MediaRef
    from aperture_plugins import PluginHost
    from aperture_plugins.admin import configure

    async def main():
        host = PluginHost(sys.argv[1]).load()
        outcome = await configure(host, "jellyseerr", {"url": sys.argv[2], "api_key": sys.argv[3]})
        assert outcome.saved, outcome
        host.use("jellyseerr")
        result = await host.submit_request(MediaRef.parse("movie:603"), ApertureUser("alice"))
        await host.poll_tracked()
        print(result.request_id, flush=True)
        os._exit(9)  # killed: no cleanup, no close

    asyncio.run(main())
"""


async def test_a_killed_process_loses_nothing_and_the_next_poll_reports_what_changed(tmp_path: Path):
    """The first process is killed (``os._exit``) after filing and polling; a new one resumes."""
    fake = FakeSeerr("jellyseerr", api_key="FAKE-KEY-CRASH-0000")
    fake.add_user("alice", jellyfin_username="alice")
    fake.add_title("movie", 603, "The Matrix")
    data_dir = tmp_path / "data"
    script = tmp_path / "client.py"
    script.write_text(textwrap.dedent(CRASHING_CLIENT))
    with fake.serve() as url:
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, str(script), str(data_dir), url, fake.api_key],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "APERTURE_LOAD_PLUGINS": "jellyseerr"},
        )
        assert done.returncode == 9, done.stderr
        request_id = int(done.stdout.strip())
        fake.approve(request_id)  # changes while nobody was watching

        host = PluginHost(data_dir, only=frozenset({"jellyseerr"})).load()
        observer = StatusObserver()
        host.register(observer, "observer")
        result = await host.poll_tracked()
        await host.aclose()
    assert [(c.request.request_id, c.previous, c.current) for c in result.changes] == [
        (str(request_id), RequestState.PENDING, RequestState.APPROVED)
    ]
    assert len(observer.changes) == 1
    [(_, saved)] = host.settings.tracked("jellyseerr")
    assert saved.state is RequestState.APPROVED


@pytest.mark.parametrize("flavour", ["overseerr", "jellyseerr", "seerr"])
async def test_a_user_deleted_on_the_server_stops_matching_after_a_refresh(flavour):
    from .test_seerr_provider import MATRIX, make_world

    world = await make_world(flavour)
    assert (await world.host.lookup([MATRIX], ApertureUser("bob")))[0].can_request
    world.fake.delete_user(world.ids["bob"])
    world.runtime().users.expire()
    [card] = await world.host.lookup([MATRIX], ApertureUser("bob"))
    assert card.state is RequestState.NOT_AVAILABLE
    assert card.reason == "your account is not linked to the request server"
    await world.host.aclose()


@pytest.mark.parametrize("count", [99, 100, 101, 250])
async def test_every_page_of_users_is_read(count):
    from .test_seerr_provider import MATRIX, make_world

    world = await make_world("seerr")
    for number in range(count - 5):  # make_world adds the admin and 4 users
        world.fake.add_user(f"user{number:03d}")
    last = f"user{count - 6:03d}"
    [card] = await world.host.lookup([MATRIX], ApertureUser(last))
    assert card.can_request, card
    assert len(world.runtime().users.users) == count
    user_pages = [c for c in world.fake.calls if c.path == "/user"]
    assert len(user_pages) == -(-count // 100)  # ceil: a full last page needs no extra call
    await world.host.aclose()


async def test_a_server_that_goes_away_mid_poll_loses_nothing(tmp_path: Path):
    """The server stops between two cycles: the poll fails clearly, the saved states stay, and
    the next cycle after it comes back reports what changed meanwhile."""
    from aperture_plugins.admin import configure

    fake = FakeSeerr("jellyseerr", api_key="FAKE-KEY-AWAY-0000")
    fake.add_user("alice", jellyfin_username="alice")
    fake.add_title("movie", 603, "The Matrix")
    port = None
    host = PluginHost(tmp_path / "data", only=frozenset({"jellyseerr"})).load()
    with fake.serve() as url:
        port = int(url.rsplit(":", 1)[1])
        assert (await configure(host, "jellyseerr", {"url": url, "api_key": fake.api_key})).saved
        host.use("jellyseerr")
        result = await host.submit_request(MediaRef.parse("movie:603"), ApertureUser("alice"))
        await host.poll_tracked()
    fake.approve(int(result.request_id))  # while the server is down for us
    with pytest.raises(CannotConnectError):
        await host.poll_tracked()
    [(_, saved)] = host.settings.tracked("jellyseerr")
    assert saved.state is RequestState.PENDING
    with fake.serve(port=port):
        after = await host.poll_tracked()
    assert [(c.previous, c.current) for c in after.changes] == [(RequestState.PENDING, RequestState.APPROVED)]
    await host.aclose()


async def test_watch_carries_on_while_the_server_is_away(tmp_path: Path):
    import io

    from rich.console import Console

    from aperture_plugins.admin import configure
    from aperture_plugins.watching import watch_requests

    fake = FakeSeerr("jellyseerr", api_key="FAKE-KEY-WATCH-0000")
    fake.add_user("alice", jellyfin_username="alice")
    fake.add_title("movie", 603, "The Matrix")
    host = PluginHost(tmp_path / "data", only=frozenset({"jellyseerr"})).load()
    with fake.serve() as url:
        port = int(url.rsplit(":", 1)[1])
        assert (await configure(host, "jellyseerr", {"url": url, "api_key": fake.api_key})).saved
        host.use("jellyseerr")
        result = await host.submit_request(MediaRef.parse("movie:603"), ApertureUser("alice"))
    await host.aclose()
    fake.approve(int(result.request_id))
    fake.mark_available(int(result.request_id))
    output = io.StringIO()
    console = Console(file=output, width=200)
    watch = asyncio.create_task(watch_requests(host, console, once=False, interval=0.05))
    for _ in range(250):  # the first cycle fails: the server is away
        if "trying again" in output.getvalue():
            break
        await asyncio.sleep(0.02)
    assert "trying again" in output.getvalue()
    assert not watch.done()
    with fake.serve(port=port):
        host.dispatcher.breaker.succeeded("jellyseerr")  # the probe interval is seconds; skip it
        changes = await asyncio.wait_for(watch, timeout=10)
    assert [(c.previous, c.current) for c in changes] == [(RequestState.PENDING, RequestState.AVAILABLE)]
    assert "Nothing left to watch" in output.getvalue()
