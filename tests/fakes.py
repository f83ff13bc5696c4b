"""Throwaway plugins for host tests: providers that record their calls, observers, wrappers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import voluptuous as vol

from aperture_hookspecs import (
    AccountMapping,
    ApertureUser,
    Availability,
    ConnectionReport,
    MediaRef,
    ProviderContext,
    ProviderInfo,
    RequestOptions,
    RequestResult,
    RequestState,
    StatusChange,
    StatusUpdate,
    TrackedRequest,
    hookimpl,
)


class RecordingProvider:
    """A provider whose async hooks really suspend (``await asyncio.sleep(0)``) and record calls.

    ``states`` maps request ids to the state ``aperture_poll_status`` reports.
    """

    def __init__(self, name: str = "fake", title: str = "Fake Provider", delay: float = 0.0) -> None:
        self.name = name
        self.title = title
        self.delay = delay
        self.calls: list[tuple[str, Any]] = []
        self.states: dict[str, RequestState] = {}
        self.closed = 0

    @hookimpl
    def aperture_provider_info(self) -> ProviderInfo:
        return ProviderInfo(name=self.name, title=self.title, version="9.9.9")

    @hookimpl
    def aperture_settings_schema(self) -> vol.Schema:
        return vol.Schema({vol.Optional("colour", default="blue"): str})

    @hookimpl
    async def aperture_test_connection(self, context: ProviderContext) -> ConnectionReport:
        await asyncio.sleep(self.delay)
        self.calls.append(("test_connection", dict(context.settings)))
        return ConnectionReport(provider=self.name, product="Fake", version="1.0")

    @hookimpl
    async def aperture_lookup_availability(
        self, context: ProviderContext, items: Sequence[MediaRef], user: ApertureUser | None
    ) -> list[Availability]:
        await asyncio.sleep(self.delay)
        self.calls.append(("lookup", (tuple(items), user)))
        context.runtime.setdefault("lookups", 0)
        context.runtime["lookups"] += 1
        if "closer" not in context.runtime:
            context.runtime["closer"] = True
            context.on_close(self._close)
        return [
            Availability(
                item,
                RequestState.REQUESTABLE,
                can_request=user is not None,
                reason=None if user else "sign in to request",
            )
            for item in items
        ]

    async def _close(self) -> None:
        await asyncio.sleep(0)
        self.closed += 1

    @hookimpl
    async def aperture_submit_request(
        self, context: ProviderContext, item: MediaRef, user: ApertureUser, options: RequestOptions
    ) -> RequestResult:
        await asyncio.sleep(self.delay)
        self.calls.append(("submit", (item, user, options)))
        return RequestResult(
            item=item, request_id="r-1", state=RequestState.PENDING, is_4k=bool(options.is_4k)
        )

    @hookimpl
    async def aperture_poll_status(
        self, context: ProviderContext, requests: Sequence[TrackedRequest]
    ) -> list[StatusUpdate]:
        await asyncio.sleep(self.delay)
        self.calls.append(("poll", tuple(r.request_id for r in requests)))
        return [StatusUpdate(r.request_id, self.states.get(r.request_id, r.state)) for r in requests]


class MappingProvider(RecordingProvider):
    """A provider that maps every user whose name starts with "a" to account "acct-<name>"."""

    @hookimpl
    async def aperture_map_users(self, users: Sequence[ApertureUser]) -> list[AccountMapping]:
        await asyncio.sleep(0)
        return [
            AccountMapping(u, account_id=f"acct-{u.name}", method="username", may_request_movie=True)
            if u.name.startswith("a")
            else AccountMapping(u, problems=(f"no account named {u.name}",))
            for u in users
        ]


class StatusObserver:
    """Collects every status change it is told about."""

    def __init__(self) -> None:
        self.changes: list[StatusChange] = []

    @hookimpl
    def aperture_status_changed(self, change: StatusChange) -> None:
        self.changes.append(change)


class AsyncStatusObserver(StatusObserver):
    """The same, as an ``async def`` implementation that really suspends."""

    @hookimpl
    async def aperture_status_changed(self, change: StatusChange) -> None:
        await asyncio.sleep(0)
        self.changes.append(change)


class FailingObserver:
    """An observer that always raises: it must not stop the others."""

    @hookimpl
    def aperture_status_changed(self, change: StatusChange) -> None:
        raise RuntimeError("observer bug")
