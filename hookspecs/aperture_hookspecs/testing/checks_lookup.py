"""Checks of the Discovery page's two reads: availability lookups and the connection test.

Lookups are asked in five page shapes (the sample, reversed, with duplicates, empty, and 500
titles), each for a guest and for the author's user. The unreachable-server checks need the
author's ``settings_for_url``: the kit points the provider at a closed port and at a server
that accepts and never answers.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from ..errors import CannotConnectError
from ..settings import secret_fields, validate_settings
from ..types import ApertureUser, Availability, ConnectionReport, MediaRef, MediaType, RequestState, Severity
from .promises import ContractSkip, promise
from .servers import closed_port, stalling_server
from .session import CallOutcome, ProviderSession
from .supplied import ProviderSetup, new_canary

__all__ = [
    "check_connection_down",
    "check_connection_report",
    "check_connection_wrong_key",
    "check_lookup_guest",
    "check_lookup_order",
    "check_lookup_reasons",
    "check_lookup_stalled",
    "check_lookup_unreachable",
    "lookup_pages",
]

LOOKUP = "aperture_lookup_availability"
TEST_CONNECTION = "aperture_test_connection"
PAGE_SIZE = 500


def lookup_pages(items: Sequence[MediaRef]) -> dict[str, list[MediaRef]]:
    """The pages the kit asks about, by name."""
    sample = list(items)
    with_duplicates = [sample[0], *sample, sample[len(sample) > 1], sample[0]]
    return {
        "the sample": sample,
        "the sample reversed": sample[::-1],
        "the sample with duplicates": with_duplicates,
        "an empty page": [],
        f"a page of {PAGE_SIZE}": page_of(sample, PAGE_SIZE),
    }


def page_of(sample: Sequence[MediaRef], size: int) -> list[MediaRef]:
    """``size`` distinct titles: the sample, then made-up ones of both kinds, in shuffled order."""
    page = list(dict.fromkeys(sample))
    known = set(page)
    tmdb_id = 100_000
    while len(page) < size:
        for kind in (MediaType.MOVIE, MediaType.TV):
            ref = MediaRef(kind, tmdb_id)
            if ref not in known and len(page) < size:
                page.append(ref)
        tmdb_id += 7
    random.Random(15).shuffle(page)
    return page


def _who(user: ApertureUser | None) -> str:
    return "a guest" if user is None else f"user {user.name!r}"


Looked = tuple[str, ApertureUser | None, list[MediaRef], list[Any]]


def _lookups(setup: ProviderSetup) -> list[Looked]:
    """Every page for a guest and for the user: (page name, user, items asked, answers)."""
    if not setup.subject.implements(LOOKUP):
        raise ContractSkip(f"the provider does not implement {LOOKUP}")
    looked: list[Looked] = []
    with setup.session() as session:
        for name, page in lookup_pages(setup.items).items():
            for user in (None, setup.user):
                outcome = session.call(LOOKUP, items=tuple(page), user=user)
                where = f"{name}, for {_who(user)}"
                if outcome.raised or outcome.timed_out:
                    raise promise("lookup_order").broken(
                        f"asked {len(page)} titles ({where}), it {outcome.describe()}"
                    )
                answers = outcome.value
                if not isinstance(answers, Sequence) or isinstance(answers, str):
                    raise promise("lookup_order").broken(
                        f"asked {len(page)} titles ({where}), it returned {type(answers).__name__}, "
                        "not a sequence"
                    )
                looked.append((where, user, page, list(answers)))
    return looked


def check_lookup_order(setup: ProviderSetup) -> None:
    """One Availability per item, in order, each for the item asked (duplicates, 0 and 500 too)."""
    for where, _, page, answers in _lookups(setup):
        broken = promise("lookup_order")
        if len(answers) != len(page):
            raise broken.broken(f"asked {len(page)} titles, answered {len(answers)} ({where})")
        for number, (asked, answer) in enumerate(zip(page, answers, strict=True), start=1):
            if not isinstance(answer, Availability):
                raise broken.broken(
                    f"item {number} answered {type(answer).__name__}, not an Availability ({where})"
                )
            if answer.item != asked:
                raise broken.broken(f"item {number} asked {asked}, answered {answer.item} ({where})")


def check_lookup_guest(setup: ProviderSetup) -> None:
    """A guest's answers never have ``can_request``."""
    for where, user, _, answers in _lookups(setup):
        if user is not None:
            continue
        for answer in answers:
            if getattr(answer, "can_request", False):
                raise promise("lookup_guest").broken(f"{answer.item} answered can_request=True ({where})")


def check_lookup_reasons(setup: ProviderSetup) -> None:
    """Every answer that cannot be requested says why."""
    for where, _, _, answers in _lookups(setup):
        for answer in answers:
            if not isinstance(answer, Availability):
                continue
            cannot = answer.state is RequestState.NOT_AVAILABLE or (
                answer.state.may_request and not answer.can_request
            )
            if cannot and not (answer.reason or "").strip():
                raise promise("lookup_reason").broken(
                    f"{answer.item} answered {answer.state.value} with can_request=False and no reason "
                    f"({where})"
                )


