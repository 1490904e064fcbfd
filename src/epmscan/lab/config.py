"""Lab descriptions: which emulated hosts listen where, read from TOML or built in code.

A lab file has an optional ``[lab]`` table (``epm_port``, ``port_offset``, ``seed``,
``any_address``), then either ``[[hosts]]`` entries (one per emulated host on its own
loopback address) or one ``[wildcard]`` table describing many generated hosts served by one
listener per port. Addresses must be in 127.0.0.0/8 unless ``any_address`` is set (in the
file, or by the caller: ``epmscan lab --any-address``), for a lab that serves the addresses
of a network namespace.
Every port written in a lab file is nominal: the lab adds ``port_offset`` to it when it
binds (dynamic ports are drawn free and not shifted). Every error is a
:class:`~epmscan.errors.LabConfigError` whose one line names the file and the key.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NoReturn, cast

from impacket.ntlm import compute_nthash

from epmscan.errors import LabConfigError
from epmscan.lab.catalog import CATALOG
from epmscan.lab.faults import HostFault, parse_fault
from epmscan.lab.profiles import PAGING_STYLES, PagingStyle, Profile, get_profile
from epmscan.protocol.constants import EPM_PORT
from epmscan.protocol.ntlm_security import account_key

PortOverride = int | Literal["dynamic"]
MgmtMode = Literal["answer", "reject", "access_denied"]
MGMT_MODES: tuple[str, ...] = ("answer", "reject", "access_denied")
"""How a host's ports treat the remote management interface: answer ``inq_if_ids``,
provider-reject its bind (a server that does not offer it), or accept the bind and
fault the call with ``rpc_s_access_denied`` (``RestrictRemoteClients``)."""
AuthMode = Literal["ntlm"]
AUTH_MODES: tuple[AuthMode, ...] = ("ntlm",)

LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
MAX_DELAY = 60.0
"""Seconds: the longest per-host answer delay a lab file may ask for."""


@dataclass(frozen=True, slots=True)
class HostConfig:
    """One emulated host: its address, profile and the ways it differs from the profile."""

    address: str
    profile: Profile
    name: str
    down: bool = False
    """Nothing listens on this address at all (connections are refused)."""
    paging: PagingStyle = "windows"
    zero_address_towers: bool = False
    """ncacn_ip_tcp/ncacn_http towers carry 0.0.0.0 (as a Samba AD DC) instead of the address."""
    http_closed: frozenset[int] = frozenset()
    """Nominal ncacn_http ports that stay advertised but where nothing listens."""
    silent_ports: frozenset[int] = frozenset()
    """Nominal ports that accept the connection and never send a byte (a firewalled port)."""
    silent_epm: bool = False
    """The endpoint mapper accepts connections and never answers."""
    filtered_ports: frozenset[int] = frozenset()
    """Nominal ports whose SYNs go unanswered, as behind a dropping firewall."""
    filtered_epm: bool = False
    """The endpoint mapper's SYNs go unanswered."""
    foreign_ports: frozenset[int] = frozenset()
    """Nominal RPC ports held by another program: every bind is rejected (wrong service)."""
    http_banners: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    """Nominal ncacn_http port → what another service there sends instead of the greeting."""
    ports: Mapping[str, PortOverride] = field(default_factory=lambda: MappingProxyType({}))
    """Interface key → nominal TCP port (or ``"dynamic"``) for the process serving it."""
    seed: int = 0
    fault: HostFault | None = None
    """A hostile behaviour on the host's ports (``lab.faults``), or None for an honest host."""
    delay: float = 0.0
    """Seconds every answer waits: each PDU answer, the ncacn_http greeting, a banner."""
    unregistered: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Interface key → the profile interface whose process serves it, for interfaces
    served on TCP but left out of the endpoint map (a profile's own: itself)."""
    mgmt: MgmtMode = "answer"
    """How the host's ports treat the remote management interface (:data:`MGMT_MODES`)."""
    auth: AuthMode | None = None
    """``"ntlm"``: the endpoint mapper refuses anonymous calls (RestrictRemoteClients)."""
    accounts: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    """Accounts NTLM authenticates (the lab's and the host's own): ``DOMAIN\\USER`` (upper
    case; ``USER`` without a domain, for any domain) → NT hash. Every endpoint mapper takes
    an authenticated bind; one of an account it does not know fails."""
    auth_domain: str = "WORKGROUP"
    """The NetBIOS domain the host's NTLM challenge names (the first account's domain)."""


@dataclass(frozen=True, slots=True)
class WildcardConfig:
    """Many generated hosts on one network, served by one listener per port."""

    network: ipaddress.IPv4Network
    live: int
    profiles: tuple[Profile, ...]
    seed: int = 0
    bind: str = "0.0.0.0"
    dynamic_pool: int = 16
    """How many distinct dynamic ports the generated hosts share."""
    paging: PagingStyle = "windows"


@dataclass(frozen=True, slots=True)
class LabConfig:
    """A whole lab: explicit hosts, or a wildcard spec, and where the ports land."""

    hosts: tuple[HostConfig, ...] = ()
    epm_port: int = EPM_PORT
    port_offset: int = 0
    seed: int = 0
    wildcard: WildcardConfig | None = None
    source: str = "<lab>"
    any_address: bool = False
    """Addresses outside 127.0.0.0/8 were allowed (a lab inside a network namespace)."""

    def with_ports(
        self, *, epm_port: int | None = None, port_offset: int | None = None
    ) -> LabConfig:
        """A copy with the endpoint mapper port and/or port offset replaced (validated)."""
        updated = replace(
            self,
            epm_port=self.epm_port if epm_port is None else epm_port,
            port_offset=self.port_offset if port_offset is None else port_offset,
        )
        _check_port_space(updated)
        return updated


# --- parsing -------------------------------------------------------------------------

_LAB_KEYS = {"epm_port", "port_offset", "seed", "name", "description", "any_address", "users"}
_HOST_KEYS = {
    "address",
    "profile",
    "name",
    "down",
    "paging",
    "zero_address_towers",
    "http_closed",
    "silent_ports",
    "silent_epm",
    "ports",
    "seed",
    "filtered_ports",
    "filtered_epm",
    "foreign_ports",
    "http_banners",
    "fault",
    "delay",
    "delay_ms",
    "unregistered",
    "mgmt",
    "auth",
    "users",
}
_ANY_ADDRESS_HINT = "to serve other addresses: any_address = true in [lab], or --any-address"
_WILDCARD_KEYS = {"hosts", "live", "profiles", "profile", "seed", "bind", "dynamic_pool", "paging"}
_TOP_KEYS = {"lab", "hosts", "wildcard"}


class _Reader:
    """Typed access to one TOML table, raising errors that name the file and the key."""

    def __init__(self, source: str, path: str, table: Any) -> None:
        self.source = source
        self.path = path
        if not isinstance(table, dict):
            self.fail(path, f"must be a table, not {type(table).__name__}")
        self.table: dict[str, Any] = table

    def fail(self, key: str, message: str) -> NoReturn:
        raise LabConfigError(f"{self.source}: {key}: {message}")

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def check_keys(self, allowed: set[str]) -> None:
        for name in self.table:
            if name not in allowed:
                self.fail(self.key(name), f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def boolean(self, name: str, default: bool) -> bool:
        value = self.table.get(name, default)
        if not isinstance(value, bool):
            self.fail(self.key(name), f"must be true or false, not {value!r}")
        return bool(value)

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.table.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(self.key(name), f"must be an integer, not {value!r}")
        if not low <= value <= high:
            self.fail(self.key(name), f"{value} out of range {low}..{high}")
        return int(value)

    def seconds(self, name: str, scale: float, high: float) -> float:
        """A non-negative number of seconds given in units of ``scale`` seconds."""
        value = self.table.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(self.key(name), f"must be a number, not {value!r}")
        if not 0 <= value * scale <= high:
            self.fail(self.key(name), f"{value} out of range 0..{high / scale:g}")
        return float(value) * scale

    def string(self, name: str, default: str | None) -> str:
        value = self.table.get(name, default)
        if not isinstance(value, str):
            if value is None:
                self.fail(self.key(name), "is required")
            self.fail(self.key(name), f"must be a string, not {value!r}")
        return str(value)

    def port_list(self, name: str) -> frozenset[int]:
        value = self.table.get(name, [])
        if not isinstance(value, list):
            self.fail(self.key(name), f"must be a list of ports, not {value!r}")
        ports: set[int] = set()
        for index, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 65535:
                self.fail(f"{self.key(name)}[{index}]", f"{item!r} is not a port 1..65535")
            ports.add(item)
        return frozenset(ports)

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.string(name, default)
        if value not in allowed:
            self.fail(self.key(name), f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def paging(self, name: str, default: str) -> PagingStyle:
        value = self.string(name, default)
        if value not in PAGING_STYLES:
            self.fail(self.key(name), f"{value!r} is not one of {', '.join(PAGING_STYLES)}")
        return value  # type: ignore[return-value]

    def profile(self, name: str) -> Profile:
        value = self.string(name, None)
        try:
            return get_profile(value)
        except LabConfigError as exc:
            self.fail(self.key(name), str(exc))
            raise


def _host_address(reader: _Reader, name: str, any_address: bool) -> str:
    text = reader.string(name, None)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        reader.fail(reader.key(name), f"{text!r} is not an IP address")
        raise
    loopback = address in LOOPBACK if address.version == 4 else address.is_loopback
    if not any_address and not loopback:
        reader.fail(
            reader.key(name),
            f"{text} is not a loopback address (127.0.0.0/8 or ::1) ({_ANY_ADDRESS_HINT})",
        )
    return str(address)


def _delay(reader: _Reader) -> float:
    if "delay" in reader.table and "delay_ms" in reader.table:
        reader.fail(reader.key("delay_ms"), "give delay or delay_ms, not both")
    if "delay_ms" in reader.table:
        return reader.seconds("delay_ms", 0.001, MAX_DELAY)
    return reader.seconds("delay", 1.0, MAX_DELAY)


def default_host_name(profile: Profile, address: str) -> str:
    """A NetBIOS-style name (15 characters at most) derived from profile and address."""
    last = ipaddress.ip_address(address).packed[-2:]
    return f"{profile.netbios_prefix}-{last[0]}-{last[1]}"[:15].upper()


def _parse_ports(reader: _Reader, profile: Profile) -> Mapping[str, PortOverride]:
    value = reader.table.get("ports", {})
    key = reader.key("ports")
    if not isinstance(value, dict):
        reader.fail(key, f"must be a table of interface = port, not {value!r}")
    allowed = profile.tcp_interface_keys
    ports: dict[str, PortOverride] = {}
    for name, port in value.items():
        if name not in allowed:
            reader.fail(
                f"{key}.{name}",
                f"profile {profile.name} serves no such interface on TCP "
                f"(known: {', '.join(allowed)})",
            )
        if port == "dynamic":
            ports[name] = "dynamic"
            continue
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            reader.fail(f"{key}.{name}", f'{port!r} is not a port 1..65535 or "dynamic"')
        ports[name] = port
    return MappingProxyType(ports)


def _parse_unregistered(reader: _Reader, profile: Profile) -> Mapping[str, str]:
    """``unregistered = ["tsch", "drsuapi@lsarpc"]``: a profile interface served but not
    registered, or a catalogue interface served (unregistered) beside a profile one."""
    value = reader.table.get("unregistered", [])
    key = reader.key("unregistered")
    if not isinstance(value, list):
        reader.fail(key, f'must be a list of interface keys such as ["tsch"], not {value!r}')
    on_tcp = profile.tcp_interface_keys
    unregistered: dict[str, str] = {}
    for index, item in enumerate(value):
        where = f"{key}[{index}]"
        if not isinstance(item, str) or not item:
            reader.fail(where, f"must be an interface key (KEY or KEY@BESIDE), not {item!r}")
        name, at, beside = item.partition("@")
        if name not in CATALOG:
            reader.fail(where, f"unknown interface {name!r} (known: {', '.join(CATALOG)})")
        if name in unregistered:
            reader.fail(where, f"{name} is listed twice")
        if not at:
            if name not in profile.interface_keys:
                reader.fail(
                    where,
                    f"profile {profile.name} does not serve {name}: write {name}@KEY to serve"
                    f" it beside one of its TCP interfaces ({', '.join(on_tcp)})",
                )
            if name not in on_tcp:
                reader.fail(
                    where, f"profile {profile.name} serves {name} on no TCP port (pipes/LRPC only)"
                )
            beside = name
        else:
            if name in profile.interface_keys:
                reader.fail(where, f"profile {profile.name} serves {name} itself: write {name!r}")
            if beside not in on_tcp:
                reader.fail(
                    where,
                    f"{beside!r} is not an interface profile {profile.name} serves on TCP"
                    f" (known: {', '.join(on_tcp)})",
                )
        unregistered[name] = beside
    return MappingProxyType(unregistered)


def _parse_http_banners(reader: _Reader, profile: Profile) -> Mapping[int, str]:
    value = reader.table.get("http_banners", {})
    key = reader.key("http_banners")
    if not isinstance(value, dict):
        reader.fail(key, f'must be a table of port = "text", not {value!r}')
    nominal_http = set(profile.http_ports.values())
    banners: dict[int, str] = {}
    for port_text, banner in value.items():
        port = int(port_text) if port_text.isdigit() else -1
        if port not in nominal_http:
            reader.fail(
                f"{key}.{port_text}",
                f"{port_text!r} is not an RPC over HTTP port of profile {profile.name}"
                f" (it has: {', '.join(map(str, sorted(nominal_http))) or 'none'})",
            )
        if not isinstance(banner, str) or not banner:
            reader.fail(f"{key}.{port_text}", f"must be a non-empty string, not {banner!r}")
        banners[port] = banner
    return MappingProxyType(banners)


def _parse_host(
    source: str,
    index: int,
    table: Any,
    lab_seed: int,
    any_address: bool,
    lab_accounts: Mapping[str, bytes] = MappingProxyType({}),
    lab_domain: str = "",
) -> HostConfig:
    reader = _Reader(source, f"hosts[{index}]", table)
    reader.check_keys(_HOST_KEYS)
    address = _host_address(reader, "address", any_address)
    profile = reader.profile("profile")
    http_closed = reader.port_list("http_closed")
    nominal_http = set(profile.http_ports.values())
    for port in sorted(http_closed - nominal_http):
        reader.fail(
            reader.key("http_closed"),
            f"{port} is not an RPC over HTTP port of profile {profile.name}"
            f" (it has: {', '.join(map(str, sorted(nominal_http))) or 'none'})",
        )
    name = reader.string("name", default_host_name(profile, address))
    if not name or len(name) > 15:
        reader.fail(reader.key("name"), f"{name!r} is not a NetBIOS name of 1..15 characters")
    return HostConfig(
        address=address,
        profile=profile,
        name=name,
        down=reader.boolean("down", False),
        paging=reader.paging("paging", profile.paging),
        zero_address_towers=reader.boolean("zero_address_towers", profile.zero_address_towers),
        http_closed=http_closed,
        silent_ports=reader.port_list("silent_ports"),
        silent_epm=reader.boolean("silent_epm", False),
        filtered_ports=reader.port_list("filtered_ports"),
        filtered_epm=reader.boolean("filtered_epm", False),
        foreign_ports=reader.port_list("foreign_ports"),
        http_banners=_parse_http_banners(reader, profile),
        ports=_parse_ports(reader, profile),
        seed=reader.integer("seed", lab_seed + index, 0, 2**63 - 1),
        fault=_parse_host_fault(reader, profile),
        delay=_delay(reader),
        unregistered=_parse_unregistered(reader, profile),
        mgmt=cast(MgmtMode, reader.choice("mgmt", "answer", MGMT_MODES)),
        **_parse_auth(reader, lab_accounts, lab_domain),
    )


def _parse_users(reader: _Reader) -> tuple[dict[str, bytes], str]:
    """A ``users`` table: its accounts (:func:`account_key` → NT hash) and the first
    account's domain."""
    users = reader.table.get("users", {})
    key = reader.key("users")
    if not isinstance(users, dict):
        reader.fail(key, 'must be a table of "DOMAIN\\\\user" = "password"')
    accounts: dict[str, bytes] = {}
    domain = ""
    for account, password in users.items():
        where = f"{key}.{account}"
        user_domain, _, user = account.rpartition("\\")
        if not user or "\\" in user_domain:
            reader.fail(where, f"{account!r} is not DOMAIN\\user or user")
        if not isinstance(password, str) or not password:
            reader.fail(where, "must be a non-empty password string")
        accounts[account_key(user, user_domain)] = compute_nthash(password)
        domain = domain or user_domain
    return accounts, domain


def _parse_auth(
    reader: _Reader, lab_accounts: Mapping[str, bytes], lab_domain: str
) -> dict[str, Any]:
    """``auth`` and ``users`` of a host, over the lab's accounts."""
    own, own_domain = _parse_users(reader)
    accounts = {**lab_accounts, **own}
    mode = None
    if "auth" in reader.table:
        mode = reader.string("auth", None)
        if mode not in AUTH_MODES:
            reader.fail(reader.key("auth"), f"{mode!r} is not one of {', '.join(AUTH_MODES)}")
        if not accounts:
            reader.fail(
                reader.key("auth"),
                'needs test accounts: users = { "DOMAIN\\\\user" = "password" } here or in [lab]',
            )
    return {
        "auth": mode,
        "accounts": MappingProxyType(accounts),
        "auth_domain": (own_domain or lab_domain or "WORKGROUP").upper(),
    }


def _parse_host_fault(reader: _Reader, profile: Profile) -> HostFault | None:
    if "fault" not in reader.table:
        return None
    key = reader.key("fault")
    fault = parse_fault(reader.table["fault"], key, reader.fail)
    on_key = key if isinstance(reader.table["fault"], str) else f"{key}.on"
    if reader.table.get("down", False):
        reader.fail(key, "a down host answers nothing: it cannot show a fault")
    if fault.applies_to("epm"):
        for hidden in ("silent_epm", "filtered_epm"):
            if reader.table.get(hidden, False):
                reader.fail(on_key, f"the endpoint mapper is {hidden}: a fault there never shows")
    if fault.applies_to("http") and not profile.http_ports:
        reader.fail(on_key, f"profile {profile.name} has no ncacn_http ports")
    return fault


def _parse_wildcard(source: str, table: Any, any_address: bool) -> WildcardConfig:
    reader = _Reader(source, "wildcard", table)
    reader.check_keys(_WILDCARD_KEYS)
    text = reader.string("hosts", None)
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        reader.fail(reader.key("hosts"), f"{text!r} is not a network: {exc}")
        raise
    if not isinstance(network, ipaddress.IPv4Network):
        reader.fail(reader.key("hosts"), f"{text} is not an IPv4 network")
    if not any_address and not network.subnet_of(LOOPBACK):
        reader.fail(reader.key("hosts"), f"{text} is not inside 127.0.0.0/8 ({_ANY_ADDRESS_HINT})")
    if "profile" in reader.table and "profiles" in reader.table:
        reader.fail(reader.key("profile"), "give profile or profiles, not both")
    if "profiles" in reader.table:
        names = reader.table["profiles"]
        if not isinstance(names, list) or not names:
            reader.fail(reader.key("profiles"), "must be a non-empty list of profile names")
        profiles = []
        for i, name in enumerate(names):
            try:
                profiles.append(get_profile(name) if isinstance(name, str) else get_profile(""))
            except LabConfigError as exc:
                reader.fail(f"{reader.key('profiles')}[{i}]", str(exc))
    else:
        profiles = (
            [reader.profile("profile")]
            if "profile" in reader.table
            else [get_profile("exchange2010-cas-static")]
        )
    usable = max(network.num_addresses - 2, 1) if network.prefixlen < 31 else network.num_addresses
    live = reader.integer("live", min(usable, 1000), 0, usable)
    bind = reader.string("bind", "0.0.0.0")
    try:
        ipaddress.IPv4Address(bind)
    except ValueError:
        reader.fail(reader.key("bind"), f"{bind!r} is not an IPv4 address")
    return WildcardConfig(
        network=network,
        live=live,
        profiles=tuple(profiles),
        seed=reader.integer("seed", 0, 0, 2**63 - 1),
        bind=bind,
        dynamic_pool=reader.integer("dynamic_pool", 16, 1, 1024),
        paging=reader.paging("paging", "windows"),
    )


def _nominal_static_ports(host: HostConfig, epm_port: int) -> set[int]:
    ports = {epm_port, *host.profile.http_ports.values()}
    for process in host.profile.processes:
        if isinstance(process.tcp, int):
            ports.add(process.tcp)
    ports.update(port for port in host.ports.values() if isinstance(port, int))
    return ports


def _check_port_space(config: LabConfig) -> None:
    source = config.source
    if not 1 <= config.epm_port <= 65535:
        raise LabConfigError(f"{source}: lab.epm_port: {config.epm_port} out of range 1..65535")
    if not 0 <= config.port_offset <= 65534:
        raise LabConfigError(
            f"{source}: lab.port_offset: {config.port_offset} out of range 0..65534"
        )
    profiles: list[HostConfig] = list(config.hosts)
    if config.wildcard is not None:
        profiles.extend(
            HostConfig(address="127.0.0.1", profile=profile, name="X")
            for profile in config.wildcard.profiles
        )
    for host in profiles:
        highest = max(_nominal_static_ports(host, config.epm_port))
        if highest + config.port_offset > 65535:
            raise LabConfigError(
                f"{source}: lab.port_offset: {config.port_offset} moves port {highest}"
                f" of {host.address} ({host.profile.name}) past 65535"
            )


def parse_lab(
    data: Mapping[str, Any], source: str = "<lab>", *, any_address: bool = False
) -> LabConfig:
    """Validate a lab description already read from TOML into a :class:`LabConfig`.

    ``any_address`` allows host addresses outside 127.0.0.0/8 (as ``any_address = true``
    in the ``[lab]`` table does).
    """
    top = _Reader(source, "", dict(data))
    top.check_keys(_TOP_KEYS)
    lab = _Reader(source, "lab", data.get("lab", {}))
    lab.check_keys(_LAB_KEYS)
    epm_port = lab.integer("epm_port", EPM_PORT, 1, 65535)
    port_offset = lab.integer("port_offset", 0, 0, 65534)
    seed = lab.integer("seed", 0, 0, 2**63 - 1)
    any_address = lab.boolean("any_address", False) or any_address
    lab_accounts, lab_domain = _parse_users(lab)
    raw_hosts = data.get("hosts", [])
    if not isinstance(raw_hosts, list):
        top.fail("hosts", "must be an array of tables ([[hosts]])")
    hosts = tuple(
        _parse_host(source, i, table, seed, any_address, lab_accounts, lab_domain)
        for i, table in enumerate(raw_hosts)
    )
    seen: dict[str, int] = {}
    for index, host in enumerate(hosts):
        if host.address in seen:
            top.fail(
                f"hosts[{index}].address",
                f"{host.address} is already used by hosts[{seen[host.address]}]",
            )
        seen[host.address] = index
        _check_silent_ports(source, index, host, epm_port)
    wildcard = (
        _parse_wildcard(source, data["wildcard"], any_address) if "wildcard" in data else None
    )
    if wildcard is not None and hosts:
        top.fail("wildcard", "a lab has either [[hosts]] or [wildcard], not both")
    if wildcard is None and not hosts:
        top.fail("hosts", "the lab has no hosts: add [[hosts]] entries or a [wildcard] table")
    config = LabConfig(
        hosts=hosts,
        epm_port=epm_port,
        port_offset=port_offset,
        seed=seed,
        wildcard=wildcard,
        source=source,
        any_address=any_address,
    )
    _check_port_space(config)
    return config


def _check_silent_ports(source: str, index: int, host: HostConfig, epm_port: int) -> None:
    listening = _nominal_static_ports(host, epm_port)
    for key, ports in (
        ("silent_ports", host.silent_ports),
        ("filtered_ports", host.filtered_ports),
        ("foreign_ports", host.foreign_ports),
    ):
        for port in sorted(ports - listening):
            raise LabConfigError(
                f"{source}: hosts[{index}].{key}: {port} is not a static port of"
                f" {host.address} ({host.profile.name}); static ports:"
                f" {', '.join(map(str, sorted(listening)))}"
            )


def load_lab_file(path: str | Path, *, any_address: bool = False) -> LabConfig:
    """Read and validate a TOML lab file (``any_address``: as in :func:`parse_lab`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LabConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LabConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_lab(data, str(path), any_address=any_address)


def single_host_lab(
    profile: str,
    bind_address: str = "127.0.0.1",
    *,
    epm_port: int = EPM_PORT,
    port_offset: int = 0,
    seed: int = 0,
    any_address: bool = False,
    **overrides: Any,
) -> LabConfig:
    """A lab of one host; ``overrides`` are the keys of a ``[[hosts]]`` entry
    (``paging="samba"``, ``ports={"mapi": 6123}``, ``http_closed=[6004]``, ``delay=0.5``,
    ...). ``any_address`` allows an address outside 127.0.0.0/8."""
    host: dict[str, Any] = {"address": bind_address, "profile": profile, **overrides}
    data = {
        "lab": {"epm_port": epm_port, "port_offset": port_offset, "seed": seed},
        "hosts": [host],
    }
    return parse_lab(data, "--profile", any_address=any_address)
