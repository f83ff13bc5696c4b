"""The null provider: what Discovery gets when no request provider is configured.

Always loaded, never disabled, and active whenever no other provider is. Every title is
"Not Available" with the reason "no request provider is configured"; requests are refused with
an error that says how to set a provider up; the connection test says there is nothing to test.
"""

from __future__ import annotations

from collections.abc import Sequence

import voluptuous as vol

from aperture_hookspecs import (
    AccountMapping,
    ApertureUser,
    Availability,
    Capability,
    ConnectionProblem,
    ConnectionReport,
    MediaRef,
    NotConfiguredError,
    ProviderInfo,
    Severity,
    hookimpl,
)

from . import __version__

NAME = "null"
REASON = "no request provider is configured"
ADMIN_REASON = (
    "Install and enable a request provider, then make it active: "
    "aperture-plugins providers; aperture-plugins use jellyseerr"
)


@hookimpl
def aperture_provider_info() -> ProviderInfo:
    return ProviderInfo(
        name=NAME,
        title="No provider",
        version=__version__,
        description="Answers Not Available for every title; active when no other provider is.",
        capabilities=frozenset({Capability.LOOKUP}),
    )


@hookimpl
def aperture_settings_schema() -> vol.Schema:
    return vol.Schema({})


@hookimpl
async def aperture_test_connection() -> ConnectionReport:
    return ConnectionReport(
        provider=NAME,
        problems=(
            ConnectionProblem(
                code="no_provider",
                message="There is nothing to test: no request provider is configured",
                hints=(ADMIN_REASON,),
                severity=Severity.WARNING,
            ),
        ),
    )


@hookimpl
async def aperture_lookup_availability(items: Sequence[MediaRef]) -> list[Availability]:
    return [Availability.not_available(item, REASON, ADMIN_REASON) for item in items]


@hookimpl
async def aperture_submit_request(item: MediaRef) -> None:
    raise NotConfiguredError(
        f"Cannot request {item}: {REASON}",
        hints=(
            "Ask the admin to set up Jellyseerr or Overseerr",
            "Admins: aperture-plugins configure jellyseerr, then aperture-plugins use jellyseerr",
        ),
        provider=NAME,
    )


@hookimpl
async def aperture_poll_status() -> list[object]:
    return []


@hookimpl
async def aperture_map_users(users: Sequence[ApertureUser]) -> list[AccountMapping]:
    return [AccountMapping(user, problems=(f"{REASON}: {ADMIN_REASON}",)) for user in users]
