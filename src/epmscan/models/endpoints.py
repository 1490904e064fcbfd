"""What an endpoint mapper told us: interfaces, towers, endpoints, and one host's result.

With ``--inventory`` a host's result also says what each of its RPC ports serves
(:class:`PortInventory`), and endpoints the endpoint mapper never listed join the
registered ones, marked ``registered=False``.
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
    ACCESS_DENIED = "access_denied"
    """The server refused an anonymous call (fault ``rpc_s_access_denied``, 0x5): a server
    hardened with RestrictRemoteClients wants authenticated clients."""
    AUTH_FAILED = "auth_failed"
    """The authentication failed: the server refused the credentials (bind_nak for the
    security provider, or ``rpc_s_access_denied`` once authenticated), or its signature
    did not verify."""
    PROTOCOL_ERROR = "protocol_error"
    """The server sent bytes that are not valid DCE/RPC for this exchange."""
    UNRESOLVED = "unresolved"
    """A host name did not resolve to any address."""

    @property
    def meaning(self) -> str:
        """A short phrase for reports (``the port refused the connection (reset)``)."""
        return STATUS_MEANINGS[self]


STATUS_MEANINGS: dict[HostStatus, str] = {
    HostStatus.OK: "the endpoint mapper answered and its map was read",
    HostStatus.CLOSED: "the port refused the connection (reset)",
    HostStatus.FILTERED: "no answer to the connection attempt",
    HostStatus.UNREACHABLE: "ICMP unreachable or no route",
    HostStatus.TIMEOUT: "connected, then silence (or the host deadline)",
    HostStatus.BIND_REJECTED: "the endpoint mapper interface was refused",
    HostStatus.RPC_FAULT: "the server answered with a fault",
    HostStatus.ACCESS_DENIED: "anonymous calls refused (RestrictRemoteClients): try -u",
    HostStatus.AUTH_FAILED: "the server refused the credentials",
    HostStatus.PROTOCOL_ERROR: "the server sent bytes that are not DCE/RPC",
    HostStatus.UNRESOLVED: "the name did not resolve",
}
"""One phrase per status, for every report that explains them (every status has one)."""


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
    registered: bool = True
    """False for an interface a port serves (found by the inventory) that the endpoint
    mapper does not list on that port."""


class InventoryMethod(str, Enum):
    """How a port's interfaces were learnt."""

    MGMT = "mgmt"
    """The port's own list: the management interface's ``rpc_mgmt_inq_if_ids``."""
    BIND = "bind"
    """The management interface was refused: each candidate interface was bound (no
    call); the list holds the candidates accepted, so it may be incomplete."""


@dataclass(frozen=True, slots=True)
class ServedInterface:
    """One interface a port serves, and whether the endpoint mapper lists it there."""

    uuid: str
    version: str
    registered: bool


@dataclass(frozen=True, slots=True)
class PortInventory:
    """What one TCP port of a host serves (``--inventory``).

    ``status`` is ``ok`` when the list is complete (the management interface answered,
    or every candidate was bound); otherwise how the port failed (``closed``,
    ``filtered``, ``timeout`` with the interfaces found so far, ``bind_rejected`` or
    ``rpc_fault`` when the management interface was refused and there was nothing to
    fall back on, ...), with ``error`` saying it in one line. ``mgmt_error`` is why the
    management interface did not answer (None when it did); ``candidates`` how many
    interfaces the fallback bound.
    """

    port: int
    status: HostStatus
    method: InventoryMethod | None
    interfaces: tuple[ServedInterface, ...] = ()
    error: str | None = None
    mgmt_error: str | None = None
    candidates: int = 0


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
    inventory: tuple[PortInventory, ...] | None = None
    """What each TCP port serves, by port (``--inventory``); None when not asked."""

    @property
    def ok(self) -> bool:
        return self.status is HostStatus.OK
