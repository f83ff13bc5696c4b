"""The fake Seerr server's Webhook notification agent: its settings and what it sends when.

As recorded on the three products (``shared/reference/recorded/*/`` "Webhook deliveries",
``webhook-exchanges.jsonl`` and ``webhooks.jsonl``; notes §11):

**Settings** (``GET``/``POST /settings/notifications/webhook``, admin only). The default is
``{enabled: false, [embedPoster: true,] types: 0, options: {webhookUrl: "", jsonPayload,
[supportVariables: false]}}`` (bracketed keys: Seerr only). ``POST`` is checked by the OpenAPI
validator (``jsonPayload`` must be a string: an object gets 400 ``request.body.options.jsonPayload
should be string`` and changes nothing), then by one ``JSON.parse`` (invalid JSON: 500 with
V8's message), and stored as ``{enabled, types, options: {jsonPayload: base64 of exactly the
string received, webhookUrl, authHeader[, supportVariables]}}`` (no ``embedPoster`` any more),
which the answer echoes. ``GET`` shows ``jsonPayload`` parsed once: the template *text* when the
UI encoding (``JSON.stringify(templateText)``) was saved, an *object* when the text was sent
encoded only once, in which case every notification fails (``JSON.parse`` of an object: ``"[object
Object]" is not valid JSON``): ``/test`` answers 500 and events send nothing.

**``POST …/webhook/test``** sends one ``TEST_NOTIFICATION`` with the body's settings (not
saved, ``enabled`` and ``types`` ignored) and waits: 204 when the receiver answered 2xx, else 500
``Failed to send webhook notification.``; the fake's lock is released while it waits.

**Events** (:meth:`WebhookAgent.notify`): sent when the agent is enabled, has a URL and the type's
bit is in ``types``; the body is built when the transition happens (``media.status`` is the
status *before* the transition's effects: still ``PENDING`` for approved, auto-approved, declined
and failed requests, ``AVAILABLE`` for MEDIA_AVAILABLE), then queued and sent in the background
(``fake_webhook_sender``). Which transition sends what is decided by ``fake_seerr``.

Per product (:data:`WEBHOOK_TRAITS`, keyed by flavour; other releases keep their flavour's):
``User-Agent`` (``axios/1.3.4``, ``axios/1.10.0``, ``axios/1.13.3``), ``Connection`` (``close``
on Overseerr), the settings keys, the V8 error wording (Node 18 / 22), whether TV titles get a
MEDIA_AVAILABLE (not on Overseerr 1.34, recorded) and whether an empty ``authHeader`` is sent
(Overseerr passes it to axios as is; Jellyseerr and Seerr only when set: read in their code,
not recorded).

Approximations: ``supportVariables`` is stored and echoed but placeholders in the URL are not
filled (not recorded); ``embedPoster`` has no effect on the body (it has none in the recordings);
a redirect answer counts as a failure; the template rules of ``fake_webhook_template``.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from typing import Any

from .fake_flavours import MEDIA_STATUS_6, FlavourTraits
from .fake_state import FakeHttpError, MediaRecord, RequestRecord, TitleRecord, UserRecord, message_error
from .fake_webhook_sender import WebhookDelivery, WebhookSender, host_header, request_target
from .fake_webhook_template import (
    DEFAULT_TEMPLATE_TEXT,
    UNDEFINED,
    JsError,
    decode_for_sending,
    js_json_parse,
    js_stringify,
    lodash_truncate,
    node_ascii_from_base64,
    node_base64,
    render,
)

#: ``Notification`` (server/lib/notifications/index.ts): the bit of each type, same in all products.
NOTIFICATION_TYPES: dict[str, int] = {
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
#: The media events: PENDING | APPROVED | AVAILABLE | FAILED | DECLINED | AUTO_APPROVED.
MEDIA_EVENT_TYPES = 222
FAILED_TO_SEND = "Failed to send webhook notification."
_EVENT_TEXT = {
    "MEDIA_PENDING": "New {4k}{kind} Request",
    "MEDIA_APPROVED": "{4k}{kind} Request Approved",
    "MEDIA_AUTO_APPROVED": "{4k}{kind} Request Automatically Approved",
    "MEDIA_DECLINED": "{4k}{kind} Request Declined",
    "MEDIA_FAILED": "{4k}{kind} Request Failed",
    "MEDIA_AVAILABLE": "{4k}{kind} Request Now Available",
}
#: Types that notify the requester (``notifyUser``); the others notify the admins.
_NOTIFY_REQUESTER = ("MEDIA_APPROVED", "MEDIA_DECLINED", "MEDIA_AVAILABLE")
_IMAGE_BASE = "https://image.tmdb.org/t/p/w600_and_h900_bestv2"


@dataclass(frozen=True)
class WebhookTraits:
    """What differs between the products' agents (recorded unless said otherwise)."""

    user_agent: str
    connection: str
    embed_poster: bool  # the default settings have ``embedPoster: true``
    support_variables: bool  # ``options.supportVariables`` exists
    node: str  # the Node major version whose V8 messages the server reports
    tv_available: bool  # marking a show available sends MEDIA_AVAILABLE
    empty_auth_header_sent: bool  # an ``authHeader`` of "" is still sent (code, not recorded)


