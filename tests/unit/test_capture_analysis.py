"""The analysis core on synthetic flows: records in, mappings, connections and verdicts out.

The flows are built by tests/support/synthetic.py (the scanner's encoders for the DCE/RPC
bytes); every expectation is a fact of the flow the test built: the port the tower named,
the frame that carried the answer, how many SYNs were sent, which TTL the reset had.
"""

from __future__ import annotations

import random
import re
import struct

import pytest

from epmscan.app.pcap import judged
from epmscan.capture.analysis import CaptureAnalyzer
from epmscan.capture.flows import Limits
from epmscan.capture.records import Record
from epmscan.models import BindOutcome, InterfaceId
from epmscan.models.capture import (
    CaptureInfo,
    CaptureReport,
    Connection,
    ConnectionOutcome,
    ConnectionRole,
    ResetSource,
    Verdict,
)
from epmscan.protocol.client_connection import ClientConnection
from epmscan.protocol.constants import (
    EPM_INTERFACE,
    EPT_S_NOT_REGISTERED,
    NDR64_SYNTAX,
    NULL_HANDLE,
    OP_EPT_MAP,
    PROVIDER_REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED,
)
from epmscan.protocol.epm_client import build_lookup_request, build_map_request
from epmscan.protocol.epm_server import (
    encode_lookup_entry,
    encode_lookup_response,
    encode_map_response,
)
from epmscan.protocol.events import ContextResult
from epmscan.protocol.server_connection import ServerConnection
from epmscan.protocol.towers import encode_tower
from tests.support.synthetic import (
    MAPI,
    NSPI,
    RFR,
    Tcp,
    Trace,
    bind_exchange,
    epm_lookup_exchange,
    epm_map_exchange,
    feed_bind,
    feed_request,
    greeting_exchange,
    tcp_tower,
)

CLIENT, SERVER, ROUTER = "192.0.2.10", "198.51.100.20", "203.0.113.1"
MAPI_NAME = "[MS-OXCRPC]: Exchange EMSMDB (MAPI)"
LSARPC = InterfaceId("12345778-1234-abcd-ef00-0123456789ab", 0, 0)


def analyze(records: list[Record], limits: Limits | None = None) -> CaptureReport:
    analyzer = CaptureAnalyzer(limits)
    for record in records:
        analyzer.add(record)
    return judged(
        analyzer.finish(CaptureInfo("test", "records", len(records), 0, None, None, True))
    )


def mapped(trace: Trace, interface: InterfaceId = MAPI, port: int = 60001) -> Tcp:
    """An ept_map conversation resolving ``interface`` to ``port``; returns its connection."""
    epm = Tcp(trace, CLIENT, 49700, SERVER, 135)
    epm.handshake()
    epm_map_exchange(epm, interface, [tcp_tower(interface, port)])
    epm.close()
    return epm


def only(items: tuple[Connection, ...], port: int) -> Connection:
    found = [c for c in items if c.port == port]
    assert len(found) == 1, found
    return found[0]


def verdict_for(report: CaptureReport, port: int | None, uuid: str | None = MAPI.uuid) -> Verdict:
    found = [v for v in report.verdicts if v.port == port and v.uuid == uuid]
    assert len(found) == 1, report.verdicts
    return found[0]


# --- the endpoint mapper conversation -------------------------------------------------------


