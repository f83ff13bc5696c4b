"""Checks of what a provider declares: its manifest, its capabilities and its settings schema.

Each check takes the author's :class:`~.supplied.ProviderSetup` and returns when the promise
holds, raises :class:`~.promises.ContractViolation` when it is broken and
:class:`~.promises.ContractSkip` when there is nothing to check (saying why).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import voluptuous as vol

from ..errors import InvalidSettingsError
from ..push import PushAction, PushDelivery, PushKind, PushNotice, PushOutcome, PushTarget
from ..settings import OptionalSecret, Secret, field_names, secret_fields, validate_settings
from ..types import Availability, Capability, RequestOptions, RequestState, TrackedRequest
from .leaks import SecretScanner
from .promises import ContractSkip, promise
from .subject import CAPABILITY_HOOKS, CAPABILITY_OF_HOOK, load_entry_point
from .supplied import CANARY_PREFIX, ProviderSetup

__all__ = [
    "check_capability_hooks",
    "check_entry_point",
    "check_hooks",
    "check_hooks_without_capability",
    "check_provider_info",
    "check_schema_accepts_the_example",
    "check_schema_form",
    "check_schema_missing_fields",
    "check_schema_secrets",
]

SECRET_NAME = re.compile(
    r"(^|_)(api_?key|apikey|key|token|password|passwd|passphrase|secret|credentials?)($|_)"
)
"""Field names that hold a secret (``api_key``, ``token``, ``bot_token``, ``password`` …)."""


def check_hooks(setup: ProviderSetup) -> None:
    """The plugin registers as the host's loader would (Aperture hooks, no argument defaults)."""
    setup.subject  # noqa: B018 - admitting it is the check


def check_provider_info(setup: ProviderSetup) -> None:
    """A ``ProviderInfo`` from a plain function: the entry point's name, a version, capabilities."""
    info = setup.subject.info()
    if info.name != setup.entry_point:
        raise promise("info_name").broken(
            f"ProviderInfo.name is {info.name!r}, the entry point is {setup.entry_point!r}"
        )
    if not isinstance(info.version, str) or not info.version.strip():
        raise promise("info_version").broken(f"ProviderInfo.version is {info.version!r}")
    if not info.capabilities:
        raise promise("info_capabilities").broken(
            "ProviderInfo.capabilities is empty; declare what the provider implements "
            "(Capability.LOOKUP, Capability.REQUEST, …)"
        )


def check_entry_point(setup: ProviderSetup) -> None:
    """The installed entry point of that name loads the plugin under test."""
    try:
        loaded = load_entry_point(setup.entry_point)
    except Exception as error:
        raise promise("entry_point").broken(
            f"loading the entry point {setup.entry_point!r} raised {type(error).__name__}: {error}"
        ) from None
    if loaded is None:
        raise ContractSkip(
            f"no entry point named {setup.entry_point!r} is installed in the 'aperture_plugins' group "
            "(install the distribution, e.g. pip install -e ., to check that it loads this plugin)"
        )
    if loaded is not setup.subject.plugin:
        raise promise("entry_point").broken(
            f"the entry point {setup.entry_point!r} loads {loaded!r}, not the plugin under test "
            f"{setup.subject.plugin!r}"
        )


def check_capability_hooks(setup: ProviderSetup) -> None:
    """Every declared capability's hooks are implemented (and USER_MAPPING has a ``user_map``)."""
    info = setup.subject.info()
    for capability in sorted(info.capabilities):
        missing = [hook for hook in CAPABILITY_HOOKS[capability] if not setup.subject.implements(hook)]
        if missing:
            raise promise("capability_hooks").broken(
                f"it declares Capability.{capability.name} but does not implement {', '.join(missing)}"
            )
    if Capability.USER_MAPPING in info.capabilities:
        fields = field_names(setup.subject.schema())
        if "user_map" not in fields:
            raise promise("user_map_setting").broken(
                f"the settings schema has no user_map field (its fields: {', '.join(fields) or 'none'})"
            )


def check_hooks_without_capability(setup: ProviderSetup) -> None:
    """An operation hook whose capability is not declared refuses, or answers that there is nothing."""
    info = setup.subject.info()
    undeclared = [
        hook
        for hook in setup.subject.implemented_operations()
        if hook in CAPABILITY_OF_HOOK and CAPABILITY_OF_HOOK[hook] not in info.capabilities
    ]
    if not undeclared:
        return
    items = tuple(setup.items)
    calls: dict[str, list[dict[str, Any]]] = {
        "aperture_lookup_availability": [{"items": items, "user": setup.user}],
        # each title in turn: one the server refuses says nothing, one it files says it all
        "aperture_submit_request": [
            {"item": item, "user": setup.user, "options": RequestOptions()} for item in items
        ],
        "aperture_poll_status": [
            {"requests": (TrackedRequest("987654321", items[0], setup.user, RequestState.PENDING),)}
        ],
        "aperture_map_users": [{"users": (setup.user,)}],
        "aperture_parse_push": [{"delivery": PushDelivery(b"{}", datetime.now(UTC), "application/json")}],
        "aperture_apply_push": [
            {
                "notice": PushNotice(
                    PushKind.STATUS, item=items[0], request_id="987654321", state=RequestState.APPROVED
                ),
                "requests": (),
            }
        ],
        "aperture_push_setup": [
            {
                "action": PushAction.INSPECT,
                "target": PushTarget(
                    "http://aperture.invalid/webhooks/kit", "Bearer aperture-kit-undeclared"
                ),
                "replace": False,
            }
        ],
    }
    with setup.session() as session:
        for hook in undeclared:
            for kwargs in calls[hook]:
                outcome = session.call(hook, **kwargs)
                if outcome.error is not None:
                    continue
                if not outcome.timed_out and _answers_nothing(hook, outcome.value):
                    continue
                capability = CAPABILITY_OF_HOOK[hook]
                raise promise("hook_without_capability").broken(
                    f"{hook} is implemented without Capability.{capability.name} and "
                    f"{outcome.describe()}; declare Capability.{capability.name}, or refuse with an "
                    "ApertureError"
                )


