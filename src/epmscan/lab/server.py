"""The running lab: asyncio listeners that answer as the planned hosts would.

Two ways to listen, one way to answer. In *per-address* mode (``[[hosts]]``) each host
gets its own sockets bound to its loopback address: the endpoint mapper port, one port
per process serving interfaces on TCP, its ncacn_http ports. A down host binds nothing,
so the kernel refuses connections. In *wildcard* mode (``[wildcard]``, for a thousand
hosts) one socket per port listens on ``0.0.0.0``; each accepted connection is routed by
the local address it reached (``sockname``); an address that is not a live host, or a
port that host does not use, gets a reset (``SO_LINGER`` 0).

Every connection is answered by the same code: read bytes, feed them to a
:class:`~epmscan.protocol.server_connection.ServerConnection`, answer binds (accept the interfaces
served on that port and the remote management interface, provider-reject others) and
requests (the endpoint mapper's calls on the EPM port; ``rpc_mgmt_inq_if_ids`` on every
port, listing what the port serves, registered or not, unless the host's ``mgmt`` rejects
or denies it; a fault otherwise). ncacn_http ports send ``ncacn_http/1.0`` first.
Silent ports accept and never send a byte, as a port behind a dropping firewall would
look once the handshake got through.

A host's fault (:mod:`epmscan.lab.faults`) shows on the ports of its places: a
connection fault replaces the conversation (silence, an endless stream, TLS or HTTP, a
wrong or endless greeting), ``drip`` sends every byte on its own, a PDU or bind fault
replaces one answer and then keeps answering, falls silent, closes, or streams
fragments without end; ``alloc_hint`` rewrites every response's hint. Lookup faults
live in the endpoint map. A host's ``delay`` makes it slow: every PDU answer, the
ncacn_http greeting and a foreign banner wait that long (the TCP handshake is the
kernel's and is never delayed). Every endpoint mapper takes NTLM-authenticated binds
and, with ``auth = "ntlm"``, refuses anonymous calls (:mod:`epmscan.lab.ntlm_gate`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
import struct
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import cached_property

from epmscan.errors import LabConfigError, ProtocolError
from epmscan.lab.config import (
    HostConfig,
    LabConfig,
    MgmtMode,
    WildcardConfig,
    default_host_name,
)
from epmscan.lab.endpoint_map import CallFault, EndpointMapSession, HostEndpointMap
from epmscan.lab.faults import (
    CONNECTION_KINDS,
    HTTP_REPLY,
    TLS_ALERT,
    FaultKind,
    HostFault,
    Stage,
    Strike,
    chargen_chunk,
    greeting_bytes,
    strike,
    strikes_at,
    with_alloc_hint,
)
from epmscan.lab.ntlm_gate import NtlmGate
from epmscan.lab.plan import (
    DynamicPortChooser,
    HostPlan,
    plan_host,
    pool_dynamic_chooser,
    random_dynamic_chooser,
)
from epmscan.models import InterfaceId
from epmscan.protocol.constants import (
    MGMT_INTERFACE,
    NCA_S_OP_RNG_ERROR,
    NCA_S_UNK_IF,
    OP_EPT_LOOKUP,
    OP_EPT_LOOKUP_HANDLE_FREE,
    OP_EPT_MAP,
    OP_MGMT_INQ_IF_IDS,
    RPC_S_ACCESS_DENIED,
    RPC_X_BAD_STUB_DATA,
)
from epmscan.protocol.events import Auth3, BindRequest, PresentationContext, Request
from epmscan.protocol.mgmt import decode_inq_if_ids_request, encode_inq_if_ids_response
from epmscan.protocol.ncacn_http import NCACN_HTTP_GREETING
from epmscan.protocol.server_connection import ServerConnection

_READ_SIZE = 65536
LISTEN_BACKLOG = 4096
"""Deep accept queues: a scanner opens hundreds of connections at once."""
_LINGER_RESET = struct.pack("ii", 1, 0)


@dataclass(slots=True)
class ConnectionStats:
    """Connections one host (or the whole lab) has seen. Read them from any thread."""

    accepted: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    reset: int = 0
    """Connections answered with a reset (wildcard mode: nothing there)."""
    by_port: Counter[int] = field(default_factory=Counter)

    def opened(self, port: int) -> None:
        self.accepted += 1
        self.in_flight += 1
        self.by_port[port] += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def closed(self) -> None:
        self.in_flight -= 1


class LabHost:
    """One emulated host as the lab runs it: where it listens, and what it has seen."""

    def __init__(self, config: HostConfig, plan_factory: Callable[[HostConfig], HostPlan]) -> None:
        self.config = config
        self._plan_factory = plan_factory
        self.stats = ConnectionStats()

    @cached_property
    def plan(self) -> HostPlan:
        """The host's layout (built on first use in wildcard mode)."""
        return self._plan_factory(self.config)

    @cached_property
    def endpoint_map(self) -> HostEndpointMap:
        """The host's encoded endpoint map (built on the first lookup)."""
        return HostEndpointMap(self.plan)

    @property
    def address(self) -> str:
        return self.config.address

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def profile(self) -> str:
        return self.config.profile.name

    @property
    def down(self) -> bool:
        return self.config.down

    @property
    def epm_port(self) -> int:
        return self.plan.epm_port

    @property
    def tcp_endpoints(self) -> dict[str, int]:
        """Interface key (``mapi``, ``nspi``, ``lsarpc``...) → ncacn_ip_tcp port."""
        return dict(self.plan.tcp_endpoints)

    @property
    def http_ports(self) -> tuple[int, ...]:
        """ncacn_http ports that listen (closed ones left out)."""
        return tuple(sorted(self.plan.http_listeners))

    @property
    def http_advertised(self) -> tuple[int, ...]:
        """ncacn_http ports the endpoint map advertises (whether they listen or not)."""
        return self.plan.http_advertised

    @property
    def silent_ports(self) -> tuple[int, ...]:
        return tuple(sorted(self.plan.silent_ports))

    @property
    def listening_ports(self) -> tuple[int, ...]:
        return self.plan.listening_ports

    @property
    def fault(self) -> HostFault | None:
        """The host's hostile behaviour, if it has one."""
        return self.config.fault

    def fault_on(self, kind: str) -> HostFault | None:
        """The fault a port whose role is ``kind`` (``epm``, ``rpc``, ``http``) shows."""
        fault = self.config.fault
        if fault is None or not fault.applies_to(kind):
            return None
        return fault

    def port_role(self, port: int) -> tuple[str, frozenset[InterfaceId]] | None:
        """What answers on ``port``: ``("silent"|"epm"|"rpc"|"http", interfaces)`` or None."""
        plan = self.plan
        if self.config.down:
            return None
        if port in plan.silent_ports:
            return "silent", frozenset()
        if port in plan.foreign_ports:
            return "rpc", frozenset()
        if plan.http_banners and port in plan.http_banners:
            return "banner", frozenset()
        if port == plan.epm_port:
            return "epm", plan.epm_interfaces
        if port in plan.tcp_listeners:
            return "rpc", plan.tcp_listeners[port]
        if port in plan.http_listeners:
            return "http", plan.http_listeners[port]
        return None

    def __repr__(self) -> str:
        return f"LabHost({self.address}, {self.profile}, down={self.down})"


