"""Exchange 2007/2010 facts: the interfaces Outlook uses, their ports, names and services.

One home for every Exchange fact the tool uses; every other module imports them from
here. The sources are cited in ``docs/exchange-ports.md``; change both together.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from epmscan.models import EndpointRecord, ExchangeInterface, InterfaceId, ResolvedPort, Role

EXCHANGE_INTERFACES: Final[dict[ExchangeInterface, InterfaceId]] = {
    ExchangeInterface.MAPI: InterfaceId("a4f1db00-ca47-1067-b31f-00dd010662da", 0, 81),
    ExchangeInterface.ASYNC_MAPI: InterfaceId("5261574a-4572-206e-b268-6b199213b4e4", 0, 1),
    ExchangeInterface.NSPI: InterfaceId("f5cc5a18-4264-101a-8c59-08002b2f8426", 56, 0),
    ExchangeInterface.RFR: InterfaceId("1544f5e0-613c-11d1-93df-00c04fd7bd09", 1, 0),
}
"""The Exchange RPC interfaces, with the versions Outlook binds."""

EXCHANGE_BY_UUID: Final[dict[str, ExchangeInterface]] = {
    interface.uuid: key for key, interface in EXCHANGE_INTERFACES.items()
}
"""Which Exchange interface a (lowercase) interface UUID is."""

INTERFACE_TITLES: Final[dict[ExchangeInterface, tuple[str, str]]] = {
    ExchangeInterface.MAPI: ("[MS-OXCRPC]: Exchange EMSMDB (MAPI)", "[MS-OXCRPC]"),
    ExchangeInterface.ASYNC_MAPI: (
        "[MS-OXCRPC]: Exchange AsyncEMSMDB (asynchronous MAPI notifications)",
        "[MS-OXCRPC]",
    ),
    ExchangeInterface.NSPI: ("[MS-OXNSPI]: Exchange NSPI (address book)", "[MS-OXNSPI]"),
    ExchangeInterface.RFR: ("[MS-OXABREF]: Exchange RFR (address book referral)", "[MS-OXABREF]"),
}
"""(title, specification) of each interface, as endpoint listings name it."""

LABELS: Final[dict[ExchangeInterface, str]] = {
    ExchangeInterface.MAPI: "MAPI (EMSMDB)",
    ExchangeInterface.ASYNC_MAPI: "AsyncEMSMDB",
    ExchangeInterface.NSPI: "address book (NSPI)",
    ExchangeInterface.RFR: "referral (RFR)",
}
"""How messages and fix texts name each interface."""

SHORT_LABELS: Final[dict[ExchangeInterface, str]] = {
    ExchangeInterface.MAPI: "MAPI",
    ExchangeInterface.ASYNC_MAPI: "AsyncMAPI",
    ExchangeInterface.NSPI: "NSPI",
    ExchangeInterface.RFR: "RFR",
}
"""How table columns name each interface."""

RPC_HTTP_PORTS: Final[dict[int, ExchangeInterface]] = {
    6001: ExchangeInterface.MAPI,
    6002: ExchangeInterface.RFR,
    6004: ExchangeInterface.NSPI,
}
"""Exchange's fixed RPC-over-HTTP ports and the interface the RPC proxy reaches on each:
6001 the store (EMSMDB), 6002 the directory referral (RFR), 6004 the NSPI proxy."""

HTTP_PORT_FOR: Final[dict[ExchangeInterface, int]] = {
    interface: port for port, interface in RPC_HTTP_PORTS.items()
}

OUTLOOK_INTERFACES: Final[frozenset[ExchangeInterface]] = frozenset(
    {ExchangeInterface.MAPI, ExchangeInterface.NSPI, ExchangeInterface.RFR}
)
ROLE_INTERFACES: Final[dict[Role | None, frozenset[ExchangeInterface]]] = {
    Role.CLIENT_ACCESS: OUTLOOK_INTERFACES,
    Role.LEGACY: OUTLOOK_INTERFACES,
    Role.MAILBOX_PUBLIC_FOLDERS: frozenset({ExchangeInterface.MAPI}),
    None: OUTLOOK_INTERFACES,
    Role.MAILBOX: frozenset(),
    Role.WINDOWS: frozenset(),
}
"""The interfaces Outlook uses on a server of each role (None: role unknown)."""

MUST_REGISTER_ROLES: Final[frozenset[Role]] = frozenset(
    {Role.CLIENT_ACCESS, Role.LEGACY, Role.MAILBOX_PUBLIC_FOLDERS}
)
"""Roles on which a missing registration of a role interface is worth a warning."""

ROLE_HTTP_PORTS: Final[dict[Role | None, frozenset[int]]] = {
    role: frozenset(HTTP_PORT_FOR[i] for i in interfaces if i in HTTP_PORT_FOR)
    for role, interfaces in ROLE_INTERFACES.items()
}
"""The RPC-over-HTTP ports the RPC proxy reaches on a server of each role: the ports of the
interfaces Outlook uses there. A public-folder Mailbox server is reached on 6001 only (its
store); the address book (6002, 6004) is the Client Access server's."""

