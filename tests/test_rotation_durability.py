"""``rotate-key`` against crashes and power loss, and readers during a rotation (issue 13, problem 6).

* A real ``aperture-plugins rotate-key`` process is killed (``os._exit``) just before each of its
  steps in turn (every fsync, rename, re-encrypted row and COMMIT); after each, every secret is
  readable by a fresh store and running the rotation again finishes it.
* A process crash does not lose what the OS has cached; a power loss does. That part is shown by
  the order of the durable writes: the key file is fsynced, renamed and its directory fsynced;
  the re-encrypted rows are committed with ``synchronous = FULL`` before the key file loses the
  old key.
* A reader that read a row just before a rotation finished retries once and succeeds.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from aperture_plugins import admin
from aperture_plugins.host import PluginHost
from aperture_plugins.secrets import KEY_FILE_NAME, SecretUnreadableError
from aperture_plugins.store import SettingsStore

API_KEY = frozenset({"api_key"})
SECRETS = {"a": "FAKE-KEY-first-1111", "b": "FAKE-KEY-second-2222", "c": "FAKE-KEY-third-3333"}
linux_only = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc/self/fd")


def settings(key: str) -> dict[str, object]:
    return {"url": "http://seerr.local:5055", "api_key": key}


def with_secrets(data_dir: Path) -> None:
    store = SettingsStore(data_dir)
    for name, key in SECRETS.items():
        store.set(name, settings(key), API_KEY)
    store.close()


def readable(data_dir: Path) -> dict[str, object]:
    """Every secret as a fresh process would read it (a new store, a new secret box)."""
    store = SettingsStore(data_dir)
    try:
        return {name: (store.get(name) or {}).get("api_key") for name in SECRETS}
    finally:
        store.close()


def keys_in_file(data_dir: Path) -> list[str]:
    return (data_dir / KEY_FILE_NAME).read_text().split()


# -- a crash before each step -----------------------------------------------------------------------

CRASHING_ROTATION = """
    import json, os, sqlite3, sys

    crash_at = int(sys.argv[2])
    steps = []

    def step(what):
        steps.append(what)
        if len(steps) == crash_at:
            os._exit(9)  # the process dies just before this step

    real_fsync, real_replace, real_connect = os.fsync, os.replace, sqlite3.connect

    def fsync(descriptor):
        step("fsync")
        real_fsync(descriptor)

    def replace(source, target):
        step("replace " + os.path.basename(target))
        real_replace(source, target)

    def traced(sql):
        verb = sql.split()[0].upper() if sql.split() else ""
        if verb in ("UPDATE", "COMMIT"):
            step(verb)

    def connect(*args, **kwargs):
        connection = real_connect(*args, **kwargs)
        connection.set_trace_callback(traced)
        return connection

    os.fsync, os.replace, sqlite3.connect = fsync, replace, connect

    from aperture_plugins.cli import main

    code = main(["--data-dir", sys.argv[1], "rotate-key", "--json"])
    sys.stderr.write("STEPS " + json.dumps(steps) + "\\n")
    sys.exit(code)