def _accepts(served: frozenset[InterfaceId]) -> Callable[[PresentationContext], bool]:
    def accept(context: PresentationContext) -> bool:
        wanted = context.abstract_syntax
        return any(
            have.uuid == wanted.uuid and have.major == wanted.major and wanted.minor <= have.minor
            for have in served
        )

    return accept


@dataclass(frozen=True, slots=True)
class _Management:
    """How one port answers the remote management interface: ``mode`` (``answer``,
    ``reject`` or ``access_denied``) and the interfaces ``inq_if_ids`` lists there."""

    mode: MgmtMode
    listed: tuple[InterfaceId, ...]

    def answer(self, connection: ServerConnection, request: Request) -> bytes:
        """The answer to a call on the management interface."""
        call_id, context_id = request.call_id, request.context_id
        if request.opnum != OP_MGMT_INQ_IF_IDS:
            return connection.fault(call_id, NCA_S_OP_RNG_ERROR, context_id)
        if self.mode == "access_denied":
            return connection.fault(call_id, RPC_S_ACCESS_DENIED, context_id)
        try:
            decode_inq_if_ids_request(request.stub)
        except ProtocolError:
            return connection.fault(call_id, RPC_X_BAD_STUB_DATA, context_id)
        stub = encode_inq_if_ids_response(self.listed)
        return connection.response(call_id, stub, context_id)


