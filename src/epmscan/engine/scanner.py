"""Many hosts at once: a fixed pool of workers fed from a streaming target iterator.

The target iterator is pulled lazily (never materialised). ``concurrency`` workers
each take the next target, wait for the rate limiter, run the per-host job (a dump or
an ``ept_map``) and hand the :class:`HostResult` to ``on_result`` at once, so that
writers can flush it. A stop request (SIGINT/SIGTERM) stops the pulling; hosts in
flight get ``grace`` seconds to finish, then are cancelled and not reported.
Running out of file descriptors is this machine's problem, not the host's: the
worker backs off and tries the same host again.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from epmscan.engine.ept_map import map_host
from epmscan.engine.lookup import dump_host
from epmscan.engine.ratelimit import RateLimiter
from epmscan.errors import LocalResourceError
from epmscan.facts.exchange import EXCHANGE_INTERFACES
from epmscan.models import HostResult, HostStatus
from epmscan.settings import ScanMode, ScanSettings
from epmscan.targets import Target, resolve_target

RETRYABLE = frozenset({HostStatus.FILTERED})
LOCAL_BACKOFF = 0.05


R = TypeVar("R")

HostJob = Callable[[str, str], Awaitable[R]]
"""``job(target, address) -> result``: what the scanner runs per address."""


@dataclass(slots=True)
class ScanProgress:
    """Live counters, read by the progress display (not a result type)."""

    started: int = 0
    done: int = 0
    in_flight: int = 0
    statuses: Counter[HostStatus] = field(default_factory=Counter)
    local_errors: int = 0
    interrupted: bool = False


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
    """Runs one scan. ``stop()`` may be called from a signal handler in the loop.

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
        self.progress = ScanProgress()
        self._stopping = asyncio.Event()
        self._limiter = RateLimiter(settings.max_rate) if settings.max_rate else None

    def stop(self) -> None:
        """Start no more hosts; those in flight get the grace period."""
        self.progress.interrupted = True
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self, targets: Iterable[Target]) -> ScanProgress:
        """Scan every target; returns the final counters."""
        iterator = iter(targets)
        workers = [
            asyncio.create_task(self._worker(iterator))
            for _ in range(max(1, self.settings.concurrency))
        ]
        stop_wait = asyncio.create_task(self._stopping.wait())
        try:
            all_done: asyncio.Future[Any] = asyncio.gather(*workers)
            either: list[asyncio.Future[Any]] = [all_done, stop_wait]
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not all_done.done():
                _, pending = await asyncio.wait(workers, timeout=self.settings.grace)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
            else:
                all_done.result()
        finally:
            stop_wait.cancel()
            for task in workers:
                task.cancel()
        return self.progress

    async def _worker(self, targets: Iterator[Target]) -> None:
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
        progress.in_flight += 1
        try:
            attempts = 1 + max(0, self.settings.retries)
            result: R | None = None
            for _ in range(attempts):
                result = await self._attempt(spec, address)
                if host_status(result) not in RETRYABLE:
                    break
            assert result is not None
        finally:
            progress.in_flight -= 1
        self._report(result)

    async def _attempt(self, spec: str, address: str) -> R:
        while True:
            if self._limiter is not None:
                await self._limiter.acquire()
            try:
                return await self.job(spec, address)
            except LocalResourceError:
                self.progress.local_errors += 1
                await asyncio.sleep(LOCAL_BACKOFF)

    def _report(self, result: R) -> None:
        self.progress.done += 1
        self.progress.statuses[host_status(result)] += 1
        self.on_result(result)


def _until_stopped(targets: Iterator[Target], stopping: asyncio.Event) -> Iterator[Target]:
    for target in targets:
        if stopping.is_set():
            return
        yield target
