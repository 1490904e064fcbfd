"""How many hosts may be in flight right now: a window adapted to the client's own load.

Every connect answered, refused or timed out is a callback in the one event loop. With
more hosts in flight than the loop can serve promptly, each loop iteration grows long:
the loop *lags*. Lag costs throughput (on loopback 250 hosts in flight scan a /16 of
closed addresses faster than 2,000) and it delays everything the loop does. So, as a
TCP sender (or nmap) adapts its window to drops, the scanner adapts the number of hosts
in flight to the loop's lag:

- :func:`watch_lag` samples, every ``sample_interval``, how late a timer fires (on the
  real clock) and hands the sample to :class:`WindowControl`;
- the window starts at ``initial`` and doubles quickly while the loop is calm and
  workers wait for a slot (slow start); a sample above ``lag_target`` cuts it by a
  quarter (at most once per hold time, so that a cut is seen before the next one), and
  from then on it grows by a few percent per calm sample; it never leaves
  ``[floor, ceiling]`` (the ceiling is ``--concurrency``);
- running out of file descriptors (EMFILE and friends) caps the window below the
  number of hosts in flight at that moment, for the rest of the run: that many
  connections is what this machine allows;
- a sample of ``pressure_lag`` or more marks the engine *under pressure*; a host whose
  attempt ended in a timeout during such a time is probed again
  (:meth:`WindowControl.pressure_since`), see ``engine/scanner.py``.

A dropped SYN costs the client a timer and a socket, not a burst of callbacks, so a
range of filtered addresses keeps the loop calm and the window at its ceiling: a
filtered range is scanned at ``ceiling / connect timeout`` addresses per second.
:class:`WindowControl` is pure (no asyncio, the time is passed in) so that its rules
can be tested with a fake clock; :class:`InFlightWindow` is the asyncio gate over it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable

from epmscan.settings import PacingSettings

GROWTH_SLOW_START = 1.25
"""Window factor per calm sample while no cut has happened yet (doubles in ~3 samples)."""
GROWTH_AVOIDANCE = 1.03
"""Window factor per calm sample after the first cut."""
CUT = 0.75
"""Window factor when the loop lags."""
LAG_SMOOTHING = 0.25
"""Weight of a new sample in the smoothed lag that decides growth."""


class WindowControl:
    """The rules of the in-flight window; ``now`` is passed in (seconds, any clock)."""

    def __init__(self, ceiling: int, settings: PacingSettings) -> None:
        self.settings = settings
        self.ceiling = max(1, ceiling)
        self.floor = max(1, min(settings.floor, self.ceiling))
        start = self.ceiling if not settings.adaptive else settings.initial
        self.limit = float(max(self.floor, min(self.ceiling, start)))
        self.smoothed_lag = 0.0
        self.slow_start = True
        self.cuts = 0
        self.peak_lag = 0.0
        self._last_cut = -math.inf
        self._last_pressure = -math.inf
        self._fd_cap: int | None = None

    @property
    def allowed(self) -> int:
        """Hosts that may be in flight now."""
        return max(1, int(self.limit))

    @property
    def fd_cap(self) -> int | None:
        """The most hosts in flight the open-file limit allowed, once it was hit."""
        return self._fd_cap

    def on_lag(self, lag: float, now: float, *, saturated: bool) -> None:
        """One lag sample; ``saturated``: workers are waiting for a slot."""
        lag = max(0.0, lag)
        self.peak_lag = max(self.peak_lag, lag)
        self.smoothed_lag += LAG_SMOOTHING * (lag - self.smoothed_lag)
        if lag >= self.settings.pressure_lag:
            self._last_pressure = now
        if not self.settings.adaptive:
            return
        if lag > self.settings.lag_target:
            hold = max(lag, 2 * self.settings.sample_interval)
            if now - self._last_cut >= hold:
                self._cut(now)
            return
        if not saturated or self.smoothed_lag > self.settings.lag_target / 2:
            return
        if now - self._last_cut < 2 * self.settings.sample_interval:
            return
        factor = GROWTH_SLOW_START if self.slow_start else GROWTH_AVOIDANCE
        self.limit = min(float(self._top()), max(self.limit * factor, self.limit + 1))

    def on_local_exhaustion(self, in_flight: int, now: float) -> None:
        """The machine ran out of descriptors with ``in_flight`` hosts in flight (this one too).

        The window is capped an eighth below that for the rest of the run.
        """
        cap = max(1, in_flight - max(1, in_flight // 8))
        self._fd_cap = cap if self._fd_cap is None else min(self._fd_cap, cap)
        self.limit = min(self.limit, float(self._fd_cap))
        self.slow_start = False
        self._last_pressure = now

    def pressure_since(self, started: float) -> bool:
        """Whether the engine was under pressure at any time since ``started``."""
        return self._last_pressure >= started

    def _top(self) -> int:
        return self.ceiling if self._fd_cap is None else min(self.ceiling, self._fd_cap)

    def _cut(self, now: float) -> None:
        self.limit = max(float(min(self.floor, self._top())), self.limit * CUT)
        self.slow_start = False
        self.cuts += 1
        self._last_cut = now


class InFlightWindow:
    """The gate every host passes: at most ``control.allowed`` hosts in flight, FIFO."""

    def __init__(self, control: WindowControl, *, clock: Callable[[], float] = time.monotonic):
        self.control = control
        self.clock = clock
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> None:
        """Wait for a slot (in the order of asking)."""
        if self.in_flight < self.control.allowed and not self._waiters:
            self.in_flight += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over as the task was cancelled
            else:
                self._discard(waiter)
            raise

    def release(self) -> None:
        """Give a slot back."""
        self.in_flight -= 1
        self.hand_out()

    def hand_out(self) -> None:
        """Wake as many waiters as the window now allows."""
        allowed = self.control.allowed
        waiters = self._waiters
        while waiters and self.in_flight < allowed:
            waiter = waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)

    def on_lag(self, lag: float) -> None:
        self.control.on_lag(lag, self.clock(), saturated=bool(self._waiters))
        self.hand_out()

    def on_local_exhaustion(self) -> None:
        """This host's attempt hit the open-file limit (its slot is still held)."""
        self.control.on_local_exhaustion(self.in_flight, self.clock())

    def pressure_since(self, started: float) -> bool:
        return self.control.pressure_since(started)

    def _discard(self, waiter: asyncio.Future[None]) -> None:
        try:
            self._waiters.remove(waiter)
        except ValueError:
            pass


async def watch_lag(
    window: InFlightWindow, interval: float, *, clock: Callable[[], float] = time.monotonic
) -> None:
    """Sample the loop's lag every ``interval`` seconds until cancelled."""
    while True:
        expected = clock() + interval
        await asyncio.sleep(interval)
        window.on_lag(clock() - expected)
