"""The admin CLI against the fake Jellyseerr over real HTTP: every command's ``--json`` parsed and
checked against the fake's state, and the documented exit codes."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from aperture_overseerr.permissions import Permission
from aperture_overseerr.testing import FakeSeerr
from aperture_plugins.cli import main

from .conftest import CANARY

KEY = CANARY  # watched for in every log record (conftest) and in every output here


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[FakeSeerr, str, Path]]:
    fake = FakeSeerr("jellyseerr", api_key=KEY)
    fake.add_user("alice", jellyfin_username="alice")
    fake.add_user("bob", permissions=int(Permission.REQUEST_MOVIE))
    fake.add_user("caroline")
    fake.add_title("movie", 603, "The Matrix")
    fake.add_title("movie", 27205, "Inception")
    fake.add_title("tv", 1399, "Game of Thrones", seasons=8)
    fake.add_media("movie", 27205, status=5)
    key_file = tmp_path / "api.key"
    key_file.write_text(KEY + "\n")
    with fake.serve() as url:
        yield fake, url, key_file


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, object]:
    code = main([*args, "--json"])
    captured = capsys.readouterr()
    assert KEY not in captured.out + captured.err
    return code, json.loads(captured.out)


def configured(capsys, url: str, key_file: Path) -> None:
    code, document = run(capsys, "configure", "jellyseerr", "--url", url, "--api-key-file", str(key_file))
    assert code == 0, document
    assert document["saved"] is True
    assert document["report"]["product"] == "Jellyseerr"
    assert document["settings"]["api_key"].startswith("••••")
    assert run(capsys, "use", "jellyseerr")[0] == 0


def test_the_whole_flow_through_the_cli(server, capsys):
    fake, url, key_file = server
    configured(capsys, url, key_file)

    code, report = run(capsys, "test")
    assert (code, report["ok"], report["version"]) == (0, True, "2.7.3")

    code, cards = run(capsys, "lookup", "movie:603", "movie:27205", "tv:1399", "--user", "alice")
    assert code == 0
    assert [c["state"] for c in cards] == ["requestable", "available", "requestable"]
    assert fake.call_count("tmdb") == 0

    code, result = run(capsys, "request", "movie:603", "--user", "alice")
    assert code == 0
    assert result["state"] == "pending"
    request_id = int(result["request_id"])
    assert fake.requests[request_id].requested_by == 2  # alice, not the admin

    code, result = run(capsys, "request", "tv:1399", "--user", "alice", "--seasons", "1,2")
    assert (code, result["seasons"]) == (0, [1, 2])

    code, tracked = run(capsys, "requests", "--user", "alice")
    assert {(t["media_type"], t["tmdb_id"], t["state"]) for t in tracked} == {
        ("movie", 603, "pending"),
        ("tv", 1399, "pending"),
    }

    fake.approve(request_id)
    code, changes = run(capsys, "watch", "--once")
    assert code == 0
    assert [(c["tmdb_id"], c["previous"], c["current"]) for c in changes] == [(603, "pending", "approved")]
    code, tracked = run(capsys, "requests")
    assert {t["tmdb_id"]: t["state"] for t in tracked} == {603: "approved", 1399: "pending"}


def test_user_commands(server, capsys):
    _, url, key_file = server
    configured(capsys, url, key_file)
    code, rows = run(capsys, "users", "--user", "alice", "--user", "bob", "--user", "carmen")
    assert code == 0
    by_user = {row["user"]: row for row in rows}
    assert by_user["alice"]["method"] == "username"
    assert by_user["bob"]["may_request_movie"] and not by_user["bob"]["may_request_tv"]
    assert by_user["carmen"]["account_id"] is None and by_user["carmen"]["problems"]

    code, mapping = run(capsys, "map", "carmen", "caroline")
    assert (code, mapping["method"], mapping["account_name"]) == (0, "manual", "caroline")
    code, rows = run(capsys, "users")  # without --user: the manual map's users
    assert [row["user"] for row in rows] == ["carmen"]
    code, document = run(capsys, "map", "carmen", "nobody")
    assert code == 2 and document["error"] == "user_not_mapped"
    code, document = run(capsys, "unmap", "carmen")
    assert (code, document["removed"]) == (0, True)


@pytest.mark.parametrize(
    ("args", "code", "error"),
    [
        (("request", "tv:1399", "--user", "bob"), 6, "permission_denied"),
        (("request", "movie:27205", "--user", "alice"), 6, "already_requested"),
        (("request", "movie:603", "--user", "stranger"), 2, "user_not_mapped"),
        (("request", "tv:1399", "--user", "alice", "--seasons", "x"), 2, "bad_input"),
    ],
)
def test_refusals_have_their_exit_codes(server, capsys, args, code, error):
    _, url, key_file = server
    configured(capsys, url, key_file)
    got, document = run(capsys, *args)
    assert (got, document["error"]) == (code, error)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_configure_exit_codes_and_nothing_saved_on_failure(server, capsys, tmp_path):
    fake, url, key_file = server
    wrong = tmp_path / "wrong.key"
    wrong.write_text("FAKE-WRONG-KEY-1111\n")
    code, document = run(capsys, "configure", "jellyseerr", "--url", url, "--api-key-file", str(wrong))
    assert (code, document["saved"]) == (4, False)
    assert document["report"]["problems"][-1]["code"] == "invalid_api_key"

    refused = f"http://127.0.0.1:{_closed_port()}"
    code, document = run(capsys, "configure", "jellyseerr", "--url", refused, "--api-key-file", str(key_file))
    assert (code, document["saved"]) == (3, False)
    assert document["report"]["problems"][-1]["hints"] == [
        "Verify URL is correct",
        "Check the request server is running",
        "Ensure port is accessible",
    ]

    fake.html_login_page = True
    code, document = run(capsys, "configure", "jellyseerr", "--url", url, "--api-key-file", str(key_file))
    assert (code, document["report"]["problems"][-1]["code"]) == (5, "unsupported_server")

    code, document = run(capsys, "settings", "jellyseerr")
    assert document["configured"] is False
