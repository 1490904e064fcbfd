"""``scan -iL`` of a 10-million-line file: bounded memory, first results at once, a fast refusal.

The file lists 127.106.0.0/16 over and over (10,027,008 lines); the scan goes to a port
where nothing listens on that range, so every host is ``closed`` at once. Peak RSS is
the process's own high-water mark (``VmHWM`` in ``/proc/PID/status``, read while it
runs): ``wait4``'s ``ru_maxrss`` would not do, since a child started with ``vfork``
inherits the parent's (pytest's) high-water mark at ``exec``. The bounds are generous on
purpose (the machine is shared): they tell a streamed file (tens of MB, a few seconds)
from one held in memory (gigabytes, minutes).
"""

from __future__ import annotations

import ipaddress
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import cli_env

pytestmark = pytest.mark.slow

NETWORK = ipaddress.IPv4Network("127.106.0.0/16")
LINES = 153 * 65536
"""10,027,008 lines: the /16, 153 times."""
PEAK_RSS_BOUND = 150 * 1024 * 1024
FIRST_RESULT_BOUND = 60.0


@pytest.fixture(scope="module")
def huge_list(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("huge") / "targets.txt"
    block = "".join(f"{NETWORK[i]}\n" for i in range(NETWORK.num_addresses)).encode()
    with path.open("wb") as out:
        for _ in range(LINES // NETWORK.num_addresses):
            out.write(block)
    yield path
    path.unlink()


def closed_port() -> int:
    """A port nothing listens on at 127.106.0.1 (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.106.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def epmscan(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "epmscan", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )


def high_water(process: subprocess.Popen[bytes], peak: int = 0) -> int:
    """The process's peak RSS so far in bytes (``VmHWM``), at least ``peak``."""
    try:
        with open(f"/proc/{process.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return max(peak, int(line.split()[1]) * 1024)
    except OSError:
        pass
    return peak


def run_to_end(process: subprocess.Popen[bytes]) -> tuple[int, int]:
    """``(exit code, peak RSS in bytes)``, the peak read every 20 ms until it exits."""
    peak = 0
    while process.poll() is None:
        peak = high_water(process, peak)
        time.sleep(0.02)
    return process.returncode, peak


def test_a_huge_list_streams_in_bounded_memory(huge_list: Path, tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    started = time.monotonic()
    process = epmscan(
        "scan",
        "-iL",
        str(huge_list),
        "--max-hosts",
        str(LINES),
        "--port",
        str(closed_port()),
        "--jsonl",
        str(results),
        "--no-progress",
        "--concurrency",
        "200",
        "--connect-timeout",
        "2",
    )
    first_result = None
    peak = 0
    try:
        while time.monotonic() - started < FIRST_RESULT_BOUND and process.poll() is None:
            peak = high_water(process, peak)
            if results.exists() and results.stat().st_size > 0:
                first_result = time.monotonic() - started
                break
            time.sleep(0.05)
        until = time.monotonic() + 2.0  # let it run a little: memory must not grow with results
        while time.monotonic() < until and process.poll() is None:
            peak = high_water(process, peak)
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(30)
    stderr = process.stderr.read().decode() if process.stderr else ""
    assert first_result is not None, f"no result within {FIRST_RESULT_BOUND:g} s: {stderr}"
    assert code == 130, stderr
    assert peak < PEAK_RSS_BOUND, f"peak RSS {peak / 2**20:.0f} MB"
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    hosts = [line for line in lines if "summary" not in line and "epmscan" not in line]
    assert hosts and all(host["status"] == "closed" for host in hosts)
    assert all(ipaddress.IPv4Address(host["address"]) in NETWORK for host in hosts)
    assert lines[-1]["summary"]["targets"] == LINES
    print(
        f"first result after {first_result:.2f} s, {len(hosts)} hosts,"
        f" peak RSS {peak / 2**20:.1f} MB"
    )


def test_a_huge_list_over_max_hosts_is_refused_quickly(huge_list: Path) -> None:
    started = time.monotonic()
    process = epmscan("scan", "-iL", str(huge_list), "--max-hosts", "5", "--no-progress")
    code, peak = run_to_end(process)
    elapsed = time.monotonic() - started
    stderr = process.stderr.read().decode() if process.stderr else ""
    assert code == 2, stderr
    assert stderr.strip().splitlines() == [
        f"epmscan: the targets cover {LINES:,} hosts, more than the limit of 5;"
        f" pass --max-hosts {LINES} (or more) to scan them all"
    ]
    assert peak < PEAK_RSS_BOUND, f"peak RSS {peak / 2**20:.0f} MB"
    print(f"refused after {elapsed:.2f} s, peak RSS {peak / 2**20:.1f} MB")
