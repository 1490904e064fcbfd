"""How to fix each finding: the registry values, services and firewall rules to change.

Every fact here is cited in docs/exchange-ports.md; change both together.
"""

from __future__ import annotations

from epmscan.facts.exchange import (
    LABELS,
    LEGACY_SERVICE_NAMES,
    MSEXCHANGEAB_KEY,
    MSEXCHANGEIS_KEY,
    MSEXCHANGERPC_KEY,
    MSEXCHANGESA_KEY,
    SERVICE_NAMES,
)
from epmscan.models import ExchangeInterface, Role


def label(interface: ExchangeInterface) -> str:
    """Human name of an interface (``MAPI (EMSMDB)``)."""
    return LABELS[interface]


def service_for(interface: ExchangeInterface, role: Role | None) -> str:
    """The Windows service that registers ``interface`` on a server of ``role``."""
    if role is Role.LEGACY:
        return LEGACY_SERVICE_NAMES[interface]
    return SERVICE_NAMES[interface]


def _exchange2010(interface: ExchangeInterface, port: int | None, role: Role | None) -> str:
    value = str(port) if port is not None else "<port>"
    if interface in (ExchangeInterface.MAPI, ExchangeInterface.ASYNC_MAPI):
        where = (
            "on this Mailbox server (it holds a public folder database, so Outlook "
            "connects to it directly)"
            if role is Role.MAILBOX_PUBLIC_FOLDERS
            else "on every Client Access server of the array"
        )
        return (
            f'Exchange 2010: {where}, set {MSEXCHANGERPC_KEY} "TCP/IP Port" (REG_DWORD, decimal) '
            f"= {value} (create the ParametersSystem key if it is missing), then restart the "
            f"{SERVICE_NAMES[ExchangeInterface.MAPI]} service."
        )
    return (
        f'Exchange 2010 SP1 and later: set {MSEXCHANGEAB_KEY} "RpcTcpPort" (REG_SZ) = {value} '
        f"on every Client Access server, then restart the {SERVICE_NAMES[interface]} service "
        "(NSPI and RFR share this one port; Exchange 2010 RTM set RpcTcpPort in "
        "microsoft.exchange.addressbook.service.exe.config instead)."
    )


def _legacy(interface: ExchangeInterface, port: int | None) -> str:
    value = str(port) if port is not None else "<port>"
    if interface in (ExchangeInterface.MAPI, ExchangeInterface.ASYNC_MAPI):
        return (
            f'Exchange 2003/2007: set {MSEXCHANGEIS_KEY} "TCP/IP Port" (REG_DWORD) = {value}, '
            f"then restart the {LEGACY_SERVICE_NAMES[interface]} service."
        )
    value_name = "TCP/IP NSPI Port" if interface is ExchangeInterface.NSPI else "TCP/IP Port"
    return (
        f'Exchange 2003/2007: set {MSEXCHANGESA_KEY} "{value_name}" (REG_DWORD) = {value}, '
        f"then restart the {LEGACY_SERVICE_NAMES[interface]} service."
    )


def pin_port_fix(interface: ExchangeInterface, port: int | None, role: Role | None) -> str:
    """How to pin ``interface`` to the static ``port`` (None: the port the admin chooses)."""
    if role is Role.LEGACY:
        return _legacy(interface, port)
    if role is Role.WINDOWS:
        return (
            f"The service registering the {label(interface)} interface picks a dynamic port; "
            "configure a static port in that service if the firewall needs one."
        )
    text = _exchange2010(interface, port, role)
    if role is None:
        text += " " + _legacy(interface, port)
    return text


def firewall_fix(address: str, port: int, what: str) -> str:
    """Rule text for a port that is registered but does not answer."""
    return (
        f"Allow TCP {port} inbound to {address} from the Outlook clients on every firewall "
        f"in the path, the server's Windows Firewall included ({what}); "
        "`epmscan firewall` writes the rules."
    )


def closed_fix(interface: ExchangeInterface, port: int, role: Role | None) -> str:
    return (
        f"The endpoint mapper lists TCP {port} for {label(interface)} but the server refuses the "
        f"connection: the service stopped or a host firewall rejects it. Check that the "
        f"{service_for(interface, role)} service runs (restart it so it registers again) and "
        f"that TCP {port} is allowed."
    )


def wrong_service_fix(interface: ExchangeInterface, port: int, role: Role | None) -> str:
    service = service_for(interface, role)
    return (
        f"Another service answers on TCP {port} and refused the {label(interface)} bind: a port "
        f"conflict. Find the owner on the server (netstat -ano | findstr :{port}, or "
        f"Get-NetTCPConnection -LocalPort {port} -State Listen), move it or pick another static "
        f"port, then restart the {service} service last so it takes the port."
    )


def epm_fix(address: str) -> str:
    return (
        f"Check that {address} is up, that the Remote Procedure Call (RPC) service and its "
        "endpoint mapper run, and that TCP 135 is allowed from this machine; no RPC port can "
        "be resolved without it."
    )


def http_fix(port: int, interface: ExchangeInterface, state: str) -> str:
    return (
        f"RPC over HTTP (Outlook Anywhere) needs TCP {port} ({label(interface)}) on this server "
        f"to answer with the ncacn_http/1.0 greeting, but it is {state}. Check that the Exchange "
        f"service serving {label(interface)} runs and that the RPC proxy server may reach "
        f"TCP {port} on this server."
    )
