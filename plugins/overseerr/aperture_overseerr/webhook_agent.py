"""The server's Webhook notification agent, read and set through its settings API (admin key).

``GET /api/v1/settings/notifications/webhook`` answers ``{enabled, types, options: {webhookUrl,
jsonPayload, authHeader}}`` (Seerr adds ``embedPoster`` and ``options.supportVariables``);
``POST`` with the same shape saves it; ``POST …/webhook/test`` sends the test notification with
the settings in its body, unsaved (notes §11; every exchange recorded on the three products in
``recorded/*/webhook-exchanges.jsonl``). :func:`push_setup` always reads first, then:

* **inspect**: whether the agent is on, where it sends, whether that is Aperture's ``target``
  (the same URL *and* the same ``Authorization`` value, compared in constant time), which
  events it sends and which media events it misses;
* **install**: enabled, ``webhookUrl`` = the target's URL, ``authHeader`` = its authorization,
  ``types`` |= the media events (2 | 4 | 8 | 16 | 64 | 128 = 222; other bits the admin set are
  kept), the default template, and ``embedPoster``/``supportVariables`` as they were. If the
  agent already sends to **another URL**, nothing is written and
  :class:`~aperture_hookspecs.errors.ForeignWebhookError` names it, unless ``replace``: a
  server has one webhook agent, and whoever used it would silently lose it (Home Assistant's
  integration overwrites it without asking);
* **remove**: switches the agent off only if it sends to the target's URL; a foreign set-up is
  never touched (the answer says so);
* **test**: the server sends its test notification to the target with the current settings;
  204 means the receiver answered. The server waits on the receiver without a limit (60 s
  observed on a receiver that never answers), so this call gives up after
  :data:`TEST_TIME_LIMIT` seconds.

The template trap: ``options.jsonPayload`` must be the template text **JSON-encoded once more**
(as the settings page sends it). The template as an object is refused (400); the text encoded
only once is accepted, after which ``GET`` returns an object, the test fails and every event is
dropped. Such a broken agent is recognised (``jsonPayload`` read back as an object), reported,
and repaired by ``install``.

The authorization value is a secret: it is never put in a message, a log record or a repr.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aperture_hookspecs import (
    CannotConnectError,
    ForeignWebhookError,
    ProviderTimeoutError,
    PushAction,
    PushSetup,
    PushTarget,
    UnexpectedResponseError,
)

from .client import SeerrClient
from .models import Shape

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_TEMPLATE",
    "MEDIA_EVENT_TYPES",
    "NOTIFICATION_TYPES",
    "TEST_TIME_LIMIT",
    "AgentSettings",
    "push_setup",
]

TEST_TIME_LIMIT = 15.0
"""Seconds the server is given to deliver its test notification and answer."""

NOTIFICATION_TYPES: Mapping[str, int] = {
    "MEDIA_PENDING": 2,
    "MEDIA_APPROVED": 4,
    "MEDIA_AVAILABLE": 8,
    "MEDIA_FAILED": 16,
    "TEST_NOTIFICATION": 32,
    "MEDIA_DECLINED": 64,
    "MEDIA_AUTO_APPROVED": 128,
    "ISSUE_CREATED": 256,
    "ISSUE_COMMENT": 512,
    "ISSUE_RESOLVED": 1024,
    "ISSUE_REOPENED": 2048,
    "MEDIA_AUTO_REQUESTED": 4096,
}
"""The ``types`` bits (the same in every version, notes §11)."""

MEDIA_EVENT_TYPES: Mapping[str, int] = {
    name: NOTIFICATION_TYPES[name]
    for name in (
        "MEDIA_PENDING",
        "MEDIA_APPROVED",
        "MEDIA_AVAILABLE",
        "MEDIA_FAILED",
        "MEDIA_DECLINED",
        "MEDIA_AUTO_APPROVED",
    )
}
"""The events Aperture needs (222)."""
MEDIA_EVENTS_MASK = sum(MEDIA_EVENT_TYPES.values())


def _placeholders(prefix: str, names: tuple[str, ...]) -> dict[str, str]:
    return {name: "{{" + (prefix + name if prefix else name) + "}}" for name in names}


_SETTINGS_FIELDS = ("email", "username", "avatar", "settings_discordId", "settings_telegramChatId")

DEFAULT_TEMPLATE = json.dumps(
    {
        **_placeholders("", ("notification_type", "event", "subject", "message", "image")),
        "{{media}}": {
            "media_type": "{{media_type}}",
            "tmdbId": "{{media_tmdbid}}",
            "tvdbId": "{{media_tvdbid}}",
            "status": "{{media_status}}",
            "status4k": "{{media_status4k}}",
        },
        "{{request}}": {
            "request_id": "{{request_id}}",
            **{f"requestedBy_{name}": "{{requestedBy_" + name + "}}" for name in _SETTINGS_FIELDS},
        },
        "{{issue}}": {
            **_placeholders("", ("issue_id", "issue_type", "issue_status")),
            **{f"reportedBy_{name}": "{{reportedBy_" + name + "}}" for name in _SETTINGS_FIELDS},
        },
        "{{comment}}": {
            "comment_message": "{{comment_message}}",
            **{f"commentedBy_{name}": "{{commentedBy_" + name + "}}" for name in _SETTINGS_FIELDS},
        },
        "{{extra}}": [],
    },
    indent=2,
)
"""The agent's default template, exactly as every product ships it (the recordings' text):
:mod:`~aperture_overseerr.push_payload` reads what it produces."""


@dataclass(frozen=True)
class AgentSettings:
    """The webhook agent's settings as read (``GET``); ``auth_header`` is never shown.

    ``template`` is the template text, or ``None`` when ``jsonPayload`` was not text: then
    ``template_broken`` says it came back as an object (saved encoded only once: the server
    drops every event). ``extra``/``extra_options`` keep the keys this module does not set
    (``embedPoster``, ``supportVariables``) to send them back as they were.
    """

    enabled: bool
    types: int
    url: str
    auth_header: str = field(repr=False)
    template: str | None
    template_broken: bool
    extra: Mapping[str, Any] = field(default_factory=dict)
    extra_options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, shape: Shape) -> AgentSettings:
        options = shape.obj("options")
        if options is None:
            raise UnexpectedResponseError(f"The server's answer to {shape.where} has no 'options'")
        payload = options.value.get("jsonPayload")
        return cls(
            enabled=shape.flag("enabled"),
            types=shape.opt_int("types") or 0,
            url=(options.opt_str("webhookUrl") or "").strip(),
            auth_header=options.opt_str("authHeader") or "",
            template=payload if isinstance(payload, str) else None,
            template_broken=isinstance(payload, dict | list),
            extra={key: shape.value[key] for key in ("embedPoster",) if key in shape.value},
            extra_options={key: options.value[key] for key in ("supportVariables",) if key in options.value},
        )

    def sends_to(self, target: PushTarget) -> bool:
        """The same URL and the same authorization (constant-time) as ``target``."""
        same_auth = hmac.compare_digest(self.auth_header.encode(), target.authorization.encode())
        return self.url == target.url and same_auth

    def is_foreign(self, target: PushTarget) -> bool:
        """Does it send to another receiver than ``target``'s?"""
        return bool(self.url) and self.url != target.url

    def body(self, *, enabled: bool, types: int, url: str, auth_header: str, template: str) -> dict[str, Any]:
        """The ``POST`` body: ``template`` (the text) JSON-encoded once more, as the settings page
        sends it; the keys this module does not set, as read."""
        options = {"webhookUrl": url, "jsonPayload": json.dumps(template), "authHeader": auth_header}
        return {
            "enabled": enabled,
            "types": types,
            "options": {**options, **self.extra_options},
            **self.extra,
        }

    def describe(self, target: PushTarget, message: str) -> PushSetup:
        events = tuple(name for name, bit in NOTIFICATION_TYPES.items() if self.types & bit)
        missing = tuple(name for name, bit in MEDIA_EVENT_TYPES.items() if not self.types & bit)
        return PushSetup(
            enabled=self.enabled,
            url=shown_url(self.url) or None,
            ours=self.sends_to(target),
            events=events,
            missing_events=missing,
            message=message,
        )


