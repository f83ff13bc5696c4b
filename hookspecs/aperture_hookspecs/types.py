"""The values that cross the contract: what a provider receives and what it returns.

Every type is a small frozen dataclass or an enum. They validate themselves on construction,
so a provider that builds a nonsensical answer (a Request button with no way to request, a
"Not Available" without a reason) fails loudly in its own tests rather than on a user's page.
Each type has ``to_dict()`` giving plain JSON-ready data (what the CLI's ``--json`` prints).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "ALL_SEASONS",
    "AccountMapping",
    "ApertureUser",
    "Availability",
    "Capability",
    "ConnectionProblem",
    "ConnectionReport",
    "DownloadProgress",
    "MediaRef",
    "MediaType",
    "ProviderContext",
    "ProviderInfo",
    "RequestOptions",
    "RequestResult",
    "RequestState",
    "Seasons",
    "Severity",
    "StatusChange",
    "StatusUpdate",
    "TrackedRequest",
]


class MediaType(StrEnum):
    """What kind of title a :class:`MediaRef` points at (the TMDB namespaces)."""

    MOVIE = "movie"
    TV = "tv"


_MEDIA_REF_PATTERN = re.compile(r"^\s*(movie|tv)\s*:\s*(\d{1,10})\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class MediaRef:
    """One title, as Aperture's Discovery page knows it: a media type and a TMDB id.

    TMDB ids are only unique within a media type (movie 603 and tv 603 are different titles),
    so both are always carried together. ``str(ref)`` is ``"movie:603"``.
    """

    media_type: MediaType
    tmdb_id: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "media_type", MediaType(self.media_type))
        if isinstance(self.tmdb_id, bool) or not isinstance(self.tmdb_id, int):
            raise TypeError(f"tmdb_id must be an int, not {type(self.tmdb_id).__name__}")
        if self.tmdb_id <= 0:
            raise ValueError(f"tmdb_id must be a positive TMDB id, not {self.tmdb_id}")

    @classmethod
    def parse(cls, text: str) -> MediaRef:
        """Parse ``"movie:603"`` or ``"tv:1399"`` (case and spaces around ``:`` tolerated).

        Raises :class:`ValueError` with a message that shows the expected form.
        """
        match = _MEDIA_REF_PATTERN.match(text)
        if match is None:
            raise ValueError(
                f"{text!r} is not a title reference; use movie:TMDB_ID or tv:TMDB_ID, "
                "for example movie:603 or tv:1399"
            )
        tmdb_id = int(match.group(2))
        if tmdb_id <= 0:
            raise ValueError(f"{text!r} is not a title reference: TMDB ids start at 1")
        return cls(MediaType(match.group(1).lower()), tmdb_id)

    def __str__(self) -> str:
        return f"{self.media_type.value}:{self.tmdb_id}"

    def to_dict(self) -> dict[str, Any]:
        return {"media_type": self.media_type.value, "tmdb_id": self.tmdb_id}


@dataclass(frozen=True, slots=True)
class ApertureUser:
    """A user of Aperture, as the media server (Jellyfin/Emby) knows them.

    ``name`` is the media-server username and Aperture's key for the user. ``media_server_id``
    is the Jellyfin/Emby user id when known; providers use it and ``email`` to find the same
    person on their side (see the user-mapping rules in the README).
    """

    name: str
    media_server_id: str | None = None
    email: str | None = None
    display_name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("an Aperture user needs a non-empty name")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "media_server_id": self.media_server_id,
            "email": self.email,
            "display_name": self.display_name,
        }


ALL_SEASONS: Literal["all"] = "all"
"""Request every season of a series (the server decides which exist)."""

Seasons = tuple[int, ...] | Literal["all"]
"""The seasons of a TV request: :data:`ALL_SEASONS` or an explicit, sorted tuple of numbers."""


@dataclass(frozen=True, slots=True)
class RequestOptions:
    """How to request a title: which TV seasons, and whether in 4K.

    ``seasons`` is ignored for movies. For TV it is :data:`ALL_SEASONS` (the default) or the
    season numbers wanted; they are de-duplicated and sorted. Season 0 is the specials.
    ``is_4k``: ``True``/``False`` to choose; ``None`` (the default) lets the provider apply its
    admin's default (e.g. the Seerr providers' "default 4K" setting).
    """

    seasons: Seasons = ALL_SEASONS
    is_4k: bool | None = None

    def __post_init__(self) -> None:
        if self.seasons != ALL_SEASONS:
            numbers = tuple(self.seasons)
            if not numbers:
                raise ValueError("choose at least one season, or all seasons")
            for number in numbers:
                if isinstance(number, bool) or not isinstance(number, int) or number < 0:
                    raise ValueError(f"season numbers are whole numbers from 0, not {number!r}")
            object.__setattr__(self, "seasons", tuple(sorted(set(numbers))))

    def to_dict(self) -> dict[str, Any]:
        seasons = self.seasons if self.seasons == ALL_SEASONS else list(self.seasons)
        return {"seasons": seasons, "is_4k": self.is_4k}


class RequestState(StrEnum):
    """The state of a title for one user: the badge on a Discovery card.

    Each state has a ``label`` (the badge text) and a ``color`` (the badge colour, a name with a
    ``hex`` value for UIs). ``requestable`` and ``partially_available`` are the only states in
    which a Request button may show.
    """

    REQUESTABLE = "requestable"
    PENDING = "pending"
    APPROVED = "approved"
    PROCESSING = "processing"
    PARTIALLY_AVAILABLE = "partially_available"
    AVAILABLE = "available"
    DECLINED = "declined"
    FAILED = "failed"
    BLOCKLISTED = "blocklisted"
    NOT_AVAILABLE = "not_available"

    @property
    def label(self) -> str:
        """The badge text a user sees ("Request", "Pending", …)."""
        return _BADGES[self][0]

    @property
    def color(self) -> str:
        """The badge colour name ("blue", "yellow", …)."""
        return _BADGES[self][1]

    @property
    def hex(self) -> str:
        """The badge colour as ``#rrggbb``."""
        return _COLOR_HEX[self.color]

    @property
    def meaning(self) -> str:
        """One sentence saying what the state means."""
        return _BADGES[self][2]

    @property
    def may_request(self) -> bool:
        """Whether a Request button may show in this state (if the user may request)."""
        return self in (RequestState.REQUESTABLE, RequestState.PARTIALLY_AVAILABLE)

    @property
    def is_final(self) -> bool:
        """Whether a tracked request in this state needs no more polling.

        ``not_available`` is final for a tracked request: it means the request is gone.
        """
        return self in (
            RequestState.AVAILABLE,
            RequestState.DECLINED,
            RequestState.BLOCKLISTED,
            RequestState.NOT_AVAILABLE,
        )


