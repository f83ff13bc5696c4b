"""A host kept alive while the server changes titles on its own: how long until each card shows it.

Issue 12 B promises that a host kept alive sees, for any title (tracked or not, requested
through Aperture or on the server's own site), an approval, a decline, an arrival in the
library, … within one index check (``max_staleness``, 5 s), and download progress within the
progress interval (60 s), on servers whose ``updatedAt`` never moves as on those where it moves.
:func:`soak` measures that in real time, as Aperture would live it:

* **warm-up** (not measured): one provider looks up its Discovery page (the index is built),
  polls the tracked requests once (they are read), and learns how the server treats
  ``updatedAt`` (:func:`~benchmarks.scenarios.learn_stamps`);
* **the window** (``duration`` seconds): the page is looked up every ``cadence`` seconds on a
  fixed schedule, as a front end showing it would; the tracked requests are polled every
  ``poll_interval`` seconds (Aperture's minute: the server refreshes download progress once a
  minute); and at fixed offsets the server changes ten titles on the page the way its web site,
  an admin or a library scan would (:func:`plan`), half of them titles Aperture does not track:
  eight status changes ``spacing`` apart (approvals, declines, arrivals, a new request), then,
  after a quiet gap, two downloads (:func:`schedule` says why).

For each change, the latency is from the moment the server made it (``time.monotonic()`` in
the server's process, the clock this process reads too) to the end of the first lookup whose
card shows it; a change is also checked to stay shown in every later lookup. One more change is
outside the promise and reported apart (a library scan bringing back a title the server knew as
unknown, without any request: where stamps are frozen nothing cheap shows it, and the next
15-minute rebuild does). The window's calls are what the server saw, its CPU the client's.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aperture_hookspecs import Availability, MediaRef, RequestState, TrackedRequest

from .scenarios import _percentile, endpoint, learn_stamps
from .server import RemoteFake
from .world import Reserve, World, runtime_of

Check = Callable[[Availability], bool]


@dataclass
class Planned:
    """One change the server will make, and what its card must show afterwards."""

    label: str
    change: tuple[Any, ...]
    item: MediaRef
    tracked: bool
    shows: Check
    #: which promise it falls under: "status" (one index check), "progress" (the progress
    #: interval) or "outside" (not promised: reported apart)
    promise: str
    at: float = 0.0
    made_at: float | None = None
    seen_at: float | None = None
    seen_lookup_wall: float | None = None
    held: bool = True
    before: str = ""
    after: str = ""


def _states(*states: RequestState) -> Check:
    return lambda answer: answer.state in states


def _progress(fraction: float) -> Check:
    return lambda answer: (
        answer.progress is not None
        and answer.progress.fraction is not None
        and abs(answer.progress.fraction - fraction) < 0.01
    )


def _card(answer: Availability | None) -> str:
    if answer is None:
        return "missing"
    if answer.progress is not None and answer.progress.fraction is not None:
        return f"{answer.state.value} {answer.progress.fraction:.0%}"
    return answer.state.value


def plan(world: World, reserve: Reserve) -> list[Planned]:
    """The ten changes (and the one outside the promise), in the order they are made: the
    status changes, the one outside the promise, then the two downloads (see :func:`schedule`)."""
    approved = _states(RequestState.APPROVED, RequestState.PROCESSING)
    declined = _states(RequestState.REQUESTABLE, RequestState.DECLINED)
    available = _states(RequestState.AVAILABLE, RequestState.PARTIALLY_AVAILABLE)

    def req(tracked: bool, state: RequestState, media_type: str) -> TrackedRequest:
        return reserve.request(tracked=tracked, state=state, media_type=media_type)

    pending, ok = RequestState.PENDING, RequestState.APPROVED
    plans: list[Planned] = []

    def add(
        label: str, kind: str, request: TrackedRequest, tracked: bool, shows: Check, promise: str, *extra: Any
    ):
        plans.append(
            Planned(label, (kind, int(request.request_id), *extra), request.item, tracked, shows, promise)
        )

    add("admin approves a movie request", "approve", req(True, pending, "movie"), True, approved, "status")
    add("admin approves a show request", "approve", req(False, pending, "tv"), False, approved, "status")
    add("admin declines a show request", "decline", req(True, pending, "tv"), True, declined, "status")
    add("admin declines a movie request", "decline", req(False, pending, "movie"), False, declined, "status")
    add("scan: a requested movie arrives", "arrive", req(True, ok, "movie"), True, available, "status")
    add("scan: a requested show arrives", "arrive", req(False, ok, "tv"), False, available, "status")
    show = reserve.unseen("tv")
    plans.append(
        Planned(
            "scan: a show nobody requested arrives",
            ("scan", "tv", show.tmdb_id),
            show,
            False,
            available,
            "status",
        )
    )
    movie = reserve.unseen("movie")
    # another user than the one looking at the page files it (the viewer sees "Pending")
    name = world.users[1].name
    requester = next(
        u.id for u in world.fake.users.values() if name in (u.username, u.jellyfin_username, u.plex_username)
    )
    plans.append(
        Planned(
            "a user requests a movie on the web site",
            ("request", requester, "movie", movie.tmdb_id),
            movie,
            False,
            _states(RequestState.PENDING),
            "status",
        )
    )
    known = reserve.unknown_row()
    plans.append(
        Planned(
            "scan: a title known as unknown arrives, no request",
            ("scan", known.media_type.value, known.tmdb_id),
            known,
            False,
            available,
            "outside",
        )
    )
    add("a movie downloads (40 %)", "progress", req(True, ok, "movie"), True, _progress(0.4), "progress", 0.4)
    add("a show downloads (70 %)", "progress", req(False, ok, "tv"), False, _progress(0.7), "progress", 0.7)
    return plans


def schedule(
    plans: list[Planned], *, first: float, spacing: float, quiet_gap: float, duration: float
) -> None:
    """When each change comes, in seconds from the window's start.

    The status changes (and the one outside the promise) come ``spacing`` apart from ``first``;
    the downloads come ``quiet_gap`` after the last of them. A change that moves the request
    counts makes the next check read the open requests again, and their media carry the download
    status: a download started just before would then show at that check, not through the
    progress path the promise is about (``filter=processing``, every check where stamps are
    frozen, every progress interval where they move). The gap keeps the downloads apart.
    """
    others = [p for p in plans if p.promise != "progress"]
    for n, planned in enumerate(others):
        planned.at = first + n * spacing
    start = (others[-1].at if others else first) + quiet_gap
    for n, planned in enumerate(p for p in plans if p.promise == "progress"):
        planned.at = start + n * spacing
    last = max(p.at for p in plans)
    if last >= duration:
        raise ValueError(f"the last change comes at {last:g} s, not within the {duration:g} s window")


@dataclass
class _Window:
    """What happened in the window: lookups (start, end, the planned cards) and polls."""

    started: float
    lookups: list[tuple[float, float, dict[MediaRef, Availability]]] = field(default_factory=list)
    polls: list[tuple[float, float, int]] = field(default_factory=list)
    skipped_ticks: int = 0


async def soak(
    server: RemoteFake,
    world: World,
    reserve: Reserve,
    *,
    tracked: int,
    page_size: int,
    duration: float,
    cadence: float,
    poll_interval: float,
    first_change_at: float,
    spacing: float,
    progress_interval: float | None = None,
    quiet_gap: float | None = None,
) -> dict[str, Any]:
    """Run the window (module docstring) and return each change's latency and the window's cost.

    ``quiet_gap``: seconds without any other change before the downloads (:func:`schedule`;
    default one index check and one lookup tick, plus a second)."""
    plans = plan(world, reserve)
    targets = {p.item for p in plans}
    filler = [ref for ref in world.page(300, page_size) if ref not in targets]
    page = [p.item for p in plans] + filler[: max(0, page_size - len(plans))]
    user = world.users[0]
    requests = list(world.requests[:tracked])
    settings: dict[str, Any] = {} if progress_interval is None else {"progress_interval": progress_interval}
    async with server.host(**settings) as host:
        await host.lookup(page, user)  # warm-up: the index is built
        runtime = runtime_of(host)
        requests = list((await host.poll(requests)).tracked)
        learned = await learn_stamps(server, host, reserve)
        first = {a.item: a for a in await host.lookup(page, user)}
        for planned in plans:
            planned.before = _card(first.get(planned.item))
            if planned.shows(first[planned.item]):
                raise RuntimeError(f"{planned.label}: the card shows {planned.before} before the change")
        staleness, progress_every = runtime.index.max_staleness, runtime.index.progress_every
        gap = staleness + cadence + 1.0 if quiet_gap is None else quiet_gap
        schedule(plans, first=first_change_at, spacing=spacing, quiet_gap=gap, duration=duration)
        mark = server.mark()
        cpu = time.process_time()
        window = _Window(time.monotonic())

        async def lookups() -> None:
            tick = 0
            while (at := window.started + tick * cadence) < window.started + duration:
                await asyncio.sleep(max(0.0, at - time.monotonic()))
                began = time.monotonic()
                answers = await host.lookup(page, user)
                window.lookups.append(
                    (began, time.monotonic(), {a.item: a for a in answers if a.item in targets})
                )
                behind = int((time.monotonic() - window.started) // cadence) + 1
                window.skipped_ticks += max(0, behind - tick - 1)
                tick = max(tick + 1, behind)

        async def polls() -> None:
            nonlocal requests
            at = window.started + poll_interval
            while at < window.started + duration:
                await asyncio.sleep(max(0.0, at - time.monotonic()))
                began = time.monotonic()
                result = await host.poll(requests)
                requests = list(result.tracked)
                window.polls.append((began, time.monotonic(), len(result.changes)))
                at += poll_interval

        async def changes() -> None:
            for planned in plans:
                await asyncio.sleep(max(0.0, window.started + planned.at - time.monotonic()))
                planned.made_at = await asyncio.to_thread(server.change, planned.change)

        await asyncio.gather(lookups(), polls(), changes())
        cpu = time.process_time() - cpu
        wall = time.monotonic() - window.started
        calls = server.calls_since(mark)
        stamps = runtime.index.stamps.describe()
    for planned in plans:
        _score(planned, window)
    return _figures(plans, window, calls, wall, cpu, staleness, progress_every, cadence, poll_interval) | {
        "learning_check": learned,
        "stamps_at_end": stamps,
        "tracked": tracked,
        "page_size": len(page),
    }


def _score(planned: Planned, window: _Window) -> None:
    """When the card first showed the change, and whether every later lookup still did."""
    assert planned.made_at is not None
    for began, ended, answers in window.lookups:
        if ended <= planned.made_at:
            continue
        answer = answers.get(planned.item)
        shown = answer is not None and planned.shows(answer)
        if planned.seen_at is None:
            if shown:
                planned.seen_at, planned.seen_lookup_wall = ended, ended - began
                planned.after = _card(answer)
        elif not shown:
            planned.held = False
            planned.after += f", then {_card(answer)}"


def _figures(
    plans: list[Planned],
    window: _Window,
    calls: list[Any],
    wall: float,
    cpu: float,
    staleness: float,
    progress_every: float,
    cadence: float,
    poll_interval: float,
) -> dict[str, Any]:
    rows = []
    for p in plans:
        latency = None if p.seen_at is None or p.made_at is None else p.seen_at - p.made_at
        target = {"status": staleness + cadence, "progress": progress_every + cadence}.get(p.promise)
        met = None
        if target is not None:
            # the card is read at the end of the lookup that ran the check: allow that lookup's time
            met = latency is not None and p.held and latency <= target + (p.seen_lookup_wall or 0.0)
        rows.append(
            {
                "change": p.label,
                "item": str(p.item),
                "tracked": p.tracked,
                "promise": p.promise,
                "made_at_s": round((p.made_at or 0.0) - window.started, 2),
                "latency_s": None if latency is None else round(latency, 2),
                "lookup_wall_ms": None if p.seen_lookup_wall is None else round(p.seen_lookup_wall * 1000, 1),
                "target_s": target,
                "met": met,
                "held": p.held,
                "card_before": p.before,
                "card_after": p.after or "not shown",
            }
        )
    by_endpoint = Counter(endpoint(call) for call in calls)
    minutes = wall / 60
    return {
        "window_s": round(wall, 1),
        "cadence_s": cadence,
        "poll_interval_s": poll_interval,
        "max_staleness_s": staleness,
        "progress_interval_s": progress_every,
        "changes": rows,
        "promised": _spread([r for r in rows if r["promise"] != "outside"]),
        "status_changes": _spread([r for r in rows if r["promise"] == "status"]),
        "progress_changes": _spread([r for r in rows if r["promise"] == "progress"]),
        "lookups": len(window.lookups),
        "skipped_ticks": window.skipped_ticks,
        "lookup_p50_ms": round(statistics.median(e - b for b, e, _ in window.lookups) * 1000, 2),
        "lookup_max_ms": round(max(e - b for b, e, _ in window.lookups) * 1000, 2),
        "polls": len(window.polls),
        "poll_transitions": sum(n for _, _, n in window.polls),
        "index_checks": by_endpoint.get("GET /request/count", 0),
        "calls": len(calls),
        "tmdb_calls": sum(call.kind == "tmdb" for call in calls),
        "tmdb_paths": sorted(call.path for call in calls if call.kind == "tmdb"),
        "calls_by_endpoint": dict(sorted(by_endpoint.items())),
        "calls_per_minute": round(len(calls) / minutes, 1),
        "client_cpu_ms": round(cpu * 1000, 1),
        "client_cpu_ms_per_minute": round(cpu * 1000 / minutes, 1),
    }


def _spread(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """p50/p95 of the latencies (nearest rank: with ten changes, p95 is the slowest), how many
    were seen, and whether every one met its target."""
    latencies = sorted(r["latency_s"] for r in rows if r["latency_s"] is not None)
    return {
        "changes": len(rows),
        "seen": len(latencies),
        "p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "p95_s": round(_percentile(latencies, 0.95), 2) if latencies else None,
        "max_s": latencies[-1] if latencies else None,
        "all_met": all(r["met"] for r in rows),
    }
