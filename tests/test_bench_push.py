"""The push benchmark (``python -m benchmarks``, :mod:`benchmarks.push`) runs, at a tiny size.

Five transitions on the fake Seerr (its own webhook agent, in a child process) must each reach
the SSE client of a real host served by uvicorn, through ``webhook install`` and the real
receiver; then a second of lookups idle and a second under push load from the load generator's
process. Only that everything arrived and the report has its fields is checked: the figures are
the benchmark's business, not a test's (no timed assertion).
"""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import push, push_report, report
from benchmarks.flavours import parse_flavours
from benchmarks.world import Latency

TINY = push.PushConfig(
    rows=1000,
    users=3,
    tracked=40,
    untracked=20,
    page_size=20,
    latency=Latency(0.0, 0.001),
    transitions=5,
    spacing=0.0,
    rate=200.0,
    load_seconds=1.0,
    cadence=0.1,
    connections=2,
    pages=2,
)


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    return push.run(parse_flavours("seerr"), TINY, log=lambda _: None)


def test_every_transition_reaches_the_sse_client(figures: dict[str, Any]) -> None:
    (flavour,) = figures["flavours"]
    assert flavour["install"]["test_received"] is True
    spread = flavour["transitions"]
    assert (spread["transitions"], spread["arrived"]) == (5, 5)
    assert all(row["arrived"] and row["latency_ms"] is not None for row in spread["rows"])
    assert [row["kind"] for row in spread["rows"]] == ["approve", "approve", "decline", "decline", "arrive"]
    assert [row["tracked"] for row in spread["rows"]] == [True, False, True, False, True]
    tracked = [row for row in spread["rows"] if row["tracked"]]
    assert all(row["status"] is not None for row in tracked)  # the status event as well as the badge
    assert spread["deliveries"]["sent"] == spread["deliveries"]["answered_2xx"] == 5
    assert {"p50_ms", "p95_ms", "max_ms", "by_kind", "states"} <= spread.keys()


def test_lookups_and_the_push_load_are_reported(figures: dict[str, Any]) -> None:
    look = figures["flavours"][0]["lookups"]
    for window in ("idle", "loaded"):
        assert look[window]["count"] >= 1
        assert {"p50_ms", "p95_ms", "max_ms", "started_late"} <= look[window].keys()
    load = look["load"]
    assert load["answered"] >= 1 and set(load["statuses"]) == {"200"}
    assert {"achieved_rate_per_s", "answer_p50_ms", "answer_p95_ms", "sent_late"} <= load.keys()
    receiver = look["receiver"]
    assert receiver["applied"] == receiver["received_status"] == load["answered"]
    assert receiver["dropped"] == receiver["failed"] == receiver["refused"] == 0
    assert look["unannounced_changes"] >= 1 and look["real_notices_sent"] >= 1
    assert receiver["events_logged"] >= 1  # the real notices reached the event log
    assert figures["baseline"]["poll_interval_s"] == 60.0


def test_the_report_shows_the_push_tables_and_targets(figures: dict[str, Any]) -> None:
    results = {"flavours": [], "push": figures}  # as python -m benchmarks --push-only writes it
    tables = push_report.tables(figures)
    assert [len(rows) for _, _, rows in tables] == [len(push_report.transition_rows(figures)), 6]
    names = [row["name"] for row in report.targets(results)]
    assert len(names) == 2 and names[0].startswith("push: transition → SSE event")
    assert all(set(row) == {"name", "target", "measured", "met"} for row in report.targets(results))
    text = report.markdown({**results, "targets": report.targets(results)})
    assert "transition → SSE event" in text and "POST /api/availability" in text
