"""Recording the packets of a trace while it runs (scapy's ``AsyncSniffer``, imported lazily).

A packet socket needs root or ``CAP_NET_RAW``: :func:`capture_unavailable` says why
capturing is impossible before anything heavy is imported (``import scapy.all`` costs
about 2 s and is never done; only the modules needed are). The interface is the one the
route to the server takes (:func:`route_interface`, read from scapy's copy of the
kernel's routing table), unless the user names one.

The kernel filters with BPF (:func:`bpf_filter`): TCP to and from the server, and ICMP
destination unreachable messages quoting a packet sent to it. Which of those packets
belong to the traced connections is decided afterwards by their addresses and ports
(``checks.trace_verdicts``). Each frame is decoded by the same code that reads capture
files (:class:`~epmscan.capture.frames.FrameDecoder`) into a
:class:`~epmscan.models.trace.WirePacket`.

On a loopback interface every packet passes the packet socket twice, once leaving and
once arriving, byte for byte the same: the second copy, seen within
:data:`LOOPBACK_TWIN_WINDOW`, is not counted. (A TCP retransmission is never that close:
Linux waits at least 200 ms.)
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from epmscan.capture.frames import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    FrameDecoder,
)
from epmscan.capture.records import IcmpUnreachable, Segment
from epmscan.models.trace import WirePacket

LOOPBACK_TWIN_WINDOW = 0.05
"""Seconds within which an identical frame on a loopback interface is the same packet."""
_ARPHRD_LOOPBACK = "772"
_LINKTYPES = {
    "Ether": LINKTYPE_ETHERNET,
    "CookedLinux": LINKTYPE_LINUX_SLL,
    "CookedLinuxV2": LINKTYPE_LINUX_SLL2,
    "Loopback": LINKTYPE_NULL,
    "IP": LINKTYPE_RAW,
    "IPv6": LINKTYPE_RAW,
}


class CaptureUnavailable(Exception):
    """Packets cannot be recorded here; the message says why, in one line."""


def capture_unavailable() -> str | None:
    """Why this process cannot open a packet socket (None: it can)."""
    family = getattr(socket, "AF_PACKET", None)
    if family is None:
        return "packet capture is implemented for Linux packet sockets only"
    try:
        probe = socket.socket(family, socket.SOCK_RAW, 0)
    except PermissionError:
        return "capturing packets needs root or CAP_NET_RAW"
    except OSError as exc:
        return f"cannot open a packet socket: {exc.strerror or exc}"
    probe.close()
    return None


def _scapy_conf() -> Any:
    try:
        from scapy.config import conf
    except ImportError as exc:
        raise CaptureUnavailable(
            f"capturing packets needs scapy (pip install 'epmscan[pcap]'): {exc}"
        ) from None
    return conf


def route_interface(address: str) -> str:
    """The network interface the route to ``address`` leaves by."""
    conf = _scapy_conf()
    if ipaddress.ip_address(address).version == 6:
        import scapy.route6  # fills conf.route6 from the kernel's table

        iface, _source, _gateway = conf.route6.route(address)
    else:
        import scapy.route  # noqa: F401  (fills conf.route from the kernel's table)

        iface, _source, _gateway = conf.route.route(address)
    name = str(iface)
    if not name:
        raise CaptureUnavailable(f"no route to {address}: no interface to capture on")
    return name


def is_loopback(iface: str) -> bool:
    """True for a loopback interface (``lo``), where each packet is seen twice."""
    try:
        kind = Path(f"/sys/class/net/{iface}/type").read_text().strip()
    except OSError:
        return iface == "lo"
    return kind == _ARPHRD_LOOPBACK


def bpf_filter(server: str) -> str:
    """TCP with ``server``, and ICMP destination unreachable quoting a packet sent to it."""
    parsed = ipaddress.ip_address(server)
    if parsed.version == 6:
        return f"(tcp and host {server}) or (icmp6 and ip6[40] == 1)"
    quoted = int(parsed)
    return f"(tcp and host {server}) or (icmp and icmp[0] == 3 and icmp[24:4] == {quoted:#010x})"


def packet_from_record(record: Segment | IcmpUnreachable) -> WirePacket:
    """A decoded frame as the trace keeps it."""
    if isinstance(record, Segment):
        return WirePacket(
            time=record.time,
            src=record.src,
            dst=record.dst,
            protocol="tcp",
            ttl=record.ttl,
            sport=record.sport,
            dport=record.dport,
            flags=record.flags,
            payload=len(record.payload) + record.missing,
        )
    return WirePacket(
        time=record.time,
        src=record.sender,
        dst=record.src,
        protocol="icmpv6" if record.ipv6 else "icmp",
        ttl=record.ttl,
        sport=record.sport,
        dport=record.dport,
        icmp_type=record.icmp_type,
        icmp_code=record.icmp_code,
        quoted_src=record.src,
        quoted_dst=record.dst,
    )


class PacketSniffer:
    """Records the packets a BPF filter passes on one interface, in a thread of scapy's."""

    def __init__(self, iface: str, bpf: str) -> None:
        self.iface = iface
        self.bpf = bpf
        self.loopback = is_loopback(iface)
        self._decoder = FrameDecoder()
        self._packets: list[WirePacket] = []
        self._recent: deque[tuple[float, bytes]] = deque()
        self._frames = 0
        self._lock = threading.Lock()
        self._sniffer: Any = None

    def start(self, timeout: float = 10.0) -> None:
        """Open the packet socket and start recording; :class:`CaptureUnavailable` if not."""
        _scapy_conf()
        import scapy.layers.l2  # noqa: F401  (the link layers' numbers: frames keep their bytes)
        from scapy.sendrecv import AsyncSniffer

        ready = threading.Event()
        sniffer = AsyncSniffer(
            iface=self.iface,
            filter=self.bpf,
            store=False,
            prn=self._add,
            started_callback=ready.set,
        )
        try:
            sniffer.start()
        except Exception as exc:  # scapy raises many kinds for a bad interface or filter
            raise CaptureUnavailable(f"cannot capture on {self.iface}: {exc}") from None
        deadline = time.monotonic() + timeout
        while not ready.wait(0.05):
            thread = getattr(sniffer, "thread", None)
            failed = thread is not None and not thread.is_alive()
            if failed or time.monotonic() > deadline:
                failure = getattr(sniffer, "exception", None)
                self._stop(sniffer)
                reason = failure or "the packet socket did not open"
                raise CaptureUnavailable(f"cannot capture on {self.iface}: {reason}")
        self._sniffer = sniffer

    def _add(self, packet: Any) -> None:
        linktype = _LINKTYPES.get(type(packet).__name__)
        if linktype is None:
            return
        original = getattr(packet, "original", None)
        data = bytes(original) if original else bytes(packet)
        when = float(packet.time)
        with self._lock:
            if self.loopback and self._twin(when, data):
                return
            self._frames += 1
            record = self._decoder.decode(linktype, data, self._frames, when)
            if record is not None:
                self._packets.append(packet_from_record(record))

    def _twin(self, when: float, data: bytes) -> bool:
        """Whether ``data`` is the second sighting of a frame just seen (loopback)."""
        recent = self._recent
        while recent and when - recent[0][0] > LOOPBACK_TWIN_WINDOW:
            recent.popleft()
        for index, (_seen, frame) in enumerate(recent):
            if frame == data:
                del recent[index]
                return True
        recent.append((when, data))
        return False

    @staticmethod
    def _stop(sniffer: Any) -> None:
        try:
            sniffer.stop(join=True)
        except Exception:  # stopping a sniffer whose socket failed may raise again
            pass

    def stop(self) -> list[WirePacket]:
        """Stop recording; the packets recorded, in capture order."""
        if self._sniffer is not None:
            self._stop(self._sniffer)
            self._sniffer = None
        with self._lock:
            return list(self._packets)
