"""The JSON shapes of the fake Seerr server's entities, as the real servers send them.

Every shape here follows the recordings in ``shared/reference/recorded/<product>-<version>/``
(notes §14): the same entity is sent with different keys depending on where it appears, because
the real server serialises whatever relations the route's query loaded.

* **users**: always ``recoveryLinkExpirationDate`` and ``requestCount`` (and ``warnings`` on
  Jellyseerr/Seerr); ``settings`` only on ``/auth/me``, ``/user/{id}``, the 201 of
  ``POST /request`` and the users of ``GET /request/{id}`` and of the approve/decline answers.
  Users embedded in requests are never stripped of ``email``/``plexId`` (only ``/user`` lists are).
* **media**: ``seasons`` everywhere but in the request lists, ``mediaInfo.requests[].media`` and the
  201 of a request that created its row (trap 18); ``requests`` and ``issues`` only in
  ``mediaInfo``.
* **requests**: lists and ``mediaInfo.requests[]`` embed users without ``settings``; the 201 has no
  ``seasonCount``, a ``seasons`` key only for TV and a ``modifiedBy`` key only when it is set.

This module reads records only (:class:`Records`); it changes nothing.
"""

from __future__ import annotations

from typing import Any, Literal

from .fake_flavours import FlavourTraits
from .fake_protocol import Records
from .fake_state import MediaRecord, RequestRecord, SeasonRecord, SeasonRequestRecord, UserRecord, iso

#: What a request embeds of its media: the row with its seasons, the row alone, or nothing.
MediaShape = Literal["full", "bare", None]


#: ``notificationTypes`` of a ``user_settings`` row with the defaults.
_NOTIFICATION_TYPES = {
    "email": 8190,
    "discord": 0,
    "pushbullet": 0,
    "pushover": 0,
    "slack": 0,
    "telegram": 0,
    "webhook": 0,
    "webpush": 8190,
}


