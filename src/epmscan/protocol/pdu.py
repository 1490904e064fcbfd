"""Connection state machines for DCE/RPC over a stream (client and server side).

Sans-I/O in the style of h11: ``feed()`` takes the bytes that came from the peer and
returns typed events; the methods that build PDUs return the bytes to send. Neither
side ever touches a socket or a clock.

Client: ``bind()`` → the server answers :class:`BindAck` (per-context results,
negotiated fragment sizes) or :class:`BindNak`; ``request()`` cuts a stub into
fragments no larger than the server's ``max_recv_frag``; response fragments are
reassembled (``PFC_FIRST_FRAG`` .. ``PFC_LAST_FRAG``, same ``call_id``) into one
:class:`Response`, capped at ``max_total`` bytes; a fault PDU becomes :class:`Fault`.

Server (the lab): ``feed()`` yields :class:`BindRequest` and reassembled
:class:`Request` events; ``bind_ack``/``bind_nak``/``response``/``fault`` build the
answers, responses cut to the client's ``max_recv_frag``.

The bind PDU is built once per interface with impacket's structures and only its
``call_id`` is patched afterwards; every other PDU is a few ``struct`` fields.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from epmscan.errors import ProtocolError
from epmscan.models import BindOutcome, InterfaceId
from epmscan.protocol.constants import (
    DEFAULT_MAX_FRAG,
    DEFAULT_MAX_PDU_TOTAL,
    DREP_LITTLE_ENDIAN_ASCII_IEEE,
    FAULT_PDU_SIZE,
    HEADER_SIZE,
    NDR_SYNTAX,
    PFC_DID_NOT_EXECUTE,
    PFC_FIRST_FRAG,
    PFC_LAST_FRAG,
    PFC_OBJECT_UUID,
    PROVIDER_REASON_ABSTRACT_SYNTAX_NOT_SUPPORTED,
    PROVIDER_REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED,
    PTYPE_BIND,
    PTYPE_BIND_ACK,
    PTYPE_BIND_NAK,
    PTYPE_FAULT,
    PTYPE_NAMES,
    PTYPE_REQUEST,
    PTYPE_RESPONSE,
    REQUEST_HEADER_SIZE,
    RESPONSE_HEADER_SIZE,
    RESULT_ACCEPTANCE,
    RESULT_NEGOTIATE_ACK,
    RESULT_PROVIDER_REJECTION,
    RESULT_USER_REJECTION,
    SEC_TRAILER_SIZE,
)
from epmscan.protocol.framing import PduBuffer, PduHeader
from epmscan.protocol.wire import pad4, syntax_bytes, syntax_from, uuid_text

_COMMON = struct.Struct("<BBBB4sHHI")
_REQUEST_HEAD = struct.Struct("<BBBB4sHHIIHH")
_RESPONSE_HEAD = struct.Struct("<BBBB4sHHIIHBB")
_FAULT = struct.Struct("<BBBB4sHHIIHBBII")
_BIND_ACK_HEAD = struct.Struct("<HHIH")
_CONTEXT_RESULT = struct.Struct("<HH")
_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_MIN_USEFUL_FRAG = REQUEST_HEADER_SIZE + 8

# --- reason and status tables --------------------------------------------------------------

BIND_NAK_REASONS: dict[int, str] = {
    0: "reason_not_specified",
    1: "temporary_congestion",
    2: "local_limit_exceeded",
    3: "called_paddr_unknown",
    4: "protocol_version_not_supported",
    5: "default_context_not_supported",
    6: "user_data_not_readable",
    7: "no_psap_available",
    8: "authentication_type_not_recognized",
    9: "invalid_checksum",
}
"""C706 ``p_reject_reason_t`` (12.6.3.1) plus the two [MS-RPCE] 2.2.2.5 additions."""

PROVIDER_REASONS: dict[int, str] = {
    0: "reason_not_specified",
    1: "abstract_syntax_not_supported",
    2: "proposed_transfer_syntaxes_not_supported",
    3: "local_limit_exceeded",
}
"""C706 ``p_provider_reason_t``: why a presentation context was rejected in a bind_ack."""

_RESULT_OUTCOMES: dict[int, BindOutcome] = {
    RESULT_ACCEPTANCE: BindOutcome.ACCEPTED,
    RESULT_USER_REJECTION: BindOutcome.USER_REJECTION,
    RESULT_PROVIDER_REJECTION: BindOutcome.PROVIDER_REJECTION,
    RESULT_NEGOTIATE_ACK: BindOutcome.NEGOTIATE_ACK,
}
_OUTCOME_RESULTS = {outcome: code for code, outcome in _RESULT_OUTCOMES.items()}

_FAULT_NAMES: dict[int, str] = {
    0x00000005: "rpc_s_access_denied",
    0x00000008: "rpc_s_out_of_memory",
    0x000006C6: "rpc_x_invalid_bound",
    0x000006D1: "rpc_s_unknown_if",
    0x000006D8: "rpc_s_cant_perform",
    0x000006E4: "rpc_s_cannot_support",
    0x000006F7: "rpc_x_bad_stub_data",
    0x1C000012: "nca_s_fault_unspec",
    0x1C00001A: "nca_s_fault_ndr",
    0x1C010001: "nca_s_comm_failure",
    0x1C010002: "nca_s_op_rng_error",
    0x1C010003: "nca_s_unk_if",
    0x1C010006: "nca_s_wrong_boot_time",
    0x1C010009: "nca_s_you_crashed",
    0x1C01000B: "nca_s_proto_error",
    0x1C010013: "nca_s_out_args_too_big",
    0x1C010014: "nca_s_server_too_busy",
    0x1C010017: "nca_s_unsupported_type",
    0x1C000001: "nca_s_fault_int_div_by_zero",
    0x1C000002: "nca_s_fault_addr_error",
    0x1C000005: "nca_s_fault_invalid_tag",
    0x1C000006: "nca_s_fault_invalid_bound",
    0x1C00000D: "nca_s_fault_context_mismatch",
    0x1C00000F: "nca_s_fault_pipe_empty",
    0x1C000011: "nca_s_fault_pipe_comm_error",
    0x1C000014: "nca_s_fault_remote_no_memory",
    0x16C9A0D6: "ept_s_not_registered",
}


def _impacket_status_names() -> dict[int, str]:
    try:
        from impacket.dcerpc.v5.rpcrt import rpc_status_codes
    except ImportError:  # pragma: no cover - impacket is a dependency
        return {}
    names: dict[int, str] = {}
    for code, text in rpc_status_codes.items():
        names[int(code)] = str(text).split(":", 1)[0].strip()
    return names


_STATUS_NAMES = {**_impacket_status_names(), **_FAULT_NAMES}


def fault_status_name(status: int) -> str:
    """Symbolic name of an RPC fault/status code (``nca_s_unk_if``), or its hex."""
    name = _STATUS_NAMES.get(status)
    return name if name is not None else f"unknown_status_0x{status:08x}"


def bind_nak_reason_text(reason: int) -> str:
    """Text of a bind_nak ``p_reject_reason`` (C706 table, [MS-RPCE] additions)."""
    return BIND_NAK_REASONS.get(reason, f"unknown_reason_{reason}")


def provider_reason_text(reason: int) -> str:
    """Text of a bind_ack context rejection ``p_provider_reason``."""
    return PROVIDER_REASONS.get(reason, f"unknown_reason_{reason}")


# --- events ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContextResult:
    """One presentation context's result in a bind_ack."""

    outcome: BindOutcome
    reason: int
    reason_text: str
    transfer_syntax: InterfaceId | None

    @classmethod
    def accepted(cls, transfer_syntax: InterfaceId = NDR_SYNTAX) -> ContextResult:
        return cls(BindOutcome.ACCEPTED, 0, "acceptance", transfer_syntax)

    @classmethod
    def rejected(
        cls,
        reason: int = PROVIDER_REASON_ABSTRACT_SYNTAX_NOT_SUPPORTED,
        outcome: BindOutcome = BindOutcome.PROVIDER_REJECTION,
    ) -> ContextResult:
        return cls(outcome, reason, provider_reason_text(reason), None)


