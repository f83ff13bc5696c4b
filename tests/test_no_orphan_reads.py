"""A failed lookup leaves no read of the Seerr provider running (found by the conformance kit).

The media index reads the server's counts, media rows and request lists at once. When one of
them fails, the others must not go on without an owner: against a server that is down they kept
retrying after the lookup had failed and after the host closed the provider's context. Here the
request counts fail at once (the connection is refused) while the media rows never answer, so
the outcome does not hang on timing.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from aperture_hookspecs import ApertureUser, CannotConnectError, MediaRef, ProviderContext
from aperture_overseerr.provider import plugin
from aperture_overseerr.settings import SETTINGS_SCHEMA
from aperture_overseerr.testing import FakeSeerr
from aperture_overseerr.together import gather_or_cancel

from .conftest import CANARY


class CountsRefusedMediaStalled(httpx.AsyncBaseTransport):
    """The fake server, except: ``/request/count`` is refused, ``/media`` never answers."""

    def __init__(self, fake: FakeSeerr) -> None:
        self.inner = fake.transport()
        self.stalled = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/request/count"):
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path.endswith("/media"):
            self.stalled += 1
            await asyncio.Event().wait()
        return await self.inner.handle_async_request(request)


async def test_a_failed_lookup_leaves_no_read_running(tmp_path, monkeypatch):
    fake = FakeSeerr("jellyseerr", api_key=CANARY)
    fake.add_user("alice", jellyfin_username="alice")
    transport = CountsRefusedMediaStalled(fake)
    monkeypatch.setattr(plugin, "transport", transport)
    settings = SETTINGS_SCHEMA({"url": "http://seerr.test", "api_key": CANARY})
    context = ProviderContext("overseerr", settings, tmp_path)
    with pytest.raises(CannotConnectError):
        await plugin.aperture_lookup_availability(
            context, [MediaRef.parse("movie:603")], ApertureUser("alice")
        )
    assert transport.stalled  # the media rows were being read when the counts failed
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task() and not task.done()]
    for callback in context.close_callbacks():
        await callback()
    assert not others, [repr(task) for task in others]


async def test_gather_or_cancel_returns_in_order_and_cancels_the_rest_on_failure():
    async def value(v: int, delay: float) -> int:
        await asyncio.sleep(delay)
        return v

    assert await gather_or_cancel(value(1, 0.02), value(2, 0)) == (1, 2)

    async def fails() -> None:
        raise CannotConnectError("down")

    forever = asyncio.ensure_future(asyncio.Event().wait())
    with pytest.raises(CannotConnectError, match="down"):
        await gather_or_cancel(forever, fails())
    assert forever.cancelled()
