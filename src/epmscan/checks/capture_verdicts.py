"""One sentence per client, server and interface: what the capture proves.

The subjects, in this order per (client, server):

1. the endpoint mapper itself: could the client reach it, were its calls answered;
2. every interface the client asked for with ``ept_map``: the port it got (or that it was
   not registered), then what became of the client's connections to that port (those
   that bound another interface do not count for this one);
3. connections to ports the client learnt from ``ept_lookup`` (or another client's
   ``ept_map``) and not covered above, per port and bound interface;
4. RPC-over-HTTP ports (6001, 6002, 6004) not covered above.

The status is the scanner's word for the last connection (``bound``, ``wrong_service``,
``closed``, ``filtered``, ``unreachable``, ``timeout``, ``protocol_error``; on RPC-over-HTTP
ports ``ncacn_http``, ``other_service``, ``silent``), ``established`` when it connected but
no bind was seen, ``not_probed`` when the client never connected, ``not_registered`` when
the endpoint mapper had no such endpoint; for the endpoint mapper ``ok``, ``timeout``
(calls without answer) or the connection's outcome. A reset names its sender when the
capture shows it (:class:`~epmscan.models.capture.ResetSource`, by TTL).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from epmscan.facts.exchange import RPC_HTTP_PORTS
from epmscan.models.capture import (
    ENDPOINT_MAPPER,
    Connection,
    ConnectionOutcome,
    ConnectionRole,
    EpmCall,
    Mapping,
    ResetSource,
    Verdict,
)
from epmscan.protocol.constants import EPT_S_NOT_REGISTERED

_EXCHANGE_LABELS = {
    "mapi": "MAPI",
    "async_mapi": "AsyncEMSMDB",
    "nspi": "NSPI (address book)",
    "rfr": "RFR (referral)",
}
_WATCHED = ("ncacn_ip_tcp", "ncacn_http")
INITIAL_TTLS = (64, 128, 255)
"""The TTLs systems start with: a packet still carrying one has crossed no router."""
_FRAMES_SHOWN = 10


def host_port(address: str, port: int) -> str:
    """``192.0.2.5:135``, ``[2001:db8::5]:135``."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def interface_label(name: str | None, uuid: str | None, exchange: str | None) -> str:
    """A short human name: ``MAPI``, the protocol's title, or the UUID."""
    if exchange in _EXCHANGE_LABELS:
        return _EXCHANGE_LABELS[exchange]
    return name or uuid or "an unknown interface"


def connection_status(connection: Connection) -> str:
    """The scanner's word for how one connection went."""
    if connection.outcome is not ConnectionOutcome.ESTABLISHED:
        return str(connection.outcome.value)
    if connection.greeting == "other_service" or connection.greeting == "silent":
        return connection.greeting
    if connection.bind is not None:
        return connection.bind
    if connection.greeting == "ncacn_http":
        return "ncacn_http"
    return "established"


def _syns(connection: Connection) -> str:
    count = connection.syn_count
    if count <= 1:
        return f"its SYN to {connection.port}"
    return f"its {count} SYNs to {connection.port}"


def _reset_phrase(connection: Connection) -> str:
    ttl = connection.reset_ttl
    if connection.reset_source is ResetSource.SERVER:
        return (
            f"was reset by the server itself (TTL {ttl}, as its SYN-ACKs): "
            f"nothing listens on {connection.port}"
        )
    if connection.reset_source is ResetSource.PATH:
        return (
            f"was reset by a device on the path (TTL {ttl}; the server's own packets come "
            f"with TTL {connection.server_ttl}): a firewall rejects it"
        )
    return (
        f"was reset (TTL {ttl}; no SYN-ACK from that server in the capture to tell "
        "the server from a firewall)"
    )


