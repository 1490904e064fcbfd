"""``-iL`` files of any size: counted once, then read back block by block, never held whole.

How this works. A first pass reads each file in blocks of about :data:`BLOCK_BYTES`
(cut at line ends), checks every spec in it (a bad line is an error before anything is
sent, as before) and remembers per block only where it starts and ends in the file, the
number of its first line and how many targets it holds once the excludes are taken
out: a few numbers per 64 KiB of file. A block of plain addresses, one per line (the
usual inventory export), is checked in C (``inet_pton`` mapped over its lines); any
other block goes line by line through :func:`~epmscan.targets.parse.parse_spec`.
Standard input (``-iL -``) and any other file that is not a regular file (a pipe,
``-iL <(...)``) is copied to an unnamed temporary file during that pass, so it can be
read again.

The order is seeded and two-level: the blocks in a random order (a
:class:`~epmscan.targets.permutation.CyclicPermutation` of the block numbers), taken
:data:`WINDOW_BLOCKS` at a time; the blocks of one window are read and their targets
dealt out in turn, one from each block, each block in a random order of its own. So at
most one window of blocks is in memory, and consecutive targets come from different
parts of the file. A shard keeps every N-th target of that one sequence, exactly as for
the command-line addresses, so shards of the same file and seed are disjoint and
together complete, and their sizes are known from the count.

Unlike command-line specs, what a file lists is not merged: an address listed twice is
scanned twice, and a name is not deduplicated against the command line (that would need
the whole list in memory). Excludes apply to every spec of the file.
"""

from __future__ import annotations

import functools
import os
import socket
import stat
import sys
import tempfile
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO

from epmscan.errors import TargetSpecError
from epmscan.targets.intervals import Interval, merge, subtract
from epmscan.targets.parse import IPV4, IPV6, parse_spec
from epmscan.targets.permutation import CyclicPermutation
from epmscan.targets.unscannable import UNSCANNABLE, count_unscannable

BLOCK_BYTES = 64 * 1024
"""A block is the lines of about this many bytes of a file (at least one whole line)."""
MAX_LINE_BYTES = 1 << 20
"""A longer line is refused: a file is read a line at a time, never held whole."""
BLOCK_PIECES = 65536
"""Ranges and names in one block at most (a block is cut early at a line to stay
below; a single line may still reach the octet-range limit of 65,536 pieces)."""
WINDOW_BLOCKS = 16
"""Blocks read and dealt out together."""
WINDOW_PIECES = 2 * BLOCK_PIECES
"""Ranges and names held by one window at most (a window has at least one block)."""

_pton4 = functools.partial(socket.inet_pton, socket.AF_INET)
_pton6 = functools.partial(socket.inet_pton, socket.AF_INET6)


@dataclass(frozen=True, slots=True)
class Exclusions:
    """What ``--exclude``/``--exclude-file`` take out (merged intervals and name keys),
    and the addresses no scan connects to (:mod:`~epmscan.targets.unscannable`)."""

    ipv4: Sequence[Interval] = ()
    ipv6: Sequence[Interval] = ()
    names: frozenset[str] = frozenset()
    _v4: list[Interval] = field(default_factory=list, repr=False)
    _v6: list[Interval] = field(default_factory=list, repr=False)
    _v4_starts: list[int] = field(default_factory=list, repr=False)
    _v6_starts: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._v4.extend(merge([*self.ipv4, *UNSCANNABLE[IPV4]]))
        self._v6.extend(merge([*self.ipv6, *UNSCANNABLE[IPV6]]))
        self._v4_starts.extend(start for start, _ in self._v4)
        self._v6_starts.extend(start for start, _ in self._v6)

    def keep_packed(self, packed: bytes, width: int) -> bytes:
        """The packed addresses (4 or 16 bytes each) that are not left out."""
        user = self.ipv4 if width == 4 else self.ipv6
        if not user and not _may_hold_unscannable(packed, width):
            return packed
        intervals, starts = (
            (self._v4, self._v4_starts) if width == 4 else (self._v6, self._v6_starts)
        )
        kept = bytearray()
        from_bytes = int.from_bytes
        for offset in range(0, len(packed), width):
            raw = packed[offset : offset + width]
            value = from_bytes(raw, "big")
            slot = bisect_right(starts, value) - 1
            if slot < 0 or value >= intervals[slot][1]:
                kept += raw
        return bytes(kept)

    def unscannable_in_packed(self, packed: bytes, width: int) -> int:
        """How many of the packed addresses are unscannable and not excluded anyway."""
        family = IPV4 if width == 4 else IPV6
        user = merge(self.ipv4 if family == IPV4 else self.ipv6)
        count = 0
        for offset in range(0, len(packed), width):
            value = int.from_bytes(packed[offset : offset + width], "big")
            point = [(value, value + 1)]
            if count_unscannable(family, point) and subtract(point, user):
                count += 1
        return count

    def cut(self, family: int, intervals: Iterable[Interval]) -> list[Interval]:
        """``intervals`` of one family without the addresses left out."""
        merged = merge(intervals)
        return subtract(merged, self._v4 if family == IPV4 else self._v6)

    def unscannable_in(self, family: int, intervals: Iterable[Interval]) -> int:
        """How many of ``intervals`` are unscannable and not excluded anyway."""
        merged = merge(intervals)
        user = self.ipv4 if family == IPV4 else self.ipv6
        return count_unscannable(family, subtract(merged, merge(user)) if user else merged)


