"""The circuit breaker: a provider whose server is down is not waited for on every card.

After ``threshold`` consecutive connection failures (refused, DNS, timeout, TLS, a dropped
connection) the breaker *opens*: calls fail at once with
:class:`~aperture_hookspecs.errors.CannotConnectError` saying since when the server is
unreachable, and Discovery shows "Not Available" immediately instead of after a timeout. After
``base_delay`` seconds exactly one call is let through as a probe (*half-open*); while it is
under way every other call still fails at once ("checking again now"). If the probe succeeds
the breaker closes, if it fails the breaker opens again for twice as long, up to
``max_delay``; a probe that ends without a verdict (cancelled, a bug in the plugin) lets the
next call be the probe.

Only connection failures count: a refused request or a bad answer proves the server is up
(and ends a streak of failures). Calls that were already under way when the breaker opened
are counted when they fail, but only the probe's failure makes the pause longer: twenty
lookups failing together open the breaker for ``base_delay``, not for ``max_delay``. The
admin's explicit connection test always goes through and, if it succeeds, closes the breaker.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aperture_hookspecs import CannotConnectError


class ProviderDownError(CannotConnectError):
    """The provider's server failed repeatedly; calls are not attempted until the next probe."""

    code = "provider_down"
    default_message = "The request server is unreachable"
    user_reason: str = "The request server is unreachable"


@dataclass
class _State:
    failures: int = 0
    opened_at: float | None = None
    down_since: datetime | None = None
    delay: float = 0.0
    last_error: str = ""
    probing: bool = False  # a probe is under way (half-open)


class CircuitBreaker:
    """One breaker per provider name (see the module docstring)."""

    def __init__(
        self,
        *,
        threshold: int = 3,
        base_delay: float = 5.0,
        max_delay: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._clock = clock
        self._states: dict[str, _State] = {}

    def check(self, provider: str, title: str) -> bool:
        """Let a call through, or raise :class:`ProviderDownError` at once.

        Returns ``True`` when the call is the probe of a half-open breaker: its caller must
        then report the outcome with ``probe=True`` (:meth:`failed`, :meth:`released`), or
        :meth:`succeeded`. Only one probe is admitted at a time.
        """
        state = self._states.get(provider)
        if state is None or state.opened_at is None:
            return False
        waited = self._clock() - state.opened_at
        if waited >= state.delay and not state.probing:
            state.probing = True
            return True  # half-open: this call is the probe, the only one
        since = state.down_since.astimezone().strftime("%H:%M:%S") if state.down_since else "recently"
        when = "checking again now" if state.probing else f"next try in {state.delay - waited:.0f} s"
        error = ProviderDownError(
            f"{title} is unreachable since {since} ({state.last_error}); {when}",
            hints=(
                "Verify URL is correct",
                f"Check {title} is running",
                "Ensure port is accessible",
                "Test the connection to retry at once: aperture-plugins test",
            ),
            provider=provider,
        )
        error.user_reason = f"{title} is unreachable since {since}"
        raise error

    def succeeded(self, provider: str) -> None:
        """The server answered: close the breaker (and end any probe)."""
        self._states.pop(provider, None)

    def failed(self, provider: str, error: CannotConnectError, *, probe: bool = False) -> None:
        """A call failed to connect; ``probe``: it was the probe :meth:`check` admitted."""
        if isinstance(error, ProviderDownError):
            return
        state = self._states.setdefault(provider, _State())
        state.failures += 1
        state.last_error = error.message
        if state.down_since is None:
            state.down_since = datetime.now(UTC)
        if probe and state.opened_at is not None:  # the probe failed: open again, for longer
            state.probing = False
            state.delay = min(state.delay * 2, self.max_delay)
            state.opened_at = self._clock()
        elif state.opened_at is None and state.failures >= self.threshold:
            state.delay = self.base_delay
            state.opened_at = self._clock()
        # otherwise a call that began before the breaker opened: counted, nothing more

    def released(self, provider: str, probe: bool) -> None:
        """A call ended without a verdict on the connection; a probe's turn passes to the next call."""
        state = self._states.get(provider)
        if probe and state is not None:
            state.probing = False

    def is_open(self, provider: str) -> bool:
        state = self._states.get(provider)
        return state is not None and state.opened_at is not None
