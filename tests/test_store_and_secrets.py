"""The settings store and the encrypted secrets: at rest, across processes, under rotation and crashes."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from aperture_hookspecs import (
    ApertureError,
    ApertureUser,
    InvalidSettingsError,
    MediaRef,
    RequestState,
    TrackedRequest,
)
from aperture_plugins import admin
from aperture_plugins import store as store_module
from aperture_plugins.host import PluginHost
from aperture_plugins.secrets import (
    KEY_FILE_NAME,
    SECRET_KEY_ENV,
    MasterKeyError,
    SecretBox,
    SecretUnreadableError,
    mask,
)
from aperture_plugins.store import DATABASE_FILE_NAME, MIGRATIONS, SettingsStore

from . import test_admin_flow
from .test_admin_flow import GOOD_KEY, run

vault = test_admin_flow.vault  # the fixture: the throwaway "vault" provider and its server

API_KEY = frozenset({"api_key"})
OTHER_KEY = "FAKE-KEY-other-7777"
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def settings(key: str = GOOD_KEY, url: str = "http://seerr.local:5055") -> dict[str, object]:
    return {"url": url, "api_key": key, "timeout": 10.0}


def fresh_get(data_dir: Path, provider: str = "vault") -> dict[str, object] | None:
    """Read through a new store and a new secret box, as another process would."""
    other = SettingsStore(data_dir)
    try:
        return other.get(provider)
    finally:
        other.close()


def raw_secrets(data_dir: Path, provider: str = "vault") -> str:
    with sqlite3.connect(data_dir / DATABASE_FILE_NAME) as connection:
        return connection.execute(
            "SELECT secrets_json FROM provider_settings WHERE provider = ?", (provider,)
        ).fetchone()[0]


def set_raw_secrets(data_dir: Path, value: str, provider: str = "vault") -> None:
    connection = sqlite3.connect(data_dir / DATABASE_FILE_NAME)
    with connection:
        connection.execute(
            "UPDATE provider_settings SET secrets_json = ? WHERE provider = ?", (value, provider)
        )
    connection.close()


def key_file_keys(data_dir: Path) -> list[str]:
    return (data_dir / KEY_FILE_NAME).read_text().split()


def python(code: str, *args: str) -> subprocess.Popen[str]:
    """Start a Python process running ``code`` (dedented) with ``args`` in ``sys.argv[1:]``."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


BARRIER = """
    import sys, time
    from pathlib import Path

    def barrier(name):
        gate = Path(sys.argv[1]).parent / "gate"
        (gate / f"ready-{name}").touch()
        deadline = time.monotonic() + 60
        while not (gate / "go").exists():
            if time.monotonic() > deadline:
                sys.exit("the gate never opened")
            time.sleep(0.001)
"""


def run_together(code: str, data_dir: Path, workers: int, *args: str) -> list[subprocess.CompletedProcess]:
    """Run ``workers`` processes of ``code`` released at the same moment (a file barrier)."""
    gate = data_dir.parent / "gate"
    gate.mkdir()
    script = textwrap.dedent(BARRIER) + textwrap.dedent(code)
    processes = [python(script, str(data_dir), str(n), *args) for n in range(workers)]
    deadline = time.monotonic() + 60
    while len(list(gate.glob("ready-*"))) < workers:
        assert time.monotonic() < deadline, "the workers never got ready"
        assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
        time.sleep(0.01)
    (gate / "go").touch()
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


# -- round trip -------------------------------------------------------------------------------------


def test_round_trip_keeps_the_key_out_of_the_database_files(data_dir):
    store = SettingsStore(data_dir)
    store.set("vault", settings(), API_KEY)
    assert store.get("vault") == settings()
    assert json.loads(raw_secrets(data_dir))["api_key"].startswith("v1:")

    database, wal = data_dir / DATABASE_FILE_NAME, data_dir / f"{DATABASE_FILE_NAME}-wal"
    assert wal.exists()  # WAL mode: the last writes are in here until a checkpoint
    raw = database.read_bytes() + wal.read_bytes()
    assert b"http://seerr.local:5055" in raw  # the check reads the real data...
    assert GOOD_KEY.encode() not in raw  # ...and the key is not in it
    assert GOOD_KEY[-8:].encode() not in raw
    store.close()
    raw = database.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert b"seerr.local" in raw and GOOD_KEY.encode() not in raw


