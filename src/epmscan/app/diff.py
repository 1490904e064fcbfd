"""``diff``: what changed between two results, or between a result and a live check."""

from __future__ import annotations

from dataclasses import dataclass

from epmscan.app.check import run_check
from epmscan.app.observer import RunObserver
from epmscan.checks.diff import diff_exit_code, diff_results
from epmscan.errors import UsageError
from epmscan.models import ExchangeHostReport, ResultDiff, SavedRun
from epmscan.report.saved_results import load_saved_run
from epmscan.settings import CheckSettings, DiffSettings


@dataclass(frozen=True, slots=True)
class DiffOutcome:
    diff: ResultDiff
    significant: bool
    """A change the policy cares about happened (the command exits 1)."""


class _Collect(RunObserver[ExchangeHostReport]):
    def __init__(self) -> None:
        self.reports: list[ExchangeHostReport] = []

    def host_done(self, result: ExchangeHostReport) -> None:
        self.reports.append(result)


def live_run(settings: CheckSettings) -> SavedRun:
    """A check run now, as a result to compare with (nothing written)."""
    collected = _Collect()
    run_check(settings, collected)
    return SavedRun(
        info=None, hosts=tuple(collected.reports), exchange_checked=True, source="--live"
    )


def compare(settings: DiffSettings) -> DiffOutcome:
    """Compare BEFORE with AFTER (or with a live check); :class:`UsageError` on bad files."""
    if (settings.after is None) == (settings.live is None):
        raise UsageError("give either AFTER or --live TARGETS, not both or neither")
    before = load_saved_run(settings.before)
    if settings.after is not None:
        after = load_saved_run(settings.after)
    else:
        assert settings.live is not None
        after = live_run(settings.live)
    diff = diff_results(before.hosts, after.hosts)
    return DiffOutcome(diff, bool(diff_exit_code(diff, settings.policy)))
