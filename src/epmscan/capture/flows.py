"""The state followed per connection, and the bounds on it.

A :class:`Flow` is one TCP connection of interest as :mod:`epmscan.capture.analysis`
follows it: handshake facts (SYNs, SYN-ACK, reset, ICMP), one :class:`Side` per
direction (reassembly and PDU reading, made at the first payload), the bind and greeting
seen, the endpoint mapper calls awaiting their answer. :meth:`Flow.connection` turns it
into the :class:`~epmscan.models.capture.Connection` of the report. :class:`Limits` are
the bounds that keep memory independent of the capture's size.
"""

from __future__ import annotations

from dataclasses import dataclass

from epmscan.capture.dcerpc import PduReader
from epmscan.capture.reassembly import HoldBudget, StreamReassembler
from epmscan.capture.records import IcmpUnreachable, icmp_text
from epmscan.facts.exchange import EXCHANGE_BY_UUID, RPC_HTTP_PORTS
from epmscan.models import InterfaceId, PortProbeStatus
from epmscan.models.capture import (
    ENDPOINT_MAPPER,
    Connection,
    ConnectionOutcome,
    ConnectionRole,
    EpmCall,
    Mapping,
)
from epmscan.protocol.constants import EPM_INTERFACE
from epmscan.protocol.interface_names import interface_name


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that keep memory independent of the capture's size."""

    max_flows: int = 16384
    """Connections of interest followed at once; beyond, the quietest are closed."""
    idle_timeout: float = 300.0
    """Capture seconds without a segment after which a connection is closed."""
    max_records: int = 100_000
    """Endpoint mapper calls, mappings and connections kept each; beyond, only counted."""
    max_held: int = 512 * 1024
    """Out-of-order bytes held per direction."""
    hold_budget: int = 32 * 1024 * 1024
    """Out-of-order bytes held by all directions together."""
    max_read: int = 64 * 1024
    """Bytes read per direction of a connection that is not to an endpoint mapper."""
    max_watched: int = 65536
    """Resolved (address, port) pairs watched for connections."""
    sweep_every: int = 8192
    """Segments between two looks for idle connections."""


def interface_names(uuid: str, major: int, minor: int) -> tuple[str | None, str | None]:
    """(name, Exchange role word) of an interface; either may be None."""
    known = interface_name(uuid, major, minor)
    exchange = EXCHANGE_BY_UUID.get(uuid)
    return (known[0] if known else None), (exchange.value if exchange else None)


class Side:
    """One direction of a flow: reassembly and PDU reading."""

    __slots__ = ("noted", "read", "reader", "stopped", "stream")

    def __init__(self, budget: HoldBudget, limits: Limits) -> None:
        self.stream = StreamReassembler(budget, max_held=limits.max_held)
        self.reader = PduReader()
        self.read = 0
        self.noted = False
        self.stopped = False


