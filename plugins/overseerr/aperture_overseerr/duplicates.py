"""Whose request already covers a title, when the server says there is nothing new to file.

The server refuses duplicates per title and 4K flag, for everyone (notes §8): a movie with a live
request answers **409**, a TV request whose every season is requested (by anyone) or already on
the media answers **202** ``No seasons available to request``. Neither says whose request it
is, and the user pressing Request is not necessarily the one who made it. Both answers are
therefore explained the same way, from the title's own requests (``mediaInfo.requests`` of
``GET /movie|tv/{id}``, which the server has just read from TMDB for the POST, so its cache is
warm):

* the user's **own** live request covers it → that request, as a
  :class:`~aperture_hookspecs.types.RequestResult` with ``already_requested=True`` and the
  message "already requested by you": the host tracks it, as it would a new one;
* **someone else's** live request covers it →
  :class:`~aperture_hookspecs.errors.AlreadyRequestedError` naming them
  (``requested_by``) with the state of their request; never tracked as this user's;
* no live request covers it → the seasons (or the movie) are in the library or on their way:
  :class:`~aperture_hookspecs.errors.AlreadyRequestedError` with the title's state.

A live request is one that is neither declined nor completed (the server's own rule). For TV it
covers a submit when it holds one of the seasons asked for (any season, for "all").

When the title's details cannot be read, the user's own newest requests (database only) still
tell the first case apart; the others are then reported without a name.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aperture_hookspecs import AlreadyRequestedError, ApertureError, MediaRef, RequestResult, RequestState

from .models import (
    MEDIA_AVAILABLE,
    MEDIA_PARTIAL,
    MEDIA_PENDING,
    MEDIA_PROCESSING,
    REQUEST_COMPLETED,
    REQUEST_DECLINED,
    MediaRequest,
    MediaRow,
    Shape,
)
from .request_state import state_of
from .submit_context import SubmitContext

log = logging.getLogger(__name__)

RECENT_REQUESTS = 20
"""How many of a user's newest requests are read to find one of theirs (database only)."""

AskedSeasons = frozenset[int] | None
"""The seasons a TV submit asked for; ``None`` for every season (and for movies)."""

NOTHING_FILED = "Nothing new was filed: it reaches the library for everyone once it arrives"

_MEDIA_STATES = {
    MEDIA_AVAILABLE: RequestState.AVAILABLE,
    MEDIA_PARTIAL: RequestState.PARTIALLY_AVAILABLE,
    MEDIA_PROCESSING: RequestState.PROCESSING,
    MEDIA_PENDING: RequestState.PENDING,
}


@dataclass(frozen=True, slots=True)
class TitleRequest:
    """One request of a title, with the display name of whoever made it (when the server says)."""

    request: MediaRequest
    requester: str | None


def covers(request: MediaRequest, item: MediaRef, is_4k: bool, asked: AskedSeasons) -> bool:
    """Does ``request`` stand in the way of a new request for ``item`` (these seasons, this 4K flag)?"""
    media = request.media
    if media is None or media.tmdb_id != item.tmdb_id or media.media_type != item.media_type.value:
        return False
    if request.is_4k != is_4k or request.status in (REQUEST_DECLINED, REQUEST_COMPLETED):
        return False
    if item.media_type.value != "tv" or asked is None or not request.seasons:
        return True
    return bool(asked & {season.season_number for season in request.seasons})


def result_of(
    item: MediaRef,
    request: MediaRequest,
    is_4k: bool,
    message: str | None,
    *,
    already_requested: bool = False,
) -> RequestResult:
    """The :class:`RequestResult` for one of the user's own requests."""
    state = state_of(request, request.media)
    seasons = tuple(sorted(s.season_number for s in request.seasons)) or None
    if state is RequestState.APPROVED and message is None:
        message = "approved at once"
    return RequestResult(
        item=item,
        request_id=str(request.id),
        state=state,
        seasons=seasons,
        is_4k=is_4k,
        message=message,
        already_requested=already_requested,
    )


def newest(requests: Iterable[MediaRequest]) -> MediaRequest | None:
    """The request with the highest id (ids grow with every request the server files)."""
    return max(requests, key=lambda request: request.id, default=None)


async def own_recent(runtime: SubmitContext, seerr_user_id: int) -> Sequence[MediaRequest]:
    """The user's :data:`RECENT_REQUESTS` newest requests (``GET /user/{id}/requests``)."""
    page = await runtime.client.user_requests(seerr_user_id, take=RECENT_REQUESTS)
    return page.results


