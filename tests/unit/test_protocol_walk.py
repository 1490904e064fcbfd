"""LookupWalk: the paging state machine, on Samba's real answers and on crafted ones."""

from __future__ import annotations

import pytest

from epmscan.errors import ProtocolError
from epmscan.protocol.client_connection import ClientConnection
from epmscan.protocol.constants import (
    EPM_INTERFACE,
    EPT_S_NOT_REGISTERED,
    NULL_HANDLE,
    OP_EPT_LOOKUP,
    RPC_C_EP_MATCH_BY_IF,
)
from epmscan.protocol.epm_server import (
    EncodedEntry,
    decode_lookup_request,
    encode_lookup_entry,
    encode_lookup_response,
)
from epmscan.protocol.events import Response
from epmscan.protocol.impacket_reference import reference_decode_lookup_response
from epmscan.protocol.lookup_walk import LookupWalk
from epmscan.protocol.towers import encode_tower
from tests.support.samba_capture import CapturedConnection, split_pdus

HANDLE_A = bytes(4) + b"A" * 16
HANDLE_B = bytes(4) + b"B" * 16


def _entries(count: int, first_port: int = 49152) -> list[EncodedEntry]:
    return [
        encode_lookup_entry(
            "00000000-0000-0000-0000-000000000000",
            encode_tower(EPM_INTERFACE, "ncacn_ip_tcp", port=first_port + i),
            f"entry {i}",
        )
        for i in range(count)
    ]


def _page(handle: bytes, count: int, status: int = 0, first_port: int = 49152) -> bytes:
    return encode_lookup_response(handle, _entries(count, first_port), status)


def _step(walk: LookupWalk, stub: bytes) -> None:
    assert walk.next_request() is not None
    walk.handle_response(stub)


def test_samba_last_batch_with_not_registered_keeps_its_entries(samba_lookup_stub: bytes) -> None:
    walk = LookupWalk()
    _step(walk, samba_lookup_stub)
    assert walk.done and walk.next_request() is None
    assert len(walk.entries) == 38
    assert (walk.pages, walk.final_status) == (1, EPT_S_NOT_REGISTERED)
    assert walk.free_request() is None


class _ReplayTransport:
    """Hands impacket the server's recorded PDUs one by one."""

    def __init__(self, connection: CapturedConnection) -> None:
        self.pdus = [pdu for _, pdu in split_pdus(connection.to_client)]

    def send(self, data: bytes, forceWriteAndx: int = 0, forceRecv: int = 0) -> None:
        pass

    def recv(self, forceRecv: int = 0, count: int = 0) -> bytes:
        return self.pdus.pop(0)

    def get_dce_rpc(self) -> object:
        from impacket.dcerpc.v5 import rpcrt

        return rpcrt.DCERPC_v5(self)


def test_impacket_hept_lookup_loses_sambas_entries_where_we_keep_them(
    samba_full_lookup: CapturedConnection,
) -> None:
    from impacket.dcerpc.v5 import epm, rpcrt

    dce = rpcrt.DCERPC_v5(_ReplayTransport(samba_full_lookup))
    with pytest.raises(rpcrt.DCERPCException):
        epm.hept_lookup(None, dce=dce)
    walk = LookupWalk()
    client = ClientConnection()
    client.bind(EPM_INTERFACE, call_id=1)
    stub = walk.next_request()
    assert stub is not None
    client.request(OP_EPT_LOOKUP, stub, call_id=1)
    (_, response) = client.feed(samba_full_lookup.to_client)
    assert isinstance(response, Response)
    walk.handle_response(response.stub)
    assert len(walk.entries) == 38


def test_max_ents_1_paging_from_the_capture(samba_paging: CapturedConnection) -> None:
    sent = [pdu[24:] for h, pdu in split_pdus(samba_paging.to_server) if h.ptype == 0]
    answers = [pdu[24:] for h, pdu in split_pdus(samba_paging.to_client) if h.ptype == 2]
    walk = LookupWalk(max_ents=1, vers_option=decode_lookup_request(sent[0]).vers_option)
    for request, answer in zip(sent, answers, strict=True):
        assert walk.next_request() == request
        walk.handle_response(answer)
    assert walk.done and walk.next_request() is None
    assert walk.pages == 38
    assert len(walk.entries) == 38
    assert walk.final_status == EPT_S_NOT_REGISTERED
    all_at_once = [e for stub in answers for e in reference_decode_lookup_response(stub).entries]
    assert walk.entries == all_at_once


