"""``firewall``: the exact rules to open for the Exchange servers of a saved result.

Each server is judged by the expectation the result recorded for it (``check --save``
with ``--expect``/``--policy``), or by the one given to ``firewall`` itself; a plain
scan's Exchange ports come from its dump alone. Servers that cannot get rules are
listed with why (:attr:`FirewallOutcome.plan`'s ``left_out``).
"""

from __future__ import annotations

from dataclasses import dataclass

from epmscan.checks.findings import build_report, rejudged
from epmscan.checks.firewall import plan_rules
from epmscan.facts.exchange import resolved_ports
from epmscan.models import ExchangeHostReport, SavedRun
from epmscan.models.firewall import FirewallPlan
from epmscan.report.firewall_rules import render_rules
from epmscan.report.order import address_key
from epmscan.report.saved_results import load_saved_run
from epmscan.settings import FirewallSettings


@dataclass(frozen=True, slots=True)
class FirewallOutcome:
    text: str
    """The rules (empty when no server could get any)."""
    plan: FirewallPlan
    notes: tuple[str, ...] = ()

    @property
    def incomplete(self) -> bool:
        """Some server could get rules with expectations, pinning or --allow-dynamic."""
        return any(server.blocking for server in self.plan.left_out)


def judged_reports(saved: SavedRun, settings: FirewallSettings) -> list[ExchangeHostReport]:
    """Every saved host as a report judged by the right expectation."""
    reports = []
    for report in saved.hosts:
        if not saved.exchange_checked:
            report = build_report(report.host, resolved_ports(report.host.endpoints), ())
        if settings.policy is not None:
            report = rejudged(
                report, settings.policy.expectation_for(report.host.address, report.host.target)
            )
        reports.append(report)
    return reports


def firewall_rules(settings: FirewallSettings) -> FirewallOutcome:
    """The rules in ``settings.format`` and the plan behind them (no text when no server
    can get rules: :attr:`FirewallPlan.left_out` says why for each)."""
    saved = load_saved_run(settings.result)
    reports = sorted(
        judged_reports(saved, settings),
        key=lambda r: address_key(r.host.address, r.host.target),
    )
    plan = plan_rules(reports, allow_dynamic=settings.allow_dynamic)
    if not plan.servers:
        return FirewallOutcome("", plan, saved.notes)
    text = render_rules(plan, settings.format, settings.sources, settings.proxy_sources)
    return FirewallOutcome(text, plan, saved.notes)
