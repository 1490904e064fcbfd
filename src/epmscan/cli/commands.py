"""Registers the commands that live in their own modules on the typer app.

``lab`` and ``demo`` import the lab only when they run, and ``pcap`` and ``trace`` scapy,
so ``scan`` does not pay for either.
"""

from __future__ import annotations

import typer

from epmscan.cli import check, demo, diff, dump, firewall, lab, pcap, report, scan, trace


def register(app: typer.Typer) -> None:
    app.command(name="dump")(dump.dump_command)
    app.command(name="scan")(scan.scan_command)
    app.command(name="check")(check.check_command)
    app.command(name="diff")(diff.diff_command)
    app.command(name="firewall")(firewall.firewall_command)
    app.command(name="report")(report.report_command)
    app.command(name="demo")(demo.demo_command)
    app.command(name="pcap")(pcap.pcap_command)
    app.command(name="trace")(trace.trace_command)
    app.command(name="lab")(lab.lab_command)
