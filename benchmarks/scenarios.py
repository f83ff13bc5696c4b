"""The measurements of issues 7 and 12, one function per scenario; each returns a dict of plain figures.

Every scenario that talks HTTP builds a fresh :class:`~aperture_plugins.PluginHost` (so a fresh
provider runtime: empty index, empty caches) against the :class:`~benchmarks.server.RemoteFake`,
and counts what the *server* saw between two marks. Wall time is ``time.perf_counter``; client
CPU time is ``time.process_time`` of this process, which does not include the server (another
process). Timings are medians over ``repeat`` runs where a scenario can be repeated without
changing what it measures: the cold lookup (each run on a fresh host; calls shown are one run's)
and the warm lookups; the naive baseline, polling and concurrent scenarios run once.

A fresh index checks as if ``updatedAt`` were frozen until a row it already knew comes back
changed (``aperture_overseerr.stamps``). So before the warm lookups and the polling cycles are
measured, :func:`learn_stamps` shows it one: the server's clock moves two seconds on and an admin
approves a request filed on the server's web site; the index check that follows reads the row
again and learns whether the server moved its ``updatedAt`` (it checks that the index learned
what the server does, frozen or moving, and stops the run otherwise).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
import tracemalloc
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from aperture_hookspecs import ApertureUser, MediaRef, RequestState
from aperture_overseerr.client import SeerrClient
from aperture_overseerr.media_index import MediaIndex

from .server import Call, RemoteFake
from .world import Latency, Reserve, World, runtime_of, seed

#: Endpoints whose answers belong to one server user (cannot be shared between users).
PER_USER = ("/user/{id}/quota", "/user/{id}/requests")


def endpoint(call: Call) -> str:
    """``GET /user/{id}/quota``: the call's method and path with numeric segments generalised."""
    parts = ["{id}" if part.isdigit() else part for part in call.path.split("/")]
    return f"{call.method} {'/'.join(parts)}"


@dataclass
class Measured:
    """What one measured block did: the server's calls, wall time and client CPU time."""

    calls: list[Call]
    wall: float
    cpu: float
    result: Any = None

    def figures(self, cards: int | None = None) -> dict[str, Any]:
        by_endpoint = Counter(endpoint(call) for call in self.calls)
        figures: dict[str, Any] = {
            "calls": len(self.calls),
            "tmdb_calls": sum(call.kind == "tmdb" for call in self.calls),
            "calls_by_endpoint": dict(sorted(by_endpoint.items())),
            "wall_ms": round(self.wall * 1000, 3),
            "client_cpu_ms": round(self.cpu * 1000, 3),
        }
        if cards:
            figures["cards"] = cards
            figures["per_card_wall_us"] = round(self.wall / cards * 1e6, 2)
            figures["per_card_cpu_us"] = round(self.cpu / cards * 1e6, 2)
        return figures


async def measure(server: RemoteFake, action: Callable[[], Awaitable[Any]]) -> Measured:
    """Run ``action`` once and collect what the server saw meanwhile.

    What is alive before the run (this harness's own seeded world: 10,000+ titles it picks pages
    from, and earlier hosts' data) is moved out of the garbage collector's reach for the run
    (``gc.freeze``). Collections still run and are counted, but a full one walks what the run
    allocated rather than the harness's heap, which would add 40-50 ms to every second cold run
    at random. (In Aperture, a full collection's cost depends on Aperture's own heap.)
    """
    mark = server.mark()
    gc.collect()
    gc.freeze()
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        result = await action()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        gc.unfreeze()
    return Measured(server.calls_since(mark), wall, cpu, result)


def _median(runs: Sequence[Measured]) -> Measured:
    """All runs' calls (for checking), the median wall and CPU time."""
    calls = [call for run in runs for call in run.calls]
    return Measured(
        calls,
        statistics.median(r.wall for r in runs),
        statistics.median(r.cpu for r in runs),
        runs[-1].result,
    )


async def learn_stamps(server: RemoteFake, host: Any, reserve: Reserve) -> dict[str, Any]:
    """Show the host's index how the server treats ``updatedAt`` (module docstring).

    Two seconds of server time after the index read the table, an admin approves a pending
    request nobody tracks; one index check reads the changed rows again. Returns that check's
    figures and what the index concluded; raises when it is not what the server does."""
    runtime = runtime_of(host)
    request = reserve.request(tracked=False, state=RequestState.PENDING, media_type="movie")
    server.advance(2.0)
    server.change(("approve", int(request.request_id)))
    check = await measure(server, lambda: runtime.refresh_index(force=True))
    stamps = runtime.index.stamps
    if not stamps.known or stamps.frozen != server.spec.flavour.frozen:
        raise RuntimeError(
            f"the index did not learn how {server.spec.flavour.label} treats updatedAt: {stamps.describe()}"
        )
    return {**check.figures(), "request_id": request.request_id, "stamps": stamps.describe()}


