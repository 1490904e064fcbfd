"""Registers the commands that live in their own modules on the typer app."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from epmscan.cli import check, demo, diff, firewall, pcap, scan

    app.command(name="scan")(scan.scan_command)
    app.command(name="check")(check.check_command)
    app.command(name="diff")(diff.diff_command)
    app.command(name="firewall")(firewall.firewall_command)
    app.command(name="demo")(demo.demo_command)
    app.command(name="pcap")(pcap.pcap_command)
    try:
        from epmscan.cli import lab
    except ImportError:
        return
    app.command(name="lab")(lab.lab_command)
