"""How many hosts may be in flight right now: a window adapted to the client's own load.

Every connect answered, refused or timed out is a callback in the one event loop. With
more hosts in flight than the loop can serve promptly, each loop iteration grows long:
the loop *lags*. Lag costs throughput (on loopback 250 hosts in flight scan a /16 of
closed addresses faster than 2,000) and it delays everything the loop does. So, as a
TCP sender (or nmap) adapts its window to drops, the scanner adapts the number of hosts
in flight to the loop's lag:

- :func:`watch_lag` samples, every ``sample_interval``, how late a timer fires (on the
  real clock) and how much of that time the loop's thread spent on the CPU
  (:class:`LagSampler`), and hands both to :class:`WindowControl`. The window follows
  the part of the lag that fewer hosts in flight would remove: the lag scaled by that
  CPU share (a loop that waits because other processes have the cores is not made
  faster by fewer hosts in flight) and by the share of hosts that end by an answer
  (:meth:`WindowControl.on_done`): hosts that wait out their connect timeout are paced
  by that timeout, and a filtered range needs ``rate x timeout`` hosts in flight
  whatever the loop's lag, so cutting for their sake would only slow it down;
- the window starts at ``initial`` and grows by a quarter per sample while the loop is
  calm (the sample and the smoothed own lag below half of ``lag_target``) and workers
  wait for a slot (slow start). The own lag is smoothed over a second
  (:data:`LAG_SMOOTHING_TIME`): the wave of timeouts a filtered range brings once per
  connect timeout is not a trend. When the smoothed own lag exceeds ``lag_target``,
  the window is scaled by ``lag_target / lag`` (the lag grows about in proportion to
  the hosts in flight), at most halved and at most once per :data:`CUT_HOLD`, so that
  a cut is seen before the next; from then on it grows by 3 % per calm sample. It
  never leaves ``[floor, ceiling]`` (the ceiling is ``--concurrency``);
- running out of file descriptors (EMFILE and friends) caps the window below the
  number of hosts in flight at that moment, for the rest of the run: that many
  connections is what this machine allows;
- a sample of ``pressure_lag`` or more marks the engine *under pressure*; a host whose
  attempt ended in a timeout during such a time is probed again
  (:meth:`WindowControl.pressure_since`), see ``engine/scanner.py``.

So a range of closed addresses settles at a few hundred hosts in flight (where it is
also fastest), and a filtered range keeps the window at its ceiling, scanned at up to
``ceiling / connect timeout`` addresses per second (docs/performance.md).
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
DEEPEST_CUT = 0.5
"""A cut scales the window by ``lag_target / smoothed lag``, but never by less than this."""
LAG_SMOOTHING_TIME = 1.0
"""Time constant (seconds) of the smoothed lag: a second, so that the wave of timeouts a
filtered range brings once per connect timeout is averaged out."""
CUT_HOLD = 0.5
"""Least time (seconds) between two cuts, and between a cut and growth."""
ANSWER_SMOOTHING = 0.01
"""Weight of one finished host in the smoothed share of hosts that ended by an answer."""


class WindowControl:
    """The rules of the in-flight window; ``now`` is passed in (seconds, any clock)."""

    def __init__(self, ceiling: int, settings: PacingSettings) -> None:
        self.settings = settings
        self.ceiling = max(1, ceiling)
        self.floor = max(1, min(settings.floor, self.ceiling))
        start = self.ceiling if not settings.adaptive else settings.initial
        self.limit = float(max(self.floor, min(self.ceiling, start)))
        self.smoothed_lag = 0.0
        self.answered_share = 1.0
        self.slow_start = True
        self.cuts = 0
        self.peak_lag = 0.0
        self._last_sample: float | None = None
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

    def on_lag(self, lag: float, now: float, *, saturated: bool, busy: float = 1.0) -> None:
        """One lag sample.

        ``busy``: the share (0 to 1) of the sample's time the loop spent on the CPU;
        ``saturated``: workers are waiting for a slot. Pressure counts the whole lag (any
        lag delays what the loop sees); the window follows the part of it that fewer
        hosts in flight would remove (the loop's own share, charged to the hosts that end
        by an answer), smoothed over :data:`LAG_SMOOTHING_TIME`.
        """
        lag = max(0.0, lag)
        self.peak_lag = max(self.peak_lag, lag)
        if lag >= self.settings.pressure_lag:
            self._last_pressure = now
        own = lag * min(1.0, max(0.0, busy)) * self.answered_share
        since = (
            self.settings.sample_interval if self._last_sample is None else now - self._last_sample
        )
        self._last_sample = now
        weight = 1.0 - math.exp(-max(0.0, since) / LAG_SMOOTHING_TIME)
        self.smoothed_lag += weight * (own - self.smoothed_lag)
        if not self.settings.adaptive or now - self._last_cut < CUT_HOLD:
            return
        target = self.settings.lag_target
        if self.smoothed_lag > target:
            self._cut(now, max(DEEPEST_CUT, target / self.smoothed_lag))
        elif saturated and max(own, self.smoothed_lag) < target / 2:
            factor = GROWTH_SLOW_START if self.slow_start else GROWTH_AVOIDANCE
            self.limit = min(float(self._top()), max(self.limit * factor, self.limit + 1))

    def on_done(self, *, timed_out: bool) -> None:
        """A host finished: by an answer (of any kind), or by waiting out a deadline."""
        self.answered_share += ANSWER_SMOOTHING * ((not timed_out) - self.answered_share)

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

    def _cut(self, now: float, factor: float) -> None:
        self.limit = max(float(min(self.floor, self._top())), self.limit * factor)
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

    def on_lag(self, lag: float, busy: float = 1.0) -> None:
        self.control.on_lag(lag, self.clock(), saturated=bool(self._waiters), busy=busy)
        self.hand_out()

    def on_done(self, *, timed_out: bool) -> None:
        self.control.on_done(timed_out=timed_out)

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


class LagSampler:
    """Turns clock readings around one timer into a lag sample and the loop's CPU share."""

    __slots__ = ("_cpu", "_wall")

    def __init__(self, wall: float, cpu: float) -> None:
        self._wall = wall
        self._cpu = cpu

    def sample(self, expected: float, wall: float, cpu: float) -> tuple[float, float]:
        """``(lag, busy)``: how late the timer due at ``expected`` ran (seconds, at least 0),
        and the share of the time since the last sample the thread spent on the CPU."""
        elapsed = wall - self._wall
        busy = (cpu - self._cpu) / elapsed if elapsed > 0 else 1.0
        self._wall, self._cpu = wall, cpu
        return max(0.0, wall - expected), min(1.0, max(0.0, busy))


async def watch_lag(
    window: InFlightWindow,
    interval: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    cpu_clock: Callable[[], float] = time.thread_time,
) -> None:
    """Sample the loop's lag every ``interval`` seconds until cancelled."""
    sampler = LagSampler(clock(), cpu_clock())
    while True:
        expected = clock() + interval
        await asyncio.sleep(interval)
        lag, busy = sampler.sample(expected, clock(), cpu_clock())
        window.on_lag(lag, busy)
