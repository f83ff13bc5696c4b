"""``aperture-plugins webhook install|status|remove`` as an admin runs them: the CLI, a real
``serve`` process on the same data directory (polling every second here), and the fake
Jellyseerr with its webhook agent.

The server starts out sending its webhook to another receiver (Home Assistant): ``install``
shows it and changes nothing (exit 6) until ``--replace``; then the server's test must reach
``serve``. ``status`` shows the pushes received; when deliveries are lost and polling finds
the change, ``status``, ``diagnostics`` and ``test`` say pushes are missing. ``remove``
switches ours off and leaves a foreign webhook alone. The webhook secret shows in no output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from aperture_hookspecs import ApertureUser, MediaRef, RequestOptions
from aperture_overseerr.testing import FakeSeerr
from aperture_plugins.cli import main
from aperture_plugins.host import PluginHost
from aperture_plugins.push_store import PushStore
from aperture_plugins.store import SettingsStore

from .conftest import CANARY, watch_secret
from .push_fakes import eventually
from .test_serve import environment, serving

FOREIGN = "http://homeassistant.invalid:8123/api/webhook/aperture-test-foreign"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    code = main([*args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def server_webhook(url: str) -> dict[str, Any]:
    answer = httpx.get(f"{url}/api/v1/settings/notifications/webhook", headers={"X-Api-Key": CANARY})
    answer.raise_for_status()
    document: dict[str, Any] = answer.json()
    return document


def test_install_status_and_remove_against_a_server_that_pushed_elsewhere(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeSeerr("jellyseerr", api_key=CANARY)
    alice = fake.add_user("alice", jellyfin_username="alice")
    fake.add_title("movie", 680, "Pulp Fiction")
    fake.add_title("movie", 603, "The Matrix")
    fake.configure_webhook(FOREIGN, auth_header="Bearer home-assistant-token")
    host = PluginHost(data_dir).load()
    secret = watch_secret(host.push_store().ensure_webhook_secret("jellyseerr"))
    with fake.serve() as seerr_url, serving("--poll-interval", "1", env=environment(data_dir)) as served:
        host.set_settings("jellyseerr", {"url": seerr_url, "api_key": CANARY, "timeout": 5})
        host.use("jellyseerr")

        code, status = cli(capsys, "webhook", "status")
        assert code == 0 and status["configured"] is False
        assert status["server"]["url"] == FOREIGN and status["server"]["ours"] is False

        code, refused = cli(capsys, "webhook", "install", "--public-url", served.url)
        assert (code, refused["error"], refused["url"]) == (6, "foreign_webhook", FOREIGN)
        assert server_webhook(seerr_url)["options"]["webhookUrl"] == FOREIGN  # untouched

        code, installed = cli(capsys, "webhook", "install", "--public-url", served.url, "--replace")
        assert code == 0, installed
        assert installed["test_received"] is True and installed["configured"] is True
        assert installed["previous_url"] == FOREIGN
        assert installed["receiver_url"] == f"{served.url}/webhooks/jellyseerr"
        options = server_webhook(seerr_url)["options"]
        assert options["webhookUrl"] == f"{served.url}/webhooks/jellyseerr"
        assert options["authHeader"] == f"Bearer {secret}"

        filed = fake.create_request(fake.users[alice], {"mediaType": "movie", "mediaId": 680})
        fake.approve(filed.id)
        store = PushStore(SettingsStore(data_dir))
        eventually(lambda: "status" in store.receipts("jellyseerr"), what="a status push at serve")
        code, status = cli(capsys, "webhook", "status")
        assert code == 0 and status["configured"] is True and status["pushes_missing"] is False
        assert status["last_push"]["detail"].startswith("MEDIA_")
        assert status["last_test"]["count"] == 1

        # deliveries lost: the server cannot reach Aperture any more, polling finds the change
        result = host_request(data_dir, MediaRef.parse("movie:603"))
        fake.wait_for_deliveries()
        fake.webhook_faults.drop_next(5)
        fake.approve(int(result))
        found = eventually(  # serve's poller, every second here
            lambda: [
                e for e in store.stream_after(0) if e.kind == "status" and e.data["request_id"] == result
            ],
            what="the approval found by polling",
        )
        assert [event.data["source"] for event in found] == ["poll"]
        code, status = cli(capsys, "webhook", "status")
        assert status["pushes_missing"] is True and status["unpushed_transitions"] == 1
        assert any("Pushes are missing" in message for message in status["messages"])
        code, diagnostics = cli(capsys, "diagnostics")
        push = next(p for p in diagnostics["providers"] if p["name"] == "jellyseerr")["push"]
        assert push["pushes_missing"] is True and push["public_url"] == served.url
        code, report = cli(capsys, "test")
        assert report["details"]["push"]["configured"] is True
        assert "pushes_missing" in {problem["code"] for problem in report["problems"]}

        code, removed = cli(capsys, "webhook", "remove")
        assert code == 0 and removed["changed"] is True and removed["configured"] is False
        assert server_webhook(seerr_url)["enabled"] is False

        fake.configure_webhook(FOREIGN, auth_header="Bearer home-assistant-token")
        code, left = cli(capsys, "webhook", "remove")
        assert code == 0 and left["changed"] is False
        assert any("not Aperture's" in message for message in left["messages"])
        assert server_webhook(seerr_url)["options"]["webhookUrl"] == FOREIGN
        assert server_webhook(seerr_url)["enabled"] is True
        code, _, err = served.stop()
    assert code == 0
    assert secret not in err


def host_request(data_dir: Path, item: MediaRef) -> str:
    """Alice requests ``item`` through the host (tracked in the store, as ``request`` does)."""
    import asyncio

    async def file() -> str:
        async with PluginHost(data_dir) as host:
            result = await host.submit_request(item, ApertureUser("alice"), RequestOptions())
            return result.request_id

    return asyncio.run(file())


def test_status_and_remove_before_install_change_nothing_and_make_no_secret(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeSeerr("jellyseerr", api_key=CANARY)
    fake.configure_webhook(FOREIGN, auth_header="Bearer home-assistant-token")
    host = PluginHost(data_dir).load()
    with fake.serve() as seerr_url:
        host.set_settings("jellyseerr", {"url": seerr_url, "api_key": CANARY, "timeout": 5})
        host.use("jellyseerr")
        code, status = cli(capsys, "webhook", "status")
        assert code == 0 and status["configured"] is False and status["receiver_url"] is None
        code, left = cli(capsys, "webhook", "remove")
        assert code == 0 and left["changed"] is False
        assert server_webhook(seerr_url)["options"]["webhookUrl"] == FOREIGN
    assert not host.push_store().has_webhook_secret("jellyseerr")
