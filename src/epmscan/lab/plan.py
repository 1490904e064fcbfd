"""From a host's configuration to what it registers and where it listens.

A :class:`HostPlan` is pure data: the endpoint map entries in registration order (one
per interface and tower, as Windows lists them), the TCP listeners (port → interfaces
accepted there, those left out of the map included), the ncacn_http listeners, the
silent ports. Ports are actual ports:
nominal ports shifted by the lab's ``port_offset``, dynamic ports drawn by a caller-given
chooser from a per-host seeded random generator, so a plan is repeatable.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from epmscan.lab.catalog import CATALOG, CatalogInterface
from epmscan.lab.config import HostConfig
from epmscan.lab.profiles import ProcessSpec
from epmscan.models import InterfaceId
from epmscan.protocol.constants import EPM_INTERFACE

NIL_UUID = "00000000-0000-0000-0000-000000000000"

DynamicPortChooser = Callable[[random.Random, set[int], tuple[int, int]], int]
"""``(rng, ports already used by the host, dynamic range) -> a free port``."""


@dataclass(frozen=True, slots=True)
class RegisteredEndpoint:
    """One entry of the host's endpoint map (one interface on one tower)."""

    key: str
    interface: InterfaceId
    annotation: str
    transport: str
    address: str | None
    """IPv4 address floor (tcp/http) or ``\\\\NAME`` (np); None for ncalrpc."""
    port: int | None
    endpoint: str | None
    process: str
    object_uuid: str = NIL_UUID


@dataclass(frozen=True, slots=True)
class HostPlan:
    """Everything one emulated host registers and listens on (actual ports)."""

    config: HostConfig
    epm_port: int
    entries: tuple[RegisteredEndpoint, ...]
    tcp_listeners: dict[int, frozenset[InterfaceId]]
    """Interface ports (the EPM port excluded) → interfaces a bind is accepted for."""
    epm_interfaces: frozenset[InterfaceId]
    """Interfaces the EPM port accepts a bind for: the endpoint mapper and rpcss' DCOM."""
    http_listeners: dict[int, frozenset[InterfaceId]]
    """ncacn_http ports that listen (closed ones left out) → interfaces behind them."""
    http_advertised: tuple[int, ...]
    silent_ports: frozenset[int]
    tcp_endpoints: dict[str, int]
    """Interface key → TCP port, for every interface reachable on ncacn_ip_tcp."""
    filtered_ports: frozenset[int] = frozenset()
    """Ports whose SYNs go unanswered (a never-accepting listener with a full queue)."""
    foreign_ports: frozenset[int] = frozenset()
    """Ports where another program answers: binds for the registered interfaces fail."""
    http_banners: dict[int, bytes] | None = None
    """ncacn_http ports where another service greets with these bytes instead."""
    unregistered: dict[str, int] | None = None
    """Interface key → TCP port, for interfaces served there but not in the endpoint map."""

    @property
    def address(self) -> str:
        return self.config.address

    @property
    def listening_ports(self) -> tuple[int, ...]:
        """Every port something accepts connections on (silent ones included)."""
        if self.config.down:
            return ()
        ports = {self.epm_port, *self.tcp_listeners, *self.http_listeners}
        return tuple(sorted(ports - self.filtered_ports))


def _process_ports(
    host: HostConfig,
    process: ProcessSpec,
    epm_port: int,
    offset: int,
    rng: random.Random,
    used: set[int],
    choose: DynamicPortChooser,
) -> dict[str, int]:
    """Interface key → TCP port for one process (overrides split it when they differ)."""
    if process.tcp is None:
        return {}
    dynamic_range = host.profile.dynamic_range
    overrides = {key: host.ports[key] for key in process.interfaces if key in host.ports}

    def resolve(nominal: int | str) -> int:
        if nominal == "epm":
            return epm_port
        if nominal == "dynamic":
            port = choose(rng, used, dynamic_range)
            used.add(port)
            return port
        assert isinstance(nominal, int)
        return nominal + offset

    group_nominal: int | str = next(iter(overrides.values())) if overrides else process.tcp
    group_port = resolve(group_nominal)
    ports: dict[str, int] = {}
    for key in process.interfaces:
        nominal = overrides.get(key, group_nominal)
        ports[key] = group_port if nominal == group_nominal else resolve(nominal)
    return ports


