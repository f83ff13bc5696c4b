"""Damage never escapes (issue 13 C, problems 4 and 7).

A data directory configured for the fake Jellyseerr (served over real HTTP) is damaged the way
disks and hand edits damage things: ``aperture.db`` overwritten or torn, ``secret.key`` with
bytes that are not a key, ``config.toml`` with a wrong type or a TOML typo, the directory
read-only (a read-only bind mount when running as root, else ``chmod``), the disk full (a real
64 KiB tmpfs when mount namespaces are available; and, always, a ``sqlite3.OperationalError``
injected at the connection layer). Then:

* ``PluginHost.lookup()`` answers every card Not Available, with a reason for the user (never a
  path) and one for the admin (which file, what to do);
* every ``aperture-plugins`` command, run as a real process, exits with its documented code and
  with ``--json`` prints exactly one JSON document, never a traceback;
* reads still work where they can (read-only directory, full disk), and a reader is never
  stopped by another process's write lock.

Also: every file the store creates is 0600 whatever the umask and the directory's mode.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from aperture_hookspecs import ApertureUser, MediaRef, RequestState
from aperture_overseerr.testing import FakeSeerr
from aperture_plugins import store as store_module
from aperture_plugins.cli import main
from aperture_plugins.file_errors import StoreBusyError
from aperture_plugins.host import PluginHost
from aperture_plugins.store import SettingsStore

KEY = "FAKE-KEY-damage-4242"
MATRIX = MediaRef.parse("movie:603")
ALICE = ApertureUser("alice")
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes and mounts")


@pytest.fixture
def fake() -> Iterator[tuple[FakeSeerr, str]]:
    fake = FakeSeerr("jellyseerr", api_key=KEY)
    fake.add_user("alice", jellyfin_username="alice")
    fake.add_title("movie", 603, "The Matrix")
    with fake.serve() as url:
        yield fake, url


def cli(*args: str, command: list[str] | None = None, env: dict[str, str] | None = None) -> tuple[int, Any]:
    """Run ``aperture-plugins ARGS --json`` as a real process: its exit code and its one document."""
    done = subprocess.run(
        [*(command or []), sys.executable, "-m", "aperture_plugins.cli", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert "Traceback" not in done.stderr, done.stderr
    try:
        document = json.loads(done.stdout)  # exactly one document: two would not parse
    except ValueError:
        pytest.fail(f"not one JSON document on stdout: {done.stdout!r} (stderr: {done.stderr})")
    return done.returncode, document


@pytest.fixture
def configured(fake, data_dir, tmp_path) -> tuple[FakeSeerr, Path]:
    """A data directory configured and switched to jellyseerr by real CLI processes."""
    _fake, url = fake
    (tmp_path / "api.key").write_text(KEY + "\n")
    assert cli("configure", "jellyseerr", "--url", url, "--api-key-file", str(tmp_path / "api.key"))[0] == 0
    assert cli("use", "jellyseerr")[0] == 0
    return _fake, data_dir


async def lookup(data_dir: Path) -> Any:
    async with PluginHost(data_dir) as host:
        return await host.lookup([MATRIX, MediaRef.parse("tv:1399")], ALICE)


def assert_degraded(cards: Any, data_dir: Path, file_name: str, *admin_words: str) -> None:
    """Every card Not Available; the user's reason without a path, the admin's naming the file."""
    assert cards and {card.state for card in cards} == {RequestState.NOT_AVAILABLE}
    for card in cards:
        assert card.reason and str(data_dir) not in card.reason and "/" not in card.reason
        assert "need an admin's attention" in card.reason
        assert file_name in card.admin_reason, card.admin_reason
        for word in admin_words:
            assert word in card.admin_reason, card.admin_reason


# -- aperture.db ------------------------------------------------------------------------------------


def overwrite(path: Path) -> None:
    path.write_bytes(b"this was aperture.db before the disk had a bad day\n" * 200)


def tear(path: Path) -> None:
    """Overwrite the pages after the first with garbage (a torn write, a bad sector)."""
    with path.open("r+b") as stream:
        stream.seek(4096)
        stream.write(b"\xab" * (path.stat().st_size - 4096))


@pytest.mark.parametrize("damage", [overwrite, tear], ids=["not-a-database", "torn-pages"])
async def test_a_damaged_database(configured, damage):
    _fake, data_dir = configured
    damage(data_dir / "aperture.db")
    assert_degraded(await lookup(data_dir), data_dir, "aperture.db", "restore aperture.db")

    code, document = cli("settings", "jellyseerr")
    assert (code, document["error"], document["file"]) == (7, "store_damaged", "aperture.db")
    assert any("backup" in hint for hint in document["hints"])
    assert cli("configure", "jellyseerr", "--timeout", "9")[0] == 7
    code, cards = cli("lookup", "movie:603", "--user", "alice")
    assert code == 0 and cards[0]["state"] == "not_available" and "aperture.db" in cards[0]["admin_reason"]
    code, report = cli("diagnostics")
    assert code == 0 and [p["error"] for p in report["problems"]][:1] == ["store_damaged"]


def test_a_reader_does_not_wait_for_another_process_holding_the_write_lock(configured):
    """Opening an up-to-date store takes no lock: before, every open took BEGIN IMMEDIATE."""
    _fake, data_dir = configured
    writer = sqlite3.connect(data_dir / "aperture.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process in the middle of a save
    try:
        code, document = cli("settings", "jellyseerr")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert code == 0 and document["settings"]["api_key"].startswith("••••")


async def test_a_database_from_a_newer_version(configured):
    _fake, data_dir = configured
    with sqlite3.connect(data_dir / "aperture.db") as connection:
        connection.execute("PRAGMA user_version = 99")
    connection.close()
    assert_degraded(await lookup(data_dir), data_dir, "aperture.db", "newer version", "Upgrade")
    code, document = cli("settings", "jellyseerr")
    assert (code, document["error"], document["file"]) == (7, "store_too_new", "aperture.db")


def test_a_write_lock_held_too_long_is_store_busy(configured, monkeypatch):
    _fake, data_dir = configured
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT", 0.2)  # instead of waiting 10 s
    store = SettingsStore(data_dir)
    writer = sqlite3.connect(data_dir / "aperture.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        assert store.get("jellyseerr")["api_key"] == KEY  # reading does not wait
        with pytest.raises(StoreBusyError, match="locked by another process") as busy:
            store.cache_set("anything", 1)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        store.close()
    assert busy.value.file_name == "aperture.db" and busy.value.hints


# -- secret.key -------------------------------------------------------------------------------------


async def test_non_ascii_bytes_in_the_key_file(configured):
    _fake, data_dir = configured
    (data_dir / "secret.key").write_bytes(b"\xff\xfe\x00not a key\n")
    assert_degraded(await lookup(data_dir), data_dir, "secret.key", "Restore secret.key")
    code, document = cli("settings", "jellyseerr")
    assert (code, document["error"]) == (2, "master_key_invalid")
    code, report = cli("test")
    assert code == 2 and report["problems"][0]["code"] == "master_key_invalid"


# -- config.toml -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ("active = 5\n", "active", 1),
        (
            '# mine\nactive = "jellyseerr"\n\n[plugins.jellyseerr]\nenabled = "no"\n',
            "plugins.jellyseerr.enabled",
            5,
        ),
        ('active = "jellyseerr\n', None, 1),
    ],
    ids=["active-is-a-number", "enabled-is-text", "toml-typo"],
)
async def test_a_hand_edited_config_with_a_mistake(configured, text, key, line):
    _fake, data_dir = configured
    (data_dir / "config.toml").write_text(text)
    assert_degraded(await lookup(data_dir), data_dir, "config.toml", f"line {line}")

    code, document = cli("providers")
    assert (code, document["error"], document["key"], document["line"]) == (2, "invalid_config", key, line)
    assert f"line {line}" in document["message"] and (key or "TOML") in document["message"]
    code, cards = cli("lookup", "movie:603")
    assert code == 0 and cards[0]["provider"] is None and f"line {line}" in cards[0]["admin_reason"]
    assert cli("use", "jellyseerr")[0] == 2  # refuses to overwrite the admin's file
    assert (data_dir / "config.toml").read_text() == text


async def test_a_running_host_degrades_while_config_is_broken_and_recovers(configured):
    import asyncio
    import time

    _fake, data_dir = configured
    async with PluginHost(data_dir) as host:
        [card] = await host.lookup([MATRIX], ALICE)
        assert card.state is RequestState.REQUESTABLE
        good = (data_dir / "config.toml").read_text()

        async def settles(expected: RequestState) -> None:
            deadline = time.monotonic() + 15
            while (await host.lookup([MATRIX], ALICE))[0].state is not expected:
                assert time.monotonic() < deadline, f"the running host never answered {expected}"
                await asyncio.sleep(0.1)

        (data_dir / "config.toml").write_text("active = 5\n")
        await settles(RequestState.NOT_AVAILABLE)
        (data_dir / "config.toml").write_text(good)
        await settles(RequestState.REQUESTABLE)


# -- a read-only data directory ---------------------------------------------------------------------


def _can_bind_mount() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=30)
    return probe.returncode == 0


@contextmanager
def read_only(data_dir: Path) -> Iterator[list[str]]:
    """The data directory made read-only for commands run with the yielded prefix.

    As root (whom file modes do not stop) a read-only bind mount in a private mount namespace;
    otherwise the directory's write bit, put back afterwards.
    """
    if os.geteuid() == 0:
        if not _can_bind_mount():
            pytest.skip("running as root without mount namespaces: cannot make a directory read-only")
        script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
        yield ["unshare", "-m", "sh", "-c", script, str(data_dir)]
        return
    mode = data_dir.stat().st_mode
    data_dir.chmod(0o500)
    try:
        yield []
    finally:
        data_dir.chmod(stat.S_IMODE(mode))


@posix_only
def test_a_read_only_data_directory_still_reads(configured):
    _fake, data_dir = configured
    with read_only(data_dir) as prefix:
        code, document = cli("settings", "jellyseerr", command=prefix)
        assert code == 0 and document["settings"]["url"].startswith("http://127.0.0.1:")
        code, cards = cli("lookup", "movie:603", "--user", "alice", command=prefix)
        assert (code, cards[0]["state"]) == (0, "requestable")  # answered by the server
        code, document = cli("requests", command=prefix)
        assert (code, document) == (0, [])
        for change in (
            ["configure", "jellyseerr", "--timeout", "9"],
            ["use", "null"],
            ["map", "bob", "alice"],
        ):
            code, document = cli(*change, command=prefix)
            assert (code, document["error"]) == (7, "read_only"), (change, document)
            assert any("writ" in hint for hint in document["hints"])
    assert cli("settings", "jellyseerr")[1]["settings"]["timeout"] == 10.0  # nothing was changed


# -- a full disk --------------------------------------------------------------------------------------

FULL_DISK_DRIVER = """
    import json, subprocess, sys
    data_dir, commands = sys.argv[1], json.loads(sys.argv[2])
    results = []
    for args in commands:
        done = subprocess.run([sys.executable, "-m", "aperture_plugins.cli", *args, "--json"],
                              capture_output=True, text=True, env={**__import__("os").environ,
                              "APERTURE_DATA_DIR": data_dir})
        results.append({"code": done.returncode, "out": done.stdout, "err": done.stderr})
    print(json.dumps(results))
