"""The promises the conformance kit checks, each tied to the docstring that makes it.

A :class:`Promise` is one sentence a provider must make true, the docstring it comes from
(``specs.py, aperture_lookup_availability``) and a phrase of that docstring. The kit's own
tests check that every phrase is still in its docstring, so the kit cannot drift from the
contract. A broken promise is a :class:`ContractViolation` whose message says all three::

    aperture_lookup_availability must return one Availability per item, in order
    (specs.py, aperture_lookup_availability): item 3 asked movie:550, answered movie:603
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any

from .. import errors, markers, push, settings, specs, types

__all__ = ["PROMISES", "ContractSkip", "ContractViolation", "Promise", "promise"]

_MODULES = {
    "specs": specs,
    "types": types,
    "errors": errors,
    "settings": settings,
    "markers": markers,
    "push": push,
}


@dataclass(frozen=True)
class Promise:
    """One promise of the contract: what must hold, where it is written, and a phrase of it."""

    key: str
    statement: str
    module: str
    name: str | None
    quote: str

    @property
    def source(self) -> str:
        """Where it is written: ``specs.py, aperture_poll_status`` or ``specs.py, module docstring``."""
        return f"{self.module}.py, {self.name or 'module docstring'}"

    def docstring(self) -> str:
        """The docstring the promise comes from (``inspect.getdoc``)."""
        holder: Any = _MODULES[self.module]
        for part in (self.name or "").split(".") if self.name else ():
            holder = getattr(holder, part)
        return inspect.getdoc(holder) or ""

    def is_stated(self) -> bool:
        """Whether :attr:`quote` is in the docstring (whitespace and line breaks aside)."""
        return _flat(self.quote) in _flat(self.docstring())

    def broken(self, detail: str) -> ContractViolation:
        """The violation to raise: the statement, its source, then what the kit saw."""
        return ContractViolation(self, detail)


class ContractViolation(AssertionError):  # noqa: N818 - what it is: a broken promise, as an assertion
    """A provider broke a promise; ``str()`` is the statement, its source and the detail."""

    def __init__(self, broken: Promise, detail: str) -> None:
        self.promise = broken
        self.detail = detail
        super().__init__(f"{broken.statement} ({broken.source}): {detail}")


class ContractSkip(Exception):  # noqa: N818 - a signal, like pytest's Skipped, not an error
    """A check cannot run with what the author supplied; ``str()`` says what to supply."""


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


_CATALOGUE = (
    # -- the plugin and its manifest -------------------------------------------------------------
    Promise(
        "hooks_known",
        "every hook a provider implements must be an Aperture hook, with the spec's argument names",
        "specs",
        None,
        "Implementations may accept fewer arguments than a spec lists",
    ),
    Promise(
        "no_defaults",
        "hook arguments must not have default values",
        "specs",
        None,
        "Do not give hook arguments default values: pluggy never passes those.",
    ),
    Promise(
        "info_type",
        "aperture_provider_info must return a ProviderInfo from a plain function",
        "specs",
        "aperture_provider_info",
        "The host calls this once per plugin when it loads, outside any event loop.",
    ),
    Promise(
        "info_name",
        "ProviderInfo.name must equal the entry-point name",
        "specs",
        "aperture_provider_info",
        "``name`` (must equal the entry-point name)",
    ),
    Promise(
        "entry_point",
        "the entry point must load this plugin (module or object)",
        "markers",
        None,
        "the entry-point group a distribution registers its plugin module (or plugin object) under",
    ),
    Promise(
        "info_version",
        "ProviderInfo must give the provider's version",
        "types",
        "ProviderInfo",
        "``version``: the provider's version",
    ),
    Promise(
        "info_capabilities",
        "ProviderInfo must declare the capabilities the provider implements",
        "specs",
        "aperture_provider_info",
        "the ``capabilities`` implemented",
    ),
    Promise(
        "capability_hooks",
        "every declared capability's hooks must be implemented",
        "types",
        "ProviderInfo",
        "``capabilities``: what it implements",
    ),
    Promise(
        "hook_without_capability",
        "an operation hook without its capability must not perform the operation "
        "(refuse with an ApertureError, or answer that there is nothing)",
        "types",
        "ProviderInfo",
        "``capabilities``: what it implements",
    ),
    Promise(
        "user_map_setting",
        "a provider declaring Capability.USER_MAPPING must keep the manual map in a user_map setting",
        "specs",
        "aperture_map_users",
        "``Capability.USER_MAPPING`` keep the admin's manual map in a ``user_map`` setting",
    ),
    # -- the settings schema -----------------------------------------------------------------------
    Promise(
        "schema_type",
        "aperture_settings_schema must return a voluptuous Schema, synchronously",
        "specs",
        "aperture_settings_schema",
        "Synchronous: no I/O here.",
    ),
    Promise(
        "schema_accepts",
        "the settings schema must accept the example settings",
        "specs",
        "aperture_settings_schema",
        "The host validates what an admin enters against it before saving",
    ),
    Promise(
        "schema_revalidates",
        "settings the schema produced must pass it again, unchanged",
        "specs",
        "aperture_settings_schema",
        "validates the stored settings again before every call",
    ),
    Promise(
        "schema_field_message",
        "the settings schema must reject each missing required field with a message for that field",
        "specs",
        "aperture_settings_schema",
        "give each field its own message",
    ),
    Promise(
        "schema_secrets",
        "secret settings (API keys, tokens, passwords) must be marked with Secret or OptionalSecret",
        "specs",
        "aperture_settings_schema",
        "Mark secret fields (API keys, passwords)",
    ),
    Promise(
        "schema_form",
        "the settings schema must be a dict of named fields that a form can show and the store can "
        "save as JSON",
        "specs",
        "aperture_settings_schema",
        "A provider with nothing to configure returns ``vol.Schema({})``.",
    ),
    # -- lookups -----------------------------------------------------------------------------------
    Promise(
        "lookup_order",
        "aperture_lookup_availability must return one Availability per item, in order",
        "specs",
        "aperture_lookup_availability",
        "return exactly one :class:`~aperture_hookspecs.types.Availability` per item, in the same "
        "order, each with ``item`` equal to the item asked",
    ),
    Promise(
        "lookup_guest",
        "a guest (user None) must never get can_request",
        "specs",
        "aperture_lookup_availability",
        "``user`` is ``None`` for a guest: answer the states, never ``can_request``.",
    ),
    Promise(
        "lookup_reason",
        "every answer that cannot be requested must carry a reason",
        "types",
        "Availability",
        "required when the state is ``not_available`` and whenever a requestable-looking title "
        "cannot be requested",
    ),
    Promise(
        "lookup_unreachable",
        "aperture_lookup_availability must raise CannotConnectError when the server cannot be reached",
        "specs",
        "aperture_lookup_availability",
        "If the server cannot be reached, raise a :class:`~aperture_hookspecs.errors.CannotConnectError`",
    ),
    # -- connection test ---------------------------------------------------------------------------
    Promise(
        "connection_report",
        "aperture_test_connection must return a ConnectionReport with each failure in its problems, "
        "never raise",
        "specs",
        "aperture_test_connection",
        "Return a :class:`~aperture_hookspecs.types.ConnectionReport` even when the check fails",
    ),
    # -- submitting --------------------------------------------------------------------------------
    Promise(
        "submit_result",
        "aperture_submit_request must return a RequestResult for the item asked",
        "specs",
        "aperture_submit_request",
        "Return a :class:`~aperture_hookspecs.types.RequestResult` whose ``request_id`` the host will poll.",
    ),
    Promise(
        "submit_refusal",
        "refusals must be RequestRefusedError subclasses",
        "specs",
        "aperture_submit_request",
        "Refusals are :class:`~aperture_hookspecs.errors.RequestRefusedError` subclasses",
    ),
    Promise(
        "submit_unknown_user",
        "an unknown user must be refused with UserNotMappedError",
        "specs",
        "aperture_submit_request",
        "an unknown user is :class:`~aperture_hookspecs.errors.UserNotMappedError`",
    ),
    Promise(
        "submit_once",
        "a second identical submit must not create a second request: it returns the user's own "
        "request with already_requested=True",
        "specs",
        "aperture_submit_request",
        "return that request with ``already_requested=True``",
    ),
    # -- polling -----------------------------------------------------------------------------------
    Promise(
        "poll_tracked",
        "aperture_poll_status must answer StatusUpdates for the tracked requests only, one each at most",
        "specs",
        "aperture_poll_status",
        "Return a :class:`~aperture_hookspecs.types.StatusUpdate` for each request you have news of",
    ),
    Promise(
        "poll_real",
        "aperture_poll_status must report only real transitions: nothing changed, no new state",
        "specs",
        "aperture_poll_status",
        "the host emits :func:`aperture_status_changed` only for real transitions",
    ),
    Promise(
        "poll_change",
        "aperture_poll_status must report a real change of a tracked request",
        "specs",
        "aperture_poll_status",
        "Report the current state of tracked requests.",
    ),
    # -- user mapping ------------------------------------------------------------------------------
    Promise(
        "map_order",
        "aperture_map_users must return one AccountMapping per user, in order",
        "specs",
        "aperture_map_users",
        "Return one :class:`~aperture_hookspecs.types.AccountMapping` per user, in order.",
    ),
    Promise(
        "map_unmapped",
        "an unmapped user's AccountMapping must say why in its problems",
        "types",
        "AccountMapping",
        "``account_id`` is ``None`` when the user is not mapped; then ``problems`` say why",
    ),
    # -- push ----------------------------------------------------------------------------------------
    Promise(
        "push_parse_plain",
        "aperture_parse_push must be a plain function: the host calls it before it answers the server "
        "and never awaits it",
        "specs",
        "aperture_parse_push",
        "so be quick, **synchronous and without I/O**",
    ),
    Promise(
        "push_parse_no_io",
        "aperture_parse_push must be quick and do no I/O (no socket, file, database, process or sleep)",
        "specs",
        "aperture_parse_push",
        "so be quick, **synchronous and without I/O**",
    ),
    Promise(
        "push_parse_answer",
        "aperture_parse_push must answer a PushNotice or raise InvalidPushError, whatever the body",
        "specs",
        "aperture_parse_push",
        "Raise :class:`~aperture_hookspecs.errors.InvalidPushError` for a body that is not JSON or "
        "not the shape the server sends",
    ),
    Promise(
        "push_parse_status",
        "a STATUS notice must name the title or the request it is about",
        "specs",
        "aperture_parse_push",
        "``PushKind.STATUS`` for a request or title event, with what the delivery says (the request "
        "id, the title",
    ),
    Promise(
        "push_parse_examples",
        "aperture_parse_push must read each example delivery as a notice of its kind",
        "specs",
        "aperture_parse_push",
        "``PushKind.TEST`` for the server's test notification",
    ),
    Promise(
        "push_apply_outcome",
        "aperture_apply_push must answer a PushOutcome with updates only for the tracked requests "
        "the notice concerns, one each at most",
        "specs",
        "aperture_apply_push",
        "a ``StatusUpdate`` for each of the tracked ``requests`` the notice concerns",
    ),
    Promise(
        "push_apply_titles",
        "the titles of a PushOutcome must be guest-level badges: Availability answers, never can_request",
        "push",
        "PushOutcome",
        "``Availability`` for ``user=None``",
    ),
    Promise(
        "push_apply_untracked",
        "aperture_apply_push must take in a notice for a request nobody tracks without an error",
        "specs",
        "aperture_apply_push",
        "A notice for a request nobody tracks still updates the title.",
    ),
    Promise(
        "push_apply_twice",
        "aperture_apply_push must take in the same notice twice without an error or other news",
        "specs",
        "aperture_apply_push",
        "Deliveries may come twice, late or out of order.",
    ),
    Promise(
        "push_setup_answer",
        "aperture_push_setup must read the server's set-up and answer a PushSetup",
        "specs",
        "aperture_push_setup",
        "Return the set-up as it is afterwards.",
    ),
    Promise(
        "push_setup_ours",
        "PushSetup.ours must be true only when the server pushes to the target's URL with the "
        "target's authorization",
        "push",
        "PushSetup",
        "``ours``: it sends to the target's URL with the target's authorization.",
    ),
    Promise(
        "push_target_secret",
        "the target's authorization must never appear in any answer, error, hint, repr or log line",
        "specs",
        "aperture_push_setup",
        "the exact ``Authorization`` value it accepts: a secret, never log it or put it in a message",
    ),
    Promise(
        "push_install_foreign",
        "INSTALL must not overwrite a set-up that pushes to another URL unless replace is true: it "
        "raises ForeignWebhookError and changes nothing",
        "specs",
        "aperture_push_setup",
        "``INSTALL`` must not overwrite a set-up that pushes to another URL unless ``replace`` is "
        "true: raise :class:`~aperture_hookspecs.errors.ForeignWebhookError` naming it.",
    ),
    Promise(
        "push_install",
        "INSTALL (with replace over a foreign set-up) must leave the server pushing to the target",
        "specs",
        "aperture_push_setup",
        "``INSTALL`` makes the server push every media event to ``target``; installing again over a "
        "set-up that already pushes to ``target`` is not foreign and must succeed",
    ),
    Promise(
        "push_remove",
        "REMOVE must switch off only a set-up that pushes to the target: ours stops, a foreign one "
        "is left as it was",
        "specs",
        "aperture_push_setup",
        "``REMOVE`` switches off only a set-up that pushes to ``target``.",
    ),
    # -- every call --------------------------------------------------------------------------------
    Promise(
        "errors",
        "only ApertureError subclasses may escape a provider",
        "specs",
        None,
        "Errors: raise the classes in :mod:`aperture_hookspecs.errors`. Anything else escaping a "
        "provider is reported to the admin as a bug in that plugin.",
    ),
    Promise(
        "no_secret",
        "no secret from the settings may appear in any message, repr or log line",
        "types",
        "ProviderContext",
        "Secret values are in here in clear text: never log or repr them.",
    ),
    Promise(
        "no_blocking",
        "a provider must not block the event loop",
        "specs",
        None,
        "The operation hooks that do I/O are written ``async def``.",
    ),
    Promise(
        "no_task_left",
        "no task of the provider may still run after the host closed its context",
        "types",
        "ProviderContext",
        "the host runs the callbacks given to :meth:`on_close` and starts a fresh context",
    ),
)

PROMISES: dict[str, Promise] = {p.key: p for p in _CATALOGUE}
"""Every promise the kit checks, by key."""


def promise(key: str) -> Promise:
    """The promise with that key."""
    return PROMISES[key]