class Flow:
    """Everything followed about one TCP connection."""

    __slots__ = (
        "banner",
        "bind_call",
        "bind_contexts",
        "bind_detail",
        "bind_interface",
        "bind_result",
        "client",
        "client_ended",
        "cport",
        "ended",
        "established",
        "first_frame",
        "first_syn",
        "first_time",
        "greeting",
        "greeting_buffer",
        "greeting_expected",
        "icmp",
        "isn",
        "last_time",
        "mapping",
        "midstream",
        "ndr64",
        "pending",
        "port",
        "reading",
        "reset_ttl",
        "role",
        "server",
        "server_ended",
        "server_isn",
        "sides",
        "syn_count",
        "syn_ttl",
        "synack_ttl",
    )

    def __init__(
        self,
        client: str,
        cport: int,
        server: str,
        port: int,
        role: ConnectionRole,
        frame: int,
        time: float,
    ) -> None:
        self.client = client
        self.cport = cport
        self.server = server
        self.port = port
        self.role = role
        self.first_frame = frame
        self.first_time = time
        self.last_time = time
        self.first_syn: float | None = None
        self.syn_count = 0
        self.isn: int | None = None
        self.server_isn: int | None = None
        self.syn_ttl: int | None = None
        self.synack_ttl: int | None = None
        self.established = False
        self.reset_ttl: int | None = None
        self.icmp: IcmpUnreachable | None = None
        self.ended: str | None = None
        self.client_ended = False
        self.server_ended = False
        self.midstream = False
        self.sides: tuple[Side, Side] | None = None
        self.reading = True
        self.greeting_expected = False
        self.greeting: str | None = None
        self.greeting_buffer = b""
        self.banner: str | None = None
        self.mapping: Mapping | None = None
        self.bind_call: int | None = None
        self.bind_contexts: dict[int, InterfaceId] = {}
        self.bind_result: str | None = None
        self.bind_detail: str | None = None
        self.bind_interface: InterfaceId | None = None
        self.ndr64: set[int] = set()
        self.pending: dict[int, EpmCall] = {}

    def connection(self, now: float) -> Connection:
        """What the flow amounts to; ``now`` is the capture's clock (the end of waiting)."""
        flow = self
        if flow.established:
            outcome = ConnectionOutcome.ESTABLISHED
        elif flow.reset_ttl is not None:
            outcome = ConnectionOutcome.CLOSED
        elif flow.icmp is not None:
            outcome = ConnectionOutcome.UNREACHABLE
        else:
            outcome = ConnectionOutcome.FILTERED
        name = uuid = exchange = None
        if flow.role is ConnectionRole.EPM:
            uuid, name = EPM_INTERFACE.uuid, ENDPOINT_MAPPER
        elif flow.bind_interface is not None:
            bound = flow.bind_interface
            uuid = bound.uuid
            name, exchange = interface_names(uuid, bound.major, bound.minor)
        elif flow.mapping is not None:
            uuid, name, exchange = flow.mapping.uuid, flow.mapping.interface, flow.mapping.exchange
        elif flow.role is ConnectionRole.RPC_HTTP:
            exchange = RPC_HTTP_PORTS[flow.port].value
        bind = flow.bind_result
        if bind is None and flow.bind_call is not None:
            bind = PortProbeStatus.TIMEOUT.value
            flow.bind_detail = "no answer to the bind in the capture"
        greeting = flow.greeting
        if greeting is None and flow.greeting_expected and outcome is ConnectionOutcome.ESTABLISHED:
            greeting = "silent" if not flow.midstream else None
        icmp = flow.icmp
        waited = None
        if flow.first_syn is not None:
            end = flow.last_time if outcome is not ConnectionOutcome.FILTERED else now
            waited = round(max(0.0, end - flow.first_syn), 6)
        return Connection(
            client=flow.client,
            server=flow.server,
            client_port=flow.cport,
            port=flow.port,
            role=flow.role,
            frame=flow.first_frame,
            time=flow.first_time,
            outcome=outcome,
            syn_count=flow.syn_count,
            syn_ttl=flow.syn_ttl,
            interface=name,
            uuid=uuid,
            exchange=exchange,
            synack_ttl=flow.synack_ttl,
            reset_ttl=flow.reset_ttl,
            icmp_type=icmp.icmp_type if icmp else None,
            icmp_code=icmp.icmp_code if icmp else None,
            icmp_from=icmp.sender if icmp else None,
            icmp_text=icmp_text(icmp.icmp_type, icmp.icmp_code, icmp.ipv6) if icmp else None,
            waited=waited,
            bind=bind,
            bind_detail=flow.bind_detail if bind is not None else None,
            bind_uuid=flow.bind_interface.uuid if flow.bind_interface else None,
            greeting=greeting,
            banner=flow.banner,
            ended=flow.ended,
            midstream=flow.midstream,
        )


FlowKey = tuple[str, int, str, int]


class Kept:
    """A list capped at ``limit`` items; the rest are only counted."""

    __slots__ = ("dropped", "items", "limit")

    def __init__(self, limit: int) -> None:
        self.items: list[object] = []
        self.limit = limit
        self.dropped = 0

    def add(self, item: object) -> None:
        if len(self.items) < self.limit:
            self.items.append(item)
        else:
            self.dropped += 1
