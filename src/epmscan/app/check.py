"""``check``: are the Exchange RPC ports where the firewall expects them, and do they answer?

Per host, the engine observes (:func:`~epmscan.engine.exchange.observe_exchange_host`)
and ``checks`` judges the observation against the host's expectation from the policy
(:func:`~epmscan.checks.findings.build_report`). Reports stream to the output files and
to the caller's observer; the outcome carries the worst severity seen, over every host.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from epmscan.app.observer import ObserverGroup, RunObserver
from epmscan.app.outputs import OutputFiles
from epmscan.app.running import RunOutcome, execute_run, plan_run
from epmscan.checks.findings import build_report, exit_code_for
from epmscan.engine.exchange import observe_exchange_host
from epmscan.errors import UsageError
from epmscan.models import ExchangeHostReport, HostResult, Severity
from epmscan.report.serialize import exchange_to_dict, exchange_to_json
from epmscan.report.writers import CheckCsvWriter
from epmscan.settings import CheckSettings


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """How a check ended: the run's summary, and whether a finding reached ``fail_on``."""

    run: RunOutcome
    failed: bool
    """A finding at ``fail_on`` or worse on some host."""


class _WorstFinding(RunObserver[ExchangeHostReport]):
    def __init__(self, threshold: Severity) -> None:
        self.threshold = threshold
        self.failed = False

    def host_done(self, result: ExchangeHostReport) -> None:
        if not self.failed and exit_code_for(result.findings, self.threshold):
            self.failed = True


def check_targets(settings: CheckSettings) -> CheckSettings:
    """``settings`` with the policy's servers as targets when none were given."""
    if settings.scan.targets.given:
        return settings
    servers = settings.policy.targets()
    if not servers:
        source = settings.policy.source
        if source is not None:
            raise UsageError(
                f"{source}: the policy names no servers ([[group]] with servers = [...]); "
                "add some, or give TARGETS or -iL FILE"
            )
        raise UsageError("no targets given (TARGETS..., -iL FILE, or servers in --policy)")
    targets = replace(settings.scan.targets, specs=servers)
    return replace(settings, scan=replace(settings.scan, targets=targets))


def run_check(settings: CheckSettings, observer: RunObserver[ExchangeHostReport]) -> CheckOutcome:
    """Check every target; each report goes to the files and to ``observer``.

    Raises :class:`~epmscan.errors.UsageError` (no targets, bad targets, an unwritable
    output) before anything is sent.
    """
    settings = check_targets(settings)
    scan, policy = settings.scan, settings.policy
    plan = plan_run(
        scan,
        command="check",
        sockets_per_host=scan.network.per_host,
        policy_source=policy.source,
    )
    network = plan.settings.network

    async def job(target: str, address: str) -> ExchangeHostReport:
        name = None if target == address else target
        expectation = policy.expectation_for(address, name)
        observation = await observe_exchange_host(
            target,
            address,
            network,
            mode=scan.mode,
            use_map=settings.use_map,
            required_http=expectation.require_http if expectation else (),
            default_http=settings.http_ports,
        )
        return build_report(observation.host, observation.ports, observation.http, expectation)

    def unresolved(host: HostResult) -> ExchangeHostReport:
        return build_report(host, (), (), policy.expectation_for(None, host.target))

    files: OutputFiles[ExchangeHostReport] = OutputFiles(
        scan.outputs,
        to_json=exchange_to_json,
        to_dict=exchange_to_dict,
        csv_writer=CheckCsvWriter,
    )
    worst = _WorstFinding(settings.fail_on)
    outcome = execute_run(
        plan, ObserverGroup([files, worst, observer]), job=job, unresolved=unresolved
    )
    files.raise_error()
    return CheckOutcome(outcome, worst.failed)
