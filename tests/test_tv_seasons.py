"""TV seasons, one by one: each season's state from the show's season rows and the open requests
by anyone, the badge that follows, and the refusal of seasons a show does not have.

The models are parsed from bodies recorded on real servers (``../shared/reference/recorded``):
``/tv/1399`` is partially available there (season 1 available, seasons 2 and 3 unknown),
``/tv/1396`` has a request-created row without season rows, and the TV request appears pending,
approved and declined. Where a scenario needs a state no recording shows (a season downloading,
a deleted season), the recorded body is changed in the one field named, and the queue item
has the shape of notes §7.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from aperture_hookspecs import MediaRef, RequestRefusedError, RequestState
from aperture_overseerr.availability import Viewer, availability_for
from aperture_overseerr.connection import ServerIdentity
from aperture_overseerr.models import MediaRequest, MediaRow, PublicSettings, SeerrUser, TvShow
from aperture_overseerr.permissions import Permission
from aperture_overseerr.profiles import JELLYSEERR_20, JELLYSEERR_26, OVERSEERR, OVERSEERR_135, SEERR
from aperture_overseerr.seasons import (
    SeasonState,
    number_ranges,
    refusal,
    seasons_text,
    show_seasons,
    specials_requestable,
)

RECORDED = Path(__file__).parents[1].parent / "shared" / "reference" / "recorded"
THRONES, BREAKING_BAD = MediaRef.parse("tv:1399"), MediaRef.parse("tv:1396")
ALICE = Viewer(SeerrUser(2, 32, "alice"))


@cache
def exchanges(folder: str) -> dict[str, dict[str, Any]]:
    path = RECORDED / folder / "exchanges.jsonl"
    if not path.exists():
        pytest.skip(f"recorded exchanges not found at {path} (shared/reference is not checked out)")
    by_step = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        by_step[record["step"]] = record
    webhook = RECORDED / folder / "webhook-exchanges.jsonl"
    for line in webhook.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        by_step[f"webhook:{record['step']}"] = record
    return by_step


def body(step: str, folder: str = "seerr-3.1.0") -> Any:
    return copy.deepcopy(exchanges(folder)[step]["response"]["body"])


def thrones_row(**season_changes: int) -> dict[str, Any]:
    """The recorded partially available ``mediaInfo`` of tv 1399; ``s2=7`` sets season 2's status."""
    info = body("tv-in-db")["mediaInfo"]
    for season in info["seasons"]:
        key = f"s{season['seasonNumber']}"
        if key in season_changes:
            season["status"] = season_changes[key]
    return info


def row(info: dict[str, Any]) -> MediaRow:
    return MediaRow.parse(info, "recorded mediaInfo")


def request(step: str, *, seasons: tuple[int, ...] | None = None, folder: str = "seerr-3.1.0", **fields: Any):
    """A recorded request, its ``seasons`` cut down to ``seasons`` and top-level ``fields`` replaced."""
    value = body(step, folder)
    value = value.get("mediaInfo", {}).get("requests", [value])[0] if "mediaInfo" in value else value
    if seasons is not None:
        template = value["seasons"][0]
        value["seasons"] = [{**template, "seasonNumber": number} for number in seasons]
    value.update(fields)
    return MediaRequest.parse(value, "recorded request")


def queue_item(season: int, *, size: int = 1000, left: int = 600) -> dict[str, Any]:
    """A Sonarr queue item as ``downloadStatus`` carries it (notes §7)."""
    return {
        "externalId": 2002,
        "mediaType": "tv",
        "title": f"Game.of.Thrones.S{season:02d}E01.1080p",
        "status": "downloading",
        "size": size,
        "sizeLeft": left,
        "timeLeft": "00:12:00",
        "estimatedCompletionTime": "2026-12-01T16:00:00.000Z",
        "episode": {"seasonNumber": season, "episodeNumber": 1, "absoluteEpisodeNumber": 1, "id": 7},
        "downloadId": "ABC",
    }


def card(info_or_row: Any, open_requests=(), *, profile=SEERR, is_4k=False, viewer=ALICE, item=THRONES):
    media = info_or_row if isinstance(info_or_row, MediaRow) or info_or_row is None else row(info_or_row)
    return availability_for(item, media, viewer, None, profile, is_4k, open_requests=open_requests)


# -- the recorded states ---------------------------------------------------------------------------


def test_the_recorded_partial_show_offers_its_unknown_seasons():
    answer = card(thrones_row())
    assert answer.state is RequestState.PARTIALLY_AVAILABLE and answer.can_request
    assert answer.requestable_seasons == (2, 3)
    assert answer.reason == "season 1 in the library"


