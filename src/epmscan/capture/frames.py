"""Link-layer bytes → :class:`~epmscan.capture.records.Segment` / ``IcmpUnreachable``.

A capture library dissecting every packet into objects costs tens of microseconds per
packet; a capture of a busy span port holds millions. Only a few header fields matter
here (addresses, ports, flags, TTL, sequence number, payload), so they are read with
``struct`` straight off the frame: Ethernet (with 802.1Q/802.1ad tags), Linux cooked
(SLL, SLL2), BSD loopback (NULL, LOOP), raw IP; IPv4 and IPv6 (extension headers
walked); TCP; ICMP/ICMPv6 destination unreachable with the quoted TCP header.

Anything else (another protocol, a link type we do not know, IP fragments after the
first) yields None and is counted in :class:`FrameStats`, so the report can say what it
skipped. A frame cut short by the snapshot length yields a segment whose ``missing``
says how many payload bytes the capture did not keep.
"""

from __future__ import annotations

import socket
import struct
from collections import Counter
from dataclasses import dataclass, field

from epmscan.capture.records import IcmpUnreachable, Record, Segment

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_RAW_BSD = (12, 14)
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

_ETH_IPV4 = 0x0800
_ETH_IPV6 = 0x86DD
_ETH_TAGS = (0x8100, 0x88A8, 0x9100)
_BSD_AF_INET6 = (10, 24, 28, 30)
_PROTO_TCP = 6
_PROTO_ICMP = 1
_PROTO_ICMP6 = 58
_IPV6_EXTENSIONS = (0, 43, 60)
_IPV6_FRAGMENT = 44

_U16_BE = struct.Struct("!H")
_U32_LE = struct.Struct("<I")
_U32_BE = struct.Struct("!I")
_IPV4_HEAD = struct.Struct("!BxHxxHBBxx4s4s")
_TCP_HEAD = struct.Struct("!HHIIBB")
_PORTS_SEQ = struct.Struct("!HHI")

_inet_ntop = socket.inet_ntop
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6


@dataclass(slots=True)
class FrameStats:
    """What the decoder saw besides the records it returned."""

    link_types: Counter[int] = field(default_factory=Counter)
    """Frames skipped because their link type is not one we read, by link type."""
    fragments: int = 0
    """IP fragments other than the first (their TCP header is elsewhere)."""
    cut_short: int = 0
    """Frames whose payload the capture cut (snaplen) or that end inside a header."""
    tcp_segments: int = 0


