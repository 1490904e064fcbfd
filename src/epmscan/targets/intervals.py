"""Sets of addresses as sorted, disjoint, half-open integer intervals.

An address family's targets are ``[(start, stop), ...]`` with ``start < stop``, sorted and
never touching; a /8 is one tuple. :func:`merge` normalises any list, :func:`subtract`
removes excludes, and :class:`IntervalIndex` maps a position ``0 <= i < total`` to the
i-th address by binary search over cumulative sizes, so nothing is ever enumerated.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence

Interval = tuple[int, int]
"""Half-open ``[start, stop)``."""


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint, non-adjacent intervals covering exactly the same integers."""
    merged: list[Interval] = []
    for start, stop in sorted(intervals):
        if start >= stop:
            continue
        if merged and start <= merged[-1][1]:
            last_start, last_stop = merged[-1]
            if stop > last_stop:
                merged[-1] = (last_start, stop)
        else:
            merged.append((start, stop))
    return merged


def subtract(base: Sequence[Interval], cut: Sequence[Interval]) -> list[Interval]:
    """``base`` minus ``cut``; both must already be merged."""
    result: list[Interval] = []
    j = 0
    for start, stop in base:
        while j < len(cut) and cut[j][1] <= start:
            j += 1
        k = j
        position = start
        while k < len(cut) and cut[k][0] < stop:
            cut_start, cut_stop = cut[k]
            if cut_start > position:
                result.append((position, cut_start))
            position = max(position, cut_stop)
            if cut_stop >= stop:
                break
            k += 1
        if position < stop:
            result.append((position, stop))
    return result


def size(intervals: Iterable[Interval]) -> int:
    """How many integers the (disjoint) intervals hold."""
    return sum(stop - start for start, stop in intervals)


class IntervalIndex:
    """Position ``i`` in the concatenation of disjoint intervals → the integer there."""

    __slots__ = ("offsets", "starts", "total")

    def __init__(self, intervals: Sequence[Interval]) -> None:
        self.starts: list[int] = []
        self.offsets: list[int] = []
        offset = 0
        for start, stop in intervals:
            self.starts.append(start)
            self.offsets.append(offset)
            offset += stop - start
        self.total = offset

    def __len__(self) -> int:
        return len(self.starts)

    def value_at(self, position: int) -> int:
        """The integer at ``position`` (``0 <= position < total``)."""
        if not 0 <= position < self.total:
            raise IndexError(position)
        slot = bisect_right(self.offsets, position) - 1
        return self.starts[slot] + position - self.offsets[slot]
