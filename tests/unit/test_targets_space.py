"""TargetSpace: parsing many sources, excludes, limits, order, shards, streaming."""

from __future__ import annotations

import io
import ipaddress
import itertools
import re
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epmscan.errors import TargetSpecError, UsageError
from epmscan.targets import Target, TargetSpace, new_seed, parse_shard


def addresses(space: TargetSpace, seed: int = 1, shard: tuple[int, int] = (1, 1)) -> list[str]:
    return [t.address for t in space.iter_targets(seed, shard) if t.address is not None]


def expand(*networks: str) -> set[str]:
    return {str(a) for n in networks for a in ipaddress.ip_network(n)}


def test_every_address_once_across_specs_and_families() -> None:
    space = TargetSpace.parse(["192.0.2.0/28", "192.0.2.8-20", "2001:db8::/124", "192.0.2.30"])
    got = addresses(space)
    assert len(got) == len(set(got)) == space.total
    assert set(got) == expand("192.0.2.0/28", "2001:db8::/124") | {
        f"192.0.2.{d}" for d in (*range(16, 21), 30)
    }


def test_targets_are_address_targets_with_text_as_spec() -> None:
    (target,) = TargetSpace.parse(["2001:db8:0:0::1"]).iter_targets(3)
    assert target == Target(spec="2001:db8::1", address="2001:db8::1", name=None)
    assert not target.is_name


def test_excludes_from_list_and_file(tmp_path: Path) -> None:
    skip = tmp_path / "skip.txt"
    skip.write_text("# never touch the gateways\n192.0.2.1  192.0.2.129 # both\n\n2001:db8::/126\n")
    space = TargetSpace.parse(
        ["192.0.2.0/24", "2001:db8::/120"],
        exclude=["192.0.2.0/26,192.0.2.200-192.0.2.255", " 192.0.2.100 "],
        exclude_files=[skip],
    )
    expected = (
        expand("192.0.2.0/24", "2001:db8::/120")
        - expand("192.0.2.0/26", "2001:db8::/126")
        - {f"192.0.2.{d}" for d in (*range(200, 256), 100, 129)}
    )
    got = addresses(space)
    assert sorted(got) == sorted(expected)
    assert space.total == len(expected)


def test_exclude_everything_leaves_nothing() -> None:
    space = TargetSpace.parse(["192.0.2.0/24"], exclude=["192.0.2.0-192.0.2.255"])
    assert space.total == 0
    assert list(space.iter_targets(5)) == []


def test_input_file_with_comments_and_several_specs_a_line(tmp_path: Path) -> None:
    listing = tmp_path / "targets.txt"
    listing.write_text(
        "# Exchange servers\n"
        "192.0.2.10 192.0.2.11\t192.0.2.20-22   # mailbox\n"
        "\n"
        "   \n"
        "exch01.corp.example#cas\n"
        "2001:db8::5\n"
    )
    space = TargetSpace.parse(["192.0.2.99"], input_files=[listing])
    assert space.names == ()  # names in a file are streamed with the file, not held
    assert [t for t in space.iter_targets(3) if t.is_name] == [
        Target("exch01.corp.example", None, "exch01.corp.example")
    ]
    assert space.total == 8
    assert set(addresses(space)) == {
        "192.0.2.10", "192.0.2.11", "192.0.2.20", "192.0.2.21", "192.0.2.22", "192.0.2.99",
        "2001:db8::5",
    }  # fmt: skip


def test_bad_line_in_input_file_names_file_and_line(tmp_path: Path) -> None:
    listing = tmp_path / "targets.txt"
    listing.write_text("192.0.2.1\n# comment\n\n192.0.2.2 192.0.2.3\n\n\n10.0.0.300\n")
    with pytest.raises(TargetSpecError) as caught:
        TargetSpace.parse([], input_files=[listing])
    assert str(caught.value) == (
        f"{listing}:7: '10.0.0.300' is not an IPv4 address, range or CIDR (octet 300 > 255)"
    )


