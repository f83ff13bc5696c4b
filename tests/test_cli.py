"""The ``aperture-plugins`` command: JSON documents, human tables, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aperture_plugins.cli import main

from .test_loading import THIRD_PARTY_PROVIDER


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, object]:
    code, out, _ = run(capsys, *args, "--json")
    return code, json.loads(out)  # the whole of stdout is one JSON document


def test_providers_json_lists_null_overseerr_and_jellyseerr_with_origins(capsys, data_dir):
    code, document = run_json(capsys, "providers")
    assert code == 0
    by_name = {p["name"]: p for p in document["providers"]}
    assert {"null", "overseerr", "jellyseerr"} <= by_name.keys()
    assert by_name["null"]["origin"] == "built-in"
    assert by_name["jellyseerr"]["origin"] == "aperture-jellyseerr"
    assert by_name["overseerr"]["origin"] == "aperture-overseerr"
    for provider in by_name.values():
        assert set(provider) >= {"name", "title", "version", "origin", "enabled", "active"}
    assert document["active"] == "null" and by_name["null"]["active"] is True
    assert document["data_dir"] == str(data_dir)
    assert document["broken"] == []


def test_use_disable_enable_round_trip(capsys, data_dir):
    code, document = run_json(capsys, "use", "jellyseerr")
    assert (code, document["active"]) == (0, "jellyseerr")
    assert 'active = "jellyseerr"' in (data_dir / "config.toml").read_text()

    code, document = run_json(capsys, "disable", "jellyseerr")
    assert code == 0
    assert document == {
        "name": "jellyseerr",
        "enabled": False,
        "active": "null",
        "message": document["message"],
    }
    assert "null provider answers" in document["message"]

    code, listing = run_json(capsys, "providers")
    jellyseerr = next(p for p in listing["providers"] if p["name"] == "jellyseerr")
    assert (jellyseerr["enabled"], jellyseerr["active"]) == (False, False)

    code, document = run_json(capsys, "enable", "jellyseerr")
    assert (code, document["enabled"], document["active"]) == (0, True, "null")


def test_lookup_json_through_the_null_provider(capsys):
    code, answers = run_json(capsys, "lookup", "movie:603", "TV:1399", "--user", "alice")
    assert code == 0
    assert [(a["media_type"], a["tmdb_id"]) for a in answers] == [("movie", 603), ("tv", 1399)]
    for answer in answers:
        assert answer["state"] == "not_available"
        assert answer["label"] == "Not Available"
        assert answer["color"] == "grey"
        assert answer["can_request"] is False
        assert answer["reason"] == "no request provider is configured"
        assert answer["provider"] == "null"


def test_lookup_human_output_is_a_table_with_badges(capsys):
    code, out, err = run(capsys, "lookup", "movie:603", "--user", "alice")
    assert code == 0
    assert "Not Available" in out and "movie:603" in out and "no request provider is configured" in out
    assert "for alice" in out
    assert err == ""


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("lookup", "movie:abc"), "'movie:abc' is not a title reference; use movie:TMDB_ID or tv:TMDB_ID"),
        (("lookup", "book:12"), "'book:12' is not a title reference"),
        (("lookup", "movie:0"), "'movie:0' is not a title reference: TMDB ids start at 1"),
        (("use", "nope"), "No plugin named 'nope'"),
        (("enable", "nope"), "No plugin named 'nope'"),
        (("disable", "nope"), "No plugin named 'nope'"),
        (("disable", "null"), "cannot be disabled"),
        (("lookup",), "Missing argument"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, args, fragment):
    code, out, err = run(capsys, *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("Error: ")
    assert fragment in err
    assert "Traceback" not in err


def test_bad_input_with_json_is_a_json_error_document(capsys):
    code, document = run_json(capsys, "use", "nope")
    assert code == 2
    assert document["error"] == "unknown_plugin"
    assert "nope" in document["message"]
    assert document["hints"]
    code, document = run_json(capsys, "lookup", "movie:x")
    assert (code, document["error"]) == (2, "bad_input")


def test_a_broken_config_file_is_reported_with_its_path(capsys, data_dir):
    data_dir.mkdir(parents=True)
    (data_dir / "config.toml").write_text("active = [unclosed\n")
    code, _out, err = run(capsys, "providers")
    assert code == 2
    assert str(data_dir / "config.toml") in err and "not valid TOML" in err


def test_hand_edited_config_is_respected(capsys, data_dir):
    data_dir.mkdir(parents=True)
    (data_dir / "config.toml").write_text('active = "overseerr"\n[plugins.jellyseerr]\nenabled = false\n')
    _code, document = run_json(capsys, "providers")
    by_name = {p["name"]: p for p in document["providers"]}
    assert document["active"] == "overseerr"
    assert by_name["jellyseerr"]["enabled"] is False


def test_an_active_provider_that_is_gone_is_explained(capsys, data_dir):
    data_dir.mkdir(parents=True)
    (data_dir / "config.toml").write_text('active = "ombi"\n')
    _code, document = run_json(capsys, "providers")
    assert document["active"] == "null"
    assert "'ombi' is not installed" in document["active_problem"]


def test_data_dir_option_wins_over_the_environment(capsys, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    code, _document = run_json(capsys, "--data-dir", str(elsewhere), "use", "overseerr")
    assert code == 0
    assert (elsewhere / "config.toml").exists()


def test_demo_goes_through_the_whole_request_flow(capsys):
    code, document = run_json(capsys, "demo")
    assert code == 0
    movie = [s["state"] for s in document["states"] if s["item"] == "movie:157336"]
    show = [s["state"] for s in document["states"] if s["item"] == "tv:1399"]
    for states in (movie, show):
        assert states == ["pending", "approved", "processing", "available"]
    assert {e["user"] for e in document["events"]} == {"alice"}
    # the approvals and arrivals came by the server's webhook; download progress, which no
    # push carries, is still polled while pushes arrive
    paths = {(e["tmdb_id"], e["current"]): e["source"] for e in document["events"]}
    for tmdb_id in (157336, 1399):
        assert paths[tmdb_id, "approved"] == "push"
        assert paths[tmdb_id, "processing"] == "poll"
        assert paths[tmdb_id, "available"] == "push"


def test_demo_without_a_terminal_prints_no_control_characters_and_cleans_up(data_dir):
    script = shutil.which("aperture-plugins", path=str(Path(sys.executable).parent))
    done = subprocess.run([script, "demo"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout
    for fragment in (
        "Connection OK",
        "User mapping",
        "Discovery badges",
        "Pending",
        "downloaded",
        "Available",
        "(by push)",
        "(by poll)",
        "test notification reached Aperture",
    ):
        assert fragment in done.stdout
    assert "available for recommendations" in done.stdout
    lines = done.stdout.splitlines()
    temporary = lines[lines.index("Temporary data directory:") + 1]
    assert "aperture-demo-" in temporary
    assert not Path(temporary).exists()
    assert "FAKE-DEMO-KEY" not in done.stdout + done.stderr


def test_the_installed_console_script_with_a_third_party_distribution(install_distribution, data_dir):
    """End to end through the real console script, in a fresh process."""
    site = install_distribution("aperture-ombi", "aperture_ombi", THIRD_PARTY_PROVIDER, entry_name="ombi")
    script = shutil.which("aperture-plugins", path=str(Path(sys.executable).parent))
    assert script, "the console script is not installed in this environment"
    env = {**os.environ, "PYTHONPATH": str(site), "APERTURE_DATA_DIR": str(data_dir)}

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([script, *args], capture_output=True, text=True, env=env, timeout=60)

    listing = call("providers", "--json")
    assert listing.returncode == 0, listing.stderr
    origins = {p["name"]: p["origin"] for p in json.loads(listing.stdout)["providers"]}
    assert origins["ombi"] == "aperture-ombi"
    assert call("use", "ombi").returncode == 0
    lookup = call("lookup", "movie:603", "--json")
    assert lookup.returncode == 0, lookup.stderr
    assert [a["state"] for a in json.loads(lookup.stdout)] == ["pending"]
    bad = call("use", "nope")
    assert bad.returncode == 2 and bad.stderr.startswith("Error: ")
