"""SIGINT and SIGTERM on ``scan`` and ``check``: clean stderr, 130/143, complete files.

A lab subprocess serves 8 answering hosts and 30 that accept and never answer,
scattered over 127.105.1.0/24 (every other address is refused). The scan waits for
the 8 answers, then is signalled while the silent hosts are in flight (with a read
timeout of a minute they outlive the grace period and are cancelled): the kind of run
that printed ``_GatheringFuture exception was never retrieved ... CancelledError``.
A second SIGINT stops at once, without waiting for the grace period.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import cli_env
from tests.support.lab import LabProcess, start_lab_file
from tests.support.scattered import free_port_on, scattered_addresses, write_lab

NETWORK = "127.105.1.0/24"
SLOW = ["--read-timeout", "60", "--host-timeout", "120", "--connect-timeout", "2"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    addresses = scattered_addresses(NETWORK, 38, seed=5)
    live, silent = addresses[:8], addresses[8:]
    port = free_port_on(addresses)
    folder = tmp_path_factory.mktemp("lab")
    config = write_lab(folder / "lab.toml", port, live, silent=silent)
    process = start_lab_file(config, live[0], port, folder / "lab.log")
    try:
        process.profile = ",".join(live)  # the answering hosts, for the assertions
        yield process
    finally:
        process.stop()


def live_hosts(lab: LabProcess) -> set[str]:
    return set(lab.profile.split(","))


def start(command: str, lab: LabProcess, folder: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "epmscan", command, NETWORK, "--port", str(lab.epm_port), *SLOW]
        + ["--jsonl", str(folder / "out.jsonl"), "--json", str(folder / "out.json")]
        + ["--no-progress", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=cli_env(),
    )


def wait_for_answers(process: subprocess.Popen[bytes], jsonl: Path, count: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        text = jsonl.read_text() if jsonl.exists() else ""
        if text.count('"status":"ok"') >= count:
            return
        assert process.poll() is None, process.communicate()[1].decode()
        assert time.monotonic() < deadline, "the answering hosts were not written"
        time.sleep(0.05)


def assert_clean_stderr(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert "never retrieved" not in stderr, stderr
    assert "CancelledError" not in stderr, stderr
    assert all(line.startswith("epmscan: warning:") for line in stderr.splitlines()), stderr


def assert_files_complete(folder: Path, lab: LabProcess, signum: int) -> None:
    lines = [json.loads(line) for line in (folder / "out.jsonl").read_text().splitlines()]
    header, hosts, summary = lines[0]["epmscan"], lines[1:-1], lines[-1]["summary"]
    assert header["command"] in ("scan", "check")
    assert {h["address"] for h in hosts if h["status"] == "ok"} == live_hosts(lab)
    assert len({h["address"] for h in hosts}) == len(hosts) == summary["done"]
    assert summary["interrupted"] is True
    assert summary["signal"] == signal.Signals(signum).name
    document = json.loads((folder / "out.json").read_text())  # closed properly
    by_address = {h["address"]: h for h in hosts}
    assert {h["address"]: h for h in document["hosts"]} == by_address  # sorted there
    assert document["summary"] == summary


@pytest.mark.slow
@pytest.mark.parametrize("command", ["scan", "check"])
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_run_cleanly(
    lab: LabProcess, tmp_path: Path, command: str, signum: int, code: int
) -> None:
    process = start(command, lab, tmp_path)
    wait_for_answers(process, tmp_path / "out.jsonl", 8)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr.decode()
    assert_clean_stderr(stderr.decode())
    assert_files_complete(tmp_path, lab, signum)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["scan", "check"])
def test_a_second_sigint_stops_at_once_and_cleanly(
    lab: LabProcess, tmp_path: Path, command: str
) -> None:
    process = start(command, lab, tmp_path)
    wait_for_answers(process, tmp_path / "out.jsonl", 8)
    process.send_signal(signal.SIGINT)
    time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr.decode()
    assert_clean_stderr(stderr.decode())
    assert_files_complete(tmp_path, lab, signal.SIGINT)


PATIENT_SCAN = textwrap.dedent(
    """
    import sys
    from epmscan.app.observer import RunObserver
    from epmscan.app.scan import run_scan
    from epmscan.settings import (
        NetworkSettings, OutputSettings, ScanSettings, TargetSettings, Timeouts,
    )

    settings = ScanSettings(
        targets=TargetSettings(specs=(sys.argv[2],)),
        network=NetworkSettings(
            port=int(sys.argv[1]), timeouts=Timeouts(connect=2, read=600, host=600)
        ),
        outputs=OutputSettings(jsonl=sys.argv[3]),
        grace=600.0,
    )
    outcome = run_scan(settings, RunObserver())
    print(outcome.signal, outcome.summary.done, flush=True)
    """
)


@pytest.mark.slow
def test_a_second_sigint_does_not_wait_for_the_grace_period(
    lab: LabProcess, tmp_path: Path
) -> None:
    # Ten minutes of grace and hosts that would hold for ten minutes: only the second
    # signal can end this run within the generous bound below.
    jsonl = tmp_path / "out.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-c", PATIENT_SCAN, str(lab.epm_port), NETWORK, str(jsonl)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=cli_env(),
    )
    wait_for_answers(process, jsonl, 8)
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    assert process.poll() is None  # the first signal waits for the hosts in flight
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr.decode()
    assert_clean_stderr(stderr.decode())
    assert stdout.decode().split()[0] == "SIGINT"
    assert json.loads(jsonl.read_text().splitlines()[-1])["summary"]["interrupted"] is True
