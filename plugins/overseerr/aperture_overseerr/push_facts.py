"""What pushes said, kept until the server has been read since: no read that began before a
push may undo it. No I/O.

A push (:mod:`~aperture_overseerr.push_apply`) becomes at most one :class:`TitleFact` (what the
title's media row became, for the regular or the 4K instance) and one :class:`RequestFact`
(what the request became). The :class:`~aperture_overseerr.media_index.MediaIndex` applies
them to its rows at once, and :class:`PushFacts` keeps them, numbered in arrival order, so that
whatever the index reads afterwards can be checked against them:

* a reading from a read that **began before** the fact arrived (an index check or a rebuild in
  flight when the push came, which may return the old status) gets the fact applied again on top
  of it: the pushed state stands;
* a reading from a read that **began after** is the server's word, newer than the push: the
  fact is dropped (the server is the truth; the push only got there first).

Facts only ever move a row or a request forwards (by their rank: pending → approved → … →
available; a decline or a failure from the states it can follow), so a fact applied again to
a reading that is already further along changes nothing. Reads are matched to facts by
sequence number, not by clock, so two events in the same clock tick are still ordered. The store
is bounded (:data:`MAX_FACTS`); a fact also expires after :data:`FACT_MAX_AGE` seconds, by which
time a rebuild has read everything again.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

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
    SeasonRequest,
    season_status,
)

__all__ = [
    "FACT_MAX_AGE",
    "MAX_FACTS",
    "PushFacts",
    "RequestFact",
    "TitleFact",
    "media_rank",
    "request_rank",
    "statuses_below",
]

MAX_FACTS = 5000
FACT_MAX_AGE = 900.0
"""Seconds: a rebuild (every 15 minutes) has read everything again by then."""

_MEDIA_RANK = {
    MEDIA_UNKNOWN: 0,
    MEDIA_STATUS_6: 0,  # DELETED on Overseerr ≥ 1.35; blocklisted on Jellyseerr/Seerr (approval moves it on)
    MEDIA_STATUS_7: 0,  # DELETED on Jellyseerr ≥ 2.6 and Seerr
    MEDIA_PENDING: 1,
    MEDIA_PROCESSING: 2,
    MEDIA_PARTIAL: 3,
    MEDIA_AVAILABLE: 4,
}
_REQUEST_RANK = {
    REQUEST_PENDING: 0,
    REQUEST_APPROVED: 1,
    REQUEST_DECLINED: 2,
    REQUEST_FAILED: 3,  # after a decline too: Seerr 3.1 once sent DECLINED, then FAILED (notes §11)
    REQUEST_COMPLETED: 4,
}
_ALL_MEDIA = frozenset(_MEDIA_RANK)

Fact = TypeVar("Fact", "TitleFact", "RequestFact")


def media_rank(status: int | None) -> int:
    """How far along a media status is (no row: not at all; unknown values: not at all)."""
    return _MEDIA_RANK.get(status, 0) if status is not None else -1


def request_rank(status: int) -> int:
    """How far along a request status is; the only way is up (unknown values: at the start)."""
    return _REQUEST_RANK.get(status, 0)


def statuses_below(status: int) -> frozenset[int | None]:
    """Every media status a row may move forwards to ``status`` from, and "no row" (``None``)."""
    return frozenset({None, *(s for s in _ALL_MEDIA if media_rank(s) < media_rank(status))})


@dataclass(frozen=True, slots=True)
class TitleFact:
    """What one push says a title's media row became, for one instance (``is_4k``).

    The row takes ``status`` when its status (``None``: no row yet) is one of ``applies_from``;
    ``seasons`` are TV seasons that became available (their rows turn AVAILABLE). ``seq`` is the
    arrival number (:class:`PushFacts` sets it), ``at`` the arrival time on the index's clock.
    """

    media_type: str
    tmdb_id: int
    is_4k: bool
    status: int | None
    applies_from: frozenset[int | None]
    seasons: tuple[int, ...] = ()
    seq: int = 0
    at: float = 0.0

    @property
    def key(self) -> tuple[str, int]:
        return self.media_type, self.tmdb_id

    def apply(self, row: MediaRow | None) -> MediaRow | None:
        """``row`` with this fact applied (``None`` stays ``None`` when the fact creates no row)."""
        current = row.status_for(self.is_4k) if row is not None else None
        moves = self.status is not None and current in self.applies_from
        if row is None:
            if not moves or self.status is None:
                return None
            regular, uhd = (MEDIA_UNKNOWN, self.status) if self.is_4k else (self.status, MEDIA_UNKNOWN)
            # id 0: the server's media id is not in a delivery; the next read brings the real row
            row = MediaRow(0, self.media_type, self.tmdb_id, regular, uhd, None, seasons_known=False)
            return self._with_seasons(row)
        if moves and self.status is not None:
            if self.is_4k:
                row = dataclasses.replace(row, status4k=self.status)
            else:
                row = dataclasses.replace(row, status=self.status)
        return self._with_seasons(row)

    def _with_seasons(self, row: MediaRow) -> MediaRow:
        if not self.seasons:
            return row
        known = {season.season_number: season for season in row.seasons}
        changed = False
        for number in self.seasons:
            season = known.get(number)
            status, status4k = (season.status, season.status4k) if season else (MEDIA_UNKNOWN, MEDIA_UNKNOWN)
            if (status4k if self.is_4k else status) == MEDIA_AVAILABLE:
                continue
            if self.is_4k:
                status4k = MEDIA_AVAILABLE
            else:
                status = MEDIA_AVAILABLE
            known[number] = season_status(number, status, status4k)
            changed = True
        if not changed:
            return row
        return dataclasses.replace(row, seasons=tuple(known[n] for n in sorted(known)))


@dataclass(frozen=True, slots=True)
class RequestFact:
    """What one push says a request became: its server ``status`` (only ever forwards).

    ``media_type``/``tmdb_id``, ``is_4k``, ``seasons`` and ``requested_by`` (a server user id)
    describe it for a request the index has not read yet."""

    request_id: int
    status: int
    media_type: str | None = None
    tmdb_id: int | None = None
    is_4k: bool = False
    seasons: tuple[int, ...] = ()
    requested_by: int | None = None
    seq: int = 0
    at: float = 0.0

    def apply(self, request: MediaRequest | None, media: MediaRow | None) -> MediaRequest | None:
        """``request`` moved forwards to this fact's status; for a request not read yet, one
        made from the fact (it needs the title's ``media`` row to be placed; else ``None``)."""
        if request is not None:
            if request_rank(self.status) <= request_rank(request.status):
                return request
            return dataclasses.replace(request, status=self.status)
        if media is None or self.media_type is None:
            return None
        return MediaRequest(
            id=self.request_id,
            status=self.status,
            media_type=self.media_type,
            is_4k=self.is_4k,
            media=media,
            requested_by=self.requested_by,
            seasons=tuple(SeasonRequest(number, self.status) for number in self.seasons),
            created_at=None,
            updated_at=None,
        )


class PushFacts:
    """The facts pushes brought that no read since has superseded (see the module docstring).

    ``sequence`` counts the facts ever added: a read notes it when it begins (its
    ``pushes_seen``) and the facts numbered above it arrived while it ran. A read whose
    ``pushes_seen`` is ``None`` says nothing about when it began, and supersedes nothing.
    """

    def __init__(self, *, max_facts: int = MAX_FACTS, max_age: float = FACT_MAX_AGE) -> None:
        self.max_facts = max_facts
        self.max_age = max_age
        self.sequence = 0
        self._titles: dict[tuple[str, int], list[TitleFact]] = {}
        self._requests: OrderedDict[int, list[RequestFact]] = OrderedDict()
        self._count = 0
        #: every fact added, oldest first (superseded ones are skipped when they come up)
        self._order: deque[TitleFact | RequestFact] = deque()

    def __len__(self) -> int:
        return self._count

    # -- adding --------------------------------------------------------------------------------

    def add_title(self, fact: TitleFact, at: float) -> TitleFact:
        """Keep ``fact`` (numbered now); returns it numbered."""
        self.sequence += 1
        fact = dataclasses.replace(fact, seq=self.sequence, at=at)
        self._titles.setdefault(fact.key, []).append(fact)
        self._added(fact, at)
        return fact

    def add_request(self, fact: RequestFact, at: float) -> RequestFact:
        self.sequence += 1
        fact = dataclasses.replace(fact, seq=self.sequence, at=at)
        self._requests.setdefault(fact.request_id, []).append(fact)
        self._requests.move_to_end(fact.request_id)
        self._added(fact, at)
        return fact

    # -- guarding what was read ------------------------------------------------------------------

    def guard_row(self, row: MediaRow, pushes_seen: int | None) -> MediaRow:
        """``row``, read by a read that began when ``pushes_seen`` facts had arrived: the facts of
        its title that arrived later applied on top; those it supersedes dropped."""
        facts = self._titles.get((row.media_type, row.tmdb_id))
        if not facts:
            return row
        newer = self._newer(facts, pushes_seen)
        if len(newer) != len(facts):
            self._replace_title((row.media_type, row.tmdb_id), newer)
        for fact in newer:
            row = fact.apply(row) or row
        return row

    def guard_request(self, request: MediaRequest, pushes_seen: int | None) -> MediaRequest:
        """The same for a request reading."""
        facts = self._requests.get(request.id)
        if not facts:
            return request
        newer = self._newer(facts, pushes_seen)
        if len(newer) != len(facts):
            self._replace_request(request.id, newer)
        for fact in newer:
            request = fact.apply(request, request.media) or request
        return request

    def title_newer_than(self, media_type: str, tmdb_id: int, pushes_seen: int | None) -> bool:
        """Did a fact about this title arrive after a read that began at ``pushes_seen``?"""
        return bool(self._newer(self._titles.get((media_type, tmdb_id), ()), pushes_seen))

    def request_newer_than(self, request_id: int, pushes_seen: int | None) -> bool:
        return bool(self._newer(self._requests.get(request_id, ()), pushes_seen))

    def titles_newer_than(self, pushes_seen: int | None) -> Iterator[tuple[tuple[str, int], list[TitleFact]]]:
        """Each title with facts that arrived after ``pushes_seen``, and those facts in order."""
        for key, facts in list(self._titles.items()):
            newer = self._newer(facts, pushes_seen)
            if newer:
                yield key, newer

    def requests_newer_than(self, pushes_seen: int | None) -> Iterator[RequestFact]:
        """The latest fact of each request with facts after ``pushes_seen``."""
        for facts in list(self._requests.values()):
            newer = self._newer(facts, pushes_seen)
            if newer:
                yield newer[-1]

    def supersede(self, pushes_seen: int) -> None:
        """A read that began at ``pushes_seen`` read everything (a rebuild): drop older facts."""
        for key, facts in list(self._titles.items()):
            self._replace_title(key, self._newer(facts, pushes_seen))
        for request_id, request_facts in list(self._requests.items()):
            self._replace_request(request_id, self._newer(request_facts, pushes_seen))

    def supersede_request(self, request_id: int, pushes_seen: int | None) -> None:
        """A read that began at ``pushes_seen`` found this request gone: drop its older facts."""
        if pushes_seen is not None and request_id in self._requests:
            self._replace_request(request_id, self._newer(self._requests[request_id], pushes_seen))

    def request_ids(self) -> list[int]:
        """The requests with facts no read has superseded yet, oldest first."""
        return list(self._requests)

    # -- housekeeping ------------------------------------------------------------------------------

    @staticmethod
    def _newer(facts: Iterable[Fact], pushes_seen: int | None) -> list[Fact]:
        return list(facts) if pushes_seen is None else [fact for fact in facts if fact.seq > pushes_seen]

    def _replace_title(self, key: tuple[str, int], facts: list[TitleFact]) -> None:
        self._count += len(facts) - len(self._titles.get(key, ()))
        if facts:
            self._titles[key] = facts
        else:
            self._titles.pop(key, None)

    def _replace_request(self, request_id: int, facts: list[RequestFact]) -> None:
        self._count += len(facts) - len(self._requests.get(request_id, ()))
        if facts:
            self._requests[request_id] = facts
        else:
            self._requests.pop(request_id, None)

    def _added(self, fact: TitleFact | RequestFact, now: float) -> None:
        """Count ``fact`` in; drop facts older than ``max_age``, then the oldest while too many."""
        self._count += 1
        self._order.append(fact)
        cutoff = now - self.max_age
        while self._order and (self._count > self.max_facts or self._order[0].at <= cutoff):
            oldest = self._order.popleft()
            if isinstance(oldest, TitleFact):
                facts = self._titles.get(oldest.key, [])
                if oldest in facts:
                    self._replace_title(oldest.key, [f for f in facts if f is not oldest])
            else:
                request_facts = self._requests.get(oldest.request_id, [])
                if oldest in request_facts:
                    self._replace_request(oldest.request_id, [f for f in request_facts if f is not oldest])
        if len(self._order) > 4 * self.max_facts:  # superseded facts pile up behind live ones
            self._order = deque(f for f in self._order if self._live(f))

    def _live(self, fact: TitleFact | RequestFact) -> bool:
        if isinstance(fact, TitleFact):
            return fact in self._titles.get(fact.key, ())
        return fact in self._requests.get(fact.request_id, ())
