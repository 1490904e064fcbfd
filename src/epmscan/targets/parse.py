"""One target specification, as nmap users type it, to intervals or a host name.

Accepted (see docs/targets.md): an IPv4 or IPv6 address; CIDR for either family (host
bits may be set, ``10.0.0.7/24`` is the whole /24, as in nmap); a dash range between two
addresses of one family (``10.0.0.10-10.0.0.50``, ``2001:db8::1-2001:db8::ff``); nmap
IPv4 octet ranges (``10.0.0.10-50``, ``10.0.0-3.1-254``, ``10.0.1,3.*``, ``10.0.0.-9``);
a host name. Anything made of digits and dots is an IPv4 attempt and anything with a
colon an IPv6 attempt, so a typo is an error rather than a name to resolve.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass

from epmscan.errors import TargetSpecError
from epmscan.targets.intervals import Interval

IPV4 = 4
IPV6 = 6

MAX_OCTET_PIECES = 65536
"""An octet-range spec may expand to at most this many separate intervals."""

_IPV4_CHARS = frozenset("0123456789.,-*/")
_OCTET_ITEM = re.compile(r"(\d*)(-?)(\d*)", re.ASCII)
_NAME_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


@dataclass(frozen=True, slots=True)
class ParsedSpec:
    """What one spec denotes: addresses of one family as intervals, or one host name."""

    text: str
    family: int | None
    """4 or 6 for addresses, None for a host name."""
    intervals: tuple[Interval, ...] = ()
    name: str | None = None


class _Invalid(Exception):
    """The reason a spec is not valid (without the spec or its location)."""


def parse_spec(text: str, where: str | None = None) -> ParsedSpec:
    """Parse one spec; ``where`` (``file:line``, ``--exclude``) prefixes any error."""
    spec = text.strip()
    try:
        return _parse(spec)
    except _Invalid as exc:
        prefix = f"{where}: " if where else ""
        raise TargetSpecError(f"{prefix}{spec!r} {exc}") from None


def _parse(spec: str) -> ParsedSpec:
    if not spec:
        raise _Invalid("is empty")
    if ":" in spec:
        return _parse_ipv6(spec)
    if set(spec) <= _IPV4_CHARS or _last_label_is_numeric(spec):
        return _parse_ipv4(spec)
    if "/" in spec:
        raise _Invalid("is a host name with a prefix length; give the network address instead")
    return _parse_name(spec)


def _last_label_is_numeric(spec: str) -> bool:
    last = spec.rstrip(".").rsplit(".", 1)[-1].split("/", 1)[0]
    return last.isdigit()


# --- IPv4 --------------------------------------------------------------------------------

_NOT_IPV4 = "is not an IPv4 address, range or CIDR"


def _parse_ipv4(spec: str) -> ParsedSpec:
    if "/" in spec:
        address, _, prefix = spec.partition("/")
        start = _ipv4_int(address)
        return ParsedSpec(spec, IPV4, (_cidr(start, prefix, 32),))
    parts = spec.split("-")
    if len(parts) == 2 and parts[0].count(".") == 3 and parts[1].count(".") == 3:
        first, last = _ipv4_int(parts[0]), _ipv4_int(parts[1])
        if first > last:
            raise _Invalid("is a range whose start is after its end")
        return ParsedSpec(spec, IPV4, ((first, last + 1),))
    return ParsedSpec(spec, IPV4, tuple(_octet_ranges(spec)))


def _ipv4_int(text: str) -> int:
    octets = text.split(".")
    if len(octets) != 4:
        raise _Invalid(_NOT_IPV4)
    value = 0
    for octet in octets:
        if not octet.isdigit() or not octet.isascii():
            raise _Invalid(_NOT_IPV4)
        number = int(octet)
        if number > 255:
            raise _Invalid(f"{_NOT_IPV4} (octet {number} > 255)")
        value = value << 8 | number
    return value


def _cidr(start: int, prefix_text: str, bits: int) -> Interval:
    if not prefix_text.isdigit() or not prefix_text.isascii():
        raise _Invalid(f"has no valid prefix length after '/' (0..{bits})")
    prefix = int(prefix_text)
    if prefix > bits:
        raise _Invalid(f"has prefix length /{prefix}; it must be 0..{bits}")
    block = 1 << (bits - prefix)
    network = start & ~(block - 1)
    return (network, network + block)


def _octet_set(text: str) -> list[Interval]:
    """One octet of nmap syntax (``*``, ``5``, ``1-9``, ``-9``, ``250-``, ``1,3,5-7``) as
    merged inclusive-exclusive runs of octet values."""
    if text == "*":
        return [(0, 256)]
    runs: list[Interval] = []
    for item in text.split(","):
        match = _OCTET_ITEM.fullmatch(item)
        if not item or match is None or (not match[2] and not match[1]):
            raise _Invalid(_NOT_IPV4)
        low = int(match[1]) if match[1] else 0
        high = (int(match[3]) if match[3] else 255) if match[2] else low
        for number in (low, high):
            if number > 255:
                raise _Invalid(f"{_NOT_IPV4} (octet {number} > 255)")
        if low > high:
            raise _Invalid(f"has an octet range {item} whose start is after its end")
        runs.append((low, high + 1))
    runs.sort()
    merged: list[Interval] = []
    for low, high in runs:
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return merged


def _octet_ranges(spec: str) -> list[Interval]:
    octets = spec.split(".")
    if len(octets) != 4:
        raise _Invalid(_NOT_IPV4)
    sets = [_octet_set(octet) for octet in octets]
    # Trailing octets that cover 0..255 fold into one block per value of the octets
    # before them, so 10.*.*.* is one interval, not 65536.
    full_tail = 0
    while full_tail < 4 and sets[3 - full_tail] == [(0, 256)]:
        full_tail += 1
    if full_tail == 4:
        return [(0, 1 << 32)]
    head = sets[: 4 - full_tail]
    block = 1 << (8 * full_tail)
    pieces = math.prod(sum(b - a for a, b in runs) for runs in head[:-1]) * len(head[-1])
    if pieces > MAX_OCTET_PIECES:
        raise _Invalid(
            f"expands to {pieces:,} separate ranges (at most {MAX_OCTET_PIECES:,}); "
            "use CIDR or a dash range"
        )
    prefixes = [0]
    for runs in head[:-1]:
        prefixes = [p * 256 + v for p in prefixes for a, b in runs for v in range(a, b)]
    return [
        ((p * 256 + low) * block, (p * 256 + high) * block)
        for p in prefixes
        for low, high in head[-1]
    ]


# --- IPv6 --------------------------------------------------------------------------------

_NOT_IPV6 = "is not an IPv6 address, range or CIDR"


def _parse_ipv6(spec: str) -> ParsedSpec:
    if "/" in spec:
        address, _, prefix = spec.partition("/")
        return ParsedSpec(spec, IPV6, (_cidr(_ipv6_int(address), prefix, 128),))
    if "-" in spec:
        first_text, _, last_text = spec.partition("-")
        first, last = _ipv6_int(first_text), _ipv6_int(last_text)
        if first > last:
            raise _Invalid("is a range whose start is after its end")
        return ParsedSpec(spec, IPV6, ((first, last + 1),))
    value = _ipv6_int(spec)
    return ParsedSpec(spec, IPV6, ((value, value + 1),))


def _ipv6_int(text: str) -> int:
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if "%" in text:
        raise _Invalid("has a zone index (%...); scoped IPv6 addresses are not supported")
    try:
        return int(ipaddress.IPv6Address(text))
    except ValueError:
        raise _Invalid(_NOT_IPV6) from None


# --- host names --------------------------------------------------------------------------


def _parse_name(spec: str) -> ParsedSpec:
    labels = spec[:-1].split(".") if spec.endswith(".") else spec.split(".")
    if len(spec) > 253 or not all(_NAME_LABEL.fullmatch(label) for label in labels):
        raise _Invalid("is not an address, range, CIDR or host name")
    return ParsedSpec(spec, None, name=spec)