def test_settings_saved_by_one_process_are_read_by_another(data_dir):
    SettingsStore(data_dir).set("vault", settings(), API_KEY)
    assert fresh_get(data_dir) == settings()
    reader = python(
        """
        import json, sys
        from pathlib import Path
        from aperture_plugins.store import SettingsStore
        print(json.dumps(SettingsStore(Path(sys.argv[1])).get("vault")))
        """,
        str(data_dir),
    )
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    assert json.loads(out) == settings()


def test_saving_again_replaces_and_none_secrets_are_not_stored(data_dir):
    store = SettingsStore(data_dir)
    store.set("vault", settings(), API_KEY)
    store.set("vault", {"url": "http://b", "api_key": None}, API_KEY)
    assert store.get("vault") == {"url": "http://b"}
    assert store.providers_with_settings() == ["vault"]
    store.delete("vault")
    assert store.get("vault") is None


def test_tracked_requests_and_cache_survive_a_restart(data_dir):
    store = SettingsStore(data_dir)
    request = TrackedRequest(
        request_id="r-1",
        item=MediaRef.parse("tv:1399"),
        user=ApertureUser("alice", email="alice@example.org"),
        state=RequestState.PENDING,
        seasons=(1, 2),
    )
    store.track("vault", request)
    store.cache_set("vault:users", {"alice": 7})
    store.close()
    again = SettingsStore(data_dir)
    assert again.tracked() == [("vault", request)]
    assert again.tracked(user="bob") == []
    assert again.cache_get("vault:users") == {"alice": 7}


# -- rotation ---------------------------------------------------------------------------------------


def host_with_secrets(data_dir: Path, **providers: str) -> PluginHost:
    host = PluginHost(data_dir, load_entry_points=False)
    for name, key in providers.items():
        host.settings.set(name, settings(key), API_KEY)
    return host


def test_rotate_master_key_re_encrypts_everything_under_a_new_key(data_dir):
    host = host_with_secrets(data_dir, vault=GOOD_KEY, other=OTHER_KEY)
    [old_key] = key_file_keys(data_dir)
    old_ciphertext = raw_secrets(data_dir)

    assert admin.rotate_master_key(host) == 2

    [new_key] = key_file_keys(data_dir)
    assert new_key != old_key
    assert old_key not in (data_dir / KEY_FILE_NAME).read_text()
    assert raw_secrets(data_dir) != old_ciphertext
    assert fresh_get(data_dir) == settings(GOOD_KEY)
    assert fresh_get(data_dir, "other") == settings(OTHER_KEY)
    # the old key really cannot read the new ciphertext
    with pytest.raises(SecretUnreadableError):
        SecretBox(data_dir, {SECRET_KEY_ENV: old_key}).decrypt(json.loads(raw_secrets(data_dir))["api_key"])
    if os.name == "posix":
        assert stat.S_IMODE((data_dir / KEY_FILE_NAME).stat().st_mode) == 0o600
    assert [p.name for p in data_dir.iterdir() if p.name.endswith(".tmp")] == []


def test_rotate_key_command(capsys, data_dir):
    host_with_secrets(data_dir, vault=GOOD_KEY)
    [old_key] = key_file_keys(data_dir)
    code, out, _err = run(capsys, None, "rotate-key", "--json")
    assert code == 0 and json.loads(out)["rotated"] == 1
    assert key_file_keys(data_dir) != [old_key]
    assert fresh_get(data_dir) == settings()


