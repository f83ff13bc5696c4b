"""Reading one delivery of the server's Webhook agent: bytes in, a :class:`PushNotice` out, no I/O.

The agent fills a JSON template (the default one, which ``aperture-plugins webhook install``
sets: :data:`~aperture_overseerr.webhook_agent.DEFAULT_TEMPLATE`) and POSTs it (notes §11; real
deliveries of Overseerr 1.34, Jellyseerr 2.7.3 and Seerr 3.1.0 in ``recorded/*/webhooks.jsonl``).
What a receiver must know, all of which this module handles:

* the body is compact JSON and **every filled value is a string** (``"tmdbId":"680"``,
  ``"request_id":"2"``, ``"tvdbId":""`` for a movie); numbers are accepted too, for an admin's
  own template without quotes;
* ``media``, ``request``, ``issue`` and ``comment`` are ``null`` when the event has none (the
  test notification has all four null); ``extra`` is ``[]`` or, for TV, carries
  ``{"name": "Requested Seasons", "value": "1, 2"}``;
* the template has **no request status**: the state comes from ``notification_type``
  (MEDIA_PENDING → pending; MEDIA_AUTO_APPROVED, MEDIA_APPROVED → approved; MEDIA_DECLINED →
  declined; MEDIA_FAILED → failed; MEDIA_AVAILABLE → available, or partially available when the
  delivery says the show's media is). ``media.status`` is the media's status *name* when the
  server sent it, which for approvals, declines and failures is still the old ``PENDING``;
* 4K is told only by the ``event`` text ("New 4K Movie Request", "4K Series Request Approved");
* TEST_NOTIFICATION is the server's test (:attr:`PushKind.TEST`); issues, comments and types this
  module does not know are :attr:`PushKind.IGNORED` (well-formed, not about request status).

Anything else is refused with :class:`~aperture_hookspecs.errors.InvalidPushError` naming what
is wrong and where (``"media.tmdbId is not a TMDB id: 'abc'"``): a body that is not UTF-8 or
not JSON, JSON nested too deep or holding a number too long, a top level that is not an object,
no ``notification_type``, a ``media`` of an unknown type, ids that are not whole numbers, a
media event naming neither a title nor a request. Home Assistant's integration fails with a
``KeyError`` on a payload without ``notification_type``; this one never raises anything but
``InvalidPushError`` (a property test feeds it arbitrary bytes and arbitrary JSON).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from aperture_hookspecs import (
    InvalidPushError,
    MediaRef,
    MediaType,
    PushDelivery,
    PushKind,
    PushNotice,
    RequestState,
)

__all__ = [
    "IGNORED_TYPES",
    "MEDIA_EVENTS",
    "MEDIA_STATUS_NAMES",
    "STATE_OF_EVENT",
    "TEST_NOTIFICATION",
    "parse_body",
    "parse_delivery",
]

TEST_NOTIFICATION = "TEST_NOTIFICATION"

STATE_OF_EVENT: Mapping[str, RequestState] = {
    "MEDIA_PENDING": RequestState.PENDING,
    "MEDIA_AUTO_APPROVED": RequestState.APPROVED,
    "MEDIA_APPROVED": RequestState.APPROVED,
    "MEDIA_DECLINED": RequestState.DECLINED,
    "MEDIA_FAILED": RequestState.FAILED,
    "MEDIA_AVAILABLE": RequestState.AVAILABLE,
}
"""The request's state after each media event (the default template carries no status)."""

MEDIA_EVENTS = tuple(STATE_OF_EVENT)

IGNORED_TYPES = frozenset(
    {"ISSUE_CREATED", "ISSUE_COMMENT", "ISSUE_RESOLVED", "ISSUE_REOPENED", "MEDIA_AUTO_REQUESTED"}
)
"""Types that are known and not about a request's status. MEDIA_AUTO_REQUESTED (a watchlist
request) is never sent to webhooks (notes §11) and would not say whether it was approved."""

MEDIA_STATUS_NAMES: Mapping[str, int] = {
    "UNKNOWN": 1,
    "PENDING": 2,
    "PROCESSING": 3,
    "PARTIALLY_AVAILABLE": 4,
    "AVAILABLE": 5,
}
"""``media.status`` / ``status4k`` names (notes §5, §11) whose number is the same on every
product. The others (``BLOCKLISTED`` on Seerr and ``BLACKLISTED`` on Jellyseerr for 6,
``DELETED`` for 6 on Overseerr ≥ 1.35 and 7 elsewhere) are kept as names in the notice's
``details`` only."""

_MEDIA_TYPES = {"movie", "tv"}
_NUMBER = re.compile(r"[0-9]{1,12}")
_FOUR_K = re.compile(r"(?<![0-9A-Za-z])4K(?![0-9A-Za-z])")
_SEASONS_NAME = "Requested Seasons"
_SHOWN = 40
"""At most this many characters of a wrong value are quoted back in a message."""


def parse_delivery(delivery: PushDelivery) -> PushNotice:
    """The notice in one delivery (see the module docstring); :class:`InvalidPushError` if malformed."""
    return parse_body(delivery.body)


