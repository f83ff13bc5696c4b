"""``python -m benchmarks``: run every scenario, print the table, write ``benchmarks/results.json``.

Sizes and latencies come from the options, whose defaults can be set in the environment
(``BENCH_ROWS``, ``BENCH_TMDB_LATENCY_MS``, ``BENCH_DB_LATENCY_MS``, …, see ``--help``).
``--quick`` runs small sizes for a fast check (its figures are not the ones to publish).
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

from . import report, scenarios
from .server import RemoteFake, ServerSpec
from .world import Latency, seed

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
    parser.add_argument("--changed", type=int, default=_env("CHANGED", 10), help="requests changed")
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
    parser.add_argument("--quick", action="store_true", help="small sizes, for a fast check")
    parser.add_argument("--output", type=Path, default=HERE / "results.json", help="where to write JSON")
    parser.add_argument("--markdown", action="store_true", help="also print the tables as Markdown")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows = min(args.rows, 2000)
        args.memory_rows = "2000,10000"
        args.users = min(args.users, 10)
        args.tracked = min(args.tracked, 200)
        args.repeat = min(args.repeat, 3)
    return args


async def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    latency = Latency(args.tmdb_latency_ms / 1000, args.db_latency_ms / 1000)
    spec = ServerSpec(
        rows=args.rows,
        users=max(args.users, 2),
        requests=args.tracked,
        unseen=max(2000, args.page_size * 4),
        latency=latency,
    )
    world = seed(spec.rows, latency=latency, users=spec.users, requests=spec.requests, unseen=spec.unseen)
    results: dict[str, Any] = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": report.machine(),
        "config": {
            "rows": args.rows,
            "page_size": args.page_size,
            "users": args.users,
            "tracked": args.tracked,
            "changed": args.changed,
            "tmdb_latency_ms": args.tmdb_latency_ms,
            "db_latency_ms": args.db_latency_ms,
            "naive_concurrency": args.concurrency,
            "tmdb_rps": args.tmdb_rps,
            "repeat": args.repeat,
            "quick": args.quick,
            "server": "FakeSeerr('jellyseerr') in a child process, real HTTP on 127.0.0.1",
        },
    }
    with RemoteFake(spec) as server:
        console.log(f"fake server with {args.rows:,} media rows at {server.url}")
        results["lookups"] = await scenarios.lookups(server, world, args.page_size, args.repeat)
        console.log("lookups done")
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
        results["polling"] = await scenarios.polling(server, world, args.tracked, args.changed)
        console.log("polling done")
    results["memory"] = {}
    for size in (int(n) for n in str(args.memory_rows).split(",") if n.strip()):
        results["memory"][str(size)] = await scenarios.index_memory(size)
        console.log(f"memory at {size:,} rows done")
    results["targets"] = report.targets(results)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=max(140, Console().width))
    started = time.perf_counter()
    results = asyncio.run(run(args, console))
    results["duration_s"] = round(time.perf_counter() - started, 1)
    report.write_json(results, args.output)
    report.print_report(results, console)
    if args.markdown:
        console.print(report.markdown(results), markup=False, highlight=False, soft_wrap=True)
    console.print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
