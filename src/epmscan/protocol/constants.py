"""Numbers of DCE/RPC (C706, [MS-RPCE]) and the endpoint mapper (ept, [MS-RPCE] 2.2.1.2).

Only values: no behaviour lives here. The PDU types and flags are those of the
connection-oriented protocol (ncacn_*), the only one epmscan speaks.
"""

from __future__ import annotations

from typing import Final

from epmscan.models import InterfaceId

# --- common header --------------------------------------------------------------------
HEADER_SIZE: Final = 16
RPC_VERSION: Final = 5
RPC_VERSION_MINORS: Final = (0, 1)

DREP_LITTLE_ENDIAN_ASCII_IEEE: Final = b"\x10\x00\x00\x00"
"""Data representation label we send and the only one we accept (little-endian, ASCII, IEEE)."""

PTYPE_REQUEST: Final = 0
PTYPE_PING: Final = 1
PTYPE_RESPONSE: Final = 2
PTYPE_FAULT: Final = 3
PTYPE_WORKING: Final = 4
PTYPE_NOCALL: Final = 5
PTYPE_REJECT: Final = 6
PTYPE_ACK: Final = 7
PTYPE_CL_CANCEL: Final = 8
PTYPE_FACK: Final = 9
PTYPE_CANCEL_ACK: Final = 10
PTYPE_BIND: Final = 11
PTYPE_BIND_ACK: Final = 12
PTYPE_BIND_NAK: Final = 13
PTYPE_ALTER_CONTEXT: Final = 14
PTYPE_ALTER_CONTEXT_RESP: Final = 15
PTYPE_AUTH3: Final = 16
PTYPE_SHUTDOWN: Final = 17
PTYPE_CO_CANCEL: Final = 18
PTYPE_ORPHANED: Final = 19

PTYPE_NAMES: Final = {
    PTYPE_REQUEST: "request",
    PTYPE_PING: "ping",
    PTYPE_RESPONSE: "response",
    PTYPE_FAULT: "fault",
    PTYPE_WORKING: "working",
    PTYPE_NOCALL: "nocall",
    PTYPE_REJECT: "reject",
    PTYPE_ACK: "ack",
    PTYPE_CL_CANCEL: "cl_cancel",
    PTYPE_FACK: "fack",
    PTYPE_CANCEL_ACK: "cancel_ack",
    PTYPE_BIND: "bind",
    PTYPE_BIND_ACK: "bind_ack",
    PTYPE_BIND_NAK: "bind_nak",
    PTYPE_ALTER_CONTEXT: "alter_context",
    PTYPE_ALTER_CONTEXT_RESP: "alter_context_resp",
    PTYPE_AUTH3: "auth3",
    PTYPE_SHUTDOWN: "shutdown",
    PTYPE_CO_CANCEL: "co_cancel",
    PTYPE_ORPHANED: "orphaned",
}

PFC_FIRST_FRAG: Final = 0x01
PFC_LAST_FRAG: Final = 0x02
PFC_PENDING_CANCEL: Final = 0x04
PFC_CONC_MPX: Final = 0x10
PFC_DID_NOT_EXECUTE: Final = 0x20
PFC_MAYBE: Final = 0x40
PFC_OBJECT_UUID: Final = 0x80

REQUEST_HEADER_SIZE: Final = 24
RESPONSE_HEADER_SIZE: Final = 24
FAULT_PDU_SIZE: Final = 32
SEC_TRAILER_SIZE: Final = 8

# --- bind -------------------------------------------------------------------------------
RESULT_ACCEPTANCE: Final = 0
RESULT_USER_REJECTION: Final = 1
RESULT_PROVIDER_REJECTION: Final = 2
RESULT_NEGOTIATE_ACK: Final = 3

PROVIDER_REASON_NOT_SPECIFIED: Final = 0
PROVIDER_REASON_ABSTRACT_SYNTAX_NOT_SUPPORTED: Final = 1
PROVIDER_REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED: Final = 2
PROVIDER_REASON_LOCAL_LIMIT_EXCEEDED: Final = 3

BIND_NAK_REASON_NOT_SPECIFIED: Final = 0
BIND_NAK_TEMPORARY_CONGESTION: Final = 1
BIND_NAK_LOCAL_LIMIT_EXCEEDED: Final = 2
BIND_NAK_CALLED_PADDR_UNKNOWN: Final = 3
BIND_NAK_PROTOCOL_VERSION_NOT_SUPPORTED: Final = 4
BIND_NAK_DEFAULT_CONTEXT_NOT_SUPPORTED: Final = 5
BIND_NAK_USER_DATA_NOT_READABLE: Final = 6
BIND_NAK_NO_PSAP_AVAILABLE: Final = 7
BIND_NAK_AUTHENTICATION_TYPE_NOT_RECOGNIZED: Final = 8
BIND_NAK_INVALID_CHECKSUM: Final = 9

# --- authentication ([MS-RPCE] 2.2.1.1.7, 2.2.1.1.8, 2.2.2.11) ---------------------------
RPC_C_AUTHN_NONE: Final = 0
RPC_C_AUTHN_GSS_NEGOTIATE: Final = 9
RPC_C_AUTHN_WINNT: Final = 10
"""NTLM, the only security provider epmscan speaks."""
RPC_C_AUTHN_GSS_KERBEROS: Final = 16

