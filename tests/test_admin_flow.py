"""The admin flow: configure (validate, Test Connection, Save), masked reads, diagnostics, no leaks.

A throwaway provider, ``vault``, is installed through the real entry-point path. Its connection
test and lookup make real HTTP calls (httpx, through httpcore) to a local server that accepts
only :data:`GOOD_KEY` and the leak canary, so the key really travels in a header while httpx and
httpcore log at DEBUG. The leak scenarios use :data:`tests.conftest.CANARY` as the API key and
check every output, JSON document, exception and repr for it; the autouse fixture in conftest
checks every log record of every test.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from aperture_hookspecs import ApertureUser, InvalidSettingsError, MediaRef
from aperture_plugins import admin
from aperture_plugins.cli import main
from aperture_plugins.host import PluginHost
from aperture_plugins.secrets import MasterKeyError
from aperture_plugins.store import SettingsStore

from .conftest import CANARY

GOOD_KEY = "FAKE-KEY-good-0001"
BAD_KEY = "FAKE-KEY-bad-0002"
OTHER_GOOD_KEY = "FAKE-KEY-good-0003"

VAULT_PROVIDER = """
    import httpx
    import voluptuous as vol
    from aperture_hookspecs import (
        Availability, ConnectionProblem, ConnectionReport, ProviderInfo, RequestState, Secret,
        UnexpectedResponseError, hookimpl,
    )

    @hookimpl
    def aperture_provider_info():
        return ProviderInfo(name="vault", title="Vault", version="1.2.3")

    @hookimpl
    def aperture_settings_schema():
        return vol.Schema({
            vol.Required("url"): vol.All(str, vol.Match(r"^https?://[^\\s/]+(/\\S*)?$", msg="not a URL")),
            Secret("api_key"): vol.All(str, vol.Length(min=1)),
            vol.Optional("timeout", default=10.0): vol.All(vol.Coerce(float), vol.Range(min=0.1)),
            vol.Optional("verify_tls", default=True): bool,
            vol.Optional("default_4k", default=False): bool,
        })

    async def _get(context, path):
        settings = context.settings
        async with httpx.AsyncClient(timeout=settings["timeout"], verify=settings["verify_tls"]) as client:
            return await client.get(settings["url"] + path, headers={"X-Api-Key": settings["api_key"]})

    @hookimpl
    async def aperture_test_connection(context):
        response = await _get(context, "/api/v1/status")
        if response.status_code == 403:
            problem = ConnectionProblem(
                "invalid_api_key", "The server refused the API key", ("Copy the key from the server again",)
            )
            return ConnectionReport(provider="vault", problems=(problem,))
        return ConnectionReport(provider="vault", product="Vault", version=response.json()["version"])

    @hookimpl
    async def aperture_lookup_availability(context, items, user):
        response = await _get(context, "/api/v1/lookup")
        if response.status_code != 200:
            raise UnexpectedResponseError(f"The server answered HTTP {response.status_code} to a lookup")
        return [Availability(item, RequestState.AVAILABLE) for item in items]
"""


@dataclass
class VaultServer:
    """A local HTTP server standing in for the request server."""

    url: str
    good_keys: set[str] = field(default_factory=lambda: {GOOD_KEY, OTHER_GOOD_KEY, CANARY})
    lookup_status: int = 200
    keys_seen: list[str] = field(default_factory=list)


def _handler(server: VaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            key = self.headers.get("X-Api-Key", "")
            server.keys_seen.append(key)
            if key not in server.good_keys:
                status, body = 403, {"message": "Forbidden"}
            elif self.path == "/api/v1/lookup":
                status, body = server.lookup_status, {}
            else:
                status, body = 200, {"version": "4.5.6"}
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler


@pytest.fixture
def vault(install_distribution) -> Iterator[VaultServer]:
    """The ``vault`` provider installed as a distribution, and its server running."""
    install_distribution("aperture-vault", "aperture_vault", VAULT_PROVIDER, entry_name="vault")
    state = VaultServer(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def http_debug_logging() -> Iterator[None]:
    """httpx and httpcore log at DEBUG (what they log is captured by the conftest leak check)."""
    loggers = [logging.getLogger(name) for name in ("httpx", "httpcore")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def run(capsys, monkeypatch, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Run the CLI in this process; ``stdin`` is what it reads from standard input."""
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def stored(data_dir: Path, name: str = "vault") -> dict[str, Any] | None:
    """What a fresh process would read from the store."""
    store = SettingsStore(data_dir)
    try:
        return store.get(name)
    finally:
        store.close()


