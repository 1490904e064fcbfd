"""One direction of a TCP connection: segments in capture order → bytes in stream order.

``StreamReassembler.add(seq, payload)`` returns the chunks that became contiguous:
a segment at the expected sequence number goes straight out (and pulls any held
segments that now follow); an old one (retransmission) is dropped, an overlapping one
trimmed; one from the future (out of order, or after a segment the capture lost) is
held. Sequence numbers compare modulo 2**32.

Held bytes are bounded per direction (``max_held`` bytes, ``max_segments`` segments) and
across all directions by a shared :class:`HoldBudget`. When a bound would be exceeded, or
when the caller gives up waiting (:meth:`StreamReassembler.skip_gap`, at the end of the
connection), the hole is skipped: the next chunk comes out with ``lost`` saying how many
bytes are missing before it, so the consumer knows its framing cannot be trusted.
Nothing else is kept: memory is bounded by the open connections, never by the capture.
"""

from __future__ import annotations

from typing import NamedTuple

_MOD = 1 << 32
_HALF = 1 << 31
WINDOW = 1 << 24
"""Segments further ahead than this are not from this stream's near future: dropped."""


class Chunk(NamedTuple):
    """Bytes that came out in stream order; ``lost`` bytes are missing just before them."""

    data: bytes
    lost: int = 0


class HoldBudget:
    """Bytes held out of order by all streams together, against one ceiling."""

    __slots__ = ("held", "limit")

    def __init__(self, limit: int = 64 * 1024 * 1024) -> None:
        self.limit = limit
        self.held = 0


def _delta(seq: int, base: int) -> int:
    """``seq - base`` as a signed 32-bit distance."""
    d = (seq - base) % _MOD
    return d - _MOD if d >= _HALF else d


class StreamReassembler:
    """Reassembles one direction; see the module docstring."""

    __slots__ = (
        "_budget",
        "_held",
        "_held_bytes",
        "delivered",
        "lost",
        "max_held",
        "max_segments",
        "next_seq",
        "retransmitted",
    )

    def __init__(
        self,
        budget: HoldBudget | None = None,
        *,
        max_held: int = 1024 * 1024,
        max_segments: int = 512,
    ) -> None:
        self._budget = budget if budget is not None else HoldBudget()
        self.max_held = max_held
        self.max_segments = max_segments
        self.next_seq: int | None = None
        """The sequence number expected next (None until a SYN or the first segment)."""
        self._held: dict[int, bytes] = {}
        self._held_bytes = 0
        self.delivered = 0
        self.lost = 0
        self.retransmitted = 0

    @property
    def held(self) -> int:
        """Bytes waiting for a hole before them to be filled."""
        return self._held_bytes

    def start(self, isn: int) -> None:
        """The SYN's sequence number: data starts right after it."""
        if self.next_seq is None or (self.delivered == 0 and not self._held):
            self.next_seq = (isn + 1) % _MOD

    def add(self, seq: int, payload: bytes) -> list[Chunk]:
        """One segment's payload; the chunks it makes contiguous (often just itself)."""
        if not payload:
            return []
        if self.next_seq is None:
            self.next_seq = seq
        offset = _delta(seq, self.next_seq)
        if offset <= 0:
            if offset + len(payload) <= 0:
                self.retransmitted += len(payload)
                return []
            if offset < 0:
                self.retransmitted -= offset
                payload = payload[-offset:]
            out = [self._emit(payload, 0)]
            if self._held:
                out.extend(self._drain())
            return out
        if offset > WINDOW:
            return []
        held = self._held.get(seq)
        if held is not None and len(held) >= len(payload):
            self.retransmitted += len(payload)
            return []
        grow = len(payload) - (len(held) if held is not None else 0)
        if self._can_hold(grow):
            self._hold(seq, payload, grow)
            return []
        out = self.skip_gap()
        assert self.next_seq is not None
        offset = _delta(seq, self.next_seq)
        if offset <= 0:
            return out + self.add(seq, payload)
        held = self._held.get(seq)
        grow = len(payload) - (len(held) if held is not None else 0)
        if self._can_hold(grow):
            self._hold(seq, payload, grow)
            return out
        self.discard()
        self.lost += offset
        self.next_seq = seq
        out.append(self._emit(payload, offset))
        return out

    def _can_hold(self, grow: int) -> bool:
        budget = self._budget
        return (
            self._held_bytes + grow <= self.max_held
            and len(self._held) < self.max_segments
            and budget.held + grow <= budget.limit
        )

    def _hold(self, seq: int, payload: bytes, grow: int) -> None:
        self._held[seq] = payload
        self._held_bytes += grow
        self._budget.held += grow

    def skip_gap(self) -> list[Chunk]:
        """Give up on the hole before the held bytes: what follows it comes out, marked."""
        if not self._held or self.next_seq is None:
            return []
        base = self.next_seq
        first = min(self._held, key=lambda s: _delta(s, base))
        gap = _delta(first, base)
        self.lost += gap
        self.next_seq = first
        chunks = self._drain()
        if chunks:
            chunks[0] = Chunk(chunks[0].data, chunks[0].lost + gap)
        return chunks

    def discard(self) -> None:
        """Drop everything held (the consumer wants no more of this stream)."""
        self._budget.held -= self._held_bytes
        self._held.clear()
        self._held_bytes = 0

    def _emit(self, data: bytes, lost: int) -> Chunk:
        assert self.next_seq is not None
        self.next_seq = (self.next_seq + len(data)) % _MOD
        self.delivered += len(data)
        return Chunk(data, lost)

    def _drain(self) -> list[Chunk]:
        out: list[Chunk] = []
        held = self._held
        budget = self._budget
        while held:
            base = self.next_seq
            assert base is not None
            seq = base if base in held else min(held, key=lambda s: _delta(s, base))
            offset = _delta(seq, base)
            if offset > 0:
                break
            data = held.pop(seq)
            self._held_bytes -= len(data)
            budget.held -= len(data)
            if offset + len(data) <= 0:
                self.retransmitted += len(data)
                continue
            if offset < 0:
                self.retransmitted -= offset
                data = data[-offset:]
            out.append(self._emit(data, 0))
        return out
