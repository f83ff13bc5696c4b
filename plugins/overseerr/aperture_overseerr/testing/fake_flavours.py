"""The per-flavour table of the fake Seerr server, and the constants every fake module shares.

Everything that differs between Overseerr 1.34 (``overseerr``), Jellyseerr 2.7.3 (``jellyseerr``)
and Seerr 3.1 (``seerr``) lives in one frozen :class:`FlavourTraits` per flavour, in
:data:`FLAVOURS`. The rest of the fake reads these traits; it never asks ``flavour == ...``.
Source of every value: ``shared/reference/seerr-api-notes.md`` (columns O, J273 and S, and §14),
the three OpenAPI files (the query parameters and enum values each version's validator accepts)
and the recordings of the real servers in ``shared/reference/recorded/<product>-<version>/``.

:func:`flavour_traits` builds the traits of another version of a flavour (``"3.2.0"`` of Seerr,
``"2.5.2"`` of Jellyseerr): it changes the reported version and the traits known to depend on
it (today only :attr:`FlavourTraits.frozen_updated_at`); every other trait stays the recorded
version's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal

Flavour = Literal["overseerr", "jellyseerr", "seerr"]

# --- Permission bits (notes §9) -------------------------------------------------------------
ADMIN = 2
MANAGE_SETTINGS = 4
MANAGE_USERS = 8
MANAGE_REQUESTS = 16
REQUEST = 32
VOTE = 64
AUTO_APPROVE = 128
AUTO_APPROVE_MOVIE = 256
AUTO_APPROVE_TV = 512
REQUEST_4K = 1024
REQUEST_4K_MOVIE = 2048
REQUEST_4K_TV = 4096
REQUEST_ADVANCED = 8192
REQUEST_VIEW = 16384
AUTO_APPROVE_4K = 32768
AUTO_APPROVE_4K_MOVIE = 65536
AUTO_APPROVE_4K_TV = 131072
REQUEST_MOVIE = 262144
REQUEST_TV = 524288
MANAGE_BLOCKLIST = 268435456  # J: MANAGE_BLACKLIST (same bit)
VIEW_BLOCKLIST = 1073741824  # J: VIEW_BLACKLIST (same bit)

# --- MediaStatus (notes §5) -----------------------------------------------------------------
MEDIA_UNKNOWN = 1
MEDIA_PENDING = 2
MEDIA_PROCESSING = 3
MEDIA_PARTIALLY_AVAILABLE = 4
MEDIA_AVAILABLE = 5
MEDIA_BLOCKLISTED = 6  # J: BLACKLISTED, S: BLOCKLISTED; unused by Overseerr 1.34
MEDIA_DELETED = 7  # J273 and S only

# --- MediaRequestStatus (notes §5) ----------------------------------------------------------
REQUEST_PENDING = 1
REQUEST_APPROVED = 2
REQUEST_DECLINED = 3
REQUEST_FAILED = 4
REQUEST_COMPLETED = 5  # J273 and S only

# --- UserType (notes §5) --------------------------------------------------------------------
USER_PLEX = 1
USER_LOCAL = 2
USER_JELLYFIN = 3
USER_EMBY = 4


@dataclass(frozen=True)
class ParamSpec:
    """One query parameter as the flavour's OpenAPI file declares it (what its validator checks)."""

    kind: Literal["number", "string"] = "string"
    enum: tuple[str, ...] | None = None
    required: bool = False
    nullable: bool = False  # ``nullable: true``: the type error reads "should be number,null"


def _params(**specs: ParamSpec) -> Mapping[str, ParamSpec]:
    return MappingProxyType(dict(specs))


