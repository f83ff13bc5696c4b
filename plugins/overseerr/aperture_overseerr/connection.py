"""Product detection and the connection test ("Test Connection" in the admin flow).

:func:`detect` finds out which product and version answer (see :mod:`.profiles`) using the
three unauthenticated endpoints. :func:`test_connection` then checks the key with
``GET /auth/me`` (``/status`` is public, so it cannot tell a wrong key), reports whom the key
acts as, and, with an admin key, reads ``GET /settings/main`` (``/settings/network`` on
Jellyseerr 2.x and Seerr) to spot CSRF protection, which
breaks every API write. A plain-http URL to a host outside the private network gets the
warning "Remote: use HTTPS". Every failure becomes a
:class:`~aperture_hookspecs.types.ConnectionProblem` with the seed's troubleshooting hints;
nothing is raised for a failure.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import httpx

from aperture_hookspecs import (
    ApertureError,
    ConnectionProblem,
    ConnectionReport,
    Severity,
    UnexpectedResponseError,
    UnsupportedServerError,
)

from .client import CSRF_HINTS, SeerrClient
from .models import PublicSettings
from .permissions import is_admin
from .profiles import API_NAMES, ProductProfile, identify


@dataclass(frozen=True)
class ServerIdentity:
    """Who answered: the product profile, the version and the public settings."""

    profile: ProductProfile
    version: str
    api_name: str | None
    public: PublicSettings

    @property
    def product(self) -> str:
        return self.profile.product

    def has_4k_library(self, media_type: str) -> bool:
        """Does the server have a default 4K Radarr (movies) or Sonarr (TV)?"""
        return self.public.movie_4k_enabled if media_type == "movie" else self.public.series_4k_enabled


async def detect(client: SeerrClient) -> ServerIdentity:
    """Identify the server, or raise :class:`UnsupportedServerError` if it is not a Seerr server."""
    try:
        status = await client.status()
        public = await client.public_settings()
    except UnexpectedResponseError as error:
        raise UnsupportedServerError(
            f"{client.base_url} does not answer like Jellyseerr, Overseerr or Seerr ({error.message})",
            hints=(
                "Check the URL and port point at the request server (Jellyseerr/Overseerr listen on 5055)",
                "Remove any path that is not the server's own base path",
            ),
        ) from None
    api_name = _api_name(await _quietly(client.api_root()))
    return ServerIdentity(
        identify(status.version, public.media_server_type, api_name), status.version, api_name, public
    )


async def _quietly(awaitable: Any) -> Any:
    try:
        return await awaitable
    except ApertureError:
        return None


def _api_name(root: Any) -> str | None:
    if isinstance(root, dict) and isinstance(root.get("api"), str) and root["api"] in API_NAMES:
        return root["api"]
    return None


def problem_from(error: ApertureError) -> ConnectionProblem:
    return ConnectionProblem(error.code, error.message, error.hints)


PRIVATE_SUFFIXES = (".local", ".lan", ".home", ".internal", ".home.arpa", ".localdomain")


def is_private_host(host: str) -> bool:
    """Is ``host`` on a private network (loopback, RFC 1918, link-local, a LAN-only name)?"""
    host = host.strip("[]").lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" or "." not in host or host.endswith(PRIVATE_SUFFIXES)
    return address.is_private or address.is_loopback or address.is_link_local


def transport_warnings(base_url: str) -> list[ConnectionProblem]:
    """ "Remote: use HTTPS" when a plain-http URL points at a host outside the private network."""
    url = httpx.URL(base_url)
    if url.scheme == "http" and not is_private_host(url.host):
        return [
            ConnectionProblem(
                "insecure_remote",
                f"Remote: use HTTPS. {url.host} is not on a private network, and plain http sends "
                "the API key in clear text",
                ("Put the server behind HTTPS and enter the https:// URL",),
                Severity.WARNING,
            )
        ]
    return []


async def test_connection(client: SeerrClient, provider: str, expected_product: str) -> ConnectionReport:
    """Run the whole connection test (see the module docstring)."""
    warnings = transport_warnings(client.base_url)
    try:
        identity = await detect(client)
    except ApertureError as error:
        return ConnectionReport(provider=provider, problems=(*warnings, problem_from(error)))
    client.product = identity.product
    problems: list[ConnectionProblem] = list(warnings)
    details: dict[str, Any] = {
        "profile": identity.profile.key,
        "api": identity.api_name,
        "media_server_type": identity.public.media_server_type,
        "movie_4k_enabled": identity.public.movie_4k_enabled,
        "series_4k_enabled": identity.public.series_4k_enabled,
    }
    if identity.product != expected_product and not (
        expected_product == "Jellyseerr" and identity.product == "Seerr"
    ):
        problems.append(
            ConnectionProblem(
                "other_product",
                f"This is a {identity.product} server, not {expected_product}; the provider works with it",
                (f"Consider the {identity.product.lower()} provider for clarity",),
                Severity.WARNING,
            )
        )
    try:
        me = await client.me()
    except ApertureError as error:
        return ConnectionReport(
            provider,
            identity.product,
            identity.version,
            problems=(*problems, problem_from(error)),
            details=details,
        )
    admin = is_admin(me.permissions)
    if admin:
        try:
            if await client.csrf_protection():
                problems.append(
                    ConnectionProblem(
                        "csrf_enabled",
                        f"{identity.product} has CSRF protection switched on: "
                        "every request Aperture files would fail",
                        CSRF_HINTS,
                    )
                )
        except ApertureError as error:
            problems.append(problem_from(error))
    else:
        problems.append(
            ConnectionProblem(
                "key_not_admin",
                f"The API key acts as {me.display_name}, who is not an admin",
                ("Use the main API key from Settings → General",),
                Severity.WARNING,
            )
        )
    return ConnectionReport(
        provider=provider,
        product=identity.product,
        version=identity.version,
        acting_user=f"{me.display_name} (id {me.id})",
        is_admin=admin,
        problems=tuple(problems),
        details=details,
    )
