"""The packet records the analysis consumes: one TCP segment, one ICMP unreachable.

Plain named tuples (cheap to make by the million), independent of any capture library:
:mod:`epmscan.capture.frames` makes them from link-layer bytes, tests make them by hand.
"""

from __future__ import annotations

from typing import NamedTuple

FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10


class Segment(NamedTuple):
    """One TCP segment as the capture shows it."""

    frame: int
    time: float
    src: str
    dst: str
    sport: int
    dport: int
    flags: int
    ttl: int
    """IPv4 TTL or IPv6 hop limit."""
    seq: int
    payload: bytes
    missing: int = 0
    """Payload bytes the segment carried on the wire but the capture did not keep (snaplen)."""


class IcmpUnreachable(NamedTuple):
    """An ICMP (v4 type 3) or ICMPv6 (type 1) destination unreachable quoting a TCP segment."""

    frame: int
    time: float
    sender: str
    """Who sent the ICMP message (a router, a firewall or the host itself)."""
    icmp_type: int
    icmp_code: int
    ipv6: bool
    src: str
    """The quoted segment's source, destination and ports: the connection it refers to."""
    dst: str
    sport: int
    dport: int
    ttl: int = 0
    """The ICMP message's own TTL (hop limit) as captured: how far its sender is."""


Record = Segment | IcmpUnreachable


_ICMP4_CODES = {
    0: "network unreachable",
    1: "host unreachable",
    2: "protocol unreachable",
    3: "port unreachable",
    4: "fragmentation needed",
    5: "source route failed",
    6: "destination network unknown",
    7: "destination host unknown",
    9: "network administratively prohibited",
    10: "host administratively prohibited",
    11: "network unreachable for TOS",
    12: "host unreachable for TOS",
    13: "communication administratively prohibited",
    14: "host precedence violation",
    15: "precedence cutoff in effect",
}
_ICMP6_CODES = {
    0: "no route to destination",
    1: "communication administratively prohibited",
    2: "beyond scope of source address",
    3: "address unreachable",
    4: "port unreachable",
    5: "source address failed ingress/egress policy",
    6: "reject route to destination",
}


def icmp_text(icmp_type: int, icmp_code: int, ipv6: bool) -> str:
    """``destination unreachable: communication administratively prohibited`` and the like."""
    table = _ICMP6_CODES if ipv6 else _ICMP4_CODES
    reason = table.get(icmp_code, f"code {icmp_code}")
    return f"destination unreachable: {reason}"