def _needs_url(setup: ProviderSetup, what: str) -> None:
    if setup.settings_for_url is None:
        raise ContractSkip(
            f"supply settings_for_url (a function from a base URL to settings) so the kit can point the "
            f"provider at {what}"
        )


@contextmanager
def _unreachable(
    setup: ProviderSetup, server: AbstractContextManager[str], description: str
) -> Iterator[tuple[ProviderSession, str]]:
    """A session whose settings point at ``server``, and the words for it."""
    with server as url:
        settings = setup.settings_at(url)
        with setup.session(settings, label=f"settings_for_url({url!r}) ({description})") as session:
            yield session, f"{description} at {url}"


def check_lookup_unreachable(setup: ProviderSetup) -> None:
    """Nothing listening at the server's address: CannotConnectError."""
    if not setup.subject.implements(LOOKUP):
        raise ContractSkip(f"the provider does not implement {LOOKUP}")
    _needs_url(setup, "a closed port")
    with _unreachable(setup, closed_port(), "a closed port") as (session, where):
        outcome = session.call(LOOKUP, items=tuple(setup.items), user=setup.user)
        if not isinstance(outcome.error, CannotConnectError):
            raise promise("lookup_unreachable").broken(f"with {where}, it {outcome.describe()}")


def check_lookup_stalled(setup: ProviderSetup) -> None:
    """A server that accepts and never answers: CannotConnectError in time (the provider's own timeout)."""
    if not setup.subject.implements(LOOKUP):
        raise ContractSkip(f"the provider does not implement {LOOKUP}")
    _needs_url(setup, "a server that accepts and never answers")
    with _unreachable(setup, stalling_server(), "a server that accepts and never answers") as (
        session,
        where,
    ):
        outcome = session.call(
            LOOKUP, deadline=setup.stall_deadline, items=tuple(setup.items), user=setup.user
        )
        if outcome.timed_out:
            raise promise("lookup_unreachable").broken(
                f"with {where}, it gave no answer within {setup.stall_deadline:g} s; give up after the "
                "provider's own timeout and raise CannotConnectError (ProviderTimeoutError)"
            )
        if not isinstance(outcome.error, CannotConnectError):
            raise promise("lookup_unreachable").broken(f"with {where}, it {outcome.describe()}")


# -- the connection test ---------------------------------------------------------------------------


def _needs_test_connection(setup: ProviderSetup) -> None:
    if not setup.subject.implements(TEST_CONNECTION):
        raise ContractSkip(f"the provider does not implement {TEST_CONNECTION}")


def _expect_report(outcome: CallOutcome, where: str, *, failing: bool) -> None:
    broken = promise("connection_report")
    if outcome.timed_out or outcome.raised:
        raise broken.broken(f"{where}, it {outcome.describe()}")
    report = outcome.value
    if not isinstance(report, ConnectionReport):
        raise broken.broken(f"{where}, it returned {type(report).__name__}")
    if failing and not any(p.severity == Severity.ERROR for p in report.problems):
        raise broken.broken(f"{where}, the report has no error among its problems (ok={report.ok})")
    for problem in report.problems:
        if not problem.code or not problem.message:
            raise broken.broken(f"{where}, a problem has no code or no message: {problem!r}")


def check_connection_report(setup: ProviderSetup) -> None:
    """With the example settings: a ConnectionReport."""
    _needs_test_connection(setup)
    with setup.session() as session:
        _expect_report(session.call(TEST_CONNECTION), "with the example settings", failing=False)


def check_connection_down(setup: ProviderSetup) -> None:
    """A closed port, then a stalling server: a report with the failure in its problems."""
    _needs_test_connection(setup)
    _needs_url(setup, "a closed port and a stalling server")
    with _unreachable(setup, closed_port(), "a closed port") as (session, where):
        _expect_report(session.call(TEST_CONNECTION), f"with {where}", failing=True)
    with _unreachable(setup, stalling_server(), "a server that accepts and never answers") as (
        session,
        where,
    ):
        outcome = session.call(TEST_CONNECTION, deadline=setup.stall_deadline)
        _expect_report(outcome, f"with {where}", failing=True)


def wrong_key_settings(setup: ProviderSetup) -> tuple[dict[str, Any], str]:
    """The example settings with every secret replaced by a wrong value (skips if impossible)."""
    schema = setup.subject.schema()
    secrets = sorted(name for name in secret_fields(schema) if isinstance(setup.settings.get(name), str))
    if not secrets:
        raise ContractSkip("the settings have no secret field holding text, so there is no key to get wrong")
    wrong = {**setup.settings, **{name: new_canary().replace("CANARY", "WRONG") for name in secrets}}
    try:
        validate_settings(schema, wrong, provider=setup.entry_point)
    except Exception as error:
        raise ContractSkip(
            f"the schema refused the kit's wrong value for {', '.join(secrets)}: {error}"
        ) from None
    return wrong, ", ".join(secrets)


def check_connection_wrong_key(setup: ProviderSetup) -> None:
    """A wrong secret (API key, token): a report with the failure in its problems."""
    _needs_test_connection(setup)
    wrong, names = wrong_key_settings(setup)
    with setup.session(wrong, label=f"the example settings with a wrong {names}") as session:
        _expect_report(session.call(TEST_CONNECTION), f"with a wrong {names}", failing=True)
