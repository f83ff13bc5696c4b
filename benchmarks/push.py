"""The push benchmark (issue 14): from a transition on the server to the SSE event at a client, and
lookup latency while the receiver takes 1,000 pushes per second.

Per server flavour (Seerr 3.1.0, frozen ``updatedAt``, and Seerr 3.2.0, moving, by default), all
over real HTTP on 127.0.0.1:

* **the server**: the seeded fake (:mod:`benchmarks.world`) in a child process
  (:class:`~benchmarks.push_server.PushFake`), its own Webhook notification agent sending from
  there, in the background, as the real server does;
* **the host**: a :class:`~aperture_plugins.PluginHost` on a temporary data directory (the real
  SQLite store), the provider configured, the server's tracked requests tracked, serving
  ``create_app(host)`` with uvicorn (:mod:`benchmarks.push_host`); no poller runs, so whatever
  reaches ``/events`` came by push;
* **set-up**: ``webhook install`` (:func:`aperture_plugins.webhook_admin.install`): the provider
  configures the server's agent through its API and waits for the server's test notification;
* **an SSE client** reads ``GET /events`` with an API token (:class:`~benchmarks.push_host.EventReader`).

**Transition → SSE event** (:func:`transitions`): ``transitions`` changes made on the server one
after the other (approve, decline, a library scan marking the request available; of tracked and
untracked requests in turn), each timed from ``time.monotonic()`` just before the server made it
(in the server's process; the clock is shared on Linux) to the moment the client dispatched the
first SSE event about it (the title's ``badge``; for a tracked request also its ``status``, both
must arrive). The next change is made ``spacing`` seconds after the previous one's events arrived.

**Lookups under push load** (:func:`lookups_under_load`): first the server changes every open
request the transitions left alone (approved ones arrive, pending ones are approved, then arrive;
a tenth declined instead) with its agent's deliveries dropped, and the index reads the server
once (as its next check would) and runs no check inside a lookup from then on
(:data:`CHECKS_OFF_FOR`), so that the two windows below differ by the pushes alone. A
front end in its own process (:mod:`benchmarks.push_lookups`) then looks up 200-card pages
through ``POST /api/availability`` every ``cadence`` seconds, for ``load_seconds`` with nothing
else happening (idle), then for as long while a load generator in another process
(:mod:`benchmarks.push_load`) POSTs ``rate`` authenticated pushes per second to
``/webhooks/<provider>``. The load (:func:`load_bodies`) is, in each ten: three **real** notices
(the dropped deliveries of those changes, exactly as the agent built them: news to the event log,
each logs the title's badge and, for a tracked request, its status, and wakes the SSE streams),
the same three again (the server's duplicates), four replays of deliveries sent before (the
transitions', then the real ones already sent); replays only once the real ones are used up.
The receiver's figures (pushes applied or dropped, events logged, the backlog after the load)
come from its own metrics.

The poll-only path (before push) is the baseline: an SSE client learns of a change from the next
polling cycle (``serve --poll-interval``, 60 s by default), and of a title nobody tracks not at all.
"""

from __future__ import annotations

import gc
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aperture_hookspecs import RequestState, TrackedRequest
from aperture_plugins import webhook_admin
from aperture_plugins.serve import DEFAULT_POLL_INTERVAL

from .flavours import Flavour
from .push_host import Arrival, EventReader, ServedHost, serving_host
from .push_load import LoadSpec, push_load, quantile
from .push_lookups import LookupSpec, front_end, summary
from .push_server import PushFake
from .server import ServerSpec
from .world import Latency, World, runtime_of, seed

