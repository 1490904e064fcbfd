"""Why each traced step ended as it did: evidence from the wire and the kernel, in words.

Pure: steps (``engine.trace``) and captured packets (``capture.sniffer``) in, the same
steps out with their ``evidence`` and, for a step that failed, an ``explanation``.

The packets of a step are those of its connection: TCP between this end's address and
port and the server's, and ICMP errors quoting a segment of it. On one connection they
go to the step that had started last when they were captured: each step starts its clock
before it sends anything, so what it sends and what answers it come after its start and
before the next step's (connect, then bind, ...); the closing FINs go to the last.

A failed connect is explained with the same phrases as ``epmscan pcap``
(:func:`epmscan.checks.capture_verdicts.connection_phrase`), from a capture
:class:`~epmscan.models.capture.Connection` made of its packets: SYNs without answer
(dropped on the way), a reset (the server itself when its TTL is the one of the server's
SYN-ACKs from the endpoint mapper, a device on the path when it is another), an ICMP
destination unreachable with its type, code and sender. A step that connected and then
got nothing back says what was sent and that nothing came. Without a capture, the
kernel's error is the evidence, and the explanation says what only packets could show.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from epmscan.checks.capture_verdicts import connection_phrase
from epmscan.models import IcmpError
from epmscan.models.capture import Connection, ConnectionOutcome, ConnectionRole, ResetSource
from epmscan.models.trace import (
    NOT_TRIED,
    Evidence,
    PathProbe,
    PathTrace,
    TraceStep,
    TraceStepKind,
    WirePacket,
)

FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10
_FLAG_LETTERS = ((SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P"), (ACK, "A"))
NO_CAPTURE = "run as root or with CAP_NET_RAW to see the packets"

ConnectionKey = tuple[str, int, str, int]


def flag_letters(flags: int) -> str:
    """``S``, ``SA``, ``R``, ``RA``, ``PA``, ``FA`` (tcpdump's order, ``A`` last)."""
    return "".join(letter for bit, letter in _FLAG_LETTERS if flags & bit) or "."


def _endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def packet_evidence(packet: WirePacket) -> Evidence:
    """One packet as a line: addresses and ports, flags or ICMP type/code, TTL."""
    if packet.protocol == "tcp":
        flags = flag_letters(packet.flags)
        data = f", {packet.payload} bytes" if packet.payload else ""
        summary = (
            f"{_endpoint(packet.src, packet.sport)} > {_endpoint(packet.dst, packet.dport)} "
            f"{flags} TTL {packet.ttl}{data}"
        )
        return Evidence(
            source="wire",
            summary=summary,
            time=packet.time,
            src=packet.src,
            dst=packet.dst,
            sport=packet.sport,
            dport=packet.dport,
            flags=flags,
            ttl=packet.ttl,
        )
    name = "ICMPv6" if packet.protocol == "icmpv6" else "ICMP"
    quoted = ""
    if packet.quoted_src is not None and packet.quoted_dst is not None:
        quoted = (
            f" about {_endpoint(packet.quoted_src, packet.sport)} > "
            f"{_endpoint(packet.quoted_dst, packet.dport)}"
        )
    summary = (
        f"{packet.src} > {packet.dst} {name} type {packet.icmp_type} code {packet.icmp_code}"
        f" ({_icmp_meaning(packet)}){quoted}, TTL {packet.ttl}"
    )
    return Evidence(
        source="wire",
        summary=summary,
        time=packet.time,
        src=packet.src,
        dst=packet.dst,
        sport=packet.sport,
        dport=packet.dport,
        ttl=packet.ttl,
        icmp_type=packet.icmp_type,
        icmp_code=packet.icmp_code,
    )


def _icmp_meaning(packet: WirePacket) -> str:
    """``destination unreachable: communication administratively prohibited`` and the like."""
    code = packet.icmp_code if packet.icmp_code is not None else -1
    icmp = IcmpError(packet.icmp_type or 0, code, packet.src, packet.protocol)
    return f"destination unreachable: {icmp.meaning or f'code {code}'}"


def kernel_evidence(step: TraceStep) -> tuple[Evidence, ...]:
    """What the socket said: the ICMP error from its error queue, or the failure itself."""
    if step.icmp is not None:
        icmp = step.icmp
        return (
            Evidence(
                source="kernel",
                summary=f"error queue (IP_RECVERR): {icmp.description}",
                src=icmp.sender or None,
                icmp_type=icmp.type,
                icmp_code=icmp.code,
            ),
        )
    tried = step.outcome != NOT_TRIED
    if step.step is TraceStepKind.CONNECT and not step.ok and tried and step.detail:
        return (Evidence(source="kernel", summary=f"connect: {step.detail}"),)
    return ()


def _key(step: TraceStep) -> ConnectionKey | None:
    if step.local_address is None or step.local_port is None:
        return None
    return (step.local_address, step.local_port, step.target, step.port)


def _belongs(packet: WirePacket, key: ConnectionKey) -> bool:
    local, local_port, remote, port = key
    if packet.protocol == "tcp":
        return (packet.src, packet.sport, packet.dst, packet.dport) == key or (
            packet.src,
            packet.sport,
            packet.dst,
            packet.dport,
        ) == (remote, port, local, local_port)
    return (packet.quoted_src, packet.sport, packet.quoted_dst, packet.dport) == key


def packets_by_step(
    steps: Sequence[TraceStep], packets: Iterable[WirePacket]
) -> dict[int, list[WirePacket]]:
    """Index of a step in ``steps`` → its packets (those of its connection while it ran)."""
    connections: dict[ConnectionKey, list[int]] = {}
    for index, step in enumerate(steps):
        key = _key(step)
        if key is not None:
            connections.setdefault(key, []).append(index)
    found: dict[int, list[WirePacket]] = {}
    for packet in sorted(packets, key=lambda p: p.time):
        for key, indexes in connections.items():
            if not _belongs(packet, key):
                continue
            owner = indexes[0]
            for index in indexes:
                if steps[index].started <= packet.time:
                    owner = index
            found.setdefault(owner, []).append(packet)
            break
    return found


def server_ttl(steps: Sequence[TraceStep], by_step: dict[int, list[WirePacket]]) -> int | None:
    """The TTL of the server's SYN-ACKs, from its endpoint mapper first (then any port)."""
    epm_ports = {s.port for s in steps if s.step is TraceStepKind.EPT_MAP}
    fallback: int | None = None
    for index, step in enumerate(steps):
        if step.step is not TraceStepKind.CONNECT:
            continue
        for packet in by_step.get(index, []):
            if packet.protocol == "tcp" and packet.flags & SYN and packet.flags & ACK:
                if step.port in epm_ports:
                    return packet.ttl
                if fallback is None:
                    fallback = packet.ttl
    return fallback


def _connection(step: TraceStep, packets: Sequence[WirePacket], ttl: int | None) -> Connection:
    """The connect step's packets as ``pcap`` would see them."""
    outgoing = [
        p for p in packets if p.protocol == "tcp" and p.src == step.local_address and p.flags & SYN
    ]
    incoming = [p for p in packets if p.protocol == "tcp" and p.src == step.target]
    resets = [p for p in incoming if p.flags & RST]
    synacks = [p for p in incoming if p.flags & SYN and p.flags & ACK]
    icmp = next((p for p in packets if p.protocol != "tcp"), None)
    outcome = {
        "closed": ConnectionOutcome.CLOSED,
        "filtered": ConnectionOutcome.FILTERED,
        "unreachable": ConnectionOutcome.UNREACHABLE,
    }.get(step.outcome, ConnectionOutcome.ESTABLISHED)
    reset_ttl = resets[0].ttl if resets else None
    source: ResetSource | None = None
    if reset_ttl is not None:
        if ttl is None:
            source = ResetSource.UNKNOWN
        else:
            source = ResetSource.SERVER if reset_ttl == ttl else ResetSource.PATH
    icmp_type = icmp.icmp_type if icmp else (step.icmp.type if step.icmp else None)
    icmp_code = icmp.icmp_code if icmp else (step.icmp.code if step.icmp else None)
    icmp_from = icmp.src if icmp else (step.icmp.sender if step.icmp else None)
    icmp_text = None
    if icmp is not None:
        icmp_text = _icmp_meaning(icmp)
    elif step.icmp is not None:
        icmp_text = f"destination unreachable: {step.icmp.meaning or f'code {step.icmp.code}'}"
    return Connection(
        client=step.local_address or "",
        server=step.target,
        client_port=step.local_port or 0,
        port=step.port,
        role=ConnectionRole.RESOLVED,
        frame=0,
        time=step.started,
        outcome=outcome,
        syn_count=max(1, len(outgoing)),
        syn_ttl=outgoing[0].ttl if outgoing else None,
        synack_ttl=synacks[0].ttl if synacks else None,
        reset_ttl=reset_ttl,
        reset_source=source,
        server_ttl=ttl,
        icmp_type=icmp_type,
        icmp_code=icmp_code,
        icmp_from=icmp_from,
        icmp_text=icmp_text,
        waited=round(step.elapsed_ms / 1000.0, 3),
    )


def _icmp_where(step: TraceStep, sender: str | None, code: int | None) -> str:
    if sender and sender == step.target:
        return "the server itself: its own firewall rejects it"
    if sender and sender == step.local_address:
        return "this machine itself: no neighbour answered for the address (or a local rule)"
    prohibited = code == 13 or (
        step.icmp is not None and step.icmp.protocol == "icmpv6" and code == 1
    )
    if prohibited:
        return f"{sender}: a firewall at that address rejects it"
    return f"{sender}: a router or firewall there rejects it"


def _connect_explanation(
    step: TraceStep, packets: Sequence[WirePacket], ttl: int | None, captured: bool
) -> str:
    connection = _connection(step, packets, ttl)
    if step.outcome == "unreachable":
        if connection.icmp_type is None:
            return f"the kernel failed the connect ({step.detail}) with no ICMP message behind it"
        what = "its SYN" if connection.syn_count <= 1 else f"its {connection.syn_count} SYNs"
        return (
            f"{what} to {step.port} got ICMP {connection.icmp_text} (type "
            f"{connection.icmp_type} code {connection.icmp_code}) from "
            f"{_icmp_where(step, connection.icmp_from, connection.icmp_code)}"
        )
    if not captured:
        if step.outcome == "closed":
            return (
                f"a reset answered the SYN to {step.port} (the kernel: {step.detail}); whether "
                f"the server (nothing listens) or a device on the path sent it shows in the "
                f"reset's TTL: {NO_CAPTURE}"
            )
        if step.outcome == "filtered":
            return (
                f"no answer to the SYN to {step.port} within {step.elapsed_ms / 1000:.1f} s and "
                f"no ICMP error in the kernel's queue: dropped on the way, by a firewall or the "
                f"server's own; {NO_CAPTURE} (SYN retransmissions, anything that came back)"
            )
        return step.detail or step.outcome
    if step.outcome == "filtered":
        answered = [p for p in packets if p.src == step.target]
        if answered:
            return connection_phrase(connection) + (
                f" (yet {len(answered)} packet(s) came back from the server: the answer did "
                "not reach this socket)"
            )
        return (
            connection_phrase(connection).replace("blocked between them", "dropped on the way")
            + " (no ICMP error came either)"
        )
    if step.outcome == "closed" and connection.reset_ttl is None:
        return (
            f"the kernel says {step.detail}, but no reset to the SYN to {step.port} was "
            "captured (was the capture on the right interface?)"
        )
    return connection_phrase(connection)


_ASKED = {
    TraceStepKind.BIND: "the bind",
    TraceStepKind.EPT_MAP: "the ept_map request",
    TraceStepKind.GREETING: "nothing (it waits for the server to greet first)",
}


def _after_connect_explanation(
    step: TraceStep, packets: Sequence[WirePacket], handshake: Sequence[WirePacket], captured: bool
) -> str:
    seconds = step.elapsed_ms / 1000.0
    if step.outcome in ("timeout", "silent"):
        if not captured:
            return (
                f"connected, then nothing came back within {seconds:.1f} s: the service hangs, "
                f"or something on the path drops its answers; {NO_CAPTURE}"
            )
        sent = sum(p.payload for p in packets if p.src == step.local_address)
        came = [p for p in packets if p.src == step.target and p.protocol == "tcp"]
        synack = next(
            (p for p in handshake if p.src == step.target and p.flags & SYN and p.flags & ACK),
            None,
        )
        lead = "the handshake completed"
        if synack is not None:
            lead += f" (SYN-ACK TTL {synack.ttl})"
        what = _ASKED[step.step]
        sent_text = f"this end sent {what} ({sent} bytes)" if sent else f"this end sent {what}"
        if step.step is TraceStepKind.GREETING:
            sent_text = "this end waited for the greeting"
        data_back = sum(p.payload for p in came)
        if data_back:
            return (
                f"{lead}, {sent_text}; {data_back} bytes came back, then nothing within "
                f"{seconds:.1f} s: the answer is incomplete"
            )
        resets = [p for p in came if p.flags & RST]
        if resets:
            return f"{lead}, {sent_text}, and the server reset the connection (TTL {resets[0].ttl})"
        return (
            f"{lead}, {sent_text}, and nothing came back within {seconds:.1f} s (only "
            f"acknowledgements): the service hangs, or a device on the path passes the "
            "handshake and drops what follows"
        )
    if step.outcome == "closed":
        return f"connected, then the connection was closed ({step.detail}) before an answer"
    if step.outcome in ("wrong_service", "bind_rejected"):
        return f"the port answers, but refused the bind ({step.detail}): another service holds it"
    if step.outcome == "not_registered":
        return (
            f"the endpoint mapper answered: {step.detail}; the service is not running or "
            "does not listen on TCP"
        )
    if step.outcome == "other_service":
        return f"{step.port} answers, but not with ncacn_http/1.0 ({step.detail})"
    return step.detail or step.outcome


def explain_steps(
    steps: Sequence[TraceStep], packets: Iterable[WirePacket], *, captured: bool
) -> tuple[TraceStep, ...]:
    """The steps with their evidence and, where they failed, an explanation."""
    by_step = packets_by_step(steps, packets)
    ttl = server_ttl(steps, by_step)
    connect_of: dict[ConnectionKey, int] = {}
    explained = []
    for index, step in enumerate(steps):
        own = by_step.get(index, [])
        key = _key(step)
        if step.step is TraceStepKind.CONNECT and key is not None:
            connect_of[key] = index
        evidence = kernel_evidence(step) + tuple(packet_evidence(p) for p in own)
        explanation = None
        if step.outcome == NOT_TRIED:
            explanation = step.detail
        elif not step.ok:
            if step.step is TraceStepKind.CONNECT:
                explanation = _connect_explanation(step, own, ttl, captured)
            else:
                handshake = by_step.get(connect_of.get(key, -1), []) if key else []
                explanation = _after_connect_explanation(step, own, handshake, captured)
        explained.append(replace(step, evidence=evidence, explanation=explanation))
    return tuple(explained)


def _column(probes: Iterable[PathProbe], port: int) -> list[PathProbe]:
    return sorted((p for p in probes if p.port == port), key=lambda p: p.ttl)


def _end(column: Sequence[PathProbe]) -> PathProbe | None:
    """The first probe that reached the end of the path or was rejected on it."""
    return next((p for p in column if p.reply not in ("time_exceeded", "none")), None)


def _last_router(column: Sequence[PathProbe], before: int) -> PathProbe | None:
    routers = [p for p in column if p.reply == "time_exceeded" and p.ttl < before]
    return routers[-1] if routers else None


def _hop_of(probes: Iterable[PathProbe], address: str | None, fallback: int) -> int:
    """The hop at which ``address`` answers with time exceeded (it is that router)."""
    routers = [p.ttl for p in probes if p.reply == "time_exceeded" and p.address == address]
    return min(routers) if routers else fallback


def path_end(probes: Sequence[PathProbe], port: int) -> int:
    """The last TTL worth showing for ``port``: its end, or one past its last answer."""
    column = _column(probes, port)
    end = _end(column)
    if end is not None:
        return end.ttl
    answered = [p.ttl for p in column if p.reply != "none"]
    return (max(answered) if answered else 0) + 1


def path_verdict(target: str, probes: Sequence[PathProbe], failing: int, reference: int) -> str:
    """Where the path to ``failing`` ends, next to where the path to ``reference`` goes."""
    bad, good = _column(probes, failing), _column(probes, reference)
    bad_end, good_end = _end(bad), _end(good)
    if good_end is None:
        reach = f"the SYNs to {reference} never reached {target} either"
    else:
        reach = f"{reference} reaches {good_end.address} at hop {good_end.ttl} ({good_end.reply})"
    if bad_end is None:
        last = _last_router(bad, good_end.ttl if good_end else len(bad) + 1)
        after = f"hop {last.ttl} ({last.address})" if last else "this machine"
        dies = last.ttl + 1 if last else 1
        where = "dropped there or beyond"
        if good_end is not None and dies == good_end.ttl:
            where = "the server's own hop: the server's firewall or the last link drops it"
        return (
            f"the path to {failing} dies after {after}: nothing answers from hop {dies} on "
            f"({where}), while {reach}"
        )
    if bad_end.reply == "unreachable":
        hop = _hop_of(probes, bad_end.address, bad_end.ttl)
        why = ""
        if bad_end.icmp_code == 13 or (bad_end.icmp_type == 1 and bad_end.icmp_code == 1):
            why = " (administratively prohibited: a firewall there)"
        return (
            f"{bad_end.address} (hop {hop}) rejects {failing} with ICMP type {bad_end.icmp_type} "
            f"code {bad_end.icmp_code}{why} from TTL {bad_end.ttl} on, while {reach}"
        )
    if good_end is not None and bad_end.ttl < good_end.ttl:
        return (
            f"a device at hop {bad_end.ttl} ({bad_end.address}) answers for {target} on "
            f"{failing} ({bad_end.reply}, TTL {bad_end.reply_ttl}) before the server, while {reach}"
        )
    if good_end is not None and bad_end.reply_ttl != good_end.reply_ttl:
        return (
            f"{failing} answers at hop {bad_end.ttl} ({bad_end.reply}) with TTL "
            f"{bad_end.reply_ttl}, the server's own packets with {good_end.reply_ttl}: "
            f"a device on the path answers for it, while {reach}"
        )
    return (
        f"{failing} reaches {bad_end.address} at hop {bad_end.ttl} ({bad_end.reply}), as "
        f"{reference} does: the path is the same, the answer comes from the end"
    )


def judge_path(path: PathTrace) -> PathTrace:
    """The path trace with its verdict (the first port is the failing one)."""
    if len(path.ports) < 2:
        return path
    return replace(
        path, verdict=path_verdict(path.target, path.probes, path.ports[0], path.ports[1])
    )
