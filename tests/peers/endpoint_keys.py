"""Comparable keys for one tower, whoever decoded it (epmscan's JSON, impacket, rpcclient)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from tests.support.impacket_peer import ImpacketTower
from tests.support.samba import RpcclientTower

IP_TRANSPORTS = frozenset({"ncacn_ip_tcp", "ncacn_http", "ncadg_ip_udp"})

TowerKey = tuple[str, str, str, str | None, int | str | None, str]
"""(uuid, version, transport, address for IP transports, port or endpoint, annotation)."""


def _key(
    uuid: str,
    version: str,
    transport: str,
    address: str | None,
    port: int | None,
    endpoint: str | None,
    annotation: str,
    asked: str,
) -> TowerKey:
    if transport in IP_TRANSPORTS:
        return (
            uuid.lower(),
            version,
            transport,
            asked if address == "0.0.0.0" else address,
            port,
            annotation,
        )
    return (uuid.lower(), version, transport, None, endpoint, annotation)


def epmscan_keys(dump: dict[str, Any]) -> Counter[TowerKey]:
    """Keys of ``epmscan dump --json`` endpoints (epmscan already put the asked address in)."""
    return Counter(
        _key(
            e["uuid"],
            e["version"],
            e["transport"],
            e["address"],
            e["port"],
            e["endpoint"],
            e["annotation"],
            dump["address"] if "address" in dump else dump["target"],
        )
        for e in dump["endpoints"]
    )


def impacket_keys(towers: Iterable[ImpacketTower], asked: str) -> Counter[TowerKey]:
    return Counter(
        _key(t.uuid, t.version, t.transport, t.address, t.port, t.endpoint, t.annotation, asked)
        for t in towers
    )


def rpcclient_keys(towers: Iterable[RpcclientTower], asked: str) -> Counter[TowerKey]:
    keys: Counter[TowerKey] = Counter()
    for t in towers:
        port = int(t.endpoint) if t.transport in IP_TRANSPORTS else None
        keys[
            _key(
                t.uuid,
                t.version,
                t.transport,
                t.host or None,
                port,
                t.endpoint,
                t.annotation,
                asked,
            )
        ] += 1
    return keys


def interfaces(keys: Counter[TowerKey]) -> set[tuple[str, str]]:
    return {(key[0], key[1]) for key in keys}
