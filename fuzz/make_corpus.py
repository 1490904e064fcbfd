"""Write the seed corpora of the fuzz harnesses under ``fuzz/corpus/<harness>/``.

Two sources of real bytes:

- the shared Samba captures, ``fixtures/captures/*.pcapng``, read with scapy: each TCP
  connection's two directions are put back in sequence order;
- the lab's own answers: one host per lab profile and paging style runs in this process
  (``LabThread``) on 127.101.0.x and is driven over loopback by epmscan's own client
  codec (walks, ``ept_map``s, binds accepted and refused, calls that fault, small
  fragments, the ncacn_http greeting, a foreign banner); both directions are recorded.
  The authenticated harnesses' seeds come from ``auth_corpus.py`` (the lab with
  ``auth = "ntlm"``, epmscan's and impacket's authenticating clients, Samba).
  A few answers the lab only sends to broken clients (bind_nak) come from the lab's
  encoder, ``ServerConnection``, directly.

From every conversation come the seeds of each harness: the server's stream (client
harness, framing), the client's stream (server harness, framing), every request and
response stub by opnum, the walk's pages, every tower. Seeds are named
``seed-<source>-<what>``; rerunning replaces them and leaves every other file (the
crash reproducers kept as regression inputs) alone.

    python fuzz/make_corpus.py          # from the repository root, PYTHONPATH=src
    python fuzz/make_corpus.py --only auth_client,auth_server,ntlm_tokens
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auth_corpus import AUTH_HARNESSES, add_samba, auth_seeds
from harness import (
    WALK_MAX_ENTS,
    client_input,
    framing_input,
    server_input,
    tower_octets,
    walk_input,
)

from epmscan.errors import ProtocolError
from epmscan.facts.exchange import EXCHANGE_INTERFACES
from epmscan.models import InterfaceId, Tower
from epmscan.protocol.client_connection import ClientConnection
from epmscan.protocol.constants import (
    EPM_INTERFACE,
    NDR64_SYNTAX,
    OP_EPT_LOOKUP,
    OP_EPT_LOOKUP_HANDLE_FREE,
    OP_EPT_MAP,
    PTYPE_BIND,
    PTYPE_REQUEST,
    RPC_C_EP_MATCH_BY_IF,
    RPC_C_VERS_EXACT,
)
from epmscan.protocol.epm_client import (
    build_lookup_handle_free,
    build_lookup_request,
    build_map_request,
    decode_lookup_response,
    decode_map_response,
)
from epmscan.protocol.epm_server import decode_lookup_request, decode_map_request
from epmscan.protocol.events import ClientEvent, Request, Response
from epmscan.protocol.lookup_walk import LookupWalk
from epmscan.protocol.ncacn_http import NCACN_HTTP_GREETING
from epmscan.protocol.pdu_stream import PduBuffer
from epmscan.protocol.server_connection import ServerConnection

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "fixtures" / "captures"
CORPUS = Path(__file__).resolve().parent / "corpus"
SEED_PREFIX = "seed-"
LAB_ADDRESSES = ("127.101.0.10", "127.101.0.11", "127.101.0.12")
LAB_HOSTS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("exchange2010-cas-static", "windows", {}),
    (
        "exchange2010-cas-dynamic",
        "samba",
        {"http_banners": {"6004": "HTTP/1.1 400 Bad Request\r\nServer: Microsoft-HTTPAPI/2.0"}},
    ),
    ("windows-member", "samba-dc", {"zero_address_towers": True}),
)
MAX_PAGES = 8
"""Pages of one walk kept as seeds: the first ones and the last (the one that ends it)."""
TOWERS_PER_SHAPE = 4
"""Tower seeds kept per shape (transport and the protocol id of each floor)."""
HARNESSES = (
    "auth_client",
    "auth_server",
    "client_connection",
    "framing",
    "http_greeting",
    "lookup_request",
    "lookup_response",
    "lookup_walk",
    "map_request",
    "map_response",
    "ntlm_tokens",
    "reference",
    "server_connection",
    "towers",
)
REFERENCE_SEED_LIMIT = 4096
"""impacket decodes a few hundred stubs a second: its seeds are the short ones."""


@dataclass
class Seeds:
    """Seed inputs per harness, deduplicated by content (the first name wins)."""

    by_harness: dict[str, dict[bytes, str]] = field(
        default_factory=lambda: {name: {} for name in HARNESSES}
    )
    tower_shapes: dict[tuple[str, tuple[bytes, ...]], int] = field(default_factory=dict)

    def add(self, harness: str, name: str, data: bytes) -> None:
        self.by_harness[harness].setdefault(data, name)

    def write(
        self, corpus: Path, only: tuple[str, ...] | None = None
    ) -> dict[str, tuple[int, int]]:
        """Replace the ``seed-*`` files (of the harnesses ``only`` names, when given);
        return (files, bytes) per harness written."""
        written = {}
        for harness, seeds in self.by_harness.items():
            if only is not None and harness not in only:
                continue
            directory = corpus / harness
            directory.mkdir(parents=True, exist_ok=True)
            for old in directory.glob(f"{SEED_PREFIX}*"):
                old.unlink()
            for data, name in seeds.items():
                (directory / f"{SEED_PREFIX}{name}").write_bytes(data)
            written[harness] = (len(seeds), sum(len(data) for data in seeds))
        return written


# --- conversations ----------------------------------------------------------------------------


def _pdus(stream: bytes) -> list[tuple[int, int, bytes]]:
    """(ptype, call_id, fragment) of every whole PDU at the start of ``stream``."""
    buffer = PduBuffer()
    buffer.feed(stream)
    pdus = []
    try:
        while (item := buffer.next_pdu()) is not None:
            header, fragment = item
            pdus.append((header.ptype, header.call_id, fragment))
    except ProtocolError:
        pass
    return pdus


def add_conversation(seeds: Seeds, name: str, to_server: bytes, to_client: bytes) -> None:
    """Every seed one connection gives: streams, stubs by opnum, walk pages, towers."""
    sent = _pdus(to_server)
    binds = [call_id for ptype, call_id, _ in sent if ptype == PTYPE_BIND]
    request_ids = list(dict.fromkeys(c for ptype, c, _ in sent if ptype == PTYPE_REQUEST))
    if to_client:
        seeds.add("framing", f"{name}-to-client", framing_input(to_client))
        seeds.add(
            "client_connection",
            f"{name}-to-client",
            client_input(to_client, binds[0] if binds else 0, request_ids[:255]),
        )
    if to_server:
        seeds.add("framing", f"{name}-to-server", framing_input(to_server))
        seeds.add("server_connection", f"{name}-to-server", server_input(to_server))
    requests = _requests(to_server)
    opnums = {request.call_id: request.opnum for request in requests}
    for index, request in enumerate(requests):
        if request.opnum == OP_EPT_LOOKUP:
            seeds.add("lookup_request", f"{name}-call{index:02d}", request.stub)
        elif request.opnum == OP_EPT_MAP:
            seeds.add("map_request", f"{name}-call{index:02d}", request.stub)
            _add_tower(seeds, name, _map_tower(request.stub))
    pages: list[bytes] = []
    for index, response in enumerate(_responses(to_server, to_client)):
        opnum = opnums.get(response.call_id)
        if opnum == OP_EPT_LOOKUP:
            pages.append(response.stub)
            for entry in _lookup_entries(response.stub):
                _add_tower(seeds, name, entry)
        elif opnum == OP_EPT_MAP:
            seeds.add("map_response", f"{name}-map{index:02d}", response.stub)
            for tower in _map_towers(response.stub):
                _add_tower(seeds, name, tower)
    if pages:
        kept = pages if len(pages) <= MAX_PAGES else [*pages[: MAX_PAGES - 1], pages[-1]]
        for index, page in enumerate(kept[:2] + kept[-1:] if len(kept) > 2 else kept):
            seeds.add("lookup_response", f"{name}-page{index:02d}", page)
        seeds.add("lookup_walk", f"{name}-walk", walk_input(kept, _walk_mode(requests)))


def _requests(to_server: bytes) -> list[Request]:
    server = ServerConnection()
    try:
        return [e for e in server.feed(to_server) if isinstance(e, Request)]
    except ProtocolError:
        return []


def _responses(to_server: bytes, to_client: bytes) -> list[Response]:
    """Replay the client's binds and calls with our ClientConnection, feed the answers."""
    client = ClientConnection()
    for ptype, call_id, _fragment in _pdus(to_server):
        if ptype == PTYPE_BIND:
            client.bind(EPM_INTERFACE, call_id=call_id)
        elif ptype == PTYPE_REQUEST:
            client.request(0, b"", call_id=call_id)
    try:
        return [e for e in client.feed(to_client) if isinstance(e, Response)]
    except ProtocolError:
        return []


