"""Does this server move ``updatedAt`` when a row changes? Learned from what it returns.

From Jellyseerr 2.6.0 until after Seerr 3.1 the entities declare ``updatedAt`` as a plain column
that only MySQL updates: on SQLite and PostgreSQL it keeps the creation second forever (notes
§12 trap 16, §14). Overseerr, older Jellyseerr and later Seerr move it. Forks exist and version
numbers say nothing about the database underneath, so :class:`StampWatch` decides from the
rows themselves, every time the index reads a row it already knew:

* the row's content changed but its ``updatedAt`` did not → *frozen* evidence;
* its ``updatedAt`` moved → *moving* evidence.

The newest evidence wins (a server can be upgraded, or restored from a backup, while Aperture
runs). Without any evidence the answer is "frozen": the checks made for frozen stamps are
correct on every server, those for moving stamps only where stamps move.
"""

from __future__ import annotations

import logging
from datetime import datetime

log = logging.getLogger(__name__)


class StampWatch:
    """What the rows have shown of ``updatedAt`` so far (see the module docstring)."""

    def __init__(self) -> None:
        self._moving: bool | None = None

    @property
    def known(self) -> bool:
        """Has any row shown yet how this server treats ``updatedAt``?"""
        return self._moving is not None

    @property
    def frozen(self) -> bool:
        """Treat ``updatedAt`` as frozen: true until a row is seen moving it."""
        return self._moving is not True

    def observe(self, before: datetime | None, after: datetime | None, content_changed: bool) -> None:
        """One row read again: its ``updatedAt`` before and now, and whether anything else changed."""
        if before is None or after is None:
            return
        if after > before:
            self._decide(True)
        elif after == before and content_changed:
            self._decide(False)

    def _decide(self, moving: bool) -> None:
        if self._moving is not moving:
            log.info(
                "the request server %s updatedAt when a row changes",
                "moves" if moving else "does not move (frozen timestamps, notes trap 16)",
            )
        self._moving = moving

    def describe(self) -> str:
        if self._moving is None:
            return "not seen yet (checked as frozen)"
        return "moves" if self._moving else "frozen"


#: seconds after which the server's clock has certainly left a second it was in (stamps are
#: whole seconds; one second, plus one for the client's and the server's clocks ticking apart)
SECOND_DONE_AFTER = 2.0


class Watermark:
    """The newest ``updatedAt`` read from a ``sort=modified`` list, for servers whose stamps move.

    A read goes down the list, newest first, and stops at the first entry it already knows:
    older than :attr:`stamp`, or in that very second once the second is over. Stamps are whole
    seconds and equal stamps come back in ascending id order (notes §12 trap 17), so an entry
    changed later in the newest second can follow entries already read: that second is read
    again until a read that starts :data:`SECOND_DONE_AFTER` seconds after the one that first
    saw it (by then nothing can be stamped with it any more). Use: :meth:`begin`, then
    :meth:`is_known` / :meth:`saw` per entry, then :meth:`end`.
    """

    def __init__(self) -> None:
        self.stamp: datetime | None = None
        self._set_at = 0.0
        self._second_done = False
        self._from: datetime | None = None
        self._from_done = False
        self._moved = False

    def reset(self, stamp: datetime | None, now: float) -> None:
        """Start from ``stamp`` (read at ``now``): its second will be read again."""
        self.stamp, self._set_at, self._second_done = stamp, now, False

    def begin(self) -> None:
        self._from, self._from_done, self._moved = self.stamp, self._second_done, False

    def is_known(self, stamp: datetime | None) -> bool:
        """Is an entry stamped so (and all below it) known since the last read?"""
        if self._from is None or stamp is None:
            return False
        return stamp < self._from or (stamp == self._from and self._from_done)

    def saw(self, stamp: datetime | None) -> None:
        if stamp is not None and (self.stamp is None or stamp > self.stamp):
            self.stamp, self._moved = stamp, True

    def end(self, now: float) -> None:
        if self._moved:
            self._set_at, self._second_done = now, False
        elif now - self._set_at >= SECOND_DONE_AFTER:
            self._second_done = True
