"""Running a job over many hosts: targets, file limits, signals, the observer's calls.

``scan`` and ``check`` differ only in the per-host job and what they record; this is
the rest of a run, shared. Usage errors (bad targets, a shard without a seed) are raised
as :class:`~epmscan.errors.UsageError` before anything is sent. SIGINT and SIGTERM stop
the run: no new host starts, hosts in flight get the grace period, every host already
done has been handed to the observer, and the summary says so. A second signal stops at
once: the hosts in flight are cancelled (not reported) and the summary is written.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TypeVar

from epmscan.app.observer import RunObserver, RunStart
from epmscan.engine.limits import ensure_fd_budget
from epmscan.engine.loop import run
from epmscan.engine.scanner import HostJob, Scanner, ScanProgress
from epmscan.errors import UsageError
from epmscan.models import HostResult, HostStatus, RunInfo, RunSummary
from epmscan.report.text import utc_timestamp
from epmscan.settings import ScanSettings
from epmscan.targets import Target, TargetSpace, new_seed
from epmscan.targets.unscannable import skipped_note

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How a run ended, for the caller's exit code and closing line."""

    summary: RunSummary
    info: RunInfo

    @property
    def signal(self) -> str | None:
        """``SIGINT`` or ``SIGTERM`` when a signal stopped the run."""
        return self.summary.signal


def target_space(settings: ScanSettings) -> TargetSpace:
    """The scan's targets, parsed (:class:`~epmscan.errors.TargetSpecError` when bad)."""
    targets = settings.targets
    return TargetSpace.parse(
        targets.specs,
        input_files=targets.input_files,
        exclude=targets.exclude,
        exclude_files=targets.exclude_files,
        max_hosts=targets.max_hosts,
    )


@dataclass(frozen=True, slots=True)
class RunPlan:
    """A run ready to go: targets parsed, order seeded, concurrency fitted to the limits."""

    settings: ScanSettings
    space: TargetSpace
    total: int
    info: RunInfo
    warning: str | None = None
    """Why the concurrency was lowered (the open-file limit), if it was."""
    notes: tuple[str, ...] = ()
    """What the targets lost on the way (addresses no scan connects to)."""


def plan_run(
    settings: ScanSettings,
    *,
    command: str,
    sockets_per_host: int = 1,
    policy_source: str | None = None,
) -> RunPlan:
    """Check and parse everything a run needs; :class:`UsageError` before anything is sent."""
    targets = settings.targets
    if targets.shard != (1, 1) and targets.seed is None:
        raise UsageError(
            "--shard needs --seed: every machine must walk the same order (any number, the "
            "same on all of them)"
        )
    space = target_space(settings)
    if space.total == 0:
        raise UsageError(_nothing_to_scan(settings, space))
    total = space.shard_total(targets.shard)
    budget = ensure_fd_budget(settings.concurrency, sockets_per_task=sockets_per_host)
    settings = replace(settings, concurrency=min(budget.usable_concurrency, max(1, total)))
    info = RunInfo(
        command=command,
        targets=targets.specs,
        port=settings.network.port,
        mode=settings.mode.value,
        seed=targets.seed if targets.seed is not None else new_seed(),
        shard=f"{targets.shard[0]}/{targets.shard[1]}",
        started=utc_timestamp(),
        policy=policy_source,
        input_files=targets.input_files,
        exclude=targets.exclude,
        exclude_files=targets.exclude_files,
        only_answered=settings.outputs.only_answered,
    )
    notes = (skipped_note(space.skipped),) if space.skipped else ()
    return RunPlan(settings, space, total, info, budget.warning, notes)


def _nothing_to_scan(settings: ScanSettings, space: TargetSpace) -> str:
    """Why a run has no host to scan, naming what emptied it."""
    targets = settings.targets
    if space.skipped:
        return (
            "no hosts to scan: every target is an address no scan can reach "
            "(unspecified 0.0.0.0 or ::, or multicast)"
        )
    if targets.exclude or targets.exclude_files:
        return "no hosts to scan: --exclude/--exclude-file leave none of the targets"
    if targets.input_files and not targets.specs:
        files = ", ".join(str(f) for f in targets.input_files)
        return f"no hosts to scan: {files} holds no targets (blank lines and # comments only)"
    return "no hosts to scan"


def execute_run(
    plan: RunPlan,
    observer: RunObserver[R],
    *,
    job: HostJob[R] | None = None,
    unresolved: Callable[[HostResult], R] | None = None,
) -> RunOutcome:
    """Run ``job`` (default: the scan of the settings' mode) over every planned target."""
    settings, total = plan.settings, plan.total
    if plan.warning:
        observer.warning(plan.warning)
    for note in plan.notes:
        observer.warning(note)
    state = _RunState()

    async def main() -> None:
        scanner: Scanner[R] = Scanner(settings, observer.host_done, job=job, unresolved=unresolved)
        state.progress = scanner.progress
        loop = asyncio.get_running_loop()

        def on_signal(name: str) -> None:
            if state.signal is None:
                state.signal = name
                scanner.stop()
            else:
                scanner.abort()

        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, on_signal, signal.Signals(signum).name)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        order: Iterable[Target] = plan.space.iter_targets(
            plan.info.seed, shard=settings.targets.shard
        )
        started = loop.time()
        observer.run_started(RunStart(plan.info, total, scanner.progress, scanner.stop))
        try:
            await scanner.run(order)
        finally:
            state.elapsed = loop.time() - started
            state.finished = True
            observer.run_finished(state.summary(total, settings, plan.info))

    try:
        run(main())
    finally:
        if not state.finished:
            observer.run_finished(state.summary(total, settings, plan.info))
    return RunOutcome(state.summary(total, settings, plan.info), plan.info)


@dataclass
class _RunState:
    progress: ScanProgress | None = None
    signal: str | None = None
    elapsed: float = 0.0
    finished: bool = False

    def summary(self, total: int, settings: ScanSettings, info: RunInfo) -> RunSummary:
        progress = self.progress or ScanProgress()
        return RunSummary(
            targets=total,
            done=progress.done,
            interrupted=progress.interrupted,
            signal=self.signal,
            elapsed=self.elapsed,
            statuses=tuple((status, progress.statuses.get(status, 0)) for status in HostStatus),
            port=settings.network.port,
            mode=settings.mode.value,
            local_errors=progress.local_errors,
            seed=info.seed,
            shard=info.shard,
        )
