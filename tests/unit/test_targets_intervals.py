"""Interval sets against plain Python sets."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from epmscan.targets.intervals import IntervalIndex, merge, size, subtract

intervals = st.lists(
    st.tuples(st.integers(0, 200), st.integers(0, 40)).map(lambda t: (t[0], t[0] + t[1])),
    max_size=12,
)


def as_set(spans: list[tuple[int, int]]) -> set[int]:
    return {value for start, stop in spans for value in range(start, stop)}


def is_normal(spans: list[tuple[int, int]]) -> bool:
    return all(start < stop for start, stop in spans) and all(
        a[1] < b[0] for a, b in itertools.pairwise(spans)
    )


@given(intervals)
def test_merge_keeps_the_set_and_normalises(spans: list[tuple[int, int]]) -> None:
    merged = merge(spans)
    assert as_set(merged) == as_set(spans)
    assert is_normal(merged)
    assert size(merged) == len(as_set(spans))


@given(intervals, intervals)
def test_subtract_is_set_difference(
    base: list[tuple[int, int]], cut: list[tuple[int, int]]
) -> None:
    result = subtract(merge(base), merge(cut))
    assert as_set(result) == as_set(base) - as_set(cut)
    assert is_normal(result)


@given(intervals)
def test_index_walks_the_set_in_order(spans: list[tuple[int, int]]) -> None:
    merged = merge(spans)
    index = IntervalIndex(merged)
    assert index.total == size(merged)
    assert [index.value_at(i) for i in range(index.total)] == sorted(as_set(spans))


def test_index_refuses_positions_outside() -> None:
    index = IntervalIndex([(10, 12)])
    with pytest.raises(IndexError):
        index.value_at(2)
    with pytest.raises(IndexError):
        index.value_at(-1)