class FrameDecoder:
    """Decodes frames of any supported link type; keeps the counts in ``stats``."""

    __slots__ = ("stats",)

    def __init__(self) -> None:
        self.stats = FrameStats()

    def decode(self, linktype: int, data: bytes, frame: int, time: float) -> Record | None:
        """The record one frame carries, or None when it carries nothing we read."""
        if linktype == LINKTYPE_ETHERNET:
            if len(data) < 14:
                self.stats.cut_short += 1
                return None
            ethertype = (data[12] << 8) | data[13]
            offset = 14
            while ethertype in _ETH_TAGS and len(data) >= offset + 4:
                ethertype = (data[offset + 2] << 8) | data[offset + 3]
                offset += 4
            if ethertype == _ETH_IPV4:
                return self._ipv4(data, offset, frame, time)
            if ethertype == _ETH_IPV6:
                return self._ipv6(data, offset, frame, time)
            return None
        if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6, *LINKTYPE_RAW_BSD):
            return self._ip(data, 0, frame, time)
        if linktype == LINKTYPE_LINUX_SLL:
            if len(data) < 16:
                self.stats.cut_short += 1
                return None
            return self._ethertype(_U16_BE.unpack_from(data, 14)[0], data, 16, frame, time)
        if linktype == LINKTYPE_LINUX_SLL2:
            if len(data) < 20:
                self.stats.cut_short += 1
                return None
            return self._ethertype(_U16_BE.unpack_from(data, 0)[0], data, 20, frame, time)
        if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
            if len(data) < 4:
                self.stats.cut_short += 1
                return None
            family = _U32_BE.unpack_from(data, 0)[0]
            if linktype == LINKTYPE_NULL and family > 0xFFFF:
                family = _U32_LE.unpack_from(data, 0)[0]
            if family == 2:
                return self._ipv4(data, 4, frame, time)
            if family in _BSD_AF_INET6:
                return self._ipv6(data, 4, frame, time)
            return None
        self.stats.link_types[linktype] += 1
        return None

    def _ethertype(
        self, ethertype: int, data: bytes, offset: int, frame: int, time: float
    ) -> Record | None:
        if ethertype == _ETH_IPV4:
            return self._ipv4(data, offset, frame, time)
        if ethertype == _ETH_IPV6:
            return self._ipv6(data, offset, frame, time)
        return None

    def _ip(self, data: bytes, offset: int, frame: int, time: float) -> Record | None:
        if len(data) <= offset:
            self.stats.cut_short += 1
            return None
        version = data[offset] >> 4
        if version == 4:
            return self._ipv4(data, offset, frame, time)
        if version == 6:
            return self._ipv6(data, offset, frame, time)
        return None

    def _ipv4(self, data: bytes, offset: int, frame: int, time: float) -> Record | None:
        if len(data) < offset + 20:
            self.stats.cut_short += 1
            return None
        version_ihl, total, fragment, ttl, protocol, src, dst = _IPV4_HEAD.unpack_from(data, offset)
        if version_ihl >> 4 != 4:
            return None
        header = (version_ihl & 0x0F) * 4
        if fragment & 0x1FFF:
            self.stats.fragments += 1
            return None
        start = offset + header
        end = offset + total if total >= header else len(data)
        if protocol == _PROTO_TCP:
            return self._tcp(
                data,
                start,
                end,
                _inet_ntop(_AF_INET, src),
                _inet_ntop(_AF_INET, dst),
                ttl,
                frame,
                time,
            )
        if protocol == _PROTO_ICMP:
            return self._icmp4(data, start, _inet_ntop(_AF_INET, src), frame, time, ttl)
        return None

    def _ipv6_payload(self, data: bytes, offset: int) -> tuple[int, int, int, int] | None:
        """(protocol, payload start, payload end, hop limit) of an IPv6 packet, or None."""
        if len(data) < offset + 40:
            self.stats.cut_short += 1
            return None
        if data[offset] >> 4 != 6:
            return None
        (length,) = _U16_BE.unpack_from(data, offset + 4)
        next_header = data[offset + 6]
        hop_limit = data[offset + 7]
        start = offset + 40
        end = start + length if length else len(data)
        while next_header in _IPV6_EXTENSIONS or next_header == _IPV6_FRAGMENT:
            if len(data) < start + 8:
                self.stats.cut_short += 1
                return None
            if next_header == _IPV6_FRAGMENT:
                (offset_flags,) = _U16_BE.unpack_from(data, start + 2)
                if offset_flags & 0xFFF8:
                    self.stats.fragments += 1
                    return None
                next_header, start = data[start], start + 8
            else:
                next_header, start = data[start], start + (data[start + 1] + 1) * 8
        return next_header, start, end, hop_limit

    def _ipv6(self, data: bytes, offset: int, frame: int, time: float) -> Record | None:
        found = self._ipv6_payload(data, offset)
        if found is None:
            return None
        protocol, start, end, hop_limit = found
        src = _inet_ntop(_AF_INET6, data[offset + 8 : offset + 24])
        if protocol == _PROTO_TCP:
            dst = _inet_ntop(_AF_INET6, data[offset + 24 : offset + 40])
            return self._tcp(data, start, end, src, dst, hop_limit, frame, time)
        if protocol == _PROTO_ICMP6:
            return self._icmp6(data, start, src, frame, time, hop_limit)
        return None

    def _tcp(
        self,
        data: bytes,
        start: int,
        end: int,
        src: str,
        dst: str,
        ttl: int,
        frame: int,
        time: float,
    ) -> Segment | None:
        if len(data) < start + 20:
            self.stats.cut_short += 1
            return None
        sport, dport, seq, _ack, data_offset, flags = _TCP_HEAD.unpack_from(data, start)
        payload_start = start + (data_offset >> 4) * 4
        missing = 0
        if end > len(data):
            missing = end - max(len(data), payload_start)
            end = len(data)
            self.stats.cut_short += 1
        payload = data[payload_start:end] if end > payload_start else b""
        self.stats.tcp_segments += 1
        return Segment(frame, time, src, dst, sport, dport, flags, ttl, seq, payload, missing)

    def _icmp4(
        self, data: bytes, start: int, sender: str, frame: int, time: float, ttl: int
    ) -> IcmpUnreachable | None:
        if len(data) < start + 8 or data[start] != 3:
            return None
        icmp_type, icmp_code = data[start], data[start + 1]
        quoted = start + 8
        if len(data) < quoted + 20 or data[quoted] >> 4 != 4:
            return None
        header = (data[quoted] & 0x0F) * 4
        if data[quoted + 9] != _PROTO_TCP or len(data) < quoted + header + 8:
            return None
        src = _inet_ntop(_AF_INET, data[quoted + 12 : quoted + 16])
        dst = _inet_ntop(_AF_INET, data[quoted + 16 : quoted + 20])
        sport, dport, _seq = _PORTS_SEQ.unpack_from(data, quoted + header)
        return IcmpUnreachable(
            frame, time, sender, icmp_type, icmp_code, False, src, dst, sport, dport, ttl
        )

    def _icmp6(
        self, data: bytes, start: int, sender: str, frame: int, time: float, hop_limit: int
    ) -> IcmpUnreachable | None:
        if len(data) < start + 8 or data[start] != 1:
            return None
        icmp_type, icmp_code = data[start], data[start + 1]
        quoted = start + 8
        found = self._ipv6_payload(data, quoted)
        if found is None:
            return None
        protocol, tcp_start, _end, _hops = found
        if protocol != _PROTO_TCP or len(data) < tcp_start + 8:
            return None
        src = _inet_ntop(_AF_INET6, data[quoted + 8 : quoted + 24])
        dst = _inet_ntop(_AF_INET6, data[quoted + 24 : quoted + 40])
        sport, dport, _seq = _PORTS_SEQ.unpack_from(data, tcp_start)
        return IcmpUnreachable(
            frame, time, sender, icmp_type, icmp_code, True, src, dst, sport, dport, hop_limit
        )
