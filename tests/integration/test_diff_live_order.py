"""``diff BEFORE --live`` lists hosts by address, as ``diff BEFORE AFTER`` does.

The live check's hosts came in the order they finished, so the hosts that appeared were
listed in that order (a slow host last), on the console and in ``--json``; two saved
results, sorted by address when written, gave the address order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from epmscan.lab import LabThread
from epmscan.lab.config import parse_lab
from tests.support.cli import run_cli
from tests.support.loopback import free_port

SLOW, FAST, BASELINE = "127.124.8.1", "127.124.8.2", "127.124.8.3"


@pytest.fixture(scope="module")
def epm_port() -> Iterator[int]:
    port = free_port([SLOW, FAST, BASELINE])
    hosts = [
        {"address": SLOW, "profile": "windows-member", "delay": 1.0},
        {"address": FAST, "profile": "windows-member"},
        {"address": BASELINE, "profile": "windows-member"},
    ]
    config = parse_lab({"lab": {"epm_port": port}, "hosts": hosts}, "diff-order")
    with LabThread(config):
        yield port


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