def _management(mode: MgmtMode, served: frozenset[InterfaceId]) -> _Management:
    listed = tuple(sorted(served, key=lambda i: (i.uuid, i.major, i.minor)))
    return _Management(mode, listed)


def _is_mgmt(interface: InterfaceId) -> bool:
    return interface.uuid == MGMT_INTERFACE.uuid and interface.major == MGMT_INTERFACE.major


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    writer.transport.abort()


def _blackhole(address: str, port: int) -> list[socket.socket]:
    """A port that drops SYNs, like a firewall: a listener that never accepts, its queue full.

    Linux drops a SYN when the listener's accept queue is full; two connections of our
    own fill a queue of length 0, so nobody else's handshake completes. Keep the sockets
    open for as long as the port should look filtered.
    """
    listener = socket.socket(_family(address), socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((address, port))
    listener.listen(0)
    held = [listener]
    for _ in range(2):
        filler = socket.socket(_family(address), socket.SOCK_STREAM)
        filler.setblocking(False)
        filler.connect_ex((address, port))
        held.append(filler)
    return held


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _listen_socket(address: str, port: int) -> socket.socket:
    sock = socket.socket(_family(address), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class Lab:
    """A running lab. Use :func:`run_lab`; ``hosts`` maps each address to its :class:`LabHost`."""

    def __init__(self, config: LabConfig) -> None:
        self.config = config
        self.hosts: dict[str, LabHost] = {}
        self.stats = ConnectionStats()
        self.listen_addresses: list[tuple[str, int]] = []
        self._servers: list[asyncio.Server] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._reserved: dict[tuple[str, int], socket.socket] = {}
        self._blackholes: list[socket.socket] = []
        self._wildcard_network: ipaddress.IPv4Network | None = None

    # --- starting ------------------------------------------------------------------

    async def start(self) -> None:
        """Plan the hosts and bind every listener (:class:`LabConfigError` on a port in use)."""
        try:
            if self.config.wildcard is not None:
                await self._start_wildcard(self.config.wildcard)
            else:
                await self._start_per_address()
        except BaseException:
            await self.stop()
            raise

    def _plan_factory(self, choose: DynamicPortChooser) -> Callable[[HostConfig], HostPlan]:
        def factory(host: HostConfig) -> HostPlan:
            return plan_host(
                host,
                epm_port=self.config.epm_port + self.config.port_offset,
                port_offset=self.config.port_offset,
                choose_dynamic=choose,
            )

        return factory

    async def _start_per_address(self) -> None:
        for host_config in self.config.hosts:
            address = host_config.address
            if not host_config.down:
                try:
                    _listen_socket(address, 0).close()
                except OSError as exc:
                    raise LabConfigError(
                        f"{self.config.source}: cannot listen on {address}"
                        f" ({host_config.profile.name}): {exc.strerror or exc}"
                    ) from None

            def is_free(port: int, _address: str = address) -> bool:
                try:
                    self._reserved[(_address, port)] = _listen_socket(_address, port)
                except OSError:
                    return False
                return True

            host = LabHost(host_config, self._plan_factory(random_dynamic_chooser(is_free)))
            self.hosts[address] = host
            plan = host.plan
            if host.down:
                for key in [key for key in self._reserved if key[0] == address]:
                    self._reserved.pop(key).close()
                continue
            for port in sorted(plan.filtered_ports):
                reserved = self._reserved.pop((address, port), None)
                if reserved is not None:
                    reserved.close()
                try:
                    self._blackholes.extend(_blackhole(address, port))
                except OSError as exc:
                    raise LabConfigError(
                        f"{self.config.source}: cannot hold {address}:{port} filtered"
                        f" ({host.profile}): {exc.strerror or exc}"
                    ) from None
            for port in sorted({*plan.listening_ports, *plan.silent_ports} - plan.filtered_ports):
                sock = self._reserved.pop((address, port), None)
                if sock is None:
                    try:
                        sock = _listen_socket(address, port)
                    except OSError as exc:
                        raise LabConfigError(
                            f"{self.config.source}: cannot listen on {address}:{port}"
                            f" ({host.profile}): {exc.strerror or exc}"
                        ) from None
                await self._serve(sock, port)
        for sock in self._reserved.values():
            sock.close()
        self._reserved.clear()

    async def _start_wildcard(self, spec: WildcardConfig) -> None:
        self._wildcard_network = spec.network
        rng = random.Random(f"wildcard:{spec.seed}")
        hosts_total = spec.network.num_addresses
        first = 1 if spec.network.prefixlen < 31 else 0
        usable = range(first, hosts_total - first)
        offsets = sorted(rng.sample(usable, spec.live))
        static_ports = {self.config.epm_port + self.config.port_offset}
        for profile in spec.profiles:
            static_ports.update(p + self.config.port_offset for p in profile.http_ports.values())
            static_ports.update(
                p.tcp + self.config.port_offset for p in profile.processes if isinstance(p.tcp, int)
            )
        low = max(profile.dynamic_range[0] for profile in spec.profiles)
        high = min(profile.dynamic_range[1] for profile in spec.profiles)
        pool: list[int] = []
        sockets: dict[int, socket.socket] = {}
        for port in sorted(static_ports):
            try:
                sockets[port] = _listen_socket(spec.bind, port)
            except OSError as exc:
                for sock in sockets.values():
                    sock.close()
                raise LabConfigError(
                    f"{self.config.source}: cannot listen on {spec.bind}:{port}:"
                    f" {exc.strerror or exc}"
                ) from None
        attempts = 0
        while len(pool) < spec.dynamic_pool and attempts < 8192:
            attempts += 1
            port = rng.randint(low, high)
            if port in sockets:
                continue
            try:
                sockets[port] = _listen_socket(spec.bind, port)
            except OSError:
                continue
            pool.append(port)
        factory = self._plan_factory(pool_dynamic_chooser(tuple(pool)))
        for offset in offsets:
            address = str(spec.network.network_address + offset)
            profile = spec.profiles[rng.randrange(len(spec.profiles))]
            config = HostConfig(
                address=address,
                profile=profile,
                name=default_host_name(profile, address),
                paging=spec.paging,
                seed=spec.seed ^ offset,
            )
            self.hosts[address] = LabHost(config, factory)
        for port, sock in sorted(sockets.items()):
            await self._serve(sock, port)

    async def _serve(self, sock: socket.socket, port: int) -> None:
        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._handlers.add(task)
            try:
                await self._handle(reader, writer, port)
            except asyncio.CancelledError:
                pass  # stop() ended a handler that sleeps (drip); asyncio would log it
            finally:
                self._handlers.discard(task)

        server = await asyncio.start_server(
            on_connection, sock=sock, limit=_READ_SIZE, backlog=LISTEN_BACKLOG
        )
        self._servers.append(server)
        self.listen_addresses.append(sock.getsockname()[:2])

    # --- answering -----------------------------------------------------------------

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int
    ) -> None:
        sockname = writer.get_extra_info("sockname")
        host = self.hosts.get(sockname[0]) if sockname else None
        role = host.port_role(port) if host is not None else None
        if host is None or role is None:
            self.stats.reset += 1
            if host is not None:
                host.stats.reset += 1
            _reset(writer)
            return
        self._writers.add(writer)
        self.stats.opened(port)
        host.stats.opened(port)
        try:
            kind, served = role
            delay = host.config.delay
            if kind == "banner":
                if delay:
                    await asyncio.sleep(delay)
                writer.write(host.plan.http_banners[port])  # type: ignore[index]
                await writer.drain()
            if kind in ("silent", "banner"):
                await _discard(reader)
                return
            fault = host.fault_on(kind)
            if fault is not None and fault.kind in CONNECTION_KINDS:
                await _connection_fault(reader, writer, fault)
                return
            drip = fault is not None and fault.kind is FaultKind.DRIP
            send = _Sender(writer, fault.interval if fault is not None and drip else None, delay)
            if kind == "http":
                await send(NCACN_HTTP_GREETING)
            session = EndpointMapSession(host.endpoint_map) if kind == "epm" else None
            foreign = port in host.plan.foreign_ports
            mgmt = _management("reject" if foreign else host.config.mgmt, served)
            gate = NtlmGate(host.config) if kind == "epm" else None
            await self._converse(
                reader,
                send,
                port,
                served,
                session,
                fault,
                f"{host.address}:{port}",
                mgmt,
                gate,
            )
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self.stats.closed()
            host.stats.closed()
            self._writers.discard(writer)
            writer.close()

    async def _converse(
        self,
        reader: asyncio.StreamReader,
        send: _Sender,
        port: int,
        served: frozenset[InterfaceId],
        session: EndpointMapSession | None,
        fault: HostFault | None = None,
        seed: str = "",
        mgmt: _Management | None = None,
        gate: NtlmGate | None = None,
    ) -> None:
        connection = ServerConnection()
        offered = served if mgmt is None or mgmt.mode == "reject" else served | {MGMT_INTERFACE}
        accept = _accepts(offered)
        bound: dict[int, InterfaceId] = {}
        calls = 0
        alloc_hint = None
        if fault is not None and fault.kind is FaultKind.ALLOC_HINT:
            alloc_hint, fault = fault.alloc_hint, None
        while data := await reader.read(_READ_SIZE):
            try:
                events = connection.feed(data)
            except ProtocolError:
                return
            out: list[bytes] = []
            close = False
            for event in events:
                stage: Stage
                if isinstance(event, BindRequest):
                    stage, answer = "bind", self._bind_answer(connection, event, accept, port, gate)
                elif isinstance(event, Request):
                    calls += 1
                    refusal = gate.refusal(event) if gate is not None else None
                    if refusal is not None:
                        stage = "call"
                        answer = connection.fault(event.call_id, refusal.status, event.context_id)
                        close = refusal.close
                    else:
                        stage, answer = (
                            "call",
                            self._answer(connection, event, bound, session, mgmt),
                        )
                    if alloc_hint is not None:
                        answer = with_alloc_hint(answer, alloc_hint)
                else:
                    if isinstance(event, Auth3) and gate is not None:
                        gate.auth3(event)
                    continue
                if fault is not None and strikes_at(fault, stage, calls):
                    hit = strike(fault, answer, event, connection, seed=seed)
                    out.append(hit.data)
                    if hit.then != "continue":
                        await send(b"".join(out))
                        await _after_strike(reader, send.writer, hit)
                        return
                    continue
                if isinstance(event, BindRequest):
                    bound.update(
                        (c.context_id, c.abstract_syntax) for c in event.contexts if accept(c)
                    )
                out.append(answer)
                if close:
                    break
            if out:
                await send(b"".join(out))
            if close:
                return

    @staticmethod
    def _bind_answer(
        connection: ServerConnection,
        bind: BindRequest,
        accept: Callable[[PresentationContext], bool],
        port: int,
        gate: NtlmGate | None,
    ) -> bytes:
        verdict = gate.bind(bind, connection) if gate is not None else None
        if isinstance(verdict, int):
            return connection.bind_nak(bind.call_id, verdict)
        return connection.bind_ack(bind, accept, str(port), auth=verdict)

    @staticmethod
    def _answer(
        connection: ServerConnection,
        request: Request,
        bound: dict[int, InterfaceId],
        session: EndpointMapSession | None,
        mgmt: _Management | None = None,
    ) -> bytes:
        interface = bound.get(request.context_id)
        if interface is None:
            return connection.fault(request.call_id, NCA_S_UNK_IF, request.context_id)
        if mgmt is not None and _is_mgmt(interface):
            return mgmt.answer(connection, request)
        handlers = (
            {}
            if session is None
            else {
                OP_EPT_LOOKUP: session.lookup,
                OP_EPT_MAP: session.map,
                OP_EPT_LOOKUP_HANDLE_FREE: session.lookup_handle_free,
            }
        )
        handler = handlers.get(request.opnum)
        if handler is None:
            return connection.fault(request.call_id, NCA_S_OP_RNG_ERROR, request.context_id)
        try:
            stub = handler(request.stub)
        except CallFault as fault:
            return connection.fault(request.call_id, fault.status, request.context_id)
        return connection.response(request.call_id, stub, request.context_id)

    # --- stopping ------------------------------------------------------------------

    async def stop(self) -> None:
        """Close every listener and every open connection."""
        for server in self._servers:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        if handlers:
            await asyncio.wait(handlers, timeout=5)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)
        self._servers.clear()
        for sock in self._reserved.values():
            sock.close()
        self._reserved.clear()
        for sock in self._blackholes:
            sock.close()
        self._blackholes.clear()

    async def serve_forever(self) -> None:
        """Wait until cancelled (the CLI cancels on SIGINT/SIGTERM)."""
        await asyncio.Event().wait()

    # --- looking --------------------------------------------------------------------

    def host(self, address: str) -> LabHost:
        """The host at ``address`` (``KeyError`` when the lab has none there)."""
        return self.hosts[address]

    @property
    def live_hosts(self) -> list[LabHost]:
        return [host for host in self.hosts.values() if not host.down]


