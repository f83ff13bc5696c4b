"""Checks of push (``Capability.PUSH``): reading a delivery, taking a notice in, the server's set-up.

* **Reading** (``aperture_parse_push``): the hook is a plain function; for hostile deliveries
  (:data:`HOSTILE`: an empty body, not JSON, JSON that is not an object, 64 KiB of ``[``, bytes
  that are not UTF-8, objects with wrong types, a media event naming nothing; then the author's
  examples with each field, and each field of a nested object, left out or of a wrong type) it answers a
  ``PushNotice`` or raises ``InvalidPushError``, never anything else, and never a ``STATUS``
  notice naming neither a title nor a request; while it runs, its thread does no I/O (an audit
  hook sees sockets, files, databases, processes and sleeps) and it returns within the blocking
  threshold. The author's ``push_examples`` each parse to their kind.
* **Taking in** (``aperture_apply_push``): each ``STATUS`` notice of the examples (or, without
  them, one the kit makes) is applied with a tracked request it concerns and one it does not,
  with no tracked request at all, and twice: a ``PushOutcome`` every time, updates only for the
  tracked requests the notice concerns, guest-level badges, the same news the second time.
* **Set-up** (``aperture_push_setup``): ``INSPECT`` answers a ``PushSetup`` that is not "ours"
  for a target the server has never seen. Given ``push_elsewhere``, ``INSTALL`` over another
  receiver's set-up raises ``ForeignWebhookError`` and changes nothing, ``REMOVE`` leaves it
  alone, ``INSTALL`` with ``replace`` makes it ours and ``REMOVE`` then stops it. Every target's
  authorization is a canary the kit looks for in every answer, error, hint, repr and log line.
"""

from __future__ import annotations

import inspect
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from ..errors import ForeignWebhookError, InvalidPushError
from ..push import PushAction, PushDelivery, PushKind, PushNotice, PushOutcome, PushSetup, PushTarget
from ..types import Availability, Capability, MediaRef, MediaType, RequestState, StatusUpdate, TrackedRequest
from .leaks import SecretScanner
from .promises import ContractSkip, ContractViolation, promise
from .servers import closed_port
from .session import CallOutcome, ProviderSession
from .subject import KitUsageError, PluginUnderTest
from .supplied import ProviderSetup, PushExample, new_canary

__all__ = [
    "HOSTILE",
    "check_apply_tracked",
    "check_apply_twice",
    "check_apply_untracked",
    "check_parse_examples",
    "check_parse_hostile",
    "check_parse_no_io",
    "check_parse_plain",
    "check_setup_foreign",
    "check_setup_inspect",
    "check_setup_install",
    "delivery",
]

PARSE = "aperture_parse_push"
APPLY = "aperture_apply_push"
SETUP = "aperture_push_setup"
UNRELATED_REQUEST_ID = "987654321"
KIT_REQUEST_ID = "987654320"
UNRELATED_ITEM = MediaRef(MediaType.MOVIE, 9_999_999_999)


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