def test_ept_map_answer_becomes_a_mapping_with_its_frame() -> None:
    trace = Trace()
    epm = Tcp(trace, CLIENT, 49700, SERVER, 135)
    epm.handshake()
    epm_map_exchange(epm, MAPI, [tcp_tower(MAPI, 60001)])
    answer_frame = len(trace.records)
    request_frame = answer_frame - 1
    epm.close()
    report = analyze(trace.records)

    (mapping,) = report.mappings
    assert (mapping.client, mapping.server) == (CLIENT, SERVER)
    assert (mapping.interface, mapping.uuid, mapping.version) == (MAPI_NAME, MAPI.uuid, "0.81")
    assert (mapping.exchange, mapping.transport, mapping.port) == ("mapi", "ncacn_ip_tcp", 60001)
    assert mapping.address == SERVER, "a 0.0.0.0 tower means the server asked"
    assert (mapping.frame, mapping.request_frame) == (answer_frame, request_frame)
    assert mapping.operation == "ept_map"
    (call,) = report.epm_calls
    assert (call.operation, call.uuid, call.transport) == ("ept_map", MAPI.uuid, "ncacn_ip_tcp")
    assert (call.frame, call.response_frame, call.status, call.towers) == (
        request_frame,
        answer_frame,
        0,
        1,
    )
    (connection,) = report.connections
    assert connection.role is ConnectionRole.EPM
    assert connection.outcome is ConnectionOutcome.ESTABLISHED and connection.bind == "bound"
    epm_verdict = verdict_for(report, 135, EPM_INTERFACE.uuid)
    assert epm_verdict.status == "ok"
    mapi = verdict_for(report, 60001)
    assert mapi.status == "not_probed"
    assert mapi.text == (
        f"client {CLIENT} asked {SERVER} for MAPI, got port 60001; "
        "it did not connect to 60001 in this capture"
    )


def test_tower_with_another_address_is_watched_there() -> None:
    trace = Trace()
    epm = Tcp(trace, CLIENT, 49700, SERVER, 135)
    epm.handshake()
    epm_map_exchange(epm, MAPI, [tcp_tower(MAPI, 60001, "198.51.100.99")])
    other = Tcp(trace, CLIENT, 49701, "198.51.100.99", 60001)
    other.handshake()
    bind_exchange(other, MAPI)
    report = analyze(trace.records)
    assert report.mappings[0].address == "198.51.100.99"
    connection = only(report.connections, 60001)
    assert connection.server == "198.51.100.99" and connection.bind == "bound"
    verdict = verdict_for(report, 60001)
    assert verdict.status == "bound"
    assert "got 198.51.100.99 port 60001" in verdict.text


def test_client_keeping_the_mappers_address_for_a_tower_with_another() -> None:
    trace = Trace()
    epm = Tcp(trace, CLIENT, 49700, SERVER, 135)
    epm.handshake()
    epm_map_exchange(epm, MAPI, [tcp_tower(MAPI, 60001, "10.20.30.40")])
    conn = Tcp(trace, CLIENT, 49701, SERVER, 60001)
    conn.syn()
    conn.syn()
    report = analyze(trace.records)
    connection = only(report.connections, 60001)
    assert (connection.server, connection.outcome) == (SERVER, ConnectionOutcome.FILTERED)
    verdict = verdict_for(report, 60001)
    assert verdict.status == "filtered"
    assert "got 10.20.30.40 port 60001" in verdict.text


def test_not_registered_answer() -> None:
    trace = Trace()
    epm = Tcp(trace, CLIENT, 49700, SERVER, 135)
    epm.handshake()
    epm_map_exchange(epm, MAPI, [], status=EPT_S_NOT_REGISTERED)
    report = analyze(trace.records)
    assert report.mappings == ()
    (call,) = report.epm_calls
    assert (call.status, call.status_name, call.towers) == (
        EPT_S_NOT_REGISTERED,
        "ept_s_not_registered",
        0,
    )
    verdict = verdict_for(report, None)
    assert verdict.status == "not_registered"
    assert "0x16c9a0d6 ept_s_not_registered" in verdict.text


def test_a_request_without_answer() -> None:
    trace = Trace()
    epm = Tcp(trace, CLIENT, 49700, SERVER, 135)
    epm.handshake()
    client, server = ClientConnection(), ServerConnection()
    bind = client.bind(EPM_INTERFACE)
    epm.client_sends(bind)
    request = feed_bind(server, bind)
    epm.server_sends(server.bind_ack(request, lambda _c: True))
    epm.client_sends(client.request(OP_EPT_MAP, build_map_request(MAPI)))
    report = analyze(trace.records)
    (call,) = report.epm_calls
    assert call.response_frame is None and call.status is None
    assert verdict_for(report, None).status == "timeout"
    assert verdict_for(report, 135, EPM_INTERFACE.uuid).status == "timeout"


