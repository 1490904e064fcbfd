"""A token bucket for new connections per second (``--max-rate``)."""

from __future__ import annotations

import asyncio


class RateLimiter:
    """At most ``rate`` acquisitions per second on average, bursts of at most ``burst``."""

    __slots__ = ("_burst", "_interval", "_next")

    def __init__(self, rate: float, *, burst: int = 1) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._interval = 1.0 / rate
        self._burst = max(1, burst)
        self._next = 0.0

    async def acquire(self) -> None:
        """Wait for the next slot. Slots are handed out in call order."""
        now = asyncio.get_running_loop().time()
        earliest = now - (self._burst - 1) * self._interval
        slot = max(self._next, earliest)
        self._next = slot + self._interval
        delay = slot - now
        if delay > 0:
            await asyncio.sleep(delay)
