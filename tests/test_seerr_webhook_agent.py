"""Setting up the server's webhook agent (``aperture_overseerr.webhook_agent``), against the
settings routes as the real servers answered them (``../shared/reference/recorded/*/
webhook-exchanges.jsonl``, every folder found there).

:class:`RecordedAgent` answers ``GET``/``POST /settings/notifications/webhook`` and ``POST …/test``
as the recordings show (the stored form, the base64 echo, the 400 for a template object, the
broken state after a template encoded only once, 204/500 from the test); replaying the recorded
calls through it gives the recorded answers, byte for byte. Then: install on a clean server
sends what the server's own settings page sends, keeps the admin's other bits and ``embedPoster``
/ ``supportVariables``; a foreign URL is refused without ``replace`` and nothing is written;
remove switches off only Aperture's; test reports an unreachable receiver clearly and gives up
on a hanging one; a broken template is reported and repaired; the authorization value appears
in no message, repr or log record.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from aperture_hookspecs import (
    CannotConnectError,
    ForeignWebhookError,
    PushAction,
    PushTarget,
)
from aperture_overseerr.client import SeerrClient
from aperture_overseerr.webhook_agent import (
    DEFAULT_TEMPLATE,
    MEDIA_EVENT_TYPES,
    TEST_TIME_LIMIT,
    push_setup,
    read_settings,
    shown_url,
)

RECORDED = Path(__file__).parents[1].parent / "shared" / "reference" / "recorded"
FOLDERS = (
    sorted(path.parent for path in RECORDED.glob("*/webhook-exchanges.jsonl")) if RECORDED.is_dir() else []
)
pytestmark = pytest.mark.skipif(
    not FOLDERS, reason=f"the recordings of the real servers are not here: {RECORDED}"
)

SETTINGS = "/api/v1/settings/notifications/webhook"
RECORDED_TARGET = PushTarget("http://127.0.0.1:18091/hook", "Bearer test-webhook-secret")
SECRET = "Bearer AUTH-CANARY-5b2e"
TARGET = PushTarget("http://aperture.local:8765/webhooks/jellyseerr", SECRET)
FOREIGN = "http://homeassistant.local:8123/api/webhook/seerr-abc"


def exchanges(folder: Path) -> list[dict[str, Any]]:
    lines = (folder / "webhook-exchanges.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


class RecordedAgent:
    """The webhook settings routes of one recorded product, with its state.

    ``receiver(url)`` says whether a delivery to ``url`` would be answered 2xx (the server's
    test then answers 204, else 500); ``hang`` makes the test call never answer (the client's
    time limit ends it). ``posts`` are the bodies of every POST received."""

    def __init__(self, folder: Path) -> None:
        records = self.records = exchanges(folder)
        first = self.default = next(r for r in records if r["step"] == "webhook-get-default")["response"][
            "body"
        ]
        self.invalid = next(r for r in records if r["step"] == "webhook-post-object")["response"]["body"]
        self.failed = next(r for r in records if r["step"] == "webhook-test-text-once")["response"]["body"]
        self.stored = copy.deepcopy(first)
        self.stored["options"]["jsonPayload"] = json.dumps(first["options"]["jsonPayload"])
        self.receiver: Callable[[str], bool] = lambda url: True
        self.hang = False
        self.posts: list[dict[str, Any]] = []
        self.tests: list[tuple[dict[str, Any], float | None]] = []

    def view(self) -> dict[str, Any]:
        """``GET``: the stored form, ``jsonPayload`` parsed once (text, or an object if it was
        saved encoded only once)."""
        shown = copy.deepcopy(self.stored)
        shown["options"]["jsonPayload"] = json.loads(self.stored["options"]["jsonPayload"])
        return shown

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path == SETTINGS:
            return httpx.Response(200, json=self.view())
        body = json.loads(request.content)
        self.posts.append(body)
        if not isinstance(body.get("options", {}).get("jsonPayload"), str):
            return httpx.Response(400, json=self.invalid)
        if path == SETTINGS:
            self.stored = copy.deepcopy(body)
            echo = copy.deepcopy(body)
            echo["options"]["jsonPayload"] = base64.b64encode(
                body["options"]["jsonPayload"].encode()
            ).decode()
            return httpx.Response(200, json=echo)
        if path == f"{SETTINGS}/test":
            timeout = request.extensions.get("timeout", {}).get("read")
            self.tests.append((body, timeout))
            if self.hang:
                raise httpx.ReadTimeout("the receiver never answered", request=request)
            try:
                template = json.loads(body["options"]["jsonPayload"])
                json.loads(template)  # the server decodes it twice
                sent = isinstance(template, str) and self.receiver(body["options"]["webhookUrl"])
            except (TypeError, ValueError):  # "[object Object]" is not valid JSON
                sent = False
            return httpx.Response(204) if sent else httpx.Response(500, json=self.failed)
        return httpx.Response(404, json={"message": "not here"})


@pytest.fixture(params=FOLDERS, ids=lambda folder: folder.name)
def agent(request: pytest.FixtureRequest) -> RecordedAgent:
    return RecordedAgent(request.param)


def client_for(agent: RecordedAgent) -> SeerrClient:
    return SeerrClient("http://seerr.test", "FAKE-KEY", transport=httpx.MockTransport(agent.handle))


async def setup(agent: RecordedAgent, action: PushAction, target: PushTarget = TARGET, replace: bool = False):
    async with client_for(agent) as client:
        return await push_setup(client, action, target, replace)


# -- the stand-in answers as the recordings ---------------------------------------------------------


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda folder: folder.name)
async def test_the_recorded_settings_calls_get_the_recorded_answers(folder: Path):
    agent = RecordedAgent(folder)
    down = {"fail500-test", "down-test", "hang-test"}  # the receiver answered 500, was down, hung
    replayed = 0
    for record in exchanges(folder):
        request, response = record["request"], record["response"]
        if not request["path"].startswith(SETTINGS):
            continue
        agent.receiver = lambda url, step=record["step"]: step not in down
        content = json.dumps(request["body"]).encode() if request["body"] is not None else None
        answer = agent.handle(
            httpx.Request(request["method"], f"http://seerr.test{request['path']}", content=content)
        )
        assert answer.status_code == response["status"], record["step"]
        assert (answer.json() if answer.content else None) == response["body"], record["step"]
        replayed += 1
    assert replayed >= 14


def test_the_default_template_is_the_servers(agent: RecordedAgent):
    assert agent.view()["options"]["jsonPayload"] == DEFAULT_TEMPLATE


# -- inspect / install -----------------------------------------------------------------------------


async def test_inspect_a_clean_server(agent: RecordedAgent):
    setup_ = await setup(agent, PushAction.INSPECT)
    assert (setup_.enabled, setup_.url, setup_.ours, setup_.events) == (False, None, False, ())
    assert setup_.missing_events == tuple(MEDIA_EVENT_TYPES)
    assert agent.posts == []


async def test_install_sends_what_the_settings_page_sends(agent: RecordedAgent):
    setup_ = await setup(agent, PushAction.INSTALL, RECORDED_TARGET)
    sent = agent.posts[-1]
    recorded = next(r for r in agent.records if r["step"] == "webhook-post-ui-encoding")["request"]["body"]
    kept = {key: agent.default[key] for key in ("embedPoster",) if key in agent.default}
    assert sent == {**recorded, **kept}, "the settings page's body, embedPoster kept as it was"
    assert setup_.ours and setup_.enabled and setup_.url == RECORDED_TARGET.url
    assert setup_.missing_events == ()
    assert set(MEDIA_EVENT_TYPES) <= set(setup_.events)
    assert agent.view()["options"]["jsonPayload"] == DEFAULT_TEMPLATE  # not broken: the text comes back


async def test_install_keeps_the_admins_other_events_and_options(agent: RecordedAgent):
    agent.stored["types"] = 256 | 2048 | 2  # issues created / reopened, and pending
    agent.stored["embedPoster"] = False
    agent.stored["options"]["supportVariables"] = True
    await setup(agent, PushAction.INSTALL)
    sent = agent.posts[-1]
    assert sent["types"] == 256 | 2048 | 222
    assert sent["embedPoster"] is False and sent["options"]["supportVariables"] is True
    assert json.loads(sent["options"]["jsonPayload"]) == DEFAULT_TEMPLATE  # encoded once more


async def test_install_refuses_to_overwrite_a_foreign_webhook(agent: RecordedAgent):
    agent.stored.update(enabled=True, types=222)
    agent.stored["options"].update(webhookUrl=FOREIGN, authHeader="Bearer someone-elses")
    with pytest.raises(ForeignWebhookError) as raised:
        await setup(agent, PushAction.INSTALL)
    assert raised.value.url == FOREIGN and FOREIGN in raised.value.message
    assert agent.posts == [], "nothing was written"
    assert agent.view()["options"]["webhookUrl"] == FOREIGN
    # a foreign URL counts even while the agent is off: the admin may switch it back on
    agent.stored["enabled"] = False
    with pytest.raises(ForeignWebhookError):
        await setup(agent, PushAction.INSTALL)


async def test_install_with_replace_takes_it_over_and_says_from_whom(agent: RecordedAgent):
    agent.stored.update(enabled=True, types=222)
    agent.stored["options"].update(webhookUrl=FOREIGN, authHeader="Bearer someone-elses")
    setup_ = await setup(agent, PushAction.INSTALL, replace=True)
    assert setup_.ours and setup_.url == TARGET.url
    assert FOREIGN in setup_.message


async def test_install_again_with_a_new_secret_is_not_foreign(agent: RecordedAgent):
    await setup(agent, PushAction.INSTALL, PushTarget(TARGET.url, "Bearer old-secret"))
    assert not (await setup(agent, PushAction.INSPECT)).ours  # same URL, another authorization
    setup_ = await setup(agent, PushAction.INSTALL)
    assert setup_.ours


async def test_a_template_saved_encoded_only_once_is_found_and_repaired(agent: RecordedAgent):
    await setup(agent, PushAction.INSTALL)
    agent.stored["options"]["jsonPayload"] = DEFAULT_TEMPLATE  # what a client encoding it once leaves
    assert isinstance(agent.view()["options"]["jsonPayload"], dict)
    inspected = await setup(agent, PushAction.INSPECT)
    assert "broken" in inspected.message
    tested = await setup(agent, PushAction.TEST)  # tests with the default template, and says so
    assert "broken" in tested.message
    repaired = await setup(agent, PushAction.INSTALL)
    assert "repaired" in repaired.message
    assert agent.view()["options"]["jsonPayload"] == DEFAULT_TEMPLATE
    assert "broken" not in (await setup(agent, PushAction.TEST)).message


# -- remove ----------------------------------------------------------------------------------------


async def test_remove_switches_off_only_aperture_s_webhook(agent: RecordedAgent):
    await setup(agent, PushAction.INSTALL)
    posts = len(agent.posts)
    removed = await setup(agent, PushAction.REMOVE)
    assert removed.enabled is False and removed.url == TARGET.url
    assert len(agent.posts) == posts + 1
    assert agent.view()["options"]["jsonPayload"] == DEFAULT_TEMPLATE  # the template survives
    again = await setup(agent, PushAction.REMOVE)
    assert "already" in again.message and len(agent.posts) == posts + 1


async def test_remove_never_touches_a_foreign_webhook(agent: RecordedAgent):
    agent.stored.update(enabled=True, types=222)
    agent.stored["options"].update(webhookUrl=FOREIGN, authHeader="Bearer someone-elses")
    left = await setup(agent, PushAction.REMOVE)
    assert agent.posts == []
    assert left.enabled and left.url == FOREIGN and not left.ours
    assert "left alone" in left.message and FOREIGN in left.message


# -- test ------------------------------------------------------------------------------------------


async def test_the_servers_test_notification(agent: RecordedAgent):
    tested = await setup(agent, PushAction.TEST)
    body, timeout = agent.tests[-1]
    assert body["options"]["webhookUrl"] == TARGET.url and body["options"]["authHeader"] == SECRET
    assert json.loads(body["options"]["jsonPayload"]) == DEFAULT_TEMPLATE
    assert timeout == TEST_TIME_LIMIT
    assert TARGET.url in tested.message
    assert agent.posts[-1] is body and len(agent.posts) == 1, "a test saves nothing"


async def test_a_receiver_the_server_cannot_reach_is_said_so(agent: RecordedAgent):
    agent.receiver = lambda url: False
    with pytest.raises(CannotConnectError) as raised:
        await setup(agent, PushAction.TEST)
    assert f"could not reach {TARGET.url}" in raised.value.message
    assert any("aperture-plugins serve" in hint for hint in raised.value.hints)


async def test_a_receiver_that_never_answers_is_given_up_on(agent: RecordedAgent):
    agent.hang = True
    with pytest.raises(CannotConnectError) as raised:
        await setup(agent, PushAction.TEST)
    assert f"within {TEST_TIME_LIMIT:g} s" in raised.value.message
    assert TARGET.url in raised.value.message


# -- the secret ------------------------------------------------------------------------------------


async def test_the_authorization_value_is_never_shown(agent: RecordedAgent, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    shown.append(repr(TARGET))
    for action in (
        PushAction.INSPECT,
        PushAction.INSTALL,
        PushAction.INSPECT,
        PushAction.TEST,
        PushAction.REMOVE,
    ):
        result = await setup(agent, action)
        shown += [repr(result), json.dumps(result.to_dict()), result.message]
    async with client_for(agent) as client:
        shown.append(repr(await read_settings(client)))
    agent.receiver = lambda url: False
    for action, target in ((PushAction.TEST, TARGET), (PushAction.INSTALL, PushTarget(FOREIGN, "x"))):
        agent.stored["options"]["webhookUrl"] = TARGET.url
        try:
            await setup(agent, action, target)
        except Exception as error:  # every failure's text is checked
            shown += [str(error), repr(error), json.dumps(getattr(error, "to_dict", dict)())]
    shown += [record.getMessage() for record in caplog.records]
    leaked = [text for text in shown if "AUTH-CANARY" in text]
    assert not leaked
    assert agent.stored["options"]["authHeader"] == SECRET  # it was used, where it belongs


def test_a_password_in_a_receivers_url_is_not_shown():
    assert (
        shown_url("https://hook:s3cret@hooks.example:8443/seerr?x=1")
        == "https://hook@hooks.example:8443/seerr?x=1"
    )
    assert shown_url(FOREIGN) == FOREIGN
    assert shown_url("") == ""
    assert shown_url("http://hook:s3cret@[::1]:8123/seerr") == "http://hook@[::1]:8123/seerr"


@pytest.mark.parametrize(
    "url",
    [
        "http://hook:s3cret@[bad/seerr",  # urlsplit refuses it
        "http://hook:s3cret@hooks.example:abc/seerr",  # a port that is no number
        "http://hook:s3cret@hooks.example:99999/seerr",  # a port out of range
    ],
)
def test_a_receivers_url_that_cannot_be_parsed_is_not_shown_at_all(url: str):
    assert shown_url(url) == "<unparsable URL>"
