"""Which HTTP status answers each :class:`~aperture_hookspecs.errors.ApertureError`.

The routes of ``/api`` and ``/events`` answer an error with its ``to_dict()`` (the CLI's
``--json`` error document) and the status below; the families follow the CLI's exit codes:

======  ======================================================================================
400     bad input: a malformed title, an unknown provider, a user who cannot be mapped
403     refused by the server: no permission, blocklisted (``RequestRefusedError``)
409     already requested by another user, or in the library (``AlreadyRequestedError``)
429     the user's quota is used up (``QuotaExceededError``)
501     the provider does not do this (``UnsupportedOperationError``)
502     the request server answered, but not usably: it refused Aperture's API key, it is not
        a Seerr server, CSRF protection is on, a plugin broke the contract
503     the request server cannot be reached (or its breaker is open); the provider is not
        configured or its stored settings are invalid; the data directory cannot be used
504     the request server did not answer in time
======  ======================================================================================

Aperture's own credentials being refused by the server is a 502, never a 401: a front end
must not take it for its own bearer token being wrong. Errors of the data directory
(``aperture.db``, ``config.toml``) or the master key are answered with a plain message; their
details (file names, lines) go to the log only, as :mod:`.auth` does.
"""

from __future__ import annotations

import logging

from starlette.responses import JSONResponse

from aperture_hookspecs import (
    AlreadyRequestedError,
    ApertureError,
    CannotConnectError,
    InvalidSettingsError,
    NotConfiguredError,
    ProviderContractError,
    ProviderTimeoutError,
    QuotaExceededError,
    RequestRefusedError,
    UnauthorizedError,
    UnexpectedResponseError,
    UnsupportedOperationError,
)

from ..config import ConfigFileError
from ..file_errors import DataFileError
from ..secrets import MasterKeyError, SecretUnreadableError

log = logging.getLogger(__name__)

_PLAIN = (DataFileError, ConfigFileError, MasterKeyError, SecretUnreadableError)
PLAIN_MESSAGE = "Aperture's data directory cannot be used right now; an admin has been told (see the log)"

_STATUSES: tuple[tuple[type[ApertureError], int], ...] = (
    # most specific first
    (AlreadyRequestedError, 409),
    (QuotaExceededError, 429),
    (RequestRefusedError, 403),
    (ProviderTimeoutError, 504),
    (CannotConnectError, 503),
    (UnauthorizedError, 502),
    (UnexpectedResponseError, 502),
    (ProviderContractError, 502),
    (UnsupportedOperationError, 501),
    (NotConfiguredError, 503),
    (InvalidSettingsError, 503),
    (DataFileError, 503),
    (MasterKeyError, 503),
    (SecretUnreadableError, 503),
)


def status_for(error: ApertureError) -> int:
    """The HTTP status of ``error`` (see the module docstring); 400 for anything else."""
    for kind, status in _STATUSES:
        if isinstance(error, kind):
            return status
    return 400


def error_document(error: ApertureError) -> dict[str, object]:
    """The JSON body answering ``error``: its ``to_dict()``, or a plain one for the data
    directory and the master key (whose messages name files)."""
    if isinstance(error, _PLAIN):
        log.error("An HTTP request ran into: %s", error)
        return {"error": error.code, "message": PLAIN_MESSAGE, "hints": [], "provider": error.provider}
    return error.to_dict()


def error_answer(error: ApertureError) -> JSONResponse:
    """``error`` as a JSON answer with its status."""
    return JSONResponse(error_document(error), status_code=status_for(error))
