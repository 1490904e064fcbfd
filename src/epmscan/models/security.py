"""The security view of a host: catalogued interfaces, inferred roles, exposure findings.

A :class:`SecurityInterface` is one entry of the interface catalogue
(:mod:`epmscan.facts.security`): an RPC interface that matters for security, with its
protocol document, what it is, why it matters, a severity and a source. From a host's
endpoints, :mod:`epmscan.checks.exposure` infers :class:`InferredRole` guesses (a host may
have several; they are not the Exchange :class:`~epmscan.models.Role` a policy assigns)
and :class:`ExposureFinding` findings, each listing the :class:`Reachability` of the
interface: every transport it was found on, registered with the endpoint mapper or not,
and, with ``--verify``, whether a TCP port accepted a bind. Severities are the one scale
``check`` uses (:class:`~epmscan.models.Severity`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from epmscan.models.endpoints import HostResult, InterfaceId
from epmscan.models.exchange import ExchangeInterface, PortProbeStatus, Severity


class InterfaceCategory(str, Enum):
    """Why a catalogued interface matters."""

    COERCION = "coercion"
    """It can be made to authenticate to a host of the caller's choosing (NTLM relay)."""
    REMOTE_EXECUTION = "remote_execution"
    """It runs programs or changes the configuration of the host (with credentials)."""
    DOMAIN_CONTROLLER = "domain_controller"
    """A domain controller's own interfaces: replication, logon, accounts, policy."""
    CERTIFICATE_SERVICES = "certificate_services"
    """Certificate enrolment against a certification authority."""
    EXCHANGE = "exchange"
    """Exchange 2007/2010's own interfaces (Outlook's MAPI, address book, referral)."""
    EXCHANGE_LEGACY = "exchange_legacy"
    """Interfaces of the Exchange 2003/2007 store and System Attendant: they identify it."""


class HostRole(str, Enum):
    """What a host appears to be, inferred from the interfaces it registers."""

    DOMAIN_CONTROLLER = "domain_controller"
    EXCHANGE_CLIENT_ACCESS = "exchange_client_access"
    EXCHANGE_MAILBOX = "exchange_mailbox"
    PRINT_SERVER = "print_server"
    CERTIFICATE_AUTHORITY = "certificate_authority"
    FILE_SERVER = "file_server"
    MEMBER = "member"
    """A server where no other role was found (a domain member, or standalone)."""


class Confidence(str, Enum):
    """How strongly the interfaces support a role guess."""

    HIGH = "high"
    """An interface only that role serves (directory replication: a domain controller)."""
    LOW = "low"
    """Interfaces that role needs but others serve too (every Windows host has a spooler)."""


@dataclass(frozen=True, slots=True)
class SecurityInterface:
    """One catalogue entry: an interface that matters for security, and why.

    ``id`` is short and stable (``ms-rprn``); finding codes are ``<category>.<id>``.
    ``severity_on_dc`` replaces ``severity`` on a host inferred to be a domain controller
    (None: the same everywhere). ``source`` is the protocol document or advisory that
    gives the UUID and version (a URL).
    """

    id: str
    name: str
    document: str
    interface: InterfaceId
    category: InterfaceCategory
    severity: Severity
    what: str
    why: str
    source: str
    severity_on_dc: Severity | None = None
    exchange: ExchangeInterface | None = None
    """The Exchange interface this entry is (its UUID comes from the Exchange facts)."""

    @property
    def code(self) -> str:
        """The finding code of this interface's exposure: ``coercion.ms-rprn``."""
        return f"{self.category.value}.{self.id}"


@dataclass(frozen=True, slots=True)
class RoleRule:
    """Which catalogued interfaces support a role, and how strongly (catalogue data)."""

    role: HostRole
    label: str
    description: str
    high: tuple[str, ...] = ()
    """Catalogue ids: any one of them registered makes the guess ``high``."""
    low: tuple[str, ...] = ()
    """Catalogue ids that support a ``low`` guess."""


@dataclass(frozen=True, slots=True)
class InterfaceCatalogue:
    """The versioned interface catalogue: entries and role rules."""

    version: int
    updated: str
    interfaces: tuple[SecurityInterface, ...]
    roles: tuple[RoleRule, ...]

    def by_id(self, entry_id: str) -> SecurityInterface:
        """The entry called ``entry_id`` (``KeyError`` when there is none)."""
        for entry in self.interfaces:
            if entry.id == entry_id:
                return entry
        raise KeyError(entry_id)

    def by_uuid(self, uuid: str) -> SecurityInterface | None:
        """The entry of an interface UUID (any case), or None."""
        key = uuid.lower()
        for entry in self.interfaces:
            if entry.interface.uuid == key:
                return entry
        return None

    def rule(self, role: HostRole) -> RoleRule | None:
        for rule in self.roles:
            if rule.role is role:
                return rule
        return None


@dataclass(frozen=True, slots=True)
class InferredRole:
    """One guess of what a host is, with the catalogue ids of the interfaces behind it.

    ``evidence`` is empty for :attr:`HostRole.MEMBER`: that guess rests on the absence
    of every other role's interfaces.
    """

    role: HostRole
    confidence: Confidence
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reachability:
    """One way to reach an interface: a TCP port, a named pipe, an RPC-over-HTTP port.

    ``registered`` is True for an endpoint the endpoint mapper listed, False for one
    found otherwise (an inventory of unregistered endpoints reports them the same way).
    ``verify`` is the bind proof of a TCP port under ``--verify`` (None: not verified,
    as for pipes and HTTP ports, or when not asked).
    """

    transport: str
    binding: str
    port: int | None = None
    endpoint: str | None = None
    registered: bool = True
    verify: PortProbeStatus | None = None
    verify_detail: str | None = None

    @property
    def remote(self) -> bool:
        """Reachable from another host (every transport but local RPC)."""
        return self.transport != "ncalrpc"


@dataclass(frozen=True, slots=True)
class ExposureFinding:
    """One security finding on one host, on the severity scale ``check`` uses.

    ``code`` is ``epm.anonymous`` (the endpoint map was read without credentials) or
    ``<category>.<id>`` of a catalogued interface; ``interface`` is its catalogue id,
    ``reachable`` every transport it was found on, ``why`` why it matters (the
    catalogue's words).
    """

    severity: Severity
    host: str
    code: str
    message: str
    why: str | None = None
    interface: str | None = None
    document: str | None = None
    uuid: str | None = None
    version: str | None = None
    reachable: tuple[Reachability, ...] = ()
    source: str | None = None


@dataclass(frozen=True, slots=True)
class SecurityHostReport:
    """The security view of one host: its dump, the roles guessed, the findings."""

    host: HostResult
    roles: tuple[InferredRole, ...] = ()
    findings: tuple[ExposureFinding, ...] = ()
    verified: bool = False
    """The advertised TCP ports of the catalogued interfaces were bound (``--verify``)."""

    @property
    def worst(self) -> Severity | None:
        """The highest severity among the findings (None without findings)."""
        worst: Severity | None = None
        for finding in self.findings:
            if worst is None or finding.severity.rank > worst.rank:
                worst = finding.severity
        return worst
