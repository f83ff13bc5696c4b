"""The one place where the host calls plugins: routing, awaiting, timeouts, error mapping.

* **Operation hooks** go to exactly one provider. The call is made through a pluggy subset
  caller that leaves out every other provider and every disabled plugin, so wrappers of
  enabled non-provider plugins still take part. What comes back (the provider's coroutine,
  or a wrapper's replacement) is awaited under a deadline.
* **No coroutine is left un-awaited**: an innermost guard wrapper records the provider's
  coroutine; if a wrapper drops it or the call fails before it runs, the host closes it.
* **The circuit breaker** (:mod:`.breaker`): after repeated connection failures a provider
  is not called until its next probe; callers get the "unreachable since …" error at once,
  including while the one probe is under way.
* **Errors**: :class:`~aperture_hookspecs.errors.ApertureError` passes through, labelled
  with the provider. Anything else is a bug in a plugin and becomes a
  :class:`~aperture_hookspecs.errors.ProviderContractError` (the traceback goes to the log
  at debug level, never to the user). A deadline overrun becomes
  :class:`~aperture_hookspecs.errors.ProviderTimeoutError`.
* **Broadcasts** (``aperture_status_changed``) call each implementation on its own and gather
  the async ones; one that fails is logged and the rest still run.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pluggy

from aperture_hookspecs import (
    ApertureError,
    CannotConnectError,
    ProviderContractError,
    ProviderTimeoutError,
    hookimpl,
    specs,
)

from .breaker import CircuitBreaker
from .loading import PluginRecord

log = logging.getLogger(__name__)

_provider_coroutines: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "aperture_provider_coroutines", default=None
)


def _record_provider_coroutine() -> Any:
    result = yield
    pending = _provider_coroutines.get()
    if pending is not None and inspect.iscoroutine(result):
        pending.append(result)
    return result


class CoroutineGuard:
    """The host's innermost wrapper on every operation hook (see the module docstring)."""


for _hook_name in specs.PROVIDER_OPERATION_HOOKS:
    setattr(
        CoroutineGuard,
        _hook_name,
        staticmethod(hookimpl(wrapper=True, trylast=True)(_record_provider_coroutine)),
    )

GUARD_NAME = "aperture-coroutine-guard"

BREAKER_EXEMPT = frozenset({"aperture_settings_schema", "aperture_test_connection", "aperture_push_setup"})
"""Hooks that always go through: the admin's explicit connection test and webhook set-up are
manual probes."""


@dataclass(frozen=True)
class Timeouts:
    """Deadlines (seconds) the host gives each operation, whatever the provider does inside."""

    settings_schema: float = 5.0
    test_connection: float = 60.0
    lookup_availability: float = 30.0
    submit_request: float = 60.0
    poll_status: float = 60.0
    map_users: float = 60.0
    parse_push: float = 1.0  # synchronous: not enforced, documented for symmetry
    apply_push: float = 30.0
    push_setup: float = 90.0  # a server's test call waits on the receiver (notes §11)
    status_changed: float = 30.0

    def for_hook(self, hook_name: str) -> float:
        return float(getattr(self, hook_name.removeprefix("aperture_")))


