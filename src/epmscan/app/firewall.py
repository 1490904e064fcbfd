"""``firewall``: the exact rules to open for the Exchange servers of a saved result."""

from __future__ import annotations

from epmscan.checks.findings import build_report
from epmscan.checks.firewall import plan_rules
from epmscan.errors import UsageError
from epmscan.facts.exchange import resolved_ports
from epmscan.models import ExchangeHostReport, HostStatus, SavedRun
from epmscan.report.firewall_rules import render_rules
from epmscan.report.saved_results import load_saved_run
from epmscan.settings import FirewallSettings


def answering_reports(saved: SavedRun) -> list[ExchangeHostReport]:
    """The reports of the hosts that answered; a plain scan's Exchange ports come from
    its dump alone (it probed nothing)."""
    reports = []
    for report in saved.hosts:
        if report.host.status is not HostStatus.OK:
            continue
        if not saved.exchange_checked:
            report = build_report(report.host, resolved_ports(report.host.endpoints), ())
        reports.append(report)
    if not reports:
        raise UsageError(f"{saved.source}: no host in it answered; nothing to write rules for")
    return reports


def firewall_rules(settings: FirewallSettings) -> str:
    """The rules as text in ``settings.format``; :class:`UsageError` when they cannot be."""
    reports = answering_reports(load_saved_run(settings.result))
    plans = plan_rules(reports, allow_dynamic=settings.allow_dynamic)
    return render_rules(plans, settings.format, settings.source)
