"""What ``epmscan trace`` observed: Outlook's steps against one server, with their evidence.

A trace follows, per Exchange interface, the path Outlook's RPC runtime takes: connect to
the endpoint mapper, bind it, ``ept_map`` the interface, connect to the port it returned,
bind the interface there; for RPC over HTTP, connect to 6001/6002/6004, read the
``ncacn_http/1.0`` greeting and bind behind it. Each :class:`TraceStep` says when it
started (wall clock, seconds since the epoch), how long it took and how it ended, in the
scanner's words (:data:`SUCCESS_OUTCOMES`, ``closed``, ``filtered``, ``unreachable``,
``timeout``, ...). ``evidence`` holds what explains it: the kernel's error (``IP_RECVERR``)
and, when packets could be captured, the packets of exactly that connection
(:class:`WirePacket`, summarised as :class:`Evidence`). ``--path`` adds a
:class:`PathTrace`: a TCP SYN traceroute to the failing port and to the endpoint mapper's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from epmscan.models.endpoints import IcmpError


class TraceStepKind(str, Enum):
    """One step of Outlook's way to an interface."""

    CONNECT = "connect"
    """A TCP connect (to the endpoint mapper, a resolved port or an RPC-over-HTTP port)."""
    BIND = "bind"
    """A DCE/RPC bind (the endpoint mapper's interface, or the Exchange interface)."""
    EPT_MAP = "ept_map"
    """``ept_map`` for the interface over ncacn_ip_tcp: which port it listens on."""
    GREETING = "greeting"
    """The ``ncacn_http/1.0`` greeting an RPC-over-HTTP port sends first."""


SUCCESS_OUTCOMES = frozenset({"ok", "bound", "ncacn_http"})
"""Outcomes of a step that worked: ``ok`` (connect, ``ept_map``), ``bound`` (bind),
``ncacn_http`` (the greeting came)."""

NOT_TRIED = "not_tried"
"""The outcome of an interface's first step when the endpoint mapper already failed its
connect for an interface before it: nothing was sent, the detail says why."""


@dataclass(frozen=True, slots=True)
class WirePacket:
    """One captured packet of a traced connection (TCP, or an ICMP error quoting one).

    For TCP, ``src``/``dst``/``sport``/``dport`` are the packet's own. For an ICMP
    destination unreachable, ``src`` is its sender (a router, a firewall, the server),
    ``dst`` the address it was sent to, and ``quoted_src``/``quoted_dst``/``sport``/
    ``dport`` those of the TCP segment it quotes, which name the connection it is about.
    """

    time: float
    """Seconds since the epoch (UTC), as the capture stamped it."""
    src: str
    dst: str
    protocol: str
    """``tcp``, ``icmp`` or ``icmpv6``."""
    ttl: int
    """IPv4 TTL or IPv6 hop limit as captured."""
    sport: int
    dport: int
    flags: int = 0
    """TCP flags (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10)."""
    payload: int = 0
    """TCP payload bytes."""
    icmp_type: int | None = None
    icmp_code: int | None = None
    quoted_src: str | None = None
    quoted_dst: str | None = None


@dataclass(frozen=True, slots=True)
class Evidence:
    """One fact behind a step's outcome: a packet on the wire, or the kernel's error."""

    source: str
    """``wire`` (a captured packet) or ``kernel`` (the socket's error, ``IP_RECVERR``)."""
    summary: str
    """One line: ``10.81.1.2:40112 > 10.81.2.10:60001 SYN TTL 64``."""
    time: float | None = None
    """When the packet was captured (seconds since the epoch); None for the kernel's."""
    src: str | None = None
    dst: str | None = None
    sport: int | None = None
    dport: int | None = None
    flags: str | None = None
    """TCP flags as letters: ``S``, ``SA``, ``R``, ``RA``, ``PA``, ``FA``."""
    ttl: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One step, its timing, its outcome and what explains it."""

    step: TraceStepKind
    interface: str
    """The Exchange interface (``mapi``, ``async_mapi``, ``nspi``, ``rfr``) the step is on
    the way to (a bind on the endpoint mapper's port binds the endpoint mapper)."""
    transport: str
    """``ncacn_ip_tcp`` (through the endpoint mapper) or ``ncacn_http`` (RPC over HTTP)."""
    target: str
    """The server's address."""
    port: int
    started: float
    """Wall clock at the start, seconds since the epoch (UTC)."""
    elapsed_ms: float
    """Measured on the monotonic clock (the one asyncio's loop time reads)."""
    outcome: str
    """:data:`SUCCESS_OUTCOMES`, or ``closed`` (RST), ``filtered`` (no answer to the SYN),
    ``unreachable`` (ICMP), ``timeout`` (connected, then silence), ``wrong_service``,
    ``bind_rejected``, ``not_registered``, ``rpc_fault``, ``other_service``, ``silent``,
    ``protocol_error``, :data:`NOT_TRIED`."""
    detail: str | None = None
    """The engine's words for what happened (``connection refused``, the port resolved)."""
    local_address: str | None = None
    """This machine's end of the connection: which packets belong to it."""
    local_port: int | None = None
    icmp: IcmpError | None = None
    """The ICMP error the kernel queued for the connect (``IP_RECVERR``), if one came."""
    resolved_port: int | None = None
    """``ept_map``'s answer: the port the interface listens on."""
    evidence: tuple[Evidence, ...] = ()
    explanation: str | None = None
    """Why it failed, from the evidence (None for a step that worked)."""

    @property
    def ok(self) -> bool:
        return self.outcome in SUCCESS_OUTCOMES


@dataclass(frozen=True, slots=True)
class CaptureStatus:
    """Whether packets were recorded, where, with which filter, or why not."""

    active: bool
    net_iface: str | None = None
    filter: str | None = None
    reason: str | None = None
    """Why nothing was captured (no privilege, no scapy, the interface failed)."""
    packets: int = 0
    """Packets of the traced connections recorded (on ``lo`` each counted once)."""


@dataclass(frozen=True, slots=True)
class PathProbe:
    """The answer to one SYN sent with a given TTL to one port."""

    ttl: int
    port: int
    reply: str
    """``time_exceeded`` (a router on the way), ``syn_ack`` or ``reset`` (the end: the
    server or a device speaking for it), ``unreachable`` (ICMP), ``none`` (no answer)."""
    address: str | None = None
    """Who answered."""
    reply_ttl: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    rtt_ms: float | None = None


@dataclass(frozen=True, slots=True)
class PathTrace:
    """A TCP SYN traceroute to several ports of one server, side by side."""

    target: str
    ports: tuple[int, ...]
    """The failing port first, then the endpoint mapper's."""
    probes: tuple[PathProbe, ...]
    max_hops: int
    verdict: str | None = None
    """Where the path to the failing port ends while the other goes through."""


@dataclass(frozen=True, slots=True)
class TraceReport:
    """One ``epmscan trace`` run."""

    server: str
    """As given."""
    address: str
    """The address traced."""
    epm_port: int
    interfaces: tuple[str, ...]
    started: float
    """Wall clock at the start, seconds since the epoch (UTC)."""
    capture: CaptureStatus
    steps: tuple[TraceStep, ...]
    path: PathTrace | None = None
    notes: tuple[str, ...] = ()
    interrupted: str | None = None
    """``SIGINT`` or ``SIGTERM`` when a signal cut the trace short."""

    @property
    def ok(self) -> bool:
        """Every step worked (and there was at least one, and no signal cut it)."""
        return bool(self.steps) and self.interrupted is None and all(s.ok for s in self.steps)
