"""``aperture-plugins serve`` and ``token``, as real processes where it matters.

``serve`` refuses a non-loopback address without an API token (exit 2, ``token_required``);
with one it listens there and ``/metrics`` asks for the token too. A real ``serve`` process
with a push provider installed as an entry point takes a push over HTTP into the store, and a
SIGTERM shuts it down gracefully (exit 0, the poll lease given up). ``token create`` prints the
token once and stores only its hash. No secret or token ever shows in the processes' output.
"""

from __future__ import annotations

import hashlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from aperture_hookspecs import ApertureUser, MediaRef, RequestState, TrackedRequest
from aperture_plugins.cli import main
from aperture_plugins.host import PluginHost
from aperture_plugins.push_store import PushStore
from aperture_plugins.serve import is_loopback
from aperture_plugins.store import SettingsStore

from .conftest import InstallDistribution, watch_secret
from .push_fakes import eventually, push_body

ROOT = Path(__file__).resolve().parent.parent

PUSH_PLUGIN = """
from tests.push_fakes import PushProvider

plugin = PushProvider("pusher")
"""


def environment(data_dir: Path, *extra_paths: Path, token: str | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("APERTURE_")}
    env["APERTURE_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = os.pathsep.join(str(path) for path in (*extra_paths, ROOT))
    if token is not None:
        env["APERTURE_API_TOKEN"] = token
    return env


def run_cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aperture_plugins.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Serving:
    def __init__(self, process: subprocess.Popen[str], url: str, stderr: list[str]) -> None:
        self.process = process
        self.url = url
        self.stderr = stderr

    @property
    def local_url(self) -> str:
        """The URL to reach it from here (0.0.0.0 is reachable as 127.0.0.1)."""
        return self.url.replace("0.0.0.0", "127.0.0.1")

    def stop(self, timeout: float = 20) -> tuple[int, str, str]:
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, out, "".join(self.stderr) + err


@contextmanager
def serving(*args: str, env: dict[str, str], timeout: float = 30) -> Iterator[Serving]:
    """Start ``serve --port 0 ARGS`` and wait for its "Serving on URL" line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "aperture_plugins.cli", "serve", "--port", "0", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    lines: list[str] = []
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    url = None
    try:
        while url is None:
            if time.monotonic() > deadline or not selector.select(timeout=deadline - time.monotonic()):
                raise AssertionError(f"serve did not start: {''.join(lines)}")
            line = process.stderr.readline()
            if not line:
                raise AssertionError(f"serve ended (exit {process.wait()}): {''.join(lines)}")
            lines.append(line)
            if line.startswith("Serving on "):
                url = line.split()[2]
        yield Serving(process, url, lines)
    finally:
        selector.close()
        if process.poll() is None:  # the test failed before stop(): show what serve said
            process.kill()
            _, rest = process.communicate()
            print("serve's stderr:", "".join(lines) + rest, sep="\n")


# -- refusing to listen -----------------------------------------------------------------------


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "192.0.2.10", "aperture.example"])
def test_serve_refuses_a_non_loopback_address_without_a_token(data_dir: Path, address: str) -> None:
    result = run_cli("serve", "--host", address, "--port", "0", "--json", env=environment(data_dir))
    assert result.returncode == 2
    error = json.loads(result.stdout)
    assert error["error"] == "token_required"
    assert f"Refusing to serve on {address}" in error["message"]
    assert "aperture-plugins token create" in " ".join(error["hints"])


def test_the_refusal_reads_plainly_without_json(data_dir: Path) -> None:
    result = run_cli("serve", "--host", "0.0.0.0", env=environment(data_dir))
    assert result.returncode == 2 and result.stdout == ""
    assert (
        "Refusing to serve on 0.0.0.0, which other machines can reach, without an API token" in result.stderr
    )


@pytest.mark.parametrize(
    ("address", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("10.0.0.2", False), ("aperture", False), ("", False)],
)  # fmt: skip
def test_which_addresses_are_loopback(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_an_address_in_use_is_exit_2_not_a_traceback(data_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port), "--json", env=environment(data_dir))
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"] == "address_unavailable"
    assert "Traceback" not in result.stderr


# -- serving with a token ---------------------------------------------------------------------


def test_with_a_stored_token_serve_listens_on_all_addresses_and_metrics_need_it(data_dir: Path) -> None:
    token = PluginHost(data_dir).push_store().create_api_token("prometheus")
    with serving("--host", "0.0.0.0", env=environment(data_dir)) as server:
        assert server.url.startswith("http://0.0.0.0:")
        health = httpx.get(f"{server.local_url}/healthz", timeout=10)
        refused = httpx.get(f"{server.local_url}/metrics", timeout=10)
        metrics = httpx.get(f"{server.local_url}/metrics", headers={"authorization": f"Bearer {token}"})
        code, out, err = server.stop()
    assert health.status_code == 200 and health.json()["active"] == "null"
    assert refused.status_code == 401
    assert metrics.status_code == 200 and "aperture_pushes_received_total" in metrics.text
    assert code == 0 and "Stopped." in err
    assert token not in out + err


def test_with_aperture_api_token_serve_listens_and_never_shows_it(data_dir: Path) -> None:
    token = watch_secret("fake-env-token-4b1d")
    with serving("--host", "0.0.0.0", "--json", env=environment(data_dir, token=token)) as server:
        metrics = httpx.get(f"{server.local_url}/metrics", headers={"authorization": f"Bearer {token}"})
        code, out, err = server.stop()
    assert metrics.status_code == 200
    assert code == 0
    assert json.loads(out) == {"served": server.url, "stopped": True}
    assert token not in out + err


def test_on_loopback_metrics_need_no_token(data_dir: Path) -> None:
    with serving(env=environment(data_dir)) as server:
        assert server.url.startswith("http://127.0.0.1:")
        metrics = httpx.get(f"{server.url}/metrics", timeout=10)
        code, _, _ = server.stop()
    assert metrics.status_code == 200 and code == 0


def test_a_real_serve_takes_a_push_into_the_store_and_shuts_down_gracefully(
    data_dir: Path, install_distribution: InstallDistribution, site_dir: Path
) -> None:
    install_distribution(
        "aperture-pusher",
        "aperture_pusher",
        PUSH_PLUGIN,
        entry_name="pusher",
        target="aperture_pusher:plugin",
    )
    assert main(["use", "pusher"]) == 0
    host = PluginHost(data_dir)
    authorization = host.push_target("pusher", "http://aperture:8765").authorization
    store = SettingsStore(data_dir)
    store.save_tracked(
        "pusher",
        [TrackedRequest("7", MediaRef.parse("movie:680"), ApertureUser("alice"), RequestState.PENDING)],
    )
    with serving("--poll-interval", "1", env=environment(data_dir, site_dir)) as server:
        wrong = httpx.post(
            f"{server.url}/webhooks/pusher",
            content=push_body(request="7"),
            headers={"authorization": "Bearer x"},
        )
        answer = httpx.post(
            f"{server.url}/webhooks/pusher",
            content=push_body(request="7"),
            headers={"authorization": authorization, "content-type": "application/json"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        reader = PushStore(store)
        events = eventually(
            lambda: len(reader.stream_after(0)) == 2 and reader.stream_after(0), what="the events", timeout=30
        )
        eventually(lambda: store._connection().execute("SELECT holder FROM leases").fetchall(), what="a poll")
        code, out, err = server.stop()
    assert wrong.status_code == 401
    assert answer.status_code == 200 and answer.json() == {"ok": True, "kind": "status", "queued": True}
    assert [event.kind for event in events] == ["status", "badge"]
    assert events[0].data["source"] == "push" and events[0].data["current"] == "approved"
    assert code == 0, err
    leases = store._connection().execute("SELECT name, expires_at FROM leases").fetchall()
    assert leases == [("poll:pusher", 0)]  # given up by host.aclose() at shutdown
    assert "push for pusher refused (401 unauthorized)" in err
    assert authorization.removeprefix("Bearer ") not in out + err
    store.close()


# -- tokens -----------------------------------------------------------------------------------


def test_token_create_prints_the_token_once_and_stores_only_its_hash(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "create", "--label", "front end"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert out == token + "\n" and token.startswith("apt_") and len(token) > 40
    assert "shown only now" in err and token not in err
    digest = hashlib.sha256(token.encode()).hexdigest()
    store = SettingsStore(data_dir)
    rows = store._connection().execute("SELECT token_hash, label FROM api_tokens").fetchall()
    assert rows == [(digest, "front end")]
    store.close()
    for path in data_dir.iterdir():  # the database, its WAL, the key file, config.toml
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path.name

    assert main(["token", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == [{"id": digest[:12], "label": "front end", "created_at": listed[0]["created_at"]}]
    assert main(["token", "list"]) == 0
    text = capsys.readouterr().out
    assert digest[:12] in text and token not in text and "front end" in text

    assert PluginHost(data_dir).push_store().api_token_valid(token)
    assert main(["token", "revoke", digest[:12], "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"revoked": digest[:12]}
    assert not PluginHost(data_dir).push_store().api_token_valid(token)
    assert main(["token", "revoke", digest[:12], "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"] == "unknown_token"


def test_token_create_json_is_one_document(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "create", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["token"].startswith("apt_") and made["label"] == ""
    assert made["id"] == hashlib.sha256(made["token"].encode()).hexdigest()[:12]


def test_token_list_without_tokens_says_how_to_make_one(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "list"]) == 0
    assert "aperture-plugins token create" in capsys.readouterr().out


def test_an_open_events_stream_ends_at_once_when_serve_stops(data_dir: Path) -> None:
    """Without the stop signal uvicorn waits its graceful 5 s for the stream, then cuts it (the
    client reads an incomplete chunked body) and logs "Exception in ASGI application"."""
    token = watch_secret("fake-env-token-streams-9c2e")
    with serving(env=environment(data_dir, token=token)) as server:
        headers = {"authorization": f"Bearer {token}", "accept": "text/event-stream"}
        with (
            httpx.Client(timeout=httpx.Timeout(10.0, read=20.0)) as client,
            client.stream("GET", f"{server.url}/events", headers=headers) as stream,
        ):
            lines = stream.iter_lines()
            assert next(lines).startswith("retry:")
            server.process.send_signal(signal.SIGTERM)
            rest = list(lines)  # the stream ends properly: the last chunk comes, nothing is cut
        code, _, err = server.stop()
    assert code == 0
    assert "Exception in ASGI application" not in err and "CancelledError" not in err
    assert all(not line.startswith("event:") for line in rest)
