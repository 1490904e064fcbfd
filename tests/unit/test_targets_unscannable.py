"""Unspecified and multicast addresses are left out of every target source, and counted."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from unittest import mock

import pytest

from epmscan.errors import TargetSpecError
from epmscan.targets import Target, TargetSpace
from epmscan.targets.resolve import resolve_target
from epmscan.targets.unscannable import unscannable_reason


def addresses(space: TargetSpace) -> set[str]:
    return {t.spec for t in space.iter_targets(seed=1)}


@pytest.mark.parametrize(
    ("specs", "kept", "skipped"),
    [
        (["0.0.0.0"], set(), 1),
        (["0.0.0.0/30"], {"0.0.0.1", "0.0.0.2", "0.0.0.3"}, 1),
        (["::/127"], {"::1"}, 1),
        (["224.0.0.1", "127.0.0.1"], {"127.0.0.1"}, 1),
        (["223.255.255.254-224.0.0.1"], {"223.255.255.254", "223.255.255.255"}, 2),
        (["ff02::1", "ff02::2", "fe80::1"], {"fe80::1"}, 2),
        (["192.0.2.0/30"], {"192.0.2.0", "192.0.2.1", "192.0.2.2", "192.0.2.3"}, 0),
    ],
)
def test_command_line_targets(specs: list[str], kept: set[str], skipped: int) -> None:
    space = TargetSpace.parse(specs)
    assert addresses(space) == kept
    assert space.total == len(kept)
    assert space.skipped == skipped


def test_an_excluded_unscannable_address_is_not_counted_twice() -> None:
    space = TargetSpace.parse(["0.0.0.0/31"], exclude=["0.0.0.0"])
    assert addresses(space) == {"0.0.0.1"}
    assert space.skipped == 0


def test_files_skip_and_count_them_in_both_forms(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"  # a block of bare addresses (the packed fast path)
    plain.write_text("0.0.0.0\n192.0.2.1\n239.1.2.3\n::\n2001:db8::1\n")
    ranged = tmp_path / "ranged.txt"  # ranges and CIDR blocks
    ranged.write_text("224.0.0.0/31  # two multicast\n192.0.2.8/31\nff00::/127\n")
    space = TargetSpace.parse([], input_files=[plain, ranged])
    assert addresses(space) == {"192.0.2.1", "2001:db8::1", "192.0.2.8", "192.0.2.9"}
    assert space.total == 4
    assert space.skipped == 3 + 2 + 2


@pytest.mark.parametrize(
    ("text", "reason"),
    [("0.0.0.0", "unspecified"), ("::", "unspecified"), ("239.0.0.1", "multicast")],
)
def test_one_host_refuses_them(text: str, reason: str) -> None:
    with pytest.raises(TargetSpecError, match=f"{reason} address, not a host"):
        Target.parse_one(text)


def test_the_reason_of_each_kind() -> None:
    assert unscannable_reason("0.0.0.0") == "unspecified"
    assert unscannable_reason("ff02::1") == "multicast"
    assert unscannable_reason("255.255.255.255") is None  # a broadcast stays in, as in nmap
    assert unscannable_reason("not an address") is None


def test_a_name_that_resolves_only_to_a_sinkhole_is_unresolved() -> None:
    infos = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("0.0.0.0", 0))]

    async def lookup() -> object:
        loop = asyncio.get_running_loop()
        with mock.patch.object(loop, "getaddrinfo", mock.AsyncMock(return_value=infos)):
            return await resolve_target(
                Target("blocked.example", None, "blocked.example"), timeout=1
            )

    resolution = asyncio.run(lookup())
    assert resolution.addresses == ()  # type: ignore[attr-defined]
    assert "resolves only to 0.0.0.0 (unspecified)" in resolution.error  # type: ignore[attr-defined]
