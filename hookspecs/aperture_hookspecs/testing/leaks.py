"""Looking for secret settings where they must never be: messages, reprs and log lines.

The kit knows the secret values of the settings it hands a provider (the fields the schema marks
with ``Secret``); :class:`SecretScanner` looks for each in every answer's ``repr`` and
``to_dict()``, in every error's message, hints and ``repr`` (and the errors it was raised
from), and in every log record written during the call, formatted as a handler would. A value
shorter than :data:`MIN_SECRET_LENGTH` is not looked for: it would be found everywhere.
The kit's own messages show a found secret as ``<field>``, never the value.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import ApertureError
from .promises import promise

__all__ = ["MIN_SECRET_LENGTH", "SecretScanner"]

MIN_SECRET_LENGTH = 6
"""Secret values shorter than this are not looked for (use a long, distinctive fake value)."""

_FORMATTER = logging.Formatter("%(levelname)s %(name)s %(message)s")


class SecretScanner:
    """Finds the secret values of one set of settings in text (see the module docstring)."""

    def __init__(self, secrets: Mapping[str, Any]) -> None:
        self.secrets = {
            name: str(value)
            for name, value in secrets.items()
            if isinstance(value, str | int) and len(str(value)) >= MIN_SECRET_LENGTH
        }

    def mask(self, text: str) -> str:
        """``text`` with every secret value replaced by ``<field>``."""
        for name, value in self.secrets.items():
            text = text.replace(value, f"<{name}>")
        return text

    def check(self, where: str, text: str) -> None:
        """Raise the ``no_secret`` violation if a secret value is in ``text``."""
        for name, value in self.secrets.items():
            if value in text:
                excerpt = self.mask(text)
                if len(excerpt) > 300:
                    at = excerpt.find(f"<{name}>")
                    excerpt = "…" + excerpt[max(0, at - 140) : at + 140] + "…"
                raise promise("no_secret").broken(f"the value of {name!r} appeared in {where}: {excerpt!r}")

    def check_value(self, where: str, value: Any) -> None:
        """Check an answer: its ``repr``, and its (or each element's) ``to_dict()`` as JSON."""
        for part, text in _texts_of_value(value):
            self.check(f"{part} of {where}", text)

    def check_error(self, where: str, error: BaseException) -> None:
        """Check an error and the errors it was raised from: message, hints, ``repr``, ``to_dict()``."""
        for part, text in _texts_of_error(error):
            self.check(f"{part} raised by {where}", text)

    def check_records(self, where: str, records: list[logging.LogRecord]) -> None:
        """Check log records as a handler would write them (traceback included)."""
        for record in records:
            where_written = f"a log record ({record.levelname}, logger {record.name!r}) during {where}"
            self.check(where_written, _format(record))


def _texts_of_value(value: Any) -> Iterator[tuple[str, str]]:
    yield "the repr of the answer", repr(value)
    items = value if isinstance(value, list | tuple) else [value]
    for item in items:
        to_dict = getattr(item, "to_dict", None)
        if callable(to_dict):
            yield "the answer", json.dumps(to_dict(), default=str)


def _texts_of_error(error: BaseException) -> Iterator[tuple[str, str]]:
    seen: set[int] = set()
    current: BaseException | None = error
    depth = 0
    while current is not None and id(current) not in seen and depth < 10:
        seen.add(id(current))
        label = "the error" if depth == 0 else f"the error behind it ({type(current).__name__})"
        yield label, str(current)
        yield f"the repr of {label}", repr(current)
        if isinstance(current, ApertureError):
            yield label, json.dumps(current.to_dict(), default=str)
        current = current.__cause__ or current.__context__
        depth += 1


def _format(record: logging.LogRecord) -> str:
    try:
        return _FORMATTER.format(record)
    except Exception:  # a record that cannot be formatted: check its raw parts
        return f"{record.msg!r} {record.args!r} {record.exc_info!r}"
