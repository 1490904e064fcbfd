"""The interfaces the inventory binds one by one where a port refuses the management interface.

A hardened server (``RestrictRemoteClients``, a management authorisation callback) will not
list what a port serves, so the inventory falls back to binding known interfaces and keeping
those the port accepts. The candidates are the Exchange interfaces
(:mod:`epmscan.facts.exchange`) and the Windows interfaces below: the ones an attacker or
auditor looks for on an RPC port, each with the version its specification gives.

TODO(security-catalogue): take the Windows part from the security catalogue of risky
interfaces (``epmscan.facts``, being written alongside) once it lands, and drop this list.
"""

from __future__ import annotations

from typing import Final

from epmscan.facts.exchange import EXCHANGE_INTERFACES
from epmscan.models import InterfaceId


def _interface(uuid: str, version: str) -> InterfaceId:
    major, minor = (int(part) for part in version.split("."))
    return InterfaceId(uuid, major, minor)


WINDOWS_CANDIDATES: Final[tuple[InterfaceId, ...]] = (
    _interface("12345778-1234-abcd-ef00-0123456789ab", "0.0"),  # [MS-LSAD]/[MS-LSAT] lsarpc
    _interface("12345778-1234-abcd-ef00-0123456789ac", "1.0"),  # [MS-SAMR] samr
    _interface("12345678-1234-abcd-ef00-01234567cffb", "1.0"),  # [MS-NRPC] netlogon
    _interface("e3514235-4b06-11d1-ab04-00c04fc2dcd2", "4.0"),  # [MS-DRSR] drsuapi
    _interface("50abc2a4-574d-40b3-9d66-ee4fd5fba076", "5.0"),  # [MS-DNSP] DNS server
    _interface("4b324fc8-1670-01d3-1278-5a47bf6ee188", "3.0"),  # [MS-SRVS] srvsvc
    _interface("6bffd098-a112-3610-9833-46c3f87e345a", "1.0"),  # [MS-WKST] wkssvc
    _interface("367abb81-9844-35f1-ad32-98f038001003", "2.0"),  # [MS-SCMR] svcctl
    _interface("86d35949-83c9-4044-b424-db363231fd0c", "1.0"),  # [MS-TSCH] ITaskSchedulerService
    _interface("1ff70682-0a51-30e8-076d-740be8cee98b", "1.0"),  # [MS-TSCH] ATSvc
    _interface("378e52b0-c0a9-11cf-822d-00aa0051e40f", "1.0"),  # [MS-TSCH] SASec
    _interface("12345678-1234-abcd-ef00-0123456789ab", "1.0"),  # [MS-RPRN] spoolss
    _interface("76f03f96-cdfd-44fc-a22c-64950a001209", "1.0"),  # [MS-PAR] IRemoteWinspool
    _interface("338cd001-2244-31f1-aaaa-900038001003", "1.0"),  # [MS-RRP] winreg
    _interface("82273fdc-e32a-18c3-3f78-827929dc23ea", "0.0"),  # [MS-EVEN] eventlog
    _interface("f6beaff7-1e19-4fbb-9f8f-b89e2018337c", "1.0"),  # [MS-EVEN6] EventLog 6.0
    _interface("894de0c0-0d55-11d3-a322-00c04fa321a1", "1.0"),  # [MS-RSP] InitShutdown
    _interface("d95afe70-a6d5-4259-822e-2c84da1ddb0d", "1.0"),  # [MS-RSP] WindowsShutdown
    _interface("c681d488-d850-11d0-8c52-00c04fd90f7e", "1.0"),  # [MS-EFSR] efsrpc (lsarpc pipe)
    _interface("df1941c5-fe89-4e79-bf10-463657acf44d", "1.0"),  # [MS-EFSR] efsrpc
    _interface("4fc742e0-4a10-11cf-8273-00aa004ae673", "3.0"),  # [MS-DFSNM] netdfs
    _interface("a8e0653c-2744-4389-a61d-7373df8b2292", "1.0"),  # [MS-FSRVP] FileServerVssAgent
    _interface("91ae6020-9e3c-11cf-8d7c-00aa00c091be", "0.0"),  # [MS-ICPR] ICertPassage
    _interface("4d9f4ab8-7d1c-11cf-861e-0020af6e7c57", "0.0"),  # [MS-DCOM] IRemoteActivation
    _interface("99fcfec4-5260-101b-bbcb-00aa0021347a", "0.0"),  # [MS-DCOM] IObjectExporter
    _interface("000001a0-0000-0000-c000-000000000046", "0.0"),  # [MS-DCOM] IRemoteSCMActivator
)
"""Windows interfaces worth finding on a port, with their specifications' versions."""

INVENTORY_CANDIDATES: Final[tuple[InterfaceId, ...]] = tuple(
    dict.fromkeys((*EXCHANGE_INTERFACES.values(), *WINDOWS_CANDIDATES))
)
"""What the inventory binds where the management interface is refused: Exchange's
interfaces, then the Windows ones."""