def _answers_nothing(hook: str, value: Any) -> bool:
    if hook in ("aperture_submit_request", "aperture_push_setup"):
        return False  # a request was filed, a set-up read (or something else returned): it did the work
    if hook == "aperture_parse_push":
        return isinstance(value, PushNotice) and value.kind is PushKind.IGNORED
    if hook == "aperture_apply_push":
        return isinstance(value, PushOutcome) and not value.updates and not value.titles
    answers = list(value or ())
    if hook == "aperture_lookup_availability":
        return all(isinstance(a, Availability) and a.state is RequestState.NOT_AVAILABLE for a in answers)
    if hook == "aperture_map_users":
        return all(getattr(a, "account_id", None) is None for a in answers)
    return not answers  # polling: no news


# -- the settings schema ---------------------------------------------------------------------------


def _validated(setup: ProviderSetup) -> tuple[vol.Schema, dict[str, Any], SecretScanner]:
    schema = setup.subject.schema()
    scanner = SecretScanner({name: setup.settings.get(name) for name in secret_fields(schema)})
    try:
        values = validate_settings(schema, setup.settings, provider=setup.entry_point)
    except InvalidSettingsError as error:
        raise promise("schema_accepts").broken(
            f"the example settings were refused: {scanner.mask(error.message)}"
        ) from None
    return schema, values, scanner


def check_schema_accepts_the_example(setup: ProviderSetup) -> None:
    """The example settings pass, and what the schema made of them passes again unchanged."""
    schema, values, scanner = _validated(setup)
    try:
        again = validate_settings(schema, values, provider=setup.entry_point)
    except InvalidSettingsError as error:
        raise promise("schema_revalidates").broken(
            f"the validated example settings were refused when validated again: {scanner.mask(error.message)}"
        ) from None
    changed = sorted(name for name in set(values) | set(again) if values.get(name) != again.get(name))
    if changed:
        raise promise("schema_revalidates").broken(
            f"validating the validated settings again changed {', '.join(changed)}"
        )


def _markers(schema: vol.Schema) -> list[Any]:
    return list(schema.schema) if isinstance(schema.schema, Mapping) else []


def check_schema_missing_fields(setup: ProviderSetup) -> None:
    """Leaving out each required field is refused with a message for that field."""
    schema, _, scanner = _validated(setup)
    required = [
        str(marker.schema)
        for marker in _markers(schema)
        if isinstance(marker, vol.Required) and marker.default is vol.UNDEFINED
    ]
    if not required:
        raise ContractSkip("the settings schema has no required field (without a default) to leave out")
    for name in required:
        raw = {key: value for key, value in setup.settings.items() if key != name}
        try:
            validate_settings(schema, raw, provider=setup.entry_point)
        except InvalidSettingsError as error:
            if not error.field_errors.get(name, "").strip():
                raise promise("schema_field_message").broken(
                    f"without {name!r} the settings were refused, but not with a message for {name!r}: "
                    f"{scanner.mask(error.message)}"
                ) from None
            continue
        raise promise("schema_field_message").broken(f"the settings were accepted without {name!r}")


def check_schema_secrets(setup: ProviderSetup) -> None:
    """Fields that hold secrets are marked ``Secret``/``OptionalSecret``."""
    schema = setup.subject.schema()
    marked = secret_fields(schema)
    looks_secret = []
    for marker in _markers(schema):
        name = str(getattr(marker, "schema", marker))
        value = setup.settings.get(name)
        is_canary = isinstance(value, str) and CANARY_PREFIX in value
        if SECRET_NAME.search(name.lower()) or is_canary:
            looks_secret.append(name)
            if not isinstance(marker, Secret | OptionalSecret):
                why = "holds the kit's canary" if is_canary else "is named like a secret"
                raise promise("schema_secrets").broken(
                    f"the field {name!r} {why} but is marked {type(marker).__name__}; "
                    "use Secret (required) or OptionalSecret"
                )
    if not looks_secret and not marked:
        raise ContractSkip(
            "no settings field holds a secret (none is marked Secret, named like one, or given the "
            "kit's canary value)"
        )


def check_schema_form(setup: ProviderSetup) -> None:
    """A dict of named fields; defaults and the validated example are plain JSON."""
    schema = setup.subject.schema()
    broken = promise("schema_form")
    if not isinstance(schema.schema, Mapping):
        raise broken.broken(f"the schema is {type(schema.schema).__name__}, not a dict of fields")
    for marker in _markers(schema):
        name = getattr(marker, "schema", marker)
        if not isinstance(name, str) or not name.strip():
            raise broken.broken(f"the key {marker!r} is not a named field")
        default = getattr(marker, "default", vol.UNDEFINED)
        if default is not vol.UNDEFINED:
            try:
                json.dumps(default() if callable(default) else default)
            except (TypeError, ValueError) as error:
                raise broken.broken(f"the default of {name!r} is not plain JSON: {error}") from None
    _, values, scanner = _validated(setup)
    try:
        json.dumps(values, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise broken.broken(
            f"the validated example settings are not plain JSON: {scanner.mask(str(error))}"
        ) from None
