"""The Seerr-family provider: one plugin class, one instance per product.

``aperture_overseerr.provider:plugin`` is the Overseerr provider; the Jellyseerr distribution
makes its own instance of :class:`SeerrProvider` with its own :class:`ProviderInfo`. The
products differ only in the data their servers send, never in this class.

The I/O hooks (connection test, lookup, request, polling) are not implemented in this release:
they raise :class:`~aperture_hookspecs.errors.UnsupportedOperationError` saying so, which the
host turns into "Not Available" on Discovery.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

import voluptuous as vol

from aperture_hookspecs import (
    Capability,
    MediaRef,
    ProviderContext,
    ProviderInfo,
    UnsupportedOperationError,
    hookimpl,
)

from .settings import SETTINGS_SCHEMA

SEERR_CAPABILITIES = frozenset(
    {
        Capability.LOOKUP,
        Capability.REQUEST,
        Capability.POLL,
        Capability.TV_SEASONS,
        Capability.REQUEST_4K,
        Capability.USER_MAPPING,
    }
)


def distribution_version(distribution: str) -> str:
    """The installed version of ``distribution`` ("0.0.0" in an uninstalled source tree)."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "0.0.0"


class SeerrProvider:
    """A request provider for a Seerr-family server (Overseerr, Jellyseerr, Seerr)."""

    def __init__(self, info: ProviderInfo) -> None:
        self.info = info

    def __repr__(self) -> str:
        return f"SeerrProvider({self.info.name!r})"

    def _not_yet(self, what: str) -> UnsupportedOperationError:
        return UnsupportedOperationError(
            f"{self.info.title}: {what} is not implemented yet in this release",
            hints=("Use the null provider meanwhile: aperture-plugins use null",),
            provider=self.info.name,
        )

    @hookimpl
    def aperture_provider_info(self) -> ProviderInfo:
        return self.info

    @hookimpl
    def aperture_settings_schema(self) -> vol.Schema:
        return SETTINGS_SCHEMA

    @hookimpl
    async def aperture_test_connection(self, context: ProviderContext) -> None:
        raise self._not_yet("the connection test")

    @hookimpl
    async def aperture_lookup_availability(self, context: ProviderContext, items: Sequence[MediaRef]) -> None:
        raise self._not_yet("availability lookup")

    @hookimpl
    async def aperture_submit_request(self, context: ProviderContext, item: MediaRef) -> None:
        raise self._not_yet("request submission")

    @hookimpl
    async def aperture_poll_status(self, context: ProviderContext) -> None:
        raise self._not_yet("status polling")


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