@dataclass(frozen=True, slots=True)
class BindAck:
    """The server accepted the association; per-context results say for what."""

    call_id: int
    max_xmit_frag: int
    max_recv_frag: int
    assoc_group: int
    secondary_address: str
    results: tuple[ContextResult, ...]

    @property
    def accepted(self) -> bool:
        """True when the first presentation context was accepted."""
        return bool(self.results) and self.results[0].outcome is BindOutcome.ACCEPTED


@dataclass(frozen=True, slots=True)
class BindNak:
    """The server refused the whole bind."""

    call_id: int
    reason: int
    reason_text: str


@dataclass(frozen=True, slots=True)
class Response:
    """A call's response stub, reassembled from all its fragments."""

    call_id: int
    context_id: int
    stub: bytes


@dataclass(frozen=True, slots=True)
class Fault:
    """The server answered a call (or the bind) with a fault PDU."""

    call_id: int
    status: int
    status_name: str


@dataclass(frozen=True, slots=True)
class PresentationContext:
    """One context offered in a bind: an interface and the transfer syntaxes proposed."""

    context_id: int
    abstract_syntax: InterfaceId
    transfer_syntaxes: tuple[InterfaceId, ...]


@dataclass(frozen=True, slots=True)
class BindRequest:
    """A bind as the server sees it."""

    call_id: int
    max_xmit_frag: int
    max_recv_frag: int
    assoc_group: int
    contexts: tuple[PresentationContext, ...]