#: The kinds of transition, in the order they take turns: (what the server does, tracked?).
TURNS: tuple[tuple[str, bool], ...] = (
    ("approve", True),
    ("approve", False),
    ("decline", True),
    ("decline", False),
    ("arrive", True),
    ("arrive", False),
)
_DESCRIBE = {
    "approve": "an admin approves the request",
    "decline": "an admin declines the request",
    "arrive": "a library scan: the request's media arrives",
}
#: How long a transition's events may take before it counts as not arrived.
ARRIVAL_TIMEOUT = 10.0
#: The index's check interval while the lookups are measured: a lookup that finds the index older
#: than its interval (5 s by default) runs a check and waits for it (the scale tables' "index check
#: due"); how often that happens depends on whether pushes arrive (the interval stretches while
#: they do), so the idle window would have checks the loaded one has not. With checks moved out of
#: both windows, they differ by the pushes alone (the checks that follow pushes still run).
CHECKS_OFF_FOR = 600.0


@dataclass(frozen=True)
class PushConfig:
    """The sizes of one run (``python -m benchmarks`` options)."""

    rows: int
    users: int
    tracked: int
    untracked: int
    page_size: int
    latency: Latency
    transitions: int = 200
    spacing: float = 0.1
    rate: float = 1000.0
    load_seconds: float = 15.0
    cadence: float = 0.1
    connections: int = 8
    pages: int = 3


@dataclass(frozen=True)
class Transition:
    """One change the server makes: ``kind`` of request ``request`` (tracked by Aperture or not)."""

    kind: str
    request: TrackedRequest
    tracked: bool

    @property
    def change(self) -> tuple[str, int]:
        return (self.kind, int(self.request.request_id))

    def is_badge(self, arrival: Arrival) -> bool:
        item, data = self.request.item, arrival.data or {}
        return (
            arrival.event == "badge"
            and data.get("media_type") == item.media_type.value
            and data.get("tmdb_id") == item.tmdb_id
        )

    def is_status(self, arrival: Arrival) -> bool:
        data = arrival.data or {}
        return arrival.event == "status" and data.get("request_id") == self.request.request_id


def plan(world: World, tracked: int, count: int) -> list[Transition]:
    """``count`` transitions taking :data:`TURNS` in turn: pending requests are approved or
    declined, approved ones arrive (the seeded ones first, then those approved earlier here)."""
    pools = {True: world.requests[:tracked], False: world.requests[tracked:]}
    pending = {key: [r for r in pool if r.state is RequestState.PENDING] for key, pool in pools.items()}
    approved = {key: [r for r in pool if r.state is RequestState.APPROVED] for key, pool in pools.items()}
    approved_here: dict[bool, list[TrackedRequest]] = {True: [], False: []}
    chosen: list[Transition] = []
    for kind, is_tracked in itertools.islice(itertools.cycle(TURNS), count):
        if kind == "arrive":
            source = approved[is_tracked] or approved_here[is_tracked]
        else:
            source = pending[is_tracked]
        if not source:
            who = "tracked" if is_tracked else "untracked"
            raise RuntimeError(
                f"no {who} request left to {kind}: seed more requests or plan fewer transitions"
            )
        request = source.pop(0)
        if kind == "approve":
            approved_here[is_tracked].append(request)
        chosen.append(Transition(kind, request, is_tracked))
    return chosen


def unannounced_plan(world: World, used: list[Transition]) -> list[tuple[str, int]]:
    """Changes for every request :func:`plan` left alone: each approved one arrives, each pending
    one is approved, then arrives (a tenth are declined instead)."""
    taken = {transition.request.request_id for transition in used}
    left = [r for r in world.requests if r.request_id not in taken]
    pending = [int(r.request_id) for r in left if r.state is RequestState.PENDING]
    approved = [int(r.request_id) for r in left if r.state is RequestState.APPROVED]
    first: list[tuple[str, int]] = []
    for n, request_id in enumerate(pending):
        first.append(("decline" if n % 10 == 9 else "approve", request_id))
        if n < len(approved):
            first.append(("arrive", approved[n]))
    first += [("arrive", request_id) for request_id in approved[len(pending) :]]
    then = [("arrive", request_id) for n, request_id in enumerate(pending) if n % 10 != 9]
    return first + then


