"""Taking pushed notices into a configured provider: :class:`PushIntake`.

For each status notice (``aperture_apply_push``, after the host answered the server):

1. what it means (:func:`~aperture_overseerr.push_apply.facts_for`) goes into the media index
   at once (:meth:`~aperture_overseerr.media_index.MediaIndex.take_push`): the next lookup of the
   title, by anyone, shows it without a server call; the author's own cached requests are
   forgotten when the index knows who they are (the delivery's email or username matched in the
   cached user list, never a call);
2. the pushed state is recorded in the index's :class:`~aperture_overseerr.push_health.PushLedger`
   (for "are pushes arriving?");
3. the answer: a ``StatusUpdate`` for each tracked request the notice concerns, and the title's
   guest-level badge, both from the index as it now is; an index not built yet (the first push
   after a start) reads the server first, and gives no badge if it cannot (never a guess);
4. an index check is scheduled :data:`CONVERGE_AFTER` seconds later (in the background, one at a
   time, however many pushes come meanwhile), followed by a read of the pushed requests no read
   has covered since: the index converges with the server, which stays the truth.

Work against :class:`PushContext` (the runtime satisfies it): ``runtime`` → ``push_intake``,
never back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from aperture_hookspecs import (
    ApertureError,
    Availability,
    MediaRef,
    MediaType,
    PushKind,
    PushNotice,
    PushOutcome,
    RequestState,
    TrackedRequest,
)

from .availability import GUEST_REASON
from .client import SeerrClient
from .connection import ServerIdentity
from .media_index import MediaIndex
from .push_apply import facts_for, pushed_status, updates_for
from .users import UserDirectory

log = logging.getLogger(__name__)

__all__ = ["CONVERGE_AFTER", "PushContext", "PushIntake"]

CONVERGE_AFTER = 2.0
"""Seconds after a push before the index is checked against the server (pushes coming in a
burst share one check; Seerr completes a request a moment after the media's push)."""


class PushContext(Protocol):
    """What taking a push needs of a configured provider."""

    provider: str
    client: SeerrClient
    index: MediaIndex
    users: UserDirectory

    async def identity(self) -> ServerIdentity:
        """The detected server (product, version, public settings)."""
        ...

    def guest_badge(self, item: MediaRef, identity: ServerIdentity) -> Availability:
        """The badge of ``item`` for nobody in particular, from the index alone."""
        ...

    def forget_user_data(self, seerr_user_id: int) -> None:
        """This user's requests changed: their cached quota and own requests are read again."""


class PushIntake:
    """Applies pushed notices to one provider's live state (see the module docstring)."""

    def __init__(self, context: PushContext, *, converge_after: float = CONVERGE_AFTER) -> None:
        self.context = context
        self.converge_after = converge_after
        self._converging: asyncio.Task[None] | None = None
        self._again = False

    async def take(self, notice: PushNotice, tracked: Sequence[TrackedRequest]) -> PushOutcome:
        """Apply one status notice; the news of the tracked requests and the title's badge."""
        if notice.kind is not PushKind.STATUS:
            return PushOutcome()  # a test or an ignored type: nothing to take in
        context = self.context
        index = context.index
        known = index.request(int(notice.request_id)) if notice.request_id is not None else None
        requester = self._requester(notice) if known is None else known.requested_by
        facts = facts_for(notice, index, requester)
        if facts is not None:
            reading = index.take_push(*facts)
            author = reading.requested_by if reading is not None else requester
            if author is not None:
                context.forget_user_data(author)
        index.ledger.pushed(int(notice.request_id) if notice.request_id else None, pushed_status(notice))
        log.debug(
            "%s: push %s %s",
            context.provider,
            notice.describe(),
            "taken in" if facts is not None else "changes nothing (duplicate, replay or late)",
        )
        self.converge_soon()
        built = await self._built(notice)
        updates = tuple(updates_for(notice, tracked, index))
        item = notice.item or _item_of(index, notice)
        titles: tuple[Availability, ...] = ()
        if built and item is not None:
            try:
                identity = await context.identity()
            except ApertureError as error:
                log.info("%s: no badge for %s after a push (%s)", context.provider, item, error)
            else:
                titles = (title_level(context.guest_badge(item, identity)),)
        return PushOutcome(updates=updates, titles=titles)

    async def _built(self, notice: PushNotice) -> bool:
        """Is the index built, reading the server first if it is not (the first push after a
        start)? A badge from an index that has not read the server yet is a guess that nothing
        corrects once streamed; the server already has its answer, so a call is fine here."""
        index = self.context.index
        if index.is_built:
            return True
        try:
            await index.refresh(self.context.client)
        except ApertureError as error:
            log.info(
                "%s: no badge after the push %s: the media index could not be read (%s)",
                self.context.provider,
                notice.describe(),
                error,
            )
            return False
        return index.is_built

    def converge_soon(self) -> None:
        """Check the index against the server shortly (never waited for by the caller)."""
        self._again = True
        if self._converging is None:
            self._converging = asyncio.get_running_loop().create_task(self._converge())

    async def _converge(self) -> None:
        try:
            while self._again:
                self._again = False
                await asyncio.sleep(self.converge_after)
                client = self.context.client
                try:
                    await self.context.index.refresh(client, force=True)
                    await self.context.index.read_pushed(client)
                except ApertureError as error:
                    log.info("%s: could not check the index after a push (%s)", self.context.provider, error)
        finally:
            self._converging = None

    async def aclose(self) -> None:
        task = self._converging
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _requester(self, notice: PushNotice) -> int | None:
        """The author's server id from the delivery's email or username, if the cached user
        list has exactly one such user (no call is made for it)."""
        email = notice.details.get("requested_by_email")
        users = self.context.users.users
        if isinstance(email, str) and email:
            found = [user for user in users if user.email and user.email.casefold() == email.casefold()]
            if len(found) == 1:
                return found[0].id
        name = notice.requested_by
        if name:
            found = [user for user in users if name in (user.display_name, user.username)]
            if len(found) == 1:
                return found[0].id
        return None


def _item_of(index: MediaIndex, notice: PushNotice) -> MediaRef | None:
    """The title of a notice that names only its request, if the index knows the request."""
    if notice.request_id is None:
        return None
    reading = index.request(int(notice.request_id))
    if reading is None or reading.media is None:
        return None
    return MediaRef(MediaType(reading.media_type), reading.media.tmdb_id)


def title_level(badge: Availability) -> Availability:
    """The badge a push streams to everyone: the guest's, except that a title only a guest
    cannot request ("Not Available: sign in to request", a movie no one has asked for) is
    Requestable for everyone (signed-in users' own pages show whether *they* may)."""
    if badge.state is RequestState.NOT_AVAILABLE and badge.reason == GUEST_REASON:
        return Availability(badge.item, RequestState.REQUESTABLE, reason=GUEST_REASON, is_4k=badge.is_4k)
    return badge