_NUMBER = ParamSpec("number", nullable=True)  # take, skip, requestedBy: nullable in all three files
_PAGE = ParamSpec("number")
_STRING = ParamSpec("string")
_USER_SORT = ParamSpec("string", ("created", "updated", "requests", "displayname"))
_MEDIA_SORT = ParamSpec("string", ("added", "modified", "mediaAdded"))
_REQUEST_SORT = ParamSpec("string", ("added", "modified"))
_MEDIA_FILTER_O = ("all", "available", "partial", "allavailable", "processing", "pending")
_REQUEST_FILTER_O = ("all", "approved", "available", "pending", "processing", "unavailable", "failed")

_COMMON_QUERY: dict[str, Mapping[str, ParamSpec]] = {
    "/user/{userId}/requests": _params(take=_NUMBER, skip=_NUMBER),
    "/movie/{movieId}": _params(language=_STRING),
    "/tv/{tvId}": _params(language=_STRING),
    "/search": _params(query=ParamSpec("string", required=True), page=_PAGE, language=_STRING),
}

_OVERSEERR_QUERY = MappingProxyType(
    {
        **_COMMON_QUERY,
        "/user": _params(take=_NUMBER, skip=_NUMBER, sort=_USER_SORT),
        "/media": _params(
            take=_NUMBER, skip=_NUMBER, filter=ParamSpec("string", _MEDIA_FILTER_O), sort=_MEDIA_SORT
        ),
        "/request": _params(
            take=_NUMBER,
            skip=_NUMBER,
            filter=ParamSpec("string", _REQUEST_FILTER_O),
            sort=_REQUEST_SORT,
            requestedBy=_NUMBER,
        ),
    }
)

# Jellyseerr 2.7.3 and Seerr 3.1 declare the same query parameters for the routes the fake serves
# (but the blocklist's names).
_JELLYSEERR_COMMON_QUERY: dict[str, Mapping[str, ParamSpec]] = {
    **_COMMON_QUERY,
    "/user": _params(take=_NUMBER, skip=_NUMBER, sort=_USER_SORT, q=_STRING, includeIds=_STRING),
    "/media": _params(
        take=_NUMBER,
        skip=_NUMBER,
        filter=ParamSpec("string", (*_MEDIA_FILTER_O, "deleted")),
        sort=_MEDIA_SORT,
    ),
    "/request": _params(
        take=_NUMBER,
        skip=_NUMBER,
        filter=ParamSpec("string", (*_REQUEST_FILTER_O, "deleted", "completed")),
        sort=_REQUEST_SORT,
        sortDirection=ParamSpec("string", ("asc", "desc")),
        requestedBy=_NUMBER,
        mediaType=ParamSpec("string", ("movie", "tv", "all")),
    ),
}


def _blocklist_query(tags: str) -> Mapping[str, ParamSpec]:
    return _params(
        take=_NUMBER, skip=_NUMBER, search=_STRING, filter=ParamSpec("string", ("all", "manual", tags))
    )


_JELLYSEERR_QUERY = MappingProxyType(
    {**_JELLYSEERR_COMMON_QUERY, "/blacklist": _blocklist_query("blacklistedTags")}
)
_SEERR_QUERY = MappingProxyType(
    {
        **_JELLYSEERR_COMMON_QUERY,
        "/blocklist": _blocklist_query("blocklistedTags"),
        "/blacklist": _blocklist_query("blocklistedTags"),  # the deprecated alias
    }
)


