"""A server that is down at start: lookups share one detection attempt and its failure, and the
half-open circuit breaker lets exactly one probe through (issue 13, problem 8).

Attempts are counted, never timed: a real socket server accepts each connection, records the
request line and never answers (the client's 1-second read timeout ends each attempt), and a
wrapper plugin counts the lookups the breaker let through to the provider.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from aperture_hookspecs import (
    ApertureUser,
    CannotConnectError,
    MediaRef,
    ProviderInfo,
    RequestState,
    hookimpl,
)
from aperture_overseerr import SEERR_CAPABILITIES, SeerrProvider
from aperture_plugins import MemorySettings, PluginHost
from aperture_plugins.breaker import CircuitBreaker, ProviderDownError

MATRIX = MediaRef.parse("movie:603")
ALICE = ApertureUser("alice")
KEY = "FAKE-KEY-DOWN-0000"
STATUS = "/api/v1/status"


class StallingServer:
    """Accepts connections, reads each request head, records its path, never answers."""

    def __init__(self) -> None:
        self.connections = 0
        self.paths: list[str] = []
        self.seen = asyncio.Condition()
        self._closing = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        async with self.seen:
            self.paths.append(head.split(b" ", 2)[1].decode().split("?")[0])
            self.seen.notify_all()
        await self._closing.wait()
        writer.close()

    def count(self, path: str) -> int:
        return self.paths.count(path)


@asynccontextmanager
async def stalling_server() -> AsyncIterator[tuple[StallingServer, str]]:
    stalling = StallingServer()
    server = await asyncio.start_server(stalling.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield stalling, f"http://127.0.0.1:{port}"
    finally:
        stalling._closing.set()
        server.close()
        await server.wait_closed()


class LookupAttempts:
    """A wrapper plugin: counts the lookups that reach the provider (past the breaker)."""

    def __init__(self) -> None:
        self.count = 0

    @hookimpl(wrapper=True)
    def aperture_lookup_availability(self, context: Any, items: Any, user: Any) -> Any:
        self.count += 1
        return (yield)


def host_for(url: str, breaker: CircuitBreaker) -> tuple[PluginHost, LookupAttempts]:
    provider = SeerrProvider(
        ProviderInfo(name="jellyseerr", title="Jellyseerr", version="test", capabilities=SEERR_CAPABILITIES)
    )
    host = PluginHost(load_entry_points=False, settings=MemorySettings()).load()
    host.dispatcher.breaker = breaker
    host.register(provider, "jellyseerr")
    attempts = LookupAttempts()
    host.register(attempts, "attempts")
    host.use("jellyseerr")
    host.set_settings("jellyseerr", {"url": url, "api_key": KEY, "timeout": 1})
    return host, attempts


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def lookups(host: PluginHost, count: int) -> list[Any]:
    return [
        card
        for cards in await asyncio.gather(*(host.lookup([MATRIX], ALICE) for _ in range(count)))
        for card in cards
    ]


async def test_lookups_arriving_while_the_server_is_down_share_one_detection_and_its_failure():
    async with stalling_server() as (server, url):
        host, attempts = host_for(url, CircuitBreaker(threshold=1000))  # the breaker stays out of it
        cards = await lookups(host, 8)
        assert attempts.count == 8
        assert server.count(STATUS) == 1  # one attempt, not one after the other behind a lock
        assert {card.state for card in cards} == {RequestState.NOT_AVAILABLE}
        assert {card.reason for card in cards} == {"Jellyseerr is unreachable right now"}
        assert len({card.admin_reason for card in cards}) == 1  # the one failure, shared
        [card] = await host.lookup([MATRIX], ALICE)  # right after: the failure is remembered
        assert card.admin_reason == cards[0].admin_reason
        assert server.count(STATUS) == 1
        await host.aclose()


async def test_a_half_open_breaker_admits_one_probe_and_answers_the_others_at_once():
    clock = Clock()
    breaker = CircuitBreaker(clock=clock)
    async with stalling_server() as (server, url):
        host, attempts = host_for(url, breaker)
        for _ in range(breaker.threshold):
            breaker.failed("jellyseerr", CannotConnectError("Connection refused by the server"))
        [card] = await host.lookup([MATRIX], ALICE)
        assert attempts.count == 0 and "next try in 5 s" in card.admin_reason
        clock.now += breaker.base_delay  # a probe is due
        cards = await lookups(host, 20)
        assert attempts.count == 1  # the probe, and only it, went through
        assert Counter(server.paths) == await paths_of_one_lookup()  # what one lookup asks, once
        waved_off = [card for card in cards if "checking again now" in card.admin_reason]
        assert len(waved_off) == 19
        assert {card.reason for card in waved_off} == {f"Jellyseerr is unreachable since {since(breaker)}"}
        [card] = await host.lookup([MATRIX], ALICE)  # the probe failed: open for twice as long
        assert "next try in 10 s" in card.admin_reason and attempts.count == 1
        await host.aclose()


async def paths_of_one_lookup() -> Counter[str]:
    """The requests a single lookup sends to a server that is down (for comparison)."""
    async with stalling_server() as (server, url):
        host, _ = host_for(url, CircuitBreaker())
        await host.lookup([MATRIX], ALICE)
        await host.aclose()
        assert server.count(STATUS) == 1
        return Counter(server.paths)


def since(breaker: CircuitBreaker) -> str:
    try:
        breaker.check("jellyseerr", "Jellyseerr")
    except ProviderDownError as error:
        return error.user_reason.rsplit(" ", 1)[1]
    raise AssertionError("the breaker is not open")


async def test_lookups_failing_together_open_the_breaker_for_the_first_pause_only():
    """Twenty calls under way when the breaker opens all fail; only a probe's failure doubles the pause."""
    clock = Clock()
    breaker = CircuitBreaker(clock=clock)
    async with stalling_server() as (server, url):
        host, attempts = host_for(url, breaker)
        await lookups(host, 20)
        assert attempts.count == 20 and server.count(STATUS) == 1
        [card] = await host.lookup([MATRIX], ALICE)
        assert f"next try in {breaker.base_delay:.0f} s" in card.admin_reason, card.admin_reason
        await host.aclose()


