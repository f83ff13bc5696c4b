"""The contract's types and errors: they refuse nonsense and say what to do."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from aperture_hookspecs import (
    ApertureError,
    ApertureUser,
    Availability,
    CannotConnectError,
    InvalidAPIKeyError,
    InvalidSettingsError,
    MediaRef,
    MediaType,
    ProviderContext,
    ProviderInfo,
    QuotaExceededError,
    RefusedConnectionError,
    RequestOptions,
    RequestState,
    StatusChange,
    TrackedRequest,
)

MATRIX = MediaRef(MediaType.MOVIE, 603)

EXPECTED_BADGES = {
    "requestable": ("Request", "blue"),
    "pending": ("Pending", "yellow"),
    "approved": ("Approved", "green"),
    "processing": ("Processing", "orange"),
    "available": ("Available", "purple"),
    "declined": ("Declined", "red"),
    "not_available": ("Not Available", "grey"),
}


@pytest.mark.parametrize(("state", "badge"), EXPECTED_BADGES.items())
def test_states_carry_the_design_labels_and_colours(state, badge):
    assert (RequestState(state).label, RequestState(state).color) == badge
    assert RequestState(state).hex.startswith("#")


def test_every_state_has_a_badge():
    for state in RequestState:
        assert state.label and state.color and state.meaning


@pytest.mark.parametrize("text", ["movie:603", " Movie : 603 ", "MOVIE:603"])
def test_media_refs_parse(text):
    assert MediaRef.parse(text) == MATRIX
    assert str(MediaRef.parse(text)) == "movie:603"


@pytest.mark.parametrize(
    "text", ["movie", "603", "film:603", "movie:-1", "movie:0", "tv:1.5", "movie:603:1", ""]
)
def test_bad_media_refs_say_the_expected_form(text):
    with pytest.raises(ValueError, match="not a title reference"):
        MediaRef.parse(text)


def test_availability_refuses_contradictions():
    with pytest.raises(ValueError, match="cannot show a Request button"):
        Availability(MATRIX, RequestState.AVAILABLE, can_request=True)
    with pytest.raises(ValueError, match="needs a reason"):
        Availability(MATRIX, RequestState.NOT_AVAILABLE)
    with pytest.raises(ValueError, match="say why"):
        Availability(MATRIX, RequestState.REQUESTABLE, can_request=False)
    answer = Availability(MATRIX, RequestState.REQUESTABLE, can_request=True)
    assert answer.to_dict()["label"] == "Request"


def test_request_options_normalise_seasons():
    assert RequestOptions(seasons=[3, 1, 3]).seasons == (1, 3)
    assert RequestOptions().seasons == "all"
    with pytest.raises(ValueError, match="at least one season"):
        RequestOptions(seasons=())
    with pytest.raises(ValueError, match="whole numbers"):
        RequestOptions(seasons=(1, -2))


def test_provider_names_are_checked():
    with pytest.raises(ValueError, match="lowercase"):
        ProviderInfo(name="My Provider", title="x", version="1")


def test_status_change_needs_two_states():
    request = TrackedRequest("1", MATRIX, ApertureUser("alice"), RequestState.PENDING)
    with pytest.raises(ValueError, match="two different states"):
        StatusChange("p", request, RequestState.PENDING, RequestState.PENDING, datetime.now(UTC))


def test_errors_say_what_to_do_and_nest_by_meaning():
    error = RefusedConnectionError()
    assert isinstance(error, CannotConnectError) and isinstance(error, ApertureError)
    assert "Verify the URL is correct" in str(error)
    assert "Generate a new key" in str(InvalidAPIKeyError())
    quota = QuotaExceededError("0 of 5 movie requests left; the window is 7 days")
    assert str(quota).startswith("0 of 5 movie requests left")
    assert quota.to_dict()["error"] == "quota_exceeded"
    invalid = InvalidSettingsError(field_errors={"url": "needs a host name", "timeout": "must be a number"})
    assert "url: needs a host name" in str(invalid) and invalid.to_dict()["field_errors"]["timeout"]


def test_duplicate_answers_keep_the_contract_for_providers_that_say_nothing_more():
    from aperture_hookspecs import (
        AlreadyRequestedError,
        CSRFProtectionError,
        RequestResult,
        ServerMisconfiguredError,
    )

    plain = AlreadyRequestedError("tv:1399 is in the library")
    assert (plain.state, plain.requested_by) == (None, None)
    assert plain.to_dict()["state"] is None and plain.to_dict()["requested_by"] is None
    named = AlreadyRequestedError("x", state="approved", requested_by="alice")
    assert named.state is RequestState.APPROVED and named.to_dict()["state"] == "approved"
    with pytest.raises(ValueError, match="nonsense"):
        AlreadyRequestedError("x", state="nonsense")
    result = RequestResult(MATRIX, "7", RequestState.PENDING)
    assert result.already_requested is False and result.to_dict()["already_requested"] is False
    csrf = CSRFProtectionError()
    assert isinstance(csrf, ServerMisconfiguredError) and csrf.code == "csrf_enabled"


def test_a_provider_context_never_shows_its_settings():
    context = ProviderContext("x", {"api_key": "FAKE-KEY-SECRET"}, Path("/tmp"))
    assert "FAKE-KEY-SECRET" not in repr(context)
    assert "FAKE-KEY-SECRET" not in str(context)
