"""The webhook agent's template, filled the way the real agent (JavaScript) fills it.

The agent keeps ``jsonPayload`` as base64 of the string it was given and, to send, decodes it
(Node's ``'ascii'`` decoding: the top bit of every byte dropped), ``JSON.parse``\\ s it **twice**
(notes §11) and walks the result (``parseKeys``): the keys ``{{media}}``, ``{{request}}``,
``{{issue}}`` and ``{{comment}}`` become ``media`` … (or ``null`` where the notification has no such
object), ``{{extra}}`` becomes ``extra`` (the notification's list, else ``[]``), and in every string
value each placeholder of :data:`KEY_MAP` is replaced at its **first** occurrence, in the map's
order, with ``String.prototype.replace`` semantics (``$&``, ``$$``, … in a value are expanded). The
body is ``JSON.stringify`` of the result: compact, keys in JavaScript's order (integer-like keys
first), every filled value a string.

What JavaScript does that Python does not is emulated here (:func:`js_json_parse`,
:func:`js_to_string`, :func:`js_stringify`, :func:`js_replace_first`). Approximations: V8's
``JSON.parse`` error *wording* is reproduced for the recorded cases (``"[object Object]" is not
valid JSON`` on Node 22, ``Unexpected token o in JSON at position 1`` on Node 18) and
approximated for others; a template that parses to something other than an object or an array
counts as broken (nothing is sent); non-integral numbers in a template are written as Python
writes them (``1e-07``, where JavaScript writes ``1e-7``).
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

#: The default template of all three products (identical text, recorded).
DEFAULT_TEMPLATE: dict[str, Any] = {
    "notification_type": "{{notification_type}}",
    "event": "{{event}}",
    "subject": "{{subject}}",
    "message": "{{message}}",
    "image": "{{image}}",
    "{{media}}": {
        "media_type": "{{media_type}}",
        "tmdbId": "{{media_tmdbid}}",
        "tvdbId": "{{media_tvdbid}}",
        "status": "{{media_status}}",
        "status4k": "{{media_status4k}}",
    },
    "{{request}}": {
        "request_id": "{{request_id}}",
        "requestedBy_email": "{{requestedBy_email}}",
        "requestedBy_username": "{{requestedBy_username}}",
        "requestedBy_avatar": "{{requestedBy_avatar}}",
        "requestedBy_settings_discordId": "{{requestedBy_settings_discordId}}",
        "requestedBy_settings_telegramChatId": "{{requestedBy_settings_telegramChatId}}",
    },
    "{{issue}}": {
        "issue_id": "{{issue_id}}",
        "issue_type": "{{issue_type}}",
        "issue_status": "{{issue_status}}",
        "reportedBy_email": "{{reportedBy_email}}",
        "reportedBy_username": "{{reportedBy_username}}",
        "reportedBy_avatar": "{{reportedBy_avatar}}",
        "reportedBy_settings_discordId": "{{reportedBy_settings_discordId}}",
        "reportedBy_settings_telegramChatId": "{{reportedBy_settings_telegramChatId}}",
    },
    "{{comment}}": {
        "comment_message": "{{comment_message}}",
        "commentedBy_email": "{{commentedBy_email}}",
        "commentedBy_username": "{{commentedBy_username}}",
        "commentedBy_avatar": "{{commentedBy_avatar}}",
        "commentedBy_settings_discordId": "{{commentedBy_settings_discordId}}",
        "commentedBy_settings_telegramChatId": "{{commentedBy_settings_telegramChatId}}",
    },
    "{{extra}}": [],
}
#: The template *text* ``GET /settings/notifications/webhook`` shows (``JSON.stringify(t, null, 2)``).
DEFAULT_TEMPLATE_TEXT = json.dumps(DEFAULT_TEMPLATE, indent=2, ensure_ascii=False)

#: The placeholders, in the agent's order: a path into the notification, or a computed value
#: (``"fn:<name>"``, see :func:`render`).
KEY_MAP: tuple[tuple[str, str], ...] = (
    ("notification_type", "fn:notification_type"),
    ("event", "event"),
    ("subject", "subject"),
    ("message", "message"),
    ("image", "image"),
    ("notifyuser_username", "notifyUser.displayName"),
    ("notifyuser_email", "notifyUser.email"),
    ("notifyuser_avatar", "notifyUser.avatar"),
    ("notifyuser_settings_discordId", "notifyUser.settings.discordId"),
    ("notifyuser_settings_telegramChatId", "notifyUser.settings.telegramChatId"),
    ("media_tmdbid", "media.tmdbId"),
    ("media_tvdbid", "media.tvdbId"),
    ("media_type", "media.mediaType"),
    ("media_status", "fn:media_status"),
    ("media_status4k", "fn:media_status4k"),
    ("request_id", "request.id"),
    ("requestedBy_username", "request.requestedBy.displayName"),
    ("requestedBy_email", "request.requestedBy.email"),
    ("requestedBy_avatar", "request.requestedBy.avatar"),
    ("requestedBy_settings_discordId", "request.requestedBy.settings.discordId"),
    ("requestedBy_settings_telegramChatId", "request.requestedBy.settings.telegramChatId"),
    ("issue_id", "issue.id"),
    ("issue_type", "fn:issue_type"),
    ("issue_status", "fn:issue_status"),
    ("reportedBy_username", "issue.createdBy.displayName"),
    ("reportedBy_email", "issue.createdBy.email"),
    ("reportedBy_avatar", "issue.createdBy.avatar"),
    ("reportedBy_settings_discordId", "issue.createdBy.settings.discordId"),
    ("reportedBy_settings_telegramChatId", "issue.createdBy.settings.telegramChatId"),
    ("comment_message", "comment.message"),
    ("commentedBy_username", "comment.user.displayName"),
    ("commentedBy_email", "comment.user.email"),
    ("commentedBy_avatar", "comment.user.avatar"),
    ("commentedBy_settings_discordId", "comment.user.settings.discordId"),
    ("commentedBy_settings_telegramChatId", "comment.user.settings.telegramChatId"),
)
#: The special keys of a template and what they become.
_OBJECT_KEYS = {
    "{{media}}": "media",
    "{{request}}": "request",
    "{{issue}}": "issue",
    "{{comment}}": "comment",
}
_ARRAY_INDEX = re.compile(r"^(0|[1-9]\d*)$")
_SPECIAL_STRINGS = ("undefined", "NaN", "Infinity", "[object Object]")
#: JavaScript's ``undefined`` (a key that is absent, a value never given).
UNDEFINED: Any = type("Undefined", (), {"__repr__": lambda self: "undefined"})()


class JsError(Exception):
    """A JavaScript exception, with the message the server would report."""


# ---------------------------------------------------------------------- JavaScript values
def js_to_string(value: Any) -> str:
    """``String(value)`` for JSON values (and :data:`UNDEFINED`)."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _js_number_text(value)
    if isinstance(value, list):  # Array.prototype.toString: join(","), null/undefined as ""
        return ",".join("" if item is None or item is UNDEFINED else js_to_string(item) for item in value)
    return "[object Object]"