# -- lookups ----------------------------------------------------------------------------------


async def lookups(
    server: RemoteFake, world: World, reserve: Reserve, page_size: int, repeat: int
) -> dict[str, Any]:
    """Cold page, the index learns the stamps, then warm same page, warm other page, and warm
    with the index check due (nothing changed on the server since the last check)."""
    user = world.users[0]
    first = world.page(1, page_size)
    colds = []
    for _ in range(repeat - 1):  # fresh providers; the last one goes on to the warm lookups
        async with server.host() as host:
            colds.append(await measure(server, lambda: host.lookup(first, user)))
    async with server.host() as host:
        colds.append(await measure(server, lambda: host.lookup(first, user)))
        _check_answers(colds[-1].result, first)
        learned = await learn_stamps(server, host, reserve)
        cold = Measured(
            colds[-1].calls,
            statistics.median(r.wall for r in colds),
            statistics.median(r.cpu for r in colds),
            colds[-1].result,
        )

        def lookup(page: list[MediaRef]) -> Callable[[], Awaitable[Any]]:
            return lambda: host.lookup(page, user)

        same = _median([await measure(server, lookup(first)) for _ in range(repeat)])
        other_pages = [world.page(10 + n, page_size) for n in range(repeat)]
        other = _median([await measure(server, lookup(p)) for p in other_pages])
        runtime = runtime_of(host)
        due_runs = []
        for n in range(repeat):
            runtime.index.mark_stale()  # as if max_staleness had passed since the last check
            due_runs.append(await measure(server, lookup(world.page(100 + n, page_size))))
        due = _median(due_runs)
        states = Counter(answer.state.value for answer in cold.result)
    result: dict[str, Any] = {
        "cold": cold.figures(page_size),
        "warm_same_page": same.figures(page_size),
        "warm_other_page": other.figures(page_size),
        "warm_index_check_due": due.figures(page_size),
        "page_states": dict(sorted(states.items())),
        "index_rows": len(runtime.index),
        "learning_check": learned,
    }
    for key in ("warm_same_page", "warm_other_page", "warm_index_check_due"):
        result[key]["calls_per_lookup"] = round(result[key]["calls"] / repeat, 2)
        result[key]["tmdb_calls_per_lookup"] = round(result[key]["tmdb_calls"] / repeat, 2)
    return result


def _check_answers(answers: Sequence[Any], page: Sequence[MediaRef]) -> None:
    if len(answers) != len(page) or any(a.state is RequestState.NOT_AVAILABLE for a in answers):
        reasons = {a.admin_reason or a.reason for a in answers if a.state is RequestState.NOT_AVAILABLE}
        raise RuntimeError(f"the provider did not answer the page: {sorted(map(str, reasons))[:3]}")


async def naive(
    server: RemoteFake, world: World, page_size: int, concurrency: int, tmdb_rps: float = 0.0
) -> dict[str, Any]:
    """Aperture's own client: one ``GET /movie|tv/{id}`` per card, ``concurrency`` at a time (no
    pause between batches); with ``tmdb_rps`` the server throttles TMDB calls as a real one does."""
    page = world.page(1, page_size)
    server.set_tmdb_rps(tmdb_rps)
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(
        base_url=f"{server.url}/api/v1",
        headers={"X-Api-Key": server.api_key},
        limits=httpx.Limits(max_connections=concurrency),
    ) as client:

        async def one(item: MediaRef) -> int:
            async with limit:
                response = await client.get(f"/{item.media_type.value}/{item.tmdb_id}")
                response.raise_for_status()
                info = response.json().get("mediaInfo") or {}
                return int(info.get("status") or 1)

        async def page_lookup() -> list[int]:
            return list(await asyncio.gather(*(one(item) for item in page)))

        try:
            run = await measure(server, page_lookup)
        finally:
            server.set_tmdb_rps(0.0)
    figures = run.figures(page_size)
    figures["concurrency"] = concurrency
    figures["tmdb_rps"] = tmdb_rps
    return figures


# -- polling ----------------------------------------------------------------------------------


async def polling(
    server: RemoteFake, world: World, reserve: Reserve, tracked: int, changed: int
) -> dict[str, Any]:
    """The first cycle for ``tracked`` requests, the index learns the stamps, then a cycle with
    nothing changed, one after ``changed`` tracked requests were approved, and one more."""
    requests = world.requests[:tracked]
    if len(requests) < tracked:
        raise RuntimeError(f"the world has only {len(requests)} open requests; seed more media rows")
    async with server.host() as host:
        first = await measure(server, lambda: host.poll(requests))  # learns counts, reads progress
        learned = await learn_stamps(server, host, reserve)
        quiet = await measure(server, lambda: host.poll(requests))
        pending = reserve.first_pending_tracked(changed)
        server.approve([int(t.request_id) for t in pending])
        moved = await measure(server, lambda: host.poll(requests))
        after = await measure(server, lambda: host.poll(requests))
    changes = [c for c in moved.result.changes] if moved.result is not None else []
    return {
        "tracked": tracked,
        "first_cycle": first.figures(),
        "learning_check": learned,
        "nothing_changed": quiet.figures(),
        "changed": {**moved.figures(), "changed_requests": len(pending), "transitions_seen": len(changes)},
        "nothing_changed_after": after.figures(),
        "updates_nothing_changed": len(quiet.result.changes) if quiet.result is not None else None,
    }


