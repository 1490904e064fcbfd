"""``demo``: six emulated Exchange servers on loopback, checked against a policy.

The lab (``lab/demo/lab.toml``) gives each server one typical problem; the policy
(``lab/demo/policy.toml``) says what the site should look like. The demo runs the real
check against them. It succeeds when every planned problem was found and nothing else
went wrong, since a demo that ran as planned is a success even though ``check`` itself
would fail on those servers.

The files name the servers 127.0.10.1-6. Each run picks its own site (:class:`DemoSite`):
the first block 127.0.N.1-6 (N from 10 up) and endpoint mapper port where nothing
listens, moves the lab's hosts and the policy's servers there, and starts the lab; if
another program takes a port in between, it tries the next site. So several demos run
side by side, each on its own addresses, and the static ports (60001, 6001, ...) stay
the ones the story is about.
"""

from __future__ import annotations

import ipaddress
import socket
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from importlib import resources

from epmscan.app.diff import live_run
from epmscan.checks.findings import exit_code_for
from epmscan.checks.policy_file import parse_policy
from epmscan.errors import LabConfigError, UsageError
from epmscan.lab.config import LabConfig, parse_lab
from epmscan.lab.thread import LabThread
from epmscan.models import ExchangeHostReport, Policy, Severity
from epmscan.settings import CheckSettings, NetworkSettings, ScanSettings, Timeouts

DEMO_PORTS = (13135, 23135, 33135, 43135)
"""Endpoint mapper ports the demo tries (135 needs root), first free one wins."""
DEMO_FIRST_ADDRESSES = tuple(f"127.0.{n}.1" for n in range(10, 256))
"""Where the demo's first server may go: 127.0.N.1 (servers 127.0.N.1-6), the files' own first."""


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


NOMINAL_FIRST = ipaddress.IPv4Address(PLAN[0].address)


@dataclass(frozen=True, slots=True)
class DemoSite:
    """Where one demo runs: the address of its first server and its endpoint mapper port.

    The servers keep their order and spacing from the files (127.0.10.1-6), moved so the
    first lands on ``first``.
    """

    first: str
    epm_port: int

    def address(self, nominal: str) -> str:
        """Where the server the files call ``nominal`` runs on this site."""
        moved = ipaddress.IPv4Address(nominal) + self._shift
        return str(moved)

    @property
    def addresses(self) -> tuple[str, ...]:
        """The servers' addresses, in :data:`PLAN` order."""
        return tuple(self.address(planned.address) for planned in PLAN)

    @property
    def label(self) -> str:
        """The servers' addresses as one short text, e.g. ``127.0.10.1-6``."""
        first, last = self.addresses[0], self.addresses[-1]
        return f"{first}-{last.rsplit('.', 1)[1]}"

    @property
    def _shift(self) -> int:
        return int(ipaddress.IPv4Address(self.first)) - int(NOMINAL_FIRST)


def candidate_sites(epm_port: int | None = None) -> Iterator[DemoSite]:
    """Every site the demo may use, in the order it tries them."""
    ports = DEMO_PORTS if epm_port is None else (epm_port,)
    for first in DEMO_FIRST_ADDRESSES:
        for port in ports:
            yield DemoSite(first, port)


