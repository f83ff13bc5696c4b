"""The event log's records and the poll lease, as the settings store keeps them.

**The poll lease.** Several processes may use one data directory (Aperture's poller, an admin's
``aperture-plugins watch``, later several workers), but only one of them polls a provider's
tracked requests at a time: the holder of the lease ``poll:<provider>`` in the store. A lease
has a holder (``PID@HOSTNAME``, one per process), an expiry (renewed by every polling cycle of
the holder) and a delivery cursor (the last event the holders broadcast). Another process takes
it over when it is released (the holder closed its host), when it expired (the holder stopped
polling), or at once when the holder is a process of this machine that no longer exists (it
crashed).

**The event log.** Every transition the holder finds is written to the ``events`` table in the
same transaction as the tracked request's new state, and only if the stored state is still the
one the poll started from (compare-and-swap): even two pollers that overlap (a lease that
expired mid-cycle) log and broadcast a transition once. Event ids only grow and are never
reused, so a reader (a ``watch`` that does not hold the lease; the SSE stream of issue 14)
resumes with "after the last id I saw". Events are kept for :data:`RETENTION_SECONDS` and at
most :data:`RETENTION_EVENTS` of them.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aperture_hookspecs import (
    ApertureUser,
    DownloadProgress,
    MediaRef,
    RequestState,
    StatusChange,
    TrackedRequest,
)

POLL_LEASE_SECONDS = 150.0
"""How long a polling cycle keeps the lease: Aperture polls about once a minute, so a holder
that missed two cycles hands over to the next process that polls."""

RETENTION_SECONDS = 3600.0
RETENTION_EVENTS = 10_000


def poll_lease_name(provider: str) -> str:
    return f"poll:{provider}"


def process_holder() -> str:
    """This process as a lease holder: ``PID@HOSTNAME``."""
    return f"{os.getpid()}@{socket.gethostname()}"


_HOLDER = re.compile(r"^(\d+)@(.+)$")


def holder_is_gone(holder: str) -> bool:
    """Is ``holder`` a process of this machine that no longer runs? (Unknown: ``False``.)"""
    match = _HOLDER.match(holder)
    if match is None or match.group(2) != socket.gethostname():
        return False
    pid = int(match.group(1))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, under another user
        return False
    return False


def describe_holder(holder: str) -> str:
    """``process 1234 on myhost`` for a person."""
    match = _HOLDER.match(holder)
    return f"process {match.group(1)} on {match.group(2)}" if match else holder


@dataclass(frozen=True)
class Lease:
    """The poll lease as a caller of :meth:`~aperture_plugins.store.SettingsStore.acquire_lease` sees it.

    ``holder`` is who holds it now (the caller, if it got it). ``taken_over``: the caller has
    just taken it from nobody, an expired holder or a crashed one (not a renewal); it then
    broadcasts what the previous holders logged after ``delivered_id`` but did not broadcast.
    """

    name: str
    holder: str
    expires_at: float
    delivered_id: int
    taken_over: bool = False

    def held_by(self, holder: str) -> bool:
        return self.holder == holder


@dataclass(frozen=True)
class LoggedChange:
    """One transition as the event log keeps it: its event id and the change."""

    id: int
    change: StatusChange

    def to_dict(self) -> dict[str, Any]:
        return {"event_id": self.id, **self.change.to_dict()}


def utc_text(moment: datetime) -> str:
    """A time as the log stores it: ISO 8601 in UTC, so that text order is time order."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def change_payload(change: StatusChange) -> str:
    """Everything needed to rebuild ``change`` (:func:`change_from_payload`), as JSON."""
    request = change.request
    seasons = request.seasons if request.seasons in (None, "all") else list(request.seasons or ())
    return json.dumps(
        {
            "provider": change.provider,
            "request": {
                "request_id": request.request_id,
                **request.item.to_dict(),
                "user": request.user.to_dict(),
                "state": request.state.value,
                "is_4k": request.is_4k,
                "seasons": seasons,
                "progress": request.progress.to_dict() if request.progress else None,
            },
            "previous": change.previous.value,
            "current": change.current.value,
            "at": utc_text(change.at),
            "progress": change.progress.to_dict() if change.progress else None,
            "reason": change.reason,
            "source": change.source,
        },
        sort_keys=True,
    )


def change_from_payload(text: str) -> StatusChange:
    data = json.loads(text)
    request = data["request"]
    seasons = request["seasons"]
    return StatusChange(
        provider=data["provider"],
        request=TrackedRequest(
            request_id=request["request_id"],
            item=MediaRef(request["media_type"], request["tmdb_id"]),
            user=ApertureUser(**request["user"]),
            state=request["state"],
            is_4k=bool(request["is_4k"]),
            seasons=tuple(seasons) if isinstance(seasons, list) else seasons,
            progress=progress_from_dict(request["progress"]),
        ),
        previous=RequestState(data["previous"]),
        current=RequestState(data["current"]),
        at=datetime.fromisoformat(data["at"]),
        progress=progress_from_dict(data["progress"]),
        reason=data["reason"],
        source=data.get("source", "poll"),
    )


def progress_from_dict(data: dict[str, Any] | None) -> DownloadProgress | None:
    if not data:
        return None
    eta = datetime.fromisoformat(data["eta"]) if data.get("eta") else None
    return DownloadProgress(
        fraction=data.get("fraction"),
        eta=eta,
        status=data.get("status"),
        size_bytes=data.get("size_bytes"),
        size_left_bytes=data.get("size_left_bytes"),
    )
