"""``diff``: what changed between two results, or between a result and a live check.

Each host is judged against AFTER's recorded expectation (``--policy`` overrides); a
live check with no ``--policy`` checks each host against what BEFORE recorded for it,
so it probes what BEFORE probed and invents no change. The live check's ``--save`` is
the next baseline: it replaces PATH only when the check ran to its end; an interrupted
one leaves PATH as it was and the hosts it checked in ``PATH.partial``.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass, replace

from epmscan.app.check import run_check
from epmscan.app.observer import RunObserver
from epmscan.checks.diff import diff_results
from epmscan.checks.findings import rejudged
from epmscan.errors import TargetSpecError, UsageError
from epmscan.models import (
    ExchangeHostReport,
    Policy,
    ResultDiff,
    RunInfo,
    RunSummary,
    SavedRun,
    ServerGroup,
)
from epmscan.report.order import address_key
from epmscan.report.saved_results import load_saved_run
from epmscan.report.writers import PARTIAL_SUFFIX, OutputError
from epmscan.settings import CheckSettings, DiffSettings
from epmscan.targets import TargetSpace


@dataclass(frozen=True, slots=True)
class DiffOutcome:
    diff: ResultDiff
    notes: tuple[str, ...] = ()
    """What the readers could not read (a file cut short)."""
    interrupted: RunSummary | None = None
    """The live check's summary when a signal stopped it: then ``diff`` is empty (a
    partial check would show every host not yet checked as gone)."""

    @property
    def significant(self) -> bool:
        """A change the expectations care about happened (the command exits 1)."""
        return self.diff.significant


class _Collect(RunObserver[ExchangeHostReport]):
    def __init__(self) -> None:
        self.reports: list[ExchangeHostReport] = []

    def host_done(self, result: ExchangeHostReport) -> None:
        self.reports.append(result)


def live_run(settings: CheckSettings) -> tuple[SavedRun, RunSummary]:
    """A check run now, as a result to compare with (nothing written), and its summary.

    Its hosts come by address, as in a saved result: the order ``diff`` lists them in.
    """
    collected = _Collect()
    outcome = run_check(settings, collected)
    by_address = sorted(collected.reports, key=lambda r: address_key(r.host.address, r.host.target))
    saved = SavedRun(
        info=outcome.run.info,
        hosts=tuple(by_address),
        exchange_checked=True,
        source="--live",
    )
    return saved, outcome.run.summary


def recorded_policy(saved: SavedRun) -> Policy:
    """A policy holding each host to the expectation ``saved`` recorded for it."""
    groups = []
    for report in saved.hosts:
        expectation = report.expectation
        if expectation is None:
            continue
        try:
            network = ipaddress.ip_network(report.host.address)
        except ValueError:
            continue
        groups.append(
            ServerGroup(
                name=report.host.target,
                networks=(network,),
                names=(report.host.target.lower(),),
                expectation=expectation,
                specs=(report.host.target,),
            )
        )
    return Policy(groups=tuple(groups), source=f"{saved.source} (recorded expectations)")


def _scope(info: RunInfo | None) -> Callable[[ExchangeHostReport], bool | None] | None:
    """Whether a run scanned a host, from its header (None: the header cannot tell)."""
    if info is None or not (info.targets or info.input_files):
        return None
    try:
        space = TargetSpace.parse(
            info.targets,
            input_files=info.input_files,
            exclude=info.exclude,
            exclude_files=info.exclude_files,
            max_hosts=1 << 62,
        )
    except (TargetSpecError, OSError):
        return None

    def covers(report: ExchangeHostReport) -> bool | None:
        host = report.host
        name = None if host.target == host.address else host.target
        return space.covers(host.address, name)

    return covers


def _under(policy: Policy, report: ExchangeHostReport) -> ExchangeHostReport:
    """``report`` judged against ``policy`` instead of what it recorded."""
    return rejudged(report, policy.expectation_for(report.host.address, report.host.target))


def _saving_to(live: CheckSettings, path: str) -> CheckSettings:
    """``live`` with its ``--save`` going to ``path``."""
    outputs = replace(live.scan.outputs, save=path)
    return replace(live, scan=replace(live.scan, outputs=outputs))


def compare(settings: DiffSettings) -> DiffOutcome:
    """Compare BEFORE with AFTER (or with a live check); :class:`UsageError` on bad files."""
    if (settings.after is None) == (settings.live is None):
        raise UsageError("give either AFTER or --live TARGETS, not both or neither")
    before = load_saved_run(settings.before)
    if settings.after is not None:
        after = load_saved_run(settings.after)
    else:
        assert settings.live is not None
        live = settings.live
        if settings.policy is None:
            live = replace(live, policy=recorded_policy(before))
        save = live.scan.outputs.save
        if save is not None:
            live = _saving_to(live, save + PARTIAL_SUFFIX)
        after, summary = live_run(live)
        if summary.interrupted:
            return DiffOutcome(ResultDiff((), (), (), 0), before.notes, interrupted=summary)
        if save is not None:
            try:
                os.replace(save + PARTIAL_SUFFIX, save)
            except OSError as exc:
                raise OutputError(f"cannot write {save}: {exc.strerror or exc}") from None
    policy = settings.policy
    before_hosts, after_hosts = before.hosts, after.hosts
    if policy is not None:
        before_hosts = tuple(_under(policy, r) for r in before_hosts)
        after_hosts = tuple(_under(policy, r) for r in after_hosts)
    diff = diff_results(
        before_hosts,
        after_hosts,
        in_before=_scope(before.info),
        in_after=_scope(after.info),
        after_only_answered=after.info.only_answered if after.info else False,
    )
    return DiffOutcome(diff, before.notes + after.notes + _interrupted_notes(before, after))


def _interrupted_notes(*runs: SavedRun) -> tuple[str, ...]:
    """A note for each result whose run was stopped by a signal before every host."""
    notes = []
    for run in runs:
        summary = run.summary
        if summary is not None and summary.interrupted:
            notes.append(
                f"{run.source}: that run was interrupted ({summary.signal or 'stopped'}) after"
                f" {summary.done} of {summary.targets} hosts: the hosts it did not reach show"
                " as disappeared or appeared"
            )
    return tuple(notes)
