"""The command line's strings to typed values: ports, ranges, ``--expect``, severities.

Every mistake is one :class:`~epmscan.errors.UsageError` line that names the option, so
the commands print it and exit 2. Nothing below ``cli/`` knows how options are spelled.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from enum import Enum

from epmscan.checks.policy_file import load_policy
from epmscan.errors import UsageError
from epmscan.models import DynamicRanges, ExchangeInterface, Policy, PortRange, Severity
from epmscan.settings import Decoder, FirewallFormat, ScanMode


def _interface(name: str) -> ExchangeInterface:
    try:
        return ExchangeInterface(name.strip().lower())
    except ValueError:
        allowed = ", ".join(i.value for i in ExchangeInterface)
        raise UsageError(
            f"unknown interface {name.strip()!r} (expected one of: {allowed})"
        ) from None


def _port(value: int, what: str) -> int:
    if not 1 <= value <= 65535:
        raise UsageError(f"{what}: port {value} is out of range (1-65535)")
    return value


def parse_port_text(text: str, what: str) -> int:
    """``"60001"`` → 60001; anything else is a one-line :class:`UsageError`."""
    stripped = text.strip()
    if not stripped.isdigit():
        raise UsageError(f"{what}: {text!r} is not a port number")
    return _port(int(stripped), what)


def parse_expect(items: Iterable[str]) -> dict[ExchangeInterface, int]:
    """``["mapi=60001", "nspi=60002"]`` (repeated ``--expect``; commas also split)."""
    result: dict[ExchangeInterface, int] = {}
    for item in items:
        for part in filter(None, (p.strip() for p in item.split(","))):
            name, sep, value = part.partition("=")
            if not sep or not name.strip() or not value.strip():
                raise UsageError(f"--expect {part!r}: write INTERFACE=PORT, e.g. mapi=60001")
            iface = _interface(name)
            port = parse_port_text(value, f"--expect {iface.value}")
            if iface in result and result[iface] != port:
                raise UsageError(f"--expect {iface.value} given twice ({result[iface]} and {port})")
            result[iface] = port
    return result


def parse_port_list(text: str, what: str = "--require-http") -> tuple[int, ...]:
    """``"6001,6002,6004"`` → (6001, 6002, 6004), duplicates dropped, order kept."""
    parts = [p.strip() for p in text.split(",")]
    if not any(parts):
        raise UsageError(f"{what}: empty port list")
    return tuple(dict.fromkeys(parse_port_text(p, what) for p in parts if p))


def parse_port_range(text: str, what: str) -> PortRange:
    """``"49152-65535"`` → PortRange(49152, 65535); anything else a one-line UsageError."""
    first_text, dash, last_text = text.partition("-")
    if not dash:
        raise UsageError(f"{what}: {text!r} is not a range FIRST-LAST, e.g. 49152-65535")
    first = parse_port_text(first_text, what)
    last = parse_port_text(last_text, what)
    if first > last:
        raise UsageError(f"{what}: {text!r} ends before it starts")
    return PortRange(first, last)


def choices(enum: type[Enum]) -> str:
    """An option's metavar listing its choices, as help shows them: ``<a|b|c>``."""
    return "<" + "|".join(str(member.value) for member in enum) + ">"


def parse_severity(text: str, what: str = "--fail-on") -> Severity:
    """``"error"`` → Severity.ERROR (case-insensitive)."""
    try:
        return Severity(text.strip().lower())
    except ValueError:
        allowed = ", ".join(s.value for s in Severity)
        raise UsageError(
            f"{what}: unknown severity {text!r} (expected one of: {allowed})"
        ) from None


def parse_mode(text: str) -> ScanMode:
    try:
        return ScanMode(text)
    except ValueError:
        raise UsageError(f"--mode must be 'dump' or 'map', not {text!r}") from None


def parse_decoder(text: str) -> Decoder:
    try:
        return Decoder(text)
    except ValueError:
        raise UsageError(f"--decoder must be 'fast' or 'impacket', not {text!r}") from None


def parse_firewall_format(text: str) -> FirewallFormat:
    """``--format``: one of :class:`~epmscan.settings.FirewallFormat`'s values."""
    try:
        return FirewallFormat(text.strip().lower())
    except ValueError:
        allowed = ", ".join(f.value for f in FirewallFormat)
        raise UsageError(f"unknown firewall format {text!r} (expected one of: {allowed})") from None


def parse_sources(
    texts: Iterable[str], option: str = "--source"
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``--source`` values: addresses or CIDR blocks (comma separated or repeated);
    ``any`` alone means every address (an empty tuple). Host bits set are an error."""
    items = [part.strip() for text in texts for part in text.split(",") if part.strip()]
    if not items or [i.lower() for i in items] == ["any"]:
        return ()
    networks = []
    for item in items:
        if item.lower() == "any":
            raise UsageError(f"{option} any does not go with other sources")
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except ValueError as exc:
            if "host bits set" in str(exc):
                network = ipaddress.ip_network(item, strict=False)
                raise UsageError(
                    f"{option} {item} has host bits set: write {network} for the network, "
                    f"or {item.split('/')[0]} for the one address"
                ) from None
            raise UsageError(f"{option} {item!r} is not 'any', an address or a CIDR") from None
    return tuple(dict.fromkeys(networks))


def build_policy(
    policy_file: str | None,
    expect: list[str],
    require_http: str | None,
    allow_dynamic: bool,
    windows_range: str | None = None,
    exchange_range: str | None = None,
) -> Policy:
    """The policy file, or the quick case of ``--expect``/``--require-http``/ranges."""
    quick = expect or require_http or windows_range or exchange_range
    if policy_file and quick:
        raise UsageError(
            "--policy does not go with --expect, --require-http or the range options"
            " (put them in the policy file)"
        )
    if policy_file:
        return load_policy(policy_file)
    http = parse_port_list(require_http) if require_http else ()
    defaults = DynamicRanges()
    ranges = DynamicRanges(
        parse_port_range(windows_range, "--windows-range") if windows_range else defaults.windows,
        parse_port_range(exchange_range, "--exchange-range")
        if exchange_range
        else defaults.exchange,
    )
    return Policy.from_expectations(
        parse_expect(expect), http, allow_dynamic=allow_dynamic, ranges=ranges
    )
