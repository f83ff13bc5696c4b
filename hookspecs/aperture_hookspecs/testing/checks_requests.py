"""Checks of the writes and their follow-up: submitting, polling and mapping users.

Submitting needs a title the author's user may request: the kit looks the sample up for that
user and takes the first answer with ``can_request``. The never-twice check needs the author's
``count_requests``, the refusal check their ``refusals``, the real-change check their
``change_request``; each is skipped, saying so, without.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ..errors import RequestRefusedError, UserNotMappedError
from ..types import (
    AccountMapping,
    Availability,
    Capability,
    MediaRef,
    RequestOptions,
    RequestResult,
    RequestState,
    StatusUpdate,
    TrackedRequest,
)
from .promises import ContractSkip, promise
from .session import ProviderSession
from .subject import KitUsageError
from .supplied import ProviderSetup, unknown_user

__all__ = [
    "check_map_users",
    "check_poll_change",
    "check_poll_no_change",
    "check_poll_tracked",
    "check_submit_once",
    "check_submit_refusals",
    "check_submit_result",
    "check_submit_unknown_user",
]

SUBMIT = "aperture_submit_request"
POLL = "aperture_poll_status"
MAP_USERS = "aperture_map_users"
UNKNOWN_REQUEST_ID = "987654321"


def _needs(setup: ProviderSetup, hook: str, capability: Capability) -> None:
    if not setup.subject.implements(hook):
        raise ContractSkip(f"the provider does not implement {hook}")
    if capability not in setup.subject.info().capabilities:
        raise ContractSkip(f"the provider does not declare Capability.{capability.name}")


def requestable(setup: ProviderSetup, session: ProviderSession) -> MediaRef:
    """The first sample title the author's user may request (skips if there is none)."""
    outcome = session.call("aperture_lookup_availability", items=tuple(setup.items), user=setup.user)
    answers = outcome.value if isinstance(outcome.value, list | tuple) else ()
    for answer in answers:
        if isinstance(answer, Availability) and answer.can_request:
            return answer.item
    raise ContractSkip(
        f"no title of provider_items is requestable for {setup.user.name!r} (none answered "
        f"can_request; the lookup {outcome.describe()}): supply a provider_user who may request and "
        "provider_items with a title they may request"
    )


def submit(session: ProviderSession, setup: ProviderSetup, item: MediaRef) -> RequestResult:
    """Submit ``item`` for the author's user; anything but a RequestResult for it breaks a promise."""
    outcome = session.call(SUBMIT, item=item, user=setup.user, options=RequestOptions())
    result = outcome.value
    where = f"submitting {item} (requestable for {setup.user.name!r})"
    if outcome.raised or outcome.timed_out:
        raise promise("submit_result").broken(f"{where}, it {outcome.describe()}")
    if not isinstance(result, RequestResult):
        raise promise("submit_result").broken(f"{where}, it returned {type(result).__name__}")
    if result.item != item:
        raise promise("submit_result").broken(f"{where}, it returned a result for {result.item}")
    return result


def check_submit_result(setup: ProviderSetup) -> None:
    """A requestable title: a RequestResult for that title."""
    _needs(setup, SUBMIT, Capability.REQUEST)
    with setup.session() as session:
        submit(session, setup, requestable(setup, session))


def check_submit_refusals(setup: ProviderSetup) -> None:
    """Each request the author's server refuses raises a RequestRefusedError subclass."""
    _needs(setup, SUBMIT, Capability.REQUEST)
    if not setup.refusals:
        raise ContractSkip(
            "supply refused_requests (Refusal(item, user, why=...)): requests your server refuses "
            "(no permission, quota used up, blocklisted)"
        )
    with setup.session() as session:
        for refusal in setup.refusals:
            outcome = session.call(SUBMIT, item=refusal.item, user=refusal.user, options=refusal.options)
            if not isinstance(outcome.error, RequestRefusedError):
                why = f" ({refusal.why})" if refusal.why else ""
                raise promise("submit_refusal").broken(
                    f"submitting {refusal.item} for {refusal.user.name!r}{why}, it {outcome.describe()}"
                )


