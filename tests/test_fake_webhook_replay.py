"""The fake's webhook deliveries against the real servers' (``recorded/*/webhooks.jsonl``).

For every folder of ``../shared/reference/recorded/`` (new ones are picked up by themselves),
``webhook-exchanges.jsonl`` is replayed against the seeded fake as ``test_recorded_replay.py``
does, with real receivers in place of the recorder's (``recorded_webhooks``). For each exchange
the POSTs the receivers got are compared with the deliveries the real server sent for it (none
included): their number and order, and for each one

* the request line;
* the header names, in order, and their values, except ``Host`` (it must name the receiver's
  host and port, as the recorded one names the recorder's) and ``Content-Length`` (it must be
  the length of the body sent);
* the raw body, byte for byte, except the values the seed made up (:data:`MADE_UP_VALUES`: the
  seed users' avatars), compared by type;
* whether and how the receiver answered (200, 500, never).

Differences that remain are listed in :data:`KNOWN_DIFFERENCES` with their reason; the test fails
on an unlisted one and on a listed one that no longer occurs.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .recorded_webhooks import recorded_deliveries
from .test_recorded_replay import RECORDED, Difference, Known, drive, recorded_folders

pytestmark = pytest.mark.skipif(
    not RECORDED.is_dir(), reason=f"the recordings of the real servers are not here: {RECORDED}"
)

FILE = "webhook-exchanges.jsonl"
#: Template values the seed made up (the recordings' avatars come from the recorder's seed).
MADE_UP_VALUES = ("requestedBy_avatar",)
_STRING = r'"(?:[^"\\]|\\.)*"'


def masked(raw: str) -> tuple[str, list[Any]]:
    """The body with every made-up value replaced by a marker, and those values (parsed)."""
    values: list[Any] = []

    def keep(match: re.Match[str]) -> str:
        values.append(json.loads(match[2]))
        return f'"{match[1]}":<made-up>'

    pattern = re.compile(rf'"({"|".join(map(re.escape, MADE_UP_VALUES))})":({_STRING}|null|-?\d[\d.eE+-]*)')
    return pattern.sub(keep, raw), values


@dataclass(frozen=True)
class Sent:
    """A delivery, as recorded or as the fake's receiver got it."""

    request_line: str
    headers: list[tuple[str, str]]
    body_raw: str
    answered: int | None
    port: int  # the (recorded) receiver port


def compare_delivery(recorded: Sent, actual: Sent, real_port: int) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if actual.request_line != recorded.request_line:
        problems.append(("request_line", f"{actual.request_line!r}, recorded {recorded.request_line!r}"))
    names, recorded_names = [n for n, _ in actual.headers], [n for n, _ in recorded.headers]
    if names != recorded_names:
        problems.append(("headers", f"{names}, recorded {recorded_names}"))
    recorded_values = dict(recorded.headers)
    for name, value in actual.headers:
        if name not in recorded_values:
            continue
        if name == "Host":
            if recorded_values[name] != f"127.0.0.1:{recorded.port}" or value != f"127.0.0.1:{real_port}":
                problems.append(("headers.Host", f"{value!r}, recorded {recorded_values[name]!r}"))
        elif name == "Content-Length":
            if value != str(len(actual.body_raw.encode("utf-8"))):
                problems.append(("headers.Content-Length", f"{value} for a body of {len(actual.body_raw)}"))
        elif value != recorded_values[name]:
            problems.append((f"headers.{name}", f"{value!r}, recorded {recorded_values[name]!r}"))
    body, made_up = masked(actual.body_raw)
    recorded_body, recorded_made_up = masked(recorded.body_raw)
    if body != recorded_body:
        problems.append(("body_raw", f"{actual.body_raw}\n      recorded {recorded.body_raw}"))
    elif [type(v) for v in made_up] != [type(v) for v in recorded_made_up]:
        problems.append(("body_raw", f"made-up values {made_up}, recorded {recorded_made_up}"))
    if actual.answered != recorded.answered:
        problems.append(("answered", f"{actual.answered}, recorded {recorded.answered}"))
    return problems


def replay_deliveries(folder: Path) -> list[Difference]:
    found: list[Difference] = []
    expected_by_seq: dict[int, list[dict[str, Any]]] = {}
    for delivery in recorded_deliveries(folder):
        expected_by_seq.setdefault(delivery["trigger"]["exchange_seq"], []).append(delivery)
    seen: set[int] = set()
    for step in drive(folder, FILE):
        seq = step.record["seq"]
        seen.add(seq)
        expected = [
            Sent(
                d["request_line"],
                list(d["headers"].items()),
                d["body_raw"],
                d["receiver"]["answered"],
                d["receiver"]["port"],
            )
            for d in expected_by_seq.get(seq, [])
        ]
        actual = [
            (item.port, Sent(item.request_line, item.headers, item.body.decode("utf-8"), item.answered, port))
            for port, item in step.deliveries
        ]
        kinds = [_kind(s.body_raw) for _, s in actual]
        recorded_kinds = [_kind(s.body_raw) for s in expected]
        if kinds != recorded_kinds:
            found.append(
                Difference(folder.name, FILE, seq, "deliveries", f"{kinds}, recorded {recorded_kinds}")
            )
            continue
        for index, (recorded, (real_port, sent)) in enumerate(zip(expected, actual, strict=True)):
            for path, detail in compare_delivery(recorded, sent, real_port):
                found.append(Difference(folder.name, FILE, seq, f"[{index}].{path}", detail))
    for seq in sorted(set(expected_by_seq) - seen):
        found.append(Difference(folder.name, FILE, seq, "deliveries", "exchange not replayed"))
    return found


def _kind(body_raw: str) -> str:
    return str(json.loads(body_raw).get("notification_type"))


#: Every difference between the fake's deliveries and the recorded ones that remains.
KNOWN_DIFFERENCES: tuple[Known, ...] = (
    Known(
        "seerr-3.1.0",
        FILE,
        28,
        "deliveries",
        "a race seen once: dave's auto-approved request with Radarr on a closed port sent MEDIA_DECLINED "
        "+ MEDIA_FAILED on Seerr 3.1.0 (the request turned FAILED before the auto-approval notification "
        "picked its type), MEDIA_AUTO_APPROVED + MEDIA_FAILED on Jellyseerr 2.7.3 and Overseerr 1.34.0. "
        "The fake sends the latter everywhere: the recording does not show the race as deterministic.",
    ),
)

FOLDERS = [f for f in recorded_folders() if (f / "webhooks.jsonl").is_file()]


def test_every_recorded_folder_with_a_webhook_run_is_replayed() -> None:
    assert FOLDERS, f"no recorded folder with webhooks.jsonl under {RECORDED}"
    for folder in recorded_folders():
        if (folder / FILE).is_file():
            assert folder in FOLDERS, f"{folder.name} has {FILE} but no webhooks.jsonl"


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_deliveries_match_the_recording(folder: Path) -> None:
    differences = replay_deliveries(folder)
    known = [k for k in KNOWN_DIFFERENCES if fnmatch.fnmatch(folder.name, k.folders)]
    unlisted = [d for d in differences if not any(k.matches(d) for k in known)]
    stale = [k for k in known if not any(k.matches(d) for d in differences)]
    message = []
    if unlisted:
        message.append(f"{len(unlisted)} differences not in KNOWN_DIFFERENCES:")
        message.extend(f"  {d}" for d in unlisted)
    if stale:
        message.append("listed in KNOWN_DIFFERENCES but no longer seen (remove them):")
        message.extend(f"  {k.folders} {k.file} #{k.seq} {k.path}" for k in stale)
    assert not message, "\n".join(message)
