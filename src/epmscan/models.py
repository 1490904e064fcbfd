"""Typed results shared by every layer.

Everything the scanner finds is one of these frozen dataclasses; the JSON, CSV and
console renderers in :mod:`epmscan.report` only read them. Statuses are ``(str, Enum)``
so that they serialise as their value.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class HostStatus(str, Enum):
    """How talking to one host's endpoint mapper ended (PortQry-style)."""

    OK = "ok"
    """The endpoint mapper answered and the lookup walk completed."""
    CLOSED = "closed"
    """The port refused the connection (RST) or the peer reset it before answering."""
    FILTERED = "filtered"
    """No answer to the connection attempt within the connect timeout."""
    UNREACHABLE = "unreachable"
    """The network or host is unreachable (ICMP unreachable, no route)."""
    TIMEOUT = "timeout"
    """Connected, but the peer went silent mid-exchange or the host deadline ran out."""
    BIND_REJECTED = "bind_rejected"
    """The bind to the endpoint mapper interface was refused (bind_nak or rejection)."""
    RPC_FAULT = "rpc_fault"
    """The server answered a call with a fault PDU."""
    PROTOCOL_ERROR = "protocol_error"
    """The server sent bytes that are not valid DCE/RPC for this exchange."""
    UNRESOLVED = "unresolved"
    """A host name did not resolve to any address."""


class BindOutcome(str, Enum):
    """Result of one presentation context in a bind."""

    ACCEPTED = "accepted"
    USER_REJECTION = "user_rejection"
    PROVIDER_REJECTION = "provider_rejection"
    NEGOTIATE_ACK = "negotiate_ack"
    NAK = "nak"
    """The whole bind was refused with a bind_nak PDU."""


@dataclass(frozen=True, slots=True)
class InterfaceId:
    """An RPC interface or transfer syntax: UUID (lowercase, canonical) and version."""

    uuid: str
    major: int
    minor: int

    @property
    def version(self) -> str:
        return f"{self.major}.{self.minor}"

    def __str__(self) -> str:
        return f"{self.uuid} v{self.version}"


@dataclass(frozen=True, slots=True)
class Floor:
    """One tower floor exactly as it came on the wire (left- and right-hand side)."""

    lhs: bytes
    rhs: bytes

    @property
    def protocol_id(self) -> int | None:
        return self.lhs[0] if self.lhs else None


@dataclass(frozen=True, slots=True)
class Tower:
    """A decoded protocol tower.

    ``transport`` is the protocol sequence (``ncacn_ip_tcp``, ``ncacn_np``, ``ncacn_http``,
    ``ncalrpc``, ``ncadg_ip_udp``, ...; ``unknown`` when the floors name none we know).
    ``address`` is the network address floor (IPv4 text or NetBIOS/host name) as sent,
    ``port`` the TCP/UDP/HTTP port, ``endpoint`` the named pipe or LRPC name.
    ``floors`` keeps every floor raw, unknown ones included.
    """

    interface: InterfaceId | None
    transfer_syntax: InterfaceId | None
    transport: str
    address: str | None
    port: int | None
    endpoint: str | None
    floors: tuple[Floor, ...]


@dataclass(frozen=True, slots=True)
class LookupEntry:
    """One ``ept_entry_t`` of an ``ept_lookup`` response."""

    object_uuid: str
    tower: Tower | None
    annotation: str


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    """One registered endpoint as the user sees it.

    ``address`` is the tower's address with 0.0.0.0 replaced by the address that was
    asked; ``binding`` is the string binding (``ncacn_ip_tcp:192.0.2.5[49152]``).
    """

    uuid: str
    version: str
    name: str | None
    annotation: str
    transport: str
    address: str | None
    port: int | None
    endpoint: str | None
    binding: str
    object_uuid: str = "00000000-0000-0000-0000-000000000000"
    provider: str | None = None
    """Where the interface is documented or who serves it (e.g. ``[MS-OXCRPC]``)."""


@dataclass(frozen=True, slots=True)
class HostResult:
    """Everything one host's endpoint mapper told us, or why it told us nothing.

    ``target`` is the spec as the user gave it (a name or an address), ``address``
    the IP address that was contacted. ``error`` is one line, None when ``status`` is OK.
    """

    target: str
    address: str
    port: int
    status: HostStatus
    error: str | None = None
    endpoints: tuple[EndpointRecord, ...] = ()
    elapsed: float = 0.0
    lookup_pages: int = 0
    lookup_status: int | None = None
    fault_status: int | None = None
    icmp: IcmpError | None = None
    """The ICMP error behind an ``unreachable`` status, where the kernel gave one."""

    @property
    def ok(self) -> bool:
        return self.status is HostStatus.OK


# --- Exchange port validation -------------------------------------------------------


class ExchangeInterface(str, Enum):
    """The RPC interfaces Outlook uses against Exchange 2007/2010."""

    MAPI = "mapi"
    """EMSMDB a4f1db00-ca47-1067-b31f-00dd010662da v0.81 ([MS-OXCRPC])."""
    ASYNC_MAPI = "async_mapi"
    """AsyncEMSMDB 5261574a-4572-206e-b268-6b199213b4e4 v0.1 ([MS-OXCRPC])."""
    NSPI = "nspi"
    """Address book, f5cc5a18-4264-101a-8c59-08002b2f8426 v56.0 ([MS-OXNSPI])."""
    RFR = "rfr"
    """Referral service, 1544f5e0-613c-11d1-93df-00c04fd7bd09 v1.0 ([MS-OXABREF])."""


