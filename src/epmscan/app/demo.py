"""``demo``: six emulated Exchange servers on loopback, checked against a policy.

The lab (``lab/demo/lab.toml``) gives each server one typical problem; the policy
(``lab/demo/policy.toml``) says what the site should look like. The demo runs the real
check against them. It succeeds when every planned problem was found and nothing else
went wrong, since a demo that ran as planned is a success even though ``check`` itself
would fail on those servers.
"""

from __future__ import annotations

import socket
import tomllib
from dataclasses import dataclass
from importlib import resources

from epmscan.app.diff import live_run
from epmscan.checks.findings import exit_code_for
from epmscan.checks.policy_file import parse_policy
from epmscan.lab.config import LabConfig, parse_lab
from epmscan.lab.thread import LabThread
from epmscan.models import ExchangeHostReport, Policy, Severity
from epmscan.settings import CheckSettings, NetworkSettings, ScanSettings, Timeouts

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
    lab_text, _ = demo_files()
    data = tomllib.loads(lab_text)
    addresses = [host["address"] for host in data["hosts"]]
    if epm_port is None:
        free = (p for p in DEMO_PORTS if all(_port_is_free(a, p) for a in addresses))
        epm_port = next(free, DEMO_PORTS[0])
    data["lab"]["epm_port"] = epm_port
    return parse_lab(data, "epmscan demo lab")


def demo_policy() -> Policy:
    """The demo site's policy."""
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


DEMO_TIMEOUTS = Timeouts(connect=0.5, read=1.0, host=20.0)
"""Loopback answers at once: short deadlines keep the demo quick."""
DEMO_CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class DemoOutcome:
    """What the demo found, and whether it went as planned."""

    epm_port: int
    reports: tuple[ExchangeHostReport, ...]
    """By address."""
    problems: tuple[str, ...]
    """What did not go as planned (empty: the demo succeeded)."""
    check_would_fail: bool
    """``check`` with the same policy exits 1 on these servers (it should)."""

    @property
    def folder(self) -> str:
        return str(resources.files("epmscan.lab") / "demo")


def run_demo(epm_port: int | None = None) -> DemoOutcome:
    """Start the demo lab, check it against the demo policy, stop the lab."""
    config = demo_lab(epm_port)
    network = NetworkSettings(port=config.epm_port, timeouts=DEMO_TIMEOUTS)
    settings = CheckSettings(
        scan=ScanSettings(network=network, concurrency=DEMO_CONCURRENCY), policy=demo_policy()
    )
    with LabThread(config):
        saved = live_run(settings)
    reports = tuple(
        sorted(saved.hosts, key=lambda r: socket.inet_aton(r.host.address or "0.0.0.0"))
    )
    failing = exit_code_for((f for r in reports for f in r.findings), Severity.ERROR)
    return DemoOutcome(config.epm_port, reports, tuple(missed_plan(list(reports))), bool(failing))
