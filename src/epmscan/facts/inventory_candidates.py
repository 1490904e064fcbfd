"""The interfaces the inventory binds one by one where a port refuses the management interface.

A hardened server (``RestrictRemoteClients``, a management authorisation callback) will not
list what a port serves, so the inventory falls back to binding known interfaces and keeping
those the port accepts: every interface of the security catalogue
(:mod:`epmscan.facts.security`, Exchange's among them), then a few common Windows ones the
catalogue does not rate but that identify what a port is.
"""

from __future__ import annotations

from typing import Final

from epmscan.facts.exchange import EXCHANGE_INTERFACES
from epmscan.facts.security import CATALOGUE
from epmscan.models import InterfaceId


def _interface(uuid: str, version: str) -> InterfaceId:
    major, minor = (int(part) for part in version.split("."))
    return InterfaceId(uuid, major, minor)


IDENTIFYING_EXTRAS: Final[tuple[InterfaceId, ...]] = (
    _interface("50abc2a4-574d-40b3-9d66-ee4fd5fba076", "5.0"),  # [MS-DNSP] DNS server
    _interface("4b324fc8-1670-01d3-1278-5a47bf6ee188", "3.0"),  # [MS-SRVS] srvsvc
    _interface("6bffd098-a112-3610-9833-46c3f87e345a", "1.0"),  # [MS-WKST] wkssvc
    _interface("f6beaff7-1e19-4fbb-9f8f-b89e2018337c", "1.0"),  # [MS-EVEN6] EventLog 6.0
    _interface("894de0c0-0d55-11d3-a322-00c04fa321a1", "1.0"),  # [MS-RSP] InitShutdown
    _interface("d95afe70-a6d5-4259-822e-2c84da1ddb0d", "1.0"),  # [MS-RSP] WindowsShutdown
)
"""Windows interfaces the catalogue does not rate, bound to tell what a port is."""

INVENTORY_CANDIDATES: Final[tuple[InterfaceId, ...]] = tuple(
    dict.fromkeys(
        (
            *EXCHANGE_INTERFACES.values(),
            *(entry.interface for entry in CATALOGUE.interfaces),
            *IDENTIFYING_EXTRAS,
        )
    )
)
"""What the inventory binds where the management interface is refused: Exchange's
interfaces, the catalogue's, then the identifying extras."""
