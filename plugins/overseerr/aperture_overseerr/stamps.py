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