def test_a_rotation_interrupted_after_the_new_key_was_written_loses_nothing(data_dir, monkeypatch):
    host = host_with_secrets(data_dir, a=GOOD_KEY, b=OTHER_KEY, c="FAKE-KEY-third-3333")
    [old_key] = key_file_keys(data_dir)
    before = {name: raw_secrets(data_dir, name) for name in "abc"}
    real_rotate = SecretBox.rotate
    calls = []

    def crash_on_the_second_secret(self, *args):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process is stopped half-way through the re-encryption
        return real_rotate(self, *args)

    monkeypatch.setattr(SecretBox, "rotate", crash_on_the_second_secret)
    with pytest.raises(KeyboardInterrupt):
        admin.rotate_master_key(host)
    monkeypatch.undo()

    keys = key_file_keys(data_dir)
    assert len(keys) == 2 and keys[1] == old_key  # the new key in front, the old one kept
    assert {name: raw_secrets(data_dir, name) for name in "abc"} == before  # rolled back as a whole
    assert [fresh_get(data_dir, name)["api_key"] for name in "abc"] == [
        GOOD_KEY,
        OTHER_KEY,
        "FAKE-KEY-third-3333",
    ]

    assert admin.rotate_master_key(PluginHost(data_dir, load_entry_points=False)) == 3  # run it again
    [final] = key_file_keys(data_dir)
    assert final not in keys
    assert [fresh_get(data_dir, name)["api_key"] for name in "abc"] == [
        GOOD_KEY,
        OTHER_KEY,
        "FAKE-KEY-third-3333",
    ]


