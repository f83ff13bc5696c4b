"""The values of push: a request server telling the host that something changed.

Request servers can POST a notification to the host when a request is created, approved,
declined, fails or becomes available (the Seerr family's "Webhook" agent). The host receives it
at ``POST /webhooks/<provider>``, authenticates it (a per-provider secret the host generated,
compared in constant time with the ``Authorization`` header), limits its size, and only then
hands it to the provider that declared :attr:`~aperture_hookspecs.types.Capability.PUSH`:

1. :func:`~aperture_hookspecs.specs.aperture_parse_push` turns the raw
   :class:`PushDelivery` into a :class:`PushNotice`, synchronously and without I/O, so the host
   answers the server within milliseconds (a malformed body is answered 400 with the
   provider's :class:`~aperture_hookspecs.errors.InvalidPushError` message);
2. after answering, the host calls :func:`~aperture_hookspecs.specs.aperture_apply_push` with the
   notice and the requests it tracks: the provider updates its own data (caches, an index of
   the server's titles) and answers a :class:`PushOutcome` with the news of tracked requests
   and the badges of the titles concerned.

The host turns the outcome into status-changed events exactly like a poll's, with one more rule:
a push never moves a request backwards (an older state never overwrites a newer one), so a
duplicated, replayed or out-of-order delivery emits nothing wrong, and a push and a poll that
see the same transition emit one event. Polling stays: nothing pushes download progress, and a
server may drop a delivery (it never retries).

Setting the server up to push (``aperture-plugins webhook install``) goes through
:func:`~aperture_hookspecs.specs.aperture_push_setup` with a :class:`PushAction`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .types import Availability, MediaRef, RequestState, Seasons, StatusUpdate

__all__ = [
    "PushAction",
    "PushDelivery",
    "PushKind",
    "PushNotice",
    "PushOutcome",
    "PushSetup",
    "PushTarget",
]


class PushKind(StrEnum):
    """What a notice is about."""

    STATUS = "status"
    """A request or a title changed: the host calls ``aperture_apply_push`` with it."""
    TEST = "test"
    """The server's test notification: the host records that push works, nothing else."""
    IGNORED = "ignored"
    """Well-formed, but not about request status (issues, comments, a type this provider does
    not know): answered 200 and dropped."""


@dataclass(frozen=True, slots=True)
class PushDelivery:
    """One delivery as the host received it, already authenticated and at most 64 KiB.

    * ``body``: the raw bytes (decode and parse them in ``aperture_parse_push``).
    * ``content_type``: the ``Content-Type`` header, if any.
    * ``headers``: the other headers, names in lower case, **without** ``authorization``.
    * ``received_at``: when the host read it (UTC).
    """

    body: bytes
    received_at: datetime
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"PushDelivery({len(self.body)} bytes, {self.content_type!r}, at {self.received_at:%H:%M:%S})"