def connection_phrase(connection: Connection) -> str:
    """What happened to one connection, as a clause: ``its 3 SYNs to 60001 got no answer``."""
    port = connection.port
    outcome = connection.outcome
    if outcome is ConnectionOutcome.FILTERED:
        waited = f" in {connection.waited:.1f} s" if connection.waited else ""
        phrase = f"{_syns(connection)} got no answer{waited}: blocked between them"
        if connection.server_ttl in INITIAL_TTLS and connection.syn_ttl not in INITIAL_TTLS:
            phrase += (
                f" (the server's packets arrive here with their initial TTL "
                f"{connection.server_ttl}: the capture was taken beside the server, so the "
                "SYNs got there and the server's own firewall drops them)"
            )
        return phrase
    if outcome is ConnectionOutcome.CLOSED:
        phrase = _reset_phrase(connection)
        if connection.syn_count > 1:
            phrase = phrase.replace("was reset", "were reset", 1)
        return f"{_syns(connection)} {phrase}"
    if outcome is ConnectionOutcome.UNREACHABLE:
        sender = connection.icmp_from
        if sender == connection.server:
            where = "the server itself: its own firewall rejects it"
        else:
            where = f"{sender}: a router or firewall there rejects it"
        return (
            f"{_syns(connection)} got ICMP {connection.icmp_text} (type {connection.icmp_type} "
            f"code {connection.icmp_code}) from {where}"
        )
    status = connection_status(connection)
    detail = connection.bind_detail
    if status == "other_service":
        return f"{port} answers, but not with ncacn_http/1.0 (it sent {connection.banner!r})"
    if status == "silent":
        return f"connected to {port}, but it sent no ncacn_http/1.0 greeting"
    lead = f"connected to {port}"
    if connection.greeting == "ncacn_http":
        lead += " (ncacn_http/1.0 greeting)"
    if status == "bound":
        return f"{lead} and the bind was accepted"
    if status == "wrong_service":
        return f"{lead}, but the bind was refused ({detail}): another service holds the port"
    if status == "timeout":
        return f"{lead}, but the bind got no answer"
    if status == "protocol_error":
        return f"{lead}, but the answer to the bind is not DCE/RPC ({detail})"
    if connection.midstream:
        return f"{lead} (the capture starts after the handshake; no bind seen)"
    return f"{lead} (no bind seen in the capture)"


def _summary(connections: Sequence[Connection]) -> tuple[str, str, tuple[int, ...]]:
    """(status, phrase, frames) of a series of connections: the last one decides."""
    last = connections[-1]
    phrase = connection_phrase(last)
    if len(connections) > 1:
        counts = Counter(connection_status(c) for c in connections)
        if len(counts) > 1:
            parts = ", ".join(f"{n} {word}" for word, n in counts.most_common())
            phrase += f" (last of {len(connections)} connections: {parts})"
        else:
            phrase += f" ({len(connections)} connections, all alike)"
    return connection_status(last), phrase, _frames(c.frame for c in connections)


def _frames(frames: Iterable[int]) -> tuple[int, ...]:
    """The first and last few of many frame numbers."""
    every = tuple(frames)
    if len(every) <= 2 * _FRAMES_SHOWN:
        return every
    return every[:_FRAMES_SHOWN] + every[-_FRAMES_SHOWN:]


def _status_text(call: EpmCall) -> str:
    if call.status is None:
        return "no answer"
    return f"0x{call.status:08x} {call.status_name}"


def _epm_status(
    subject: str, connections: Sequence[Connection], calls: Sequence[EpmCall]
) -> tuple[str, str, tuple[int, ...]]:
    """(status, text, frames) of one client's connections to one endpoint mapper."""
    established = [c for c in connections if c.outcome is ConnectionOutcome.ESTABLISHED]
    if not established:
        status, phrase, frames = _summary(connections)
        return status, f"{subject}: {phrase}; nothing can be resolved", frames
    frames = _frames(c.frame for c in connections)
    unanswered = [c for c in calls if c.response_frame is None]
    kinds = Counter(c.operation for c in calls)
    listed = ", ".join(f"{n} {op}" for op, n in sorted(kinds.items()))
    refused = [c for c in established if c.bind in ("wrong_service", "protocol_error")]
    if unanswered:
        status = "timeout"
        text = (
            f"{subject}: {len(unanswered)} of its {len(calls)} calls ({listed}) "
            "got no answer in the capture"
        )
    elif calls:
        status = "ok"
        calls_word = "call" if len(calls) == 1 else "calls"
        text = f"{subject}: connected, {len(calls)} {calls_word} answered ({listed})"
    elif refused:
        first = refused[0]
        if first.bind == "wrong_service":
            status, what = "bind_rejected", "the bind was refused"
        else:
            status, what = "protocol_error", "the answer to the bind is not DCE/RPC"
        text = f"{subject}: connected, but {what} ({first.bind_detail})"
    else:
        status = "established"
        text = f"{subject}: connected (no ept_map or ept_lookup seen)"
    undecoded = [c for c in calls if c.detail]
    if undecoded:
        text += f"; {len(undecoded)} not decoded ({undecoded[0].detail})"
    return status, text, frames


