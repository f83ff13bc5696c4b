"""What a pushed notice means for the media index and for the tracked requests; no I/O.

:func:`facts_for` turns a :class:`~aperture_hookspecs.push.PushNotice` of
:mod:`~aperture_overseerr.push_payload` into what the server did, as the server does it (notes
§11, §14; the fake server follows the same rules):

=====================  ======================  ==============================================
notification           the request becomes     the title's row (that instance: regular or 4K)
=====================  ======================  ==============================================
MEDIA_PENDING          PENDING                 PENDING, or what the delivery says it is (a
                                               partly available show stays so), if further
MEDIA_APPROVED,        APPROVED                PROCESSING unless already processing, partly
MEDIA_AUTO_APPROVED                            or fully available (trap 19)
MEDIA_DECLINED         DECLINED                PENDING → UNKNOWN, unless another request of
                                               that instance is still pending
MEDIA_FAILED           FAILED                  PROCESSING → PENDING (the server leaves it
                                               pending), unless another approved one is open
MEDIA_AVAILABLE        COMPLETED               what the delivery says (AVAILABLE, or
                                               PARTIALLY_AVAILABLE for a show), and the
                                               requested seasons AVAILABLE
=====================  ======================  ==============================================

(On Overseerr ≤ 1.34 a fulfilled request stays APPROVED; the index reads it so next time, and
it means the same: fulfilled.) Everything moves only forwards. A notice about a request the
index already knows at that state or further (its reading, or what pushes said before), or
about a request that was already closed when the index last looked (its id is below the newest
the index read, yet the index keeps no open reading of it), is a duplicate, a replay or late:
:func:`facts_for` answers ``None`` and nothing changes.

:func:`updates_for` answers the tracked requests a notice concerns (by request id; by title and
4K flag when the notice names no request) from the index after the push, with the poller's
rules (:func:`~aperture_overseerr.polling.status_update`), so a push and a poll say the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aperture_hookspecs import PushNotice, RequestState, StatusUpdate, TrackedRequest

from .media_index import MediaIndex
from .models import (
    MEDIA_AVAILABLE,
    MEDIA_PARTIAL,
    MEDIA_PENDING,
    MEDIA_PROCESSING,
    MEDIA_UNKNOWN,
    REQUEST_APPROVED,
    REQUEST_COMPLETED,
    REQUEST_DECLINED,
    REQUEST_FAILED,
    REQUEST_PENDING,
)
from .polling import reason_for, status_update
from .push_facts import RequestFact, TitleFact, request_rank, statuses_below
from .push_payload import MEDIA_STATUS_NAMES

__all__ = ["REQUEST_STATUS_OF", "facts_for", "pushed_status", "updates_for"]

REQUEST_STATUS_OF: Mapping[str, int] = {
    "MEDIA_PENDING": REQUEST_PENDING,
    "MEDIA_AUTO_APPROVED": REQUEST_APPROVED,
    "MEDIA_APPROVED": REQUEST_APPROVED,
    "MEDIA_DECLINED": REQUEST_DECLINED,
    "MEDIA_FAILED": REQUEST_FAILED,
    "MEDIA_AVAILABLE": REQUEST_COMPLETED,
}
"""The server's request status after each media event."""

_STATE_OF_STATUS: Mapping[int, RequestState] = {
    REQUEST_PENDING: RequestState.PENDING,
    REQUEST_APPROVED: RequestState.APPROVED,
    REQUEST_DECLINED: RequestState.DECLINED,
    REQUEST_FAILED: RequestState.FAILED,
    REQUEST_COMPLETED: RequestState.AVAILABLE,
}

Facts = tuple[TitleFact | None, RequestFact | None]


def pushed_status(notice: PushNotice) -> int | None:
    """The server request status a status notice announces."""
    return REQUEST_STATUS_OF.get(notice.notification)