"""


def _can_mount_tmpfs() -> list[str] | None:
    """The ``unshare`` prefix under which a tmpfs can be mounted here, if any."""
    if shutil.which("unshare") is None:
        return None
    for prefix in (["unshare", "-m"], ["unshare", "-rm"]):
        probe = subprocess.run(
            [*prefix, "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True, timeout=30
        )
        if probe.returncode == 0:
            return prefix
    return None


@posix_only
def test_a_full_disk_on_a_real_tiny_file_system(configured, tmp_path):
    fake, data_dir = configured
    prefix = _can_mount_tmpfs()
    if prefix is None:
        pytest.skip("no mount namespace for a tiny tmpfs here; the injected variant below still runs")
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    commands = [
        ["settings", "jellyseerr"],
        ["lookup", "movie:603", "--user", "alice"],
        ["configure", "jellyseerr", "--timeout", "9"],
        ["use", "null"],
        ["request", "movie:603", "--user", "alice"],
    ]
    script = (
        'source="$1"; shift; mount -t tmpfs -o size=256k tmpfs "$0" && cp -a "$source" "$0/data" '
        '&& { dd if=/dev/zero of="$0/filler" bs=4k 2>/dev/null; true; } && exec "$@"'
    )
    driver = [sys.executable, "-c", textwrap.dedent(FULL_DISK_DRIVER), str(mount_point / "data")]
    done = subprocess.run(
        [*prefix, "sh", "-c", script, str(mount_point), str(data_dir), *driver, json.dumps(commands)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    for result in results:
        assert "Traceback" not in result["err"], result["err"]
    settings, cards, configure, use, request = (json.loads(r["out"]) for r in results)
    codes = [r["code"] for r in results]
    assert codes == [0, 0, 7, 7, 0], results
    assert settings["settings"]["timeout"] == 10.0
    assert cards[0]["state"] == "requestable"
    assert configure["error"] == use["error"] == "disk_full"
    assert "cannot follow its status" in request["message"]  # filed: the server has it
    assert [r.requested_by for r in fake.requests.values()] == [2]


class FullDisk:
    """A connection whose writes fail as SQLite's do on a full disk (injected, not real)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "REPLACE")):
            raise sqlite3.OperationalError("database or disk is full")
        return self._connection.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:
        raise sqlite3.OperationalError("database or disk is full")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def test_a_full_disk_injected_at_the_connection_layer(configured, monkeypatch, capsys):
    """Injected: every INSERT/UPDATE/DELETE raises sqlite3.OperationalError("database or disk is
    full"), as SQLite does when the disk fills up (the real thing is the tmpfs test above)."""
    fake, _data_dir = configured
    connect = sqlite3.connect
    monkeypatch.setattr(store_module.sqlite3, "connect", lambda *a, **k: FullDisk(connect(*a, **k)))

    def run(*args: str) -> tuple[int, Any]:
        code = main([*args, "--json"])
        out = capsys.readouterr().out
        return code, json.loads(out)

    code, document = run("configure", "jellyseerr", "--timeout", "9")
    assert (code, document["error"]) == (7, "disk_full") and document["hints"]
    code, document = run("settings", "jellyseerr")
    assert (code, document["settings"]["timeout"]) == (0, 10.0)
    code, cards = run("lookup", "movie:603", "--user", "alice")
    assert (code, cards[0]["state"]) == (0, "requestable")
    code, result = run("request", "movie:603", "--user", "alice")
    assert code == 0 and "cannot follow its status" in result["message"]
    assert [r.requested_by for r in fake.requests.values()] == [2]  # filed once, as alice