def test_a_rotation_interrupted_before_the_old_key_was_dropped_loses_nothing(data_dir, monkeypatch):
    host = host_with_secrets(data_dir, vault=GOOD_KEY)
    [old_key] = key_file_keys(data_dir)

    def crash(self, new_key=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(SecretBox, "finish_rotation", crash)
    with pytest.raises(KeyboardInterrupt):
        admin.rotate_master_key(host)
    monkeypatch.undo()
    new_key, kept = key_file_keys(data_dir)
    assert kept == old_key
    assert fresh_get(data_dir) == settings()
    # the secret is under the new key already: the new key alone reads it
    assert SecretBox(data_dir, {SECRET_KEY_ENV: new_key}).decrypt(
        json.loads(raw_secrets(data_dir))["api_key"]
    )
    admin.rotate_master_key(PluginHost(data_dir, load_entry_points=False))
    assert len(key_file_keys(data_dir)) == 1 and fresh_get(data_dir) == settings()


def test_a_crash_inside_rotate_secrets_keeps_every_secret_readable(data_dir, monkeypatch):
    host = host_with_secrets(data_dir, vault=GOOD_KEY)

    def crash(self):
        raise RuntimeError("power cut")

    monkeypatch.setattr(SettingsStore, "rotate_secrets", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        admin.rotate_master_key(host)
    monkeypatch.undo()
    assert len(key_file_keys(data_dir)) == 2
    assert fresh_get(data_dir) == settings()
    assert admin.rotate_master_key(PluginHost(data_dir, load_entry_points=False)) == 1
    assert len(key_file_keys(data_dir)) == 1 and fresh_get(data_dir) == settings()


def test_a_save_after_a_rotation_began_is_readable_after_it_finished(data_dir):
    """Step 1 put the new key in front: a save from then on uses it, so step 3 may drop the old one."""
    host = host_with_secrets(data_dir, vault=GOOD_KEY)
    box = host.settings.secrets
    new_key = box.begin_rotation()
    SettingsStore(data_dir).set("late", settings(OTHER_KEY), API_KEY)  # another process saves now
    host.settings.rotate_secrets()
    box.finish_rotation(new_key)
    assert fresh_get(data_dir, "late") == settings(OTHER_KEY)
    assert fresh_get(data_dir) == settings(GOOD_KEY)


def test_finishing_an_older_rotation_keeps_the_keys_of_a_newer_one(data_dir):
    box = SecretBox(data_dir)
    token = box.encrypt(GOOD_KEY)
    first = box.begin_rotation()
    token = box.rotate(token)  # the first rotation re-encrypted everything under its key
    second = box.begin_rotation()  # another rotation starts before the first one finishes
    box.finish_rotation(first)  # drops only the keys older than the first rotation's
    assert key_file_keys(data_dir) == [second.decode(), first.decode()]
    assert box.decrypt(token) == GOOD_KEY
    token = box.rotate(token)
    box.finish_rotation(second)
    assert key_file_keys(data_dir) == [second.decode()]
    assert box.decrypt(token) == GOOD_KEY


def test_a_single_environment_key_cannot_be_rotated(data_dir, monkeypatch, capsys):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv(SECRET_KEY_ENV, key)
    host = host_with_secrets(data_dir, vault=GOOD_KEY)
    with pytest.raises(MasterKeyError) as refused:
        admin.rotate_master_key(host)
    assert any(f"{SECRET_KEY_ENV}=NEW,OLD" in hint for hint in refused.value.hints)
    assert key not in str(refused.value)
    assert not (data_dir / KEY_FILE_NAME).exists()  # the variable is the key: no file is made

    code, out, err = run(capsys, None, "rotate-key")
    assert code == 2 and "NEW,OLD" in err and "Traceback" not in err and key not in out + err
    assert fresh_get(data_dir) == settings()


def test_two_environment_keys_re_encrypt_under_the_first(data_dir, monkeypatch):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv(SECRET_KEY_ENV, old)
    host = host_with_secrets(data_dir, vault=GOOD_KEY)
    before = raw_secrets(data_dir)
    monkeypatch.setenv(SECRET_KEY_ENV, f"{new}, {old}")
    assert admin.rotate_master_key(host) == 1
    assert raw_secrets(data_dir) != before
    monkeypatch.setenv(SECRET_KEY_ENV, new)  # the admin then drops the old key
    assert fresh_get(data_dir) == settings()
    monkeypatch.setenv(SECRET_KEY_ENV, old)
    with pytest.raises(SecretUnreadableError):
        fresh_get(data_dir)
    assert not (data_dir / KEY_FILE_NAME).exists()


# -- wrong key, tampering, missing key --------------------------------------------------------------


def assert_says_to_enter_the_key_again(error: ApertureError) -> None:
    text = f"{error.message} {error.hints}".lower()
    assert "enter the api key again" in text
    assert GOOD_KEY not in str(error) + repr(error) + json.dumps(error.to_dict())


@pytest.mark.parametrize("how", ["another key file", "another environment key"])
def test_a_wrong_master_key_is_a_clear_error(data_dir, monkeypatch, how):
    SettingsStore(data_dir).set("vault", settings(), API_KEY)
    if how == "another key file":
        (data_dir / KEY_FILE_NAME).write_text(Fernet.generate_key().decode() + "\n")
    else:
        monkeypatch.setenv(SECRET_KEY_ENV, Fernet.generate_key().decode())
    with pytest.raises(SecretUnreadableError) as unreadable:
        fresh_get(data_dir)
    assert "cannot be decrypted" in unreadable.value.message
    assert "the api_key of vault" in unreadable.value.message
    assert any(
        "aperture-plugins configure vault --url URL --api-key-stdin" in h for h in unreadable.value.hints
    )
    assert_says_to_enter_the_key_again(unreadable.value)
    assert SettingsStore(data_dir).masked("vault") == {
        "url": "http://seerr.local:5055",
        "timeout": 10.0,
        "api_key": "unreadable (enter it again)",
    }


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda token: token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB"), id="bits"
        ),
        pytest.param(lambda token: token.replace("v1:", "v2:", 1), id="envelope"),
        pytest.param(lambda token: "v1:" + token[3:40], id="truncated"),
        pytest.param(lambda token: "v1:ünïcödé", id="garbage"),
    ],
)
def test_tampered_ciphertext_is_a_clear_error(data_dir, tamper):
    SettingsStore(data_dir).set("vault", settings(), API_KEY)
    token = json.loads(raw_secrets(data_dir))["api_key"]
    set_raw_secrets(data_dir, json.dumps({"api_key": tamper(token)}))
    with pytest.raises(SecretUnreadableError) as unreadable:
        fresh_get(data_dir)
    assert_says_to_enter_the_key_again(unreadable.value)
    assert SettingsStore(data_dir).masked("vault")["api_key"] == "unreadable (enter it again)"


