"""Firewalls as the kernel makes them: drop, ICMP unreachable, no route, in a private netns.

Each test makes its own network namespace (only ``lo`` in it, nothing leaves it), sets
nftables rules there, runs ``epmscan dump`` inside it against 127.0.0.1 and removes the
namespace again. Needs root, ``ip`` and ``nft``; skipped otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from tests.support.cli import cli_env

pytestmark = [pytest.mark.netns]


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")


@pytest.fixture
def netns() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    _need("ip")
    name = f"epmtest{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"ip netns add failed: {made.stderr.strip()}")
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def in_ns(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", name, *args], capture_output=True, text=True, timeout=60
    )


def nft(name: str, *rules: str) -> None:
    _need("nft")
    script = "table inet epmtest {\n chain out {\n  type filter hook output priority 0;\n"
    script += "".join(f"  {rule}\n" for rule in rules) + " }\n}\n"
    done = subprocess.run(
        ["ip", "netns", "exec", name, "nft", "-f", "-"],
        input=script,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"nft refused the rules: {done.stderr.strip()}")


def dump(name: str) -> tuple[int, dict[str, object]]:
    run = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            name,
            sys.executable,
            "-m",
            "epmscan",
            "dump",
            "127.0.0.1",
            "--port",
            "135",
            "--timeout",
            "0.5",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(),
    )
    return run.returncode, json.loads(run.stdout)


def test_lo_down_is_unreachable(netns: str) -> None:
    code, data = dump(netns)  # lo is down in a fresh namespace: no route anywhere
    assert code == 1
    assert data["status"] == "unreachable"
    assert "unreachable" in str(data["error"])


def test_dropped_syns_are_filtered(netns: str) -> None:
    assert in_ns(netns, "ip", "link", "set", "lo", "up").returncode == 0
    nft(netns, "tcp dport 135 drop")
    code, data = dump(netns)
    assert (code, data["status"]) == (1, "filtered")


def test_icmp_host_unreachable_is_unreachable(netns: str) -> None:
    assert in_ns(netns, "ip", "link", "set", "lo", "up").returncode == 0
    nft(netns, "tcp dport 135 reject with icmp type host-unreachable")
    code, data = dump(netns)
    assert (code, data["status"]) == (1, "unreachable")


def test_tcp_reset_is_closed(netns: str) -> None:
    assert in_ns(netns, "ip", "link", "set", "lo", "up").returncode == 0
    nft(netns, "tcp dport 135 reject with tcp reset")
    code, data = dump(netns)
    assert (code, data["status"]) == (1, "closed")