@dataclass(frozen=True, slots=True)
class Request:
    """A call as the server sees it, stub reassembled from all fragments."""

    call_id: int
    context_id: int
    opnum: int
    stub: bytes
    object_uuid: str | None


ClientEvent = BindAck | BindNak | Response | Fault
ServerEvent = BindRequest | Request

# --- shared building blocks ------------------------------------------------------------------


def _pdu_name(ptype: int) -> str:
    return PTYPE_NAMES.get(ptype, f"type {ptype}")


def _stub_of(header: PduHeader, fragment: bytes, body_offset: int) -> bytes:
    end = header.frag_length
    if header.auth_length:
        end -= header.auth_length + SEC_TRAILER_SIZE
    if end < body_offset:
        raise ProtocolError(f"{_pdu_name(header.ptype)} PDU too short ({header.frag_length})")
    return fragment[body_offset:end]


def _fragments(
    head: struct.Struct,
    ptype: int,
    call_id: int,
    stub: bytes,
    max_frag: int,
    tail: Callable[[int], tuple[int, ...]],
    extra: bytes = b"",
) -> bytes:
    """Cut ``stub`` into request/response fragments of at most ``max_frag`` bytes."""
    header_size = head.size + len(extra)
    chunk = (max_frag - header_size) & ~7
    if chunk <= 0:
        raise ProtocolError(f"fragment size {max_frag} leaves no room for stub data")
    out = bytearray()
    total = len(stub)
    offset = 0
    while True:
        piece = stub[offset : offset + chunk]
        flags = (PFC_FIRST_FRAG if offset == 0 else 0) | (
            PFC_LAST_FRAG if offset + chunk >= total else 0
        )
        if extra:
            flags |= PFC_OBJECT_UUID
        out += head.pack(
            5,
            0,
            ptype,
            flags,
            DREP_LITTLE_ENDIAN_ASCII_IEEE,
            header_size + len(piece),
            0,
            call_id,
            total - offset,
            *tail(offset),
        )
        out += extra
        out += piece
        offset += chunk
        if offset >= total:
            return bytes(out)


@dataclass(slots=True)
class _Reassembly:
    call_id: int
    context_id: int
    parts: list[bytes]
    size: int
    opnum: int = 0
    object_uuid: str | None = None