async def explain_duplicate(
    runtime: SubmitContext,
    item: MediaRef,
    seerr_user_id: int,
    is_4k: bool,
    asked: AskedSeasons,
    server_text: str,
) -> RequestResult:
    """Explain a 409 or 202 (see the module docstring): the user's own request, or raise."""
    try:
        requests, media = await _title_requests(runtime, item)
    except ApertureError as error:
        log.info("Could not read who requested %s (%s); looking at the user's own requests", item, error)
        mine = [r for r in await own_recent(runtime, seerr_user_id) if covers(r, item, is_4k, asked)]
        own = newest(mine)
        if own is not None:
            return result_of(item, own, is_4k, "already requested by you", already_requested=True)
        raise AlreadyRequestedError(
            f"{item} was already requested by another user, or is in the library ({server_text})",
            hints=(NOTHING_FILED,),
        ) from None
    live = [entry for entry in requests if covers(entry.request, item, is_4k, asked)]
    own = newest(entry.request for entry in live if entry.request.requested_by == seerr_user_id)
    others = [entry for entry in live if entry.request.requested_by != seerr_user_id]
    if own is not None:
        message = "already requested by you"
        elsewhere = _seasons_of(others, asked, exclude=_season_numbers(own), known=_known(runtime))
        if elsewhere:
            message += f"; {elsewhere}"
        return result_of(item, own, is_4k, message, already_requested=True)
    if others:
        entry = max(others, key=lambda e: e.request.id)
        state = state_of(entry.request, media or entry.request.media)
        who = _names(others, runtime)
        seasons = _seasons_of(others, asked, exclude=set(), known=_known(runtime))
        detail = f": {seasons}" if seasons and item.media_type.value == "tv" else ""
        raise AlreadyRequestedError(
            f"{item} was already requested by {who} ({state.label}){detail}",
            state=state,
            requested_by=who,
            hints=(NOTHING_FILED,),
        )
    in_library = _MEDIA_STATES.get(media.status_for(is_4k)) if media is not None else None
    where = f" ({in_library.label})" if in_library is not None else ""
    if item.media_type.value == "tv":
        message = (
            f"Nothing new to request for {item}: every season asked for is already in the library "
            f"or on its way{where}"
        )
        hints: tuple[str, ...] = ("Choose other seasons",)
    else:
        message = f"{item} is already in the library or on its way{where} ({server_text})"
        hints = ("Nothing new was filed",)
    raise AlreadyRequestedError(message, state=in_library, hints=hints)


async def _title_requests(
    runtime: SubmitContext, item: MediaRef
) -> tuple[list[TitleRequest], MediaRow | None]:
    """Every request of the title, and its media row, from ``/movie|tv/{id}`` (``mediaInfo``)."""
    details = await runtime.client.title_details(item.media_type.value, item.tmdb_id)
    info = details.obj("mediaInfo")
    if info is None:
        return [], None
    media = MediaRow.parse(info.value, f"{details.where}.mediaInfo")
    requests = []
    for value in info.items("requests"):
        if not isinstance(value, dict):
            continue
        where = f"{details.where}.mediaInfo.requests[]"
        request = MediaRequest.parse({**value, "media": value.get("media") or dict(info.value)}, where)
        requests.append(TitleRequest(request, _requester(value, where)))
    return requests, media


def _requester(value: dict[str, Any], where: str) -> str | None:
    user = Shape(value, where).obj("requestedBy")
    if user is None:
        return None
    return user.opt_str("displayName") or user.opt_str("username") or user.opt_str("jellyfinUsername")


def _known(runtime: SubmitContext) -> dict[int, str]:
    """The cached user directory's display names by server user id."""
    return {user.id: user.display_name for user in runtime.users.users}


def _name_of(entry: TitleRequest, known: dict[int, str]) -> str:
    user_id = entry.request.requested_by
    name = entry.requester or (known.get(user_id) if user_id is not None else None)
    return name or (f"server user {user_id}" if user_id is not None else "another user")


def _names(entries: Sequence[TitleRequest], runtime: SubmitContext) -> str:
    """Who made these requests, as one phrase ("alice", "alice and bob")."""
    known = _known(runtime)
    names: list[str] = []
    for entry in sorted(entries, key=lambda e: e.request.id):
        name = _name_of(entry, known)
        if name not in names:
            names.append(name)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"


def _season_numbers(request: MediaRequest) -> set[int]:
    return {season.season_number for season in request.seasons}


def _seasons_of(
    entries: Sequence[TitleRequest], asked: AskedSeasons, *, exclude: set[int], known: dict[int, str]
) -> str:
    """ "season 3 requested by bob" for the asked seasons other users' requests hold."""
    parts = []
    for entry in sorted(entries, key=lambda e: e.request.id):
        numbers = _season_numbers(entry.request) - exclude
        if asked is not None:
            numbers &= asked
        if numbers:
            label = "season" if len(numbers) == 1 else "seasons"
            parts.append(
                f"{label} {', '.join(map(str, sorted(numbers)))} requested by {_name_of(entry, known)}"
            )
    return "; ".join(parts)
