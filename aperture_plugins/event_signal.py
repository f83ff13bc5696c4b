"""A wake-up call for readers of the event log in this process (the SSE streams).

Whoever logs events (a polling cycle, a push) calls :meth:`EventSignal.notify`; every reader
waiting in :meth:`EventSignal.wait` wakes and reads the log from its last id. Readers also wake
after a timeout, so events logged by *another* process (an admin's ``watch``) reach them too,
a little later.
"""

from __future__ import annotations

import asyncio
import contextlib


class EventSignal:
    """Wakes every waiter at once; safe to notify with nobody waiting."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.get_loop().call_soon_threadsafe(_finish, waiter)

    async def wait(self, seconds: float) -> bool:
        """Wait until the next :meth:`notify` or for ``seconds``; ``True`` if notified."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            async with asyncio.timeout(seconds):
                await waiter
            return True
        except TimeoutError:
            return False
        finally:
            self._waiters.discard(waiter)

    @property
    def waiting(self) -> int:
        return len(self._waiters)


def _finish(waiter: asyncio.Future[None]) -> None:
    with contextlib.suppress(asyncio.InvalidStateError):
        waiter.set_result(None)
