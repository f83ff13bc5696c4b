"""The fake server's Webhook notification agent over real HTTP (``FakeSeerr.serve()`` and a real
receiver on 127.0.0.1): its settings routes, the deliveries of each request transition, the
``jsonPayload`` traps, and the fault switches (drop, delay, duplicate, reorder).

The exact bytes are checked against the real servers' recordings in
``test_fake_webhook_replay.py``; here each behaviour is driven on its own, in every flavour.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from aperture_overseerr.testing import FakeSeerr
from aperture_overseerr.testing.fake_flavours import AUTO_APPROVE, FLAVOURS, REQUEST
from aperture_overseerr.testing.fake_webhook_template import DEFAULT_TEMPLATE, DEFAULT_TEMPLATE_TEXT

from .webhook_receiver import Receiver, closed_port, running_receiver

HOOK = "/api/v1/settings/notifications/webhook"
SECRET = "Bearer fake-webhook-secret-0000"


@contextmanager
def served(flavour: str) -> Iterator[tuple[FakeSeerr, httpx.Client, dict[str, int]]]:
    """A fake with alice (REQUEST), dave (auto-approve), a movie and a show; an admin client."""
    fake = FakeSeerr(flavour)  # type: ignore[arg-type]
    users = {
        "alice": fake.add_user("alice", permissions=REQUEST),
        "dave": fake.add_user("dave", permissions=REQUEST | AUTO_APPROVE),
    }
    fake.radarr = fake.sonarr = False
    fake.add_title("movie", 680, "Pulp Fiction", date="1994-09-10", overview="Two hitmen.")
    fake.add_title("movie", 550, "Fight Club")
    fake.add_title("tv", 1396, "Breaking Bad", seasons=3, date="2008-01-20")
    with (
        fake.serve() as base_url,
        httpx.Client(base_url=base_url, headers={"X-Api-Key": fake.api_key}, timeout=10) as http,
    ):
        yield fake, http, users


def ui_body(url: str, *, auth: str | None = SECRET, types: int = 222, payload: Any = None) -> dict[str, Any]:
    """The settings body as the web UI sends it: the template text JSON-encoded once more."""
    options: dict[str, Any] = {
        "webhookUrl": url,
        "jsonPayload": json.dumps(DEFAULT_TEMPLATE_TEXT) if payload is None else payload,
    }
    if auth is not None:
        options["authHeader"] = auth
    return {"enabled": True, "types": types, "options": options}


def request_as(http: httpx.Client, user: int, **body: Any) -> httpx.Response:
    return http.post("/api/v1/request", json={"is4k": False, **body}, headers={"X-Api-User": str(user)})


def bodies(receiver: Receiver, count: int) -> list[dict[str, Any]]:
    return [json.loads(item.body) for item in receiver.wait_for(count)]


# ---------------------------------------------------------------------- settings
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_default_settings_show_the_template_text(flavour: str) -> None:
    with served(flavour) as (_fake, http, _users):
        answer = http.get(HOOK)
    assert answer.status_code == 200
    settings = answer.json()
    assert settings["enabled"] is False and settings["types"] == 0
    assert settings["options"]["webhookUrl"] == ""
    assert settings["options"]["jsonPayload"] == DEFAULT_TEMPLATE_TEXT
    assert json.loads(settings["options"]["jsonPayload"]) == DEFAULT_TEMPLATE
    seerr = flavour == "seerr"
    assert ("embedPoster" in settings) is seerr
    assert ("supportVariables" in settings["options"]) is seerr


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_saving_stores_base64_of_what_was_received_and_reads_back(flavour: str) -> None:
    import base64

    body = ui_body("http://127.0.0.1:9/hook")
    with served(flavour) as (_fake, http, _users):
        saved = http.post(HOOK, json=body)
        read = http.get(HOOK).json()
    assert saved.status_code == 200
    stored = saved.json()
    assert base64.b64decode(stored["options"]["jsonPayload"]).decode() == body["options"]["jsonPayload"]
    assert list(stored["options"])[:3] == ["jsonPayload", "webhookUrl", "authHeader"]
    assert "embedPoster" not in stored and "embedPoster" not in read
    assert read["options"]["jsonPayload"] == DEFAULT_TEMPLATE_TEXT
    assert read["options"]["authHeader"] == SECRET and read["enabled"] is True and read["types"] == 222


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_settings_routes_are_admin_only(flavour: str) -> None:
    with served(flavour) as (_fake, http, users):
        as_alice = {"X-Api-User": str(users["alice"])}
        answers = [
            http.get(HOOK, headers=as_alice),
            http.post(HOOK, json=ui_body("http://127.0.0.1:9/hook"), headers=as_alice),
            http.post(f"{HOOK}/test", json=ui_body("http://127.0.0.1:9/hook"), headers=as_alice),
        ]
        unchanged = http.get(HOOK).json()
    for answer in answers:
        assert answer.status_code == 403
        assert answer.json() == {"status": 403, "error": "You do not have permission to access this endpoint"}
    assert unchanged["enabled"] is False


# ---------------------------------------------------------------------- deliveries
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_each_transition_posts_once_with_the_authorization_header(flavour: str) -> None:
    with running_receiver() as receiver, served(flavour) as (fake, http, users):
        assert http.post(HOOK, json=ui_body(receiver.url)).status_code == 200
        created = request_as(http, users["alice"], mediaType="movie", mediaId=680)
        request_id, media_id = created.json()["id"], created.json()["media"]["id"]
        assert http.post(f"/api/v1/request/{request_id}/approve").status_code == 200
        assert http.post(f"/api/v1/media/{media_id}/available", json={"is4k": False}).status_code == 200
        show = request_as(http, users["alice"], mediaType="tv", mediaId=1396, seasons=[1, 2])
        assert http.post(f"/api/v1/request/{show.json()['id']}/decline").status_code == 200
        auto = request_as(http, users["dave"], mediaType="movie", mediaId=550)
        assert auto.status_code == 201
        got = bodies(receiver, 6)
        fake.wait_for_deliveries(5)
    assert [b["notification_type"] for b in got] == [
        "MEDIA_PENDING",
        "MEDIA_APPROVED",
        "MEDIA_AVAILABLE",
        "MEDIA_PENDING",
        "MEDIA_DECLINED",
        "MEDIA_AUTO_APPROVED",
    ]
    for item in receiver.received:
        assert ("Authorization", SECRET) in item.headers
    for delivery in fake.webhook_deliveries:
        assert delivery.header("Authorization") == SECRET
        shown = repr(delivery)  # what a failing assertion prints: never the secret
        assert SECRET.split()[-1] not in shown
        assert "('Authorization', '<hidden>')" in shown and "('Content-Type', 'application/json" in shown
        assert item.request_line == "POST /hook HTTP/1.1"
        assert dict(item.headers)["Content-Length"] == str(len(item.body))
    pending, approved, available, tv_pending, declined, auto_approved = got
    assert pending["event"] == "New Movie Request" and pending["subject"] == "Pulp Fiction (1994)"
    assert pending["message"] == "Two hitmen."
    assert pending["media"] == {
        "media_type": "movie",
        "tmdbId": "680",
        "tvdbId": "",
        "status": "PENDING",
        "status4k": "UNKNOWN",
    }
    assert pending["request"]["request_id"] == str(request_id)
    assert pending["request"]["requestedBy_username"] == "alice"
    assert approved["event"] == "Movie Request Approved" and approved["media"]["status"] == "PENDING"
    assert available["event"] == "Movie Request Now Available"
    assert available["media"]["status"] == "AVAILABLE"
    assert tv_pending["event"] == "New Series Request"
    assert tv_pending["subject"] == "Breaking Bad (2008)"
    assert tv_pending["extra"] == [{"name": "Requested Seasons", "value": "1, 2"}]
    assert declined["event"] == "Series Request Declined" and declined["media"]["status"] == "PENDING"
    assert auto_approved["event"] == "Movie Request Automatically Approved"
    assert auto_approved["request"]["requestedBy_username"] == "dave"
    assert list(pending) == [
        "notification_type",
        "event",
        "subject",
        "message",
        "image",
        "media",
        "request",
        "issue",
        "comment",
        "extra",
    ]
    assert pending["issue"] is None and pending["comment"] is None and pending["extra"] == []


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_types_bitmask_decides_what_is_sent(flavour: str) -> None:
    with running_receiver() as receiver, served(flavour) as (fake, http, users):
        http.post(HOOK, json=ui_body(receiver.url, types=4))  # MEDIA_APPROVED only
        created = request_as(http, users["alice"], mediaType="movie", mediaId=680).json()
        http.post(f"/api/v1/request/{created['id']}/approve")
        fake.wait_for_deliveries(5)
        assert http.post(f"{HOOK}/test", json=ui_body(receiver.url, types=0)).status_code == 204
        fake.wait_for_deliveries(5)
    assert [json.loads(r.body)["notification_type"] for r in receiver.received] == [
        "MEDIA_APPROVED",
        "TEST_NOTIFICATION",
    ]


def test_overseerr_sends_no_media_available_for_a_show_but_seerr_does() -> None:
    sent: dict[str, list[str]] = {}
    for flavour in ("overseerr", "seerr"):
        with running_receiver() as receiver, served(flavour) as (fake, http, users):
            http.post(HOOK, json=ui_body(receiver.url))
            show = request_as(http, users["alice"], mediaType="tv", mediaId=1396, seasons=[1, 2, 3]).json()
            http.post(f"/api/v1/request/{show['id']}/approve")
            seasons = [{"seasonNumber": n} for n in (1, 2, 3)]
            answer = http.post(
                f"/api/v1/media/{show['media']['id']}/available", json={"is4k": False, "seasons": seasons}
            )
            assert answer.status_code == 200
            fake.wait_for_deliveries(5)
            sent[flavour] = [json.loads(r.body)["notification_type"] for r in receiver.received]
    assert sent["overseerr"] == ["MEDIA_PENDING", "MEDIA_APPROVED"]
    assert sent["seerr"] == ["MEDIA_PENDING", "MEDIA_APPROVED", "MEDIA_AVAILABLE"]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_push_to_radarr_that_fails_sends_approved_then_failed(flavour: str) -> None:
    with running_receiver() as receiver, served(flavour) as (fake, http, users):
        http.post(HOOK, json=ui_body(receiver.url))
        fake.radarr = fake.arr_unreachable = True
        created = request_as(http, users["alice"], mediaType="movie", mediaId=680).json()
        http.post(f"/api/v1/request/{created['id']}/approve")
        request_as(http, users["dave"], mediaType="movie", mediaId=550)
        fake.wait_for_deliveries(5)
    got = [json.loads(r.body) for r in receiver.received]
    assert [b["notification_type"] for b in got] == [
        "MEDIA_PENDING",
        "MEDIA_APPROVED",
        "MEDIA_FAILED",
        "MEDIA_AUTO_APPROVED",
        "MEDIA_FAILED",
    ]
    assert got[2]["event"] == "Movie Request Failed" and got[2]["media"]["status"] == "PENDING"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_builders_notify_like_the_routes(flavour: str) -> None:
    """``approve``/``decline``/``fail``/``mark_available`` are transitions too."""
    with running_receiver() as receiver, served(flavour) as (fake, http, users):
        fake.configure_webhook(receiver.url, auth_header=SECRET)
        first = request_as(http, users["alice"], mediaType="movie", mediaId=680).json()["id"]
        second = request_as(http, users["alice"], mediaType="movie", mediaId=550).json()["id"]
        fake.approve(first)
        fake.mark_available(first)
        fake.decline(second)
        fake.wait_for_deliveries(5)
    assert [json.loads(r.body)["notification_type"] for r in receiver.received] == [
        "MEDIA_PENDING",
        "MEDIA_PENDING",
        "MEDIA_APPROVED",
        "MEDIA_AVAILABLE",
        "MEDIA_DECLINED",
    ]
    assert all(("Authorization", SECRET) in r.headers for r in receiver.received)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_delivery_never_blocks_the_api_call(flavour: str) -> None:
    """The receiver never answers: the request is still created, the delivery waits alone."""
    with running_receiver("hang") as receiver, served(flavour) as (fake, http, users):
        receiver.hang_seconds = 1.0
        fake.configure_webhook(receiver.url)
        answer = request_as(http, users["alice"], mediaType="movie", mediaId=680)
        assert answer.status_code == 201
        receiver.wait_for(1)
        assert fake.webhook_deliveries[0].status is None  # still waiting for the answer
        with pytest.raises(TimeoutError, match="waiting for an answer"):
            fake.wait_for_deliveries(0.2)
        fake.wait_for_deliveries(10)
    assert fake.webhook_deliveries[0].error == "socket hang up"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_no_retry_after_a_500_or_a_refused_connection(flavour: str) -> None:
    with running_receiver("fail") as receiver, served(flavour) as (fake, http, users):
        http.post(HOOK, json=ui_body(receiver.url))
        request_as(http, users["alice"], mediaType="movie", mediaId=680)
        fake.wait_for_deliveries(5)
        http.post(HOOK, json=ui_body(f"http://127.0.0.1:{closed_port()}/hook"))
        request_as(http, users["alice"], mediaType="movie", mediaId=550)
        fake.wait_for_deliveries(5)
        time.sleep(0.3)
    assert len(receiver.received) == 1
    first, second = fake.webhook_deliveries
    assert first.status == 500 and first.error == "Request failed with status code 500"
    assert not second.sent and second.error is not None and "ECONNREFUSED" in second.error


# ---------------------------------------------------------------------- /test
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_test_notification_is_synchronous(flavour: str) -> None:
    with running_receiver() as receiver, served(flavour) as (_fake, http, _users):
        ok = http.post(f"{HOOK}/test", json=ui_body(receiver.url))
        assert len(receiver.received) == 1  # arrived before the answer
        receiver.mode = "fail"
        failed = http.post(f"{HOOK}/test", json=ui_body(receiver.url))
        refused = http.post(f"{HOOK}/test", json=ui_body(f"http://127.0.0.1:{closed_port()}/hook"))
        settings = http.get(HOOK).json()
    assert ok.status_code == 204 and ok.content == b"" and "content-type" not in ok.headers
    for answer in (failed, refused):
        assert answer.status_code == 500
        assert answer.json() == {"message": "Failed to send webhook notification."}
    assert settings["enabled"] is False  # /test saves nothing
    assert json.loads(receiver.received[0].body) == {
        "notification_type": "TEST_NOTIFICATION",
        "event": "",
        "subject": "Test Notification",
        "message": "Check check, 1, 2, 3. Are we coming in clear?",
        "image": "",
        "media": None,
        "request": None,
        "issue": None,
        "comment": None,
        "extra": [],
    }


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_test_waiting_on_a_hung_receiver_does_not_block_the_server(flavour: str) -> None:
    """While ``/test`` waits for a receiver that never answers, other calls are served: the
    GET is answered before the receiver gives up (it closes the connection after 1.5 s)."""
    with running_receiver("hang") as receiver, served(flavour) as (_fake, http, _users):
        receiver.hang_seconds = 1.5
        results: list[httpx.Response] = []
        thread = threading.Thread(
            target=lambda: results.append(http.post(f"{HOOK}/test", json=ui_body(receiver.url)))
        )
        thread.start()
        (hung,) = receiver.wait_for(1)
        assert http.get(HOOK).status_code == 200
        answered_at = time.monotonic()
        thread.join(10)
    assert answered_at < hung.at + receiver.hang_seconds
    assert results[0].status_code == 500


# ---------------------------------------------------------------------- the jsonPayload traps
OBJECT_REFUSED = {
    "message": "request.body.options.jsonPayload should be string",
    "errors": [
        {
            "path": ".body.options.jsonPayload",
            "message": "should be string",
            "errorCode": "type.openapi.validation",
        }
    ],
}


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_template_object_is_refused_and_changes_nothing(flavour: str) -> None:
    with running_receiver() as receiver, served(flavour) as (_fake, http, _users):
        http.post(HOOK, json=ui_body(receiver.url))
        before = http.get(HOOK).json()
        saved = http.post(HOOK, json=ui_body(receiver.url, payload=DEFAULT_TEMPLATE, types=2))
        tested = http.post(f"{HOOK}/test", json=ui_body(receiver.url, payload=DEFAULT_TEMPLATE))
        after = http.get(HOOK).json()
    assert saved.status_code == 400 and saved.json() == OBJECT_REFUSED
    assert tested.status_code == 400 and tested.json() == OBJECT_REFUSED
    assert after == before and not receiver.received


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_text_encoded_once_is_accepted_but_breaks_every_notification(flavour: str) -> None:
    with running_receiver() as receiver, served(flavour) as (fake, http, users):
        once = ui_body(receiver.url, payload=DEFAULT_TEMPLATE_TEXT)
        saved = http.post(HOOK, json=once)
        shown = http.get(HOOK).json()["options"]["jsonPayload"]
        tested = http.post(f"{HOOK}/test", json=once)
        created = request_as(http, users["alice"], mediaType="movie", mediaId=680)
        fake.wait_for_deliveries(5)
        nothing_sent = list(receiver.received)
        errors = fake.webhook_errors
        http.post(HOOK, json=ui_body(receiver.url))  # the UI encoding again fixes it
        request_as(http, users["alice"], mediaType="movie", mediaId=550)
        fake.wait_for_deliveries(5)
    assert saved.status_code == 200
    assert shown == DEFAULT_TEMPLATE  # an object now, not the text
    assert tested.status_code == 500 and tested.json() == {"message": "Failed to send webhook notification."}
    assert created.status_code == 201 and nothing_sent == []
    v8 = (
        "Unexpected token o in JSON at position 1"
        if flavour == "overseerr"
        else '"[object Object]" is not valid JSON'
    )
    assert len(errors) == 2 and all(v8 in line for line in errors)
    assert [json.loads(r.body)["subject"] for r in receiver.received] == ["Fight Club (2000)"]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_payload_that_is_no_json_is_refused_with_the_parse_error(flavour: str) -> None:
    with served(flavour) as (_fake, http, _users):
        answer = http.post(HOOK, json=ui_body("http://127.0.0.1:9/hook", payload="{not json"))
        missing = http.post(HOOK, json={"enabled": True, "types": 2, "options": {"webhookUrl": "http://x/"}})
        settings = http.get(HOOK).json()
    assert answer.status_code == 500 and "JSON at position 1" in answer.json()["message"]
    undefined = (
        "Unexpected token u in JSON at position 0"
        if flavour == "overseerr"
        else '"undefined" is not valid JSON'
    )
    assert missing.status_code == 500 and missing.json() == {"message": undefined}
    assert settings["enabled"] is False


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_custom_template_is_filled_as_the_agent_fills_it(flavour: str) -> None:
    """Each placeholder replaced at its first occurrence per string, ``$&`` expanded as
    ``String.replace`` does, non-string values kept, integer-like keys first, ``{{media}}``
    renamed, unknown placeholders left."""
    template = (
        '{"title": "{{subject}} | {{subject}}", "7": "{{media_tmdbid}}", "n": 5, "flag": true,'
        ' "list": ["{{event}}", {"who": "{{requestedBy_email}}"}], "{{media}}": {"s": "{{media_status}}"},'
        ' "other": "{{nope}}", "3": "x"}'
    )
    with running_receiver() as receiver, served(flavour) as (fake, http, users):
        fake.add_title("movie", 13, "Cost $& Co", date="1994-07-06")
        http.post(HOOK, json=ui_body(receiver.url, payload=json.dumps(template)))
        request_as(http, users["alice"], mediaType="movie", mediaId=13)
        fake.wait_for_deliveries(5)
    (item,) = receiver.received
    assert item.body.decode() == (
        '{"3":"x","7":"13","title":"Cost {{subject}} Co (1994) | {{subject}}","n":5,"flag":true,'
        '"list":["New Movie Request",{"who":"alice@example.invalid"}],"other":"{{nope}}",'
        '"media":{"s":"PENDING"}}'
    )


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_no_authorization_header_without_an_auth_header(flavour: str) -> None:
    with running_receiver() as receiver, served(flavour) as (fake, http, users):
        http.post(HOOK, json=ui_body(receiver.url, auth=None))
        request_as(http, users["alice"], mediaType="movie", mediaId=680)
        fake.wait_for_deliveries(5)
    (item,) = receiver.received
    assert "Authorization" not in dict(item.headers)


# ---------------------------------------------------------------------- fault switches
def two_transitions(http: httpx.Client, users: dict[str, int]) -> None:
    created = request_as(http, users["alice"], mediaType="movie", mediaId=680).json()
    http.post(f"/api/v1/request/{created['id']}/approve")


def types_received(receiver: Receiver) -> list[str]:
    return [json.loads(r.body)["notification_type"] for r in receiver.received]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_drop_next_loses_deliveries(flavour: str) -> None:
    with running_receiver() as receiver, served(flavour) as (fake, http, users):
        fake.configure_webhook(receiver.url, auth_header=SECRET)
        fake.webhook_faults.drop_next(1)
        two_transitions(http, users)
        fake.wait_for_deliveries(5)
    assert types_received(receiver) == ["MEDIA_APPROVED"]
    assert [d.notification_type for d in fake.webhook_faults.dropped] == ["MEDIA_PENDING"]
    assert [d.notification_type for d in fake.webhook_deliveries] == ["MEDIA_APPROVED"]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_delay_holds_deliveries_back_without_blocking_the_api(flavour: str) -> None:
    with running_receiver() as receiver, served(flavour) as (fake, http, users):
        fake.configure_webhook(receiver.url)
        fake.webhook_faults.delay(0.6)
        started = time.monotonic()
        answer = request_as(http, users["alice"], mediaType="movie", mediaId=680)
        answered_at = time.monotonic()
        assert answer.status_code == 201
        assert not receiver.received or receiver.received[0].at - started >= 0.6
        fake.wait_for_deliveries(5)
    (item,) = receiver.received
    assert item.at - started >= 0.6 and answered_at < item.at
    assert fake.webhook_deliveries[0].fault == "delayed"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_duplicate_next_sends_the_same_bytes_twice(flavour: str) -> None:
    with running_receiver() as receiver, served(flavour) as (fake, http, users):
        fake.configure_webhook(receiver.url, auth_header=SECRET)
        fake.webhook_faults.duplicate_next(1)
        two_transitions(http, users)
        fake.wait_for_deliveries(5)
    assert types_received(receiver) == ["MEDIA_PENDING", "MEDIA_PENDING", "MEDIA_APPROVED"]
    first, second, _ = receiver.received
    assert first.body == second.body and first.headers == second.headers
    assert [d.fault for d in fake.webhook_deliveries] == [None, "duplicate", None]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_reorder_next_sends_them_the_other_way_round(flavour: str) -> None:
    with running_receiver() as receiver, served(flavour) as (fake, http, users):
        fake.configure_webhook(receiver.url)
        fake.webhook_faults.reorder_next(2)
        two_transitions(http, users)
        fake.wait_for_deliveries(5)
        assert types_received(receiver) == ["MEDIA_APPROVED", "MEDIA_PENDING"]
        fake.webhook_faults.reorder_next(3)
        request_as(http, users["alice"], mediaType="movie", mediaId=550)
        with pytest.raises(TimeoutError, match="1 held by reorder_next"):
            fake.wait_for_deliveries(0.2)
        assert len(receiver.received) == 2
        fake.webhook_faults.release()
        fake.wait_for_deliveries(5)
    assert types_received(receiver) == ["MEDIA_APPROVED", "MEDIA_PENDING", "MEDIA_PENDING"]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_faults_spare_the_test_notification(flavour: str) -> None:
    with running_receiver() as receiver, served(flavour) as (fake, http, _users):
        fake.webhook_faults.drop_next(5)
        answer = http.post(f"{HOOK}/test", json=ui_body(receiver.url))
    assert answer.status_code == 204 and types_received(receiver) == ["TEST_NOTIFICATION"]
