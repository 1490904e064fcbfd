"""Damaged captures and hostile bytes: a report or a one-line error, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epmscan.app.pcap import analyze_capture
from epmscan.capture.analysis import CaptureAnalyzer
from epmscan.capture.frames import FrameDecoder
from epmscan.capture.records import ACK, FIN, PSH, RST, SYN, IcmpUnreachable, Segment
from epmscan.capture.source import CaptureFileError
from epmscan.models.capture import CaptureInfo
from epmscan.settings import PcapSettings
from tests.support.synthetic import MAPI, Tcp, Trace, epm_map_exchange, tcp_tower

CAPTURES = Path(__file__).resolve().parents[2] / "fixtures" / "captures"
CLIENT, SERVER = "192.0.2.10", "198.51.100.20"


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([0, 1, 12, 101, 108, 113, 228, 229, 276, 147]), st.binary(max_size=200))
def test_frame_decoder_takes_any_bytes(linktype: int, data: bytes) -> None:
    FrameDecoder().decode(linktype, data, 1, 0.0)


_flags = st.sampled_from([SYN, SYN | ACK, ACK, PSH | ACK, RST, RST | ACK, FIN | ACK, 0, 0xFF])
_segment = st.builds(
    Segment,
    frame=st.just(0),
    time=st.floats(0, 100),
    src=st.sampled_from([CLIENT, SERVER]),
    dst=st.sampled_from([CLIENT, SERVER]),
    sport=st.sampled_from([135, 593, 6001, 60001, 49700]),
    dport=st.sampled_from([135, 593, 6001, 60001, 49700]),
    flags=_flags,
    ttl=st.integers(0, 255),
    seq=st.integers(0, (1 << 32) - 1),
    payload=st.one_of(
        st.binary(max_size=64),
        st.just(b"\x05\x00\x0b\x03\x10\x00\x00\x00\x48\x00\x00\x00\x01\x00\x00\x00"),
        st.just(b"ncacn_http/1.0"),
    ),
)


def _valid_conversation() -> list[Segment]:
    trace = Trace()
    epm = Tcp(trace, CLIENT, 49700, SERVER, 135)
    epm.handshake()
    epm_map_exchange(epm, MAPI, [tcp_tower(MAPI, 60001)])
    return [r for r in trace.records if isinstance(r, Segment)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_segment, max_size=40),
    st.lists(st.tuples(st.integers(0, 30), st.integers(0, 400), st.integers(0, 255)), max_size=8),
)
def test_analyzer_takes_any_segments(
    noise: list[Segment], flips: list[tuple[int, int, int]]
) -> None:
    records: list[Segment | IcmpUnreachable] = []
    conversation = _valid_conversation()
    for index, offset, value in flips:
        if index < len(conversation) and conversation[index].payload:
            seg = conversation[index]
            payload = bytearray(seg.payload)
            payload[offset % len(payload)] = value
            conversation[index] = seg._replace(payload=bytes(payload))
    records.extend(conversation)
    records.extend(noise)
    records.append(IcmpUnreachable(0, 0.0, "203.0.113.1", 3, 13, False, CLIENT, SERVER, 49700, 135))
    analyzer = CaptureAnalyzer()
    for number, record in enumerate(records, 1):
        analyzer.add(record._replace(frame=number))
    analyzer.finish(CaptureInfo("fuzz", "records", len(records), 0, None, None, True))


@pytest.fixture(scope="module")
def samba_bytes() -> bytes:
    return (CAPTURES / "samba-4.17-ept-map.pcapng").read_bytes()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 20_000), st.integers(0, 255)), min_size=1, max_size=6))
def test_damaged_real_capture_never_tracebacks(
    samba_bytes: bytes, tmp_path_factory: pytest.TempPathFactory, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(samba_bytes)
    for offset, value in flips:
        data[offset % len(data)] = value
    path = tmp_path_factory.mktemp("damaged") / "damaged.pcapng"
    path.write_bytes(bytes(data))
    try:
        report = analyze_capture(PcapSettings(str(path)))
    except CaptureFileError as exc:
        assert "\n" not in str(exc)
        return
    assert report.capture.frames >= 0


@pytest.mark.parametrize("name", ["samba-4.17-ept-map.pcapng"])
def test_every_prefix_of_a_capture_reads_up_to_its_cut(tmp_path: Path, name: str) -> None:
    data = (CAPTURES / name).read_bytes()
    whole = analyze_capture(PcapSettings(str(CAPTURES / name)))
    frames_before = 0
    for cut in range(0, len(data), max(1, len(data) // 80)):
        path = tmp_path / f"cut-{cut}.pcapng"
        path.write_bytes(data[:cut])
        try:
            report = analyze_capture(PcapSettings(str(path)))
        except CaptureFileError as exc:
            assert cut < 64, f"only a cut inside the file header may be refused: {exc}"
            continue
        assert frames_before <= report.capture.frames <= whole.capture.frames
        frames_before = report.capture.frames
        assert len(report.mappings) <= len(whole.mappings)
