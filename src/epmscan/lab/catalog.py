"""The RPC interfaces the emulated hosts register, by short key.

UUIDs, versions and annotations are those Windows Server 2008 R2/2012 and Exchange 2010
register with their endpoint mapper (as impacket's ``rpcdump`` and Microsoft's open
specifications name them). The interfaces of the domain controller, certificate authority
and file server profiles take UUID and version from the security interface catalogue
(:mod:`epmscan.facts.security`). Profiles refer to interfaces by key (``lsarpc``, ``mapi``);
``ports.<key>`` in a lab file moves the TCP endpoint of the process serving that key.
"""

from __future__ import annotations

from dataclasses import dataclass

from epmscan.facts.exchange import EXCHANGE_INTERFACES
from epmscan.facts.security import CATALOGUE as SECURITY_CATALOGUE
from epmscan.models import ExchangeInterface, InterfaceId


@dataclass(frozen=True, slots=True)
class CatalogInterface:
    """One interface a host can register: its key, identity and annotation."""

    key: str
    interface: InterfaceId
    annotation: str
    description: str


def _entry(
    key: str, uuid: str, version: str, annotation: str, description: str
) -> CatalogInterface:
    major, minor = (int(part) for part in version.split("."))
    return CatalogInterface(key, InterfaceId(uuid, major, minor), annotation, description)


def _security(key: str, entry_id: str, annotation: str = "") -> CatalogInterface:
    """An interface of the security catalogue, keyed by ``key``, as the catalogue defines it."""
    entry = SECURITY_CATALOGUE.by_id(entry_id)
    return CatalogInterface(key, entry.interface, annotation, f"[{entry.document}] {entry.name}")


def _exchange(interface: ExchangeInterface, description: str) -> CatalogInterface:
    """An Exchange interface, keyed by its short name (``mapi``), as the facts define it."""
    return CatalogInterface(interface.value, EXCHANGE_INTERFACES[interface], "", description)


