"""``python -m benchmarks``: run every scenario, print the tables, write ``benchmarks/results.json``.

Sizes and latencies come from the options, whose defaults can be set in the environment
(``BENCH_ROWS``, ``BENCH_TMDB_LATENCY_MS``, ``BENCH_DB_LATENCY_MS``, …, see ``--help``).
``--quick`` runs small sizes and a short long-running window for a fast check (its figures are
not the ones to publish).

Every flavour of ``--flavours`` (default: Seerr 3.1.0, whose ``updatedAt`` is frozen, and Seerr
3.2.0, where it moves; :mod:`benchmarks.flavours`) gets its own server, seeded alike, and runs
the lookups, the polling cycles and the long-running window (:mod:`benchmarks.soak`), then the
lookups and polling cycles again on a second server with the same rows but only
``--small-requests`` open requests and nothing else in flight (the in-flight sets the frozen
checks read are then a home server's size). The first flavour also runs what does not depend on
the stamps (the naive baseline and the concurrent users). The index memory is measured in
process (:func:`benchmarks.scenarios.index_memory`). Then the push benchmark (issue 14,
:mod:`benchmarks.push`) on every flavour, on servers of its own: transition → SSE event, and
lookups under push load (``--push-*`` options; ``--push-only`` runs it alone, ``--push-transitions
0`` skips it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from . import push, report, scenarios, soak
from .flavours import DEFAULT_FLAVOURS, Flavour, parse_flavours
from .server import RemoteFake, ServerSpec
from .world import MEDIA_PENDING, MEDIA_PROCESSING, Latency, Reserve, World, seed

HERE = Path(__file__).resolve().parent


def _env(name: str, default: Any) -> Any:
    value = os.environ.get(f"BENCH_{name}")
    return type(default)(value) if value not in (None, "") else default


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=_env("ROWS", 10_000), help="media rows on the server")
    parser.add_argument(
        "--memory-rows",
        default=_env("MEMORY_ROWS", "10000,100000"),
        help="index sizes whose memory is measured (comma-separated)",
    )
    parser.add_argument("--page-size", type=int, default=_env("PAGE_SIZE", 200), help="cards per page")
    parser.add_argument("--users", type=int, default=_env("USERS", 50), help="concurrent users")
    parser.add_argument("--tracked", type=int, default=_env("TRACKED", 1000), help="tracked requests")
    parser.add_argument(
        "--untracked",
        type=int,
        default=_env("UNTRACKED", 100),
        help="open requests filed on the server's own site, not tracked by Aperture",
    )
    parser.add_argument("--changed", type=int, default=_env("CHANGED", 10), help="requests changed")
    parser.add_argument(
        "--small-requests",
        type=int,
        default=_env("SMALL_REQUESTS", 20),
        help="the lookups and polling again with only this many open requests (half tracked) and "
        "no other title in flight, as on a home server (0 = skip)",
    )
    parser.add_argument(
        "--flavours",
        default=_env("FLAVOURS", DEFAULT_FLAVOURS),
        help="servers: product[@version][:frozen|:moving], comma-separated (the first also runs the "
        "naive baseline and the concurrent users)",
    )
    parser.add_argument(
        "--soak-seconds",
        type=float,
        default=_env("SOAK_SECONDS", 65.0),
        help="the long-running window per flavour, real seconds (0 = skip it)",
    )
    parser.add_argument(
        "--cadence", type=float, default=_env("CADENCE", 1.0), help="seconds between a front end's lookups"
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=_env("POLL_INTERVAL", 60.0),
        help="seconds between polling cycles in the long-running window",
    )
    parser.add_argument(
        "--change-spacing",
        type=float,
        default=_env("CHANGE_SPACING", 2.1),
        help="seconds between the server's changes in the long-running window",
    )
    parser.add_argument(
        "--tmdb-latency-ms", type=float, default=_env("TMDB_LATENCY_MS", 50.0), help="TMDB-backed endpoints"
    )
    parser.add_argument(
        "--db-latency-ms", type=float, default=_env("DB_LATENCY_MS", 2.0), help="database-only endpoints"
    )
    parser.add_argument(
        "--concurrency", type=int, default=_env("CONCURRENCY", 5), help="the naive client's parallel calls"
    )
    parser.add_argument(
        "--tmdb-rps",
        type=float,
        default=_env("TMDB_RPS", 50.0),
        help="the server's TMDB throttle for the second naive baseline (0 = skip that baseline)",
    )
    parser.add_argument("--repeat", type=int, default=_env("REPEAT", 5), help="runs of each warm lookup")
    parser.add_argument(
        "--push-transitions",
        type=int,
        default=_env("PUSH_TRANSITIONS", 200),
        help="push benchmark (issue 14): transitions timed to the SSE event, per flavour (0 = skip push)",
    )
    parser.add_argument(
        "--push-rate", type=float, default=_env("PUSH_RATE", 1000.0), help="pushes per second of the load"
    )
    parser.add_argument(
        "--push-seconds",
        type=float,
        default=_env("PUSH_SECONDS", 15.0),
        help="seconds of lookups idle, then as long under push load",
    )
    parser.add_argument(
        "--push-spacing", type=float, default=_env("PUSH_SPACING", 0.1), help="seconds between transitions"
    )
    parser.add_argument(
        "--push-cadence", type=float, default=_env("PUSH_CADENCE", 0.1), help="seconds between the lookups"
    )
    parser.add_argument("--push-only", action="store_true", help="run the push benchmark only")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a fast check")
    parser.add_argument("--output", type=Path, default=HERE / "results.json", help="where to write JSON")
    parser.add_argument("--markdown", action="store_true", help="also print the tables as Markdown")
    args = parser.parse_args(argv)
    args.progress_interval = None  # the provider's default (60 s)
    if args.quick:
        args.rows = min(args.rows, 2000)
        args.memory_rows = "2000,10000"
        args.users = min(args.users, 10)
        args.tracked = min(args.tracked, 200)
        args.repeat = min(args.repeat, 3)
        args.soak_seconds = min(args.soak_seconds, 10.0)
        args.change_spacing = min(args.change_spacing, 0.3)
        args.poll_interval = min(args.poll_interval, 5.0)
        args.progress_interval = 5.0  # so a moving server's progress shows within the short window
        args.push_transitions = min(args.push_transitions, 50)
        args.push_seconds = min(args.push_seconds, 3.0)
    try:
        args.flavour_list = parse_flavours(args.flavours)
    except ValueError as error:
        parser.error(str(error))
    return args


async def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    latency = Latency(args.tmdb_latency_ms / 1000, args.db_latency_ms / 1000)
    flavours: list[Flavour] = args.flavour_list
    results: dict[str, Any] = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": report.machine(),
        "config": {
            "rows": args.rows,
            "page_size": args.page_size,
            "users": args.users,
            "tracked": args.tracked,
            "untracked": args.untracked,
            "small_requests": args.small_requests,
            "changed": args.changed,
            "tmdb_latency_ms": args.tmdb_latency_ms,
            "db_latency_ms": args.db_latency_ms,
            "naive_concurrency": args.concurrency,
            "tmdb_rps": args.tmdb_rps,
            "repeat": args.repeat,
            "quick": args.quick,
            "soak_seconds": args.soak_seconds,
            "cadence_s": args.cadence,
            "poll_interval_s": args.poll_interval,
            "change_spacing_s": args.change_spacing,
            "progress_interval_s": args.progress_interval,
            "server": "FakeSeerr in a child process, real HTTP on 127.0.0.1",
        },
        "flavours": [],
    }
    if args.push_only:
        results["push"] = _push(args, latency, flavours, console)
        results["targets"] = report.targets(results)
        return results
    for n, flavour in enumerate(flavours):
        spec, world = _server(args, latency, flavour, args.tracked + args.untracked, settle=False)
        figures = await _flavour(args, console, spec, world, first=n == 0, results=results)
        if args.small_requests > 0:
            spec, world = _server(args, latency, flavour, args.small_requests, settle=True)
            figures["small"] = await _small(args, console, spec, world)
        results["flavours"].append(figures)
    results["memory"] = {}
    for size in (int(n) for n in str(args.memory_rows).split(",") if n.strip()):
        results["memory"][str(size)] = await scenarios.index_memory(size)
        console.log(f"memory at {size:,} rows done")
    if args.push_transitions > 0:
        results["push"] = _push(args, latency, flavours, console)
    results["targets"] = report.targets(results)
    return results


def _push(
    args: argparse.Namespace, latency: Latency, flavours: list[Flavour], console: Console
) -> dict[str, Any]:
    """The push benchmark (:mod:`benchmarks.push`) on every flavour, on servers of its own."""
    config = push.PushConfig(
        rows=args.rows,
        users=max(args.users, 2),
        tracked=args.tracked,
        untracked=args.untracked,
        page_size=args.page_size,
        latency=latency,
        transitions=max(args.push_transitions, 1),
        spacing=args.push_spacing,
        rate=args.push_rate,
        load_seconds=args.push_seconds,
        cadence=args.push_cadence,
    )
    return push.run(flavours, config, log=console.log)


def _server(
    args: argparse.Namespace, latency: Latency, flavour: Flavour, requests: int, *, settle: bool
) -> tuple[ServerSpec, World]:
    """The server's spec and this process's copy of its world (:func:`seed` is deterministic)."""
    spec = ServerSpec(
        rows=args.rows,
        users=max(args.users, 2),
        requests=requests,
        unseen=max(2000, args.page_size * 4),
        latency=latency,
        flavour=flavour,
        settle=settle,
    )
    world = seed(
        spec.rows,
        latency=latency,
        users=spec.users,
        requests=spec.requests,
        unseen=spec.unseen,
        flavour=flavour.product,
        version=flavour.version,
        frozen_updated_at=flavour.frozen_updated_at,
        settle=settle,
    )
    return spec, world


def _describe(spec: ServerSpec, world: World) -> dict[str, Any]:
    statuses = [media.status for media in world.fake.media.values()]
    return {
        **spec.flavour.describe(),
        "media_rows": len(statuses),
        "pending_rows": statuses.count(MEDIA_PENDING),
        "processing_rows": statuses.count(MEDIA_PROCESSING),
        "open_requests": len(world.requests),
    }


async def _small(
    args: argparse.Namespace, console: Console, spec: ServerSpec, world: World
) -> dict[str, Any]:
    """The lookups and polling cycles again on a server whose in-flight sets hold only its few
    requested titles (half of them tracked), the size of a home server's."""
    tracked = spec.requests // 2
    reserve = Reserve(world, tracked)
    with RemoteFake(spec) as server:
        figures = {
            "server": _describe(spec, world),
            "lookups": await scenarios.lookups(server, world, reserve, args.page_size, args.repeat),
            "polling": await scenarios.polling(server, world, reserve, tracked, max(1, tracked // 5)),
        }
    console.log(f"{spec.flavour.label}: {spec.requests} open requests only: done")
    return figures


async def _flavour(
    args: argparse.Namespace,
    console: Console,
    spec: ServerSpec,
    world: World,
    *,
    first: bool,
    results: dict[str, Any],
) -> dict[str, Any]:
    """Every scenario against one server flavour (the first also fills the flavour-free ones)."""
    flavour = spec.flavour
    reserve = Reserve(world, args.tracked)
    figures: dict[str, Any] = {"key": flavour.key, "label": flavour.label, "server": _describe(spec, world)}
    with RemoteFake(spec) as server:
        console.log(f"{flavour.label}: {args.rows:,} media rows at {server.url}")
        figures["lookups"] = await scenarios.lookups(server, world, reserve, args.page_size, args.repeat)
        console.log(f"{flavour.label}: lookups done")
        figures["polling"] = await scenarios.polling(server, world, reserve, args.tracked, args.changed)
        console.log(f"{flavour.label}: polling done")
        if first:
            results["naive"] = await scenarios.naive(server, world, args.page_size, args.concurrency)
            if args.tmdb_rps > 0:
                results["naive_throttled"] = await scenarios.naive(
                    server, world, args.page_size, args.concurrency, args.tmdb_rps
                )
            console.log("naive baseline done")
            results["concurrent_users"] = await scenarios.concurrent_users(
                server, world, args.users, args.page_size
            )
            console.log("concurrent users done")
        if args.soak_seconds > 0:
            figures["soak"] = await soak.soak(
                server,
                world,
                reserve,
                tracked=args.tracked,
                page_size=args.page_size,
                duration=args.soak_seconds,
                cadence=args.cadence,
                poll_interval=args.poll_interval,
                first_change_at=1.0 if not args.quick else 0.5,
                spacing=args.change_spacing,
                progress_interval=args.progress_interval,
                quiet_gap=0.0 if args.quick else None,
            )
            console.log(f"{flavour.label}: long-running window done ({args.soak_seconds:g} s)")
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=max(140, Console().width))
    started = time.perf_counter()
    results = asyncio.run(run(args, console))
    results["duration_s"] = round(time.perf_counter() - started, 1)
    results["machine"]["load_average_at_end"] = report.load_average()
    report.write_json(results, args.output)
    report.print_report(results, console)
    if args.markdown:
        console.print(report.markdown(results), markup=False, highlight=False, soft_wrap=True)
    console.print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
