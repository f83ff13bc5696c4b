"""Everything a configured Seerr-family provider keeps alive between calls.

One :class:`SeerrRuntime` per provider context (so per set of settings): the pooled client, the
detected server identity, the media index, the user directory, the per-user quota cache, every
viewer's own requests (:mod:`~aperture_overseerr.own_requests`), the poller's memory and what
pushes brought (:mod:`~aperture_overseerr.push_intake`; :meth:`SeerrRuntime.push_health` says
whether they arrive). The
provider stores it in ``context.runtime`` and the host closes it (and its HTTP pool) when the
settings change or Aperture shuts down.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

import httpx

from aperture_hookspecs import (
    AccountMapping,
    ApertureError,
    ApertureUser,
    Availability,
    ConnectionReport,
    MediaRef,
    PushAction,
    PushNotice,
    PushOutcome,
    PushSetup,
    PushTarget,
    RequestOptions,
    RequestResult,
    StatusUpdate,
    TrackedRequest,
)

from . import connection, requesting, webhook_agent
from .availability import GUEST_REASON, Viewer, availability_for, describe_quota
from .cache import TimedCache
from .client import CallObserver, SeerrClient
from .connection import ServerIdentity
from .lost_answers import RECHECK_DELAYS
from .media_index import MediaIndex, Refresh
from .models import MEDIA_PROCESSING, MediaRequest, Quota, QuotaDefaults, SeerrUser
from .own_requests import Expectation, Latest, OwnRequests
from .permissions import auto_approves, may_request, quota_exempt
from .polling import RequestPoller
from .push_health import PushHealth
from .push_intake import PushIntake
from .seasons import specials_requestable
from .users import UserDirectory

log = logging.getLogger(__name__)

IDENTITY_MAX_AGE = 600.0
"""Seconds a detected identity is used before it is read again in the background: the server's
public settings (special episodes, 4K libraries) and its version (an upgrade) change while a
host runs for days."""

DETECTION_RETRY_AFTER = 3.0
"""Seconds a failed detection is remembered: shorter than the circuit breaker's first pause
(5 s), so the breaker's probe always makes a real attempt."""


