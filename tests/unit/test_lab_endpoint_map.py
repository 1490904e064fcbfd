"""The emulated endpoint mapper's calls, without sockets: paging styles, filters, ept_map."""

from __future__ import annotations

import struct

import pytest

from epmscan.lab import single_host_lab
from epmscan.lab.catalog import CATALOG
from epmscan.lab.endpoint_map import CallFault, EndpointMapSession, HostEndpointMap
from epmscan.lab.plan import HostPlan, plan_host, random_dynamic_chooser
from epmscan.protocol.constants import (
    EPT_S_NOT_REGISTERED,
    NULL_HANDLE,
    RPC_C_EP_MATCH_BY_IF,
    RPC_C_VERS_EXACT,
)
from epmscan.protocol.epm_client import (
    build_lookup_handle_free,
    build_lookup_request,
    build_map_request,
    decode_lookup_response,
    decode_map_response,
)
from epmscan.protocol.lookup_walk import LookupWalk
from epmscan.protocol.towers import decode_tower


def host_plan(**overrides: object) -> HostPlan:
    config = single_host_lab("exchange2010-cas-static", "127.9.2.1", epm_port=13135, **overrides)
    return plan_host(
        config.hosts[0],
        epm_port=13135,
        port_offset=0,
        choose_dynamic=random_dynamic_chooser(lambda port: True),
    )


def session(paging: str = "windows", **overrides: object) -> EndpointMapSession:
    return EndpointMapSession(HostEndpointMap(host_plan(paging=paging, **overrides)))


def walk(sess: EndpointMapSession, max_ents: int) -> tuple[LookupWalk, list[tuple[int, int, bool]]]:
    """Run a lookup walk; return it and (entries, status, null handle) per page."""
    lookup = LookupWalk(max_ents=max_ents)
    pages = []
    while (request := lookup.next_request()) is not None:
        stub = sess.lookup(request)
        response = decode_lookup_response(stub)
        pages.append((len(response.entries), response.status, response.handle == NULL_HANDLE))
        lookup.handle_response(stub)
    return lookup, pages


def test_encoded_entries_match_the_plan() -> None:
    sess = session()
    plan = sess.endpoint_map.plan
    lookup, pages = walk(sess, 500)
    assert pages == [(len(plan.entries), 0, True)]
    assert len(lookup.entries) == len(plan.entries) > 100
    for entry, registered in zip(lookup.entries, plan.entries, strict=True):
        assert entry.tower is not None
        assert entry.annotation == registered.annotation
        assert entry.tower.interface == registered.interface
        assert entry.tower.transport == registered.transport
        assert entry.tower.port == registered.port
        if registered.transport != "ncalrpc":
            assert entry.tower.address == registered.address
    assert sess.endpoint_map.encoded is sess.endpoint_map.encoded  # built once


@pytest.mark.parametrize("max_ents", [1, 7, 10, 50])
def test_windows_paging(max_ents: int) -> None:
    sess = session("windows")
    total = len(sess.endpoint_map.plan.entries)
    lookup, pages = walk(sess, max_ents)
    assert len(lookup.entries) == total
    assert all(status == 0 for _, status, _ in pages)
    assert [null for _, _, null in pages] == [False] * (len(pages) - 1) + [True]
    assert pages[-1][0] == (total % max_ents or max_ents)
    assert sess.open_handles == 0


@pytest.mark.parametrize("max_ents", [1, 7, 10, 50])
def test_samba_paging_ends_with_entries_and_not_registered(max_ents: int) -> None:
    sess = session("samba")
    total = len(sess.endpoint_map.plan.entries)
    lookup, pages = walk(sess, max_ents)
    assert len(lookup.entries) == total
    assert pages[-1] == (total % max_ents or max_ents, EPT_S_NOT_REGISTERED, True)
    assert all(page[1:] == (0, False) for page in pages[:-1])
    assert lookup.final_status == EPT_S_NOT_REGISTERED


@pytest.mark.parametrize("max_ents", [1, 10, 500])
def test_samba_dc_paging_ends_with_an_empty_batch(max_ents: int) -> None:
    sess = session("samba-dc")
    total = len(sess.endpoint_map.plan.entries)
    lookup, pages = walk(sess, max_ents)
    assert len(lookup.entries) == total
    assert pages[-1] == (0, EPT_S_NOT_REGISTERED, True)
    assert all(page[1:] == (0, False) for page in pages[:-1])
    assert sum(count for count, _, _ in pages) == total