# -- memory -----------------------------------------------------------------------------------


async def index_memory(rows: int) -> dict[str, Any]:
    """Bytes the media index keeps for ``rows`` rows (tracemalloc, after a rebuild and a GC).

    The fake runs in this process through its in-memory transport (no latency); it is built, and
    has served the whole table once, before tracing starts, and what it allocates while traced is
    left out of "kept", so only what the index keeps is counted. "peak" is the process's traced
    peak during the rebuild, the fake's page buffers included.
    """
    world = seed(rows, latency=Latency(0.0, 0.0), users=1, requests=0, unseen=0)
    client = SeerrClient("http://fake.bench", world.fake.api_key, transport=world.fake.transport())
    try:
        await MediaIndex().refresh(client)  # the fake's caches and the client's pool, untraced
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        index = MediaIndex()
        refresh = await index.refresh(client)
        gc.collect()
        _, peak = tracemalloc.get_traced_memory()
        # what is still allocated, less what the fake itself allocated (its date cache churns)
        the_fake = tracemalloc.Filter(False, "*/aperture_overseerr/testing/*")
        kept = sum(
            stat.size for stat in tracemalloc.take_snapshot().filter_traces([the_fake]).statistics("filename")
        )
        tracemalloc.stop()
    finally:
        await client.aclose()
    return {
        "rows": len(index),
        "calls": refresh.calls,
        "kept_mb": round(kept / 1e6, 2),
        "peak_mb": round((peak - base) / 1e6, 2),
        "bytes_per_row": round(kept / max(1, len(index))),
    }


# -- concurrent users -------------------------------------------------------------------------


async def _concurrent(server: RemoteFake, pages: list[list[MediaRef]], users: list[ApertureUser]):
    """Each user looks up their page at once on a fresh host; latencies per lookup."""
    async with server.host() as host:
        latencies: list[float] = []

        async def one(page: list[MediaRef], user: ApertureUser) -> None:
            started = time.perf_counter()
            answers = await host.lookup(page, user)
            latencies.append(time.perf_counter() - started)
            _check_answers(answers, page)

        async def everyone() -> None:
            await asyncio.gather(*(one(p, u) for p, u in zip(pages, users, strict=True)))

        cold = await measure(server, everyone)
        cold_latencies = sorted(latencies)
        latencies.clear()
        warm = await measure(server, everyone)
        warm_latencies = sorted(latencies)
    return (cold, cold_latencies), (warm, warm_latencies)


def _latency_figures(run: Measured, latencies: list[float]) -> dict[str, Any]:
    figures = run.figures()
    figures["lookups"] = len(latencies)
    figures["throughput_per_s"] = round(len(latencies) / run.wall, 1)
    figures["p50_ms"] = round(statistics.median(latencies) * 1000, 2)
    figures["p95_ms"] = round(_percentile(latencies, 0.95) * 1000, 2)
    figures["shared_calls"] = sum(1 for c in run.calls if not endpoint(c).endswith(PER_USER))
    figures["per_user_calls"] = figures["calls"] - figures["shared_calls"]
    return figures


def _percentile(ordered: list[float], fraction: float) -> float:
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


async def concurrent_users(server: RemoteFake, world: World, users: int, page_size: int) -> dict[str, Any]:
    """1 user, ``users`` distinct users, and ``users`` lookups by one user, each on a fresh host."""
    people = world.users[:users]
    pages = [world.page(200 + n, page_size) for n in range(users)]
    (one_cold, one_lat), (one_warm, one_warm_lat) = await _concurrent(server, pages[:1], people[:1])
    (many_cold, many_lat), (many_warm, many_warm_lat) = await _concurrent(server, pages, people)
    (same_cold, same_lat), (same_warm, same_warm_lat) = await _concurrent(server, pages, [people[0]] * users)
    return {
        "users": users,
        "one_user_cold": _latency_figures(one_cold, one_lat),
        "distinct_users_cold": _latency_figures(many_cold, many_lat),
        "distinct_users_warm": _latency_figures(many_warm, many_warm_lat),
        "one_user_many_lookups_cold": _latency_figures(same_cold, same_lat),
        "one_user_many_lookups_warm": _latency_figures(same_warm, same_warm_lat),
        "one_user_warm": _latency_figures(one_warm, one_warm_lat),
    }
