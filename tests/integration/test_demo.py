"""`epmscan demo`: six emulated Exchange servers, each with its planned problem found.

Every demo picks its own site (addresses and endpoint mapper port), so demos run side by
side; when no site is free it says so on one line and exits 2.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from epmscan.app import demo
from epmscan.app.demo import PLAN, DemoSite, demo_lab, demo_policy, missed_plan, run_demo
from epmscan.cli.main import app
from epmscan.errors import UsageError
from epmscan.lab import LabThread
from epmscan.models import ExchangeHostReport, HostResult, HostStatus
from tests.support.cli import cli_env, run_cli
from tests.support.loopback import free_port

HEADING = re.compile(r"servers on (127\.\d+\.\d+\.\d+)-6, endpoint mapper on port (\d+)")
TEST_SITE_FIRST = "127.108.10.1"
"""A site of this suite's own range, for the tests that hold the demo's ports."""


def assert_ran_as_planned(stdout: str) -> DemoSite:
    """The demo's site, read from its heading; every planned problem found on it."""
    heading = HEADING.search(stdout)
    assert heading, stdout
    site = DemoSite(heading.group(1), int(heading.group(2)))
    for planned, address in zip(PLAN, site.addresses, strict=True):
        assert f"  {address}  {planned.story}" in stdout
        if planned.code:
            lines = [line.split("\t") for line in stdout.splitlines()]
            assert any(address in cells and planned.code in cells for cells in lines), planned
    assert "The demo ran as planned" in stdout
    assert "would exit 1" in stdout
    return site


def test_demo_runs_as_planned_and_says_check_would_fail() -> None:
    run = run_cli("demo", "--epm-port", str(free_port(["127.0.10.1"])), timeout=60)
    assert run.returncode == 0, run.describe()
    assert_ran_as_planned(run.stdout)
    assert any(line.startswith("fix\t1\t") for line in run.stdout.splitlines())


@pytest.mark.slow
def test_two_demos_at_once_both_run_as_planned() -> None:
    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "epmscan", "demo"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )

    first, second = start(), start()
    outputs = [process.communicate(timeout=120) for process in (first, second)]
    sites = []
    for process, (stdout, stderr) in zip((first, second), outputs, strict=True):
        assert process.returncode == 0, stdout + stderr
        assert "Traceback" not in stderr, stderr
        sites.append(assert_ran_as_planned(stdout))
    assert sites[0] != sites[1]
    # While both labs lived, they held the same static ports: only different addresses
    # let them coexist.
    assert set(sites[0].addresses).isdisjoint(sites[1].addresses)


def test_a_demo_moves_to_the_next_site_when_its_ports_are_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    taken = DemoSite(TEST_SITE_FIRST, free_port([TEST_SITE_FIRST]))
    moved_first = "127.108.11.1"
    monkeypatch.setattr(demo, "DEMO_FIRST_ADDRESSES", (TEST_SITE_FIRST, moved_first))
    seen: list[DemoSite] = []
    with socket.socket() as holder:
        holder.bind((taken.addresses[3], 60002))  # one static port on one server is enough
        outcome = run_demo(taken.epm_port, seen.append)
    assert seen == [DemoSite(moved_first, taken.epm_port)]
    assert outcome.site == seen[0]
    assert outcome.problems == ()
    assert {r.host.address for r in outcome.reports} == set(seen[0].addresses)


def test_no_free_site_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    site = DemoSite(TEST_SITE_FIRST, free_port([TEST_SITE_FIRST]))
    monkeypatch.setattr(demo, "DEMO_FIRST_ADDRESSES", (site.first,))
    with socket.socket() as holder:
        holder.bind((site.addresses[-1], site.epm_port))  # the switched-off server's address
        with pytest.raises(UsageError, match="no free loopback addresses"):
            run_demo(site.epm_port)
        result = CliRunner().invoke(app, ["demo", "--epm-port", str(site.epm_port)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert lines == [
        f"epmscan: no free loopback addresses for the demo lab (tried {site.label} with"
        f" endpoint mapper port {site.epm_port}; each needs the ports 6001, 6002, 6004,"
        " 60001, 60002 free)"
    ]


@pytest.mark.parametrize("port", ["0", "65536", "x"])
def test_a_bad_epm_port_is_a_usage_error(port: str) -> None:
    run = run_cli("demo", "--epm-port", port)
    assert run.returncode == 2, run.describe()
    assert "Traceback" not in run.stderr


def test_demo_policy_covers_every_demo_host() -> None:
    site = DemoSite("127.0.10.1", free_port(["127.0.10.1"]))
    policy = demo_policy(site)
    config = demo_lab(site)
    assert {h.address for h in config.hosts} == {p.address for p in PLAN}
    assert all(policy.expectation_for(h.address) is not None for h in config.hosts)
    with LabThread(config) as lab:
        assert {h.address for h in lab.live_hosts} == {p.address for p in PLAN[:-1]}


def test_a_moved_site_moves_the_lab_and_the_policy_together() -> None:
    site = DemoSite("127.0.42.1", 13135)
    assert site.addresses == tuple(f"127.0.42.{n}" for n in range(1, 7))
    assert site.label == "127.0.42.1-6"
    config = demo_lab(site)
    assert [h.address for h in config.hosts] == list(site.addresses)
    assert config.epm_port == 13135
    nominal, moved = demo_policy(), demo_policy(site)
    assert set(moved.targets()) == set(site.addresses)
    for planned, address in zip(PLAN, site.addresses, strict=True):
        assert moved.expectation_for(address) == nominal.expectation_for(planned.address)
        assert moved.expectation_for(planned.address) is None


def test_a_missed_plan_is_reported() -> None:
    clean = [ExchangeHostReport(HostResult(p.address, p.address, 135, HostStatus.OK)) for p in PLAN]
    problems = missed_plan(clean)
    assert len(problems) == len(PLAN) - 1  # the compliant host is fine, the others lack codes
    assert any("127.0.10.2" in p and "mapi.dynamic" in p for p in problems)
    assert missed_plan(clean[:1]) == [f"{p.address}: no result" for p in PLAN[1:]]
    elsewhere = DemoSite("127.0.11.1", 135)
    assert missed_plan(clean, elsewhere) == [f"{a}: no result" for a in elsewhere.addresses]
