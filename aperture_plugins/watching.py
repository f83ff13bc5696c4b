"""``aperture-plugins watch``: poll the tracked requests and show each change as it comes.

On a terminal, downloads get rich progress bars; otherwise every change and progress step is a
plain line (no control characters), fit for logs. Each cycle is the host's
:meth:`~aperture_plugins.host.PluginHost.poll_tracked` (bounded cost, states saved after every
cycle), so stopping and starting again loses nothing. If the server goes away mid-watch, each
cycle says so and the watch carries on (the circuit breaker keeps the retries cheap); with
``--once`` the error is the command's answer.

**Next to a running Aperture** (or another ``watch``) on the same data directory, only one
process polls: the holder of the poll lease (see :mod:`.event_log`). Whether this watch polls
or not, what it shows comes from the store's event log: every change logged after the watch
started, by whichever process found it, each exactly once. A watch that does not hold the
lease says who does, polls nothing itself and takes over when that process stops polling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn

from aperture_hookspecs import CannotConnectError, StatusChange, UnexpectedResponseError

from . import render
from .event_log import POLL_LEASE_SECONDS, LoggedChange, describe_holder
from .host import PluginHost


async def watch_requests(
    host: PluginHost, console: Console, *, once: bool, interval: float
) -> list[StatusChange]:
    """Poll until nothing unfinished is tracked (or once, or Ctrl-C); return every change seen.

    Each cycle is ``host.poll_tracked()``: it polls only while this process holds the poll
    lease (renewed for ``max(150 s, 2.5 × interval)``), otherwise the holder's findings are
    shown. The changes shown and returned are the event log's after the watch started, each
    once, whichever process found them. Leaving gives the lease up (``host.aclose()``).
    """
    seen: list[StatusChange] = []
    bars = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), console=console)
    tasks: dict[str, TaskID] = {}
    shown: dict[str, int] = {}
    live = console.is_terminal
    if live:
        bars.start()
    try:
        async with host:
            last_seen = host.last_event_id()
            announced: str | None = None
            while True:
                try:
                    result = await host.poll_tracked(lease_seconds=max(POLL_LEASE_SECONDS, 2.5 * interval))
                except (CannotConnectError, UnexpectedResponseError) as error:
                    if once:
                        raise
                    # the server went away mid-watch: say so, keep the saved states, try again
                    console.print(f"! {error.message}; trying again in {interval:g} s", style="yellow")
                    await asyncio.sleep(interval)
                    continue
                if result.polled_by != announced:
                    announced = result.polled_by
                    if announced is not None:
                        console.print(
                            f"{describe_holder(announced)} polls these requests (it holds the poll "
                            "lease); showing what it finds",
                            style="dim",
                        )
                for logged in _logged_after(host, last_seen):  # ours and the holder's, each once
                    last_seen = logged.id
                    change = logged.change
                    seen.append(change)
                    line = render.badge(change.current)
                    line.append(
                        f"  {change.request.item} for {change.request.user.name}: "
                        f"{change.previous.label} → {change.current.label}"
                    )
                    if change.reason:
                        line.append(f" ({change.reason})")
                    console.print(line)
                for request in result.tracked:
                    fraction = request.progress.fraction if request.progress else None
                    if fraction is None:
                        continue
                    percent = round(fraction * 100)
                    if live:
                        if request.request_id not in tasks:
                            tasks[request.request_id] = bars.add_task(str(request.item), total=100)
                        bars.update(tasks[request.request_id], completed=percent)
                    elif shown.get(request.request_id) != percent:
                        shown[request.request_id] = percent
                        console.print(f"{request.item} for {request.user.name}: {percent}% downloaded")
                unfinished = [r for r in result.tracked if not r.state.is_final]
                if not result.tracked and not seen:
                    console.print("Nothing to watch: no unfinished tracked requests.")
                    break
                if once:
                    break
                if not unfinished:
                    console.print("Nothing left to watch: every tracked request is finished.")
                    break
                await asyncio.sleep(interval)
    except (KeyboardInterrupt, asyncio.CancelledError):
        console.print("Stopped.")
    finally:
        if live:
            bars.stop()
    return seen


def _logged_after(host: PluginHost, event_id: int) -> Iterator[LoggedChange]:
    """Every change of the active provider logged after ``event_id``, read a page at a time."""
    while batch := host.events_since(event_id):
        yield from batch
        event_id = batch[-1].id
