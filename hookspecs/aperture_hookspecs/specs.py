"""The hook specifications: what a plugin may implement, and what the host promises in return.

Two kinds of plugin take part:

* A **provider** implements :func:`aperture_provider_info` and the operation hooks it
  supports. The host routes every operation to exactly one provider (the admin's active one,
  or the one a command names); other providers are never called.
* Any other plugin (an **observer**, an audit log, a caching layer) may implement
  :func:`aperture_status_changed`, and may *wrap* operation hooks with
  ``@hookimpl(wrapper=True)``. It must not implement an operation hook plainly: that is a
  provider's job, and the host refuses such a plugin when it loads.

The operation hooks that do I/O are written ``async def``. pluggy itself is synchronous: it
calls the provider's function and hands the host the coroutine, which the host awaits (with the
timeouts). A wrapper therefore receives the provider's *unawaited coroutine* from its ``yield``
and returns either it or a replacement awaitable; it must not await it itself::

    @hookimpl(wrapper=True)
    def aperture_lookup_availability(items):
        inner = yield                      # the provider's coroutine, not yet run

        async def logged():
            answers = await inner
            log.info("looked up %d titles", len(answers))
            return answers

        return logged()

Implementations may accept fewer arguments than a spec lists; pluggy passes only the ones
named. Do not give hook arguments default values: pluggy never passes those.

Errors: raise the classes in :mod:`aperture_hookspecs.errors`. Anything else escaping a
provider is reported to the admin as a bug in that plugin.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .markers import hookspec

if TYPE_CHECKING:
    import voluptuous as vol

    from .push import PushAction, PushDelivery, PushNotice, PushOutcome, PushSetup, PushTarget
    from .types import (
        AccountMapping,
        ApertureUser,
        Availability,
        ConnectionReport,
        MediaRef,
        ProviderContext,
        ProviderInfo,
        RequestOptions,
        RequestResult,
        StatusChange,
        StatusUpdate,
        TrackedRequest,
    )

PROVIDER_OPERATION_HOOKS = (
    "aperture_settings_schema",
    "aperture_test_connection",
    "aperture_lookup_availability",
    "aperture_submit_request",
    "aperture_poll_status",
    "aperture_map_users",
    "aperture_parse_push",
    "aperture_apply_push",
    "aperture_push_setup",
)
"""The hooks the host routes to exactly one provider."""


@hookspec
def aperture_provider_info() -> ProviderInfo:
    """Declare that this plugin is a request provider, and describe it.

    Return a :class:`~aperture_hookspecs.types.ProviderInfo`: ``name`` (must equal the
    entry-point name), ``title``, ``version``, an optional ``documentation`` link and the
    ``capabilities`` implemented. The host calls this once per plugin when it loads, outside
    any event loop. Plugins that are not providers (observers, wrappers) do not implement it.
    """


@hookspec(firstresult=True)
def aperture_settings_schema() -> vol.Schema:
    """Return the voluptuous schema of this provider's settings.

    The host validates what an admin enters against it before saving, and validates the stored
    settings again before every call, so operation hooks receive clean values in
    ``context.settings``. Normalise in the schema (strip a trailing ``/`` from a URL, trim an
    API key) and give each field its own message (``vol.Invalid("…", path=[field])``).

    Mark secret fields (API keys, passwords) with
    :class:`~aperture_hookspecs.settings.Secret` instead of ``vol.Required`` so the host
    encrypts them at rest and never shows them again. A provider with nothing to configure
    returns ``vol.Schema({})``. Synchronous: no I/O here.
    """


@hookspec(firstresult=True)
async def aperture_test_connection(context: ProviderContext) -> ConnectionReport:
    """Check that the configured server is reachable and the credentials work.

    Return a :class:`~aperture_hookspecs.types.ConnectionReport` even when the check fails:
    put each failure in ``problems`` with its ``code`` and hints ("Verify URL is correct",
    "Generate new key"), so "Test Connection" always has something to show. Say which product
    and version answered and whom the credentials act as. Raise only for a bug.
    """


@hookspec(firstresult=True)
async def aperture_lookup_availability(
    context: ProviderContext,
    items: Sequence[MediaRef],
    user: ApertureUser | None,
) -> Sequence[Availability]:
    """Answer the badge of every title on a Discovery page, for one user.

    ``items`` is a whole page (20–200 titles) in display order; return exactly one
    :class:`~aperture_hookspecs.types.Availability` per item, in the same order, each with
    ``item`` equal to the item asked. ``user`` is ``None`` for a guest: answer the states,
    never ``can_request``.

    This is on the page's critical path: answer from local data where possible rather than
    one server round trip per title. If the server cannot be reached, raise a
    :class:`~aperture_hookspecs.errors.CannotConnectError`; the host turns it into
    "Not Available" with the reason on every card, so Discovery keeps working.
    """


@hookspec(firstresult=True)
async def aperture_submit_request(
    context: ProviderContext,
    item: MediaRef,
    user: ApertureUser,
    options: RequestOptions,
) -> RequestResult:
    """File a request for ``item`` on behalf of ``user``, with ``options`` (TV seasons, 4K).

    Act as that user on the server, so their permissions, quota and the admin's approval
    workflow apply; never as the admin. Return a
    :class:`~aperture_hookspecs.types.RequestResult` whose ``request_id`` the host will poll.

    Refusals are :class:`~aperture_hookspecs.errors.RequestRefusedError` subclasses with the
    server's reason (permission, quota with the numbers, already requested, blocklisted);
    an unknown user is :class:`~aperture_hookspecs.errors.UserNotMappedError`; a server
    setting that refuses every write (CSRF protection) is
    :class:`~aperture_hookspecs.errors.CSRFProtectionError` (code ``csrf_enabled``).

    Duplicates, the same for movies and TV: when the user's *own* earlier request already
    covers the title (or every season asked for), return that request with
    ``already_requested=True`` (the host tracks it); when only *someone else's* request or the
    library covers it, raise :class:`~aperture_hookspecs.errors.AlreadyRequestedError` with
    ``requested_by`` and the title's current ``state``. Never return another user's request as
    this user's.

    Never submit twice: after an ambiguous failure (a timeout, a dropped connection, a gateway
    timeout), look for the request again, with backoff, for as long as the server may still be
    filing it; return it if it turns up, and submit again only when it has not.
    """


@hookspec(firstresult=True)
async def aperture_poll_status(
    context: ProviderContext,
    requests: Sequence[TrackedRequest],
) -> Sequence[StatusUpdate]:
    """Report the current state of tracked requests.

    ``requests`` are the requests the host is watching, with the state each was last seen in.
    Return a :class:`~aperture_hookspecs.types.StatusUpdate` for each request you have news of
    (returning all is fine; the host emits :func:`aperture_status_changed` only for real
    transitions). Keep a cycle to a bounded number of cheap calls, not one per request.
    """


@hookspec(firstresult=True)
async def aperture_map_users(
    context: ProviderContext,
    users: Sequence[ApertureUser],
) -> Sequence[AccountMapping]:
    """Say which server account each Aperture user acts as, and what that account may do.

    Return one :class:`~aperture_hookspecs.types.AccountMapping` per user, in order. This is
    the admin's view behind "request button not showing": whether the user is mapped (and how,
    or why not, naming the candidates when it is ambiguous; never falling back to the API
    key's owner), whether they may request movies, TV and 4K, whether their requests are
    approved at once, and what is left of their quota. Providers that declare
    ``Capability.USER_MAPPING`` keep the admin's manual map in a ``user_map`` setting
    (Aperture username → account id, username or email); the host edits it for
    ``aperture-plugins map`` / ``unmap`` and calls this hook to check a new entry.
    """


@hookspec(firstresult=True)
def aperture_parse_push(context: ProviderContext, delivery: PushDelivery) -> PushNotice:
    """Read one notification the server pushed (``Capability.PUSH``; see :mod:`aperture_hookspecs.push`).

    The host calls this only after it has authenticated the delivery (its secret, in constant
    time) and limited it to 64 KiB, and before it answers the server: so be quick,
    **synchronous and without I/O**. Return a :class:`~aperture_hookspecs.push.PushNotice`:

    * ``PushKind.STATUS`` for a request or title event, with what the delivery says (the
      request id, the title, the request's new state: derive it from the event's type when
      the payload carries no status);
    * ``PushKind.TEST`` for the server's test notification (the host records "push works");
    * ``PushKind.IGNORED`` for notifications that are not about request status (issues,
      comments) and types you do not know: the host answers 200 and drops them.

    Raise :class:`~aperture_hookspecs.errors.InvalidPushError` for a body that is not JSON or
    not the shape the server sends, saying what is wrong: the host answers 400 with it and
    changes nothing. A missing optional part (no ``request`` object) is not malformed.
    """


@hookspec(firstresult=True)
async def aperture_apply_push(
    context: ProviderContext,
    notice: PushNotice,
    requests: Sequence[TrackedRequest],
) -> PushOutcome:
    """Take in a notice of ``aperture_parse_push`` (kind ``STATUS``), after the host answered the server.

    Update your own data from it (an index of the server's titles, caches), so that the next
    lookup of that title, for any user, shows the change, and answer a
    :class:`~aperture_hookspecs.push.PushOutcome`: a ``StatusUpdate`` for each of the tracked
    ``requests`` the notice concerns, and the title's guest-level badge. A notice for a request
    nobody tracks still updates the title.

    The host applies the updates only forwards (``pending`` → ``approved`` → ``processing`` →
    ``available``, or to a final state) and emits each transition once, whether push or poll
    saw it first. Your data must not go backwards either: a read of the server that started
    before the push arrived must not undo it. Deliveries may come twice, late or out of order.
    """


@hookspec(firstresult=True)
async def aperture_push_setup(
    context: ProviderContext,
    action: PushAction,
    target: PushTarget,
    replace: bool,
) -> PushSetup:
    """Read or change the server's push set-up (``aperture-plugins webhook install|status|remove``).

    ``target`` is where the host wants pushes (its public URL for this provider) and the exact
    ``Authorization`` value it accepts: a secret, never log it or put it in a message. See
    :class:`~aperture_hookspecs.push.PushAction` for the actions. Always read the server's
    set-up first. ``INSTALL`` makes the server push every media event to ``target``; installing
    again over a set-up that already pushes to ``target`` is not foreign and must succeed.
    ``INSTALL`` must not overwrite a set-up that pushes to another URL unless ``replace`` is
    true: raise :class:`~aperture_hookspecs.errors.ForeignWebhookError` naming it.
    ``REMOVE`` switches off only a set-up that pushes to ``target``. ``TEST`` asks the server to
    send its test notification to ``target`` and returns once the server says it sent it (the
    host then waits for it to arrive). Return the set-up as it is afterwards.
    """


@hookspec
def aperture_status_changed(change: StatusChange) -> Any:
    """Observe a tracked request changing state (pending → approved → processing → available,
    or declined, failed).

    Broadcast to every enabled plugin, providers and observers alike; may be ``async def``.
    Each implementation is called on its own: one that raises is logged and does not stop the
    others or the poll. Use it to notify users, or to add a now-available title to
    recommendations. Do not wrap this hook.
    """


def spec_names() -> tuple[str, ...]:
    """The names of every hook specified here, in definition order."""
    return tuple(
        name for name, value in globals().items() if name.startswith("aperture_") and callable(value)
    )


def spec_docs() -> dict[str, Any]:
    """Each hook's name mapped to its function, for documentation checks."""
    return {name: globals()[name] for name in spec_names()}
