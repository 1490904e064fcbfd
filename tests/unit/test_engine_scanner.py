"""The scanner's worker pool with fake per-host jobs: bounds, order, stop, retries."""

from __future__ import annotations

import asyncio
import errno

import pytest

from epmscan.engine.ratelimit import RateLimiter
from epmscan.engine.scanner import Scanner
from epmscan.engine.transport import translate_os_error
from epmscan.errors import (
    ConnectionClosedError,
    ConnectRefusedError,
    ConnectTimeoutError,
    HostUnreachableError,
    LocalResourceError,
)
from epmscan.models import HostResult, HostStatus
from epmscan.settings import ScanSettings
from epmscan.targets import Target
from tests.support.offline import run_offline


def targets(n: int) -> list[Target]:
    return [Target(f"10.0.0.{i}", f"10.0.0.{i}") for i in range(n)]


def result(target: str, address: str, status: HostStatus = HostStatus.OK) -> HostResult:
    return HostResult(target=target, address=address, port=135, status=status)


def test_every_target_gets_exactly_one_result_and_concurrency_is_bounded() -> None:
    in_flight = 0
    peak = 0
    seen: list[HostResult] = []

    async def job(target: str, address: str) -> HostResult:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001 * (hash(address) % 5))
        in_flight -= 1
        return result(target, address)

    async def main() -> None:
        scanner = Scanner(ScanSettings(concurrency=7), seen.append, job=job)
        progress = await scanner.run(iter(targets(100)))
        assert progress.done == 100
        assert progress.statuses[HostStatus.OK] == 100
        assert progress.in_flight == 0

    asyncio.run(main())
    assert peak == 7
    assert sorted(r.address for r in seen) == sorted(t.address for t in targets(100))


def test_targets_are_pulled_lazily() -> None:
    pulled = 0

    def stream():  # an endless target stream: must not be materialised
        nonlocal pulled
        i = 0
        while True:
            pulled += 1
            yield Target(str(i), f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
            i += 1

    async def main() -> None:
        done = 0
        scanner: Scanner[HostResult]

        def on_result(r: HostResult) -> None:
            nonlocal done
            done += 1
            if done == 50:
                scanner.stop()

        async def job(target: str, address: str) -> HostResult:
            await asyncio.sleep(0)
            return result(target, address)

        scanner = Scanner(ScanSettings(concurrency=4, grace=1.0), on_result, job=job)
        await scanner.run(stream())
        assert scanner.progress.interrupted

    asyncio.run(main())
    assert 50 <= pulled < 60


def test_stop_cancels_hosts_that_outlive_the_grace_period() -> None:
    seen: list[HostResult] = []

    async def job(target: str, address: str) -> HostResult:
        if address.endswith(".3"):
            await asyncio.sleep(60)
        return result(target, address)

    async def main() -> None:
        scanner = Scanner(ScanSettings(concurrency=4, grace=0.2), seen.append, job=job)
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, scanner.stop)
        started = loop.time()
        await scanner.run(iter(targets(4)))
        return loop.time() - started

    elapsed = asyncio.run(main())
    assert elapsed < 5
    assert sorted(r.address for r in seen) == ["10.0.0.0", "10.0.0.1", "10.0.0.2"]


def test_filtered_hosts_are_retried_and_other_statuses_are_not() -> None:
    calls: dict[str, int] = {}

    async def job(target: str, address: str) -> HostResult:
        calls[address] = calls.get(address, 0) + 1
        if address == "10.0.0.1":
            return result(target, address, HostStatus.FILTERED)
        if address == "10.0.0.2" and calls[address] == 1:
            return result(target, address, HostStatus.FILTERED)
        return result(target, address, HostStatus.CLOSED)

    seen: list[HostResult] = []
    asyncio.run(Scanner(ScanSettings(retries=2), seen.append, job=job).run(iter(targets(3))))
    assert calls == {"10.0.0.0": 1, "10.0.0.1": 3, "10.0.0.2": 2}
    by_address = {r.address: r.status for r in seen}
    assert by_address == {
        "10.0.0.0": HostStatus.CLOSED,
        "10.0.0.1": HostStatus.FILTERED,
        "10.0.0.2": HostStatus.CLOSED,
    }


def test_running_out_of_descriptors_is_retried_not_reported() -> None:
    attempts = 0

    async def job(target: str, address: str) -> HostResult:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise LocalResourceError("local resource exhausted: too many open files")
        return result(target, address)

    seen: list[HostResult] = []

    async def main() -> int:
        scanner = Scanner(ScanSettings(concurrency=1), seen.append, job=job)
        await scanner.run(iter(targets(1)))
        return scanner.progress.local_errors

    assert asyncio.run(main()) == 2
    assert [r.status for r in seen] == [HostStatus.OK]


def test_unresolved_names_are_results() -> None:
    seen: list[HostResult] = []

    async def job(target: str, address: str) -> HostResult:
        raise AssertionError("no address to scan")

    run_offline(
        Scanner(ScanSettings(), seen.append, job=job).run(
            iter([Target("nothing.invalid", None, "nothing.invalid")])
        )
    )
    assert [(r.target, r.status) for r in seen] == [("nothing.invalid", HostStatus.UNRESOLVED)]
    assert seen[0].error


def test_rate_limiter_spaces_acquisitions() -> None:
    async def main() -> list[float]:
        limiter = RateLimiter(200.0)
        loop = asyncio.get_running_loop()
        stamps = []
        for _ in range(11):
            await limiter.acquire()
            stamps.append(loop.time())
        return stamps

    stamps = asyncio.run(main())
    # 11 acquisitions at 200/s span at least 10 intervals of 5 ms.
    assert stamps[-1] - stamps[0] >= 10 * 0.005 * 0.95


def test_rate_limiter_refuses_a_non_positive_rate() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0)


@pytest.mark.parametrize(
    ("exc", "connecting", "expected"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), True, ConnectRefusedError),
        (OSError(errno.EHOSTUNREACH, "No route to host"), True, HostUnreachableError),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), True, HostUnreachableError),
        (OSError(errno.EMFILE, "Too many open files"), True, LocalResourceError),
        (OSError(errno.ETIMEDOUT, "timed out"), True, ConnectTimeoutError),
        (ConnectionResetError(errno.ECONNRESET, "reset"), False, ConnectionClosedError),
    ],
)
def test_os_errors_are_translated_at_the_edge(
    exc: OSError, connecting: bool, expected: type[Exception]
) -> None:
    assert isinstance(translate_os_error(exc, connecting=connecting), expected)