def test_ept_lookup_gives_every_tower_and_the_connection_after_it() -> None:
    trace = Trace()
    epm = Tcp(trace, CLIENT, 49700, SERVER, 135)
    epm.handshake()
    entries = [
        (tcp_tower(LSARPC, 49152), "lsa"),
        (encode_tower(LSARPC, "ncacn_np", endpoint="\\pipe\\lsarpc", address="HOST"), "lsa"),
        (tcp_tower(MAPI, 60001), "MAPI"),
        (encode_tower(NSPI, "ncacn_http", port=6004), "nspi over http"),
    ]
    epm_lookup_exchange(epm, entries)
    epm.close()
    lsa = Tcp(trace, CLIENT, 49701, SERVER, 49152)
    lsa.handshake()
    bind_exchange(lsa, LSARPC)
    report = analyze(trace.records)

    got = [(m.uuid, m.transport, m.port, m.endpoint, m.annotation) for m in report.mappings]
    assert got == [
        (LSARPC.uuid, "ncacn_ip_tcp", 49152, None, "lsa"),
        (LSARPC.uuid, "ncacn_np", None, "\\pipe\\lsarpc", "lsa"),
        (MAPI.uuid, "ncacn_ip_tcp", 60001, None, "MAPI"),
        (NSPI.uuid, "ncacn_http", 6004, None, "nspi over http"),
    ]
    assert {m.operation for m in report.mappings} == {"ept_lookup"}
    (call,) = report.epm_calls
    assert (call.operation, call.towers, call.status) == ("ept_lookup", 4, EPT_S_NOT_REGISTERED)
    connection = only(report.connections, 49152)
    assert connection.role is ConnectionRole.RESOLVED
    assert (connection.bind, connection.uuid) == ("bound", LSARPC.uuid)
    verdict = verdict_for(report, 49152, LSARPC.uuid)
    assert verdict.status == "bound"


def test_a_big_answer_in_segments_out_of_order_with_retransmissions() -> None:
    trace = Trace()
    epm = Tcp(trace, CLIENT, 49700, SERVER, 135, mss=200)
    epm.handshake()
    entries = [(tcp_tower(LSARPC, 49152 + n), f"entry {n}") for n in range(300)]
    client, server = ClientConnection(), ServerConnection()
    bind = client.bind(EPM_INTERFACE)
    epm.client_sends(bind)
    bind_request = feed_bind(server, bind)
    epm.server_sends(server.bind_ack(bind_request, lambda _c: True))
    request = client.request(2, build_lookup_request())
    epm.client_sends(request)
    call = feed_request(server, request)
    stub = encode_lookup_response(
        NULL_HANDLE,
        [encode_lookup_entry("00000000-0000-0000-0000-000000000000", t, a) for t, a in entries],
        EPT_S_NOT_REGISTERED,
    )
    answer = server.response(call.call_id, stub)
    assert len(answer) > 20 * 200, "the answer must span many segments and fragments"
    pieces = epm.server_segments(answer)
    rng = random.Random(7)
    shuffled = pieces + rng.sample(pieces, 10)
    rng.shuffle(shuffled)
    for seq, piece in shuffled:
        epm.put_server(seq, piece)
    report = analyze(trace.records)
    assert [m.port for m in report.mappings] == [49152 + n for n in range(300)]
    assert [m.annotation for m in report.mappings] == [f"entry {n}" for n in range(300)]
    assert report.notes == ()