EXCHANGE_2010_ROLES: Final[frozenset[Role]] = frozenset(
    {Role.CLIENT_ACCESS, Role.MAILBOX, Role.MAILBOX_PUBLIC_FOLDERS}
)
"""Exchange 2010 roles. NSPI and RFR are both served by the Address Book service
(MSExchangeAB) on its one ``RpcTcpPort``; MAPI by RPC Client Access (MSExchangeRPC), another
service, so on another port."""

LEGACY_RANGE_ROLES: Final[frozenset[Role | None]] = frozenset({None, Role.LEGACY, Role.WINDOWS})
"""Roles whose servers may use the pre-2008 dynamic range (1025-5000,
:data:`epmscan.models.policy.LEGACY_DYNAMIC`): Windows before Server 2008 and Exchange 2007
(KB 929851), and servers of unknown role, which may be either. Exchange 2010 needs
Windows Server 2008 or later, so its roles are not here."""

MSEXCHANGERPC_KEY: Final = r"HKLM\SYSTEM\CurrentControlSet\Services\MSExchangeRPC\ParametersSystem"
MSEXCHANGEAB_KEY: Final = r"HKLM\SYSTEM\CurrentControlSet\Services\MSExchangeAB\Parameters"
MSEXCHANGESA_KEY: Final = r"HKLM\SYSTEM\CurrentControlSet\Services\MSExchangeSA\Parameters"
MSEXCHANGEIS_KEY: Final = r"HKLM\SYSTEM\CurrentControlSet\Services\MSExchangeIS\ParametersSystem"

SERVICE_NAMES: Final[dict[ExchangeInterface, str]] = {
    ExchangeInterface.MAPI: "Microsoft Exchange RPC Client Access (MSExchangeRPC)",
    ExchangeInterface.ASYNC_MAPI: "Microsoft Exchange RPC Client Access (MSExchangeRPC)",
    ExchangeInterface.NSPI: "Microsoft Exchange Address Book (MSExchangeAB)",
    ExchangeInterface.RFR: "Microsoft Exchange Address Book (MSExchangeAB)",
}
"""The Exchange 2010 service that registers each interface."""

LEGACY_SERVICE_NAMES: Final[dict[ExchangeInterface, str]] = {
    ExchangeInterface.MAPI: "Microsoft Exchange Information Store (MSExchangeIS)",
    ExchangeInterface.ASYNC_MAPI: "Microsoft Exchange Information Store (MSExchangeIS)",
    ExchangeInterface.NSPI: "Microsoft Exchange System Attendant (MSExchangeSA)",
    ExchangeInterface.RFR: "Microsoft Exchange System Attendant (MSExchangeSA)",
}
"""The Exchange 2003/2007 service that registers each interface."""

EXCHANGE_TRANSPORTS: Final = ("ncacn_ip_tcp", "ncacn_http")
"""The transports Outlook reaches the interfaces on (TCP, RPC over HTTP)."""


def resolved_ports(
    from_lookup: Iterable[EndpointRecord], from_map: Iterable[EndpointRecord] = ()
) -> tuple[ResolvedPort, ...]:
    """The Exchange interfaces' ports in endpoint records, each (interface, transport,
    port) once, with where it was found (``lookup``, ``map`` or ``both``)."""
    sources: dict[tuple[ExchangeInterface, str, int | None], set[str]] = {}
    for source, records in (("lookup", from_lookup), ("map", from_map)):
        for record in records:
            interface = EXCHANGE_BY_UUID.get(record.uuid)
            if interface is None or record.transport not in EXCHANGE_TRANSPORTS:
                continue
            sources.setdefault((interface, record.transport, record.port), set()).add(source)
    order = list(ExchangeInterface)
    keys = sorted(sources, key=lambda k: (order.index(k[0]), k[1] != "ncacn_ip_tcp", k[2] or 0))
    result = []
    for interface, transport, port in keys:
        found_by = sources[(interface, transport, port)]
        source = "both" if len(found_by) == 2 else next(iter(found_by))
        result.append(ResolvedPort(interface, transport, port, source))
    return tuple(result)
