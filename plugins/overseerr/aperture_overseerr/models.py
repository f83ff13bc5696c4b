"""Typed views of what a Seerr-family server sends, and the strict parsing that builds them.

Every response is parsed here before any other module looks at it. A body of the wrong shape
(an HTML login page, truncated JSON, ``null`` where an object belongs, a string for a number)
becomes an :class:`~aperture_hookspecs.errors.UnexpectedResponseError` that names the endpoint
and the field, never a ``KeyError`` or ``TypeError`` deep in the provider.

Unknown fields are ignored and unknown enum values kept as plain numbers, so a newer server
does not break an older plugin. Field names follow the server's (camelCase there, snake_case
here); product-specific fields (``jellyfinUsername``, ``downloadId``, …) are optional.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from aperture_hookspecs import UnexpectedResponseError

T = TypeVar("T")

# MediaStatus and MediaRequestStatus values (notes §5); meanings of 6 and 7 depend on the product.
MEDIA_UNKNOWN, MEDIA_PENDING, MEDIA_PROCESSING, MEDIA_PARTIAL, MEDIA_AVAILABLE = 1, 2, 3, 4, 5
MEDIA_STATUS_6, MEDIA_STATUS_7 = 6, 7
REQUEST_PENDING, REQUEST_APPROVED, REQUEST_DECLINED, REQUEST_FAILED, REQUEST_COMPLETED = 1, 2, 3, 4, 5


class Shape:
    """Reads fields from one JSON object, raising a clear error when a field has the wrong type."""

    def __init__(self, value: Any, where: str) -> None:
        if type(value) is not dict and not isinstance(value, Mapping):  # the ABC check is slow
            raise wrong_shape(where, f"expected a JSON object, got {_kind(value)}")
        self.value = value
        self.where = where

    def _get(self, name: str, required: bool) -> Any:
        value = self.value.get(name)
        if value is None and required:
            raise wrong_shape(self.where, f"field {name!r} is missing")
        return value

    def req_int(self, name: str) -> int:
        value = self._get(name, True)
        if type(value) is int:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong_shape(self.where, f"field {name!r} should be a whole number, got {_kind(value)}")
        return value

    def opt_int(self, name: str) -> int | None:
        value = self._get(name, False)
        if value is None or type(value) is int:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong_shape(self.where, f"field {name!r} should be a whole number, got {_kind(value)}")
        return value

    def req_str(self, name: str) -> str:
        value = self._get(name, True)
        if not isinstance(value, str):
            raise wrong_shape(self.where, f"field {name!r} should be text, got {_kind(value)}")
        return value

    def opt_str(self, name: str) -> str | None:
        value = self._get(name, False)
        if value is None:
            return None
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise wrong_shape(self.where, f"field {name!r} should be text, got {_kind(value)}")
        return str(value)

    def flag(self, name: str, default: bool = False) -> bool:
        value = self._get(name, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise wrong_shape(self.where, f"field {name!r} should be true or false, got {_kind(value)}")
        return value

    def opt_datetime(self, name: str) -> datetime | None:
        value = self._get(name, False)
        if value is None:
            return None
        if not isinstance(value, str):
            raise wrong_shape(self.where, f"field {name!r} should be a date, got {_kind(value)}")
        return parse_datetime(value, self.where, name)

    def obj(self, name: str) -> Shape | None:
        value = self._get(name, False)
        return None if value is None else Shape(value, f"{self.where}.{name}")

    def items(self, name: str) -> list[Any]:
        value = self._get(name, False)
        if value is None:
            return []
        if not isinstance(value, list):
            raise wrong_shape(self.where, f"field {name!r} should be a list, got {_kind(value)}")
        return value


def wrong_shape(where: str, detail: str) -> UnexpectedResponseError:
    return UnexpectedResponseError(
        f"The server's answer to {where} has the wrong shape: {detail}",
        hints=(
            "Check the URL points at Jellyseerr/Overseerr itself, not a proxy or login page",
            "Update the server, or report this with the server's version",
        ),
    )


def parse_datetime(value: str, where: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise wrong_shape(where, f"field {name!r} is not an ISO date") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "text", list: "a list"}.get(
        type(value), "an object" if isinstance(value, Mapping) else type(value).__name__
    )


def expect_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise wrong_shape(where, f"expected a list, got {_kind(value)}")
    return value


# -- server identity ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """``GET /api/v1/status``."""

    version: str
    commit_tag: str | None

    @classmethod
    def parse(cls, value: Any) -> ServerStatus:
        shape = Shape(value, "GET /api/v1/status")
        return cls(shape.req_str("version"), shape.opt_str("commitTag"))


@dataclass(frozen=True, slots=True)
class PublicSettings:
    """``GET /api/v1/settings/public`` (the parts we use).

    ``enable_special_episodes`` is ``None`` where the server has no such setting (Overseerr).
    """

    media_server_type: int | None
    movie_4k_enabled: bool
    series_4k_enabled: bool
    partial_requests_enabled: bool
    application_title: str | None
    enable_special_episodes: bool | None = None

    @classmethod
    def parse(cls, value: Any) -> PublicSettings:
        shape = Shape(value, "GET /api/v1/settings/public")
        return cls(
            shape.opt_int("mediaServerType"),
            shape.flag("movie4kEnabled"),
            shape.flag("series4kEnabled"),
            shape.flag("partialRequestsEnabled", default=True),
            shape.opt_str("applicationTitle"),
            shape.flag("enableSpecialEpisodes") if "enableSpecialEpisodes" in shape.value else None,
        )


@dataclass(frozen=True, slots=True)
class MainSettings:
    """``GET /api/v1/settings/main`` (admin only; the parts we use)."""

    csrf_protection: bool

    @classmethod
    def parse(cls, value: Any) -> MainSettings:
        return cls(Shape(value, "GET /api/v1/settings/main").flag("csrfProtection"))


# -- users --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeerrUser:
    """A user on the server (``/auth/me``, ``/user``). ``email`` is absent without MANAGE_USERS.

    ``own_quota`` says whether the user has a quota of their own (``movieQuotaLimit`` or
    ``tvQuotaLimit`` set); ``None`` when the answer did not carry those fields.
    ``request_count`` is the number of requests the user has made (``None`` if not sent).
    """

    id: int
    permissions: int
    display_name: str
    username: str | None = None
    email: str | None = None
    plex_username: str | None = None
    jellyfin_username: str | None = None
    jellyfin_user_id: str | None = None
    user_type: int | None = None
    own_quota: bool | None = None
    request_count: int | None = None

    @classmethod
    def parse(cls, value: Any, where: str) -> SeerrUser:
        shape = Shape(value, where)
        user_id = shape.req_int("id")
        username = shape.opt_str("username")
        email = shape.opt_str("email")
        plex = shape.opt_str("plexUsername")
        jellyfin = shape.opt_str("jellyfinUsername")
        display = shape.opt_str("displayName") or username or plex or jellyfin or email or f"user {user_id}"
        return cls(
            id=user_id,
            permissions=shape.opt_int("permissions") or 0,
            display_name=display,
            username=username,
            email=email,
            plex_username=plex,
            jellyfin_username=jellyfin,
            jellyfin_user_id=shape.opt_str("jellyfinUserId"),
            user_type=shape.opt_int("userType"),
            own_quota=(
                bool(shape.opt_int("movieQuotaLimit") or shape.opt_int("tvQuotaLimit"))
                if "movieQuotaLimit" in shape.value or "tvQuotaLimit" in shape.value
                else None
            ),
            request_count=shape.opt_int("requestCount"),
        )


@dataclass(frozen=True, slots=True)
class QuotaDefaults:
    """The global default quotas of ``GET /settings/main`` (``defaultQuotas``): do any apply?"""

    movie_limit: int | None
    tv_limit: int | None

    @property
    def any(self) -> bool:
        return bool(self.movie_limit or self.tv_limit)

    @classmethod
    def parse(cls, main: Any) -> QuotaDefaults | None:
        """``None`` when the settings do not say (an older server, or a shape we do not know)."""
        if not isinstance(main, Mapping) or not isinstance(main.get("defaultQuotas"), Mapping):
            return None
        shape = Shape(main["defaultQuotas"], "GET /api/v1/settings/main defaultQuotas")
        movie, tv = shape.obj("movie"), shape.obj("tv")
        if movie is None or tv is None:
            return None
        return cls(movie.opt_int("quotaLimit"), tv.opt_int("quotaLimit"))


@dataclass(frozen=True, slots=True)
class PageInfo:
    pages: int
    page_size: int
    results: int
    page: int

    @classmethod
    def parse(cls, shape: Shape) -> PageInfo:
        info = shape.obj("pageInfo")
        if info is None:
            raise wrong_shape(shape.where, "field 'pageInfo' is missing")
        return cls(
            info.req_int("pages"), info.req_int("pageSize"), info.req_int("results"), info.req_int("page")
        )


def page_parts(value: Any, where: str, parse_item: Callable[[Any, str], T]) -> tuple[PageInfo, tuple[T, ...]]:
    """The ``pageInfo`` and parsed ``results`` of one page of a take/skip list (notes §10)."""
    shape = Shape(value, where)
    return PageInfo.parse(shape), tuple(
        parse_item(item, f"{where} results[]") for item in shape.items("results")
    )


@dataclass(frozen=True, slots=True)
class QuotaPart:
    """One half of ``GET /user/{id}/quota``; ``limit``/``days``/``remaining`` absent = unlimited."""

    used: int
    restricted: bool
    limit: int | None = None
    days: int | None = None
    remaining: int | None = None

    @classmethod
    def parse(cls, shape: Shape | None, where: str) -> QuotaPart:
        if shape is None:
            raise wrong_shape(where, "the quota part is missing")
        limit = shape.opt_int("limit")
        return cls(
            used=shape.opt_int("used") or 0,
            restricted=shape.flag("restricted"),
            limit=limit or None,  # 0 means unlimited
            days=shape.opt_int("days"),
            remaining=shape.opt_int("remaining") if limit else None,
        )


@dataclass(frozen=True, slots=True)
class Quota:
    movie: QuotaPart
    tv: QuotaPart

    @classmethod
    def parse(cls, value: Any, where: str) -> Quota:
        shape = Shape(value, where)
        return cls(QuotaPart.parse(shape.obj("movie"), where), QuotaPart.parse(shape.obj("tv"), where))


# -- media --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeasonStatus:
    season_number: int
    status: int
    status4k: int


_MEDIA_TYPES = {"movie": "movie", "tv": "tv"}


@functools.lru_cache(maxsize=4096)
def season_status(season_number: int, status: int, status4k: int) -> SeasonStatus:
    """A :class:`SeasonStatus`, shared between rows: a large media index holds a few hundred
    distinct ones instead of one object per season of every show."""
    return SeasonStatus(season_number, status, status4k)


@dataclass(frozen=True, slots=True)
class DownloadItem:
    """One entry of ``downloadStatus`` (a Radarr/Sonarr queue item, notes §7)."""

    size: int | None
    size_left: int | None
    status: str | None
    estimated_completion: datetime | None
    season_number: int | None = None

    @classmethod
    def parse(cls, value: Any, where: str) -> DownloadItem:
        shape = Shape(value, where)
        episode = shape.obj("episode")
        size, left = shape.value.get("size"), shape.value.get("sizeLeft")
        return cls(
            size=int(size) if isinstance(size, int | float) and not isinstance(size, bool) else None,
            size_left=int(left) if isinstance(left, int | float) and not isinstance(left, bool) else None,
            status=shape.opt_str("status"),
            estimated_completion=shape.opt_datetime("estimatedCompletionTime"),
            season_number=episode.opt_int("seasonNumber") if episode else None,
        )


@dataclass(frozen=True, slots=True)
class MediaRow:
    """A row of the server's media table (``/media`` items, ``mediaInfo``, ``request.media``).

    ``seasons_known`` is false when the JSON had no ``seasons`` key at all: request lists
    (``GET /request``, ``/user/{id}/requests``) embed the media row without its seasons (notes
    §12 trap 18), which says nothing about them. Such a *partial* row must never replace a full
    one: :meth:`merged_into` keeps the known seasons.
    """

    id: int
    media_type: str
    tmdb_id: int
    status: int
    status4k: int
    updated_at: datetime | None
    seasons: tuple[SeasonStatus, ...] = ()
    downloads: tuple[DownloadItem, ...] = ()
    downloads4k: tuple[DownloadItem, ...] = ()
    seasons_known: bool = True

    def status_for(self, is_4k: bool) -> int:
        return self.status4k if is_4k else self.status

    def downloads_for(self, is_4k: bool) -> tuple[DownloadItem, ...]:
        return self.downloads4k if is_4k else self.downloads

    def merged_into(self, known: MediaRow | None) -> MediaRow:
        """This row, read just now, completed with what it leaves out and ``known`` had.

        A partial row (no ``seasons`` key) takes the seasons of the known row of the same media;
        a full row stands as it is.
        """
        if self.seasons_known or known is None or known.id != self.id or not known.seasons_known:
            return self
        return dataclasses.replace(self, seasons=known.seasons, seasons_known=True)

    @classmethod
    def parse(cls, value: Any, where: str) -> MediaRow:
        shape = Shape(value, where)
        given = shape.req_str("mediaType")
        media_type = _MEDIA_TYPES.get(given)  # one shared string per type, not one per row
        if media_type is None:
            raise wrong_shape(where, f"mediaType {given!r} is neither movie nor tv")
        seasons = tuple(
            season_status(s.req_int("seasonNumber"), s.opt_int("status") or 1, s.opt_int("status4k") or 1)
            for s in (Shape(item, f"{where}.seasons[]") for item in shape.items("seasons"))
        )
        return cls(
            id=shape.req_int("id"),
            media_type=media_type,
            tmdb_id=shape.req_int("tmdbId"),
            status=shape.opt_int("status") or MEDIA_UNKNOWN,
            status4k=shape.opt_int("status4k") or MEDIA_UNKNOWN,
            updated_at=shape.opt_datetime("updatedAt"),
            seasons=seasons,
            seasons_known="seasons" in shape.value,
            downloads=tuple(
                DownloadItem.parse(d, f"{where}.downloadStatus[]") for d in shape.items("downloadStatus")
            ),
            downloads4k=tuple(
                DownloadItem.parse(d, f"{where}.downloadStatus4k[]") for d in shape.items("downloadStatus4k")
            ),
        )


@dataclass(frozen=True, slots=True)
class TvShow:
    """``GET /api/v1/tv/{tmdbId}`` (the parts we use): the show's name and its TMDB seasons.

    The top-level ``seasons[]`` is TMDB's season list (season 0 = specials, when TMDB has them);
    what is in the library is in ``mediaInfo``, not here (notes §6).
    """

    tmdb_id: int
    name: str | None
    season_numbers: tuple[int, ...]

    @classmethod
    def parse(cls, value: Any, where: str = "GET /api/v1/tv/{id}") -> TvShow:
        shape = Shape(value, where)
        numbers = {
            Shape(item, f"{where}.seasons[]").req_int("seasonNumber") for item in shape.items("seasons")
        }
        return cls(shape.req_int("id"), shape.opt_str("name"), tuple(sorted(numbers)))


@dataclass(frozen=True, slots=True)
class MediaPage:
    page_info: PageInfo
    results: tuple[MediaRow, ...]

    @classmethod
    def parse(cls, value: Any, where: str = "GET /api/v1/media") -> MediaPage:
        return cls(*page_parts(value, where, MediaRow.parse))


@dataclass(frozen=True, slots=True)
class UserPage:
    page_info: PageInfo
    results: tuple[SeerrUser, ...]

    @classmethod
    def parse(cls, value: Any, where: str = "GET /api/v1/user") -> UserPage:
        return cls(*page_parts(value, where, SeerrUser.parse))


# -- requests -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeasonRequest:
    season_number: int
    status: int


@dataclass(frozen=True, slots=True)
class MediaRequest:
    """A request (``POST /request`` answer, ``/request/{id}``, request lists)."""

    id: int
    status: int
    media_type: str
    is_4k: bool
    media: MediaRow | None
    requested_by: int | None
    seasons: tuple[SeasonRequest, ...]
    created_at: datetime | None
    updated_at: datetime | None
    #: who last approved/declined it (``modifiedBy.id``); None when nobody did or the key is absent
    modified_by: int | None = None

    @classmethod
    def parse(cls, value: Any, where: str) -> MediaRequest:
        shape = Shape(value, where)
        media_value = shape.value.get("media")
        media = MediaRow.parse(media_value, f"{where}.media") if isinstance(media_value, Mapping) else None
        requested_by = shape.obj("requestedBy")
        modified_by = shape.obj("modifiedBy")
        return cls(
            id=shape.req_int("id"),
            status=shape.req_int("status"),
            media_type=shape.opt_str("type") or (media.media_type if media else "movie"),
            is_4k=shape.flag("is4k"),
            media=media,
            requested_by=requested_by.opt_int("id") if requested_by else None,
            seasons=tuple(
                SeasonRequest(s.req_int("seasonNumber"), s.opt_int("status") or REQUEST_PENDING)
                for s in (Shape(item, f"{where}.seasons[]") for item in shape.items("seasons"))
            ),
            created_at=shape.opt_datetime("createdAt"),
            updated_at=shape.opt_datetime("updatedAt"),
            modified_by=modified_by.opt_int("id") if modified_by else None,
        )


@dataclass(frozen=True, slots=True)
class RequestPage:
    page_info: PageInfo
    results: tuple[MediaRequest, ...]

    @classmethod
    def parse(cls, value: Any, where: str) -> RequestPage:
        return cls(*page_parts(value, where, MediaRequest.parse))


@dataclass(frozen=True, slots=True)
class RequestCounts:
    """``GET /request/count``: global numbers, cheap to poll."""

    values: tuple[tuple[str, int], ...]

    @property
    def total(self) -> int:
        return dict(self.values).get("total", 0)

    @classmethod
    def parse(cls, value: Any) -> RequestCounts:
        shape = Shape(value, "GET /api/v1/request/count")
        return cls(tuple(sorted((k, v) for k, v in shape.value.items() if isinstance(v, int))))