def facts_for(notice: PushNotice, index: MediaIndex, requested_by: int | None = None) -> Facts | None:
    """What to apply for ``notice`` (see the module docstring); ``None``: nothing new.

    ``requested_by`` is the server id of the request's author when the caller could tell it
    (the delivery names the account by username and email only)."""
    status = pushed_status(notice)
    if status is None:
        return None
    request_id = int(notice.request_id) if notice.request_id is not None else None
    known = index.request(request_id) if request_id is not None else None
    if request_id is not None:
        known_status = known.status if known is not None else index.ledger.pushed_status(request_id)
        if known_status is not None and request_rank(status) <= request_rank(known_status):
            return None  # a duplicate, a replay, or later news came first
        if known_status is None and index.is_built and request_id <= index.newest_request_id:
            return None  # closed (or deleted) before the index last looked: a replay
    if notice.item is not None:
        key: tuple[str, int] | None = (notice.item.media_type.value, notice.item.tmdb_id)
    elif known is not None and known.media is not None:
        key = (known.media_type, known.media.tmdb_id)
    else:
        key = None
    is_4k = known.is_4k if known is not None else notice.is_4k
    seasons = tuple(notice.seasons) if isinstance(notice.seasons, tuple) else ()
    title = _title_fact(notice, key, is_4k, seasons, index, request_id) if key is not None else None
    request = None
    if request_id is not None:
        request = RequestFact(
            request_id,
            status,
            media_type=key[0] if key else None,
            tmdb_id=key[1] if key else None,
            is_4k=is_4k,
            seasons=seasons,
            requested_by=requested_by if known is None else known.requested_by,
        )
    return title, request


def _title_fact(
    notice: PushNotice,
    key: tuple[str, int],
    is_4k: bool,
    seasons: tuple[int, ...],
    index: MediaIndex,
    request_id: int | None,
) -> TitleFact | None:
    media_type, tmdb_id = key
    row = index.get(media_type, tmdb_id)
    current = row.status_for(is_4k) if row is not None else None
    others = [r for r in index.open_requests(media_type, tmdb_id) if r.id != request_id and r.is_4k == is_4k]
    said = MEDIA_STATUS_NAMES.get(str(notice.details.get("media_status4k" if is_4k else "media_status")))
    kind = notice.notification
    if kind == "MEDIA_PENDING":
        target = said if said in (MEDIA_PENDING, MEDIA_PROCESSING, MEDIA_PARTIAL, MEDIA_AVAILABLE) else None
        target = target or MEDIA_PENDING
        return TitleFact(media_type, tmdb_id, is_4k, target, statuses_below(target))
    if kind in ("MEDIA_APPROVED", "MEDIA_AUTO_APPROVED"):
        return TitleFact(media_type, tmdb_id, is_4k, MEDIA_PROCESSING, statuses_below(MEDIA_PROCESSING))
    if kind == "MEDIA_DECLINED":
        if current != MEDIA_PENDING or any(r.status == REQUEST_PENDING for r in others):
            return None
        return TitleFact(media_type, tmdb_id, is_4k, MEDIA_UNKNOWN, frozenset({MEDIA_PENDING}))
    if kind == "MEDIA_FAILED":
        if current != MEDIA_PROCESSING or any(r.status == REQUEST_APPROVED for r in others):
            return None
        return TitleFact(media_type, tmdb_id, is_4k, MEDIA_PENDING, frozenset({MEDIA_PROCESSING}))
    # MEDIA_AVAILABLE
    target = said if said in (MEDIA_PARTIAL, MEDIA_AVAILABLE) and media_type == "tv" else MEDIA_AVAILABLE
    return TitleFact(
        media_type,
        tmdb_id,
        is_4k,
        target,
        statuses_below(target),
        seasons=seasons if media_type == "tv" else (),
    )


def updates_for(
    notice: PushNotice, tracked: Sequence[TrackedRequest], index: MediaIndex
) -> list[StatusUpdate]:
    """The news of each tracked request ``notice`` concerns, as the index now has it."""
    if notice.request_id is not None:
        concerned = [t for t in tracked if t.request_id == notice.request_id]
    else:
        concerned = [t for t in tracked if t.item == notice.item and t.is_4k == notice.is_4k]
    updates = []
    for request in concerned:
        if not request.request_id.isdigit():
            continue  # not one of this server's ids
        request_id = int(request.request_id)
        reading = index.request(request_id)
        if reading is not None:
            media = index.get(request.item.media_type.value, request.item.tmdb_id)
            updates.append(status_update(request, reading, media))
            continue
        # not kept by the index (closed and not watched): the furthest state pushes announced
        state = _STATE_OF_STATUS.get(index.ledger.pushed_status(request_id) or 0)
        if state is None:
            state = notice.state or RequestState.PENDING
            if state is RequestState.PARTIALLY_AVAILABLE:
                state = RequestState.AVAILABLE  # the request's seasons arrived; the show is partly in
        updates.append(StatusUpdate(request.request_id, state, reason=reason_for(state)))
    return updates
