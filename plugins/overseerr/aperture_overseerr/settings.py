"""The settings of a Seerr-family provider, as a voluptuous schema.

Fields (each invalid one gets its own message, and no message ever contains the API key):

* ``url`` – where the server answers, ``http://`` or ``https://`` with a host; what admins
  paste is normalised: surrounding spaces, a trailing ``/`` and a trailing ``/api/v1`` are
  removed (``https://example.org/jellyseerr/api/v1/`` → ``https://example.org/jellyseerr``).
  A URL carrying credentials (``http://user:pass@host``), a query or a fragment is refused.
* ``api_key`` – the key from the server's Settings → General; trimmed, non-empty, printable
  ASCII without spaces. Marked secret: stored encrypted, never shown again.
* ``timeout`` – seconds for each HTTP call, 1–300, default 10.
* ``verify_tls`` – verify the server's certificate (default on).
* ``default_4k`` – request in 4K unless the user says otherwise (default off).
* ``user_map`` – manual user mapping: Aperture username → server user id, username or email.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import voluptuous as vol

from aperture_hookspecs.settings import Secret

DEFAULT_TIMEOUT = 10.0


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
        raise vol.Invalid("is not a valid URL (check the port is a number from 1 to 65535)") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise vol.Invalid(f"must use http or https, not {scheme or 'nothing'}")
    if parts.username is not None or parts.password is not None:
        raise vol.Invalid("must not contain a user name or password; the API key authenticates")
    if not parts.hostname:
        raise vol.Invalid("needs a host name, like http://jellyseerr:5055")
    if port == 0:
        raise vol.Invalid("port must be from 1 to 65535")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise vol.Invalid("must not contain ?query or #fragment; give the server's base address")
    path = parts.path.rstrip("/")
    if path.lower().endswith("/api/v1"):
        path = path[: -len("/api/v1")].rstrip("/")
    return urlunsplit((scheme, parts.netloc.lower(), path, "", ""))


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


def _user_map_target(value: Any) -> int | str:
    if isinstance(value, bool):
        raise vol.Invalid("must be a server user id, username or email")
    if isinstance(value, int):
        if value <= 0:
            raise vol.Invalid("a server user id is a positive number")
        return value
    if isinstance(value, str) and value.strip():
        text = value.strip()
        return int(text) if text.isdigit() and int(text) > 0 else text
    raise vol.Invalid("must be a server user id, username or email")


def _user_map_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise vol.Invalid("an Aperture username must be non-empty text")
    return value.strip()


SETTINGS_SCHEMA = vol.Schema(
    {
        vol.Required("url"): normalise_url,
        Secret("api_key"): api_key,
        vol.Optional("timeout", default=DEFAULT_TIMEOUT): vol.All(
            vol.Coerce(float, msg="must be a number of seconds"),
            vol.Range(min=1, max=300, msg="must be between 1 and 300 seconds"),
        ),
        vol.Optional("verify_tls", default=True): vol.Boolean(msg="must be true or false"),
        vol.Optional("default_4k", default=False): vol.Boolean(msg="must be true or false"),
        vol.Optional("user_map", default=dict): vol.Schema({_user_map_name: _user_map_target}),
    }
)
"""The schema both Seerr-family providers return from ``aperture_settings_schema``."""
