"""The seasons of a TV show, one by one: what each is, and which may be requested (no I/O here
except :func:`check_asked_seasons`, which reads the show's TMDB season list before a request).

A show's media status alone does not say what its seasons are: after an approval on a
partially available show the server keeps the show at PARTIALLY_AVAILABLE (notes trap 19), a
show whose row was created by a request has no season rows until a library scan (notes §14),
and a season asked for by another user is only in that user's request. So the state of season
*n*, for the regular or the 4K instance (``is_4k``), comes from:

1. the show's season row (``status`` or ``status4k``): AVAILABLE → ``available``,
   PARTIALLY_AVAILABLE → ``partial`` (some episodes; the server will not take a request for it);
2. else the *open* requests for the show by anyone with the same 4K flag that list *n* (open =
   what the server's duplicate check counts, notes §8 step 6: every request status but DECLINED
   and COMPLETED): APPROVED → ``processing`` if Sonarr's queue (``downloadStatus``, whose items
   carry ``episode.seasonNumber``) has items of that season, else ``approved``; FAILED →
   ``failed``; PENDING → ``pending`` (when several requests list it, approved beats failed beats
   pending);
3. else the season row again: PROCESSING → ``processing`` / ``approved`` as above, PENDING →
   ``pending``, DELETED (status 6 on Overseerr ≥ 1.35, 7 on Jellyseerr ≥ 2.6 and Seerr; the
   product profile says which) → ``deleted``, UNKNOWN or no row → ``missing``; any other value
   → ``other`` (the server would not take a request for it either).

``missing`` and ``deleted`` seasons are the requestable ones: exactly the seasons the server's
duplicate check lets through. Season 0 (specials) counts only where the server takes requests
for it (:func:`specials_requestable`); the seasons a show has beyond its known rows are not
known without TMDB, so a Discovery lookup (index only) offers only seasons it has rows for.

Before a TV request with explicit seasons is sent, :func:`check_asked_seasons` refuses seasons
the show does not have, naming the ones it has ("tv:1399 (Game of Thrones) has no season 99; the
show has seasons 1–8"), as a :class:`~aperture_hookspecs.errors.RequestRefusedError`. Without it
the server files a request for a season 99 that will never exist, and drops season 0 silently
where specials are off, answering "nothing new to request". The show's seasons come from the
server's ``GET /tv/{tmdbId}`` (TMDB metadata, top-level ``seasons[]``), read only when the
show's season rows in the index do not already list every asked season (a library scan writes
one row per TMDB season): never on the Discovery path, never for ``seasons="all"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from aperture_hookspecs import ALL_SEASONS, DownloadProgress, MediaRef, RequestOptions, RequestRefusedError

from .models import (
    MEDIA_AVAILABLE,
    MEDIA_PARTIAL,
    MEDIA_PENDING,
    MEDIA_PROCESSING,
    MEDIA_STATUS_6,
    MEDIA_STATUS_7,
    MEDIA_UNKNOWN,
    REQUEST_APPROVED,
    REQUEST_COMPLETED,
    REQUEST_DECLINED,
    REQUEST_FAILED,
    REQUEST_PENDING,
    MediaRequest,
    MediaRow,
)
from .profiles import ProductProfile, Status6
from .progress import progress_of

if TYPE_CHECKING:
    from .client import SeerrClient
    from .connection import ServerIdentity


class SeasonState(StrEnum):
    """What one season of a show is, for one instance (see the module docstring)."""

    AVAILABLE = "available"
    PARTIAL = "partial"
    PROCESSING = "processing"
    APPROVED = "approved"
    FAILED = "failed"
    PENDING = "pending"
    DELETED = "deleted"
    MISSING = "missing"
    OTHER = "other"


REQUESTABLE = frozenset({SeasonState.MISSING, SeasonState.DELETED})
"""The states the server's duplicate check lets a new request through for."""

_BY_REQUEST = {REQUEST_APPROVED: 3, REQUEST_FAILED: 2, REQUEST_PENDING: 1}
"""How strongly an open request's status claims a season (approved beats failed beats pending)."""


