"""``epmscan pcap`` on the two real Samba 4.17 captures of the repository.

The expectations never come from epmscan: the facts are recorded in the .md files beside
the captures, and the towers, binds and answers are decoded again here by impacket (its
DCE/RPC header, bind, bind_ack and EPM NDR structures, floors read as
tests/support/impacket_peer.py reads them) from the streams as scapy's ``rdpcap`` and the
test conftest's sequence-number reassembly give them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from epmscan.app.pcap import analyze_capture
from epmscan.models.capture import CaptureReport, ConnectionOutcome, ConnectionRole
from epmscan.settings import PcapSettings
from tests.support.impacket_peer import ImpacketTower, _tower_from_floors
from tests.unit.conftest import CapturedConnection, load_capture

CAPTURES = Path(__file__).resolve().parents[2] / "fixtures" / "captures"
LOOKUP_CAPTURE = CAPTURES / "samba-4.17-standalone-epm.pcapng"
MAP_CAPTURE = CAPTURES / "samba-4.17-ept-map.pcapng"
EPT_S_NOT_REGISTERED = 0x16C9A0D6
LSARPC = "12345778-1234-abcd-ef00-0123456789ab"
EMSMDB = "a4f1db00-ca47-1067-b31f-00dd010662da"
EVENTLOG = "82273fdc-e32a-18c3-3f78-827929dc23ea"

pytest.importorskip("scapy.utils")
impacket_rpcrt = pytest.importorskip("impacket.dcerpc.v5.rpcrt")


def _pdus(stream: bytes) -> Iterator[bytes]:
    """Whole PDUs of a stream, cut by impacket's reading of ``frag_len``."""
    offset = 0
    while offset < len(stream):
        length = impacket_rpcrt.MSRPCHeader(stream[offset:])["frag_len"]
        yield stream[offset : offset + length]
        offset += length


def _calls(stream: bytes, ptype: int) -> dict[int, bytes]:
    """call_id → stub of every request (0) or response (2), fragments joined."""
    stubs: dict[int, bytes] = {}
    for pdu in _pdus(stream):
        header = impacket_rpcrt.MSRPCRespHeader(pdu)
        if header["type"] != ptype:
            continue
        stubs[header["call_id"]] = stubs.get(header["call_id"], b"") + header["pduData"]
    return stubs


def _impacket_lookup_towers(connection: CapturedConnection) -> list[ImpacketTower]:
    from impacket.dcerpc.v5 import epm

    towers = []
    for _call_id, stub in sorted(_calls(connection.to_client, 2).items()):
        response = epm.ept_lookupResponse(stub)
        for index in range(response["num_ents"]):
            entry = response["entries"][index]
            tower = epm.EPMTower(b"".join(entry["tower"]["tower_octet_string"]))
            annotation = b"".join(entry["annotation"])
            towers.append(_tower_from_floors(tower["Floors"], annotation))
    return towers


def _normal(tower: ImpacketTower, server: str) -> tuple[object, ...]:
    address = tower.address or None
    if tower.transport in ("ncacn_ip_tcp", "ncacn_http") and address in (None, "0.0.0.0"):
        address = server
    return (
        tower.uuid,
        tower.version,
        tower.transport,
        address,
        tower.port,
        tower.endpoint,
        tower.annotation,
    )


def _bind(connection: CapturedConnection) -> tuple[str, bool]:
    """(abstract syntax UUID of the first bind, whether impacket reads the ack as accepted)."""
    from impacket.uuid import bin_to_string

    bind_pdu = next(_pdus(connection.to_server))
    bind = impacket_rpcrt.MSRPCBind(impacket_rpcrt.MSRPCHeader(bind_pdu)["pduData"])
    item = impacket_rpcrt.CtxItem(bind["ctx_items"])
    ack = impacket_rpcrt.MSRPCBindAck(next(_pdus(connection.to_client)))
    accepted = ack.getCtxItems()[0]["Result"] == 0
    return bin_to_string(item["AbstractSyntax"][:16]).lower(), accepted


@pytest.fixture(scope="module")
def lookup_report() -> CaptureReport:
    return analyze_capture(PcapSettings(str(LOOKUP_CAPTURE)))


@pytest.fixture(scope="module")
def lookup_streams() -> list[CapturedConnection]:
    return load_capture(LOOKUP_CAPTURE)


def test_every_lookup_conversation_has_the_38_towers_impacket_reads(
    lookup_report: CaptureReport, lookup_streams: list[CapturedConnection]
) -> None:
    report = lookup_report
    assert report.capture.complete and report.notes == ()
    call_port = {call.frame: call.client_port for call in report.epm_calls}
    ours: dict[int, Counter[tuple[object, ...]]] = {}
    for m in report.mappings:
        key = (m.uuid, m.version, m.transport, m.address or None, m.port, m.endpoint, m.annotation)
        ours.setdefault(call_port[m.request_frame], Counter())[key] += 1
    epm_streams = [c for c in lookup_streams if c.server_port == 135 and _calls(c.to_server, 0)]
    assert len(epm_streams) == 4, "three full lookups and one paging walk (the .md)"
    for stream in epm_streams:
        theirs = Counter(_normal(t, "127.0.0.1") for t in _impacket_lookup_towers(stream))
        assert sum(theirs.values()) == 38
        assert ours[stream.client_port] == theirs, stream.client_port
    assert set(ours) == {s.client_port for s in epm_streams}