def _map_answer_segments(trace: Trace) -> tuple[Tcp, list[tuple[int, bytes]]]:
    """An EPM connection up to the ept_map request; the answer's segments, not yet sent."""
    epm = Tcp(trace, CLIENT, 49700, SERVER, 135, mss=60)
    epm.handshake()
    client, server = ClientConnection(), ServerConnection()
    bind = client.bind(EPM_INTERFACE)
    epm.client_sends(bind)
    bind_request = feed_bind(server, bind)
    epm.server_sends(server.bind_ack(bind_request, lambda _c: True))
    request = client.request(OP_EPT_MAP, build_map_request(MAPI))
    epm.client_sends(request)
    call = feed_request(server, request)
    answer = server.response(
        call.call_id, encode_map_response(NULL_HANDLE, [tcp_tower(MAPI, 60001)], 0)
    )
    return epm, epm.server_segments(answer)


def test_a_segment_missing_from_the_capture_is_a_note_not_a_crash() -> None:
    trace = Trace()
    epm, pieces = _map_answer_segments(trace)
    assert len(pieces) >= 3
    for seq, piece in pieces[:1] + pieces[2:]:
        epm.put_server(seq, piece)
    epm.close()
    report = analyze(trace.records)
    assert report.mappings == ()
    (call_seen,) = report.epm_calls
    assert call_seen.response_frame is None
    missing = len(pieces[1][1])
    assert any(f"{missing} bytes are missing from the capture" in n for n in report.notes)


def test_a_capture_ending_inside_an_answer_is_a_note() -> None:
    trace = Trace()
    epm, pieces = _map_answer_segments(trace)
    epm.put_server(*pieces[0])
    report = analyze(trace.records)
    assert report.mappings == ()
    assert any(f"ends inside a PDU ({len(pieces[0][1])} bytes" in n for n in report.notes)


# --- the connection to the resolved port ---------------------------------------------------


def test_a_connects_and_binds() -> None:
    trace = Trace()
    mapped(trace)
    conn = Tcp(trace, CLIENT, 49800, SERVER, 60001)
    first_syn = trace.next_frame
    conn.handshake()
    bind_exchange(conn, MAPI)
    conn.close()
    report = analyze(trace.records)
    connection = only(report.connections, 60001)
    assert connection.frame == first_syn
    assert connection.role is ConnectionRole.RESOLVED
    assert connection.outcome is ConnectionOutcome.ESTABLISHED
    assert (connection.syn_count, connection.synack_ttl) == (1, conn.server_ttl)
    assert (connection.bind, connection.interface, connection.uuid, connection.exchange) == (
        "bound",
        MAPI_NAME,
        MAPI.uuid,
        "mapi",
    )
    assert connection.ended == "fin"
    verdict = verdict_for(report, 60001)
    assert verdict.status == "bound"
    assert verdict.text == (
        f"client {CLIENT} asked {SERVER} for MAPI, got port 60001; "
        "connected to 60001 and the bind was accepted"
    )


def test_b_reset_by_the_server_itself() -> None:
    trace = Trace()
    mapped(trace)
    conn = Tcp(trace, CLIENT, 49800, SERVER, 60001)
    conn.syn()
    conn.reset_by_server()
    report = analyze(trace.records)
    connection = only(report.connections, 60001)
    assert connection.outcome is ConnectionOutcome.CLOSED
    assert (connection.reset_ttl, connection.server_ttl) == (conn.server_ttl, conn.server_ttl)
    assert connection.reset_source is ResetSource.SERVER
    verdict = verdict_for(report, 60001)
    assert verdict.status == "closed"
    assert "reset by the server itself (TTL 125" in verdict.text
    assert "nothing listens on 60001" in verdict.text


def test_c_reset_by_a_device_on_the_path() -> None:
    trace = Trace()
    mapped(trace)
    conn = Tcp(trace, CLIENT, 49800, SERVER, 60001)
    conn.syn()
    conn.reset_by_server(ttl=252)
    report = analyze(trace.records)
    connection = only(report.connections, 60001)
    assert connection.outcome is ConnectionOutcome.CLOSED
    assert connection.reset_source is ResetSource.PATH
    verdict = verdict_for(report, 60001)
    assert verdict.status == "closed"
    expected = "reset by a device on the path (TTL 252; the server's own packets come with TTL 125)"
    assert expected in verdict.text


