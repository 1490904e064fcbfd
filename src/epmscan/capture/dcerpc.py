"""DCE/RPC read off one direction of a captured connection, with the scanner's own codec.

The scanner's :class:`~epmscan.protocol.client_connection.ClientConnection` is strict on purpose: it
only accepts answers to what it asked. A capture is watched, not driven, and may start
late, lose a segment or hold PDUs we never sent (``alter_context``, ``auth3``), so this
is a tolerant reader over the same pieces: :class:`~epmscan.protocol.pdu_stream.PduBuffer`
cuts fragments and checks headers, ``decode_bind`` / ``decode_bind_ack`` /
``decode_bind_nak`` / ``decode_fault`` decode them, and request/response fragments are
joined per ``call_id`` (bounded by ``max_total`` bytes and ``max_calls`` calls in flight).
PDU types that say nothing about reachability are skipped.

The first :class:`~epmscan.errors.ProtocolError`, or bytes missing from the capture, ends
the reading of that direction: ``error`` says why.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from epmscan.errors import ProtocolError
from epmscan.protocol.client_connection import decode_bind_ack, decode_bind_nak, decode_fault
from epmscan.protocol.constants import (
    PFC_FIRST_FRAG,
    PFC_LAST_FRAG,
    PFC_OBJECT_UUID,
    PTYPE_ALTER_CONTEXT,
    PTYPE_ALTER_CONTEXT_RESP,
    PTYPE_BIND,
    PTYPE_BIND_ACK,
    PTYPE_BIND_NAK,
    PTYPE_FAULT,
    PTYPE_REQUEST,
    PTYPE_RESPONSE,
    REQUEST_HEADER_SIZE,
    RESPONSE_HEADER_SIZE,
    SEC_TRAILER_SIZE,
)
from epmscan.protocol.events import BindAck, BindNak, BindRequest, Fault
from epmscan.protocol.pdu_stream import PduBuffer, PduHeader
from epmscan.protocol.server_connection import decode_bind

_CONTEXT_OPNUM = struct.Struct("<HH")


class RequestCall(NamedTuple):
    """A request, all its fragments joined."""

    call_id: int
    context_id: int
    opnum: int
    stub: bytes


class ResponseCall(NamedTuple):
    """A response, all its fragments joined."""

    call_id: int
    context_id: int
    stub: bytes


class Bind(NamedTuple):
    """A bind or alter_context from the client."""

    request: BindRequest
    alter: bool


RpcEvent = Bind | BindAck | BindNak | RequestCall | ResponseCall | Fault


class _Call:
    __slots__ = ("context_id", "opnum", "parts", "size")

    def __init__(self, context_id: int, opnum: int) -> None:
        self.context_id = context_id
        self.opnum = opnum
        self.parts: list[bytes] = []
        self.size = 0


def _stub(header: PduHeader, fragment: bytes, start: int) -> bytes:
    end = header.frag_length
    if header.auth_length:
        end -= header.auth_length + SEC_TRAILER_SIZE
    if end < start:
        raise ProtocolError(f"PDU of {header.frag_length} bytes is too short for its stub")
    return fragment[start:end]


class PduReader:
    """Reads the PDUs of one direction (client → server or back); see the module doc."""

    __slots__ = ("_buffer", "_calls", "error", "max_calls", "max_total", "pdus")

    def __init__(self, *, max_total: int = 4 * 1024 * 1024, max_calls: int = 64) -> None:
        self._buffer = PduBuffer()
        self._calls: dict[int, _Call] = {}
        self.max_total = max_total
        self.max_calls = max_calls
        self.error: str | None = None
        self.pdus = 0

    def feed(self, data: bytes, lost: int = 0) -> list[RpcEvent]:
        """The events completed by ``data``; ``lost`` bytes are missing before it."""
        if self.error is not None:
            return []
        if lost:
            self.fail(f"{lost} bytes are missing from the capture")
            return []
        self._buffer.feed(data)
        events: list[RpcEvent] = []
        try:
            while (item := self._buffer.next_pdu()) is not None:
                self.pdus += 1
                event = self._handle(*item)
                if event is not None:
                    events.append(event)
        except ProtocolError as exc:
            self.fail(f"not DCE/RPC as expected: {exc}")
        return events

    def fail(self, reason: str) -> None:
        """Stop reading this direction for ``reason``; drop what is buffered."""
        if self.error is None:
            self.error = reason
        self._buffer = PduBuffer()
        self._calls.clear()

    @property
    def pending(self) -> int:
        """Bytes received that do not make a whole PDU yet."""
        return self._buffer.pending

    def _handle(self, header: PduHeader, fragment: bytes) -> RpcEvent | None:
        ptype = header.ptype
        if ptype == PTYPE_REQUEST:
            if header.frag_length < REQUEST_HEADER_SIZE:
                raise ProtocolError(f"request PDU too short ({header.frag_length})")
            context_id, opnum = _CONTEXT_OPNUM.unpack_from(fragment, 20)
            start = REQUEST_HEADER_SIZE + (16 if header.flags & PFC_OBJECT_UUID else 0)
            call = self._fragment(header, _stub(header, fragment, start), context_id, opnum)
            return None if call is None else RequestCall(*call)
        if ptype == PTYPE_RESPONSE:
            if header.frag_length < RESPONSE_HEADER_SIZE:
                raise ProtocolError(f"response PDU too short ({header.frag_length})")
            (context_id,) = struct.unpack_from("<H", fragment, 20)
            piece = _stub(header, fragment, RESPONSE_HEADER_SIZE)
            call = self._fragment(header, piece, context_id, 0)
            return None if call is None else ResponseCall(call[0], call[1], call[3])
        if ptype in (PTYPE_BIND, PTYPE_ALTER_CONTEXT):
            return Bind(decode_bind(header, fragment), ptype == PTYPE_ALTER_CONTEXT)
        if ptype in (PTYPE_BIND_ACK, PTYPE_ALTER_CONTEXT_RESP):
            return decode_bind_ack(header, fragment)
        if ptype == PTYPE_BIND_NAK:
            return decode_bind_nak(header, fragment)
        if ptype == PTYPE_FAULT:
            self._calls.pop(header.call_id, None)
            return decode_fault(header, fragment)
        return None

    def _fragment(
        self, header: PduHeader, piece: bytes, context_id: int, opnum: int
    ) -> tuple[int, int, int, bytes] | None:
        call_id = header.call_id
        first = header.flags & PFC_FIRST_FRAG
        last = header.flags & PFC_LAST_FRAG
        if first and last:
            self._calls.pop(call_id, None)
            return call_id, context_id, opnum, piece
        call = self._calls.get(call_id)
        if first:
            if len(self._calls) >= self.max_calls:
                raise ProtocolError(f"more than {self.max_calls} calls in flight")
            call = self._calls[call_id] = _Call(context_id, opnum)
        elif call is None:
            return None
        call.parts.append(piece)
        call.size += len(piece)
        if call.size > self.max_total:
            raise ProtocolError(f"call {call_id} exceeds {self.max_total} bytes")
        if not last:
            return None
        del self._calls[call_id]
        return call_id, call.context_id, call.opnum, b"".join(call.parts)
