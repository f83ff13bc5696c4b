"""The settings of a Seerr-family provider, as a voluptuous schema.

Fields (each invalid one gets its own message, and no message ever contains the API key):

* ``url`` – where the server answers, ``http://`` or ``https://`` with a host; what admins
  paste is normalised: surrounding spaces, a trailing ``/`` and a trailing ``/api/v1`` are
  removed (``https://example.org/jellyseerr/api/v1/`` → ``https://example.org/jellyseerr``).
  A URL carrying credentials (``http://user:pass@host``), a query or a fragment is refused.
* ``api_key`` – the key from the server's Settings → General; trimmed, non-empty, printable
  ASCII without spaces. Marked secret: stored encrypted, never shown again.
* ``timeout`` – seconds for each HTTP call, 1–300, default 10. A number, or text holding one
  (what a form sends); ``true``/``false`` are not numbers and are refused.
* ``verify_tls`` – verify the server's certificate (default on).
* ``default_4k`` – request in 4K unless the user says otherwise (default off).
  Both take ``true``/``false``, ``0``/``1`` or the words voluptuous's ``Boolean`` knows
  (``yes``/``no``, ``on``/``off``, ``enable``/``disable``, any case). Anything else – notably
  ``null`` or an empty list – is refused rather than read as false, so a blank line in a config
  file can never switch certificate checks off.
* ``progress_interval`` – seconds between reads of download progress, 0–3600, default 60: the
  server itself refreshes progress once a minute, so reading it more often only costs calls.
* ``user_map`` – manual user mapping: Aperture username → server user id, username or email.
  A positive whole number, or text made only of the digits 0–9, is a server user id (``"7"`` →
  ``7``); other text is a username or email. Ids above 2**63 − 1 are refused.

No message repeats what was typed: an admin who pastes the API key into the URL field must not
see it echoed back (or logged) in the error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import voluptuous as vol

from aperture_hookspecs.settings import Secret

DEFAULT_TIMEOUT = 10.0
MIN_TIMEOUT = 1.0
MAX_TIMEOUT = 300.0
DEFAULT_PROGRESS_INTERVAL = 60.0
MAX_USER_ID = 2**63 - 1

_API_PATH = "/api/v1"
_TRUE_WORDS = frozenset({"1", "true", "yes", "on", "enable"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off", "disable"})


def normalise_url(value: Any) -> str:
    """Validate and normalise a server URL (see the module docstring)."""
    if not isinstance(value, str):
        raise vol.Invalid("must be text, like http://jellyseerr:5055")
    text = value.strip()
    if not text:
        raise vol.Invalid("required: the address of the server, like http://jellyseerr:5055")
    if any(ch.isspace() for ch in text) or not text.isprintable():
        raise vol.Invalid("must not contain spaces or control characters")
    if "://" not in text:
        raise vol.Invalid("must start with http:// or https:// (for example http://jellyseerr:5055)")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise vol.Invalid(
            "is not a valid URL (check the host, the [brackets] of an IPv6 address, "
            "and that the port is a number from 1 to 65535)"
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        # The scheme is not echoed: whatever was typed might be a pasted secret.
        raise vol.Invalid("must start with http:// or https://; no other scheme is supported")
    if parts.username is not None or parts.password is not None:
        raise vol.Invalid("must not contain a user name or password; the API key authenticates")
    if not parts.hostname:
        raise vol.Invalid("needs a host name, like http://jellyseerr:5055")
    if port == 0:
        raise vol.Invalid("port must be from 1 to 65535")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise vol.Invalid("must not contain ?query or #fragment; give the server's base address")
    # Rebuilt from the parsed parts: lowercases the host and drops an empty port ("host:").
    host = parts.hostname
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/")
    while path[-len(_API_PATH) :].lower() == _API_PATH:  # pasted twice ("…/api/v1/api/v1") is still pasted
        path = path[: -len(_API_PATH)].rstrip("/")
    return urlunsplit((scheme, netloc, path, "", ""))


def api_key(value: Any) -> str:
    """Validate an API key: trimmed, non-empty, printable ASCII without inner spaces."""
    if not isinstance(value, str):
        raise vol.Invalid("must be text")
    key = value.strip()
    if not key:
        raise vol.Invalid("required: copy it from the server's Settings → General → API Key")
    if not key.isascii() or not key.isprintable() or any(ch.isspace() for ch in key):
        raise vol.Invalid("contains spaces or characters an API key never has; copy it again")
    if len(key) > 512:
        raise vol.Invalid("is far too long for an API key; copy it again")
    return key


def seconds_between(low: float, high: float) -> Callable[[Any], float]:
    """A validator of a number of seconds from ``low`` to ``high`` (a number, or text holding one)."""

    def seconds(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise vol.Invalid("must be a number of seconds")
        try:
            number = float(value)
        except ValueError:
            raise vol.Invalid("must be a number of seconds") from None
        except OverflowError:  # an int too large for a float
            number = math.inf
        if not math.isfinite(number) or not low <= number <= high:
            raise vol.Invalid(f"must be between {low:g} and {high:g} seconds")
        return number

    return seconds


timeout = seconds_between(MIN_TIMEOUT, MAX_TIMEOUT)
"""Validate a timeout in seconds: a number (or text holding one) from 1 to 300."""


def boolean(value: Any) -> bool:
    """Validate an on/off setting strictly (see the module docstring)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    raise vol.Invalid("must be true or false")


def _user_id(value: int) -> int:
    if value <= 0:
        raise vol.Invalid("a server user id is a positive number")
    if value > MAX_USER_ID:
        raise vol.Invalid("is too large for a server user id")
    return value


def _user_map_target(value: Any) -> int | str:
    if isinstance(value, bool):
        raise vol.Invalid("must be a server user id, username or email")
    if isinstance(value, int):
        return _user_id(value)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.isascii() and text.isdigit():  # str.isdigit alone also accepts "²" and "١٢"
            if len(text.lstrip("0")) > len(str(MAX_USER_ID)):
                raise vol.Invalid("is too large for a server user id")
            return _user_id(int(text))
        return text
    raise vol.Invalid("must be a server user id, username or email")


def _user_map_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise vol.Invalid("an Aperture username must be non-empty text")
    return value.strip()


SETTINGS_SCHEMA = vol.Schema(
    {
        vol.Required("url"): normalise_url,
        Secret("api_key"): api_key,
        vol.Optional("timeout", default=DEFAULT_TIMEOUT): timeout,
        vol.Optional("verify_tls", default=True): boolean,
        vol.Optional("default_4k", default=False): boolean,
        vol.Optional("progress_interval", default=DEFAULT_PROGRESS_INTERVAL): seconds_between(0, 3600),
        vol.Optional("user_map", default=dict): vol.Schema({_user_map_name: _user_map_target}),
    }
)
"""The schema both Seerr-family providers return from ``aperture_settings_schema``."""
