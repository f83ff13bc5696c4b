"""A large, realistic fake server and a host whose provider talks to it over real HTTP.

The fake's builders (``add_media``, ``create_request``) look media up by scanning the whole table,
which is fine for tests and far too slow for 100,000 rows; :func:`seed` therefore fills the
fake's dicts directly with the same record types (``fake_state``), keeping them consistent the way
the builders would: one TMDB title per media row, TV seasons, distinct ``updatedAt`` stamps (one
second apart, so ``sort=modified`` has a strict order), requests pointing at media rows whose
status matches (pending → PENDING, approved → PROCESSING), and the id counters moved on. Of the
rows, 60 % are available, 10 % partially available shows (or available movies), 10 % processing,
10 % pending and 10 % unknown, movies and shows alike.

A Discovery page (:meth:`World.page`) mixes titles the server knows (various statuses) with titles
it has never seen (only in the fake TMDB catalogue), like the real page, which shows titles that
are not in the library. :class:`Reserve` hands each scenario the titles and requests it changes
on the server, so no scenario finds one another has moved.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from aperture_hookspecs import ApertureUser, MediaRef, ProviderInfo, RequestState, TrackedRequest
from aperture_overseerr import SEERR_CAPABILITIES, SeerrProvider
from aperture_overseerr.permissions import Permission
from aperture_overseerr.testing import FakeSeerr, MediaRecord, RequestRecord, SeasonRecord, TitleRecord
from aperture_overseerr.testing.fake_state import SeasonRequestRecord
from aperture_plugins import MemorySettings, PluginHost

MEDIA_PENDING, MEDIA_PROCESSING, MEDIA_PARTIAL, MEDIA_AVAILABLE, MEDIA_UNKNOWN = 2, 3, 4, 5, 1
REQUEST_PENDING, REQUEST_APPROVED = 1, 2
MediaType = Literal["movie", "tv"]
#: The first TMDB id of titles that have no media row (never requested, not in the library).
UNSEEN_BASE = 5_000_000


@dataclass
class Latency:
    """Injected server latency in seconds: TMDB-backed endpoints and database-only endpoints."""

    tmdb: float = 0.050
    db: float = 0.002


@dataclass
class World:
    """A seeded fake, its users, and the media/requests a scenario picks from."""

    fake: FakeSeerr
    users: list[ApertureUser]
    known: list[MediaRef] = field(default_factory=list)
    unseen: list[MediaRef] = field(default_factory=list)
    requests: list[TrackedRequest] = field(default_factory=list)

    def page(self, number: int, size: int) -> list[MediaRef]:
        """Discovery page ``number``: half titles the server knows, half it has never seen."""
        rng = random.Random(number)
        known = rng.sample(self.known, min(len(self.known), size - size // 2))
        unseen = rng.sample(self.unseen, min(len(self.unseen), size - len(known)))
        cards = known + unseen
        rng.shuffle(cards)
        return cards


def seed(
    rows: int,
    *,
    latency: Latency,
    users: int = 50,
    requests: int = 1000,
    unseen: int = 2000,
    flavour: str = "jellyseerr",
    version: str | None = None,
    frozen_updated_at: bool | None = None,
    settle: bool = False,
) -> World:
    """A fake with ``rows`` media rows, ``users`` requesting users and ``requests`` open requests.

    ``flavour``, ``version`` and ``frozen_updated_at`` are :class:`FakeSeerr`'s (the seeded
    rows are the same for every flavour). By default a fifth of the rows are pending or
    processing whatever the number of requests (a stress case for the in-flight sets); with
    ``settle`` only the requested ones are (:func:`_settle`)."""
    fake = FakeSeerr(
        flavour,  # type: ignore[arg-type]
        version=version,
        frozen_updated_at=frozen_updated_at,
        tmdb_latency=latency.tmdb,
        db_latency=latency.db,
    )
    people = []
    for n in range(1, users + 1):
        name = f"viewer{n:03d}"
        fake.add_user(name, jellyfin_username=name, permissions=int(Permission.REQUEST))
        people.append(ApertureUser(name))
    world = World(fake, people)
    start = fake.now() - timedelta(seconds=rows + 3600)
    pending: list[MediaRecord] = []
    processing: list[MediaRecord] = []
    for n in range(rows):
        media_type: MediaType = "tv" if n % 10 >= 7 else "movie"
        tmdb_id = 10_000 + n
        title = TitleRecord(
            media_type=media_type,
            tmdb_id=tmdb_id,
            title=f"Bench {media_type} {tmdb_id}",
            seasons=1 + n % 5 if media_type == "tv" else 0,
            tvdb_id=300_000 + tmdb_id if media_type == "tv" else None,
            imdb_id=f"tt{tmdb_id:07d}",
        )
        fake.titles[(media_type, tmdb_id)] = title
        status = _status(n, media_type)
        stamp = start + timedelta(seconds=n)
        record = MediaRecord(
            id=n + 1,
            media_type=media_type,
            tmdb_id=tmdb_id,
            tvdb_id=title.tvdb_id,
            imdb_id=title.imdb_id,
            status=status,
            status4k=MEDIA_UNKNOWN,
            created_at=stamp,
            updated_at=stamp,
            last_season_change=stamp,
            media_added_at=stamp if status in (MEDIA_PARTIAL, MEDIA_AVAILABLE) else None,
        )
        if media_type == "tv" and status in (MEDIA_PARTIAL, MEDIA_AVAILABLE):
            for season in range(1, title.seasons + 1):
                available = status == MEDIA_AVAILABLE or season == 1
                record.seasons.append(
                    SeasonRecord(
                        n * 10 + season,
                        season,
                        MEDIA_AVAILABLE if available else MEDIA_UNKNOWN,
                        MEDIA_UNKNOWN,
                        stamp,
                        stamp,
                    )
                )
        fake.media[record.id] = record
        world.known.append(MediaRef.parse(f"{media_type}:{tmdb_id}"))
        if status == MEDIA_PENDING:
            pending.append(record)
        elif status == MEDIA_PROCESSING:
            processing.append(record)
    fake._ids["media"] = rows
    fake._ids["season"] = rows * 10 + 10
    for n in range(unseen):
        media_type = "tv" if n % 10 >= 7 else "movie"
        tmdb_id = UNSEEN_BASE + n
        fake.titles[(media_type, tmdb_id)] = TitleRecord(
            media_type, tmdb_id, f"Unseen {media_type} {tmdb_id}", seasons=3 if media_type == "tv" else 0
        )
        world.unseen.append(MediaRef.parse(f"{media_type}:{tmdb_id}"))
    _seed_requests(world, pending, processing, requests)
    if settle:
        _settle(world)
    return world


def _settle(world: World) -> None:
    """Pending and processing rows without an open request become unknown (their requests were
    deleted): the in-flight sets then hold only the requested titles, as on a home server."""
    requested = {request.media_id for request in world.fake.requests.values()}
    for media in world.fake.media.values():
        if media.status in (MEDIA_PENDING, MEDIA_PROCESSING) and media.id not in requested:
            media.status = MEDIA_UNKNOWN


def _status(n: int, media_type: str) -> int:
    """Blocks of ten rows (seven movies, three shows) share a status, so shows get every status."""
    bucket = (n // 10) % 20
    if bucket < 12:
        return MEDIA_AVAILABLE
    if bucket < 14:
        return MEDIA_PARTIAL if media_type == "tv" else MEDIA_AVAILABLE
    if bucket < 16:
        return MEDIA_PROCESSING
    if bucket < 18:
        return MEDIA_PENDING
    return MEDIA_UNKNOWN


def _seed_requests(
    world: World, pending: list[MediaRecord], processing: list[MediaRecord], count: int
) -> None:
    """One open request per pending/processing media row, up to ``count``, spread over the users."""
    fake = world.fake
    season_request_id = 0
    candidates = [(m, REQUEST_PENDING) for m in pending] + [(m, REQUEST_APPROVED) for m in processing]
    candidates.sort(key=lambda pair: pair[0].id)
    step = max(1, len(candidates) // max(1, count))  # few requests: spread over the in-flight rows
    for n, (media, status) in enumerate(candidates[::step][:count], start=1):
        owner_index = n % len(world.users)
        owner_id = owner_index + 2  # user 1 is the admin
        seasons = []
        if media.media_type == "tv":
            season_request_id += 1
            seasons.append(
                SeasonRequestRecord(season_request_id, 1, status, media.created_at, media.created_at)
            )
        fake.requests[n] = RequestRecord(
            id=n,
            status=status,
            media_id=media.id,
            media_type=media.media_type,
            is4k=False,
            requested_by=owner_id,
            modified_by=1 if status == REQUEST_APPROVED else None,
            created_at=media.created_at,
            updated_at=media.updated_at,
            seasons=seasons,
        )
        world.requests.append(
            TrackedRequest(
                request_id=str(n),
                item=MediaRef.parse(f"{media.media_type}:{media.tmdb_id}"),
                user=world.users[owner_index],
                state=RequestState.PENDING if status == REQUEST_PENDING else RequestState.APPROVED,
                seasons=(1,) if seasons else None,
            )
        )
    fake._ids["request"] = len(world.requests)
    fake._ids["season_request"] = season_request_id


def make_host(url: str, api_key: str, *, product: str = "jellyseerr", **settings: object) -> PluginHost:
    """A host whose active provider talks to ``url`` over real HTTP: the Overseerr provider for
    an Overseerr server, else the Jellyseerr one (which serves Seerr 3.x too)."""
    name, title = ("overseerr", "Overseerr") if product == "overseerr" else ("jellyseerr", "Jellyseerr")
    provider = SeerrProvider(
        ProviderInfo(name=name, title=title, version="bench", capabilities=SEERR_CAPABILITIES)
    )
    host = PluginHost(load_entry_points=False, settings=MemorySettings()).load()
    host.register(provider, name)
    host.use(name)
    host.set_settings(name, {"url": url, "api_key": api_key, **settings})
    return host


def runtime_of(host: PluginHost) -> Any:
    """The provider's live state (media index, caches) behind ``host``."""
    record = host.active_provider()
    return host._context(record).runtime["seerr"]