def is_open(request: MediaRequest) -> bool:
    """Does the server's duplicate check count this request (notes §8 step 6)?"""
    return request.status not in (REQUEST_DECLINED, REQUEST_COMPLETED)


def is_deleted(status: int, profile: ProductProfile) -> bool:
    """Is this media or season status DELETED on this product (6 on Overseerr ≥ 1.35, else 7)?"""
    if status == MEDIA_STATUS_6:
        return profile.status6 is Status6.DELETED
    return status == MEDIA_STATUS_7 and profile.status7_deleted


def specials_requestable(identity: ServerIdentity) -> bool:
    """Does the server take requests for season 0 (specials)?

    Jellyseerr and Seerr drop season 0 from every request unless ``enableSpecialEpisodes`` is on
    (``/settings/public``); Overseerr has no such setting and files season 0 when asked
    (its ``seasons: "all"`` includes it up to 1.34) (notes §8).
    """
    enabled = identity.public.enable_special_episodes
    return True if enabled is None else enabled


@dataclass(frozen=True)
class ShowSeasons:
    """The state of each season of one show, for one instance, and their download progress."""

    states: tuple[tuple[int, SeasonState], ...]
    progress: DownloadProgress | None = None

    def numbers(self, *states: SeasonState) -> tuple[int, ...]:
        """The season numbers in any of ``states``, ascending."""
        return tuple(number for number, state in self.states if state in states)

    @property
    def requestable(self) -> tuple[int, ...]:
        return self.numbers(*REQUESTABLE)

    def state_of(self, number: int) -> SeasonState | None:
        return dict(self.states).get(number)

    def describe(self) -> str:
        """One line for the user: "seasons 1–2 in the library; season 3 downloading; …" (the
        seasons neither in the library nor asked for are left to ``requestable``)."""
        parts = []
        for states, text in _PHRASES:
            numbers = self.numbers(*states)
            if numbers:
                parts.append(f"{seasons_text(numbers)} {text}")
        return "; ".join(parts)


_PHRASES: tuple[tuple[tuple[SeasonState, ...], str], ...] = (
    ((SeasonState.AVAILABLE,), "in the library"),
    ((SeasonState.PARTIAL,), "partly in the library"),
    ((SeasonState.PROCESSING,), "downloading"),
    ((SeasonState.APPROVED,), "approved, not downloading yet"),
    ((SeasonState.FAILED,), "approved, but could not be sent to the downloader"),
    ((SeasonState.PENDING,), "requested, awaiting approval"),
    ((SeasonState.DELETED,), "removed from the library"),
)
"""Requestable seasons are not described: ``Availability.requestable_seasons`` lists them."""


def show_seasons(
    row: MediaRow | None,
    open_requests: Sequence[MediaRequest],
    profile: ProductProfile,
    is_4k: bool,
    *,
    specials: bool = False,
    known: Iterable[int] = (),
) -> ShowSeasons:
    """Each season's state (see the module docstring).

    ``open_requests`` are the show's requests by anyone (closed ones and the other 4K flag are
    left out here); ``known`` adds season numbers known from elsewhere (the TMDB list), which
    are ``missing`` when nothing else is known of them. Season 0 is left out unless ``specials``.
    """
    claims: dict[int, int] = {}
    for request in open_requests:
        if request.is_4k != is_4k or not is_open(request):
            continue
        strength = _BY_REQUEST.get(request.status, _BY_REQUEST[REQUEST_PENDING])
        for season in request.seasons:
            claims[season.season_number] = max(claims.get(season.season_number, 0), strength)
    rows = {s.season_number: (s.status4k if is_4k else s.status) for s in row.seasons} if row else {}
    downloads = row.downloads_for(is_4k) if row else ()
    queued = {item.season_number for item in downloads}
    numbers = sorted(set(rows) | set(claims) | set(known))
    states: list[tuple[int, SeasonState]] = []
    for number in numbers:
        if number == 0 and not specials:
            continue
        downloading = number in queued or (None in queued)
        states.append(
            (number, _state(rows.get(number, MEDIA_UNKNOWN), claims.get(number), downloading, profile))
        )
    processing = {number for number, state in states if state is SeasonState.PROCESSING}
    progress = progress_of(downloads, processing) if processing else None
    return ShowSeasons(tuple(states), progress)


