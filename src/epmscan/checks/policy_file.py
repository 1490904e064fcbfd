"""Reading a policy file: TOML (see ``docs/policy.md``) into a :class:`~epmscan.models.Policy`.

The policy says what the Exchange servers are expected to look like: groups of servers,
their role, static ports, required RPC-over-HTTP ports, dynamic ranges, severities.

Every mistake in a file raises :class:`~epmscan.errors.PolicyError` with one line that
names the file and the line (``site.toml:12: group 'cas': unknown interface 'mapii' ...``).
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from epmscan.checks.tomlpos import PathPart, locate, locate_value
from epmscan.errors import PolicyError
from epmscan.facts.exchange import EXCHANGE_2010_ROLES, OUTLOOK_INTERFACES
from epmscan.models import (
    DynamicRanges,
    ExchangeInterface,
    Expectation,
    Policy,
    PortRange,
    Role,
    ServerGroup,
    Severity,
)
from epmscan.models.policy import IPNetwork

TOP_KEYS = ("defaults", "severity", "group")
DEFAULT_KEYS = (
    "allow_dynamic",
    "require_http",
    "windows_dynamic",
    "exchange_dynamic",
    "legacy_dynamic",
    "ports",
)
GROUP_KEYS = (
    "name",
    "description",
    "role",
    "servers",
    "ports",
    "require_http",
    "allow_dynamic",
    "windows_dynamic",
    "exchange_dynamic",
    "legacy_dynamic",
)
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$"
)


class _Reader:
    """Validates the parsed TOML and raises errors that name file and line."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source

    def fail(
        self,
        path: tuple[PathPart, ...],
        key: str | None,
        message: str,
        *,
        value: str | None = None,
    ) -> PolicyError:
        line: int | None
        if key is not None and value is not None:
            line = locate_value(self.text, path, key, value)
        else:
            line = locate(self.text, path, key)
        where = f"{self.source}:{line}" if line else self.source
        return PolicyError(f"{where}: {message}")

    def table(
        self, data: object, path: tuple[PathPart, ...], key: str, what: str
    ) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(path, key, f"{what} must be a table, got {_type_name(data)}")
        return data

    def unknown_keys(
        self, data: Mapping[str, Any], allowed: Sequence[str], path: tuple[PathPart, ...], what: str
    ) -> None:
        for key in data:
            if key not in allowed:
                raise self.fail(
                    path, key, f"{what}: unknown key {key!r} (allowed: {', '.join(allowed)})"
                )

    def boolean(
        self, data: Mapping[str, Any], key: str, path: tuple[PathPart, ...], what: str
    ) -> bool:
        value = data[key]
        if not isinstance(value, bool):
            raise self.fail(
                path, key, f"{what}: {key} must be true or false, got {_type_name(value)}"
            )
        return value

    def port(self, value: object, path: tuple[PathPart, ...], key: str, what: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(
                path, key, f"{what}: {key} must be a port number, got {_type_name(value)}"
            )
        if not 1 <= value <= 65535:
            raise self.fail(path, key, f"{what}: {key} = {value} is out of range (1-65535)")
        return value

    def port_list(
        self, data: Mapping[str, Any], key: str, path: tuple[PathPart, ...], what: str
    ) -> tuple[int, ...]:
        value = data[key]
        if not isinstance(value, list):
            raise self.fail(
                path, key, f"{what}: {key} must be a list of ports, got {_type_name(value)}"
            )
        ports: list[int] = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, int):
                raise self.fail(
                    path,
                    key,
                    f"{what}: {key} must list port numbers, got {_type_name(item)} {item!r}",
                    value=str(item),
                )
            if not 1 <= item <= 65535:
                raise self.fail(
                    path,
                    key,
                    f"{what}: {key}: port {item} is out of range (1-65535)",
                    value=str(item),
                )
            ports.append(item)
        return tuple(dict.fromkeys(ports))

    def port_range(
        self, data: Mapping[str, Any], key: str, path: tuple[PathPart, ...], what: str
    ) -> PortRange:
        value = data[key]
        if (
            not isinstance(value, list)
            or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) for v in value)
        ):
            raise self.fail(path, key, f"{what}: {key} must be [FIRST, LAST], e.g. [49152, 65535]")
        first, last = value
        if not (1 <= first <= last <= 65535):
            raise self.fail(
                path, key, f"{what}: {key} = [{first}, {last}] is not a range within 1-65535"
            )
        return PortRange(first, last)

    def static_ports(
        self, value: object, path: tuple[PathPart, ...], what: str
    ) -> tuple[tuple[ExchangeInterface, int], ...]:
        ports_path = (*path, "ports")
        table = self.table(value, path, "ports", f"{what}: ports")
        result: list[tuple[ExchangeInterface, int]] = []
        for name, port in table.items():
            try:
                iface = ExchangeInterface(name)
            except ValueError:
                allowed = ", ".join(i.value for i in ExchangeInterface)
                raise self.fail(
                    ports_path,
                    name,
                    f"{what}: unknown interface {name!r} in ports (allowed: {allowed})",
                ) from None
            result.append((iface, self.port(port, ports_path, name, f"{what}: ports")))
        return tuple(result)

    def servers(
        self, value: object, path: tuple[PathPart, ...], what: str
    ) -> tuple[tuple[IPNetwork, ...], tuple[str, ...], tuple[str, ...]]:
        if not isinstance(value, list) or not value:
            raise self.fail(
                path,
                "servers",
                f"{what}: servers must be a non-empty list of addresses, CIDRs or names",
            )
        networks: list[IPNetwork] = []
        names: list[str] = []
        specs: list[str] = []
        for item in value:
            if not isinstance(item, str):
                raise self.fail(
                    path,
                    "servers",
                    f"{what}: servers must list strings, got {_type_name(item)} {item!r}",
                    value=str(item),
                )
            spec = item.strip()
            kind = _server_kind(spec)
            if kind == "network":
                try:
                    networks.append(ipaddress.ip_network(spec, strict=True))
                except ValueError as exc:
                    raise self.fail(
                        path, "servers", f"{what}: bad CIDR {spec!r}: {exc}", value=item
                    ) from None
            elif kind == "address":
                try:
                    ip = ipaddress.ip_address(spec)
                except ValueError:
                    raise self.fail(
                        path, "servers", f"{what}: bad address {spec!r}", value=item
                    ) from None
                networks.append(ipaddress.ip_network(ip))
            elif _HOSTNAME.match(spec):
                names.append(spec.rstrip(".").lower())
            else:
                raise self.fail(
                    path,
                    "servers",
                    f"{what}: {spec!r} is not an address, CIDR or host name",
                    value=item,
                )
            specs.append(spec)
        return tuple(networks), tuple(names), tuple(specs)

    def severity(self, value: object) -> tuple[tuple[str, Severity], ...]:
        table = self.table(value, (), "severity", "severity")
        result: list[tuple[str, Severity]] = []
        for code, level in table.items():
            try:
                result.append((code, Severity(level)))
            except (ValueError, TypeError):
                allowed = ", ".join(s.value for s in Severity)
                raise self.fail(
                    ("severity",), code, f"severity: {code} = {level!r} is not one of: {allowed}"
                ) from None
        return tuple(result)