def test_a_season_another_user_asked_for_is_pending_not_requestable():
    pending = request("request-get-tv", seasons=(2,))  # alice's pending TV request, as recorded
    answer = card(thrones_row(), [pending])
    assert answer.state is RequestState.PARTIALLY_AVAILABLE and answer.can_request
    assert answer.requestable_seasons == (3,)
    assert "season 2 requested, awaiting approval" in answer.reason


def test_every_missing_season_asked_for_shows_pending_without_a_request_button():
    pending = request("request-get-tv", seasons=(2, 3))
    answer = card(thrones_row(), [pending])
    assert answer.state is RequestState.PENDING and not answer.can_request
    assert answer.requestable_seasons == ()
    assert answer.reason == "season 1 in the library; seasons 2–3 requested, awaiting approval"


def test_an_approved_season_downloading_shows_processing_with_its_progress():
    """After approval the real server keeps the show at 4 (trap 19): the season tells."""
    info = thrones_row()
    info["downloadStatus"] = [queue_item(2, size=1000, left=250)]
    approved = request("webhook:tv-1396-detail", seasons=(2,))  # approved TV request, as recorded
    assert approved.status == 2 and info["status"] == 4
    answer = card(info, [approved])
    assert answer.state is RequestState.PROCESSING
    assert answer.progress is not None and answer.progress.fraction == pytest.approx(0.75)
    assert answer.reason == "season 1 in the library; season 2 downloading"
    assert answer.requestable_seasons == (3,)


def test_progress_is_that_of_the_downloading_season_only():
    info = thrones_row(s3=5)
    info["downloadStatus"] = [queue_item(2, size=1000, left=500), queue_item(7, size=9000, left=9000)]
    approved = request("webhook:tv-1396-detail", seasons=(2,))
    answer = card(info, [approved])
    assert answer.state is RequestState.PROCESSING
    assert answer.progress.fraction == pytest.approx(0.5) and answer.progress.size_bytes == 1000


def test_an_approved_season_not_downloading_yet_is_approved():
    approved = request("webhook:tv-1396-detail", seasons=(2, 3))
    answer = card(thrones_row(), [approved])
    assert answer.state is RequestState.APPROVED
    assert answer.reason == "season 1 in the library; seasons 2–3 approved, not downloading yet"


def test_a_failed_season_is_failed():
    failed = request("webhook:tv-1396-detail", seasons=(2, 3), status=4)
    answer = card(thrones_row(), [failed])
    assert answer.state is RequestState.FAILED
    assert "could not be sent to the downloader" in answer.reason and answer.admin_reason


@pytest.mark.parametrize("folder", ["seerr-3.1.0", "overseerr-1.34.0", "jellyseerr-2.7.3"])
def test_a_declined_request_claims_no_season_whatever_its_season_rows_say(folder):
    """Overseerr and Jellyseerr leave a declined request's seasons at 1 (pending); Seerr sets 3."""
    declined = request("after-request-tv", folder=folder, seasons=(2, 3))
    assert declined.status == 3
    answer = card(thrones_row(), [declined])
    assert answer.state is RequestState.PARTIALLY_AVAILABLE and answer.requestable_seasons == (2, 3)
    # the recorded show after the decline: back to unknown, its declined request still listed
    info = body("after-tv", folder)["mediaInfo"]
    requests = [MediaRequest.parse(r, "recorded") for r in info["requests"]]
    again = card(info, requests, item=BREAKING_BAD)
    assert again.state is RequestState.REQUESTABLE and again.can_request


def test_a_completed_request_is_not_open():
    completed = request("request-get-tv", seasons=(2,), status=5)
    assert card(thrones_row(), [completed]).requestable_seasons == (2, 3)


def test_the_regular_and_the_4k_instance_are_separate():
    pending_4k = request("request-get-tv", seasons=(2, 3), is4k=True)
    regular = card(thrones_row(), [pending_4k])
    assert regular.requestable_seasons == (2, 3)
    pending = request("request-get-tv", seasons=(2, 3))
    may_4k = Viewer(SeerrUser(2, int(Permission.REQUEST | Permission.REQUEST_4K), "alice"))
    in_4k = card(thrones_row(), [pending], is_4k=True, viewer=may_4k)  # status4k is 1 everywhere
    assert in_4k.state is RequestState.REQUESTABLE and in_4k.can_request and in_4k.is_4k


def test_a_request_created_row_has_no_season_rows_and_the_request_tells():
    """Notes §14: requested seasons exist only in ``request.seasons`` until a library scan."""
    info = body("tv-after-request")["mediaInfo"]
    assert info["seasons"] == [] and info["status"] == 2
    requests = [MediaRequest.parse(r, "recorded") for r in info["requests"]]
    answer = card(info, requests, item=BREAKING_BAD)
    assert answer.state is RequestState.PENDING
    assert answer.reason == "seasons 1–2 requested, awaiting approval"


