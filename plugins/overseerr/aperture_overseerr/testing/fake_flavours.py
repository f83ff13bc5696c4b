"""The per-flavour table of the fake Seerr server, and the constants every fake module shares.

Everything that differs between Overseerr 1.34 (``overseerr``), Jellyseerr 2.7.3 (``jellyseerr``)
and Seerr 3.1 (``seerr``) lives in one frozen :class:`FlavourTraits` per flavour, in
:data:`FLAVOURS`. The rest of the fake reads these traits; it never asks ``flavour == ...``.
Source of every value: ``shared/reference/seerr-api-notes.md`` (columns O, J273 and S, and §14),
the three OpenAPI files (the query parameters and enum values each version's validator accepts)
and the recordings of the real servers in ``shared/reference/recorded/<product>-<version>/``.

:func:`flavour_traits` builds the traits of another release of a flavour. The traits the notes
tie to a release follow it (:data:`RELEASE_RULES` lists each rule with its source):

* Overseerr ≥ 1.35 (the notes' O+ column, read from ``overseerr-api-develop-2025-08-14.yml``
  and the code of that commit): status 6 = DELETED for media and seasons, request status 5
  COMPLETED, ``seasons: "all"`` without season 0, the ``deleted``/``completed`` filters, the
  ``deleted`` status segment and a ``completed`` count;
* Jellyseerr < 2.6 (the notes' J column, "2.0–2.5"): no DELETED (7), no COMPLETED, the
  availability sync of Overseerr 1.34, ``seasons: "all"`` with season 0 when
  ``enableSpecialEpisodes`` is on, no ``deleted``/``completed`` filters and no ``mediaType`` on
  ``GET /request``; below 2.4 no ``includeIds`` on ``GET /user``; below 2.0 no blacklist (status
  6 unused);
* Seerr < 3.1: your own profile is filtered like anyone's on ``GET /user/{id}``;
* every product: whether ``updatedAt`` moves (:attr:`FlavourTraits.frozen_updated_at`).

Every other trait (the shapes, texts and effects only the recordings show) stays the recorded
release's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
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
MEDIA_STATUS_6 = 6  # O ≥ 1.35: DELETED; J ≥ 2.0: BLACKLISTED; S: BLOCKLISTED; unused by O ≤ 1.34
MEDIA_BLOCKLISTED = MEDIA_STATUS_6  # where the product has a blocklist (J ≥ 2.0, S)
MEDIA_STATUS_7 = 7  # J ≥ 2.6 and S: DELETED; unused elsewhere

# --- MediaRequestStatus (notes §5) ----------------------------------------------------------
REQUEST_PENDING = 1
REQUEST_APPROVED = 2
REQUEST_DECLINED = 3
REQUEST_FAILED = 4
REQUEST_COMPLETED = 5  # O ≥ 1.35, J ≥ 2.6 and S only

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
    """What one server release does differently. Read-only: one instance per recorded release in
    :data:`FLAVOURS`, others built by :func:`flavour_traits`."""

    name: Flavour
    product: str
    version: str
    api_name: str
    #: ``mediaServerType`` in ``/settings/public`` and ``/settings/main`` (2 = Jellyfin); None = absent.
    media_server_type: int | None
    #: Name of media status 6: ``DELETED`` (Overseerr ≥ 1.35), ``BLACKLISTED`` (Jellyseerr ≥ 2.0),
    #: ``BLOCKLISTED`` (Seerr); None where the version does not use 6 (Overseerr ≤ 1.34,
    #: Jellyseerr 1.x). Notes §5.
    status6_name: str | None
    #: The media and season status that means DELETED (set by the availability sync when a title
    #: or season leaves the library): 7 on Jellyseerr ≥ 2.6 and Seerr, 6 on Overseerr ≥ 1.35, None
    #: where there is none (Overseerr ≤ 1.34, Jellyseerr < 2.6: the sync resets the status
    #: instead). Notes §5, trap 6.
    deleted_status: int | None
    #: request status 5 COMPLETED exists (Overseerr ≥ 1.35, Jellyseerr ≥ 2.6, Seerr; notes §5).
    has_completed_request: bool
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
    #: whether ``seasons: "all"`` includes season 0 (specials) (notes §8): ``"always"`` (Overseerr
    #: ≤ 1.34, recorded on 1.34.0), ``"never"`` (Overseerr ≥ 1.35, Jellyseerr ≥ 2.6, Seerr), or
    #: ``"setting"``: only while ``enableSpecialEpisodes`` is on (Jellyseerr < 2.6).
    all_seasons_specials: Literal["always", "never", "setting"]
    #: the server has the ``enableSpecialEpisodes`` setting (Jellyseerr, Seerr; in
    #: ``/settings/public`` and ``/settings/main``): explicit season lists lose season 0 while it
    #: is off (the default) and keep it while it is on. Overseerr has no such setting and keeps
    #: season 0 in explicit lists (notes §1, §8).
    special_episodes_setting: bool
    #: own profile unfiltered on GET /user/{id} (Seerr ≥ 3.1.0, notes §9; filtered on 3.0).
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
    #: ``/request/count`` has a ``completed`` key (recorded on Seerr 3.1.0; Jellyseerr 2.7.3 has
    #: COMPLETED requests but does not count them, Overseerr 1.34.0 has no COMPLETED). Overseerr ≥
    #: 1.35: True, an inference from notes §8 ("O+/J273/S add ``completed``", read from the code
    #: of 5ef098f6, never recorded); the same sentence is wrong for Jellyseerr 2.7.3, and the O+
    #: OpenAPI file does not list the key (neither does 2.7.3's; Seerr's does), so it is doubtful.
    request_count_has_completed: bool
    #: timestamps have whole-second precision (``.000Z``; SQLite stores 1 s, trap 17), and rows
    #: with equal timestamps come back in ascending id order. Recorded on all three products.
    whole_second_timestamps: bool
    #: accepted query parameters per route template (path without ``/api/v1``); others accept none.
    query_params: Mapping[str, Mapping[str, ParamSpec]] = field(repr=False)
    openapi_file: str = ""

    @property
    def has_deleted_status(self) -> bool:
        """Is there a DELETED media status (:attr:`deleted_status`)?"""
        return self.deleted_status is not None

    def media_status_name(self, value: int) -> str:
        """The enum name of a media status in this version (for messages and docs)."""
        names = {1: "UNKNOWN", 2: "PENDING", 3: "PROCESSING", 4: "PARTIALLY_AVAILABLE", 5: "AVAILABLE"}
        if value == MEDIA_STATUS_6 and self.status6_name:
            return self.status6_name
        if value == self.deleted_status:
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
            deleted_status=None,
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
            all_seasons_specials="always",
            special_episodes_setting=False,
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
            deleted_status=MEDIA_STATUS_7,
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
            all_seasons_specials="never",
            special_episodes_setting=True,
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
            deleted_status=MEDIA_STATUS_7,
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
            all_seasons_specials="never",
            special_episodes_setting=True,
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


# --- the releases before and after the recorded ones ------------------------------------------
def _with_param(
    table: Mapping[str, Mapping[str, ParamSpec]], route: str, name: str, spec: ParamSpec | None
) -> Mapping[str, Mapping[str, ParamSpec]]:
    """``table`` with one query parameter of one route replaced, or dropped (``spec=None``: the
    validator then refuses it as unknown)."""
    params = {n: s for n, s in table[route].items() if n != name}
    if spec is not None:
        params[name] = spec
    return MappingProxyType({**table, route: MappingProxyType(params)})


def _trim_enum(
    table: Mapping[str, Mapping[str, ParamSpec]], route: str, name: str, *values: str
) -> Mapping[str, Mapping[str, ParamSpec]]:
    """``table`` with ``values`` taken out of the enum of one query parameter."""
    spec = table[route][name]
    enum = tuple(v for v in spec.enum or () if v not in values)
    return _with_param(table, route, name, replace(spec, enum=enum))


def _overseerr_135(traits: FlavourTraits) -> FlavourTraits:
    query = _with_param(
        traits.query_params,
        "/request",
        "filter",
        ParamSpec("string", (*_REQUEST_FILTER_O, "deleted", "completed")),
    )
    query = _with_param(query, "/media", "filter", ParamSpec("string", (*_MEDIA_FILTER_O, "deleted")))
    return replace(
        traits,
        status6_name="DELETED",
        deleted_status=MEDIA_STATUS_6,
        has_completed_request=True,
        all_seasons_specials="never",
        request_count_has_completed=True,
        media_status_segments=(*traits.media_status_segments, "deleted"),
        query_params=query,
        openapi_file="overseerr-api-develop-2025-08-14.yml",
    )


def _jellyseerr_before_26(traits: FlavourTraits) -> FlavourTraits:
    query = _trim_enum(traits.query_params, "/request", "filter", "deleted", "completed")
    query = _trim_enum(query, "/media", "filter", "deleted")
    query = _with_param(query, "/request", "mediaType", None)
    return replace(
        traits,
        deleted_status=None,
        has_completed_request=False,
        all_seasons_specials="setting",
        request_count_has_completed=False,
        media_status_segments=tuple(s for s in traits.media_status_segments if s != "deleted"),
        query_params=query,
    )


def _jellyseerr_before_24(traits: FlavourTraits) -> FlavourTraits:
    return replace(traits, query_params=_with_param(traits.query_params, "/user", "includeIds", None))


def _jellyseerr_before_20(traits: FlavourTraits) -> FlavourTraits:
    query = MappingProxyType({k: v for k, v in traits.query_params.items() if k != "/blacklist"})
    return replace(traits, status6_name=None, blocklist_name=None, blocklist_message=None, query_params=query)


def _seerr_before_31(traits: FlavourTraits) -> FlavourTraits:
    return replace(traits, own_profile_unfiltered=False)


_Version = tuple[int, int, int]


@dataclass(frozen=True)
class ReleaseRule:
    """The releases ``[first, end)`` of a product differ from the recorded one in ``change``."""

    flavour: Flavour
    first: _Version
    end: _Version
    change: Callable[[FlavourTraits], FlavourTraits]
    #: what changes, and where the notes, OpenAPI files or recordings say so (or that it is inferred)
    source: str

    def applies(self, flavour: Flavour, numbers: _Version) -> bool:
        return flavour == self.flavour and self.first <= numbers < self.end


_NONE: _Version = (0, 0, 0)
_EVER: _Version = (10_000, 0, 0)

#: The per-release differences from the recorded releases, applied in order.
RELEASE_RULES: tuple[ReleaseRule, ...] = (
    ReleaseRule(
        "overseerr",
        (1, 35, 0),
        _EVER,
        _overseerr_135,
        "Overseerr >= 1.35 (notes column O+, read from commit 5ef098f6 of Overseerr develop; that it "
        "is what shipped as 1.35.0 is the notes' inference): media and season status 6 = DELETED "
        "(notes §5, the O+ OpenAPI file), request status 5 COMPLETED (Overseerr PR #3460, notes §5), "
        "so the availability sync marks a title or season that left the library DELETED and its "
        "approved requests COMPLETED (inferred: the notes describe that sync from Seerr's code), a "
        "COMPLETED request no longer blocks a new one (§8 step 6); seasons 'all' without season 0 "
        "(§8); request filters 'deleted' and 'completed', media filter 'deleted' and the 'deleted' "
        "status segment (overseerr-api-develop-2025-08-14.yml); a 'completed' count (§8: inferred "
        "and doubtful, see FlavourTraits.request_count_has_completed). Everything else stays 1.34.0's",
    ),
    ReleaseRule(
        "jellyseerr",
        _NONE,
        (2, 6, 0),
        _jellyseerr_before_26,
        "Jellyseerr < 2.6 (notes column J, 'Jellyseerr 2.0-2.5', read from a pre-2.4 snapshot): "
        "no status 7 DELETED, so the availability sync resets a title that left the library to "
        "PROCESSING / PENDING / UNKNOWN as Overseerr 1.34 does (notes §5); no request status 5 "
        "COMPLETED, so a fulfilled request stays APPROVED and still blocks a new one (§5, §8); "
        "seasons 'all' includes season 0 while enableSpecialEpisodes is on (§8); no 'deleted' / "
        "'completed' request filters, no 'deleted' media filter or status segment "
        "(jellyseerr-api.yml lacks them; they came with DELETED and COMPLETED); no 'mediaType' on "
        "GET /request (§8 'J273/S add mediaType'; jellyseerr-api.yml lacks it; the 2.6 boundary is "
        "the notes' column, an inference)",
    ),
    ReleaseRule(
        "jellyseerr",
        _NONE,
        (2, 4, 0),
        _jellyseerr_before_24,
        "Jellyseerr < 2.4: no 'includeIds' on GET /user (notes §9 'J >= 2.4 / S add includeIds'; "
        "jellyseerr-api.yml, a pre-2.4 snapshot, lacks it)",
    ),
    ReleaseRule(
        "jellyseerr",
        _NONE,
        (2, 0, 0),
        _jellyseerr_before_20,
        "Jellyseerr 1.x: no blacklist, media status 6 unused (notes §1, §5: the enum changed in "
        "2.0.0, whose column says 6 = BLACKLISTED): no /blacklist routes, no hideBlacklisted / "
        "blacklistedTags settings (inferred: they belong to the blacklist feature)",
    ),
    ReleaseRule(
        "seerr",
        _NONE,
        (3, 1, 0),
        _seerr_before_31,
        "Seerr 3.0.x: GET /user/{id} filters your own profile like anyone's (notes §9: 'S >= 3.1.0 "
        "also leaves your own profile unfiltered')",
    ),
)


def release_rules(flavour: Flavour, version: str) -> tuple[ReleaseRule, ...]:
    """The rules of :data:`RELEASE_RULES` that apply to that release of the product."""
    numbers = parse_version(version)
    return tuple(rule for rule in RELEASE_RULES if rule.applies(flavour, numbers))


def flavour_traits(
    flavour: Flavour, version: str | None = None, *, frozen_updated_at: bool | None = None
) -> FlavourTraits:
    """The traits of ``flavour`` at ``version`` (default: the recorded one).

    The traits the notes tie to a release follow ``version`` (:data:`RELEASE_RULES`, and
    whether ``updatedAt`` moves); every other trait is the recorded release's. At the recorded
    version the traits are exactly :data:`FLAVOURS`'. ``frozen_updated_at`` overrides what the
    version implies (a fork whose version number says nothing about it).
    """
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown flavour {flavour!r}; use one of {', '.join(FLAVOURS)}")
    traits = FLAVOURS[flavour]
    if version is not None:
        for rule in release_rules(flavour, version):
            traits = rule.change(traits)
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
