"""``/api/…`` over real HTTP (uvicorn on 127.0.0.1) against the fake Jellyseerr over real HTTP.

The answers are checked against the fake's state and against the CLI's ``--json`` for the same
data directory (the same shapes); refusals have their statuses and error documents; hostile
input (malformed JSON, wrong types, unknown fields, huge bodies and pages, bad titles) is a
400/413 with a message and changes nothing. The fake's API key is the leak canary: conftest
fails the test if it (or the API token) is in any log record or any answer of the app.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from aperture_overseerr.permissions import Permission
from aperture_overseerr.testing import FakeSeerr
from aperture_plugins.admin import configure
from aperture_plugins.cli import main
from aperture_plugins.host import PluginHost
from aperture_plugins.web import api_routes, create_app

from .conftest import CANARY
from .web_server import ServedApp, serve_app


@dataclass
class World:
    fake: FakeSeerr
    host: PluginHost
    served: ServedApp
    token: str
    stop_fake: Callable[[], None]

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.served.url,
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=30,
        )

    def get(self, path: str, **options: Any) -> httpx.Response:
        with self.client() as client:
            return client.get(path, **options)

    def post(self, path: str, **options: Any) -> httpx.Response:
        with self.client() as client:
            return client.post(path, **options)

    def lookups(self) -> float:
        metrics = self.served.server.config.app.state.aperture.metrics
        return metrics.registry.get_sample_value("aperture_lookup_seconds_count") or 0.0


@pytest.fixture
def world(data_dir: Path) -> Iterator[World]:
    fake = FakeSeerr("jellyseerr", api_key=CANARY)
    fake.add_user("alice", jellyfin_username="alice")
    fake.add_user("bob", permissions=int(Permission.REQUEST_MOVIE))
    fake.add_user("caroline")
    fake.add_user("dora", movie_quota_limit=1, movie_quota_days=7)
    fake.add_title("movie", 603, "The Matrix")
    fake.add_title("movie", 604, "The Matrix Reloaded")
    fake.add_title("movie", 605, "The Matrix Revolutions")
    fake.add_title("movie", 27205, "Inception")
    fake.add_title("tv", 1399, "Game of Thrones", seasons=8)
    fake.add_media("movie", 27205, status=5)
    with contextlib.ExitStack() as fake_stack, contextlib.ExitStack() as app_stack:
        url = fake_stack.enter_context(fake.serve())
        host = PluginHost(data_dir).load()
        token = host.push_store().create_api_token("tests")
        served = app_stack.enter_context(serve_app(create_app(host)))
        settings = {"url": url, "api_key": CANARY, "timeout": 2.0}
        assert served.call(configure(host, "jellyseerr", settings)).saved
        host.use("jellyseerr")
        yield World(fake, host, served, token, fake_stack.close)
        app_stack.close()


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code = main([*args, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.out
    return json.loads(captured.out)


# -- access ---------------------------------------------------------------------------------------

ROUTES = [
    ("GET", "/api/availability?items=movie:603"),
    ("POST", "/api/availability"),
    ("GET", "/api/requests"),
    ("POST", "/api/requests"),
    ("GET", "/api/providers"),
    ("POST", "/api/providers/jellyseerr/test"),
    ("GET", "/api/users?user=alice"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("authorization", [None, "Bearer apt_wrong", "Token x"])
def test_every_route_needs_the_bearer_token(world, method, path, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    calls = world.fake.call_count()
    answer = httpx.request(method, world.served.url + path, headers=headers, json=["movie:603"], timeout=30)
    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthorized"
    assert world.fake.call_count() == calls  # nothing reached the server
    assert world.lookups() == 0


def test_the_token_is_checked_before_a_huge_body_is_read(world):
    answer = httpx.post(world.served.url + "/api/availability", content=b"[" * 200_000, timeout=30)
    assert answer.status_code == 401


# -- availability ---------------------------------------------------------------------------------


def test_availability_is_the_cli_lookup_document(world, capsys):
    items = ["movie:603", "movie:27205", "tv:1399"]
    calls = world.fake.call_count()
    by_get = world.get("/api/availability", params={"user": "alice", "items": ",".join(items)})
    assert by_get.status_code == 200, by_get.text
    cards = by_get.json()
    assert [(c["media_type"], c["tmdb_id"], c["state"]) for c in cards] == [
        ("movie", 603, "requestable"),
        ("movie", 27205, "available"),
        ("tv", 1399, "requestable"),
    ]
    assert {c["provider"] for c in cards} == {"jellyseerr"}
    assert world.fake.call_count() > calls  # looked up on the server, not made up
    assert cards == cli(capsys, "lookup", *items, "--user", "alice")

    repeated = world.get("/api/availability", params=[("user", "alice"), *(("items", i) for i in items)])
    by_body = world.post("/api/availability", json={"user": "alice", "items": items})
    bare = world.post("/api/availability", params={"user": "alice"}, json=items)
    as_objects = world.post(
        "/api/availability",
        json={
            "user": {"name": "alice"},
            "items": [{"media_type": "movie", "tmdb_id": 603}, "movie:27205", "tv:1399"],
        },
    )
    for answer in (repeated, by_body, bare, as_objects):
        assert (answer.status_code, answer.json()) == (200, cards)
    assert world.lookups() == 5  # each timed in the metrics


def test_availability_for_a_guest_and_for_a_user_who_may_not_request(world):
    guest = world.get("/api/availability", params={"items": "tv:1399"}).json()
    bob = world.get("/api/availability", params={"items": "tv:1399", "user": "bob"}).json()
    assert (guest[0]["state"], guest[0]["can_request"], guest[0]["reason"]) == (
        "not_available",
        False,
        "sign in to request",
    )
    assert (bob[0]["can_request"], bob[0]["reason"]) == (
        False,
        "you do not have permission to request series",
    )


def test_a_page_of_the_largest_size_is_looked_up_and_one_more_is_refused(world):
    page = [f"movie:{n}" for n in range(1, api_routes.MAX_PAGE + 1)]
    answer = world.post("/api/availability", json={"items": page})
    assert answer.status_code == 200
    assert [c["tmdb_id"] for c in answer.json()] == list(range(1, api_routes.MAX_PAGE + 1))
    calls = world.fake.call_count()
    too_many = world.post("/api/availability", json={"items": [*page, "movie:99999"]})
    assert too_many.status_code == 400
    assert too_many.json()["message"] == f'"items" has {api_routes.MAX_PAGE + 1} titles; at most 200 per page'
    by_query = world.get("/api/availability", params={"items": ",".join([*page, "tv:1"])})
    assert by_query.status_code == 400
    assert world.fake.call_count() == calls


# -- requests -------------------------------------------------------------------------------------


def test_filing_a_request_and_listing_the_tracked_ones(world, capsys):
    answer = world.post("/api/requests", json={"item": "movie:603", "user": "alice"})
    assert answer.status_code == 201, answer.text
    result = answer.json()
    assert (result["media_type"], result["tmdb_id"], result["state"]) == ("movie", 603, "pending")
    assert result["already_requested"] is False
    assert world.fake.requests[int(result["request_id"])].requested_by == 2  # alice, not the admin

    again = world.post(
        "/api/requests", json={"item": {"media_type": "movie", "tmdb_id": 603}, "user": "alice"}
    )
    assert again.status_code == 200
    assert (again.json()["already_requested"], again.json()["request_id"]) == (True, result["request_id"])
    assert len(world.fake.requests) == 1

    show = world.post("/api/requests", json={"item": "tv:1399", "user": "alice", "seasons": [2, 1, 2]})
    assert (show.status_code, show.json()["seasons"]) == (201, [1, 2])

    tracked = world.get("/api/requests", params={"user": "alice"}).json()
    assert {(t["media_type"], t["tmdb_id"], t["state"]) for t in tracked} == {
        ("movie", 603, "pending"),
        ("tv", 1399, "pending"),
    }
    assert tracked == cli(capsys, "requests", "--user", "alice")
    assert world.get("/api/requests", params={"user": "bob"}).json() == []
    assert world.get("/api/requests").json() == cli(capsys, "requests")


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"item": "tv:1399", "user": "bob"}, 403, "permission_denied"),
        ({"item": "movie:27205", "user": "alice"}, 409, "already_requested"),
        ({"item": "movie:603", "user": "stranger"}, 400, "user_not_mapped"),
    ],
)
def test_refusals_have_their_statuses_and_the_cli_error_document(world, body, status, error):
    answer = world.post("/api/requests", json=body)
    assert (answer.status_code, answer.json()["error"]) == (status, error)
    document = answer.json()
    assert set(document) >= {"error", "type", "message", "hints", "provider"}
    assert document["message"]
    assert world.fake.requests == {}
    assert world.get("/api/requests").json() == []


def test_another_users_request_is_a_409_naming_them(world):
    assert world.post("/api/requests", json={"item": "movie:603", "user": "alice"}).status_code == 201
    answer = world.post("/api/requests", json={"item": "movie:603", "user": "caroline"})
    assert answer.status_code == 409
    assert (answer.json()["requested_by"], answer.json()["state"]) == ("alice", "pending")


def test_a_used_up_quota_is_a_429(world):
    assert world.post("/api/requests", json={"item": "movie:603", "user": "dora"}).status_code == 201
    answer = world.post("/api/requests", json={"item": "movie:604", "user": "dora"})
    assert (answer.status_code, answer.json()["error"]) == (429, "quota_exceeded")
    assert len(world.fake.requests) == 1


def test_csrf_protection_on_the_server_is_a_502(world):
    world.fake.csrf_protection = True
    answer = world.post("/api/requests", json={"item": "movie:603", "user": "alice"})
    assert (answer.status_code, answer.json()["error"]) == (502, "csrf_enabled")


def test_an_unreachable_server_is_a_503_and_lookups_degrade(world):
    world.stop_fake()
    answer = world.post("/api/requests", json={"item": "movie:603", "user": "alice"})
    assert answer.status_code == 503
    assert answer.json()["error"] in {"connection_refused", "provider_down"}
    users = world.get("/api/users", params={"user": "alice"})
    assert users.status_code == 503
    cards = world.get("/api/availability", params={"items": "movie:603"})
    assert cards.status_code == 200
    assert cards.json()[0]["state"] == "not_available" and cards.json()[0]["reason"]


# -- providers and users --------------------------------------------------------------------------


def test_providers_and_their_health(world, capsys):
    document = world.get("/api/providers").json()
    assert (document["active"], document["active_problem"]) == ("jellyseerr", None)
    by_name = {p["name"]: p for p in document["providers"]}
    assert set(by_name) == {p["name"] for p in cli(capsys, "providers")["providers"]}
    assert by_name["jellyseerr"]["active"] is True and by_name["jellyseerr"]["breaker"] == "closed"
    assert "origin" not in by_name["jellyseerr"]  # a path for plugins installed from a directory

    report = world.post("/api/providers/jellyseerr/test")
    assert report.status_code == 200
    assert (report.json()["ok"], report.json()["product"]) == (True, "Jellyseerr")
    assert report.json() == cli(capsys, "test")

    world.stop_fake()
    failed = world.post("/api/providers/jellyseerr/test")
    assert (failed.status_code, failed.json()["ok"]) == (200, False)
    assert failed.json()["problems"][0]["code"] == "connection_refused"
    unknown = world.post("/api/providers/nope/test")
    assert (unknown.status_code, unknown.json()["error"]) == (400, "unknown_plugin")


def test_user_mappings_are_the_cli_users_document(world, capsys):
    answer = world.get("/api/users", params=[("user", "alice"), ("user", "bob"), ("user", "carmen")])
    assert answer.status_code == 200
    by_user = {row["user"]: row for row in answer.json()}
    assert by_user["alice"]["method"] == "username"
    assert by_user["bob"]["may_request_movie"] and not by_user["bob"]["may_request_tv"]
    assert by_user["carmen"]["account_id"] is None and by_user["carmen"]["problems"]
    assert answer.json() == cli(capsys, "users", "--user", "alice", "--user", "bob", "--user", "carmen")


def test_a_server_that_is_no_seerr_is_a_502(world):
    world.fake.html_login_page = True
    answer = world.get("/api/users", params={"user": "alice"})
    assert (answer.status_code, answer.json()["error"]) == (502, "unsupported_server")


def test_an_unexpected_failure_is_a_500_naming_only_its_type(world, monkeypatch, caplog):
    async def broken(users: Any, name: Any = None) -> Any:
        raise RuntimeError(f"boom with {CANARY[:8]}-details")

    monkeypatch.setattr(world.host, "map_users", broken)
    answer = world.get("/api/users", params={"user": "alice"})
    assert answer.status_code == 500
    assert answer.json() == {
        "error": "internal_error",
        "message": "Unexpected error (RuntimeError); the server log has the details",
        "hints": ["Report it with the output of: aperture-plugins diagnostics --json"],
    }
    assert "boom" not in answer.text
    assert any(
        "boom" in (r.exc_text or "") or r.exc_info for r in caplog.records if "/api/users" in r.getMessage()
    )


# -- hostile input --------------------------------------------------------------------------------

HOSTILE = [
    ("POST", "/api/availability", b"not json", "the body is not JSON"),
    ("POST", "/api/availability", b"", "a JSON body is required"),
    ("POST", "/api/availability", b"\xff\xfe\xfa", "the body is not JSON"),
    ("POST", "/api/availability", b'{"items": ["movie:603"], "user": NaN}', "NaN is not a JSON number"),
    ("POST", "/api/availability", b"[" * 60_000, "nested too deeply"),
    ("POST", "/api/availability", b'{"items": "movie:603"}', '"items" must be a list of titles'),
    ("POST", "/api/availability", b'{"items": []}', '"items" is empty'),
    ("POST", "/api/availability", b'{"items": [603]}', '"items"[0] must be a title like movie:603'),
    ("POST", "/api/availability", b'{"items": ["movie:abc"]}', "is not a title reference"),
    ("POST", "/api/availability", b'{"items": ["movie:0"]}', "is not a title reference"),
    ("POST", "/api/availability", b'{"items": ["' + b"9" * 5000 + b'"]}', "is not a title reference"),
    ("POST", "/api/availability", b'{"items": [{"media_type": "book", "tmdb_id": 1}]}', "media_type must be"),
    ("POST", "/api/availability", b'{"items": [{"media_type": "tv", "tmdb_id": true}]}', "tmdb_id must be"),
    ("POST", "/api/availability", b'{"items": ["tv:1"], "limit": 5}', "unknown field(s) 'limit'"),
    ("POST", "/api/availability", b'{"user": "alice"}', 'the body needs "items"'),
    ("POST", "/api/availability", b'{"items": ["tv:1"], "user": 7}', '"user" must be a user name'),
    ("POST", "/api/availability", b'{"items": ["tv:1"], "user": {"name": " "}}', '"user".name is required'),
    (
        "POST",
        "/api/availability",
        b'{"items": ["tv:1"], "user": {"name": "a", "role": "admin"}}',
        "unknown field",
    ),
    ("POST", "/api/availability", b'{"items": ["tv:1"], "user": {"name": ["a"]}}', "must be a string"),
    ("POST", "/api/availability", b'{"items": ["tv:1"], "user": "' + b"a" * 600 + b'"}', "longer than 500"),
    ("POST", "/api/availability", b"42", "the body must be a list of titles"),
    ("POST", "/api/requests", b'["movie:603"]', "the body must be an object"),
    ("POST", "/api/requests", b'{"item": "movie:603"}', 'the body needs "user"'),
    ("POST", "/api/requests", b'{"user": "alice"}', 'the body needs "item"'),
    ("POST", "/api/requests", b'{"item": "film:603", "user": "alice"}', "is not a title reference"),
    ("POST", "/api/requests", b'{"item": "movie:603", "user": "=abc"}', "needs a user name"),
    ("POST", "/api/requests", b'{"item": "tv:1399", "user": "alice", "seasons": "1,2"}', '"seasons" must be'),
    (
        "POST",
        "/api/requests",
        b'{"item": "tv:1399", "user": "alice", "seasons": [1, true]}',
        '"seasons" must be',
    ),
    (
        "POST",
        "/api/requests",
        b'{"item": "tv:1399", "user": "alice", "seasons": [-1]}',
        "whole numbers from 0",
    ),
    ("POST", "/api/requests", b'{"item": "tv:1399", "user": "alice", "seasons": []}', "at least one season"),
    ("POST", "/api/requests", b'{"item": "movie:603", "user": "alice", "is_4k": "yes"}', '"is_4k" must be'),
    ("POST", "/api/requests", b'{"item": "movie:603", "user": "alice", "priority": 1}', "unknown field"),
    ("GET", "/api/availability", None, "name the titles"),
    ("GET", "/api/availability?items=movie:603&user=a&user=b", None, "give one ?user="),
    ("GET", "/api/availability?items=movie:603,,book:1", None, "'book:1' is not a title reference"),
    ("GET", "/api/users", None, "name the users"),
    ("GET", "/api/requests?user=", None, "needs a user name"),
    ("GET", "/api/users?user=alice&user=", None, "needs a user name"),
]


@pytest.mark.parametrize(("method", "path", "body", "message"), HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_is_a_400_with_a_message_and_changes_nothing(world, method, path, body, message):
    with world.client() as client:
        answer = client.request(method, path, content=body)
    assert answer.status_code == 400, answer.text
    document = answer.json()
    assert document["error"] == "bad_request"
    assert message in document["message"]
    assert "Traceback" not in answer.text
    assert world.fake.requests == {}
    assert world.lookups() == 0


def test_a_body_over_64_kib_is_a_413_with_or_without_content_length(world):
    huge = json.dumps({"items": ["movie:603"] * 7000}).encode()
    assert len(huge) > api_routes.MAX_BODY_BYTES
    for path in ("/api/availability", "/api/requests"):
        answer = world.post(path, content=huge)
        assert (answer.status_code, answer.json()["error"]) == (413, "too_large")

        def chunks() -> Iterator[bytes]:  # no Content-Length: chunked
            for start in range(0, len(huge), 4096):
                yield huge[start : start + 4096]

        streamed = world.post(path, content=chunks())
        assert (streamed.status_code, streamed.json()["error"]) == (413, "too_large")
    assert world.lookups() == 0
    assert world.fake.requests == {}


def test_a_body_just_under_the_limit_is_read(world):
    page = json.dumps({"items": ["movie:603"] * 200, "user": "alice"})
    padded = page[:-1] + " " * (api_routes.MAX_BODY_BYTES - len(page)) + "}"
    assert len(padded.encode()) == api_routes.MAX_BODY_BYTES
    answer = world.post("/api/availability", content=padded.encode())
    assert answer.status_code == 200
    assert len(answer.json()) == 200


def test_wrong_methods_and_paths_are_json_errors(world):
    assert world.post("/api/users").status_code == 405
    assert world.get("/api/nothing-here").status_code == 404
    assert world.get("/api/nothing-here").json()["error"] == "not_found"


def test_a_declared_huge_body_is_refused_before_it_is_sent(world):
    """Content-Length above the limit is answered at once, without waiting for the body."""
    host, port = world.served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"POST /api/availability HTTP/1.1\r\nHost: aperture\r\n"
            + f"Authorization: Bearer {world.token}\r\n".encode()
            + b'Content-Type: application/json\r\nContent-Length: 10000000\r\n\r\n["movie:603"'
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = connection.recv(65536)  # times out (fails) if the server waits for the body
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["error"] == "too_large"
