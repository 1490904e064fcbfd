"""The one order hosts are shown and saved in: by address (IPv4, then IPv6), names last."""

from __future__ import annotations

import ipaddress

SortKey = tuple[int, int, str]


def address_key(address: str, fallback: str = "") -> SortKey:
    """Sort key putting addresses in numeric order (IPv4 first), names after them."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return (2, 0, fallback or address)
    return (0 if ip.version == 4 else 1, int(ip), "")
