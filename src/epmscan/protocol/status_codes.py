"""Codes of DCE/RPC with their names: fault statuses, bind rejection reasons, bind results.

Tables only (C706 12.6.3.1 and [MS-RPCE] 2.2.2.5, plus impacket's table of RPC status
codes for the names it knows); the decoders look names up here so that a report says
``nca_s_unk_if`` or ``abstract_syntax_not_supported`` instead of a number.
"""

from __future__ import annotations

import functools

from epmscan.models import BindOutcome
from epmscan.protocol.constants import (
    RESULT_ACCEPTANCE,
    RESULT_NEGOTIATE_ACK,
    RESULT_PROVIDER_REJECTION,
    RESULT_USER_REJECTION,
)

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

RESULT_OUTCOMES: dict[int, BindOutcome] = {
    RESULT_ACCEPTANCE: BindOutcome.ACCEPTED,
    RESULT_USER_REJECTION: BindOutcome.USER_REJECTION,
    RESULT_PROVIDER_REJECTION: BindOutcome.PROVIDER_REJECTION,
    RESULT_NEGOTIATE_ACK: BindOutcome.NEGOTIATE_ACK,
}
OUTCOME_RESULTS = {outcome: code for code, outcome in RESULT_OUTCOMES.items()}

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


@functools.cache
def _status_names() -> dict[int, str]:
    """impacket's names, then ours over them; read on the first fault (impacket's import
    takes a third of a second, which every command would pay at start)."""
    return {**_impacket_status_names(), **_FAULT_NAMES}


def _impacket_status_names() -> dict[int, str]:
    try:
        from impacket.dcerpc.v5.rpcrt import rpc_status_codes
    except ImportError:  # pragma: no cover - impacket is a dependency
        return {}
    names: dict[int, str] = {}
    for code, text in rpc_status_codes.items():
        names[int(code)] = str(text).split(":", 1)[0].strip()
    return names


def fault_status_name(status: int) -> str:
    """Symbolic name of an RPC fault/status code (``nca_s_unk_if``), or its hex."""
    name = _status_names().get(status)
    return name if name is not None else f"unknown_status_0x{status:08x}"


def bind_nak_reason_text(reason: int) -> str:
    """Text of a bind_nak ``p_reject_reason`` (C706 table, [MS-RPCE] additions)."""
    return BIND_NAK_REASONS.get(reason, f"unknown_reason_{reason}")


def provider_reason_text(reason: int) -> str:
    """Text of a bind_ack context rejection ``p_provider_reason``."""
    return PROVIDER_REASONS.get(reason, f"unknown_reason_{reason}")
