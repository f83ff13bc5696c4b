"""Filing a request on behalf of a user (``POST /api/v1/request`` with ``X-Api-User``).

Acting as the mapped user means the server applies *their* permissions, quota and the admin's
approval workflow (pending unless they may auto-approve). The body always carries ``is4k``
(without it the server's duplicate check never fires) and, for TV, ``seasons``.

Answers (notes §8):

* 201 → the new request; its state is pending or approved, as the server decided;
* 409 (a movie) and 202 ``No seasons available to request`` (TV) → nothing new, explained alike
  by :mod:`.duplicates`: the user's own request is returned (``already_requested``), someone
  else's or the library's is :class:`AlreadyRequestedError` with who and the state;
* 403 → permission, quota (with the numbers) or blocklisted, each its own error (CSRF
  protection is recognised by the client: :class:`CSRFProtectionError`);
* 500 → the server could not look the title up on TMDB.

Before sending: a title already AVAILABLE is refused here (the server would accept a duplicate),
and so is a blocklisted one, and a TV request for seasons the show does not have
(:func:`~aperture_overseerr.seasons.check_asked_seasons`). After an ambiguous failure (a
timeout, a dropped connection after the body was sent, a gateway's 502/503/504) the request is
looked for again with backoff before it is sent once more (:mod:`.lost_answers`), so a request is
never filed twice and one the server filed late is still returned and tracked.
"""

from __future__ import annotations

import logging
from typing import Any

from aperture_hookspecs import (
    ALL_SEASONS,
    AlreadyRequestedError,
    ApertureUser,
    BlocklistedError,
    MediaRef,
    PermissionDeniedError,
    QuotaExceededError,
    RequestOptions,
    RequestResult,
    RequestState,
    UnexpectedResponseError,
    UserNotMappedError,
)

from .availability import Viewer, requestability
from .client import PERMISSION_TEXT, Answer
from .connection import ServerIdentity
from .duplicates import AskedSeasons, explain_duplicate, result_of
from .lost_answers import LOST_MESSAGE, Found, file_request
from .models import MEDIA_AVAILABLE, MEDIA_STATUS_6, MediaRequest, MediaRow
from .permissions import quota_exempt
from .profiles import Status6
from .seasons import REQUESTABLE, check_asked_seasons, show_seasons
from .submit_context import SubmitContext

log = logging.getLogger(__name__)


def request_body(item: MediaRef, options: RequestOptions, is_4k: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"mediaType": item.media_type.value, "mediaId": item.tmdb_id, "is4k": is_4k}
    if item.media_type.value == "tv":
        body["seasons"] = "all" if options.seasons == ALL_SEASONS else list(options.seasons)
    return body


async def submit(
    runtime: SubmitContext, item: MediaRef, user: ApertureUser, options: RequestOptions
) -> RequestResult:
    """File the request (see the module docstring)."""
    identity = await runtime.identity()
    product = identity.product
    is_4k = runtime.default_4k if options.is_4k is None else options.is_4k
    viewer = await runtime.viewer(user)
    if viewer.user is None:
        raise UserNotMappedError(
            f"{user.name} has no account on {product}: {viewer.admin_reason or viewer.reason}",
            hints=(f"Map the user: aperture-plugins map {user.name} SERVER_USER",),
        )
    await runtime.refresh_index()
    row = runtime.index.get(item.media_type.value, item.tmdb_id)
    status = row.status_for(is_4k) if row else None
    if status == MEDIA_AVAILABLE:
        raise AlreadyRequestedError(
            f"{item} is already in the library{' in 4K' if is_4k else ''}", state=RequestState.AVAILABLE
        )
    if status == MEDIA_STATUS_6 and identity.profile.status6 is Status6.BLOCKLISTED:
        raise BlocklistedError()
    allowed, reason, admin_reason = requestability(
        viewer, item.media_type.value, is_4k, identity.has_4k_library(item.media_type.value)
    )
    if not allowed:
        error_class = QuotaExceededError if reason and reason.startswith("quota") else PermissionDeniedError
        raise error_class(f"{user.name}: {reason}", hints=(admin_reason,) if admin_reason else None)
    await check_asked_seasons(runtime.client, identity, item, options, row)
    _check_season_quota(viewer, item, options, _new_seasons(runtime, identity, item, options, row, is_4k))
    body = request_body(item, options, is_4k)
    seerr_user = viewer.user
    asked: AskedSeasons = None if options.seasons == ALL_SEASONS else frozenset(options.seasons)
    try:
        filed = await file_request(runtime, body, seerr_user.id, item, is_4k, asked)
    finally:
        runtime.forget_user_data(seerr_user.id)
        runtime.index_is_stale()
    if isinstance(filed, Found):
        return result_of(item, filed.request, is_4k, LOST_MESSAGE)
    return await _interpret(runtime, filed, item, user, seerr_user.id, is_4k, asked)