async def read_settings(client: SeerrClient) -> AgentSettings:
    return AgentSettings.parse(await client.webhook_settings())


async def push_setup(client: SeerrClient, action: PushAction, target: PushTarget, replace: bool) -> PushSetup:
    """Carry out ``action`` on the server's webhook agent (see the module docstring)."""
    current = await read_settings(client)
    if action is PushAction.INSPECT:
        return current.describe(target, _state_line(current, target))
    if action is PushAction.INSTALL:
        return await _install(client, current, target, replace)
    if action is PushAction.REMOVE:
        return await _remove(client, current, target)
    return await _test(client, current, target)


async def _install(
    client: SeerrClient, current: AgentSettings, target: PushTarget, replace: bool
) -> PushSetup:
    if current.is_foreign(target) and not replace:
        raise ForeignWebhookError(url=shown_url(current.url))
    notes = []
    if current.is_foreign(target):
        notes.append(f"it sent to {shown_url(current.url)} before")
    if current.template_broken:
        notes.append("its template was stored broken (the server dropped every event): repaired")
    elif current.template is not None and _normalised(current.template) != _normalised(DEFAULT_TEMPLATE):
        notes.append("its own template was replaced by the default one, which Aperture reads")
    body = current.body(
        enabled=True,
        types=current.types | MEDIA_EVENTS_MASK,
        url=target.url,
        auth_header=target.authorization,
        template=DEFAULT_TEMPLATE,
    )
    await client.save_webhook_settings(body)
    after = await read_settings(client)
    if not after.sends_to(target) or not after.enabled or after.template_broken:
        raise UnexpectedResponseError(
            "The server accepted the webhook settings but reads back others "
            f"(on: {after.enabled}, URL: {shown_url(after.url) or 'none'})",
            hints=("Check the server's logs, and its Settings → Notifications → Webhook page",),
        )
    log.info("webhook agent set to push to %s", shown_url(target.url))
    message = f"pushes to {shown_url(target.url)}"
    return after.describe(target, "; ".join([message, *notes]))


