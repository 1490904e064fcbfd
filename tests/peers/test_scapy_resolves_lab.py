"""scapy's DCE/RPC client resolves Exchange interfaces through the lab's ``ept_map``.

scapy builds its own ept_map request (its own tower encoding, NDR and checks on the answer)
and reads the port from the tower the lab returns. That port must be the one the lab
registered for the interface, the one ``epmscan dump`` lists, and one that accepts a bind.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from epmscan.models import InterfaceId
from tests.support.bind import bind_once
from tests.support.cli import dump_json
from tests.support.loopback import free_address
from tests.support.samba import EPM_PORT
from tests.support.skips import require_root

if TYPE_CHECKING:
    from epmscan.lab.server import Lab

pytestmark = pytest.mark.peer

# [MS-OXCRPC] EMSMDB, [MS-OXNSPI] NSPI, [MS-OXABREF] RFR: the versions Outlook binds.
EXCHANGE = {
    "mapi": ("a4f1db00-ca47-1067-b31f-00dd010662da", 0, 81),
    "nspi": ("f5cc5a18-4264-101a-8c59-08002b2f8426", 56, 0),
    "rfr": ("1544f5e0-613c-11d1-93df-00c04fd7bd09", 1, 0),
}
PREFERRED_ADDRESS = {
    "exchange2010-cas-dynamic": "127.0.0.139",
    "exchange2010-cas-static": "127.0.0.140",
}


@dataclass(frozen=True)
class ExchangeLab:
    lab: Lab
    address_of: dict[str, str]
    """Profile name -> the loopback address its host listens on."""


@pytest.fixture(scope="module")
def exchange_lab() -> Iterator[ExchangeLab]:
    """One lab, two Exchange CAS hosts (dynamic and static ports), each on port 135."""
    require_root("scapy's get_endpoint only asks port 135")
    from epmscan.lab import LabThread, parse_lab

    address_of = {p: free_address(a, [EPM_PORT]) for p, a in PREFERRED_ADDRESS.items()}
    config = parse_lab(
        {
            "lab": {"epm_port": EPM_PORT},
            "hosts": [{"address": a, "profile": p} for p, a in address_of.items()],
        },
        "<scapy peer test>",
    )
    with LabThread(config) as lab:
        yield ExchangeLab(lab, address_of)


def scapy_get_endpoint(address: str, key: str) -> list[tuple[str, int]]:
    """scapy's ``get_endpoint``: ept_map on ``address:135`` for the interface ``key``."""
    from scapy.layers.dcerpc import DCERPC_Transport, DceRpcInterface
    from scapy.layers.msrpce.rpcclient import get_endpoint

    text, major, minor = EXCHANGE[key]
    interface = DceRpcInterface(  # type: ignore[no-untyped-call]
        f"{key}-peer-test", uuid.UUID(text), (major, minor), 0, {}
    )
    found = get_endpoint(  # type: ignore[no-untyped-call]
        address, interface, transport=DCERPC_Transport.NCACN_IP_TCP, verb=False
    )
    return [(str(ip), int(port)) for ip, port in found]


@pytest.mark.parametrize("profile", list(PREFERRED_ADDRESS))
@pytest.mark.parametrize("key", list(EXCHANGE))
def test_scapy_ept_map_finds_the_port_the_lab_registered(
    exchange_lab: ExchangeLab, profile: str, key: str
) -> None:
    address = exchange_lab.address_of[profile]
    registered = exchange_lab.lab.host(address).tcp_endpoints[key]
    assert scapy_get_endpoint(address, key) == [(address, registered)]


@pytest.mark.parametrize("profile", list(PREFERRED_ADDRESS))
def test_scapy_epmscan_and_the_lab_agree_and_the_port_binds(
    exchange_lab: ExchangeLab, profile: str
) -> None:
    address = exchange_lab.address_of[profile]
    dump = dump_json(address, port=EPM_PORT)
    for key, (text, major, minor) in EXCHANGE.items():
        ((ip, port),) = scapy_get_endpoint(address, key)
        listed = _tcp_ports(dump, text, f"{major}.{minor}")
        assert listed == {port}, key
        ack = bind_once(ip, port, InterfaceId(text, major, minor))
        assert getattr(ack, "accepted", False), f"{key} on {ip}:{port}: {ack}"


def test_static_profile_registers_the_documented_static_ports(exchange_lab: ExchangeLab) -> None:
    address = exchange_lab.address_of["exchange2010-cas-static"]
    assert [scapy_get_endpoint(address, key)[0][1] for key in EXCHANGE] == [60001, 60002, 60002]


def _tcp_ports(dump: dict[str, Any], uuid_text: str, version: str) -> set[int]:
    return {
        e["port"]
        for e in dump["endpoints"]
        if e["transport"] == "ncacn_ip_tcp" and e["uuid"] == uuid_text and e["version"] == version
    }
