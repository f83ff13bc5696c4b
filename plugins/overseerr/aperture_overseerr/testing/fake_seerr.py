"""``FakeSeerr``: a stateful, in-process fake of Overseerr 1.34, Jellyseerr 2.7.3 and Seerr 3.1.

This module owns the fake's state and its domain rules (request creation and its order of
checks, approval, completion, quotas, download progress, faults, the clock) and the three ways
to reach it: :meth:`FakeSeerr.handle` (a function), :meth:`FakeSeerr.transport` (an
``httpx.MockTransport``) and :meth:`FakeSeerr.serve` (real HTTP on a loopback port). The HTTP
surface (routing, the OpenAPI validator's traps, authentication) is in ``fake_routes``, which
this class composes; the JSON shapes are in ``fake_json``; the per-flavour and per-version
differences are in ``fake_flavours``.

Behaviour follows ``shared/reference/seerr-api-notes.md`` (§14 above all) and the recordings of
the real servers (``shared/reference/recorded/``); see the package docstring (``__init__``) for
what is approximated.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from .fake_flavours import (
    ADMIN,
    AUTO_APPROVE,
    AUTO_APPROVE_4K,
    AUTO_APPROVE_4K_MOVIE,
    AUTO_APPROVE_4K_TV,
    AUTO_APPROVE_MOVIE,
    AUTO_APPROVE_TV,
    MANAGE_REQUESTS,
    MANAGE_USERS,
    MEDIA_AVAILABLE,
    MEDIA_BLOCKLISTED,
    MEDIA_PARTIALLY_AVAILABLE,
    MEDIA_PENDING,
    MEDIA_PROCESSING,
    MEDIA_UNKNOWN,
    REQUEST,
    REQUEST_4K,
    REQUEST_4K_MOVIE,
    REQUEST_4K_TV,
    REQUEST_APPROVED,
    REQUEST_COMPLETED,
    REQUEST_DECLINED,
    REQUEST_FAILED,
    REQUEST_MOVIE,
    REQUEST_PENDING,
    REQUEST_TV,
    USER_JELLYFIN,
    USER_LOCAL,
    USER_PLEX,
    Flavour,
    FlavourTraits,
    flavour_traits,
    has_permission,
)
from .fake_routes import FakeRouter, classify_kind, strip_prefix
from .fake_state import (
    BlocklistRecord,
    FakeHttpError,
    Fault,
    MediaRecord,
    MediaType,
    NeverAnsweredError,
    RecordedCall,
    RequestRecord,
    SeasonRecord,
    SeasonRequestRecord,
    TitleRecord,
    UserRecord,
    entity_not_found,
    iso,
    message_error,
)
from .fake_webhook import MEDIA_EVENT_TYPES, WebhookAgent
from .fake_webhook_sender import WebhookDelivery, WebhookFaults


class FakeSeerr:
    """A fake Seerr-family server; every method is thread-safe (one re-entrant lock).

    State: ``users``, ``media`` (keyed by local media id), ``requests`` (keyed by request id) hold
    the records of ``fake_state``; ``titles`` is the fake TMDB catalogue keyed by
    ``(media_type, tmdb_id)``. ``calls`` lists every HTTP exchange as a ``RecordedCall``.

    *arr configuration (not in the original brief, all optional): ``radarr`` / ``sonarr`` (a
    default server exists: approval pushes to it and sets ``externalServiceId``), ``radarr_4k`` /
    ``sonarr_4k`` (a default 4K server exists: ``movie4kEnabled`` / ``series4kEnabled``), and
    ``arr_unreachable`` (J/S request lists report every configured server in ``serviceErrors``).

    Server settings: ``partial_requests_enabled``, ``csrf_protection``, ``default_quotas`` and
    ``enable_special_episodes`` (Jellyseerr/Seerr only; off by default: season 0 is dropped from
    every request while it is off, notes §8).

    Webhook agent (``fake_webhook``): the settings routes, and a POST on every request
    transition once configured (through the API or :meth:`configure_webhook`);
    :attr:`webhook_deliveries`, :meth:`wait_for_deliveries`, :attr:`webhook_errors` and the
    fault switches :attr:`webhook_faults` are for tests.

    Versions: ``version`` builds the flavour at another release (``FakeSeerr("seerr",
    version="3.2.0")``, ``FakeSeerr("overseerr", version="1.35.0")``, ``FakeSeerr("jellyseerr",
    version="2.5.2")``): ``/status`` reports it, and the traits the notes tie to a release follow
    it (``fake_flavours.RELEASE_RULES``: what status 6 and 7 mean, COMPLETED, the filters, season
    0 in ``"all"``, …, and whether ``updatedAt`` moves); ``frozen_updated_at`` overrides the last
    (a fork whose version says nothing).
    """

    def __init__(
        self,
        flavour: Flavour = "jellyseerr",
        *,
        version: str | None = None,
        frozen_updated_at: bool | None = None,
        api_key: str = "FAKE-API-KEY-0000",
        owner_name: str = "admin",
        owner_email: str | None = None,
        tmdb_latency: float = 0.0,
        db_latency: float = 0.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.traits: FlavourTraits = flavour_traits(flavour, version, frozen_updated_at=frozen_updated_at)
        self.flavour: Flavour = flavour
        self.api_key = api_key
        self.tmdb_latency = tmdb_latency
        self.db_latency = db_latency
        self._clock = clock
        self._offset = timedelta()
        self._lock = threading.RLock()
        self._ids: dict[str, int] = {}
        self.users: dict[int, UserRecord] = {}
        self.titles: dict[tuple[str, int], TitleRecord] = {}
        self.media: dict[int, MediaRecord] = {}
        self.requests: dict[int, RequestRecord] = {}
        self.calls: list[RecordedCall] = []
        #: blocklist entries (J: blacklist) by id; ``blocklist()`` and ``POST /blocklist`` add them
        self.blocklist_entries: dict[int, BlocklistRecord] = {}
        self._faults: list[Fault] = []
        # fault switches
        self.csrf_protection = False
        #: Settings → Users → default quotas: ``{"movie": {"quotaLimit": n, "quotaDays": d}, "tv": …}``;
        #: they apply to users without a quota of their own (empty = none, the default).
        self.default_quotas: dict[str, dict[str, int]] = {"movie": {}, "tv": {}}
        self.html_login_page = False
        self.arr_unreachable = False
        # *arr servers (see the class docstring)
        self.radarr = True
        self.sonarr = True
        self.radarr_4k = False
        self.sonarr_4k = False
        self.partial_requests_enabled = True
        self._enable_special_episodes = False
        #: the Webhook notification agent (settings, deliveries, fault switches: ``fake_webhook``)
        self.webhook = WebhookAgent(self.traits, self._lock)
        self._router = FakeRouter(self)
        # the owner (user 1): a Jellyfin account on J/S, a Plex account on Overseerr
        jellyfin = self.traits.has_jellyfin_fields
        self.add_user(
            None,
            email=owner_email or f"{owner_name.lower()}@example.invalid",
            permissions=ADMIN,
            jellyfin_username=owner_name if jellyfin else None,
            plex_username=None if jellyfin else owner_name,
        )

    @property
    def enable_special_episodes(self) -> bool:
        """Settings → General → "Enable Special Episodes" (``enableSpecialEpisodes`` in
        ``/settings/public`` and ``/settings/main``; Jellyseerr and Seerr only, off by default).

        While it is off the server drops season 0 from every TV request; while it is on explicit
        season lists keep it, and ``seasons: "all"`` includes it on Jellyseerr < 2.6 (newer
        releases never put season 0 in "all"; notes §8, ``traits.all_seasons_specials``)."""
        return self._enable_special_episodes

    @enable_special_episodes.setter
    def enable_special_episodes(self, enabled: bool) -> None:
        if enabled and not self.traits.special_episodes_setting:
            raise ValueError(
                f"{self.traits.product} {self.traits.version} has no enableSpecialEpisodes setting "
                "(it files season 0 whenever a request lists it)"
            )
        self._enable_special_episodes = bool(enabled)

    # ------------------------------------------------------------------ clock and ids
    def now(self) -> datetime:
        """The fake's current time (UTC): the injected clock (or the real one) plus ``advance``s."""
        base = self._clock() if self._clock is not None else datetime.now(UTC)
        if base.tzinfo is None:
            base = base.replace(tzinfo=UTC)
        return base + self._offset

    def stamp(self) -> datetime:
        """A database timestamp for "now": :meth:`now` cut to whole seconds where the server's
        database stores seconds only (``traits.whole_second_timestamps``, trap 17)."""
        moment = self.now()
        return moment.replace(microsecond=0) if self.traits.whole_second_timestamps else moment

    def advance(self, delta: timedelta) -> None:
        """Move the fake's clock forward (or back): ``updatedAt`` stamps and quota windows follow."""
        with self._lock:
            self._offset += delta

    def _next_id(self, table: str) -> int:
        self._ids[table] = self._ids.get(table, 0) + 1
        return self._ids[table]

    @staticmethod
    def _jellyfin_id(seed: str) -> str:
        return hashlib.md5(f"jellyfin:{seed}".encode()).hexdigest()

    # ------------------------------------------------------------------ state builders
    def add_user(
        self,
        username: str | None = None,
        *,
        email: str | None = None,
        permissions: int = REQUEST,
        jellyfin_username: str | None = None,
        jellyfin_user_id: str | None = None,
        plex_username: str | None = None,
        user_type: int | None = None,
        movie_quota_limit: int | None = None,
        movie_quota_days: int | None = None,
        tv_quota_limit: int | None = None,
        tv_quota_days: int | None = None,
    ) -> int:
        """Add a user and return its id. Jellyfin fields are ignored on Overseerr.

        ``email`` defaults to ``<name>@example.invalid``; ``user_type`` to JELLYFIN (3) when a
        Jellyfin name/id is given on J/S, PLEX (1) with a Plex name, else LOCAL (2). A quota only
        counts requests when both its limit and its days are set (the server's ``getQuota``).
        """
        with self._lock:
            user_id = self._next_id("user")
            name = username or jellyfin_username or plex_username or f"user{user_id}"
            if not self.traits.has_jellyfin_fields:
                jellyfin_username = jellyfin_user_id = None
            elif jellyfin_username and not jellyfin_user_id:
                jellyfin_user_id = self._jellyfin_id(jellyfin_username)
            if user_type is None:
                if jellyfin_username or jellyfin_user_id:
                    user_type = USER_JELLYFIN
                elif plex_username:
                    user_type = USER_PLEX
                else:
                    user_type = USER_LOCAL
            address = email or f"{name.lower()}@example.invalid"
            if jellyfin_user_id:
                avatar = f"/avatarproxy/{jellyfin_user_id}"
            elif plex_username:
                avatar = f"https://plex.tv/users/{self._jellyfin_id(plex_username)[:16]}/avatar"
            else:
                digest = hashlib.md5(address.encode()).hexdigest()
                avatar = f"https://www.gravatar.com/avatar/{digest}?default=mm&size=200"
            now = self.stamp()
            self.users[user_id] = UserRecord(
                id=user_id,
                email=address,
                username=username,
                permissions=permissions,
                user_type=user_type,
                created_at=now,
                updated_at=now,
                plex_username=plex_username,
                plex_id=(1_000_000 + user_id) if plex_username else None,
                jellyfin_username=jellyfin_username,
                jellyfin_user_id=jellyfin_user_id,
                avatar=avatar,
                movie_quota_limit=movie_quota_limit,
                movie_quota_days=movie_quota_days,
                tv_quota_limit=tv_quota_limit,
                tv_quota_days=tv_quota_days,
            )
            return user_id

    def delete_user(self, user_id: int) -> None:
        """Delete a user and (as the database cascades) their requests. The owner (id 1) cannot go."""
        with self._lock:
            if user_id == 1:
                raise ValueError("the owner (user 1) cannot be deleted")
            if user_id not in self.users:
                raise KeyError(f"no user {user_id}")
            for request in [r for r in self.requests.values() if r.requested_by == user_id]:
                self.delete_request(request.id)
            for request in self.requests.values():
                if request.modified_by == user_id:
                    request.modified_by = None
            del self.users[user_id]

    def add_title(
        self,
        media_type: MediaType,
        tmdb_id: int,
        title: str,
        *,
        seasons: int = 0,
        tvdb_id: int | None = None,
        specials: bool = False,
        overview: str | None = None,
        date: str | None = None,
        poster_path: str | None = None,
    ) -> None:
        """Add a title to the fake TMDB catalogue; unknown TMDB ids answer 500 like the server.

        TV titles get seasons ``1..seasons`` (plus a season 0 with ``specials=True``) and, unless
        given, a made-up TVDB id. Movies get an IMDb id ``tt<tmdb id>``. ``overview``, ``date``
        (release / first air date, ``YYYY-MM-DD``) and ``poster_path`` default to made-up values;
        the webhook's ``message``, ``subject`` year and ``image`` come from them.
        """
        with self._lock:
            if media_type not in ("movie", "tv"):
                raise ValueError("media_type must be 'movie' or 'tv'")
            if media_type == "tv" and tvdb_id is None:
                tvdb_id = 300_000 + tmdb_id
            self.titles[(media_type, tmdb_id)] = TitleRecord(
                media_type=media_type,
                tmdb_id=tmdb_id,
                title=title,
                seasons=seasons if media_type == "tv" else 0,
                specials=specials and media_type == "tv",
                tvdb_id=tvdb_id if media_type == "tv" else None,
                imdb_id=f"tt{tmdb_id:07d}",
                overview=overview,
                date=date,
                poster_path=poster_path,
            )

    def add_media(
        self,
        media_type: MediaType,
        tmdb_id: int,
        *,
        status: int = MEDIA_AVAILABLE,
        status4k: int = MEDIA_UNKNOWN,
        season_statuses: dict[int, int] | None = None,
        season_statuses4k: dict[int, int] | None = None,
    ) -> int:
        """Add (or overwrite the statuses of) a media row, as a library scan would; returns its local id.

        A row the scan creates has its IMDb id and ``mediaAddedAt``; the season rows given are
        created or updated (``lastSeasonChange`` moves when one changes)."""
        with self._lock:
            title = self.titles.get((media_type, tmdb_id))
            if title is None:
                self.add_title(media_type, tmdb_id, f"Fake {media_type} {tmdb_id}")
                title = self.titles[(media_type, tmdb_id)]
            media = self.find_media(media_type, tmdb_id) or self._new_media(title, by_request=False)
            self._set_status(media, False, status)
            self._set_status(media, True, status4k)
            if media.media_added_at is None:
                media.media_added_at = self.stamp()
            numbers = sorted(set(season_statuses or {}) | set(season_statuses4k or {}))
            for number in numbers:
                self._season_row(media, number, scan=True)
                for key4k, given in ((False, season_statuses), (True, season_statuses4k)):
                    if given and number in given:
                        self._set_season_status(media, number, key4k, given[number], scan=True)
            for key4k in (False, True):
                self._complete_requests(media, key4k)
            return media.id

    def approve(self, request_id: int) -> None:
        """As ``POST /request/{id}/approve`` by the owner."""
        with self._lock:
            self.approve_request(self._request(request_id), actor=1)

    def decline(self, request_id: int) -> None:
        """As ``POST /request/{id}/decline`` by the owner (a declined movie resets its media to UNKNOWN)."""
        with self._lock:
            self.decline_request(self._request(request_id), actor=1)

    def fail(self, request_id: int) -> None:
        """The push to Radarr/Sonarr failed: request FAILED (4)."""
        with self._lock:
            request = self._request(request_id)
            request.status = REQUEST_FAILED
            self._touch(request)
            self._notify("MEDIA_FAILED", request)

    def set_download(
        self,
        request_id: int,
        *,
        fraction: float,
        eta: datetime | None = None,
        status: str = "downloading",
    ) -> None:
        """Fill the media's ``downloadStatus`` (``downloadStatus4k`` for a 4K request), notes §7.

        ``fraction`` is the part already downloaded (0..1). Without ``eta`` the download finishes
        in ``(1 - fraction)`` hours. Download status is in-memory on the server: ``updatedAt``
        does not change. TV requests get one queue item per requested season (episode 1).
        """
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("fraction must be within 0..1")
        with self._lock:
            request = self._request(request_id)
            media = self.media[request.media_id]
            title = self.titles[(media.media_type, media.tmdb_id)]
            external_id = self._ensure_service(media, request.is4k, force=True)
            now = self.now()
            eta = eta or now + timedelta(seconds=round(3600 * (1 - fraction)))
            if eta.tzinfo is None:
                eta = eta.replace(tzinfo=UTC)
            size = (16 if request.is4k else 4) * 1_073_741_824
            quality = "2160p" if request.is4k else "1080p"
            release = re.sub(r"[^A-Za-z0-9]+", ".", title.title).strip(".")
            base: dict[str, Any] = {
                "externalId": external_id,
                "estimatedCompletionTime": iso(eta),
                "mediaType": media.media_type,
                "size": size,
                "sizeLeft": round(size * (1 - fraction)),
                "status": status,
                "timeLeft": arr_time_left(eta - now),
            }
            items: list[dict[str, Any]] = []
            if media.media_type == "movie":
                items.append({**base, "title": f"{release}.{quality}.WEB-DL.FAKE"})
            else:
                for number in request.season_numbers() or [1]:
                    episode = {
                        "seasonNumber": number,
                        "episodeNumber": 1,
                        "absoluteEpisodeNumber": 1,
                        "id": media.id * 10_000 + number * 100 + 1,
                    }
                    name = f"{release}.S{number:02d}E01.{quality}.WEB-DL.FAKE"
                    items.append({**base, "title": name, "episode": episode})
            if self.traits.has_download_id:
                for item in items:
                    item["downloadId"] = hashlib.sha1(item["title"].encode()).hexdigest().upper()
            if request.is4k:
                media.download_status4k = items
            else:
                media.download_status = items

    def mark_available(self, request_id: int, *, seasons: Iterable[int] | None = None) -> None:
        """A library scan found the request's media (or the given TV seasons).

        Movie → AVAILABLE; TV → the seasons AVAILABLE and the show AVAILABLE when every regular
        season is, else PARTIALLY_AVAILABLE (``status4k`` for a 4K request). Clears that download
        status. On J273/S approved requests whose media/seasons are all available become COMPLETED.
        """
        with self._lock:
            request = self._request(request_id)
            media = self.media[request.media_id]
            key4k = request.is4k
            if media.media_type == "movie":
                self._set_status(media, key4k, MEDIA_AVAILABLE)
            else:
                numbers = list(seasons) if seasons is not None else request.season_numbers()
                for number in numbers:
                    self._set_season_status(media, number, key4k, MEDIA_AVAILABLE, scan=True)
                self._set_status(media, key4k, self._show_status(media, key4k))
            if media.media_added_at is None:
                media.media_added_at = self.stamp()
            if key4k:
                media.download_status4k = []
            else:
                media.download_status = []
            self._complete_requests(media, key4k)

    def delete_request(self, request_id: int) -> None:
        """Remove a request; media left without requests of that kind drops back to UNKNOWN."""
        with self._lock:
            request = self._request(request_id)
            del self.requests[request_id]
            media = self.media.get(request.media_id)
            if media is None:
                return
            for key4k in (False, True):
                others = [r for r in self.requests.values() if r.media_id == media.id and r.is4k == key4k]
                if not others and media.status_of(key4k) in (MEDIA_PENDING, MEDIA_PROCESSING):
                    self._set_status(media, key4k, MEDIA_UNKNOWN)

    def blocklist(
        self, media_type: MediaType, tmdb_id: int, *, user_id: int = 1, title: str | None = None
    ) -> int:
        """Put a title on the blocklist (J/S only), as ``POST /blocklist`` does; returns the entry id.

        The media row (created if missing) gets ``status`` and ``status4k`` = 6; its requests stay.
        A title already on the list is refused with 412, as the unique column makes the server do.
        """
        with self._lock:
            if self.traits.blocklist_name is None:
                raise ValueError(f"{self.traits.product} {self.traits.version} has no blocklist")
            if any(
                e.tmdb_id == tmdb_id and e.media_type == media_type for e in self.blocklist_entries.values()
            ):
                raise message_error(412, f"Item already {self.traits.blocklist_name}ed")
            if (media_type, tmdb_id) not in self.titles:
                self.add_title(media_type, tmdb_id, title or f"Fake {media_type} {tmdb_id}")
            media = self.find_media(media_type, tmdb_id) or self._new_media(
                self.titles[(media_type, tmdb_id)], by_request=True
            )
            self._set_status(media, False, MEDIA_BLOCKLISTED)
            self._set_status(media, True, MEDIA_BLOCKLISTED)
            entry = BlocklistRecord(
                id=self._next_id("blocklist"),
                media_type=media_type,
                tmdb_id=tmdb_id,
                title=title if title is not None else self.titles[(media_type, tmdb_id)].title,
                user_id=user_id,
                created_at=self.stamp(),
            )
            self.blocklist_entries[entry.id] = entry
            return entry.id

    def remove_from_library(
        self, media_type: MediaType, tmdb_id: int, *, seasons: Iterable[int] | None = None
    ) -> None:
        """The availability sync found the title (or, with ``seasons``, those seasons of a show)
        gone from the media server.

        Where the version has a DELETED status (``traits.deleted_status``: 7 on Jellyseerr ≥ 2.6
        and Seerr, 6 on Overseerr ≥ 1.35) the available status(es) and seasons become DELETED and
        approved requests whose media or seasons are all AVAILABLE or DELETED become COMPLETED.
        Elsewhere (Overseerr ≤ 1.34, Jellyseerr < 2.6) the status goes back to PROCESSING (an
        approved request exists), PENDING (a pending one exists) or UNKNOWN (``findMediaStatus``),
        and the seasons to UNKNOWN (notes §5).

        With ``seasons`` only those season rows change, and the show stays PARTIALLY_AVAILABLE
        while another season is still in the library (else it is gone as a whole, as above). That
        a partial removal works so on every version is an inference: the notes describe the sync
        per title.
        """
        numbers = None if seasons is None else set(seasons)
        if numbers is not None and (media_type != "tv" or not numbers):
            raise ValueError("seasons= names seasons of a TV show (at least one)")
        with self._lock:
            media = self.find_media(media_type, tmdb_id)
            if media is None:
                raise KeyError(f"no media row for {media_type} {tmdb_id}")
            present = (MEDIA_PARTIALLY_AVAILABLE, MEDIA_AVAILABLE)
            keys = [k for k in (False, True) if media.status_of(k) in present] or [False]
            for key4k in keys:
                season_status = self.traits.deleted_status or MEDIA_UNKNOWN
                for season in media.seasons:
                    if numbers is not None and season.season_number not in numbers:
                        continue
                    if (season.status4k if key4k else season.status) in present:
                        self._set_season_status(media, season.season_number, key4k, season_status, scan=True)
                left = [s for s in media.seasons if (s.status4k if key4k else s.status) in present]
                if numbers is not None and left:
                    self._set_status(media, key4k, MEDIA_PARTIALLY_AVAILABLE)
                else:
                    self._set_status(media, key4k, self._status_after_removal(media, key4k))
                self._complete_requests(media, key4k)

    def _status_after_removal(self, media: MediaRecord, key4k: bool) -> int:
        """DELETED where the version has it; else what Overseerr 1.34's ``findMediaStatus`` picks."""
        if self.traits.deleted_status is not None:
            return self.traits.deleted_status
        statuses = {r.status for r in self.requests.values() if r.media_id == media.id and r.is4k == key4k}
        if REQUEST_APPROVED in statuses:
            return MEDIA_PROCESSING
        if REQUEST_PENDING in statuses:
            return MEDIA_PENDING
        return MEDIA_UNKNOWN

    def restart(self) -> None:
        """The server restarted: download progress (memory only) is gone, the database stays."""
        with self._lock:
            for media in self.media.values():
                media.download_status = []
                media.download_status4k = []

    # ------------------------------------------------------------------ inspection and faults
    def call_count(self, kind: str | None = None, path_prefix: str | None = None) -> int:
        """How many calls of that kind (``"tmdb"``/``"db"``) and path prefix (without ``/api/v1``)."""
        with self._lock:
            prefix = strip_prefix(path_prefix) if path_prefix else None
            return sum(
                1
                for call in self.calls
                if (kind is None or call.kind == kind) and (prefix is None or call.path.startswith(prefix))
            )

    def fail_next(
        self,
        count: int,
        *,
        status: int,
        body: str | bytes | dict[str, Any] | None = None,
        content_type: str = "application/json",
        path_prefix: str = "",
    ) -> None:
        """Answer the next ``count`` calls whose path (without ``/api/v1``) starts with ``path_prefix``
        with ``status`` and ``body`` instead. A dict body is sent as JSON; faults queue in order."""
        if isinstance(body, dict):
            raw = json.dumps(body).encode()
        elif isinstance(body, str):
            raw = body.encode()
        else:
            raw = body or b""
        with self._lock:
            self._faults.append(Fault(count, status, raw, content_type, strip_prefix(path_prefix)))

    def take_fault(self, path: str) -> Fault | None:
        """Consume one pending fault matching ``path`` (used by the router)."""
        for fault in self._faults:
            if fault.remaining > 0 and path.startswith(fault.path_prefix):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    # ------------------------------------------------------------------ transports
    def handle(self, request: httpx.Request) -> httpx.Response:
        """The whole server as a function; sleeps the latency outside the lock.

        A request the real server never answers (non-numeric ``X-Api-User``) raises
        ``httpx.ReadTimeout`` here, as the client would see it in the end."""
        request.read()
        latency = self._latency(request)
        if latency > 0:
            time.sleep(latency)
        return self._respond_or_time_out(request)

    def _latency(self, request: httpx.Request) -> float:
        kind = classify_kind(request.method, strip_prefix(request.url.path))
        return self.tmdb_latency if kind == "tmdb" else self.db_latency

    def _respond(self, request: httpx.Request) -> httpx.Response:
        """One exchange; raises ``NeverAnsweredError`` for a request the server never answers."""
        with self._lock:
            return self._router.dispatch(request)

    def _respond_or_time_out(self, request: httpx.Request) -> httpx.Response:
        try:
            return self._respond(request)
        except NeverAnsweredError:
            raise httpx.ReadTimeout("the server never answers this request", request=request) from None

    def transport(self) -> httpx.MockTransport:
        """An httpx transport into the fake, for ``httpx.Client`` and ``httpx.AsyncClient``.

        With an ``AsyncClient`` the latency is an ``asyncio.sleep`` (concurrent calls overlap)."""
        return _FakeTransport(self)

    @contextmanager
    def serve(
        self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None
    ) -> Iterator[str]:
        """Serve the fake over real HTTP in a background thread; yields the base URL.

        With ``ssl_context`` (a server-side context with its certificate loaded) it serves HTTPS.
        """
        fake = self
        scheme = "https" if ssl_context is not None else "http"
        open_connections: set[socket.socket] = set()
        stopping = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                content = self.rfile.read(length) if length else b""
                headers = [(k, v) for k, v in self.headers.items() if k.lower() != "host"]
                headers.append(("Host", self.headers.get("Host") or f"{host}:{bound_port}"))
                url = f"{scheme}://{host}:{bound_port}{self.path}"
                outgoing = httpx.Request(self.command, url, headers=headers, content=content)
                latency = fake._latency(outgoing)
                if latency > 0:
                    time.sleep(latency)
                try:
                    response = fake._respond(outgoing)
                except NeverAnsweredError:
                    self._hold()
                    self.close_connection = True
                    return
                body = response.content
                self.send_response(response.status_code)
                for name, value in response.headers.multi_items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD" and body:
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _forward  # noqa: N815

            def _hold(self) -> None:
                """Answer nothing until the client closes the connection or the server stops
                (one sleeping thread; the poll is cheap)."""
                connection = self.connection
                while not stopping.wait(0.1):
                    try:
                        readable, _, _ = select.select([connection], [], [], 0)
                        if readable and not connection.recv(1, socket.MSG_PEEK):
                            return  # the client gave up
                    except ValueError:  # TLS sockets do not peek: hold until the server stops
                        continue
                    except OSError:
                        return

            def setup(self) -> None:
                super().setup()
                # answer at once, as Node does (no 40 ms wait for a delayed ACK)
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                open_connections.add(self.connection)

            def finish(self) -> None:
                open_connections.discard(self.connection)
                super().finish()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # many clients connecting at once are queued, not refused

        server = Server((host, port), Handler)
        server.daemon_threads = True
        if ssl_context is not None:
            # the handshake happens in each connection's own thread, at its first read: a client
            # that never finishes it (refused the certificate, cancelled) cannot block accept()
            # and with it the server's shutdown
            server.socket = ssl_context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        bound_port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, name="fake-seerr", daemon=True)
        thread.start()
        try:
            yield f"{scheme}://{host}:{bound_port}"
        finally:
            stopping.set()
            server.shutdown()
            server.server_close()
            for connection in list(open_connections):  # a server that stops drops its keep-alives
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            thread.join(timeout=10)

    # ------------------------------------------------------------------ domain helpers (router)
    def find_media(self, media_type: str, tmdb_id: int) -> MediaRecord | None:
        return next(
            (m for m in self.media.values() if m.media_type == media_type and m.tmdb_id == tmdb_id), None
        )

    def media_requests(self, media: MediaRecord) -> list[RequestRecord]:
        return [r for r in self.requests.values() if r.media_id == media.id]

    def _request(self, request_id: int) -> RequestRecord:
        try:
            return self.requests[request_id]
        except KeyError:
            raise KeyError(f"no request {request_id}") from None

    def _touch(
        self, record: MediaRecord | RequestRecord | UserRecord | SeasonRecord | SeasonRequestRecord
    ) -> None:
        """A change to the row: its ``updatedAt`` moves, except where the version freezes it
        (``traits.frozen_updated_at``: media, request, season and season-request rows)."""
        if self.traits.frozen_updated_at and not isinstance(record, UserRecord):
            return
        record.updated_at = self.stamp()

    def _new_media(self, title: TitleRecord, *, by_request: bool) -> MediaRecord:
        """A new media row. One created by a request (or a blocklist entry) has no IMDb id, no
        season rows, and ``mediaAddedAt`` only where ``traits.media_added_at_on_request``."""
        now = self.stamp()
        media = MediaRecord(
            id=self._next_id("media"),
            media_type=title.media_type,
            tmdb_id=title.tmdb_id,
            tvdb_id=title.tvdb_id,
            imdb_id=None if by_request else title.imdb_id,
            status=MEDIA_UNKNOWN,
            status4k=MEDIA_UNKNOWN,
            created_at=now,
            updated_at=now,
            last_season_change=now,
            media_added_at=now if not by_request or self.traits.media_added_at_on_request else None,
        )
        self.media[media.id] = media
        return media

    def _season_row(self, media: MediaRecord, number: int, *, scan: bool) -> SeasonRecord:
        season = media.season(number)
        if season is None:
            now = self.stamp()
            season = SeasonRecord(self._next_id("season"), number, MEDIA_UNKNOWN, MEDIA_UNKNOWN, now, now)
            media.seasons.append(season)
            media.seasons.sort(key=lambda s: s.season_number)
            if scan:
                media.last_season_change = now
        return season

    def _set_status(self, media: MediaRecord, key4k: bool, status: int) -> bool:
        """Set ``status``/``status4k``; the row is touched only when the value changes (the ORM
        writes changed columns only). Returns whether it changed."""
        if media.status_of(key4k) == status:
            return False
        if key4k:
            media.status4k = status
        else:
            media.status = status
        self._touch(media)
        if status == MEDIA_AVAILABLE and not self.traits.has_completed_request:
            # no COMPLETED status (Overseerr 1.34, Jellyseerr < 2.6): the media's arrival
            # notifies its approved requests
            for request in self.media_requests(media):
                if request.is4k == key4k and request.status == REQUEST_APPROVED:
                    self._notify_available(request)
        return True

    def _set_season_status(
        self, media: MediaRecord, number: int, key4k: bool, status: int, *, scan: bool
    ) -> None:
        """Set a season row's status (creating the row). ``lastSeasonChange`` is written by the
        library scans only (``scan``), never by ``POST /media/{id}/{status}`` (recorded)."""
        season = self._season_row(media, number, scan=scan)
        if (season.status4k if key4k else season.status) == status:
            return
        if key4k:
            season.status4k = status
        else:
            season.status = status
        self._touch(season)
        if scan:
            media.last_season_change = self.stamp()

    def _show_status(self, media: MediaRecord, key4k: bool) -> int:
        title = self.titles.get((media.media_type, media.tmdb_id))
        wanted = list(range(1, title.seasons + 1)) if title and title.seasons else []
        if not wanted:
            wanted = [s.season_number for s in media.seasons if s.season_number != 0]
        available = {
            s.season_number for s in media.seasons if (s.status4k if key4k else s.status) == MEDIA_AVAILABLE
        }
        if wanted and all(n in available for n in wanted):
            return MEDIA_AVAILABLE
        return MEDIA_PARTIALLY_AVAILABLE if available else media.status_of(key4k)

    def arr_configured(self, media_type: str, is4k: bool) -> bool:
        if media_type == "movie":
            return self.radarr_4k if is4k else self.radarr
        return self.sonarr_4k if is4k else self.sonarr

    def _ensure_service(self, media: MediaRecord, is4k: bool, *, force: bool = False) -> int | None:
        """Set serviceId/externalServiceId as a push to Radarr/Sonarr does; returns the external id."""
        current = media.external_service_id4k if is4k else media.external_service_id
        if current is not None:
            return current
        if not force and not self.arr_configured(media.media_type, is4k):
            return None
        title = self.titles.get((media.media_type, media.tmdb_id))
        external = (1000 if media.media_type == "movie" else 2000) + media.id
        slug = re.sub(r"[^a-z0-9]+", "-", (title.title if title else str(media.tmdb_id)).lower()).strip("-")
        if is4k:
            media.service_id4k, media.external_service_id4k, media.external_service_slug4k = 1, external, slug
        else:
            media.service_id, media.external_service_id, media.external_service_slug = 0, external, slug
        return external

    def approve_request(self, request: RequestRecord, actor: int) -> None:
        """``POST /request/{id}/approve``: the request and its seasons APPROVED, then the effects."""
        request.status = REQUEST_APPROVED
        request.modified_by = actor
        self._touch(request)
        for season in request.seasons:
            if season.status == REQUEST_PENDING:
                season.status = REQUEST_APPROVED
                self._touch(season)
        self._notify("MEDIA_APPROVED", request)  # before the effects: the media still PENDING (recorded)
        self._approval_effects(request)

    def _approval_effects(self, request: RequestRecord) -> None:
        """What the request subscriber does for an approved request (notes §14, recorded).

        The push to Radarr/Sonarr: where the server is configured but unreachable
        (``arr_unreachable``) it throws, the request becomes FAILED and the media is left alone.
        Otherwise the media becomes PROCESSING unless it is PARTIALLY_AVAILABLE or AVAILABLE
        (trap 19: a show with a season in the library stays 4), and a reachable server gets the
        title (``serviceId``/``externalServiceId``)."""
        media = self.media[request.media_id]
        if self.arr_unreachable and self.arr_configured(media.media_type, request.is4k):
            request.status = REQUEST_FAILED
            self._touch(request)
            self._notify("MEDIA_FAILED", request)
            return
        if media.status_of(request.is4k) not in (MEDIA_PARTIALLY_AVAILABLE, MEDIA_AVAILABLE):
            self._set_status(media, request.is4k, MEDIA_PROCESSING)
        if self._ensure_service(media, request.is4k) is not None:
            self._touch(media)

    def decline_request(self, request: RequestRecord, actor: int) -> None:
        """``POST /request/{id}/decline`` and its effects on the media (notes §14, recorded).

        The season requests become DECLINED where ``traits.decline_marks_request_seasons``. A
        PENDING media with no other pending request (same ``is4k``) goes back to UNKNOWN; a movie
        goes back to UNKNOWN from any status but DELETED (even AVAILABLE: ``updateParentStatus``;
        DELETED is ``traits.deleted_status``, none before Overseerr 1.35 and Jellyseerr 2.6).
        """
        request.status = REQUEST_DECLINED
        request.modified_by = actor
        self._touch(request)
        self._notify("MEDIA_DECLINED", request)  # the media as it was: PENDING (recorded)
        if self.traits.decline_marks_request_seasons:
            for season in request.seasons:
                season.status = REQUEST_DECLINED
                self._touch(season)
        media = self.media[request.media_id]
        key4k = request.is4k
        still_pending = any(
            r.status == REQUEST_PENDING and r.is4k == key4k and r.id != request.id
            for r in self.media_requests(media)
        )
        if media.status_of(key4k) == MEDIA_PENDING and not still_pending:
            self._set_status(media, key4k, MEDIA_UNKNOWN)
        if media.media_type == "movie" and media.status_of(key4k) != self.traits.deleted_status:
            self._set_status(media, key4k, MEDIA_UNKNOWN)

    def _complete_requests(self, media: MediaRecord, key4k: bool) -> None:
        """``MediaSubscriber`` (Overseerr ≥ 1.35, Jellyseerr ≥ 2.6, Seerr): approved requests whose
        media/seasons are all AVAILABLE or DELETED become COMPLETED (their season requests too)."""
        if not self.traits.has_completed_request:
            return
        done = (MEDIA_AVAILABLE, *self._deleted())
        whole = media.status_of(key4k) in done
        for request in self.media_requests(media):
            if request.is4k != key4k or request.status != REQUEST_APPROVED:
                continue
            finished = []
            for season in request.seasons:
                row = media.season(season.season_number)
                row_status = (row.status4k if key4k else row.status) if row else MEDIA_UNKNOWN
                if whole or row_status in done:
                    finished.append(season)
            if whole or (request.seasons and len(finished) == len(request.seasons)):
                request.status = REQUEST_COMPLETED
                self._touch(request)
                if self._arrived(media, key4k, request):
                    self._notify_available(request)
            for season in finished:
                if season.status == REQUEST_APPROVED:
                    season.status = REQUEST_COMPLETED
                    self._touch(season)

    def set_media_status(
        self, media: MediaRecord, segment: str, is4k: bool, seasons: Iterable[int] = ()
    ) -> None:
        """``POST /media/{id}/{status}``: set the status by hand (recorded on all three).

        TV ``available`` marks every season row and creates rows for the ``seasons`` the body
        lists (Seerr's UI sends them; Overseerr's sends none). ``mediaAddedAt`` and
        ``lastSeasonChange`` are not written."""
        value = {
            "available": MEDIA_AVAILABLE,
            "partial": MEDIA_PARTIALLY_AVAILABLE,
            "processing": MEDIA_PROCESSING,
            "pending": MEDIA_PENDING,
            "unknown": MEDIA_UNKNOWN,
            # the route offers "deleted" only where the version has DELETED (its OpenAPI enum)
            "deleted": self.traits.deleted_status or MEDIA_UNKNOWN,
        }[segment]
        self._set_status(media, is4k, value)
        if media.media_type == "tv" and value == MEDIA_AVAILABLE:
            numbers = {season.season_number for season in media.seasons} | set(seasons)
            for number in sorted(numbers):
                self._set_season_status(media, number, is4k, MEDIA_AVAILABLE, scan=False)
        self._complete_requests(media, is4k)

    def quota(self, user: UserRecord) -> dict[str, dict[str, Any]]:
        """``User.getQuota``: undefined values are left out, managers get ``limit: 0``."""
        bypass = has_permission(user.permissions, MANAGE_USERS)
        now = self.now()
        result: dict[str, dict[str, Any]] = {}
        for kind, own_limit, own_days in (
            ("movie", user.movie_quota_limit, user.movie_quota_days),
            ("tv", user.tv_quota_limit, user.tv_quota_days),
        ):
            default = self.default_quotas.get(kind, {})
            limit = own_limit if own_limit is not None else default.get("quotaLimit")
            days = own_days if own_days is not None else default.get("quotaDays")
            if bypass:
                limit = 0
            since = now - timedelta(days=days) if days else now
            used = 0
            if limit:
                for request in self.requests.values():
                    if (
                        request.requested_by == user.id
                        and request.media_type == kind
                        and request.status != REQUEST_DECLINED
                        and request.created_at > since
                    ):
                        used += 1 if kind == "movie" else len(request.seasons)
            entry: dict[str, Any] = {}
            if days is not None:
                entry["days"] = days
            if limit is not None:
                entry["limit"] = limit
            entry["used"] = used
            if limit:
                entry["remaining"] = max(0, limit - used)
            entry["restricted"] = bool(limit and limit - used <= 0)
            result[kind] = entry
        return result

    def create_request(
        self,
        caller: UserRecord,
        body: dict[str, Any],
        *,
        before_approval: Callable[[RequestRecord], None] | None = None,
    ) -> RequestRecord:
        """``POST /request`` in the server's order of checks (notes §8); raises ``FakeHttpError``.

        ``before_approval`` is called with an auto-approved request before the approval takes
        effect on the media (what the 201 answer shows)."""
        media_type: str = body["mediaType"]
        tmdb_id = int(body["mediaId"])
        is4k_given = body.get("is4k") is not None
        is4k = bool(body.get("is4k"))
        noun = "movie" if media_type == "movie" else "series"
        # 1. on behalf of another user
        target = caller
        if body.get("userId") is not None:
            if not has_permission(caller.permissions, MANAGE_USERS, MANAGE_REQUESTS):
                raise message_error(403, "You do not have permission to modify the request user.")
            user_id = int(body["userId"])
            if user_id not in self.users:
                raise message_error(500, entity_not_found("User", user_id))
            target = self.users[user_id]
        # 2. permission of the target user
        if media_type == "movie":
            bits = (REQUEST_4K, REQUEST_4K_MOVIE) if is4k else (REQUEST, REQUEST_MOVIE)
        else:
            bits = (REQUEST_4K, REQUEST_4K_TV) if is4k else (REQUEST, REQUEST_TV)
        if not has_permission(target.permissions, *bits, any_of=True):
            raise message_error(
                403, f"You do not have permission to make {'4K ' if is4k else ''}{noun} requests."
            )
        # 3. quota of the target user
        quotas = self.quota(target)
        if quotas[media_type]["restricted"]:
            raise message_error(
                403, "Movie Quota exceeded." if media_type == "movie" else "Series Quota exceeded."
            )
        # 4. TMDB
        title = self.titles.get((media_type, tmdb_id))
        if title is None:
            what = "movie" if media_type == "movie" else "TV show"
            raise message_error(
                500, f"[TMDB] Failed to fetch {what} details: Request failed with status code 404"
            )
        media = self.find_media(media_type, tmdb_id)
        # 5. blocklist (J/S)
        if self.traits.blocklist_message and media and MEDIA_BLOCKLISTED in (media.status, media.status4k):
            raise message_error(403, self.traits.blocklist_message)
        # 6. duplicates (per is4k; never matches when is4k was not sent - the notes' trap)
        finished = (
            (REQUEST_DECLINED, REQUEST_COMPLETED)
            if self.traits.has_completed_request
            else (REQUEST_DECLINED,)
        )
        active = [
            r
            for r in (self.media_requests(media) if media else [])
            if r.is4k == is4k and r.status not in finished
        ]
        seasons: list[int] = []
        if media_type == "movie":
            if is4k_given and active:
                raise message_error(409, "Request for this media already exists.")
        else:
            seasons = self._requested_seasons(title, body.get("seasons"))
            taken: set[int] = set()
            if media is not None:
                if is4k_given:
                    for request in active:
                        taken.update(request.season_numbers())
                gone = (MEDIA_UNKNOWN, *self._deleted())
                taken.update(
                    s.season_number for s in media.seasons if (s.status4k if is4k else s.status) not in gone
                )
            seasons = [n for n in seasons if n not in taken]
            if not seasons:
                raise FakeHttpError(202, {"message": "No seasons available to request"})
            tv_quota = quotas["tv"]
            if tv_quota.get("limit") and len(seasons) > tv_quota.get("remaining", 0):
                raise message_error(403, "Series Quota exceeded.")
        # 7. create
        auto_bits = (
            (AUTO_APPROVE_4K, AUTO_APPROVE_4K_MOVIE if media_type == "movie" else AUTO_APPROVE_4K_TV)
            if is4k
            else (AUTO_APPROVE, AUTO_APPROVE_MOVIE if media_type == "movie" else AUTO_APPROVE_TV)
        )
        auto = has_permission(caller.permissions, *auto_bits, MANAGE_REQUESTS, any_of=True)
        if media is None:
            media = self._new_media(title, by_request=True)
            if media_type == "tv" and body.get("tvdbId") is not None:
                media.tvdb_id = int(body["tvdbId"])
        unknown_like = (MEDIA_UNKNOWN, *self._deleted())
        if media.status_of(is4k) in unknown_like:
            self._set_status(media, is4k, MEDIA_PENDING)
        now = self.stamp()
        status = REQUEST_APPROVED if auto else REQUEST_PENDING
        request = RequestRecord(
            id=self._next_id("request"),
            status=status,
            media_id=media.id,
            media_type=media.media_type,
            is4k=is4k,
            requested_by=target.id,
            modified_by=caller.id if auto else None,
            created_at=now,
            updated_at=now,
            seasons=[
                SeasonRequestRecord(self._next_id("season_request"), n, status, now, now) for n in seasons
            ],
            server_id=_optional_int(body.get("serverId")),
            profile_id=_optional_int(body.get("profileId")),
            root_folder=body.get("rootFolder"),
            language_profile_id=_optional_int(body.get("languageProfileId")),
            tags=[int(t) for t in body["tags"]] if isinstance(body.get("tags"), list) else None,
        )
        self.requests[request.id] = request
        if auto:
            if before_approval is not None:
                before_approval(request)
            self._notify("MEDIA_AUTO_APPROVED", request)
            self._approval_effects(request)
        else:
            self._notify("MEDIA_PENDING", request)
        return request

    def _requested_seasons(self, title: TitleRecord, raw: Any) -> list[int]:
        """The seasons a TV request asks for, as the server reads ``seasons`` (notes §8): ``"all"``
        is every TMDB season, with season 0 per ``traits.all_seasons_specials``; explicit lists
        lose season 0 where the server has the specials setting and it is off."""
        if raw is None:
            # the server calls .filter on undefined
            raise message_error(500, "Cannot read properties of undefined (reading 'filter')")
        specials_on = self.traits.special_episodes_setting and self._enable_special_episodes
        if raw == "all":
            numbers = title.season_numbers()
            mode = self.traits.all_seasons_specials
            if mode == "never" or (mode == "setting" and not specials_on):
                numbers = [n for n in numbers if n != 0]
        else:
            numbers = [int(n) for n in raw]
            if self.traits.special_episodes_setting and not specials_on:
                numbers = [n for n in numbers if n != 0]
        return list(dict.fromkeys(numbers))

    # ------------------------------------------------------------------ webhook notifications
    def _notify(self, notification_type: str, request: RequestRecord) -> None:
        """Hand a request notification to the webhook agent (the media as it is now)."""
        media = self.media[request.media_id]
        self.webhook.notify(
            notification_type,
            request=request,
            media=media,
            requester=self.users[request.requested_by],
            title=self.titles.get((media.media_type, media.tmdb_id)),
        )

    def _notify_available(self, request: RequestRecord) -> None:
        """MEDIA_AVAILABLE for one request; none for TV where the product sends none (Overseerr)."""
        if request.media_type == "tv" and not self.webhook.webhook_traits.tv_available:
            return
        self._notify("MEDIA_AVAILABLE", request)

    @staticmethod
    def _arrived(media: MediaRecord, key4k: bool, request: RequestRecord) -> bool:
        """Did a completed request complete because its media (or all its seasons) arrived,
        rather than left the library (DELETED)?"""
        if media.status_of(key4k) == MEDIA_AVAILABLE:
            return True
        rows = [media.season(s.season_number) for s in request.seasons]
        return bool(rows) and all(
            row is not None and (row.status4k if key4k else row.status) == MEDIA_AVAILABLE for row in rows
        )

    def configure_webhook(
        self,
        url: str,
        *,
        auth_header: str | None = None,
        types: int = MEDIA_EVENT_TYPES,
        enabled: bool = True,
    ) -> None:
        """Configure the webhook agent as an admin would on the settings page (the default
        template, UI-encoded): every later transition of an enabled type POSTs to ``url``."""
        with self._lock:
            self.webhook.configure(url, auth_header=auth_header, types=types, enabled=enabled)

    @property
    def webhook_faults(self) -> WebhookFaults:
        """The fault switches of event deliveries: ``drop_next(n)``, ``delay(seconds)``,
        ``duplicate_next(n)``, ``reorder_next(n)``, ``release()``, ``reset()``."""
        return self.webhook.sender.faults

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """Every webhook POST attempted so far, in the order it left (``/test`` ones included)."""
        with self.webhook.sender.condition:
            return list(self.webhook.sender.deliveries)

    @property
    def webhook_errors(self) -> list[str]:
        """The agent's error lines of the server log (broken template, refused, 500, hang-up)."""
        with self.webhook.sender.condition:
            return list(self.webhook.sender.errors)

    def wait_for_deliveries(self, timeout: float = 5.0) -> list[WebhookDelivery]:
        """Wait until no webhook delivery is queued, held or waiting for its answer; returns
        :attr:`webhook_deliveries`. Raises ``TimeoutError`` naming what is still pending."""
        return self.webhook.sender.wait(timeout)

    def _deleted(self) -> tuple[int, ...]:
        """The DELETED status of this version, as a tuple to splice into status sets."""
        deleted = self.traits.deleted_status
        return () if deleted is None else (deleted,)


class _FakeTransport(httpx.MockTransport):
    """``MockTransport`` whose async path awaits the latency instead of blocking the loop."""

    def __init__(self, fake: FakeSeerr) -> None:
        super().__init__(fake.handle)
        self._fake = fake

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        latency = self._fake._latency(request)
        if latency > 0:
            await asyncio.sleep(latency)
        return self._fake._respond_or_time_out(request)


def arr_time_left(delta: timedelta) -> str:
    """A Radarr/Sonarr ``timeleft``: ``HH:MM:SS``, with a ``D.`` day prefix past 24 hours."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}.{clock}" if days else clock


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


__all__ = ["FakeSeerr", "Flavour", "RecordedCall", "arr_time_left"]
