"""Filing a request when its answer may be lost: look again, with backoff, before sending it twice.

A submit whose answer never arrives is *ambiguous*: a timeout while waiting, a connection
dropped after the body went out, or a gateway's 502/503/504 (a proxy gave up; the server behind
it may still be working). The server can take long to file a request: it looks the title up on
TMDB first (notes §6), and a slow TMDB makes the client time out while the server carries on and
files the request seconds later. Checking once, at once, finds nothing yet; sending again then
leaves the user with an error for a request that exists, untracked.

So after an ambiguous failure :func:`file_request` looks for the user's request (their newest
requests, a database-only read) after each of the runtime's ``submit_rechecks`` delays
(default :data:`RECHECK_DELAYS`: checks 1, 4 and 10 seconds after the failure):

* it turns up → it is returned (the caller tracks it) with a message saying the answer was lost;
* the last check read the list and it was not there → it is *certainly absent*: the request is
  sent once more (the server's own duplicate check, 409/202, stands behind that, and its answer
  is explained as any other);
* no check could read the list → whether it exists is unknown: nothing is sent again, and the
  original failure is raised with a hint to look before trying again.

A TV request is matched only against the user's requests of that show that were not there
before the submit (their ids are read first), since one show may hold several requests of
theirs; a movie has at most one live request per user and 4K flag.

Failures that prove nothing was sent (connection refused, DNS, TLS) are not ambiguous and are
raised at once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aperture_hookspecs import (
    ApertureError,
    CannotConnectError,
    HostNotFoundError,
    MediaRef,
    RefusedConnectionError,
    TLSError,
    UnexpectedResponseError,
)

from .client import GATEWAY_STATUSES, Answer
from .duplicates import AskedSeasons, covers, newest, own_recent
from .models import MediaRequest
from .submit_context import SubmitContext

log = logging.getLogger(__name__)

RECHECK_DELAYS: tuple[float, ...] = (1.0, 3.0, 6.0)
"""Seconds to wait before each look for a request whose answer was lost (about 10 s in all)."""

LOST_MESSAGE = "filed: the server's answer was lost, the request was found on the server"


@dataclass(frozen=True, slots=True)
class Found:
    """The request turned up on the server although its answer was lost."""

    request: MediaRequest


Filed = Answer | Found
"""What :func:`file_request` gives back: the server's answer, or the request it found."""


async def file_request(
    runtime: SubmitContext,
    body: dict[str, object],
    seerr_user_id: int,
    item: MediaRef,
    is_4k: bool,
    asked: AskedSeasons,
) -> Filed:
    """Send ``POST /request`` as the user, at most twice (see the module docstring)."""
    known = await _known_ids(runtime, seerr_user_id, item, is_4k)
    for attempt in (1, 2):
        failure = await _send(runtime, body, seerr_user_id)
        if isinstance(failure, Answer):
            return failure
        log.info("Submitting %s was ambiguous (%s); looking for it before deciding", item, failure.message)
        found, absent = await _look_again(runtime, seerr_user_id, item, is_4k, asked, known)
        if found is not None:
            return Found(found)
        if not absent:
            failure.hints = (
                "The request may have been filed: look the title up before requesting it again",
                *failure.hints,
            )
            raise failure
        if attempt == 2:
            failure.hints = (
                "It was sent twice and has not turned up on the server: look the title up before "
                "requesting it again",
                *failure.hints,
            )
            raise failure
        log.info("%s is not on the server; sending it again", item)
    raise AssertionError("unreachable")  # pragma: no cover


async def _send(
    runtime: SubmitContext, body: dict[str, object], seerr_user_id: int
) -> Answer | ApertureError:
    """The answer, or the ambiguous failure (raised when the failure proves nothing was sent)."""
    try:
        answer = await runtime.client.create_request(body, act_as=seerr_user_id)
    except CannotConnectError as error:
        if isinstance(error, RefusedConnectionError | HostNotFoundError | TLSError):
            raise  # nothing was sent
        return error
    if answer.status not in GATEWAY_STATUSES:
        return answer
    product = runtime.client.product
    return UnexpectedResponseError(
        f"A gateway in front of {product} answered {answer.status} to POST /api/v1/request "
        f"({answer.message() or 'no message'})",
        hints=(f"Check {product} is running and that the proxy in front of it waits long enough",),
    )


async def _known_ids(
    runtime: SubmitContext, seerr_user_id: int, item: MediaRef, is_4k: bool
) -> frozenset[int]:
    """The ids of the user's requests of this show from before the submit (movies: none needed)."""
    if item.media_type.value != "tv":
        return frozenset()
    return frozenset(
        request.id
        for request in await own_recent(runtime, seerr_user_id)
        if covers(request, item, is_4k, None)
    )


async def _look_again(
    runtime: SubmitContext,
    seerr_user_id: int,
    item: MediaRef,
    is_4k: bool,
    asked: AskedSeasons,
    known: frozenset[int],
) -> tuple[MediaRequest | None, bool]:
    """``(the request, _)`` if it turns up; else ``(None, absent)``, absent when the last look worked."""
    absent = False
    for delay in runtime.submit_rechecks:
        await asyncio.sleep(delay)
        try:
            requests = await own_recent(runtime, seerr_user_id)
        except ApertureError as error:
            log.info("Could not look for %s on the server (%s)", item, error.message)
            absent = False
            continue
        found = newest(r for r in requests if r.id not in known and covers(r, item, is_4k, asked))
        if found is not None:
            return found, True
        absent = True
    return None, absent
