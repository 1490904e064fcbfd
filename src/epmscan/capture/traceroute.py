"""A TCP SYN traceroute to several ports of one server at once (scapy, imported lazily).

For every TTL from 1 to ``max_hops`` and every port, one SYN with that TTL (IPv6: hop
limit) goes out through a raw socket (root or ``CAP_NET_RAW``); scapy's ``sr`` pairs each
with its answer: an ICMP time exceeded names a router on the way, a SYN-ACK or a reset
is the end of the path (the server, or a device answering for it), an ICMP destination
unreachable the device that rejects. Sent side by side for a failing port and for the
endpoint mapper's, the two columns show the hop where the first dies while the other
goes through (``checks.trace_verdicts.path_verdict`` says it in words).

This machine's kernel knows none of these connections: it answers a SYN-ACK with a
reset, so nothing stays half open on the server.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Sequence
from typing import Any

from epmscan.capture.sniffer import CaptureUnavailable, capture_unavailable, is_loopback
from epmscan.models.trace import PathProbe

_SYN = 0x02
_RST = 0x04
_ACK = 0x10


def _reply(sent: Any, answer: Any, ttl: int, port: int) -> PathProbe:
    from scapy.layers.inet import ICMP, IP, TCP
    from scapy.layers.inet6 import ICMPv6DestUnreach, ICMPv6TimeExceeded, IPv6

    address: str | None = None
    reply_ttl: int | None = None
    if answer.haslayer(IP):
        address, reply_ttl = str(answer[IP].src), int(answer[IP].ttl)
    elif answer.haslayer(IPv6):
        address, reply_ttl = str(answer[IPv6].src), int(answer[IPv6].hlim)
    rtt = round((float(answer.time) - float(sent.sent_time)) * 1000.0, 3)
    common: dict[str, Any] = {"address": address, "reply_ttl": reply_ttl, "rtt_ms": rtt}
    if answer.haslayer(ICMP):
        icmp = answer.getlayer(ICMP)
        kind = "time_exceeded" if icmp.type == 11 else "unreachable"
        return PathProbe(
            ttl, port, kind, icmp_type=int(icmp.type), icmp_code=int(icmp.code), **common
        )
    for layer, kind in ((ICMPv6TimeExceeded, "time_exceeded"), (ICMPv6DestUnreach, "unreachable")):
        if answer.haslayer(layer):
            icmp = answer.getlayer(layer)
            return PathProbe(
                ttl, port, kind, icmp_type=int(icmp.type), icmp_code=int(icmp.code), **common
            )
    if answer.haslayer(TCP):
        flags = int(answer.getlayer(TCP).flags)
        if flags & _RST:
            return PathProbe(ttl, port, "reset", **common)
        if flags & _SYN and flags & _ACK:
            return PathProbe(ttl, port, "syn_ack", **common)
    return PathProbe(ttl, port, "other", **common)


def syn_traceroute(
    address: str,
    ports: Sequence[int],
    *,
    max_hops: int,
    timeout: float,
    iface: str | None = None,
) -> tuple[PathProbe, ...]:
    """One probe per (TTL, port), answered or ``none``, in TTL then port order.

    Raises :class:`~epmscan.capture.sniffer.CaptureUnavailable` without the privilege of
    raw sockets or without scapy.
    """
    reason = capture_unavailable()
    if reason is not None:
        raise CaptureUnavailable(reason.replace("capturing packets", "a SYN traceroute"))
    try:
        from scapy.config import conf
        from scapy.layers.inet import IP, TCP
        from scapy.layers.inet6 import IPv6
        from scapy.sendrecv import sr
    except ImportError as exc:
        raise CaptureUnavailable(
            f"a SYN traceroute needs scapy (pip install 'epmscan[pcap]'): {exc}"
        ) from None
    six = ipaddress.ip_address(address).version == 6
    chooser = random.SystemRandom()
    probes = []
    for ttl in range(1, max_hops + 1):
        for port in ports:
            network = IPv6(dst=address, hlim=ttl) if six else IP(dst=address, ttl=ttl)
            segment = TCP(
                sport=chooser.randint(33000, 60999),
                dport=port,
                flags="S",
                seq=chooser.getrandbits(32),
            )
            probes.append(network / segment)
    options: dict[str, Any] = {"timeout": timeout, "verbose": 0}
    previous_socket = conf.L3socket
    if iface is not None and is_loopback(iface):
        from scapy.supersocket import L3RawSocket

        conf.L3socket = L3RawSocket
    try:
        answered, _unanswered = sr(probes, **options)
    except (OSError, RuntimeError) as exc:
        raise CaptureUnavailable(f"the SYN traceroute could not send: {exc}") from None
    finally:
        conf.L3socket = previous_socket
    replies: dict[tuple[int, int], PathProbe] = {}
    for sent, answer in answered:
        probe: Any = sent
        ttl = int(probe.hlim if six else probe.ttl)
        port = int(probe[TCP].dport)
        replies.setdefault((ttl, port), _reply(sent, answer, ttl, port))
    return tuple(
        replies.get((ttl, port), PathProbe(ttl, port, "none"))
        for ttl in range(1, max_hops + 1)
        for port in ports
    )
