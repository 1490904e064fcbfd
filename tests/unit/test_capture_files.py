"""Capture files written by scapy (pcap, pcapng, gzip), cut short, damaged, or not captures."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest

from epmscan.app.pcap import analyze_capture
from epmscan.capture.source import CaptureFileError
from epmscan.models.capture import CaptureReport, ConnectionOutcome, ResetSource
from epmscan.report.capture_json import report_to_dict
from epmscan.settings import PcapSettings
from tests.support.synthetic import (
    MAPI,
    Tcp,
    Trace,
    bind_exchange,
    epm_map_exchange,
    greeting_exchange,
    tcp_tower,
    write_capture,
)

pytest.importorskip("scapy.utils")

CLIENT, SERVER, ROUTER = "192.0.2.10", "198.51.100.20", "203.0.113.1"


def scenario() -> Trace:
    """ept_map MAPI → 60001, then (a) bound, (b) server reset, (c) path reset, (d) 3 SYNs,
    (e) ICMP 3/13 from a router, and an ncacn_http greeting on 6001."""
    trace = Trace()
    epm = Tcp(trace, CLIENT, 49700, SERVER, 135)
    epm.handshake()
    epm_map_exchange(epm, MAPI, [tcp_tower(MAPI, 60001)])
    epm.close()
    bound = Tcp(trace, CLIENT, 49801, SERVER, 60001)
    bound.handshake()
    bind_exchange(bound, MAPI)
    bound.close()
    Tcp(trace, CLIENT, 49802, SERVER, 60001).syn()
    Tcp(trace, CLIENT, 49802, SERVER, 60001).reset_by_server()
    path = Tcp(trace, CLIENT, 49803, SERVER, 60001)
    path.syn()
    path.reset_by_server(ttl=252)
    silent = Tcp(trace, CLIENT, 49804, SERVER, 60001)
    for _ in range(3):
        silent.syn()
        trace.wait(2)
    icmp = Tcp(trace, CLIENT, 49805, SERVER, 60001)
    trace.icmp_unreachable(ROUTER, 13, icmp.syn())
    http = Tcp(trace, CLIENT, 49806, SERVER, 6001)
    http.handshake()
    greeting_exchange(http, MAPI)
    http.close()
    return trace


def _check_scenario(report: CaptureReport, trace: Trace) -> None:
    assert report.capture.frames == len(trace.records)
    assert report.capture.complete and report.notes == ()
    (mapping,) = report.mappings
    assert (mapping.client, mapping.server, mapping.uuid, mapping.port) == (
        CLIENT,
        SERVER,
        MAPI.uuid,
        60001,
    )
    by_port = {c.client_port: c for c in report.connections}
    assert by_port[49801].outcome is ConnectionOutcome.ESTABLISHED
    assert by_port[49801].bind == "bound"
    assert by_port[49802].outcome is ConnectionOutcome.CLOSED
    assert by_port[49802].reset_source is ResetSource.SERVER
    assert by_port[49803].reset_source is ResetSource.PATH
    assert (by_port[49804].outcome, by_port[49804].syn_count) == (ConnectionOutcome.FILTERED, 3)
    unreachable = by_port[49805]
    assert unreachable.outcome is ConnectionOutcome.UNREACHABLE
    assert (unreachable.icmp_type, unreachable.icmp_code, unreachable.icmp_from) == (
        3,
        13,
        ROUTER,
    )
    assert (by_port[49806].greeting, by_port[49806].bind) == ("ncacn_http", "bound")


@pytest.mark.parametrize("pcapng", [False, True], ids=["pcap", "pcapng"])
def test_scenario_from_a_file(tmp_path: Path, pcapng: bool) -> None:
    trace = scenario()
    path = write_capture(tmp_path / "scenario.cap", trace.records, pcapng=pcapng)
    report = analyze_capture(PcapSettings(str(path)))
    assert report.capture.format == ("pcapng" if pcapng else "pcap")
    assert report.capture.first_time == pytest.approx(trace.records[0].time)
    _check_scenario(report, trace)
    document = report_to_dict(report)
    assert document["epmscan"]["command"] == "pcap"
    assert {"mappings", "connections", "verdicts", "epm_calls", "notes"} <= set(document)


def test_gzip_compressed_capture(tmp_path: Path) -> None:
    trace = scenario()
    plain = write_capture(tmp_path / "scenario.pcapng", trace.records, pcapng=True)
    packed = tmp_path / "scenario.pcapng.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    report = analyze_capture(PcapSettings(str(packed)))
    assert report.capture.format == "pcapng+gzip"
    _check_scenario(report, trace)


def _record_offsets(data: bytes) -> list[int]:
    """Where each pcap record header starts."""
    offsets, offset = [], 24
    while offset < len(data):
        offsets.append(offset)
        (caplen,) = struct.unpack_from("<I", data, offset + 8)
        offset += 16 + caplen
    return offsets


@pytest.mark.parametrize("inside", ["data", "header"])
def test_truncated_pcap_gives_what_came_before(tmp_path: Path, inside: str) -> None:
    trace = scenario()
    data = write_capture(tmp_path / "full.pcap", trace.records).read_bytes()
    offsets = _record_offsets(data)
    last_kept = 20
    cut = offsets[last_kept] + (30 if inside == "data" else 7)
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:cut])
    report = analyze_capture(PcapSettings(str(path)))
    assert not report.capture.complete
    assert len(report.mappings) == 1, "the ept_map answer came before the cut"
    assert report.notes, "the truncation must be said"
    if inside == "data":
        assert report.capture.frames == last_kept + 1
        assert f"the file ends inside frame {last_kept + 1}" in report.notes[0]
    else:
        assert report.capture.frames == last_kept
        assert f"7 bytes after frame {last_kept} could not be read" in report.notes[0]


def test_truncated_pcapng(tmp_path: Path) -> None:
    trace = scenario()
    data = write_capture(tmp_path / "full.pcapng", trace.records, pcapng=True).read_bytes()
    path = tmp_path / "cut.pcapng"
    path.write_bytes(data[: len(data) * 2 // 3])
    report = analyze_capture(PcapSettings(str(path)))
    assert not report.capture.complete
    assert 0 < report.capture.frames < len(trace.records)
    assert len(report.mappings) == 1
    assert any("damaged" in note or "truncated" in note for note in report.notes)


def test_damaged_block_length_in_pcapng(tmp_path: Path) -> None:
    trace = scenario()
    data = bytearray(write_capture(tmp_path / "f.pcapng", trace.records, pcapng=True).read_bytes())
    offset, packets = 0, 0
    while offset < len(data):
        block_type, length = struct.unpack_from("<II", data, offset)
        if block_type == 6:
            packets += 1
            if packets == 25:
                struct.pack_into("<I", data, offset + 4, 0xFFFFFF00)
                break
        offset += length
    path = tmp_path / "damaged.pcapng"
    path.write_bytes(bytes(data))
    report = analyze_capture(PcapSettings(str(path)))
    assert not report.capture.complete
    assert report.capture.frames == 24
    assert len(report.mappings) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"hello, this is not a capture\n", "not a pcap or pcapng capture"),
        (b"", "empty file"),
        (gzip.compress(b"text in a gzip file"), "not a pcap or pcapng capture"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "a pcap file whose header is cut short"),
    ],
    ids=["text", "empty", "gzip-text", "cut-header"],
)
def test_not_a_capture(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "file.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureFileError) as error:
        analyze_capture(PcapSettings(str(path)))
    assert str(error.value) == f"{path}: {message}" or str(error.value).startswith(
        f"{path}: {message}"
    )
    assert "\n" not in str(error.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(CaptureFileError, match="cannot read: No such file"):
        analyze_capture(PcapSettings(str(tmp_path / "nothing.pcap")))
    with pytest.raises(CaptureFileError, match="is a directory"):
        analyze_capture(PcapSettings(str(tmp_path)))
