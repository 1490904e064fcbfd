"""The trace's explanations from synthetic steps and packets (checks/trace_verdicts.py).

Each case is a few steps as the engine records them and the packets a capture would
hold; the explanation must name what the packets show (SYNs without answer, who sent the
reset by its TTL, the ICMP sender, the silence after a handshake), or say what cannot be
seen without a capture. No I/O, no clock: times are made up, relative to ``T0``.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from epmscan.checks.trace_verdicts import (
    ACK,
    FIN,
    PSH,
    RST,
    SYN,
    explain_steps,
    flag_letters,
    packets_by_step,
    path_end,
    path_verdict,
)
from epmscan.models import IcmpError
from epmscan.models.trace import PathProbe, TraceStep, TraceStepKind, WirePacket

T0 = 1_700_000_000.0
CLIENT = "10.9.1.2"
SERVER = "10.9.2.10"
ROUTER = "10.9.1.1"
EPM_LOCAL = 40001
RPC_LOCAL = 40002


def step(
    kind: TraceStepKind,
    port: int,
    start: float,
    elapsed: float,
    outcome: str,
    local_port: int,
    **extra: object,
) -> TraceStep:
    return TraceStep(
        step=kind,
        interface="mapi",
        transport="ncacn_ip_tcp",
        target=SERVER,
        port=port,
        started=T0 + start,
        elapsed_ms=elapsed * 1000.0,
        outcome=outcome,
        local_address=CLIENT,
        local_port=local_port,
        **extra,  # type: ignore[arg-type]
    )


def out(at: float, lport: int, port: int, flags: int, payload: int = 0) -> WirePacket:
    return WirePacket(T0 + at, CLIENT, SERVER, "tcp", 64, lport, port, flags, payload)


def back(
    at: float, lport: int, port: int, flags: int, ttl: int = 63, payload: int = 0
) -> WirePacket:
    return WirePacket(T0 + at, SERVER, CLIENT, "tcp", ttl, port, lport, flags, payload)


def icmp(at: float, sender: str, lport: int, port: int, code: int = 13) -> WirePacket:
    return WirePacket(
        T0 + at, sender, CLIENT, "icmp", 64, lport, port,
        icmp_type=3, icmp_code=code, quoted_src=CLIENT, quoted_dst=SERVER,
    )  # fmt: skip


def resolved() -> tuple[list[TraceStep], list[WirePacket]]:
    """Connect, bind and ept_map on 135, answered; the server's SYN-ACK with TTL 63."""
    steps = [
        step(TraceStepKind.CONNECT, 135, 0.000, 0.001, "ok", EPM_LOCAL),
        step(TraceStepKind.BIND, 135, 0.002, 0.003, "bound", EPM_LOCAL),
        step(TraceStepKind.EPT_MAP, 135, 0.006, 0.003, "ok", EPM_LOCAL, resolved_port=60001),
    ]
    packets = [
        out(0.0001, EPM_LOCAL, 135, SYN),
        back(0.0005, EPM_LOCAL, 135, SYN | ACK),
        out(0.0006, EPM_LOCAL, 135, ACK),
        out(0.0021, EPM_LOCAL, 135, PSH | ACK, 72),
        back(0.0040, EPM_LOCAL, 135, PSH | ACK, payload=60),
        out(0.0061, EPM_LOCAL, 135, PSH | ACK, 156),
        back(0.0080, EPM_LOCAL, 135, PSH | ACK, payload=152),
        out(0.0095, EPM_LOCAL, 135, FIN | ACK),
    ]
    return steps, packets


def failing_connect(outcome: str, elapsed: float = 0.001, **extra: object) -> TraceStep:
    return step(TraceStepKind.CONNECT, 60001, 0.010, elapsed, outcome, RPC_LOCAL, **extra)


def explain(
    extra_steps: list[TraceStep], extra_packets: list[WirePacket], *, captured: bool = True
) -> tuple[TraceStep, ...]:
    steps, packets = resolved()
    return explain_steps(steps + extra_steps, packets + extra_packets, captured=captured)


def test_flag_letters_read_like_tcpdump() -> None:
    assert [flag_letters(f) for f in (SYN, SYN | ACK, RST, RST | ACK, PSH | ACK, FIN | ACK)] == [
        "S",
        "SA",
        "R",
        "RA",
        "PA",
        "FA",
    ]


