"""The settings of every use case, each default defined once, here.

A command builds one of these from its options (``cli/``) and hands it to the program
layer (``app/``), which hands the parts each layer needs further down: the engine gets
:class:`NetworkSettings` and the scanner knobs, the target parser :class:`TargetSettings`,
the writers :class:`OutputSettings`. Like sslyze's ``ServerNetworkConfiguration``, the
network settings travel unchanged from the option to the socket, so following a timeout
from ``--connect-timeout`` to ``connect()`` only ever goes down the layers.

Defaults that differ between commands on purpose are named as such
(:data:`CHECK_CONCURRENCY`, :data:`DUMP_TIMEOUTS`, ...).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import Enum

from epmscan.facts.exchange import RPC_HTTP_PORTS
from epmscan.models import ExchangeInterface, Policy, Severity
from epmscan.protocol.constants import DEFAULT_MAX_ENTS, EPM_PORT

DEFAULT_MAX_HOSTS = 1 << 20
"""A scan of more targets than this needs ``--max-hosts`` (a typo such as /8 for /24)."""


class ScanMode(str, Enum):
    """What a scan asks each endpoint mapper."""

    DUMP = "dump"
    """The whole ``ept_lookup`` walk: every registered endpoint."""
    MAP = "map"
    """Only ``ept_map`` for the Exchange interfaces: cheaper, Exchange ports only."""


class Decoder(str, Enum):
    """Which decoder reads ``ept_lookup`` answers."""

    FAST = "fast"
    """Ours (struct-based)."""
    IMPACKET = "impacket"
    """impacket's NDR decoding: the reference, slow; for debugging."""


