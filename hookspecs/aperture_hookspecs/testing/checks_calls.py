"""Checks of what must hold for every call: errors, secrets, and the event loop.

They run the **battery**: every operation the provider implements, with ordinary and odd
arguments (a user no server knows, TMDB ids no catalogue has, a season that does not exist,
4K), with the example settings and with a wrong secret (given a secret field), and one ordinary
call of each pointed at a closed port (given ``settings_for_url``). Every call of every check
is already watched for escaping errors and secrets (:mod:`.session`); these checks make the
promise their own test and add what only a whole run shows: the objects the provider keeps, a
step of the loop that blocked, a task still running after the context was closed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from ..types import MediaRef, MediaType, RequestOptions, RequestState, TrackedRequest
from .checks_lookup import wrong_key_settings
from .checks_requests import UNKNOWN_REQUEST_ID
from .promises import ContractSkip, promise
from .servers import closed_port
from .session import ProviderSession
from .supplied import ProviderSetup, unknown_user

__all__ = ["battery", "check_async_hygiene", "check_errors_and_secrets"]

ODD_ID = 9_999_999_999


def _calls(setup: ProviderSetup, *, odd: bool) -> list[tuple[str, dict[str, Any]]]:
    """The battery's calls: one ordinary call per operation, then (``odd``) the odd ones."""
    user, nobody = setup.user, unknown_user()
    items = tuple(setup.items)
    unknown = (MediaRef(MediaType.MOVIE, ODD_ID), MediaRef(MediaType.TV, ODD_ID))
    movie = next((i for i in items if i.media_type is MediaType.MOVIE), MediaRef(MediaType.MOVIE, 603))
    show = next((i for i in items if i.media_type is MediaType.TV), MediaRef(MediaType.TV, 1399))
    lookup, submit = "aperture_lookup_availability", "aperture_submit_request"
    tracked = (TrackedRequest(UNKNOWN_REQUEST_ID, movie, user, RequestState.PENDING),)
    ordinary: list[tuple[str, dict[str, Any]]] = [
        ("aperture_test_connection", {}),
        (lookup, {"items": items, "user": user}),
        (submit, {"item": movie, "user": nobody, "options": RequestOptions()}),
        ("aperture_poll_status", {"requests": tracked}),
        ("aperture_map_users", {"users": (user, nobody)}),
    ]
    if not odd:
        return ordinary
    return [
        *ordinary,
        (lookup, {"items": items, "user": None}),
        (lookup, {"items": unknown, "user": user}),
        (lookup, {"items": items, "user": nobody}),
        (submit, {"item": show, "user": user, "options": RequestOptions(seasons=(1, 99))}),
        (submit, {"item": movie, "user": user, "options": RequestOptions(is_4k=True)}),
        (submit, {"item": unknown[0], "user": user, "options": RequestOptions()}),
    ]


def battery(setup: ProviderSetup, session: ProviderSession, *, odd: bool = True) -> None:
    """Every implemented operation in ``session``: ordinary calls, then (``odd``) odd ones."""
    for hook, kwargs in _calls(setup, odd=odd):
        if setup.subject.implements(hook):
            session.call(hook, **kwargs)


Variant = Callable[[], AbstractContextManager[tuple[Mapping[str, Any], str, bool]]]
"""Settings to run the battery with: a context manager giving (settings, label, odd calls too)."""


def _variants(setup: ProviderSetup) -> list[Variant]:
    """The settings the battery runs with: the example ones, a closed port (with
    ``settings_for_url``), a wrong secret (if there is a secret field), each with its label."""

    @contextmanager
    def example() -> Iterator[tuple[Mapping[str, Any], str, bool]]:
        yield setup.settings, "the example settings", True

    @contextmanager
    def unreachable() -> Iterator[tuple[Mapping[str, Any], str, bool]]:
        with closed_port() as url:
            yield setup.settings_at(url), f"settings_for_url({url!r}) (a closed port)", False

    @contextmanager
    def wrong_secret() -> Iterator[tuple[Mapping[str, Any], str, bool]]:
        wrong, names = wrong_key_settings(setup)
        yield wrong, f"the example settings with a wrong {names}", True

    variants: list[Variant] = [example]
    if setup.settings_for_url is not None:
        variants.append(unreachable)
    try:
        wrong_key_settings(setup)
    except ContractSkip:
        pass
    else:
        variants.append(wrong_secret)
    return variants


@contextmanager
def _each(variant: Variant, setup: ProviderSetup) -> Iterator[ProviderSession]:
    """A session on the variant's settings, after the battery ran in it."""
    with variant() as (settings, label, odd), setup.session(settings, label) as session:
        battery(setup, session, odd=odd)
        yield session


def check_errors_and_secrets(setup: ProviderSetup) -> None:
    """The battery raises nothing but ApertureError subclasses, and no secret shows in any answer,
    error or log line (each call checks both), nor in the reprs of the plugin, the context and
    what the provider keeps in ``context.runtime``."""
    for variant in _variants(setup):
        with _each(variant, setup) as session:
            scanner = session.scanner
            scanner.check("the repr of the plugin", repr(setup.subject.plugin))
            scanner.check("the repr of the context", repr(session.context))
            for key, value in session.context.runtime.items():
                scanner.check(f"the repr of context.runtime[{key!r}]", repr(value))


def check_async_hygiene(setup: ProviderSetup) -> None:
    """During the battery no step of the event loop runs longer than the threshold, and after the
    context's close callbacks no task is still running."""
    for variant in _variants(setup):
        with _each(variant, setup) as session:
            session.expect_no_slow_steps()
            leftover = session.close()
            if leftover:
                raise promise("no_task_left").broken(
                    f"{len(leftover)} task(s) still running after the close callbacks ran "
                    f"({session.settings_label}): {'; '.join(leftover)}"
                )
