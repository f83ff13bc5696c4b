"""aperture_hookspecs.testing: the conformance kit for provider authors.

One pytest run tells a provider's author which promise of the contract their provider breaks,
and which docstring makes it. In the provider's own tests::

    from aperture_hookspecs.testing import provider_contract
    TestShelfContract = provider_contract("shelf", settings={"token": "FAKE-TOKEN-FOR-TESTS"})

then ``pytest``. A provider with a server subclasses :class:`ProviderContract` and supplies
fixtures (:mod:`.suite` shows how); each check that needs what was not supplied is skipped
with the reason. A broken promise fails with the statement, its source and what the kit saw::

    aperture_lookup_availability must return one Availability per item, in order
    (specs.py, aperture_lookup_availability): item 3 asked movie:550, answered movie:603

Only the contract's own dependencies are needed (pluggy, voluptuous) plus pytest for the suite
and the fixtures (``pip install 'aperture-hookspecs[testing]'``); without pytest the checks,
sessions and servers still import. This package is also a pytest plugin
(``pytest -p aperture_hookspecs.testing``, or automatically through its ``pytest11`` entry
point) that gives the fixtures ``aperture_canary``, ``aperture_closed_port`` and
``aperture_stalling_server`` (:mod:`.fixtures`).

Modules, each using only the ones before it: :mod:`.promises` (what is checked, and where it is
written), :mod:`.servers` (a closed port, a stalling server), :mod:`.subject` (the plugin as the
host admits it), :mod:`.leaks` (finding secrets), :mod:`.session` (one context in one debug event
loop, every call watched), :mod:`.supplied` (what the author supplies), the checks
(:mod:`.checks_manifest`, :mod:`.checks_lookup`, :mod:`.checks_requests`, :mod:`.checks_push`,
:mod:`.checks_calls`),
then :mod:`.suite` and :mod:`.fixtures` (pytest).
"""

from __future__ import annotations

from typing import Any

from .promises import PROMISES, ContractSkip, ContractViolation, Promise
from .servers import closed_port, stalling_server
from .session import CallOutcome, ProviderSession
from .subject import CAPABILITY_HOOKS, KitUsageError, PluginUnderTest
from .supplied import CANARY_PREFIX, DEFAULT_ITEMS, ProviderSetup, PushExample, Refusal, new_canary

try:
    from .fixtures import (
        aperture_canary,
        aperture_closed_port,
        aperture_stalling_server,
        pytest_report_header,
    )
    from .suite import ProviderContract, provider_contract
except ModuleNotFoundError as missing:  # no pytest: the checks above still work
    if missing.name not in ("pytest", "_pytest"):
        raise
    _NEEDS_PYTEST = frozenset(
        {
            "ProviderContract",
            "provider_contract",
            "aperture_canary",
            "aperture_closed_port",
            "aperture_stalling_server",
            "pytest_report_header",
        }
    )

    def __getattr__(name: str) -> Any:
        if name in _NEEDS_PYTEST:
            raise ImportError(
                f"aperture_hookspecs.testing.{name} needs pytest: pip install 'aperture-hookspecs[testing]'"
            )
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CANARY_PREFIX",
    "CAPABILITY_HOOKS",
    "DEFAULT_ITEMS",
    "PROMISES",
    "CallOutcome",
    "ContractSkip",
    "ContractViolation",
    "KitUsageError",
    "PluginUnderTest",
    "Promise",
    "ProviderContract",
    "ProviderSession",
    "ProviderSetup",
    "PushExample",
    "Refusal",
    "aperture_canary",
    "aperture_closed_port",
    "aperture_stalling_server",
    "closed_port",
    "new_canary",
    "provider_contract",
    "pytest_report_header",
    "stalling_server",
]
