"""Header decoding of captured frames; the frames are built by scapy, the judge here."""

from __future__ import annotations

import pytest

from epmscan.capture.frames import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    FrameDecoder,
)
from epmscan.capture.records import ACK, PSH, SYN, IcmpUnreachable, Segment

scapy_inet = pytest.importorskip("scapy.layers.inet")
scapy_inet6 = pytest.importorskip("scapy.layers.inet6")
scapy_l2 = pytest.importorskip("scapy.layers.l2")
IP, TCP, ICMP, UDP = scapy_inet.IP, scapy_inet.TCP, scapy_inet.ICMP, scapy_inet.UDP
IPv6 = scapy_inet6.IPv6
Ether, Dot1Q = scapy_l2.Ether, scapy_l2.Dot1Q

CLIENT, SERVER = "192.0.2.10", "198.51.100.20"
PAYLOAD = b"\x05\x00\x0b\x03" + bytes(68)


def _ipv4_tcp() -> bytes:
    return bytes(
        IP(src=CLIENT, dst=SERVER, ttl=61)
        / TCP(sport=50123, dport=135, flags="PA", seq=123456789)
        / PAYLOAD
    )


def _decode(linktype: int, frame: bytes) -> object:
    return FrameDecoder().decode(linktype, frame, 7, 12.5)


def _expect_segment(record: object, *, ttl: int = 61, src: str = CLIENT, dst: str = SERVER) -> None:
    assert isinstance(record, Segment), record
    assert (record.frame, record.time) == (7, 12.5)
    assert (record.src, record.dst, record.sport, record.dport) == (src, dst, 50123, 135)
    assert record.flags == PSH | ACK
    assert record.ttl == ttl
    assert record.seq == 123456789
    assert record.payload == PAYLOAD
    assert record.missing == 0


@pytest.mark.parametrize(
    ("linktype", "frame"),
    [
        (LINKTYPE_ETHERNET, bytes(Ether() / IP(_ipv4_tcp()))),
        (LINKTYPE_ETHERNET, bytes(Ether() / Dot1Q(vlan=7) / Dot1Q(vlan=8) / IP(_ipv4_tcp()))),
        (LINKTYPE_RAW, _ipv4_tcp()),
        (LINKTYPE_LINUX_SLL, bytes(scapy_l2.CookedLinux(proto=0x0800) / IP(_ipv4_tcp()))),
        (LINKTYPE_LINUX_SLL2, bytes(scapy_l2.CookedLinuxV2(proto=0x0800) / IP(_ipv4_tcp()))),
        (LINKTYPE_NULL, (2).to_bytes(4, "little") + _ipv4_tcp()),
        (LINKTYPE_LOOP, (2).to_bytes(4, "big") + _ipv4_tcp()),
    ],
    ids=["ethernet", "qinq", "raw", "sll", "sll2", "null", "loop"],
)
def test_ipv4_tcp_on_every_link_type(linktype: int, frame: bytes) -> None:
    _expect_segment(_decode(linktype, frame))


def test_ethernet_padding_is_not_payload() -> None:
    small = bytes(Ether() / IP(src=CLIENT, dst=SERVER) / TCP(flags="S", sport=1, dport=135))
    record = _decode(LINKTYPE_ETHERNET, small + bytes(6))
    assert isinstance(record, Segment) and record.payload == b"" and record.flags == SYN


def test_ipv6_with_an_extension_header() -> None:
    frame = bytes(
        Ether()
        / IPv6(src="2001:db8::10", dst="2001:db8::20", hlim=60)
        / scapy_inet6.IPv6ExtHdrHopByHop()
        / TCP(sport=50123, dport=135, flags="PA", seq=123456789)
        / PAYLOAD
    )
    _expect_segment(
        _decode(LINKTYPE_ETHERNET, frame), ttl=60, src="2001:db8::10", dst="2001:db8::20"
    )


def test_icmp_unreachable_quotes_the_connection() -> None:
    quoted = IP(src=CLIENT, dst=SERVER) / TCP(sport=50123, dport=60001, flags="S")
    frame = bytes(
        Ether()
        / IP(src="203.0.113.1", dst=CLIENT, ttl=250)
        / ICMP(type=3, code=13)
        / bytes(quoted)[:28]
    )
    record = _decode(LINKTYPE_ETHERNET, frame)
    assert record == IcmpUnreachable(
        7, 12.5, "203.0.113.1", 3, 13, False, CLIENT, SERVER, 50123, 60001, 250
    )


def test_icmpv6_unreachable_quotes_the_connection() -> None:
    quoted = IPv6(src="2001:db8::10", dst="2001:db8::20") / TCP(sport=50123, dport=60001)
    frame = bytes(
        Ether()
        / IPv6(src="2001:db8::1", dst="2001:db8::10", hlim=61)
        / scapy_inet6.ICMPv6DestUnreach(code=1)
        / bytes(quoted)[:48]
    )
    record = _decode(LINKTYPE_ETHERNET, frame)
    assert record == IcmpUnreachable(
        7, 12.5, "2001:db8::1", 1, 1, True, "2001:db8::10", "2001:db8::20", 50123, 60001, 61
    )


def test_other_icmp_and_udp_are_not_records() -> None:
    decoder = FrameDecoder()
    echo = bytes(Ether() / IP(src=CLIENT, dst=SERVER) / ICMP(type=8))
    udp = bytes(Ether() / IP(src=CLIENT, dst=SERVER) / UDP(sport=1, dport=135))
    assert decoder.decode(LINKTYPE_ETHERNET, echo, 1, 0.0) is None
    assert decoder.decode(LINKTYPE_ETHERNET, udp, 2, 0.0) is None


def test_a_frame_cut_by_the_snapshot_length_says_what_is_missing() -> None:
    frame = bytes(Ether() / IP(_ipv4_tcp()))
    decoder = FrameDecoder()
    record = decoder.decode(LINKTYPE_ETHERNET, frame[:-20], 1, 0.0)
    assert isinstance(record, Segment)
    assert record.payload == PAYLOAD[:-20] and record.missing == 20
    assert decoder.stats.cut_short == 1


def test_later_fragments_and_unknown_link_types_are_counted() -> None:
    decoder = FrameDecoder()
    fragment = bytes(Ether() / IP(src=CLIENT, dst=SERVER, frag=100, proto=6) / bytes(40))
    assert decoder.decode(LINKTYPE_ETHERNET, fragment, 1, 0.0) is None
    assert decoder.decode(147, b"\x00" * 60, 2, 0.0) is None
    assert decoder.stats.fragments == 1
    assert decoder.stats.link_types == {147: 1}


@pytest.mark.parametrize("cut", [0, 5, 13, 20, 33, 40])
def test_frames_ending_inside_a_header_are_skipped(cut: int) -> None:
    frame = bytes(Ether() / IP(_ipv4_tcp()))
    assert FrameDecoder().decode(LINKTYPE_ETHERNET, frame[:cut], 1, 0.0) is None
