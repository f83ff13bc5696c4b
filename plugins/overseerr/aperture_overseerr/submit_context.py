"""What filing a request needs of a configured provider: the :class:`SubmitContext` protocol.

:mod:`~aperture_overseerr.requesting` and its helpers (:mod:`~aperture_overseerr.duplicates`,
:mod:`~aperture_overseerr.lost_answers`) work against this protocol, which
:class:`~aperture_overseerr.runtime.SeerrRuntime` satisfies, so the imports point one way:
``runtime`` → ``requesting`` → ``submit_context``, never back.
"""

from __future__ import annotations

from typing import Protocol

from aperture_hookspecs import ApertureUser

from .availability import Viewer
from .client import SeerrClient
from .connection import ServerIdentity
from .media_index import MediaIndex, Refresh
from .users import UserDirectory


class SubmitContext(Protocol):
    """The live state a submit reads and the caches it tells about what it filed."""

    client: SeerrClient
    users: UserDirectory
    index: MediaIndex
    #: whether a request is for the 4K instance when the caller does not say
    default_4k: bool
    #: after an ambiguous submit: seconds to wait before each look for the request
    submit_rechecks: tuple[float, ...]

    async def identity(self) -> ServerIdentity:
        """The detected server (product, version, public settings)."""
        ...

    async def viewer(self, user: ApertureUser | None) -> Viewer:
        """The mapped server user with permissions and quota, or why there is none."""
        ...

    async def refresh_index(self, *, force: bool = False) -> Refresh:
        """Bring the media index up to date if it is due."""
        ...

    def index_is_stale(self) -> None:
        """A write changed media: the next lookup checks the index first."""

    def forget_user_data(self, seerr_user_id: int) -> None:
        """The user filed a request: their quota and own requests are read again."""

    def users_changed(self) -> None:
        """The server's user list may have changed: read it again on next use."""
