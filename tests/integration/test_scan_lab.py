"""The scanner against a lab of tens of hosts mixed with closed and silent addresses."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from epmscan.engine.scanner import Scanner
from epmscan.lab import LabThread
from epmscan.lab.config import parse_lab
from epmscan.lab.server import Lab
from epmscan.models import HostResult, HostStatus
from epmscan.settings import NetworkSettings, ScanSettings, Timeouts
from epmscan.targets import TargetSpace
from tests.support.cli import cli_env, jsonl_hosts, run_cli
from tests.support.loopback import free_port

EPM_PORT = free_port(["127.0.0.1"])
NET = "127.61.0.0/26"
PROFILES = ("windows-member", "exchange2010-cas-static", "exchange2010-cas-dynamic")


def lab_hosts(ok: int, silent: int, base: str = "127.61.0.") -> list[dict[str, object]]:
    hosts: list[dict[str, object]] = []
    for i in range(ok):
        hosts.append({"address": f"{base}{i + 1}", "profile": PROFILES[i % len(PROFILES)]})
    for i in range(silent):
        hosts.append(
            {"address": f"{base}{ok + i + 1}", "profile": "windows-member", "silent_epm": True}
        )
    return hosts


def lab_config(hosts: list[dict[str, object]], epm_port: int = EPM_PORT):
    return parse_lab({"lab": {"epm_port": epm_port, "seed": 7}, "hosts": hosts}, "test lab")


def lab_toml(hosts: list[dict[str, object]], epm_port: int) -> str:
    lines = ["[lab]", f"epm_port = {epm_port}", "seed = 7"]
    for host in hosts:
        lines.append("[[hosts]]")
        for key, value in host.items():
            text = f'"{value}"' if isinstance(value, str) else str(value).lower()
            lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def scan(options: ScanSettings, spec: str = NET) -> list[HostResult]:
    results: list[HostResult] = []
    space = TargetSpace.parse([spec])
    asyncio.run(Scanner(options, results.append).run(space.iter_targets(1)))
    return results


@pytest.fixture(scope="module")
def mixed_lab() -> Iterator[Lab]:
    with LabThread(lab_config(lab_hosts(ok=12, silent=6))) as lab:
        yield lab


def test_every_host_gets_the_right_status(mixed_lab: Lab) -> None:
    options = ScanSettings(
        network=NetworkSettings(port=EPM_PORT, timeouts=Timeouts(connect=1.0, read=0.5, host=5.0)),
        concurrency=20,
    )
    results = scan(options)
    by_address = {r.address: r for r in results}
    assert len(results) == 64 == len(by_address)
    for i in range(1, 65):
        address = f"127.61.0.{i - 1}"
        result = by_address[address]
        number = int(ipaddress.ip_address(address)) & 63
        if 1 <= number <= 12:
            assert result.status is HostStatus.OK, result
            assert len(result.endpoints) > 100
        elif 13 <= number <= 18:
            assert result.status is HostStatus.TIMEOUT, result
        else:
            assert result.status is HostStatus.CLOSED, result


def test_concurrency_bound_holds_in_the_lab(mixed_lab: Lab) -> None:
    deadline = time.monotonic() + 5
    while mixed_lab.stats.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)  # connections of earlier tests drain
    options = ScanSettings(
        network=NetworkSettings(port=EPM_PORT, timeouts=Timeouts(connect=1.0, read=1.5, host=5.0)),
        concurrency=4,
    )
    results: list[HostResult] = []
    samples: list[int] = []

    async def main() -> None:
        space = TargetSpace.parse(["127.61.0.13-18"])  # six silent hosts: connections stay open
        scanning = asyncio.create_task(Scanner(options, results.append).run(space.iter_targets(1)))
        for _ in range(3):  # well inside the first wave of 1.5 s reads
            await asyncio.sleep(0.3)
            samples.append(mixed_lab.stats.in_flight)
        await scanning

    asyncio.run(main())
    assert samples == [4, 4, 4]
    assert [r.status for r in results] == [HostStatus.TIMEOUT] * 6


def test_per_host_deadline_cuts_a_slow_host(mixed_lab: Lab) -> None:
    options = ScanSettings(
        network=NetworkSettings(port=EPM_PORT, timeouts=Timeouts(connect=1.0, read=30.0, host=0.3)),
        concurrency=2,
    )
    started = time.monotonic()
    (result,) = scan(options, "127.61.0.13")
    assert time.monotonic() - started < 10
    assert result.status is HostStatus.TIMEOUT
    assert "deadline" in (result.error or "")


def test_max_rate_spaces_new_connections(mixed_lab: Lab) -> None:
    options = ScanSettings(
        network=NetworkSettings(port=EPM_PORT, timeouts=Timeouts(connect=1.0, read=0.5, host=5.0)),
        concurrency=20,
        max_rate=40.0,
    )
    started = time.monotonic()
    results = scan(options, "127.61.0.19-38")  # 20 closed addresses: instant answers
    elapsed = time.monotonic() - started
    assert len(results) == 20
    # 20 connections at 40/s cannot start in less than 19 intervals of 25 ms.
    assert elapsed >= 19 / 40 * 0.9


# --- the CLI: interruption, exit codes, console -------------------------------------------


@pytest.fixture(scope="module")
def lab_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A lab subprocess: 8 answering hosts and 40 that accept and never answer."""
    port = EPM_PORT + 1
    folder = tmp_path_factory.mktemp("lab")
    config = folder / "lab.toml"
    config.write_text(lab_toml(lab_hosts(ok=8, silent=40, base="127.62.0."), port))
    log = open(folder / "lab.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "epmscan", "lab", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=cli_env(),
    )
    try:
        deadline = time.monotonic() + 20
        while b"Stop with" not in (folder / "lab.log").read_bytes():
            assert process.poll() is None and time.monotonic() < deadline, (
                folder / "lab.log"
            ).read_text()
            time.sleep(0.05)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
        log.close()


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_scan_keeps_every_finished_host(
    lab_process: int, tmp_path: Path, signum: int, code: int
) -> None:
    out = tmp_path / "scan.jsonl"
    scan_process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "epmscan",
            "scan",
            "127.62.0.1-48",
            "--port",
            str(lab_process),
            "--concurrency",
            "48",
            "--read-timeout",
            "60",
            "--host-timeout",
            "120",
            "--jsonl",
            str(out),
            "--json",
            str(tmp_path / "scan.json"),
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=cli_env(),
    )
    deadline = time.monotonic() + 20
    while True:  # wait until the eight answering hosts are written
        done = out.read_text().count('"status":"ok"') if out.exists() else 0
        if done == 8:
            break
        assert time.monotonic() < deadline and scan_process.poll() is None
        time.sleep(0.05)
    scan_process.send_signal(signum)
    stdout, stderr = scan_process.communicate(timeout=15)
    assert scan_process.returncode == code, stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    hosts, summary = jsonl_hosts(out.read_text()), lines[-1]["summary"]
    assert lines[0]["epmscan"]["command"] == "scan"
    assert {h["address"] for h in hosts if h["status"] == "ok"} == {
        f"127.62.0.{i}" for i in range(1, 9)
    }
    assert all(len(h["endpoints"]) > 100 for h in hosts if h["status"] == "ok")
    assert summary["interrupted"] is True
    assert summary["signal"] == signal.Signals(signum).name
    assert summary["done"] == len(hosts)
    assert "interrupted" in stdout.decode()
    document = json.loads((tmp_path / "scan.json").read_text())  # closed properly
    by_address = sorted(hosts, key=lambda h: ipaddress.ip_address(h["address"]))
    assert document["hosts"] == by_address and document["summary"] == summary