class FirewallFormat(str, Enum):
    """The languages ``firewall`` writes rules in."""

    NETSH = "netsh"
    POWERSHELL = "powershell"
    NFTABLES = "nftables"
    IPTABLES = "iptables"
    CSV = "csv"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Deadlines in seconds, each measuring one wait on the network."""

    connect: float = 2.0
    """One TCP connect attempt (no answer: ``filtered``)."""
    read: float = 5.0
    """Each wait for an answer on an open connection (silence: ``timeout``)."""
    host: float = 30.0
    """Everything for one host (a peer that drips bytes cannot hold a worker longer)."""
    resolve: float = 5.0
    """Resolving one host name."""


DUMP_TIMEOUTS = Timeouts(connect=5.0, read=5.0, host=60.0)
"""``dump`` asks one host by hand: it waits longer than a scan of many does."""
CHECK_HOST_TIMEOUT = 60.0
"""``check`` probes several ports per host after its lookup: a longer host deadline."""
SCAN_CONCURRENCY = 2000
"""Hosts in flight in ``scan`` (chosen by the benchmark, docs/performance.md)."""
CHECK_CONCURRENCY = 200
"""Hosts in flight in ``check``: each opens up to ``per_host`` connections."""
DEFAULT_PER_HOST = 4
"""Connections to one host at once (``check``'s probes)."""
DEFAULT_GRACE = 1.5
"""Seconds hosts in flight get to finish after SIGINT/SIGTERM."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who to authenticate as with NTLM: a user, its domain, and a password or NT hash.

    The secret never shows: not in the repr, not in ``str()``; nothing writes it anywhere.
    """

    user: str
    domain: str = ""
    password: str | None = field(default=None, repr=False)
    nt_hash: bytes | None = field(default=None, repr=False)
    """The 16-byte NT hash (MD4 of the UTF-16LE password), instead of the password."""

    def __post_init__(self) -> None:
        if not self.user:
            raise ValueError("credentials need a user name")
        if (self.password is None) == (self.nt_hash is None):
            raise ValueError("credentials need a password or an NT hash, not both")
        if self.nt_hash is not None and len(self.nt_hash) != 16:
            raise ValueError("an NT hash is 16 bytes")

    @property
    def account(self) -> str:
        """``DOMAIN\\user`` (``user`` without a domain), for messages."""
        return f"{self.domain}\\{self.user}" if self.domain else self.user


@dataclass(frozen=True, slots=True)
class PacingSettings:
    """How a scan adapts the hosts in flight to its own load (``engine/pacing.py``).

    Chosen by the accuracy benchmark (``bench/accuracy_bench.py``, docs/performance.md).
    """

    adaptive: bool = True
    """Adapt the hosts in flight to the event loop's lag (False: always ``concurrency``)."""
    initial: int = 256
    """Hosts in flight at the start; the window grows from there while the loop is calm."""
    floor: int = 16
    """The window never shrinks below this (nor above ``concurrency``)."""
    lag_target: float = 0.05
    """Loop lag (seconds) above which the window shrinks."""
    pressure_lag: float = 0.25
    """Loop lag (seconds) from which the engine counts as under pressure."""
    sample_interval: float = 0.02
    """Seconds between two lag samples."""
    reprobe_concurrency: int = 32
    """Hosts re-probed at once (a timeout under pressure is probed again)."""
    reprobes: int = 2
    """Re-probes of one host at most (each only if the one before was under pressure too)."""


@dataclass(frozen=True, slots=True)
class NetworkSettings:
    """How to talk to each host, from the command line down to the socket."""

    port: int = EPM_PORT
    """The endpoint mapper's TCP port."""
    timeouts: Timeouts = field(default_factory=Timeouts)
    max_ents: int = DEFAULT_MAX_ENTS
    """Entries asked for per ``ept_lookup`` page."""
    decoder: Decoder = Decoder.FAST
    per_host: int = DEFAULT_PER_HOST
    reset_on_close: bool = True
    """End connections with a RST (no TIME_WAIT piles up in a scan)."""
    credentials: Credentials | None = None
    """Authenticate to each endpoint mapper with NTLM at packet integrity (None: anonymous)."""


@dataclass(frozen=True, slots=True)
class TargetSettings:
    """What to scan, as the user wrote it; :mod:`epmscan.targets` parses it."""

    specs: tuple[str, ...] = ()
    input_files: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    exclude_files: tuple[str, ...] = ()
    max_hosts: int = DEFAULT_MAX_HOSTS
    seed: int | None = None
    """The order's seed; None: a fresh one, reported so the run can be repeated."""
    shard: tuple[int, int] = (1, 1)
    """``(K, N)``: scan the K-th of N disjoint parts (needs a seed)."""

    @property
    def given(self) -> bool:
        return bool(self.specs or self.input_files)


@dataclass(frozen=True, slots=True)
class OutputSettings:
    """Where results go as they come (``-`` is standard output)."""

    jsonl: str | None = None
    json_document: str | None = None
    csv: str | None = None
    save: str | None = None
    only_answered: bool = False
    """Leave hosts that did not answer (closed, filtered, ...) out of the files."""


@dataclass(frozen=True, slots=True)
class FindingsSettings:
    """The security view of a scan (``--findings``): roles, risky interfaces, exit code."""

    enabled: bool = False
    """Infer roles and report findings per host (:mod:`epmscan.checks.exposure`)."""
    verify: bool = False
    """Bind each advertised TCP port of a catalogued interface (one more connection each)."""
    fail_on: Severity | None = None
    """Findings at this severity or worse make the scan exit 1 (None: a scan exits 0)."""


@dataclass(frozen=True, slots=True)
class ScanSettings:
    """One ``scan``: targets, how to talk to them, how many at once, where results go."""

    targets: TargetSettings = field(default_factory=TargetSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    mode: ScanMode = ScanMode.DUMP
    concurrency: int = SCAN_CONCURRENCY
    max_rate: float | None = None
    """New connections per second at most (None: unlimited)."""
    retries: int = 0
    """Extra attempts for a host whose connect got no answer."""
    outputs: OutputSettings = field(default_factory=OutputSettings)
    grace: float = DEFAULT_GRACE
    findings: FindingsSettings = field(default_factory=FindingsSettings)
    """The security view (only ``scan`` uses it)."""
    inventory: bool = False
    """After each host's dump, ask every advertised TCP port what it serves (the remote
    management interface; candidate binds where that is refused)."""
    inventory_ports: tuple[int, ...] = ()
    """TCP ports whose inventory is taken besides those the endpoint mapper advertised."""
    pacing: PacingSettings = field(default_factory=PacingSettings)
    """How the hosts in flight adapt to the client's own load; ``concurrency`` is the ceiling."""


@dataclass(frozen=True, slots=True)
class CheckSettings:
    """One ``check``: a scan whose per-host job is the Exchange check, and the policy."""

    scan: ScanSettings = field(
        default_factory=lambda: ScanSettings(
            network=NetworkSettings(timeouts=Timeouts(host=CHECK_HOST_TIMEOUT)),
            concurrency=CHECK_CONCURRENCY,
        )
    )
    policy: Policy = field(default_factory=lambda: Policy.from_expectations())
    fail_on: Severity = Severity.ERROR
    """Findings at this severity or worse make the run fail (exit 1)."""
    http_ports: tuple[int, ...] = tuple(RPC_HTTP_PORTS)
    """RPC-over-HTTP ports probed on Exchange hosts when the policy names none."""
    use_map: bool = True
    """Ask ``ept_map`` too after the lookup walk (some servers only answer one)."""


@dataclass(frozen=True, slots=True)
class DumpSettings:
    """One ``dump``: one host, every endpoint."""

    target: str
    network: NetworkSettings = field(
        default_factory=lambda: NetworkSettings(timeouts=DUMP_TIMEOUTS, reset_on_close=False)
    )


@dataclass(frozen=True, slots=True)
class FirewallSettings:
    """One ``firewall``: a saved result in, rules in one language out."""

    result: str
    """The saved result (``check``/``scan`` ``--save``, ``--json`` or ``--jsonl``)."""
    format: FirewallFormat = FirewallFormat.NETSH
    sources: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    """The Outlook clients allowed in (none: any address)."""
    proxy_sources: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    """The RPC proxy servers: 6001/6002/6004 open to them only, when given."""
    policy: Policy | None = None
    """Expectations to judge the saved hosts by (None: what the result recorded)."""
    allow_dynamic: bool = False
    """Open the whole dynamic range where a port is dynamic, instead of leaving it out."""


@dataclass(frozen=True, slots=True)
class DiffSettings:
    """One ``diff``: an earlier result against a later one, or against a live check."""

    before: str
    after: str | None = None
    live: CheckSettings | None = None
    """Check these targets now instead of reading AFTER."""
    policy: Policy | None = None
    """Decides which RPC-over-HTTP ports matter (None: every change counts)."""


@dataclass(frozen=True, slots=True)
class PcapSettings:
    """One ``pcap``: a capture file, and the ports to read as endpoint mappers."""

    file: str
    epm_ports: tuple[int, ...] = ()
    """TCP ports read as endpoint mappers besides 135 and 593 (a lab, a NAT)."""


TRACE_TIMEOUTS = Timeouts(connect=5.0, read=5.0, host=60.0)
"""``trace`` waits like ``dump``: 5 s lets the kernel retransmit a SYN twice (1 s, 3 s),
so a dropped SYN shows as several."""
TRACE_PATH_HOPS = 16
"""TTLs tried by ``trace --path``."""
TRACE_PATH_TIMEOUT = 2.0
"""Seconds ``trace --path`` waits for the answers to its SYNs."""


@dataclass(frozen=True, slots=True)
class TraceSettings:
    """One ``trace``: Outlook's steps to one server, per Exchange interface."""

    server: str
    interfaces: tuple[ExchangeInterface, ...] = tuple(ExchangeInterface)
    """Followed in this order: MAPI, AsyncEMSMDB, NSPI, RFR by default."""
    network: NetworkSettings = field(
        default_factory=lambda: NetworkSettings(timeouts=TRACE_TIMEOUTS, reset_on_close=False)
    )
    """The endpoint mapper's port and the connect and read timeouts of every step."""
    http: bool = True
    """Also the RPC-over-HTTP ports of the interfaces (6001 MAPI, 6002 RFR, 6004 NSPI)."""
    capture: bool = True
    """Record the packets of the traced connections when privileges allow."""
    net_iface: str | None = None
    """The interface to capture on (None: the one the route to the server takes)."""
    path: bool = False
    """A TCP SYN traceroute to a failing port and to the endpoint mapper's, side by side."""
    path_max_hops: int = TRACE_PATH_HOPS
    path_timeout: float = TRACE_PATH_TIMEOUT


REPORT_FULL_HOSTS = 5_000
"""Hosts ``report --html`` shows in full (a table row and every endpoint), worst findings
first; answered hosts beyond them are counted and listed as address ranges, like the
hosts that did not answer (the saved result keeps them all)."""


@dataclass(frozen=True, slots=True)
class ReportSettings:
    """One ``report``: a saved result in, one self-contained HTML page out."""

    result: str
    """The saved result (``scan``/``check`` ``--save``, ``--json`` or ``--jsonl``)."""
    html: str
    """Where the page goes (``-``: standard output)."""
    full_hosts: int = REPORT_FULL_HOSTS