def _append_fragment(
    calls: dict[int, _Reassembly],
    header: PduHeader,
    piece: bytes,
    context_id: int,
    max_total: int,
    opnum: int = 0,
    object_uuid: str | None = None,
) -> _Reassembly | None:
    """Add one fragment; return the finished call on its last fragment."""
    call = calls.get(header.call_id)
    if header.flags & PFC_FIRST_FRAG:
        if call is not None:
            raise ProtocolError(f"call {header.call_id}: new first fragment before the last")
        call = _Reassembly(header.call_id, context_id, [], 0, opnum, object_uuid)
        calls[header.call_id] = call
    elif call is None:
        raise ProtocolError(f"call {header.call_id}: fragment without a first fragment")
    call.size += len(piece)
    if call.size > max_total:
        del calls[header.call_id]
        raise ProtocolError(
            f"call {header.call_id}: reassembled PDU exceeds the limit of {max_total} bytes"
        )
    call.parts.append(piece)
    if header.flags & PFC_LAST_FRAG:
        del calls[header.call_id]
        return call
    return None


# --- client side --------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _bind_template(interface: InterfaceId, transfer_syntax: InterfaceId, max_frag: int) -> bytes:
    """A bind PDU with one presentation context, built by impacket's structures."""
    from impacket.dcerpc.v5 import rpcrt

    bind = rpcrt.MSRPCBind()
    bind["max_tfrag"] = max_frag
    bind["max_rfrag"] = max_frag
    item = rpcrt.CtxItem()
    item["ContextID"] = 0
    item["TransItems"] = 1
    item["AbstractSyntax"] = syntax_bytes(interface)
    item["TransferSyntax"] = syntax_bytes(transfer_syntax)
    bind.addCtxItem(item)
    packet = rpcrt.MSRPCHeader()
    packet["type"] = rpcrt.MSRPC_BIND
    packet["flags"] = PFC_FIRST_FRAG | PFC_LAST_FRAG
    packet["call_id"] = 0
    packet["pduData"] = bind.getData()
    data: bytes = packet.get_packet()
    return data


class ClientConnection:
    """Client side of one DCE/RPC association over a stream."""

    def __init__(
        self, max_frag: int = DEFAULT_MAX_FRAG, max_total: int = DEFAULT_MAX_PDU_TOTAL
    ) -> None:
        if max_frag < _MIN_USEFUL_FRAG or max_frag > 65535:
            raise ValueError(f"max_frag must be between {_MIN_USEFUL_FRAG} and 65535")
        self.max_frag = max_frag
        self.max_total = max_total
        self.max_xmit_frag = max_frag
        """Largest fragment we may send: lowered to the server's max_recv_frag by the ack."""
        self.max_recv_frag = max_frag
        self.bound = False
        self._buffer = PduBuffer()
        self._next_call_id = 1
        self._bind_call_id: int | None = None
        self._pending: set[int] = set()
        self._calls: dict[int, _Reassembly] = {}

    def _new_call_id(self) -> int:
        call_id = self._next_call_id
        self._next_call_id = call_id + 1 if call_id < 0xFFFFFFFF else 1
        return call_id

    def bind(
        self,
        interface: InterfaceId,
        transfer_syntax: InterfaceId = NDR_SYNTAX,
        *,
        call_id: int | None = None,
    ) -> bytes:
        """The bind PDU for one context (id 0) offering ``transfer_syntax``.

        ``call_id`` overrides the connection's counter (to replay a recorded exchange).
        """
        call_id = self._new_call_id() if call_id is None else call_id
        self._bind_call_id = call_id
        self.bound = False
        pdu = bytearray(_bind_template(interface, transfer_syntax, self.max_frag))
        _U32.pack_into(pdu, 12, call_id)
        return bytes(pdu)

    def request(
        self, opnum: int, stub: bytes, context_id: int = 0, *, call_id: int | None = None
    ) -> bytes:
        """A request PDU (fragmented to the negotiated ``max_xmit_frag``).

        ``call_id`` overrides the connection's counter (to replay a recorded exchange).
        """
        call_id = self._new_call_id() if call_id is None else call_id
        self._pending.add(call_id)
        return _fragments(
            _REQUEST_HEAD,
            PTYPE_REQUEST,
            call_id,
            stub,
            self.max_xmit_frag,
            lambda _offset: (context_id, opnum),
        )

    @property
    def last_call_id(self) -> int:
        """The call_id of the PDU built most recently."""
        return self._next_call_id - 1 if self._next_call_id > 1 else 0xFFFFFFFF

    def feed(self, data: bytes) -> list[ClientEvent]:
        """Bytes from the server → the events they complete."""
        self._buffer.feed(data)
        events: list[ClientEvent] = []
        while (item := self._buffer.next_pdu()) is not None:
            event = self._handle(*item)
            if event is not None:
                events.append(event)
        return events

    def _handle(self, header: PduHeader, fragment: bytes) -> ClientEvent | None:
        ptype = header.ptype
        if ptype == PTYPE_RESPONSE:
            return self._handle_response(header, fragment)
        if ptype == PTYPE_FAULT:
            return self._handle_fault(header, fragment)
        if ptype in (PTYPE_BIND_ACK, PTYPE_BIND_NAK):
            if self._bind_call_id is None:
                raise ProtocolError(f"unexpected {_pdu_name(ptype)}: no bind outstanding")
            self._bind_call_id = None
            if ptype == PTYPE_BIND_NAK:
                return decode_bind_nak(header, fragment)
            ack = decode_bind_ack(header, fragment)
            if ack.max_recv_frag < _MIN_USEFUL_FRAG:
                raise ProtocolError(f"server max_recv_frag {ack.max_recv_frag} is too small")
            self.max_xmit_frag = min(self.max_frag, ack.max_recv_frag)
            self.bound = ack.accepted
            return ack
        raise ProtocolError(f"unexpected {_pdu_name(ptype)} PDU from the server")

    def _handle_response(self, header: PduHeader, fragment: bytes) -> Response | None:
        if header.call_id not in self._pending:
            raise ProtocolError(f"response for call {header.call_id}, which was not made")
        if header.frag_length < RESPONSE_HEADER_SIZE:
            raise ProtocolError(f"response PDU too short ({header.frag_length})")
        (context_id,) = _U16.unpack_from(fragment, 20)
        piece = _stub_of(header, fragment, RESPONSE_HEADER_SIZE)
        call = _append_fragment(self._calls, header, piece, context_id, self.max_total)
        if call is None:
            return None
        self._pending.discard(call.call_id)
        stub = call.parts[0] if len(call.parts) == 1 else b"".join(call.parts)
        return Response(call.call_id, call.context_id, stub)

    def _handle_fault(self, header: PduHeader, fragment: bytes) -> Fault:
        fault = decode_fault(header, fragment)
        self._pending.discard(header.call_id)
        self._calls.pop(header.call_id, None)
        if self._bind_call_id == header.call_id:
            self._bind_call_id = None
        return fault