def test_windows_style_paging_ends_on_a_null_handle() -> None:
    walk = LookupWalk(max_ents=2)
    _step(walk, _page(HANDLE_A, 2, first_port=1))
    assert not walk.done and walk.handle == HANDLE_A
    assert walk.free_request() == HANDLE_A
    _step(walk, _page(HANDLE_A, 2, first_port=3))
    _step(walk, _page(NULL_HANDLE, 1, first_port=5))
    assert walk.done
    assert [e.tower.port for e in walk.entries if e.tower] == [1, 2, 3, 4, 5]
    assert (walk.pages, walk.final_status) == (3, 0)
    assert walk.free_request() is None


def test_the_request_follows_the_returned_handle() -> None:
    walk = LookupWalk(max_ents=3, inquiry_type=RPC_C_EP_MATCH_BY_IF, interface=EPM_INTERFACE)
    first = walk.next_request()
    assert first is not None and decode_lookup_request(first).handle == NULL_HANDLE
    walk.handle_response(_page(HANDLE_B, 3))
    second = walk.next_request()
    assert second is not None
    request = decode_lookup_request(second)
    assert (request.handle, request.max_ents, request.interface) == (HANDLE_B, 3, EPM_INTERFACE)


def test_empty_registry_is_not_an_error() -> None:
    walk = LookupWalk()
    _step(walk, _page(NULL_HANDLE, 0, EPT_S_NOT_REGISTERED))
    assert walk.done and walk.entries == [] and walk.final_status == EPT_S_NOT_REGISTERED


def test_ad_dc_style_final_empty_batch() -> None:
    walk = LookupWalk(max_ents=2)
    _step(walk, _page(HANDLE_A, 2))
    _step(walk, _page(HANDLE_A, 0, EPT_S_NOT_REGISTERED))
    assert walk.done and len(walk.entries) == 2
    assert walk.free_request() is None


def test_other_status_ends_the_walk_and_is_recorded() -> None:
    walk = LookupWalk()
    _step(walk, _page(HANDLE_A, 1))
    _step(walk, _page(HANDLE_A, 0, 0x16C9A0CD))
    assert walk.done and walk.final_status == 0x16C9A0CD
    assert len(walk.entries) == 1
    assert walk.free_request() == HANDLE_A


def test_a_handle_that_does_not_advance_is_refused() -> None:
    walk = LookupWalk()
    _step(walk, _page(HANDLE_A, 0))
    with pytest.raises(ProtocolError, match="does not advance"):
        _step(walk, _page(HANDLE_A, 0))
    assert walk.done
    assert walk.free_request() == HANDLE_A


def test_page_cap() -> None:
    walk = LookupWalk(max_ents=1, max_pages=3)
    _step(walk, _page(HANDLE_A, 1))
    _step(walk, _page(HANDLE_A, 1))
    with pytest.raises(ProtocolError, match="3 pages"):
        _step(walk, _page(HANDLE_A, 1))
    assert walk.free_request() == HANDLE_A
    assert walk.next_request() is None


def test_entry_cap() -> None:
    walk = LookupWalk(max_entries=5)
    _step(walk, _page(HANDLE_A, 4))
    with pytest.raises(ProtocolError, match="more than 5"):
        _step(walk, _page(NULL_HANDLE, 2))


def test_answers_must_follow_requests() -> None:
    walk = LookupWalk()
    with pytest.raises(RuntimeError):
        walk.handle_response(_page(NULL_HANDLE, 0))
    walk.next_request()
    with pytest.raises(RuntimeError):
        walk.next_request()


def test_reference_decoder_can_drive_the_walk(samba_lookup_stub: bytes) -> None:
    walk = LookupWalk(decode=reference_decode_lookup_response)
    _step(walk, samba_lookup_stub)
    fast = LookupWalk()
    _step(fast, samba_lookup_stub)
    assert walk.entries == fast.entries
