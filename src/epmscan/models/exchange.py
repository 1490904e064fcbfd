"""The Exchange view of a host: resolved ports, their probes, findings, roles, severities."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from epmscan.models.endpoints import HostResult


class ExchangeInterface(str, Enum):
    """The RPC interfaces Outlook uses against Exchange 2007/2010."""

    MAPI = "mapi"
    """EMSMDB a4f1db00-ca47-1067-b31f-00dd010662da v0.81 ([MS-OXCRPC])."""
    ASYNC_MAPI = "async_mapi"
    """AsyncEMSMDB 5261574a-4572-206e-b268-6b199213b4e4 v0.1 ([MS-OXCRPC])."""
    NSPI = "nspi"
    """Address book, f5cc5a18-4264-101a-8c59-08002b2f8426 v56.0 ([MS-OXNSPI])."""
    RFR = "rfr"
    """Referral service, 1544f5e0-613c-11d1-93df-00c04fd7bd09 v1.0 ([MS-OXABREF])."""


class Role(str, Enum):
    """What a group of servers is, which decides the fix texts and default checks."""

    CLIENT_ACCESS = "client_access"
    """Exchange 2010 Client Access server (RPC Client Access + Address Book services)."""
    MAILBOX = "mailbox"
    """Exchange Mailbox server without public folders: Outlook does not connect to it."""
    MAILBOX_PUBLIC_FOLDERS = "mailbox_public_folders"
    """Mailbox server holding a public folder database: Outlook connects to it directly."""
    LEGACY = "legacy"
    """Exchange 2003/2007 mailbox server (System Attendant / Information Store ports)."""
    WINDOWS = "windows"
    """Any Windows host: only the endpoint mapper and listed ports are checked."""


class PortProbeStatus(str, Enum):
    """What happened when we connected to a resolved port and bound its interface."""

    BOUND = "bound"
    WRONG_SERVICE = "wrong_service"
    """The port answers but rejected a bind for the interface."""
    CLOSED = "closed"
    FILTERED = "filtered"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    """Connected, but no answer to the bind."""
    PROTOCOL_ERROR = "protocol_error"
    NOT_PROBED = "not_probed"


class HttpProbeStatus(str, Enum):
    """What answered on an RPC-over-HTTP port (6001, 6002, 6004)."""

    NCACN_HTTP = "ncacn_http"
    """The ``ncacn_http/1.0`` greeting came."""
    OTHER_SERVICE = "other_service"
    """Something listens but sent another greeting."""
    SILENT = "silent"
    """Connected, but nothing came within the read timeout."""
    CLOSED = "closed"
    FILTERED = "filtered"
    UNREACHABLE = "unreachable"


class PortClass(str, Enum):
    """How a resolved port relates to the expected static assignment."""

    STATIC_EXPECTED = "static_expected"
    STATIC_UNEXPECTED = "static_unexpected"
    """Outside every dynamic range, but not the expected port."""
    DYNAMIC_WINDOWS = "dynamic_windows"
    """Inside the Windows default dynamic range (49152..65535 unless configured)."""
    DYNAMIC_EXCHANGE = "dynamic_exchange"
    """Inside the range Exchange 2010 sets at install (6005..65534 unless configured)."""
    STATIC_UNCHECKED = "static_unchecked"
    """Outside the dynamic ranges and no expectation was given."""
    NOT_REGISTERED = "not_registered"
    """The endpoint mapper has no TCP endpoint for the interface."""


class Severity(str, Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return ("info", "warning", "error", "critical").index(self.value)


@dataclass(frozen=True, slots=True)
class ResolvedPort:
    """One Exchange interface's port as the endpoint mapper gives it, and the proof."""

    interface: ExchangeInterface
    transport: str
    """``ncacn_ip_tcp`` or ``ncacn_http``."""
    port: int | None
    source: str
    """``lookup`` (from the dump), ``map`` (from ``ept_map``) or ``both``."""
    probe: PortProbeStatus = PortProbeStatus.NOT_PROBED
    probe_detail: str | None = None
    port_class: PortClass | None = None
    expected_port: int | None = None


@dataclass(frozen=True, slots=True)
class HttpPortProbe:
    """One RPC-over-HTTP port: the greeting, and the bind behind it where it came."""

    port: int
    interface: ExchangeInterface
    status: HttpProbeStatus
    banner: str | None = None
    """What another service sent, printable and cut short."""
    bind: PortProbeStatus = PortProbeStatus.NOT_PROBED
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing that is not as the policy expects, with how to fix it."""

    severity: Severity
    host: str
    code: str
    message: str
    interface: ExchangeInterface | None = None
    expected: str | None = None
    found: str | None = None
    fix: str | None = None


@dataclass(frozen=True, slots=True)
class ExchangeObservation:
    """What the engine saw of one host's Exchange interfaces, before any verdict.

    ``ports`` are unclassified (no ``port_class``/``expected_port`` yet): judging them
    against an expectation is :func:`epmscan.checks.findings.build_report`'s job.
    """

    host: HostResult
    ports: tuple[ResolvedPort, ...] = ()
    http: tuple[HttpPortProbe, ...] = ()
