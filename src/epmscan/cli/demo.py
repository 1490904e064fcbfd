"""``epmscan demo``: six emulated Exchange servers on loopback, checked against a policy.

The lab (``lab/demo/lab.toml``) gives each server one typical problem; the policy
(``lab/demo/policy.toml``) says what the site should look like. The demo runs the real
``check`` engine against them and shows the tables, the findings and their fixes. It
exits 0 when every planned problem was found (and nothing else went wrong), since a
demo that ran as planned is a success even though ``check`` would exit 1.
"""

from __future__ import annotations

import socket
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from epmscan.checks.findings import exit_code_for
from epmscan.checks.policy import parse_policy
from epmscan.cli import options as opt
from epmscan.cli.check import run_check
from epmscan.cli.common import output_console, stderr_console
from epmscan.models import ExchangeHostReport, Policy, Severity
from epmscan.report.check_console import print_check

if TYPE_CHECKING:
    from epmscan.lab.config import LabConfig

DEMO_PORTS = (13135, 23135, 33135, 43135)
"""Endpoint mapper ports the demo tries (135 needs root), first free one wins."""


@dataclass(frozen=True)
class Planned:
    address: str
    code: str
    story: str


PLAN = (
    Planned("127.0.10.1", "", "compliant: static MAPI 60001, address book 60002, HTTP ports up"),
    Planned("127.0.10.2", "mapi.dynamic", "MAPI drifted back to a dynamic port"),
    Planned("127.0.10.3", "http6004.closed", "RPC over HTTP 6004 (address book) is closed"),
    Planned("127.0.10.4", "nspi.dynamic", "public folder server, address book port not pinned"),
    Planned("127.0.10.5", "mapi.filtered", "static MAPI port dropped by a firewall"),
    Planned("127.0.10.6", "epm.unreachable", "server switched off"),
)


def demo_files() -> tuple[str, str]:
    """The demo's lab and policy TOML texts, shipped inside the package."""
    folder = resources.files("epmscan.lab") / "demo"
    return (folder / "lab.toml").read_text("utf-8"), (folder / "policy.toml").read_text("utf-8")


def _port_is_free(address: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def demo_lab(epm_port: int | None = None) -> LabConfig:
    """The demo lab, on ``epm_port`` or the first of :data:`DEMO_PORTS` free everywhere."""
    from epmscan.lab.config import parse_lab

    lab_text, _ = demo_files()
    data = tomllib.loads(lab_text)
    addresses = [host["address"] for host in data["hosts"]]
    if epm_port is None:
        free = (p for p in DEMO_PORTS if all(_port_is_free(a, p) for a in addresses))
        epm_port = next(free, DEMO_PORTS[0])
    data["lab"]["epm_port"] = epm_port
    return parse_lab(data, "epmscan demo lab")


def demo_policy() -> Policy:
    _, policy_text = demo_files()
    return parse_policy(policy_text, "epmscan demo policy")


def missed_plan(reports: list[ExchangeHostReport]) -> list[str]:
    """What did not go as planned: a planned finding missing, or one on a clean host."""
    by_address = {r.host.address or r.host.target: r for r in reports}
    problems = []
    for planned in PLAN:
        report = by_address.get(planned.address)
        if report is None:
            problems.append(f"{planned.address}: no result")
            continue
        codes = {f.code for f in report.findings if f.severity.rank >= Severity.WARNING.rank}
        if planned.code and planned.code not in codes:
            problems.append(f"{planned.address}: expected {planned.code}, got {sorted(codes)}")
        if not planned.code and codes:
            problems.append(f"{planned.address}: expected no finding, got {sorted(codes)}")
    return problems


def demo_command(
    epm_port: Annotated[
        int | None, typer.Option("--epm-port", help="Endpoint mapper port of the demo lab.")
    ] = None,
) -> None:
    """Six emulated Exchange servers on loopback, checked against a demo policy."""
    console = output_console()
    config = demo_lab(epm_port)
    policy = demo_policy()
    port = config.epm_port
    heading = Text("epmscan demo", style="bold")
    heading.append(
        f": six emulated Exchange 2010 servers on 127.0.10.1-6, endpoint mapper on port {port};"
        " nothing leaves this machine."
    )
    console.print(heading)
    for planned in PLAN:
        console.print(f"  {planned.address}  {planned.story}")
    args = opt.ScanArgs(
        targets=[],
        input_lists=[],
        exclude=[],
        exclude_files=[],
        port=port,
        concurrency=16,
        connect_timeout=0.5,
        read_timeout=1.0,
        host_timeout=20.0,
        no_progress=True,
    )
    from epmscan.lab.thread import LabThread

    with LabThread(config):
        outcome = run_check(args, policy)
    reports = sorted(outcome.kept, key=lambda r: socket.inet_aton(r.host.address or "0.0.0.0"))
    console.print()
    print_check(reports, console)
    check_exit = exit_code_for((f for r in reports for f in r.findings), Severity.ERROR)
    folder = resources.files("epmscan.lab") / "demo"
    command = f"epmscan check --policy {folder / 'policy.toml'} --port {port}"
    problems = missed_plan(reports)
    if problems:
        err = stderr_console()
        for problem in problems:
            err.print(f"epmscan demo: not as planned: {problem}", markup=False)
        raise typer.Exit(1)
    console.print(
        f"\nThe demo ran as planned: every planned problem was found.\n"
        f"`{command}` on the same servers would exit {check_exit}.\n"
        f"To try it: `epmscan lab --config {folder / 'lab.toml'} --epm-port {port}` in one "
        f"terminal, that check in another.",
        soft_wrap=True,
    )