def _new_seasons(
    runtime: SubmitContext,
    identity: ServerIdentity,
    item: MediaRef,
    options: RequestOptions,
    row: MediaRow | None,
    is_4k: bool,
) -> int:
    """How many of the asked seasons the server would file: those neither in the library nor
    already requested by anyone (the server drops those before it counts the quota)."""
    if item.media_type.value != "tv" or options.seasons == ALL_SEASONS:
        return 0
    seasons = show_seasons(
        row,
        runtime.index.open_requests(item.media_type.value, item.tmdb_id),
        identity.profile,
        is_4k,
        specials=True,
    )
    return len([n for n in set(options.seasons) if seasons.state_of(n) in (None, *REQUESTABLE)])


def _check_season_quota(viewer: Viewer, item: MediaRef, options: RequestOptions, new: int) -> None:
    """Refuse a TV request for more new seasons than the user's quota has left, before sending."""
    quota = viewer.quota
    if item.media_type.value != "tv" or quota is None or options.seasons == ALL_SEASONS:
        return
    part = quota.tv
    if part.limit is None or part.remaining is None or viewer.user is None:
        return
    if quota_exempt(viewer.user.permissions):
        return
    if new > part.remaining:
        window = f"; the window is {part.days} days" if part.days else ""
        raise QuotaExceededError(
            f"{new} new seasons asked, but only {part.remaining} of {part.limit} TV seasons left{window}",
            hints=("Request fewer seasons", "Ask the admin to raise the TV quota"),
        )


async def _interpret(
    runtime: SubmitContext,
    answer: Answer,
    item: MediaRef,
    user: ApertureUser,
    seerr_user_id: int,
    is_4k: bool,
    asked: AskedSeasons,
) -> RequestResult:
    product = runtime.client.product
    if answer.status == 201:
        request = MediaRequest.parse(answer.body, "POST /api/v1/request")
        return result_of(item, request, is_4k, None)
    text = answer.message()
    if answer.status in (202, 409):  # the same for movies (409) and TV (202): see .duplicates
        return await explain_duplicate(runtime, item, seerr_user_id, is_4k, asked, text)
    if answer.status == 403:
        raise await _refusal(runtime, text, user, seerr_user_id, item)
    raise UnexpectedResponseError(
        f"{product} could not file the request for {item}: {text or 'server error'} ({answer.status})",
        hints=(
            f"{product} looks titles up on TMDB to file them: check its internet access",
            "Check the TMDB id exists, and the server's logs",
        ),
    )


async def _refusal(
    runtime: SubmitContext, text: str, user: ApertureUser, seerr_user_id: int, item: MediaRef
) -> Exception:
    lowered = text.lower()
    if "quota" in lowered:
        numbers = ""
        try:
            quota = await runtime.client.quota(seerr_user_id)
            part = quota.movie if item.media_type.value == "movie" else quota.tv
            if part.limit is not None:
                unit = "movie requests" if item.media_type.value == "movie" else "TV seasons"
                numbers = f": {part.remaining or 0} of {part.limit} {unit} left"
                numbers += f"; the window is {part.days} days" if part.days else ""
        except Exception:  # the numbers are a courtesy; the refusal stands without them
            log.debug("Could not read the quota of user %s", seerr_user_id, exc_info=True)
        return QuotaExceededError(f"{user.name}'s quota is used up ({text}){numbers}")
    if "blacklist" in lowered or "blocklist" in lowered:
        return BlocklistedError(f"{item} is on the server's blocklist ({text})")
    if text == PERMISSION_TEXT:
        runtime.users_changed()
        return UserNotMappedError(
            f"The server user mapped to {user.name} (id {seerr_user_id}) no longer exists",
            hints=("Check the user on the server, then map again: aperture-plugins map USER SERVER_USER",),
        )
    return PermissionDeniedError(
        f"{user.name} may not make this request: {text or 'permission denied'}",
        hints=("Ask the admin to grant the request permission (REQUEST, or REQUEST_MOVIE / REQUEST_TV, 4K)",),
    )
