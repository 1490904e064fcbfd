"""``diff BEFORE --live``: hosts by address, and ``--save`` never replaced by a partial check.

The live check's hosts came in the order they finished, so the hosts that appeared were
listed in that order (a slow host last), on the console and in ``--json``; two saved
results, sorted by address when written, gave the address order.

``--save`` is the next baseline. An interrupted live check compares nothing, and it used
to replace the baseline anyway (``diff base.json --live ... --save base.json`` and Ctrl-C
left ``base.json`` with the hosts checked so far, none at all for a quick Ctrl-C).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from epmscan.lab import Lab, LabThread
from epmscan.lab.config import parse_lab
from tests.support.cli import cli_env, run_cli
from tests.support.loopback import free_port

SLOW, FAST, BASELINE, SILENT = "127.124.8.1", "127.124.8.2", "127.124.8.3", "127.124.8.4"


@pytest.fixture(scope="module")
def lab() -> Iterator[tuple[Lab, int]]:
    port = free_port([SLOW, FAST, BASELINE, SILENT])
    hosts = [
        {"address": SLOW, "profile": "windows-member", "delay": 1.0},
        {"address": FAST, "profile": "windows-member"},
        {"address": BASELINE, "profile": "windows-member"},
        {"address": SILENT, "profile": "windows-member", "fault": "silent"},
    ]
    config = parse_lab({"lab": {"epm_port": port}, "hosts": hosts}, "diff-live")
    with LabThread(config) as running:
        yield running, port


@pytest.fixture(scope="module")
def epm_port(lab: tuple[Lab, int]) -> int:
    return lab[1]


def test_hosts_that_appeared_come_by_address(epm_port: int, tmp_path: Path) -> None:
    before = tmp_path / "before.json"
    saved = run_cli("check", BASELINE, "--port", str(epm_port), "--save", str(before))
    assert saved.returncode == 0, saved.describe()
    live = ["--live", f"{SLOW}-3", "--port", str(epm_port), "--read-timeout", "5"]
    run = run_cli("diff", str(before), *live, "--json", "-", timeout=60)
    assert run.returncode == 0, run.describe()
    appeared = [host["address"] for host in run.json()["appeared"]]
    assert appeared == [SLOW, FAST]
    console = run_cli("diff", str(before), *live, "--save", str(tmp_path / "next.json"))
    assert console.returncode == 0, console.describe()
    listed = [line.split()[1] for line in console.stdout.splitlines() if line.startswith("+ ")]
    assert listed == [SLOW, FAST]
    hosts = json.loads((tmp_path / "next.json").read_text())["hosts"]
    assert [host["address"] for host in hosts] == [SLOW, FAST, BASELINE]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_live_check_leaves_the_baseline_alone(
    lab: tuple[Lab, int], tmp_path: Path, signum: int, code: int
) -> None:
    running, port = lab
    before = tmp_path / "base.json"
    saved = run_cli("check", BASELINE, "--port", str(port), "--save", str(before))
    assert saved.returncode == 0, saved.describe()
    baseline = before.read_bytes()
    silent = running.hosts[SILENT].stats
    accepted = silent.accepted
    live = ["--live", FAST, "--live", SILENT, "--port", str(port), "--read-timeout", "30"]
    process = subprocess.Popen(
        [sys.executable, "-m", "epmscan", "diff", str(before), *live, "--save", str(before)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=cli_env(),
    )
    deadline = time.monotonic() + 30
    while silent.accepted == accepted and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == code, stderr
    assert before.read_bytes() == baseline
    partial = tmp_path / "base.json.partial"
    assert partial.exists()
    assert f"{before} is unchanged" in stderr.decode()