def _server_kind(spec: str) -> str:
    if "/" in spec:
        return "network"
    if ":" in spec or re.fullmatch(r"[0-9.]+", spec):
        return "address"
    return "name"


def _type_name(value: object) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Parse policy TOML text; ``source`` names the file in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_POS.search(message)
        if match:
            detail = _TOML_POS.sub("", message).strip()
            raise PolicyError(
                f"{source}:{match.group(1)}:{match.group(2)}: TOML syntax error: {detail}"
            ) from None
        raise PolicyError(f"{source}: TOML syntax error: {message}") from None

    reader = _Reader(text, source)
    reader.unknown_keys(data, TOP_KEYS, (), "policy")

    overrides = reader.severity(data["severity"]) if "severity" in data else ()

    defaults = reader.table(data.get("defaults", {}), (), "defaults", "defaults")
    reader.unknown_keys(defaults, DEFAULT_KEYS, ("defaults",), "defaults")
    base = _expectation(reader, defaults, ("defaults",), "defaults", Expectation(), overrides)

    raw_groups = data.get("group", [])
    if not isinstance(raw_groups, list):
        raise reader.fail((), "group", "group must be an array of tables: write [[group]]")
    groups: list[ServerGroup] = []
    seen_names: set[str] = set()
    for index, raw in enumerate(raw_groups):
        path: tuple[PathPart, ...] = ("group", index)
        if not isinstance(raw, dict):
            raise reader.fail((), "group", "group must be an array of tables: write [[group]]")
        name_value = raw.get("name", f"group{index + 1}")
        if not isinstance(name_value, str) or not name_value.strip():
            raise reader.fail(path, "name", f"group {index + 1}: name must be a non-empty string")
        name = name_value.strip()
        what = f"group {name!r}"
        if name in seen_names:
            raise reader.fail(path, "name", f"{what}: name used twice")
        seen_names.add(name)
        reader.unknown_keys(raw, GROUP_KEYS, path, what)
        if "description" in raw and not isinstance(raw["description"], str):
            raise reader.fail(path, "description", f"{what}: description must be a string")
        if "servers" not in raw:
            raise reader.fail(
                path, None, f"{what}: servers is missing (list of addresses, CIDRs or names)"
            )
        networks, names, specs = reader.servers(raw["servers"], path, what)
        expectation = _expectation(reader, raw, path, what, base, overrides, group=name)
        groups.append(ServerGroup(name, networks, names, expectation, specs))
    return Policy(groups=tuple(groups), default=None, source=source)


