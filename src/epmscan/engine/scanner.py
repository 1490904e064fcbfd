"""Many hosts at once: a pool of workers fed from a streaming target iterator, paced.

The target iterator is pulled lazily (never materialised). ``concurrency`` workers
each take the next target, wait for the rate limiter and for a slot of the in-flight
window (``engine/pacing.py``: the window adapts the hosts in flight to the event
loop's lag, ``concurrency`` is its ceiling), run the per-host job (a dump or an
``ept_map``) and hand the result to ``on_result`` at once, so that writers can flush
it. Each host is handed over exactly once, with its final verdict:

- a host whose connect got no answer is tried ``retries`` more times (``--retries``);
- a host that ended in ``timeout`` while the engine was under pressure (the loop
  lagged by ``pressure_lag`` or more during its attempt: the host deadline is the one
  clock that counts the client's own time) is probed again, at most
  ``reprobe_concurrency`` at once, up to ``reprobes`` times, and handed over when its
  last probe ends. A connect without an answer (``filtered``) is judged by the
  kernel's socket state (``engine/transport.py``) and needs no re-probe, so a range
  that drops SYNs does not pay twice.

Running out of file descriptors is this machine's problem, not the host's: the window
is capped below the hosts in flight at that moment and the host waits for a slot to
try again (backing off, up to :data:`LOCAL_BACKOFF_CAP`, when nothing else is in
flight). A stop request (SIGINT/SIGTERM) stops the pulling; hosts in flight get
``grace`` seconds to finish, then are cancelled and not reported; :meth:`Scanner.abort`
(a second signal) cancels them at once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from epmscan.engine.ept_map import map_host
from epmscan.engine.lookup import dump_host
from epmscan.engine.pacing import InFlightWindow, WindowControl, watch_lag
from epmscan.engine.ratelimit import RateLimiter
from epmscan.errors import LocalResourceError
from epmscan.facts.exchange import EXCHANGE_INTERFACES
from epmscan.models import HostResult, HostStatus
from epmscan.settings import ScanMode, ScanSettings
from epmscan.targets import Target, resolve_target

RETRYABLE = frozenset({HostStatus.FILTERED})
"""Statuses ``--retries`` tries again."""
TIMED_OUT = frozenset({HostStatus.FILTERED, HostStatus.TIMEOUT})
"""Statuses of hosts that ended by waiting out a deadline (no answer)."""
REPROBED = frozenset({HostStatus.TIMEOUT})
"""Statuses probed again when the engine was under pressure during the attempt."""
LOCAL_BACKOFF = 0.05
"""First wait after running out of descriptors with nothing else in flight."""
LOCAL_BACKOFF_CAP = 1.0
"""The longest such wait (it doubles from :data:`LOCAL_BACKOFF` up to this)."""


R = TypeVar("R")

HostJob = Callable[[str, str], Awaitable[R]]
"""``job(target, address) -> result``: what the scanner runs per address."""


@dataclass(slots=True)
class ScanProgress:
    """Live counters, read by the progress display (not a result type)."""

    started: int = 0
    done: int = 0
    window: InFlightWindow | None = field(default=None, repr=False)
    statuses: Counter[HostStatus] = field(default_factory=Counter)
    local_errors: int = 0
    reprobed: int = 0
    """Re-probes of hosts that timed out while the engine was under pressure."""
    interrupted: bool = False

    @property
    def in_flight(self) -> int:
        """Hosts holding a slot of the in-flight window (their job running)."""
        return self.window.in_flight if self.window is not None else 0


def default_job(settings: ScanSettings) -> HostJob[HostResult]:
    """The per-address job of ``settings.mode``: the lookup walk, or ``ept_map``."""
    network = settings.network
    if settings.mode is ScanMode.MAP:
        interfaces = tuple(EXCHANGE_INTERFACES.values())

        async def map_job(target: str, address: str) -> HostResult:
            return await map_host(target, address, interfaces, network)

        return map_job

    async def job(target: str, address: str) -> HostResult:
        return await dump_host(target, address, network)

    return job


def host_status(result: Any) -> HostStatus:
    """The status of a result: a :class:`HostResult`, or anything with one in ``.host``."""
    host = getattr(result, "host", result)
    status: HostStatus = host.status
    return status


class Scanner(Generic[R]):
    """Runs one scan. ``stop()`` and ``abort()`` may be called from a signal handler in the loop.

    ``job`` makes one result per address (default: the dump or map of ``settings.mode``);
    a result is a :class:`HostResult` or anything with one in ``.host``.
    """

    def __init__(
        self,
        settings: ScanSettings,
        on_result: Callable[[R], None],
        *,
        job: HostJob[R] | None = None,
        unresolved: Callable[[HostResult], R] | None = None,
    ) -> None:
        self.settings = settings
        self.on_result = on_result
        self.job: HostJob[R] = job or default_job(settings)  # type: ignore[assignment]
        self._unresolved = unresolved
        self.window = InFlightWindow(WindowControl(settings.concurrency, settings.pacing))
        self.progress = ScanProgress(window=self.window)
        self._stopping = asyncio.Event()
        self._aborting = asyncio.Event()
        self._finished = asyncio.Event()
        self._running = 0
        self._failure: BaseException | None = None
        self._limiter = RateLimiter(settings.max_rate) if settings.max_rate else None
        self._reprobe_slots = asyncio.Semaphore(max(1, settings.pacing.reprobe_concurrency))

    def stop(self) -> None:
        """Start no more hosts; those in flight get the grace period."""
        self.progress.interrupted = True
        self._stopping.set()

    def abort(self) -> None:
        """Stop now: hosts in flight are cancelled without waiting for the grace period."""
        self.stop()
        self._aborting.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self, targets: Iterable[Target]) -> ScanProgress:
        """Scan every target; returns the final counters."""
        iterator = iter(targets)
        self._running = max(1, self.settings.concurrency)
        workers = [asyncio.create_task(self._worker(iterator)) for _ in range(self._running)]
        watcher = asyncio.create_task(
            watch_lag(self.window, self.settings.pacing.sample_interval, clock=self.window.clock)
        )
        try:
            await _first_of(self._finished.wait(), self._stopping.wait())
            if not self._finished.is_set():
                await _first_of(
                    self._finished.wait(), self._aborting.wait(), timeout=self.settings.grace
                )
        finally:
            watcher.cancel()
            for task in workers:
                task.cancel()
            await asyncio.wait([*workers, watcher])
        if self._failure is None and not watcher.cancelled():
            self._failure = watcher.exception()
        if self._failure is not None:
            raise self._failure
        return self.progress

    async def _worker(self, targets: Iterator[Target]) -> None:
        try:
            await self._work(targets)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug: the run ends and re-raises it
            if self._failure is None:
                self._failure = exc
            self._finished.set()
        finally:
            self._running -= 1
            if self._running == 0:
                self._finished.set()

    async def _work(self, targets: Iterator[Target]) -> None:
        for target in _until_stopped(targets, self._stopping):
            if target.address is not None:
                await self._scan_address(target.spec, target.address)
                continue
            resolution = await resolve_target(
                target, timeout=self.settings.network.timeouts.resolve
            )
            if resolution.error is not None:
                failed = HostResult(
                    target=target.spec,
                    address="",
                    port=self.settings.network.port,
                    status=HostStatus.UNRESOLVED,
                    error=resolution.error,
                )
                self._report(self._unresolved(failed) if self._unresolved else failed)  # type: ignore[arg-type]
                continue
            for address in resolution.addresses:
                if self._stopping.is_set():
                    break
                await self._scan_address(target.spec, address)

    async def _scan_address(self, spec: str, address: str) -> None:
        progress = self.progress
        progress.started += 1
        result, started = await self._probe(spec, address)
        reprobes = self.settings.pacing.reprobes
        while reprobes > 0 and self._under_pressure(result, started):
            reprobes -= 1
            progress.reprobed += 1
            async with self._reprobe_slots:
                result, started = await self._probe(spec, address)
        self._report(result)

    def _under_pressure(self, result: R, started: float) -> bool:
        return host_status(result) in REPROBED and self.window.pressure_since(started)

    async def _probe(self, spec: str, address: str) -> tuple[R, float]:
        """One probe of a host (with ``--retries``); the result and when the probe began."""
        started = self.window.clock()
        result: R | None = None
        for _ in range(1 + max(0, self.settings.retries)):
            result = await self._attempt(spec, address)
            if host_status(result) not in RETRYABLE:
                break
        assert result is not None
        return result, started

    async def _attempt(self, spec: str, address: str) -> R:
        if self._limiter is not None:
            await self._limiter.acquire()
        window = self.window
        await window.acquire()
        holding = True
        backoff = LOCAL_BACKOFF
        try:
            while True:
                try:
                    result = await self.job(spec, address)
                except LocalResourceError:
                    self.progress.local_errors += 1
                    alone = window.in_flight <= 1
                    window.on_local_exhaustion()
                    holding = False
                    window.release()
                    if alone:
                        await asyncio.sleep(backoff)
                        backoff = min(2 * backoff, LOCAL_BACKOFF_CAP)
                    await window.acquire()
                    holding = True
                    continue
                window.on_done(timed_out=host_status(result) in TIMED_OUT)
                return result
        finally:
            if holding:
                window.release()

    def _report(self, result: R) -> None:
        self.progress.done += 1
        self.progress.statuses[host_status(result)] += 1
        self.on_result(result)


async def _first_of(*waits: Coroutine[Any, Any, Any], timeout: float | None = None) -> None:
    """Wait until the first of ``waits`` ends (or ``timeout``); the others are cancelled."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def _until_stopped(targets: Iterator[Target], stopping: asyncio.Event) -> Iterator[Target]:
    for target in targets:
        if stopping.is_set():
            return
        yield target
