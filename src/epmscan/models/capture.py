"""What ``epmscan pcap`` reconstructs from a capture: frozen results, statuses as words.

Connection outcomes and verdict statuses reuse the scanner's words
(:class:`epmscan.models.HostStatus`, :class:`~epmscan.models.PortProbeStatus`,
:class:`~epmscan.models.HttpProbeStatus`), so a capture and a scan of the same problem say
the same thing: ``closed`` is a reset to the SYN, ``filtered`` SYNs without an answer,
``unreachable`` an ICMP destination unreachable, ``bound`` an accepted bind.
``established`` (a SYN-ACK came) is the one word a capture needs that a scan does not.

Frame numbers count every record of the file from 1, as Wireshark numbers them; times are
seconds since the epoch (UTC) as the capture recorded them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

ENDPOINT_MAPPER = "endpoint mapper"
"""The name connections to an endpoint mapper and its verdicts go by."""


class ConnectionOutcome(str, Enum):
    """How one TCP connection attempt ended, as seen on the wire."""

    ESTABLISHED = "established"
    """The server answered the SYN with a SYN-ACK (or data flowed both ways)."""
    CLOSED = "closed"
    """A reset came back instead of a SYN-ACK."""
    FILTERED = "filtered"
    """SYNs without any answer in the capture."""
    UNREACHABLE = "unreachable"
    """An ICMP destination unreachable quoted the connection's SYN."""


class ConnectionRole(str, Enum):
    """Why a connection is in the report."""

    EPM = "epm"
    """To the endpoint mapper (TCP 135, or 593 for ncacn_http)."""
    RESOLVED = "resolved"
    """To a port an endpoint mapper resolved earlier in the capture."""
    RPC_HTTP = "rpc_http"
    """To an RPC-over-HTTP port (6001, 6002, 6004)."""


class ResetSource(str, Enum):
    """Who sent a reset, judged by its TTL against the server's own packets."""

    SERVER = "server"
    """Same TTL as the server's SYN-ACKs: the server itself refused."""
    PATH = "path"
    """Another TTL: a device between client and server answered for the server."""
    UNKNOWN = "unknown"
    """No SYN-ACK from that server in the capture to compare with."""


@dataclass(frozen=True, slots=True)
class CaptureInfo:
    """The file: its format and what could be read of it."""

    file: str
    format: str
    """``pcap``, ``pcapng`` (``+gzip`` when compressed)."""
    frames: int
    """Records read (every link type, readable or not)."""
    tcp_segments: int
    first_time: float | None
    last_time: float | None
    complete: bool
    """False when the file is truncated or damaged: the report covers what came before."""


@dataclass(frozen=True, slots=True)
class EpmCall:
    """One endpoint mapper request (``ept_map`` or ``ept_lookup``) and its answer."""

    client: str
    server: str
    client_port: int
    server_port: int
    operation: str
    """``ept_map`` or ``ept_lookup``."""
    frame: int
    """The frame that completed the request."""
    time: float
    interface: str | None
    """Name of the interface asked for (``ept_map``, or ``ept_lookup`` by interface)."""
    uuid: str | None
    version: str | None
    exchange: str | None
    """``mapi``, ``async_mapi``, ``nspi``, ``rfr`` when the interface is one of Exchange's."""
    transport: str | None
    """The protocol sequence asked for (``ept_map``'s map tower)."""
    response_frame: int | None = None
    """None when no answer is in the capture."""
    status: int | None = None
    """The answer's status (``0``, ``0x16c9a0d6`` ept_s_not_registered, ...) or fault status."""
    status_name: str | None = None
    fault: bool = False
    towers: int = 0
    detail: str | None = None
    """Why the call could not be decoded, when it could not."""


@dataclass(frozen=True, slots=True)
class Mapping:
    """One tower an endpoint mapper gave a client: interface → transport and port."""

    client: str
    server: str
    """The endpoint mapper that answered."""
    interface: str | None
    uuid: str
    version: str
    exchange: str | None
    transport: str
    port: int | None
    address: str | None
    """Where the tower points: its address, or the server's when the tower says 0.0.0.0."""
    endpoint: str | None
    """Named pipe or LRPC name (``ncacn_np``, ``ncalrpc``)."""
    annotation: str
    operation: str
    frame: int
    """The frame that completed the answer carrying this tower."""
    request_frame: int
    time: float


@dataclass(frozen=True, slots=True)
class Connection:
    """One TCP connection attempt of interest and how it went."""

    client: str
    server: str
    client_port: int
    port: int
    role: ConnectionRole
    frame: int
    """The first frame of the connection (normally the first SYN)."""
    time: float
    outcome: ConnectionOutcome
    syn_count: int
    """SYNs the client sent: 1, plus one per retransmission."""
    interface: str | None = None
    uuid: str | None = None
    exchange: str | None = None
    syn_ttl: int | None = None
    """TTL (hop limit) of the client's first SYN as captured."""
    synack_ttl: int | None = None
    reset_ttl: int | None = None
    reset_source: ResetSource | None = None
    server_ttl: int | None = None
    """The TTL of this server's SYN-ACKs from its endpoint mapper (else any port), the yardstick
    for ``reset_source``."""
    icmp_type: int | None = None
    icmp_code: int | None = None
    icmp_from: str | None = None
    icmp_text: str | None = None
    waited: float | None = None
    """Seconds from the first SYN to the last frame seen of it or, with no answer, to the end
    of the capture: how long the client was seen trying."""
    bind: str | None = None
    """``bound``, ``wrong_service``, ``timeout`` (no answer), ``protocol_error``; None: no bind."""
    bind_detail: str | None = None
    bind_uuid: str | None = None
    greeting: str | None = None
    """On RPC-over-HTTP ports: ``ncacn_http``, ``other_service``, ``silent``."""
    banner: str | None = None
    ended: str | None = None
    """``fin``, ``reset by client``, ``reset by server`` once established; None if still open."""
    midstream: bool = False
    """The capture starts after the handshake: outcome and SYN count are not known from it."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one client could do with one interface (or port) of one server, in one sentence."""

    client: str
    server: str
    interface: str | None
    uuid: str | None
    exchange: str | None
    port: int | None
    transport: str | None
    status: str
    """The scanner's words: ``bound``, ``wrong_service``, ``closed``, ``filtered``,
    ``unreachable``, ``timeout``, ``protocol_error``, ``not_probed``, ``not_registered``;
    ``established`` (connected, no bind seen); HTTP ports: ``ncacn_http``, ``other_service``,
    ``silent``; the endpoint mapper: ``ok``, ``no_answer``."""
    text: str
    frames: tuple[int, ...] = ()
    """The frames the verdict rests on (answers, first SYNs)."""


@dataclass(frozen=True, slots=True)
class CaptureReport:
    """Everything reconstructed from one capture."""

    capture: CaptureInfo
    epm_calls: tuple[EpmCall, ...]
    mappings: tuple[Mapping, ...]
    connections: tuple[Connection, ...]
    verdicts: tuple[Verdict, ...]
    notes: tuple[str, ...]