def configure(capsys, monkeypatch, url: str, key: str | None, *extra: str) -> tuple[int, str, str]:
    return run(capsys, monkeypatch, "configure", "vault", "--url", url, "--api-key-stdin", *extra, stdin=key)


# -- configure: Test Connection, then Save ---------------------------------------------------------


def test_configure_saves_when_the_connection_test_passes(capsys, monkeypatch, vault, data_dir):
    code, out, err = configure(capsys, monkeypatch, vault.url, GOOD_KEY + "\n")
    assert code == 0, err
    assert "Connection OK" in out and "Saved." in out
    assert vault.keys_seen == [GOOD_KEY]  # the test ran with the key that was entered
    assert stored(data_dir) == {
        "url": vault.url,
        "api_key": GOOD_KEY,
        "timeout": 10.0,
        "verify_tls": True,
        "default_4k": False,
    }
    assert GOOD_KEY not in out + err


def test_configure_does_not_save_when_the_key_is_refused(capsys, monkeypatch, vault, data_dir):
    code, out, err = configure(capsys, monkeypatch, vault.url, BAD_KEY)
    assert code == 4
    assert "The server refused the API key" in out and "Not saved" in out
    assert stored(data_dir) is None
    assert BAD_KEY not in out + err


def test_a_refused_key_leaves_the_previous_settings_intact(capsys, monkeypatch, vault, data_dir):
    assert configure(capsys, monkeypatch, vault.url, GOOD_KEY)[0] == 0
    code, _out, _err = configure(capsys, monkeypatch, vault.url + "/other", BAD_KEY, "--timeout", "3")
    assert code == 4
    assert stored(data_dir)["api_key"] == GOOD_KEY
    assert stored(data_dir)["url"] == vault.url
    assert stored(data_dir)["timeout"] == 10.0


def test_save_untested_saves_a_failing_configuration_and_says_so(capsys, monkeypatch, vault, data_dir):
    code, out, _err = configure(capsys, monkeypatch, vault.url, BAD_KEY, "--save-untested")
    assert code == 0
    assert "Saved untested" in out and "Connection test failed" in out
    assert stored(data_dir)["api_key"] == BAD_KEY

    code, out, _err = configure(capsys, monkeypatch, vault.url, BAD_KEY, "--save-untested", "--json")
    document = json.loads(out)
    assert (code, document["saved"], document["saved_untested"]) == (0, True, True)
    assert document["report"]["ok"] is False


def test_a_key_on_the_command_line_is_refused_and_not_echoed(capsys, monkeypatch, vault, data_dir):
    code, out, err = run(capsys, monkeypatch, "configure", "vault", "--url", vault.url, "--api-key", GOOD_KEY)
    assert code == 2
    assert "refusing --api-key" in err and "--api-key-stdin" in err
    assert GOOD_KEY not in out + err
    assert vault.keys_seen == [] and stored(data_dir) is None

    code, out, _err = run(
        capsys, monkeypatch, "configure", "vault", "--url", vault.url, f"--api-key={GOOD_KEY}", "--json"
    )
    assert code == 2 and json.loads(out)["error"] == "bad_input"
    assert GOOD_KEY not in out


def test_the_key_can_come_from_a_file(capsys, monkeypatch, vault, data_dir, tmp_path):
    key_file = tmp_path / "vault.key"
    key_file.write_text(GOOD_KEY + "\n# a comment on the second line is ignored\n")
    code, out, err = run(
        capsys, monkeypatch, "configure", "vault", "--url", vault.url, "--api-key-file", str(key_file)
    )
    assert code == 0, err
    assert stored(data_dir)["api_key"] == GOOD_KEY
    assert GOOD_KEY not in out + err

    code, _out, err = run(
        capsys, monkeypatch, "configure", "vault", "--url", vault.url, "--api-key-file", str(tmp_path / "no")
    )
    assert code == 2 and "cannot read the API key file" in err and "Traceback" not in err


def test_an_empty_key_keeps_the_stored_one(capsys, monkeypatch, vault, data_dir):
    assert configure(capsys, monkeypatch, vault.url, GOOD_KEY)[0] == 0
    vault.keys_seen.clear()

    code, out, err = configure(capsys, monkeypatch, vault.url, "\n", "--timeout", "4")  # an empty line
    assert code == 0, out + err
    assert vault.keys_seen == [GOOD_KEY]  # tested with the stored key
    assert stored(data_dir)["api_key"] == GOOD_KEY
    assert stored(data_dir)["timeout"] == 4.0

    code, _out, _err = run(
        capsys, monkeypatch, "configure", "vault", "--url", vault.url + "/"
    )  # no key at all
    assert code == 0
    assert stored(data_dir) == {**stored(data_dir), "api_key": GOOD_KEY, "url": vault.url + "/"}