_BADGES: dict[RequestState, tuple[str, str, str]] = {
    RequestState.REQUESTABLE: ("Request", "blue", "not in the library, not requested; may be requested"),
    RequestState.PENDING: ("Pending", "yellow", "requested, awaiting approval"),
    RequestState.APPROVED: ("Approved", "green", "approved, not downloading yet"),
    RequestState.PROCESSING: ("Processing", "orange", "being downloaded"),
    RequestState.PARTIALLY_AVAILABLE: (
        "Partially Available",
        "purple",
        "some seasons are in the library; the missing ones may be requested",
    ),
    RequestState.AVAILABLE: ("Available", "purple", "in the library"),
    RequestState.DECLINED: ("Declined", "red", "the request was denied"),
    RequestState.FAILED: ("Failed", "red", "approved, but sending it to the downloader failed"),
    RequestState.BLOCKLISTED: ("Blocklisted", "grey", "the server's admin blocked this title"),
    RequestState.NOT_AVAILABLE: (
        "Not Available",
        "grey",
        "no provider, provider down, or this user cannot request",
    ),
}

_COLOR_HEX = {
    "blue": "#3b82f6",
    "yellow": "#eab308",
    "green": "#22c55e",
    "orange": "#f97316",
    "purple": "#a855f7",
    "red": "#ef4444",
    "grey": "#6b7280",
}


@dataclass(frozen=True, slots=True)
class DownloadProgress:
    """How far a download has come, when the provider knows.

    ``fraction`` is 0.0–1.0 (``None`` when the size is unknown); ``eta`` is the estimated
    completion time (timezone-aware) when known; ``status`` is the downloader's own word
    ("downloading", "queued", "paused", …).
    """

    fraction: float | None = None
    eta: datetime | None = None
    status: str | None = None
    size_bytes: int | None = None
    size_left_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.fraction is not None and not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"download fraction must be between 0 and 1, not {self.fraction}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "fraction": self.fraction,
            "eta": self.eta.isoformat() if self.eta else None,
            "status": self.status,
            "size_bytes": self.size_bytes,
            "size_left_bytes": self.size_left_bytes,
        }


