"""Outlook's way to each Exchange interface, step by step, with timings.

For each interface, as Outlook's RPC runtime does it: a TCP connect to the endpoint
mapper, the bind of its interface, ``ept_map`` for the interface over ncacn_ip_tcp, then
a TCP connect to the port it returned (on the address asked, as Windows does) and the
bind of the interface there. For RPC over HTTP: a connect to the interface's port (6001
MAPI, 6002 RFR, 6004 NSPI), its ``ncacn_http/1.0`` greeting, and the bind behind it.

Every step is a :class:`~epmscan.models.trace.TraceStep`: wall-clock start, elapsed time
on the monotonic clock, the outcome in the scanner's words, the engine's detail,
this end's address and port (the capture finds the connection's packets by them) and
the ICMP error the kernel queued (``IP_RECVERR``, :func:`~epmscan.engine.transport.open_tcp`).
A failed step ends its interface's way; the next interface starts afresh, except that an
endpoint mapper whose connect failed (closed, filtered, unreachable) is not asked again
for the interfaces after it: each gets one ``not_tried`` step saying so, instead of the
same wait and the same failure once more. Steps are
handed to ``record`` as they end, so an interrupted trace keeps what it did. Nothing
here judges: ``checks.trace_verdicts`` explains the steps from their evidence.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from epmscan.engine.epm_session import status_for_error
from epmscan.engine.ept_map import map_interfaces
from epmscan.engine.probes import read_greeting
from epmscan.engine.session import RpcSession
from epmscan.engine.transport import Connection, open_tcp
from epmscan.errors import (
    EpmscanError,
    HostUnreachableError,
    LocalResourceError,
)
from epmscan.facts.exchange import EXCHANGE_INTERFACES, HTTP_PORT_FOR, LABELS
from epmscan.models import ExchangeInterface, HostStatus, IcmpError, InterfaceId
from epmscan.models.trace import NOT_TRIED, TraceStep, TraceStepKind
from epmscan.protocol.constants import EPM_INTERFACE
from epmscan.protocol.ncacn_http import NCACN_HTTP_GREETING, classify_greeting
from epmscan.settings import NetworkSettings

StepRecorder = Callable[[TraceStep], None]

_TCP = "ncacn_ip_tcp"
_HTTP = "ncacn_http"
_EPM_DOWN = frozenset({"closed", "filtered", "unreachable"})
"""Outcomes of the endpoint mapper's connect after which it is not asked again."""


@dataclass(slots=True)
class _Clock:
    """The start of one step: wall clock for the record, monotonic for the duration.

    The monotonic clock is the one asyncio's loop time reads; uvloop's own loop time is a
    millisecond tick cached per loop iteration, too coarse for a connect on a LAN.
    """

    wall: float = field(default_factory=time.time)
    start: float = field(default_factory=time.monotonic)

    def elapsed_ms(self) -> float:
        return round((time.monotonic() - self.start) * 1000.0, 3)


@dataclass(slots=True)
class _Way:
    """One interface's way: what every step of it shares."""

    interface: str
    transport: str
    target: str
    network: NetworkSettings
    record: StepRecorder
    local: tuple[str, int] | None = None

    def step(
        self,
        kind: TraceStepKind,
        port: int,
        clock: _Clock,
        outcome: str,
        detail: str | None,
        *,
        icmp: IcmpError | None = None,
        resolved_port: int | None = None,
    ) -> TraceStep:
        local = self.local
        made = TraceStep(
            step=kind,
            interface=self.interface,
            transport=self.transport,
            target=self.target,
            port=port,
            started=clock.wall,
            elapsed_ms=clock.elapsed_ms(),
            outcome=outcome,
            detail=detail,
            local_address=local[0] if local else None,
            local_port=local[1] if local else None,
            icmp=icmp,
            resolved_port=resolved_port,
        )
        self.record(made)
        return made

    async def connect(self, port: int) -> Connection | None:
        """The connect step; the connection, or None when it failed."""
        self.local = None

        def note_local(address: str, local_port: int) -> None:
            self.local = (address, local_port)

        clock = _Clock()
        timeout = self.network.timeouts.connect
        try:
            conn = await open_tcp(self.target, port, connect_timeout=timeout, on_local=note_local)
        except LocalResourceError:
            raise
        except EpmscanError as exc:
            icmp = exc.icmp if isinstance(exc, HostUnreachableError) else None
            outcome = status_for_error(exc).value
            self.step(TraceStepKind.CONNECT, port, clock, outcome, str(exc), icmp=icmp)
            return None
        self.step(TraceStepKind.CONNECT, port, clock, "ok", "connected")
        return conn

    async def bind(
        self, session: RpcSession, port: int, interface: InterfaceId, *, epm: bool = False
    ) -> bool:
        """The bind step over an open connection; True when the bind was accepted."""
        clock = _Clock()
        try:
            ack = await session.bind(interface)
        except LocalResourceError:
            raise
        except EpmscanError as exc:
            status = status_for_error(exc)
            outcome = status.value
            if status in (HostStatus.BIND_REJECTED, HostStatus.RPC_FAULT) and not epm:
                outcome = "wrong_service"
            self.step(TraceStepKind.BIND, port, clock, outcome, str(exc))
            return False
        what = f"endpoint mapper v{interface.version}" if epm else f"{self.interface} {interface}"
        detail = f"{what} accepted (max_xmit {ack.max_xmit_frag})"
        self.step(TraceStepKind.BIND, port, clock, "bound", detail)
        return True