def _port_is_free(address: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def static_ports(config: LabConfig) -> tuple[int, ...]:
    """Every fixed port a server of ``config`` may hold (dynamic ones are drawn free)."""
    ports = {config.epm_port}
    for host in config.hosts:
        ports.update(host.profile.http_ports.values())
        ports.update(p.tcp for p in host.profile.processes if isinstance(p.tcp, int))
        ports.update(p for p in host.ports.values() if isinstance(p, int))
    return tuple(sorted(ports))


def site_looks_free(site: DemoSite, fixed_ports: tuple[int, ...]) -> bool:
    """True when nothing holds the endpoint mapper port or ``fixed_ports`` on ``site``.

    The switched-off server's address counts too: nothing may answer there.
    """
    ports = (site.epm_port, *fixed_ports)
    return all(_port_is_free(address, port) for address in site.addresses for port in ports)


def _no_site_message(epm_port: int | None, fixed_ports: tuple[int, ...]) -> str:
    labels = [DemoSite(first, 0).label for first in DEMO_FIRST_ADDRESSES]
    tried = labels[0] if len(labels) == 1 else f"{labels[0]} to {labels[-1]}"
    ports = DEMO_PORTS if epm_port is None else (epm_port,)
    return (
        f"no free loopback addresses for the demo lab (tried {tried} with endpoint mapper"
        f" port {' or '.join(map(str, ports))}; each needs the ports"
        f" {', '.join(map(str, fixed_ports))} free)"
    )


def demo_files() -> tuple[str, str]:
    """The demo's lab and policy TOML texts, shipped inside the package."""
    folder = resources.files("epmscan.lab") / "demo"
    return (folder / "lab.toml").read_text("utf-8"), (folder / "policy.toml").read_text("utf-8")


NOMINAL_SITE = DemoSite(str(NOMINAL_FIRST), DEMO_PORTS[0])
"""The site the files describe."""


def demo_lab(site: DemoSite = NOMINAL_SITE) -> LabConfig:
    """The demo lab, its servers moved to ``site``."""
    lab_text, _ = demo_files()
    data = tomllib.loads(lab_text)
    for host in data["hosts"]:
        host["address"] = site.address(host["address"])
    data["lab"]["epm_port"] = site.epm_port
    return parse_lab(data, "epmscan demo lab")


def demo_policy(site: DemoSite = NOMINAL_SITE) -> Policy:
    """The demo site's policy, its servers moved to ``site``."""
    _, policy_text = demo_files()
    policy = parse_policy(policy_text, "epmscan demo policy")
    groups = tuple(
        replace(
            group,
            networks=tuple(
                ipaddress.ip_network(f"{site.address(str(n.network_address))}/{n.prefixlen}")
                for n in group.networks
            ),
            specs=tuple(site.address(spec) for spec in group.specs),
        )
        for group in policy.groups
    )
    return replace(policy, groups=groups)


def missed_plan(reports: list[ExchangeHostReport], site: DemoSite = NOMINAL_SITE) -> list[str]:
    """What did not go as planned: a planned finding missing, or one on a clean host."""
    by_address = {r.host.address or r.host.target: r for r in reports}
    problems = []
    for planned in PLAN:
        address = site.address(planned.address)
        report = by_address.get(address)
        if report is None:
            problems.append(f"{address}: no result")
            continue
        codes = {f.code for f in report.findings if f.severity.rank >= Severity.WARNING.rank}
        if planned.code and planned.code not in codes:
            problems.append(f"{address}: expected {planned.code}, got {sorted(codes)}")
        if not planned.code and codes:
            problems.append(f"{address}: expected no finding, got {sorted(codes)}")
    return problems


DEMO_TIMEOUTS = Timeouts(connect=0.5, read=1.0, host=20.0)
"""Loopback answers at once: short deadlines keep the demo quick."""
DEMO_CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class DemoOutcome:
    """What the demo found, and whether it went as planned."""

    site: DemoSite
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


def _start_lab(epm_port: int | None) -> tuple[DemoSite, LabThread]:
    """The first site that looks free and where the lab starts, with its running lab."""
    nominal = demo_lab()
    fixed_ports = tuple(p for p in static_ports(nominal) if p != nominal.epm_port)
    for site in candidate_sites(epm_port):
        if not site_looks_free(site, fixed_ports):
            continue
        lab = LabThread(demo_lab(site))
        try:
            lab.start()
        except (LabConfigError, OSError):
            continue  # another program took a port since the look: the next site
        return site, lab
    raise UsageError(_no_site_message(epm_port, fixed_ports))


def run_demo(
    epm_port: int | None = None, on_started: Callable[[DemoSite], None] | None = None
) -> DemoOutcome:
    """Start the demo lab on a free site, check it against the demo policy, stop the lab.

    ``epm_port`` fixes the endpoint mapper port (else the first of :data:`DEMO_PORTS`
    free on some site); ``on_started`` hears where the lab runs before the check starts.
    :class:`UsageError` when no site is free.
    """
    site, lab = _start_lab(epm_port)
    try:
        if on_started is not None:
            on_started(site)
        network = NetworkSettings(port=site.epm_port, timeouts=DEMO_TIMEOUTS)
        settings = CheckSettings(
            scan=ScanSettings(network=network, concurrency=DEMO_CONCURRENCY),
            policy=demo_policy(site),
        )
        saved, _ = live_run(settings)
    finally:
        lab.stop()
    reports = tuple(
        sorted(saved.hosts, key=lambda r: socket.inet_aton(r.host.address or "0.0.0.0"))
    )
    failing = exit_code_for((f for r in reports for f in r.findings), Severity.ERROR)
    problems = tuple(missed_plan(list(reports), site))
    return DemoOutcome(site, site.epm_port, reports, problems, bool(failing))