def test_bad_exclude_names_its_source(tmp_path: Path) -> None:
    with pytest.raises(TargetSpecError, match=r"^--exclude: '192\.0\.2\.0/40' has prefix"):
        TargetSpace.parse(["192.0.2.0/24"], exclude=["192.0.2.1,192.0.2.0/40"])
    skip = tmp_path / "skip.txt"
    skip.write_text("192.0.2.1\n2001:db8::zz\n")
    expected = rf"^{re.escape(str(skip))}:2: '2001:db8::zz' is not an IPv6"
    with pytest.raises(TargetSpecError, match=expected):
        TargetSpace.parse(["192.0.2.0/24"], exclude_files=[skip])


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(TargetSpecError, match=r"cannot read target file .*nope\.txt"):
        TargetSpace.parse([], input_files=[tmp_path / "nope.txt"])


def test_binary_file_is_a_usage_error(tmp_path: Path) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(TargetSpecError, match="not a UTF-8 text file"):
        TargetSpace.parse([], input_files=[blob])


def test_names_are_kept_deduplicated_and_yielded_first() -> None:
    space = TargetSpace.parse(
        ["192.0.2.1", "Exch01.corp.example", "192.0.2.2", "exch01.CORP.example.", "dc1"]
    )
    assert space.names == ("Exch01.corp.example", "dc1")
    assert space.total == 4
    targets = list(space.iter_targets(9))
    assert targets[:2] == [
        Target("Exch01.corp.example", None, "Exch01.corp.example"),
        Target("dc1", None, "dc1"),
    ]
    assert all(t.is_name for t in targets[:2])
    assert {t.address for t in targets[2:]} == {"192.0.2.1", "192.0.2.2"}


def test_excluded_name_is_dropped_without_resolving() -> None:
    space = TargetSpace.parse(
        ["exch01.corp.example", "dc1.corp.example"], exclude=["DC1.corp.example"]
    )
    assert space.names == ("exch01.corp.example",)


def test_max_hosts_refuses_with_count_and_how_to_raise() -> None:
    with pytest.raises(TargetSpecError) as caught:
        TargetSpace.parse(["10.0.0.0/8"])
    message = str(caught.value)
    assert "16,777,216" in message
    assert "--max-hosts 16777216" in message
    assert isinstance(caught.value, UsageError)
    assert TargetSpace.parse(["10.0.0.0/8"], max_hosts=1 << 24).total == 1 << 24


def test_max_hosts_counts_after_excludes_and_names() -> None:
    TargetSpace.parse(["192.0.2.0/24"], exclude=["192.0.2.128/25"], max_hosts=128)
    with pytest.raises(TargetSpecError, match="129 hosts"):
        TargetSpace.parse(["192.0.2.0/25", "dc1"], max_hosts=128)


def test_ipv6_slash_64_is_refused_at_once_by_default() -> None:
    with pytest.raises(TargetSpecError, match="18,446,744,073,709,551,616 hosts"):
        TargetSpace.parse(["2001:db8::/64"])


def test_ipv6_slash_64_starts_at_once_when_allowed() -> None:
    space = TargetSpace.parse(["2001:db8::/64"], max_hosts=1 << 64)
    network = ipaddress.IPv6Network("2001:db8::/64")
    first = list(itertools.islice(space.iter_targets(seed=4), 1000))
    assert len({t.address for t in first}) == 1000
    assert all(ipaddress.IPv6Address(t.address) in network for t in first)


def test_slash_8_total_and_first_elements_without_materialising() -> None:
    space = TargetSpace.parse(["10.0.0.0/8"], max_hosts=1 << 24)
    assert space.total == 1 << 24
    tracemalloc.start()
    try:
        seen = 0
        network = ipaddress.IPv4Network("10.0.0.0/8")
        for target in itertools.islice(space.iter_targets(seed=11), 200_000):
            seen += 1
            if seen % 10_000 == 0:
                assert target.address is not None
                assert ipaddress.IPv4Address(target.address) in network
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == 200_000
    assert peak < 256 * 1024  # a list of 200k addresses alone would be >10 MB


