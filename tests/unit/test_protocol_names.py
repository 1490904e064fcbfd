"""Interface names and the ncacn_http greeting."""

from __future__ import annotations

import pytest

from epmscan.facts.exchange import EXCHANGE_INTERFACES
from epmscan.models import ExchangeInterface, InterfaceId
from epmscan.protocol.interface_names import interface_name
from epmscan.protocol.ncacn_http import NCACN_HTTP_GREETING, classify_greeting


def test_exchange_catalogue() -> None:
    assert {
        ExchangeInterface.MAPI: InterfaceId("a4f1db00-ca47-1067-b31f-00dd010662da", 0, 81),
        ExchangeInterface.ASYNC_MAPI: InterfaceId("5261574a-4572-206e-b268-6b199213b4e4", 0, 1),
        ExchangeInterface.NSPI: InterfaceId("f5cc5a18-4264-101a-8c59-08002b2f8426", 56, 0),
        ExchangeInterface.RFR: InterfaceId("1544f5e0-613c-11d1-93df-00c04fd7bd09", 1, 0),
    } == EXCHANGE_INTERFACES
    expected = {
        ExchangeInterface.MAPI: ("EMSMDB", "[MS-OXCRPC]"),
        ExchangeInterface.ASYNC_MAPI: ("AsyncEMSMDB", "[MS-OXCRPC]"),
        ExchangeInterface.NSPI: ("NSPI", "[MS-OXNSPI]"),
        ExchangeInterface.RFR: ("RFR", "[MS-OXABREF]"),
    }
    for role, interface in EXCHANGE_INTERFACES.items():
        named = interface_name(interface.uuid.upper(), interface.major, interface.minor)
        assert named is not None
        assert expected[role][0] in named[0]
        assert named[1] == expected[role][1]


def test_impacket_tables_give_protocol_and_provider() -> None:
    # only KNOWN_UUIDS knows the endpoint mapper: its binary stands in for a name
    epm = "e1af8308-5d1f-11c9-91a4-08002b14a0fa"
    assert interface_name(epm, 3, 0) == ("rpcss.dll", "rpcss.dll")
    assert interface_name(epm, 2, 0) is None
    named = interface_name("82273fdc-e32a-18c3-3f78-827929dc23ea", 0, 0)
    assert named == ("[MS-EVEN]: EventLog Remoting Protocol", "wevtsvc.dll")
    documented = interface_name("a8e0653c-2744-4389-a61d-7373df8b2292", 1, 0)
    assert documented == ("[MS-FSRVP]: File Server Remote VSS Protocol", "[MS-FSRVP]")


def test_unknown_interfaces_have_no_name() -> None:
    assert interface_name("885d85fb-c754-4062-a0e7-6872ce0064f4", 2, 0) is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (NCACN_HTTP_GREETING, (True, "ncacn_http/1.0")),
        (b"ncacn_http/1.0\r\n", (True, "ncacn_http/1.0")),
        (
            b"HTTP/1.1 400 Bad Request\r\nServer: x\r\n",
            (False, "HTTP/1.1 400 Bad Request Server: x"),
        ),
        (b"SSH-2.0-OpenSSH_9.2\r\n\x00\xff", (False, "SSH-2.0-OpenSSH_9.2 \x00\xff")),
        (b"", (False, "")),
        (b"ncacn_http/0.9", (False, "ncacn_http/0.9")),
    ],
)
def test_greetings(data: bytes, expected: tuple[bool, str]) -> None:
    assert classify_greeting(data) == expected


def test_banner_is_cut_short() -> None:
    assert len(classify_greeting(b"A" * 500)[1]) <= 80


def test_exchange_by_uuid_is_the_inverse_of_the_catalogue() -> None:
    from epmscan.facts.exchange import EXCHANGE_BY_UUID

    assert {EXCHANGE_INTERFACES[role].uuid: role for role in ExchangeInterface} == EXCHANGE_BY_UUID