class EntityJson:
    """Turns ``fake_state`` records into the camelCase JSON of the servers' entities."""

    def __init__(self, records: Records) -> None:
        self.records = records

    @property
    def traits(self) -> FlavourTraits:
        return self.records.traits

    # ------------------------------------------------------------------ users
    def request_count(self, user_id: int, *, without: int | None = None) -> int:
        """How many requests the user made (``without`` one of them: the 201's own request)."""
        return sum(1 for r in self.records.requests.values() if r.requested_by == user_id and r.id != without)

    def user(
        self,
        user: UserRecord,
        *,
        settings: bool = False,
        filtered: bool = False,
        without_request: int | None = None,
    ) -> dict[str, Any]:
        """A ``User`` entity; ``email``/``plexId`` stripped when ``filtered``; ``settings`` adds the
        ``user_settings`` row (see the module docstring for where it appears)."""
        traits = self.traits
        body: dict[str, Any] = {"permissions": user.permissions}
        if traits.has_user_warnings:
            body["warnings"] = []
        body.update(
            {
                "id": user.id,
                "email": user.email,
                "plexUsername": user.plex_username,
            }
        )
        if traits.has_jellyfin_fields:
            body["jellyfinUsername"] = user.jellyfin_username
        body.update(
            {
                "username": user.username,
                "recoveryLinkExpirationDate": None,
                "userType": user.user_type,
                "plexId": user.plex_id,
            }
        )
        if traits.has_jellyfin_fields:
            body["jellyfinUserId"] = user.jellyfin_user_id
        body["avatar"] = user.avatar
        if traits.has_avatar_etag:
            body["avatarETag"] = None
            body["avatarVersion"] = None
        body.update(
            {
                "movieQuotaLimit": user.movie_quota_limit,
                "movieQuotaDays": user.movie_quota_days,
                "tvQuotaLimit": user.tv_quota_limit,
                "tvQuotaDays": user.tv_quota_days,
                "createdAt": iso(user.created_at),
                "updatedAt": iso(user.updated_at),
            }
        )
        if settings:
            body["settings"] = self.user_settings(user)
        body["requestCount"] = self.request_count(user.id, without=without_request)
        body["displayName"] = user.display_name(traits.has_jellyfin_fields)
        if filtered:
            body.pop("email")
            body.pop("plexId")
        return body

    def user_settings(self, user: UserRecord) -> dict[str, Any]:
        """The ``user_settings`` row the seed gives every user (locale ``""``, nothing else set)."""
        body: dict[str, Any] = {"id": user.id, "locale": ""}
        if self.traits.jellyseerr_fields:
            body.update({"discoverRegion": None, "streamingRegion": None})
        else:
            body["region"] = None
        body.update(
            {
                "originalLanguage": None,
                "pgpKey": None,
                "discordId": None,
                "pushbulletAccessToken": None,
                "pushoverApplicationToken": None,
                "pushoverUserKey": None,
                "pushoverSound": None,
                "telegramChatId": None,
            }
        )
        if self.traits.jellyseerr_fields:
            body["telegramMessageThreadId"] = None
        body.update(
            {
                "telegramSendSilently": None,
                "watchlistSyncMovies": None,
                "watchlistSyncTv": None,
                "notificationTypes": dict(_NOTIFICATION_TYPES),
            }
        )
        return body

    # ------------------------------------------------------------------ media
    @staticmethod
    def season(season: SeasonRecord) -> dict[str, Any]:
        return {
            "id": season.id,
            "seasonNumber": season.season_number,
            "status": season.status,
            "status4k": season.status4k,
            "createdAt": iso(season.created_at),
            "updatedAt": iso(season.updated_at),
        }

    def media(
        self,
        media: MediaRecord,
        *,
        seasons: bool = True,
        requests: Literal["embedded", "rows"] | None = None,
        issues: bool = False,
        without_request: int | None = None,
    ) -> dict[str, Any]:
        """A ``Media`` entity with the in-memory download status.

        ``requests="embedded"`` adds the requests as ``mediaInfo`` carries them (each with its
        media, without seasons, and its users); ``"rows"`` adds bare request rows (what the 201
        of ``POST /request`` embeds for a media row that existed before)."""
        body: dict[str, Any] = {
            "downloadStatus": [dict(item) for item in media.download_status],
            "downloadStatus4k": [dict(item) for item in media.download_status4k],
            "id": media.id,
            "mediaType": media.media_type,
            "tmdbId": media.tmdb_id,
            "tvdbId": media.tvdb_id,
            "imdbId": media.imdb_id,
            "status": media.status,
            "status4k": media.status4k,
            "createdAt": iso(media.created_at),
            "updatedAt": iso(media.updated_at),
            "lastSeasonChange": iso(media.last_season_change),
            "mediaAddedAt": iso(media.media_added_at) if media.media_added_at else None,
            "serviceId": media.service_id,
            "serviceId4k": media.service_id4k,
            "externalServiceId": media.external_service_id,
            "externalServiceId4k": media.external_service_id4k,
            "externalServiceSlug": media.external_service_slug,
            "externalServiceSlug4k": media.external_service_slug4k,
            "ratingKey": None,
            "ratingKey4k": None,
        }
        if self.traits.has_jellyfin_fields:
            body["jellyfinMediaId"] = None
            body["jellyfinMediaId4k"] = None
        for suffix, service_id, slug in (
            ("", media.service_id, media.external_service_slug),
            ("4k", media.service_id4k, media.external_service_slug4k),
        ):
            if service_id is not None:
                app, port = ("radarr", 7878) if media.media_type == "movie" else ("sonarr", 8989)
                kind = "movie" if media.media_type == "movie" else "series"
                body[f"serviceUrl{suffix}"] = f"http://{app}{suffix}.fake.invalid:{port}/{kind}/{slug}"
        if requests is not None:
            rows = sorted(
                (r for r in self.records.media_requests(media) if r.id != without_request), key=lambda r: r.id
            )
            if requests == "embedded":
                body["requests"] = [self.request(r, media="bare") for r in rows]
            else:
                body["requests"] = [self.request_row(r) for r in rows]
        if issues:
            body["issues"] = []
        if seasons:
            body["seasons"] = [self.season(s) for s in media.seasons]
        return body

    # ------------------------------------------------------------------ requests
    def request_row(self, request: RequestRecord) -> dict[str, Any]:
        """The columns of a ``media_request`` row, without relations."""
        return {
            "id": request.id,
            "status": request.status,
            "createdAt": iso(request.created_at),
            "updatedAt": iso(request.updated_at),
            "type": request.media_type,
            "is4k": request.is4k,
            "serverId": request.server_id,
            "profileId": request.profile_id,
            "rootFolder": request.root_folder,
            "languageProfileId": request.language_profile_id,
            "tags": request.tags,
            "isAutoRequest": request.is_auto_request,
        }

    @staticmethod
    def season_request(season: SeasonRequestRecord) -> dict[str, Any]:
        return {
            "id": season.id,
            "seasonNumber": season.season_number,
            "status": season.status,
            "createdAt": iso(season.created_at),
            "updatedAt": iso(season.updated_at),
        }

    def request(
        self, request: RequestRecord, *, media: MediaShape, user_settings: bool = False
    ) -> dict[str, Any]:
        """A ``MediaRequest`` entity with its users, TV ``seasons`` and ``seasonCount``.

        ``media``: ``"full"`` (``GET /request/{id}``, approve/decline), ``"bare"`` (the request
        lists and ``mediaInfo.requests[]``: no seasons) or None. ``user_settings`` puts the users'
        ``settings`` in (``GET /request/{id}`` and the approve/decline answers)."""
        records = self.records
        body = self.request_row(request)
        if media is not None:
            body["media"] = self.media(records.media[request.media_id], seasons=media == "full")
        body["seasons"] = [self.season_request(s) for s in request.seasons]
        modified = records.users.get(request.modified_by) if request.modified_by is not None else None
        body["requestedBy"] = self.user(records.users[request.requested_by], settings=user_settings)
        body["modifiedBy"] = self.user(modified, settings=user_settings) if modified else None
        body["seasonCount"] = len(request.seasons)
        return body

    def created_request(self, request: RequestRecord, *, media_existed: bool) -> dict[str, Any]:
        """The 201 of ``POST /request``: the entity as the route built it (recorded).

        No ``seasonCount``; ``seasons`` only for TV; ``modifiedBy`` only when set (auto-approval);
        users with ``settings`` and a ``requestCount`` without this request; the media row
        without ``seasons``/``requests`` when the request created it, else with both (the
        requests as bare rows)."""
        records = self.records
        media = records.media[request.media_id]
        body: dict[str, Any] = {
            "type": request.media_type,
            "media": self.media(
                media,
                seasons=media_existed,
                requests="rows" if media_existed else None,
                without_request=request.id,
            ),
            "requestedBy": self.user(
                records.users[request.requested_by], settings=True, without_request=request.id
            ),
            "status": request.status,
        }
        modified = records.users.get(request.modified_by) if request.modified_by is not None else None
        if modified is not None:
            body["modifiedBy"] = self.user(modified, settings=True, without_request=request.id)
        row = self.request_row(request)
        for key in ("is4k", "serverId", "profileId", "rootFolder", "languageProfileId", "tags"):
            body[key] = row[key]
        if request.media_type == "tv":
            body["seasons"] = [self.season_request(s) for s in request.seasons]
        body.update(
            {
                "isAutoRequest": request.is_auto_request,
                "id": request.id,
                "createdAt": row["createdAt"],
                "updatedAt": row["updatedAt"],
            }
        )
        return body