def _may_hold_unscannable(packed: bytes, width: int) -> bool:
    """False when no packed address can be unspecified or multicast (checked in C)."""
    first_octets = packed[::width]
    if first_octets and max(first_octets) >= (0xE0 if width == 4 else 0xFF):
        return True
    return bytes(width) in packed


@dataclass(frozen=True, slots=True)
class Block:
    """Where one block of a file is, and what it holds once the excludes are out."""

    source: int
    """Index of its file among the ``-iL`` files."""
    start: int
    stop: int
    """Byte offsets, half-open."""
    line: int
    """Number of its first line (1-based)."""
    total: int
    """Targets in it."""
    pieces: int
    """Ranges and names in it (single addresses of a plain block are not counted)."""


@dataclass(slots=True)
class _Contents:
    """A block read back: single addresses packed, then ranges, then names."""

    v4: bytes = b""
    v6: bytes = b""
    starts: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    families: bytearray = field(default_factory=bytearray)
    range_total: int = 0
    names: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.v4) // 4 + len(self.v6) // 16 + self.range_total + len(self.names)

    @property
    def pieces(self) -> int:
        return len(self.starts) + len(self.names)

    def add_range(self, family: int, start: int, stop: int) -> None:
        self.starts.append(start)
        self.offsets.append(self.range_total)
        self.families.append(family)
        self.range_total += stop - start