def check_submit_unknown_user(setup: ProviderSetup) -> None:
    """A user the server does not know: UserNotMappedError (providers that map users)."""
    _needs(setup, SUBMIT, Capability.REQUEST)
    if Capability.USER_MAPPING not in setup.subject.info().capabilities:
        raise ContractSkip(
            "the provider does not declare Capability.USER_MAPPING, so no user is unknown to it"
        )
    nobody = unknown_user()
    with setup.session() as session:
        outcome = session.call(SUBMIT, item=setup.items[0], user=nobody, options=RequestOptions())
    if not isinstance(outcome.error, UserNotMappedError):
        raise promise("submit_unknown_user").broken(
            f"submitting {setup.items[0]} for {nobody.name!r}, it {outcome.describe()}"
        )


def check_submit_once(setup: ProviderSetup) -> None:
    """The same submit twice files one request; the second returns it with ``already_requested``."""
    _needs(setup, SUBMIT, Capability.REQUEST)
    count = setup.count_requests
    if count is None:
        raise ContractSkip(
            "supply request_counter (a function returning how many requests your server holds) to "
            "check that a second identical submit files nothing"
        )
    broken = promise("submit_once")
    with setup.session() as session:
        item = requestable(setup, session)
        before = count()
        first = submit(session, setup, item)
        after_first = count()
        if after_first == before:
            raise KitUsageError(
                f"request_counter still says {before} after a submit returned request {first.request_id}: "
                "it must count the requests on the provider's server"
            )
        if after_first != before + 1:
            raise broken.broken(f"one submit of {item} made {after_first - before} requests on the server")
        outcome = session.call(SUBMIT, item=item, user=setup.user, options=RequestOptions())
        after_second = count()
    if after_second != after_first:
        raise broken.broken(
            f"the second identical submit of {item} made {after_second - after_first} more request(s)"
        )
    second = outcome.value
    if not isinstance(second, RequestResult):
        raise broken.broken(f"the second identical submit of {item} {outcome.describe()}")
    if not second.already_requested or second.request_id != first.request_id:
        raise broken.broken(
            f"the second identical submit of {item} returned request {second.request_id} with "
            f"already_requested={second.already_requested}; the first was request {first.request_id}"
        )


# -- polling -----------------------------------------------------------------------------------------


def _tracked(setup: ProviderSetup, session: ProviderSession) -> list[TrackedRequest]:
    """A request the provider filed (if it can request), and one no server has."""
    unknown = TrackedRequest(UNKNOWN_REQUEST_ID, setup.items[0], setup.user, RequestState.PENDING)
    if not setup.subject.implements(SUBMIT) or Capability.REQUEST not in setup.subject.info().capabilities:
        return [unknown]
    try:
        item = requestable(setup, session)
    except ContractSkip:
        return [unknown]
    result = submit(session, setup, item)
    filed = TrackedRequest(
        result.request_id, item, setup.user, result.state, is_4k=result.is_4k, seasons=result.seasons
    )
    return [filed, unknown]


def poll(session: ProviderSession, tracked: Sequence[TrackedRequest], when: str) -> list[StatusUpdate]:
    """One poll of ``tracked``: StatusUpdates for tracked requests only, one each at most."""
    broken = promise("poll_tracked")
    outcome = session.call(POLL, requests=tuple(tracked))
    if outcome.raised or outcome.timed_out:
        raise broken.broken(f"{when}, it {outcome.describe()}")
    answers = outcome.value
    if not isinstance(answers, Sequence) or isinstance(answers, str):
        raise broken.broken(f"{when}, it returned {type(answers).__name__}, not a sequence")
    ids = {request.request_id for request in tracked}
    seen: set[str] = set()
    for update in answers:
        if not isinstance(update, StatusUpdate):
            raise broken.broken(f"{when}, it answered {type(update).__name__}, not a StatusUpdate")
        if update.request_id not in ids:
            raise broken.broken(f"{when}, it answered request {update.request_id}, which is not tracked")
        if update.request_id in seen:
            raise broken.broken(f"{when}, it answered request {update.request_id} twice")
        seen.add(update.request_id)
    return list(answers)