WEBHOOK_TRAITS: dict[str, WebhookTraits] = {
    "overseerr": WebhookTraits("axios/1.3.4", "close", False, False, "18", False, True),
    "jellyseerr": WebhookTraits("axios/1.10.0", "keep-alive", False, False, "22", True, False),
    "seerr": WebhookTraits("axios/1.13.3", "keep-alive", True, True, "22", True, False),
}


class WebhookAgent:
    """The agent's settings and sending; its methods run under the fake server's lock, which
    :meth:`test` releases while it waits for the receiver."""

    def __init__(self, traits: FlavourTraits, lock: threading.RLock) -> None:
        self.traits = traits
        self.webhook_traits = WEBHOOK_TRAITS[traits.name]
        self.sender = WebhookSender()
        self._lock_wait = threading.Condition(lock)
        self.settings: dict[str, Any] = self.default_settings()

    # ------------------------------------------------------------------ settings
    def default_settings(self) -> dict[str, Any]:
        """The settings of a fresh install (the stored form: ``jsonPayload`` in base64)."""
        stored: dict[str, Any] = {"enabled": False}
        if self.webhook_traits.embed_poster:
            stored["embedPoster"] = True
        stored["types"] = 0
        template = node_base64(js_stringify(DEFAULT_TEMPLATE_TEXT))
        options: dict[str, Any] = {"webhookUrl": "", "jsonPayload": template}
        if self.webhook_traits.support_variables:
            options["supportVariables"] = False
        stored["options"] = options
        return stored

    def settings_json(self) -> dict[str, Any]:
        """``GET /settings/notifications/webhook``: the stored settings, ``jsonPayload`` parsed once."""
        shown = copy.deepcopy(self.settings)
        options = shown["options"]
        try:
            options["jsonPayload"] = js_json_parse(
                node_ascii_from_base64(options["jsonPayload"]), node=self.webhook_traits.node
            )
        except JsError as error:
            raise message_error(500, str(error)) from None
        return shown

    def validate(self, body: dict[str, Any]) -> None:
        """The OpenAPI validator's checks of a settings body (``WebhookSettings``), 400 on failure."""
        checks: list[tuple[str, Any, type | tuple[type, ...], str]] = [
            ("enabled", body.get("enabled", UNDEFINED), bool, "boolean"),
            ("types", body.get("types", UNDEFINED), (int, float), "number"),
            ("options", body.get("options", UNDEFINED), dict, "object"),
        ]
        options = body.get("options")
        if isinstance(options, dict):
            checks += [
                ("options.webhookUrl", options.get("webhookUrl", UNDEFINED), str, "string"),
                ("options.authHeader", options.get("authHeader", UNDEFINED), str, "string"),
                ("options.jsonPayload", options.get("jsonPayload", UNDEFINED), str, "string"),
            ]
            if self.webhook_traits.support_variables:
                checks.append(
                    ("options.supportVariables", options.get("supportVariables", UNDEFINED), bool, "boolean")
                )
        for name, value, kind, label in checks:
            if value is UNDEFINED:
                continue
            wrong = not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))
            if wrong:
                raise FakeHttpError(
                    400,
                    {
                        "message": f"request.body.{name} should be {label}",
                        "errors": [
                            {
                                "path": f".body.{name}",
                                "message": f"should be {label}",
                                "errorCode": "type.openapi.validation",
                            }
                        ],
                    },
                )

    def _stored_form(self, body: dict[str, Any]) -> dict[str, Any]:
        """What the route stores for a body: ``JSON.parse`` first (500 with V8's message)."""
        options = body.get("options", UNDEFINED)
        if options is UNDEFINED or options is None:
            kind = "undefined" if options is UNDEFINED else "null"
            raise message_error(500, f"Cannot read properties of {kind} (reading 'jsonPayload')")
        payload = options.get("jsonPayload", UNDEFINED)
        try:
            js_json_parse(payload, node=self.webhook_traits.node)
        except JsError as error:
            raise message_error(500, str(error)) from None
        stored: dict[str, Any] = {}
        for key in ("enabled", "types"):
            if key in body:
                stored[key] = body[key]
        stored_options: dict[str, Any] = {"jsonPayload": node_base64(payload)}
        for key in ("webhookUrl", "authHeader"):
            if key in options:
                stored_options[key] = options[key]
        if self.webhook_traits.support_variables:
            stored_options["supportVariables"] = options.get("supportVariables", False)
        stored["options"] = stored_options
        return stored

    def save(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /settings/notifications/webhook``: store and echo the stored form."""
        self.validate(body)
        self.settings = self._stored_form(body)
        return copy.deepcopy(self.settings)

    def configure(
        self,
        url: str,
        *,
        auth_header: str | None = None,
        types: int = MEDIA_EVENT_TYPES,
        enabled: bool = True,
        template_text: str = DEFAULT_TEMPLATE_TEXT,
    ) -> None:
        """Set the agent as the settings page would save it (the UI encoding of the template)."""
        options: dict[str, Any] = {"webhookUrl": url, "jsonPayload": js_stringify(template_text)}
        if auth_header is not None:
            options["authHeader"] = auth_header
        self.save({"enabled": enabled, "types": types, "options": options})

    # ------------------------------------------------------------------ /test
    def test(self, body: dict[str, Any], user: UserRecord) -> bool:
        """``POST …/webhook/test``: send a test with the body's settings and wait for the answer."""
        self.validate(body)
        settings = self._stored_form(body)
        payload = {
            "event": None,
            "subject": "Test Notification",
            "message": "Check check, 1, 2, 3. Are we coming in clear?",
            "image": None,
            "notifyUser": self._user(user),
            "media": None,
            "request": None,
            "issue": None,
            "comment": None,
            "extra": None,
        }
        delivery = self._delivery(settings, "TEST_NOTIFICATION", payload, test=True)
        if delivery is None:
            return False
        done = threading.Event()

        def finished() -> None:
            done.set()
            with self._lock_wait:
                self._lock_wait.notify_all()

        threading.Thread(
            target=self.sender.send_now,
            args=(delivery,),
            kwargs={"on_done": finished},
            name="fake-seerr-webhook-test",
            daemon=True,
        ).start()
        with self._lock_wait:  # re-entrant: waiting releases the server's lock entirely
            self._lock_wait.wait_for(done.is_set)
        return delivery.ok

    # ------------------------------------------------------------------ events
    def notify(
        self,
        notification_type: str,
        *,
        request: RequestRecord,
        media: MediaRecord,
        requester: UserRecord,
        title: TitleRecord | None,
    ) -> None:
        """A request notification of ``notification_type``, as the server sends it now (the media
        as it is at this moment); queued when the agent is on and the type is enabled."""
        settings = self.settings
        if not settings.get("enabled") or not settings["options"].get("webhookUrl"):
            return
        if not _type_enabled(NOTIFICATION_TYPES[notification_type], settings.get("types")):
            return
        kind = "Movie" if request.media_type == "movie" else "Series"
        event = _EVENT_TEXT[notification_type].format(**{"4k": "4K " if request.is4k else "", "kind": kind})
        requested_by = self._user(requester)
        payload: dict[str, Any] = {
            "event": event,
            "subject": title.title if title else "",
            "message": lodash_truncate(title.tmdb_overview()) if title else "",
            "image": f"{_IMAGE_BASE}{title.tmdb_poster()}" if title else "",
            "notifyUser": requested_by if notification_type in _NOTIFY_REQUESTER else None,
            "media": {
                "tmdbId": media.tmdb_id,
                "tvdbId": media.tvdb_id,
                "mediaType": media.media_type,
                "status": media.status,
                "status4k": media.status4k,
            },
            "request": {"id": request.id, "requestedBy": requested_by},
            "issue": None,
            "comment": None,
            "extra": None,
        }
        if title:
            date = title.tmdb_date()
            payload["subject"] = f"{title.title} ({date[:4]})" if date else title.title
        if request.media_type == "tv":
            seasons = ", ".join(str(s.season_number) for s in request.seasons)
            payload["extra"] = [{"name": "Requested Seasons", "value": seasons}]
        delivery = self._delivery(settings, notification_type, payload, test=False)
        if delivery is not None:
            self.sender.submit(delivery)

    # ------------------------------------------------------------------ helpers
    def _user(self, user: UserRecord) -> dict[str, Any]:
        return {
            "displayName": user.display_name(self.traits.has_jellyfin_fields),
            "email": user.email,
            "avatar": user.avatar,
            "settings": {"discordId": None, "telegramChatId": None},
        }

    def _status_name(self, value: int) -> str:
        """``MediaStatus[value]`` of the product; ``undefined`` for a value it has no name for."""
        names = {1: "UNKNOWN", 2: "PENDING", 3: "PROCESSING", 4: "PARTIALLY_AVAILABLE", 5: "AVAILABLE"}
        if value == MEDIA_STATUS_6 and self.traits.status6_name:
            return self.traits.status6_name
        if value == self.traits.deleted_status:
            return "DELETED"
        return names.get(value, "undefined")

    def _delivery(
        self, settings: dict[str, Any], notification_type: str, payload: dict[str, Any], *, test: bool
    ) -> WebhookDelivery | None:
        """The POST for a notification; None (and the error logged) when the template breaks."""
        options = settings["options"]
        url = options.get("webhookUrl") or ""
        try:
            template = decode_for_sending(options["jsonPayload"], node=self.webhook_traits.node)
            body = js_stringify(render(template, payload, notification_type, self._status_name))
        except JsError as error:
            self.sender.log_error(f"Error sending webhook notification {notification_type}: {error}")
            return None
        data = body.encode("utf-8")
        headers = [("Accept", "application/json, text/plain, */*"), ("Content-Type", "application/json")]
        auth = options.get("authHeader")
        if auth or (auth == "" and self.webhook_traits.empty_auth_header_sent):
            headers.append(("Authorization", auth))
        headers += [
            ("User-Agent", self.webhook_traits.user_agent),
            ("Content-Length", str(len(data))),
            ("Accept-Encoding", "gzip, compress, deflate, br"),
            ("Host", host_header(url)),
            ("Connection", self.webhook_traits.connection),
        ]
        with self.sender.condition:
            seq = self.sender.next_seq()
        return WebhookDelivery(
            seq=seq,
            notification_type=notification_type,
            url=url,
            target=request_target(url),
            headers=headers,
            body=data,
            test=test,
        )


def _type_enabled(bit: int, types: Any) -> bool:
    """``hasNotificationType(type, settings.types ?? 0)``: the test always passes."""
    value = int(types) if isinstance(types, int | float) and not isinstance(types, bool) else 0
    return bool(bit & (value | NOTIFICATION_TYPES["TEST_NOTIFICATION"]))