def parse_body(body: bytes) -> PushNotice:
    """The notice in one delivery's raw body."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _invalid(f"the body is not UTF-8 text (byte {error.start})") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise _invalid("the body is JSON nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, and integers longer than Python reads
        if isinstance(error, json.JSONDecodeError):
            detail = f"{error.msg} (line {error.lineno}, column {error.colno})"
        else:
            detail = "a number is too long"
        raise _invalid(f"the body is not valid JSON: {detail}") from None
    return parse_payload(value)


def parse_payload(value: Any) -> PushNotice:
    """The notice in one decoded delivery."""
    if not isinstance(value, dict):
        raise _invalid(f"the body is {_kind(value)}, not a JSON object")
    kind = value.get("notification_type")
    if kind is None:
        raise _invalid("notification_type is missing: this is not a notification of the server's webhook")
    if not isinstance(kind, str) or not kind:
        raise _invalid(f"notification_type should be the notification's name, got {_kind(kind)}")
    notification = kind if len(kind) <= 64 else kind[:61] + "…"
    if kind == TEST_NOTIFICATION:
        return PushNotice(PushKind.TEST, notification=notification)
    state = STATE_OF_EVENT.get(kind)
    if state is None:
        return PushNotice(PushKind.IGNORED, notification=notification)
    return _media_notice(kind, state, value)


def _media_notice(kind: str, state: RequestState, value: dict[str, Any]) -> PushNotice:
    event = _text(value, "event", "event")
    is_4k = bool(event and _FOUR_K.search(event))
    media = _object(value, "media")
    request = _object(value, "request")
    item = None
    status = status4k = None
    if media is not None:
        media_type = _text(media, "media_type", "media.media_type")
        if media_type not in _MEDIA_TYPES:
            raise _invalid(f"media.media_type should be movie or tv, got {_show(media_type)}")
        tmdb_id = _number(media, "tmdbId", "media.tmdbId", "a TMDB id")
        if tmdb_id is None:
            raise _invalid("media.tmdbId is missing")
        item = MediaRef(MediaType(media_type), tmdb_id)
        status = _status(media, "status")
        status4k = _status(media, "status4k")
    request_id = None
    requested_by = email = None
    if request is not None:
        number = _number(request, "request_id", "request.request_id", "a request id")
        request_id = str(number) if number is not None else None
        requested_by = _text(request, "requestedBy_username", "request.requestedBy_username") or None
        email = _text(request, "requestedBy_email", "request.requestedBy_email") or None
    if item is None and request_id is None:
        raise _invalid(f"{kind} names neither a title (media) nor a request (request.request_id)")
    is_tv = item is not None and item.media_type is MediaType.TV
    seasons = _requested_seasons(value) if is_tv else None
    if state is RequestState.AVAILABLE and is_tv and (status4k if is_4k else status) == "PARTIALLY_AVAILABLE":
        state = RequestState.PARTIALLY_AVAILABLE
    details: dict[str, Any] = {"media_status": status, "media_status4k": status4k}
    if email is not None:
        details["requested_by_email"] = email
    return PushNotice(
        PushKind.STATUS,
        notification=kind,
        item=item,
        request_id=request_id,
        state=state,
        is_4k=is_4k,
        seasons=seasons,
        requested_by=requested_by,
        details=details,
    )


def _requested_seasons(value: dict[str, Any]) -> tuple[int, ...] | None:
    """``extra``'s "Requested Seasons" (``"1, 2"``), sorted; ``None`` when the delivery has none."""
    extra = value.get("extra")
    if extra is None:
        return None
    if not isinstance(extra, list):
        raise _invalid(f"extra should be a list, got {_kind(extra)}")
    for position, entry in enumerate(extra):
        if not isinstance(entry, dict):
            raise _invalid(f"extra[{position}] should be an object, got {_kind(entry)}")
        if entry.get("name") != _SEASONS_NAME:
            continue
        text = entry.get("value")
        if isinstance(text, int) and not isinstance(text, bool):
            text = str(text)
        if not isinstance(text, str):
            raise _invalid(f"extra {_SEASONS_NAME!r} should be text, got {_kind(text)}")
        numbers = [part.strip() for part in text.split(",") if part.strip()]
        if not numbers or not all(_NUMBER.fullmatch(part) for part in numbers):
            raise _invalid(f"extra {_SEASONS_NAME!r} is not a list of season numbers: {_show(text)}")
        return tuple(sorted({int(part) for part in numbers}))
    return None


def _object(value: dict[str, Any], name: str) -> dict[str, Any] | None:
    part = value.get(name)
    if part is None:
        return None
    if not isinstance(part, dict):
        raise _invalid(f"{name} should be an object or null, got {_kind(part)}")
    return part


def _text(value: dict[str, Any], name: str, where: str) -> str | None:
    part = value.get(name)
    if part is None or isinstance(part, str):
        return part
    raise _invalid(f"{where} should be text, got {_kind(part)}")


def _number(value: dict[str, Any], name: str, where: str, what: str) -> int | None:
    """A whole number sent as text (``"680"``) or as a number; ``None`` when absent or ``""``."""
    part = value.get(name)
    if part is None or part == "":
        return None
    if isinstance(part, int) and not isinstance(part, bool) and 0 < part < 10**12:
        return part
    if isinstance(part, str) and _NUMBER.fullmatch(part) and int(part) > 0:
        return int(part)
    raise _invalid(f"{where} is not {what}: {_show(part)}")


def _status(media: dict[str, Any], name: str) -> str | None:
    """A media status name (``"PENDING"``); ``None`` when absent or empty. A name this module
    does not know (a newer server's) is kept: only the known ones are acted on."""
    text = _text(media, name, f"media.{name}")
    if not text:
        return None
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _invalid(detail: str) -> InvalidPushError:
    return InvalidPushError(f"The pushed notification cannot be used: {detail}")