def test_an_empty_key_with_nothing_stored_is_bad_input(capsys, monkeypatch, vault, data_dir):
    code, out, err = configure(capsys, monkeypatch, vault.url, "")
    assert code == 2
    assert "Invalid settings: api_key" in err and "Traceback" not in err
    assert out == "" and stored(data_dir) is None and vault.keys_seen == []


def test_invalid_settings_are_refused_before_testing_and_leave_the_stored_ones(
    capsys, monkeypatch, vault, data_dir
):
    assert configure(capsys, monkeypatch, vault.url, GOOD_KEY)[0] == 0
    vault.keys_seen.clear()
    code, out, err = configure(capsys, monkeypatch, "not a url", OTHER_GOOD_KEY)
    assert code == 2 and "not a URL" in err and out == ""
    assert OTHER_GOOD_KEY not in err
    assert vault.keys_seen == []
    assert stored(data_dir)["api_key"] == GOOD_KEY and stored(data_dir)["url"] == vault.url


def test_configure_json_is_one_document_with_the_key_masked(capsys, monkeypatch, vault, data_dir):
    code, out, err = configure(capsys, monkeypatch, vault.url, GOOD_KEY, "--json")
    assert code == 0, err
    document = json.loads(out)  # the whole of stdout is one JSON document
    assert document["saved"] is True and document["tested"] is True and document["saved_untested"] is False
    assert document["report"]["ok"] is True and document["report"]["product"] == "Vault"
    assert document["settings"]["api_key"] == "••••0001"
    assert document["settings"]["url"] == vault.url
    assert GOOD_KEY not in out

    code, out, _err = configure(capsys, monkeypatch, vault.url, BAD_KEY, "--json")
    document = json.loads(out)
    assert (code, document["saved"]) == (4, False)
    assert document["report"]["problems"][0]["code"] == "invalid_api_key"
    assert BAD_KEY not in out


async def test_configure_api_saves_only_a_passing_test(vault, data_dir):
    host = PluginHost(data_dir).load()
    async with host:
        outcome = await admin.configure(host, "vault", {"url": vault.url, "api_key": BAD_KEY})
        assert (outcome.saved, outcome.tested, outcome.report.ok) == (False, True, False)
        assert host.stored_settings("vault") is None
        outcome = await admin.configure(host, "vault", {"url": vault.url, "api_key": GOOD_KEY})
        assert outcome.saved and outcome.report.ok
        assert outcome.settings["api_key"] == "••••0001"
        outcome = await admin.configure(host, "vault", {"url": vault.url, "api_key": ""})
        assert outcome.saved and host.stored_settings("vault")["api_key"] == GOOD_KEY
    assert GOOD_KEY not in repr(outcome) + json.dumps(outcome.to_dict())


# -- the settings a UI may read -----------------------------------------------------------------------


def test_settings_command_shows_the_key_masked(capsys, monkeypatch, vault, data_dir):
    code, out, _err = run(capsys, monkeypatch, "settings", "vault")
    assert code == 0 and "vault is not configured yet" in out
    assert configure(capsys, monkeypatch, vault.url, GOOD_KEY)[0] == 0

    code, out, _err = run(capsys, monkeypatch, "settings", "vault", "--json")
    document = json.loads(out)
    assert code == 0 and document["configured"] is True
    assert document["settings"]["api_key"] == "••••0001"
    assert document["settings"]["url"] == vault.url
    assert GOOD_KEY not in out

    code, out, _err = run(capsys, monkeypatch, "settings", "vault")
    assert code == 0 and "••••0001" in out and vault.url in out and GOOD_KEY not in out


# -- wrong master key seen from the CLI: never a traceback, never an empty key ------------------------


@pytest.fixture
def configured_then_key_lost(capsys, monkeypatch, vault, data_dir) -> VaultServer:
    """vault configured with GOOD_KEY, then the key file replaced by another valid key."""
    from cryptography.fernet import Fernet

    assert configure(capsys, monkeypatch, vault.url, GOOD_KEY)[0] == 0
    assert run(capsys, monkeypatch, "use", "vault")[0] == 0
    (data_dir / "secret.key").write_text(Fernet.generate_key().decode() + "\n")
    vault.keys_seen.clear()
    return vault


