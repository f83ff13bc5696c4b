"""The fake Seerr server's records: users, the TMDB catalogue, media rows, requests, recorded calls.

Plain mutable dataclasses, one per database entity of the real server (``server/entity/*.ts``),
with Python names; the HTTP layer (``fake_routes``) turns them into the camelCase JSON the server
sends. Tests may read them through ``FakeSeerr.users`` / ``.media`` / ``.requests`` / ``.calls``;
they should change state through the ``FakeSeerr`` builders, which keep the records consistent.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

MediaType = Literal["movie", "tv"]


@dataclass
class UserRecord:
    """A row of the ``user`` table. ``None`` columns are sent as JSON ``null``."""

    id: int
    email: str
    username: str | None
    permissions: int
    user_type: int
    created_at: datetime
    updated_at: datetime
    plex_username: str | None = None
    plex_id: int | None = None
    jellyfin_username: str | None = None
    jellyfin_user_id: str | None = None
    avatar: str = ""
    movie_quota_limit: int | None = None
    movie_quota_days: int | None = None
    tv_quota_limit: int | None = None
    tv_quota_days: int | None = None

    def display_name(self, with_jellyfin: bool) -> str:
        """``username || plexUsername || [J/S: jellyfinUsername ||] email``."""
        jellyfin = self.jellyfin_username if with_jellyfin else None
        return self.username or self.plex_username or jellyfin or self.email


@dataclass
class TitleRecord:
    """An entry of the fake's TMDB catalogue (what ``/movie/{id}``, ``/tv/{id}`` and ``/search`` know)."""

    media_type: MediaType
    tmdb_id: int
    title: str
    seasons: int = 0  # regular seasons 1..seasons
    specials: bool = False  # TMDB also lists a season 0
    tvdb_id: int | None = None
    imdb_id: str | None = None
    #: TMDB's ``overview``, ``release_date`` (TV: ``first_air_date``) and ``poster_path``; None
    #: gives the made-up defaults of :meth:`tmdb_overview`, :meth:`tmdb_date`, :meth:`tmdb_poster`
    overview: str | None = None
    date: str | None = None
    poster_path: str | None = None

    def season_numbers(self) -> list[int]:
        return ([0] if self.specials else []) + list(range(1, self.seasons + 1))

    def tmdb_overview(self) -> str:
        if self.overview is not None:
            return self.overview
        return f"{self.title}: a title of the fake TMDB catalogue."

    def tmdb_date(self) -> str:
        """``releaseDate`` of a movie, ``firstAirDate`` of a show (``YYYY-MM-DD``)."""
        if self.date is not None:
            return self.date
        return "2000-01-01" if self.media_type == "movie" else "2001-01-01"

    def tmdb_poster(self) -> str:
        return self.poster_path if self.poster_path is not None else f"/fake-poster-{self.tmdb_id}.jpg"


@dataclass
class SeasonRecord:
    """A row of the ``season`` table: availability of one season of a TV media row."""

    id: int
    season_number: int
    status: int
    status4k: int
    created_at: datetime
    updated_at: datetime


@dataclass
class MediaRecord:
    """A row of the ``media`` table (local id, not the TMDB id) plus its in-memory download status."""

    id: int
    media_type: MediaType
    tmdb_id: int
    tvdb_id: int | None
    imdb_id: str | None
    status: int
    status4k: int
    created_at: datetime
    updated_at: datetime
    last_season_change: datetime
    media_added_at: datetime | None = None
    service_id: int | None = None
    service_id4k: int | None = None
    external_service_id: int | None = None
    external_service_id4k: int | None = None
    external_service_slug: str | None = None
    external_service_slug4k: str | None = None
    seasons: list[SeasonRecord] = field(default_factory=list)
    download_status: list[dict[str, Any]] = field(default_factory=list)
    download_status4k: list[dict[str, Any]] = field(default_factory=list)

    def status_of(self, is4k: bool) -> int:
        return self.status4k if is4k else self.status

    def season(self, number: int) -> SeasonRecord | None:
        return next((s for s in self.seasons if s.season_number == number), None)