def test_bad_target_is_a_one_line_usage_error() -> None:
    run = run_cli("scan", "10.0.0.300", "--port", "1")
    assert run.returncode == 2, run.describe()
    assert run.stderr.strip().count("\n") == 0
    assert "10.0.0.300" in run.stderr


def test_too_many_hosts_is_refused_before_anything_is_sent() -> None:
    run = run_cli("scan", "127.0.0.0/8", "--port", "1")
    assert run.returncode == 2, run.describe()
    assert "--max-hosts" in run.stderr


def test_plain_output_without_a_terminal(lab_process: int) -> None:
    run = run_cli("scan", "127.62.0.1-3", "127.62.0.60", "--port", str(lab_process))
    assert run.returncode == 0, run.describe()
    assert "\x1b[" not in run.stdout + run.stderr  # no progress bar, no colour codes
    lines = run.stdout.splitlines()
    assert lines[0].split("\t") == [
        "host",
        "status",
        "interfaces",
        "endpoints",
        "mapi",
        "nspi",
        "rfr",
        "note",
    ]
    assert all("\t" in line for line in lines[1:-1]) and lines[-1].startswith("# done: 4 of 4")
    assert not any(ch in run.stdout for ch in "┃│┏━")  # no box drawing off a terminal
    assert "127.62.0.60" not in run.stdout  # closed hosts are counted, not listed
    assert "closed 1" in run.stdout and "ok 3" in run.stdout
    verbose = run_cli("scan", "127.62.0.1-3", "--port", str(lab_process), "-v")
    assert "[uvloop]" in verbose.stdout or "[asyncio]" in verbose.stdout


