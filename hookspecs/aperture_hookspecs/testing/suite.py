"""The pytest face of the kit: the :class:`ProviderContract` suite and :func:`provider_contract`.

The shortest use, in a provider's own test file::

    from aperture_hookspecs.testing import provider_contract
    TestShelfContract = provider_contract("shelf", settings={"token": "FAKE-TOKEN-FOR-TESTS"})

A provider that talks to a server subclasses the suite and supplies fixtures (each optional one
turns on the checks that need it; without it they are skipped with a reason)::

    class TestMyProviderContract(ProviderContract):
        entry_point = "myprovider"          # plugin = ... to test an object not installed

        @pytest.fixture
        def provider_settings(self, my_fake_server, aperture_canary): ...   # required
        @pytest.fixture
        def settings_for_url(self): return lambda url: {"url": url, "api_key": "...", "timeout": 1}
        @pytest.fixture
        def request_counter(self, my_fake_server): return my_fake_server.count_requests
        # provider_user, provider_items, refused_requests, change_request,
        # push_examples, push_elsewhere: see ProviderContract

Fixtures are plain (synchronous) pytest fixtures: the kit runs the provider in event loops of
its own, in asyncio debug mode, so it needs no async plugin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from ..types import ApertureUser, MediaRef
from . import checks_calls, checks_lookup, checks_manifest, checks_push, checks_requests
from .promises import ContractSkip, ContractViolation
from .subject import KitUsageError
from .supplied import DEFAULT_ITEMS, DEFAULT_USER, ProviderSetup, PushExample, Refusal

__all__ = ["ProviderContract", "provider_contract"]

Check = Callable[[ProviderSetup], None]


def _run(check: Check, setup: ProviderSetup, *, strict: bool = False) -> None:
    """Run a check: a violation fails the test with its message (no traceback: the message says
    it all), a skip skips it with its reason (fails, when ``strict``)."""
    skipped = failed = None
    try:
        check(setup)
    except ContractSkip as skip:
        skipped = str(skip)
    except ContractViolation as violation:
        failed = str(violation)
    except KitUsageError as error:
        failed = f"the conformance kit is not set up right: {error}"
    # outside the except blocks, so pytest does not print the message twice (as the chained cause)
    if skipped is not None and strict:
        failed = f"the check cannot run (require_every_check is set): {skipped}"
    elif skipped is not None:
        pytest.skip(skipped)
    if failed is not None:
        pytest.fail(failed, pytrace=False)


class ProviderContract:
    """The conformance suite. Subclass it as ``Test…`` and set :attr:`entry_point`.

    Class attributes: ``entry_point`` (the provider's entry-point name; required), ``plugin``
    (the plugin object; by default the one the installed entry point loads),
    ``blocking_threshold`` (seconds a step of the event loop may run without yielding, 0.25),
    ``stall_deadline`` (seconds the provider has to give up on a server that never answers,
    30, the host's lookup deadline) and ``require_every_check`` (a check that cannot run with
    what was supplied fails instead of skipping: for a CI that must run the whole contract).

    Fixtures to override: ``provider_settings`` (required: settings an admin would enter),
    ``provider_user`` (an Aperture user who may request), ``provider_items`` (titles to look
    up), ``settings_for_url``, ``request_counter``, ``refused_requests`` (a sequence of
    :class:`~aperture_hookspecs.testing.Refusal`), ``change_request``, and for a provider
    declaring ``Capability.PUSH`` ``push_examples`` (a sequence of
    :class:`~aperture_hookspecs.testing.PushExample`) and ``push_elsewhere`` (see
    :mod:`aperture_hookspecs.testing.supplied`).
    """

    entry_point: ClassVar[str] = ""
    plugin: ClassVar[Any] = None
    blocking_threshold: ClassVar[float] = 0.25
    stall_deadline: ClassVar[float] = 30.0
    require_every_check: ClassVar[bool] = False

    def _check(self, check: Check, setup: ProviderSetup) -> None:
        _run(check, setup, strict=type(self).require_every_check)

    # -- what the author supplies ----------------------------------------------------------------

    @pytest.fixture
    def provider_settings(self) -> Mapping[str, Any]:
        """Settings an admin would enter (override this fixture)."""
        pytest.fail(
            f"{type(self).__name__}: supply the provider_settings fixture (settings an admin would enter)",
            pytrace=False,
        )

    @pytest.fixture
    def provider_user(self) -> ApertureUser:
        """An Aperture user who may request (by default one no server knows)."""
        return DEFAULT_USER

    @pytest.fixture
    def provider_items(self) -> Sequence[MediaRef]:
        """The titles to look up (at least one)."""
        return DEFAULT_ITEMS

    @pytest.fixture
    def settings_for_url(self) -> Callable[[str], Mapping[str, Any]] | None:
        """Settings pointing at a base URL (``http://127.0.0.1:PORT``), for the unreachable-server checks."""
        return None

    @pytest.fixture
    def request_counter(self) -> Callable[[], int] | None:
        """How many requests the provider's server holds, for the never-twice check."""
        return None

    @pytest.fixture
    def refused_requests(self) -> Sequence[Refusal]:
        """Requests the provider's server refuses, for the refusal check."""
        return ()

    @pytest.fixture
    def change_request(self) -> Callable[[str], Any] | None:
        """Changes one request (by the provider's request id) on the server, for the polling check."""
        return None

    @pytest.fixture
    def push_examples(self) -> Sequence[PushExample]:
        """Deliveries the provider's server sends, each with the kind it must parse to (push)."""
        return ()

    @pytest.fixture
    def push_elsewhere(self) -> Callable[[str], Any] | None:
        """Makes the provider's server push to a given URL, as another receiver's set-up would (push)."""
        return None

    @pytest.fixture
    def provider_setup(
        self,
        provider_settings: Mapping[str, Any],
        provider_user: ApertureUser,
        provider_items: Sequence[MediaRef],
        settings_for_url: Callable[[str], Mapping[str, Any]] | None,
        request_counter: Callable[[], int] | None,
        refused_requests: Sequence[Refusal],
        change_request: Callable[[str], Any] | None,
        push_examples: Sequence[PushExample],
        push_elsewhere: Callable[[str], Any] | None,
        tmp_path: Path,
    ) -> ProviderSetup:
        """Everything above, in one value the checks take."""
        cls = type(self)
        if not cls.entry_point:
            pytest.fail(f"{cls.__name__}: set entry_point to the provider's entry-point name", pytrace=False)
        if not provider_items:
            pytest.fail(f"{cls.__name__}: provider_items must name at least one title", pytrace=False)
        return ProviderSetup(
            plugin=cls.plugin,
            entry_point=cls.entry_point,
            settings=provider_settings,
            data_dir=tmp_path / "aperture-kit" / cls.entry_point,
            user=provider_user,
            items=tuple(provider_items),
            settings_for_url=settings_for_url,
            count_requests=request_counter,
            refusals=tuple(refused_requests),
            change_request=change_request,
            push_examples=tuple(push_examples),
            push_elsewhere=push_elsewhere,
            blocking_threshold=cls.blocking_threshold,
            stall_deadline=cls.stall_deadline,
        )

    # -- the plugin and its manifest -------------------------------------------------------------

    def test_hooks_are_aperture_hooks(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_manifest.check_hooks, provider_setup)

    def test_provider_info(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_manifest.check_provider_info, provider_setup)

    def test_entry_point_loads_the_plugin(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_manifest.check_entry_point, provider_setup)

    def test_capabilities_have_their_hooks(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_manifest.check_capability_hooks, provider_setup)

    def test_no_operation_without_its_capability(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_manifest.check_hooks_without_capability, provider_setup)

    # -- the settings schema ---------------------------------------------------------------------

    def test_settings_schema_accepts_the_example(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_manifest.check_schema_accepts_the_example, provider_setup)

    def test_settings_schema_names_each_missing_field(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_manifest.check_schema_missing_fields, provider_setup)

    def test_settings_schema_marks_secrets(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_manifest.check_schema_secrets, provider_setup)

    def test_settings_schema_serialises_for_a_form(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_manifest.check_schema_form, provider_setup)

    # -- lookups -----------------------------------------------------------------------------------

    def test_lookup_one_answer_per_item_in_order(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_lookup.check_lookup_order, provider_setup)

    def test_lookup_guest_never_gets_can_request(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_lookup.check_lookup_guest, provider_setup)

    def test_lookup_every_cannot_request_has_a_reason(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_lookup.check_lookup_reasons, provider_setup)

    def test_lookup_closed_port_raises_cannot_connect(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_lookup.check_lookup_unreachable, provider_setup)

    def test_lookup_stalled_server_raises_cannot_connect(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_lookup.check_lookup_stalled, provider_setup)

    # -- the connection test ---------------------------------------------------------------------

    def test_connection_test_returns_a_report(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_lookup.check_connection_report, provider_setup)

    def test_connection_test_reports_a_server_down(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_lookup.check_connection_down, provider_setup)

    def test_connection_test_reports_a_wrong_key(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_lookup.check_connection_wrong_key, provider_setup)

    # -- submitting ------------------------------------------------------------------------------

    def test_submit_returns_the_request(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_requests.check_submit_result, provider_setup)

    def test_submit_refusals_are_request_refused_errors(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_requests.check_submit_refusals, provider_setup)

    def test_submit_for_an_unknown_user_is_user_not_mapped(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_requests.check_submit_unknown_user, provider_setup)

    def test_submit_twice_files_one_request(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_requests.check_submit_once, provider_setup)

    # -- polling and user mapping ----------------------------------------------------------------

    def test_poll_answers_only_tracked_requests(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_requests.check_poll_tracked, provider_setup)

    def test_poll_reports_nothing_new_when_nothing_changed(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_requests.check_poll_no_change, provider_setup)

    def test_poll_reports_a_real_change_once(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_requests.check_poll_change, provider_setup)

    def test_map_users_one_per_user_in_order(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_requests.check_map_users, provider_setup)

    # -- push ------------------------------------------------------------------------------------

    def test_push_parse_is_a_plain_function(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_push.check_parse_plain, provider_setup)

    def test_push_parse_answers_hostile_deliveries(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_push.check_parse_hostile, provider_setup)

    def test_push_parse_does_no_io(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_push.check_parse_no_io, provider_setup)

    def test_push_examples_parse_to_their_kind(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_push.check_parse_examples, provider_setup)

    def test_push_apply_updates_only_tracked_requests(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_push.check_apply_tracked, provider_setup)

    def test_push_apply_for_a_request_nobody_tracks(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_push.check_apply_untracked, provider_setup)

    def test_push_apply_twice_is_harmless(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_push.check_apply_twice, provider_setup)

    def test_push_setup_inspect_answers_a_push_setup(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_push.check_setup_inspect, provider_setup)

    def test_push_install_never_overwrites_a_foreign_webhook(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_push.check_setup_foreign, provider_setup)

    def test_push_install_with_replace_and_remove(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_push.check_setup_install, provider_setup)

    # -- every call --------------------------------------------------------------------------------

    def test_only_aperture_errors_and_no_secrets(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_calls.check_errors_and_secrets, provider_setup)

    def test_async_hygiene(self, provider_setup: ProviderSetup) -> None:
        self._check(checks_calls.check_async_hygiene, provider_setup)


_TUNABLE = frozenset({"blocking_threshold", "stall_deadline", "require_every_check"})


def provider_contract(
    entry_point: str,
    *,
    settings: Mapping[str, Any] | None = None,
    plugin: Any = None,
    **tuning: float | bool,
) -> type[ProviderContract]:
    """The suite for the provider ``entry_point``, as a class to bind to a ``Test…`` name.

    ``settings`` are the example settings (else define the ``provider_settings`` fixture on a
    subclass); ``plugin`` the object to test (by default the installed entry point's);
    ``blocking_threshold``, ``stall_deadline`` and ``require_every_check`` as on
    :class:`ProviderContract`.
    """
    unknown = sorted(set(tuning) - _TUNABLE)
    if unknown:
        raise TypeError(f"provider_contract() got unknown settings {', '.join(unknown)}")
    namespace: dict[str, Any] = {
        "entry_point": entry_point,
        "plugin": plugin,
        "__doc__": f"The Aperture provider contract, run on {entry_point!r}.",
        **tuning,
    }
    if settings is not None:
        example = dict(settings)

        def provider_settings(self: ProviderContract) -> Mapping[str, Any]:
            return dict(example)

        namespace["provider_settings"] = pytest.fixture(provider_settings)
    name = "Test" + "".join(part.title() for part in entry_point.replace("-", "_").split("_")) + "Contract"
    return type(name, (ProviderContract,), namespace)