def test_reset_without_a_syn_ack_to_compare_is_unknown() -> None:
    trace = Trace()
    conn = Tcp(trace, CLIENT, 49800, SERVER, 135)
    conn.syn()
    conn.reset_by_server()
    report = analyze(trace.records)
    (connection,) = report.connections
    assert connection.reset_source is ResetSource.UNKNOWN
    verdict = verdict_for(report, 135, EPM_INTERFACE.uuid)
    assert verdict.status == "closed"
    assert "nothing can be resolved" in verdict.text


def test_d_three_syns_without_answer() -> None:
    trace = Trace()
    mapped(trace)
    conn = Tcp(trace, CLIENT, 49800, SERVER, 60001, client_ttl=126)
    conn.syn()
    trace.wait(3)
    conn.syn()
    trace.wait(6)
    conn.syn()
    report = analyze(trace.records)
    connection = only(report.connections, 60001)
    assert connection.outcome is ConnectionOutcome.FILTERED
    assert connection.syn_count == 3
    assert connection.waited == pytest.approx(9.002)
    verdict = verdict_for(report, 60001)
    assert verdict.status == "filtered"
    assert verdict.text == (
        f"client {CLIENT} asked {SERVER} for MAPI, got port 60001; "
        "its 3 SYNs to 60001 got no answer in 9.0 s: blocked between them"
    )


def test_filtered_beside_the_server_names_its_firewall() -> None:
    trace = Trace()
    epm = Tcp(trace, CLIENT, 49700, SERVER, 135, client_ttl=120, server_ttl=128)
    epm.handshake()
    epm_map_exchange(epm, MAPI, [tcp_tower(MAPI, 60001)])
    conn = Tcp(trace, CLIENT, 49800, SERVER, 60001, client_ttl=120)
    conn.syn()
    conn.syn()
    report = analyze(trace.records)
    verdict = verdict_for(report, 60001)
    assert verdict.status == "filtered"
    assert "the server's own firewall drops them" in verdict.text


def test_e_icmp_administratively_prohibited_from_a_router() -> None:
    trace = Trace()
    mapped(trace)
    conn = Tcp(trace, CLIENT, 49800, SERVER, 60001)
    syn = conn.syn()
    trace.icmp_unreachable(ROUTER, 13, syn)
    report = analyze(trace.records)
    connection = only(report.connections, 60001)
    assert connection.outcome is ConnectionOutcome.UNREACHABLE
    assert (connection.icmp_type, connection.icmp_code, connection.icmp_from) == (3, 13, ROUTER)
    prohibited = "destination unreachable: communication administratively prohibited"
    assert connection.icmp_text == prohibited
    verdict = verdict_for(report, 60001)
    assert verdict.status == "unreachable"
    assert f"(type 3 code 13) from {ROUTER}" in verdict.text


def test_windows_retrying_after_resets_is_one_attempt() -> None:
    trace = Trace()
    mapped(trace)
    conn = Tcp(trace, CLIENT, 49800, SERVER, 60001)
    for _ in range(3):
        conn.syn()
        conn.reset_by_server()
        trace.wait(0.5)
    report = analyze(trace.records)
    connection = only(report.connections, 60001)
    assert (connection.outcome, connection.syn_count) == (ConnectionOutcome.CLOSED, 3)
    assert "its 3 SYNs to 60001 were reset by the server itself" in verdict_for(report, 60001).text


def test_a_new_connection_on_the_same_ports_is_another_connection() -> None:
    trace = Trace()
    mapped(trace)
    first = Tcp(trace, CLIENT, 49800, SERVER, 60001)
    first.handshake()
    bind_exchange(first, MAPI)
    first.close()
    second = Tcp(trace, CLIENT, 49800, SERVER, 60001, client_isn=9_000_000)
    second.syn()
    report = analyze(trace.records)
    outcomes = [c.outcome for c in report.connections if c.port == 60001]
    assert outcomes == [ConnectionOutcome.ESTABLISHED, ConnectionOutcome.FILTERED]
    verdict = verdict_for(report, 60001)
    assert verdict.status == "filtered"
    assert "last of 2 connections: 1 bound, 1 filtered" in verdict.text