class _Builder:
    def __init__(
        self,
        calls: Sequence[EpmCall],
        mappings: Sequence[Mapping],
        connections: Sequence[Connection],
    ) -> None:
        self.calls = calls
        self.mappings = mappings
        self.connections = connections
        self.by_target: dict[tuple[str, str, int], list[Connection]] = {}
        for connection in connections:
            key = (connection.client, connection.server, connection.port)
            self.by_target.setdefault(key, []).append(connection)
        self.used: set[int] = set()
        self.verdicts: list[tuple[tuple[str, str, int, int], Verdict]] = []

    def add(self, order: tuple[str, str, int, int], verdict: Verdict) -> None:
        self.verdicts.append((order, verdict))

    def epm(self) -> None:
        groups: dict[tuple[str, str], list[Connection]] = {}
        for connection in self.connections:
            if connection.role is ConnectionRole.EPM:
                groups.setdefault((connection.client, connection.server), []).append(connection)
        calls_by: dict[tuple[str, str], list[EpmCall]] = {}
        for call in self.calls:
            calls_by.setdefault((call.client, call.server), []).append(call)
        for (client, server), connections in groups.items():
            calls = calls_by.get((client, server), [])
            port = connections[-1].port
            subject = f"client {client} -> endpoint mapper {host_port(server, port)}"
            status, text, frames = _epm_status(subject, connections, calls)
            self.add(
                (client, server, 0, frames[0]),
                Verdict(
                    client=client,
                    server=server,
                    interface=ENDPOINT_MAPPER,
                    uuid=connections[0].uuid,
                    exchange=None,
                    port=port,
                    transport="ncacn_ip_tcp" if port != 593 else "ncacn_http",
                    status=status,
                    text=text,
                    frames=frames,
                ),
            )

    def _connections_for(self, client: str, mapping: Mapping, uuid: str) -> list[Connection]:
        """The client's connections to the mapped port, at the tower's address or the
        endpoint mapper's, that bound this interface or nothing."""
        assert mapping.port is not None
        found = list(self.by_target.get((client, mapping.server, mapping.port), []))
        if mapping.address not in (None, mapping.server):
            found += self.by_target.get((client, mapping.address, mapping.port), [])
            found.sort(key=lambda c: c.frame)
        return [
            c for c in found if c.bind_uuid in (None, uuid) and c.role is not ConnectionRole.EPM
        ]

    def asked(self) -> None:
        subjects: dict[tuple[str, str, str], list[EpmCall]] = {}
        for call in self.calls:
            if call.operation != "ept_map" or call.uuid is None:
                continue
            if call.transport not in _WATCHED:
                continue
            subjects.setdefault((call.client, call.server, call.uuid), []).append(call)
        resolved: dict[tuple[str, str, str], list[Mapping]] = {}
        for mapping in self.mappings:
            if mapping.transport in _WATCHED and mapping.port:
                key = (mapping.client, mapping.server, mapping.uuid)
                resolved.setdefault(key, []).append(mapping)
        for (client, server, uuid), calls in subjects.items():
            first = calls[0]
            label = interface_label(first.interface, uuid, first.exchange)
            lead = f"client {client} asked {server} for {label}"
            maps = [m for m in resolved.get((client, server, uuid), []) if m.operation == "ept_map"]
            if not maps:
                self._not_resolved(client, server, uuid, calls, lead)
                continue
            self._ports(client, server, uuid, maps, lead, calls[0].frame)

    def _not_resolved(
        self, client: str, server: str, uuid: str, calls: list[EpmCall], lead: str
    ) -> None:
        last = calls[-1]
        asked = f" ({last.transport})" if last.transport else ""
        if last.response_frame is None:
            status, text = (
                "timeout",
                f"{lead}{asked}: the endpoint mapper's answer is not in the capture",
            )
        elif last.fault:
            status, text = (
                "rpc_fault",
                f"{lead}{asked}: the endpoint mapper answered with a fault ({_status_text(last)})",
            )
        elif last.detail:
            status, text = "protocol_error", f"{lead}{asked}: {last.detail}"
        elif last.status == EPT_S_NOT_REGISTERED or last.towers == 0:
            status = "not_registered"
            text = (
                f"{lead}{asked}: not registered ({_status_text(last)}): the service is not "
                f"running or does not listen on {last.transport}"
            )
        else:
            status, text = (
                "not_registered",
                f"{lead}{asked}: no {last.transport} endpoint in the answer",
            )
        frames = _frames(c.response_frame or c.frame for c in calls)
        self.add(
            (client, server, 1, calls[0].frame),
            Verdict(
                client=client,
                server=server,
                interface=last.interface,
                uuid=uuid,
                exchange=last.exchange,
                port=None,
                transport=last.transport,
                status=status,
                text=text,
                frames=frames,
            ),
        )

    def _ports(
        self,
        client: str,
        server: str,
        uuid: str,
        maps: list[Mapping],
        lead: str,
        order: int,
    ) -> None:
        latest: dict[tuple[str, int, str], Mapping] = {}
        for mapping in maps:
            assert mapping.port is not None and mapping.address is not None
            latest[(mapping.address, mapping.port, mapping.transport)] = mapping
        for (address, port, transport), mapping in latest.items():
            where = f"port {port}" if address == server else f"{address} port {port}"
            got = f"{lead}, got {where}" + (
                f" ({transport})" if transport != "ncacn_ip_tcp" else ""
            )
            connections = self._connections_for(client, mapping, uuid)
            self.used.update(id(c) for c in connections)
            if not connections:
                status = "not_probed"
                text = f"{got}; it did not connect to {port} in this capture"
                frames: tuple[int, ...] = (mapping.frame,)
            else:
                status, phrase, connection_frames = _summary(connections)
                text = f"{got}; {phrase}"
                frames = _frames((mapping.frame, *connection_frames))
            self.add(
                (client, server, 1, order),
                Verdict(
                    client=client,
                    server=server,
                    interface=mapping.interface,
                    uuid=uuid,
                    exchange=mapping.exchange,
                    port=port,
                    transport=transport,
                    status=status,
                    text=text,
                    frames=frames,
                ),
            )

    def others(self) -> None:
        mapped: dict[tuple[str, int], dict[str, Mapping]] = {}
        for mapping in self.mappings:
            if mapping.transport in _WATCHED and mapping.port and mapping.address:
                mapped.setdefault((mapping.address, mapping.port), {})[mapping.uuid] = mapping
        groups: dict[tuple[str, str, int, str | None], list[Connection]] = {}
        for connection in self.connections:
            if id(connection) in self.used or connection.role is ConnectionRole.EPM:
                continue
            key = (connection.client, connection.server, connection.port, connection.bind_uuid)
            groups.setdefault(key, []).append(connection)
        for (client, server, port, bound), connections in groups.items():
            first = connections[0]
            status, phrase, frames = _summary(connections)
            candidates = mapped.get((server, port), {})
            if first.role is ConnectionRole.RPC_HTTP and not candidates:
                exchange = RPC_HTTP_PORTS[port].value
                label = interface_label(None, None, exchange)
                target = host_port(server, port)
                text = f"client {client} -> {target} (RPC over HTTP, {label}): {phrase}"
            elif bound is not None:
                label = interface_label(first.interface, bound, first.exchange)
                text = f"client {client} -> {host_port(server, port)} ({label}): {phrase}"
            else:
                names = sorted(
                    {interface_label(m.interface, m.uuid, m.exchange) for m in candidates.values()}
                )
                known = f" (resolved for {', '.join(names)})" if names else ""
                text = f"client {client} -> {host_port(server, port)}{known}: {phrase}"
            self.add(
                (client, server, 2, first.frame),
                Verdict(
                    client=client,
                    server=server,
                    interface=first.interface,
                    uuid=bound if bound is not None else first.uuid,
                    exchange=first.exchange,
                    port=port,
                    transport="ncacn_http" if first.greeting is not None else "ncacn_ip_tcp",
                    status=status,
                    text=text,
                    frames=frames,
                ),
            )

    def result(self) -> tuple[Verdict, ...]:
        self.verdicts.sort(key=lambda item: item[0])
        return tuple(verdict for _, verdict in self.verdicts)


def build_verdicts(
    calls: Iterable[EpmCall], mappings: Iterable[Mapping], connections: Iterable[Connection]
) -> tuple[Verdict, ...]:
    """The verdicts of a capture from its calls, mappings and connections (frame order)."""
    builder = _Builder(list(calls), list(mappings), list(connections))
    builder.epm()
    builder.asked()
    builder.others()
    return builder.result()
