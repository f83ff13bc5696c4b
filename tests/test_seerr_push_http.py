"""Push end to end over real HTTP, in the three flavours: the provider sets up the fake server's
webhook agent (``FakeSeerr.serve()`` on 127.0.0.1), the agent POSTs real deliveries to a real
receiver, and the provider reads and takes them in.

* install on a clean server, then the server's own test notification and every request
  transition arrive at the receiver with Aperture's ``Authorization`` value, parse, and change
  the badge for everyone;
* a foreign URL is refused without ``replace`` (nothing written) and taken over with it;
* remove switches off Aperture's webhook and leaves a foreign one alone;
* the test fails clearly when nothing listens at the target.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from aperture_hookspecs import (
    ApertureUser,
    CannotConnectError,
    ForeignWebhookError,
    MediaRef,
    ProviderContext,
    ProviderInfo,
    PushAction,
    PushDelivery,
    PushKind,
    PushTarget,
    RequestState,
    TrackedRequest,
)
from aperture_overseerr import SEERR_CAPABILITIES, SeerrProvider
from aperture_overseerr.testing import FakeSeerr

from .conftest import CANARY

FLAVOURS = ("overseerr", "jellyseerr", "seerr")
SECRET = "Bearer FAKE-WEBHOOK-SECRET-81c4"
FOREIGN = "http://homeassistant.invalid:8123/api/webhook/seerr"
PULP = MediaRef.parse("movie:680")


@dataclass
class Receiver:
    """A real HTTP receiver on 127.0.0.1 that records each POST and answers 200 at once."""

    url: str
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[dict[str, str], bytes]]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.posts) >= count, timeout):
                raise AssertionError(f"{len(self.posts)} of {count} deliveries arrived")
            return list(self.posts)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
            with box[0].arrived:
                box[0].posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                box[0].arrived.notify_all()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.append(Receiver(f"http://127.0.0.1:{server.server_address[1]}/webhooks/jellyseerr"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Served:
    fake: FakeSeerr
    provider: SeerrProvider
    context: ProviderContext
    alice: int

    async def setup(self, action: PushAction, target: PushTarget, replace: bool = False):
        return await self.provider.aperture_push_setup(self.context, action, target, replace)


@pytest.fixture(params=FLAVOURS)
async def served(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Served]:
    fake = FakeSeerr(request.param, api_key=CANARY)
    jelly = request.param != "overseerr"
    alice = fake.add_user("alice", jellyfin_username="alice" if jelly else None)
    fake.add_user("bob", jellyfin_username="bob" if jelly else None)
    fake.add_title("movie", 680, "Pulp Fiction")
    info = ProviderInfo(
        name="jellyseerr", title="Jellyseerr", version="test", capabilities=SEERR_CAPABILITIES
    )
    provider = SeerrProvider(info)
    with fake.serve() as url:
        context = ProviderContext("jellyseerr", {"url": url, "api_key": CANARY, "timeout": 5}, tmp_path)
        built = Served(fake, provider, context, alice)
        provider.runtime(context).pushes.converge_after = 3600.0
        try:
            yield built
        finally:
            for callback in context.close_callbacks():
                await callback()


async def test_install_then_the_test_and_every_transition_arrive_and_are_taken_in(served, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    target = PushTarget(receiver.url, SECRET)
    clean = await served.setup(PushAction.INSPECT, target)
    assert (clean.enabled, clean.url, clean.ours) == (False, None, False)
    installed = await served.setup(PushAction.INSTALL, target)
    assert installed.ours and installed.enabled and installed.missing_events == ()
    tested = await served.setup(PushAction.TEST, target)
    assert receiver.url in tested.message
    headers, body = receiver.wait_for(1)[0]
    assert headers["authorization"] == SECRET
    test = served.provider.aperture_parse_push(served.context, PushDelivery(body, datetime.now(UTC)))
    assert test.kind is PushKind.TEST

    bob = ApertureUser("bob")
    lookup = served.provider.aperture_lookup_availability
    assert (await lookup(served.context, [PULP], bob))[0].state is RequestState.REQUESTABLE
    request = served.fake.create_request(
        served.fake.users[served.alice], {"mediaType": "movie", "mediaId": 680}
    )
    served.fake.approve(request.id)
    served.fake.mark_available(request.id)
    posts = receiver.wait_for(4)
    tracked = [TrackedRequest(str(request.id), PULP, ApertureUser("alice"), RequestState.PENDING)]
    states = []
    for headers, body in posts[1:]:
        assert headers["authorization"] == SECRET
        notice = served.provider.aperture_parse_push(served.context, PushDelivery(body, datetime.now(UTC)))
        outcome = await served.provider.aperture_apply_push(served.context, notice, tracked)
        states.append((notice.notification, outcome.updates[0].state, outcome.titles[0].state))
    assert states == [
        ("MEDIA_PENDING", RequestState.PENDING, RequestState.PENDING),
        ("MEDIA_APPROVED", RequestState.APPROVED, RequestState.APPROVED),
        ("MEDIA_AVAILABLE", RequestState.AVAILABLE, RequestState.AVAILABLE),
    ]
    assert (await lookup(served.context, [PULP], bob))[0].state is RequestState.AVAILABLE
    texts = [f"{record.getMessage()} {record.exc_text or ''}" for record in caplog.records]
    assert texts and not [text for text in texts if "FAKE-WEBHOOK-SECRET" in text]


async def test_a_foreign_webhook_is_kept_unless_replaced(served, receiver):
    served.fake.configure_webhook(FOREIGN, auth_header="Bearer someone-elses")
    target = PushTarget(receiver.url, SECRET)
    with pytest.raises(ForeignWebhookError) as raised:
        await served.setup(PushAction.INSTALL, target)
    assert raised.value.url == FOREIGN
    after = await served.setup(PushAction.INSPECT, target)
    assert (after.url, after.enabled, after.ours) == (FOREIGN, True, False)
    removed = await served.setup(PushAction.REMOVE, target)
    assert "left alone" in removed.message and removed.enabled and removed.url == FOREIGN
    replaced = await served.setup(PushAction.INSTALL, target, replace=True)
    assert replaced.ours and FOREIGN in replaced.message


async def test_remove_switches_ours_off(served, receiver):
    target = PushTarget(receiver.url, SECRET)
    await served.setup(PushAction.INSTALL, target)
    removed = await served.setup(PushAction.REMOVE, target)
    assert (removed.enabled, removed.url) == (False, receiver.url)
    served.fake.create_request(served.fake.users[served.alice], {"mediaType": "movie", "mediaId": 680})
    served.fake.wait_for_deliveries()
    assert receiver.posts == [], "switched off: the server sends nothing"


async def test_the_test_fails_clearly_when_nothing_listens(served):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = PushTarget(f"http://127.0.0.1:{port}/webhooks/jellyseerr", SECRET)
    with pytest.raises(CannotConnectError) as raised:
        await served.setup(PushAction.TEST, target)
    assert f"could not reach {target.url}" in raised.value.message
    assert SECRET not in raised.value.message and all(SECRET not in hint for hint in raised.value.hints)
