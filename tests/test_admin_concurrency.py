"""Admin changes that stick (issue 13 A, problems 1 and 2): partial updates, made atomically.

Against the fake Jellyseerr over real HTTP. ``configure`` run again changes only what it is
given and says what it kept; ``map``, ``unmap``, ``configure``, ``enable``, ``disable`` and
``use`` run at the same moment from several real processes (``aperture-plugins`` subprocesses
released together by a file barrier) all take effect, in one SQLite store and one config.toml.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aperture_overseerr.permissions import Permission
from aperture_overseerr.testing import FakeSeerr
from aperture_plugins.cli import main
from aperture_plugins.host import PluginHost

from .conftest import CANARY

KEY = CANARY
NEW_KEY = "FAKE-KEY-regenerated-5e1d"
WORKERS = 6


@pytest.fixture
def fake() -> FakeSeerr:
    fake = FakeSeerr("jellyseerr", api_key=KEY)
    fake.add_user("alice", jellyfin_username="alice")  # id 2: what automatic matching finds
    fake.add_user("caroline", permissions=int(Permission.REQUEST | Permission.REQUEST_4K))  # id 3
    for n in range(WORKERS):
        fake.add_user(f"server{n}")
    fake.add_title("movie", 603, "The Matrix")
    fake.radarr_4k = True  # a default 4K Radarr, so default 4K requests can be sent
    return fake


def key_file(tmp_path: Path, key: str, name: str = "api.key") -> Path:
    path = tmp_path / name
    path.write_text(key + "\n")
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main([*args, "--json"])
    captured = capsys.readouterr()
    assert KEY not in captured.out + captured.err and NEW_KEY not in captured.out + captured.err
    return code, json.loads(captured.out)


def stored(data_dir: Path) -> dict:
    """The saved settings of jellyseerr as a new process reads them."""
    host = PluginHost(data_dir).load()
    return dict(host.stored_settings("jellyseerr") or {})


# -- problem 1: configure again keeps what it was not given -----------------------------------------


def test_configure_again_keeps_the_user_map_4k_timeout_and_tls(fake, tmp_path, data_dir, capsys):
    with fake.serve() as first_url, fake.serve() as second_url:  # one server, two addresses
        code, outcome = run(
            capsys,
            "configure",
            "jellyseerr",
            "--url",
            first_url,
            "--api-key-file",
            str(key_file(tmp_path, KEY)),
            "--timeout",
            "5",
            "--no-verify-tls",
            "--default-4k",
        )
        assert (code, outcome["saved"], outcome["kept"]) == (0, True, [])
        assert run(capsys, "use", "jellyseerr")[0] == 0
        code, mapping = run(capsys, "map", "alice", "caroline")
        assert (code, mapping["account_id"]) == (0, "3")

        fake.api_key = NEW_KEY  # the admin regenerates the key and moves the server
        code, outcome = run(
            capsys,
            "configure",
            "jellyseerr",
            "--url",
            second_url,
            "--api-key-file",
            str(key_file(tmp_path, NEW_KEY, "new.key")),
        )
        assert (code, outcome["saved"]) == (0, True), outcome
        settings = stored(data_dir)
        assert settings["url"] == second_url and settings["api_key"] == NEW_KEY
        assert settings["user_map"] == {"alice": "caroline"}
        assert (settings["timeout"], settings["verify_tls"], settings["default_4k"]) == (5.0, False, True)
        assert outcome["kept"] == ["default_4k", "timeout", "user_map (1 entry)", "verify_tls"]

        code, result = run(capsys, "request", "movie:603", "--user", "alice")
        assert code == 0, result
        filed = fake.requests[int(result["request_id"])]
        assert (filed.requested_by, filed.is4k) == (3, True)  # as caroline, in 4K by default

        code, outcome = run(capsys, "configure", "jellyseerr", "--verify-tls")  # only TLS back on
        assert code == 0 and "verify_tls" not in outcome["kept"]
        assert "url" in outcome["kept"] and "api_key (the stored one)" in outcome["kept"]
        settings = stored(data_dir)
        assert settings["verify_tls"] is True and settings["user_map"] == {"alice": "caroline"}


def test_configure_says_what_it_kept_in_words(fake, tmp_path, capsys):
    with fake.serve() as url:
        key = str(key_file(tmp_path, KEY))
        assert main(["configure", "jellyseerr", "--url", url, "--api-key-file", key, "--timeout", "7"]) == 0
        assert main(["use", "jellyseerr"]) == 0 and main(["map", "alice", "caroline"]) == 0
        capsys.readouterr()
        assert main(["configure", "jellyseerr", "--url", url]) == 0
        out = capsys.readouterr().out
        assert "Kept: api_key (the stored one), timeout, user_map (1 entry)" in " ".join(out.split())


# -- problem 2 and A: several processes at once ---------------------------------------------------

BARRIER = """
    import json, sys, time
    from pathlib import Path

    gate = Path(sys.argv[1])
    (gate / f"ready-{sys.argv[2]}").touch()
    deadline = time.monotonic() + 60
    while not (gate / "go").exists():
        if time.monotonic() > deadline:
            sys.exit("the gate never opened")
        time.sleep(0.001)
    from aperture_plugins.cli import main
    code = main(sys.argv[3:])
    print(f"exit={code}", file=sys.stderr)
    sys.exit(code)
