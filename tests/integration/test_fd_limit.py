"""A /20 scan under ``ulimit -n 256``: every host's status right, no spinning.

The scan runs as a subprocess whose open-file limit is 256 (soft and hard, set before
it starts); the lab runs in this process, outside the limit: 40 answering hosts, 12
that accept and stay silent, 12 whose SYNs are dropped, scattered over
127.105.32.0/20; every other address is refused by the kernel. Through the command
line the run lowers its concurrency to what fits (and says so); the engine on its own,
asked for 2,000 in flight, runs into EMFILE and must adapt its window.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from epmscan.lab import LabThread, load_lab_file
from tests.support.cli import cli_env
from tests.support.scattered import free_port_on, scattered_addresses, write_lab

NETWORK = "127.105.32.0/20"
FD_LIMIT = 256


@dataclass(frozen=True)
class ScatteredLab:
    port: int
    live: list[str]
    silent: list[str]
    filtered: list[str]

    def expected(self, address: str) -> str:
        if address in self.live:
            return "ok"
        if address in self.silent:
            return "timeout"
        if address in self.filtered:
            return "filtered"
        return "closed"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScatteredLab]:
    addresses = scattered_addresses(NETWORK, 64, seed=23)
    live, silent, filtered = addresses[::3][:40], addresses[1::3][:12], addresses[2::3][:12]
    live += [a for a in addresses if a not in live + silent + filtered][: 40 - len(live)]
    port = free_port_on(addresses)
    path = write_lab(
        tmp_path_factory.mktemp("lab") / "lab.toml", port, live, silent=silent, filtered=filtered
    )
    with LabThread(load_lab_file(path)):
        yield ScatteredLab(port, live, silent, filtered)


def limited_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def run_limited(args: list[str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=cli_env(),
        preexec_fn=limited_fds,
    )


TIMEOUTS = ["--connect-timeout", "0.5", "--read-timeout", "0.5"]


@pytest.mark.slow
def test_the_command_fits_its_concurrency_to_the_limit_and_gets_every_status_right(
    lab: ScatteredLab, tmp_path: Path
) -> None:
    out = tmp_path / "scan.jsonl"
    run = run_limited(
        [sys.executable, "-m", "epmscan", "scan", NETWORK, "--port", str(lab.port), *TIMEOUTS]
        + ["--jsonl", str(out), "--no-progress"]
    )
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    hosts, summary = lines[1:-1], lines[-1]["summary"]
    assert "epmscan" in lines[0]  # the header
    statuses = {h["address"]: h["status"] for h in hosts}
    assert len(hosts) == len(statuses) == 4096 == summary["done"]
    wrong = {a: s for a, s in statuses.items() if s != lab.expected(a)}
    assert wrong == {}
    assert "open-file limit 256" in run.stderr
    assert "Traceback" not in run.stderr


ENGINE_SCAN = textwrap.dedent(
    """
    import asyncio, json, sys
    from epmscan.engine.scanner import Scanner
    from epmscan.settings import NetworkSettings, ScanSettings, Timeouts
    from epmscan.targets import TargetSpace

    port = int(sys.argv[1])
    settings = ScanSettings(
        network=NetworkSettings(port=port, timeouts=Timeouts(connect=0.5, read=0.5)),
        concurrency=2000,
    )
    statuses = {}

    async def main():
        scanner = Scanner(settings, lambda r: statuses.setdefault(r.address, []).append(r.status))
        await scanner.run(TargetSpace.parse([sys.argv[2]]).iter_targets(1))
        return scanner

    scanner = asyncio.run(main())
    print(json.dumps({
        "statuses": {a: [s.value for s in v] for a, v in statuses.items()},
        "local_errors": scanner.progress.local_errors,
        "fd_cap": scanner.window.control.fd_cap,
    }))
    """
)


@pytest.mark.slow
def test_the_engine_asked_for_more_than_fits_adapts_its_window(lab: ScatteredLab) -> None:
    run = run_limited([sys.executable, "-c", ENGINE_SCAN, str(lab.port), NETWORK])
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    statuses = report["statuses"]
    assert len(statuses) == 4096
    assert all(len(v) == 1 for v in statuses.values())  # each host handed over once
    wrong = {a: v[0] for a, v in statuses.items() if v[0] != lab.expected(a)}
    assert wrong == {}
    # it ran out of descriptors, capped its window below the limit, and did not spin
    assert report["local_errors"] >= 1
    assert report["fd_cap"] is not None and report["fd_cap"] < FD_LIMIT
    assert report["local_errors"] < 4096
