"""What an endpoint mapper told us: interfaces, towers, endpoints, and one host's result."""

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

    A tower that cannot be parsed (no floors, a floor too short for its kind, lengths
    that run past the end or leave bytes over) has ``error`` set, saying what is wrong;
    then ``transport`` is ``unknown``, ``address``/``port``/``endpoint`` are None, and
    only the interface (when its floor was read) and the floors read so far are kept.
    ``raw`` holds the tower's bytes when it is broken or its transport is unknown.
    """

    interface: InterfaceId | None
    transfer_syntax: InterfaceId | None
    transport: str
    address: str | None
    port: int | None
    endpoint: str | None
    floors: tuple[Floor, ...]
    error: str | None = None
    raw: bytes | None = None


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
    A tower that could not be parsed gives ``tower_error`` (what is wrong with it), an
    empty ``binding`` and transport ``unknown``; ``tower_hex`` is the tower's bytes in
    hex for such a tower and for one whose transport is unknown, None otherwise.
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
    tower_error: str | None = None
    """Why the tower could not be parsed; None for a tower that parsed."""
    tower_hex: str | None = None
    """The tower's bytes in hex when it could not be parsed or names no known transport."""


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

    @property
    def ok(self) -> bool:
        return self.status is HostStatus.OK