HOSTILE: tuple[tuple[str, bytes], ...] = (
    ("an empty body", b""),
    ("a body that is not JSON", b"not json"),
    ("a JSON array", b"[]"),
    ("JSON null", b"null"),
    ("an empty JSON object", b"{}"),
    ("64 KiB of '[' (nested too deep for json.loads)", b"[" * 65536),
    ("a body that is not UTF-8", b'{"notification_type": "MEDIA_APPROVED", "subject": "\xff\xfe"}'),
    (
        "a JSON object with wrong types",
        _json({"notification_type": 42, "media": "movie", "request": 7, "extra": {}}),
    ),
    (
        "a media event with wrong types",
        _json(
            {
                "notification_type": "MEDIA_APPROVED",
                "event": ["Movie Request Approved"],
                "media": {"media_type": ["movie"], "tmdbId": {"id": 603}, "status": 5},
                "request": {"request_id": [2]},
                "extra": "none",
            }
        ),
    ),
    (
        "a media event whose tmdbId is not a number",
        _json(
            {
                "notification_type": "MEDIA_AVAILABLE",
                "media": {"media_type": "movie", "tmdbId": "six-oh-three", "status": "AVAILABLE"},
                "request": {"request_id": "2"},
            }
        ),
    ),
    (
        "a media event for TMDB id 0",
        _json(
            {
                "notification_type": "MEDIA_PENDING",
                "media": {"media_type": "movie", "tmdbId": "0", "status": "PENDING"},
                "request": None,
            }
        ),
    ),
    (
        "a media event whose tmdbId is Infinity",
        b'{"notification_type": "MEDIA_PENDING", "media": {"media_type": "tv", "tmdbId": Infinity}}',
    ),
    (
        "a media event naming no title and no request",
        _json({"notification_type": "MEDIA_APPROVED", "event": "", "media": None, "request": None}),
    ),
)
"""Deliveries no server should send but a receiver gets anyway: (description, body)."""

WRONG_VALUES: tuple[Any, ...] = (None, 12345, "x", [1], {"x": "y"})
"""What each field of an example is replaced with, in turn (besides leaving it out)."""
MUTATED_EXAMPLES = 4
"""How many examples (of different shapes) are mutated."""
_LEFT_OUT = object()


def mutations(label: str, body: bytes) -> Iterator[tuple[str, bytes]]:
    """``body`` (a JSON object) with each field, and each field of a nested object, left out or
    given each of :data:`WRONG_VALUES`: (description, body). Nothing for a body that is not one."""
    document = _object(body)
    if document is None:
        return
    for path in _paths(document):
        name = ".".join(path)
        yield f"{label} without {name}", _json(_with(document, path, _LEFT_OUT))
        for value in WRONG_VALUES:
            yield f"{label} with {name}={json.dumps(value)}", _json(_with(document, path, value))