@dataclass
class SeasonRequestRecord:
    """A row of the ``season_request`` table (uses MediaRequestStatus values)."""

    id: int
    season_number: int
    status: int
    created_at: datetime
    updated_at: datetime


@dataclass
class RequestRecord:
    """A row of the ``media_request`` table."""

    id: int
    status: int
    media_id: int
    media_type: MediaType
    is4k: bool
    requested_by: int
    modified_by: int | None
    created_at: datetime
    updated_at: datetime
    seasons: list[SeasonRequestRecord] = field(default_factory=list)
    server_id: int | None = None
    profile_id: int | None = None
    root_folder: str | None = None
    language_profile_id: int | None = None
    tags: list[int] | None = None
    is_auto_request: bool = False

    def season_numbers(self) -> list[int]:
        return [s.season_number for s in self.seasons]


@dataclass
class BlocklistRecord:
    """A row of the ``blocklist`` (Jellyseerr: ``blacklist``) table."""

    id: int
    media_type: MediaType
    tmdb_id: int
    title: str | None
    user_id: int
    created_at: datetime
    tags: str | None = None  # set by the tag-based blocklist job; None = added by hand


@dataclass(frozen=True)
class RecordedCall:
    """One HTTP exchange with the fake.

    ``path`` is the URL path with the ``/api/v1`` prefix removed (the API root ``/api/v1`` itself
    is recorded as ``"/"``; paths outside ``/api/v1`` are kept whole). ``query`` is the raw query
    string as sent (not decoded). ``user_id`` is the acting user when the API key (and
    ``X-Api-User``) resolved to one, else None. ``status`` is 0 for a request the fake never
    answered. ``kind`` is ``"tmdb"`` for the TMDB-backed routes
    (``/movie/{id}``, ``/tv/{id}``, ``/search``, ``/discover/*``, ``POST /request``) and ``"db"``
    for everything else.
    """

    method: str
    path: str
    query: str
    user_id: int | None
    status: int
    kind: Literal["tmdb", "db"]


@dataclass
class Fault:
    """A pending ``fail_next`` answer."""

    remaining: int
    status: int
    body: bytes
    content_type: str
    path_prefix: str


class FakeHttpError(Exception):
    """Raised inside the fake to answer with ``status`` and the JSON ``body`` (or no body)."""

    def __init__(self, status: int, body: dict[str, Any] | None) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


class NeverAnsweredError(Exception):
    """Raised inside the fake for a request the real server never answers (a non-numeric
    ``X-Api-User``): ``serve()`` holds the connection until the client gives up, the in-process
    transports raise ``httpx.ReadTimeout`` at once."""


def message_error(status: int, message: str) -> FakeHttpError:
    """The route error handler's shape: ``{"message": ...}`` (notes §10)."""
    return FakeHttpError(status, {"message": message})


def entity_not_found(entity: str, entity_id: int | None) -> str:
    """TypeORM's ``EntityNotFoundError`` text for ``findOneOrFail({where: {id}})``: the criteria
    as ``JSON.stringify(criteria, null, 4)`` (a non-numeric id is ``NaN``, which prints ``null``)."""
    criteria = json.dumps({"where": {"id": entity_id}}, indent=4)
    return f'Could not find any entity of type "{entity}" matching: {criteria}'


def permission_error() -> FakeHttpError:
    """The ``isAuthenticated`` middleware's 403, which uses ``error`` (notes §3)."""
    return FakeHttpError(403, {"status": 403, "error": "You do not have permission to access this endpoint"})


@functools.lru_cache(maxsize=1 << 16)
def iso(moment: datetime) -> str:
    """JavaScript's ``Date.toISOString()``: UTC with milliseconds and ``Z``.

    Memoised (a datetime is immutable): a page of 1,000 media rows has about 5,000 dates, and
    formatting them was most of the fake's own time per page, which is not the real server's."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
