"""Addresses no scan should connect to: unspecified (``0.0.0.0``, ``::``) and multicast.

A connect to the unspecified address reaches the local machine, and one to a multicast
group is refused by TCP or, worse, goes to whatever answers locally; neither is a host on
the network. They are dropped from the targets like an ``--exclude`` and counted, so the
run can say how many it left out. Network and broadcast addresses of a block stay in, as
nmap keeps them (docs/targets.md).
"""

from __future__ import annotations

import ipaddress
from typing import Final

from epmscan.targets.intervals import Interval, size, subtract
from epmscan.targets.parse import IPV4, IPV6

UNSCANNABLE: Final[dict[int, tuple[Interval, ...]]] = {
    IPV4: ((0, 1), (0xE000_0000, 0xF000_0000)),
    IPV6: ((0, 1), (0xFF << 120, 1 << 128)),
}
"""Per family, the merged intervals left out: the unspecified address and multicast."""


def unscannable_reason(address: str) -> str | None:
    """``unspecified`` or ``multicast`` for an address no scan connects to, else None."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    return None


def count_unscannable(family: int, intervals: list[Interval]) -> int:
    """How many addresses of the merged ``intervals`` are unscannable."""
    return size(intervals) - size(subtract(intervals, list(UNSCANNABLE[family])))


def skipped_note(count: int) -> str:
    """The note a run prints when it left unscannable addresses out."""
    noun = "address" if count == 1 else "addresses"
    return f"skipped {count:,} {noun} no scan can reach (unspecified 0.0.0.0 or ::, or multicast)"
