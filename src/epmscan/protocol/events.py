"""The events of a DCE/RPC association, as the connection state machines hand them out.

Client side (:mod:`.client_connection`): :class:`BindAck` (per-context results and the
negotiated fragment sizes), :class:`BindNak`, :class:`Response` (one call's stub,
reassembled from its fragments) and :class:`Fault`. Server side
(:mod:`.server_connection`): :class:`BindRequest` with its :class:`PresentationContext`
offers, :class:`Auth3` and :class:`Request`. A bind, bind_ack or AUTH3 that carries an
authentication verifier hands it out as an :class:`AuthVerifier` (its sec_trailer and its
token). All are frozen dataclasses, in the manner of h11's events.
"""

from __future__ import annotations

from dataclasses import dataclass

from epmscan.models import BindOutcome, InterfaceId
from epmscan.protocol.constants import (
    NDR_SYNTAX,
    PROVIDER_REASON_ABSTRACT_SYNTAX_NOT_SUPPORTED,
)
from epmscan.protocol.status_codes import provider_reason_text


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
class AuthVerifier:
    """The authentication verifier at the end of a PDU: its sec_trailer and its token."""

    auth_type: int
    auth_level: int
    pad_length: int
    context_id: int
    value: bytes
    """The security provider's token (an NTLM message) or signature."""

    def __repr__(self) -> str:
        return (
            f"AuthVerifier(type={self.auth_type}, level={self.auth_level},"
            f" context={self.context_id}, {len(self.value)} bytes)"
        )


@dataclass(frozen=True, slots=True)
class BindAck:
    """The server accepted the association; per-context results say for what."""

    call_id: int
    max_xmit_frag: int
    max_recv_frag: int
    assoc_group: int
    secondary_address: str
    results: tuple[ContextResult, ...]
    auth: AuthVerifier | None = None
    """The server's verifier (an NTLM CHALLENGE) when the bind carried one."""

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
    auth: AuthVerifier | None = None
    """The client's verifier (an NTLM NEGOTIATE) when it asks to authenticate."""


@dataclass(frozen=True, slots=True)
class Request:
    """A call as the server sees it, stub reassembled from all fragments."""

    call_id: int
    context_id: int
    opnum: int
    stub: bytes
    object_uuid: str | None
    signed: bool | None = None
    """None: no fragment carried a verifier; True: every fragment carried a signature that
    verified with the connection's security context; False: any other case."""


@dataclass(frozen=True, slots=True)
class Auth3:
    """The third leg of an authenticated bind: the client's last token (NTLM AUTHENTICATE)."""

    call_id: int
    auth: AuthVerifier
    account: str | None = None
    """The account the connection's NTLM server accepted (None: none, or refused)."""


ClientEvent = BindAck | BindNak | Response | Fault
ServerEvent = BindRequest | Auth3 | Request