def plan_host(
    host: HostConfig, *, epm_port: int, port_offset: int, choose_dynamic: DynamicPortChooser
) -> HostPlan:
    """Lay out one host: its endpoint map, listeners and silent ports.

    ``epm_port`` is the actual endpoint mapper port; ``choose_dynamic`` draws dynamic
    ports (it decides what "free" means: bindable on the address, or in a shared pool).
    """
    profile = host.profile
    rng = random.Random(f"{host.seed}:{host.address}:{profile.name}")
    used = {epm_port}
    used.update(p + port_offset for p in profile.http_ports.values())
    used.update(p.tcp + port_offset for p in profile.processes if isinstance(p.tcp, int))
    used.update(p + port_offset for p in host.ports.values() if isinstance(p, int))

    ipv6 = ":" in host.address  # towers carry an IPv4 floor: an IPv6 host registers 0.0.0.0
    tower_address = "0.0.0.0" if host.zero_address_towers or ipv6 else host.address
    netbios = "\\\\" + host.name
    entries: list[RegisteredEndpoint] = []
    tcp_listeners: dict[int, set[InterfaceId]] = {}
    tcp_endpoints: dict[str, int] = {}
    epm_interfaces = {EPM_INTERFACE}

    def serve(key: str, port: int) -> None:
        tcp_endpoints[key] = port
        interface = CATALOG[key].interface
        if port == epm_port:
            epm_interfaces.add(interface)
        else:
            tcp_listeners.setdefault(port, set()).add(interface)

    for process in profile.processes:
        ports = _process_ports(host, process, epm_port, port_offset, rng, used, choose_dynamic)
        for key in process.interfaces:
            item = CATALOG[key]
            if key in host.unregistered:
                serve(key, ports[key])
                continue

            def add(
                transport: str,
                address: str | None,
                port: int | None,
                endpoint: str | None,
                *,
                _item: CatalogInterface = item,
                _process: ProcessSpec = process,
            ) -> None:
                entries.append(
                    RegisteredEndpoint(
                        _item.key,
                        _item.interface,
                        _item.annotation,
                        transport,
                        address,
                        port,
                        endpoint,
                        _process.name,
                    )
                )

            if key in ports:
                add("ncacn_ip_tcp", tower_address, ports[key], None)
                serve(key, ports[key])
            if key in profile.http_ports:
                add("ncacn_http", tower_address, profile.http_ports[key] + port_offset, None)
            for pipe in process.pipes:
                add("ncacn_np", netbios, None, pipe)
            for lrpc in process.lrpc:
                add("ncalrpc", None, None, lrpc)

    for key, beside in host.unregistered.items():
        if key != beside:
            serve(key, tcp_endpoints[beside])
    unregistered = {key: tcp_endpoints[key] for key in host.unregistered}
    http_listeners: dict[int, set[InterfaceId]] = {}
    for key, nominal in profile.http_ports.items():
        if nominal in host.http_closed:
            continue
        http_listeners.setdefault(nominal + port_offset, set()).add(CATALOG[key].interface)
    silent = {port + port_offset for port in host.silent_ports}
    if host.silent_epm:
        silent.add(epm_port)
    filtered = {port + port_offset for port in host.filtered_ports}
    if host.filtered_epm:
        filtered.add(epm_port)
    return HostPlan(
        config=host,
        epm_port=epm_port,
        entries=tuple(entries),
        tcp_listeners={port: frozenset(ifaces) for port, ifaces in tcp_listeners.items()},
        epm_interfaces=frozenset(epm_interfaces),
        http_listeners={port: frozenset(ifaces) for port, ifaces in http_listeners.items()},
        http_advertised=tuple(sorted({p + port_offset for p in profile.http_ports.values()})),
        silent_ports=frozenset(silent),
        tcp_endpoints=tcp_endpoints,
        filtered_ports=frozenset(filtered),
        foreign_ports=frozenset(port + port_offset for port in host.foreign_ports),
        http_banners={
            port + port_offset: banner.encode() for port, banner in host.http_banners.items()
        },
        unregistered=unregistered,
    )


def random_dynamic_chooser(is_free: Callable[[int], bool]) -> DynamicPortChooser:
    """A chooser drawing ports uniformly from the range until ``is_free`` accepts one."""

    def choose(rng: random.Random, used: set[int], dynamic_range: tuple[int, int]) -> int:
        low, high = dynamic_range
        for _ in range(4096):
            port = rng.randint(low, high)
            if port not in used and is_free(port):
                return port
        raise OSError(f"no free port found in {low}..{high}")

    return choose


def pool_dynamic_chooser(pool: tuple[int, ...]) -> DynamicPortChooser:
    """A chooser picking from a shared pool of ports (wildcard mode), ranges ignored."""

    def choose(rng: random.Random, used: set[int], _range: tuple[int, int]) -> int:
        candidates = [port for port in pool if port not in used]
        if not candidates:
            raise OSError("the dynamic port pool is exhausted for this host")
        return rng.choice(candidates)

    return choose