def decode_bind_ack(header: PduHeader, fragment: bytes) -> BindAck:
    """Decode a bind_ack PDU (whole fragment, header included)."""
    size = header.frag_length
    if size < 26:
        raise ProtocolError(f"bind_ack too short ({size})")
    max_xmit, max_recv, assoc_group, address_length = _BIND_ACK_HEAD.unpack_from(fragment, 16)
    offset = 26 + address_length
    if offset > size:
        raise ProtocolError("bind_ack secondary address runs past the PDU")
    raw_address = fragment[26:offset]
    secondary = raw_address.split(b"\0", 1)[0].decode("ascii", "replace")
    offset += pad4(offset)
    if offset + 4 > size:
        raise ProtocolError("bind_ack has no result list")
    (count,) = _U8.unpack_from(fragment, offset)
    offset += 4
    if offset + 24 * count > size:
        raise ProtocolError(f"bind_ack announces {count} results that are not there")
    results = []
    for _ in range(count):
        result, reason = _CONTEXT_RESULT.unpack_from(fragment, offset)
        syntax = syntax_from(fragment, offset + 4)
        offset += 24
        outcome = _RESULT_OUTCOMES.get(result)
        if outcome is None:
            raise ProtocolError(f"bind_ack result {result} is not defined")
        if outcome is BindOutcome.ACCEPTED:
            results.append(ContextResult(outcome, reason, "acceptance", syntax))
        elif outcome is BindOutcome.NEGOTIATE_ACK:
            results.append(ContextResult(outcome, reason, "negotiate_ack", None))
        else:
            results.append(ContextResult(outcome, reason, provider_reason_text(reason), None))
    return BindAck(header.call_id, max_xmit, max_recv, assoc_group, secondary, tuple(results))


