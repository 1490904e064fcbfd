"""One target spec → intervals or a name: every syntax, and the errors."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from epmscan.errors import TargetSpecError
from epmscan.targets.intervals import merge
from epmscan.targets.parse import IPV4, IPV6, MAX_OCTET_PIECES, parse_spec


def v4(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def v6(text: str) -> int:
    return int(ipaddress.IPv6Address(text))


def addresses_of(spec: str) -> list[str]:
    parsed = parse_spec(spec)
    make = ipaddress.IPv4Address if parsed.family == IPV4 else ipaddress.IPv6Address
    return [str(make(value)) for start, stop in parsed.intervals for value in range(start, stop)]


def test_single_ipv4_address() -> None:
    parsed = parse_spec("192.0.2.7")
    assert parsed.family == IPV4
    assert parsed.intervals == ((v4("192.0.2.7"), v4("192.0.2.7") + 1),)
    assert parsed.name is None


def test_surrounding_whitespace_is_ignored() -> None:
    assert parse_spec("  192.0.2.7\n").intervals == parse_spec("192.0.2.7").intervals


@pytest.mark.parametrize(
    ("spec", "first", "count"),
    [
        ("192.0.2.0/24", "192.0.2.0", 256),
        ("192.0.2.77/24", "192.0.2.0", 256),  # host bits set: the whole block, as nmap
        ("192.0.2.5/32", "192.0.2.5", 1),
        ("10.0.0.0/8", "10.0.0.0", 1 << 24),
        ("0.0.0.0/0", "0.0.0.0", 1 << 32),
    ],
)
def test_ipv4_cidr(spec: str, first: str, count: int) -> None:
    parsed = parse_spec(spec)
    assert parsed.family == IPV4
    assert parsed.intervals == ((v4(first), v4(first) + count),)


def test_ipv4_full_dash_range_is_inclusive() -> None:
    parsed = parse_spec("10.0.0.250-10.0.1.5")
    assert parsed.intervals == ((v4("10.0.0.250"), v4("10.0.1.5") + 1),)


def test_last_octet_range() -> None:
    assert addresses_of("10.0.0.10-13") == ["10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.0.13"]


def test_nmap_octet_ranges_are_a_cartesian_product() -> None:
    got = addresses_of("10.0.0-2.1-2")
    assert got == [f"10.0.{c}.{d}" for c in range(3) for d in (1, 2)]
    assert len(parse_spec("10.0.0-3.1-254").intervals) == 4


def test_octet_lists_open_ends_and_wildcards() -> None:
    assert addresses_of("10.0.0.1,3,5-6") == ["10.0.0.1", "10.0.0.3", "10.0.0.5", "10.0.0.6"]
    assert addresses_of("10.0.0.-2") == ["10.0.0.0", "10.0.0.1", "10.0.0.2"]
    assert addresses_of("10.0.0.254-") == ["10.0.0.254", "10.0.0.255"]
    assert parse_spec("10.0.0.*").intervals == parse_spec("10.0.0.0/24").intervals


def test_trailing_wildcards_fold_into_one_interval() -> None:
    assert parse_spec("10.*.*.*").intervals == parse_spec("10.0.0.0/8").intervals
    assert parse_spec("10.0-3.*.*").intervals == ((v4("10.0.0.0"), v4("10.4.0.0")),)
    assert parse_spec("*.*.*.*").intervals == ((0, 1 << 32),)


def test_octet_range_expanding_to_too_many_pieces_is_refused() -> None:
    with pytest.raises(TargetSpecError, match="separate ranges"):
        parse_spec("1-254.1-254.1-254.1")
    assert MAX_OCTET_PIECES >= 256 * 4  # 10.0-3.*.1 style specs stay possible
    assert len(parse_spec("10.0-3.*.1").intervals) == 1024


@given(
    st.lists(st.integers(0, 255), min_size=1, max_size=6),
    st.lists(st.integers(0, 255), min_size=1, max_size=6),
)
def test_octet_lists_match_brute_force(third: list[int], fourth: list[int]) -> None:
    spec = f"10.9.{','.join(map(str, third))}.{','.join(map(str, fourth))}"
    expected = sorted({v4(f"10.9.{c}.{d}") for c in third for d in fourth})
    parsed = parse_spec(spec)
    got = [value for start, stop in merge(parsed.intervals) for value in range(start, stop)]
    assert got == expected


def test_ipv6_address_cidr_and_range() -> None:
    single = parse_spec("2001:db8::1")
    assert single.family == IPV6
    assert single.intervals == ((v6("2001:db8::1"), v6("2001:db8::1") + 1),)
    assert parse_spec("[2001:db8::1]").intervals == single.intervals
    assert parse_spec("2001:db8::55/120").intervals == ((v6("2001:db8::"), v6("2001:db8::100")),)
    assert parse_spec("2001:db8::/64").intervals[0][1] - v6("2001:db8::") == 1 << 64
    assert parse_spec("2001:db8::1-2001:db8::ff").intervals == (
        (v6("2001:db8::1"), v6("2001:db8::100")),
    )
    assert parse_spec("::ffff:192.0.2.1").family == IPV6


@pytest.mark.parametrize(
    "name", ["localhost", "exch01", "exch01.corp.example", "EXCH01.Corp.Example.", "a_b.example"]
)
def test_host_names(name: str) -> None:
    parsed = parse_spec(name)
    assert parsed.family is None
    assert parsed.name == name
    assert parsed.intervals == ()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "10.0.0.300",
            r"^'10\.0\.0\.300' is not an IPv4 address, range or CIDR \(octet 300 > 255\)$",
        ),
        ("10.0.0", r"^'10\.0\.0' is not an IPv4 address, range or CIDR$"),
        ("10.0.0.1.2", r"is not an IPv4 address"),
        ("10.0.0.0/33", r"^'10\.0\.0\.0/33' has prefix length /33; it must be 0\.\.32$"),
        ("10.0.0.0/", r"no valid prefix length"),
        ("10.0.0.0/x", r"no valid prefix length"),
        ("10.0.0.50-10.0.0.10", r"start is after its end"),
        ("10.0.0.50-10", r"octet range 50-10 whose start is after its end"),
        ("10.0.0.1-300", r"octet 300 > 255"),
        ("10.0.0.1,,2", r"is not an IPv4 address"),
        ("10.0.0.1-10.0.0", r"is not an IPv4 address"),
        ("2001:db8::g", r"^'2001:db8::g' is not an IPv6 address, range or CIDR$"),
        ("2001:db8::/129", r"prefix length /129; it must be 0\.\.128"),
        ("2001:db8::9-2001:db8::1", r"start is after its end"),
        ("fe80::1%eth0", r"scoped IPv6"),
        ("host.example/24", r"host name with a prefix length"),
        ("bad name!", r"is not an address, range, CIDR or host name"),
        ("-leading.example", r"is not an address, range, CIDR or host name"),
        ("a..b", r"is not an address, range, CIDR or host name"),
        ("x" * 64 + ".example", r"is not an address, range, CIDR or host name"),
    ],
)
def test_bad_specs_name_the_spec(spec: str, message: str) -> None:
    with pytest.raises(TargetSpecError, match=message):
        parse_spec(spec)


def test_error_carries_location() -> None:
    with pytest.raises(TargetSpecError) as caught:
        parse_spec("10.0.0.300", "targets.txt:7")
    assert str(caught.value) == (
        "targets.txt:7: '10.0.0.300' is not an IPv4 address, range or CIDR (octet 300 > 255)"
    )


@given(st.integers(0, (1 << 32) - 1), st.integers(0, 32))
def test_ipv4_cidr_matches_ipaddress(value: int, prefix: int) -> None:
    text = f"{ipaddress.IPv4Address(value)}/{prefix}"
    network = ipaddress.IPv4Network(text, strict=False)
    assert parse_spec(text).intervals == (
        (int(network.network_address), int(network.broadcast_address) + 1),
    )


@given(st.integers(0, (1 << 128) - 1), st.integers(0, 128))
def test_ipv6_cidr_matches_ipaddress(value: int, prefix: int) -> None:
    text = f"{ipaddress.IPv6Address(value)}/{prefix}"
    network = ipaddress.IPv6Network(text, strict=False)
    assert parse_spec(text).intervals == (
        (int(network.network_address), int(network.broadcast_address) + 1),
    )