def test_bind_refused_unanswered_or_garbled() -> None:
    trace = Trace()
    mapped(trace)
    refused = Tcp(trace, CLIENT, 49801, SERVER, 60001)
    refused.handshake()
    bind_exchange(refused, MAPI, accept=False)
    silent = Tcp(trace, CLIENT, 49802, SERVER, 60001)
    silent.handshake()
    silent.client_sends(ClientConnection().bind(MAPI))
    garbled = Tcp(trace, CLIENT, 49803, SERVER, 60001)
    garbled.handshake()
    garbled.client_sends(ClientConnection().bind(MAPI))
    garbled.server_sends(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    report = analyze(trace.records)
    by_port = {c.client_port: c for c in report.connections}
    assert by_port[49801].bind == "wrong_service"
    assert by_port[49801].bind_detail == "provider_rejection: abstract_syntax_not_supported"
    assert by_port[49802].bind == "timeout"
    assert by_port[49803].bind == "protocol_error"
    assert verdict_for(report, 60001).status == "protocol_error"


def test_a_bind_for_another_interface_does_not_count_for_this_one() -> None:
    trace = Trace()
    epm = Tcp(trace, CLIENT, 49700, SERVER, 135)
    epm.handshake()
    epm_map_exchange(epm, NSPI, [tcp_tower(NSPI, 60002)])
    epm_map_exchange(epm, RFR, [tcp_tower(RFR, 60002)])
    conn = Tcp(trace, CLIENT, 49800, SERVER, 60002)
    conn.handshake()
    bind_exchange(conn, RFR)
    report = analyze(trace.records)
    assert verdict_for(report, 60002, RFR.uuid).status == "bound"
    nspi = verdict_for(report, 60002, NSPI.uuid)
    assert nspi.status == "not_probed"


def test_capture_starting_mid_connection() -> None:
    trace = Trace()
    mapped(trace)
    conn = Tcp(trace, CLIENT, 49800, SERVER, 60001)
    conn.client_sends(b"\x00" * 300)
    conn.server_sends(b"\x00" * 300)
    report = analyze(trace.records)
    connection = only(report.connections, 60001)
    assert connection.midstream and connection.syn_count == 0
    assert connection.outcome is ConnectionOutcome.ESTABLISHED
    assert report.notes == (), "a stream caught in the middle is not a finding"


def test_client_data_after_its_syn_proves_the_answer_the_capture_missed() -> None:
    trace = Trace()
    mapped(trace)
    conn = Tcp(trace, CLIENT, 49800, SERVER, 60001)
    conn.syn()
    conn.client_sends(ClientConnection().bind(MAPI))
    report = analyze(trace.records)
    connection = only(report.connections, 60001)
    assert connection.outcome is ConnectionOutcome.ESTABLISHED


def test_unrelated_traffic_is_not_followed() -> None:
    trace = Trace()
    web = Tcp(trace, CLIENT, 49900, SERVER, 443)
    web.handshake()
    web.client_sends(b"\x16\x03\x01" + bytes(500))
    early = Tcp(trace, CLIENT, 49901, SERVER, 60001)
    early.syn()
    report = analyze(trace.records)
    assert report.connections == () and report.verdicts == ()


# --- RPC over HTTP ------------------------------------------------------------------------------


def test_ncacn_http_greeting_on_6001_then_a_bind() -> None:
    trace = Trace()
    conn = Tcp(trace, CLIENT, 49800, SERVER, 6001)
    conn.handshake()
    greeting_exchange(conn, MAPI)
    report = analyze(trace.records)
    (connection,) = report.connections
    assert connection.role is ConnectionRole.RPC_HTTP
    assert (connection.greeting, connection.banner) == ("ncacn_http", "ncacn_http/1.0")
    assert connection.bind == "bound" and connection.uuid == MAPI.uuid
    verdict = verdict_for(report, 6001)
    assert verdict.status == "bound" and "ncacn_http/1.0 greeting" in verdict.text


def test_greeting_split_over_segments() -> None:
    trace = Trace()
    conn = Tcp(trace, CLIENT, 49800, SERVER, 6004)
    conn.handshake()
    conn.server_sends(b"ncacn_")
    conn.server_sends(b"http/1.0")
    report = analyze(trace.records)
    (connection,) = report.connections
    assert connection.greeting == "ncacn_http" and connection.bind is None
    verdict = verdict_for(report, 6004, None)
    assert verdict.status == "ncacn_http"


@pytest.mark.parametrize(
    ("sent", "status"),
    [(b"HTTP/1.1 400 Bad Request\r\n\x1b[2J", "other_service"), (b"", "silent")],
)
def test_another_service_or_silence_on_6002(sent: bytes, status: str) -> None:
    trace = Trace()
    conn = Tcp(trace, CLIENT, 49800, SERVER, 6002)
    conn.handshake()
    if sent:
        conn.server_sends(sent)
    conn.close()
    report = analyze(trace.records)
    (connection,) = report.connections
    assert connection.greeting == status
    verdict = verdict_for(report, 6002, None)
    assert verdict.status == status
    assert verdict.exchange == "rfr"
    if sent:
        assert connection.banner == "HTTP/1.1 400 Bad Request \x1b[2J"


# --- bounds ------------------------------------------------------------------------------------


def test_more_flows_than_the_bound_are_all_reported() -> None:
    trace = Trace()
    for port in range(40):
        Tcp(trace, CLIENT, 50000 + port, SERVER, 135).syn()
    report = analyze(trace.records, Limits(max_flows=10))
    assert len(report.connections) == 40
    assert {c.outcome for c in report.connections} == {ConnectionOutcome.FILTERED}
    assert any("closed early" in note for note in report.notes)


def test_idle_connections_end_by_the_capture_clock() -> None:
    trace = Trace()
    mapped(trace)
    conn = Tcp(trace, CLIENT, 49800, SERVER, 60001)
    conn.syn()
    trace.wait(1000)
    for port in range(20):
        Tcp(trace, "192.0.2.99", 40000 + port, SERVER, 8080).syn()
    analyzer = CaptureAnalyzer(Limits(idle_timeout=60, sweep_every=5))
    for record in trace.records:
        analyzer.add(record)
    assert not analyzer._flows, "the idle flows must be closed before the end"
    report = analyzer.finish(CaptureInfo("t", "records", 0, 0, None, None, True))
    assert only(report.connections, 60001).outcome is ConnectionOutcome.FILTERED


def test_records_beyond_the_cap_are_counted() -> None:
    trace = Trace()
    for port in range(7):
        Tcp(trace, CLIENT, 50000 + port, SERVER, 135).syn()
    report = analyze(trace.records, Limits(max_records=3))
    assert len(report.connections) == 3
    assert any(re.match(r"4 more connections were seen than the 3 kept", n) for n in report.notes)


def test_icmp_from_the_server_itself_names_its_firewall() -> None:
    trace = Trace()
    mapped(trace)
    conn = Tcp(trace, CLIENT, 49800, SERVER, 60001)
    trace.icmp_unreachable(SERVER, 3, conn.syn())
    report = analyze(trace.records)
    verdict = verdict_for(report, 60001)
    assert verdict.status == "unreachable"
    assert "from the server itself: its own firewall rejects it" in verdict.text


def test_endpoint_mapper_refusing_the_bind() -> None:
    trace = Trace()
    epm = Tcp(trace, CLIENT, 49700, SERVER, 135)
    epm.handshake()
    bind_exchange(epm, EPM_INTERFACE, accept=False)
    report = analyze(trace.records)
    verdict = verdict_for(report, 135, EPM_INTERFACE.uuid)
    assert verdict.status == "bind_rejected"
    assert "provider_rejection: abstract_syntax_not_supported" in verdict.text


def test_ipv6_endpoints_are_written_with_brackets() -> None:
    trace = Trace()
    conn = Tcp(trace, "2001:db8::10", 49700, "2001:db8::20", 135)
    conn.syn()
    report = analyze(trace.records)
    (verdict,) = report.verdicts
    assert verdict.text.startswith("client 2001:db8::10 -> endpoint mapper [2001:db8::20]:135:")


BIND_TIME_FEATURES = InterfaceId("6cb71c2c-9812-4540-0300-000000000000", 1, 0)


def _windows_bind(interface: InterfaceId, call_id: int = 1) -> bytes:
    """A bind as Windows sends it: the interface over NDR, over NDR64, and the bind-time
    feature negotiation, contexts 0, 1 and 2."""
    from epmscan.protocol.constants import NDR_SYNTAX
    from epmscan.protocol.syntax_ids import syntax_bytes

    body = struct.pack("<HHIB3x", 4280, 4280, 0, 3)
    for context_id, transfer in enumerate((NDR_SYNTAX, NDR64_SYNTAX, BIND_TIME_FEATURES)):
        body += struct.pack("<HBx", context_id, 1) + syntax_bytes(interface)
        body += syntax_bytes(transfer)
    return struct.pack("<BBBB4sHHI", 5, 0, 11, 3, b"\x10\0\0\0", 16 + len(body), 0, call_id) + body


@pytest.mark.parametrize("ndr64", [False, True], ids=["ndr", "ndr64"])
def test_windows_style_bind_with_three_contexts(ndr64: bool) -> None:
    trace = Trace()
    epm = Tcp(trace, CLIENT, 49700, SERVER, 135)
    epm.handshake()
    server = ServerConnection()
    bind = _windows_bind(EPM_INTERFACE)
    epm.client_sends(bind)
    request = feed_bind(server, bind)
    assert len(request.contexts) == 3
    rejected = ContextResult.rejected(PROVIDER_REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED)
    negotiated = ContextResult(BindOutcome.NEGOTIATE_ACK, 3, "negotiate_ack", None)
    results = (
        [rejected, ContextResult.accepted(NDR64_SYNTAX), negotiated]
        if ndr64
        else [ContextResult.accepted(), rejected, negotiated]
    )
    epm.server_sends(server.bind_ack(request, results))
    client = ClientConnection()
    client.bound = True
    context = 1 if ndr64 else 0
    call = client.request(OP_EPT_MAP, build_map_request(MAPI), context_id=context, call_id=2)
    epm.client_sends(call)
    stub = encode_map_response(bytes(range(1, 21)), [tcp_tower(MAPI, 60001)], 0)
    epm.server_sends(server.response(2, stub, context_id=context))
    report = analyze(trace.records)
    (connection,) = report.connections
    assert connection.bind == "bound"
    (epm_call,) = report.epm_calls
    if ndr64:
        assert epm_call.detail is not None and "NDR64" in epm_call.detail
        assert report.mappings == ()
    else:
        assert epm_call.detail is None
        assert [(m.uuid, m.port) for m in report.mappings] == [(MAPI.uuid, 60001)]


def test_a_refused_alter_context_does_not_undo_the_bind() -> None:
    trace = Trace()
    conn = Tcp(trace, CLIENT, 49700, SERVER, 135)
    conn.handshake()
    client, server = ClientConnection(), ServerConnection()
    bind = client.bind(EPM_INTERFACE)
    conn.client_sends(bind)
    request = feed_bind(server, bind)
    conn.server_sends(server.bind_ack(request, [ContextResult.accepted()]))
    alter = bytearray(client.bind(NSPI))
    alter[2] = 14
    conn.client_sends(bytes(alter))
    refused = bytearray(server.bind_ack(request, [ContextResult.rejected()]))
    refused[2] = 15
    conn.server_sends(bytes(refused))
    report = analyze(trace.records)
    (connection,) = report.connections
    assert (connection.bind, connection.bind_uuid) == ("bound", EPM_INTERFACE.uuid)