@dataclass(frozen=True, slots=True)
class PushNotice:
    """What one delivery says, in the contract's terms (the answer of ``aperture_parse_push``).

    * ``kind``: see :class:`PushKind`.
    * ``notification``: the server's own name for it (``"MEDIA_APPROVED"``), for logs and
      ``webhook status``.
    * ``item``: the title concerned, when the delivery names one.
    * ``request_id``: the server's request id, when the delivery names one.
    * ``state``: the request's state after the event (for a title-only notice, the title's).
    * ``is_4k``, ``seasons``: which request it is, as far as the delivery tells.
    * ``requested_by``: the server account that made the request (a username), if given.
    * ``details``: anything else the provider wants back in ``aperture_apply_push`` (plain,
      JSON-able values; never a secret).
    """

    kind: PushKind
    notification: str = ""
    item: MediaRef | None = None
    request_id: str | None = None
    state: RequestState | None = None
    is_4k: bool = False
    seasons: Seasons | None = None
    requested_by: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", PushKind(self.kind))
        if self.state is not None:
            object.__setattr__(self, "state", RequestState(self.state))
        if self.kind is PushKind.STATUS and self.item is None and self.request_id is None:
            raise ValueError("a status notice needs the title or the request it is about")

    def describe(self) -> str:
        """``MEDIA_APPROVED for movie:680 (request 2)``, for logs and the admin."""
        parts = [self.notification or self.kind.value]
        if self.item is not None:
            parts.append(f"for {self.item}")
        if self.request_id is not None:
            parts.append(f"(request {self.request_id})")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        seasons = self.seasons if self.seasons in (None, "all") else list(self.seasons or ())
        return {
            "kind": self.kind.value,
            "notification": self.notification,
            **(self.item.to_dict() if self.item else {"media_type": None, "tmdb_id": None}),
            "request_id": self.request_id,
            "state": self.state.value if self.state else None,
            "is_4k": self.is_4k,
            "seasons": seasons,
            "requested_by": self.requested_by,
        }


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """What a provider made of a notice (the answer of ``aperture_apply_push``).

    * ``updates``: a :class:`~aperture_hookspecs.types.StatusUpdate` for each tracked request
      the notice concerns (by request id, or by title when the notice names no request).
    * ``titles``: the guest-level badge of each title the notice concerns, as the provider's
      own data now has it (``Availability`` for ``user=None``): the host streams it to every
      page showing that title, whoever requested it.
    """

    updates: tuple[StatusUpdate, ...] = ()
    titles: tuple[Availability, ...] = ()


class PushAction(StrEnum):
    """What ``aperture_push_setup`` is asked to do with the server's push set-up."""

    INSPECT = "inspect"
    """Read the server's set-up and say whether it pushes to ``target`` (changes nothing)."""
    INSTALL = "install"
    """Make the server push every media event to ``target``. If it already pushes somewhere
    else, raise :class:`~aperture_hookspecs.errors.ForeignWebhookError` unless ``replace``."""
    REMOVE = "remove"
    """Stop the server pushing to ``target``; never touch a set-up that pushes elsewhere."""
    TEST = "test"
    """Ask the server to send its test notification to ``target`` now, without saving."""


@dataclass(frozen=True, slots=True)
class PushTarget:
    """Where the server should push: the host's public ``url`` for this provider and the exact
    ``authorization`` header value the host will accept (a secret: never log or show it)."""

    url: str
    authorization: str

    def __repr__(self) -> str:
        return f"PushTarget(url={self.url!r}, authorization=<hidden>)"


@dataclass(frozen=True, slots=True)
class PushSetup:
    """The server's push set-up as the provider found (or left) it.

    * ``enabled``: the server's agent is switched on.
    * ``url``: where it sends now (``None``: nowhere). Shown to the admin, so a foreign
      receiver can be recognised.
    * ``ours``: it sends to the target's URL with the target's authorization.
    * ``events``: the notification types it sends (server names, ``"MEDIA_PENDING"`` …).
    * ``missing_events``: media events the host needs that it does not send.
    * ``message``: one line for the admin ("pushes to http://aperture:8765/webhooks/jellyseerr").
    * ``unpushed_changes``: how many changes the provider found by polling that no push had
      announced (since it started; ``INSPECT`` fills it), and ``last_unpushed_at`` when the
      last one was found: the sign that pushes go missing although the set-up looks right.
    """

    enabled: bool
    url: str | None
    ours: bool
    events: tuple[str, ...] = ()
    missing_events: tuple[str, ...] = ()
    message: str = ""
    unpushed_changes: int = 0
    last_unpushed_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "url": self.url,
            "ours": self.ours,
            "events": list(self.events),
            "missing_events": list(self.missing_events),
            "message": self.message,
            "unpushed_changes": self.unpushed_changes,
            "last_unpushed_at": self.last_unpushed_at.isoformat() if self.last_unpushed_at else None,
        }