async def _resolve(way: _Way, interface: ExchangeInterface) -> int | None:
    """Connect to the endpoint mapper, bind it, ``ept_map`` the interface: its port."""
    network = way.network
    conn = await way.connect(network.port)
    if conn is None:
        return None
    try:
        session = RpcSession(conn, read_timeout=network.timeouts.read)
        if not await way.bind(session, network.port, EPM_INTERFACE, epm=True):
            return None
        clock = _Clock()
        try:
            records = await map_interfaces(
                session, way.target, [EXCHANGE_INTERFACES[interface]], transports=(_TCP,)
            )
        except LocalResourceError:
            raise
        except EpmscanError as exc:
            outcome = status_for_error(exc).value
            way.step(TraceStepKind.EPT_MAP, network.port, clock, outcome, str(exc))
            return None
        ports = [r.port for r in records if r.port]
        if not ports:
            way.step(
                TraceStepKind.EPT_MAP,
                network.port,
                clock,
                "not_registered",
                f"no {_TCP} endpoint registered for {interface.value}",
            )
            return None
        port = ports[0]
        detail = f"{interface.value} -> {_TCP} port {port}"
        tower_address = records[0].address
        if tower_address not in (None, "", "0.0.0.0", way.target):
            detail += f" (the tower says {tower_address}; Outlook connects to {way.target})"
        way.step(TraceStepKind.EPT_MAP, network.port, clock, "ok", detail, resolved_port=port)
        return port
    finally:
        conn.close(abort=network.reset_on_close)


async def trace_interface(
    address: str, interface: ExchangeInterface, network: NetworkSettings, record: StepRecorder
) -> None:
    """Outlook's way to ``interface`` over TCP, through the endpoint mapper."""
    way = _Way(interface.value, _TCP, address, network, record)
    port = await _resolve(way, interface)
    if port is None:
        return
    conn = await way.connect(port)
    if conn is None:
        return
    try:
        session = RpcSession(conn, read_timeout=network.timeouts.read)
        await way.bind(session, port, EXCHANGE_INTERFACES[interface])
    finally:
        conn.close(abort=network.reset_on_close)


async def trace_http(
    address: str, interface: ExchangeInterface, network: NetworkSettings, record: StepRecorder
) -> None:
    """The RPC proxy's way to ``interface``: its fixed port, the greeting, a bind behind it."""
    port = HTTP_PORT_FOR[interface]
    way = _Way(interface.value, _HTTP, address, network, record)
    conn = await way.connect(port)
    if conn is None:
        return
    try:
        timeout = network.timeouts.read
        clock = _Clock()
        data = await read_greeting(conn, timeout)
        is_http, banner = classify_greeting(data)
        if not data:
            way.step(
                TraceStepKind.GREETING, port, clock, "silent", f"nothing sent within {timeout:g} s"
            )
            return
        if not is_http:
            greeting = NCACN_HTTP_GREETING.decode()
            outcome = "silent" if NCACN_HTTP_GREETING.startswith(data) else "other_service"
            detail = f"sent {banner!r}, not {greeting}"
            way.step(TraceStepKind.GREETING, port, clock, outcome, detail)
            return
        way.step(TraceStepKind.GREETING, port, clock, "ncacn_http", banner)
        session = RpcSession(conn, read_timeout=timeout)
        await way.bind(session, port, EXCHANGE_INTERFACES[interface])
    finally:
        conn.close(abort=network.reset_on_close)


async def trace_server(
    address: str,
    interfaces: Iterable[ExchangeInterface],
    network: NetworkSettings,
    record: StepRecorder,
    *,
    http: bool = True,
) -> None:
    """Every interface's way over TCP, then (``http``) over RPC over HTTP, one at a time."""
    chosen = list(interfaces)
    epm_down: TraceStep | None = None

    def watch(step: TraceStep) -> None:
        nonlocal epm_down
        first_connect = step.step is TraceStepKind.CONNECT and step.port == network.port
        if first_connect and step.outcome in _EPM_DOWN and epm_down is None:
            epm_down = step
        record(step)

    for interface in chosen:
        if epm_down is None:
            await trace_interface(address, interface, network, watch)
            continue
        way = _Way(interface.value, _TCP, address, network, record)
        first = LABELS[ExchangeInterface(epm_down.interface)]
        detail = (
            f"not tried again: the endpoint mapper on port {network.port} was "
            f"{epm_down.outcome} for {first} just before, and {LABELS[interface]} is "
            "resolved through it too"
        )
        way.step(TraceStepKind.CONNECT, network.port, _Clock(), NOT_TRIED, detail)
    if http:
        for interface in chosen:
            if interface in HTTP_PORT_FOR:
                await trace_http(address, interface, network, record)
