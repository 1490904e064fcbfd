"""The trace's packet side without privileges, and its JSON and plain console forms.

The sniffer's frame handling is fed scapy packets by hand (no socket): on a loopback
interface a frame seen twice within a moment is one packet, a retransmission a second
later is another. The JSON document stamps every time in UTC ISO 8601 with milliseconds.
"""

from __future__ import annotations

import io
import json

from rich.console import Console
from scapy.layers.inet import ICMP, IP, TCP, IPerror, TCPerror
from scapy.layers.l2 import Ether

from epmscan.capture.sniffer import PacketSniffer, bpf_filter
from epmscan.models import IcmpError
from epmscan.models.trace import CaptureStatus, Evidence, TraceReport, TraceStep, TraceStepKind
from epmscan.report.output import Output
from epmscan.report.trace_console import print_trace
from epmscan.report.trace_json import trace_to_dict, utc_iso

T0 = 1_700_000_000.0


def frame(when: float, flags: str = "S", ttl: int = 64) -> Ether:
    packet = (
        Ether()
        / IP(src="127.113.0.1", dst="127.113.0.2", ttl=ttl)
        / TCP(sport=40000, dport=60001, flags=flags)
    )
    built = Ether(bytes(packet))
    built.time = when
    return built


def test_loopback_twins_count_once_and_retransmissions_count_again() -> None:
    sniffer = PacketSniffer("lo", "tcp")
    assert sniffer.loopback
    for when in (T0, T0 + 0.00001, T0 + 1.0, T0 + 1.00002):
        sniffer._add(frame(when))
    packets = sniffer.stop()
    assert [round(p.time - T0, 1) for p in packets] == [0.0, 1.0]
    assert {(p.src, p.sport, p.dst, p.dport, p.flags, p.ttl) for p in packets} == {
        ("127.113.0.1", 40000, "127.113.0.2", 60001, 0x02, 64)
    }


def test_on_other_interfaces_every_frame_counts() -> None:
    sniffer = PacketSniffer("epmtr-none0", "tcp")
    sniffer.loopback = False
    for when in (T0, T0 + 0.00001):
        sniffer._add(frame(when))
    assert len(sniffer.stop()) == 2


def test_an_icmp_error_keeps_its_sender_ttl_and_the_quoted_connection() -> None:
    sniffer = PacketSniffer("lo", "icmp")
    quoted = IPerror(src="127.113.0.1", dst="127.113.0.2") / TCPerror(sport=40000, dport=60001)
    packet = Ether(
        bytes(
            Ether()
            / IP(src="127.113.0.9", dst="127.113.0.1", ttl=61)
            / ICMP(type=3, code=13)
            / quoted
        )
    )
    packet.time = T0
    sniffer._add(packet)
    (seen,) = sniffer.stop()
    assert (seen.protocol, seen.src, seen.ttl, seen.icmp_type, seen.icmp_code) == (
        "icmp", "127.113.0.9", 61, 3, 13,
    )  # fmt: skip
    assert (seen.quoted_src, seen.sport, seen.quoted_dst, seen.dport) == (
        "127.113.0.1", 40000, "127.113.0.2", 60001,
    )  # fmt: skip


def test_the_filter_passes_the_servers_tcp_and_icmp_about_it() -> None:
    assert bpf_filter("10.81.2.10") == (
        "(tcp and host 10.81.2.10) or (icmp and icmp[0] == 3 and icmp[24:4] == 0x0a51020a)"
    )
    assert bpf_filter("2001:db8::5").startswith("(tcp and host 2001:db8::5) or (icmp6")


def report() -> TraceReport:
    failed = TraceStep(
        step=TraceStepKind.CONNECT,
        interface="mapi",
        transport="ncacn_ip_tcp",
        target="10.81.2.14",
        port=60001,
        started=T0 + 0.0125,
        elapsed_ms=3.25,
        outcome="unreachable",
        detail="no route to host",
        local_address="10.81.1.2",
        local_port=40000,
        icmp=IcmpError(3, 13, "10.81.1.1"),
        evidence=(
            Evidence("kernel", "error queue (IP_RECVERR): ICMP type 3 code 13 from 10.81.1.1"),
            Evidence("wire", "10.81.1.2:40000 > 10.81.2.14:60001 S TTL 64", T0 + 0.0126),
        ),
        explanation="its SYN to 60001 got ICMP ... from 10.81.1.1",
    )
    mapped = TraceStep(
        step=TraceStepKind.EPT_MAP,
        interface="mapi",
        transport="ncacn_ip_tcp",
        target="10.81.2.14",
        port=135,
        started=T0,
        elapsed_ms=1.0,
        outcome="ok",
        detail="mapi -> ncacn_ip_tcp port 60001",
        resolved_port=60001,
    )
    return TraceReport(
        server="10.81.2.14",
        address="10.81.2.14",
        epm_port=135,
        interfaces=("mapi",),
        started=T0,
        capture=CaptureStatus(active=False, reason="capturing packets needs root or CAP_NET_RAW"),
        steps=(mapped, failed),
        notes=("no packet capture",),
    )