@contextmanager
def served(world: World) -> Iterator[str]:
    """The fake over real HTTP on 127.0.0.1 (a background thread); yields its base URL."""
    with world.fake.serve() as url:
        yield url


class Reserve:
    """Titles and requests of the world that no scenario has changed yet, each handed out once.

    The scenarios run one after the other against the same server and change it (approvals,
    arrivals, …); each takes what it changes from here, so none finds a title another one has
    already moved. The first ``tracked`` requests are the ones Aperture tracks (polls), the rest
    were filed on the server's own web site.
    """

    def __init__(self, world: World, tracked: int) -> None:
        self._tracked = list(world.requests[:tracked])
        self._untracked = list(world.requests[tracked:])
        known = {(ref.media_type.value, ref.tmdb_id) for ref in world.known}
        self._unknown_rows = [
            MediaRef.parse(f"{m.media_type}:{m.tmdb_id}")
            for m in world.fake.media.values()
            if m.status == MEDIA_UNKNOWN and (m.media_type, m.tmdb_id) in known
        ]
        self._unseen = list(world.unseen)

    def request(self, *, tracked: bool, state: RequestState, media_type: str) -> TrackedRequest:
        """An open request in ``state`` (pending or approved) for a ``media_type`` title."""
        pool = self._tracked if tracked else self._untracked
        # tracked ones from the end: the polling scenario approves the first pending ones
        order = range(len(pool) - 1, -1, -1) if tracked else range(len(pool))
        for n in order:
            request = pool[n]
            if request.state is state and request.item.media_type.value == media_type:
                return pool.pop(n)
        kind = "tracked" if tracked else "untracked"
        raise RuntimeError(f"no {kind} {state.value} {media_type} request left; seed more rows or requests")

    def first_pending_tracked(self, count: int) -> list[TrackedRequest]:
        """The first ``count`` pending tracked requests (the polling scenario approves them)."""
        taken = [r for r in self._tracked if r.state is RequestState.PENDING][:count]
        self._tracked = [r for r in self._tracked if r not in taken]
        return taken

    def unknown_row(self) -> MediaRef:
        """A title the server has a row for, status unknown, without any request."""
        if not self._unknown_rows:
            raise RuntimeError("no media row of status unknown left")
        return self._unknown_rows.pop()

    def unseen(self, media_type: str) -> MediaRef:
        """A title the server has no row for (in its TMDB catalogue only)."""
        for n, ref in enumerate(self._unseen):
            if ref.media_type.value == media_type:
                return self._unseen.pop(n)
        raise RuntimeError(f"no unseen {media_type} title left")