@pytest.mark.parametrize("damaged", ["{not json", "[1, 2]", '{"api_key": 12}', "null"])
def test_a_damaged_secrets_column_is_a_clear_error_not_a_traceback(data_dir, damaged, capsys, vault):
    host = PluginHost(data_dir).load()
    host.set_settings("vault", {"url": vault.url, "api_key": GOOD_KEY})
    set_raw_secrets(data_dir, damaged)
    with pytest.raises(SecretUnreadableError) as unreadable:
        fresh_get(data_dir)
    assert_says_to_enter_the_key_again(unreadable.value)
    code, out, err = run(capsys, None, "settings", "vault", "--json")
    assert code == 0 and json.loads(out)["settings"]["api_key"] == "unreadable (enter it again)"
    code, out, err = run(capsys, None, "test", "vault")
    assert code == 2 and "damaged" in out and "Traceback" not in out + err
    code, out, err = run(capsys, None, "diagnostics", "--json")
    assert code == 0 and "Traceback" not in err


def test_a_missing_key_file_with_stored_secrets_is_a_clear_error(data_dir):
    SettingsStore(data_dir).set("vault", settings(), API_KEY)
    (data_dir / KEY_FILE_NAME).unlink()
    with pytest.raises(SecretUnreadableError) as unreadable:
        fresh_get(data_dir)
    assert "is missing" in unreadable.value.message
    assert any("backup" in hint for hint in unreadable.value.hints)
    assert_says_to_enter_the_key_again(unreadable.value)
    assert not (data_dir / KEY_FILE_NAME).exists()  # reading never invents a new key


@pytest.mark.parametrize(
    "value", ["not-a-key", "Zm9v", ",", "c2VjcmV0LXRoYXQtaXMtdG9vLXNob3J0LWZvci1mZXJuZXQ="]
)
def test_a_malformed_environment_key_is_a_master_key_error(data_dir, monkeypatch, value):
    monkeypatch.setenv(SECRET_KEY_ENV, value)
    box = SecretBox(data_dir)
    with pytest.raises(MasterKeyError) as malformed:
        box.encrypt(GOOD_KEY)
    assert SECRET_KEY_ENV in malformed.value.message and value not in malformed.value.message.replace(
        SECRET_KEY_ENV, ""
    )
    assert any("Fernet.generate_key" in hint for hint in malformed.value.hints)
    with pytest.raises(MasterKeyError):
        box.decrypt("v1:whatever")


def test_a_malformed_key_file_is_a_master_key_error(data_dir):
    data_dir.mkdir(parents=True)
    (data_dir / KEY_FILE_NAME).write_text("this is not a key\n")
    with pytest.raises(MasterKeyError) as malformed:
        SecretBox(data_dir).encrypt(GOOD_KEY)
    assert str(data_dir / KEY_FILE_NAME) in malformed.value.message
    assert any("backup" in hint for hint in malformed.value.hints)


# -- the key file ------------------------------------------------------------------------------------


