"""One error hierarchy for every provider, with messages a person can act on.

Every error has a ``message`` (what happened) and ``hints`` (what to do about it), and a stable
``code`` UIs may translate. Each class carries a default message and hints, so a provider can
raise ``QuotaExceededError("0 of 5 movie requests left; the window is 7 days")`` and the admin
still gets the fix. ``str(error)`` is the message followed by the hints.

The tree, by meaning (catch the branch you care about)::

    ApertureError
    ├── InvalidSettingsError            settings fail the provider's schema (per-field messages)
    ├── NotConfiguredError              the provider has no settings yet
    ├── CannotConnectError              the server could not be reached
    │   ├── RefusedConnectionError     nothing listens at that address and port
    │   ├── HostNotFoundError           DNS does not know the host
    │   ├── ProviderTimeoutError        no answer in time
    │   └── TLSError                    certificate or TLS handshake failure
    ├── UnauthorizedError               the server refused the credentials
    │   ├── MissingAPIKeyError          no key reached the server (401)
    │   └── InvalidAPIKeyError          the key is wrong or revoked (403)
    ├── UnexpectedResponseError         the server answered something we cannot use
    │   ├── UnsupportedServerError      it is not the product the provider talks to
    │   └── ServerMisconfiguredError    it is, but a setting breaks the API
    │       └── CSRFProtectionError     CSRF protection on: every API write is refused
    ├── RequestRefusedError             the server refused this request
    │   ├── PermissionDeniedError       the user may not request this
    │   ├── QuotaExceededError          the user's quota is used up
    │   ├── AlreadyRequestedError       requested by someone else, or in the library already
    │   └── BlocklistedError            the title is on the server's blocklist
    ├── UserNotMappedError              no server user corresponds to this Aperture user
    ├── InvalidPushError                a pushed notification is malformed or of the wrong shape
    ├── ForeignWebhookError             the server already pushes to another receiver
    ├── UnsupportedOperationError       the provider does not do this (or not yet)
    └── ProviderContractError           a plugin broke the contract (a bug in that plugin)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from .types import RequestState

__all__ = [
    "AlreadyRequestedError",
    "ApertureError",
    "BlocklistedError",
    "CSRFProtectionError",
    "CannotConnectError",
    "ForeignWebhookError",
    "HostNotFoundError",
    "InvalidAPIKeyError",
    "InvalidPushError",
    "InvalidSettingsError",
    "MissingAPIKeyError",
    "NotConfiguredError",
    "PermissionDeniedError",
    "ProviderContractError",
    "ProviderTimeoutError",
    "QuotaExceededError",
    "RefusedConnectionError",
    "RequestRefusedError",
    "ServerMisconfiguredError",
    "TLSError",
    "UnauthorizedError",
    "UnexpectedResponseError",
    "UnsupportedOperationError",
    "UnsupportedServerError",
    "UserNotMappedError",
]


class ApertureError(Exception):
    """The root of every error a provider or the host raises on purpose.

    Subclasses set ``code``, ``default_message`` and ``default_hints``; instances may override
    both. ``provider`` names the provider the error came from, when known; ``product`` names
    the server product that answered, as the provider detected it ("Seerr" behind a provider
    called "Jellyseerr"), when known: a host names that rather than the provider's title in
    what it shows a user.
    """

    code: ClassVar[str] = "error"
    default_message: ClassVar[str] = "Something went wrong in the request provider"
    default_hints: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        message: str | None = None,
        *,
        hints: Iterable[str] | None = None,
        provider: str | None = None,
        product: str | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.hints: tuple[str, ...] = tuple(hints) if hints is not None else self.default_hints
        self.provider = provider
        self.product = product
        super().__init__(self.message)

    def __str__(self) -> str:
        if not self.hints:
            return self.message
        return f"{self.message}. Try: " + "; ".join(self.hints) + "."

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": self.code,
            "type": type(self).__name__,
            "message": self.message,
            "hints": list(self.hints),
            "provider": self.provider,
            "product": self.product,
        }


class InvalidSettingsError(ApertureError):
    """Settings that fail the provider's schema. ``field_errors`` maps field → message."""

    code = "invalid_settings"
    default_message = "The settings are not valid"
    default_hints: ClassVar[tuple[str, ...]] = ("Correct the fields named above and save again",)

    def __init__(
        self,
        message: str | None = None,
        *,
        field_errors: Mapping[str, str] | None = None,
        hints: Iterable[str] | None = None,
        provider: str | None = None,
    ) -> None:
        self.field_errors: dict[str, str] = dict(field_errors or {})
        if message is None and self.field_errors:
            message = "Invalid settings: " + "; ".join(
                f"{name}: {text}" for name, text in self.field_errors.items()
            )
        super().__init__(message, hints=hints, provider=provider)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "field_errors": dict(self.field_errors)}