def test_cli_with_a_wrong_master_key_says_to_enter_the_key_again(
    capsys, monkeypatch, configured_then_key_lost, data_dir
):
    vault = configured_then_key_lost
    code, out, err = run(capsys, monkeypatch, "settings", "vault")
    assert code == 0 and "unreadable (enter it again)" in out and vault.url in out
    code, out, _err = run(capsys, monkeypatch, "settings", "vault", "--json")
    assert json.loads(out)["settings"]["api_key"] == "unreadable (enter it again)"

    code, out, err = run(capsys, monkeypatch, "test", "vault")
    assert code == 2
    assert (
        "cannot be decrypted" in out and "enter the API key again" in out and "Connection test failed" in out
    )
    assert "Traceback" not in out + err

    code, out, err = run(capsys, monkeypatch, "lookup", "movie:603", "--json")
    [answer] = json.loads(out)
    assert code == 0 and answer["state"] == "not_available" and answer["provider"] == "vault"
    assert "cannot be decrypted" in answer["admin_reason"]
    assert "Traceback" not in err
    assert vault.keys_seen == []  # never called with an empty (or any) key


def test_reentering_the_key_recovers_from_a_wrong_master_key(
    capsys, monkeypatch, configured_then_key_lost, data_dir
):
    vault = configured_then_key_lost
    code, out, err = configure(capsys, monkeypatch, vault.url, "")  # cannot keep what cannot be read
    assert code == 2 and "cannot be decrypted" in err and "enter the API key again" in err
    assert "Traceback" not in err and vault.keys_seen == []

    code, out, err = configure(capsys, monkeypatch, vault.url, OTHER_GOOD_KEY)
    assert code == 0, out + err
    assert stored(data_dir)["api_key"] == OTHER_GOOD_KEY
    code, out, _err = run(capsys, monkeypatch, "test", "vault")
    assert code == 0 and "Connection OK" in out


# -- diagnostics ----------------------------------------------------------------------------------------


def test_diagnostics_json_lists_versions_providers_settings_and_last_errors(
    capsys, monkeypatch, vault, data_dir
):
    assert configure(capsys, monkeypatch, vault.url, GOOD_KEY)[0] == 0
    assert run(capsys, monkeypatch, "use", "vault")[0] == 0
    vault.lookup_status = 503
    code, out, _err = run(capsys, monkeypatch, "lookup", "movie:603", "--json")
    assert code == 0 and json.loads(out)[0]["state"] == "not_available"

    code, out, _err = run(capsys, monkeypatch, "diagnostics", "--json")
    assert code == 0
    document = json.loads(out)
    assert document["versions"]["aperture-plugins"] and document["versions"]["python"]
    assert document["versions"]["aperture-hookspecs"]
    assert document["active"] == "vault" and document["master_key_source"] == "key file"
    assert document["schema_version"] >= 1
    providers = {p["name"]: p for p in document["providers"]}
    assert {"null", "vault"} <= providers.keys()
    assert providers["vault"]["version"] == "1.2.3"
    assert providers["vault"]["settings"]["api_key"] == admin.REDACTED
    assert providers["vault"]["settings"]["url"] == vault.url
    [error] = document["last_errors"]
    assert (error["provider"], error["operation"], error["code"]) == (
        "vault",
        "lookup",
        "unexpected_response",
    )
    assert "HTTP 503" in error["message"]
    assert GOOD_KEY not in out and "0001" not in out  # not even the masked tail

    code, out, _err = run(capsys, monkeypatch, "diagnostics")
    assert code == 0 and "vault" in out and GOOD_KEY not in out


def test_diagnostics_scrubs_a_key_a_plugin_echoed_into_an_error(vault, data_dir):
    host = PluginHost(data_dir).load()
    host.set_settings("vault", {"url": vault.url, "api_key": CANARY})
    host.settings.record_error("vault", "request", "unexpected_response", f"server said: bad key {CANARY}!")
    document = admin.diagnostics(host)
    text = json.dumps(document)
    assert CANARY not in text
    assert document["last_errors"][0]["message"] == f"server said: bad key {admin.REDACTED}!"


# -- the leak test: one recognisable key through every scenario --------------------------------------


