"""The push benchmark's tables and targets (issue 14), for :mod:`benchmarks.report`.

Two tables, one column per server flavour: a transition on the server until the SSE event at the
client (with the poll-only path as the baseline row), and lookup latency idle and while the
receiver takes pushes. Two targets per flavour: transition → SSE event p95 under 250 ms, and the
lookups' p95 under load within 2× of idle, at the wanted push rate (a run that did not reach 95 %
of the wanted rate does not meet it, whatever the lookups did).
"""

from __future__ import annotations

from typing import Any

Rows = list[tuple[str, ...]]
Table = tuple[str, list[str], Rows]

#: transition → SSE event, p95
SSE_TARGET_MS = 250.0
#: the lookups' p95 under push load, as a multiple of their idle p95
LOOKUP_RATIO_TARGET = 2.0
#: the share of the wanted push rate a run must reach for the lookup target to count
RATE_REACHED = 0.95


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f} ms"


def _columns(push: dict[str, Any], first: str) -> list[str]:
    return [first, *(flavour["label"] for flavour in push["flavours"])]


def transition_rows(push: dict[str, Any]) -> Rows:
    """Per flavour: arrivals, p50 / p95 / max, each kind's p95, the deliveries; then the baseline."""
    flavours = push["flavours"]
    spread = [flavour["transitions"] for flavour in flavours]
    rows: Rows = [
        ("arrived at the SSE client", *(f"{s['arrived']}/{s['transitions']}" for s in spread)),
        (
            "p50 / p95 / max",
            *(f"{_ms(s['p50_ms'])} / {_ms(s['p95_ms'])} / {_ms(s['max_ms'])}" for s in spread),
        ),
    ]
    for kind in spread[0]["by_kind"]:
        rows.append(
            (
                f"  {kind}: p50 / p95 (n)",
                *(
                    f"{_ms(s['by_kind'][kind]['p50_ms'])} / {_ms(s['by_kind'][kind]['p95_ms'])} "
                    f"({s['by_kind'][kind]['count']})"
                    if kind in s["by_kind"]
                    else "–"
                    for s in spread
                ),
            )
        )
    rows.append(
        (
            "the server's deliveries (answered 2xx / sent)",
            *(f"{s['deliveries']['answered_2xx']}/{s['deliveries']['sent']}" for s in spread),
        )
    )
    base = push["baseline"]
    rows.append(
        (
            f"baseline, poll only (serve --poll-interval {base['poll_interval_s']:g}): the next cycle",
            *(
                f"p50 {base['p50_s']:g} s / p95 {base['p95_s']:g} s / max {base['max_s']:g} s "
                "(tracked requests; others: no event)"
                for _ in flavours
            ),
        )
    )
    return rows


def lookup_rows(push: dict[str, Any]) -> Rows:
    """Per flavour: idle and loaded lookups, the ratio, what the load generator and receiver did."""
    flavours = push["flavours"]
    parts = [flavour["lookups"] for flavour in flavours]
    return [
        (
            "idle: p50 / p95 / max (n)",
            *(
                f"{_ms(p['idle']['p50_ms'])} / {_ms(p['idle']['p95_ms'])} / {_ms(p['idle']['max_ms'])} "
                f"({p['idle']['count']})"
                for p in parts
            ),
        ),
        (
            "under push load: p50 / p95 / max (n)",
            *(
                f"{_ms(p['loaded']['p50_ms'])} / {_ms(p['loaded']['p95_ms'])} / {_ms(p['loaded']['max_ms'])} "
                f"({p['loaded']['count']})"
                for p in parts
            ),
        ),
        ("p95 under load / idle", *(f"{p['p95_ratio']:g}×" for p in parts)),
        (
            "pushes: achieved / wanted rate, answered",
            *(
                f"{p['load']['achieved_rate_per_s']:,.0f}/s of {p['load']['target_rate_per_s']:,.0f}/s, "
                f"{p['load']['answered']:,} answered {_statuses(p['load']['statuses'])}"
                for p in parts
            ),
        ),
        (
            "pushes: answer p50 / p95 / max",
            *(
                f"{_ms(p['load']['answer_p50_ms'])} / {_ms(p['load']['answer_p95_ms'])} / "
                f"{_ms(p['load']['answer_max_ms'])}"
                for p in parts
            ),
        ),
        (
            "receiver: applied, dropped, events logged; backlog",
            *(
                f"{p['receiver']['applied']:,.0f} applied, {p['receiver']['dropped']:,.0f} dropped, "
                f"{p['receiver']['events_logged']:,} events from {p['real_notices_sent']:,} real notices; "
                f"drained {p['receiver']['drained_after_s']:g} s after the load"
                for p in parts
            ),
        ),
    ]


def _statuses(statuses: dict[str, int]) -> str:
    return "(" + ", ".join(f"{status}: {count:,}" for status, count in statuses.items()) + ")"


def tables(push: dict[str, Any] | None) -> list[Table]:
    """The two push tables (none when the push benchmark did not run)."""
    if not push or not push.get("flavours"):
        return []
    config = push["config"]
    return [
        (
            f"push: a transition on the server until the SSE event at a client "
            f"({config['transitions']} transitions, {config['spacing_s']:g} s apart, real HTTP on 127.0.0.1)",
            _columns(push, "transition → SSE event"),
            transition_rows(push),
        ),
        (
            f"push: {config['page_size']}-card lookups every {config['cadence_s']:g} s, "
            f"{config['load_seconds']:g} s idle, then {config['load_seconds']:g} s while "
            f"{config['rate_per_s']:,.0f} pushes/s arrive ({config['connections']} connections)",
            _columns(push, "lookups (POST /api/availability)"),
            lookup_rows(push),
        ),
    ]


def targets(push: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each push target with what was measured and whether it is met."""
    if not push:
        return []
    rows: list[dict[str, Any]] = []
    for flavour in push["flavours"]:
        spread, look = flavour["transitions"], flavour["lookups"]
        server = flavour["server"]
        label = f"{server['product']} {server['version']}, {server['updated_at']}"
        rows.append(
            {
                "name": f"push: transition → SSE event, {spread['transitions']} transitions ({label})",
                "target": f"p95 < {SSE_TARGET_MS:g} ms (poll only: up to {push['baseline']['max_s']:g} s)",
                "measured": f"{spread['arrived']}/{spread['transitions']} arrived, "
                f"p50 {_ms(spread['p50_ms'])}, p95 {_ms(spread['p95_ms'])}",
                "met": spread["arrived"] == spread["transitions"] and spread["p95_ms"] < SSE_TARGET_MS,
            }
        )
        load = look["load"]
        reached = load["achieved_rate_per_s"] >= RATE_REACHED * load["target_rate_per_s"]
        ratio = look["p95_ratio"]
        rows.append(
            {
                "name": f"push: lookup p95 while {load['target_rate_per_s']:,.0f} pushes/s arrive ({label})",
                "target": f"within {LOOKUP_RATIO_TARGET:g}× of idle, at ≥ {RATE_REACHED:.0%} of the rate",
                "measured": f"{_ms(look['loaded']['p95_ms'])} vs {_ms(look['idle']['p95_ms'])} idle "
                f"({ratio:g}×) at {load['achieved_rate_per_s']:,.0f} pushes/s; the receiver took them in "
                f"within {look['receiver']['drained_after_s']:g} s after the load, "
                f"{look['receiver']['dropped']:,.0f} dropped (queue full)",
                "met": reached and ratio is not None and ratio <= LOOKUP_RATIO_TARGET,
            }
        )
    return rows