def test_packets_go_to_the_step_that_was_running() -> None:
    steps, packets = resolved()
    other = WirePacket(T0 + 0.003, CLIENT, SERVER, "tcp", 64, 49999, 135, SYN)
    by_step = packets_by_step(steps, [*packets, other])
    flags = {index: [flag_letters(p.flags) for p in found] for index, found in by_step.items()}
    assert flags == {0: ["S", "SA", "A"], 1: ["PA", "PA"], 2: ["PA", "PA", "FA"]}


def test_a_working_trace_keeps_its_evidence_and_needs_no_explanation() -> None:
    explained = explain([], [])
    assert [s.explanation for s in explained] == [None, None, None]
    assert [e.summary for e in explained[0].evidence] == [
        f"{CLIENT}:{EPM_LOCAL} > {SERVER}:135 S TTL 64",
        f"{SERVER}:135 > {CLIENT}:{EPM_LOCAL} SA TTL 63",
        f"{CLIENT}:{EPM_LOCAL} > {SERVER}:135 A TTL 64",
    ]
    assert explained[1].evidence[0].summary.endswith("PA TTL 64, 72 bytes")


def test_syns_without_answer_are_dropped_on_the_way() -> None:
    syns = [out(0.010 + t, RPC_LOCAL, 60001, SYN) for t in (0.0, 1.0, 3.0)]
    last = explain([failing_connect("filtered", 5.0, detail="no answer")], syns)[-1]
    assert last.explanation is not None
    assert last.explanation.startswith("its 3 SYNs to 60001 got no answer in 5.0 s")
    assert "dropped on the way" in last.explanation
    assert [e.flags for e in last.evidence if e.source == "wire"] == ["S", "S", "S"]
    assert last.evidence[0].source == "kernel"


def test_a_reset_with_the_servers_ttl_is_the_server() -> None:
    packets = [out(0.0101, RPC_LOCAL, 60001, SYN), back(0.0102, RPC_LOCAL, 60001, RST | ACK)]
    last = explain([failing_connect("closed", detail="connection refused")], packets)[-1]
    assert last.explanation == (
        "its SYN to 60001 was reset by the server itself (TTL 63, as its SYN-ACKs): "
        "nothing listens on 60001"
    )


def test_a_reset_with_another_ttl_is_a_device_on_the_path() -> None:
    packets = [
        out(0.0101, RPC_LOCAL, 60001, SYN),
        back(0.0102, RPC_LOCAL, 60001, RST | ACK, ttl=64),
    ]
    last = explain([failing_connect("closed", detail="connection refused")], packets)[-1]
    assert last.explanation is not None
    assert "reset by a device on the path (TTL 64; the server's own packets come with TTL 63)" in (
        last.explanation
    )


def test_without_a_synack_from_the_server_the_reset_is_not_attributed() -> None:
    steps = [step(TraceStepKind.CONNECT, 135, 0.0, 0.001, "closed", EPM_LOCAL, detail="refused")]
    packets = [out(0.0001, EPM_LOCAL, 135, SYN), back(0.0002, EPM_LOCAL, 135, RST | ACK)]
    (only,) = explain_steps(steps, packets, captured=True)
    assert only.explanation is not None
    assert "no SYN-ACK from that server in the capture" in only.explanation


def test_icmp_admin_prohibited_names_the_router() -> None:
    kernel = IcmpError(type=3, code=13, sender=ROUTER)
    packets = [out(0.0101, RPC_LOCAL, 60001, SYN), icmp(0.0102, ROUTER, RPC_LOCAL, 60001)]
    last = explain([failing_connect("unreachable", icmp=kernel, detail="x")], packets)[-1]
    assert last.explanation is not None
    assert "(type 3 code 13) from 10.9.1.1" in last.explanation
    assert "prohibited (type 3 code 13) from 10.9.1.1: a firewall at that address" in (
        last.explanation
    )
    sources = [(e.source, e.src, e.icmp_code) for e in last.evidence if e.icmp_code is not None]
    assert sources == [("kernel", ROUTER, 13), ("wire", ROUTER, 13)]


def test_icmp_from_the_server_is_its_own_firewall() -> None:
    packets = [out(0.0101, RPC_LOCAL, 60001, SYN), icmp(0.0102, SERVER, RPC_LOCAL, 60001, 3)]
    last = explain([failing_connect("unreachable", detail="x")], packets)[-1]
    assert last.explanation is not None
    assert "the server itself: its own firewall rejects it" in last.explanation


def test_icmp_quoting_another_connection_is_not_evidence() -> None:
    stray = icmp(0.0102, ROUTER, RPC_LOCAL + 1, 60001)
    last = explain([failing_connect("filtered", 1.0, detail="x")], [stray])[-1]
    assert not [e for e in last.evidence if e.source == "wire"]