def _js_number_text(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def _js_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A parsed object with JavaScript's key order: integer-like keys first, ascending."""
    result = dict(pairs)
    indexes = sorted((k for k in result if _ARRAY_INDEX.match(k) and int(k) < 2**32 - 1), key=int)
    if not indexes:
        return result
    ordered = {k: result[k] for k in indexes}
    ordered.update((k, v) for k, v in result.items() if k not in ordered)
    return ordered


def _js_float(text: str) -> int | float:
    value = float(text)
    return int(value) if value == int(value) and abs(value) < 1e21 else value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"constant {name}")


def js_json_parse(value: Any, *, node: str = "22") -> Any:
    """``JSON.parse(value)``: a non-string is first turned into a string (``String(value)``).

    Raises :class:`JsError` with V8's message for that Node major version (``"18"`` or ``"22"``)."""
    text = js_to_string(value)
    try:
        return json.loads(
            text, object_pairs_hook=_js_object, parse_float=_js_float, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as error:
        raise JsError(_v8_message(text, error.pos, error.msg, node)) from None
    except ValueError:
        raise JsError(_v8_message(text, 0, "", node)) from None


def _v8_message(text: str, position: int, reason: str, node: str) -> str:
    if not text.strip() or position >= len(text):
        return "Unexpected end of JSON input"
    char = text[position]
    if node == "18":
        kind = "string" if char == '"' else "number" if char in "-0123456789" else f"token {char}"
        return f"Unexpected {kind} in JSON at position {position}"
    if text in _SPECIAL_STRINGS:
        return f'"{text}" is not valid JSON'
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    where = f"in JSON at position {position} (line {line} column {column})"
    if reason.startswith("Expecting property name"):
        return f"Expected property name or '}}' {where}"
    if reason.startswith("Unterminated string"):
        return f"Unterminated string {where}"
    if reason.startswith("Extra data"):
        return f"Unexpected non-whitespace character after JSON {where.removeprefix('in JSON ')}"
    if len(text) <= 20:
        return f"Unexpected token '{char}', \"{text}\" is not valid JSON"
    if position < 10:
        return f"Unexpected token '{char}', \"{text[: position + 10]}\"... is not valid JSON"
    if position >= len(text) - 10:
        return f"Unexpected token '{char}', ...\"{text[position - 10 :]}\" is not valid JSON"
    return f"Unexpected token '{char}', ...\"{text[position - 10 : position + 10]}\"... is not valid JSON"


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def js_stringify(value: Any) -> str:
    """``JSON.stringify(value)``: compact, non-ASCII kept, lone surrogates escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def node_utf8(text: str) -> bytes:
    """``Buffer.from(text)``: UTF-8, a lone surrogate becoming U+FFFD."""
    return (
        text.encode("utf-8", "surrogatepass").decode("utf-8", "replace").encode("utf-8")
        if (_LONE_SURROGATE.search(text))
        else text.encode("utf-8")
    )


def node_base64(text: str) -> str:
    """``Buffer.from(text).toString('base64')``: what the agent stores for ``jsonPayload``."""
    return base64.b64encode(node_utf8(text)).decode("ascii")


def node_ascii_from_base64(stored: str) -> str:
    """``Buffer.from(stored, 'base64').toString('ascii')``: every byte's top bit dropped."""
    data = base64.b64decode(stored + "=" * (-len(stored) % 4), validate=False)
    return "".join(chr(byte & 0x7F) for byte in data)


def js_replace_first(text: str, pattern: str, replacement: str) -> str:
    """``text.replace(pattern, replacement)`` with a string pattern: the first occurrence only,
    and ``$$``, ``$&``, ``$``` and ``$'`` in the replacement expanded."""
    index = text.find(pattern)
    if index < 0:
        return text
    before, after = text[:index], text[index + len(pattern) :]
    out: list[str] = []
    i = 0
    while i < len(replacement):
        char = replacement[i]
        if char == "$" and i + 1 < len(replacement):
            follow = replacement[i + 1]
            expansion = {"$": "$", "&": pattern, "`": before, "'": after}.get(follow)
            if expansion is not None:
                out.append(expansion)
                i += 2
                continue
        out.append(char)
        i += 1
    return before + "".join(out) + after


def lodash_truncate(text: str, length: int = 500, omission: str = "…") -> str:
    """lodash ``truncate(text, {length, separator: /\\s/, omission})`` (the notifications' message)."""
    if len(text) <= length:
        return text
    end = length - len(omission)
    if end < 1:
        return omission
    result = text[:end]
    if not re.match(r"\s", text[end:]):
        spaces = [m.start() for m in re.finditer(r"\s", result)]
        if spaces:
            result = result[: spaces[-1]]
    return result + omission


# ---------------------------------------------------------------------- the template
def decode_for_sending(stored: str, *, node: str) -> Any:
    """The template the agent fills: the stored base64, ``'ascii'``-decoded, parsed twice."""
    return js_json_parse(js_json_parse(node_ascii_from_base64(stored), node=node), node=node)


def _get(payload: Mapping[str, Any], path: str) -> Any:
    """lodash ``get(payload, path)``: None where the path ends."""
    current: Any = payload
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def render(
    template: Any,
    payload: Mapping[str, Any],
    notification_type: str,
    status_name: Callable[[int], str],
) -> Any:
    """``parseKeys``: fill a parsed template (a copy) for one notification.

    ``payload`` is the notification (``event``, ``subject``, ``message``, ``image``,
    ``notifyUser``, ``media``, ``request``, ``issue``, ``comment``, ``extra``), its objects shaped
    as the server's entities (``media.status`` a number, ``request.requestedBy.displayName`` …);
    ``status_name`` names a media status as the product's enum does."""
    if not isinstance(template, dict | list):
        raise JsError("the template is not a JSON object")
    media = payload.get("media")

    def computed(name: str) -> str:
        if name == "notification_type":
            return notification_type
        if name in ("media_status", "media_status4k"):
            if not media:
                return ""
            return status_name(media["status4k" if name.endswith("4k") else "status"])
        return ""  # issue_type / issue_status: the fake has no issues

    replacements: list[tuple[str, str]] = []
    for key, source in KEY_MAP:
        if source.startswith("fn:"):
            value = computed(source[3:])
        else:
            found = _get(payload, source)
            value = "" if found is None else js_to_string(found)
        replacements.append(("{{" + key + "}}", value))

    def walk(node: Any) -> Any:
        keys: list[Any] = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
        for key in keys:
            if isinstance(node, dict) and key == "{{extra}}":
                extra = payload.get("extra")
                node["extra"] = copy.deepcopy(extra) if extra is not None else []
                del node[key]
                key = "extra"
            elif isinstance(node, dict) and key in _OBJECT_KEYS:
                name = _OBJECT_KEYS[key]
                node[name] = node[key] if payload.get(name) else None
                if name != key:
                    del node[key]
                key = name
            value = node[key]
            if isinstance(value, str):
                for pattern, replacement in replacements:
                    value = js_replace_first(value, pattern, replacement)
                node[key] = value
            elif isinstance(value, dict | list):
                node[key] = walk(value)
        return node

    return walk(copy.deepcopy(template))