def _object(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def _paths(document: dict[str, Any]) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for key, value in document.items():
        paths.append((key,))
        if isinstance(value, dict):
            paths.extend((key, inner) for inner in value)
    return paths


def _with(document: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy = dict(document)
    holder = copy
    for key in path[:-1]:
        holder[key] = dict(holder[key])
        holder = holder[key]
    if value is _LEFT_OUT:
        del holder[path[-1]]
    else:
        holder[path[-1]] = value
    return copy


def _label(description: str, body: bytes) -> str:
    return f"{description} {body!r}" if len(body) <= 24 else description


def delivery(body: bytes) -> PushDelivery:
    """``body`` as the host hands it over: authenticated, JSON content type, no authorization."""
    return PushDelivery(
        body=body,
        received_at=datetime.now(UTC),
        content_type="application/json",
        headers={"user-agent": "aperture-conformance-kit", "content-length": str(len(body))},
    )


def _needs(setup: ProviderSetup, hook: str) -> None:
    if Capability.PUSH not in setup.subject.info().capabilities:
        raise ContractSkip("the provider does not declare Capability.PUSH")
    if not setup.subject.implements(hook):
        raise ContractSkip(f"the provider does not implement {hook}")


def _examples(setup: ProviderSetup) -> list[tuple[str, PushExample]]:
    """The author's examples, each as a PushExample with its label (``push_examples[0] (…)``)."""
    found = []
    for number, given in enumerate(setup.push_examples):
        name = f"push_examples[{number}]"
        try:
            example = PushExample(*given)
            example = example._replace(kind=PushKind(example.kind))
        except (TypeError, ValueError):
            example = None
        if example is None or not isinstance(example.body, bytes):
            raise KitUsageError(
                f"{name} must be PushExample(body: bytes, kind: PushKind), not {given!r:.120}"
            )
        found.append((f"{name} ({example.label})" if example.label else name, example))
    return found


# -- reading a delivery ------------------------------------------------------------------------------


def parse(session: ProviderSession, body: bytes, label: str) -> CallOutcome:
    """One ``aperture_parse_push`` of ``body``: a PushNotice naming what a STATUS notice needs, or
    an InvalidPushError; anything else breaks a promise (``label`` names the body)."""
    broken = promise("push_parse_answer")
    try:
        outcome = session.call(PARSE, delivery=delivery(body))
    except ContractViolation as violation:
        if violation.promise.key != "errors":
            raise
        raise broken.broken(f"for {label}, {violation.detail}") from None
    if outcome.timed_out or (outcome.error is not None and not isinstance(outcome.error, InvalidPushError)):
        raise broken.broken(f"for {label}, it {outcome.describe()}")
    if outcome.error is None:
        _expect_notice(outcome.value, label)
    return outcome


def _expect_notice(notice: Any, label: str) -> None:
    broken = promise("push_parse_answer")
    if not isinstance(notice, PushNotice):
        raise broken.broken(f"for {label}, it returned {type(notice).__name__}, not a PushNotice")
    wrong = [
        f"{name}={value!r}"
        for name, value, kind in (
            ("kind", notice.kind, PushKind),
            ("item", notice.item, MediaRef),
            ("request_id", notice.request_id, str),
            ("state", notice.state, RequestState),
        )
        if value is not None and not isinstance(value, kind)
    ]
    if notice.request_id == "":
        wrong.append("request_id=''")
    if wrong:
        raise broken.broken(f"for {label}, it answered a PushNotice with {', '.join(wrong)}")
    if notice.kind is PushKind.STATUS and notice.item is None and notice.request_id is None:
        raise promise("push_parse_status").broken(
            f"for {label}, it answered a STATUS notice ({notice.notification or 'no notification'}) "
            "with neither item nor request_id"
        )


def _own_implementations(subject: PluginUnderTest, hook: str) -> list[Any]:
    caller = getattr(subject.manager.hook, hook)
    return [
        i for i in caller.get_hookimpls() if i.plugin is subject.plugin and not (i.wrapper or i.hookwrapper)
    ]


def check_parse_plain(setup: ProviderSetup) -> None:
    """``aperture_parse_push`` is a plain ``def`` and returns its answer, not an awaitable."""
    _needs(setup, PARSE)
    broken = promise("push_parse_plain")
    for implementation in _own_implementations(setup.subject, PARSE):
        function = implementation.function
        if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
            raise broken.broken(
                f"{PARSE} is async def ({function.__qualname__}); make it a plain def: the host calls "
                "it synchronously, before it answers the server, and never awaits it"
            )
    with (
        setup.session() as session,
        _watched_parse(setup.subject) as runs,
        suppress(ContractViolation),  # what it raised is the answer check's business
    ):
        session.call(PARSE, delivery=delivery(b"{}"))
    awaitable = next((run for run in runs if run.answer_type is not None), None)
    if awaitable is not None:
        raise broken.broken(
            f"{PARSE} returned {awaitable.answer_type}, an awaitable; return the PushNotice itself: "
            "the host never awaits it"
        )


def check_parse_hostile(setup: ProviderSetup) -> None:
    """Every hostile delivery, then the mutations of the examples (up to :data:`MUTATED_EXAMPLES`
    of different shapes): a PushNotice (a STATUS one naming something) or InvalidPushError."""
    _needs(setup, PARSE)
    shapes: dict[tuple[Any, ...], tuple[str, bytes]] = {}
    for label, example in _examples(setup):
        document = _object(example.body)
        if document is not None:
            shapes.setdefault((example.kind, *_paths(document)), (label, example.body))
    with setup.session() as session:
        for description, body in HOSTILE:
            parse(session, body, _label(description, body))
        for label, body in list(shapes.values())[:MUTATED_EXAMPLES]:
            for description, mutated in mutations(label, body):
                parse(session, mutated, description)


def check_parse_examples(setup: ProviderSetup) -> None:
    """Each of the author's example deliveries parses to a notice of the kind given with it."""
    _needs(setup, PARSE)
    examples = _examples(setup)
    if not examples:
        raise ContractSkip(
            "supply push_examples (PushExample(body, PushKind.STATUS), …): deliveries your server "
            "sends, with the kind of notice each must parse to"
        )
    broken = promise("push_parse_examples")
    with setup.session() as session:
        for label, example in examples:
            outcome = parse(session, example.body, label)
            if outcome.error is not None:
                raise broken.broken(f"{label}, expected {example.kind.value}, {outcome.describe()}")
            notice: PushNotice = outcome.value
            if notice.kind is not example.kind:
                raise broken.broken(
                    f"{label} parsed to a {notice.kind.value} notice ({notice.describe()}), "
                    f"expected {example.kind.value}"
                )


def check_parse_no_io(setup: ProviderSetup) -> None:
    """While ``aperture_parse_push`` runs (examples and hostile deliveries) its thread does no I/O,
    and each call returns within the blocking threshold."""
    _needs(setup, PARSE)
    bodies = [(label, example.body) for label, example in _examples(setup)]
    bodies += [(_label(description, body), body) for description, body in HOSTILE]
    broken = promise("push_parse_no_io")
    with setup.session() as session, _watched_parse(setup.subject) as runs:
        for label, body in bodies:
            done = len(runs)
            try:
                session.call(PARSE, delivery=delivery(body))
            except ContractViolation as violation:
                if violation.promise.key != "errors":
                    raise  # an escaping error is the answer check's business
            for run in runs[done:]:
                if run.io:
                    more = f" (and {len(run.io) - 1} more)" if len(run.io) > 1 else ""
                    raise broken.broken(session.scanner.mask(f"parsing {label}, it {run.io[0]}{more}"))
                if run.seconds > setup.blocking_threshold:
                    raise broken.broken(
                        f"parsing {label} took {run.seconds:.3f} s (threshold {setup.blocking_threshold:g} s)"
                    )


@dataclass
class ParseRun:
    """One run of an ``aperture_parse_push`` implementation: how long, what I/O, what it returned
    when that was an awaitable (its type name)."""

    seconds: float
    io: list[str] = field(default_factory=list)
    answer_type: str | None = None


@contextmanager
def _watched_parse(subject: PluginUnderTest) -> Iterator[list[ParseRun]]:
    """Each run of the plugin's own ``aperture_parse_push`` implementations, watched for I/O
    (exactly while the function runs, in its thread)."""
    runs: list[ParseRun] = []
    implementations = _own_implementations(subject, PARSE)
    originals = [(implementation, implementation.function) for implementation in implementations]

    def watching(function: Callable[..., Any]) -> Callable[..., Any]:
        def watched(*args: Any) -> Any:
            run = ParseRun(0.0)
            runs.append(run)
            started = time.perf_counter()
            with _io_seen() as seen:
                try:
                    answer = function(*args)
                finally:
                    run.seconds = time.perf_counter() - started
                    run.io = list(seen)
            if inspect.isawaitable(answer):
                run.answer_type = type(answer).__name__
            return answer

        return watched

    for implementation, function in originals:
        implementation.function = watching(function)
    try:
        yield runs
    finally:
        for implementation, function in originals:
            implementation.function = function


# -- watching for I/O: an audit hook, installed once, listening only to watched threads -------------

_WATCHED: dict[int, list[str]] = {}
_HOOK_INSTALLED = False
_CODE_FILES = (".py", ".pyc", ".so", ".pyd")  # imports and tracebacks read these, not the provider
_IO_PREFIXES = (
    "socket.",
    "sqlite3.connect",
    "subprocess.",
    "os.system",
    "os.exec",
    "os.spawn",
    "os.posix_spawn",
    "os.fork",
    "os.remove",
    "os.rename",
    "os.mkdir",
    "os.rmdir",
    "shutil.",
    "urllib.Request",
    "http.client.",
    "time.sleep",
)


def _describe_io(event: str, args: tuple[Any, ...]) -> str | None:
    """What an audit event did, if it is I/O (``None`` otherwise)."""
    first = args[0] if args else None
    if event == "open":
        path = str(first)
        if isinstance(first, str | bytes) and path.endswith(_CODE_FILES):
            return None
        return f"opened {first!r} (audit event 'open')"
    if not event.startswith(_IO_PREFIXES):
        return None
    described = {
        "socket.__new__": "created a socket",
        "socket.connect": f"connected a socket to {args[1]!r}" if len(args) > 1 else "connected a socket",
        "socket.getaddrinfo": f"resolved {first!r}",
        "sqlite3.connect": f"opened the database {first!r}",
        "time.sleep": f"slept {first!r} s",
    }.get(event, f"did {event} {args[:2]!r}")
    return f"{described} (audit event {event!r})"


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _WATCHED:
        return
    seen = _WATCHED.get(threading.get_ident())
    if seen is None:
        return
    try:
        described = _describe_io(event, args)
    except Exception:  # an audit hook must never break the call it watches
        described = f"did {event}"
    if described is not None:
        seen.append(described)


@contextmanager
def _io_seen() -> Iterator[list[str]]:
    """The I/O this thread does inside the ``with`` (the audit hook stays, idle, afterwards:
    Python cannot remove one)."""
    global _HOOK_INSTALLED
    if not _HOOK_INSTALLED:
        sys.addaudithook(_audit)
        _HOOK_INSTALLED = True
    thread = threading.get_ident()
    seen: list[str] = []
    _WATCHED[thread] = seen
    try:
        yield seen
    finally:
        _WATCHED.pop(thread, None)


# -- taking a notice in ------------------------------------------------------------------------------


def _notices(setup: ProviderSetup, session: ProviderSession) -> list[tuple[str, PushNotice]]:
    """The STATUS notices of the examples (one per notification type), or one the kit makes."""
    found: dict[str, tuple[str, PushNotice]] = {}
    for label, example in _examples(setup):
        if example.kind is not PushKind.STATUS:
            continue
        notice = parse(session, example.body, label).value
        if isinstance(notice, PushNotice) and notice.kind is PushKind.STATUS:
            found.setdefault(notice.notification or label, (f"the notice of {label}", notice))
    if found:
        return list(found.values())
    made = PushNotice(
        PushKind.STATUS,
        notification="APERTURE_KIT_APPROVED",
        item=setup.items[0],
        request_id=KIT_REQUEST_ID,
        state=RequestState.APPROVED,
    )
    return [("a notice the kit made (supply push_examples to apply your provider's own)", made)]


def _tracked(setup: ProviderSetup, notice: PushNotice) -> tuple[list[TrackedRequest], set[str]]:
    """A tracked request the notice concerns (by its request, else by its title) and one it does
    not; and the ids of those it concerns."""
    unrelated_item = (
        UNRELATED_ITEM if notice.item != UNRELATED_ITEM else MediaRef(MediaType.TV, 9_999_999_999)
    )
    unrelated = TrackedRequest(UNRELATED_REQUEST_ID, unrelated_item, setup.user, RequestState.PENDING)
    if notice.request_id is not None:
        own_id, item = notice.request_id, notice.item or setup.items[0]
    else:
        own_id, item = KIT_REQUEST_ID, notice.item or setup.items[0]
    own = TrackedRequest(
        own_id, item, setup.user, RequestState.PENDING, is_4k=notice.is_4k, seasons=notice.seasons
    )
    return [own, unrelated], {own_id}


def apply(
    session: ProviderSession,
    notice: PushNotice,
    tracked: Sequence[TrackedRequest],
    concerned: set[str],
    when: str,
    *,
    failure: str = "push_apply_outcome",
) -> PushOutcome:
    """One ``aperture_apply_push``: a PushOutcome with updates only for the tracked requests in
    ``concerned``, one each, and guest-level badges. Raising breaks ``failure``."""
    outcome = session.call(APPLY, notice=notice, requests=tuple(tracked))
    if outcome.raised or outcome.timed_out:
        raise promise(failure).broken(f"{when}, it {outcome.describe()}")
    answer = outcome.value
    broken = promise("push_apply_outcome")
    if not isinstance(answer, PushOutcome):
        raise broken.broken(f"{when}, it returned {type(answer).__name__}, not a PushOutcome")
    ids = {request.request_id for request in tracked}
    seen: set[str] = set()
    for update in answer.updates:
        if not isinstance(update, StatusUpdate):
            raise broken.broken(f"{when}, it answered {type(update).__name__}, not a StatusUpdate")
        if update.request_id not in ids:
            raise broken.broken(f"{when}, it answered request {update.request_id}, which is not tracked")
        if update.request_id not in concerned:
            raise broken.broken(
                f"{when}, it answered request {update.request_id}, which the notice is not about"
            )
        if update.request_id in seen:
            raise broken.broken(f"{when}, it answered request {update.request_id} twice")
        seen.add(update.request_id)
    for title in answer.titles:
        if not isinstance(title, Availability):
            raise promise("push_apply_titles").broken(
                f"{when}, its titles hold {type(title).__name__}, not an Availability"
            )
        if title.can_request:
            raise promise("push_apply_titles").broken(
                f"{when}, the badge of {title.item} has can_request=True"
            )
    return answer


def check_apply_tracked(setup: ProviderSetup) -> None:
    """Each notice with a tracked request it concerns and one it does not: updates only for the first."""
    _needs(setup, APPLY)
    with setup.session() as session:
        for label, notice in _notices(setup, session):
            tracked, concerned = _tracked(setup, notice)
            when = f"applying {label} ({notice.describe()}) with {len(tracked)} tracked requests"
            apply(session, notice, tracked, concerned, when)


def check_apply_untracked(setup: ProviderSetup) -> None:
    """Each notice with no tracked request at all: a PushOutcome without updates, no error."""
    _needs(setup, APPLY)
    with setup.session() as session:
        for label, notice in _notices(setup, session):
            when = f"applying {label} ({notice.describe()}) with no tracked requests"
            apply(session, notice, (), set(), when, failure="push_apply_untracked")


def check_apply_twice(setup: ProviderSetup) -> None:
    """Each notice applied twice (the host's view updated in between): no error, and the second
    answer gives no request another state than the first."""
    _needs(setup, APPLY)
    with setup.session() as session:
        for label, notice in _notices(setup, session):
            tracked, concerned = _tracked(setup, notice)
            when = f"applying {label} ({notice.describe()})"
            first = apply(session, notice, tracked, concerned, when)
            states = {update.request_id: update.state for update in first.updates}
            seen = [replace(t, state=states.get(t.request_id, t.state)) for t in tracked]
            second = apply(
                session, notice, seen, concerned, f"{when} a second time", failure="push_apply_twice"
            )
            for update in second.updates:
                was = states.get(update.request_id)
                if was is not None and update.state is not was:
                    raise promise("push_apply_twice").broken(
                        f"{when} a second time, it answered request {update.request_id} "
                        f"{update.state.value}; the first time {was.value}"
                    )


# -- the server's set-up ------------------------------------------------------------------------------


@dataclass
class _SetupCalls:
    """``aperture_push_setup`` calls in one session, each watched for every target's authorization
    (answers, errors, log records) on top of the session's own watch."""

    session: ProviderSession
    entry_point: str
    scanner: SecretScanner = field(default_factory=lambda: SecretScanner({}))
    targets: int = 0

    def target(self, base_url: str) -> PushTarget:
        """A new target at ``base_url`` with a canary authorization the kit looks for."""
        self.targets += 1
        token = new_canary()
        target = PushTarget(f"{base_url}/webhooks/{self.entry_point}", f"Bearer {token}")
        which = "the target's" if self.targets == 1 else f"target {self.targets}'s"
        self.scanner = SecretScanner(
            {
                **self.scanner.secrets,
                f"{which} authorization": target.authorization,
                f"{which} authorization token": token,
            }
        )
        return target

    def call(
        self, action: PushAction, target: PushTarget, *, replace: bool = False
    ) -> tuple[str, CallOutcome]:
        """The call, its description (``aperture_push_setup(install, replace=True)``) and outcome."""
        where = f"{SETUP}({action.value}{', replace=True' if replace else ''})"
        with _records() as records:
            try:
                outcome = self.session.call(SETUP, action=action, target=target, replace=replace)
            except ContractViolation as violation:
                raise ContractViolation(violation.promise, self.scanner.mask(violation.detail)) from None
        try:
            if outcome.error is not None:
                self.scanner.check_error(where, outcome.error)
            else:
                self.scanner.check_value(where, outcome.value)
            self.scanner.check_records(where, records)
        except ContractViolation as leak:
            raise promise("push_target_secret").broken(leak.detail) from None
        return where, outcome

    def answer(self, action: PushAction, target: PushTarget, *, replace: bool = False) -> PushSetup:
        """The call's PushSetup (anything else breaks ``push_setup_answer``)."""
        where, outcome = self.call(action, target, replace=replace)
        if outcome.raised or outcome.timed_out:
            raise promise("push_setup_answer").broken(self.scanner.mask(f"{where}, it {outcome.describe()}"))
        if not isinstance(outcome.value, PushSetup):
            raise promise("push_setup_answer").broken(
                f"{where}, it returned {type(outcome.value).__name__}, not a PushSetup"
            )
        return outcome.value

    def check_kept(self, plugin: Any) -> None:
        """No target's authorization in the reprs of the plugin, the context and ``context.runtime``."""
        kept = [("the repr of the plugin", plugin), ("the repr of the context", self.session.context)]
        kept += [
            (f"the repr of context.runtime[{key!r}]", value)
            for key, value in self.session.context.runtime.items()
        ]
        try:
            for where, value in kept:
                self.scanner.check(where, repr(value))
        except ContractViolation as leak:
            raise promise("push_target_secret").broken(leak.detail) from None


@contextmanager
def _records() -> Iterator[list[logging.LogRecord]]:
    """The log records written inside the ``with`` by this thread or the loop's default executor
    (the session sets the root logger's level for the call)."""
    kept: list[logging.LogRecord] = []
    thread = threading.get_ident()

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.thread == thread or (record.threadName or "").startswith("asyncio_"):
                kept.append(record)

    handler = Keep(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield kept
    finally:
        root.removeHandler(handler)


def _same_url(found: str | None, expected: str) -> bool:
    return (found or "").rstrip("/") == expected.rstrip("/")


def _shape(setup: PushSetup) -> dict[str, Any]:
    return {"enabled": setup.enabled, "url": setup.url, "ours": setup.ours, "events": list(setup.events)}


def _needs_elsewhere(setup: ProviderSetup) -> Callable[[str], Any]:
    _needs(setup, SETUP)
    if setup.push_elsewhere is None:
        raise ContractSkip(
            "supply push_elsewhere (a function of a URL that makes your server push there, as another "
            "receiver's set-up would) to check that INSTALL never overwrites it and REMOVE never touches it"
        )
    return setup.push_elsewhere


def check_setup_inspect(setup: ProviderSetup) -> None:
    """``INSPECT`` answers a PushSetup, not ours for a target the server never saw; no authorization
    shows anywhere."""
    _needs(setup, SETUP)
    with setup.session() as session, closed_port() as base_url:
        calls = _SetupCalls(session, setup.entry_point)
        target = calls.target(base_url)
        found = calls.answer(PushAction.INSPECT, target)
        if found.ours:
            raise promise("push_setup_ours").broken(
                f"INSPECT with a target the server has never seen answered ours=True (url={found.url!r})"
            )
        calls.check_kept(setup.subject.plugin)


def check_setup_foreign(setup: ProviderSetup) -> None:
    """With the server pushing elsewhere: ``INSTALL`` without replace raises ForeignWebhookError
    and changes nothing; ``REMOVE`` leaves that set-up as it was."""
    push_elsewhere = _needs_elsewhere(setup)
    with setup.session() as session, closed_port() as foreign_base, closed_port() as base_url:
        calls = _SetupCalls(session, setup.entry_point)
        target = calls.target(base_url)
        foreign = f"{foreign_base}/another-receiver"
        push_elsewhere(foreign)
        before = calls.answer(PushAction.INSPECT, target)
        if before.ours or not _same_url(before.url, foreign):
            raise promise("push_setup_answer").broken(
                f"after push_elsewhere({foreign!r}), INSPECT answered url={before.url!r}, ours={before.ours}"
            )
        where, outcome = calls.call(PushAction.INSTALL, target)
        if not isinstance(outcome.error, ForeignWebhookError):
            raise promise("push_install_foreign").broken(
                calls.scanner.mask(f"with the server pushing to {foreign}, {where} {outcome.describe()}")
            )
        after = calls.answer(PushAction.INSPECT, target)
        if _shape(after) != _shape(before):
            raise promise("push_install_foreign").broken(
                f"the refused INSTALL changed the set-up from {_shape(before)} to {_shape(after)}"
            )
        calls.answer(PushAction.REMOVE, target)
        left = calls.answer(PushAction.INSPECT, target)
        if _shape(left) != _shape(before):
            raise promise("push_remove").broken(
                f"REMOVE with the server pushing to {foreign} changed its set-up from {_shape(before)} "
                f"to {_shape(left)}"
            )
        calls.check_kept(setup.subject.plugin)


def check_setup_install(setup: ProviderSetup) -> None:
    """``INSTALL`` with replace over another receiver's set-up makes it ours (for that authorization
    only), installing again is fine, and ``REMOVE`` then stops it."""
    push_elsewhere = _needs_elsewhere(setup)
    broken = promise("push_install")
    with setup.session() as session, closed_port() as foreign_base, closed_port() as base_url:
        calls = _SetupCalls(session, setup.entry_point)
        target = calls.target(base_url)
        push_elsewhere(f"{foreign_base}/another-receiver")
        installed = calls.answer(PushAction.INSTALL, target, replace=True)
        if not (installed.enabled and installed.ours):
            raise broken.broken(
                f"INSTALL with replace=True over another receiver's set-up answered {_shape(installed)}"
            )
        seen = calls.answer(PushAction.INSPECT, target)
        if not (seen.enabled and seen.ours and _same_url(seen.url, target.url)):
            raise broken.broken(f"after INSTALL, INSPECT answered {_shape(seen)}; the target is {target.url}")
        other = calls.target(base_url)
        if calls.answer(PushAction.INSPECT, other).ours:
            raise promise("push_setup_ours").broken(
                "after INSTALL, INSPECT with the same URL and another authorization answered ours=True"
            )
        again = calls.answer(PushAction.INSTALL, target)
        if not (again.enabled and again.ours):
            raise broken.broken(f"INSTALL of the set-up already installed answered {_shape(again)}")
        removed = calls.answer(PushAction.REMOVE, target)
        after = calls.answer(PushAction.INSPECT, target)
        for when, found in (("REMOVE answered", removed), ("after REMOVE, INSPECT answered", after)):
            if found.enabled and found.ours:
                raise promise("push_remove").broken(f"{when} {_shape(found)}: the server still pushes to it")
        calls.check_kept(setup.subject.plugin)