"""


def run_together(gate: Path, commands: list[list[str]]) -> list[subprocess.CompletedProcess[str]]:
    """Run each command through ``aperture_plugins.cli.main`` in its own process, released at once."""
    gate.mkdir()
    prelude = "from aperture_plugins import cli\n"  # import everything before the barrier
    script = prelude + textwrap.dedent(BARRIER)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(gate), str(n), *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, command in enumerate(commands)
    ]
    deadline = time.monotonic() + 60
    while len(list(gate.glob("ready-*"))) < len(commands):
        assert time.monotonic() < deadline, "the workers never got ready"
        assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
        time.sleep(0.01)
    (gate / "go").touch()
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


@pytest.fixture
def served(fake: FakeSeerr) -> Iterator[str]:
    with fake.serve() as url:
        yield url


@pytest.mark.parametrize("with_configure", [False, True], ids=["maps", "maps-and-configure"])
def test_maps_unmaps_and_configure_at_once_from_several_processes_all_survive(
    fake, served, tmp_path, data_dir, capsys, with_configure
):
    key = str(key_file(tmp_path, KEY))
    assert main(["configure", "jellyseerr", "--url", served, "--api-key-file", key]) == 0
    assert main(["use", "jellyseerr"]) == 0
    assert main(["map", "leaving", "alice"]) == 0
    capsys.readouterr()
    # Every check on the server is slow, so that every process reads the settings before any
    # of them saves: a read-modify-write of the whole row loses all but the last one.
    fake.db_latency = 0.15
    commands = [["map", f"user{n}", f"server{n}", "--json"] for n in range(WORKERS)]
    if with_configure:
        commands.append(["configure", "jellyseerr", "--timeout", "7", "--default-4k", "--json"])
    commands.append(["unmap", "leaving", "--json"])
    results = run_together(tmp_path / "gate", commands)
    for result in results:
        assert result.returncode == 0, (result.args[4:], result.stdout, result.stderr)
        json.loads(result.stdout)  # one JSON document each
    fake.db_latency = 0.0

    settings = stored(data_dir)
    assert settings["user_map"] == {f"user{n}": f"server{n}" for n in range(WORKERS)}
    expected = (7.0, True) if with_configure else (10.0, False)
    assert (settings["timeout"], settings["default_4k"], settings["api_key"]) == (*expected, KEY)
    code, rows = run(capsys, "users", *(f"--user=user{n}" for n in range(WORKERS)))
    assert code == 0 and [row["method"] for row in rows] == ["manual"] * WORKERS


def test_config_switches_from_several_processes_at_once_all_survive(tmp_path, data_dir):
    """Real commands at once keep each other's switches and the hand-written parts. (Whether an
    unlocked read-modify-write would lose one here depends on timing; the lock itself is pinned
    by the 100-update test below, and the running host's stale copy by the one after this.)"""
    data_dir.mkdir(parents=True)
    (data_dir / "config.toml").write_text('# hand-written\nactive = "overseerr"\n[custom]\nnote = "kept"\n')
    results = run_together(
        tmp_path / "gate",
        [["disable", "overseerr"], ["use", "jellyseerr"], ["enable", "null"], ["disable", "overseerr"]],
    )
    assert [r.returncode for r in results] == [0] * 4, [r.stderr for r in results]
    document = PluginHost(data_dir).load().config
    assert document.disabled == {"overseerr"}
    assert document.extra == {"custom": {"note": "kept"}}
    # which of "disable overseerr" (active -> none) and "use jellyseerr" came last decides this:
    assert document.active in (None, "jellyseerr")


def test_a_running_host_switching_providers_keeps_what_another_process_switched(data_dir):
    host = PluginHost(data_dir).load()
    assert host.active_provider().name == "null"  # config.toml read (absent)
    done = subprocess.run(
        [sys.executable, "-m", "aperture_plugins.cli", "disable", "overseerr"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    host.use("jellyseerr")  # with a config.toml read before the other process changed it
    again = PluginHost(data_dir).load()
    assert (again.config.active, again.config.disabled) == ("jellyseerr", {"overseerr"})


def test_config_updates_from_several_processes_are_never_lost(tmp_path, data_dir):
    """The lock around config.toml's read-modify-write: 4 processes x 25 updates, none lost."""
    data_dir.mkdir(parents=True)
    rounds = 25
    code = """
        import sys
        from pathlib import Path
        from aperture_plugins.config import ProviderConfig

        data_dir, worker, rounds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
        for n in range(rounds):
            ProviderConfig.update(data_dir, lambda config: config.disabled.add(f"w{worker}-{n}"))
    """
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), str(data_dir), str(worker), str(rounds)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(4)
    ]
    for process in processes:
        _out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    disabled = PluginHost(data_dir).load().config.disabled
    assert disabled == {f"w{worker}-{n}" for worker in range(4) for n in range(rounds)}