def test_exact_multiple_pages() -> None:
    total = len(host_plan().entries)
    _, windows = walk(session("windows"), total)
    assert windows == [(total, 0, True)]
    _, samba = walk(session("samba"), total)
    assert samba == [(total, EPT_S_NOT_REGISTERED, True)]


def test_match_by_interface_and_version() -> None:
    sess = session()
    mapi = CATALOG["mapi"].interface
    stub = sess.lookup(build_lookup_request(inquiry_type=RPC_C_EP_MATCH_BY_IF, interface=mapi))
    response = decode_lookup_response(stub)
    transports = sorted(e.tower.transport for e in response.entries if e.tower is not None)
    assert transports == ["ncacn_http", "ncacn_ip_tcp"]
    assert {e.tower.interface for e in response.entries if e.tower is not None} == {mapi}
    wrong_minor = type(mapi)(mapi.uuid, mapi.major, mapi.minor + 1)
    stub = sess.lookup(
        build_lookup_request(
            inquiry_type=RPC_C_EP_MATCH_BY_IF,
            interface=wrong_minor,
            vers_option=RPC_C_VERS_EXACT,
        )
    )
    response = decode_lookup_response(stub)
    assert (response.entries, response.status, response.handle) == (
        (),
        EPT_S_NOT_REGISTERED,
        NULL_HANDLE,
    )


def test_absent_interface_is_not_registered_in_every_style() -> None:
    for paging in ("windows", "samba", "samba-dc"):
        stub = session(paging).lookup(
            build_lookup_request(
                inquiry_type=RPC_C_EP_MATCH_BY_IF,
                interface=CATALOG["drsuapi"].interface,
            )
        )
        response = decode_lookup_response(stub)
        assert (len(response.entries), response.status) == (0, EPT_S_NOT_REGISTERED)


def test_ept_map_answers_the_tower_of_the_asked_protocol() -> None:
    sess = session(ports={"mapi": 6123})
    mapi = CATALOG["mapi"].interface
    tcp = decode_map_response(sess.map(build_map_request(mapi, "ncacn_ip_tcp")))
    assert tcp.status == 0
    assert [(t.transport, t.port, t.address) for t in tcp.towers] == [
        ("ncacn_ip_tcp", 6123, "127.9.2.1")
    ]
    http = decode_map_response(sess.map(build_map_request(mapi, "ncacn_http")))
    assert [(t.transport, t.port) for t in http.towers] == [("ncacn_http", 6001)]
    lsass = decode_map_response(sess.map(build_map_request(CATALOG["samr"].interface)))
    assert [t.port for t in lsass.towers] == [sess.endpoint_map.plan.tcp_endpoints["lsarpc"]]
    absent = decode_map_response(sess.map(build_map_request(CATALOG["drsuapi"].interface)))
    assert (absent.status, absent.towers, absent.handle) == (EPT_S_NOT_REGISTERED, (), NULL_HANDLE)


def test_handle_free_forgets_the_walk_and_unknown_handles_fault() -> None:
    sess = session()
    first = decode_lookup_response(sess.lookup(build_lookup_request(max_ents=3)))
    assert first.handle != NULL_HANDLE and sess.open_handles == 1
    answer = sess.lookup_handle_free(build_lookup_handle_free(first.handle))
    assert answer == NULL_HANDLE + struct.pack("<I", 0)
    assert sess.open_handles == 0
    with pytest.raises(CallFault) as caught:
        sess.lookup(build_lookup_request(handle=first.handle, max_ents=3))
    assert caught.value.status == 0x1C00001A


def test_garbage_stub_is_a_bad_stub_fault() -> None:
    with pytest.raises(CallFault) as caught:
        session().lookup(b"\x00\x01")
    assert caught.value.status == 0x6F7
    with pytest.raises(CallFault):
        session().map(b"\x00\x00\x00\x00\x00\x00\x00\x00")


def test_zero_address_towers_decode_as_zero() -> None:
    sess = session(zero_address_towers=True)
    tcp = decode_map_response(sess.map(build_map_request(CATALOG["mapi"].interface)))
    assert decode_tower(sess.endpoint_map.towers[0]).address == "0.0.0.0"
    assert tcp.towers[0].address == "0.0.0.0"