def _walk_mode(requests: list[Request]) -> int:
    """The walk harness's mode byte whose ``max_ents`` is the first lookup's, if listed."""
    for request in requests:
        if request.opnum == OP_EPT_LOOKUP:
            max_ents = decode_lookup_request(request.stub).max_ents
            if max_ents in WALK_MAX_ENTS:
                return WALK_MAX_ENTS.index(max_ents) << 6
            return 0
    return 0


def _lookup_entries(stub: bytes) -> Iterable[Tower | None]:
    try:
        return [entry.tower for entry in decode_lookup_response(stub).entries]
    except ProtocolError:
        return []


def _map_towers(stub: bytes) -> Iterable[Tower]:
    try:
        return decode_map_response(stub).towers
    except ProtocolError:
        return []


def _map_tower(stub: bytes) -> Tower | None:
    try:
        return decode_map_request(stub).tower
    except ProtocolError:
        return None


def _add_tower(seeds: Seeds, name: str, tower: Tower | None) -> None:
    """A tower seed, unless TOWERS_PER_SHAPE towers of its shape are in already."""
    if tower is None:
        return
    shape = (tower.transport, tuple(floor.lhs[:1] for floor in tower.floors))
    seen = seeds.tower_shapes.setdefault(shape, 0)
    if seen < TOWERS_PER_SHAPE:
        seeds.tower_shapes[shape] = seen + 1
        count = len(seeds.by_harness["towers"])
        seeds.add("towers", f"{name}-{tower.transport}-{count:03d}", tower_octets(tower))


