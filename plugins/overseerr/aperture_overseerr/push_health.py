"""Are pushes arriving? A short memory of what pushes announced, compared with what polling finds.

The server's webhook agent never retries and a receiver that was down loses the event (notes
§11), so polling stays, and it is also the judge: each request change an index check finds (a
new request, an approval, a decline, a failure, a completion) is looked up in
:class:`PushLedger`'s memory of pushed requests. A change no push announced within
:data:`GRACE` seconds (a push may arrive a moment after the check that saw the change first)
counts as *unpushed*: :meth:`PushLedger.health` reports how many, and when the last was found,
for ``webhook status`` and the diagnostics ("pushes are missing").

Known gaps the count leaves out rather than raising false alarms: Overseerr sends no
MEDIA_AVAILABLE for TV (a series' completion there is not counted), and nothing pushes download
progress. A watchlist auto-request (never sent to webhooks) does count.

While pushes arrive and none went missing lately (:meth:`PushLedger.healthy`), the index's full
check may run less often (:mod:`~aperture_overseerr.media_index`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .models import REQUEST_APPROVED, REQUEST_COMPLETED, REQUEST_DECLINED, REQUEST_FAILED, REQUEST_PENDING
from .push_facts import request_rank

__all__ = ["GRACE", "MEMORY", "RECENT", "PushHealth", "PushLedger"]

MEMORY = 4096
"""Pushed requests remembered (the oldest are forgotten first)."""
MEMORY_AGE = 3600.0
"""Seconds a pushed request is remembered."""
GRACE = 10.0
"""Seconds a change found by polling waits for its push before it counts as unpushed."""
RECENT = 600.0
"""Seconds after the last push during which pushes count as arriving."""

_NAMES = {
    REQUEST_PENDING: "pending",
    REQUEST_APPROVED: "approved",
    REQUEST_DECLINED: "declined",
    REQUEST_FAILED: "failed",
    REQUEST_COMPLETED: "available",
}


@dataclass(frozen=True, slots=True)
class PushHealth:
    """What this provider saw of pushes since it started (:meth:`SeerrRuntime.push_health`).

    * ``pushes_applied``: status notices taken in (duplicates included); ``last_push_at`` the
      last one (UTC), ``None`` if none came.
    * ``unpushed_changes``: request changes polling found that no push announced within
      :data:`GRACE` seconds; ``last_unpushed_at`` when the last was found, ``last_unpushed``
      which one ("request 7 → declined").
    * ``pushes_arriving``: a push came in the last :data:`RECENT` seconds and none went missing
      since: the index's full check runs every ``check_interval`` seconds instead of its usual.
    """

    pushes_applied: int
    last_push_at: datetime | None
    unpushed_changes: int
    last_unpushed_at: datetime | None
    last_unpushed: str | None
    pushes_arriving: bool
    check_interval: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "pushes_applied": self.pushes_applied,
            "last_push_at": self.last_push_at.isoformat() if self.last_push_at else None,
            "unpushed_changes": self.unpushed_changes,
            "last_unpushed_at": self.last_unpushed_at.isoformat() if self.last_unpushed_at else None,
            "last_unpushed": self.last_unpushed,
            "pushes_arriving": self.pushes_arriving,
            "check_interval": self.check_interval,
        }


class PushLedger:
    """Pushed requests and their best state, and the changes polling found without a push.

    ``clock`` is the index's (monotonic); ``wall`` gives the UTC times reported.
    ``tv_completions_pushed`` is false where the product sends no MEDIA_AVAILABLE for TV
    (Overseerr): such completions are then not counted as unpushed.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        memory: int = MEMORY,
        grace: float = GRACE,
        recent: float = RECENT,
    ) -> None:
        self._clock = clock
        self._wall = wall
        self.memory = memory
        self.grace = grace
        self.recent = recent
        self.tv_completions_pushed = True
        self._pushed: OrderedDict[int, tuple[int, float]] = OrderedDict()  # id → (best status, last push)
        #: changes found by polling, waiting for their push: (request id, status) → (at, wall)
        self._suspects: dict[tuple[int, int], tuple[float, datetime]] = {}
        self.pushes_applied = 0
        self._last_push: tuple[float, datetime] | None = None
        self.unpushed = 0
        self._last_unpushed: tuple[float, datetime, str] | None = None

    def pushed(self, request_id: int | None, status: int | None) -> None:
        """A status notice was taken in (about ``request_id``, now at server ``status``)."""
        now = self._clock()
        self.pushes_applied += 1
        self._last_push = (now, self._wall())
        if request_id is None or status is None:
            return
        before = self._pushed.pop(request_id, None)
        if before is not None and request_rank(before[0]) > request_rank(status):
            status = before[0]
        best = (status, now)  # kept in the order pushes came: the oldest are forgotten first
        self._pushed[request_id] = best
        while len(self._pushed) > self.memory:
            self._pushed.popitem(last=False)
        for key in [key for key in self._suspects if key[0] == request_id]:
            if request_rank(key[1]) <= request_rank(status):
                del self._suspects[key]

    def pushed_status(self, request_id: int) -> int | None:
        """The furthest status pushes announced for this request (if still remembered)."""
        self._forget_old()
        best = self._pushed.get(request_id)
        return best[0] if best is not None else None

    def announced(self, request_id: int, status: int) -> bool:
        """Did a push announce this request at ``status`` or further?"""
        best = self.pushed_status(request_id)
        return best is not None and request_rank(best) >= request_rank(status)

    def found(self, request_id: int, status: int, media_type: str) -> None:
        """Polling found this request new or changed to ``status``: was it pushed?"""
        if status == REQUEST_COMPLETED and media_type == "tv" and not self.tv_completions_pushed:
            return
        if status not in _NAMES or self.announced(request_id, status):
            return
        self._suspects.setdefault((request_id, status), (self._clock(), self._wall()))

    def health(self, check_interval: float) -> PushHealth:
        self._settle()
        last = self._last_unpushed
        return PushHealth(
            pushes_applied=self.pushes_applied,
            last_push_at=self._last_push[1] if self._last_push else None,
            unpushed_changes=self.unpushed,
            last_unpushed_at=last[1] if last else None,
            last_unpushed=last[2] if last else None,
            pushes_arriving=self.healthy(),
            check_interval=check_interval,
        )

    def healthy(self) -> bool:
        """Did a push come within :attr:`recent` seconds, with no change missing since then?"""
        self._settle()
        if self._last_push is None:
            return False
        now = self._clock()
        if now - self._last_push[0] > self.recent:
            return False
        return self._last_unpushed is None or now - self._last_unpushed[0] > self.recent

    def _settle(self) -> None:
        """Suspects older than the grace period become unpushed changes."""
        now = self._clock()
        for (request_id, status), (at, wall) in list(self._suspects.items()):
            if now - at >= self.grace:
                del self._suspects[request_id, status]
                self.unpushed += 1
                if self._last_unpushed is None or at >= self._last_unpushed[0]:
                    self._last_unpushed = (at, wall, f"request {request_id} → {_NAMES[status]}")

    def _forget_old(self) -> None:
        cutoff = self._clock() - MEMORY_AGE
        while self._pushed:
            request_id, (_, at) = next(iter(self._pushed.items()))
            if at > cutoff:
                return
            del self._pushed[request_id]
