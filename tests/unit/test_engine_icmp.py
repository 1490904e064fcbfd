"""The error-queue parser on hand-built ancillary data, laid out as Linux writes it."""

from __future__ import annotations

import socket
import struct

import pytest

from epmscan.engine.icmp import (
    IP_RECVERR,
    IPV6_RECVERR,
    SO_EE_ORIGIN_ICMP,
    SO_EE_ORIGIN_ICMP6,
    SOL_IP,
    SOL_IPV6,
    icmp_from_ancillary,
    recverr_option,
)
from epmscan.models import IcmpError

SO_EE_ORIGIN_LOCAL = 1


def extended_err(errno_: int, origin: int, icmp_type: int, icmp_code: int) -> bytes:
    """``struct sock_extended_err`` in host byte order (ee_info and ee_data zero)."""
    return struct.pack("=IBBBBII", errno_, origin, icmp_type, icmp_code, 0, 0, 0)


def sockaddr_in(address: str) -> bytes:
    return (
        struct.pack("=H", socket.AF_INET)
        + struct.pack("!H", 0)
        + socket.inet_aton(address)
        + bytes(8)
    )


def sockaddr_in6(address: str) -> bytes:
    return (
        struct.pack("=H", socket.AF_INET6)
        + struct.pack("!H", 0)
        + bytes(4)
        + socket.inet_pton(socket.AF_INET6, address)
        + bytes(4)
    )


def test_admin_prohibited_from_a_router() -> None:
    data = extended_err(113, SO_EE_ORIGIN_ICMP, 3, 13) + sockaddr_in("10.77.9.1")
    icmp = icmp_from_ancillary([(SOL_IP, IP_RECVERR, data)])
    assert icmp == IcmpError(type=3, code=13, sender="10.77.9.1", protocol="icmp")
    assert icmp.description == (
        "ICMP type 3 code 13 (communication administratively prohibited) from 10.77.9.1"
    )


def test_icmpv6_admin_prohibited() -> None:
    data = extended_err(13, SO_EE_ORIGIN_ICMP6, 1, 1) + sockaddr_in6("2001:db8::1")
    icmp = icmp_from_ancillary([(SOL_IPV6, IPV6_RECVERR, data)])
    assert icmp == IcmpError(1, 1, "2001:db8::1", "icmpv6")
    assert icmp.description == (
        "ICMPv6 type 1 code 1 (communication administratively prohibited) from 2001:db8::1"
    )


def test_icmpv4_on_an_ipv6_socket_names_the_ipv4_sender() -> None:
    data = extended_err(113, SO_EE_ORIGIN_ICMP, 3, 1) + sockaddr_in6("::ffff:192.0.2.7")
    icmp = icmp_from_ancillary([(SOL_IPV6, IPV6_RECVERR, data)])
    assert icmp == IcmpError(3, 1, "192.0.2.7", "icmp")
    assert icmp.meaning == "host unreachable"


def test_missing_or_unknown_offender_leaves_the_sender_empty() -> None:
    bare = extended_err(113, SO_EE_ORIGIN_ICMP, 3, 10)
    unknown_family = bare + struct.pack("=H", 0) + bytes(14)
    for data in (bare, unknown_family, bare + b"\x02"):
        icmp = icmp_from_ancillary([(SOL_IP, IP_RECVERR, data)])
        assert icmp == IcmpError(3, 10, "")
        assert icmp.description == "ICMP type 3 code 10 (host administratively prohibited)"


@pytest.mark.parametrize(
    "ancillary",
    [
        [],
        [(SOL_IP, IP_RECVERR, extended_err(111, SO_EE_ORIGIN_LOCAL, 0, 0))],
        [(SOL_IP, IP_RECVERR, extended_err(113, SO_EE_ORIGIN_ICMP, 3, 13)[:15])],
        [(socket.SOL_SOCKET, 29, extended_err(113, SO_EE_ORIGIN_ICMP, 3, 13))],
        [(SOL_IP, 8, extended_err(113, SO_EE_ORIGIN_ICMP, 3, 13))],
    ],
    ids=["nothing", "local-origin", "truncated", "other-level", "other-type"],
)
def test_no_icmp_error_gives_none(ancillary: list[tuple[int, int, bytes]]) -> None:
    assert icmp_from_ancillary(ancillary) is None


def test_the_icmp_message_is_found_among_other_control_messages() -> None:
    timestamp = (socket.SOL_SOCKET, 29, bytes(16))
    data = extended_err(113, SO_EE_ORIGIN_ICMP, 3, 13) + sockaddr_in("10.0.0.1")
    assert icmp_from_ancillary([timestamp, (SOL_IP, IP_RECVERR, data)]) == IcmpError(
        3, 13, "10.0.0.1"
    )


def test_codes_without_a_name_are_shown_as_numbers() -> None:
    assert IcmpError(3, 99, "10.0.0.1").description == "ICMP type 3 code 99 from 10.0.0.1"
    assert IcmpError(5, 1, "10.0.0.1").meaning is None
    assert IcmpError(11, 0, "10.0.0.1").meaning == "time to live exceeded in transit"
    assert str(IcmpError(3, 3, "")) == "ICMP type 3 code 3 (port unreachable)"


def test_recverr_option_per_family() -> None:
    assert recverr_option(socket.AF_INET) == (SOL_IP, IP_RECVERR)
    assert recverr_option(socket.AF_INET6) == (SOL_IPV6, IPV6_RECVERR)