_ENTRIES = (
    # rpcss: DCOM activation, served on the endpoint mapper's own port.
    _entry(
        "remote_activation",
        "4d9f4ab8-7d1c-11cf-861e-0020af6e7c57",
        "0.0",
        "",
        "[MS-DCOM] IRemoteActivation",
    ),
    _entry(
        "object_exporter",
        "99fcfec4-5260-101b-bbcb-00aa0021347a",
        "0.0",
        "",
        "[MS-DCOM] IObjectExporter",
    ),
    _entry(
        "remote_scm_activator",
        "000001a0-0000-0000-c000-000000000046",
        "0.0",
        "",
        "[MS-DCOM] IRemoteSCMActivator",
    ),
    # wininit.exe
    _entry(
        "initshutdown",
        "d95afe70-a6d5-4259-822e-2c84da1ddb0d",
        "1.0",
        "",
        "[MS-RSP] WindowsShutdown",
    ),
    _entry(
        "wininit_sm",
        "76f226c3-ec14-4325-8a99-6a46348418af",
        "1.0",
        "",
        "wininit.exe session manager",
    ),
    # svchost (LocalServiceNetworkRestricted): event log, DHCP client
    _entry(
        "eventlog",
        "82273fdc-e32a-18c3-3f78-827929dc23ea",
        "0.0",
        "",
        "[MS-EVEN] EventLog Remoting Protocol",
    ),
    _entry(
        "even6",
        "f6beaff7-1e19-4fbb-9f8f-b89e2018337c",
        "1.0",
        "Event log TCPIP",
        "[MS-EVEN6] EventLog Remoting Protocol 6.0",
    ),
    _entry(
        "nrp",
        "30adc50c-5cbc-46ce-9a0e-91914789e23c",
        "1.0",
        "NRP server endpoint",
        "Network Connectivity Assistant",
    ),
    _entry(
        "dhcp_client",
        "3c4728c5-f0ab-448b-bda1-6ce01eb0a6d5",
        "1.0",
        "DHCP Client LRPC Endpoint",
        "DHCP client service",
    ),
    _entry(
        "dhcpv6_client",
        "3c4728c5-f0ab-448b-bda1-6ce01eb0a6d6",
        "1.0",
        "DHCPv6 Client LRPC Endpoint",
        "DHCPv6 client service",
    ),
    # svchost (netsvcs): task scheduler, server and workstation services
    _entry(
        "tsch", "86d35949-83c9-4044-b424-db363231fd0c", "1.0", "", "[MS-TSCH] ITaskSchedulerService"
    ),
    _entry("sasec", "378e52b0-c0a9-11cf-822d-00aa0051e40f", "1.0", "", "[MS-TSCH] SASec"),
    _entry("atsvc", "1ff70682-0a51-30e8-076d-740be8cee98b", "1.0", "", "[MS-TSCH] ATSvc"),
    _entry(
        "xactsrv",
        "98716d03-89ac-44c7-bb8c-285824e51c4a",
        "1.0",
        "XactSrv service",
        "XactSrv (LanMan API)",
    ),
    _entry(
        "iphlp",
        "552d076a-cb29-4e44-8b6a-d15e59e2c0af",
        "1.0",
        "IP Transition Configuration endpoint",
        "IP Helper service",
    ),
    _entry(
        "appinfo",
        "201ef99a-7fa0-444c-9399-19ba84f12a1a",
        "1.0",
        "AppInfo",
        "Application Information service",
    ),
    _entry(
        "srvsvc",
        "4b324fc8-1670-01d3-1278-5a47bf6ee188",
        "3.0",
        "",
        "[MS-SRVS] Server Service Remote Protocol",
    ),
    _entry(
        "wkssvc",
        "6bffd098-a112-3610-9833-46c3f87e345a",
        "1.0",
        "",
        "[MS-WKST] Workstation Service Remote Protocol",
    ),
    # services.exe
    _entry(
        "svcctl",
        "367abb81-9844-35f1-ad32-98f038001003",
        "2.0",
        "",
        "[MS-SCMR] Service Control Manager Remote Protocol",
    ),
    # lsass.exe
    _entry(
        "lsarpc",
        "12345778-1234-abcd-ef00-0123456789ab",
        "0.0",
        "",
        "[MS-LSAD] Local Security Authority",
    ),
    _entry(
        "samr",
        "12345778-1234-abcd-ef00-0123456789ac",
        "1.0",
        "",
        "[MS-SAMR] Security Account Manager",
    ),
    _entry(
        "netlogon",
        "12345678-1234-abcd-ef00-01234567cffb",
        "1.0",
        "",
        "[MS-NRPC] Netlogon Remote Protocol",
    ),
    _entry("keyiso", "b25a52bf-e5dd-4f4a-aea6-8ca7272a0e86", "2.0", "KeyIso", "CNG key isolation"),
    # spoolsv.exe
    _entry(
        "spoolss",
        "12345678-1234-abcd-ef00-0123456789ab",
        "1.0",
        "",
        "[MS-RPRN] Print System Remote Protocol",
    ),
    _entry("par", "76f03f96-cdfd-44fc-a22c-64950a001209", "1.0", "", "[MS-PAR] IRemoteWinspool"),
    _entry(
        "spooler_base",
        "4a452661-8290-4b36-8fbe-7f4093a94978",
        "1.0",
        "",
        "Spooler base remote object endpoint",
    ),
    _entry(
        "spooler_function",
        "0b6edbfa-4a24-4fc6-8a23-942b1eca65d1",
        "1.0",
        "Spooler function endpoint",
        "Spooler function endpoint",
    ),
    # RemoteRegistry
    _entry(
        "winreg",
        "338cd001-2244-31f1-aaaa-900038001003",
        "1.0",
        "",
        "[MS-RRP] Windows Remote Registry Protocol",
    ),
    # svchost (LocalService): COM+ event system, SENS, WinHTTP
    _entry(
        "event_system",
        "c9ac6db5-82b7-4e55-ae8a-e464ed7b4277",
        "1.0",
        "Impl friendly name",
        "System Event Notification / COM+ Event System",
    ),
    _entry(
        "winhttp_autoproxy",
        "3473dd4d-2e88-4006-9cba-22570909dd10",
        "5.1",
        "WinHttp Auto-Proxy Service",
        "WinHTTP auto-proxy service",
    ),
    # Domain controller and DNS server interfaces: in the catalogue, on no member profile.
    _entry(
        "drsuapi",
        "e3514235-4b06-11d1-ab04-00c04fc2dcd2",
        "4.0",
        "MS NT Directory DRS Interface",
        "[MS-DRSR] Directory Replication Service",
    ),
    _entry(
        "dnsserver",
        "50abc2a4-574d-40b3-9d66-ee4fd5fba076",
        "5.0",
        "",
        "[MS-DNSP] DNS Server Management",
    ),
    # Domain controller (lsass), DFS namespaces, EFS, File Server VSS Agent, AD CS
    _security("dssetup", "ms-dssp"),
    _security("backupkey", "ms-bkrp"),
    _security("efsr_lsarpc", "ms-efsr-lsarpc"),
    _security("efsrpc", "ms-efsr"),
    _security("netdfs", "ms-dfsnm"),
    _security("fsrvp", "ms-fsrvp"),
    _security("icpr", "ms-icpr"),
    # Exchange 2010: RPC Client Access, address book, store, system attendant
    _exchange(ExchangeInterface.MAPI, "[MS-OXCRPC] EMSMDB"),
    _exchange(ExchangeInterface.ASYNC_MAPI, "[MS-OXCRPC] AsyncEMSMDB"),
    _exchange(ExchangeInterface.NSPI, "[MS-OXNSPI] Name Service Provider Interface"),
    _exchange(
        ExchangeInterface.RFR, "[MS-OXABREF] Address Book Name Service Provider Interface Referral"
    ),
    _entry(
        "store_admin",
        "99e64010-b032-11d0-97a4-00c04fd6551d",
        "3.0",
        "Exchange Server STORE ADMIN Interface",
        "Exchange store administration",
    ),
    _entry(
        "store_admin2",
        "89742ace-a9ed-11cf-9c0c-08002be7ae86",
        "2.0",
        "Exchange Server STORE ADMIN Interface",
        "Exchange store administration",
    ),
    _entry(
        "store_admin3",
        "a4f1db00-ca47-1067-b31e-00dd010662da",
        "0.81",
        "Exchange 2003 Server STORE ADMIN Interface",
        "Exchange store administration",
    ),
    _entry(
        "sa_public",
        "469d6ec0-0d87-11ce-b13f-00aa003bac6c",
        "16.0",
        "MS Exchange System Attendant Public Interface",
        "Exchange System Attendant",
    ),
    _entry(
        "sa_private",
        "83d72bf0-0d89-11ce-b13f-00aa003bac6c",
        "6.0",
        "MS Exchange System Attendant Private Interface",
        "Exchange System Attendant",
    ),
    _entry(
        "sa_cluster",
        "f930c514-1215-11d3-99a5-00a0c9b61b04",
        "1.0",
        "MS Exchange System Attendant Cluster Interface",
        "Exchange System Attendant",
    ),
)

CATALOG: dict[str, CatalogInterface] = {entry.key: entry for entry in _ENTRIES}
"""Every interface a profile may register, by key."""


def catalog_interface(key: str) -> CatalogInterface:
    """The catalogue entry for ``key``; ``KeyError`` when there is none."""
    return CATALOG[key]
