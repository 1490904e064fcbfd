"""Each Exchange verdict from a lab scenario, through the real check engine and CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from epmscan.lab import LabThread
from epmscan.lab.config import parse_lab
from epmscan.models import (
    ExchangeHostReport,
    ExchangeInterface,
    HttpProbeStatus,
    Policy,
    PortClass,
    PortProbeStatus,
    Severity,
)
from epmscan.settings import CheckSettings, NetworkSettings, ScanSettings, TargetSettings, Timeouts
from tests.support.app import check_hosts
from tests.support.cli import CliRun, jsonl_hosts, run_cli
from tests.support.loopback import free_port

EPM_PORT = free_port(["127.0.0.1"])
CAS = "exchange2010-cas-static"
SCENARIOS: dict[str, dict[str, object]] = {
    "static_ok": {"profile": CAS},
    "wrong_static": {"profile": CAS, "ports": {"mapi": 5123}},
    "dynamic_windows": {"profile": CAS, "ports": {"mapi": 50123}},
    "dynamic_exchange": {"profile": CAS, "ports": {"mapi": 20123}},
    "filtered": {"profile": CAS, "filtered_ports": [60001]},
    "wrong_service": {"profile": CAS, "foreign_ports": [60001]},
    "silent": {"profile": CAS, "silent_ports": [60001]},
    "http_other": {"profile": CAS, "http_banners": {"6001": "HTTP/1.1 400 Bad Request"}},
    "http_closed": {"profile": CAS, "http_closed": [6004]},
    "http_filtered": {"profile": CAS, "filtered_ports": [6002]},
    "epm_filtered": {"profile": CAS, "filtered_epm": True},
    "windows": {"profile": "windows-member"},
}
ADDRESS = {name: f"127.64.0.{i + 1}" for i, name in enumerate(SCENARIOS)}
POLICY = Policy.from_expectations({"mapi": 60001, "nspi": 60002, "rfr": 60002}, (6001, 6002, 6004))
NETWORK = NetworkSettings(port=EPM_PORT, timeouts=Timeouts(connect=0.4, read=0.8, host=15.0))


def check_settings(targets: list[str], network: NetworkSettings = NETWORK) -> CheckSettings:
    """A check of ``targets`` against POLICY through the program layer."""
    scan = ScanSettings(targets=TargetSettings(specs=tuple(targets)), network=network)
    return CheckSettings(scan=scan, policy=POLICY)


@pytest.fixture(scope="module")
def reports() -> Iterator[dict[str, ExchangeHostReport]]:
    hosts = [{"address": ADDRESS[name], **spec} for name, spec in SCENARIOS.items()]
    config = parse_lab({"lab": {"epm_port": EPM_PORT, "seed": 3}, "hosts": hosts}, "check lab")

    scenario_of = {address: name for name, address in ADDRESS.items()}
    with LabThread(config):
        results, outcome = check_hosts(check_settings(list(ADDRESS.values())))
    assert outcome.run.summary.done == len(SCENARIOS)
    yield {scenario_of[r.host.address]: r for r in results}


def mapi_tcp(report: ExchangeHostReport):
    (port,) = [
        p
        for p in report.ports
        if p.interface is ExchangeInterface.MAPI and p.transport == "ncacn_ip_tcp"
    ]
    return port


def serious(report: ExchangeHostReport) -> dict[str, Severity]:
    return {f.code: f.severity for f in report.findings if f.severity.rank >= 1}


def http(report: ExchangeHostReport, port: int):
    return next(p for p in report.http if p.port == port)


def test_static_as_expected(reports: dict[str, ExchangeHostReport]) -> None:
    report = reports["static_ok"]
    mapi = mapi_tcp(report)
    assert (mapi.port, mapi.port_class, mapi.probe) == (
        60001,
        PortClass.STATIC_EXPECTED,
        PortProbeStatus.BOUND,
    )
    assert mapi.source == "both"  # the dump and ept_map agree
    assert serious(report) == {}
    assert {p.port: (p.status, p.bind) for p in report.http} == {
        port: (HttpProbeStatus.NCACN_HTTP, PortProbeStatus.BOUND) for port in (6001, 6002, 6004)
    }


def test_static_but_not_the_expected_port(reports: dict[str, ExchangeHostReport]) -> None:
    report = reports["wrong_static"]
    assert mapi_tcp(report).port_class is PortClass.STATIC_UNEXPECTED
    assert serious(report) == {"mapi.wrong_static": Severity.ERROR}


@pytest.mark.parametrize(
    ("scenario", "port_class"),
    [
        ("dynamic_windows", PortClass.DYNAMIC_WINDOWS),
        ("dynamic_exchange", PortClass.DYNAMIC_EXCHANGE),
    ],
)
def test_dynamic_in_each_range(
    reports: dict[str, ExchangeHostReport], scenario: str, port_class: PortClass
) -> None:
    report = reports[scenario]
    assert mapi_tcp(report).port_class is port_class
    finding = next(f for f in report.findings if f.code == "mapi.dynamic")
    assert finding.severity is Severity.ERROR
    assert finding.fix and "MSExchangeRPC\\ParametersSystem" in finding.fix


def test_resolved_but_filtered(reports: dict[str, ExchangeHostReport]) -> None:
    report = reports["filtered"]
    assert mapi_tcp(report).probe is PortProbeStatus.FILTERED
    assert serious(report) == {"mapi.filtered": Severity.ERROR}


def test_resolved_but_wrong_service(reports: dict[str, ExchangeHostReport]) -> None:
    report = reports["wrong_service"]
    mapi = mapi_tcp(report)
    assert mapi.probe is PortProbeStatus.WRONG_SERVICE
    assert "abstract_syntax_not_supported" in (mapi.probe_detail or "")
    assert serious(report) == {"mapi.wrong_service": Severity.ERROR}


def test_resolved_but_silent(reports: dict[str, ExchangeHostReport]) -> None:
    assert mapi_tcp(reports["silent"]).probe is PortProbeStatus.TIMEOUT
    assert serious(reports["silent"]) == {"mapi.timeout": Severity.ERROR}


def test_http_other_banner(reports: dict[str, ExchangeHostReport]) -> None:
    probe = http(reports["http_other"], 6001)
    assert probe.status is HttpProbeStatus.OTHER_SERVICE
    assert probe.banner == "HTTP/1.1 400 Bad Request"
    assert serious(reports["http_other"]) == {"http6001.other_service": Severity.ERROR}


def test_http_closed(reports: dict[str, ExchangeHostReport]) -> None:
    assert http(reports["http_closed"], 6004).status is HttpProbeStatus.CLOSED
    assert serious(reports["http_closed"]) == {"http6004.closed": Severity.ERROR}


def test_http_filtered(reports: dict[str, ExchangeHostReport]) -> None:
    assert http(reports["http_filtered"], 6002).status is HttpProbeStatus.FILTERED
    assert serious(reports["http_filtered"]) == {"http6002.filtered": Severity.ERROR}


def test_endpoint_mapper_filtered_is_critical(reports: dict[str, ExchangeHostReport]) -> None:
    report = reports["epm_filtered"]
    assert report.host.status.value == "filtered"
    assert serious(report) == {"epm.unreachable": Severity.CRITICAL}


def test_plain_windows_server_against_exchange_expectations(
    reports: dict[str, ExchangeHostReport],
) -> None:
    report = reports["windows"]
    assert report.ports == ()
    codes = serious(report)
    assert codes["mapi.not_registered"] is Severity.ERROR
    assert {"http6001.closed", "http6002.closed", "http6004.closed"} <= set(codes)


# --- the CLI ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("site")
    hosts = [
        {"address": "127.65.0.1", "profile": CAS},
        {"address": "127.65.0.2", "profile": CAS},
    ]
    config = parse_lab({"lab": {"epm_port": EPM_PORT}, "hosts": hosts}, "site")
    with LabThread(config):
        yield folder


GOOD = ["--expect", "mapi=60001", "--expect", "nspi=60002", "--expect", "rfr=60002"]


@pytest.fixture(scope="module")
def saved_check(site: Path) -> CliRun:
    """One ``check --save ok.json --csv ok.csv`` of the site, shared by the tests that read it."""
    base = ["check", "127.65.0.1-2", "--port", str(EPM_PORT)]
    return run_cli(*base, *GOOD, "--save", str(site / "ok.json"), "--csv", str(site / "ok.csv"))


def test_check_exit_codes_and_outputs(site: Path, saved_check: CliRun) -> None:
    base = ["check", "127.65.0.1-2", "--port", str(EPM_PORT)]
    ok = saved_check
    assert ok.returncode == 0, ok.describe()
    assert "findings: none" in ok.stdout
    saved = json.loads((site / "ok.json").read_text())
    assert [h["exchange"]["ports"][0]["port_class"] for h in saved["hosts"]] == [
        "static_expected",
        "static_expected",
    ]
    rows = (site / "ok.csv").read_text().splitlines()
    assert rows[0].startswith("target,address,status,kind,interface")
    assert any(",port,mapi,ncacn_ip_tcp,60001,60001,static_expected,bound," in r for r in rows)

    wrong = run_cli(*base, "--expect", "mapi=60005")
    assert wrong.returncode == 1, wrong.describe()
    assert "mapi.wrong_static" in wrong.stdout or "mapi.dynamic" in wrong.stdout
    lenient = run_cli(*base, "--expect", "mapi=60005", "--fail-on", "critical")
    assert lenient.returncode == 0, lenient.describe()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--expect", "mapy=60001"], "unknown interface"),
        (["--expect", "mapi=70000"], "70000"),
        (["--require-http", "6001,x"], "--require-http"),
        (["--fail-on", "worst"], "--fail-on"),
        (["--policy", "/nonexistent/policy.toml"], "/nonexistent/policy.toml"),
    ],
)
def test_check_usage_errors_are_one_line_exit_2(args: list[str], needle: str) -> None:
    run = run_cli("check", "127.65.0.1", "--port", str(EPM_PORT), *args)
    assert run.returncode == 2, run.describe()
    assert needle in run.stderr
    assert run.stderr.strip().count("\n") == 0, run.stderr


def test_check_policy_file_with_a_mistake_names_file_and_line(tmp_path: Path) -> None:
    policy = tmp_path / "bad.toml"
    policy.write_text(
        '[[group]]\nname = "cas"\nservers = ["127.65.0.1"]\n'
        "[group.ports]\nmapi = 60001\nnspi = 99999\n"
    )
    run = run_cli("check", "--policy", str(policy), "--port", str(EPM_PORT))
    assert run.returncode == 2, run.describe()
    assert f"{policy}:6" in run.stderr and "99999" in run.stderr


def test_diff_before_and_after_a_change(site: Path, saved_check: CliRun, tmp_path: Path) -> None:
    before = site / "ok.json"
    assert saved_check.returncode == 0, saved_check.describe()
    data = json.loads(before.read_text())
    # The known change: on 127.65.0.2 the MAPI port (and AsyncEMSMDB with it) moved.
    (moved,) = [h for h in data["hosts"] if h["address"] == "127.65.0.2"]
    for endpoint in moved["endpoints"]:
        if endpoint["port"] == 60001:
            endpoint["port"] = 50321
            endpoint["binding"] = endpoint["binding"].replace("[60001]", "[50321]")
    for port in moved["exchange"]["ports"]:
        if port["port"] == 60001:
            port["port"] = 50321
    (tmp_path / "after.json").write_text(json.dumps(data))
    same = run_cli("diff", str(before), str(before))
    assert same.returncode == 0, same.describe()
    assert same.stdout == "no changes (2 hosts compared)\n"
    changed = run_cli("diff", str(before), str(tmp_path / "after.json"))
    assert changed.returncode == 1, changed.describe()
    assert "127.65.0.1" not in changed.stdout  # the unchanged server is not listed
    lines = changed.stdout.splitlines()
    assert "~ 127.65.0.2: MAPI ncacn_ip_tcp: 60001 bound -> 50321 bound" in lines
    assert any(line.startswith("! 127.65.0.2: fails the diff") for line in lines)
    assert lines[-1].startswith("1 changed (1 failing the diff), 0 appeared, 0 disappeared")


def test_firewall_rules_from_a_saved_check(site: Path, saved_check: CliRun) -> None:
    saved = site / "ok.json"
    assert saved_check.returncode == 0, saved_check.describe()
    run = run_cli("firewall", str(saved), "--format", "iptables")
    assert run.returncode == 0, run.describe()
    for port in ("135", "6001", "6002", "6004", "60001", "60002"):
        assert port in run.stdout
    assert "127.65.0.1" in run.stdout and "127.65.0.2" in run.stdout


def test_map_mode_resolves_the_same_ports_without_a_dump(site: Path) -> None:
    base = ["check", "127.65.0.1", "--port", str(EPM_PORT), "--expect", "mapi=60001"]
    run = run_cli(*base, "--mode", "map", "--jsonl", "-")
    assert run.returncode == 0, run.describe()
    (host,) = jsonl_hosts(run.stdout)
    assert host["endpoints"] == []  # no lookup walk in map mode
    ports = {
        (p["interface"], p["transport"], p["port"], p["source"], p["probe"])
        for p in host["exchange"]["ports"]
    }
    assert ("mapi", "ncacn_ip_tcp", 60001, "map", "bound") in ports
    assert ("nspi", "ncacn_ip_tcp", 60002, "map", "bound") in ports
    assert ("mapi", "ncacn_http", 6001, "map", "not_probed") in ports


def test_diff_against_a_live_check(site: Path, saved_check: CliRun) -> None:
    before = site / "ok.json"
    assert saved_check.returncode == 0, saved_check.describe()
    run = run_cli(
        "diff", str(before), "--live", "127.65.0.1-2", "--port", str(EPM_PORT), timeout=60
    )
    assert run.returncode == 0, run.describe()
    assert run.stdout == "no changes (2 hosts compared)\n"
    both = run_cli("diff", str(before), str(before), "--live", "127.65.0.1")
    assert both.returncode == 2 and "not both" in both.stderr


def test_diff_live_saves_the_next_baseline(site: Path, saved_check: CliRun) -> None:
    before = site / "ok.json"
    after = site / "live.json"
    assert saved_check.returncode == 0, saved_check.describe()
    live = ["--live", "127.65.0.1-2", "--port", str(EPM_PORT), "--connect-timeout", "2"]
    run = run_cli("diff", str(before), *live, "--save", str(after), timeout=60)
    assert run.returncode == 0, run.describe()
    assert run.stdout == "no changes (2 hosts compared)\n"
    saved = json.loads(after.read_text())
    assert saved["epmscan"]["command"] == "check"
    expected = {h["address"]: h["exchange"]["expectation"] for h in saved["hosts"]}
    assert expected == {
        h["address"]: h["exchange"]["expectation"] for h in json.loads(before.read_text())["hosts"]
    }  # BEFORE's recorded expectations went on into the new baseline
    again = run_cli("diff", str(after), "--live", "127.65.0.1-2", "--port", str(EPM_PORT))
    assert again.returncode == 0 and again.stdout == "no changes (2 hosts compared)\n"


@pytest.mark.parametrize(("option", "named"), [("--save", "--save"), ("-u", "-u/--user")])
def test_diff_live_options_without_live_are_refused(
    site: Path, saved_check: CliRun, option: str, named: str
) -> None:
    before = str(site / "ok.json")
    assert saved_check.returncode == 0, saved_check.describe()
    value = str(site / "x.json") if option == "--save" else "CORP\\admin"
    run = run_cli("diff", before, before, option, value)
    assert run.returncode == 2, run.describe()
    assert run.stderr == f"epmscan: {named} is for --live (a live check)\n"
    assert not (site / "x.json").exists()


@pytest.mark.parametrize("per_host", [1, 3])
def test_per_host_bound_holds_for_the_probes(per_host: int) -> None:
    hosts = [{"address": "127.67.0.1", "profile": CAS}]
    config = parse_lab({"lab": {"epm_port": EPM_PORT}, "hosts": hosts}, "per-host lab")
    network = replace(NETWORK, port=EPM_PORT, per_host=per_host)
    with LabThread(config) as lab:
        (report,), _ = check_hosts(check_settings(["127.67.0.1"], network))
        stats = lab.host("127.67.0.1").stats
    assert serious(report) == {}
    # 1 EPM, a bind per interface on its port (MAPI and AsyncEMSMDB on 60001, NSPI and
    # RFR on 60002) and the 3 HTTP ports: never more than per_host at once.
    assert stats.by_port == {EPM_PORT: 1, 60001: 2, 60002: 2, 6001: 1, 6002: 1, 6004: 1}
    assert stats.peak_in_flight == per_host


def test_dynamic_ranges_are_configurable_on_the_command_line() -> None:
    # 20123 is in the Exchange range by default; with that range narrowed to
    # 6005-19999 it is neither dynamic range's: a wrong static port instead.
    hosts = [{"address": "127.68.0.1", "profile": CAS, "ports": {"mapi": 20123}}]
    config = parse_lab({"lab": {"epm_port": EPM_PORT}, "hosts": hosts}, "ranges lab")
    base = [
        "check",
        "127.68.0.1",
        "--port",
        str(EPM_PORT),
        "--expect",
        "mapi=60001",
        "--jsonl",
        "-",
    ]
    with LabThread(config):
        default = run_cli(*base)
        narrowed = run_cli(*base, "--exchange-range", "6005-19999")
    codes = [
        {f["code"] for f in jsonl_hosts(run.stdout)[0]["exchange"]["findings"]}
        for run in (default, narrowed)
    ]
    assert "mapi.dynamic" in codes[0] and "mapi.wrong_static" not in codes[0]
    assert "mapi.wrong_static" in codes[1] and "mapi.dynamic" not in codes[1]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--windows-range", "49152"], "FIRST-LAST"),
        (["--exchange-range", "7000-6000"], "ends before it starts"),
        (["--exchange-range", "6005-70000"], "70000"),
        (["--policy", "x.toml", "--windows-range", "1-2"], "--policy does not go with"),
    ],
)
def test_bad_ranges_are_usage_errors(args: list[str], needle: str) -> None:
    run = run_cli("check", "127.68.0.1", "--port", "1", *args)
    assert run.returncode == 2, run.describe()
    assert needle in run.stderr and run.stderr.strip().count("\n") == 0