@dataclass(frozen=True, slots=True)
class Availability:
    """The answer for one card: the state of one title for one user.

    * ``can_request``: show the Request button. Only allowed in a state whose
      ``may_request`` is true.
    * ``reason``: for the user, in plain words; required when the state is ``not_available``
      and whenever a requestable-looking title cannot be requested ("quota reached: 0 of 5
      movie requests left; the window is 7 days").
    * ``admin_reason``: for the admin, what to fix ("map the user", "grant REQUEST").
    * ``requestable_seasons``: for partially available TV, the seasons that may be requested.
    * ``request_id``: the provider's id of the request behind a pending/approved/… state.
    """

    item: MediaRef
    state: RequestState
    can_request: bool = False
    reason: str | None = None
    admin_reason: str | None = None
    progress: DownloadProgress | None = None
    requestable_seasons: tuple[int, ...] = ()
    is_4k: bool = False
    request_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", RequestState(self.state))
        if self.can_request and not self.state.may_request:
            raise ValueError(f"a {self.state.value} title cannot show a Request button")
        if self.state is RequestState.NOT_AVAILABLE and not self.reason:
            raise ValueError("a Not Available answer needs a reason the user can read")
        if self.state.may_request and not self.can_request and not self.reason:
            raise ValueError("say why this user cannot request this title (reason)")

    @classmethod
    def not_available(cls, item: MediaRef, reason: str, admin_reason: str | None = None) -> Availability:
        """The "Not Available" answer with its reason (what Discovery shows when in doubt)."""
        return cls(item, RequestState.NOT_AVAILABLE, reason=reason, admin_reason=admin_reason)

    @property
    def label(self) -> str:
        return self.state.label

    @property
    def color(self) -> str:
        return self.state.color

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.item.to_dict(),
            "state": self.state.value,
            "label": self.state.label,
            "color": self.state.color,
            "can_request": self.can_request,
            "reason": self.reason,
            "admin_reason": self.admin_reason,
            "progress": self.progress.to_dict() if self.progress else None,
            "requestable_seasons": list(self.requestable_seasons),
            "is_4k": self.is_4k,
            "request_id": self.request_id,
        }


@dataclass(frozen=True, slots=True)
class RequestResult:
    """What a successful request submission produced: a request of *this* user.

    ``state`` is ``pending`` (awaits approval), ``approved``/``processing`` (auto-approved) or
    ``available``. ``request_id`` is the provider's id, kept by the host to poll the request.
    ``message`` is optional text for the user ("Requested seasons 1–3; season 4 was already
    requested").

    ``already_requested`` is true when nothing new was filed because the user's own earlier
    request already covers the title (or every season asked for): ``request_id``, ``state`` and
    ``seasons`` are that request's, ``message`` says so ("already requested by you"), and the
    host tracks it like a new one. Movies and TV answer alike. A request by *another* user is
    never a result: it is :class:`~aperture_hookspecs.errors.AlreadyRequestedError` with
    ``requested_by`` and the title's ``state``. ``already_requested`` defaults to false, so
    providers that never set it keep the contract.
    """

    item: MediaRef
    request_id: str
    state: RequestState
    seasons: Seasons | None = None
    is_4k: bool = False
    message: str | None = None
    already_requested: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", RequestState(self.state))
        if not self.request_id:
            raise ValueError("a request result needs the provider's request id")

    def to_dict(self) -> dict[str, Any]:
        seasons = self.seasons if self.seasons in (None, ALL_SEASONS) else list(self.seasons)
        return {
            **self.item.to_dict(),
            "request_id": self.request_id,
            "state": self.state.value,
            "label": self.state.label,
            "color": self.state.color,
            "seasons": seasons,
            "is_4k": self.is_4k,
            "message": self.message,
            "already_requested": self.already_requested,
        }


