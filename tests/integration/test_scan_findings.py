"""``scan --findings`` against lab hosts of every role: roles, findings, --verify, exit codes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from epmscan.lab import LabThread
from epmscan.lab.config import parse_lab
from epmscan.lab.server import Lab
from epmscan.models import (
    Confidence,
    HostRole,
    HostStatus,
    PortProbeStatus,
    SecurityHostReport,
    Severity,
)
from epmscan.settings import (
    FindingsSettings,
    NetworkSettings,
    ScanMode,
    ScanSettings,
    TargetSettings,
    Timeouts,
)
from tests.support.app import Collector
from tests.support.cli import run_cli
from tests.support.loopback import free_port

NET = "127.109.1"
EPM_PORT = free_port([f"{NET}.1"])
ICPR_PORT = 45001
SPOOLER_PORT = 45002
HOSTS: list[dict[str, object]] = [
    {"address": f"{NET}.1", "profile": "windows-dc"},
    {"address": f"{NET}.2", "profile": "windows-ca"},
    {"address": f"{NET}.3", "profile": "windows-file-server"},
    {"address": f"{NET}.4", "profile": "windows-member"},
    {"address": f"{NET}.5", "profile": "exchange2010-cas-static"},
    {"address": f"{NET}.6", "profile": "exchange2010-mailbox-pf"},
    # another program holds the CA's ICertPassage port: every bind there is rejected
    {
        "address": f"{NET}.7",
        "profile": "windows-ca",
        "ports": {"icpr": ICPR_PORT},
        "foreign_ports": [ICPR_PORT],
    },
    # a firewall drops the spooler's port
    {
        "address": f"{NET}.8",
        "profile": "windows-member",
        "ports": {"spoolss": SPOOLER_PORT},
        "filtered_ports": [SPOOLER_PORT],
    },
    {"address": f"{NET}.9", "profile": "windows-member", "down": True},
]
TARGETS = f"{NET}.1-9"
FAST = Timeouts(connect=0.5, read=2.0, host=15.0)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    config = parse_lab({"lab": {"epm_port": EPM_PORT, "seed": 11}, "hosts": HOSTS}, "lab")
    with LabThread(config) as running:
        yield running


def settings(spec: str = TARGETS, **findings: Any) -> ScanSettings:
    return ScanSettings(
        targets=TargetSettings(specs=(spec,), seed=1),
        network=NetworkSettings(port=EPM_PORT, timeouts=FAST),
        concurrency=4,
        findings=FindingsSettings(enabled=True, **findings),
    )


def scan(options: ScanSettings) -> tuple[dict[str, SecurityHostReport], Any]:
    from epmscan.app.scan import run_scan

    collector: Collector[SecurityHostReport] = Collector()
    outcome = run_scan(options, collector)
    return {r.host.address: r for r in collector.results}, outcome


def roles(report: SecurityHostReport) -> dict[HostRole, Confidence]:
    return {g.role: g.confidence for g in report.roles}


def codes(report: SecurityHostReport) -> dict[str, Severity]:
    return {f.code: f.severity for f in report.findings}


@pytest.fixture(scope="module")
def reports(lab: Lab) -> tuple[dict[str, SecurityHostReport], Any]:
    return scan(settings(fail_on=Severity.CRITICAL))


def test_each_lab_host_gets_its_roles(reports: tuple[dict[str, SecurityHostReport], Any]) -> None:
    by_address, _ = reports
    assert len(by_address) == 9
    assert roles(by_address[f"{NET}.1"])[HostRole.DOMAIN_CONTROLLER] is Confidence.HIGH
    assert roles(by_address[f"{NET}.2"])[HostRole.CERTIFICATE_AUTHORITY] is Confidence.HIGH
    assert roles(by_address[f"{NET}.3"])[HostRole.FILE_SERVER] is Confidence.HIGH
    assert roles(by_address[f"{NET}.4"]) == {
        HostRole.PRINT_SERVER: Confidence.LOW,
        HostRole.MEMBER: Confidence.LOW,
    }
    assert roles(by_address[f"{NET}.5"])[HostRole.EXCHANGE_CLIENT_ACCESS] is Confidence.HIGH
    assert roles(by_address[f"{NET}.6"])[HostRole.EXCHANGE_MAILBOX] is Confidence.HIGH
    down = by_address[f"{NET}.9"]
    assert down.host.status is HostStatus.CLOSED
    assert (down.roles, down.findings) == ((), ())


def test_each_host_reports_its_risky_interfaces(
    reports: tuple[dict[str, SecurityHostReport], Any],
) -> None:
    by_address, outcome = reports
    dc = codes(by_address[f"{NET}.1"])
    assert dc["epm.anonymous"] is Severity.INFO
    assert dc["coercion.ms-rprn"] is Severity.CRITICAL
    assert dc["coercion.ms-efsr"] is Severity.CRITICAL
    assert dc["coercion.ms-efsr-lsarpc"] is Severity.CRITICAL
    assert dc["coercion.ms-dfsnm"] is Severity.ERROR
    assert dc["domain_controller.ms-drsr"] is Severity.WARNING
    assert codes(by_address[f"{NET}.2"])["certificate_services.ms-icpr"] is Severity.WARNING
    assert codes(by_address[f"{NET}.3"])["coercion.ms-fsrvp"] is Severity.WARNING
    member = codes(by_address[f"{NET}.4"])
    assert member["coercion.ms-rprn"] is Severity.ERROR
    assert member["remote_execution.ms-scmr"] is Severity.WARNING
    cas = codes(by_address[f"{NET}.5"])
    assert cas["exchange.ms-oxcrpc-emsmdb"] is Severity.INFO
    mapi = next(f for f in by_address[f"{NET}.5"].findings if f.code == "exchange.ms-oxcrpc-emsmdb")
    assert {(r.transport, r.port) for r in mapi.reachable} >= {
        ("ncacn_ip_tcp", 60001),
        ("ncacn_http", 6001),
    }
    assert "exchange_legacy.exchange-sa-public" in codes(by_address[f"{NET}.6"])
    assert not any(r.verified for r in by_address.values())
    assert (outcome.worst, outcome.failed) == (Severity.CRITICAL, True)


def test_verify_binds_every_advertised_tcp_port(lab: Lab) -> None:
    by_address, outcome = scan(settings(f"{NET}.4-8", verify=True))
    assert (outcome.worst, outcome.failed) == (Severity.ERROR, False)
    for report in by_address.values():
        assert report.verified
    member = by_address[f"{NET}.4"]
    spooler = next(f for f in member.findings if f.code == "coercion.ms-rprn")
    tcp = [r for r in spooler.reachable if r.transport == "ncacn_ip_tcp"]
    assert tcp and all(r.verify is PortProbeStatus.BOUND for r in tcp)
    pipes = [r for r in spooler.reachable if r.transport == "ncacn_np"]
    assert pipes and all(r.verify is None for r in pipes)
    icpr = next(f for f in by_address[f"{NET}.7"].findings if f.code.endswith("ms-icpr"))
    tcp_icpr = next(r for r in icpr.reachable if r.transport == "ncacn_ip_tcp")
    assert (tcp_icpr.port, tcp_icpr.verify) == (ICPR_PORT, PortProbeStatus.WRONG_SERVICE)
    assert icpr.severity is Severity.WARNING  # \PIPE\cert still reaches it
    dropped = next(f for f in by_address[f"{NET}.8"].findings if f.code == "coercion.ms-rprn")
    tcp_spooler = next(r for r in dropped.reachable if r.transport == "ncacn_ip_tcp")
    assert (tcp_spooler.port, tcp_spooler.verify) == (SPOOLER_PORT, PortProbeStatus.FILTERED)


def test_findings_of_a_map_scan_are_a_usage_error(lab: Lab) -> None:
    from epmscan.app.scan import run_scan
    from epmscan.errors import UsageError

    with pytest.raises(UsageError, match="--mode dump"):
        run_scan(replace(settings(), mode=ScanMode.MAP), Collector())


def cli(*args: str) -> Any:
    return run_cli(
        "scan", *args, "-p", str(EPM_PORT), "--connect-timeout", "0.5", "--no-progress",
        "--seed", "1", timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("targets", "fail_on", "code"),
    [
        (TARGETS, None, 0),
        (TARGETS, "none", 0),
        (TARGETS, "critical", 1),
        (f"{NET}.4", "critical", 0),
        (f"{NET}.4", "error", 1),
        (f"{NET}.4", "ERROR", 1),
        (f"{NET}.9", "info", 0),
    ],
)
def test_fail_on_exit_codes(lab: Lab, targets: str, fail_on: str | None, code: int) -> None:
    args = [targets, "--findings", "-q"] + (["--fail-on", fail_on] if fail_on else [])
    run = cli(*args)
    assert run.returncode == code, run.describe()


def test_fail_on_alone_turns_findings_on_and_a_plain_scan_is_unchanged(lab: Lab) -> None:
    run = cli(f"{NET}.4", "--fail-on", "warning", "--jsonl", "-")
    assert run.returncode == 1, run.describe()
    host = json.loads(run.stdout.splitlines()[1])
    assert host["security"]["worst"] == "error"
    plain = cli(f"{NET}.4", "--jsonl", "-")
    assert plain.returncode == 0, plain.describe()
    assert "security" not in json.loads(plain.stdout.splitlines()[1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--fail-on", "fatal"), "--fail-on: unknown severity 'fatal' (expected one of: none,"),
        (("--findings", "--mode", "map"), "--findings needs the whole endpoint map"),
    ],
)
def test_usage_errors_are_one_line_exit_2(lab: Lab, args: tuple[str, ...], message: str) -> None:
    run = cli(f"{NET}.4", *args)
    assert run.returncode == 2, run.describe()
    assert run.stderr.count("\n") == 1 and message in run.stderr


def test_console_groups_findings_by_severity_and_host(lab: Lab) -> None:
    run = cli(f"{NET}.1-4", "--findings", "--plain")
    assert run.returncode == 0, run.describe()
    records = [line.split("\t") for line in run.stdout.splitlines()]
    found = [r for r in records if r[0] == "finding" and r[1] != "host"]
    ranks = [Severity(r[2]).rank for r in found]
    assert ranks == sorted(ranks, reverse=True)
    assert found[0][1:4] == [f"{NET}.1", "critical", "coercion.ms-rprn"]
    for severity in {r[2] for r in found}:
        hosts = [r[1] for r in found if r[2] == severity]
        assert hosts == sorted(hosts, key=lambda a: int(a.rsplit(".", 1)[1]))
    role_rows = {(r[1], r[2], r[3]) for r in records if r[0] == "role" and r[1] != "host"}
    assert (f"{NET}.1", "domain_controller", "high") in role_rows
    assert records[-1][0].startswith("# findings on 4 of 4 hosts: ")


def test_csv_and_json_carry_the_findings(lab: Lab, tmp_path: Any) -> None:
    out = tmp_path / "findings.csv"
    doc = tmp_path / "findings.json"
    run = cli(f"{NET}.2", f"{NET}.9", "--verify", "--csv", str(out), "--json", str(doc), "-q")
    assert run.returncode == 0, run.describe()
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    kinds = {(r["address"], r["kind"]) for r in rows}
    assert kinds == {(f"{NET}.2", "role"), (f"{NET}.2", "finding"), (f"{NET}.9", "host")}
    icpr = [r for r in rows if r["code"] == "certificate_services.ms-icpr"]
    assert {r["transport"] for r in icpr} == {"ncacn_ip_tcp", "ncacn_np"}
    assert {r["verify"] for r in icpr if r["transport"] == "ncacn_ip_tcp"} == {"bound"}
    data = json.loads(doc.read_text())
    hosts = {h["address"]: h for h in data["hosts"]}
    assert hosts[f"{NET}.2"]["security"]["verified"] is True
    assert hosts[f"{NET}.9"]["security"]["findings"] == []