def test_lookup_facts_recorded_beside_the_capture(lookup_report: CaptureReport) -> None:
    report = lookup_report
    calls = report.epm_calls
    assert {c.operation for c in calls} == {"ept_lookup"}
    assert len(calls) == 3 + 38, "three one-page walks and 38 pages of max_ents=1"
    assert all(c.response_frame is not None for c in calls)
    by_port = Counter(c.client_port for c in calls)
    (paging_port,) = [port for port, pages in by_port.items() if pages == 38]
    for port in by_port:
        conversation = [c for c in calls if c.client_port == port]
        assert conversation[-1].status == EPT_S_NOT_REGISTERED
        assert sum(c.towers for c in conversation) == 38
        mappings = [
            m for m in report.mappings if m.request_frame in {c.frame for c in conversation}
        ]
        assert len({(m.uuid, m.version) for m in mappings}) == 15
        assert {m.transport for m in mappings} == {
            "ncacn_np",
            "ncacn_ip_tcp",
            "ncacn_http",
            "ncalrpc",
        }
        assert {m.port for m in mappings if m.transport == "ncacn_http"} == {593}
    assert paging_port in by_port


def test_binds_to_the_advertised_ports_as_impacket_reads_them(
    lookup_report: CaptureReport, lookup_streams: list[CapturedConnection]
) -> None:
    advertised = {m.port for m in lookup_report.mappings if m.transport == "ncacn_ip_tcp"}
    dynamic = [c for c in lookup_streams if c.server_port != 135]
    assert dynamic, "the capture binds to the advertised ports (the .md)"
    ours = {c.client_port: c for c in lookup_report.connections}
    for stream in dynamic:
        assert stream.server_port in advertised
        uuid, accepted = _bind(stream)
        connection = ours[stream.client_port]
        assert connection.role is ConnectionRole.RESOLVED
        assert connection.outcome is ConnectionOutcome.ESTABLISHED
        assert connection.bind_uuid == uuid
        assert connection.bind == ("bound" if accepted else "wrong_service")
    assert any(c.bind == "wrong_service" for c in lookup_report.connections), (
        "the .md: a port that does not serve an interface rejects its bind"
    )


# --- ept_map ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def map_report() -> CaptureReport:
    return analyze_capture(PcapSettings(str(MAP_CAPTURE)))


def test_ept_map_calls_as_the_md_records_them(map_report: CaptureReport) -> None:
    calls = [(c.uuid, c.transport, c.towers, c.status) for c in map_report.epm_calls]
    assert calls == [
        (LSARPC, "ncacn_ip_tcp", 1, 0),
        (EMSMDB, "ncacn_ip_tcp", 0, EPT_S_NOT_REGISTERED),
        (LSARPC, "ncacn_http", 0, EPT_S_NOT_REGISTERED),
        (LSARPC, "ncacn_ip_tcp", 1, 0),
        (EMSMDB, "ncacn_ip_tcp", 0, EPT_S_NOT_REGISTERED),
        (LSARPC, "ncacn_np", 2, 0),
        (LSARPC, "ncacn_ip_tcp", 1, 0),
        (EVENTLOG, "ncacn_ip_tcp", 0, EPT_S_NOT_REGISTERED),
    ]
    towers = [(m.uuid, m.transport, m.port, m.endpoint) for m in map_report.mappings]
    assert towers == [
        (LSARPC, "ncacn_ip_tcp", 49152, None),
        (LSARPC, "ncacn_ip_tcp", 49152, None),
        (LSARPC, "ncacn_np", None, "\\pipe\\lsarpc"),
        (LSARPC, "ncacn_np", None, "\\pipe\\lsass"),
        (LSARPC, "ncacn_ip_tcp", 49152, None),
    ]
    assert {m.address for m in map_report.mappings if m.port} == {"127.0.0.138"}


def test_ept_map_towers_equal_impacket_decoding() -> None:
    from impacket.dcerpc.v5 import epm

    streams = [c for c in load_capture(MAP_CAPTURE) if c.server_port == 135]
    theirs = []
    for stream in streams:
        for _call_id, stub in sorted(_calls(stream.to_client, 2).items()):
            response = epm.ept_mapResponse(stub)
            for index in range(response["num_towers"]):
                octets = b"".join(response["ITowers"][index]["Data"]["tower_octet_string"])
                tower = _tower_from_floors(epm.EPMTower(octets)["Floors"], b"")
                theirs.append(_normal(tower, "127.0.0.138"))
    report = analyze_capture(PcapSettings(str(MAP_CAPTURE)))
    ours = [
        (m.uuid, m.version, m.transport, m.address or None, m.port, m.endpoint, m.annotation)
        for m in report.mappings
    ]
    assert ours == theirs


def test_ept_map_verdicts(map_report: CaptureReport) -> None:
    by_uuid = {v.uuid: v for v in map_report.verdicts if v.interface != "endpoint mapper"}
    assert by_uuid[LSARPC].status == "bound" and by_uuid[LSARPC].port == 49152
    assert by_uuid[EMSMDB].status == "not_registered"
    assert by_uuid[EVENTLOG].status == "not_registered"
    (epm,) = [v for v in map_report.verdicts if v.interface == "endpoint mapper"]
    assert epm.status == "ok"
    bound = [c for c in map_report.connections if c.port == 49152]
    assert [(c.bind, c.bind_uuid) for c in bound] == [("bound", LSARPC)]
