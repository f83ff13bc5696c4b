"""The Seerr-family provider: one plugin class, one instance per product.

``aperture_overseerr.provider:plugin`` is the Overseerr provider; the Jellyseerr distribution
makes its own instance of :class:`SeerrProvider` with its own :class:`ProviderInfo`. The
products differ only in what their servers answer, which the detected
:class:`~aperture_overseerr.profiles.ProductProfile` handles; this class never branches on its
own name. Pointed at the other product, a provider works and says so in its connection report.

Per provider context the live state (HTTP pool, media index, user directory, caches) is a
:class:`~aperture_overseerr.runtime.SeerrRuntime` kept in ``context.runtime`` and closed by the
host when the settings change or Aperture shuts down.

Push (``Capability.PUSH``): the server's Webhook agent is read by
:mod:`~aperture_overseerr.push_payload`, taken in by :mod:`~aperture_overseerr.push_intake` and
set up by :mod:`~aperture_overseerr.webhook_agent`. For the host's ``webhook status`` and
diagnostics, ``context.runtime["seerr"].push_health()`` says whether pushes arrive.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import voluptuous as vol

from aperture_hookspecs import (
    AccountMapping,
    ApertureUser,
    Availability,
    Capability,
    ConnectionReport,
    MediaRef,
    ProviderContext,
    ProviderInfo,
    PushAction,
    PushDelivery,
    PushNotice,
    PushOutcome,
    PushSetup,
    PushTarget,
    RequestOptions,
    RequestResult,
    StatusUpdate,
    TrackedRequest,
    hookimpl,
)

from .push_payload import parse_delivery
from .runtime import SeerrRuntime
from .settings import SETTINGS_SCHEMA
from .versions import distribution_version

SEERR_CAPABILITIES = frozenset(
    {
        Capability.LOOKUP,
        Capability.REQUEST,
        Capability.POLL,
        Capability.TV_SEASONS,
        Capability.REQUEST_4K,
        Capability.USER_MAPPING,
        Capability.PUSH,
    }
)


class SeerrProvider:
    """A request provider for a Seerr-family server (Overseerr, Jellyseerr, Seerr).

    ``transport`` routes every HTTP call of this provider through an httpx transport (tests
    use it to talk to the fake server without a socket); normally it is ``None``.
    """

    def __init__(self, info: ProviderInfo, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.info = info
        self.transport = transport

    def __repr__(self) -> str:
        return f"SeerrProvider({self.info.name!r})"

    def runtime(self, context: ProviderContext) -> SeerrRuntime:
        """The live state for this context, created on first use."""
        runtime = context.runtime.get("seerr")
        if runtime is None:
            runtime = SeerrRuntime(
                context.settings,
                provider=self.info.name,
                expected_product=self.info.title,
                transport=self.transport,
                observer=context.report_call,
            )
            context.runtime["seerr"] = runtime
            context.on_close(runtime.aclose)
        return runtime

    @hookimpl
    def aperture_provider_info(self) -> ProviderInfo:
        return self.info

    @hookimpl
    def aperture_settings_schema(self) -> vol.Schema:
        return SETTINGS_SCHEMA

    @hookimpl
    async def aperture_test_connection(self, context: ProviderContext) -> ConnectionReport:
        return await self.runtime(context).test_connection()

    @hookimpl
    async def aperture_lookup_availability(
        self, context: ProviderContext, items: Sequence[MediaRef], user: ApertureUser | None
    ) -> list[Availability]:
        return await self.runtime(context).lookup(items, user)

    @hookimpl
    async def aperture_submit_request(
        self, context: ProviderContext, item: MediaRef, user: ApertureUser, options: RequestOptions
    ) -> RequestResult:
        return await self.runtime(context).submit(item, user, options)

    @hookimpl
    async def aperture_map_users(
        self, context: ProviderContext, users: Sequence[ApertureUser]
    ) -> list[AccountMapping]:
        return await self.runtime(context).map_users(users)

    @hookimpl
    async def aperture_poll_status(
        self, context: ProviderContext, requests: Sequence[TrackedRequest]
    ) -> list[StatusUpdate]:
        return await self.runtime(context).poll(requests)

    @hookimpl
    def aperture_parse_push(self, context: ProviderContext, delivery: PushDelivery) -> PushNotice:
        return parse_delivery(delivery)  # synchronous, no I/O: the host answers the server after it

    @hookimpl
    async def aperture_apply_push(
        self, context: ProviderContext, notice: PushNotice, requests: Sequence[TrackedRequest]
    ) -> PushOutcome:
        return await self.runtime(context).take_push(notice, requests)

    @hookimpl
    async def aperture_push_setup(
        self, context: ProviderContext, action: PushAction, target: PushTarget, replace: bool
    ) -> PushSetup:
        return await self.runtime(context).push_setup(PushAction(action), target, replace)


plugin = SeerrProvider(
    ProviderInfo(
        name="overseerr",
        title="Overseerr",
        version=distribution_version("aperture-overseerr"),
        description="Requests through Overseerr (Plex); also understands Jellyseerr and Seerr servers.",
        documentation="https://docs.overseerr.dev/",
        capabilities=SEERR_CAPABILITIES,
    )
)
"""The Overseerr provider (entry point ``overseerr``)."""
