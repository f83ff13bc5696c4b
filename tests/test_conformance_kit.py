"""The conformance kit itself: it passes a provider that keeps the contract, and fails, with the
promise and the docstring that makes it, each provider that breaks one.

The providers are written into a pytester directory and checked by a pytest run of their own
(:mod:`tests.kit_reference` holds their sources). The reference provider passes every check with
``require_every_check`` on (so no check skipped); each broken variant changes the reference in
one place, and the check of that promise, and only the expected message, says so.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from aperture_hookspecs.testing import PROMISES, ProviderContract

from .kit_reference import BROKEN_SHELF, REFERENCE_CONTRACT, REFERENCE_PROVIDER, TOKEN_SERVER

ROOT = Path(__file__).parent.parent


def write_reference(pytester: pytest.Pytester) -> None:
    """The reference provider installed (module + dist-info with its entry point), its server and suite."""
    pytester.makepyfile(
        kit_reference_provider=REFERENCE_PROVIDER,
        token_server=TOKEN_SERVER,
        reference_contract=REFERENCE_CONTRACT,
    )
    info = pytester.mkdir("kit_reference_provider-1.0.0.dist-info")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kit-reference-provider\nVersion: 1.0.0\n")
    (info / "entry_points.txt").write_text("[aperture_plugins]\nreference = kit_reference_provider\n")
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.syspathinsert()


def test_the_reference_provider_passes_every_check(pytester: pytest.Pytester):
    write_reference(pytester)
    pytester.makepyfile(
        test_reference="""
        import kit_reference_provider
        from reference_contract import ReferenceContract

        class TestReference(ReferenceContract):
            plugin = kit_reference_provider
        """
    )
    result = pytester.runpytest("-p", "aperture_hookspecs.testing", "-p", "no:cacheprovider")
    every_check = [name for name in dir(ProviderContract) if name.startswith("test_")]
    assert result.parseoutcomes() == {"passed": len(every_check)}, result.stdout.str()


@dataclass(frozen=True)
class Broken:
    """The reference with one promise broken: what changes, which check fails, with what message."""

    name: str
    test: str
    changes: tuple[tuple[str, str], ...]
    message: str  # a regular expression the failure must match
    attributes: dict[str, object] = field(default_factory=dict)

    def source(self) -> str:
        text = REFERENCE_PROVIDER
        for old, new in self.changes:
            assert text.count(old) == 1, f"{self.name}: {old!r} is not once in the reference"
            text = text.replace(old, new)
        return text


def _promise(key: str) -> str:
    """The start of a failure message for that promise: its statement and source, escaped."""
    found = PROMISES[key]
    return re.escape(f"{found.statement} ({found.source}): ")


LOOKUP_RETURN = "    return [availability(item, user, account) for item in items]"
REACH_LOOKUP = "    await reach(context.settings)\n    account = account_of(context, user)\n    return ["
CAPABILITIES = """capabilities={
            Capability.LOOKUP,
            Capability.REQUEST,
            Capability.POLL,
            Capability.USER_MAPPING,
            Capability.PUSH,
        },"""
POLL_STATE = '            updates.append(StatusUpdate(tracked.request_id, filed["state"]))'
NOT_MAPPED = 'raise UserNotMappedError(f"{user.name} has no account")'
ACCOUNT_OF = '    return context.settings["user_map"].get(user.name) or ACCOUNTS.get(user.name)'
CHECK_STATUS = (
    '    if b" 403 " in status:\n        raise InvalidAPIKeyError()\n    if b" 200 " not in status:'
)
WHOLE_SCHEMA = """class Whole(vol.Schema):
    def __call__(self, data):
        if "url" not in data:
            raise vol.Invalid("the settings are incomplete")
        return super().__call__(data)


