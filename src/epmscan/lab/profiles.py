"""Host profiles: which processes a kind of server runs and what each registers.

Windows registers every interface of a process on every endpoint that process listens on
(one TCP port, its named pipes, its LRPC ports), so a profile lists processes, not
interfaces: lsass.exe serves lsarpc, samr, netlogon and KeyIso on one TCP port, on
``\\pipe\\lsass`` and on its LRPC endpoints. TCP ports are nominal here: ``"epm"`` is the
endpoint mapper's own port, ``"dynamic"`` a port drawn from the profile's dynamic range
when the lab starts, a number a static port (shifted by the lab's ``port_offset``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from epmscan.errors import LabConfigError
from epmscan.models import EXCHANGE_DYNAMIC, WINDOWS_DYNAMIC

TcpPort = int | Literal["epm", "dynamic"] | None

PagingStyle = Literal["windows", "samba", "samba-dc"]
PAGING_STYLES: tuple[str, ...] = ("windows", "samba", "samba-dc")

WINDOWS_DYNAMIC_RANGE = (WINDOWS_DYNAMIC.first, WINDOWS_DYNAMIC.last)
EXCHANGE_DYNAMIC_RANGE = (EXCHANGE_DYNAMIC.first, EXCHANGE_DYNAMIC.last)


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One server process: the interfaces it registers and the endpoints it listens on."""

    name: str
    interfaces: tuple[str, ...]
    tcp: TcpPort = "dynamic"
    pipes: tuple[str, ...] = ()
    lrpc: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Profile:
    """A kind of host the lab can emulate."""

    name: str
    description: str
    processes: tuple[ProcessSpec, ...]
    http_ports: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """Interface key → nominal ncacn_http port (advertised and listening)."""
    dynamic_range: tuple[int, int] = WINDOWS_DYNAMIC_RANGE
    paging: PagingStyle = "windows"
    zero_address_towers: bool = False
    netbios_prefix: str = "WIN"

    @property
    def interface_keys(self) -> tuple[str, ...]:
        """Every interface key the profile registers, in registration order."""
        return tuple(key for process in self.processes for key in process.interfaces)

    @property
    def tcp_interface_keys(self) -> tuple[str, ...]:
        """Keys of the interfaces reachable on ncacn_ip_tcp (candidates for ``ports.<key>``)."""
        return tuple(
            key
            for process in self.processes
            if process.tcp is not None
            for key in process.interfaces
        )

    def process_of(self, key: str) -> ProcessSpec:
        """The process that registers interface ``key``."""
        for process in self.processes:
            if key in process.interfaces:
                return process
        raise KeyError(key)


_RPCSS = ProcessSpec(
    "svchost.exe (RPCSS)",
    ("remote_activation", "object_exporter", "remote_scm_activator"),
    tcp="epm",
    pipes=(r"\pipe\epmapper",),
    lrpc=("epmapper",),
)
_WININIT = ProcessSpec(
    "wininit.exe",
    ("initshutdown", "wininit_sm"),
    pipes=(r"\PIPE\InitShutdown",),
    lrpc=("WindowsShutdown", "WMsgKRpc0A5C40"),
)
_EVENTLOG = ProcessSpec(
    "svchost.exe (LocalServiceNetworkRestricted)",
    ("eventlog", "even6", "nrp", "dhcp_client", "dhcpv6_client"),
    pipes=(r"\pipe\eventlog",),
    lrpc=("eventlog", "dhcpcsvc", "dhcpcsvc6"),
)
_NETSVCS = ProcessSpec(
    "svchost.exe (netsvcs)",
    ("tsch", "sasec", "atsvc", "xactsrv", "iphlp", "appinfo", "srvsvc", "wkssvc"),
    pipes=(r"\PIPE\atsvc", r"\PIPE\srvsvc", r"\PIPE\wkssvc"),
    lrpc=("ubpmtaskhostchannel", "senssvc", "IUserProfile2"),
)
_SERVICES = ProcessSpec(
    "services.exe",
    ("svcctl",),
    pipes=(r"\PIPE\ntsvcs",),
    lrpc=("ntsvcs",),
)
_LSASS = ProcessSpec(
    "lsass.exe",
    ("lsarpc", "samr", "netlogon", "keyiso"),
    pipes=(r"\pipe\lsass",),
    lrpc=("samss lpc", "lsasspirpc", "protected_storage", "audit"),
)
_SPOOLER = ProcessSpec(
    "spoolsv.exe",
    ("spoolss", "par", "spooler_base", "spooler_function"),
    pipes=(r"\PIPE\spoolss",),
    lrpc=("spoolss",),
)
_REMOTE_REGISTRY = ProcessSpec(
    "svchost.exe (RemoteRegistry)",
    ("winreg",),
    tcp=None,
    pipes=(r"\PIPE\winreg",),
)
_LOCAL_SERVICE = ProcessSpec(
    "svchost.exe (LocalService)",
    ("event_system", "winhttp_autoproxy"),
    tcp=None,
    lrpc=("EventSystemLrpc", "OLE4C1B5F2E8A7D0C9E3B6F1A2D4C7E"),
)

_WINDOWS_BASE = (
    _RPCSS,
    _WININIT,
    _EVENTLOG,
    _NETSVCS,
    _SERVICES,
    _LSASS,
    _SPOOLER,
    _REMOTE_REGISTRY,
    _LOCAL_SERVICE,
)

