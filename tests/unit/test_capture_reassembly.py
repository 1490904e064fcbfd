"""TCP reassembly of one direction: order, retransmissions, overlaps, holes, bounds."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from epmscan.capture.reassembly import Chunk, HoldBudget, StreamReassembler

DATA = bytes(range(256)) * 40


def _segments(data: bytes, start: int, size: int) -> list[tuple[int, bytes]]:
    return [
        ((start + offset) % (1 << 32), data[offset : offset + size])
        for offset in range(0, len(data), size)
    ]


def _joined(chunks: list[Chunk]) -> bytes:
    return b"".join(c.data for c in chunks)


def test_in_order_segments_come_straight_out() -> None:
    stream = StreamReassembler()
    stream.start(999)
    out = []
    for seq, piece in _segments(DATA, 1000, 100):
        chunks = stream.add(seq, piece)
        assert chunks == [Chunk(piece)]
        out.extend(chunks)
    assert _joined(out) == DATA
    assert stream.held == 0 and stream.lost == 0


def test_out_of_order_segments_are_held_until_the_hole_fills() -> None:
    stream = StreamReassembler()
    stream.start(999)
    pieces = _segments(DATA[:500], 1000, 100)
    assert stream.add(*pieces[2]) == []
    assert stream.add(*pieces[1]) == []
    assert stream.held == 200
    chunks = stream.add(*pieces[0])
    assert _joined(chunks) == DATA[:300]
    assert stream.held == 0


def test_retransmissions_and_overlaps_give_each_byte_once() -> None:
    stream = StreamReassembler()
    stream.start(0)
    out = stream.add(1, DATA[:100])
    out += stream.add(1, DATA[:100])
    out += stream.add(51, DATA[50:150])
    out += stream.add(1, DATA[:200])
    assert _joined(out) == DATA[:200]
    assert stream.retransmitted == 100 + 50 + 150


def test_sequence_numbers_wrap_around() -> None:
    stream = StreamReassembler()
    isn = (1 << 32) - 150
    stream.start(isn)
    pieces = _segments(DATA[:400], isn + 1, 100)
    assert any(seq < 1000 for seq, _ in pieces)
    out = []
    for seq, piece in reversed(pieces):
        out += stream.add(seq, piece)
    assert _joined(out) == DATA[:400]


@given(st.randoms(use_true_random=False), st.integers(0, (1 << 32) - 1))
def test_any_order_with_duplicates_gives_the_stream(rng: random.Random, isn: int) -> None:
    stream = StreamReassembler()
    stream.start(isn)
    pieces = _segments(DATA[:3000], isn + 1, 97)
    shuffled = pieces + rng.sample(pieces, k=len(pieces) // 3)
    rng.shuffle(shuffled)
    out = []
    for seq, piece in shuffled:
        out += stream.add(seq, piece)
    assert _joined(out) == DATA[:3000]
    assert stream.held == 0


def test_a_hole_that_never_fills_is_skipped_when_the_bound_is_reached() -> None:
    stream = StreamReassembler(max_held=300)
    stream.start(0)
    pieces = _segments(DATA[:1000], 1, 100)
    out: list[Chunk] = []
    for seq, piece in pieces[1:]:
        out += stream.add(seq, piece)
        assert stream.held <= 300
    assert out, "the bound must force the hole to be skipped"
    assert out[0].lost == 100
    assert _joined(out) == DATA[100 : 100 + len(_joined(out))]
    out += stream.skip_gap()
    assert _joined(out) == DATA[100:1000]
    assert stream.lost == 100


def test_the_shared_budget_bounds_all_streams_together() -> None:
    budget = HoldBudget(limit=1000)
    streams = [StreamReassembler(budget) for _ in range(10)]
    for number, stream in enumerate(streams):
        stream.start(0)
        for seq, piece in _segments(DATA[:800], 101, 100):
            stream.add(seq, piece)
            assert budget.held <= 1000, number
    for stream in streams:
        stream.discard()
    assert budget.held == 0


def test_a_segment_that_cannot_be_held_at_all_jumps_the_hole() -> None:
    budget = HoldBudget(limit=50)
    stream = StreamReassembler(budget)
    stream.start(0)
    chunks = stream.add(501, DATA[:100])
    assert chunks == [Chunk(DATA[:100], 500)]
    assert stream.lost == 500 and budget.held == 0


def test_far_future_segments_are_dropped() -> None:
    stream = StreamReassembler()
    stream.start(0)
    assert stream.add(1 << 30, b"x" * 100) == []
    assert stream.held == 0


def test_a_stream_without_syn_starts_at_its_first_segment() -> None:
    stream = StreamReassembler()
    assert stream.add(5000, b"abc") == [Chunk(b"abc")]
    assert stream.next_seq == 5003