class NotConfiguredError(ApertureError):
    """The provider is active but has no settings (URL, API key) yet."""

    code = "not_configured"
    default_message = "The request provider is not configured"
    default_hints: ClassVar[tuple[str, ...]] = (
        "Enter its URL and API key (aperture-plugins configure NAME)",
    )


class CannotConnectError(ApertureError):
    """The server could not be reached. The subclasses say how."""

    code = "cannot_connect"
    default_message = "Cannot connect to the request server"
    default_hints: ClassVar[tuple[str, ...]] = (
        "Verify the URL is correct",
        "Check the server is running",
        "Ensure the port is accessible from this machine",
    )


class RefusedConnectionError(CannotConnectError):
    """Nothing is listening at that address and port (connection refused)."""

    code = "connection_refused"
    default_message = "Connection refused: nothing is listening at that address and port"


class HostNotFoundError(CannotConnectError):
    """DNS does not know the host name in the URL."""

    code = "host_not_found"
    default_message = "The server's host name could not be resolved (DNS)"
    default_hints: ClassVar[tuple[str, ...]] = (
        "Check the host name in the URL for typos",
        "Use the IP address or a name this machine can resolve (inside Docker, the service name)",
    )


class ProviderTimeoutError(CannotConnectError):
    """The server did not answer within the configured timeout."""

    code = "timeout"
    default_message = "The request server did not answer in time"
    default_hints: ClassVar[tuple[str, ...]] = (
        "Check the server is running and not overloaded",
        "Ensure no firewall silently drops the connection",
        "Raise the timeout if the server is slow",
    )


class TLSError(CannotConnectError):
    """The TLS handshake or the server's certificate failed verification."""

    code = "tls_error"
    default_message = "The server's TLS certificate could not be verified"
    default_hints: ClassVar[tuple[str, ...]] = (
        "Use a certificate from a trusted authority, or the matching http:// URL on a private network",
        "Only if you trust the network: turn TLS verification off for this provider",
    )


class UnauthorizedError(ApertureError):
    """The server refused the credentials."""

    code = "invalid_auth"
    default_message = "The request server refused the API key"
    default_hints: ClassVar[tuple[str, ...]] = (
        "API key is invalid or expired",
        "Generate a new key and enter it again",
    )


class MissingAPIKeyError(UnauthorizedError):
    """No API key reached the server (HTTP 401): not entered, or stripped by a proxy."""

    code = "missing_api_key"
    default_message = "No API key reached the server (401)"
    default_hints: ClassVar[tuple[str, ...]] = (
        "Enter the API key from the server's Settings → General",
        "If a reverse proxy sits in front, make it pass the X-Api-Key header",
    )


class InvalidAPIKeyError(UnauthorizedError):
    """The API key is wrong or was regenerated on the server (HTTP 403 on every route)."""

    code = "invalid_api_key"
    default_message = "The API key is invalid or expired (403)"
    default_hints: ClassVar[tuple[str, ...]] = (
        "API key is invalid or expired",
        "Generate a new key in the server's Settings → General and enter it again",
    )


class UnexpectedResponseError(ApertureError):
    """The server answered, but not with anything the provider can use."""

    code = "unexpected_response"
    default_message = "The request server sent an answer that could not be understood"
    default_hints: ClassVar[tuple[str, ...]] = (
        "Check the URL points at the request server itself, not a login page or proxy",
        "Check the server's logs for errors",
    )


class UnsupportedServerError(UnexpectedResponseError):
    """The URL answers, but it is not a server this provider talks to."""

    code = "unsupported_server"
    default_message = "The server at that URL is not one this provider supports"
    default_hints: ClassVar[tuple[str, ...]] = ("Check the URL and port point at the request server",)


class ServerMisconfiguredError(UnexpectedResponseError):
    """The server is the right product, but one of its settings breaks the API."""

    code = "server_misconfigured"
    default_message = "A setting on the request server prevents API use"


class CSRFProtectionError(ServerMisconfiguredError):
    """CSRF protection is on: the server refuses every API write (a request) made with an API key.

    Its ``code`` is ``csrf_enabled``, the same as the connection test's problem, so a UI shows
    one fix whichever operation ran into it. It is a :class:`ServerMisconfiguredError`, so code
    that catches that keeps working.
    """

    code = "csrf_enabled"
    default_message = "CSRF protection is on: the request server refuses every API write"
    default_hints: ClassVar[tuple[str, ...]] = (
        "Turn off CSRF Protection in the request server's settings",
        "CSRF protection blocks every API write made with an API key, so requests cannot be filed",
    )