_LSASS_DC = ProcessSpec(
    "lsass.exe",
    (
        "lsarpc",
        "samr",
        "netlogon",
        "keyiso",
        "drsuapi",
        "dssetup",
        "backupkey",
        "efsr_lsarpc",
        "nspi",
    ),
    pipes=(r"\pipe\lsass", r"\PIPE\protected_storage"),
    lrpc=("samss lpc", "lsasspirpc", "protected_storage", "audit", "NTDS_LPC"),
)
_DNS_SERVER = ProcessSpec(
    "dns.exe",
    ("dnsserver",),
    pipes=(r"\PIPE\DNSSERVER",),
    lrpc=("DNSserver",),
)
_DFS_NAMESPACE = ProcessSpec(
    "dfssvc.exe",
    ("netdfs",),
    pipes=(r"\PIPE\netdfs",),
)
_EFS = ProcessSpec(
    "lsass.exe (EFS)",
    ("efsrpc",),
    tcp=None,
    pipes=(r"\pipe\efsrpc",),
    lrpc=("efslrpc",),
)
_FSS_AGENT = ProcessSpec(
    "svchost.exe (FssAgent)",
    ("fsrvp",),
    tcp=None,
    pipes=(r"\PIPE\FssagentRpc",),
)
_CERTSRV = ProcessSpec(
    "certsrv.exe (CertSvc)",
    ("icpr",),
    pipes=(r"\PIPE\cert",),
)

_WINDOWS_DC = tuple(_LSASS_DC if process is _LSASS else process for process in _WINDOWS_BASE) + (
    _DNS_SERVER,
    _DFS_NAMESPACE,
    _EFS,
)

_CAS_HTTP = MappingProxyType({"mapi": 6001, "async_mapi": 6001, "rfr": 6002, "nspi": 6004})


def _cas_processes(mapi_port: TcpPort, ab_port: TcpPort) -> tuple[ProcessSpec, ...]:
    return (
        ProcessSpec(
            "Microsoft.Exchange.RpcClientAccess.Service.exe (MSExchangeRPC)",
            ("mapi", "async_mapi"),
            tcp=mapi_port,
        ),
        ProcessSpec(
            "Microsoft.Exchange.AddressBook.Service.exe (MSExchangeAB)",
            ("nspi", "rfr"),
            tcp=ab_port,
        ),
    )


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(
            "exchange2010-cas-dynamic",
            "Exchange 2010 Client Access server, RPC ports left dynamic (6005-65534); "
            "RPC over HTTP on 6001/6002/6004",
            _WINDOWS_BASE + _cas_processes("dynamic", "dynamic"),
            http_ports=_CAS_HTTP,
            dynamic_range=EXCHANGE_DYNAMIC_RANGE,
            netbios_prefix="EXCAS",
        ),
        Profile(
            "exchange2010-cas-static",
            "Exchange 2010 Client Access server with static ports: MAPI 60001, "
            "NSPI and RFR 60002 (one address book process); RPC over HTTP on 6001/6002/6004",
            _WINDOWS_BASE + _cas_processes(60001, 60002),
            http_ports=_CAS_HTTP,
            dynamic_range=EXCHANGE_DYNAMIC_RANGE,
            netbios_prefix="EXCAS",
        ),
        Profile(
            "exchange2010-mailbox-pf",
            "Exchange 2010 Mailbox server holding public folders: the store serves MAPI "
            "on static port 60001 and on RPC over HTTP 6001; no address book service",
            _WINDOWS_BASE
            + (
                ProcessSpec(
                    "store.exe (MSExchangeIS)",
                    ("mapi", "store_admin", "store_admin2", "store_admin3"),
                    tcp=60001,
                ),
                ProcessSpec(
                    "mad.exe (MSExchangeSA)",
                    ("sa_public", "sa_private", "sa_cluster"),
                ),
            ),
            http_ports=MappingProxyType({"mapi": 6001}),
            dynamic_range=EXCHANGE_DYNAMIC_RANGE,
            netbios_prefix="EXMBX",
        ),
        Profile(
            "windows-member",
            "Windows Server 2008 R2/2012 member server: no Exchange, not a domain controller",
            _WINDOWS_BASE,
            netbios_prefix="SRV",
        ),
        Profile(
            "windows-dc",
            "Windows Server 2012 domain controller: directory replication, backup key, NSPI "
            "and EFS in lsass, DNS server, DFS namespaces, the print spooler left running",
            _WINDOWS_DC,
            netbios_prefix="DC",
        ),
        Profile(
            "windows-ca",
            "Windows Server 2012 member running an AD CS certification authority (ICertPassage "
            "on a dynamic port and \\PIPE\\cert)",
            _WINDOWS_BASE + (_CERTSRV,),
            netbios_prefix="CA",
        ),
        Profile(
            "windows-file-server",
            "Windows Server 2012 file server: DFS namespaces and the File Server VSS Agent",
            _WINDOWS_BASE + (_DFS_NAMESPACE, _FSS_AGENT),
            netbios_prefix="FS",
        ),
    )
}


def list_profiles() -> list[Profile]:
    """Every profile the lab knows, in a stable order."""
    return list(PROFILES.values())


def get_profile(name: str) -> Profile:
    """The profile called ``name``; :class:`LabConfigError` naming the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(PROFILES)
        raise LabConfigError(f"unknown profile {name!r} (known: {known})") from None
