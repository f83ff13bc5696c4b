"""The figures as rich tables (or Markdown), the targets of issues 7, 12 and 14 checked against
them, and ``results.json`` (the push benchmark's tables and targets: :mod:`benchmarks.push_report`).

Tables: what does not depend on the stamps (on the first flavour's server), the lookups and
polling cycles of every flavour side by side, the long-running window (each change on every
flavour), then the targets.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from . import push_report


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (other work on a shared machine skews CPU times)."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict[str, Any]:
    """CPU model, cores, Python version, and the load when the run started."""
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
        "load_average_at_start": load_average(),
    }


def _primary(results: dict[str, Any]) -> dict[str, Any]:
    """The first flavour's figures (it also ran the naive baseline and the concurrent users)."""
    return results["flavours"][0]


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issues 7, 12 and 14 with what was measured and whether it is met."""
    if not results.get("flavours"):  # --push-only
        return push_report.targets(results.get("push"))
    primary = _primary(results)
    naive = results["naive"]
    memory = results["memory"]
    users = results["concurrent_users"]
    rows: list[dict[str, Any]] = []

    def add(name: str, target: str, measured: str, met: bool) -> None:
        rows.append({"name": name, "target": target, "measured": measured, "met": bool(met)})

    for flavour in results["flavours"]:
        look, label = flavour["lookups"], _short(flavour)
        frozen = flavour["server"]["updated_at"] == "frozen"
        for key, what in (("warm_same_page", "same page"), ("warm_other_page", "other page")):
            warm = look[key]
            add(
                f"warm lookup, {what} ({label})",
                "0 TMDB calls, ≤ 1 call, < 5 ms client CPU",
                f"{warm['tmdb_calls_per_lookup']:g} TMDB, {warm['calls_per_lookup']:g} calls, "
                f"{warm['client_cpu_ms']:.2f} ms CPU",
                warm["tmdb_calls"] == 0 and warm["calls_per_lookup"] <= 1 and warm["client_cpu_ms"] < 5,
            )
        due = look["warm_index_check_due"]
        most = 4 if frozen else 2
        add(
            f"warm lookup, index check due ({label})",
            f"0 TMDB calls, ≤ {most} calls, < 5 ms client CPU",
            f"{due['tmdb_calls_per_lookup']:g} TMDB, {due['calls_per_lookup']:g} calls, "
            f"{due['client_cpu_ms']:.2f} ms CPU",
            due["tmdb_calls"] == 0 and due["calls_per_lookup"] <= most and due["client_cpu_ms"] < 5,
        )
    for flavour in results["flavours"]:
        small = flavour.get("small")
        if not small:
            continue
        due = small["lookups"]["warm_index_check_due"]
        most = 4 if flavour["server"]["updated_at"] == "frozen" else 2
        add(
            f"warm lookup, index check due, {small['server']['open_requests']} open requests "
            f"({_short(flavour)})",
            f"0 TMDB calls, ≤ {most} calls, < 5 ms client CPU",
            f"{due['tmdb_calls_per_lookup']:g} TMDB, {due['calls_per_lookup']:g} calls, "
            f"{due['client_cpu_ms']:.2f} ms CPU",
            due["tmdb_calls"] == 0 and due["calls_per_lookup"] <= most and due["client_cpu_ms"] < 5,
        )
    look = primary["lookups"]
    cold = look["cold"]
    ratio = naive["wall_ms"] / cold["wall_ms"]
    measured = f"{cold['tmdb_calls']} TMDB, {ratio:.1f}× ({cold['wall_ms']:.0f} vs {naive['wall_ms']:.0f} ms)"
    throttled = results.get("naive_throttled")
    if throttled:
        measured += f"; {throttled['wall_ms'] / cold['wall_ms']:.1f}× with the server's TMDB throttle"
    add(
        f"cold lookup, {look['index_rows']:,} rows ({_short(primary)})",
        "0 TMDB calls, ≥ 10× faster than naive (no throttle)",
        measured,
        cold["tmdb_calls"] == 0 and ratio >= 10,
    )
    for flavour in results["flavours"]:
        poll = flavour["polling"]
        quiet = poll["nothing_changed"]
        most = 4 if flavour["server"]["updated_at"] == "frozen" else 2
        add(
            f"poll, {poll['tracked']} tracked, nothing changed ({_short(flavour)})",
            f"≤ {most} calls",
            f"{quiet['calls']} calls",
            quiet["calls"] <= most,
        )
        if flavour.get("small"):
            small = flavour["small"]["polling"]["nothing_changed"]
            add(
                f"poll, {flavour['small']['polling']['tracked']} tracked, nothing changed, "
                f"{flavour['small']['server']['open_requests']} open requests ({_short(flavour)})",
                f"≤ {most} calls",
                f"{small['calls']} calls",
                small["calls"] <= most,
            )
    for flavour in results["flavours"]:
        window = flavour.get("soak")
        if not window:
            continue
        for key, what, target in (
            ("status_changes", "status changes", f"each within {_s(_status_target(window))}"),
            ("progress_changes", "download progress", f"each within {_s(_progress_target(window))}"),
        ):
            spread = window[key]
            add(
                f"long-running: {what} reach the card ({_short(flavour)})",
                target + " (+ that lookup's own time)",
                f"{spread['seen']}/{spread['changes']} seen, p50 {_s(spread['p50_s'])}, "
                f"p95 {_s(spread['p95_s'])}",
                spread["all_met"],
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
    return rows + push_report.targets(results.get("push"))


def _short(flavour: dict[str, Any]) -> str:
    """``Seerr 3.1.0, frozen``."""
    server = flavour["server"]
    return f"{server['product']} {server['version']}, {server['updated_at']}"


def _status_target(window: dict[str, Any]) -> float:
    return float(window["max_staleness_s"] + window["cadence_s"])


def _progress_target(window: dict[str, Any]) -> float:
    return float(window["progress_interval_s"] + window["cadence_s"])


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} s"


def _ms(value: float) -> str:
    return f"{value:,.1f} ms" if value >= 1 else f"{value * 1000:,.0f} µs"


def _calls(figures: dict[str, Any], runs: int = 1) -> str:
    per = {k: v / runs for k, v in figures["calls_by_endpoint"].items()}
    text = ", ".join(f"{k.split(' ', 1)[1]}×{v:g}" for k, v in per.items())
    return f"{figures['calls'] / runs:g} ({figures['tmdb_calls'] / runs:g} TMDB){': ' + text if text else ''}"


Rows = list[tuple[str, ...]]


def table_rows(results: dict[str, Any]) -> Rows:
    """(scenario, server calls, wall time, client CPU, notes): what does not depend on the stamps,
    on the first flavour's server."""
    primary = _primary(results)
    look, naive = primary["lookups"], results["naive"]
    repeat = results["config"]["repeat"]
    cards = results["config"]["page_size"]
    rows: Rows = [
        (
            f"cold lookup, {cards} cards, {look['index_rows']:,} rows",
            _calls(look["cold"]),
            _ms(look["cold"]["wall_ms"]),
            _ms(look["cold"]["client_cpu_ms"]),
            f"{look['cold']['per_card_wall_us'] / 1000:.2f} ms/card (median of {repeat} fresh hosts)",
        )
    ]
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