@posix_only
def test_the_key_file_is_private_and_so_is_the_data_dir(data_dir):
    assert not data_dir.exists()
    SettingsStore(data_dir).set("vault", settings(), API_KEY)
    assert stat.S_IMODE((data_dir / KEY_FILE_NAME).stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert len(key_file_keys(data_dir)) == 1
    Fernet(key_file_keys(data_dir)[0].encode())  # a valid key


@posix_only
def test_the_key_file_is_private_even_with_a_permissive_umask(data_dir):
    previous = os.umask(0)
    try:
        SecretBox(data_dir).encrypt(GOOD_KEY)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((data_dir / KEY_FILE_NAME).stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700


def test_processes_creating_the_key_at_once_agree_on_one_key(data_dir):
    results = run_together(
        """
        from aperture_plugins.secrets import SecretBox
        barrier(sys.argv[2])
        print(SecretBox(Path(sys.argv[1])).encrypt("FAKE-KEY-from-" + sys.argv[2]))
        """,
        data_dir,
        8,
    )
    assert [r.returncode for r in results] == [0] * 8, [r.stderr for r in results]
    [key] = key_file_keys(data_dir)  # one key, complete
    box = SecretBox(data_dir, {SECRET_KEY_ENV: key})
    assert sorted(box.decrypt(r.stdout.strip()) for r in results) == sorted(
        f"FAKE-KEY-from-{n}" for n in range(8)
    )


# -- two processes writing at once ------------------------------------------------------------------


def test_processes_writing_at_once_neither_fail_nor_corrupt(data_dir):
    rows = 60
    results = run_together(
        """
        from aperture_hookspecs import ApertureUser, MediaRef, RequestState, TrackedRequest
        from aperture_plugins.store import SettingsStore
        barrier(sys.argv[2])
        worker, rows = sys.argv[2], int(sys.argv[3])
        store = SettingsStore(Path(sys.argv[1]))
        for i in range(rows):
            store.set(f"p{worker}-{i}", {"url": f"http://h/{i}", "api_key": f"FAKE-KEY-{worker}-{i:04d}"},
                      frozenset({"api_key"}))
            store.track(worker, TrackedRequest(request_id=f"r-{i}", item=MediaRef.parse(f"movie:{i + 1}"),
                                               user=ApertureUser("alice"), state=RequestState.PENDING))
            store.cache_set(f"c{worker}-{i}", i)
            store.record_error(worker, f"op{i % 3}", "timeout", "slow")
            assert store.get(f"p{worker}-{i}")["api_key"] == f"FAKE-KEY-{worker}-{i:04d}"
        print("done")
        """,
        data_dir,
        3,
        str(rows),
    )
    for result in results:
        assert (result.returncode, result.stdout.strip()) == (0, "done"), result.stderr
        assert "locked" not in result.stderr
    store = SettingsStore(data_dir)
    connection = store._connection()
    assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.schema_version == len(MIGRATIONS)
    assert len(store.providers_with_settings()) == 3 * rows
    for worker in range(3):
        for i in range(rows):
            assert store.get(f"p{worker}-{i}") == {
                "url": f"http://h/{i}",
                "api_key": f"FAKE-KEY-{worker}-{i:04d}",
            }
            assert store.cache_get(f"c{worker}-{i}") == i
        assert [r.request_id for _p, r in store.tracked(str(worker))] == [f"r-{i}" for i in range(rows)]
    assert len(store.last_errors()) == 3 * 3
    assert len(key_file_keys(data_dir)) == 1


# -- a save that fails half-way ----------------------------------------------------------------------


class CrashAfterInsert:
    """A connection that executes the statement, then fails (a crash between two steps)."""

    def __init__(self, connection: sqlite3.Connection, fragment: str) -> None:
        self._connection = connection
        self._fragment = fragment

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        cursor = self._connection.execute(sql, *args)
        if self._fragment in sql:
            raise OSError("disk went away after the INSERT")
        return cursor

    def __getattr__(self, name: str) -> object:
        return getattr(self._connection, name)


def test_a_crash_after_the_insert_leaves_the_previous_settings(data_dir, monkeypatch):
    store = SettingsStore(data_dir)
    store.set("vault", settings(), API_KEY)
    real = store._connection()
    monkeypatch.setattr(store, "_connection", lambda: CrashAfterInsert(real, "INSERT INTO provider_settings"))
    with pytest.raises(OSError, match="after the INSERT"):
        store.set("vault", settings(OTHER_KEY, "http://new"), API_KEY)
    monkeypatch.undo()
    assert not real.in_transaction
    assert store.get("vault") == settings()
    assert fresh_get(data_dir) == settings()


def test_a_failure_while_serialising_leaves_the_previous_settings(data_dir, monkeypatch):
    store = SettingsStore(data_dir)
    store.set("vault", settings(), API_KEY)

    def broken_dumps(*args, **kwargs):
        raise TypeError("cannot serialise")

    monkeypatch.setattr(store_module.json, "dumps", broken_dumps)
    with pytest.raises(TypeError):
        store.set("vault", settings(OTHER_KEY, "http://new"), API_KEY)
    monkeypatch.undo()
    assert fresh_get(data_dir) == settings()


def test_a_process_killed_in_the_middle_of_a_save_leaves_the_previous_settings(data_dir):
    SettingsStore(data_dir).set("vault", settings(), API_KEY)
    killed = python(
        """
        import os, sys
        from pathlib import Path
        from aperture_plugins.store import SettingsStore

        store = SettingsStore(Path(sys.argv[1]))
        real = store._connection()

        class DieAfterInsert:
            def __getattr__(self, name):
                return getattr(real, name)

            def execute(self, sql, *args):
                cursor = real.execute(sql, *args)
                if sql.startswith("INSERT INTO provider_settings"):
                    os._exit(9)  # no rollback, no close: as if the power went
                return cursor

        store._connection = DieAfterInsert
        store.set("vault", {"url": "http://new", "api_key": "FAKE-KEY-other-7777"}, frozenset({"api_key"}))
        """,
        str(data_dir),
    )
    _out, err = killed.communicate(timeout=60)
    assert killed.returncode == 9, err
    assert fresh_get(data_dir) == settings()
    with sqlite3.connect(data_dir / DATABASE_FILE_NAME) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_save_that_fails_validation_leaves_the_previous_settings(data_dir, vault):
    host = PluginHost(data_dir).load()
    host.set_settings("vault", {"url": vault.url, "api_key": GOOD_KEY})
    with pytest.raises(InvalidSettingsError) as invalid:
        host.set_settings("vault", {"url": "nope", "api_key": OTHER_KEY, "timeout": -1})
    assert set(invalid.value.field_errors) == {"url", "timeout"}
    assert OTHER_KEY not in str(invalid.value)
    assert fresh_get(data_dir) == {
        "url": vault.url,
        "api_key": GOOD_KEY,
        "timeout": 10.0,
        "verify_tls": True,
        "default_4k": False,
    }


# -- schema versions ---------------------------------------------------------------------------------


def test_a_new_database_is_at_the_latest_schema_version(data_dir):
    assert SettingsStore(data_dir).schema_version == len(MIGRATIONS)


def test_an_older_database_is_migrated(data_dir):
    data_dir.mkdir(parents=True)
    connection = sqlite3.connect(data_dir / DATABASE_FILE_NAME)
    connection.execute("PRAGMA user_version = 0")
    assert connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    connection.close()
    store = SettingsStore(data_dir)
    assert store.schema_version == len(MIGRATIONS)
    store.set("vault", settings(), API_KEY)
    assert fresh_get(data_dir) == settings()
    tables = {
        row[0] for row in store._connection().execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    assert tables >= {"provider_settings", "tracked_requests", "cache", "last_errors"}


def test_a_failing_migration_changes_nothing(data_dir, monkeypatch):
    monkeypatch.setattr(store_module, "MIGRATIONS", (MIGRATIONS[0], "CREATE TABLE extra (a); NOT SQL AT ALL"))
    with pytest.raises(sqlite3.OperationalError):
        SettingsStore(data_dir).schema_version  # noqa: B018
    monkeypatch.undo()
    store = SettingsStore(data_dir)
    assert store.schema_version == len(MIGRATIONS)
    tables = {
        row[0] for row in store._connection().execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    assert "extra" not in tables and "provider_settings" in tables


def test_a_database_from_a_newer_version_is_refused_clearly(data_dir):
    data_dir.mkdir(parents=True)
    connection = sqlite3.connect(data_dir / DATABASE_FILE_NAME)
    connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    connection.close()
    with pytest.raises(ApertureError, match="newer version"):
        SettingsStore(data_dir).get("vault")


# -- masking -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "shown"),
    [(GOOD_KEY, "••••0001"), ("0123456789abcdef3f2a", "••••3f2a"), ("short-key", "set"), ("", "set")],
)
def test_mask(secret, shown):
    assert mask(secret) == shown


def test_masked_reads_never_contain_the_key(data_dir, capsys, vault):
    host = PluginHost(data_dir).load()
    host.set_settings("vault", {"url": vault.url, "api_key": GOOD_KEY})
    masked = admin.masked_settings(host, "vault")
    assert masked["api_key"] == "••••0001" and masked["url"] == vault.url
    assert GOOD_KEY not in json.dumps(masked)
    code, out, _err = run(capsys, None, "settings", "vault", "--json")
    assert code == 0 and GOOD_KEY not in out and json.loads(out)["settings"] == masked

    host.set_settings("vault", {"url": vault.url, "api_key": "tiny"})
    assert admin.masked_settings(PluginHost(data_dir).load(), "vault")["api_key"] == "set"