async def _remove(client: SeerrClient, current: AgentSettings, target: PushTarget) -> PushSetup:
    if current.url != target.url:
        where = f"it sends to {shown_url(current.url)}" if current.url else "it sends nowhere"
        return current.describe(target, f"left alone: not Aperture's webhook ({where})")
    if not current.enabled:
        return current.describe(target, "already switched off")
    body = current.body(
        enabled=False,
        types=current.types,
        url=current.url,
        auth_header=current.auth_header,
        template=current.template if current.template is not None else DEFAULT_TEMPLATE,
    )
    await client.save_webhook_settings(body)
    after = await read_settings(client)
    log.info("webhook agent to %s switched off", shown_url(target.url))
    return after.describe(target, "switched off; changes come by polling")


async def _test(client: SeerrClient, current: AgentSettings, target: PushTarget) -> PushSetup:
    template = current.template if current.template is not None else DEFAULT_TEMPLATE
    body = current.body(
        enabled=True,
        types=current.types | MEDIA_EVENTS_MASK,
        url=target.url,
        auth_header=target.authorization,
        template=template,
    )
    where = shown_url(target.url)
    hint = "Is `aperture-plugins serve` running there, and reachable from the server's machine?"
    try:
        answer = await client.test_webhook(body, time_limit=TEST_TIME_LIMIT)
    except ProviderTimeoutError:
        raise CannotConnectError(
            f"The server did not finish sending its test notification to {where} within "
            f"{TEST_TIME_LIMIT:g} s: something there took the connection but did not answer",
            hints=(hint, "A receiver must answer at once; check what listens at that address"),
        ) from None
    if answer.status != 204:
        raise CannotConnectError(
            f"The server could not reach {where} with its test notification "
            f"({answer.message() or 'no message'})",
            hints=(
                hint,
                "Use an address the server can reach (--public-url), not 127.0.0.1 from a container",
            ),
        )
    note = "; its stored template is broken: run webhook install" if current.template_broken else ""
    return current.describe(target, f"the server sent its test notification to {where}{note}")


def _state_line(current: AgentSettings, target: PushTarget) -> str:
    where = shown_url(current.url) or "nowhere"
    if current.sends_to(target):
        line = f"pushes to {where}" if current.enabled else f"set to push to {where}, but switched off"
    elif current.url == target.url:
        line = f"pushes to {where} with another Authorization value: install again"
    else:
        line = f"sends to {where} ({'on' if current.enabled else 'off'}), not to Aperture"
    if current.template_broken:
        line += "; its template is stored broken (the server drops every event): run webhook install"
    return line


UNPARSABLE_URL = "<unparsable URL>"
"""What :func:`shown_url` shows for a URL it cannot take apart (it might hold a password)."""


def shown_url(url: str) -> str:
    """``url`` without a password in it (``https://user:secret@host/…`` → ``https://user@host/…``).

    A URL that cannot be taken apart (``http://u:secret@[bad/x``, a port that is no number) is
    shown as :data:`UNPARSABLE_URL`, never as it is: where its password is cannot be told."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"  # an IPv6 address keeps its brackets
        if parts.port is not None:
            host = f"{host}:{parts.port}"
    except ValueError:
        return UNPARSABLE_URL
    netloc = f"{parts.username}@{host}" if parts.username else host
    return urlunsplit(parts._replace(netloc=netloc))


def _normalised(template: str) -> Any:
    try:
        return json.loads(template)
    except ValueError:
        return template
