"""Reads that run at once and end together: :func:`gather_or_cancel`.

``asyncio.gather`` raises the first error and leaves the other reads running, unowned: against a
server that is down they go on retrying after the lookup that needed them has failed, and after
the host closed the provider's context (the conformance kit's "no task left" check found them).
:func:`gather_or_cancel` cancels them, and waits for them to end, before it raises.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar, overload

T = TypeVar("T")
T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")
T4 = TypeVar("T4")

__all__ = ["gather_or_cancel"]


@overload
async def gather_or_cancel(first: Awaitable[T1], second: Awaitable[T2], /) -> tuple[T1, T2]: ...


@overload
async def gather_or_cancel(
    first: Awaitable[T1], second: Awaitable[T2], third: Awaitable[T3], fourth: Awaitable[T4], /
) -> tuple[T1, T2, T3, T4]: ...


@overload
async def gather_or_cancel(*awaitables: Awaitable[T]) -> tuple[T, ...]: ...


async def gather_or_cancel(*awaitables: Awaitable[Any]) -> tuple[Any, ...]:
    """Await all at once and return their results in order; if one fails (or this is cancelled),
    cancel the others and wait for them before raising the first error."""
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        return tuple(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
