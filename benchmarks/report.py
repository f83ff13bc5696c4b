"""The figures as a rich table, the targets of issue 7 checked against them, and ``results.json``."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def machine() -> dict[str, Any]:
    """CPU model, cores and Python version of this machine."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue 7 with what was measured and whether it is met."""
    look = results["lookups"]
    naive = results["naive"]
    poll = results["polling"]
    memory = results["memory"]
    users = results["concurrent_users"]
    rows: list[dict[str, Any]] = []

    def add(name: str, target: str, measured: str, met: bool) -> None:
        rows.append({"name": name, "target": target, "measured": measured, "met": bool(met)})

    for key, label in (("warm_same_page", "same page"), ("warm_other_page", "other page")):
        warm = look[key]
        add(
            f"warm lookup, {label}",
            "0 TMDB calls, ≤ 1 call, < 5 ms client CPU",
            f"{warm['tmdb_calls_per_lookup']:g} TMDB, {warm['calls_per_lookup']:g} calls, "
            f"{warm['client_cpu_ms']:.2f} ms CPU",
            warm["tmdb_calls"] == 0 and warm["calls_per_lookup"] <= 1 and warm["client_cpu_ms"] < 5,
        )
    due = look["warm_index_check_due"]
    add(
        "warm lookup, index check due",
        "0 TMDB calls, ≤ 1 call, < 5 ms client CPU",
        f"{due['tmdb_calls_per_lookup']:g} TMDB, {due['calls_per_lookup']:g} calls, "
        f"{due['client_cpu_ms']:.2f} ms CPU",
        due["tmdb_calls"] == 0 and due["calls_per_lookup"] <= 1 and due["client_cpu_ms"] < 5,
    )
    cold = look["cold"]
    ratio = naive["wall_ms"] / cold["wall_ms"]
    measured = f"{cold['tmdb_calls']} TMDB, {ratio:.1f}× ({cold['wall_ms']:.0f} vs {naive['wall_ms']:.0f} ms)"
    throttled = results.get("naive_throttled")
    if throttled:
        measured += f"; {throttled['wall_ms'] / cold['wall_ms']:.1f}× with the server's TMDB throttle"
    add(
        f"cold lookup, {look['index_rows']:,} rows",
        "0 TMDB calls, ≥ 10× faster than naive (no throttle)",
        measured,
        cold["tmdb_calls"] == 0 and ratio >= 10,
    )
    quiet = poll["nothing_changed"]
    add(
        f"poll, {poll['tracked']} tracked, nothing changed",
        "≤ 2 calls",
        f"{quiet['calls']} calls",
        quiet["calls"] <= 2,
    )
    for size, figures in memory.items():
        add(
            f"index memory, {int(size):,} rows",
            "< 50 MB at 100k rows" if int(size) >= 100_000 else "(for scale)",
            f"{figures['kept_mb']:.1f} MB",
            figures["kept_mb"] < 50 if int(size) >= 100_000 else True,
        )
    one, many, same = (
        users["one_user_cold"],
        users["distinct_users_cold"],
        users["one_user_many_lookups_cold"],
    )
    add(
        f"{users['users']} concurrent lookups by one user (cold)",
        "same calls as one lookup",
        f"{same['calls']} vs {one['calls']}",
        same["calls"] == one["calls"],
    )
    add(
        f"{users['users']} distinct users at once (cold)",
        "same calls as one user",
        f"{many['calls']} vs {one['calls']} ({many['per_user_calls']} per-user vs {one['per_user_calls']})",
        many["calls"] == one["calls"],
    )
    return rows


def _ms(value: float) -> str:
    return f"{value:,.1f} ms" if value >= 1 else f"{value * 1000:,.0f} µs"


def _calls(figures: dict[str, Any], runs: int = 1) -> str:
    per = {k: v / runs for k, v in figures["calls_by_endpoint"].items()}
    text = ", ".join(f"{k.split(' ', 1)[1]}×{v:g}" for k, v in per.items())
    return f"{figures['calls'] / runs:g} ({figures['tmdb_calls'] / runs:g} TMDB){': ' + text if text else ''}"