# --- the captures ------------------------------------------------------------------------------


def capture_conversations(path: Path) -> list[tuple[bytes, bytes]]:
    """(client → server, server → client) of each TCP connection of a capture, in order."""
    from scapy.layers.inet import TCP
    from scapy.utils import rdpcap

    directions: dict[tuple[int, int], dict[int, bytes]] = {}
    for packet in rdpcap(str(path)):
        if TCP in packet and (payload := bytes(packet[TCP].payload)):
            tcp = packet[TCP]
            directions.setdefault((tcp.sport, tcp.dport), {})[tcp.seq] = payload
    conversations = []
    seen: set[frozenset[int]] = set()
    for sport, dport in directions:
        pair = frozenset((sport, dport))
        if pair in seen or (dport, sport) not in directions:
            continue  # the side that spoke first is the client; unanswered ones are left out
        seen.add(pair)
        to_server = directions[(sport, dport)]
        to_client = directions[(dport, sport)]
        conversations.append(
            (
                b"".join(to_server[seq] for seq in sorted(to_server)),
                b"".join(to_client[seq] for seq in sorted(to_client)),
            )
        )
    return conversations


def add_captures(seeds: Seeds) -> int:
    """Seeds from every capture under fixtures/captures; returns the connections read."""
    count = 0
    for path in sorted(CAPTURES.glob("*.pcapng")):
        label = path.stem.replace("samba-4.17-", "samba-").replace("standalone-", "")
        for index, (to_server, to_client) in enumerate(capture_conversations(path)):
            add_conversation(seeds, f"{label}-c{index:02d}", to_server, to_client)
            count += 1
    return count


# --- the lab -----------------------------------------------------------------------------------