RPC_C_AUTHN_LEVEL_NONE: Final = 1
RPC_C_AUTHN_LEVEL_CONNECT: Final = 2
RPC_C_AUTHN_LEVEL_CALL: Final = 3
RPC_C_AUTHN_LEVEL_PKT: Final = 4
RPC_C_AUTHN_LEVEL_PKT_INTEGRITY: Final = 5
"""Every PDU after the bind signed: the only level epmscan speaks."""
RPC_C_AUTHN_LEVEL_PKT_PRIVACY: Final = 6

AUTH3_PAD_SIZE: Final = 4
"""The four bytes of an AUTH3 PDU between its header and its sec_trailer."""
NTLM_SIGNATURE_SIZE: Final = 16
"""An NTLM message signature ([MS-NLMP] 2.2.2.9.1): version, checksum, sequence number."""
AUTH_PAD_ALIGNMENT: Final = 16
"""Stub data is padded to this before a sec_trailer, as Windows and Samba do."""

# --- syntaxes -----------------------------------------------------------------------------
NDR_SYNTAX: Final = InterfaceId("8a885d04-1ceb-11c9-9fe8-08002b104860", 2, 0)
NDR64_SYNTAX: Final = InterfaceId("71710533-beba-4937-8319-b5dbef9ccc36", 1, 0)
EPM_INTERFACE: Final = InterfaceId("e1af8308-5d1f-11c9-91a4-08002b14a0fa", 3, 0)
MGMT_INTERFACE: Final = InterfaceId("afa8bd80-7d8a-11c9-bef4-08002b102989", 1, 0)
"""The remote management interface (C706's ``mgmt.idl``): every DCE/RPC server
accepts it on every endpoint, whatever it registered with the endpoint mapper."""

# --- fault / status codes ---------------------------------------------------------------
NCA_S_COMM_FAILURE: Final = 0x1C010001
NCA_S_OP_RNG_ERROR: Final = 0x1C010002
NCA_S_UNK_IF: Final = 0x1C010003
NCA_S_PROTO_ERROR: Final = 0x1C01000B
NCA_S_FAULT_UNSPEC: Final = 0x1C000012
RPC_S_ACCESS_DENIED: Final = 0x00000005
RPC_X_BAD_STUB_DATA: Final = 0x000006F7
RPC_S_CANNOT_SUPPORT: Final = 0x000006E4
EPT_S_NOT_REGISTERED: Final = 0x16C9A0D6
EPT_S_CANT_PERFORM_OP: Final = 0x16C9A0CD
EPT_S_INVALID_ENTRY: Final = 0x16C9A0CE

# --- endpoint mapper ----------------------------------------------------------------------
EPM_PORT: Final = 135
"""The endpoint mapper's well-known TCP port (ncacn_ip_tcp)."""
OP_EPT_INSERT: Final = 0
OP_EPT_DELETE: Final = 1
OP_EPT_LOOKUP: Final = 2
OP_EPT_MAP: Final = 3
OP_EPT_LOOKUP_HANDLE_FREE: Final = 4

RPC_C_EP_ALL_ELTS: Final = 0
RPC_C_EP_MATCH_BY_IF: Final = 1
RPC_C_EP_MATCH_BY_OBJ: Final = 2
RPC_C_EP_MATCH_BY_BOTH: Final = 3

RPC_C_VERS_ALL: Final = 1
RPC_C_VERS_COMPATIBLE: Final = 2
RPC_C_VERS_EXACT: Final = 3
RPC_C_VERS_MAJOR_ONLY: Final = 4
RPC_C_VERS_UPTO: Final = 5

# --- remote management interface ---------------------------------------------------------
OP_MGMT_INQ_IF_IDS: Final = 0
"""``rpc_mgmt_inq_if_ids``: no input; out, the interfaces the server offers and a status."""
MAX_MGMT_INTERFACES: Final = 4096
"""Cap on the interfaces one ``rpc_mgmt_inq_if_ids`` answer may list (a process serves
tens; a count above this is a lie or an attack on the decoder)."""

NULL_HANDLE: Final = bytes(20)
"""An ``ept_lookup_handle_t`` (context handle: attributes + UUID) that names nothing."""
NIL_UUID: Final = "00000000-0000-0000-0000-000000000000"

DEFAULT_MAX_ENTS: Final = 500
DEFAULT_MAX_FRAG: Final = 4280
MIN_MAX_FRAG: Final = 1432
"""C706 12.6.3.1: every implementation must accept fragments of at least this size."""
DEFAULT_MAX_PDU_TOTAL: Final = 8 * 1024 * 1024
"""Cap on one reassembled request or response stub (8 MiB)."""

# --- tower floors (C706 appendix I, [MS-RPCE] 2.2.1.1.x) -------------------------------
FLOOR_UUID: Final = 0x0D
FLOOR_NCACN: Final = 0x0B
FLOOR_NCADG: Final = 0x0A
FLOOR_NCALRPC: Final = 0x0C
FLOOR_TCP_PORT: Final = 0x07
FLOOR_UDP_PORT: Final = 0x08
FLOOR_IPV4: Final = 0x09
FLOOR_NAMED_PIPE: Final = 0x0F
FLOOR_LRPC_NAME: Final = 0x10
FLOOR_NETBIOS_NAME: Final = 0x11
FLOOR_HTTP_PORT: Final = 0x1F