def decode_bind_nak(header: PduHeader, fragment: bytes) -> BindNak:
    """Decode a bind_nak PDU (whole fragment, header included)."""
    if header.frag_length < HEADER_SIZE + 2:
        raise ProtocolError(f"bind_nak too short ({header.frag_length})")
    (reason,) = _U16.unpack_from(fragment, 16)
    return BindNak(header.call_id, reason, bind_nak_reason_text(reason))


def decode_fault(header: PduHeader, fragment: bytes) -> Fault:
    """Decode a fault PDU (whole fragment, header included)."""
    if header.frag_length < 28:
        raise ProtocolError(f"fault PDU too short ({header.frag_length})")
    (status,) = _U32.unpack_from(fragment, 24)
    return Fault(header.call_id, status, fault_status_name(status))


# --- server side --------------------------------------------------------------------------


class ServerConnection:
    """Server side of one association: parses binds and requests, builds the answers."""

    def __init__(
        self, max_frag: int = DEFAULT_MAX_FRAG, max_total: int = DEFAULT_MAX_PDU_TOTAL
    ) -> None:
        if max_frag < _MIN_USEFUL_FRAG or max_frag > 65535:
            raise ValueError(f"max_frag must be between {_MIN_USEFUL_FRAG} and 65535")
        self.max_frag = max_frag
        self.max_total = max_total
        self.client_max_recv_frag = DEFAULT_MAX_FRAG
        self.assoc_group = 0
        self._buffer = PduBuffer()
        self._calls: dict[int, _Reassembly] = {}

    @property
    def response_frag(self) -> int:
        """Largest fragment we send: the smaller of ours and the client's max_recv_frag."""
        return min(self.max_frag, self.client_max_recv_frag)

    def feed(self, data: bytes) -> list[ServerEvent]:
        """Bytes from the client → binds and complete requests."""
        self._buffer.feed(data)
        events: list[ServerEvent] = []
        while (item := self._buffer.next_pdu()) is not None:
            header, fragment = item
            if header.ptype == PTYPE_BIND:
                bind = decode_bind(header, fragment)
                if bind.max_recv_frag < _MIN_USEFUL_FRAG:
                    raise ProtocolError(f"client max_recv_frag {bind.max_recv_frag} is too small")
                self.client_max_recv_frag = bind.max_recv_frag
                events.append(bind)
            elif header.ptype == PTYPE_REQUEST:
                request = self._handle_request(header, fragment)
                if request is not None:
                    events.append(request)
            else:
                raise ProtocolError(f"unexpected {_pdu_name(header.ptype)} PDU from the client")
        return events

    def _handle_request(self, header: PduHeader, fragment: bytes) -> Request | None:
        if header.frag_length < REQUEST_HEADER_SIZE:
            raise ProtocolError(f"request PDU too short ({header.frag_length})")
        context_id, opnum = _CONTEXT_RESULT.unpack_from(fragment, 20)
        body = REQUEST_HEADER_SIZE
        object_uuid = None
        if header.flags & PFC_OBJECT_UUID:
            body += 16
            if header.frag_length < body:
                raise ProtocolError("request PDU too short for its object UUID")
            object_uuid = uuid_text(fragment[24:40])
        piece = _stub_of(header, fragment, body)
        call = _append_fragment(
            self._calls, header, piece, context_id, self.max_total, opnum, object_uuid
        )
        if call is None:
            return None
        return Request(
            call.call_id, call.context_id, call.opnum, b"".join(call.parts), call.object_uuid
        )

    def bind_ack(
        self,
        req: BindRequest,
        accept: Callable[[PresentationContext], bool] | Sequence[ContextResult],
        secondary_address: str = "135",
        *,
        assoc_group: int | None = None,
    ) -> bytes:
        """The bind_ack for ``req``.

        ``accept`` is either a predicate (accepted contexts get NDR 2.0 if offered, or a
        provider rejection "proposed transfer syntaxes not supported"; refused ones a
        provider rejection "abstract syntax not supported"), or the results themselves.
        """
        if callable(accept):
            results = [self._result_for(context, accept) for context in req.contexts]
        else:
            results = list(accept)
        if assoc_group is None:
            assoc_group = req.assoc_group or 0x00005A5A
        self.assoc_group = assoc_group
        address = secondary_address.encode("ascii") + b"\0" if secondary_address else b""
        body = bytearray(
            _BIND_ACK_HEAD.pack(
                min(self.max_frag, req.max_recv_frag),
                min(self.max_frag, req.max_xmit_frag),
                assoc_group,
                len(address),
            )
        )
        body += address
        body += bytes(pad4(HEADER_SIZE + len(body)))
        body += struct.pack("<B3x", len(results))
        for result in results:
            body += _CONTEXT_RESULT.pack(_OUTCOME_RESULTS[result.outcome], result.reason)
            syntax = result.transfer_syntax
            body += syntax_bytes(syntax) if syntax is not None else bytes(20)
        return _simple_pdu(PTYPE_BIND_ACK, req.call_id, bytes(body))

    @staticmethod
    def _result_for(
        context: PresentationContext, accept: Callable[[PresentationContext], bool]
    ) -> ContextResult:
        if not accept(context):
            return ContextResult.rejected(PROVIDER_REASON_ABSTRACT_SYNTAX_NOT_SUPPORTED)
        if NDR_SYNTAX not in context.transfer_syntaxes:
            return ContextResult.rejected(PROVIDER_REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED)
        return ContextResult.accepted(NDR_SYNTAX)

    def bind_nak(self, call_id: int, reason: int) -> bytes:
        """A bind_nak with ``reason`` and the one protocol version we support (5.0)."""
        body = struct.pack("<HBBB", reason, 1, 5, 0)
        return _simple_pdu(PTYPE_BIND_NAK, call_id, body + bytes(pad4(HEADER_SIZE + len(body))))

    def response(self, call_id: int, stub: bytes, context_id: int = 0) -> bytes:
        """Response PDU(s) for a call, cut to the client's ``max_recv_frag``."""
        return _fragments(
            _RESPONSE_HEAD,
            PTYPE_RESPONSE,
            call_id,
            stub,
            self.response_frag,
            lambda _offset: (context_id, 0, 0),
        )

    def fault(self, call_id: int, status: int, context_id: int = 0) -> bytes:
        """A fault PDU (flagged did-not-execute, as Windows does for these faults)."""
        return _FAULT.pack(
            5,
            0,
            PTYPE_FAULT,
            PFC_FIRST_FRAG | PFC_LAST_FRAG | PFC_DID_NOT_EXECUTE,
            DREP_LITTLE_ENDIAN_ASCII_IEEE,
            FAULT_PDU_SIZE,
            0,
            call_id,
            0,
            context_id,
            0,
            0,
            status,
            0,
        )


