"""Routing: one active provider answers, the others are never called, wrappers and observers
take part, coroutines are always awaited (or closed), failures degrade or map to clear errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from aperture_hookspecs import (
    ApertureUser,
    Availability,
    MediaRef,
    NotConfiguredError,
    ProviderContractError,
    ProviderTimeoutError,
    RequestOptions,
    RequestState,
    TrackedRequest,
    hookimpl,
)
from aperture_plugins import PluginHost, Timeouts

from .fakes import AsyncStatusObserver, FailingObserver, MappingProvider, RecordingProvider, StatusObserver

ITEMS = [MediaRef.parse("movie:603"), MediaRef.parse("tv:1399"), MediaRef.parse("movie:27205")]
ALICE = ApertureUser("alice")


@pytest.fixture
def host(data_dir: Path) -> Iterator[PluginHost]:
    return PluginHost(data_dir, load_entry_points=False).load()


@pytest.fixture
def two_providers(host: PluginHost) -> tuple[RecordingProvider, RecordingProvider]:
    first, second = RecordingProvider("first", "First"), RecordingProvider("second", "Second")
    host.register(first, "first")
    host.register(second, "second")
    return first, second


async def test_the_null_provider_answers_until_another_is_made_active(host, two_providers):
    first, second = two_providers
    answers = await host.lookup(ITEMS, ALICE)
    assert [a.state for a in answers] == [RequestState.NOT_AVAILABLE] * 3
    assert first.calls == [] and second.calls == []


async def test_only_the_active_provider_is_called_and_its_coroutine_awaited(host, two_providers):
    first, second = two_providers
    host.use("second")
    answers = await host.lookup(ITEMS, ALICE)
    assert [a.item for a in answers] == ITEMS
    assert all(a.state is RequestState.REQUESTABLE and a.can_request for a in answers)
    assert second.calls == [("lookup", (tuple(ITEMS), ALICE))]
    assert first.calls == []


async def test_disabling_the_active_provider_falls_back_to_null(host, two_providers):
    _, second = two_providers
    host.use("second")
    assert host.disable("second") is True
    assert host.active_provider().name == "null"
    answers = await host.lookup(ITEMS, ALICE)
    assert {a.reason for a in answers} == {"no request provider is configured"}
    assert second.calls == []
    # the switch survives a new host (it is in config.toml)
    again = PluginHost(host.data_dir, load_entry_points=False).load()
    again.register(RecordingProvider("second", "Second"), "second")
    assert again.active_provider().name == "null"
    assert not again.is_enabled("second")


async def test_submit_and_connection_test_go_to_the_active_provider(host, two_providers):
    first, _ = two_providers
    host.use("first")
    result = await host.submit_request(ITEMS[1], ALICE, RequestOptions(seasons=(2, 1), is_4k=True))
    assert result.request_id == "r-1" and result.state is RequestState.PENDING and result.is_4k
    report = await host.test_connection()
    assert report.ok and report.product == "Fake"
    assert [call[0] for call in first.calls] == ["submit", "test_connection"]
    assert first.calls[0][1][2].seasons == (1, 2)
    assert first.calls[1][1] == {"colour": "blue"}  # settings validated through its schema defaults


async def test_a_wrapper_plugin_wraps_the_provider_call(host, two_providers):
    first, _ = two_providers
    seen: list[str] = []

    class Annotator:
        @hookimpl(wrapper=True)
        def aperture_lookup_availability(self, items):
            inner = yield
            seen.append("before")

            async def annotated():
                answers = await inner
                seen.append("after")
                return [
                    Availability(a.item, a.state, a.can_request, reason="annotated", admin_reason="wrapped")
                    for a in answers
                ]

            return annotated()

    host.register(Annotator(), "annotator")
    host.use("first")
    answers = await host.lookup(ITEMS, ALICE)
    assert seen == ["before", "after"]
    assert {a.admin_reason for a in answers} == {"wrapped"}
    assert len(first.calls) == 1


async def test_a_wrapper_that_drops_the_coroutine_leaves_nothing_unawaited(host, two_providers):
    """pytest turns a 'coroutine was never awaited' RuntimeWarning into a failure (pyproject)."""
    first, _ = two_providers

    class Cache:
        @hookimpl(wrapper=True)
        def aperture_lookup_availability(self, items):
            yield
            return [Availability.not_available(item, "from cache") for item in items]

    host.register(Cache(), "cache")
    host.use("first")
    answers = await host.lookup(ITEMS, ALICE)
    assert {a.reason for a in answers} == {"from cache"}
    assert first.calls == []  # the provider's coroutine was closed, never run


async def test_a_disabled_wrapper_does_not_take_part(host, two_providers):
    class Breaker:
        @hookimpl(wrapper=True)
        def aperture_lookup_availability(self):
            yield
            raise RuntimeError("should not run")

    host.register(Breaker(), "breaker")
    host.disable("breaker")
    host.use("first")
    answers = await host.lookup(ITEMS, ALICE)
    assert all(a.state is RequestState.REQUESTABLE for a in answers)


async def test_observers_see_each_status_change_and_a_failing_one_stops_nobody(host, two_providers):
    first, _ = two_providers
    sync_observer, async_observer = StatusObserver(), AsyncStatusObserver()
    host.register(FailingObserver(), "failing")
    host.register(sync_observer, "sync-observer")
    host.register(async_observer, "async-observer")
    host.use("first")
    tracked = [
        TrackedRequest("r-1", ITEMS[0], ALICE, RequestState.PENDING),
        TrackedRequest("r-2", ITEMS[1], ALICE, RequestState.APPROVED),
    ]
    first.states = {"r-1": RequestState.APPROVED}
    result = await host.poll(tracked)
    assert [(c.request.request_id, c.previous, c.current) for c in result.changes] == [
        ("r-1", RequestState.PENDING, RequestState.APPROVED)
    ]
    assert [t.state for t in result.tracked] == [RequestState.APPROVED, RequestState.APPROVED]
    for observer in (sync_observer, async_observer):
        assert [(c.provider, c.current) for c in observer.changes] == [("first", RequestState.APPROVED)]
    # nothing changed: no new events
    again = await host.poll(result.tracked)
    assert again.changes == ()
    assert len(sync_observer.changes) == 1


async def test_a_disabled_observer_hears_nothing(host):
    observer = StatusObserver()
    host.register(observer, "quiet")
    host.disable("quiet")
    provider = RecordingProvider()
    host.register(provider, "fake")
    host.use("fake")
    provider.states = {"r-1": RequestState.AVAILABLE}
    await host.poll([TrackedRequest("r-1", ITEMS[0], ALICE, RequestState.PROCESSING)])
    assert observer.changes == []


async def test_a_slow_provider_hits_the_host_deadline(data_dir):
    host = PluginHost(
        data_dir, load_entry_points=False, timeouts=Timeouts(lookup_availability=0.05, submit_request=0.05)
    )
    host.load()
    host.register(RecordingProvider("slow", "Slow", delay=5), "slow")
    host.use("slow")
    answers = await asyncio.wait_for(host.lookup(ITEMS, ALICE), timeout=2)
    assert {a.state for a in answers} == {RequestState.NOT_AVAILABLE}
    assert answers[0].reason == "Slow is unreachable right now"
    assert "did not answer within 0.05 s" in answers[0].admin_reason
    with pytest.raises(ProviderTimeoutError, match=r"Slow did not answer within 0\.05 s"):
        await host.submit_request(ITEMS[0], ALICE)


async def test_a_provider_bug_is_reported_as_such_and_lookups_degrade(host):
    class Buggy(RecordingProvider):
        @hookimpl
        async def aperture_lookup_availability(self, items):
            await asyncio.sleep(0)
            return {}["missing"]

        @hookimpl
        async def aperture_submit_request(self, item):
            return "not a RequestResult"

    host.register(Buggy("buggy", "Buggy"), "buggy")
    host.use("buggy")
    answers = await host.lookup(ITEMS, ALICE)
    assert answers[0].reason == "Buggy gave an answer Aperture could not use"
    assert "KeyError" in answers[0].admin_reason
    with pytest.raises(ProviderContractError, match="must return a RequestResult"):
        await host.submit_request(ITEMS[0], ALICE)


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda items: [], id="too-few"),
        pytest.param(lambda items: list(reversed(items)), id="not-availability"),
        pytest.param(
            lambda items: [Availability.not_available(i, "x") for i in reversed(items)], id="out-of-order"
        ),
    ],
)
async def test_answers_that_break_the_contract_degrade_to_not_available(host, answer):
    class Sloppy(RecordingProvider):
        @hookimpl
        async def aperture_lookup_availability(self, items):
            return answer(items)

    host.register(Sloppy("sloppy", "Sloppy"), "sloppy")
    host.use("sloppy")
    answers = await host.lookup(ITEMS, None)
    assert [a.item for a in answers] == ITEMS
    assert {a.state for a in answers} == {RequestState.NOT_AVAILABLE}


async def test_close_callbacks_run_when_the_host_closes(host, two_providers):
    first, _ = two_providers
    host.use("first")
    async with host:
        await host.lookup(ITEMS, ALICE)
        await host.lookup(ITEMS, ALICE)
    assert first.closed == 1


async def test_new_settings_give_a_fresh_context_and_close_the_old_one(host, two_providers):
    first, _ = two_providers
    host.use("first")
    await host.lookup(ITEMS, ALICE)
    host.set_settings("first", {"colour": "red"})
    await host.test_connection()
    assert first.calls[-1] == ("test_connection", {"colour": "red"})
    await host.aclose()
    assert first.closed == 1


async def test_the_seerr_providers_say_they_are_not_configured(data_dir):
    host = PluginHost(data_dir).load()
    host.use("jellyseerr")
    answers = await host.lookup(ITEMS, ALICE)
    assert answers[0].reason == "Jellyseerr is not set up yet"
    assert "aperture-plugins configure jellyseerr" in answers[0].admin_reason
    with pytest.raises(NotConfiguredError):
        await host.submit_request(ITEMS[0], ALICE)
    report = await host.test_connection()
    assert not report.ok and report.problems[0].code == "not_configured"


async def test_a_configured_seerr_provider_that_is_refused_degrades_with_the_fix(data_dir):
    host = PluginHost(data_dir).load()
    host.use("overseerr")
    host.set_settings("overseerr", {"url": "http://127.0.0.1:1/", "api_key": "FAKE-KEY-0000"})
    answers = await host.lookup(ITEMS, ALICE)
    assert answers[0].state is RequestState.NOT_AVAILABLE
    assert answers[0].reason == "Overseerr is unreachable right now"
    assert "Connection refused" in answers[0].admin_reason
    assert "Verify URL is correct" in answers[0].admin_reason
    report = await host.test_connection()
    assert [p.code for p in report.problems] == ["connection_refused"]
    assert "FAKE-KEY-0000" not in repr(host._context(host.active_provider()))
    await host.aclose()


async def test_map_users_is_routed_and_checked(host):
    host.register(MappingProvider("mapper", "Mapper"), "mapper")
    host.use("mapper")
    mappings = await host.map_users([ApertureUser("alice"), ApertureUser("bob")])
    assert [(m.user.name, m.mapped) for m in mappings] == [("alice", True), ("bob", False)]
    assert mappings[1].problems == ("no account named bob",)
    host.register(RecordingProvider("plain", "Plain"), "plain")  # implements no aperture_map_users
    host.use("plain")
    with pytest.raises(Exception, match="plain does not map users"):
        await host.map_users([ApertureUser("alice")])