class Recorder:
    """One connection to the lab, spoken with ClientConnection; both directions recorded."""

    def __init__(self, address: str, port: int, max_frag: int = 4280) -> None:
        self.sock = socket.create_connection((address, port), timeout=5)
        self.client = ClientConnection(max_frag)
        self.to_server = bytearray()
        self.to_client = bytearray()

    def read_greeting(self) -> bytes:
        """What the port sends first: ``ncacn_http/1.0`` whole, or the first read of other."""
        data = b""
        while chunk := self.sock.recv(256):
            data += chunk
            if len(data) >= len(NCACN_HTTP_GREETING) or not NCACN_HTTP_GREETING.startswith(data):
                break
        return data

    def exchange(self, pdu: bytes) -> ClientEvent:
        self.to_server += pdu
        self.sock.sendall(pdu)
        while True:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the lab closed the connection")
            self.to_client += data
            events = self.client.feed(data)
            if events:
                return events[-1]

    def bind(self, interface: InterfaceId, transfer_syntax: InterfaceId | None = None) -> None:
        if transfer_syntax is None:
            self.exchange(self.client.bind(interface))
        else:
            self.exchange(self.client.bind(interface, transfer_syntax))

    def call(self, opnum: int, stub: bytes, context_id: int = 0) -> ClientEvent:
        return self.exchange(self.client.request(opnum, stub, context_id))

    def walk(self, max_ents: int) -> None:
        walk = LookupWalk(max_ents=max_ents)
        while (stub := walk.next_request()) is not None:
            event = self.call(OP_EPT_LOOKUP, stub)
            if not isinstance(event, Response):
                return
            walk.handle_response(event.stub)

    def close(self, seeds: Seeds, name: str) -> None:
        self.sock.close()
        add_conversation(seeds, name, bytes(self.to_server), bytes(self.to_client))


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


def _record_host(seeds: Seeds, label: str, address: str, lab_host: object) -> None:
    from epmscan.lab import LabHost
    from epmscan.lab.catalog import catalog_interface

    assert isinstance(lab_host, LabHost)
    epm_port = lab_host.epm_port
    mapi = EXCHANGE_INTERFACES[next(iter(EXCHANGE_INTERFACES))]

    full = Recorder(address, epm_port)
    full.bind(EPM_INTERFACE)
    full.walk(500)
    for interface in (*EXCHANGE_INTERFACES.values(), EPM_INTERFACE):
        for transport in ("ncacn_ip_tcp", "ncacn_http"):
            full.call(OP_EPT_MAP, build_map_request(interface, transport))
    full.call(
        OP_EPT_LOOKUP,
        build_lookup_request(
            inquiry_type=RPC_C_EP_MATCH_BY_IF,
            interface=EPM_INTERFACE,
            vers_option=RPC_C_VERS_EXACT,
        ),
    )
    full.call(OP_EPT_LOOKUP_HANDLE_FREE, build_lookup_handle_free(bytes(4) + b"\x5a" * 16))
    full.call(7, b"")
    full.call(OP_EPT_LOOKUP, build_lookup_request(), context_id=1)
    full.close(seeds, f"{label}-epm")

    paged = Recorder(address, epm_port, max_frag=256)
    paged.bind(EPM_INTERFACE)
    paged.walk(3)
    paged.close(seeds, f"{label}-epm-frag256-pages3")

    refused = Recorder(address, epm_port)
    refused.bind(mapi)
    refused.close(seeds, f"{label}-epm-bind-refused")

    ndr64 = Recorder(address, epm_port)
    ndr64.bind(EPM_INTERFACE, NDR64_SYNTAX)
    ndr64.close(seeds, f"{label}-epm-bind-ndr64")

    endpoints = lab_host.tcp_endpoints
    keys = [k for k in ("mapi", "nspi", "lsarpc") if k in endpoints] or sorted(endpoints)[:1]
    for key in keys:
        port = endpoints[key]
        served = Recorder(address, port)
        served.bind(catalog_interface(key).interface)
        served.call(0, b"\0" * 8)
        served.close(seeds, f"{label}-tcp-{key}")

    for port in lab_host.http_ports:
        greeted = Recorder(address, port)
        greeting = greeted.read_greeting()
        seeds.add("http_greeting", f"{label}-http-{port}", greeting)
        if greeting == NCACN_HTTP_GREETING:
            greeted.bind(mapi)
            greeted.close(seeds, f"{label}-http-{port}-bind")
        else:
            greeted.sock.close()


