"""Turning a provider's status updates into tracked-request changes.

Pure functions, no I/O: given the requests being tracked (each with the state it was last seen
in) and the provider's :class:`~aperture_hookspecs.types.StatusUpdate` list, produce the new
tracked list and one :class:`~aperture_hookspecs.types.StatusChange` per real transition.
Progress alone is not a transition; it is carried on the tracked request.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from aperture_hookspecs import RequestState, StatusChange, StatusUpdate, TrackedRequest

from .event_log import LoggedChange

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollResult:
    """One polling cycle: every tracked request as it is now, and what changed.

    From :meth:`~aperture_plugins.host.PluginHost.poll_tracked`: ``events`` are the changes
    as the event log numbered them; ``polled_by`` names the process holding the poll lease
    when it was not this one (then nothing was polled, ``changes`` is empty and ``tracked``
    is what the holder last saved).
    """

    tracked: tuple[TrackedRequest, ...]
    changes: tuple[StatusChange, ...]
    events: tuple[LoggedChange, ...] = ()
    polled_by: str | None = None


def apply_updates(
    provider: str,
    tracked: Sequence[TrackedRequest],
    updates: Sequence[StatusUpdate],
    now: datetime | None = None,
) -> PollResult:
    """Apply ``updates`` to ``tracked``; updates for unknown request ids are ignored."""
    now = now or datetime.now(UTC)
    latest: dict[str, StatusUpdate] = {}
    for update in updates:
        latest[update.request_id] = update  # several for one request: the last one wins
    known = {request.request_id for request in tracked}
    for request_id in latest.keys() - known:
        log.debug("%s reported request %s, which is not tracked; ignored", provider, request_id)
    new_tracked: list[TrackedRequest] = []
    changes: list[StatusChange] = []
    for request in tracked:
        news = latest.get(request.request_id)
        if news is None:
            new_tracked.append(request)
            continue
        current = replace(request, state=news.state, progress=news.progress)
        new_tracked.append(current)
        if news.state != request.state:
            changes.append(
                StatusChange(
                    provider=provider,
                    request=current,
                    previous=request.state,
                    current=news.state,
                    at=now,
                    progress=news.progress,
                    reason=news.reason,
                )
            )
    return PollResult(tuple(new_tracked), tuple(changes))


_FORWARD_RANK = {
    RequestState.REQUESTABLE: 0,
    RequestState.NOT_AVAILABLE: 0,
    RequestState.PENDING: 1,
    RequestState.APPROVED: 2,
    RequestState.PROCESSING: 3,
    RequestState.PARTIALLY_AVAILABLE: 4,
    RequestState.AVAILABLE: 5,
    RequestState.DECLINED: 6,
    RequestState.FAILED: 6,
    RequestState.BLOCKLISTED: 6,
}
"""The order a request moves in: pending → approved → processing → available, or to a final
state (declined, failed, blocklisted) from any of them."""


def moves_forward(previous: RequestState, candidate: RequestState) -> bool:
    """Whether a pushed ``candidate`` state may replace ``previous``: only forwards, never out of
    a final state. (A poll reads the server and may move a request any way; a push is a message
    that may come twice, late or out of order.)"""
    if previous.is_final or previous is RequestState.FAILED:
        return False
    return _FORWARD_RANK[candidate] > _FORWARD_RANK[previous]


def apply_push_updates(
    provider: str,
    tracked: Sequence[TrackedRequest],
    updates: Sequence[StatusUpdate],
    now: datetime | None = None,
) -> PollResult:
    """Like :func:`apply_updates` for the news of a push: only updates that move a request
    forwards (:func:`moves_forward`) are applied; progress already known is kept; the changes
    have ``source="push"``."""
    states = {request.request_id: request for request in tracked}
    forward = []
    for update in updates:
        request = states.get(update.request_id)
        if request is None or not moves_forward(request.state, update.state):
            continue
        forward.append(replace(update, progress=update.progress or request.progress))
    result = apply_updates(provider, tracked, forward, now)
    changes = tuple(replace(change, source="push") for change in result.changes)
    return PollResult(result.tracked, changes)
