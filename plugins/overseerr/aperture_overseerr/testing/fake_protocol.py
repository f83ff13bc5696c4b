"""What the fake's HTTP layer needs of the fake server, as protocols (so the arrows point one way).

``fake_json`` (the entities' JSON) reads :class:`Records`; ``fake_routes`` (the HTTP surface)
drives a :class:`FakeServer`: the records, the fault switches and the domain operations.
``fake_seerr.FakeSeerr`` implements both and composes the router; neither ``fake_json`` nor
``fake_routes`` imports ``fake_seerr``::

    fake_flavours  <-  fake_state  <-  fake_protocol  <-  fake_json  <-  fake_routes  <-  fake_seerr
                               ^
       fake_webhook_sender  <-  fake_webhook (the agent; its template rules: fake_webhook_template)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from .fake_flavours import FlavourTraits
from .fake_state import (
    BlocklistRecord,
    Fault,
    MediaRecord,
    MediaType,
    RecordedCall,
    RequestRecord,
    TitleRecord,
    UserRecord,
)
from .fake_webhook import WebhookAgent


class Records(Protocol):
    """The records the serialisers read."""

    traits: FlavourTraits
    users: dict[int, UserRecord]
    media: dict[int, MediaRecord]
    requests: dict[int, RequestRecord]

    def media_requests(self, media: MediaRecord) -> list[RequestRecord]:
        """The requests of a media row (any ``is4k``)."""
        ...


class FakeServer(Records, Protocol):
    """The state, switches and operations the router uses; the caller holds the server's lock."""

    api_key: str
    titles: dict[tuple[str, int], TitleRecord]
    calls: list[RecordedCall]
    blocklist_entries: dict[int, BlocklistRecord]
    default_quotas: dict[str, dict[str, int]]
    webhook: WebhookAgent
    # switches
    csrf_protection: bool
    html_login_page: bool
    arr_unreachable: bool
    radarr: bool
    sonarr: bool
    radarr_4k: bool
    sonarr_4k: bool
    partial_requests_enabled: bool
    enable_special_episodes: bool

    def take_fault(self, path: str) -> Fault | None:
        """Consume one pending ``fail_next`` answer for ``path``."""
        ...

    def find_media(self, media_type: str, tmdb_id: int) -> MediaRecord | None:
        """The media row of a TMDB id, if any."""
        ...

    def arr_configured(self, media_type: str, is4k: bool) -> bool:
        """Whether a default Radarr/Sonarr (4K or not) exists for the media type."""
        ...

    def quota(self, user: UserRecord) -> dict[str, dict[str, Any]]:
        """``User.getQuota``."""
        ...

    def create_request(
        self,
        caller: UserRecord,
        body: dict[str, Any],
        *,
        before_approval: Callable[[RequestRecord], None] | None = None,
    ) -> RequestRecord:
        """``POST /request``; raises ``FakeHttpError``."""
        ...

    def approve_request(self, request: RequestRecord, actor: int) -> None:
        """``POST /request/{id}/approve`` by ``actor``."""
        ...

    def decline_request(self, request: RequestRecord, actor: int) -> None:
        """``POST /request/{id}/decline`` by ``actor``."""
        ...

    def delete_request(self, request_id: int) -> None:
        """``DELETE /request/{id}``."""
        ...

    def set_media_status(
        self, media: MediaRecord, segment: str, is4k: bool, seasons: Iterable[int] = ()
    ) -> None:
        """``POST /media/{id}/{status}``."""
        ...

    def blocklist(
        self, media_type: MediaType, tmdb_id: int, *, user_id: int = 1, title: str | None = None
    ) -> int:
        """``POST /blocklist``; raises ``FakeHttpError`` for a title already listed."""
        ...
