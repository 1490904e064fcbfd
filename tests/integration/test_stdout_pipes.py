"""Output through a pipe whose reader is slow arrives whole, buffered or not.

Under ``PYTHONUNBUFFERED=1`` (``python -u``, most container images) the text streams
sit on the file descriptors; a write that a full pipe takes only partly used to lose
the rest without a word, so ``dump --json | slow-reader`` got the first 64 KiB. Each
case here starts the command, waits until the pipe is surely full, then reads.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from epmscan.lab import LabThread
from epmscan.lab.config import parse_lab
from tests.support.cli import cli_env, jsonl_hosts
from tests.support.loopback import free_port

ADDRESS = "127.115.0.1"
SECOND = "127.115.0.2"
THIRD = "127.115.0.3"
PIPE_CAPACITY = 65536


@pytest.fixture(scope="module")
def epm_port() -> Iterator[int]:
    port = free_port([ADDRESS, SECOND, THIRD])
    hosts = [{"address": a, "profile": "windows-member"} for a in (ADDRESS, SECOND, THIRD)]
    config = parse_lab({"lab": {"epm_port": port}, "hosts": hosts}, "pipes")
    with LabThread(config):
        yield port


def run_with_slow_reader(*args: str, unbuffered: bool) -> tuple[int, str]:
    env = cli_env()
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    else:
        env.pop("PYTHONUNBUFFERED", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "epmscan", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    time.sleep(3.0)  # the command has written (or is blocked on) a full pipe by now
    stdout, _ = process.communicate(timeout=60)
    return process.returncode, stdout.decode("utf-8")


@pytest.mark.parametrize("unbuffered", [True, False])
@pytest.mark.parametrize(
    "form",
    [
        ("dump", "{ADDRESS}", "-p", "{PORT}", "--json"),
        ("scan", "{ADDRESS}", "{SECOND}", "-p", "{PORT}", "--json", "-"),
        ("scan", "{ADDRESS}", "{SECOND}", "-p", "{PORT}", "--jsonl", "-"),
        ("scan", "{ADDRESS}", "{SECOND}", "{THIRD}", "-p", "{PORT}", "--csv", "-"),
    ],
    ids=["dump-json", "scan-json", "scan-jsonl", "scan-csv"],
)
def test_a_slow_reader_gets_everything(
    epm_port: int, form: tuple[str, ...], unbuffered: bool
) -> None:
    names = {"{ADDRESS}": ADDRESS, "{SECOND}": SECOND, "{THIRD}": THIRD, "{PORT}": str(epm_port)}
    args = [names.get(a, a) for a in form]
    code, stdout = run_with_slow_reader(*args, unbuffered=unbuffered)
    assert code == 0
    assert len(stdout.encode()) > PIPE_CAPACITY  # more than the pipe holds at once
    if "--jsonl" in args:
        hosts = jsonl_hosts(stdout)
    elif "--json" in args:
        document = json.loads(stdout)
        hosts = [document] if args[0] == "dump" else document["hosts"]
    else:
        rows = list(csv.DictReader(io.StringIO(stdout)))
        assert {row["address"] for row in rows} == {ADDRESS, SECOND, THIRD}
        assert sum(1 for row in rows if row["address"] == THIRD) > 100
        return
    assert all(h["status"] == "ok" and len(h["endpoints"]) > 100 for h in hosts)
