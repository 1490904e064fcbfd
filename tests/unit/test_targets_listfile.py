"""``-iL`` files streamed: counted once, read back by blocks, every target once per listing."""

from __future__ import annotations

import collections
import io
import ipaddress
import itertools
import os
import threading
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epmscan.errors import TargetSpecError
from epmscan.targets import Target, TargetSpace, listfile


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of a few lines and windows of three blocks: many blocks from a small file."""
    monkeypatch.setattr(listfile, "BLOCK_BYTES", 48)
    monkeypatch.setattr(listfile, "WINDOW_BLOCKS", 3)


def texts(space: TargetSpace, seed: int = 1, shard: tuple[int, int] = (1, 1)) -> list[str]:
    return [t.spec for t in space.iter_targets(seed, shard)]


def plain_lines(count: int, base: str = "10.0.0.0") -> str:
    start = int(ipaddress.IPv4Address(base))
    return "".join(f"{ipaddress.IPv4Address(start + i)}\n" for i in range(count))


MIXED = (
    "# inventory\n"
    "192.0.2.1\n192.0.2.2\n192.0.2.3\n192.0.2.4\n192.0.2.5\n192.0.2.6\n"
    "\n"
    "198.51.100.0/30 198.51.100.8-9   # two specs\n"
    "exch01.corp.example\n"
    "2001:db8::1\n2001:db8::2\n"
    "2001:db8::10-2001:db8::12\n"
    "192.0.2.7\r\n192.0.2.8\r\n"
    "203.0.113.1-3,7"
)
MIXED_TARGETS = (
    [f"192.0.2.{d}" for d in range(1, 9)]
    + [f"198.51.100.{d}" for d in (0, 1, 2, 3, 8, 9)]
    + ["exch01.corp.example", "2001:db8::1", "2001:db8::2"]
    + ["2001:db8::10", "2001:db8::11", "2001:db8::12"]
    + ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.7"]
)


@pytest.mark.parametrize("blocks", ["one block", "many blocks"])
def test_every_listed_target_comes_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blocks: str
) -> None:
    if blocks == "many blocks":
        monkeypatch.setattr(listfile, "BLOCK_BYTES", 32)
        monkeypatch.setattr(listfile, "WINDOW_BLOCKS", 2)
    listing = tmp_path / "targets.txt"
    listing.write_text(MIXED)
    space = TargetSpace.parse([], input_files=[listing])
    assert space.total == space.file_total == len(MIXED_TARGETS)
    assert space.files is not None
    assert (len(space.files.blocks) > 5) == (blocks == "many blocks")
    got = list(space.iter_targets(4))
    assert sorted(t.spec for t in got) == sorted(MIXED_TARGETS)
    names = [t for t in got if t.is_name]
    assert names == [Target("exch01.corp.example", None, "exch01.corp.example")]
    assert all(t.address == t.spec for t in got if not t.is_name)


def test_a_file_is_not_merged_an_address_listed_twice_comes_twice(tmp_path: Path) -> None:
    listing = tmp_path / "targets.txt"
    listing.write_text("192.0.2.1\n192.0.2.0/30\n192.0.2.1\n")
    space = TargetSpace.parse(["192.0.2.1"], input_files=[listing])
    assert space.total == 7
    assert collections.Counter(texts(space)) == {
        "192.0.2.0": 1,
        "192.0.2.1": 4,
        "192.0.2.2": 1,
        "192.0.2.3": 1,
    }


@pytest.mark.parametrize("blocks", ["one block", "many blocks"])
def test_excludes_apply_to_every_line_of_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blocks: str
) -> None:
    if blocks == "many blocks":
        monkeypatch.setattr(listfile, "BLOCK_BYTES", 32)
    listing = tmp_path / "targets.txt"
    listing.write_text(plain_lines(40, "192.0.2.0") + MIXED)
    space = TargetSpace.parse(
        [],
        input_files=[listing],
        exclude=["192.0.2.0/29", "2001:db8::2", "198.51.100.1-8", "EXCH01.corp.example."],
    )
    excluded = {f"192.0.2.{d}" for d in range(8)} | {"2001:db8::2", "exch01.corp.example"}
    excluded |= {f"198.51.100.{d}" for d in range(1, 9)}
    listed = [f"192.0.2.{d}" for d in range(40)] + MIXED_TARGETS
    expected = sorted(t for t in listed if t not in excluded)
    assert sorted(texts(space)) == expected
    assert space.total == len(expected)


def test_plain_and_parsed_blocks_agree(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text(plain_lines(300) + "2001:db8::1\n")
    commented = tmp_path / "commented.txt"
    commented.write_text("# the same\n" + plain_lines(300).replace("\n", " # x\n") + "2001:db8::1")
    one = TargetSpace.parse([], input_files=[plain])
    other = TargetSpace.parse([], input_files=[commented])
    assert one.total == other.total == 301
    assert sorted(texts(one)) == sorted(texts(other))


def test_order_is_seeded_and_spreads_over_the_file(tmp_path: Path, small_blocks: None) -> None:
    listing = tmp_path / "targets.txt"
    listing.write_text(plain_lines(600))
    space = TargetSpace.parse([], input_files=[listing])
    first = texts(space, seed=5)
    assert texts(space, seed=5) == first
    assert texts(space, seed=6) != first
    assert sorted(first, key=ipaddress.IPv4Address) == plain_lines(600).split()
    # Neighbours in the order come from different blocks (about 3 lines each), not in
    # file order: the first ten targets are far apart in the file.
    positions = [
        int(ipaddress.IPv4Address(t)) - int(ipaddress.IPv4Address("10.0.0.0")) for t in first[:10]
    ]
    assert max(positions) - min(positions) > 30


@given(
    count=st.integers(1, 6),
    seed=st.integers(0, 2**32),
    lines=st.integers(0, 120),
    with_specs=st.booleans(),
)
@settings(max_examples=40, deadline=None)
def test_shards_over_a_file_are_disjoint_and_complete(
    tmp_path_factory: pytest.TempPathFactory,
    count: int,
    seed: int,
    lines: int,
    with_specs: bool,
) -> None:
    listing = tmp_path_factory.mktemp("shards") / "targets.txt"
    listing.write_text(plain_lines(lines) + "host-a.example\n192.0.2.0/29\n2001:db8::/126\n")
    specs = ["198.51.100.0/28", "dc1", "dc2"] if with_specs else []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(listfile, "BLOCK_BYTES", 40)
        patch.setattr(listfile, "WINDOW_BLOCKS", 3)
        space = TargetSpace.parse(specs, input_files=[listing])
        whole = texts(space, seed)
        parts = [texts(space, seed, (k, count)) for k in range(1, count + 1)]
    assert len(whole) == space.total == lines + 1 + 8 + 4 + (16 + 2 if with_specs else 0)
    sizes = [len(part) for part in parts]
    assert sizes == [space.shard_total((k, count)) for k in range(1, count + 1)]
    assert max(sizes) - min(sizes) <= 1
    union = collections.Counter(t for part in parts for t in part)
    assert union == collections.Counter(whole)


def test_standard_input_is_read_once_and_streamed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(plain_lines(500) + "# end\n"))
    space = TargetSpace.parse([], input_files=["-"])
    assert space.total == 500
    first = texts(space, seed=2)
    assert sorted(first, key=ipaddress.IPv4Address) == plain_lines(500).split()
    assert texts(space, seed=2) == first  # the copy is read again, the same
    monkeypatch.setattr("sys.stdin", io.StringIO("192.0.2.1\n192.0.2.300\n"))
    with pytest.raises(TargetSpecError, match=r"^<stdin>:2: '192\.0\.2\.300'"):
        TargetSpace.parse([], input_files=["-"])


def test_a_bad_line_far_down_is_refused_before_anything(tmp_path: Path) -> None:
    listing = tmp_path / "targets.txt"
    listing.write_text(plain_lines(20000) + "10.0.0.300\n" + plain_lines(10))
    with pytest.raises(TargetSpecError) as caught:
        TargetSpace.parse([], input_files=[listing])
    assert str(caught.value) == (
        f"{listing}:20001: '10.0.0.300' is not an IPv4 address, range or CIDR (octet 300 > 255)"
    )


def test_an_overlong_line_is_refused(tmp_path: Path) -> None:
    listing = tmp_path / "targets.txt"
    listing.write_text("192.0.2.1\n" + "192.0.2.2 " * 120_000)
    with pytest.raises(TargetSpecError, match=r"targets\.txt:2: line longer than 1,048,576 bytes"):
        TargetSpace.parse([], input_files=[listing])


def test_max_hosts_counts_the_file(tmp_path: Path) -> None:
    listing = tmp_path / "targets.txt"
    listing.write_text(plain_lines(3000))
    with pytest.raises(TargetSpecError, match=r"3,001 hosts.*--max-hosts 3001"):
        TargetSpace.parse(["dc1"], input_files=[listing], max_hosts=3000)


def test_a_file_changed_during_the_scan_is_an_error(tmp_path: Path, small_blocks: None) -> None:
    listing = tmp_path / "targets.txt"
    listing.write_text(plain_lines(100))
    space = TargetSpace.parse([], input_files=[listing])
    listing.write_text(plain_lines(50) + "10.1.0.0/24\n" + plain_lines(49, "10.0.0.51"))
    with pytest.raises(TargetSpecError, match="changed while being scanned"):
        texts(space)


def test_octet_ranges_split_blocks_by_their_pieces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listfile, "BLOCK_PIECES", 300)
    monkeypatch.setattr(listfile, "WINDOW_PIECES", 600)
    listing = tmp_path / "targets.txt"
    listing.write_text("".join(f"10.{i}.1-254.1\n" for i in range(6)))
    space = TargetSpace.parse([], input_files=[listing])
    assert space.files is not None
    assert [block.pieces for block in space.files.blocks] == [254] * 6
    assert space.total == 6 * 254
    assert len(set(texts(space))) == 6 * 254


def test_iter_addresses_follows_iter_targets(tmp_path: Path, small_blocks: None) -> None:
    listing = tmp_path / "targets.txt"
    listing.write_text(plain_lines(50) + "dc9.example\n2001:db8::/126\n")
    space = TargetSpace.parse(["192.0.2.0/30", "dc1"], input_files=[listing])
    assert list(space.iter_addresses(8, (2, 3))) == [
        t.address for t in space.iter_targets(8, (2, 3)) if t.address is not None
    ]


def test_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    listing = tmp_path / "targets.txt"
    listing.write_text(plain_lines(200_000))
    tracemalloc.start()
    try:
        space = TargetSpace.parse([], input_files=[listing])
        seen = sum(1 for _ in itertools.islice(space.iter_targets(3), 150_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == 150_000 and space.total == 200_000
    assert peak < 4 * 1024 * 1024  # the parsed list alone would be tens of MB


def test_a_pipe_is_copied_once_and_read_again(tmp_path: Path) -> None:
    fifo = tmp_path / "targets.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_text, args=(plain_lines(300) + "dc1\n",))
    writer.start()
    space = TargetSpace.parse([], input_files=[fifo])
    writer.join()
    assert space.total == 301
    assert (
        sorted(texts(space, seed=3))
        == sorted(texts(space, seed=3))
        == sorted([*plain_lines(300).split(), "dc1"])
    )
