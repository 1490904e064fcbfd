"""The real Samba 4.17 capture (fixtures/captures), split per connection, and replaying it.

Each TCP connection's two directions are reassembled by sequence number (scapy reads
the file). ``replay`` turns what the client sent back into our own ClientConnection calls
(same call ids), so the server's recorded bytes can be fed to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from epmscan.protocol.client_connection import ClientConnection
from epmscan.protocol.constants import PTYPE_BIND, PTYPE_REQUEST
from epmscan.protocol.events import ClientEvent
from epmscan.protocol.pdu_stream import PduBuffer, PduHeader

CAPTURE = (
    Path(__file__).resolve().parents[2]
    / "fixtures"
    / "captures"
    / "samba-4.17-standalone-epm.pcapng"
)


@dataclass(frozen=True)
class CapturedConnection:
    """One TCP connection of the capture: what each side sent, in order."""

    client_port: int
    server_port: int
    to_server: bytes
    to_client: bytes


def _reassemble(segments: dict[int, bytes]) -> bytes:
    return b"".join(segments[seq] for seq in sorted(segments))


def load_capture(path: Path = CAPTURE) -> list[CapturedConnection]:
    from scapy.layers.inet import TCP
    from scapy.utils import rdpcap

    directions: dict[tuple[int, int], dict[int, bytes]] = {}
    order: list[tuple[int, int]] = []
    for packet in rdpcap(str(path)):
        if TCP not in packet:
            continue
        tcp = packet[TCP]
        payload = bytes(tcp.payload)
        if not payload:
            continue
        key = (tcp.sport, tcp.dport)
        if key not in directions:
            directions[key] = {}
            order.append(key)
        directions[key][tcp.seq] = payload
    connections = []
    seen: set[frozenset[int]] = set()
    for sport, dport in order:
        pair = frozenset((sport, dport))
        if pair in seen or (dport, sport) not in directions:
            continue  # the side that spoke first is the client; unanswered ones are skipped
        seen.add(pair)
        connections.append(
            CapturedConnection(
                client_port=sport,
                server_port=dport,
                to_server=_reassemble(directions[(sport, dport)]),
                to_client=_reassemble(directions[(dport, sport)]),
            )
        )
    return connections


def split_pdus(data: bytes) -> list[tuple[PduHeader, bytes]]:
    """Every PDU in a byte stream, in order."""
    buffer = PduBuffer()
    buffer.feed(data)
    pdus = []
    while (item := buffer.next_pdu()) is not None:
        pdus.append(item)
    assert buffer.pending == 0
    return pdus


def replay(
    connection: CapturedConnection, client: ClientConnection | None = None
) -> tuple[ClientConnection, list[ClientEvent]]:
    """Re-issue the client's binds and requests with our ClientConnection, then feed it
    everything the server sent. Returns the client and its events."""
    from epmscan.protocol.server_connection import decode_bind

    client = client or ClientConnection()
    for header, fragment in split_pdus(connection.to_server):
        if header.ptype == PTYPE_BIND:
            bind = decode_bind(header, fragment)
            client.bind(bind.contexts[0].abstract_syntax, call_id=header.call_id)
        elif header.ptype == PTYPE_REQUEST:
            opnum = int.from_bytes(fragment[22:24], "little")
            client.request(opnum, fragment[24:], call_id=header.call_id)
    return client, client.feed(connection.to_client)


def full_lookups(connections: list[CapturedConnection]) -> list[CapturedConnection]:
    """Connections whose server answered with a multi-fragment response."""
    return [
        c
        for c in connections
        if any(h.ptype == 2 and not h.flags & 2 for h, _ in split_pdus(c.to_client))
    ]
