"""The client side of one DCE/RPC association over a stream, sans I/O (h11's shape).

``bind()`` and ``request()`` return the bytes to send; ``feed()`` takes the bytes the
server sent and returns :mod:`.events`: :class:`BindAck` (per-context results; the
server's ``max_recv_frag`` lowers the fragment size we send), :class:`BindNak`,
:class:`Response` (fragments of one call reassembled, capped at ``max_total``) and
:class:`Fault`. Anything else from the server (a PDU type a client never receives, a
response to a call not made, a bind_ack or bind_nak whose call id is not the bind's, a
broken fragment sequence) raises :class:`ProtocolError`.

The bind PDU is built once per interface with impacket's structures and only its
``call_id`` is patched afterwards; every other PDU is a few ``struct`` fields.

With an :class:`~.ntlm_security.NtlmClient` the association authenticates
(:mod:`.ntlm_security`): the bind carries the NTLM NEGOTIATE, the bind_ack's CHALLENGE
comes back in :attr:`BindAck.auth`, :meth:`ClientConnection.auth3` answers it (with the
random bytes and the time it is given), and from then on every request is signed and
every response fragment must carry a signature that verifies (a
:class:`~epmscan.errors.SignatureError` otherwise). Faults are taken unsigned. Without
one, nothing of this runs: the anonymous path is the same code as before.
"""

from __future__ import annotations

from functools import lru_cache

