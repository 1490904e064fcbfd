"""How to fix each finding: the registry values, services and firewall rules to change.

A fix text names no host: the finding's message and fields carry the host, so servers
with the same problem get the same text, and a report can say it once for all of them.
Ports appear where the action needs them (the value to set, the rule to write, the port
to look up); a port that only says where the problem was seen stays in the message.

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

_MAPI_INTERFACES = (ExchangeInterface.MAPI, ExchangeInterface.ASYNC_MAPI)
_CHOSEN_2010 = "a port you choose, the same on every server (Microsoft recommends 59531-60554)"
"""The value to set when no port is listed: the range Microsoft's Best Practices Analyzer and
Set-StaticPorts script recommend."""


def label(interface: ExchangeInterface) -> str:
    """Human name of an interface (``MAPI (EMSMDB)``)."""
    return LABELS[interface]


def service_for(interface: ExchangeInterface, role: Role | None) -> str:
    """The Windows service that registers ``interface`` on a server of ``role``."""
    if role is Role.LEGACY:
        return LEGACY_SERVICE_NAMES[interface]
    return SERVICE_NAMES[interface]


def registry_value(interface: ExchangeInterface, *, legacy: bool) -> str:
    """The registry key and value that pin ``interface`` (Exchange 2010, or 2003/2007)."""
    if legacy:
        if interface in _MAPI_INTERFACES:
            return f'{MSEXCHANGEIS_KEY} "TCP/IP Port"'
        if interface is ExchangeInterface.NSPI:
            return f'{MSEXCHANGESA_KEY} "TCP/IP NSPI Port"'
        return f'{MSEXCHANGESA_KEY} "TCP/IP Port"'
    if interface in _MAPI_INTERFACES:
        return f'{MSEXCHANGERPC_KEY} "TCP/IP Port"'
    return f'{MSEXCHANGEAB_KEY} "RpcTcpPort"'


def _exchange2010(interface: ExchangeInterface, port: int | None, role: Role | None) -> str:
    value = str(port) if port is not None else _CHOSEN_2010
    if interface in _MAPI_INTERFACES:
        where = (
            "on this Mailbox server (it holds a public folder database, so Outlook "
            "connects to it directly)"
            if role is Role.MAILBOX_PUBLIC_FOLDERS
            else "on every Client Access server of the array"
        )
        return (
            f"Exchange 2010: {where}, set {registry_value(interface, legacy=False)} "
            f"(REG_DWORD, decimal) = {value} (create the ParametersSystem key if it is "
            f"missing), then restart the {SERVICE_NAMES[ExchangeInterface.MAPI]} service."
        )
    return (
        f"Exchange 2010 SP1 and later: set {registry_value(interface, legacy=False)} (REG_SZ) "
        f"= {value} on every Client Access server, then restart the "
        f"{SERVICE_NAMES[interface]} service (NSPI and RFR share this one port; Exchange 2010 "
        "RTM sets RpcTcpPort in microsoft.exchange.addressbook.service.exe.config instead)."
    )


def _legacy(interface: ExchangeInterface, port: int | None) -> str:
    value = str(port) if port is not None else "a port of its own above 5000"
    return (
        f"Exchange 2003/2007: set {registry_value(interface, legacy=True)} (REG_DWORD, decimal) "
        f"= {value}, then restart the {LEGACY_SERVICE_NAMES[interface]} service."
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


def verify_pinned_fix(interface: ExchangeInterface, role: Role | None) -> str:
    """What to do about a port in a dynamic range when no static port is expected."""
    if role is Role.LEGACY:
        where = registry_value(interface, legacy=True)
    elif role is None:
        where = (
            f"on Exchange 2010 {registry_value(interface, legacy=False)}, on Exchange "
            f"2003/2007 {registry_value(interface, legacy=True)}"
        )
    elif role is Role.WINDOWS:
        where = "the port setting of the service that registers it"
    else:
        where = registry_value(interface, legacy=False)
    return (
        "No static port is expected, so a port pinned inside the dynamic range cannot be told "
        f"from one the service picked when it started. Read the value on the server ({where}). "
        f"If it is set, give epmscan that port (--expect {interface.value}=PORT, or ports in "
        "the policy) so that every check holds the server to it; if it is not, pin a port: "
        "one the service picks changes when it restarts, and firewall rules for it break."
    )


def firewall_fix(port: int, what: str) -> str:
    """Rule text for a port that is registered but whose connection attempt got no answer."""
    return (
        f"Allow TCP {port} for {what} inbound to the server from the Outlook clients, on every "
        "firewall in the path including the server's Windows Firewall; `epmscan firewall` "
        "writes the rules."
    )


def timeout_fix(interface: ExchangeInterface, role: Role | None) -> str:
    """For a port that accepted the connection and never answered the bind."""
    return (
        f"The port is open (it accepted the connection) but the {label(interface)} bind got no "
        "answer, so opening a firewall will not help. Either the "
        f"{service_for(interface, role)} service is hung or overloaded (check its state, its "
        "CPU and the Application event log on the server; restart it), or something in the "
        "path accepts connections and holds RPC back: a filtering proxy, or a firewall or IPS "
        "inspecting DCE/RPC that does not pass this interface. A check from the server's own "
        "network tells the two apart."
    )


def closed_fix(interface: ExchangeInterface, role: Role | None) -> str:
    """For a registered port that refuses connections."""
    return (
        f"The endpoint mapper lists this port for {label(interface)}, but the server refuses "
        "connections to it: the service stopped (its registration is stale) or a firewall "
        f"rejects them. Check that the {service_for(interface, role)} service runs (restarting "
        "it registers it again) and that the server's Windows Firewall allows its port."
    )


def wrong_service_fix(
    interface: ExchangeInterface, port: int, role: Role | None, *, not_rpc: bool = False
) -> str:
    """For a registered port where another program answers: a port conflict."""
    service = service_for(interface, role)
    answer = (
        "answers with something that is not DCE/RPC"
        if not_rpc
        else f"refused the {label(interface)} bind"
    )
    return (
        f"Another program listens on TCP {port} and {answer}: a port conflict. Find it on the "
        f"server (netstat -ano | findstr :{port}, or Get-NetTCPConnection -LocalPort {port} "
        f"-State Listen), move it or pick another static port, then restart the {service} "
        "service last so that it takes the port."
    )


def epm_fix(port: int, *, answered: bool = False, resolved: bool = True) -> str:
    """For an endpoint mapper on TCP ``port`` (the one the check used) that failed.

    ``answered``: something answered, but not as an endpoint mapper; ``resolved=False``:
    the target's name gave no address, so nothing was sent.
    """
    if not resolved:
        return (
            "The name gave no address: check its spelling and that this machine's DNS "
            "resolver knows it, or give the address instead."
        )
    if answered:
        return (
            f"Something answers on TCP {port} but not as an RPC endpoint mapper does: check "
            "that the port reaches the server's Remote Procedure Call (RPC) service and not "
            "another program or a proxy in the path; no RPC port can be resolved without it."
        )
    return (
        "Check that the server is up, that the Remote Procedure Call (RPC) service and its "
        f"endpoint mapper run, and that TCP {port} is allowed from this machine; no RPC port "
        "can be resolved without it."
    )


def access_denied_fix(port: int) -> str:
    """For an endpoint mapper on TCP ``port`` that refuses anonymous calls."""
    return (
        f"The endpoint mapper on TCP {port} answers, but refuses unauthenticated RPC clients "
        '(the "Restrict Unauthenticated RPC clients" policy, RestrictRemoteClients). Run the '
        "check with a domain account: -u DOMAIN\\user, the password from --password-file, "
        "EPMSCAN_PASSWORD or the prompt (or an NT hash from --hashes-file or EPMSCAN_NTHASH). "
        "Windows clients, Outlook among them, ask the endpoint mapper anonymously unless "
        '"Enable RPC Endpoint Mapper Client Authentication" (EnableAuthEpResolution) is set '
        "on them."
    )


def auth_failed_fix(port: int) -> str:
    """For an endpoint mapper on TCP ``port`` that refused the credentials given with -u."""
    return (
        f"The endpoint mapper on TCP {port} answers, but refused the credentials given with "
        "-u (or its answers did not carry a signature that verifies). Check the account: "
        "DOMAIN\\user as the server knows it, the password or NT hash, that the account is "
        "enabled and not locked out; the server's Security event log (event 4625) says why "
        "a logon failed. A signature that does not verify, with the right account, points "
        "at a device in the path that rewrites DCE/RPC."
    )


def http_fix(port: int, interface: ExchangeInterface, state: str) -> str:
    """For an RPC-over-HTTP port without the ncacn_http/1.0 greeting or bind."""
    return (
        f"RPC over HTTP (Outlook Anywhere) needs TCP {port} ({label(interface)}) on this server "
        f"to answer with the ncacn_http/1.0 greeting, but it is {state}. Check that the "
        f"Exchange service serving {label(interface)} runs and that the RPC proxy server may "
        f"reach TCP {port} on this server."
    )
