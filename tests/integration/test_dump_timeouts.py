"""``epmscan dump``'s --connect-timeout, --read-timeout and -t/--timeout reach the socket.

Two ports that never answer, both made with plain sockets on this suite's own loopback
range: a silent one (the kernel completes the handshake, nobody ever reads) waits on the
read timeout, a filtered one (a full accept queue drops the SYN) on the connect timeout.
Each error names the deadline that ran out.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.support.cli import run_cli

ADDRESS = "127.108.20.1"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (into its queue) and never sends a byte."""
    with socket.socket() as listener:
        listener.bind((ADDRESS, 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.fixture
def filtered_port() -> Iterator[int]:
    """A port whose SYNs go unanswered: a never-accepting listener, its queue full."""
    listener = socket.socket()
    listener.bind((ADDRESS, 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(2):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex((ADDRESS, port))
        fillers.append(filler)
    try:
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def dump(port: int, *options: str) -> tuple[str, str]:
    """The status and error of a dump that must fail (exit 1, one line on stderr)."""
    run = run_cli("dump", ADDRESS, "--port", str(port), "--json", *options, timeout=30)
    assert run.returncode == 1, run.describe()
    assert len(run.stderr.strip().splitlines()) == 1, run.describe()
    result = run.json()
    return result["status"], result["error"]


@pytest.mark.parametrize(
    ("options", "waited"),
    [
        (("--read-timeout", "0.3"), "0.3"),
        (("-t", "0.4"), "0.4"),
        (("--timeout", "0.4"), "0.4"),
        (("-t", "20", "--read-timeout", "0.3"), "0.3"),
        (("--connect-timeout", "20", "--read-timeout", "0.3"), "0.3"),
    ],
)
def test_a_silent_port_waits_the_read_timeout(
    silent_port: int, options: tuple[str, ...], waited: str
) -> None:
    status, error = dump(silent_port, *options)
    assert status == "timeout"
    assert error.endswith(f"no answer within {waited} s"), error


@pytest.mark.parametrize(
    ("options", "waited"),
    [
        (("--connect-timeout", "0.3"), "0.3"),
        (("-t", "0.4"), "0.4"),
        (("-t", "20", "--connect-timeout", "0.3"), "0.3"),
        (("--read-timeout", "20", "--connect-timeout", "0.3"), "0.3"),
    ],
)
def test_a_filtered_port_waits_the_connect_timeout(
    filtered_port: int, options: tuple[str, ...], waited: str
) -> None:
    status, error = dump(filtered_port, *options)
    assert status == "filtered"
    assert error.endswith(f"no answer to connect within {waited} s"), error