class RequestRefusedError(ApertureError):
    """The server refused this request. The subclasses say why."""

    code = "request_refused"
    default_message = "The request server refused the request"


class PermissionDeniedError(RequestRefusedError):
    """The user lacks the permission for this request (e.g. REQUEST, or 4K)."""

    code = "permission_denied"
    default_message = "This user does not have permission to make this request"
    default_hints: ClassVar[tuple[str, ...]] = ("Ask the admin to grant the request permission to this user",)


class QuotaExceededError(RequestRefusedError):
    """The user's request quota is used up."""

    code = "quota_exceeded"
    default_message = "This user's request quota is used up"
    default_hints: ClassVar[tuple[str, ...]] = (
        "Wait until the quota window frees a request",
        "Ask the admin to raise the quota",
    )


class AlreadyRequestedError(RequestRefusedError):
    """Nothing was filed: the title (or every asked season) is requested by someone else already,
    or in the library.

    * ``state``: the title's current state when the provider knows it: the other user's
      request (``pending``, ``approved``, ``processing``, …) or ``available`` /
      ``partially_available`` / ``processing`` for what is in the library or on its way.
    * ``requested_by``: who holds the request that covers it (a display name), ``None`` when no
      request does (the title is in the library) or the provider cannot say.

    The user's *own* earlier request is not this error: providers return it as a
    :class:`~aperture_hookspecs.types.RequestResult` with ``already_requested=True``, which the
    host tracks like any request. Someone else's request is never returned or tracked as the
    user's. ``state`` and ``requested_by`` default to ``None``: raising the error without them
    still keeps the contract.
    """

    code = "already_requested"
    default_message = "This title has already been requested or is available"

    def __init__(
        self,
        message: str | None = None,
        *,
        state: RequestState | str | None = None,
        requested_by: str | None = None,
        hints: Iterable[str] | None = None,
        provider: str | None = None,
    ) -> None:
        self.state: RequestState | None = RequestState(state) if state is not None else None
        self.requested_by = requested_by
        super().__init__(message, hints=hints, provider=provider)

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "state": self.state.value if self.state is not None else None,
            "requested_by": self.requested_by,
        }


class BlocklistedError(RequestRefusedError):
    """The title is on the server's blocklist."""

    code = "blocklisted"
    default_message = "This title is on the server's blocklist and cannot be requested"
    default_hints: ClassVar[tuple[str, ...]] = ("Ask the admin to remove it from the blocklist",)


class UserNotMappedError(ApertureError):
    """No user on the request server corresponds to this Aperture user (or several do)."""

    code = "user_not_mapped"
    default_message = "This Aperture user is not mapped to a user on the request server"
    default_hints: ClassVar[tuple[str, ...]] = (
        "Give both the same username, or map the user by hand (aperture-plugins map USER SERVER_USER)",
    )


class InvalidPushError(ApertureError):
    """A pushed notification cannot be used: not JSON, or not the shape the server sends.

    Raised by ``aperture_parse_push``; the host answers the sender 400 with the message, logs
    it and changes nothing. Say what is wrong and where (``"media.tmdbId is not a number: 'x'"``).
    """

    code = "invalid_push"
    default_message = "The pushed notification is not one Aperture can read"
    default_hints: ClassVar[tuple[str, ...]] = (
        "Use the webhook template Aperture installs (aperture-plugins webhook install --replace)",
    )


class ForeignWebhookError(ApertureError):
    """The server's push already goes to another receiver (``url``), which installing Aperture's
    would replace: a server has one webhook agent. Nothing was changed."""

    code = "foreign_webhook"
    default_message = "The server already sends its webhook somewhere else"
    default_hints: ClassVar[tuple[str, ...]] = (
        "Check who uses that receiver (another automation, Home Assistant, Notifiarr)",
        "Run again with --replace to send it to Aperture instead; that receiver then gets nothing",
    )

    def __init__(
        self,
        message: str | None = None,
        *,
        url: str | None = None,
        hints: Iterable[str] | None = None,
        provider: str | None = None,
        product: str | None = None,
    ) -> None:
        self.url = url
        if message is None and url:
            message = f"The server already sends its webhook to {url}"
        super().__init__(message, hints=hints, provider=provider, product=product)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "url": self.url}


class UnsupportedOperationError(ApertureError):
    """The provider does not implement this operation (or not yet)."""

    code = "unsupported_operation"
    default_message = "The request provider does not support this operation"


class ProviderContractError(ApertureError):
    """A plugin returned something the contract does not allow: a bug in that plugin."""

    code = "provider_bug"
    default_message = "The request provider returned an invalid answer"
    default_hints: ClassVar[tuple[str, ...]] = (
        "Report this to the plugin's author, with the plugin's name and version",
    )