def _time(figures: dict[str, Any]) -> str:
    return f"{_ms(figures['wall_ms'])} / {_ms(figures['client_cpu_ms'])}"


def flavour_columns(results: dict[str, Any]) -> list[str]:
    columns = ["scenario"]
    for flavour in results["flavours"]:
        columns += [f"{flavour['label']}: server calls", "wall / client CPU"]
    return columns


def flavour_rows(results: dict[str, Any]) -> Rows:
    """The lookups and polling cycles on each flavour, side by side (per lookup where repeated),
    then the same on the small server (only a few titles in flight) where it ran."""
    flavours = results["flavours"]
    rows = _side_by_side(results, [f for f in flavours], everything=True)
    small = [f.get("small") for f in flavours]
    if all(small):
        server = small[0]["server"]  # type: ignore[index]
        rows.append(
            (
                f"— the same {server['media_rows']:,} rows, but only {server['open_requests']} open requests "
                "and nothing else in flight:",
                *("" for _ in range(2 * len(flavours))),
            )
        )
        rows += _side_by_side(results, small, everything=False)  # type: ignore[arg-type]
    return rows


def _side_by_side(results: dict[str, Any], parts: list[dict[str, Any]], *, everything: bool) -> Rows:
    repeat = results["config"]["repeat"]
    tracked = parts[0]["polling"]["tracked"]
    changed = parts[0]["polling"]["changed"]["changed_requests"]
    labels: dict[tuple[str, str], tuple[str, int]] = {
        ("lookups", "cold"): (f"cold lookup (the calls of one, times: median of {repeat} fresh hosts)", 1),
        ("lookups", "learning_check"): (
            "index check after an admin's approval on the server (learns the stamps)",
            1,
        ),
        ("lookups", "warm_same_page"): (f"warm lookup, same page (per lookup, median of {repeat})", repeat),
        ("lookups", "warm_other_page"): (f"warm lookup, other page (per lookup, median of {repeat})", repeat),
        ("lookups", "warm_index_check_due"): (
            f"warm lookup, index check due (per lookup, median of {repeat})",
            repeat,
        ),
        ("polling", "first_cycle"): (f"poll {tracked} tracked, first cycle (fresh host)", 1),
        ("polling", "learning_check"): (
            "poll host: index check after an admin's approval (learns the stamps)",
            1,
        ),
        ("polling", "nothing_changed"): (f"poll {tracked} tracked, nothing changed", 1),
        ("polling", "changed"): (f"poll {tracked} tracked, {changed} approved meanwhile", 1),
        ("polling", "nothing_changed_after"): (f"poll {tracked} tracked, nothing changed again", 1),
    }
    shown = (
        list(labels)
        if everything
        else [
            ("lookups", "cold"),
            ("lookups", "warm_index_check_due"),
            ("polling", "nothing_changed"),
            ("polling", "changed"),
        ]
    )
    rows: Rows = []
    for scenario, key in shown:
        label, runs = labels[(scenario, key)]
        row = [label]
        for part in parts:
            figures = part[scenario][key]
            note = f"; {figures['transitions_seen']} transitions seen" if key == "changed" else ""
            row += [_calls(figures, runs) + note, _time(figures)]
        rows.append(tuple(row))
    sizes = ["server: media rows, pending / processing rows, open requests"]
    for part in parts:
        server = part["server"]
        sizes += [
            f"{server['media_rows']:,}; {server['pending_rows']:,} / {server['processing_rows']:,}; "
            f"{server['open_requests']:,}",
            f"index learned: {part['lookups']['learning_check']['stamps']}",
        ]
    rows.append(tuple(sizes))
    return rows