from epmscan.errors import ProtocolError
from epmscan.models import BindOutcome, InterfaceId
from epmscan.protocol.constants import (
    AUTH3_PAD_SIZE,
    DEFAULT_MAX_FRAG,
    DEFAULT_MAX_PDU_TOTAL,
    DREP_LITTLE_ENDIAN_ASCII_IEEE,
    HEADER_SIZE,
    NDR_SYNTAX,
    PFC_FIRST_FRAG,
    PFC_LAST_FRAG,
    PTYPE_AUTH3,
    PTYPE_BIND_ACK,
    PTYPE_BIND_NAK,
    PTYPE_FAULT,
    PTYPE_REQUEST,
    PTYPE_RESPONSE,
    RESPONSE_HEADER_SIZE,
)
from epmscan.protocol.events import (
    AuthVerifier,
    BindAck,
    BindNak,
    ClientEvent,
    ContextResult,
    Fault,
    Response,
)
from epmscan.protocol.fragmenting import (
    BIND_ACK_HEAD,
    COMMON_HEAD,
    CONTEXT_RESULT,
    MIN_USEFUL_FRAG,
    REQUEST_HEAD,
    U8,
    U16,
    U32,
    Reassembly,
    append_fragment,
    checked_max_frag,
    fragment_stub,
    pdu_name,
    stub_of,
)
from epmscan.protocol.ntlm_security import (
    MIN_SIGNED_FRAG,
    NtlmClient,
    SigningContext,
    append_verifier,
    read_verifier,
)
from epmscan.protocol.pdu_stream import PduBuffer, PduHeader
from epmscan.protocol.status_codes import (
    RESULT_OUTCOMES,
    bind_nak_reason_text,
    fault_status_name,
    provider_reason_text,
)
from epmscan.protocol.syntax_ids import pad4, syntax_bytes, syntax_from


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
        self,
        max_frag: int = DEFAULT_MAX_FRAG,
        max_total: int = DEFAULT_MAX_PDU_TOTAL,
        *,
        security: NtlmClient | None = None,
    ) -> None:
        self.max_frag = checked_max_frag(max_frag)
        if security is not None and max_frag < MIN_SIGNED_FRAG:
            raise ValueError(f"signed PDUs need max_frag {MIN_SIGNED_FRAG} at least")
        self.security = security
        """Authenticate the binds with NTLM (None: anonymous)."""
        self.signing: SigningContext | None = None
        """Signs requests and verifies responses once :meth:`auth3` was built."""
        self.max_total = max_total
        self.max_xmit_frag = max_frag
        """Largest fragment we may send: lowered to the server's max_recv_frag by the ack."""
        self.max_recv_frag = max_frag
        self.bound = False
        self._buffer = PduBuffer()
        self._next_call_id = 1
        self._bind_call_id: int | None = None
        self._auth_call_id: int | None = None
        self._pending: set[int] = set()
        self._calls: dict[int, Reassembly] = {}

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
        U32.pack_into(pdu, 12, call_id)
        if self.security is None:
            return bytes(pdu)
        self.signing = None
        self._auth_call_id = call_id
        return append_verifier(pdu, self.security.negotiate())

    def auth3(self, challenge: AuthVerifier, *, entropy: bytes, now: float) -> bytes:
        """The AUTH3 PDU answering the bind_ack's ``challenge``; signing starts after it.

        ``entropy`` is :data:`~.ntlm_security.CLIENT_ENTROPY_SIZE` random bytes and
        ``now`` the time in seconds since 1970: this layer has neither of its own.
        """
        if self.security is None or self._auth_call_id is None:
            raise ValueError("auth3 needs an authenticated bind first")
        verifier = self.security.authenticate(challenge, entropy=entropy, now=now)
        head = COMMON_HEAD.pack(
            5,
            0,
            PTYPE_AUTH3,
            PFC_FIRST_FRAG | PFC_LAST_FRAG,
            DREP_LITTLE_ENDIAN_ASCII_IEEE,
            0,
            0,
            self._auth_call_id,
        )
        pdu = append_verifier(bytearray(head + bytes(AUTH3_PAD_SIZE)), verifier)
        self.signing = self.security.context
        return pdu

    def request(
        self, opnum: int, stub: bytes, context_id: int = 0, *, call_id: int | None = None
    ) -> bytes:
        """A request PDU (fragmented to the negotiated ``max_xmit_frag``).

        ``call_id`` overrides the connection's counter (to replay a recorded exchange).
        """
        call_id = self._new_call_id() if call_id is None else call_id
        self._pending.add(call_id)
        fragments = fragment_stub if self.signing is None else self.signing.signed_fragments
        return fragments(
            REQUEST_HEAD,
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
                raise ProtocolError(f"unexpected {pdu_name(ptype)}: no bind outstanding")
            if header.call_id != self._bind_call_id:
                raise ProtocolError(
                    f"{pdu_name(ptype)} for call {header.call_id}, but the bind was call"
                    f" {self._bind_call_id}"
                )
            self._bind_call_id = None
            if ptype == PTYPE_BIND_NAK:
                return decode_bind_nak(header, fragment)
            ack = decode_bind_ack(header, fragment)
            if ack.max_recv_frag < MIN_USEFUL_FRAG:
                raise ProtocolError(f"server max_recv_frag {ack.max_recv_frag} is too small")
            if self.security is not None and ack.max_recv_frag < MIN_SIGNED_FRAG:
                raise ProtocolError(
                    f"server max_recv_frag {ack.max_recv_frag} is too small for signed PDUs"
                )
            self.max_xmit_frag = min(self.max_frag, ack.max_recv_frag)
            self.bound = ack.accepted
            return ack
        raise ProtocolError(f"unexpected {pdu_name(ptype)} PDU from the server")

    def _handle_response(self, header: PduHeader, fragment: bytes) -> Response | None:
        if header.call_id not in self._pending:
            raise ProtocolError(f"response for call {header.call_id}, which was not made")
        if header.frag_length < RESPONSE_HEADER_SIZE:
            raise ProtocolError(f"response PDU too short ({header.frag_length})")
        (context_id,) = U16.unpack_from(fragment, 20)
        if self.signing is None:
            piece = stub_of(header, fragment, RESPONSE_HEADER_SIZE)
        else:
            piece = self.signing.verified_stub(header, fragment, RESPONSE_HEADER_SIZE)
        call = append_fragment(self._calls, header, piece, context_id, self.max_total)
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
    max_xmit, max_recv, assoc_group, address_length = BIND_ACK_HEAD.unpack_from(fragment, 16)
    offset = 26 + address_length
    if offset > size:
        raise ProtocolError("bind_ack secondary address runs past the PDU")
    raw_address = fragment[26:offset]
    secondary = raw_address.split(b"\0", 1)[0].decode("ascii", "replace")
    offset += pad4(offset)
    if offset + 4 > size:
        raise ProtocolError("bind_ack has no result list")
    (count,) = U8.unpack_from(fragment, offset)
    offset += 4
    if offset + 24 * count > size:
        raise ProtocolError(f"bind_ack announces {count} results that are not there")
    results = []
    for _ in range(count):
        result, reason = CONTEXT_RESULT.unpack_from(fragment, offset)
        syntax = syntax_from(fragment, offset + 4)
        offset += 24
        outcome = RESULT_OUTCOMES.get(result)
        if outcome is None:
            raise ProtocolError(f"bind_ack result {result} is not defined")
        if outcome is BindOutcome.ACCEPTED:
            results.append(ContextResult(outcome, reason, "acceptance", syntax))
        elif outcome is BindOutcome.NEGOTIATE_ACK:
            results.append(ContextResult(outcome, reason, "negotiate_ack", None))
        else:
            results.append(ContextResult(outcome, reason, provider_reason_text(reason), None))
    auth = read_verifier(header, fragment, offset) if header.auth_length else None
    return BindAck(header.call_id, max_xmit, max_recv, assoc_group, secondary, tuple(results), auth)


def decode_bind_nak(header: PduHeader, fragment: bytes) -> BindNak:
    """Decode a bind_nak PDU (whole fragment, header included)."""
    if header.frag_length < HEADER_SIZE + 2:
        raise ProtocolError(f"bind_nak too short ({header.frag_length})")
    (reason,) = U16.unpack_from(fragment, 16)
    return BindNak(header.call_id, reason, bind_nak_reason_text(reason))


def decode_fault(header: PduHeader, fragment: bytes) -> Fault:
    """Decode a fault PDU (whole fragment, header included)."""
    if header.frag_length < 28:
        raise ProtocolError(f"fault PDU too short ({header.frag_length})")
    (status,) = U32.unpack_from(fragment, 24)
    return Fault(header.call_id, status, fault_status_name(status))