def test_order_is_random_and_repeatable_per_seed() -> None:
    space = TargetSpace.parse(["192.0.2.0/24", "198.51.100.0/25"])
    first = addresses(space, seed=77)
    assert addresses(space, seed=77) == first
    assert addresses(space, seed=78) != first
    assert first != sorted(first, key=ipaddress.ip_address)


def test_unseeded_iteration_differs_between_runs() -> None:
    space = TargetSpace.parse(["192.0.2.0/24"])
    orders = {tuple(t.address for t in space.iter_targets()) for _ in range(5)}
    assert len(orders) > 1
    assert new_seed() != new_seed()


@given(
    st.lists(st.integers(0, 255), min_size=1, max_size=5),
    st.lists(st.integers(0, 255), max_size=5),
    st.integers(1, 6),
    st.integers(0, 2**32),
)
@settings(max_examples=40, deadline=None)
def test_shards_split_names_and_addresses_exactly(
    blocks: list[int], holes: list[int], count: int, seed: int
) -> None:
    specs = [f"10.{b}.0.0/28" for b in blocks] + [f"host{b}.example" for b in blocks]
    space = TargetSpace.parse(specs, exclude=[f"10.{h}.0.{h % 16}" for h in holes])
    whole = list(space.iter_targets(seed))
    parts = [list(space.iter_targets(seed, (k, count))) for k in range(1, count + 1)]
    for k, part in enumerate(parts, start=1):
        assert len(part) == space.shard_total((k, count))
    union = [t for part in parts for t in part]
    assert len(union) == len(set(union)) == space.total
    assert set(union) == set(whole)


def test_shard_without_seed_is_refused() -> None:
    space = TargetSpace.parse(["192.0.2.0/24"])
    with pytest.raises(TargetSpecError, match="--shard needs --seed"):
        next(space.iter_targets(shard=(1, 2)))


@pytest.mark.parametrize(("text", "shard"), [("2/4", (2, 4)), (" 1 / 1 ", (1, 1)), ("4/4", (4, 4))])
def test_parse_shard(text: str, shard: tuple[int, int]) -> None:
    assert parse_shard(text) == shard


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "2", "a/b", "-1/2", "1/2/3"])
def test_parse_shard_refuses(text: str) -> None:
    with pytest.raises(TargetSpecError, match="--shard"):
        parse_shard(text)


def test_shard_total_refuses_bad_shard() -> None:
    with pytest.raises(TargetSpecError, match="--shard 3/2"):
        TargetSpace.parse(["192.0.2.1"]).shard_total((3, 2))


def test_iter_addresses_matches_iter_targets() -> None:
    space = TargetSpace.parse(["192.0.2.0/26", "2001:db8::/126", "dc1"])
    assert list(space.iter_addresses(5, (2, 3))) == [
        t.address for t in space.iter_targets(5, (2, 3)) if t.address is not None
    ]


def test_dash_reads_specs_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("192.0.2.1 # one\n192.0.2.300\n"))
    with pytest.raises(TargetSpecError, match=r"^<stdin>:2: '192\.0\.2\.300'"):
        TargetSpace.parse([], input_files=["-"])
    monkeypatch.setattr("sys.stdin", io.StringIO("192.0.2.1 # one\n192.0.2.3\n"))
    assert set(addresses(TargetSpace.parse([], input_files=["-"]))) == {"192.0.2.1", "192.0.2.3"}


def test_a_lone_string_is_one_spec_not_characters(tmp_path: Path) -> None:
    skip = tmp_path / "skip.txt"
    skip.write_text("192.0.2.3\n")
    space = TargetSpace.parse(
        "192.0.2.0/30", exclude="192.0.2.0,192.0.2.1", exclude_files=str(skip)
    )
    assert addresses(space) == ["192.0.2.2"]