def add_lab(seeds: Seeds) -> int:
    """Seeds from lab hosts on 127.101.0.x; returns the hosts recorded."""
    from epmscan.lab import LabThread, single_host_lab

    for address, (profile, paging, extra) in zip(LAB_ADDRESSES, LAB_HOSTS, strict=True):
        config = single_host_lab(
            profile, address, epm_port=_free_port(address), paging=paging, **extra
        )
        with LabThread(config) as lab:
            _record_host(seeds, f"lab-{profile}-{paging}", address, lab.host(address))
    return len(LAB_HOSTS)


def add_encoded(seeds: Seeds) -> None:
    """Answers the lab gives only to broken clients, from its encoder: bind_nak, faults."""
    server = ServerConnection()
    for reason in (0, 2, 4, 9):
        seeds.add(
            "client_connection",
            f"encoded-bind-nak-{reason}",
            client_input(server.bind_nak(1, reason), 1, []),
        )
    seeds.add(
        "client_connection",
        "encoded-bind-fault",
        client_input(server.fault(1, 0x1C010003), 1, [1]),
    )
    for text in (b"ncacn_http/1.0", b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", b"\x00\xff\x10"):
        seeds.add("http_greeting", f"encoded-{text[:5].hex()}", text)
    bind_many = _bind_pdu_with_contexts(3)
    seeds.add("server_connection", "encoded-bind-3-contexts", server_input(bind_many))
    seeds.add("framing", "encoded-bind-3-contexts", framing_input(bind_many))


def _bind_pdu_with_contexts(count: int) -> bytes:
    """A bind offering ``count`` contexts (EPM with NDR, then NDR64), built field by field."""
    from epmscan.protocol.constants import NDR_SYNTAX
    from epmscan.protocol.syntax_ids import syntax_bytes

    body = struct.pack("<HHIB3x", 4280, 4280, 0, count)
    for index in range(count):
        syntax = NDR_SYNTAX if index % 2 == 0 else NDR64_SYNTAX
        body += struct.pack("<HBx", index, 1) + syntax_bytes(EPM_INTERFACE) + syntax_bytes(syntax)
    header = struct.pack("<BBBB4sHHI", 5, 0, PTYPE_BIND, 3, b"\x10\0\0\0", 16 + len(body), 0, 1)
    return header + body


def add_reference(seeds: Seeds) -> None:
    """The reference decoders' seeds: the short lookup/map stubs and the towers, behind the
    selector byte of ``fuzz_reference.py`` (0 lookup, 1 map, 2 tower)."""
    for selector, harness in enumerate(("lookup_response", "map_response", "towers")):
        for data, name in list(seeds.by_harness[harness].items()):
            if len(data) < REFERENCE_SEED_LIMIT:
                seeds.add("reference", f"{harness}-{name}", bytes((selector,)) + data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="where to write")
    parser.add_argument("--no-lab", action="store_true", help="only the captures")
    parser.add_argument(
        "--only", help="write only these harnesses' seeds (comma separated), e.g. auth_client"
    )
    parser.add_argument(
        "--samba",
        metavar="ADDRESS",
        help="also record peer-samba-* seeds from samba-dcerpcd on ADDRESS:135 (auth_corpus)",
    )
    args = parser.parse_args(argv)
    only = tuple(args.only.split(",")) if args.only else None
    seeds = Seeds()
    connections = hosts = 0
    if only is None or set(only) - set(AUTH_HARNESSES):
        connections = add_captures(seeds)
        hosts = 0 if args.no_lab else add_lab(seeds)
        add_encoded(seeds)
        add_reference(seeds)
    if not args.no_lab and (only is None or set(only) & set(AUTH_HARNESSES)):
        auth_seeds(seeds.add)
    written = seeds.write(args.corpus, only)
    if args.samba:
        print(f"{add_samba(args.corpus, args.samba)} peer-samba seeds from {args.samba}")
    print(f"{connections} captured connections, {hosts} lab hosts")
    for harness, (files, size) in written.items():
        print(f"  {harness:18} {files:4} seeds {size:8} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