def applied(tracked: Sequence[TrackedRequest], updates: Sequence[StatusUpdate]) -> list[TrackedRequest]:
    """The tracked requests in the states the updates give them (as the host keeps them)."""
    states = {update.request_id: update.state for update in updates}
    return [replace(t, state=states.get(t.request_id, t.state)) for t in tracked]


def _expect_no_transition(
    tracked: Sequence[TrackedRequest], updates: Sequence[StatusUpdate], when: str
) -> None:
    before = {t.request_id: t.state for t in tracked}
    for update in updates:
        if update.state != before[update.request_id]:
            raise promise("poll_real").broken(
                f"{when}, request {update.request_id} went from {before[update.request_id].value} to "
                f"{update.state.value}"
            )


def check_poll_tracked(setup: ProviderSetup) -> None:
    """News of tracked requests only, each at most once."""
    _needs(setup, POLL, Capability.POLL)
    with setup.session() as session:
        poll(session, _tracked(setup, session), "polling tracked requests")


def check_poll_no_change(setup: ProviderSetup) -> None:
    """Two polls with nothing changed between them: the second reports no new state."""
    _needs(setup, POLL, Capability.POLL)
    with setup.session() as session:
        tracked = _tracked(setup, session)
        first = applied(tracked, poll(session, tracked, "the first poll"))
        second = poll(session, first, "the second poll")
        _expect_no_transition(first, second, "polled again with nothing changed")


def check_poll_change(setup: ProviderSetup) -> None:
    """A change made on the server is reported by the next poll, and not again by the one after."""
    _needs(setup, POLL, Capability.POLL)
    _needs(setup, SUBMIT, Capability.REQUEST)
    change = setup.change_request
    if change is None:
        raise ContractSkip(
            "supply change_request (a function of a request id that changes that request on your "
            "server, e.g. approves it) to check that polling reports a real change"
        )
    with setup.session() as session:
        result = submit(session, setup, requestable(setup, session))
        tracked = [
            TrackedRequest(result.request_id, result.item, setup.user, result.state, is_4k=result.is_4k)
        ]
        settled = applied(tracked, poll(session, tracked, "the first poll"))
        was = settled[0].state
        change(result.request_id)
        updates = poll(session, settled, "the poll after change_request")
        now = applied(settled, updates)
        if now[0].state == was:
            raise promise("poll_change").broken(
                f"after change_request({result.request_id!r}) the poll still says {was.value} "
                f"(it answered {updates!r})"
            )
        again = poll(session, now, "the poll after that")
        _expect_no_transition(now, again, "polled again after the change was reported")


# -- user mapping ------------------------------------------------------------------------------------


def check_map_users(setup: ProviderSetup) -> None:
    """One AccountMapping per user in order (an empty list, a duplicate); the unknown one says why."""
    _needs(setup, MAP_USERS, Capability.USER_MAPPING)
    nobody = unknown_user()
    broken = promise("map_order")
    with setup.session() as session:
        for users in ((), (setup.user, nobody, setup.user)):
            outcome = session.call(MAP_USERS, users=users)
            if outcome.raised or outcome.timed_out:
                raise broken.broken(f"asked {len(users)} users, it {outcome.describe()}")
            answers: Any = outcome.value
            if not isinstance(answers, Sequence) or len(answers) != len(users):
                size = len(answers) if isinstance(answers, Sequence) else type(answers).__name__
                raise broken.broken(f"asked {len(users)} users, answered {size}")
            for number, (asked, answer) in enumerate(zip(users, answers, strict=True), start=1):
                if not isinstance(answer, AccountMapping) or answer.user != asked:
                    got = answer.user.name if isinstance(answer, AccountMapping) else type(answer).__name__
                    raise broken.broken(f"user {number} asked {asked.name!r}, answered {got!r}")
            if users:
                unknown = answers[1]
                if unknown.account_id is not None:
                    raise promise("map_unmapped").broken(
                        f"{nobody.name!r}, whom no server knows, is mapped to account {unknown.account_id}"
                    )
                if not any(problem.strip() for problem in unknown.problems):
                    raise promise("map_unmapped").broken(
                        f"{nobody.name!r} is not mapped and no problem says why"
                    )