def _simple_pdu(ptype: int, call_id: int, body: bytes) -> bytes:
    return (
        _COMMON.pack(
            5,
            0,
            ptype,
            PFC_FIRST_FRAG | PFC_LAST_FRAG,
            DREP_LITTLE_ENDIAN_ASCII_IEEE,
            HEADER_SIZE + len(body),
            0,
            call_id,
        )
        + body
    )


def decode_bind(header: PduHeader, fragment: bytes) -> BindRequest:
    """Decode a bind PDU (whole fragment, header included)."""
    size = header.frag_length
    if size < 28:
        raise ProtocolError(f"bind PDU too short ({size})")
    max_xmit, max_recv, assoc_group = struct.unpack_from("<HHI", fragment, 16)
    (count,) = _U8.unpack_from(fragment, 24)
    offset = 28
    contexts = []
    for _ in range(count):
        if offset + 24 > size:
            raise ProtocolError("bind context list runs past the PDU")
        context_id, n_syntaxes = struct.unpack_from("<HB", fragment, offset)
        abstract = syntax_from(fragment, offset + 4)
        offset += 24
        if offset + 20 * n_syntaxes > size:
            raise ProtocolError("bind transfer syntaxes run past the PDU")
        syntaxes = tuple(syntax_from(fragment, offset + 20 * i) for i in range(n_syntaxes))
        offset += 20 * n_syntaxes
        contexts.append(PresentationContext(context_id, abstract, syntaxes))
    return BindRequest(header.call_id, max_xmit, max_recv, assoc_group, tuple(contexts))
