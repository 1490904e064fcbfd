"""The analysis: packet records in, endpoint mapper conversations and connections out.

:class:`CaptureAnalyzer` is fed :class:`~epmscan.capture.records.Segment` and
``IcmpUnreachable`` records in capture order (from a file, or built by a test) and knows
nothing about files. It keeps one :class:`Flow` per TCP connection *of interest*:

- to an endpoint mapper (TCP 135; 593 for ncacn_http, greeting first);
- to an RPC-over-HTTP port (6001, 6002, 6004): the ``ncacn_http/1.0`` greeting, the bind;
- to an (address, port) that an endpoint mapper resolved earlier in the capture.

Every other segment is dropped on sight. A flow's handshake gives its outcome (SYN-ACK:
``established``; reset instead: ``closed``, with the reset's TTL; ICMP unreachable quoting
it: ``unreachable``; only SYNs: ``filtered``, with their count). Its payload goes through
one :class:`~epmscan.capture.reassembly.StreamReassembler` per direction into a
:class:`~epmscan.capture.dcerpc.PduReader`: on endpoint mapper connections every
``ept_map``/``ept_lookup`` request and answer is decoded with
:mod:`epmscan.protocol.epm_client`, and each tower of an answer becomes a
:class:`~epmscan.models.capture.Mapping` whose (address, port) is watched from then on; on
the other connections reading stops once the bind's answer (and greeting) came.

A flow ends as a :class:`~epmscan.models.capture.Connection` when a new SYN reuses its
addresses and ports, when it has been idle for ``idle_timeout`` capture seconds, when
too many flows are open (the quietest go first) or at the end. Memory therefore follows
the number of open flows of interest, each holding at most a bounded amount of
out-of-order data; what is kept for the report is capped by ``max_records``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Final

from epmscan.capture.dcerpc import Bind, RequestCall, ResponseCall, RpcEvent
from epmscan.capture.flows import Flow, FlowKey, Kept, Limits, Side, interface_names
from epmscan.capture.reassembly import Chunk, HoldBudget
from epmscan.capture.records import (
    ACK,
    FIN,
    RST,
    SYN,
    IcmpUnreachable,
    Record,
    Segment,
)
from epmscan.errors import ProtocolError
from epmscan.facts.exchange import RPC_HTTP_PORTS
from epmscan.models import BindOutcome, InterfaceId, PortProbeStatus, Tower
from epmscan.models.capture import (
    CaptureInfo,
    CaptureReport,
    Connection,
    ConnectionRole,
    EpmCall,
    Mapping,
    ResetSource,
)
from epmscan.protocol.constants import (
    NDR64_SYNTAX,
    OP_EPT_LOOKUP,
    OP_EPT_MAP,
)
from epmscan.protocol.epm_client import decode_lookup_response, decode_map_response
from epmscan.protocol.epm_server import decode_lookup_request, decode_map_request
from epmscan.protocol.events import BindAck, BindNak, Fault
from epmscan.protocol.ncacn_http import NCACN_HTTP_GREETING, classify_greeting
from epmscan.protocol.status_codes import fault_status_name

EPM_PORTS: Final[dict[int, str]] = {135: "ncacn_ip_tcp", 593: "ncacn_http"}
"""Endpoint mapper ports and the transport spoken on each."""
_WATCHED_TRANSPORTS = ("ncacn_ip_tcp", "ncacn_http")
_UNSPECIFIED = "0.0.0.0"
_GREETING_WAIT = 80


class CaptureAnalyzer:
    """Feed records with :meth:`add`, then :meth:`finish` gives the report."""

    def __init__(self, limits: Limits | None = None, *, epm_ports: Iterable[int] = ()) -> None:
        """``epm_ports``: TCP ports to read as endpoint mappers besides 135 and 593."""
        self.limits = limits or Limits()
        self._epm_ports = dict(EPM_PORTS)
        for port in epm_ports:
            self._epm_ports.setdefault(port, "ncacn_ip_tcp")
        self._budget = HoldBudget(self.limits.hold_budget)
        self._flows: dict[FlowKey, Flow] = {}
        self._watched: dict[tuple[str, int], dict[tuple[str, str], Mapping]] = {}
        self._watch_full = False
        self._synack_ttls: dict[str, dict[int, set[int]]] = {}
        self._calls = Kept(self.limits.max_records)
        self._mappings = Kept(self.limits.max_records)
        self._connections = Kept(self.limits.max_records)
        self._notes: list[str] = []
        self._note_count = 0
        self._segments = 0
        self._now = 0.0
        self._frame = 0
        self._evicted = 0

    # --- input ---------------------------------------------------------------------------

    def add(self, record: Record) -> None:
        """One record, in capture order."""
        if type(record) is Segment:
            self._segment(record)
        elif isinstance(record, IcmpUnreachable):
            self._icmp(record)

    def note(self, text: str) -> None:
        """A remark for the report (at most a few dozen are kept)."""
        self._note_count += 1
        if len(self._notes) < 50:
            self._notes.append(text)

    def _interesting(self, address: str, port: int) -> ConnectionRole | None:
        if port in self._epm_ports:
            return ConnectionRole.EPM
        if port in RPC_HTTP_PORTS:
            return ConnectionRole.RPC_HTTP
        if (address, port) in self._watched:
            return ConnectionRole.RESOLVED
        return None

    def _segment(self, seg: Segment) -> None:
        self._segments += 1
        self._now = seg.time
        self._frame = seg.frame
        if self._segments % self.limits.sweep_every == 0:
            self._sweep()
        flow = self._flows.get((seg.src, seg.sport, seg.dst, seg.dport))
        from_client = True
        if flow is None:
            flow = self._flows.get((seg.dst, seg.dport, seg.src, seg.sport))
            from_client = False
        flags = seg.flags
        if flow is None:
            flow, from_client = self._new_flow(seg)
            if flow is None:
                return
        elif from_client and flags & SYN and not flags & ACK and self._is_new_attempt(flow, seg):
            self._finalize(flow)
            flow, from_client = self._new_flow(seg)
            if flow is None:
                return
        flow.last_time = seg.time
        if from_client:
            self._from_client(flow, seg)
        else:
            self._from_server(flow, seg)

    def _new_flow(self, seg: Segment) -> tuple[Flow | None, bool]:
        flags = seg.flags
        if flags & RST:
            return None, False
        role = self._interesting(seg.dst, seg.dport)
        from_client = True
        if role is None or (flags & SYN and flags & ACK):
            reverse = self._interesting(seg.src, seg.sport)
            if reverse is not None:
                role, from_client = reverse, False
        if role is None:
            return None, False
        if not flags & SYN and not seg.payload:
            return None, False
        if from_client:
            key = (seg.src, seg.sport, seg.dst, seg.dport)
        else:
            key = (seg.dst, seg.dport, seg.src, seg.sport)
        if len(self._flows) >= self.limits.max_flows:
            self._evict()
        flow = Flow(key[0], key[1], key[2], key[3], role, seg.frame, seg.time)
        flow.midstream = not flags & SYN
        if flow.midstream:
            flow.established = True
        port = flow.port
        if role is ConnectionRole.RPC_HTTP or self._epm_ports.get(port) == "ncacn_http":
            flow.greeting_expected = True
        if role is ConnectionRole.RESOLVED:
            flow.mapping = self._mapping_for(flow.client, flow.server, port)
            if flow.mapping is not None and flow.mapping.transport == "ncacn_http":
                flow.greeting_expected = True
        self._flows[key] = flow
        return flow, from_client

    @staticmethod
    def _is_new_attempt(flow: Flow, seg: Segment) -> bool:
        """A SYN on a known 4-tuple: a retransmission, or a new connection reusing it."""
        if flow.isn is None or flow.midstream:
            return flow.established or flow.ended is not None
        if seg.seq == flow.isn:
            return False
        return flow.established or flow.ended is not None

    def _mapping_for(self, client: str, server: str, port: int) -> Mapping | None:
        """The mapping that made (server, port) watched: the client's own one first."""
        by_client = self._watched.get((server, port))
        if not by_client:
            return None
        own = [m for (who, _), m in by_client.items() if who == client]
        chosen = own or list(by_client.values())
        return max(chosen, key=lambda m: m.frame)

    def _from_client(self, flow: Flow, seg: Segment) -> None:
        flags = seg.flags
        if flags & SYN:
            if not flags & ACK:
                flow.syn_count += 1
                if flow.first_syn is None:
                    flow.first_syn = seg.time
                    flow.syn_ttl = seg.ttl
                if flow.isn is None:
                    flow.isn = seg.seq
                if flow.sides is not None:
                    flow.sides[0].stream.start(seg.seq)
            return
        if flags & RST:
            if flow.established and flow.ended is None:
                flow.ended = "reset by client"
            self._flush(flow)
            return
        if flow.syn_count and not flow.established and flow.reset_ttl is None:
            flow.established = True
        if seg.payload and flow.reading:
            self._payload(flow, True, seg)
        if flags & FIN:
            flow.client_ended = True
            if flow.server_ended and flow.ended is None:
                flow.ended = "fin"

    def _from_server(self, flow: Flow, seg: Segment) -> None:
        flags = seg.flags
        if flags & SYN:
            if flags & ACK:
                if flow.synack_ttl is None:
                    flow.synack_ttl = seg.ttl
                flow.established = True
                by_port = self._synack_ttls.setdefault(flow.server, {})
                if len(by_port) < 64 or flow.port in by_port:
                    by_port.setdefault(flow.port, set()).add(seg.ttl)
                if flow.server_isn is None:
                    flow.server_isn = seg.seq
                if flow.sides is not None:
                    flow.sides[1].stream.start(seg.seq)
            return
        if flags & RST:
            if flow.established:
                if flow.ended is None:
                    flow.ended = "reset by server"
            elif flow.reset_ttl is None:
                flow.reset_ttl = seg.ttl
            self._flush(flow)
            return
        if seg.payload:
            flow.established = True
            if flow.reading:
                self._payload(flow, False, seg)
        if flags & FIN:
            flow.server_ended = True
            if flow.client_ended and flow.ended is None:
                flow.ended = "fin"

    def _icmp(self, icmp: IcmpUnreachable) -> None:
        self._now = icmp.time
        flow = self._flows.get((icmp.src, icmp.sport, icmp.dst, icmp.dport))
        if flow is None or flow.established or flow.icmp is not None:
            return
        flow.icmp = icmp
        flow.last_time = icmp.time

    # --- payload -------------------------------------------------------------------------

    def _sides(self, flow: Flow) -> tuple[Side, Side]:
        """The flow's two directions, made at its first payload (SYN-only flows stay small)."""
        if flow.sides is None:
            client = Side(self._budget, self.limits)
            server = Side(self._budget, self.limits)
            if flow.isn is not None:
                client.stream.start(flow.isn)
            if flow.server_isn is not None:
                server.stream.start(flow.server_isn)
            flow.sides = (client, server)
        return flow.sides

    def _flush(self, flow: Flow) -> None:
        """No more data will come: read past any hole still open, then stop reading."""
        if flow.sides is not None and flow.reading:
            for from_client, side in zip((True, False), flow.sides, strict=True):
                for chunk in side.stream.skip_gap():
                    if not flow.reading or side.stopped:
                        break
                    self._chunk(flow, from_client, side, chunk, self._frame)
                if flow.reading and not side.stopped and side.reader.pending:
                    side.reader.fail(
                        f"the capture ends inside a PDU ({side.reader.pending} bytes of it seen)"
                    )
                    self._reader_failed(flow, from_client, side, self._frame)
        self._stop_reading(flow)

    def _stop_reading(self, flow: Flow) -> None:
        if flow.sides is not None:
            for side in flow.sides:
                side.stream.discard()
        flow.reading = False

    def _payload(self, flow: Flow, from_client: bool, seg: Segment) -> None:
        sides = self._sides(flow)
        side = sides[0] if from_client else sides[1]
        if side.stopped:
            return
        chunks = side.stream.add(seg.seq, seg.payload)
        for chunk in chunks:
            if not flow.reading:
                return
            self._chunk(flow, from_client, side, chunk, seg.frame)
        if seg.missing and flow.reading:
            side.reader.fail(f"frame {seg.frame} was cut short by the capture")
            self._reader_failed(flow, from_client, side, seg.frame)

    def _chunk(self, flow: Flow, from_client: bool, side: Side, chunk: Chunk, frame: int) -> None:
        data, lost = chunk
        side.read += len(data)
        if flow.role is not ConnectionRole.EPM and side.read > self.limits.max_read:
            self._stop_reading(flow)
            return
        if not from_client and flow.greeting_expected and flow.greeting is None:
            if lost:
                self._stop_reading(flow)
                return
            data = self._greeting(flow, data)
            if flow.greeting is None:
                return
            if flow.greeting != "ncacn_http":
                self._stop_reading(flow)
                return
        if not data and not lost:
            return
        for event in side.reader.feed(data, lost):
            self._event(flow, from_client, event, frame)
        if side.reader.error is not None:
            self._reader_failed(flow, from_client, side, frame)
        if self._done_reading(flow):
            self._stop_reading(flow)

    def _reader_failed(self, flow: Flow, from_client: bool, side: Side, frame: int) -> None:
        """Once per direction: say why it is not read further; a bind's answer is broken."""
        if side.noted:
            return
        side.noted = True
        side.stopped = True
        side.stream.discard()
        if not from_client and flow.bind_call is not None and flow.bind_result is None:
            flow.bind_result = PortProbeStatus.PROTOCOL_ERROR.value
            flow.bind_detail = side.reader.error
        if flow.midstream:
            return
        if from_client:
            direction = f"{flow.client}:{flow.cport} -> {flow.server}:{flow.port}"
        else:
            direction = f"{flow.server}:{flow.port} -> {flow.client}:{flow.cport}"
        self.note(f"frame {frame}: {direction} not read further: {side.reader.error}")

    def _greeting(self, flow: Flow, data: bytes) -> bytes:
        """Collect the server's first bytes; classify them once they decide."""
        buffer = flow.greeting_buffer + data
        size = len(NCACN_HTTP_GREETING)
        if len(buffer) < size and NCACN_HTTP_GREETING.startswith(buffer):
            flow.greeting_buffer = buffer
            return b""
        flow.greeting_buffer = b""
        is_http, banner = classify_greeting(buffer[:_GREETING_WAIT])
        flow.banner = banner
        flow.greeting = "ncacn_http" if is_http else "other_service"
        return buffer[size:] if is_http else b""

    @staticmethod
    def _done_reading(flow: Flow) -> bool:
        if flow.role is ConnectionRole.EPM:
            return False
        if flow.greeting_expected and flow.greeting is None:
            return False
        if flow.sides is not None and all(s.reader.error for s in flow.sides):
            return True
        return flow.bind_result is not None

    def _event(self, flow: Flow, from_client: bool, event: RpcEvent, frame: int) -> None:
        if from_client:
            if isinstance(event, Bind):
                self._bind(flow, event)
            elif isinstance(event, RequestCall) and flow.role is ConnectionRole.EPM:
                self._epm_request(flow, event, frame)
            return
        if isinstance(event, BindAck):
            self._bind_ack(flow, event)
        elif isinstance(event, BindNak):
            if flow.bind_result is None:
                flow.bind_result = PortProbeStatus.WRONG_SERVICE.value
                flow.bind_detail = f"bind_nak: {event.reason_text}"
            flow.bind_call = None
        elif isinstance(event, ResponseCall):
            if flow.role is ConnectionRole.EPM:
                self._epm_response(flow, event, frame)
        elif isinstance(event, Fault):
            if event.call_id == flow.bind_call:
                if flow.bind_result is None:
                    flow.bind_result = PortProbeStatus.WRONG_SERVICE.value
                    flow.bind_detail = f"fault {event.status_name}"
                flow.bind_call = None
            elif flow.role is ConnectionRole.EPM:
                self._epm_fault(flow, event, frame)

    def _bind(self, flow: Flow, event: Bind) -> None:
        request = event.request
        flow.bind_call = request.call_id
        flow.bind_contexts = {c.context_id: c.abstract_syntax for c in request.contexts}
        if request.contexts and (flow.bind_interface is None or not event.alter):
            flow.bind_interface = request.contexts[0].abstract_syntax

    def _bind_ack(self, flow: Flow, ack: BindAck) -> None:
        if flow.bind_call is None:
            return
        order = list(flow.bind_contexts)
        accepted = None
        for context_id, result in zip(order, ack.results, strict=False):
            if result.outcome is BindOutcome.ACCEPTED:
                if result.transfer_syntax == NDR64_SYNTAX:
                    flow.ndr64.add(context_id)
                else:
                    flow.ndr64.discard(context_id)
                if accepted is None:
                    accepted = context_id
        flow.bind_call = None
        if flow.bind_result is not None:
            return
        if accepted is not None:
            flow.bind_result = PortProbeStatus.BOUND.value
            flow.bind_interface = flow.bind_contexts[accepted]
            flow.bind_detail = f"bind accepted (max_xmit {ack.max_xmit_frag})"
        elif ack.results:
            first = ack.results[0]
            flow.bind_result = PortProbeStatus.WRONG_SERVICE.value
            flow.bind_detail = f"{first.outcome.value}: {first.reason_text}"
        else:
            flow.bind_result = PortProbeStatus.WRONG_SERVICE.value
            flow.bind_detail = "bind_ack without results"

    # --- endpoint mapper -------------------------------------------------------------------

    def _epm_request(self, flow: Flow, call: RequestCall, frame: int) -> None:
        if call.opnum not in (OP_EPT_MAP, OP_EPT_LOOKUP):
            return
        operation = "ept_map" if call.opnum == OP_EPT_MAP else "ept_lookup"
        interface: InterfaceId | None = None
        transport: str | None = None
        detail: str | None = None
        if call.context_id in flow.ndr64:
            detail = "NDR64 transfer syntax: the stub is not decoded"
        else:
            try:
                if call.opnum == OP_EPT_MAP:
                    request = decode_map_request(call.stub)
                    interface = request.tower.interface
                    transport = request.tower.transport
                else:
                    interface = decode_lookup_request(call.stub).interface
            except ProtocolError as exc:
                detail = f"request not decoded: {exc}"
        name = exchange = None
        if interface is not None:
            name, exchange = interface_names(interface.uuid, interface.major, interface.minor)
        epm_call = EpmCall(
            client=flow.client,
            server=flow.server,
            client_port=flow.cport,
            server_port=flow.port,
            operation=operation,
            frame=frame,
            time=self._now,
            interface=name,
            uuid=interface.uuid if interface else None,
            version=interface.version if interface else None,
            exchange=exchange,
            transport=transport,
            detail=detail,
        )
        if len(flow.pending) >= 256:
            flow.pending.clear()
        flow.pending[call.call_id] = epm_call

    def _epm_response(self, flow: Flow, call: ResponseCall, frame: int) -> None:
        pending = flow.pending.pop(call.call_id, None)
        if pending is None:
            return
        asked = pending
        if asked.detail is not None:
            self._calls.add(replace(asked, response_frame=frame))
            return
        towers: list[Tower]
        try:
            if asked.operation == "ept_map":
                answer = decode_map_response(call.stub)
                towers = list(answer.towers)
                status = answer.status
            else:
                lookup = decode_lookup_response(call.stub)
                towers = [e.tower for e in lookup.entries if e.tower is not None]
                annotations = [e.annotation for e in lookup.entries if e.tower is not None]
                status = lookup.status
        except ProtocolError as exc:
            self._calls.add(
                replace(asked, response_frame=frame, detail=f"answer not decoded: {exc}")
            )
            return
        if asked.operation == "ept_map":
            annotations = [""] * len(towers)
        self._calls.add(
            replace(
                asked,
                response_frame=frame,
                status=status,
                status_name=fault_status_name(status) if status else "ok",
                towers=len(towers),
            )
        )
        for tower, annotation in zip(towers, annotations, strict=True):
            self._mapping(flow, asked, tower, annotation, frame)

    def _mapping(
        self, flow: Flow, asked: EpmCall, tower: Tower, annotation: str, frame: int
    ) -> None:
        interface = tower.interface
        if interface is None:
            return
        name, exchange = interface_names(interface.uuid, interface.major, interface.minor)
        address = tower.address
        if tower.transport in _WATCHED_TRANSPORTS and (not address or address == _UNSPECIFIED):
            address = flow.server
        mapping = Mapping(
            client=flow.client,
            server=flow.server,
            interface=name,
            uuid=interface.uuid,
            version=interface.version,
            exchange=exchange,
            transport=tower.transport,
            port=tower.port,
            address=address,
            endpoint=tower.endpoint,
            annotation=annotation,
            operation=asked.operation,
            frame=frame,
            request_frame=asked.frame,
            time=self._now,
        )
        self._mappings.add(mapping)
        if tower.transport in _WATCHED_TRANSPORTS and tower.port and address:
            self._watch(address, tower.port, mapping)
            if address != flow.server:
                self._watch(flow.server, tower.port, mapping)

    def _watch(self, address: str, port: int, mapping: Mapping) -> None:
        """Follow connections to (address, port) from now on, as resolved by ``mapping``.

        A tower's own address is watched, and the endpoint mapper's too when it differs:
        the Windows RPC runtime takes only the endpoint from the answer and keeps the
        address it asked (a NAT, a server with several addresses).
        """
        key = (address, port)
        watched = self._watched.get(key)
        if watched is None:
            if len(self._watched) >= self.limits.max_watched:
                if not self._watch_full:
                    self._watch_full = True
                    self.note(
                        f"more than {self.limits.max_watched} resolved ports: "
                        "connections to later ones are not followed"
                    )
                return
            watched = self._watched[key] = {}
        if len(watched) < 256 or (mapping.client, mapping.uuid) in watched:
            watched[(mapping.client, mapping.uuid)] = mapping

    def _epm_fault(self, flow: Flow, fault: Fault, frame: int) -> None:
        pending = flow.pending.pop(fault.call_id, None)
        if pending is None:
            return
        self._calls.add(
            replace(
                pending,
                response_frame=frame,
                status=fault.status,
                status_name=fault.status_name,
                fault=True,
            )
        )

    # --- ending flows ----------------------------------------------------------------------

    def _sweep(self) -> None:
        horizon = self._now - self.limits.idle_timeout
        for flow in [f for f in self._flows.values() if f.last_time < horizon]:
            self._finalize(flow)

    def _evict(self) -> None:
        flows = sorted(self._flows.values(), key=lambda f: f.last_time)
        for flow in flows[: max(1, len(flows) // 10)]:
            self._finalize(flow)
            self._evicted += 1

    def _finalize(self, flow: Flow) -> None:
        self._flows.pop((flow.client, flow.cport, flow.server, flow.port), None)
        if flow.reading:
            self._flush(flow)
        for pending in flow.pending.values():
            self._calls.add(pending)
        flow.pending.clear()
        self._connections.add(flow.connection(self._now))

    # --- the report ------------------------------------------------------------------------

    def _server_ttl(self, server: str) -> tuple[int | None, set[int]]:
        """(the TTL to show, every TTL that counts as the server's own) for one server."""
        by_port = self._synack_ttls.get(server)
        if not by_port:
            return None, set()
        for port in self._epm_ports:
            if port in by_port:
                ttls = by_port[port]
                return min(ttls), ttls
        ttls = set().union(*by_port.values())
        return min(ttls), ttls

    def _judge(self, connection: Connection) -> Connection:
        """Add the server's TTL and, for a reset, who sent it."""
        shown, ttls = self._server_ttl(connection.server)
        if connection.reset_ttl is None:
            return replace(connection, server_ttl=shown) if shown is not None else connection
        if not ttls:
            source = ResetSource.UNKNOWN
        elif connection.reset_ttl in ttls:
            source = ResetSource.SERVER
        else:
            source = ResetSource.PATH
        return replace(connection, reset_source=source, server_ttl=shown)

    def finish(self, capture: CaptureInfo) -> CaptureReport:
        """Close every open flow and build the report (the analyzer is spent afterwards)."""
        for flow in list(self._flows.values()):
            self._finalize(flow)
        connections = [self._judge(c) for c in self._connections.items]  # type: ignore[arg-type]
        connections.sort(key=lambda c: c.frame)
        calls: list[EpmCall] = sorted(self._calls.items, key=lambda c: c.frame)  # type: ignore[arg-type]
        mappings: list[Mapping] = list(self._mappings.items)  # type: ignore[arg-type]
        for kept, what in (
            (self._calls, "endpoint mapper calls"),
            (self._mappings, "mappings"),
            (self._connections, "connections"),
        ):
            if kept.dropped:
                self.note(
                    f"{kept.dropped} more {what} were seen than the {kept.limit} kept; "
                    "verdicts rest on the ones kept"
                )
        if self._evicted:
            self.note(
                f"{self._evicted} connections were closed early: more than "
                f"{self.limits.max_flows} were open at once"
            )
        notes = list(self._notes)
        if self._note_count > len(notes):
            notes.append(f"{self._note_count - len(notes)} more notes were left out")
        return CaptureReport(
            capture=replace(capture, tcp_segments=self._segments),
            epm_calls=tuple(calls),
            mappings=tuple(mappings),
            connections=tuple(connections),
            verdicts=(),
            notes=tuple(notes),
        )