@dataclass(frozen=True)
class FlavourTraits:
    """What one server version does differently. Read-only; one instance per flavour."""

    name: Flavour
    product: str
    version: str
    api_name: str
    #: ``mediaServerType`` in ``/settings/public`` and ``/settings/main`` (2 = Jellyfin); None = absent.
    media_server_type: int | None
    #: Name of media status 6, or None when the version does not use 6.
    status6_name: str | None
    has_deleted_status: bool  # media status 7 DELETED
    has_completed_request: bool  # request status 5 COMPLETED
    has_jellyfin_fields: bool  # users: jellyfinUsername / jellyfinUserId; media: jellyfinMediaId, mediaUrl
    has_avatar_etag: bool  # users: avatarETag / avatarVersion
    has_user_warnings: bool  # users: warnings (recorded on Jellyseerr 2.7.3 and Seerr 3.1.0)
    has_download_id: bool  # downloadStatus items: downloadId
    #: GET /request items: ``profileName`` and (for managers) ``canRemove``.
    has_request_list_extras: bool
    #: GET /request: ``serviceErrors`` (recorded on Seerr 3.1.0; not on Jellyseerr 2.7.3).
    has_service_errors: bool
    #: the fields the Jellyseerr line added (recorded on Jellyseerr 2.7.3 and Seerr 3.1.0, none on
    #: Overseerr 1.34.0): ``discoverRegion``/``streamingRegion`` instead of ``region``,
    #: ``mediaServerLogin``, ``youtubeUrl``, … in ``/settings/public`` and ``/settings/main``,
    #: ``telegramMessageThreadId`` in user settings, ``onUserWatchlist`` in TMDB details.
    jellyseerr_fields: bool
    #: ``/settings/network`` has ``dnsCache`` and ``apiRequestTimeout`` (Seerr 3.1.0 only).
    network_settings_extras: bool
    #: the blocklist's name in routes and fields: ``"blacklist"`` (Jellyseerr: ``/blacklist``,
    #: ``hideBlacklisted``, ``blacklistedTags``) or ``"blocklist"`` (Seerr, which keeps
    #: ``/blacklist`` as a deprecated alias); None = no blocklist (Overseerr 1.34).
    blocklist_name: str | None
    #: 403 text of POST /request for a media with status 6; None = no blocklist.
    blocklist_message: str | None
    #: ``seasons: "all"`` includes season 0 (specials).
    all_seasons_include_specials: bool
    #: explicit season lists lose season 0 (``enableSpecialEpisodes`` off, the default).
    drop_specials_from_lists: bool
    #: own profile unfiltered on GET /user/{id} (S ≥ 3.1.0).
    own_profile_unfiltered: bool
    #: where the CSRF switch is reported: ``/settings/main`` (O) or ``/settings/network`` (J, S).
    csrf_settings_path: str
    #: ``take`` of GET /user grows to the number of ``includeIds`` (S).
    include_ids_grow_take: bool
    #: ``/status/appdata`` reports ``appDataPermissions``.
    appdata_permissions: bool
    #: the status segments POST /media/{id}/{status} accepts.
    media_status_segments: tuple[str, ...]
    #: ``updatedAt`` of media, request, season and season-request rows keeps its creation second
    #: forever (notes §14, trap 16): the entities declare it ``onUpdate: 'CURRENT_TIMESTAMP'``,
    #: which the ORM applies only on MySQL. True on Jellyseerr 2.6.0 - 2.7.x and Seerr 3.0 - 3.1.x
    #: (recorded on Jellyseerr 2.7.3 and Seerr 3.1.0); False on Overseerr (recorded on 1.34.0:
    #: every change rewrites it), Jellyseerr < 2.6 and Seerr after 3.1 (seerr-team/seerr#2728).
    #: So ``sort=modified`` orders by creation where it is True.
    frozen_updated_at: bool
    #: declining a TV request sets its season requests to DECLINED (3); elsewhere they keep their
    #: status (recorded: 3 on Seerr 3.1.0, still 1 on Jellyseerr 2.7.3 and Overseerr 1.34.0).
    decline_marks_request_seasons: bool
    #: a media row created by a request gets ``mediaAddedAt`` at creation (recorded on Jellyseerr
    #: 2.7.3 and Seerr 3.1.0); on Overseerr 1.34.0 such a row keeps ``null`` until a library scan.
    media_added_at_on_request: bool
    #: the answer to ``POST /request/{id}/approve`` still shows the season requests PENDING
    #: (recorded on Jellyseerr 2.7.3; Seerr 3.1.0 and Overseerr 1.34.0 show them APPROVED).
    approve_answer_shows_pending_seasons: bool
    #: ``/request/count`` has a ``completed`` key (Seerr 3.1.0 only; Jellyseerr 2.7.3 has COMPLETED
    #: requests but does not count them, Overseerr 1.34.0 has no COMPLETED).
    request_count_has_completed: bool
    #: timestamps have whole-second precision (``.000Z``; SQLite stores 1 s, trap 17), and rows
    #: with equal timestamps come back in ascending id order. Recorded on all three products.
    whole_second_timestamps: bool
    #: accepted query parameters per route template (path without ``/api/v1``); others accept none.
    query_params: Mapping[str, Mapping[str, ParamSpec]] = field(repr=False)
    openapi_file: str = ""

    def media_status_name(self, value: int) -> str:
        """The enum name of a media status in this version (for messages and docs)."""
        names = {1: "UNKNOWN", 2: "PENDING", 3: "PROCESSING", 4: "PARTIALLY_AVAILABLE", 5: "AVAILABLE"}
        if value == MEDIA_BLOCKLISTED and self.status6_name:
            return self.status6_name
        if value == MEDIA_DELETED and self.has_deleted_status:
            return "DELETED"
        return names.get(value, str(value))


