"""Helpers for provider settings schemas: marking secrets, reading field errors.

A provider's settings schema is a plain voluptuous schema. Mark its secret fields with
:class:`Secret` (required) or :class:`OptionalSecret` so the host knows to encrypt them at rest,
to mask them when settings are shown, and to keep the stored value when an admin saves the
form with the field left empty::

    import voluptuous as vol
    from aperture_hookspecs.settings import Secret

    SCHEMA = vol.Schema({
        vol.Required("url"): vol.Url(),
        Secret("api_key"): vol.All(str, vol.Strip, vol.Length(min=1)),
    })
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import voluptuous as vol

from .errors import InvalidSettingsError

__all__ = ["OptionalSecret", "Secret", "secret_fields", "validate_settings"]


class Secret(vol.Required):
    """A required setting whose value is secret (an API key, a password)."""


class OptionalSecret(vol.Optional):
    """An optional setting whose value is secret."""


def secret_fields(schema: vol.Schema) -> frozenset[str]:
    """The names of the fields a schema marks as secret."""
    keys = schema.schema if isinstance(schema.schema, Mapping) else {}
    return frozenset(str(key.schema) for key in keys if isinstance(key, (Secret, OptionalSecret)))


def field_names(schema: vol.Schema) -> tuple[str, ...]:
    """The names of the top-level fields of a dict schema, in declaration order."""
    keys = schema.schema if isinstance(schema.schema, Mapping) else {}
    return tuple(str(getattr(key, "schema", key)) for key in keys)


def validate_settings(
    schema: vol.Schema, raw: Mapping[str, Any], provider: str | None = None
) -> dict[str, Any]:
    """Validate ``raw`` against ``schema``; return the normalised settings.

    Every invalid field is reported at once, each with its own message, as an
    :class:`~aperture_hookspecs.errors.InvalidSettingsError` whose ``field_errors`` maps the
    field name to the message. Secret values never appear in those messages.
    """
    try:
        return dict(schema(dict(raw)))
    except vol.MultipleInvalid as error:
        raise InvalidSettingsError(field_errors=_field_errors(error.errors), provider=provider) from None
    except vol.Invalid as error:
        raise InvalidSettingsError(field_errors=_field_errors([error]), provider=provider) from None


def _field_errors(errors: list[vol.Invalid]) -> dict[str, str]:
    messages: dict[str, str] = {}
    for error in errors:
        # the whole form when there is no path; a key that is empty text is shown as ""
        name = ".".join(str(part) or '""' for part in error.path) if error.path else "settings"
        text = error.error_message or str(error)
        if text == "extra keys not allowed":
            text = "not a setting of this provider"
        elif text == "required key not provided":
            text = "required"
        messages.setdefault(name, text)
    return messages