def test_silence_after_the_handshake_says_what_was_sent() -> None:
    steps = [
        failing_connect("ok", detail="connected"),
        step(TraceStepKind.BIND, 60001, 0.012, 3.0, "timeout", RPC_LOCAL, detail="no answer"),
    ]
    packets = [
        out(0.0101, RPC_LOCAL, 60001, SYN),
        back(0.0102, RPC_LOCAL, 60001, SYN | ACK),
        out(0.0103, RPC_LOCAL, 60001, ACK),
        out(0.0121, RPC_LOCAL, 60001, PSH | ACK, 72),
        back(0.0122, RPC_LOCAL, 60001, ACK),
    ]
    bind = explain(steps, packets)[-1]
    assert bind.explanation == (
        "the handshake completed (SYN-ACK TTL 63), this end sent the bind (72 bytes), and "
        "nothing came back within 3.0 s (only acknowledgements): the service hangs, or a "
        "device on the path passes the handshake and drops what follows"
    )


@pytest.mark.parametrize(
    ("outcome", "kernel", "expected"),
    [
        ("closed", None, "whether the server (nothing listens) or a device on the path sent it"),
        ("filtered", None, "run as root or with CAP_NET_RAW to see the packets"),
        ("unreachable", IcmpError(3, 13, ROUTER), "from 10.9.1.1: a firewall at that address"),
    ],
)
def test_without_a_capture_the_kernel_speaks_and_the_rest_is_named(
    outcome: str, kernel: IcmpError | None, expected: str
) -> None:
    failed = failing_connect(outcome, 2.0, icmp=kernel, detail="connection refused")
    last = explain([failed], [], captured=False)[-1]
    assert last.explanation is not None and expected in last.explanation
    assert [e.source for e in last.evidence] == ["kernel"]


def test_ok_is_every_step() -> None:
    steps, _ = resolved()
    assert all(s.ok for s in steps)
    assert not replace(steps[0], outcome="filtered").ok


# --- the SYN traceroute ------------------------------------------------------------------


def probes(*rows: tuple[int, int, str, str | None]) -> list[PathProbe]:
    made = []
    for ttl, port, reply, address in rows:
        reply_ttl = {ROUTER: 64, SERVER: 63}.get(address or "")
        code = 13 if reply == "unreachable" else None
        made.append(PathProbe(ttl, port, reply, address, reply_ttl, 3 if code else None, code, 0.1))
    return made


def test_path_a_router_rejecting_the_rpc_port() -> None:
    found = probes(
        (1, 60001, "time_exceeded", ROUTER), (1, 135, "time_exceeded", ROUTER),
        (2, 60001, "unreachable", ROUTER), (2, 135, "syn_ack", SERVER),
    )  # fmt: skip
    assert path_verdict(SERVER, found, 60001, 135) == (
        "10.9.1.1 (hop 1) rejects 60001 with ICMP type 3 code 13 (administratively prohibited: "
        "a firewall there) from TTL 2 on, while 135 reaches 10.9.2.10 at hop 2 (syn_ack)"
    )


def test_path_dies_at_the_servers_hop() -> None:
    found = probes(
        (1, 60001, "time_exceeded", ROUTER), (1, 135, "time_exceeded", ROUTER),
        (2, 60001, "none", None), (2, 135, "syn_ack", SERVER),
        (3, 60001, "none", None), (3, 135, "syn_ack", SERVER),
    )  # fmt: skip
    verdict = path_verdict(SERVER, found, 60001, 135)
    assert verdict.startswith("the path to 60001 dies after hop 1 (10.9.1.1)")
    assert "the server's own hop" in verdict
    assert (path_end(found, 60001), path_end(found, 135)) == (2, 2)


def test_path_a_device_answering_for_the_server_before_it() -> None:
    found = probes(
        (1, 60001, "reset", ROUTER), (1, 135, "time_exceeded", ROUTER),
        (2, 60001, "reset", ROUTER), (2, 135, "syn_ack", SERVER),
    )  # fmt: skip
    assert path_verdict(SERVER, found, 60001, 135).startswith(
        "a device at hop 1 (10.9.1.1) answers for 10.9.2.10 on 60001 (reset, TTL 64)"
    )


def test_path_the_same_for_both_ports() -> None:
    found = probes(
        (1, 60001, "time_exceeded", ROUTER), (1, 135, "time_exceeded", ROUTER),
        (2, 60001, "reset", SERVER), (2, 135, "syn_ack", SERVER),
    )  # fmt: skip
    assert "the path is the same" in path_verdict(SERVER, found, 60001, 135)
