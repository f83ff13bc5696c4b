"""The null provider: always there, always Not Available with the reason, refuses requests."""

from __future__ import annotations

import pytest

from aperture_hookspecs import ApertureUser, MediaRef, NotConfiguredError, RequestState, TrackedRequest
from aperture_plugins import PluginHost

ITEMS = [MediaRef.parse("movie:603"), MediaRef.parse("tv:1399")]


@pytest.fixture
def host(data_dir):
    return PluginHost(data_dir, only=frozenset()).load()


async def test_lookups_are_not_available_with_the_reason(host):
    for user in (None, ApertureUser("alice")):
        answers = await host.lookup(ITEMS, user)
        assert [a.item for a in answers] == ITEMS
        for answer in answers:
            assert answer.state is RequestState.NOT_AVAILABLE
            assert answer.label == "Not Available"
            assert answer.reason == "no request provider is configured"
            assert answer.can_request is False
            assert "aperture-plugins use" in answer.admin_reason


async def test_an_empty_page_needs_no_call(host):
    assert await host.lookup([], None) == []


async def test_requests_are_refused_with_how_to_set_up_a_provider(host):
    with pytest.raises(NotConfiguredError, match="no request provider is configured") as caught:
        await host.submit_request(ITEMS[0], ApertureUser("alice"))
    assert any("configure jellyseerr" in hint for hint in caught.value.hints)


async def test_the_connection_test_says_there_is_nothing_to_test(host):
    report = await host.test_connection()
    assert report.ok  # a warning, not a failure
    assert report.problems[0].code == "no_provider"
    assert "nothing to test" in report.problems[0].message


async def test_polling_reports_nothing(host):
    tracked = [TrackedRequest("1", ITEMS[0], ApertureUser("alice"), RequestState.PENDING)]
    result = await host.poll(tracked)
    assert result.changes == () and result.tracked == tuple(tracked)


def test_the_null_provider_cannot_be_disabled_but_can_be_chosen(host):
    with pytest.raises(Exception, match="cannot be disabled"):
        host.disable("null")
    host.use("null")
    assert host.config.active is None
    assert host.active_provider().name == "null"


async def test_user_mapping_says_there_is_no_provider(host):
    [mapping] = await host.map_users([ApertureUser("alice")])
    assert not mapping.mapped
    assert "no request provider is configured" in mapping.problems[0]