class PortProbeStatus(str, Enum):
    """What happened when we connected to a resolved port and bound its interface."""

    BOUND = "bound"
    WRONG_SERVICE = "wrong_service"
    """The port answers but rejected a bind for the interface."""
    CLOSED = "closed"
    FILTERED = "filtered"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    """Connected, but no answer to the bind."""
    PROTOCOL_ERROR = "protocol_error"
    NOT_PROBED = "not_probed"


class HttpProbeStatus(str, Enum):
    """What answered on an RPC-over-HTTP port (6001, 6002, 6004)."""

    NCACN_HTTP = "ncacn_http"
    """The ``ncacn_http/1.0`` greeting came."""
    OTHER_SERVICE = "other_service"
    """Something listens but sent another greeting."""
    SILENT = "silent"
    """Connected, but nothing came within the read timeout."""
    CLOSED = "closed"
    FILTERED = "filtered"
    UNREACHABLE = "unreachable"


class PortClass(str, Enum):
    """How a resolved port relates to the expected static assignment."""

    STATIC_EXPECTED = "static_expected"
    STATIC_UNEXPECTED = "static_unexpected"
    """Outside every dynamic range, but not the expected port."""
    DYNAMIC_WINDOWS = "dynamic_windows"
    """Inside the Windows default dynamic range (49152..65535 unless configured)."""
    DYNAMIC_EXCHANGE = "dynamic_exchange"
    """Inside the range Exchange 2010 sets at install (6005..65534 unless configured)."""
    STATIC_UNCHECKED = "static_unchecked"
    """Outside the dynamic ranges and no expectation was given."""
    NOT_REGISTERED = "not_registered"
    """The endpoint mapper has no TCP endpoint for the interface."""


class Severity(str, Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return ("info", "warning", "error", "critical").index(self.value)


@dataclass(frozen=True, slots=True)
class ResolvedPort:
    """One Exchange interface's port as the endpoint mapper gives it, and the proof."""

    interface: ExchangeInterface
    transport: str
    """``ncacn_ip_tcp`` or ``ncacn_http``."""
    port: int | None
    source: str
    """``lookup`` (from the dump), ``map`` (from ``ept_map``) or ``both``."""
    probe: PortProbeStatus = PortProbeStatus.NOT_PROBED
    probe_detail: str | None = None
    port_class: PortClass | None = None
    expected_port: int | None = None


@dataclass(frozen=True, slots=True)
class HttpPortProbe:
    """One RPC-over-HTTP port: the greeting, and the bind behind it where it came."""

    port: int
    interface: ExchangeInterface
    status: HttpProbeStatus
    banner: str | None = None
    """What another service sent, printable and cut short."""
    bind: PortProbeStatus = PortProbeStatus.NOT_PROBED
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing that is not as the policy expects, with how to fix it."""

    severity: Severity
    host: str
    code: str
    message: str
    interface: ExchangeInterface | None = None
    expected: str | None = None
    found: str | None = None
    fix: str | None = None


@dataclass(frozen=True, slots=True)
class ExchangeHostReport:
    """The Exchange view of one host: its dump, resolved ports, HTTP ports, findings."""

    host: HostResult
    role: str | None = None
    group: str | None = None
    ports: tuple[ResolvedPort, ...] = ()
    http: tuple[HttpPortProbe, ...] = ()
    findings: tuple[Finding, ...] = ()


# --- ICMP detail of an unreachable host ---------------------------------------------

_ICMP_UNREACHABLE_CODES = (
    "network unreachable",
    "host unreachable",
    "protocol unreachable",
    "port unreachable",
    "fragmentation needed",
    "source route failed",
    "destination network unknown",
    "destination host unknown",
    "source host isolated",
    "network administratively prohibited",
    "host administratively prohibited",
    "network unreachable for TOS",
    "host unreachable for TOS",
    "communication administratively prohibited",
    "host precedence violation",
    "precedence cutoff in effect",
)
_ICMPV6_UNREACHABLE_CODES = (
    "no route to destination",
    "communication administratively prohibited",
    "beyond scope of source address",
    "address unreachable",
    "port unreachable",
    "source address failed ingress/egress policy",
    "reject route to destination",
)
_ICMP_MEANINGS: dict[tuple[str, int], tuple[str, ...]] = {
    ("icmp", 3): _ICMP_UNREACHABLE_CODES,
    ("icmp", 11): ("time to live exceeded in transit", "fragment reassembly time exceeded"),
    ("icmpv6", 1): _ICMPV6_UNREACHABLE_CODES,
    ("icmpv6", 3): ("hop limit exceeded in transit", "fragment reassembly time exceeded"),
}


@dataclass(frozen=True, slots=True)
class IcmpError:
    """The ICMP message that ended a connection attempt: type, code and who sent it.

    ``sender`` is the address of the node that sent the message (a router that rejects,
    or this machine itself when neighbour discovery gave up); ``""`` when unknown.
    ``protocol`` is ``icmp`` or ``icmpv6`` (the numbering of type and code differs).
    """

    type: int
    code: int
    sender: str
    protocol: str = "icmp"

    @property
    def meaning(self) -> str | None:
        """The name of the type and code (``communication administratively prohibited``)."""
        codes = _ICMP_MEANINGS.get((self.protocol, self.type), ())
        return codes[self.code] if 0 <= self.code < len(codes) else None

    @property
    def description(self) -> str:
        """``ICMP type 3 code 13 (communication administratively prohibited) from 10.0.0.1``."""
        name = "ICMPv6" if self.protocol == "icmpv6" else "ICMP"
        text = f"{name} type {self.type} code {self.code}"
        if self.meaning is not None:
            text += f" ({self.meaning})"
        if self.sender:
            text += f" from {self.sender}"
        return text

    def __str__(self) -> str:
        return self.description
