"""`epmscan demo`: six emulated Exchange servers, each with its planned problem found."""

from __future__ import annotations

from epmscan.app.demo import PLAN, demo_lab, demo_policy, missed_plan
from epmscan.lab import LabThread
from epmscan.models import ExchangeHostReport, HostResult, HostStatus
from tests.support.cli import run_cli
from tests.support.loopback import free_port


def test_demo_runs_as_planned_and_says_check_would_fail() -> None:
    run = run_cli("demo", "--epm-port", str(free_port(["127.0.10.1"])), timeout=60)
    assert run.returncode == 0, run.describe()
    for planned in PLAN:
        assert planned.address in run.stdout
        if planned.code:
            lines = [line.split("\t") for line in run.stdout.splitlines()]
            assert any(planned.address in cells and planned.code in cells for cells in lines)
    assert "would exit 1" in run.stdout
    assert any(line.startswith("fix\t1\t") for line in run.stdout.splitlines())


def test_demo_policy_covers_every_demo_host() -> None:
    policy = demo_policy()
    config = demo_lab(free_port(["127.0.10.1"]))
    assert {h.address for h in config.hosts} == {p.address for p in PLAN}
    assert all(policy.expectation_for(h.address) is not None for h in config.hosts)
    with LabThread(config) as lab:
        assert {h.address for h in lab.live_hosts} == {p.address for p in PLAN[:-1]}


def test_a_missed_plan_is_reported() -> None:
    clean = [ExchangeHostReport(HostResult(p.address, p.address, 135, HostStatus.OK)) for p in PLAN]
    problems = missed_plan(clean)
    assert len(problems) == len(PLAN) - 1  # the compliant host is fine, the others lack codes
    assert any("127.0.10.2" in p and "mapi.dynamic" in p for p in problems)
    assert missed_plan(clean[:1]) == [f"{p.address}: no result" for p in PLAN[1:]]
