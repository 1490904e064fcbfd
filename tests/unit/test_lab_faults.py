"""Lab faults without sockets: parsing the ``fault`` key, the lying bytes, the lying lookups."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from epmscan.errors import LabConfigError, ProtocolError
from epmscan.lab import load_lab_file, single_host_lab
from epmscan.lab.endpoint_map import EndpointMapSession, HostEndpointMap
from epmscan.lab.faults import (
    FAULT_SPECS,
    HTTP_REPLY,
    TLS_ALERT,
    FaultKind,
    HostFault,
    chargen_chunk,
    garbage_bytes,
    greeting_bytes,
    lie_num_ents,
    lying_tower,
    strike,
    strikes_at,
    unterminated_annotation,
    with_alloc_hint,
)
from epmscan.lab.plan import HostPlan, plan_host, random_dynamic_chooser
from epmscan.models import BindOutcome
from epmscan.protocol.client_connection import ClientConnection
from epmscan.protocol.constants import EPM_INTERFACE, NULL_HANDLE, PTYPE_BIND_NAK, PTYPE_FAULT
from epmscan.protocol.epm_client import build_lookup_request, decode_lookup_response
from epmscan.protocol.epm_server import encode_lookup_entry, encode_lookup_response
from epmscan.protocol.events import BindAck, BindNak, BindRequest, Fault, Request
from epmscan.protocol.lookup_walk import LookupWalk
from epmscan.protocol.pdu_stream import PduBuffer, parse_header
from epmscan.protocol.server_connection import ServerConnection
from epmscan.protocol.towers import decode_tower, encode_tower

HOST = '[[hosts]]\naddress = "127.102.0.1"\nprofile = "exchange2010-cas-static"\n'
NIL = "00000000-0000-0000-0000-000000000000"
MEMBER = '[[hosts]]\naddress = "127.102.0.2"\nprofile = "windows-member"\n'


def load(tmp_path: Path, text: str) -> HostFault | None:
    path = tmp_path / "lab.toml"
    path.write_text(text)
    (host,) = load_lab_file(path).hosts
    return host.fault


# --- parsing ----------------------------------------------------------------------------


def test_a_host_without_fault_has_none(tmp_path: Path) -> None:
    assert load(tmp_path, HOST) is None


def test_a_name_gives_the_kind_with_its_defaults(tmp_path: Path) -> None:
    fault = load(tmp_path, HOST + 'fault = "drip"\n')
    assert fault == HostFault(FaultKind.DRIP)
    assert fault.on == {"epm"} and fault.interval == 1.0


def test_inline_table_and_subtable_read_the_same(tmp_path: Path) -> None:
    inline = load(tmp_path, HOST + 'fault = { kind = "bind_nak", reason = 4, on = "rpc" }\n')
    table = load(tmp_path, HOST + '[hosts.fault]\nkind = "bind_nak"\nreason = 4\non = "rpc"\n')
    assert inline == table == HostFault(FaultKind.BIND_NAK, on=frozenset({"rpc"}), reason=4)


def test_reasons_and_packet_types_by_name(tmp_path: Path) -> None:
    nak = load(tmp_path, HOST + 'fault = { kind = "bind_nak", reason = "no_psap_available" }\n')
    assert nak is not None and nak.reason == 7
    reject = load(
        tmp_path,
        HOST + 'fault = { kind = "bind_reject", reason = "abstract_syntax_not_supported",'
        ' rejection = "user" }\n',
    )
    assert reject is not None
    assert (reject.reason, reject.rejection) == (1, BindOutcome.USER_REJECTION)
    ptype = load(tmp_path, HOST + 'fault = { kind = "wrong_ptype", ptype = "bind_nak" }\n')
    assert ptype is not None and ptype.ptype == PTYPE_BIND_NAK


def test_bind_reject_defaults_to_transfer_syntaxes_not_supported(tmp_path: Path) -> None:
    fault = load(tmp_path, HOST + 'fault = "bind_reject"\n')
    assert fault is not None
    assert (fault.reason, fault.rejection) == (2, BindOutcome.PROVIDER_REJECTION)


def test_places_stages_and_calls(tmp_path: Path) -> None:
    fault = load(
        tmp_path, HOST + 'fault = { kind = "garbage", on = ["epm", "rpc", "http"], size = 9 }\n'
    )
    assert fault is not None and fault.on == {"epm", "rpc", "http"} and fault.size == 9
    assert fault.at == "bind"
    called = load(tmp_path, HOST + 'fault = { kind = "frag_long", at = "call", call = 3 }\n')
    assert called is not None and (called.at, called.call) == ("call", 3)
    greeting = load(tmp_path, HOST + 'fault = "greeting_wrong"\n')
    assert greeting is not None and greeting.on == {"http"}
    # wrong_call_id strikes a call by default; on the interface ports there is only the bind.
    elsewhere = load(tmp_path, HOST + 'fault = { kind = "wrong_call_id", on = "rpc" }\n')
    assert elsewhere is not None and elsewhere.at == "bind"


@pytest.mark.parametrize("kind", list(FaultKind))
def test_every_kind_parses_by_name_on_a_profile_with_every_place(kind: FaultKind) -> None:
    config = single_host_lab("exchange2010-cas-static", "127.102.0.3", fault=kind.value)
    fault = config.hosts[0].fault
    assert fault is not None and fault.kind is kind
    assert fault.on == {FAULT_SPECS[kind].places[0]}
    assert fault.describe().startswith(f"{kind.value}@")


def test_describe_names_kind_place_stage_and_options() -> None:
    fault = HostFault(FaultKind.FRAG_LONG, at="call", call=2, extra=8)
    assert fault.describe() == "frag_long@epm,at=call#2,extra=8"
    both = HostFault(FaultKind.BIND_NAK, on=frozenset({"rpc", "epm"}), reason=4)
    assert both.describe() == "bind_nak@epm+rpc,reason=4"
    assert HostFault(FaultKind.FAULT, status=5).describe() == "fault@epm,at=bind,status=0x00000005"


BAD_FAULTS: list[tuple[str, str, str, str]] = [
    (HOST, "fault = 3", "hosts[0].fault", "must be a behaviour name or a table"),
    (HOST, 'fault = "sulk"', "hosts[0].fault", "'sulk' is not a fault (known: silent, drip"),
    (HOST, "fault = { reason = 3 }", "hosts[0].fault.kind", "is required"),
    (HOST, 'fault = { kind = ["drip"] }', "hosts[0].fault.kind", "is not a fault"),
    (
        HOST,
        'fault = { kind = "drip", size = 3 }',
        "hosts[0].fault.size",
        "drip takes no such option (it takes: interval, kind, on)",
    ),
    (
        HOST,
        'fault = { kind = "drip", interval = 0 }',
        "hosts[0].fault.interval",
        "out of range 0.001..60",
    ),
    (
        HOST,
        'fault = { kind = "drip", interval = "1s" }',
        "hosts[0].fault.interval",
        "must be a number of seconds",
    ),
    (HOST, 'fault = { kind = "silent", at = "bind" }', "hosts[0].fault.at", "takes no such"),
    (
        HOST,
        'fault = { kind = "alloc_hint", on = "rpc" }',
        "hosts[0].fault.on",
        "'rpc' is not a place alloc_hint can show on (it can: epm)",
    ),
    (
        HOST,
        'fault = { kind = "greeting_endless", on = "epm" }',
        "hosts[0].fault.on",
        "(it can: http)",
    ),
    (HOST, 'fault = { kind = "silent", on = [] }', "hosts[0].fault.on", "at least one place"),
    (
        HOST,
        'fault = { kind = "frag_short", at = "accept" }',
        "hosts[0].fault.at",
        "'accept' is not one of bind, call",
    ),
    (
        HOST,
        'fault = { kind = "frag_short", at = "call", on = "rpc" }',
        "hosts[0].fault.at",
        'needs on = "epm"',
    ),
    (
        HOST,
        'fault = { kind = "frag_short", call = 2 }',
        "hosts[0].fault.call",
        'goes with at = "call"',
    ),
    (
        HOST,
        'fault = { kind = "frag_short", frag_length = 16 }',
        "hosts[0].fault.frag_length",
        "out of range 0..15",
    ),
    (
        HOST,
        'fault = { kind = "wrong_version", version = "5.1" }',
        "hosts[0].fault.version",
        "DCE/RPC's own version",
    ),
    (
        HOST,
        'fault = { kind = "wrong_version", version = 4 }',
        "hosts[0].fault.version",
        '"MAJOR.MINOR"',
    ),
    (
        HOST,
        'fault = { kind = "wrong_ptype", ptype = "bind_ack" }',
        "hosts[0].fault.ptype",
        "bind_ack is the honest type at bind",
    ),
    (
        HOST,
        'fault = { kind = "wrong_ptype", ptype = 300 }',
        "hosts[0].fault.ptype",
        "out of range 0..255",
    ),
    (
        HOST,
        'fault = { kind = "wrong_ptype", ptype = "hello" }',
        "hosts[0].fault.ptype",
        "'hello' is not one of request, ping",
    ),
    (
        HOST,
        'fault = { kind = "bind_nak", reason = "grumpy" }',
        "hosts[0].fault.reason",
        "is not one of reason_not_specified",
    ),
    (
        HOST,
        'fault = { kind = "bind_reject", rejection = "polite" }',
        "hosts[0].fault.rejection",
        'must be "provider" or "user"',
    ),
    (HOST, 'fault = { kind = "fault", status = -1 }', "hosts[0].fault.status", "out of range"),
    (
        HOST,
        'fault = { kind = "stuck_handle", empty = 1 }',
        "hosts[0].fault.empty",
        "must be true or false",
    ),
    (
        HOST,
        'fault = { kind = "many_entries", count = 1e4 }',
        "hosts[0].fault.count",
        "must be an integer",
    ),
    (
        HOST,
        'fault = { kind = "greeting_wrong", text = "" }',
        "hosts[0].fault.text",
        "string of 1..4096",
    ),
    (
        MEMBER,
        'fault = { kind = "silent", on = "http" }',
        "hosts[0].fault.on",
        "profile windows-member has no ncacn_http ports",
    ),
    (
        MEMBER,
        'fault = "greeting_wrong"',
        "hosts[0].fault",
        "profile windows-member has no ncacn_http ports",
    ),
    (HOST, 'down = true\nfault = "silent"', "hosts[0].fault", "a down host answers nothing"),
    (
        HOST,
        'silent_epm = true\nfault = "garbage"',
        "hosts[0].fault",
        "the endpoint mapper is silent_epm",
    ),
    (
        HOST,
        'filtered_epm = true\nfault = { kind = "garbage" }',
        "hosts[0].fault.on",
        "the endpoint mapper is filtered_epm",
    ),
]


@pytest.mark.parametrize(("host", "line", "key", "message"), BAD_FAULTS)
def test_a_bad_fault_names_file_and_key(
    tmp_path: Path, host: str, line: str, key: str, message: str
) -> None:
    path = tmp_path / "lab.toml"
    path.write_text(host + line + "\n")
    with pytest.raises(LabConfigError) as caught:
        load_lab_file(path)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: {key}: "), text
    assert message in text, text


def test_a_fault_on_the_interface_ports_leaves_a_silent_endpoint_mapper_alone(
    tmp_path: Path,
) -> None:
    fault = load(tmp_path, HOST + 'silent_epm = true\nfault = { kind = "bind_nak", on = "rpc" }\n')
    assert fault is not None and fault.on == {"rpc"}


# --- the lying bytes ---------------------------------------------------------------------


def bound_pair() -> tuple[ServerConnection, BindRequest, bytes]:
    """A server connection fed one EPM bind; the bind and its honest bind_ack."""
    client = ClientConnection()
    server = ServerConnection()
    (bind,) = server.feed(client.bind(EPM_INTERFACE))
    assert isinstance(bind, BindRequest)
    return server, bind, server.bind_ack(bind, lambda context: True, "135")


def request_pair(stub: bytes = bytes(40)) -> tuple[ServerConnection, Request, bytes]:
    """A server connection fed one request, and an honest response of ``stub``."""
    client = ClientConnection()
    server = ServerConnection()
    server.feed(client.bind(EPM_INTERFACE))
    (request,) = server.feed(client.request(2, bytes(40)))
    assert isinstance(request, Request)
    return server, request, server.response(request.call_id, stub, request.context_id)


def client_events(data: bytes, *, bind: bool = True) -> list[Any]:
    client = ClientConnection()
    if bind:
        client.bind(EPM_INTERFACE)
    return client.feed(data)


def test_frag_faults_lie_about_the_length() -> None:
    server, bind, honest = bound_pair()
    short = strike(HostFault(FaultKind.FRAG_SHORT, frag_length=7), honest, bind, server, seed="")
    assert short.data[:8] == honest[:8] and struct.unpack_from("<H", short.data, 8)[0] == 7
    assert short.then == "silent"
    with pytest.raises(ProtocolError, match="frag_length 7 is shorter than the header"):
        parse_header(short.data)
    long = strike(HostFault(FaultKind.FRAG_LONG, extra=10), honest, bind, server, seed="")
    assert struct.unpack_from("<H", long.data, 8)[0] == len(honest) + 10
    assert len(long.data) == len(honest)
    buffer = PduBuffer()
    buffer.feed(long.data)
    assert buffer.next_pdu() is None  # the client waits for ten bytes that never come
    huge = strike(HostFault(FaultKind.FRAG_HUGE), honest, bind, server, seed="")
    assert struct.unpack_from("<H", huge.data, 8)[0] == 0xFFFF


def test_close_mid_pdu_sends_half_then_closes() -> None:
    server, bind, honest = bound_pair()
    hit = strike(HostFault(FaultKind.CLOSE_MID_PDU), honest, bind, server, seed="")
    assert hit.data == honest[: len(honest) // 2] and hit.then == "close"
    assert client_events(hit.data) == []


def test_version_type_and_call_id_lies() -> None:
    server, bind, honest = bound_pair()
    version = strike(
        HostFault(FaultKind.WRONG_VERSION, version=(6, 1)), honest, bind, server, seed=""
    )
    assert version.data[:2] == b"\x06\x01" and version.data[2:] == honest[2:]
    with pytest.raises(ProtocolError, match=r"version 6\.1"):
        client_events(version.data)
    ptype = strike(HostFault(FaultKind.WRONG_PTYPE), honest, bind, server, seed="")
    with pytest.raises(ProtocolError, match="unexpected request PDU"):
        client_events(ptype.data)
    server, request, response = request_pair()
    call_id = strike(
        HostFault(FaultKind.WRONG_CALL_ID, call_id_shift=5), response, request, server, seed=""
    )
    assert struct.unpack_from("<I", call_id.data, 12)[0] == request.call_id + 5


def test_the_call_id_lie_changes_every_fragment() -> None:
    server, request, response = request_pair(bytes(10000))
    assert response.count(b"\x05\x00\x02") >= 3
    hit = strike(HostFault(FaultKind.WRONG_CALL_ID), response, request, server, seed="")
    offset = 0
    while offset < len(hit.data):
        header = parse_header(hit.data[offset:])
        assert header.call_id == request.call_id + 1
        offset += header.frag_length


def test_bind_faults_answer_with_a_nak_or_a_rejection() -> None:
    server, bind, honest = bound_pair()
    nak = strike(HostFault(FaultKind.BIND_NAK, reason=9), honest, bind, server, seed="")
    assert nak.then == "continue" and nak.data[2] == PTYPE_BIND_NAK
    (event,) = client_events(nak.data)
    assert isinstance(event, BindNak) and event.reason_text == "invalid_checksum"
    reject = HostFault(FaultKind.BIND_REJECT, reason=3, rejection=BindOutcome.USER_REJECTION)
    (ack,) = client_events(strike(reject, honest, bind, server, seed="").data)
    assert isinstance(ack, BindAck) and not ack.accepted
    assert ack.results[0].outcome is BindOutcome.USER_REJECTION
    assert ack.results[0].reason_text == "local_limit_exceeded"


def test_a_fault_pdu_answers_the_bind_or_the_call() -> None:
    server, bind, honest = bound_pair()
    on_bind = strike(HostFault(FaultKind.FAULT, status=0x1C010003), honest, bind, server, seed="")
    assert on_bind.data[2] == PTYPE_FAULT and on_bind.then == "continue"
    (event,) = client_events(on_bind.data)
    assert isinstance(event, Fault) and event.status_name == "nca_s_unk_if"


def test_the_endless_response_never_sends_the_last_fragment() -> None:
    server, request, response = request_pair()
    hit = strike(
        HostFault(FaultKind.ENDLESS_RESPONSE, at="call"), response, request, server, seed=""
    )
    assert hit.then == "endless"
    first, middle = parse_header(hit.data), parse_header(hit.endless)
    assert first.flags == 0x01 and middle.flags == 0
    assert first.frag_length == len(hit.data) <= server.response_frag
    assert middle.call_id == first.call_id == request.call_id


def test_alloc_hint_changes_only_the_hint() -> None:
    _, _, response = request_pair(bytes(10000))
    hinted = with_alloc_hint(response, 0xFFFFFFFF)
    assert len(hinted) == len(response)
    offset = 0
    while offset < len(hinted):
        length = parse_header(hinted[offset:]).frag_length
        assert struct.unpack_from("<I", hinted, offset + 16)[0] == 0xFFFFFFFF
        assert hinted[offset : offset + 16] == response[offset : offset + 16]
        assert hinted[offset + 20 : offset + length] == response[offset + 20 : offset + length]
        offset += length


def test_strikes_at_the_bind_or_the_chosen_call() -> None:
    at_bind = HostFault(FaultKind.GARBAGE)
    assert strikes_at(at_bind, "bind", 0) and not strikes_at(at_bind, "call", 1)
    at_call = HostFault(FaultKind.GARBAGE, at="call", call=2)
    assert [strikes_at(at_call, "call", n) for n in (1, 2, 3)] == [False, True, False]
    assert not strikes_at(at_call, "bind", 0)
    assert strikes_at(HostFault(FaultKind.BIND_NAK), "bind", 0)
    assert not strikes_at(HostFault(FaultKind.ALLOC_HINT), "call", 1)


def test_connection_bytes() -> None:
    garbage = garbage_bytes(100, "127.102.0.1:135")
    assert len(garbage) == 100 and garbage == garbage_bytes(100, "127.102.0.1:135")
    assert garbage != garbage_bytes(100, "127.102.0.2:135")
    assert all(garbage_bytes(16, str(seed))[0] != 5 for seed in range(2000))
    assert TLS_ALERT[0] == 0x15 and len(TLS_ALERT) == 7
    assert HTTP_REPLY.startswith(b"HTTP/1.1 400 ")
    chunk = chargen_chunk()
    assert len(chunk) == 4096 and all(0x21 <= byte < 0x7F or byte in b"\r\n" for byte in chunk)
    assert greeting_bytes(HostFault(FaultKind.GREETING_WRONG, text="x")) == (b"x", b"")
    first, endless = greeting_bytes(HostFault(FaultKind.GREETING_ENDLESS))
    assert first == b"ncacn_http/1.0" and endless == b"0" * len(endless)


TCP_TOWER = encode_tower(EPM_INTERFACE, "ncacn_ip_tcp", port=49152, address="127.102.0.1")


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (HostFault(FaultKind.TOWER_FLOOR_COUNT), "tower floor 6 of 7 is missing"),
        (HostFault(FaultKind.TOWER_FLOOR_LENGTH, extra=3), "tower floor 5 is truncated"),
    ],
)
def test_towers_whose_lengths_lie_run_past_their_end(fault: HostFault, message: str) -> None:
    tower = lying_tower(fault, TCP_TOWER)
    assert len(tower) == len(TCP_TOWER)
    decoded = decode_tower(tower)
    assert decoded.error is not None and decoded.error.startswith(message)
    assert decoded.raw == tower and decoded.transport == "unknown"


def test_towers_that_hold_too_little() -> None:
    assert lying_tower(HostFault(FaultKind.TOWER_NO_FLOORS), TCP_TOWER) == b"\x00\x00"
    fewer = lying_tower(HostFault(FaultKind.TOWER_FLOOR_COUNT, floors=3), TCP_TOWER)
    assert fewer[:2] == b"\x03\x00" and fewer[2:] == TCP_TOWER[2:]
    short = lying_tower(HostFault(FaultKind.TOWER_SHORT_FLOOR), TCP_TOWER)
    assert len(short) == len(TCP_TOWER) - 1
    floors = decode_tower(short).floors
    assert floors[3].lhs == b"\x07" and floors[3].rhs == b"\xc0"
    assert decode_tower(short).floors[4] == decode_tower(TCP_TOWER).floors[4]


def test_num_ents_lie_leaves_the_array_alone_unless_asked() -> None:
    entries = [encode_lookup_entry(NIL, TCP_TOWER, "x"), encode_lookup_entry(NIL, TCP_TOWER, "y")]
    stub = encode_lookup_response(NULL_HANDLE, entries, 0)
    lied = lie_num_ents(stub, 3, array=False)
    assert struct.unpack_from("<5I", lied, 20) == (5, 2, 0, 2, 0)
    with pytest.raises(ProtocolError, match="5 announced but the array holds 2"):
        decode_lookup_response(lied)
    both = lie_num_ents(stub, 3, array=True)
    assert struct.unpack_from("<4I", both, 20) == (5, 5, 0, 5)
    with pytest.raises(ProtocolError):
        decode_lookup_response(both)


def test_an_unterminated_annotation_keeps_its_text() -> None:
    entry = encode_lookup_entry(NIL, TCP_TOWER, "Event log TCPIP")
    bare = unterminated_annotation(entry)
    assert struct.unpack_from("<II", bare.inline_annotation) == (0, 15)
    assert bare.inline_annotation[8:23] == b"Event log TCPIP"
    assert len(bare.inline_annotation) % 4 == 0
    (decoded,) = decode_lookup_response(encode_lookup_response(NULL_HANDLE, [bare], 0)).entries
    assert decoded.annotation == "Event log TCPIP"


# --- the lying endpoint mapper ------------------------------------------------------------


def host_plan(**overrides: object) -> HostPlan:
    config = single_host_lab("windows-member", "127.102.0.4", epm_port=13135, **overrides)
    return plan_host(
        config.hosts[0],
        epm_port=13135,
        port_offset=0,
        choose_dynamic=random_dynamic_chooser(lambda port: True),
    )


def walk(session: EndpointMapSession, max_ents: int, pages: int = 10000) -> LookupWalk:
    lookup = LookupWalk(max_ents=max_ents, max_pages=pages)
    while (request := lookup.next_request()) is not None:
        lookup.handle_response(session.lookup(request))
    return lookup


def test_many_entries_pads_the_map_with_fillers() -> None:
    session = EndpointMapSession(
        HostEndpointMap(host_plan(fault={"kind": "many_entries", "count": 1200}))
    )
    lookup = walk(session, 500)
    plan = session.endpoint_map.plan
    assert len(lookup.entries) == 1200 and lookup.pages == 3
    assert [e.annotation for e in lookup.entries[: len(plan.entries)]] == [
        e.annotation for e in plan.entries
    ]
    fillers = lookup.entries[len(plan.entries) :]
    assert {e.tower.transport for e in fillers if e.tower} == {"ncalrpc"}
    assert len({e.tower.interface for e in fillers if e.tower}) == len(fillers)


def test_a_stuck_handle_repeats_the_first_page() -> None:
    session = EndpointMapSession(HostEndpointMap(host_plan(fault="stuck_handle")))
    first = decode_lookup_response(session.lookup(build_lookup_request(max_ents=10)))
    again = decode_lookup_response(
        session.lookup(build_lookup_request(handle=first.handle, max_ents=10))
    )
    assert first.handle == again.handle != NULL_HANDLE
    assert first.entries == again.entries and len(first.entries) == 10
    assert first.status == again.status == 0


def test_a_stuck_empty_handle_is_caught_by_the_walk() -> None:
    session = EndpointMapSession(
        HostEndpointMap(host_plan(fault={"kind": "stuck_handle", "empty": True}))
    )
    with pytest.raises(ProtocolError, match="does not advance"):
        walk(session, 10)


def test_endless_pages_go_round_the_map_with_new_handles() -> None:
    session = EndpointMapSession(
        HostEndpointMap(host_plan(fault={"kind": "endless_pages", "per_page": 7}))
    )
    with pytest.raises(ProtocolError, match="did not end within 300 pages"):
        walk(session, 10, pages=300)
    plan = session.endpoint_map.plan
    handles = set()
    for _ in range(3):
        response = decode_lookup_response(session.lookup(build_lookup_request(max_ents=5)))
        handles.add(response.handle)
        assert len(response.entries) == 5 and response.status == 0
    assert len(handles) == 3 and NULL_HANDLE not in handles
    assert len(plan.entries) > 7


def test_num_ents_lies_on_the_chosen_page_only() -> None:
    session = EndpointMapSession(
        HostEndpointMap(host_plan(fault={"kind": "num_ents_lie", "page": 2}))
    )
    first = session.lookup(build_lookup_request(max_ents=10))
    response = decode_lookup_response(first)
    with pytest.raises(ProtocolError, match="74 announced but the array holds 10"):
        decode_lookup_response(
            session.lookup(build_lookup_request(handle=response.handle, max_ents=10))
        )


def test_tower_faults_change_the_first_tcp_towers_of_the_lookup_only() -> None:
    endpoint_map = HostEndpointMap(host_plan(fault={"kind": "tower_no_floors", "entries": 2}))
    honest, sent = endpoint_map.towers, endpoint_map.lookup_towers
    changed = [i for i, tower in enumerate(sent) if tower != honest[i]]
    tcp = [i for i, e in enumerate(endpoint_map.plan.entries) if e.transport == "ncacn_ip_tcp"]
    assert changed == tcp[:2]
    assert all(sent[i] == b"\x00\x00" for i in changed)
    # ept_map answers from the honest towers.
    assert endpoint_map.towers == tuple(
        encode_tower(e.interface, e.transport, port=e.port, address=e.address, endpoint=e.endpoint)
        for e in endpoint_map.plan.entries
    )


def test_a_host_without_lookup_fault_sends_its_honest_towers() -> None:
    for fault in (None, "drip", "alloc_hint"):
        overrides = {} if fault is None else {"fault": fault}
        endpoint_map = HostEndpointMap(host_plan(**overrides))
        assert endpoint_map.fault is None
        assert endpoint_map.lookup_towers == endpoint_map.towers