def test_the_canary_key_never_appears_in_any_output(capsys, monkeypatch, vault, data_dir, http_debug_logging):
    """configure, test, settings, lookup (degraded), diagnostics, with -vv and httpx at DEBUG."""
    outputs: list[str] = []

    def cli(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        code, out, err = run(capsys, monkeypatch, "-vv", *args, stdin=stdin)
        outputs.extend((out, err))
        return code, out, err

    assert cli("configure", "vault", "--url", vault.url, "--api-key-stdin", stdin=CANARY + "\n")[0] == 0
    assert cli("configure", "vault", "--url", vault.url, "--api-key-stdin", "--json", stdin="\n")[0] == 0
    assert cli("use", "vault")[0] == 0
    assert cli("test", "vault")[0] == 0
    assert cli("test", "vault", "--json")[0] == 0
    assert cli("settings", "vault")[0] == 0
    assert cli("settings", "vault", "--json")[0] == 0
    assert json.loads(cli("lookup", "movie:603", "--json")[1])[0]["state"] == "available"
    vault.lookup_status = 503
    assert json.loads(cli("lookup", "movie:603", "tv:1399", "--json", "--user", "alice")[1])[0]["state"] == (
        "not_available"
    )
    assert cli("lookup", "movie:603")[0] == 0
    assert cli("diagnostics", "--json")[0] == 0
    assert cli("diagnostics")[0] == 0
    assert cli("rotate-key", "--json")[0] == 0
    assert cli("configure", "vault", "--url", vault.url, "--api-key", CANARY)[0] == 2
    vault.good_keys.discard(CANARY)
    assert cli("test", "vault")[0] == 4
    assert cli("configure", "vault", "--url", vault.url, "--api-key-stdin", stdin=CANARY)[0] == 4

    assert vault.keys_seen.count(CANARY) >= 6  # the key really travelled in the headers
    assert any("httpcore" in err for err in outputs[1::2])  # and httpcore really logged at DEBUG
    for text in outputs:
        assert CANARY not in text
    assert stored(data_dir)["api_key"] == CANARY  # stored, and readable after the rotation


async def test_the_canary_key_is_not_in_reprs_exceptions_or_documents(vault, data_dir, http_debug_logging):
    host = PluginHost(data_dir).load()
    host.use("vault")
    async with host:
        outcome = await admin.configure(host, "vault", {"url": vault.url, "api_key": CANARY})
        assert outcome.saved
        report = await host.test_connection("vault")
        answers = await host.lookup([MediaRef.parse("movie:603")], ApertureUser("alice"))
        vault.lookup_status = 503
        degraded = await host.lookup([MediaRef.parse("movie:603")], ApertureUser("alice"))
        contexts = list(host._contexts.values())
        assert contexts and contexts[0].settings["api_key"] == CANARY  # what the repr must hide
        texts = [
            repr(host),
            repr(host.settings),
            repr(host.settings.secrets),
            repr(outcome),
            json.dumps(outcome.to_dict()),
            repr(report),
            json.dumps(report.to_dict()),
            repr(answers + degraded),
            json.dumps([a.to_dict() for a in answers + degraded]),
            *map(repr, contexts),
            *map(str, contexts),
            repr(admin.masked_settings(host, "vault")),
            json.dumps(admin.diagnostics(host)),
            repr(host.providers()),
        ]
        with pytest.raises(InvalidSettingsError) as invalid:
            host.set_settings("vault", {"url": "no url", "api_key": CANARY})
        texts += [str(invalid.value), repr(invalid.value), json.dumps(invalid.value.to_dict())]
        (data_dir / "secret.key").write_text("not a key\n")
        with pytest.raises(MasterKeyError) as unreadable:
            host.stored_settings("vault")
        texts += [str(unreadable.value), repr(unreadable.value)]
    for text in texts:
        assert CANARY not in text, text


def test_the_log_capture_survives_the_cli_and_sees_debug_records(capsys, caplog):
    """The conftest leak check would be blind if the CLI's logging.basicConfig dropped the capture."""
    assert main(["providers", "--json"]) == 0
    logging.getLogger("aperture.leak-check").debug("probe %s", "record")
    assert "probe record" in caplog.text
    assert "probe record" not in capsys.readouterr().err  # stderr still shows only the CLI's level


def test_the_leak_check_fails_a_test_that_logs_the_canary(pytester):
    """The conftest leak check itself: a record with the key, at any level, after the CLI or not."""
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(
        test_leaky=f"""
        import logging
        from aperture_plugins.cli import main

        def test_debug_after_the_cli_configured_logging():
            assert main(["providers", "--json"]) == 0
            logging.getLogger("httpcore.http11").debug("headers %s", [("X-Api-Key", "{CANARY}")])

        def test_in_a_traceback():
            try:
                raise RuntimeError("{CANARY}")
            except RuntimeError:
                logging.getLogger("some.plugin").debug("failed", exc_info=True)

        def test_clean():
            logging.getLogger("some.plugin").debug("nothing secret here")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=2)
    output = result.stdout.str()
    assert "the fake API key leaked into log records of ['httpcore.http11']" in output
    assert "the fake API key leaked into log records of ['some.plugin']" in output
    assert "ERROR test_leaky.py::test_clean" not in output