def test_json_times_are_utc_with_milliseconds() -> None:
    assert utc_iso(T0 + 0.0125) == "2023-11-14T22:13:20.012Z"
    data = json.loads(json.dumps(trace_to_dict(report())))
    assert data["ok"] is False
    assert [s["started"] for s in data["steps"]] == [
        "2023-11-14T22:13:20.000Z",
        "2023-11-14T22:13:20.012Z",
    ]
    failed = data["steps"][1]
    assert (failed["step"], failed["target"], failed["port"], failed["outcome"]) == (
        "connect", "10.81.2.14", 60001, "unreachable",
    )  # fmt: skip
    assert failed["elapsed_ms"] == 3.25
    assert failed["icmp"]["sender"] == "10.81.1.1"
    assert [e["source"] for e in failed["evidence"]] == ["kernel", "wire"]
    assert failed["evidence"][1]["time"] == "2023-11-14T22:13:20.012Z"
    assert data["capture"]["active"] is False


def test_plain_form_is_one_record_per_line() -> None:
    buffer = io.StringIO()
    output = Output(Console(file=buffer, width=80), plain=True)
    print_trace(report(), output)
    lines = buffer.getvalue().splitlines()
    records = [line.split("\t") for line in lines]
    assert [r[0] for r in records] == [
        "trace", "trace", "step", "step", "evidence", "evidence", "verdict", "note",
    ]  # fmt: skip
    assert records[3][1:8] == [
        "22:13:20.012", "3.2", "mapi", "ncacn_ip_tcp", "connect", "10.81.2.14:60001", "unreachable",
    ]  # fmt: skip
    assert records[6][:4] == ["verdict", "mapi", "ncacn_ip_tcp", "unreachable"]


def test_a_narrow_terminal_folds_a_uuid_and_never_cuts_it() -> None:
    uuid = "f5cc5a18-4264-101a-8c59-08002b2f8426"
    bound = TraceStep(
        step=TraceStepKind.BIND,
        interface="nspi",
        transport="ncacn_ip_tcp",
        target="10.81.2.14",
        port=60002,
        started=T0,
        elapsed_ms=2.1,
        outcome="bound",
        detail=f"nspi {uuid} v56.0 accepted (max_xmit 4280)",
    )
    base = report()
    traced = TraceReport(
        server=base.server,
        address=base.address,
        epm_port=base.epm_port,
        interfaces=("nspi",),
        started=T0,
        capture=base.capture,
        steps=(bound,),
    )
    for width in (80, 100):
        buffer = io.StringIO()
        console = Console(file=buffer, width=width, color_system=None)
        print_trace(traced, Output(console, plain=False))
        text = buffer.getvalue()
        assert "…" not in text, text
        assert uuid in "".join(text.split()), text


def test_a_way_cut_short_by_a_signal_is_not_said_to_have_worked() -> None:
    connected = TraceStep(
        step=TraceStepKind.CONNECT,
        interface="mapi",
        transport="ncacn_ip_tcp",
        target="10.81.2.14",
        port=135,
        started=T0,
        elapsed_ms=0.7,
        outcome="ok",
    )
    base = report()
    traced = TraceReport(
        server=base.server,
        address=base.address,
        epm_port=base.epm_port,
        interfaces=("mapi",),
        started=T0,
        capture=base.capture,
        steps=(connected,),
        interrupted="SIGINT",
    )
    for plain in (True, False):
        buffer = io.StringIO()
        print_trace(traced, Output(Console(file=buffer, width=120), plain=plain))
        text = buffer.getvalue()
        assert "every step worked" not in text, text
        assert "interrupted" in text.split("connect")[-1], text
