"""Wireshark's dissectors judge the bytes of ``epmscan dump`` on the wire.

A capture of epmscan talking to Samba (port 135) and to the lab (another port, decoded as
DCE/RPC with ``-d``) must hold no malformed frame, and what tshark reads in the ept_lookup
responses (entries, return codes, interfaces, ports, annotations) must be what epmscan reports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.capture import (
    AGGREGATOR,
    TsharkCapture,
    malformed_frames,
    port_filter,
    read_fields,
)
from tests.support.cli import dump_json
from tests.support.lab import RunningLab, running_lab
from tests.support.loopback import free_address
from tests.support.samba import SambaEpm

pytestmark = pytest.mark.peer

NDR_UUID = "8a885d04-1ceb-11c9-9fe8-08002b104860"
LAB_ADDRESS = "127.0.0.137"
LAB_EPM_PORT = 13535
LAB_PROFILE = "windows-member"


@dataclass(frozen=True)
class LookupTraffic:
    """What tshark read from every ept_lookup call in a capture."""

    request_max_ents: tuple[int, ...]
    response_num_ents: tuple[int, ...]
    response_rc: tuple[int, ...]
    interface_uuids: Counter[str]
    tcp_ports: Counter[int]
    http_ports: Counter[int]
    annotations: Counter[str]


def _values(cell: str) -> list[str]:
    return [value for value in cell.split(AGGREGATOR) if value] if cell else []


def read_lookup_traffic(tshark: str, path: Path, epm_port: int) -> LookupTraffic:
    ports = (epm_port,)
    requests = read_fields(
        tshark, path, "epm.opnum == 2 && dcerpc.pkt_type == 0", ["epm.max_ents"], dcerpc_ports=ports
    )
    responses = read_fields(
        tshark,
        path,
        "epm.opnum == 2 && dcerpc.pkt_type == 2",
        [
            "epm.num_ents",
            "epm.rc",
            "epm.uuid",
            "epm.proto.tcp_port",
            "epm.proto.http_port",
            "epm.annotation",
        ],
        dcerpc_ports=ports,
    )
    uuids: Counter[str] = Counter()
    tcp: Counter[int] = Counter()
    http: Counter[int] = Counter()
    notes: Counter[str] = Counter()
    for _, _, uuid_cell, tcp_cell, http_cell, note_cell in responses:
        # Floor 1 of every tower is the transfer syntax (NDR); floor 0 the interface.
        uuids.update(u for u in _values(uuid_cell) if u != NDR_UUID)
        tcp.update(int(p) for p in _values(tcp_cell))
        http.update(int(p) for p in _values(http_cell))
        notes.update(_values(note_cell))
    return LookupTraffic(
        request_max_ents=tuple(int(row[0]) for row in requests),
        response_num_ents=tuple(int(row[0]) for row in responses),
        response_rc=tuple(int(row[1], 16) for row in responses),
        interface_uuids=uuids,
        tcp_ports=tcp,
        http_ports=http,
        annotations=notes,
    )


def captured_dump(
    tshark: str, capture: Path, address: str, epm_port: int, max_ents: int
) -> tuple[dict[str, Any], LookupTraffic]:
    with TsharkCapture(tshark, capture, port_filter(address, [epm_port])):
        dump = dump_json(address, port=epm_port, max_ents=max_ents)
    assert malformed_frames(tshark, capture, dcerpc_ports=[epm_port]) == ""
    return dump, read_lookup_traffic(tshark, capture, epm_port)


def assert_tshark_agrees(dump: dict[str, Any], traffic: LookupTraffic, max_ents: int) -> None:
    endpoints = dump["endpoints"]
    assert traffic.request_max_ents and set(traffic.request_max_ents) == {max_ents}
    assert len(traffic.response_num_ents) == len(traffic.request_max_ents) == dump["lookup_pages"]
    assert sum(traffic.response_num_ents) == len(endpoints)
    assert f"0x{traffic.response_rc[-1]:08x}" == dump["lookup_status"]
    assert traffic.interface_uuids == Counter(e["uuid"] for e in endpoints)
    assert traffic.tcp_ports == Counter(
        e["port"] for e in endpoints if e["transport"] == "ncacn_ip_tcp"
    )
    assert traffic.http_ports == Counter(
        e["port"] for e in endpoints if e["transport"] == "ncacn_http"
    )
    assert traffic.annotations == Counter(e["annotation"] for e in endpoints if e["annotation"])


@pytest.mark.parametrize("max_ents", [500, 1])
def test_tshark_decodes_dump_against_samba(
    tshark: str, samba_epm: SambaEpm, tmp_path: Path, max_ents: int
) -> None:
    dump, traffic = captured_dump(
        tshark, tmp_path / "samba.pcapng", samba_epm.address, 135, max_ents
    )
    assert_tshark_agrees(dump, traffic, max_ents)
    # Samba's last batch carries entries and ept_s_not_registered together.
    assert traffic.response_rc[-1] == 0x16C9A0D6
    assert traffic.response_num_ents[-1] > 0
    assert all(rc == 0 for rc in traffic.response_rc[:-1])


@pytest.fixture(scope="module")
def lab_off_135() -> Iterator[RunningLab]:
    """The lab's endpoint mapper on a port other than 135 (tshark needs ``-d`` there)."""
    with running_lab(LAB_PROFILE, free_address(LAB_ADDRESS, [LAB_EPM_PORT]), LAB_EPM_PORT) as lab:
        yield lab


@pytest.mark.parametrize("max_ents", [500, 3])
def test_tshark_decodes_dump_against_the_lab_on_another_port(
    tshark: str, lab_off_135: RunningLab, tmp_path: Path, max_ents: int
) -> None:
    dump, traffic = captured_dump(
        tshark, tmp_path / "lab.pcapng", lab_off_135.address, lab_off_135.epm_port, max_ents
    )
    assert_tshark_agrees(dump, traffic, max_ents)
    assert len(dump["endpoints"]) > max_ents or max_ents == 500