def transitions(
    fake: PushFake, reader: EventReader, chosen: list[Transition], spacing: float
) -> dict[str, Any]:
    """Make each change on the server and time its SSE events (see the module docstring)."""
    rows: list[dict[str, Any]] = []
    for transition in chosen:
        since = reader.position()
        started = fake.transition(transition.change)
        badge, _ = reader.wait_for(transition.is_badge, since, ARRIVAL_TIMEOUT)
        status = None
        if transition.tracked:
            status, _ = reader.wait_for(transition.is_status, since, ARRIVAL_TIMEOUT)
        arrived = [a.at for a in (badge, status) if a is not None]
        complete = badge is not None and (status is not None or not transition.tracked)
        rows.append(
            {
                "kind": transition.kind,
                "tracked": transition.tracked,
                "media_type": transition.request.item.media_type.value,
                "arrived": complete,
                "latency_ms": round((min(arrived) - started) * 1000, 2) if arrived else None,
                "badge": (badge.data or {}).get("state") if badge else None,
                "status": (status.data or {}).get("current") if status else None,
            }
        )
        time.sleep(spacing)
    return _spread(rows)


def _spread(rows: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [row["latency_ms"] / 1000 for row in rows if row["arrived"]]
    by_kind: dict[str, Any] = {}
    for kind, tracked in TURNS:
        mine = [
            r["latency_ms"] / 1000
            for r in rows
            if (r["kind"], r["tracked"]) == (kind, tracked) and r["arrived"]
        ]
        if mine:
            by_kind[f"{kind}, {'tracked' if tracked else 'untracked'}"] = summary(mine)
    return {
        "transitions": len(rows),
        "arrived": sum(1 for row in rows if row["arrived"]),
        **{key: value for key, value in summary(latencies).items() if key != "count"},
        "by_kind": by_kind,
        "states": dict(Counter(f"{r['kind']} → {r['badge']}" for r in rows).most_common()),
        "rows": rows,
    }


def poll_baseline(interval: float = DEFAULT_POLL_INTERVAL) -> dict[str, Any]:
    """The poll-only path: a change waits for the next cycle, uniformly over one interval."""
    return {
        "poll_interval_s": interval,
        "p50_s": round(interval * 0.50, 1),
        "p95_s": round(interval * 0.95, 1),
        "max_s": interval,
        "untracked": "no SSE event: polling reads tracked requests only",
    }


def load_bodies(real: list[bytes], replays: list[bytes], count: int) -> list[bytes]:
    """``count`` bodies: in each ten, three real notices not sent before, the same three again
    (the server's duplicates), four replays; once the real ones are used up, replays only. The
    replays are ``replays`` (the deliveries of the transitions measured before) and every real
    notice already sent."""
    if not replays:
        raise RuntimeError("the load needs deliveries the server sent before")
    bodies: list[bytes] = []
    fresh = iter(real)
    pool = list(replays)
    turn = 0
    while len(bodies) < count:
        new = list(itertools.islice(fresh, 3))
        old = [pool[(turn + n) % len(pool)] for n in range(4 if new else 10)]
        turn += len(old)
        bodies += new + new + old
        pool += new
    return bodies[:count]


def _metric(served: ServedHost, name: str, **labels: str) -> float:
    value = served.metrics.registry.get_sample_value(name, labels)
    return float(value or 0.0)


def _work(served: ServedHost) -> dict[str, float]:
    provider = served.provider
    return {
        "received_status": _metric(
            served, "aperture_pushes_received_total", provider=provider, kind="status"
        ),
        "applied": _metric(served, "aperture_push_work_total", provider=provider, outcome="applied"),
        "dropped": _metric(served, "aperture_push_work_total", provider=provider, outcome="dropped"),
        "failed": _metric(served, "aperture_push_work_total", provider=provider, outcome="failed"),
        "refused": sum(
            _metric(served, "aperture_pushes_refused_total", provider=provider, reason=reason)
            for reason in (
                "unauthorized",
                "too_large",
                "malformed",
                "not_found",
                "unavailable",
                "provider_error",
            )
        ),
    }


def _wait_drained(served: ServedHost, timeout: float = 120.0) -> float:
    """Seconds until the push worker's queue is empty (the load's backlog, if any)."""
    started = time.monotonic()
    while _metric(served, "aperture_push_queue_depth") > 0:
        if time.monotonic() - started > timeout:
            break
        time.sleep(0.05)
    return round(time.monotonic() - started, 2)


async def _learn(served: ServedHost) -> None:
    """One index check now (what the provider's checks would find within a few seconds), and no
    check inside a lookup for the rest of the run (:data:`CHECKS_OFF_FOR`)."""
    runtime = runtime_of(served.host)
    await runtime.index.refresh(runtime.client, force=True)
    runtime.index.max_staleness = CHECKS_OFF_FOR


def lookups_under_load(
    served: ServedHost,
    fake: PushFake,
    world: World,
    config: PushConfig,
    unannounced: list[tuple[str, int]],
    sent_from: int,
) -> dict[str, Any]:
    """Lookup latency idle, then while the load generator pushes (see the module docstring)."""
    pages = tuple(
        tuple(str(ref) for ref in world.page(100 + n, config.page_size)) for n in range(config.pages)
    )
    user = world.users[0].name
    parts = urlsplit(served.url)
    target = served.host.push_target(served.provider, served.url)
    count = max(1, int(config.rate * (config.load_seconds + 1.0)))
    replays = [body for kind, body, ok, _ in fake.deliveries(sent_from) if ok and kind != "TEST_NOTIFICATION"]
    # The server changes every request left, unannounced; the index learns it at once, so that the
    # two windows differ by the pushes only (the load brings the news to the event log, not the index).
    real = [body for _, body in fake.unannounced(unannounced)]
    served.call(_learn(served))
    bodies = load_bodies(real, replays, count)
    lookups = LookupSpec(served.url, served.token, user, pages, config.cadence)
    with front_end(lookups) as client:
        client.start(config.load_seconds)
        idle = client.result()
        spec = LoadSpec(
            parts.hostname or "127.0.0.1",
            parts.port or 80,
            urlsplit(target.url).path,
            target.authorization,
            tuple(bodies),
            config.rate,
            config.connections,
        )
        with push_load(spec) as load:
            before, events_before = _work(served), served.host.last_event_id()
            load.start(config.load_seconds + 1.0)
            time.sleep(0.5)  # the load is running before the lookups start
            client.start(config.load_seconds)
            loaded = client.result()
            pushed = load.result()
        drained = _wait_drained(served)
        after = _work(served)
    real_sent = len(set(bodies[: pushed["sent"]]) & set(real))
    work = {key: after[key] - before[key] for key in after}
    ratio = loaded["p95_ms"] / idle["p95_ms"] if idle["p95_ms"] else None
    return {
        "page_size": config.page_size,
        "pages": config.pages,
        "cadence_s": config.cadence,
        "seconds": config.load_seconds,
        "idle": idle,
        "loaded": loaded,
        "p95_ratio": round(ratio, 2) if ratio is not None else None,
        "load": pushed,
        "real_notices_sent": real_sent,
        "unannounced_changes": len(real),
        "mix": "3 real, 3 duplicates, 4 replays in 10, replays only once the real ones are used up",
        "receiver": {
            **work,
            "events_logged": served.host.last_event_id() - events_before,
            "drained_after_s": drained,
        },
    }


def run_flavour(
    flavour: Flavour, config: PushConfig, *, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Both measurements on one server flavour; its figures."""
    requests = max(config.tracked + config.untracked, config.rows // 5)  # every title in flight
    spec = ServerSpec(
        rows=config.rows,
        users=max(config.users, 2),
        requests=requests,
        unseen=max(2000, config.page_size * 4),
        latency=config.latency,
        flavour=flavour,
    )
    world = seed(
        spec.rows,
        latency=spec.latency,
        users=spec.users,
        requests=spec.requests,
        unseen=spec.unseen,
        flavour=flavour.product,
        version=flavour.version,
        frozen_updated_at=flavour.frozen_updated_at,
    )
    chosen = plan(world, config.tracked, config.transitions)
    tracked = world.requests[: config.tracked]
    figures: dict[str, Any] = {"key": flavour.key, "label": flavour.label, "server": flavour.describe()}
    # This process's copy of the seeded world (the fake's 10,000 rows, to plan from) is not the
    # host's: frozen out of the garbage collector, as the scale scenarios do, lest full collections
    # walking it pause the host's event loop (100-200 ms) in the middle of the measurements.
    gc.collect()
    gc.freeze()
    try:
        return _measure(flavour, config, spec, world, chosen, tracked, figures, log)
    finally:
        gc.unfreeze()


def _measure(
    flavour: Flavour,
    config: PushConfig,
    spec: ServerSpec,
    world: World,
    chosen: list[Transition],
    tracked: list[TrackedRequest],
    figures: dict[str, Any],
    log: Callable[[str], None],
) -> dict[str, Any]:
    with PushFake(spec) as fake, serving_host(fake.url, fake.api_key, flavour.product, tracked) as served:
        host = served.host
        warm = time.perf_counter()
        served.call(host.lookup(world.page(0, config.page_size), world.users[0]))
        figures["cold_lookup_ms"] = round((time.perf_counter() - warm) * 1000, 1)
        report = served.call(webhook_admin.install(host, served.provider, served.url))
        figures["install"] = {"test_received": report.test_received, "messages": report.messages}
        log(f"{flavour.label}: webhook installed, the server's test arrived")
        reader = EventReader(f"{served.url}/events", served.headers).start()
        try:
            sent_from = len(fake.deliveries(0))
            figures["transitions"] = transitions(fake, reader, chosen, config.spacing)
        finally:
            reader.close()
        fake.wait_for_deliveries()
        sent = fake.deliveries(sent_from)
        figures["transitions"]["deliveries"] = {
            "sent": len(sent),
            "answered_2xx": sum(1 for _, _, ok, _ in sent if ok),
            "by_type": dict(Counter(kind for kind, _, _, _ in sent)),
        }
        spread = figures["transitions"]
        log(
            f"{flavour.label}: {spread['arrived']}/{spread['transitions']} transitions reached the SSE "
            f"client, p50 {spread['p50_ms']:g} ms, p95 {spread['p95_ms']:g} ms"
        )
        figures["lookups"] = lookups_under_load(
            served, fake, world, config, unannounced_plan(world, chosen), sent_from
        )
        look = figures["lookups"]
        log(
            f"{flavour.label}: lookups p95 {look['idle']['p95_ms']:g} ms idle, "
            f"{look['loaded']['p95_ms']:g} ms at {look['load']['achieved_rate_per_s']:g} pushes/s"
        )
    return figures


def run(flavours: list[Flavour], config: PushConfig, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """The push benchmark on each flavour, and the poll-only baseline."""
    return {
        "config": {
            "transitions": config.transitions,
            "spacing_s": config.spacing,
            "rate_per_s": config.rate,
            "load_seconds": config.load_seconds,
            "cadence_s": config.cadence,
            "connections": config.connections,
            "page_size": config.page_size,
            "pages": config.pages,
            "arrival_timeout_s": ARRIVAL_TIMEOUT,
        },
        "baseline": poll_baseline(),
        "flavours": [run_flavour(flavour, config, log=log) for flavour in flavours],
        "quantile": "statistics.quantiles(n=100, method='inclusive')",
        "describe": _DESCRIBE,
    }


__all__ = [
    "PushConfig",
    "load_bodies",
    "lookups_under_load",
    "plan",
    "poll_baseline",
    "quantile",
    "run",
    "transitions",
]
