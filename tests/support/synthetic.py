"""Synthetic captures: TCP conversations as records, and as pcap/pcapng files via scapy.

``Trace`` numbers records as frames (1, 2, ...) with a clock that moves on a little per
record, so the records fed to the analyzer and the frames of a file written from them
agree. ``Tcp`` plays one connection (handshake, data cut into segments, resets, FIN);
``epm_map_exchange`` / ``epm_lookup_exchange`` / ``bind_exchange`` put DCE/RPC on it,
built with epmscan's own encoders (the codec is tested elsewhere against Samba and
impacket; here it only has to produce valid bytes).

Addresses in these captures are documentation ranges (192.0.2.0/24, 198.51.100.0/24,
203.0.113.0/24): nothing is ever sent anywhere, they only live in files.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from epmscan.capture.records import ACK, FIN, PSH, RST, SYN, IcmpUnreachable, Record, Segment
from epmscan.models import InterfaceId
from epmscan.protocol.client_connection import ClientConnection
from epmscan.protocol.constants import EPM_INTERFACE, NULL_HANDLE, OP_EPT_LOOKUP, OP_EPT_MAP
from epmscan.protocol.epm_client import build_lookup_request, build_map_request
from epmscan.protocol.epm_server import (
    encode_lookup_entry,
    encode_lookup_response,
    encode_map_response,
)
from epmscan.protocol.events import BindRequest, ContextResult, Request
from epmscan.protocol.ncacn_http import NCACN_HTTP_GREETING
from epmscan.protocol.server_connection import ServerConnection
from epmscan.protocol.towers import encode_tower

MAPI = InterfaceId("a4f1db00-ca47-1067-b31f-00dd010662da", 0, 81)
NSPI = InterfaceId("f5cc5a18-4264-101a-8c59-08002b2f8426", 56, 0)
RFR = InterfaceId("1544f5e0-613c-11d1-93df-00c04fd7bd09", 1, 0)


@dataclass
class Trace:
    """Records in capture order with frame numbers and times."""

    start: float = 1_700_000_000.0
    step: float = 0.001
    records: list[Record] = field(default_factory=list)

    @property
    def now(self) -> float:
        return self.start + self.step * len(self.records)

    @property
    def next_frame(self) -> int:
        return len(self.records) + 1

    def wait(self, seconds: float) -> None:
        """Let time pass before the next record."""
        self.start += seconds

    def segment(
        self,
        src: str,
        dst: str,
        sport: int,
        dport: int,
        flags: int,
        ttl: int,
        seq: int,
        payload: bytes = b"",
    ) -> Segment:
        seg = Segment(self.next_frame, self.now, src, dst, sport, dport, flags, ttl, seq, payload)
        self.records.append(seg)
        return seg

    def icmp_unreachable(
        self, sender: str, code: int, quoted: Segment, *, icmp_type: int = 3
    ) -> IcmpUnreachable:
        """An ICMP destination unreachable from ``sender`` quoting ``quoted``."""
        record = IcmpUnreachable(
            self.next_frame,
            self.now,
            sender,
            icmp_type,
            code,
            False,
            quoted.src,
            quoted.dst,
            quoted.sport,
            quoted.dport,
        )
        self.records.append(record)
        return record


@dataclass
class Tcp:
    """One TCP connection played into a trace."""

    trace: Trace
    client: str
    cport: int
    server: str
    port: int
    client_ttl: int = 128
    server_ttl: int = 125
    client_isn: int = 1000
    server_isn: int = 50000
    mss: int = 1460
    c_next: int = 0
    s_next: int = 0

    def __post_init__(self) -> None:
        self.c_next = (self.client_isn + 1) % (1 << 32)
        self.s_next = (self.server_isn + 1) % (1 << 32)

    def syn(self) -> Segment:
        return self.trace.segment(
            self.client, self.server, self.cport, self.port, SYN, self.client_ttl, self.client_isn
        )

    def synack(self, ttl: int | None = None) -> Segment:
        return self.trace.segment(
            self.server,
            self.client,
            self.port,
            self.cport,
            SYN | ACK,
            self.server_ttl if ttl is None else ttl,
            self.server_isn,
        )

    def handshake(self) -> None:
        self.syn()
        self.synack()
        self.trace.segment(
            self.client, self.server, self.cport, self.port, ACK, self.client_ttl, self.c_next
        )

    def reset_by_server(self, ttl: int | None = None) -> Segment:
        return self.trace.segment(
            self.server,
            self.client,
            self.port,
            self.cport,
            RST | ACK,
            self.server_ttl if ttl is None else ttl,
            0,
        )

    def client_segments(self, data: bytes) -> list[tuple[int, bytes]]:
        """(seq, payload) pieces of ``data`` from the client, not yet in the trace."""
        pieces = []
        for offset in range(0, len(data), self.mss):
            piece = data[offset : offset + self.mss]
            pieces.append((self.c_next, piece))
            self.c_next = (self.c_next + len(piece)) % (1 << 32)
        return pieces

    def server_segments(self, data: bytes) -> list[tuple[int, bytes]]:
        pieces = []
        for offset in range(0, len(data), self.mss):
            piece = data[offset : offset + self.mss]
            pieces.append((self.s_next, piece))
            self.s_next = (self.s_next + len(piece)) % (1 << 32)
        return pieces

    def put_client(self, seq: int, payload: bytes) -> Segment:
        return self.trace.segment(
            self.client,
            self.server,
            self.cport,
            self.port,
            PSH | ACK,
            self.client_ttl,
            seq,
            payload,
        )

    def put_server(self, seq: int, payload: bytes) -> Segment:
        return self.trace.segment(
            self.server,
            self.client,
            self.port,
            self.cport,
            PSH | ACK,
            self.server_ttl,
            seq,
            payload,
        )

    def client_sends(self, data: bytes) -> None:
        for seq, piece in self.client_segments(data):
            self.put_client(seq, piece)

    def server_sends(self, data: bytes) -> None:
        for seq, piece in self.server_segments(data):
            self.put_server(seq, piece)

    def close(self) -> None:
        """FIN both ways."""
        self.trace.segment(
            self.client,
            self.server,
            self.cport,
            self.port,
            FIN | ACK,
            self.client_ttl,
            self.c_next,
        )
        self.trace.segment(
            self.server,
            self.client,
            self.port,
            self.cport,
            FIN | ACK,
            self.server_ttl,
            self.s_next,
        )


def feed_bind(server: ServerConnection, data: bytes) -> BindRequest:
    """The one bind ``data`` carries, as ``server`` reads it."""
    (event,) = server.feed(data)
    assert isinstance(event, BindRequest)
    return event


def feed_request(server: ServerConnection, data: bytes) -> Request:
    """The one request ``data`` carries, as ``server`` reads it."""
    (event,) = server.feed(data)
    assert isinstance(event, Request)
    return event


def bind_exchange(tcp: Tcp, interface: InterfaceId, *, accept: bool = True) -> ClientConnection:
    """Bind ``interface`` on ``tcp`` (already connected); the server accepts or rejects it."""
    client = ClientConnection()
    server = ServerConnection()
    bind = client.bind(interface)
    tcp.client_sends(bind)
    request = feed_bind(server, bind)
    results = [ContextResult.accepted() if accept else ContextResult.rejected()]
    tcp.server_sends(server.bind_ack(request, results, secondary_address=str(tcp.port)))
    return client


def epm_map_exchange(
    tcp: Tcp,
    interface: InterfaceId,
    towers: Sequence[bytes],
    *,
    transport: str = "ncacn_ip_tcp",
    status: int = 0,
) -> None:
    """Bind EPM, one ``ept_map`` for ``interface`` answered with ``towers`` and ``status``."""
    client = ClientConnection()
    server = ServerConnection()
    bind = client.bind(EPM_INTERFACE)
    tcp.client_sends(bind)
    bind_request = feed_bind(server, bind)
    tcp.server_sends(server.bind_ack(bind_request, lambda _context: True))
    request = client.request(OP_EPT_MAP, build_map_request(interface, transport))
    tcp.client_sends(request)
    call = feed_request(server, request)
    handle = bytes(range(1, 21)) if towers else NULL_HANDLE
    stub = encode_map_response(handle, list(towers), status, max_count=4)
    tcp.server_sends(server.response(call.call_id, stub))


def epm_lookup_exchange(
    tcp: Tcp, entries: Sequence[tuple[bytes, str]], *, status: int = 0x16C9A0D6
) -> None:
    """Bind EPM, one ``ept_lookup`` answered with ``entries`` (tower, annotation) at once."""
    client = ClientConnection()
    server = ServerConnection()
    bind = client.bind(EPM_INTERFACE)
    tcp.client_sends(bind)
    bind_request = feed_bind(server, bind)
    tcp.server_sends(server.bind_ack(bind_request, lambda _context: True))
    request = client.request(OP_EPT_LOOKUP, build_lookup_request())
    tcp.client_sends(request)
    call = feed_request(server, request)
    encoded = [
        encode_lookup_entry("00000000-0000-0000-0000-000000000000", tower, note)
        for tower, note in entries
    ]
    stub = encode_lookup_response(NULL_HANDLE, encoded, status, max_count=500)
    tcp.server_sends(server.response(call.call_id, stub))


def greeting_exchange(tcp: Tcp, interface: InterfaceId) -> None:
    """An RPC-over-HTTP v1 port: the server greets, the client binds, the server accepts."""
    tcp.server_sends(NCACN_HTTP_GREETING)
    bind_exchange(tcp, interface)


def tcp_tower(interface: InterfaceId, port: int, address: str = "0.0.0.0") -> bytes:
    return encode_tower(interface, "ncacn_ip_tcp", port=port, address=address)


def outlook_example() -> Trace:
    """The capture of docs/troubleshooting.md: an Outlook client resolves MAPI and NSPI;
    its SYNs to MAPI's port get no answer, NSPI's port is reset by a device on the path
    (another TTL than the server's), RPC over HTTP on 6001 works. Taken on the client."""
    client, server = "10.1.2.3", "10.1.2.10"
    trace = Trace(start=1732867200.0)
    epm = Tcp(trace, client, 52110, server, 135, server_ttl=126)
    epm.handshake()
    epm_map_exchange(epm, MAPI, [tcp_tower(MAPI, 60001)])
    epm_map_exchange(epm, NSPI, [tcp_tower(NSPI, 60002)])
    epm.close()
    mapi = Tcp(trace, client, 52111, server, 60001, server_ttl=126)
    mapi.syn()
    trace.wait(3)
    mapi.syn()
    trace.wait(6)
    mapi.syn()
    trace.wait(12)
    nspi = Tcp(trace, client, 52112, server, 60002, server_ttl=126)
    nspi.syn()
    nspi.reset_by_server(ttl=254)
    http = Tcp(trace, client, 52113, server, 6001, server_ttl=126)
    http.handshake()
    greeting_exchange(http, MAPI)
    http.close()
    return trace


# --- files ----------------------------------------------------------------------------------


def to_packet(record: Record) -> Any:
    """The record as a scapy Ethernet packet stamped with the record's time."""
    from scapy.layers.inet import ICMP, IP, TCP
    from scapy.layers.l2 import Ether

    ether = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    if isinstance(record, Segment):
        packet = (
            ether
            / IP(src=record.src, dst=record.dst, ttl=record.ttl)
            / TCP(
                sport=record.sport,
                dport=record.dport,
                flags=record.flags,
                seq=record.seq,
                ack=1 if record.flags & ACK else 0,
            )
        )
        if record.payload:
            packet = packet / record.payload
    else:
        quoted = bytes(
            IP(src=record.src, dst=record.dst, ttl=1)
            / TCP(sport=record.sport, dport=record.dport, flags="S", seq=1000)
        )[:28]
        packet = (
            ether
            / IP(src=record.sender, dst=record.src, ttl=64)
            / ICMP(type=record.icmp_type, code=record.icmp_code)
            / quoted
        )
    packet.time = record.time
    return packet


def write_capture(path: Path, records: Sequence[Record], *, pcapng: bool = False) -> Path:
    """Write ``records`` as Ethernet frames to a pcap (or pcapng) file at ``path``."""
    from scapy.utils import wrpcap, wrpcapng

    packets = [to_packet(record) for record in records]
    (wrpcapng if pcapng else wrpcap)(str(path), packets)
    return path


# --- big captures, written fast ---------------------------------------------------------------

_PCAP_GLOBAL = struct.Struct("<IHHiIII")
_PCAP_RECORD = struct.Struct("<IIII")
_ETHER_IPV4 = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_TCP = struct.Struct("!HHIIBBHHH")


def raw_frame(seg: Segment) -> bytes:
    """``seg`` as an Ethernet/IPv4/TCP frame, built with ``struct`` (no checksums)."""
    total = 20 + 20 + len(seg.payload)
    ip = _IPV4.pack(
        0x45,
        0,
        total,
        0,
        0x4000,
        seg.ttl,
        6,
        0,
        socket.inet_aton(seg.src),
        socket.inet_aton(seg.dst),
    )
    tcp = _TCP.pack(seg.sport, seg.dport, seg.seq, 0, 5 << 4, seg.flags, 65535, 0, 0)
    return _ETHER_IPV4 + ip + tcp + seg.payload


class RawPcap:
    """A pcap file written record by record with ``struct``: fast enough for gigabytes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = open(path, "wb")  # noqa: SIM115 - closed by close()
        self.file.write(_PCAP_GLOBAL.pack(0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        self.size = _PCAP_GLOBAL.size

    def write(self, time: float, frame: bytes) -> None:
        sec = int(time)
        usec = int((time - sec) * 1_000_000)
        self.file.write(_PCAP_RECORD.pack(sec, usec, len(frame), len(frame)))
        self.file.write(frame)
        self.size += _PCAP_RECORD.size + len(frame)

    def write_records(self, records: Sequence[Record]) -> None:
        for record in records:
            if isinstance(record, Segment):
                self.write(record.time, raw_frame(record))

    def close(self) -> None:
        self.file.close()


@dataclass(frozen=True)
class BulkCapture:
    """What :func:`write_bulk_capture` put in its file."""

    path: Path
    size: int
    frames: int
    syn_only_flows: int


def write_bulk_capture(path: Path, target_size: int) -> BulkCapture:
    """A pcap of about ``target_size`` bytes that a streaming reader must not hold.

    An ``ept_map`` of MAPI to 60001 and a bound connection there, then interleaved until
    the size is reached: bulk data both ways on that connection, unrelated HTTPS traffic,
    endpoint mapper connections whose stream has a hole that never fills (their later
    segments pile up until the reassembly's bound), and now and then a SYN to 135 from a
    new address and port that gets no answer.
    """
    client, server = "192.0.2.10", "198.51.100.20"
    trace = Trace()
    epm = Tcp(trace, client, 49700, server, 135)
    epm.handshake()
    epm_map_exchange(epm, MAPI, [tcp_tower(MAPI, 60001)])
    epm.close()
    mapi = Tcp(trace, client, 49800, server, 60001)
    mapi.handshake()
    bind_exchange(mapi, MAPI)
    out = RawPcap(path)
    out.write_records(trace.records)
    frames = len(trace.records)
    now = trace.now
    payload = (bytes(range(256)) * 6)[:1400]
    c_seq, s_seq = mapi.c_next, mapi.s_next
    hole_port, hole_seq = 49900, 0
    syn_only = 0
    step = 0
    mod = 1 << 32
    while out.size < target_size:
        step += 1
        now += 0.0001
        for seg in (
            Segment(0, now, client, server, 49800, 60001, PSH | ACK, 128, c_seq, payload),
            Segment(0, now, server, client, 60001, 49800, PSH | ACK, 125, s_seq, payload),
            Segment(
                0,
                now,
                f"203.0.113.{step % 200}",
                server,
                40000 + step % 5000,
                443,
                PSH | ACK,
                60,
                step * 1400 % mod,
                payload,
            ),
        ):
            out.write(now, raw_frame(seg))
        frames += 3
        c_seq, s_seq = (c_seq + 1400) % mod, (s_seq + 1400) % mod
        if step % 1000 == 1:
            hole_port += 1
            out.write(
                now, raw_frame(Segment(0, now, client, server, hole_port, 135, SYN, 128, 0, b""))
            )
            frames += 1
            hole_seq = 1 + 1400
        elif step % 2 == 0:
            hole = Segment(
                0, now, client, server, hole_port, 135, PSH | ACK, 128, hole_seq, payload
            )
            out.write(now, raw_frame(hole))
            frames += 1
            hole_seq += 1400
        if step % 50 == 0:
            syn_only += 1
            syn = Segment(
                0,
                now,
                f"192.0.2.{syn_only % 250}",
                server,
                1024 + syn_only,
                135,
                SYN,
                128,
                step,
                b"",
            )
            out.write(now, raw_frame(syn))
            frames += 1
    out.close()
    return BulkCapture(path, out.size, frames, syn_only)