# -- problem 7: private files ---------------------------------------------------------------------


@posix_only
@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_every_file_the_store_creates_is_private(tmp_path, umask):
    data_dir = tmp_path / "shared"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)  # an existing directory others may list
    code = """
        import os, stat, sys
        from pathlib import Path
        os.umask(int(sys.argv[2]))
        from aperture_plugins.store import SettingsStore
        store = SettingsStore(Path(sys.argv[1]))
        store.set("jellyseerr", {"url": "http://seerr.local", "api_key": "FAKE-KEY-mode-0600"},
                  frozenset({"api_key"}))
        names = ("aperture.db", "aperture.db-wal", "aperture.db-shm")  # while it is open
        print({n: oct(stat.S_IMODE(os.stat(Path(sys.argv[1]) / n).st_mode)) for n in names})
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), str(data_dir), str(umask)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(
        dict.fromkeys(("aperture.db", "aperture.db-wal", "aperture.db-shm"), "0o600")
    )


@posix_only
def test_an_older_looser_database_is_made_private_when_opened(data_dir):
    data_dir.mkdir(parents=True)
    legacy = sqlite3.connect(data_dir / "aperture.db")
    legacy.execute("PRAGMA user_version = 0")
    legacy.close()
    (data_dir / "aperture.db").chmod(0o644)
    store = SettingsStore(data_dir)
    assert store.schema_version >= 1
    assert stat.S_IMODE((data_dir / "aperture.db").stat().st_mode) == 0o600
    store.close()


def test_an_unexpected_error_is_still_one_json_document_and_exit_1(monkeypatch, capsys):
    """A bug (not an ApertureError) anywhere in a command: exit 1 and one JSON document."""
    from aperture_plugins import admin

    def broken(*args: Any) -> None:
        raise RuntimeError("a bug for the test")

    monkeypatch.setattr(admin, "masked_settings", broken)
    code = main(["settings", "jellyseerr", "--json"])
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert (code, document["error"]) == (1, "internal_error")
    assert "RuntimeError: a bug for the test" in document["message"] and document["hints"]
    assert "Traceback" not in captured.out + captured.err