def _state(status: int, claim: int | None, downloading: bool, profile: ProductProfile) -> SeasonState:
    if status == MEDIA_AVAILABLE:
        return SeasonState.AVAILABLE
    if status == MEDIA_PARTIAL:
        return SeasonState.PARTIAL
    if claim == _BY_REQUEST[REQUEST_APPROVED] or (claim is None and status == MEDIA_PROCESSING):
        return SeasonState.PROCESSING if downloading else SeasonState.APPROVED
    if claim == _BY_REQUEST[REQUEST_FAILED]:
        return SeasonState.FAILED
    if claim is not None or status == MEDIA_PENDING:
        return SeasonState.PENDING
    if is_deleted(status, profile):
        return SeasonState.DELETED
    if status == MEDIA_UNKNOWN:
        return SeasonState.MISSING
    return SeasonState.OTHER


def seasons_text(numbers: Sequence[int]) -> str:
    """``(1, 2, 3, 5)`` → ``"seasons 1–3, 5"``; ``(4,)`` → ``"season 4"``."""
    return ("season " if len(numbers) == 1 else "seasons ") + number_ranges(numbers)


def number_ranges(numbers: Iterable[int]) -> str:
    """``[1, 2, 3, 5, 7, 8]`` → ``"1–3, 5, 7–8"`` (runs of consecutive numbers as ranges)."""
    ordered = sorted(set(numbers))
    runs: list[list[int]] = []
    for number in ordered:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    return ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]}–{run[-1]}" for run in runs)


# -- before a request is sent -------------------------------------------------------------


def unknown_seasons(asked: Sequence[int], has: Sequence[int]) -> tuple[int, ...]:
    """The asked seasons the show does not have."""
    present = set(has)
    return tuple(number for number in asked if number not in present)


def refusal(
    item: MediaRef, name: str | None, asked: Sequence[int], has: Sequence[int], specials: bool, product: str
) -> RequestRefusedError:
    """The error for asked seasons the show does not have, naming the seasons it has."""
    missing = unknown_seasons(asked, has)
    show = f"{item} ({name})" if name else str(item)
    has_text = f"the show has {seasons_text(has)}" if has else "the show has no seasons yet"
    if missing == (0,) and not specials:
        message = f"{show}: season 0 (specials) cannot be requested on this server; {has_text}"
        hints: tuple[str, ...] = (
            f"Choose from {number_ranges(has)}" if has else "Wait until the show has seasons",
            f"Ask the admin to enable special episodes in {product}'s settings",
        )
    else:
        message = f"{show} has no {seasons_text(missing)}; {has_text}"
        hints = (f"Choose from {number_ranges(has)}, or all" if has else "Wait until the show has seasons",)
    return RequestRefusedError(message, hints=hints)


async def check_asked_seasons(
    client: SeerrClient,
    identity: ServerIdentity,
    item: MediaRef,
    options: RequestOptions,
    row: MediaRow | None = None,
) -> None:
    """Refuse a TV request for seasons the show does not have, before anything is sent.

    Reads ``GET /tv/{tmdbId}`` (TMDB-backed) only for an explicit season list that the show's
    media ``row`` does not already prove (a library scan gives a show one season row per TMDB
    season): movies, ``seasons="all"`` (the server picks the show's seasons itself) and seasons
    the row has cost nothing.
    """
    if item.media_type.value != "tv" or options.seasons == ALL_SEASONS:
        return
    specials = specials_requestable(identity)
    rows = {season.season_number for season in row.seasons} if row is not None else set()
    if all(number in rows and (number > 0 or specials) for number in options.seasons):
        return
    show = await client.tv_show(item.tmdb_id)
    has = tuple(n for n in show.season_numbers if n > 0 or specials)
    if unknown_seasons(options.seasons, has):
        raise refusal(item, show.name, options.seasons, has, specials, identity.product)