class Dispatcher:
    """Calls hooks on behalf of :class:`~aperture_plugins.host.PluginHost`."""

    def __init__(
        self,
        manager: pluggy.PluginManager,
        timeouts: Timeouts | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.manager = manager
        self.timeouts = timeouts or Timeouts()
        self.breaker = breaker or CircuitBreaker()
        if not manager.has_plugin(GUARD_NAME):
            manager.register(CoroutineGuard(), name=GUARD_NAME)

    async def call_provider(
        self,
        hook_name: str,
        target: PluginRecord,
        leave_out: Iterable[Any],
        /,
        **kwargs: Any,
    ) -> Any:
        """Call ``hook_name`` on ``target`` (plus enabled wrappers) and return the awaited answer.

        ``leave_out`` are the plugin objects that must not take part (other providers,
        disabled plugins). Returns ``None`` when the provider does not implement the hook.
        """
        title = target.info.title if target.info else target.name
        if hook_name in BREAKER_EXEMPT:
            return await self._call(hook_name, target, title, leave_out, kwargs)
        probe = self.breaker.check(target.name, title)
        try:
            answer = await self._call(hook_name, target, title, leave_out, kwargs)
        except CannotConnectError as error:
            self.breaker.failed(target.name, error, probe=probe)
            raise
        except ProviderContractError:  # a bug in the plugin says nothing about the server
            self.breaker.released(target.name, probe)
            raise
        except ApertureError:  # refused, a bad answer: the server is up
            self.breaker.succeeded(target.name)
            raise
        except BaseException:  # cancelled: no verdict
            self.breaker.released(target.name, probe)
            raise
        self.breaker.succeeded(target.name)
        return answer

    async def _call(
        self,
        hook_name: str,
        target: PluginRecord,
        title: str,
        leave_out: Iterable[Any],
        kwargs: dict[str, Any],
    ) -> Any:
        caller = self.manager.subset_hook_caller(hook_name, remove_plugins=list(leave_out))
        deadline = self.timeouts.for_hook(hook_name)
        pending: list[Any] = []
        token = _provider_coroutines.set(pending)
        try:
            answer = caller(**kwargs)
            if inspect.isawaitable(answer):
                async with asyncio.timeout(deadline):
                    answer = await answer
            return answer
        except TimeoutError:
            raise ProviderTimeoutError(
                f"{title} did not answer within {deadline:g} s ({_describe(hook_name)})",
                provider=target.name,
            ) from None
        except ApertureError as error:
            if error.provider is None:
                error.provider = target.name
            raise
        except Exception as error:
            log.debug("Plugin failure in %s of %s", hook_name, target.name, exc_info=True)
            raise _bug(target, hook_name, error) from error
        finally:
            _provider_coroutines.reset(token)
            _close_unstarted(pending, hook_name, target.name)

    def call_sync(
        self, hook_name: str, target: PluginRecord, leave_out: Iterable[Any], /, **kwargs: Any
    ) -> Any:
        """Call a synchronous routed hook (the settings schema) with the same error mapping."""
        caller = self.manager.subset_hook_caller(hook_name, remove_plugins=list(leave_out))
        try:
            answer = caller(**kwargs)
        except ApertureError as error:
            if error.provider is None:
                error.provider = target.name
            raise
        except Exception as error:
            log.debug("Plugin failure in %s of %s", hook_name, target.name, exc_info=True)
            raise _bug(target, hook_name, error) from error
        if inspect.isawaitable(answer):
            _close_unstarted([answer], hook_name, target.name)
            raise ProviderContractError(
                f"{target.name}: {hook_name} must be a plain function, not async", provider=target.name
            )
        return answer

    async def broadcast(
        self, hook_name: str, enabled: set[Any], **kwargs: Any
    ) -> list[tuple[Any, BaseException]]:
        """Call every enabled implementation of ``hook_name``; return the ``(plugin, error)`` failures."""
        caller = getattr(self.manager.hook, hook_name)
        failures: list[tuple[Any, BaseException]] = []
        waiting: list[tuple[Any, Any]] = []
        for implementation in caller.get_hookimpls():
            if implementation.plugin not in enabled or implementation.wrapper or implementation.hookwrapper:
                continue
            try:
                answer = implementation.function(*(kwargs[name] for name in implementation.argnames))
            except Exception as error:
                failures.append((implementation.plugin, error))
                continue
            if inspect.isawaitable(answer):
                waiting.append((implementation.plugin, answer))
        if waiting:
            deadline = self.timeouts.for_hook(hook_name)
            results = await asyncio.gather(
                *(_with_deadline(answer, deadline) for _, answer in waiting), return_exceptions=True
            )
            failures += [
                (plugin, r)
                for (plugin, _), r in zip(waiting, results, strict=True)
                if isinstance(r, BaseException)
            ]
        for plugin, failure in failures:
            log.warning(
                "%s of plugin %s failed: %s: %s",
                hook_name,
                self.manager.get_name(plugin),
                type(failure).__name__,
                failure,
            )
        return failures


async def _with_deadline(awaitable: Any, seconds: float) -> Any:
    async with asyncio.timeout(seconds):
        return await awaitable


def _close_unstarted(coroutines: list[Any], hook_name: str, provider: str) -> None:
    for coroutine in coroutines:
        if inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED:
            coroutine.close()
            log.warning(
                "A wrapper of %s dropped the %s provider's call without awaiting it; closed it",
                hook_name,
                provider,
            )


def _describe(hook_name: str) -> str:
    return hook_name.removeprefix("aperture_").replace("_", " ")


def _bug(target: PluginRecord, hook_name: str, error: Exception) -> ProviderContractError:
    version = f" {target.version}" if target.version else ""
    return ProviderContractError(
        f"The {target.name} plugin failed in {_describe(hook_name)}: {type(error).__name__}: {error}",
        hints=(
            f"This is a bug in {target.origin}{version}; report it to its author",
            "Disable the plugin (aperture-plugins disable NAME) until it is fixed",
        ),
        provider=target.name,
    )
