"""Fault PDUs: names, and what a fault does to the client's state."""

from __future__ import annotations

import pytest

from epmscan.errors import ProtocolError
from epmscan.protocol.client_connection import ClientConnection
from epmscan.protocol.constants import EPM_INTERFACE, PFC_FIRST_FRAG
from epmscan.protocol.events import Fault
from epmscan.protocol.server_connection import ServerConnection
from epmscan.protocol.status_codes import fault_status_name


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (0x1C010003, "nca_s_unk_if"),
        (0x1C010002, "nca_s_op_rng_error"),
        (0x00000005, "rpc_s_access_denied"),
        (0x000006F7, "rpc_x_bad_stub_data"),
        (0x1C01000B, "nca_s_proto_error"),
        (0x16C9A0D6, "ept_s_not_registered"),
        (0x12345678, "unknown_status_0x12345678"),
    ],
)
def test_fault_round_trip_with_names(status: int, name: str) -> None:
    client = ClientConnection()
    server = ServerConnection()
    server.feed(client.bind(EPM_INTERFACE))
    server.feed(client.request(9, b""))
    (fault,) = client.feed(server.fault(client.last_call_id, status))
    assert fault == Fault(client.last_call_id, status, name)
    assert fault_status_name(status) == name


def test_names_beyond_our_table_come_from_impacket() -> None:
    assert fault_status_name(0x1C00001B) not in ("", "unknown_status_0x1c00001b")


def test_a_fault_ends_the_call_so_a_late_response_is_refused() -> None:
    client = ClientConnection()
    server = ServerConnection()
    server.feed(client.bind(EPM_INTERFACE))
    client.request(2, b"")
    call_id = client.last_call_id
    first = bytearray(server.response(call_id, bytes(16)))
    first[3] = PFC_FIRST_FRAG
    assert client.feed(bytes(first)) == []
    (fault,) = client.feed(server.fault(call_id, 0x1C010002))
    assert isinstance(fault, Fault)
    with pytest.raises(ProtocolError):
        client.feed(server.response(call_id, b""))


def test_a_fault_in_answer_to_the_bind() -> None:
    client = ClientConnection()
    client.bind(EPM_INTERFACE)
    (fault,) = client.feed(ServerConnection().fault(client.last_call_id, 0x1C01000B))
    assert isinstance(fault, Fault) and fault.status_name == "nca_s_proto_error"
    assert not client.bound


def test_a_short_fault_is_refused() -> None:
    client = ClientConnection()
    client.bind(EPM_INTERFACE)
    pdu = bytearray(ServerConnection().fault(1, 5))[:24]
    pdu[8] = 24
    with pytest.raises(ProtocolError, match="too short"):
        client.feed(bytes(pdu))