def _expectation(
    reader: _Reader,
    raw: Mapping[str, Any],
    path: tuple[PathPart, ...],
    what: str,
    base: Expectation,
    overrides: tuple[tuple[str, Severity], ...],
    *,
    group: str | None = None,
) -> Expectation:
    role = base.role
    if "role" in raw:
        try:
            role = Role(raw["role"])
        except (ValueError, TypeError):
            allowed = ", ".join(r.value for r in Role)
            raise reader.fail(
                path, "role", f"{what}: role {raw['role']!r} is not one of: {allowed}"
            ) from None
    static = base.static_ports
    if "ports" in raw:
        own = reader.static_ports(raw["ports"], path, what)
        inherited = tuple(p for p in base.static_ports if p[0] not in {i for i, _ in own})
        static = inherited + own
    require_http = base.require_http
    if "require_http" in raw:
        require_http = reader.port_list(raw, "require_http", path, what)
    allow_dynamic = base.allow_dynamic
    if "allow_dynamic" in raw:
        allow_dynamic = reader.boolean(raw, "allow_dynamic", path, what)
    windows = base.ranges.windows
    if "windows_dynamic" in raw:
        windows = reader.port_range(raw, "windows_dynamic", path, what)
    exchange = base.ranges.exchange
    if "exchange_dynamic" in raw:
        exchange = reader.port_range(raw, "exchange_dynamic", path, what)
    legacy = base.ranges.legacy
    if "legacy_dynamic" in raw:
        legacy = reader.port_range(raw, "legacy_dynamic", path, what)
    _check_shared_ports(reader, raw, path, what, role, static)
    return Expectation(
        group=group,
        role=role,
        static_ports=static,
        require_http=require_http,
        allow_dynamic=allow_dynamic,
        ranges=DynamicRanges(windows, exchange, legacy),
        severity_overrides=overrides,
    )


def _check_shared_ports(
    reader: _Reader,
    raw: Mapping[str, Any],
    path: tuple[PathPart, ...],
    what: str,
    role: Role | None,
    static: tuple[tuple[ExchangeInterface, int], ...],
) -> None:
    """Which interfaces share a port is decided by the role's services, not by the policy.

    Exchange 2010: NSPI and RFR are one service (MSExchangeAB) on one ``RpcTcpPort``, MAPI
    another (MSExchangeRPC). Exchange 2003/2007 (``legacy``): three registry values, and
    Microsoft asks for a different port in each. Other roles say nothing.
    """
    ports = dict(static)
    mapi, nspi, rfr = (
        ports.get(ExchangeInterface.MAPI),
        ports.get(ExchangeInterface.NSPI),
        ports.get(ExchangeInterface.RFR),
    )
    own_ports = raw.get("ports")
    own: Mapping[str, Any] = own_ports if isinstance(own_ports, dict) else {}

    def fail(first: ExchangeInterface, second: ExchangeInterface, message: str) -> PolicyError:
        for name in (second.value, first.value):
            if name in own:
                return reader.fail((*path, "ports"), name, f"{what}: {message}")
        return reader.fail(path, "role", f"{what}: {message}")

    if role is not None and role in EXCHANGE_2010_ROLES:
        exchange2010 = f"on Exchange 2010 (role {role.value})"
        if nspi is not None and rfr is not None and nspi != rfr:
            raise fail(
                ExchangeInterface.NSPI,
                ExchangeInterface.RFR,
                f"ports: nspi = {nspi} and rfr = {rfr} differ, but {exchange2010} both are "
                "served by the Address Book service (MSExchangeAB) on its one RpcTcpPort: give "
                "them the same port (only role legacy, Exchange 2003/2007, has a value for each)",
            )
        for book in (ExchangeInterface.NSPI, ExchangeInterface.RFR):
            if mapi is not None and ports.get(book) == mapi:
                raise fail(
                    ExchangeInterface.MAPI,
                    book,
                    f"ports: mapi and {book.value} are both {mapi}, but {exchange2010} MAPI is "
                    "served by RPC Client Access (MSExchangeRPC) and the address book by "
                    "MSExchangeAB, two services that cannot share a port: give the address "
                    "book a port of its own",
                )
    elif role is Role.LEGACY:
        pins = [(i, p) for i, p in static if i in OUTLOOK_INTERFACES]  # a value each
        for index, (first, port) in enumerate(pins):
            for second, other in pins[index + 1 :]:
                if port == other:
                    raise fail(
                        first,
                        second,
                        f"ports: {first.value} and {second.value} are both {port}, but on "
                        "Exchange 2003/2007 (role legacy) each has its own registry value and "
                        "Microsoft asks for a different port in each: give each its own port",
                    )


def load_policy(path: str | Path) -> Policy:
    """Read and parse a policy file; unreadable files are a one-line :class:`PolicyError`."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{file}: cannot read policy: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{file}: policy is not UTF-8 text ({exc.reason})") from None
    return parse_policy(text, str(file))