def _plain_addresses(body: bytes) -> tuple[bytes, int] | None:
    """The addresses of a block made only of plain addresses of one family, one per line,
    packed (and their width, 4 or 16), or None when any line is something else."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()
    if not lines:
        return None
    try:
        if ":" in lines[0]:
            return b"".join(map(_pton6, lines)), 16
        return b"".join(map(_pton4, lines)), 4
    except (OSError, ValueError):
        return None


class _Source:
    """One ``-iL`` file: its label for messages and how to read it again."""

    __slots__ = ("label", "path", "spool")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.label = "<stdin>" if self.path == "-" else self.path
        self.spool: IO[bytes] | None = None

    def open(self) -> BinaryIO:
        """The file, open for the counting pass."""
        try:
            return open(self.path, "rb")
        except OSError as exc:
            raise self.unreadable(exc) from None

    def unreadable(self, exc: OSError) -> TargetSpecError:
        reason = exc.strerror or str(exc)
        return TargetSpecError(f"cannot read target file {self.label!r}: {reason}")

    def read_at(self, descriptors: dict[int, int], key: int, start: int, stop: int) -> bytes:
        """Bytes ``start:stop`` of the file (``pread``: readers never share an offset)."""
        fd = descriptors.get(key)
        if fd is None:
            if self.spool is not None:
                fd = self.spool.fileno()
            else:
                try:
                    fd = os.open(self.path, os.O_RDONLY)
                except OSError as exc:
                    raise self.unreadable(exc) from None
                descriptors[key] = fd
        try:
            return os.pread(fd, stop - start, start)
        except OSError as exc:
            raise self.unreadable(exc) from None


class TargetFiles:
    """The ``-iL`` files of one scan: counted, then streamed (see the module docstring).

    ``total`` is the number of targets they hold after the excludes; iterating never
    holds more than one window of blocks.
    """

    def __init__(
        self, paths: Iterable[str | os.PathLike[str]], exclusions: Exclusions | None = None
    ) -> None:
        self.exclusions = exclusions or Exclusions()
        self.skipped = 0
        """Unscannable addresses the files held (left out, see ``unscannable``)."""
        self.sources: list[_Source] = []
        self.blocks: list[Block] = []
        for path in paths:
            source = _Source(path)
            self.sources.append(source)
            self._count(len(self.sources) - 1, source)
        self.total = sum(block.total for block in self.blocks)

    def __repr__(self) -> str:
        labels = ", ".join(source.label for source in self.sources)
        return f"TargetFiles({labels}: {self.total} targets in {len(self.blocks)} blocks)"

    def close(self) -> None:
        """Drop the copy of standard input, if one was made."""
        for source in self.sources:
            if source.spool is not None:
                source.spool.close()
                source.spool = None

    # --- the counting pass ------------------------------------------------------------

    def _count(self, index: int, source: _Source) -> None:
        from_stdin = source.label == "<stdin>"
        stream: IO[Any] = getattr(sys.stdin, "buffer", sys.stdin) if from_stdin else source.open()
        if from_stdin or not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            # A pipe (standard input, ``-iL <(...)``) cannot be read twice: keep a copy.
            source.spool = tempfile.TemporaryFile()  # noqa: SIM115 - read back by the scan
        try:
            self._count_stream(index, source, stream)
        finally:
            if not from_stdin:
                stream.close()
            if source.spool is not None:
                source.spool.flush()

    def _count_stream(self, index: int, source: _Source, stream: IO[Any]) -> None:
        offset = 0
        line = 1
        carry = b""
        while True:
            try:
                data = stream.read(BLOCK_BYTES)
            except OSError as exc:
                reason = exc.strerror or str(exc)
                raise TargetSpecError(
                    f"cannot read target file {source.label!r}: {reason}"
                ) from None
            if isinstance(data, str):
                data = data.encode("utf-8")
            if source.spool is not None and data:
                source.spool.write(data)
            if not data:
                if carry:
                    self._count_body(index, source, carry, offset, line)
                return
            chunk = carry + data if carry else data
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:
                if len(chunk) > MAX_LINE_BYTES:
                    raise TargetSpecError(
                        f"{source.label}:{line}: line longer than {MAX_LINE_BYTES:,} bytes"
                    )
                carry = chunk
                continue
            carry = chunk[cut:]
            body = chunk[:cut]
            self._count_body(index, source, body, offset, line)
            offset += cut
            line += body.count(b"\n")

    def _count_body(self, index: int, source: _Source, body: bytes, offset: int, line: int) -> None:
        plain = _plain_addresses(body)
        if plain is not None:
            packed, width = plain
            kept = self.exclusions.keep_packed(packed, width)
            if len(kept) < len(packed):
                self.skipped += self.exclusions.unscannable_in_packed(packed, width)
            self.blocks.append(
                Block(index, offset, offset + len(body), line, len(kept) // width, 0)
            )
            return
        block_start, block_line = offset, line
        total = pieces = 0
        position = offset
        for number, raw in enumerate(_lines(body), start=line):
            contents = _Contents()
            self._parse_line(raw, source.label, number, contents, counting=True)
            if pieces and pieces + contents.pieces > BLOCK_PIECES:
                self.blocks.append(Block(index, block_start, position, block_line, total, pieces))
                block_start, block_line, total, pieces = position, number, 0, 0
            total += contents.total
            pieces += contents.pieces
            position += len(raw)
        self.blocks.append(Block(index, block_start, position, block_line, total, pieces))

    def _parse_line(
        self, raw: bytes, label: str, number: int, into: _Contents, *, counting: bool = False
    ) -> None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TargetSpecError(f"{label}: not a UTF-8 text file ({exc.reason})") from None
        if len(raw) > MAX_LINE_BYTES:
            raise TargetSpecError(f"{label}:{number}: line longer than {MAX_LINE_BYTES:,} bytes")
        exclusions = self.exclusions
        for spec in text.split("#", 1)[0].split():
            parsed = parse_spec(spec, f"{label}:{number}")
            if parsed.family is None:
                name = parsed.name or spec
                if name.rstrip(".").casefold() not in exclusions.names:
                    into.names.append(name)
                continue
            if counting:
                self.skipped += exclusions.unscannable_in(parsed.family, parsed.intervals)
            for start, stop in exclusions.cut(parsed.family, parsed.intervals):
                into.add_range(parsed.family, start, stop)

    # --- reading back -----------------------------------------------------------------

    def _read(self, block: Block, descriptors: dict[int, int]) -> _Contents:
        source = self.sources[block.source]
        body = source.read_at(descriptors, block.source, block.start, block.stop)
        label = source.label
        contents = _Contents()
        plain = _plain_addresses(body) if block.pieces == 0 else None
        if plain is not None:
            packed, width = plain
            kept = self.exclusions.keep_packed(packed, width)
            if width == 4:
                contents.v4 = kept
            else:
                contents.v6 = kept
        else:
            try:
                for number, raw in enumerate(_lines(body), start=block.line):
                    self._parse_line(raw, label, number, contents)
            except TargetSpecError as exc:
                raise TargetSpecError(f"{label} changed while being scanned ({exc})") from None
        if contents.total != block.total:
            raise TargetSpecError(
                f"{label} changed while being scanned (lines {block.line} on held"
                f" {block.total} targets, now {contents.total})"
            )
        return contents

    def iter_targets(self, seed: int, phase: int, step: int) -> Iterator[tuple[str, bool]]:
        """``(text, is_name)`` of every target whose position ``t`` in the seeded order
        has ``(phase + t) % step == 0``: ``step`` 1 for all, ``(N, ...)`` for shards."""
        blocks = [block for block in self.blocks if block.total]
        if not blocks:
            return
        descriptors: dict[int, int] = {}
        counter = phase % step
        try:
            for window in _windows(blocks, CyclicPermutation(len(blocks), seed)):
                walks = []
                for number, block in window:
                    contents = self._read(block, descriptors)
                    order = iter(CyclicPermutation(block.total, _block_seed(seed, number)))
                    walks.append((order, contents))
                while walks:
                    live = []
                    for order, contents in walks:
                        position = next(order, None)
                        if position is None:
                            continue
                        live.append((order, contents))
                        if counter == 0:
                            yield _target_at(contents, position)
                        counter += 1
                        if counter == step:
                            counter = 0
                    walks = live
        finally:
            for fd in descriptors.values():
                os.close(fd)


def _windows(blocks: Sequence[Block], order: Iterable[int]) -> Iterator[list[tuple[int, Block]]]:
    window: list[tuple[int, Block]] = []
    pieces = 0
    for number in order:
        block = blocks[number]
        if window and (len(window) >= WINDOW_BLOCKS or pieces + block.pieces > WINDOW_PIECES):
            yield window
            window, pieces = [], 0
        window.append((number, block))
        pieces += block.pieces
    if window:
        yield window


def _block_seed(seed: int, number: int) -> int:
    return (seed * 0x9E3779B97F4A7C15 + number + 1) & ((1 << 128) - 1)


def _target_at(contents: _Contents, position: int) -> tuple[str, bool]:
    count4 = len(contents.v4) // 4
    if position < count4:
        return socket.inet_ntoa(contents.v4[4 * position : 4 * position + 4]), False
    position -= count4
    count6 = len(contents.v6) // 16
    if position < count6:
        raw = contents.v6[16 * position : 16 * position + 16]
        return socket.inet_ntop(socket.AF_INET6, raw), False
    position -= count6
    if position < contents.range_total:
        slot = bisect_right(contents.offsets, position) - 1
        value = contents.starts[slot] + position - contents.offsets[slot]
        if contents.families[slot] == IPV4:
            return socket.inet_ntoa(value.to_bytes(4, "big")), False
        return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big")), False
    return contents.names[position - contents.range_total], True


def _lines(body: bytes) -> Iterator[bytes]:
    """The lines of ``body``, each with its ``\\n`` (the last one maybe without)."""
    start = 0
    while start < len(body):
        end = body.find(b"\n", start)
        if end < 0:
            yield body[start:]
            return
        yield body[start : end + 1]
        start = end + 1