def table_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(scenario, server calls, wall time, client CPU, notes) for the summary table."""
    look, naive, poll = results["lookups"], results["naive"], results["polling"]
    repeat = results["config"]["repeat"]
    cards = results["config"]["page_size"]
    rows = [
        (
            f"cold lookup, {cards} cards, {look['index_rows']:,} rows",
            _calls(look["cold"]),
            _ms(look["cold"]["wall_ms"]),
            _ms(look["cold"]["client_cpu_ms"]),
            f"{look['cold']['per_card_wall_us'] / 1000:.2f} ms/card (median of {repeat} fresh hosts)",
        )
    ]
    for key, label in (
        ("warm_same_page", "warm lookup, same page"),
        ("warm_other_page", "warm lookup, other page"),
        ("warm_index_check_due", "warm lookup, index check due"),
    ):
        figures = look[key]
        rows.append(
            (
                label,
                _calls(figures, repeat),
                _ms(figures["wall_ms"]),
                _ms(figures["client_cpu_ms"]),
                f"{figures['per_card_cpu_us']:.1f} µs CPU/card (median of {repeat})",
            )
        )
    ratio = naive["wall_ms"] / look["cold"]["wall_ms"]
    rows.append(
        (
            f"naive: GET /movie|tv/{{id}} per card, {naive['concurrency']} at a time",
            _calls(naive),
            _ms(naive["wall_ms"]),
            _ms(naive["client_cpu_ms"]),
            f"cold lookup is {ratio:.1f}× faster",
        )
    )
    throttled = results.get("naive_throttled")
    if throttled:
        rows.append(
            (
                f"naive, server's TMDB throttle {throttled['tmdb_rps']:g}/s",
                _calls(throttled),
                _ms(throttled["wall_ms"]),
                _ms(throttled["client_cpu_ms"]),
                f"cold lookup is {throttled['wall_ms'] / look['cold']['wall_ms']:.1f}× faster",
            )
        )
    for key, label in (
        ("first_cycle", "poll, first cycle"),
        ("nothing_changed", "poll, nothing changed"),
        ("changed", f"poll, {poll['changed']['changed_requests']} changed"),
    ):
        figures = poll[key]
        note = f"{poll['tracked']} tracked"
        if key == "changed":
            note += f", {figures['transitions_seen']} transitions seen"
        rows.append((label, _calls(figures), _ms(figures["wall_ms"]), _ms(figures["client_cpu_ms"]), note))
    for size, figures in results["memory"].items():
        rows.append(
            (
                f"media index memory, {int(size):,} rows",
                f"{figures['calls']} (rebuild)",
                "",
                "",
                f"{figures['kept_mb']:.1f} MB kept ({figures['bytes_per_row']} B/row), "
                f"peak {figures['peak_mb']:.1f} MB",
            )
        )
    users = results["concurrent_users"]
    for key, label in (
        ("one_user_cold", "1 user, cold"),
        ("distinct_users_cold", f"{users['users']} distinct users at once, cold"),
        ("one_user_many_lookups_cold", f"{users['users']} lookups by 1 user at once, cold"),
        ("distinct_users_warm", f"{users['users']} distinct users at once, warm"),
    ):
        figures = users[key]
        rows.append(
            (
                label,
                _calls(figures),
                _ms(figures["wall_ms"]),
                _ms(figures["client_cpu_ms"]),
                f"{figures['throughput_per_s']:,.0f} lookups/s, p50 {_ms(figures['p50_ms'])}, "
                f"p95 {_ms(figures['p95_ms'])}",
            )
        )
    return rows


def print_report(results: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(width=max(140, Console().width))
    config = results["config"]
    table = Table(
        title=(
            f"aperture-plugins at scale — latency TMDB {config['tmdb_latency_ms']:g} ms, "
            f"DB {config['db_latency_ms']:g} ms"
        )
    )
    for column in ("scenario", "server calls", "wall", "client CPU", "notes"):
        table.add_column(column, overflow="fold")
    for row in table_rows(results):
        table.add_row(*row)
    console.print(table)
    checks = Table(title="targets (issue 7)")
    for column in ("target", "wanted", "measured", "met"):
        checks.add_column(column, overflow="fold")
    for row in results["targets"]:
        checks.add_row(
            row["name"], row["target"], row["measured"], "[green]yes[/]" if row["met"] else "[red]NO[/]"
        )
    console.print(checks)
    m = results["machine"]
    console.print(f"{m['cpu']}, {m['cores']} cores, Python {m['python']}")


def markdown(results: dict[str, Any]) -> str:
    """The summary table and the targets as Markdown (for the README)."""
    lines = ["| scenario | server calls | wall | client CPU | notes |", "| --- | --- | --- | --- | --- |"]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in table_rows(results)]
    lines += ["", "| target | wanted | measured | met |", "| --- | --- | --- | --- |"]
    lines += [
        f"| {r['name']} | {r['target']} | {r['measured']} | {'yes' if r['met'] else '**no**'} |"
        for r in results["targets"]
    ]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|") if text else "–"


def write_json(results: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