class _Sender:
    """Writes a connection's answers: at once, or (``drip``) one byte per ``interval``;
    each answer after the host's ``delay``."""

    __slots__ = ("delay", "interval", "writer")

    def __init__(
        self, writer: asyncio.StreamWriter, interval: float | None, delay: float = 0.0
    ) -> None:
        self.writer = writer
        self.interval = interval
        self.delay = delay

    async def __call__(self, data: bytes) -> None:
        writer = self.writer
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.interval is None:
            writer.write(data)
            await writer.drain()
            return
        for index in range(len(data)):
            writer.write(data[index : index + 1])
            await writer.drain()
            await asyncio.sleep(self.interval)


async def _discard(reader: asyncio.StreamReader) -> None:
    """Read and drop whatever comes until the peer closes."""
    while await reader.read(_READ_SIZE):
        pass


async def _endless(writer: asyncio.StreamWriter, chunk: bytes) -> None:
    """Send ``chunk`` over and over until the peer goes away (or the lab stops)."""
    while True:
        writer.write(chunk)
        await writer.drain()
        await asyncio.sleep(0)  # drain() does not yield while the socket takes everything


async def _connection_fault(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, fault: HostFault
) -> None:
    """Run a fault that replaces the whole conversation (returning closes with a FIN)."""
    kind = fault.kind
    if kind is FaultKind.SILENT:
        await _discard(reader)
    elif kind is FaultKind.ENDLESS_STREAM:
        await _endless(writer, chargen_chunk())
    elif kind in (FaultKind.SPEAKS_TLS, FaultKind.SPEAKS_HTTP):
        if await reader.read(_READ_SIZE):
            writer.write(TLS_ALERT if kind is FaultKind.SPEAKS_TLS else HTTP_REPLY)
            await writer.drain()
    else:
        first, chunk = greeting_bytes(fault)
        writer.write(first)
        await writer.drain()
        if chunk:
            await _endless(writer, chunk)
        else:
            await _discard(reader)


async def _after_strike(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hit: Strike
) -> None:
    """What a connection does once a PDU fault has sent its lie (``close``: just return)."""
    if hit.then == "silent":
        await _discard(reader)
    elif hit.then == "endless":
        await _endless(writer, hit.endless)


@contextlib.asynccontextmanager
async def run_lab(config: LabConfig) -> AsyncIterator[Lab]:
    """Start the lab, yield it listening, stop it on exit."""
    lab = Lab(config)
    await lab.start()
    try:
        yield lab
    finally:
        await lab.stop()
