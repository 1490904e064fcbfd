"""Firewalls as the kernel makes them: drop, ICMP unreachable, no route, in a private netns.

Each test makes its own network namespace (``tests/support/netns.py``: only ``lo`` in it,
nothing leaves it), sets nftables rules there, runs ``epmscan dump`` inside it against
127.0.0.1 and removes the namespace again, also when the test fails. Needs root, ``ip``
and ``nft``; skipped with the reason otherwise (but not in CI, which runs as root).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.netns import Namespace, TestNetwork, open_network

pytestmark = [pytest.mark.netns]


@pytest.fixture
def network() -> Iterator[TestNetwork]:
    with open_network("nft") as made:
        yield made


@pytest.fixture
def netns(network: TestNetwork) -> Namespace:
    return network.namespace("solo")


def output_rules(namespace: Namespace, *rules: str) -> None:
    body = "".join(f"    {rule}\n" for rule in rules)
    namespace.nft(
        "table inet epmn {\n  chain out {\n    type filter hook output priority 0;\n"
        f"{body}  }}\n}}\n"
    )


def dump(namespace: Namespace) -> tuple[int, dict[str, Any]]:
    run = namespace.epmscan("dump", "127.0.0.1", "--port", "135", "--timeout", "0.5", "--json")
    return run.returncode, run.json()


def test_lo_down_is_unreachable(network: TestNetwork) -> None:
    code, data = dump(network.namespace("solo", lo_up=False))  # no route anywhere
    assert code == 1
    assert data["status"] == "unreachable"
    assert "unreachable" in str(data["error"])
    assert data["icmp"] is None  # refused by the routing table, no ICMP message


def test_dropped_syns_are_filtered(netns: Namespace) -> None:
    output_rules(netns, "tcp dport 135 drop")
    code, data = dump(netns)
    assert (code, data["status"]) == (1, "filtered")


def test_icmp_host_unreachable_is_unreachable(netns: Namespace) -> None:
    output_rules(netns, "tcp dport 135 reject with icmp type host-unreachable")
    code, data = dump(netns)
    assert (code, data["status"]) == (1, "unreachable")
    assert (data["icmp"]["type"], data["icmp"]["code"]) == (3, 1)
    assert data["icmp"]["sender"] == "127.0.0.1"
    assert data["error"] == "no route to host: " + data["icmp"]["description"]


def test_tcp_reset_is_closed(netns: Namespace) -> None:
    output_rules(netns, "tcp dport 135 reject with tcp reset")
    code, data = dump(netns)
    assert (code, data["status"]) == (1, "closed")


def test_icmpv6_admin_prohibited_is_unreachable_with_its_detail(netns: Namespace) -> None:
    output_rules(netns, "ip6 daddr ::1 tcp dport 135 reject with icmpv6 type admin-prohibited")
    run = netns.epmscan("dump", "::1", "--port", "135", "--timeout", "0.5", "--json")
    data = run.json()
    assert (run.returncode, data["status"]) == (1, "unreachable"), run.describe()
    assert data["icmp"] == {
        "type": 1,
        "code": 1,
        "sender": "::1",
        "protocol": "icmpv6",
        "description": "ICMPv6 type 1 code 1 (communication administratively prohibited) from ::1",
    }