FLAVOURS: Mapping[Flavour, FlavourTraits] = MappingProxyType(
    {
        "overseerr": FlavourTraits(
            name="overseerr",
            product="Overseerr",
            version="1.34.0",
            api_name="Overseerr API",
            media_server_type=None,
            status6_name=None,
            has_deleted_status=False,
            has_completed_request=False,
            has_jellyfin_fields=False,
            has_avatar_etag=False,
            has_user_warnings=False,
            has_download_id=False,
            has_request_list_extras=False,
            has_service_errors=False,
            jellyseerr_fields=False,
            network_settings_extras=False,
            blocklist_name=None,
            blocklist_message=None,
            all_seasons_include_specials=True,
            drop_specials_from_lists=False,
            own_profile_unfiltered=False,
            csrf_settings_path="/settings/main",
            include_ids_grow_take=False,
            appdata_permissions=False,
            media_status_segments=("available", "partial", "processing", "pending", "unknown"),
            decline_marks_request_seasons=False,
            media_added_at_on_request=False,
            approve_answer_shows_pending_seasons=False,
            request_count_has_completed=False,
            frozen_updated_at=False,
            whole_second_timestamps=True,
            query_params=_OVERSEERR_QUERY,
            openapi_file="overseerr-api.yml",
        ),
        "jellyseerr": FlavourTraits(
            name="jellyseerr",
            product="Jellyseerr",
            version="2.7.3",
            api_name="Jellyseerr API",
            media_server_type=2,
            status6_name="BLACKLISTED",
            has_deleted_status=True,
            has_completed_request=True,
            has_jellyfin_fields=True,
            has_avatar_etag=True,
            has_user_warnings=True,
            has_download_id=True,
            has_request_list_extras=True,
            has_service_errors=False,
            jellyseerr_fields=True,
            network_settings_extras=False,
            blocklist_name="blacklist",
            blocklist_message="This media is blacklisted.",
            all_seasons_include_specials=False,
            drop_specials_from_lists=True,
            own_profile_unfiltered=False,
            csrf_settings_path="/settings/network",
            include_ids_grow_take=False,
            appdata_permissions=True,
            media_status_segments=("available", "partial", "processing", "pending", "unknown", "deleted"),
            decline_marks_request_seasons=False,
            media_added_at_on_request=True,
            approve_answer_shows_pending_seasons=True,
            request_count_has_completed=False,
            frozen_updated_at=True,
            whole_second_timestamps=True,
            query_params=_JELLYSEERR_QUERY,
            openapi_file="jellyseerr-v2.7.3-api.yml",
        ),
        "seerr": FlavourTraits(
            name="seerr",
            product="Seerr",
            version="3.1.0",
            api_name="Seerr API",
            media_server_type=2,
            status6_name="BLOCKLISTED",
            has_deleted_status=True,
            has_completed_request=True,
            has_jellyfin_fields=True,
            has_avatar_etag=True,
            has_user_warnings=True,
            has_download_id=True,
            has_request_list_extras=True,
            has_service_errors=True,
            jellyseerr_fields=True,
            network_settings_extras=True,
            blocklist_name="blocklist",
            blocklist_message="This media is blocklisted.",
            all_seasons_include_specials=False,
            drop_specials_from_lists=True,
            own_profile_unfiltered=True,
            csrf_settings_path="/settings/network",
            include_ids_grow_take=True,
            appdata_permissions=True,
            media_status_segments=("available", "partial", "processing", "pending", "unknown", "deleted"),
            decline_marks_request_seasons=True,
            media_added_at_on_request=True,
            approve_answer_shows_pending_seasons=False,
            request_count_has_completed=True,
            frozen_updated_at=True,
            whole_second_timestamps=True,
            query_params=_SEERR_QUERY,
            openapi_file="seerr-api.yml",
        ),
    }
)


