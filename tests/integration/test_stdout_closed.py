"""Output to a pipe whose reader has gone (``epmscan ... | head``) or to a full disk:
one line, exit 2.

docs/conventions.md: an output that cannot be written is exit 2 with one line on stderr.
A closed pipe used to end ``dump`` and the consoles of ``scan`` and ``check`` with exit 1
and no word (click's own handling: 1 is "the host did not answer" or "a finding"), and
``scan --json -`` with exit 120 and Python's "Exception ignored" at the final flush; a
full disk (/dev/full) was a traceback from every command.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from epmscan.lab import LabThread
from epmscan.lab.config import parse_lab
from tests.support.cli import cli_env
from tests.support.loopback import free_port

ADDRESS = "127.124.7.1"
SECOND = "127.124.7.2"


@pytest.fixture(scope="module")
def epm_port() -> Iterator[int]:
    port = free_port([ADDRESS, SECOND])
    hosts = [{"address": a, "profile": "windows-member"} for a in (ADDRESS, SECOND)]
    config = parse_lab({"lab": {"epm_port": port}, "hosts": hosts}, "closed-stdout")
    with LabThread(config):
        yield port


def run_with_reader_gone(*args: str) -> tuple[int, str]:
    """Run the command with its stdout a pipe whose read end is already closed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "epmscan", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=cli_env(),
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read().decode("utf-8", "replace")
    return process.wait(timeout=60), stderr


@pytest.mark.parametrize(
    "form",
    [
        ("dump", "{ADDRESS}", "-p", "{PORT}"),
        ("dump", "{ADDRESS}", "-p", "{PORT}", "--json"),
        ("scan", "{ADDRESS}", "{SECOND}", "-p", "{PORT}"),
        ("scan", "{ADDRESS}", "{SECOND}", "-p", "{PORT}", "--json", "-"),
        ("scan", "{ADDRESS}", "{SECOND}", "-p", "{PORT}", "--jsonl", "-"),
        ("check", "{ADDRESS}", "-p", "{PORT}", "--expect", "mapi=60001", "--fail-on", "critical"),
    ],
    ids=["dump", "dump-json", "scan", "scan-json", "scan-jsonl", "check"],
)
def test_a_reader_that_went_away_is_one_line_and_exit_2(
    epm_port: int, form: tuple[str, ...]
) -> None:
    names = {"{ADDRESS}": ADDRESS, "{SECOND}": SECOND, "{PORT}": str(epm_port)}
    code, stderr = run_with_reader_gone(*(names.get(a, a) for a in form))
    assert code == 2, stderr
    assert stderr == "epmscan: cannot write standard output: Broken pipe\n"


@pytest.mark.parametrize(
    "form",
    [
        ("dump", "{ADDRESS}", "-p", "{PORT}"),
        ("scan", "{ADDRESS}", "-p", "{PORT}", "--jsonl", "-"),
        ("scan", "{ADDRESS}", "-p", "{PORT}", "--json", "-"),
        ("lab", "--list-profiles"),
        ("--help",),
    ],
    ids=["dump", "scan-jsonl", "scan-json", "lab-profiles", "help"],
)
def test_a_full_disk_on_stdout_is_one_line_and_exit_2(epm_port: int, form: tuple[str, ...]) -> None:
    names = {"{ADDRESS}": ADDRESS, "{PORT}": str(epm_port)}
    with open("/dev/full", "wb") as full:
        completed = subprocess.run(
            [sys.executable, "-m", "epmscan", *(names.get(a, a) for a in form)],
            stdout=full,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=cli_env(),
            timeout=60,
        )
    stderr = completed.stderr.decode("utf-8", "replace")
    assert completed.returncode == 2, stderr
    assert stderr == "epmscan: cannot write standard output: No space left on device\n"