def soak_columns(results: dict[str, Any]) -> list[str]:
    columns = ["change on the server", "tracked", "target"]
    columns += [f"{f['label']}: until the card showed it" for f in results["flavours"] if f.get("soak")]
    return columns


def soak_rows(results: dict[str, Any]) -> Rows:
    """Each change of the long-running window (same kinds, same order on every flavour), then
    the spread and the window's cost per flavour."""
    windows = [f["soak"] for f in results["flavours"] if f.get("soak")]
    if not windows:
        return []
    rows: Rows = []
    for n, change in enumerate(windows[0]["changes"]):
        target = "outside the promise" if change["target_s"] is None else _s(change["target_s"])
        row = [change["change"], "yes" if change["tracked"] else "no", target]
        for window in windows:
            c = window["changes"][n]
            shown = "not seen" if c["latency_s"] is None else _s(c["latency_s"])
            verdict = "" if c["met"] is None else (" ✓" if c["met"] else " ✗")
            held = "" if c["held"] else " (did not hold)"
            row.append(f"{shown}{verdict}: {c['card_before']} → {c['card_after']}{held}")
        rows.append(tuple(row))
    for key, label in (
        ("promised", "p50 / p95, all ten"),
        ("status_changes", "p50 / p95, status changes"),
        ("progress_changes", "p50 / p95, download progress"),
    ):
        row = [label, "", ""]
        for window in windows:
            spread = window[key]
            unseen = spread["changes"] - spread["seen"]
            row.append(
                f"{_s(spread['p50_s'])} / {_s(spread['p95_s'])}" + (f" ({unseen} not seen)" if unseen else "")
            )
        rows.append(tuple(row))
    cost = ["the host meanwhile", "", ""]
    for window in windows:
        per = {k.split(" ", 1)[1]: v for k, v in window["calls_by_endpoint"].items()}
        cost.append(
            f"{window['window_s']:g} s: {window['lookups']} lookups (p50 {_ms(window['lookup_p50_ms'])}, "
            f"max {_ms(window['lookup_max_ms'])}), {window['index_checks']} index checks, "
            f"{window['polls']} polls; {window['calls']} calls ({window['tmdb_calls']} TMDB, "
            f"{window['calls_per_minute']:g}/min): "
            + ", ".join(f"{k}×{v}" for k, v in per.items())
            + f"; client CPU {window['client_cpu_ms_per_minute']:,.0f} ms/min"
            + (f"; TMDB-backed: {', '.join(window['tmdb_paths'])}" if window.get("tmdb_paths") else "")
        )
    rows.append(tuple(cost))
    return rows