def test_a_request_created_row_after_approval_is_approved_for_its_seasons():
    info = body("webhook:tv-1396-detail")["mediaInfo"]
    assert info["seasons"] == [] and info["status"] == 3
    requests = [MediaRequest.parse(r, "recorded") for r in info["requests"]]
    answer = card(info, requests, item=BREAKING_BAD)
    assert answer.state is RequestState.APPROVED
    assert answer.reason == "seasons 1–2 approved, not downloading yet"


# -- deleted seasons -------------------------------------------------------------------------------


@pytest.mark.parametrize(("profile", "deleted"), [(SEERR, 7), (JELLYSEERR_26, 7), (OVERSEERR_135, 6)])
def test_a_deleted_season_may_be_requested_again(profile, deleted):
    answer = card(thrones_row(s2=deleted, s3=5), profile=profile)
    assert answer.state is RequestState.PARTIALLY_AVAILABLE and answer.can_request
    assert answer.requestable_seasons == (2,)
    assert answer.reason == "seasons 1, 3 in the library; season 2 removed from the library"


@pytest.mark.parametrize(("profile", "status"), [(SEERR, 6), (JELLYSEERR_20, 7), (OVERSEERR, 6)])
def test_a_status_that_is_not_deleted_on_the_product_is_not_offered(profile, status):
    answer = card(thrones_row(s2=status, s3=5), profile=profile)
    assert answer.requestable_seasons == ()
    assert answer.state is RequestState.PARTIALLY_AVAILABLE and not answer.can_request
    assert answer.reason.endswith("nothing left to request")


def test_season_states_one_by_one():
    info = thrones_row(s3=3)
    info["seasons"].append({**info["seasons"][0], "seasonNumber": 4, "status": 4})
    info["seasons"].append({**info["seasons"][0], "seasonNumber": 0, "status": 1})
    states = show_seasons(row(info), [request("request-get-tv", seasons=(5,))], SEERR, False)
    assert states.states == (
        (1, SeasonState.AVAILABLE),
        (2, SeasonState.MISSING),
        (3, SeasonState.APPROVED),  # the season row says PROCESSING, nothing in the queue
        (4, SeasonState.PARTIAL),
        (5, SeasonState.PENDING),  # only in the request (season 0 is left out: no specials)
    )
    with_specials = show_seasons(row(info), [], SEERR, False, specials=True)
    assert with_specials.state_of(0) is SeasonState.MISSING and with_specials.requestable == (0, 2)


def test_a_season_in_the_library_wins_over_an_open_request():
    pending = request("request-get-tv", seasons=(1, 2))
    states = show_seasons(row(thrones_row()), [pending], SEERR, False)
    assert states.state_of(1) is SeasonState.AVAILABLE and states.state_of(2) is SeasonState.PENDING


# -- the show's seasons and the refusal ------------------------------------------------------------


def test_the_tv_show_lists_its_tmdb_seasons():
    show = TvShow.parse(body("tv-in-db"))
    assert (show.tmdb_id, show.name, show.season_numbers) == (1399, body("tv-in-db")["name"], (0, 1, 2, 3))


@pytest.mark.parametrize(
    ("folder", "expected"), [("seerr-3.1.0", False), ("jellyseerr-2.7.3", False), ("overseerr-1.34.0", True)]
)
def test_specials_follow_the_server_setting(folder, expected):
    public = PublicSettings.parse(body("discovery-settings-public", folder))
    identity = ServerIdentity(SEERR, "x", None, public)
    assert specials_requestable(identity) is expected
    enabled = PublicSettings.parse(
        {**body("discovery-settings-public", folder), "enableSpecialEpisodes": True}
    )
    assert specials_requestable(ServerIdentity(SEERR, "x", None, enabled)) is True


def test_season_lists_are_written_as_ranges():
    assert number_ranges([3, 1, 2, 5, 7, 8]) == "1–3, 5, 7–8"
    assert seasons_text((4,)) == "season 4" and seasons_text((1, 2, 3, 4, 5, 6, 7, 8)) == "seasons 1–8"


def test_the_refusal_names_the_seasons_the_show_has():
    error = refusal(THRONES, "Game of Thrones", (2, 99), tuple(range(1, 9)), False, "Seerr")
    assert isinstance(error, RequestRefusedError) and error.code == "request_refused"
    assert error.message == "tv:1399 (Game of Thrones) has no season 99; the show has seasons 1–8"
    specials = refusal(THRONES, "Game of Thrones", (0,), tuple(range(1, 9)), False, "Seerr")
    assert "season 0 (specials) cannot be requested" in specials.message
    assert "the show has seasons 1–8" in specials.message
    assert any("special episodes" in hint for hint in specials.hints)
