"""Reading the Seerr family's webhook deliveries (``aperture_overseerr.push_payload``).

Every delivery the real servers sent (``../shared/reference/recorded/*/webhooks.jsonl``, every
folder found there) parses to the notice the API call that caused it implies: the request and
title of that call's answer, the state its notification type means. Malformed bodies are
refused with an ``InvalidPushError`` that says what is wrong, and arbitrary bytes or JSON never
raise anything else (Home Assistant's integration fails with a ``KeyError`` on a payload without
``notification_type``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aperture_hookspecs import InvalidPushError, MediaRef, PushDelivery, PushKind, PushNotice, RequestState
from aperture_overseerr.push_payload import parse_body, parse_delivery

RECORDED = Path(__file__).parents[1].parent / "shared" / "reference" / "recorded"
FOLDERS = sorted(path.parent for path in RECORDED.glob("*/webhooks.jsonl")) if RECORDED.is_dir() else []

STATES = {
    "MEDIA_PENDING": RequestState.PENDING,
    "MEDIA_AUTO_APPROVED": RequestState.APPROVED,
    "MEDIA_APPROVED": RequestState.APPROVED,
    "MEDIA_DECLINED": RequestState.DECLINED,
    "MEDIA_FAILED": RequestState.FAILED,
    "MEDIA_AVAILABLE": RequestState.AVAILABLE,
}
"""What each notification type means for its request (notes §11)."""


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _deliveries() -> list[Any]:
    if not FOLDERS:
        return [pytest.param(None, None, marks=pytest.mark.skip(reason=f"no recordings at {RECORDED}"))]
    cases = []
    for folder in FOLDERS:
        exchanges = {record["seq"]: record for record in _lines(folder / "webhook-exchanges.jsonl")}
        for delivery in _lines(folder / "webhooks.jsonl"):
            cause = exchanges.get(delivery["trigger"]["exchange_seq"])
            cases.append(pytest.param(delivery, cause, id=f"{folder.name}#{delivery['seq']}"))
    return cases


def _delivery(body: bytes) -> PushDelivery:
    return PushDelivery(body, datetime.now(UTC), "application/json", {"user-agent": "axios/1.13.3"})


def test_the_recordings_are_found():
    if not RECORDED.is_dir():
        pytest.skip(f"the recordings of the real servers are not here: {RECORDED}")
    assert {folder.name for folder in FOLDERS} >= {"seerr-3.1.0", "overseerr-1.34.0", "jellyseerr-2.7.3"}


@pytest.mark.parametrize(("delivery", "cause"), _deliveries())
def test_every_recorded_delivery_parses_to_what_its_api_call_implies(delivery, cause):
    notice = parse_delivery(_delivery(delivery["body_raw"].encode()))
    kind = delivery["notification_type"]
    assert notice.notification == kind
    if kind == "TEST_NOTIFICATION":
        assert notice == PushNotice(PushKind.TEST, notification=kind)
        return
    assert notice.kind is PushKind.STATUS
    assert notice.state is STATES[kind]
    assert notice.is_4k is False  # no 4K request was recorded ("4K" would be in the event text)
    request, answer = cause["request"], cause["response"]["body"]
    path = request["path"]
    if request["method"] == "POST" and path == "/api/v1/request":  # created: the answer is the request
        assert notice.request_id == str(answer["id"])
        assert notice.item == MediaRef(request["body"]["mediaType"], request["body"]["mediaId"])
        expected_seasons = request["body"].get("seasons")
        assert notice.seasons == (tuple(expected_seasons) if expected_seasons else None)
    elif "/request/" in path:  # approve / decline: the id is in the path
        assert notice.request_id == path.split("/")[4]
        assert notice.item is not None
        assert notice.item.tmdb_id == answer["media"]["tmdbId"]
    else:  # POST /media/{id}/available: the answer is the media row
        assert path.startswith("/api/v1/media/") and path.endswith("/available")
        assert notice.item == MediaRef(answer["mediaType"], answer["tmdbId"])
        assert notice.request_id == delivery["body"]["request"]["request_id"]
    assert notice.requested_by == delivery["body"]["request"]["requestedBy_username"]
    assert notice.details["media_status"] == delivery["body"]["media"]["status"]
    assert json.dumps(dict(notice.details))  # plain values only


# -- what the recordings do not show -------------------------------------------------------------


def _payload(kind: str = "MEDIA_PENDING", **changes: Any) -> dict[str, Any]:
    """A delivery of the default template, as the server fills it (strings everywhere)."""
    payload: dict[str, Any] = {
        "notification_type": kind,
        "event": "New Series Request",
        "subject": "Breaking Bad (2011)",
        "message": "Overview of Breaking Bad.",
        "image": "https://image.tmdb.org/t/p/w600_and_h900_bestv2/poster1396.jpg",
        "media": {
            "media_type": "tv",
            "tmdbId": "1396",
            "tvdbId": "81189",
            "status": "PENDING",
            "status4k": "UNKNOWN",
        },
        "request": {
            "request_id": "4",
            "requestedBy_email": "alice@example.com",
            "requestedBy_username": "alice",
            "requestedBy_avatar": "",
            "requestedBy_settings_discordId": "",
            "requestedBy_settings_telegramChatId": "",
        },
        "issue": None,
        "comment": None,
        "extra": [{"name": "Requested Seasons", "value": "1, 2"}],
    }
    payload.update(changes)
    return payload


def _parse(payload: Any) -> PushNotice:
    return parse_body(json.dumps(payload, separators=(",", ":")).encode())


def test_4k_is_read_from_the_event_text():
    assert _parse(_payload(event="New 4K Series Request")).is_4k is True
    assert _parse(_payload(event="4K Movie Request Approved")).is_4k is True
    assert _parse(_payload(event="New Series Request")).is_4k is False
    assert _parse(_payload(event="Movie 4Kids Request")).is_4k is False


def test_requested_seasons_come_from_extra():
    assert _parse(_payload(extra=[{"name": "Requested Seasons", "value": "3, 1,2"}])).seasons == (1, 2, 3)
    assert _parse(_payload(extra=[])).seasons is None
    assert _parse(_payload(extra=None)).seasons is None
    assert _parse(_payload(extra=[{"name": "Other", "value": "x"}])).seasons is None


def test_a_show_that_is_only_partly_in_the_library_is_partially_available():
    media = {"media_type": "tv", "tmdbId": "1399", "status": "PARTIALLY_AVAILABLE", "status4k": "UNKNOWN"}
    assert _parse(_payload("MEDIA_AVAILABLE", media=media)).state is RequestState.PARTIALLY_AVAILABLE
    media4k = {**media, "status": "UNKNOWN", "status4k": "AVAILABLE"}
    notice = _parse(_payload("MEDIA_AVAILABLE", media=media4k, event="4K Series Request Now Available"))
    assert notice.state is RequestState.AVAILABLE and notice.is_4k


def test_numbers_instead_of_strings_are_read_too():
    notice = _parse(_payload(media={"media_type": "movie", "tmdbId": 680}, request={"request_id": 2}))
    assert (notice.item, notice.request_id) == (MediaRef.parse("movie:680"), "2")


def test_a_title_or_a_request_alone_is_enough():
    assert _parse(_payload(request=None)).request_id is None
    notice = _parse(_payload(media=None))
    assert (notice.item, notice.request_id, notice.seasons) == (None, "4", None)


@pytest.mark.parametrize(
    "kind", ["ISSUE_CREATED", "ISSUE_COMMENT", "ISSUE_RESOLVED", "ISSUE_REOPENED", "SOMETHING_NEW"]
)
def test_issues_and_unknown_types_are_ignored(kind):
    notice = _parse(_payload(kind, media=None, request=None, issue={"issue_id": "1"}))
    assert notice.kind is PushKind.IGNORED and notice.notification == kind


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b"", "not valid JSON"),
        (b'{"notification_type": "MEDIA_PENDING"', "not valid JSON"),
        (b"[" * 100_000, "nested too deeply"),
        (b'{"x": ' + b"1" * 5000 + b"}", "number is too long"),
        (b"[]", "a list, not a JSON object"),
        (b'"MEDIA_PENDING"', "text, not a JSON object"),
        (b"{}", "notification_type is missing"),
        (json.dumps(_payload(notification_type=None)).encode(), "notification_type is missing"),
        (json.dumps(_payload(notification_type=2)).encode(), "notification_type should be"),
        (json.dumps(_payload(media="680")).encode(), "media should be an object"),
        (json.dumps(_payload(media={"media_type": "music", "tmdbId": "1"})).encode(), "movie or tv"),
        (json.dumps(_payload(media={"media_type": "tv", "tmdbId": "abc"})).encode(), "media.tmdbId is not"),
        (json.dumps(_payload(media={"media_type": "tv", "tmdbId": "0"})).encode(), "media.tmdbId is not"),
        (json.dumps(_payload(media={"media_type": "tv", "tmdbId": "١٢"})).encode(), "media.tmdbId is not"),
        (json.dumps(_payload(media={"media_type": "tv"})).encode(), "media.tmdbId is missing"),
        (json.dumps(_payload(request={"request_id": "x1"})).encode(), "request.request_id is not"),
        (json.dumps(_payload(request={"request_id": True})).encode(), "request.request_id is not"),
        (json.dumps(_payload(request=[])).encode(), "request should be an object"),
        (json.dumps(_payload(media=None, request=None)).encode(), "names neither a title"),
        (json.dumps(_payload(event=4)).encode(), "event should be text"),
        (json.dumps(_payload(extra={"a": 1})).encode(), "extra should be a list"),
        (json.dumps(_payload(extra=[1])).encode(), "extra[0] should be an object"),
        (json.dumps(_payload(extra=[{"name": "Requested Seasons", "value": "1, two"}])).encode(), "season"),
    ],
)
def test_malformed_bodies_are_refused_saying_what_is_wrong(body, says):
    with pytest.raises(InvalidPushError) as raised:
        parse_body(body)
    assert says in raised.value.message
    assert len(raised.value.message) < 300


# -- hostile input: a notice or InvalidPushError, never anything else ---------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)
KEYS = ("notification_type", "event", "media", "request", "extra", "media_type", "tmdbId", "request_id")


def _parses_or_refuses(body: bytes) -> None:
    try:
        notice = parse_body(body)
    except InvalidPushError as error:
        message = error.message
        assert message.startswith("The pushed notification cannot be used: ")
        return
    assert isinstance(notice, PushNotice)
    if notice.kind is PushKind.STATUS:
        assert notice.item is not None or notice.request_id is not None
        assert notice.state is not None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes(body):
    _parses_or_refuses(body)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_any_json(value):
    _parses_or_refuses(json.dumps(value).encode())


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from([*STATES, "TEST_NOTIFICATION", "ISSUE_CREATED"]),
    st.dictionaries(st.sampled_from(KEYS), JSON, max_size=3),
    st.dictionaries(st.sampled_from(KEYS), JSON, max_size=3),
)
def test_any_field_of_a_real_delivery_replaced_by_anything(kind, top, inner):
    payload = _payload(kind, **top)
    for part in ("media", "request"):
        if isinstance(payload.get(part), dict):
            payload[part] = {**payload[part], **inner}
    _parses_or_refuses(json.dumps(payload).encode())
