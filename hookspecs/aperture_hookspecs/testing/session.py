"""One provider context in one event loop, run the way the host runs it, and watched.

A :class:`ProviderSession` validates the settings with the provider's own schema, builds the
:class:`~aperture_hookspecs.types.ProviderContext` the host would, and calls operation hooks
through pluggy (so an implementation taking fewer arguments works), awaiting what comes back
under a deadline, in an event loop of its own in **asyncio debug mode**. Every call is watched:

* anything but an :class:`~aperture_hookspecs.errors.ApertureError` escaping is a violation,
  at once;
* a secret value in the answer, the error or a log record written during the call (in the
  loop's thread or its default executor: not a fake server's threads) is a violation, at once
  (:mod:`.leaks`);
* each step of the loop that ran longer than ``blocking_threshold`` without yielding (debug
  mode's slow-callback report) is kept in :attr:`ProviderSession.slow_steps`;
* :meth:`ProviderSession.close` runs the context's close callbacks, as the host does, and
  returns the tasks still running afterwards.

The session needs no pytest; the kit's suite runs checks on it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import ApertureError, InvalidSettingsError
from ..settings import secret_fields, validate_settings
from ..types import ProviderContext
from .leaks import SecretScanner
from .promises import Promise, promise
from .subject import PluginUnderTest

__all__ = ["CallOutcome", "ProviderSession", "SlowStep"]

_ASYNCIO_LOGGER = logging.getLogger("asyncio")


@dataclass(frozen=True)
class SlowStep:
    """One step of the event loop that ran too long without yielding."""

    hook: str
    seconds: float
    handle: str


@dataclass
class CallOutcome:
    """What one hook call gave: its answer, or the ApertureError it raised, or nothing in time."""

    hook: str
    value: Any = None
    error: ApertureError | None = None
    timed_out: bool = False
    seconds: float = 0.0

    @property
    def raised(self) -> bool:
        return self.error is not None

    def describe(self) -> str:
        """``returned [...]``, ``raised CannotConnectError: …`` or ``gave no answer within 30 s``."""
        if self.timed_out:
            return f"gave no answer within {self.seconds:.0f} s"
        if self.error is not None:
            return f"raised {type(self.error).__name__}: {self.error.message}"
        text = repr(self.value)
        return f"returned {text if len(text) < 200 else text[:200] + '…'}"


class _Capture(logging.Handler):
    """Keeps every record written during a call (the loop's slow-step reports too)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def own_records(self) -> list[logging.LogRecord]:
        """The records of the provider: written in the loop's thread or the loop's default
        executor (``asyncio_N`` threads), not by a fake server's threads."""
        return [
            r for r in self.records if r.thread == self.thread or (r.threadName or "").startswith("asyncio_")
        ]


@dataclass
class ProviderSession:
    """See the module docstring. Use as a context manager (or call :meth:`close`)."""

    subject: PluginUnderTest
    raw_settings: Mapping[str, Any]
    data_dir: Path
    blocking_threshold: float = 0.25
    deadline: float = 60.0
    settings_label: str = "the example settings"
    slow_steps: list[SlowStep] = field(default_factory=list)
    calls: list[CallOutcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        schema = self.subject.schema()
        try:
            settings = validate_settings(schema, self.raw_settings, provider=self.subject.entry_point)
        except InvalidSettingsError as error:
            scanner = SecretScanner({k: self.raw_settings.get(k) for k in secret_fields(schema)})
            raise promise("schema_accepts").broken(
                f"{self.settings_label} were refused: {scanner.mask(error.message)}"
            ) from None
        secrets = {name: settings.get(name) for name in secret_fields(schema)}
        secrets.update(
            {f"{name} (as entered)": self.raw_settings.get(name) for name in secret_fields(schema)}
        )
        self.scanner = SecretScanner(secrets)
        self.context = ProviderContext(
            name=self.subject.entry_point, settings=settings, data_dir=self.data_dir
        )
        self._runner = asyncio.Runner(debug=True)
        self._runner.get_loop().slow_callback_duration = self.blocking_threshold
        self._closed = False

    def __enter__(self) -> ProviderSession:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    # -- calling -----------------------------------------------------------------------------

    def call(self, hook: str, *, deadline: float | None = None, **kwargs: Any) -> CallOutcome:
        """Call an operation hook with ``context`` and ``kwargs``; see the module docstring."""
        limit = self.deadline if deadline is None else deadline
        capture = _Capture()
        root = logging.getLogger()
        level = root.level
        root.addHandler(capture)
        root.setLevel(logging.DEBUG)
        started = time.monotonic()
        try:
            outcome = self._runner.run(self._invoke(hook, limit, {"context": self.context, **kwargs}))
        except (Exception, asyncio.CancelledError) as error:  # not an ApertureError (see _invoke)
            self.scanner.check_error(hook, error)
            self.scanner.check_records(hook, capture.own_records())
            raise promise("errors").broken(
                self.scanner.mask(f"{hook} raised {type(error).__name__}: {error}")
            ) from error
        finally:
            root.removeHandler(capture)
            root.setLevel(level)
        outcome.seconds = time.monotonic() - started if not outcome.timed_out else limit
        records = capture.own_records()
        self._note_slow(hook, records)
        if outcome.error is not None:
            self.scanner.check_error(hook, outcome.error)
        else:
            self.scanner.check_value(hook, outcome.value)
        self.scanner.check_records(hook, records)
        self.calls.append(outcome)
        return outcome

    async def _invoke(self, hook: str, limit: float, kwargs: dict[str, Any]) -> CallOutcome:
        caller = getattr(self.subject.manager.hook, hook)
        window = asyncio.timeout(limit)
        try:
            async with window:
                answer = caller(**kwargs)
                if inspect.isawaitable(answer):
                    answer = await answer
        except ApertureError as error:
            return CallOutcome(hook, error=error)
        except TimeoutError:
            if window.expired():
                return CallOutcome(hook, timed_out=True)
            raise
        return CallOutcome(hook, value=answer)

    def _note_slow(self, hook: str, records: list[logging.LogRecord]) -> None:
        for record in records:
            if record.name == _ASYNCIO_LOGGER.name and str(record.msg).startswith("Executing %s took"):
                args = record.args if isinstance(record.args, tuple) and len(record.args) == 2 else ("?", 0)
                handle, seconds = args
                took = float(seconds) if isinstance(seconds, int | float) else 0.0
                self.slow_steps.append(SlowStep(hook, took, self.scanner.mask(str(handle))))

    # -- closing -----------------------------------------------------------------------------

    def close(self) -> list[str]:
        """Run the close callbacks as the host does; return the tasks still running after them
        (described), then stop the loop. A callback that raises something that is not an
        ApertureError breaks the ``errors`` promise."""
        if self._closed:
            return []
        self._closed = True
        try:
            return self._runner.run(self._close_context())
        finally:
            self._runner.close()

    async def _close_context(self) -> list[str]:
        for callback in self.context.close_callbacks():
            try:
                async with asyncio.timeout(self.deadline):
                    result = callback()
                    if inspect.isawaitable(result):
                        await result
            except ApertureError:
                continue  # the host logs it and goes on
            except TimeoutError:
                raise promise("no_task_left").broken(
                    f"a close callback did not finish within {self.deadline:g} s"
                ) from None
            except Exception as error:
                raise promise("errors").broken(
                    self.scanner.mask(f"a close callback raised {type(error).__name__}: {error}")
                ) from error
        for _ in range(3):  # let cancelled tasks finish their last step
            await asyncio.sleep(0)
        current = asyncio.current_task()
        leftover = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
        descriptions = [self.scanner.mask(repr(task)) for task in leftover]
        for task in leftover:
            task.cancel()
        return descriptions

    # -- for checks ------------------------------------------------------------------------------

    def expect_no_slow_steps(self) -> None:
        """Raise the ``no_blocking`` violation for the slowest step, if any ran too long."""
        if self.slow_steps:
            worst = max(self.slow_steps, key=lambda step: step.seconds)
            raise _blocking().broken(
                f"a step of {worst.hook} ran {worst.seconds:.3f} s without yielding to the loop "
                f"(threshold {self.blocking_threshold:g} s): {worst.handle}"
            )


def _blocking() -> Promise:
    return promise("no_blocking")
