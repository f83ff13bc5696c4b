"""aperture_hookspecs: the contract between Aperture and its request providers.

Everything a plugin author needs is importable from here::

    from aperture_hookspecs import hookimpl, Availability, MediaRef, ProviderInfo, RequestState

* :mod:`.markers` – ``hookimpl`` (and the project name / entry-point group),
* :mod:`.specs` – the hooks, whose docstrings are the reference documentation,
* :mod:`.types` – the values passed in and returned,
* :mod:`.push` – the values of push (a server notifying the host),
* :mod:`.errors` – the error hierarchy,
* :mod:`.settings` – ``Secret`` for settings schemas.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import errors, push, specs
from .errors import (
    AlreadyRequestedError,
    ApertureError,
    BlocklistedError,
    CannotConnectError,
    CSRFProtectionError,
    ForeignWebhookError,
    HostNotFoundError,
    InvalidAPIKeyError,
    InvalidPushError,
    InvalidSettingsError,
    MissingAPIKeyError,
    NotConfiguredError,
    PermissionDeniedError,
    ProviderContractError,
    ProviderTimeoutError,
    QuotaExceededError,
    RefusedConnectionError,
    RequestRefusedError,
    ServerMisconfiguredError,
    TLSError,
    UnauthorizedError,
    UnexpectedResponseError,
    UnsupportedOperationError,
    UnsupportedServerError,
    UserNotMappedError,
)
from .markers import ENTRY_POINT_GROUP, PROJECT_NAME, hookimpl, hookspec
from .push import PushAction, PushDelivery, PushKind, PushNotice, PushOutcome, PushSetup, PushTarget
from .settings import OptionalSecret, Secret, secret_fields, validate_settings
from .types import (
    ALL_SEASONS,
    AccountMapping,
    ApertureUser,
    Availability,
    Capability,
    ConnectionProblem,
    ConnectionReport,
    DownloadProgress,
    MediaRef,
    MediaType,
    ProviderContext,
    ProviderInfo,
    RequestOptions,
    RequestResult,
    RequestState,
    Seasons,
    Severity,
    StatusChange,
    StatusUpdate,
    TrackedRequest,
)

try:
    __version__ = version("aperture-hookspecs")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = [
    "ALL_SEASONS",
    "ENTRY_POINT_GROUP",
    "PROJECT_NAME",
    "AccountMapping",
    "AlreadyRequestedError",
    "ApertureError",
    "ApertureUser",
    "Availability",
    "BlocklistedError",
    "CSRFProtectionError",
    "CannotConnectError",
    "Capability",
    "ConnectionProblem",
    "ConnectionReport",
    "DownloadProgress",
    "ForeignWebhookError",
    "HostNotFoundError",
    "InvalidAPIKeyError",
    "InvalidPushError",
    "InvalidSettingsError",
    "MediaRef",
    "MediaType",
    "MissingAPIKeyError",
    "NotConfiguredError",
    "OptionalSecret",
    "PermissionDeniedError",
    "ProviderContext",
    "ProviderContractError",
    "ProviderInfo",
    "ProviderTimeoutError",
    "PushAction",
    "PushDelivery",
    "PushKind",
    "PushNotice",
    "PushOutcome",
    "PushSetup",
    "PushTarget",
    "QuotaExceededError",
    "RefusedConnectionError",
    "RequestOptions",
    "RequestRefusedError",
    "RequestResult",
    "RequestState",
    "Seasons",
    "Secret",
    "ServerMisconfiguredError",
    "Severity",
    "StatusChange",
    "StatusUpdate",
    "TLSError",
    "TrackedRequest",
    "UnauthorizedError",
    "UnexpectedResponseError",
    "UnsupportedOperationError",
    "UnsupportedServerError",
    "UserNotMappedError",
    "__version__",
    "errors",
    "hookimpl",
    "hookspec",
    "push",
    "secret_fields",
    "specs",
    "validate_settings",
]