def test_progress_bar_on_a_terminal(lab_process: int) -> None:
    import pty

    env = {k: v for k, v in cli_env().items() if k != "NO_COLOR"}
    env["TERM"] = "xterm"
    args = [
        sys.executable,
        "-m",
        "epmscan",
        "scan",
        "127.62.0.1-8",
        "127.62.0.9-12",
        "--port",
        str(lab_process),
        "--read-timeout",
        "1.5",
    ]
    pid, fd = pty.fork()
    if pid == 0:  # child: the scan on a pseudo-terminal
        os.execvpe(args[0], args, env)
    output = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    text = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "hosts/s" in text  # the live progress bar was drawn
    assert "Hosts that answered" in text


def test_map_mode_scan_lists_only_the_exchange_interfaces(lab_process: int) -> None:
    run = run_cli(
        "scan",
        "127.62.0.1-6",
        "--port",
        str(lab_process),
        "--mode",
        "map",
        "--jsonl",
        "-",
        "--no-progress",
    )
    assert run.returncode == 0, run.describe()
    hosts = [json.loads(line) for line in run.stdout.splitlines() if '"target"' in line]
    assert len(hosts) == 6 and {h["status"] for h in hosts} == {"ok"}
    by_profile = {PROFILES[(int(h["address"].rsplit(".", 1)[1]) - 1) % 3]: h for h in hosts}
    assert by_profile["windows-member"]["endpoints"] == []
    static = by_profile["exchange2010-cas-static"]["endpoints"]
    assert {(e["name"].split(":")[0], e["transport"], e["port"]) for e in static} >= {
        ("[MS-OXCRPC]", "ncacn_ip_tcp", 60001),
        ("[MS-OXCRPC]", "ncacn_http", 6001),
        ("[MS-OXNSPI]", "ncacn_ip_tcp", 60002),
    }


def test_shards_need_a_shared_seed() -> None:
    run = run_cli("scan", "127.62.0.0/28", "--port", "1", "--shard", "2/4")
    assert run.returncode == 2 and "--seed" in run.stderr, run.describe()


def test_shards_with_one_seed_split_the_scan_exactly(lab_process: int, tmp_path: Path) -> None:
    seen: list[str] = []
    for k in range(1, 4):
        out = tmp_path / f"shard{k}.jsonl"
        run = run_cli(
            "scan",
            "127.62.0.1-12",
            "--port",
            str(lab_process),
            "--seed",
            "99",
            "--shard",
            f"{k}/3",
            "--jsonl",
            str(out),
            "--read-timeout",
            "0.3",
        )
        assert run.returncode == 0, run.describe()
        seen += [host["address"] for host in jsonl_hosts(out.read_text())]
    assert sorted(seen) == sorted(f"127.62.0.{i}" for i in range(1, 13))