class SeerrRuntime:
    """The live state of one configured provider (see the module docstring)."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        provider: str,
        expected_product: str,
        transport: httpx.AsyncBaseTransport | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        self.provider = provider
        self.expected_product = expected_product
        self.default_4k = bool(settings.get("default_4k", False))
        self.manual_map: Mapping[str, int | str] = dict(settings.get("user_map") or {})
        self.client = SeerrClient(
            settings["url"],
            settings["api_key"],
            timeout=float(settings.get("timeout", 10.0)),
            verify_tls=bool(settings.get("verify_tls", True)),
            transport=transport,
            observer=observer,  # every server call, for the host's /metrics
        )  # named "the request server" in messages until detection says which product it is
        progress_every = float(settings.get("progress_interval", 60.0))
        self.index = MediaIndex(progress_every=progress_every)
        self.users = UserDirectory()
        self.quotas: TimedCache[int, Quota] = TimedCache(ttl=60.0)
        self.quota_defaults: TimedCache[str, QuotaDefaults | None] = TimedCache(ttl=300.0)
        self.own_requests = OwnRequests(self.client, self.users)
        self.index.on_request_change = self._request_changed
        self.poller = RequestPoller()
        self.pushes = PushIntake(self)
        #: after an ambiguous submit: wait this long before each look for the request (seconds)
        self.submit_rechecks: tuple[float, ...] = RECHECK_DELAYS
        self._identity: ServerIdentity | None = None
        self._identity_at = 0.0
        self._reidentifying: asyncio.Task[None] | None = None
        #: how long a detected identity is used before it is read again (seconds)
        self.identity_max_age = IDENTITY_MAX_AGE
        self._clock = time.monotonic
        self._detecting: asyncio.Task[ServerIdentity] | None = None
        self._detection_failure: tuple[float, ApertureError] | None = None  # (until, error)
        #: how long a failed detection is answered from memory, not tried again (seconds)
        self.detection_retry_after = DETECTION_RETRY_AFTER

    def __repr__(self) -> str:
        return f"SeerrRuntime({self.provider!r}, {self.client.base_url!r})"

    async def aclose(self) -> None:
        task = self._reidentifying
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self.pushes.aclose()
        await self.own_requests.aclose()
        await self.client.aclose()

    # -- shared state -----------------------------------------------------------------------

    async def identity(self) -> ServerIdentity:
        """The detected product, version and public settings.

        Detected on first use, then read again in the background every
        :attr:`identity_max_age` seconds while callers go on with the one they have (a failed
        re-read keeps it, and is tried again a minute later).

        Callers that arrive while a detection is under way wait for that one attempt and
        share its answer, failure included; a failure is remembered for
        :attr:`detection_retry_after` seconds, during which every caller gets it at once.
        So a Discovery page arriving while the server is down costs one attempt (one
        timeout), not one per card batch, each waiting behind the previous ones.
        """
        if self._identity is not None:
            if self._clock() - self._identity_at >= self.identity_max_age and self._reidentifying is None:
                self._reidentifying = asyncio.get_running_loop().create_task(self._reidentify())
            return self._identity
        failure = self._detection_failure
        if failure is not None:
            until, error = failure
            if time.monotonic() < until:
                raise error.with_traceback(None)
            self._detection_failure = None
        detecting = self._detecting
        if detecting is None or detecting.get_loop() is not asyncio.get_running_loop():
            detecting = self._detecting = asyncio.get_running_loop().create_task(self._detect())
            detecting.add_done_callback(_retrieved)  # even if every caller gave up waiting
        # shielded: a caller that gives up (its deadline) does not cancel the others' attempt
        return await asyncio.shield(detecting)

    async def _detect(self) -> ServerIdentity:
        """One detection attempt for everyone waiting (see :meth:`identity`)."""
        try:
            identity = await connection.detect(self.client)
        except ApertureError as error:
            self._detection_failure = (time.monotonic() + self.detection_retry_after, error)
            raise
        finally:
            self._detecting = None
        self._identity, self._identity_at = identity, self._clock()
        self.client.product = identity.product
        self._identified(identity)
        return identity

    def _identified(self, identity: ServerIdentity) -> None:
        # Overseerr sends no MEDIA_AVAILABLE for TV (notes §11): not a missing push there
        self.index.ledger.tv_completions_pushed = identity.profile.product != "Overseerr"

    async def _reidentify(self) -> None:
        """Read the identity again (see :meth:`identity`); never raises."""
        try:
            identity = await connection.detect(self.client)
        except ApertureError as error:
            log.info("%s: could not read the server's identity again (%s); keeping it", self.provider, error)
            self._identity_at = self._clock() - self.identity_max_age + 60.0
        else:
            if identity != self._identity:
                log.info("%s: the server's identity changed: %s", self.provider, identity)
            self._identity, self._identity_at = identity, self._clock()
            self.client.product = identity.product
            self._identified(identity)
        finally:
            self._reidentifying = None

    async def refresh_index(self, *, force: bool = False) -> Refresh:
        return await self.index.refresh(self.client, force=force)

    def index_is_stale(self) -> None:
        """After a write: the next lookup refreshes the index first."""
        self.index.mark_stale()

    def forget_user_data(self, seerr_user_id: int) -> None:
        """After this user filed a request through us: re-read their quota and requests."""
        self.quotas.invalidate(seerr_user_id)
        self.own_requests.forget(seerr_user_id)

    def _request_changed(self, request: MediaRequest) -> None:
        """The index saw a request appear, change or go: its requester's cached requests are old."""
        if request.requested_by is not None:
            self.own_requests.forget(request.requested_by)

    def users_changed(self) -> None:
        self.users.expire()

    async def viewer(self, user: ApertureUser | None) -> Viewer:
        """The mapped server user with quota, or why there is none."""
        if user is None:
            return Viewer(None, reason=GUEST_REASON)
        match = await self.users.resolve(self.client, user, self.manual_map)
        if match.user is None:
            return Viewer(
                None,
                reason="your account is not linked to the request server",
                admin_reason=f"{user.name}: {match.problem}",
            )
        account = match.user
        quota = None
        if await self.quota_may_apply(account):
            quota = await self.quotas.get(account.id, lambda: self.client.quota(account.id))
        return Viewer(account, quota)

    async def quota_may_apply(self, account: SeerrUser) -> bool:
        """Could a quota limit this account? If not, its quota need not be read at all.

        Admins and MANAGE_USERS holders are never limited; otherwise a limit comes from the
        user's own quota or the global defaults. When either is unknown (fields missing, the
        settings unreadable), the quota is read: the server decides.
        """
        if quota_exempt(account.permissions):
            return False
        if account.own_quota is None or account.own_quota:
            return True
        defaults = await self.quota_defaults.get("main", self._read_quota_defaults)
        return defaults is None or defaults.any

    async def _read_quota_defaults(self) -> QuotaDefaults | None:
        try:
            return await self.client.quota_defaults()
        except ApertureError:
            return None

    # -- operations -------------------------------------------------------------------------

    async def test_connection(self) -> ConnectionReport:
        report = await connection.test_connection(self.client, self.provider, self.expected_product)
        self._identity = None  # detect again on next use: the server may have changed
        self._detection_failure = None  # the admin's test is a fresh start
        return report

    async def lookup(self, items: Sequence[MediaRef], user: ApertureUser | None) -> list[Availability]:
        # Detecting the server, resolving the viewer (user list, quota, own requests) and
        # bringing the index up to date run at once. If several fail, the detection's error wins
        # (it says best what is wrong), then the viewer's, as if they had run one after the other.
        with self.own_requests.expect() as expectation:
            identity, (viewer, own), refreshed = await _together(
                self.identity(), self._viewer_and_requests(user, expectation), self.refresh_index()
            )
        is_4k = self.default_4k
        rows = [self.index.get(item.media_type.value, item.tmdb_id) for item in items]
        if any(row is not None and row.status_for(is_4k) == MEDIA_PROCESSING for row in rows):
            await self.index.refresh_downloads(
                self.client, max_age=self.index.progress_every, checked_now=refreshed.calls > 0
            )
        return [self._badge(item, identity, viewer, own) for item in items]

    def _badge(self, item: MediaRef, identity: ServerIdentity, viewer: Viewer, own: Latest) -> Availability:
        """One title's badge for ``viewer`` from the index as it is (no call)."""
        is_4k = self.default_4k
        return availability_for(
            item,
            self.index.get(item.media_type.value, item.tmdb_id),
            viewer,
            own.get((item.media_type.value, item.tmdb_id, is_4k)),
            identity.profile,
            is_4k,
            has_4k_library=identity.has_4k_library(item.media_type.value),
            open_requests=self.index.open_requests(item.media_type.value, item.tmdb_id),
            specials=specials_requestable(identity),
        )

    def guest_badge(self, item: MediaRef, identity: ServerIdentity) -> Availability:
        """The badge of ``item`` for nobody in particular (``user=None``), from the index alone."""
        return self._badge(item, identity, Viewer(None, reason=GUEST_REASON), {})

    async def _viewer_and_requests(
        self, user: ApertureUser | None, expectation: Expectation
    ) -> tuple[Viewer, Latest]:
        """The viewer and their own latest requests (read with other lookups' when that is cheaper)."""
        try:
            viewer = await self.viewer(user)
        except BaseException:
            expectation.settle()  # do not hold the other lookups' batch back
            raise
        if viewer.user is None:
            expectation.settle()
            return viewer, {}
        return viewer, await self.own_requests.get(viewer.user, expectation)

    async def map_users(self, users: Sequence[ApertureUser]) -> list[AccountMapping]:
        """The admin's view of each user's mapping, permissions and quota."""
        await self.identity()
        return [await self._describe(user) for user in users]

    async def _describe(self, user: ApertureUser) -> AccountMapping:
        match = await self.users.resolve(self.client, user, self.manual_map)
        if match.user is None:
            return AccountMapping(user, problems=(match.problem or "not mapped",))
        account = match.user
        permissions = account.permissions
        problems = []
        quota_text = "unlimited"
        if await self.quota_may_apply(account):
            quota = await self.quotas.get(account.id, lambda: self.client.quota(account.id))
            quota_text = describe_quota(quota)
            if quota.movie.restricted:
                problems.append("movie quota used up")
            if quota.tv.restricted:
                problems.append("TV quota used up")
        movie, tv = may_request(permissions, "movie"), may_request(permissions, "tv")
        if not (movie or tv):
            problems.append(
                f"grant REQUEST to {account.display_name} (id {account.id}) in the server's user settings"
            )
        return AccountMapping(
            user,
            account_id=str(account.id),
            account_name=account.display_name,
            method=match.method,
            may_request_movie=movie,
            may_request_tv=tv,
            may_request_4k=may_request(permissions, "movie", True) or may_request(permissions, "tv", True),
            auto_approve=auto_approves(permissions, "movie") and auto_approves(permissions, "tv"),
            quota=quota_text,
            problems=tuple(problems),
        )

    async def submit(self, item: MediaRef, user: ApertureUser, options: RequestOptions) -> RequestResult:
        return await requesting.submit(self, item, user, options)

    async def poll(self, requests: Sequence[TrackedRequest]) -> list[StatusUpdate]:
        await self.identity()
        return await self.poller.poll(self.index, self.client, requests)

    # -- push -------------------------------------------------------------------------------

    async def take_push(self, notice: PushNotice, requests: Sequence[TrackedRequest]) -> PushOutcome:
        """Apply a pushed status notice (``aperture_apply_push``; see :mod:`.push_intake`)."""
        return await self.pushes.take(notice, requests)

    async def push_setup(self, action: PushAction, target: PushTarget, replace: bool) -> PushSetup:
        """Read or change the server's webhook agent (:mod:`.webhook_agent`), with what this
        runtime saw of missing pushes (``unpushed_changes``)."""
        await self.identity()
        setup = await webhook_agent.push_setup(self.client, action, target, replace)
        health = self.push_health()
        return dataclasses.replace(
            setup, unpushed_changes=health.unpushed_changes, last_unpushed_at=health.last_unpushed_at
        )

    def push_health(self) -> PushHealth:
        """Are pushes arriving? Notices taken in, the last one, and the request changes polling
        found that no push announced (:class:`~aperture_overseerr.push_health.PushHealth`; the
        host shows them in ``webhook status`` and the diagnostics). No I/O."""
        return self.index.ledger.health(self.index.check_interval())


def _retrieved(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


async def _together(*awaitables: Awaitable[Any]) -> tuple[Any, ...]:
    """Await all at once; if any failed, raise the error of the first failed one (in order)."""
    results = await asyncio.gather(*awaitables, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return tuple(results)
