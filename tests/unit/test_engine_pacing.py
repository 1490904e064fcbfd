"""The in-flight window and the re-probe rules, with a fake clock and fake loop lag.

No sockets: the window's rules (``WindowControl``) get their time passed in, the
asyncio gate and the scanner run fake per-host jobs, and loop lag is injected as
samples (or as a clock that jumps).
"""

from __future__ import annotations

import asyncio

import pytest

from epmscan.engine.pacing import InFlightWindow, WindowControl, watch_lag
from epmscan.engine.scanner import Scanner
from epmscan.errors import LocalResourceError
from epmscan.models import HostResult, HostStatus
from epmscan.settings import PacingSettings, ScanSettings
from epmscan.targets import Target

PACING = PacingSettings(
    initial=100, floor=10, lag_target=0.05, pressure_lag=0.25, sample_interval=0.02
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def calm_samples(control: WindowControl, clock: FakeClock, n: int, *, saturated: bool) -> None:
    for _ in range(n):
        control.on_lag(0.0, clock.advance(PACING.sample_interval), saturated=saturated)


def test_the_window_starts_at_initial_and_grows_to_the_ceiling_while_calm_and_wanted() -> None:
    clock = FakeClock()
    control = WindowControl(2000, PACING)
    assert control.allowed == 100
    calm_samples(control, clock, 5, saturated=True)
    assert 100 < control.allowed < 2000
    calm_samples(control, clock, 200, saturated=True)
    assert control.allowed == 2000


def test_the_window_does_not_grow_when_no_worker_waits_for_a_slot() -> None:
    clock = FakeClock()
    control = WindowControl(2000, PACING)
    calm_samples(control, clock, 100, saturated=False)
    assert control.allowed == 100


def test_lag_cuts_the_window_once_per_hold_and_never_below_the_floor() -> None:
    clock = FakeClock()
    control = WindowControl(2000, PACING)
    calm_samples(control, clock, 200, saturated=True)
    control.on_lag(0.3, clock.advance(0.02), saturated=True)
    after_first = control.allowed
    assert after_first < 2000
    # A second late sample within the hold (the first cut not yet seen) does not cut again.
    control.on_lag(0.3, clock.advance(0.02), saturated=True)
    assert control.allowed == after_first
    control.on_lag(0.3, clock.advance(0.5), saturated=True)
    assert control.allowed < after_first
    for _ in range(100):
        control.on_lag(1.0, clock.advance(1.1), saturated=True)
    assert control.allowed == PACING.floor
    assert control.cuts > 2


def test_after_a_cut_the_window_grows_slower_than_in_slow_start() -> None:
    clock = FakeClock()
    fresh = WindowControl(5000, PACING)
    cut = WindowControl(5000, PACING)
    cut.limit = fresh.limit = 400.0
    cut.on_lag(0.3, clock.advance(0.02), saturated=True)
    cut.limit = 400.0
    clock.advance(1.0)
    calm_samples(fresh, clock, 10, saturated=True)
    calm_samples(cut, clock, 10, saturated=True)
    assert 400 < cut.allowed < fresh.allowed


def test_lag_below_the_target_does_not_cut() -> None:
    clock = FakeClock()
    control = WindowControl(300, PACING)
    calm_samples(control, clock, 50, saturated=True)
    for _ in range(50):
        control.on_lag(0.04, clock.advance(0.02), saturated=True)
    assert control.allowed == 300
    assert control.cuts == 0


def test_a_fixed_window_stays_at_the_ceiling_but_still_sees_pressure() -> None:
    clock = FakeClock()
    control = WindowControl(2000, PacingSettings(adaptive=False))
    assert control.allowed == 2000
    control.on_lag(1.0, clock.advance(0.02), saturated=True)
    assert control.allowed == 2000
    assert control.pressure_since(clock.now - 0.5)


def test_pressure_is_remembered_from_the_time_it_was_seen() -> None:
    clock = FakeClock()
    control = WindowControl(1000, PACING)
    before = clock.now
    control.on_lag(0.1, clock.advance(1), saturated=False)  # above the target, not pressure
    assert not control.pressure_since(before)
    control.on_lag(0.3, clock.advance(1), saturated=False)
    seen = clock.now
    assert control.pressure_since(before)
    assert control.pressure_since(seen)
    assert not control.pressure_since(clock.advance(0.001))


def test_running_out_of_descriptors_caps_the_window_for_good() -> None:
    clock = FakeClock()
    control = WindowControl(2000, PACING)
    calm_samples(control, clock, 200, saturated=True)
    control.on_local_exhaustion(240, clock.now)
    assert control.fd_cap is not None and control.fd_cap < 240
    assert control.allowed <= control.fd_cap
    calm_samples(control, clock, 500, saturated=True)
    assert control.allowed == control.fd_cap
    control.on_local_exhaustion(1, clock.now)
    assert control.allowed == 1


# --- the asyncio gate -------------------------------------------------------------------


def test_the_gate_admits_in_order_and_a_cancelled_waiter_keeps_no_slot() -> None:
    async def main() -> None:
        window = InFlightWindow(WindowControl(2, PacingSettings(adaptive=False)))
        await window.acquire()
        await window.acquire()
        order: list[str] = []

        async def wait(name: str) -> None:
            await window.acquire()
            order.append(name)

        first = asyncio.create_task(wait("first"))
        cancelled = asyncio.create_task(wait("cancelled"))
        last = asyncio.create_task(wait("last"))
        await asyncio.sleep(0)
        assert window.waiting == 3
        cancelled.cancel()
        window.release()
        window.release()
        await asyncio.gather(first, last)
        assert order == ["first", "last"]
        assert window.in_flight == 2
        assert window.waiting == 0

    asyncio.run(main())


def test_growth_hands_out_slots_to_waiters() -> None:
    async def main() -> None:
        clock = FakeClock()
        window = InFlightWindow(WindowControl(50, PACING), clock=clock)
        window.control.limit = 1.0
        await window.acquire()
        waiters = [asyncio.create_task(window.acquire()) for _ in range(5)]
        await asyncio.sleep(0)
        for _ in range(10):
            clock.advance(0.02)
            window.on_lag(0.0)
        await asyncio.gather(*waiters)
        assert window.in_flight == 6

    asyncio.run(main())


def test_watch_lag_measures_how_late_the_loop_runs_a_timer() -> None:
    samples: list[float] = []

    class Recorder(InFlightWindow):
        def on_lag(self, lag: float) -> None:
            samples.append(lag)

    class JumpingClock:
        """Real intervals, but every other reading is 0.4 s later: a loop that lagged."""

        def __init__(self) -> None:
            self.calls = 0
            self.base = 0.0

        def __call__(self) -> float:
            self.calls += 1
            self.base += 0.001
            return self.base + (0.4 if self.calls % 2 == 0 else 0.0)

    async def main() -> None:
        window = Recorder(WindowControl(10, PACING))
        task = asyncio.create_task(watch_lag(window, 0.001, clock=JumpingClock()))
        while len(samples) < 3:
            await asyncio.sleep(0.005)
        task.cancel()

    asyncio.run(main())
    assert all(sample == pytest.approx(0.4, abs=0.01) for sample in samples[:3])


# --- the scanner: re-probes and descriptors -----------------------------------------------


def targets(n: int) -> list[Target]:
    return [Target(f"10.0.{i >> 8}.{i & 255}", f"10.0.{i >> 8}.{i & 255}") for i in range(n)]


def host(address: str, status: HostStatus) -> HostResult:
    return HostResult(target=address, address=address, port=135, status=status)


def test_a_timeout_under_pressure_is_probed_again_and_reported_once() -> None:
    calls: dict[str, int] = {}
    seen: list[HostResult] = []
    scanner: Scanner[HostResult]

    async def job(target: str, address: str) -> HostResult:
        calls[address] = calls.get(address, 0) + 1
        if address == "10.0.0.1" and calls[address] == 1:
            scanner.window.control.on_lag(1.0, scanner.window.clock(), saturated=False)
            return host(address, HostStatus.TIMEOUT)
        return host(address, HostStatus.OK)

    async def main() -> None:
        nonlocal scanner
        scanner = Scanner(ScanSettings(concurrency=4), seen.append, job=job)
        await scanner.run(iter(targets(3)))

    asyncio.run(main())
    assert calls["10.0.0.1"] == 2
    assert [(r.address, r.status) for r in seen if r.address == "10.0.0.1"] == [
        ("10.0.0.1", HostStatus.OK)
    ]
    assert len(seen) == 3
    assert scanner.progress.reprobed == 1


def test_timeouts_without_pressure_and_filtered_hosts_are_not_probed_again() -> None:
    calls: dict[str, int] = {}
    seen: list[HostResult] = []

    def scan(address: str, status: HostStatus, *, pressure: bool) -> None:
        scanner: Scanner[HostResult]

        async def job(target: str, address: str) -> HostResult:
            calls[address] = calls.get(address, 0) + 1
            if pressure:
                scanner.window.control.on_lag(1.0, scanner.window.clock(), saturated=False)
            return host(address, status)

        async def main() -> None:
            nonlocal scanner
            scanner = Scanner(ScanSettings(concurrency=1), seen.append, job=job)
            await scanner.run(iter([Target(address, address)]))

        asyncio.run(main())

    scan("10.0.0.0", HostStatus.TIMEOUT, pressure=False)
    # the loop lags while this host's connect goes unanswered: the kernel judged it, so
    # there is no second probe (a range that drops SYNs does not pay twice)
    scan("10.0.0.1", HostStatus.FILTERED, pressure=True)
    scan("10.0.0.2", HostStatus.CLOSED, pressure=True)
    assert calls == {"10.0.0.0": 1, "10.0.0.1": 1, "10.0.0.2": 1}
    assert [r.status for r in seen] == [HostStatus.TIMEOUT, HostStatus.FILTERED, HostStatus.CLOSED]


def test_re_probes_stop_after_the_configured_number() -> None:
    calls = 0
    seen: list[HostResult] = []
    scanner: Scanner[HostResult]

    async def job(target: str, address: str) -> HostResult:
        nonlocal calls
        calls += 1
        scanner.window.control.on_lag(1.0, scanner.window.clock(), saturated=False)
        return host(address, HostStatus.TIMEOUT)

    async def main() -> None:
        nonlocal scanner
        settings = ScanSettings(concurrency=2, pacing=PacingSettings(reprobes=2))
        scanner = Scanner(settings, seen.append, job=job)
        await scanner.run(iter(targets(1)))

    asyncio.run(main())
    assert calls == 3
    assert [r.status for r in seen] == [HostStatus.TIMEOUT]


def test_retries_keep_their_meaning_beside_re_probes() -> None:
    calls = 0

    async def job(target: str, address: str) -> HostResult:
        nonlocal calls
        calls += 1
        return host(address, HostStatus.FILTERED)

    seen: list[HostResult] = []
    asyncio.run(Scanner(ScanSettings(retries=2), seen.append, job=job).run(iter(targets(1))))
    assert calls == 3
    assert [r.status for r in seen] == [HostStatus.FILTERED]


def test_an_open_file_limit_shrinks_the_window_and_every_host_is_still_scanned_once() -> None:
    limit = 40
    open_now = 0
    attempts = 0
    seen: list[HostResult] = []
    scanner: Scanner[HostResult]

    async def job(target: str, address: str) -> HostResult:
        nonlocal open_now, attempts
        attempts += 1
        if open_now >= limit:
            raise LocalResourceError("local resource exhausted: too many open files")
        open_now += 1
        try:
            await asyncio.sleep(0.002)
        finally:
            open_now -= 1
        return host(address, HostStatus.OK)

    async def main() -> None:
        nonlocal scanner
        scanner = Scanner(ScanSettings(concurrency=500), seen.append, job=job)
        await scanner.run(iter(targets(2000)))

    asyncio.run(main())
    assert sorted(r.address for r in seen) == sorted(t.spec for t in targets(2000))
    assert all(r.status is HostStatus.OK for r in seen)
    cap = scanner.window.control.fd_cap
    assert cap is not None and cap <= limit
    assert scanner.progress.local_errors >= 1
    # The window adapted: failed attempts are a small fraction, not a spin.
    assert attempts - 2000 == scanner.progress.local_errors < 2000


def test_a_lone_host_out_of_descriptors_backs_off_instead_of_spinning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attempts = 0
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def recorded_sleep(delay: float, result: object = None) -> object:
        waits.append(delay)
        return await real_sleep(min(delay, 0.001), result)

    async def job(target: str, address: str) -> HostResult:
        nonlocal attempts
        attempts += 1
        if attempts <= 7:
            raise LocalResourceError("local resource exhausted: too many open files")
        return host(address, HostStatus.OK)

    seen: list[HostResult] = []
    monkeypatch.setattr(asyncio, "sleep", recorded_sleep)
    settings = ScanSettings(concurrency=8, pacing=PacingSettings(sample_interval=0.02))
    asyncio.run(Scanner(settings, seen.append, job=job).run(iter(targets(1))))
    assert [r.status for r in seen] == [HostStatus.OK]
    assert attempts == 8
    # Every failure waited before the next try, doubling up to the cap.
    assert [w for w in waits if w != 0.02] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