"""


def rotate_crashing(data_dir: Path, script: Path, crash_at: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(script), str(data_dir), str(crash_at)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "APERTURE_LOAD_PLUGINS": ""},
    )


def test_a_rotation_killed_before_any_of_its_steps_leaves_every_secret_readable(tmp_path):
    prepared = tmp_path / "prepared"
    with_secrets(prepared)
    script = tmp_path / "rotate.py"
    script.write_text(textwrap.dedent(CRASHING_ROTATION))

    whole = tmp_path / "whole"
    shutil.copytree(prepared, whole)
    process = rotate_crashing(whole, script, 0)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    steps = json.loads(err.rsplit("STEPS ", 1)[1])
    # the rotation's steps as they happen: the new key in front (temp file fsynced, renamed,
    # directory fsynced), the rows, the commit, then the old key dropped the same way
    assert steps.count("UPDATE") == len(SECRETS) and "COMMIT" in steps
    assert steps.count(f"replace {KEY_FILE_NAME}") == 2
    assert readable(whole) == SECRETS and len(keys_in_file(whole)) == 1

    directories = {}
    for crash_at in range(1, len(steps) + 1):
        directories[crash_at] = tmp_path / f"crash-{crash_at:02d}"
        shutil.copytree(prepared, directories[crash_at])
    processes = {n: rotate_crashing(d, script, n) for n, d in directories.items()}
    for crash_at, process in processes.items():
        _, err = process.communicate(timeout=120)
        assert process.returncode == 9, f"step {crash_at} ({steps[crash_at - 1]}): {err}"
    for crash_at, directory in directories.items():
        where = f"killed before step {crash_at} ({steps[crash_at - 1]})"
        assert readable(directory) == SECRETS, where
        assert 1 <= len(keys_in_file(directory)) <= 2, where
        assert admin.rotate_master_key(PluginHost(directory, load_entry_points=False)) == len(SECRETS)
        assert readable(directory) == SECRETS, where
        assert len(keys_in_file(directory)) == 1, where


# -- the order of the durable writes ----------------------------------------------------------------


@linux_only
def test_each_step_is_on_disk_before_the_next_one_depends_on_it(data_dir, monkeypatch):
    with_secrets(data_dir)
    events: list[tuple[str, str]] = []
    real_fsync, real_replace, real_connect = os.fsync, os.replace, sqlite3.connect

    def fsync(descriptor: int) -> None:
        path = os.readlink(f"/proc/self/fd/{descriptor}")
        events.append(("fsync", "data dir" if Path(path) == data_dir.resolve() else Path(path).name))
        real_fsync(descriptor)

    def replace(source: Any, target: Any) -> None:
        keys = len(Path(source).read_text().split())
        events.append(("replace", f"{Path(source).name} -> {Path(target).name} ({keys} keys)"))
        real_replace(source, target)

    def traced(sql: str) -> None:
        text = " ".join(sql.split())
        if text.upper().startswith(("PRAGMA SYNCHRONOUS", "BEGIN", "COMMIT", "ROLLBACK", "UPDATE")):
            events.append(("sql", text.split(" SET ")[0]))

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = real_connect(*args, **kwargs)
        connection.set_trace_callback(traced)
        return connection

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(sqlite3, "connect", connect)
    assert admin.rotate_master_key(PluginHost(data_dir, load_entry_points=False)) == len(SECRETS)
    monkeypatch.undo()

    replaces = [n for n, (kind, _) in enumerate(events) if kind == "replace"]
    assert [events[n][1].endswith(f"{KEY_FILE_NAME} (2 keys)") for n in replaces] == [True, False]
    assert events[replaces[1]][1].endswith(f"{KEY_FILE_NAME} (1 keys)")
    for n in replaces:  # the temporary file was fsynced before the rename, the directory after it
        temporary = events[n][1].split(" -> ")[0]
        assert ("fsync", temporary) in events[:n], events
        assert events[n + 1] == ("fsync", "data dir"), events
    updates = [n for n, event in enumerate(events) if event == ("sql", "UPDATE provider_settings")]
    assert len(updates) == len(SECRETS)
    assert replaces[0] + 1 < updates[0]  # the new key is durable before any row uses it
    commit = next(n for n in range(updates[-1], len(events)) if events[n] == ("sql", "COMMIT"))
    pragmas = [event for event in events[:commit] if event[1].upper().startswith("PRAGMA SYNCHRONOUS")]
    assert pragmas and pragmas[-1][1].upper() == "PRAGMA SYNCHRONOUS = FULL", events  # WAL fsynced
    assert commit < replaces[1]  # the rows are on disk before the old key goes
    after = [event[1] for event in events[commit:] if event[1].upper().startswith("PRAGMA SYNCHRONOUS")]
    assert after and after[0].upper() == "PRAGMA SYNCHRONOUS = NORMAL"  # back to normal afterwards
    assert readable(data_dir) == SECRETS


# -- a reader during a rotation ---------------------------------------------------------------------


def read_through(store: SettingsStore, how: str) -> object:
    if how == "get":
        return (store.get("a") or {})["api_key"]
    if how == "read":
        stored = store.read("a")
        assert stored.problem is None, stored.problem
        return (stored.values or {})["api_key"]
    if how == "masked":
        return (store.masked("a", API_KEY) or {})["api_key"]
    return SECRETS["a"] in store.readable_secrets()


EXPECTED = {"get": SECRETS["a"], "read": SECRETS["a"], "masked": "••••1111", "readable_secrets": True}


@pytest.mark.parametrize("how", sorted(EXPECTED))
def test_a_reader_whose_row_was_re_encrypted_meanwhile_retries_and_reads_it(data_dir, monkeypatch, how):
    """The reader reads the row; a whole rotation (another connection, as another process would)
    finishes before the reader reads the key file: the row it holds is under a key that is gone."""
    with_secrets(data_dir)
    reader = SettingsStore(data_dir)
    real_decrypt = reader.secrets.decrypt
    rotated = []

    def decrypt_after_a_rotation(envelope: str, *args: Any) -> str:
        if not rotated:
            rotated.append(SettingsStore(data_dir).rotate_master_key())
        return real_decrypt(envelope, *args)

    monkeypatch.setattr(reader.secrets, "decrypt", decrypt_after_a_rotation)
    assert read_through(reader, how) == EXPECTED[how]
    assert rotated == [len(SECRETS)]


def test_a_real_key_mismatch_still_fails_at_once(data_dir):
    with_secrets(data_dir)
    (data_dir / KEY_FILE_NAME).write_text("".join(key + "\n" for key in _other_keys()))
    with pytest.raises(SecretUnreadableError, match="cannot be decrypted"):
        SettingsStore(data_dir).get("a")


def _other_keys() -> list[str]:
    from cryptography.fernet import Fernet

    return [Fernet.generate_key().decode()]