async def test_a_probe_that_is_cancelled_lets_the_next_call_probe():
    clock = Clock()
    breaker = CircuitBreaker(clock=clock)
    async with stalling_server() as (server, url):
        host, attempts = host_for(url, breaker)
        for _ in range(breaker.threshold):
            breaker.failed("jellyseerr", CannotConnectError("Connection refused by the server"))
        clock.now += breaker.base_delay
        probe = asyncio.create_task(host.lookup([MATRIX], ALICE))
        async with server.seen:
            await server.seen.wait_for(lambda: server.count(STATUS) == 1)  # the probe is waiting
        [card] = await host.lookup([MATRIX], ALICE)
        assert "checking again now" in card.admin_reason and attempts.count == 1
        probe.cancel()  # Aperture gave up on that page
        with pytest.raises(asyncio.CancelledError):
            await probe
        cards = await lookups(host, 5)
        assert attempts.count == 2  # the next call became the probe (it joins the attempt under way)
        assert sum("checking again now" in card.admin_reason for card in cards) == 4
        assert server.count(STATUS) == 1
        await host.aclose()


def test_the_breaker_admits_one_probe_at_a_time():
    clock = Clock()
    breaker = CircuitBreaker(clock=clock)
    down = CannotConnectError("refused")
    assert breaker.check("p", "P") is False  # closed
    for _ in range(breaker.threshold):
        breaker.failed("p", down)
    with pytest.raises(ProviderDownError, match="next try in 5 s"):
        breaker.check("p", "P")
    clock.now += breaker.base_delay
    assert breaker.check("p", "P") is True
    with pytest.raises(ProviderDownError, match="checking again now"):
        breaker.check("p", "P")
    breaker.failed("p", down)  # a call from before the breaker opened: no longer pause
    with pytest.raises(ProviderDownError, match="checking again now"):
        breaker.check("p", "P")
    breaker.released("p", probe=True)
    assert breaker.check("p", "P") is True
    breaker.failed("p", down, probe=True)
    with pytest.raises(ProviderDownError, match="next try in 10 s"):
        breaker.check("p", "P")
    clock.now += 10
    assert breaker.check("p", "P") is True
    breaker.succeeded("p")
    assert breaker.check("p", "P") is False and not breaker.is_open("p")