def _tables(results: dict[str, Any]) -> list[tuple[str, list[str], Rows]]:
    if not results.get("flavours"):  # --push-only
        return push_report.tables(results.get("push"))
    config = results["config"]
    primary = _primary(results)
    latency = f"latency TMDB {config['tmdb_latency_ms']:g} ms, DB {config['db_latency_ms']:g} ms"
    tables = [
        (
            f"aperture-plugins at scale on {primary['label']} — {latency}",
            ["scenario", "server calls", "wall", "client CPU", "notes"],
            table_rows(results),
        ),
        ("frozen and moving updatedAt, side by side", flavour_columns(results), flavour_rows(results)),
    ]
    windows = soak_rows(results)
    if windows:
        first = next(f["soak"] for f in results["flavours"] if f.get("soak"))
        tables.append(
            (
                f"a host kept alive: lookups every {first['cadence_s']:g} s, polls every "
                f"{first['poll_interval_s']:g} s, the server changes titles (real time)",
                soak_columns(results),
                windows,
            )
        )
    return tables + push_report.tables(results.get("push"))


def print_report(results: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(width=max(140, Console().width))
    for title, columns, rows in _tables(results):
        table = Table(title=title)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    checks = Table(title="targets (issues 7, 12 and 14)")
    for column in ("target", "wanted", "measured", "met"):
        checks.add_column(column, overflow="fold")
    for row in results["targets"]:
        checks.add_row(
            row["name"], row["target"], row["measured"], "[green]yes[/]" if row["met"] else "[red]NO[/]"
        )
    console.print(checks)
    m = results["machine"]
    duration = results.get("duration_s")
    load = (
        f"; load average {m.get('load_average_at_start')} at the start, "
        f"{m.get('load_average_at_end')} at the end"
    )
    console.print(
        f"{m['cpu']}, {m['cores']} cores, Python {m['python']}{load}"
        + (f"; the whole run took {duration:g} s" if duration is not None else "")
    )


def markdown(results: dict[str, Any]) -> str:
    """The tables and the targets as Markdown (for the README)."""
    lines: list[str] = []
    for _, columns, rows in _tables(results):
        lines += ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
        lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
        lines.append("")
    lines += ["| target | wanted | measured | met |", "| --- | --- | --- | --- |"]
    lines += [
        f"| {r['name']} | {r['target']} | {r['measured']} | {'yes' if r['met'] else '**no**'} |"
        for r in results["targets"]
    ]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|") if text else "–"


def write_json(results: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