#: The versions of each flavour whose ``updatedAt`` never moves: ``[first, end)`` (notes §14).
FROZEN_UPDATED_AT_VERSIONS: Mapping[Flavour, tuple[tuple[int, int, int], tuple[int, int, int]] | None] = (
    MappingProxyType(
        {
            "overseerr": None,  # every Overseerr release moves it (recorded on 1.34.0)
            "jellyseerr": ((2, 6, 0), (2, 8, 0)),  # from PR #1654 (2.6.0) to the last release, 2.7.3
            "seerr": ((3, 0, 0), (3, 2, 0)),  # fixed after 3.1 (seerr-team/seerr#2728, PR #2823)
        }
    )
)
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+].*)?$")


def parse_version(text: str) -> tuple[int, int, int]:
    """``"3.1.0"`` → ``(3, 1, 0)``; ``"2.7"`` and ``"v2.7.3-rc1"`` are accepted too."""
    found = _VERSION.match(text.strip())
    if found is None:
        raise ValueError(f"not a version number: {text!r} (expected e.g. '3.1.0')")
    major, minor, patch = found.groups()
    return int(major), int(minor), int(patch or 0)


def updated_at_frozen_in(flavour: Flavour, version: str) -> bool:
    """Whether that release of the product keeps ``updatedAt`` at the creation time (trap 16)."""
    span = FROZEN_UPDATED_AT_VERSIONS[flavour]
    return span is not None and span[0] <= parse_version(version) < span[1]


def flavour_traits(
    flavour: Flavour, version: str | None = None, *, frozen_updated_at: bool | None = None
) -> FlavourTraits:
    """The traits of ``flavour`` at ``version`` (default: the recorded one).

    ``frozen_updated_at`` overrides what the version implies (a fork whose version number says
    nothing about it). Only the version and ``frozen_updated_at`` change; the rest is the
    recorded version's behaviour.
    """
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown flavour {flavour!r}; use one of {', '.join(FLAVOURS)}")
    traits = FLAVOURS[flavour]
    if version is not None:
        parse_version(version)
        traits = replace(traits, version=version, frozen_updated_at=updated_at_frozen_in(flavour, version))
    if frozen_updated_at is not None:
        traits = replace(traits, frozen_updated_at=frozen_updated_at)
    return traits


def has_permission(permissions: int, *required: int, any_of: bool = False) -> bool:
    """The servers' ``hasPermission``: 0 and ADMIN pass everything; several bits are AND unless ``any_of``."""
    required = tuple(bit for bit in required if bit)
    if not required or permissions & ADMIN:
        return True
    checks = [bool(permissions & bit) for bit in required]
    return any(checks) if any_of else all(checks)
