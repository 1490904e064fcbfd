"""The in-flight window and the re-probe rules, with a fake clock and fake loop lag.

No sockets: the window's rules (``WindowControl``) get their time passed in, the
asyncio gate and the scanner run fake per-host jobs, and loop lag is injected as
samples (or as a clock that jumps).
"""

from __future__ import annotations

import asyncio

import pytest

from epmscan.engine.pacing import (
    CUT_HOLD,
    DEEPEST_CUT,
    InFlightWindow,
    LagSampler,
    WindowControl,
    watch_lag,
)
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


def lagging_samples(
    control: WindowControl, clock: FakeClock, lag: float, seconds: float, *, busy: float = 1.0
) -> None:
    """A loop that runs its timers ``lag`` late for ``seconds``: one sample per iteration."""
    end = clock.now + seconds
    while clock.now < end:
        control.on_lag(lag, clock.advance(PACING.sample_interval + lag), saturated=True, busy=busy)


def test_sustained_lag_cuts_the_window_in_proportion_once_per_hold() -> None:
    clock = FakeClock()
    control = WindowControl(2000, PACING)
    calm_samples(control, clock, 200, saturated=True)
    assert control.allowed == 2000
    lagging_samples(control, clock, 0.2, 0.3)  # less than the hold: at most one cut
    assert control.cuts <= 1
    lagging_samples(control, clock, 0.2, 3.0)
    # the smoothed lag climbs towards 0.2 s, four times the target: the window is cut
    # towards a quarter, by at most half per cut, a cut at most every CUT_HOLD seconds
    assert 2 <= control.cuts <= 3.3 / CUT_HOLD + 1
    assert control.allowed <= 2000 * 0.25
    assert control.allowed >= 2000 * DEEPEST_CUT**control.cuts


def test_a_single_late_timer_is_not_a_trend() -> None:
    clock = FakeClock()
    control = WindowControl(2000, PACING)
    calm_samples(control, clock, 200, saturated=True)
    control.on_lag(0.15, clock.advance(0.17), saturated=True)  # one burst of timeouts
    calm_samples(control, clock, 100, saturated=True)
    assert control.cuts == 0
    assert control.allowed == 2000


def test_the_window_never_shrinks_below_the_floor() -> None:
    clock = FakeClock()
    control = WindowControl(2000, PACING)
    lagging_samples(control, clock, 1.0, 60.0)
    assert control.allowed == PACING.floor


def test_after_a_cut_the_window_grows_slower_than_in_slow_start() -> None:
    clock = FakeClock()
    fresh = WindowControl(5000, PACING)
    cut = WindowControl(5000, PACING)
    lagging_samples(cut, clock, 0.3, 1.5)
    assert cut.cuts >= 1
    calm_samples(cut, clock, 200, saturated=True)  # the lag is forgotten, the hold over
    cut.limit = fresh.limit = 400.0
    calm_samples(fresh, clock, 10, saturated=True)
    calm_samples(cut, clock, 10, saturated=True)
    assert 400 < cut.allowed < fresh.allowed


def test_slow_start_stops_as_soon_as_one_sample_shows_load() -> None:
    clock = FakeClock()
    control = WindowControl(2000, PACING)
    for _ in range(50):
        control.on_lag(0.03, clock.advance(0.05), saturated=True)  # above half the target
    assert control.allowed == PACING.initial
    assert control.cuts == 0


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


def test_a_lag_sample_is_how_late_the_timer_ran_and_the_loops_share_of_the_cpu() -> None:
    sampler = LagSampler(wall=10.0, cpu=5.0)
    # due at 10.02, ran at 10.5: 0.48 s late; 0.25 s of CPU in 0.5 s of wall time
    assert sampler.sample(10.02, 10.5, 5.25) == pytest.approx((0.48, 0.5))
    # on time, and the thread never ran (descheduled): no lag, not busy
    assert sampler.sample(10.52, 10.52, 5.25) == pytest.approx((0.0, 0.0))
    assert sampler.sample(10.5, 10.6, 5.4) == pytest.approx((0.1, 1.0))


def test_lag_while_others_have_the_cpu_does_not_shrink_the_window_but_is_pressure() -> None:
    clock = FakeClock()
    control = WindowControl(2000, PACING)
    calm_samples(control, clock, 200, saturated=True)
    started = clock.now
    for _ in range(20):
        control.on_lag(0.3, clock.advance(0.5), saturated=True, busy=0.05)
    assert control.allowed == 2000
    assert control.pressure_since(started)
    control.on_lag(0.3, clock.advance(0.5), saturated=True, busy=0.9)
    assert control.allowed < 2000


def test_watch_lag_feeds_the_window_with_samples() -> None:
    samples: list[tuple[float, float]] = []

    class Recorder(InFlightWindow):
        def on_lag(self, lag: float, busy: float = 1.0) -> None:
            samples.append((lag, busy))

    async def main() -> None:
        window = Recorder(WindowControl(10, PACING))
        task = asyncio.create_task(watch_lag(window, 0.001))
        while len(samples) < 3:
            await asyncio.sleep(0.005)
        task.cancel()

    asyncio.run(main())
    assert all(lag >= 0 and 0 <= busy <= 1 for lag, busy in samples)


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


def test_a_bug_in_a_job_ends_the_run_with_its_exception() -> None:
    async def job(target: str, address: str) -> HostResult:
        if address.endswith(".7"):
            raise RuntimeError("bug")
        await asyncio.sleep(0.001)
        return host(address, HostStatus.OK)

    seen: list[HostResult] = []
    with pytest.raises(RuntimeError, match="bug"):
        asyncio.run(
            Scanner(ScanSettings(concurrency=4), seen.append, job=job).run(iter(targets(50)))
        )
    assert len(seen) < 50


def test_lag_from_hosts_that_time_out_does_not_shrink_the_window() -> None:
    # A filtered range: hosts end by their deadline, paced by the connect timeout;
    # fewer in flight would only scan it slower. The lag is still pressure.
    clock = FakeClock()
    control = WindowControl(5000, PACING)
    calm_samples(control, clock, 200, saturated=True)
    for _ in range(2000):
        control.on_done(timed_out=True)
    started = clock.now
    lagging_samples(control, clock, 0.3, 5.0)
    assert control.cuts == 0
    assert control.allowed == 5000
    assert control.pressure_since(started)
    for _ in range(2000):
        control.on_done(timed_out=False)  # now answers (resets) come in instead
    lagging_samples(control, clock, 0.3, 2.0)
    assert control.cuts >= 1
    assert control.allowed < 5000


def test_the_scanner_tells_the_window_how_hosts_ended() -> None:
    def share_after(status: HostStatus) -> float:
        async def job(target: str, address: str) -> HostResult:
            return host(address, status)

        async def main() -> float:
            scanner = Scanner(ScanSettings(concurrency=4), lambda r: None, job=job)
            await scanner.run(iter(targets(400)))
            return scanner.window.control.answered_share

        return asyncio.run(main())

    assert share_after(HostStatus.FILTERED) < 0.2
    assert share_after(HostStatus.TIMEOUT) < 0.2
    assert share_after(HostStatus.CLOSED) == 1.0
