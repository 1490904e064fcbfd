"""The server side of one DCE/RPC association (the lab's), sans I/O.

``feed()`` takes the client's bytes and returns :class:`BindRequest`, :class:`Auth3` and
reassembled :class:`Request` events; ``bind_ack``/``bind_nak``/``response``/``fault``
build the answers, responses cut to the client's ``max_recv_frag``. A client that sends
anything else raises :class:`ProtocolError`.

Authentication (:mod:`.ntlm_security`): a bind's verifier comes in
:attr:`BindRequest.auth`; the caller answers it with ``bind_ack(..., auth=...)`` (the
CHALLENGE of an :class:`~.ntlm_security.NtlmServer`) and sets :attr:`ServerConnection.ntlm`
to that server. The AUTH3 is checked by it as it is read, before the PDUs behind it in
the same bytes (a client sends its first request right after the AUTH3): the
:class:`Auth3` event says which account it proved, and from then on every request
fragment's signature is checked (:attr:`Request.signed` says how that went; a bad one is
not an error here, the caller answers it) and every response is signed.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

from epmscan.errors import ProtocolError
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
    PTYPE_AUTH3,
    PTYPE_BIND,
    PTYPE_BIND_ACK,
    PTYPE_BIND_NAK,
    PTYPE_FAULT,
    PTYPE_REQUEST,
    PTYPE_RESPONSE,
    REQUEST_HEADER_SIZE,
)
from epmscan.protocol.events import (
    Auth3,
    AuthVerifier,
    BindRequest,
    ContextResult,
    PresentationContext,
    Request,
    ServerEvent,
)
from epmscan.protocol.fragmenting import (
    BIND_ACK_HEAD,
    CONTEXT_RESULT,
    FAULT_PDU,
    MIN_USEFUL_FRAG,
    RESPONSE_HEAD,
    U8,
    Reassembly,
    append_fragment,
    checked_max_frag,
    fragment_stub,
    pdu_name,
    simple_pdu,
    stub_of,
)
from epmscan.protocol.ntlm_security import (
    MIN_SIGNED_FRAG,
    NtlmServer,
    SigningContext,
    append_verifier,
    read_verifier,
)
from epmscan.protocol.pdu_stream import PduBuffer, PduHeader
from epmscan.protocol.status_codes import (
    OUTCOME_RESULTS,
)
from epmscan.protocol.syntax_ids import pad4, syntax_bytes, syntax_from, uuid_text


class ServerConnection:
    """Server side of one association: parses binds and requests, builds the answers."""

    def __init__(
        self, max_frag: int = DEFAULT_MAX_FRAG, max_total: int = DEFAULT_MAX_PDU_TOTAL
    ) -> None:
        self.max_frag = checked_max_frag(max_frag)
        self.max_total = max_total
        self.client_max_recv_frag = DEFAULT_MAX_FRAG
        self.assoc_group = 0
        self.ntlm: NtlmServer | None = None
        """The NTLM server whose CHALLENGE the bind_ack carried: it checks the AUTH3."""
        self.signing: SigningContext | None = None
        """Verifies requests and signs responses (set once the client authenticated)."""
        self._buffer = PduBuffer()
        self._calls: dict[int, Reassembly] = {}

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
                if bind.max_recv_frag < MIN_USEFUL_FRAG:
                    raise ProtocolError(f"client max_recv_frag {bind.max_recv_frag} is too small")
                if bind.auth is not None and bind.max_recv_frag < MIN_SIGNED_FRAG:
                    raise ProtocolError(
                        f"client max_recv_frag {bind.max_recv_frag} is too small for signed PDUs"
                    )
                self.client_max_recv_frag = bind.max_recv_frag
                events.append(bind)
            elif header.ptype == PTYPE_REQUEST:
                request = self._handle_request(header, fragment)
                if request is not None:
                    events.append(request)
            elif header.ptype == PTYPE_AUTH3:
                events.append(self._authenticate(decode_auth3(header, fragment)))
            else:
                raise ProtocolError(f"unexpected {pdu_name(header.ptype)} PDU from the client")
        return events

    def _authenticate(self, auth3: Auth3) -> Auth3:
        ntlm, self.ntlm = self.ntlm, None
        if ntlm is None:
            return auth3
        try:
            account = ntlm.accept(auth3.auth)
        except ProtocolError:
            account = None
        if account is not None:
            self.signing = ntlm.context
        return Auth3(auth3.call_id, auth3.auth, account)

    def _handle_request(self, header: PduHeader, fragment: bytes) -> Request | None:
        if header.frag_length < REQUEST_HEADER_SIZE:
            raise ProtocolError(f"request PDU too short ({header.frag_length})")
        context_id, opnum = CONTEXT_RESULT.unpack_from(fragment, 20)
        body = REQUEST_HEADER_SIZE
        object_uuid = None
        if header.flags & PFC_OBJECT_UUID:
            body += 16
            if header.frag_length < body:
                raise ProtocolError("request PDU too short for its object UUID")
            object_uuid = uuid_text(fragment[24:40])
        signed: bool | None = None
        if self.signing is not None:
            try:
                piece = self.signing.verified_stub(header, fragment, body)
                signed = True
            except ProtocolError:
                piece, signed = stub_of(header, fragment, body), False
        else:
            piece = stub_of(header, fragment, body)
            if header.auth_length:
                signed = False
        call = append_fragment(
            self._calls, header, piece, context_id, self.max_total, opnum, object_uuid, signed
        )
        if call is None:
            return None
        return Request(
            call.call_id,
            call.context_id,
            call.opnum,
            b"".join(call.parts),
            call.object_uuid,
            call.signed,
        )

    def bind_ack(
        self,
        req: BindRequest,
        accept: Callable[[PresentationContext], bool] | Sequence[ContextResult],
        secondary_address: str = "135",
        *,
        assoc_group: int | None = None,
        auth: AuthVerifier | None = None,
    ) -> bytes:
        """The bind_ack for ``req``, with the verifier ``auth`` (an NTLM CHALLENGE) if given.

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
            BIND_ACK_HEAD.pack(
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
            body += CONTEXT_RESULT.pack(OUTCOME_RESULTS[result.outcome], result.reason)
            syntax = result.transfer_syntax
            body += syntax_bytes(syntax) if syntax is not None else bytes(20)
        pdu = simple_pdu(PTYPE_BIND_ACK, req.call_id, bytes(body))
        return pdu if auth is None else append_verifier(bytearray(pdu), auth)

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
        return simple_pdu(PTYPE_BIND_NAK, call_id, body + bytes(pad4(HEADER_SIZE + len(body))))

    def response(self, call_id: int, stub: bytes, context_id: int = 0) -> bytes:
        """Response PDU(s) for a call, cut to the client's ``max_recv_frag`` (signed once
        :attr:`signing` is set)."""
        fragments = fragment_stub if self.signing is None else self.signing.signed_fragments
        return fragments(
            RESPONSE_HEAD,
            PTYPE_RESPONSE,
            call_id,
            stub,
            self.response_frag,
            lambda _offset: (context_id, 0, 0),
        )

    def fault(self, call_id: int, status: int, context_id: int = 0) -> bytes:
        """A fault PDU (flagged did-not-execute, as Windows does for these faults)."""
        return FAULT_PDU.pack(
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


def decode_bind(header: PduHeader, fragment: bytes) -> BindRequest:
    """Decode a bind PDU (whole fragment, header included)."""
    size = header.frag_length
    if size < 28:
        raise ProtocolError(f"bind PDU too short ({size})")
    max_xmit, max_recv, assoc_group = struct.unpack_from("<HHI", fragment, 16)
    (count,) = U8.unpack_from(fragment, 24)
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
    auth = read_verifier(header, fragment, offset) if header.auth_length else None
    return BindRequest(header.call_id, max_xmit, max_recv, assoc_group, tuple(contexts), auth)


def decode_auth3(header: PduHeader, fragment: bytes) -> Auth3:
    """Decode an AUTH3 PDU (whole fragment, header included)."""
    verifier = read_verifier(header, fragment, HEADER_SIZE)
    if verifier is None:
        raise ProtocolError("auth3 PDU without an authentication verifier")
    return Auth3(header.call_id, verifier)