class Severity(StrEnum):
    """How bad a :class:`ConnectionProblem` is: errors make the connection test fail."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class ConnectionProblem:
    """One thing the connection test found, with what to do about it.

    ``code`` is a stable key (``cannot_connect``, ``invalid_auth``, ``csrf_enabled``, …) that
    UIs may translate; ``message`` says what happened; ``hints`` say what to do.
    """

    code: str
    message: str
    hints: tuple[str, ...] = ()
    severity: Severity = Severity.ERROR

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": Severity(self.severity).value,
            "message": self.message,
            "hints": list(self.hints),
        }


@dataclass(frozen=True, slots=True)
class ConnectionReport:
    """The result of "Test Connection".

    ``ok`` is true when no problem is an error. ``product``/``version`` say what answered
    ("Jellyseerr", "2.7.3"); ``acting_user`` and ``is_admin`` say whom the API key acts as.
    """

    provider: str
    product: str | None = None
    version: str | None = None
    acting_user: str | None = None
    is_admin: bool | None = None
    problems: tuple[ConnectionProblem, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(problem.severity == Severity.ERROR for problem in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "ok": self.ok,
            "product": self.product,
            "version": self.version,
            "acting_user": self.acting_user,
            "is_admin": self.is_admin,
            "problems": [problem.to_dict() for problem in self.problems],
            "details": dict(self.details),
        }


@dataclass(frozen=True, slots=True)
class TrackedRequest:
    """A request the host is watching, with the state it was last seen in.

    The host passes these to ``aperture_poll_status``; a provider answers one
    :class:`StatusUpdate` per request it has news of.
    """

    request_id: str
    item: MediaRef
    user: ApertureUser
    state: RequestState
    is_4k: bool = False
    seasons: Seasons | None = None
    progress: DownloadProgress | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", RequestState(self.state))

    def to_dict(self) -> dict[str, Any]:
        seasons = self.seasons if self.seasons in (None, ALL_SEASONS) else list(self.seasons)
        return {
            "request_id": self.request_id,
            **self.item.to_dict(),
            "user": self.user.name,
            "state": self.state.value,
            "label": self.state.label,
            "color": self.state.color,
            "is_4k": self.is_4k,
            "seasons": seasons,
            "progress": self.progress.to_dict() if self.progress else None,
        }


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A provider's news of one tracked request: its current state and progress.

    ``reason`` explains a declined, failed or vanished request when the server says why.
    """

    request_id: str
    state: RequestState
    progress: DownloadProgress | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", RequestState(self.state))

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "state": self.state.value,
            "label": self.state.label,
            "color": self.state.color,
            "progress": self.progress.to_dict() if self.progress else None,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A transition of a tracked request, broadcast to every plugin (``aperture_status_changed``).

    ``previous`` and ``current`` always differ. ``at`` is when the host noticed it.
    ``source`` is how it learned of it: ``"poll"`` (it asked the server) or ``"push"`` (the
    server notified it).
    """

    provider: str
    request: TrackedRequest
    previous: RequestState
    current: RequestState
    at: datetime
    progress: DownloadProgress | None = None
    reason: str | None = None
    source: str = "poll"

    def __post_init__(self) -> None:
        if RequestState(self.previous) == RequestState(self.current):
            raise ValueError("a status change needs two different states")

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "request_id": self.request.request_id,
            **self.request.item.to_dict(),
            "user": self.request.user.name,
            "previous": RequestState(self.previous).value,
            "current": RequestState(self.current).value,
            "label": RequestState(self.current).label,
            "color": RequestState(self.current).color,
            "at": self.at.isoformat(),
            "progress": self.progress.to_dict() if self.progress else None,
            "reason": self.reason,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class AccountMapping:
    """Which account on the provider's server an Aperture user acts as, and what it may do.

    ``account_id`` is ``None`` when the user is not mapped; then ``problems`` say why (for the
    admin: "2 server users match by username: ids 6, 7; map one by hand"). ``method`` says how
    the mapping was made (``manual``, ``media-server id``, ``username``, ``email``). ``quota``
    is a sentence with the numbers ("3 of 5 movie requests left; the window is 7 days").
    """

    user: ApertureUser
    account_id: str | None = None
    account_name: str | None = None
    method: str | None = None
    may_request_movie: bool = False
    may_request_tv: bool = False
    may_request_4k: bool = False
    auto_approve: bool = False
    quota: str | None = None
    problems: tuple[str, ...] = ()

    @property
    def mapped(self) -> bool:
        return self.account_id is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user.name,
            "media_server_id": self.user.media_server_id,
            "account_id": self.account_id,
            "account_name": self.account_name,
            "method": self.method,
            "may_request_movie": self.may_request_movie,
            "may_request_tv": self.may_request_tv,
            "may_request_4k": self.may_request_4k,
            "auto_approve": self.auto_approve,
            "quota": self.quota,
            "problems": list(self.problems),
        }


class Capability(StrEnum):
    """What a provider can do, declared in its :class:`ProviderInfo`."""

    LOOKUP = "lookup"
    REQUEST = "request"
    POLL = "poll"
    TV_SEASONS = "tv_seasons"
    REQUEST_4K = "4k"
    USER_MAPPING = "user_mapping"
    """Implements ``aperture_map_users`` and keeps a manual map in a ``user_map`` setting
    (Aperture username → server account id, username or email)."""
    PUSH = "push"
    """Implements ``aperture_parse_push``, ``aperture_apply_push`` and ``aperture_push_setup``:
    the server can notify the host of changes (see :mod:`aperture_hookspecs.push`)."""


_PROVIDER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """A provider's manifest, returned by ``aperture_provider_info``.

    * ``name``: the provider's id in config and on the command line; lowercase letters, digits,
      ``-`` and ``_``; must equal the plugin's entry-point name.
    * ``title``: what admins see ("Jellyseerr").
    * ``version``: the provider's version (usually its distribution's).
    * ``documentation``: a link for admins.
    * ``capabilities``: what it implements (see :class:`Capability`).
    """

    name: str
    title: str
    version: str
    description: str = ""
    documentation: str | None = None
    capabilities: frozenset[Capability] = frozenset()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _PROVIDER_NAME.match(self.name):
            raise ValueError(
                f"provider name {self.name!r} must be 1-40 lowercase letters, digits, '-' or '_', "
                "starting with a letter"
            )
        if not self.title:
            raise ValueError("a provider needs a title")
        object.__setattr__(self, "capabilities", frozenset(Capability(c) for c in self.capabilities))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "version": self.version,
            "description": self.description,
            "documentation": self.documentation,
            "capabilities": sorted(c.value for c in self.capabilities),
        }


@dataclass(frozen=True, eq=False)
class ProviderContext:
    """What the host hands a provider on every call: who it is, its settings, its state.

    * ``name``: the provider's name (as in its :class:`ProviderInfo`).
    * ``settings``: the provider's settings, already validated by its own settings schema.
      Secret values are in here in clear text: never log or repr them.
    * ``data_dir``: a directory the provider may keep files in (created on first use).
    * ``runtime``: a dict the provider may keep live objects in (an HTTP client, caches) for
      as long as these settings are in force. When the settings change or the host shuts
      down, the host runs the callbacks given to :meth:`on_close` and starts a fresh context.
    * ``call_observer``: set by the host; providers report each server call through
      :meth:`report_call` rather than calling it directly.
    """

    name: str
    settings: Mapping[str, Any]
    data_dir: Path
    runtime: dict[str, Any] = field(default_factory=dict)
    _close_callbacks: list[Callable[[], Any]] = field(default_factory=list)
    call_observer: Callable[[str, str, float], None] | None = None

    def report_call(self, endpoint: str, outcome: str, seconds: float) -> None:
        """Tell the host about one call to the server, for its ``/metrics``.

        ``endpoint`` is the call's template, never its values (``"GET /api/v1/request/{id}"``,
        so the number of series stays small; no query values, no ids, no secrets);
        ``outcome`` is the HTTP status as text (``"200"``) or the failure's code
        (``"timeout"``, ``"connection_refused"``); ``seconds`` how long it took. Never raises.
        """
        if self.call_observer is None:
            return
        try:
            self.call_observer(endpoint, outcome, seconds)
        except Exception:  # metrics must never break a call
            return

    def on_close(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` (sync or async, no arguments) when this context is retired."""
        self._close_callbacks.append(callback)

    def close_callbacks(self) -> list[Callable[[], Any]]:
        """The registered callbacks, last registered first (the host runs them)."""
        return list(reversed(self._close_callbacks))

    def __repr__(self) -> str:
        return f"ProviderContext(name={self.name!r}, settings=<{len(self.settings)} values hidden>)"
