"""``scan --inventory`` against lab hosts that serve interfaces they never registered.

Each expectation comes from the lab's own plan (what each port serves, what was left out
of the endpoint map), never from epmscan: the management interface's answer, the
fallback's candidate binds where it is refused, ports given by hand, the per-host bound
and the host deadline.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from epmscan.facts.inventory_candidates import INVENTORY_CANDIDATES
from epmscan.lab import LabThread
from epmscan.lab.catalog import CATALOG
from epmscan.lab.config import parse_lab
from epmscan.lab.server import Lab, LabHost
from epmscan.models import HostResult, HostStatus, InterfaceId, InventoryMethod
from epmscan.protocol.constants import EPM_INTERFACE, MGMT_INTERFACE
from epmscan.settings import NetworkSettings, ScanSettings, TargetSettings, Timeouts
from tests.support.app import scan_hosts
from tests.support.cli import jsonl_hosts, run_cli
from tests.support.loopback import free_port

NET = "127.111.1."
HOSTS: dict[str, dict[str, Any]] = {
    "mgmt": {"profile": "windows-member", "unregistered": ["tsch", "drsuapi@lsarpc"]},
    "denied": {"profile": "windows-member", "unregistered": ["tsch"], "mgmt": "access_denied"},
    "rejected": {
        "profile": "exchange2010-cas-static",
        "unregistered": ["tsch", "dnsserver@nspi"],
        "mgmt": "reject",
    },
    "hidden_process": {"profile": "windows-member", "unregistered": ["svcctl"]},
    "bounded": {"profile": "windows-member", "mgmt": "access_denied", "delay_ms": 20},
    "slow": {"profile": "windows-member", "mgmt": "access_denied", "delay": 0.5},
    "down": {"profile": "windows-member", "down": True},
    "plain": {"profile": "exchange2010-cas-dynamic"},
}
ADDRESS = {name: f"{NET}{index}" for index, name in enumerate(HOSTS, 1)}
EPM_PORT = free_port(ADDRESS.values())
TIMEOUTS = Timeouts(connect=2.0, read=3.0, host=20.0)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    hosts = [{"address": ADDRESS[name], **spec} for name, spec in HOSTS.items()]
    config = parse_lab({"lab": {"epm_port": EPM_PORT, "seed": 11}, "hosts": hosts}, "inventory")
    with LabThread(config) as running:
        yield running


def settings(name: str, **changes: Any) -> ScanSettings:
    base = ScanSettings(
        targets=TargetSettings(specs=(ADDRESS[name],)),
        network=NetworkSettings(port=EPM_PORT, timeouts=TIMEOUTS),
        concurrency=4,
        inventory=True,
    )
    network = changes.pop("network", base.network)
    return replace(base, network=network, **changes)


def scan_one(name: str, **changes: Any) -> HostResult:
    (host,), _ = scan_hosts(settings(name, **changes))
    return host


def served_on(host: LabHost, port: int) -> set[InterfaceId]:
    """What the lab accepts a bind for on ``port`` (besides the management interface)."""
    if port == host.epm_port:
        return set(host.plan.epm_interfaces)
    return set(host.plan.tcp_listeners[port])


def as_pairs(interfaces: set[InterfaceId]) -> set[tuple[str, str]]:
    return {(i.uuid, i.version) for i in interfaces}


def unregistered(host: HostResult) -> set[tuple[str, str, int | None]]:
    return {(e.uuid, e.version, e.port) for e in host.endpoints if not e.registered}


def hidden_in_lab(host: LabHost) -> set[tuple[str, str, int]]:
    """The interfaces the lab serves but left out of its map (the EPM on its own port too)."""
    hidden = {
        (CATALOG[key].interface.uuid, CATALOG[key].interface.version, port)
        for key, port in (host.plan.unregistered or {}).items()
    }
    return hidden | {(EPM_INTERFACE.uuid, EPM_INTERFACE.version, host.epm_port)}


def test_the_management_interface_reveals_what_was_never_registered(lab: Lab) -> None:
    host = scan_one("mgmt")
    lab_host = lab.host(ADDRESS["mgmt"])
    assert host.status is HostStatus.OK
    assert unregistered(host) == hidden_in_lab(lab_host)
    assert host.inventory is not None
    advertised = {e.port for e in host.endpoints if e.registered and e.transport == "ncacn_ip_tcp"}
    assert [p.port for p in host.inventory] == sorted(advertised)
    for port in host.inventory:
        assert (port.status, port.method, port.mgmt_error) == (
            HostStatus.OK,
            InventoryMethod.MGMT,
            None,
        ), port
        assert {(i.uuid, i.version) for i in port.interfaces} == as_pairs(
            served_on(lab_host, port.port)
        )
        for served in port.interfaces:
            in_map = (served.uuid, served.version, port.port) not in hidden_in_lab(lab_host)
            assert served.registered is in_map
    tsch = next(
        e for e in host.endpoints if not e.registered and e.uuid == CATALOG["tsch"].interface.uuid
    )
    port = lab_host.plan.unregistered["tsch"]  # type: ignore[index]
    assert tsch.binding == f"ncacn_ip_tcp:{ADDRESS['mgmt']}[{port}]"
    assert tsch.name is not None and "[MS-TSCH]" in tsch.name


def test_the_registered_endpoints_are_those_of_a_plain_scan(lab: Lab) -> None:
    with_inventory = scan_one("mgmt")
    without = scan_one("mgmt", inventory=False)
    assert without.inventory is None
    assert [e for e in with_inventory.endpoints if e.registered] == list(without.endpoints)


@pytest.mark.parametrize(
    ("name", "refusal"),
    [
        ("denied", "rpc fault rpc_s_access_denied"),
        ("rejected", "bind rejected (provider_rejection: abstract_syntax_not_supported)"),
    ],
)
def test_a_refused_management_interface_falls_back_to_candidate_binds(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, name: str, refusal: str
) -> None:
    called = spy_on_calls(monkeypatch)
    host = scan_one(name)
    lab_host = lab.host(ADDRESS[name])
    assert host.status is HostStatus.OK and host.inventory
    candidates = as_pairs(set(INVENTORY_CANDIDATES))
    for port in host.inventory:
        assert (port.status, port.method) == (HostStatus.OK, InventoryMethod.BIND), port
        assert port.mgmt_error == refusal
        assert port.candidates == len(INVENTORY_CANDIDATES)
        found = {(i.uuid, i.version) for i in port.interfaces}
        assert found == as_pairs(served_on(lab_host, port.port)) & candidates
    expected = {item for item in hidden_in_lab(lab_host) if item[:2] in candidates}
    assert unregistered(host) == expected
    assert ("86d35949-83c9-4044-b424-db363231fd0c", "1.0") in {item[:2] for item in expected}
    # a bind for each candidate, never a call: only the EPM and management interfaces were called
    assert called <= {EPM_INTERFACE, MGMT_INTERFACE}
    assert MGMT_INTERFACE in called or name == "rejected"


def spy_on_calls(monkeypatch: pytest.MonkeyPatch) -> set[InterfaceId]:
    """Record the interface of every call the lab answers (bound context → interface)."""
    called: set[InterfaceId] = set()
    answer = Lab._answer

    def recording(connection: Any, request: Any, bound: Any, *rest: Any) -> bytes:
        if request.context_id in bound:
            called.add(bound[request.context_id])
        return answer(connection, request, bound, *rest)

    monkeypatch.setattr(Lab, "_answer", staticmethod(recording))
    return called


def test_a_port_nobody_advertised_is_found_when_given(lab: Lab) -> None:
    lab_host = lab.host(ADDRESS["hidden_process"])
    port = lab_host.plan.unregistered["svcctl"]  # type: ignore[index]
    address = ADDRESS["hidden_process"]
    common = (address, "-p", str(EPM_PORT), "--jsonl", "-", "--no-progress")
    plain = run_cli("scan", *common, "--inventory")
    assert plain.returncode == 0, plain.describe()
    (host,) = jsonl_hosts(plain.stdout)
    assert port not in [p["port"] for p in host["inventory"]]
    assert all(e["registered"] for e in host["endpoints"] if e["port"] == port)
    given = run_cli("scan", *common, "--inventory-ports", f"{port},{port}")
    assert given.returncode == 0, given.describe()
    (host,) = jsonl_hosts(given.stdout)
    (inventory,) = [p for p in host["inventory"] if p["port"] == port]
    assert inventory["method"] == "mgmt"
    assert inventory["interfaces"] == [
        {"uuid": CATALOG["svcctl"].interface.uuid, "version": "2.0", "registered": False}
    ]
    (svcctl,) = [e for e in host["endpoints"] if e["port"] == port]
    assert svcctl["registered"] is False
    assert svcctl["binding"] == f"ncacn_ip_tcp:{address}[{port}]"


def test_closed_ports_and_a_down_host(lab: Lab) -> None:
    closed = free_port([ADDRESS["plain"]])
    host = scan_one("plain", inventory_ports=(closed,))
    (port,) = [p for p in host.inventory or () if p.port == closed]
    assert (port.status, port.method, port.error) == (
        HostStatus.CLOSED,
        None,
        "connection refused",
    )
    assert all(p.status is HostStatus.OK for p in host.inventory or () if p.port != closed)
    down = scan_one("down", inventory_ports=(closed,))
    assert down.status is HostStatus.CLOSED
    assert [(p.port, p.status) for p in down.inventory or ()] == [(closed, HostStatus.CLOSED)]


def test_per_host_bounds_the_connections_of_the_fallback(lab: Lab) -> None:
    lab_host = lab.host(ADDRESS["bounded"])
    network = NetworkSettings(port=EPM_PORT, timeouts=TIMEOUTS, per_host=2)
    host = scan_one("bounded", network=network)
    assert host.inventory and all(p.method is InventoryMethod.BIND for p in host.inventory)
    assert sum(p.candidates for p in host.inventory) >= 100
    # the endpoint mapper's connection may still be closing when the first probes open
    assert lab_host.stats.peak_in_flight <= network.per_host + 1


def test_the_host_deadline_ends_the_inventory(lab: Lab) -> None:
    timeouts = Timeouts(connect=2.0, read=3.0, host=3.0)
    network = NetworkSettings(port=EPM_PORT, timeouts=timeouts)
    host = scan_one("slow", network=network)
    assert host.status is HostStatus.OK  # the dump came in time
    assert host.inventory
    cut = [p for p in host.inventory if p.status is HostStatus.TIMEOUT]
    assert cut, host.inventory
    assert all("host deadline of 3 s exceeded" in (p.error or "") for p in cut)
    # unbounded, the fallback's binds (0.5 s each, 4 at a time) would take about 25 s
    assert host.elapsed < 15


def test_bad_inventory_ports_are_usage_errors() -> None:
    for value, message in (
        ("0", "--inventory-ports: port 0 is out of range (1-65535)"),
        ("49152,x", "--inventory-ports: 'x' is not a port number"),
        ("", "--inventory-ports: empty port list"),
    ):
        run = run_cli("scan", ADDRESS["plain"], "--inventory-ports", value)
        assert run.returncode == 2, run.describe()
        assert run.stderr.strip().splitlines() == [f"epmscan: {message}"], run.describe()


@pytest.mark.parametrize("name", ["mgmt", "rejected"])
def test_findings_name_risky_interfaces_the_mapper_hides(lab: Lab, name: str) -> None:
    # The hidden Task Scheduler is served on a port but never registered: the security
    # view lists it with registered false, whether the management interface told us or
    # the catalogue's binds found it.
    address = ADDRESS[name]
    common = [address, "-p", str(EPM_PORT), "--jsonl", "-", "--findings"]
    plain = run_cli("scan", *common)
    assert plain.returncode == 0, plain.describe()
    (before,) = jsonl_hosts(plain.stdout)
    tsch = CATALOG["tsch"].interface.uuid
    assert tsch not in {f["uuid"] for f in before["security"]["findings"]}
    run = run_cli("scan", *common, "--inventory", timeout=60)
    assert run.returncode == 0, run.describe()
    (host,) = jsonl_hosts(run.stdout)
    (finding,) = [f for f in host["security"]["findings"] if f["uuid"] == tsch]
    reachable = [r for r in finding["reachable"] if r["transport"] == "ncacn_ip_tcp"]
    assert reachable and all(r["registered"] is False for r in reachable)
    ports = {p["port"] for p in host["inventory"]}
    assert {r["port"] for r in reachable} <= ports