SCHEMA = Whole(
"""
DOWN_AS_NOT_AVAILABLE = """    try:
        await reach(context.settings)
    except ApertureError:
        return [Availability.not_available(i, "down") for i in items]
    account = account_of(context, user)
    return ["""
SETTINGS_IN_REPR = """    session = type("Session", (), {"__repr__": lambda self: str(context.settings)})
    context.runtime["session"] = session()
"""
TASK_LEFT = """    if "poller" not in context.runtime:
        context.runtime["poller"] = asyncio.get_running_loop().create_task(asyncio.sleep(3600))
"""
CLOSED_PORT = r"with a closed port at http://127\.0\.0\.1:\d+, "
PARSE_PUSH = "@hookimpl\ndef aperture_parse_push(context, delivery):\n"
NAMES_NOTHING = """    if item is None and request_id is None:
        raise InvalidPushError(f"{event} names neither a title nor a request")
"""
STATUS_NOTICE = (
    "    return PushNotice(PushKind.STATUS, notification=event, item=item, "
    "request_id=request_id, state=state)"
)
STATUS_NAMING_NOTHING = (
    '    notice = PushNotice(PushKind.STATUS, item=MediaRef.parse("movie:1"), request_id=request_id)\n'
    '    object.__setattr__(notice, "item", item)  # bug: past the check that a STATUS names something\n'
    "    return notice"
)
APPLY_UPDATES = """    updates = [
        StatusUpdate(tracked.request_id, notice.state)
        for tracked in requests
        if tracked.request_id == notice.request_id
        or (notice.request_id is None and tracked.item == notice.item)
    ]"""
FOREIGN = 'raise ForeignWebhookError(f"the server pushes to {WEBHOOK[\'url\']}", url=WEBHOOK["url"])'
OURS = 'ours = WEBHOOK["url"] == target.url and WEBHOOK["authorization"] == target.authorization'
AUTHORIZATION = r"(<the target's authorization>|<the target's authorization token>)"
EXAMPLE_1 = re.escape("the notice of push_examples[1] (request_approved for movie:680 (request 41))")
NOBODY = r"'aperture-kit-nobody-\w+'"

BROKEN = [
    Broken(
        "misspelled hook",
        "test_hooks_are_aperture_hooks",
        (("async def aperture_map_users(", "async def aperture_map_user("),),
        _promise("hooks_known") + "aperture_map_user is not an Aperture hook",
    ),
    Broken(
        "argument with a default",
        "test_hooks_are_aperture_hooks",
        (("aperture_poll_status(context, requests):", "aperture_poll_status(context, requests=()):"),),
        _promise("no_defaults") + "aperture_poll_status gives requests a default value",
    ),
    Broken(
        "name is not the entry point's",
        "test_provider_info",
        (('NAME = "reference"', 'NAME = "referral"'),),
        _promise("info_name") + "ProviderInfo.name is 'referral', the entry point is 'reference'",
    ),
    Broken(
        "no capabilities",
        "test_provider_info",
        ((CAPABILITIES, "capabilities=set(),"),),
        _promise("info_capabilities") + "ProviderInfo.capabilities is empty",
    ),
    Broken(
        "capability without its hook",
        "test_capabilities_have_their_hooks",
        (("@hookimpl\nasync def aperture_poll_status(", "async def poll_status("),),
        _promise("capability_hooks")
        + "it declares Capability.POLL but does not implement aperture_poll_status",
    ),
    Broken(
        "user mapping without user_map",
        "test_capabilities_have_their_hooks",
        (
            ('        vol.Optional("user_map", default=dict): {str: str},\n', ""),
            ('context.settings["user_map"]', "{}"),
        ),
        _promise("user_map_setting") + "the settings schema has no user_map field",
    ),
    Broken(
        "submits without Capability.REQUEST",
        "test_no_operation_without_its_capability",
        ((CAPABILITIES, CAPABILITIES.replace("            Capability.REQUEST,\n", "")),),
        _promise("hook_without_capability")
        + r"aperture_submit_request is implemented without Capability.REQUEST and returned RequestResult\(",
    ),
    Broken(
        "pushes without Capability.PUSH",
        "test_no_operation_without_its_capability",
        ((CAPABILITIES, CAPABILITIES.replace("            Capability.PUSH,\n", "")),),
        _promise("hook_without_capability")
        + r"aperture_(apply_push|push_setup) is implemented without Capability.PUSH and returned Push",
    ),
    Broken(
        "schema normalises twice",
        "test_settings_schema_accepts_the_example",
        (('lambda url: url.rstrip("/")', 'lambda url: url + "/"'),),
        _promise("schema_revalidates") + "validating the validated settings again changed url",
    ),
    Broken(
        "missing field without its own message",
        "test_settings_schema_names_each_missing_field",
        (("SCHEMA = vol.Schema(\n", WHOLE_SCHEMA),),
        _promise("schema_field_message")
        + "without 'url' the settings were refused, but not with a message for 'url': "
        "Invalid settings: settings: the settings are incomplete",
    ),
    Broken(
        "token not marked Secret",
        "test_settings_schema_marks_secrets",
        (('Secret("token")', 'vol.Required("token")'),),
        _promise("schema_secrets") + "the field 'token' holds the kit's canary but is marked Required",
    ),
    Broken(
        "default that is not JSON",
        "test_settings_schema_serialises_for_a_form",
        (
            (
                'vol.Optional("user_map", default=dict): {str: str},',
                'vol.Optional("user_map", default=set): object,',
            ),
        ),
        _promise("schema_form") + "the default of 'user_map' is not plain JSON",
    ),
    Broken(
        "duplicates collapsed",
        "test_lookup_one_answer_per_item_in_order",
        ((LOOKUP_RETURN, "    return list({i: availability(i, user, account) for i in items}.values())"),),
        _promise("lookup_order")
        + r"asked 13 titles, answered 10 \(the sample with duplicates, for a guest\)",
    ),
    Broken(
        "wrong order",
        "test_lookup_one_answer_per_item_in_order",
        ((LOOKUP_RETURN, LOOKUP_RETURN.replace("in items", "in sorted(items, key=str)")),),
        _promise("lookup_order") + r"item 1 asked movie:603, answered movie:155 \(the sample, for a guest\)",
    ),
    Broken(
        "a guest may request",
        "test_lookup_guest_never_gets_can_request",
        (
            (
                '    if user is None:\n        return Availability(item, state, reason="sign in to request")'
                "\n",
                "",
            ),
            (LOOKUP_RETURN, LOOKUP_RETURN.replace("account)", 'account or "1")')),
        ),
        _promise("lookup_guest") + r"tv:1399 answered can_request=True \(the sample, for a guest\)",
    ),
    Broken(
        "a blank reason",
        "test_lookup_every_cannot_request_has_a_reason",
        (('reason="sign in to request"', 'reason=" "'),),
        _promise("lookup_reason") + "tv:1399 answered requestable with can_request=False and no reason",
    ),
    Broken(
        "down server answered as Not Available",
        "test_lookup_closed_port_raises_cannot_connect",
        ((REACH_LOOKUP, DOWN_AS_NOT_AVAILABLE),),
        _promise("lookup_unreachable") + CLOSED_PORT + r"it returned \[Availability",
    ),
    Broken(
        "no timeout of its own",
        "test_lookup_stalled_server_raises_cannot_connect",
        (('async with asyncio.timeout(settings["timeout"]):', "async with asyncio.timeout(None):"),),
        _promise("lookup_unreachable")
        + r"with a server that accepts and never answers at http://127\.0\.0\.1:\d+, "
        "it gave no answer within 2 s",
        {"stall_deadline": 2.0},
    ),
    Broken(
        "connection test raises",
        "test_connection_test_reports_a_server_down",
        (
            (
                "    except ApertureError as error:\n        return ConnectionReport",
                "    except KeyError as error:\n        return ConnectionReport",
            ),
        ),
        _promise("connection_report") + CLOSED_PORT + "it raised RefusedConnectionError",
    ),
    Broken(
        "a wrong key passes",
        "test_connection_test_reports_a_wrong_key",
        ((CHECK_STATUS, "    if not status:"),),
        _promise("connection_report")
        + r"with a wrong token, the report has no error among its problems \(ok=True\)",
    ),
    Broken(
        "result for another title",
        "test_submit_returns_the_request",
        (("RequestResult(item, request_id,", 'RequestResult(MediaRef.parse("movie:1"), request_id,'),),
        _promise("submit_result")
        + r"submitting tv:1399 \(requestable for 'alice'\), it returned a result for movie:1",
    ),
    Broken(
        "refusal that is not a RequestRefusedError",
        "test_submit_refusals_are_request_refused_errors",
        (
            (
                'raise PermissionDeniedError(f"{user.name} may request movies only")',
                'raise UnexpectedResponseError("no")',
            ),
        ),
        _promise("submit_refusal") + r"submitting tv:1399 for 'bob' \(bob may request movies only\), "
        "it raised UnexpectedResponseError: no",
    ),
    Broken(
        "unknown user filed for",
        "test_submit_for_an_unknown_user_is_user_not_mapped",
        ((NOT_MAPPED, 'account = "0"'),),
        _promise("submit_unknown_user")
        + f"submitting movie:603 for {NOBODY}, it raised AlreadyRequestedError",
    ),
    Broken(
        "files twice",
        "test_submit_twice_files_one_request",
        (
            ("    if own is not None:\n", "    if False:\n"),
            ("    if other is not None:\n", "    if False:\n"),
        ),
        _promise("submit_once") + r"the second identical submit of tv:1399 made 1 more request\(s\)",
    ),
    Broken(
        "news of an untracked request",
        "test_poll_answers_only_tracked_requests",
        (
            (
                POLL_STATE,
                POLL_STATE + '\n            updates.append(StatusUpdate("42", RequestState.PENDING))',
            ),
        ),
        _promise("poll_tracked") + "polling tracked requests, it answered request 42, which is not tracked",
    ),
    Broken(
        "state flaps",
        "test_poll_reports_nothing_new_when_nothing_changed",
        ((POLL_STATE, POLL_STATE.replace('filed["state"]', "next(FLAP)")),),
        _promise("poll_real")
        + r"polled again with nothing changed, request \d+ went from (pending|approved) to",
    ),
    Broken(
        "a change never reported",
        "test_poll_reports_a_real_change_once",
        ((POLL_STATE, POLL_STATE.replace('filed["state"]', "RequestState.PENDING")),),
        _promise("poll_change") + r"after change_request\('\d+'\) the poll still says pending",
    ),
    Broken(
        "users answered out of order",
        "test_map_users_one_per_user_in_order",
        (("    return mappings\n", "    return mappings[1:] + mappings[:1]\n"),),
        _promise("map_order") + f"user 1 asked 'alice', answered {NOBODY}",
    ),
    Broken(
        "unknown user mapped to the owner",
        "test_map_users_one_per_user_in_order",
        ((ACCOUNT_OF, '    return ACCOUNTS.get(user.name, "1")'),),
        _promise("map_unmapped") + f"{NOBODY}, whom no server knows, is mapped to account 1",
    ),
    Broken(
        "a KeyError escapes",
        "test_only_aperture_errors_and_no_secrets",
        ((NOT_MAPPED, "raise KeyError(user.name)"),),
        _promise("errors") + f"aperture_submit_request raised KeyError: {NOBODY}",
    ),
    Broken(
        "token in an error message",
        "test_only_aperture_errors_and_no_secrets",
        ((NOT_MAPPED, NOT_MAPPED.replace("has no account", "has no account at {context.settings}")),),
        _promise("no_secret")
        + "the value of 'token' appeared in the error raised by aperture_submit_request: "
        ".*'token': '<token>'",
    ),
    Broken(
        "token in a repr",
        "test_only_aperture_errors_and_no_secrets",
        ((REACH_LOOKUP, SETTINGS_IN_REPR + REACH_LOOKUP),),
        _promise("no_secret") + r"the value of 'token' appeared in the repr of context.runtime\['session'\]",
    ),
    Broken(
        "a blocking call",
        "test_async_hygiene",
        ((REACH_LOOKUP, "    import time\n    time.sleep(0.6)\n" + REACH_LOOKUP),),
        _promise("no_blocking")
        + r"a step of aperture_lookup_availability ran \d\.\d+ s without yielding to the loop "
        r"\(threshold 0\.25 s\)",
    ),
    Broken(
        "a task left running",
        "test_async_hygiene",
        ((REACH_LOOKUP, TASK_LEFT + REACH_LOOKUP),),
        _promise("no_task_left")
        + r"1 task\(s\) still running after the close callbacks ran \(the example settings\): <Task pending",
    ),
    # -- push ----------------------------------------------------------------------------------------
    Broken(
        "async parse hook",
        "test_push_parse_is_a_plain_function",
        ((PARSE_PUSH, PARSE_PUSH.replace("def ", "async def ")),),
        _promise("push_parse_plain")
        + r"aperture_parse_push is async def \(aperture_parse_push\); make it a plain def",
    ),
    Broken(
        "parse raising KeyError on {}",
        "test_push_parse_answers_hostile_deliveries",
        (('    event = body.get("event")', '    event = body["event"]'),),
        _promise("push_parse_answer")
        + re.escape("for an empty JSON object b'{}', aperture_parse_push raised KeyError: 'event'"),
    ),
    Broken(
        "parse letting a RecursionError out",
        "test_push_parse_answers_hostile_deliveries",
        (("except (ValueError, RecursionError) as error:", "except ValueError as error:"),),
        _promise("push_parse_answer")
        + re.escape("for 64 KiB of '[' (nested too deep for json.loads), aperture_parse_push raised ")
        + "RecursionError",
    ),
    Broken(
        "STATUS naming nothing",
        "test_push_parse_answers_hostile_deliveries",
        ((NAMES_NOTHING, ""), (STATUS_NOTICE, STATUS_NAMING_NOTHING)),
        _promise("push_parse_status")
        + re.escape("for push_examples[2] without item, it answered a STATUS notice (no notification) ")
        + "with neither item nor request_id",
    ),
    Broken(
        "parse opens a socket",
        "test_push_parse_does_no_io",
        ((PARSE_PUSH, PARSE_PUSH + "    import socket\n\n    socket.socket().close()\n"),),
        _promise("push_parse_no_io")
        + re.escape("parsing push_examples[0] (the test notification), it created a socket ")
        + re.escape("(audit event 'socket.__new__')"),
    ),
    Broken(
        "an example of the wrong kind",
        "test_push_examples_parse_to_their_kind",
        (('    if event == "test":', '    if event == "tested":'),),
        _promise("push_parse_examples")
        + re.escape(
            "push_examples[0] (the test notification) parsed to a ignored notice (test), expected test"
        ),
    ),
    Broken(
        "apply naming an untracked id",
        "test_push_apply_for_a_request_nobody_tracks",
        (
            (
                APPLY_UPDATES,
                "    updates = [StatusUpdate(notice.request_id, notice.state)] if notice.request_id else []",
            ),
        ),
        _promise("push_apply_outcome")
        + "applying "
        + EXAMPLE_1
        + " with no tracked requests, it answered request 41, which is not tracked",
    ),
    Broken(
        "apply answering a request the notice is not about",
        "test_push_apply_updates_only_tracked_requests",
        (
            (
                "        for tracked in requests\n        if tracked.request_id",
                "        for tracked in requests\n        if True or tracked.request_id",
            ),
        ),
        _promise("push_apply_outcome")
        + "applying "
        + EXAMPLE_1
        + " with 2 tracked requests, it answered request 987654321, which the notice is not about",
    ),
    Broken(
        "apply raising for an untracked request",
        "test_push_apply_for_a_request_nobody_tracks",
        (
            (
                "    return PushOutcome(updates",
                "    if not updates:\n        raise KeyError(notice.request_id)\n"
                "    return PushOutcome(updates",
            ),
        ),
        _promise("errors") + re.escape("aperture_apply_push raised KeyError: '41'"),
    ),
    Broken(
        "a pushed badge with a Request button",
        "test_push_apply_updates_only_tracked_requests",
        (
            (
                "(Availability(notice.item, notice.state),)",
                "(Availability(notice.item, RequestState.REQUESTABLE, can_request=True),)",
            ),
        ),
        _promise("push_apply_titles") + "applying .*, the badge of movie:680 has can_request=True",
    ),
    Broken(
        "setup leaking the authorization in a message",
        "test_push_install_never_overwrites_a_foreign_webhook",
        (
            (
                FOREIGN,
                FOREIGN.replace(
                    "pushes to {WEBHOOK['url']}", "pushes to {WEBHOOK['url']}, not {target.authorization}"
                ),
            ),
        ),
        _promise("push_target_secret")
        + 'the value of "the target\'s authorization" appeared in the error raised by '
        + re.escape("aperture_push_setup(install): ")
        + ".*not "
        + AUTHORIZATION,
    ),
    Broken(
        "setup logging the authorization",
        "test_push_setup_inspect_answers_a_push_setup",
        (
            (
                "    found = webhook_setup(target)\n",
                '    found = webhook_setup(target)\n    log.info("webhook for %s", target.authorization)\n',
            ),
        ),
        _promise("push_target_secret")
        + 'the value of "the target\'s authorization" appeared in a log record \\(INFO, logger '
        "'broken_\\d+'\\) during " + re.escape("aperture_push_setup(inspect)"),
    ),
    Broken(
        "install over a foreign webhook",
        "test_push_install_never_overwrites_a_foreign_webhook",
        (('        foreign = WEBHOOK["enabled"] and', "        foreign = False and"),),
        _promise("push_install_foreign")
        + r"with the server pushing to http://127\.0\.0\.1:\d+/another-receiver, "
        + re.escape("aperture_push_setup(install) returned PushSetup("),
    ),
    Broken(
        "remove switching off a foreign webhook",
        "test_push_install_never_overwrites_a_foreign_webhook",
        (("    elif action is PushAction.REMOVE and found.ours:", "    elif action is PushAction.REMOVE:"),),
        _promise("push_remove")
        + r"REMOVE with the server pushing to http://127\.0\.0\.1:\d+/another-receiver changed its set-up",
    ),
    Broken(
        "ours by the URL alone",
        "test_push_install_with_replace_and_remove",
        ((OURS, 'ours = WEBHOOK["url"] == target.url'),),
        _promise("push_setup_ours")
        + "after INSTALL, INSPECT with the same URL and another authorization answered ours=True",
    ),
]


def test_each_broken_promise_fails_its_check_with_its_message(pytester: pytest.Pytester):
    write_reference(pytester)
    node_ids = []
    for number, broken in enumerate(BROKEN):
        module = f"broken_{number}"
        pytester.makepyfile(**{module: broken.source()})
        attributes = "".join(f"    {key} = {value!r}\n" for key, value in broken.attributes.items())
        pytester.makepyfile(
            **{
                f"test_{module}": f"import {module}\nfrom reference_contract import ReferenceContract\n\n\n"
                f"class TestBroken(ReferenceContract):\n    plugin = {module}\n{attributes}"
            }
        )
        node_ids.append(f"test_{module}.py::TestBroken::{broken.test}")
    # the flapping variant needs its iterator
    flap = BROKEN.index(next(b for b in BROKEN if b.name == "state flaps"))
    path = pytester.path / f"broken_{flap}.py"
    path.write_text(
        path.read_text()
        + "\n\nimport itertools\n\nFLAP = itertools.cycle([RequestState.PENDING, RequestState.APPROVED])\n"
    )
    recorded = pytester.inline_run("-p", "aperture_hookspecs.testing", "-p", "no:cacheprovider", *node_ids)
    reports = {r.nodeid: r for r in recorded.getreports("pytest_runtest_logreport") if r.when == "call"}
    wrong = []
    for broken, node_id in zip(BROKEN, node_ids, strict=True):
        report = reports.get(node_id)
        if report is None or not report.failed:
            wrong.append(f"{broken.name}: {node_id} did not fail ({report.outcome if report else 'not run'})")
        elif not re.search(broken.message, report.longreprtext):
            wrong.append(
                f"{broken.name}: {node_id} failed with\n    {report.longreprtext}\n"
                f"  expected\n    {broken.message}"
            )
    assert not wrong, "\n".join(wrong)


def test_the_broken_shelf_fails_with_the_three_messages(pytester: pytest.Pytester):
    pytester.makepyfile(broken_shelf=BROKEN_SHELF)
    pytester.makepyfile(
        test_broken_shelf="""
        import broken_shelf
        from aperture_hookspecs.testing import provider_contract

        TestBrokenShelf = provider_contract(
            "broken", plugin=broken_shelf, settings={"token": "FAKE-SHELF-TOKEN-5d1e"}
        )
        """
    )
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.syspathinsert()
    result = pytester.runpytest(
        "-p", "aperture_hookspecs.testing", "-p", "no:cacheprovider", "--show-capture=no"
    )
    text = result.stdout.str()
    assert "FAKE-SHELF-TOKEN-5d1e" not in text  # the kit's messages never show the secret they found
    result.stdout.fnmatch_lines_random(
        [
            "aperture_lookup_availability must return one Availability per item, in order "
            "(specs.py, aperture_lookup_availability): item 1 asked movie:603, answered movie:155 "
            "(the sample, for a guest)",
            "only ApertureError subclasses may escape a provider (specs.py, module docstring): "
            "aperture_submit_request raised KeyError: 'aperture-kit-nobody-*'",
            "no secret from the settings may appear in any message, repr or log line (types.py, "
            "ProviderContext): the value of 'token' appeared in a log record (INFO, logger "
            "'broken_shelf') during aperture_submit_request: 'INFO broken_shelf filing movie:155 for "
            "account 1 with token <token>'",
        ]
    )
    failed = {line.split("::")[-1].split(" ")[0] for line in text.splitlines() if line.startswith("FAILED")}
    assert {
        "test_lookup_one_answer_per_item_in_order",
        "test_submit_returns_the_request",
        "test_only_aperture_errors_and_no_secrets",
    } <= failed


def test_every_promise_is_stated_in_the_docstring_it_cites():
    unstated = [f"{p.key}: {p.quote!r} not in {p.source}" for p in PROMISES.values() if not p.is_stated()]
    assert not unstated


def test_the_kit_imports_without_the_host_and_without_pytest():
    """Only the contract's own dependencies: the host, the Seerr plugins, httpx and the CLI's
    libraries are refused; without pytest the checks import and the suite says what to install."""
    blocked = ("aperture_plugins", "aperture_overseerr", "aperture_jellyseerr", "httpx", "click", "rich")
    script = textwrap.dedent(
        f"""
        import sys

        class Refuse:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {(*blocked, "pytest", "_pytest")!r}:
                    raise ModuleNotFoundError(f"blocked: {{name}}", name=name)
                return None

        sys.meta_path.insert(0, Refuse())
        import aperture_hookspecs.testing as kit
        from aperture_hookspecs.testing import checks_calls, checks_lookup, checks_manifest, checks_requests
        from aperture_hookspecs.testing import checks_push
        assert kit.PROMISES and kit.closed_port and checks_calls.battery and checks_push.HOSTILE
        try:
            kit.ProviderContract
        except ImportError as error:
            print(error)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "needs pytest: pip install 'aperture-hookspecs[testing]'" in done.stdout


@pytest.mark.parametrize(
    ("options", "environment"),
    [
        (("-p", "aperture_hookspecs.testing"), {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}),
        ((), {}),
        (("-p", "aperture_hookspecs.testing"), {}),
    ],
    ids=["-p only", "entry point only", "-p and the entry point"],
)
def test_the_kit_loads_as_a_pytest_plugin(pytester: pytest.Pytester, monkeypatch, options, environment):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile(
        test_fixtures="""
        import urllib.request

        def test_the_kit_fixtures(aperture_canary, aperture_closed_port):
            assert aperture_canary.startswith("APERTURE-KIT-CANARY-")
            assert aperture_closed_port.startswith("http://127.0.0.1:")
        """
    )
    result = pytester.runpytest_subprocess(*options, "-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["aperture provider conformance kit: * promises*"])
