"""The whole target space, held as intervals, walked in a seeded random order.

Command-line addresses live as merged, exclude-subtracted intervals per family; IPv4
positions come before IPv6 positions in one index space of ``address_total``
positions, and :class:`~epmscan.targets.permutation.CyclicPermutation` decides the
order in which positions are visited. Command-line host names are a separate short
list, yielded first. ``-iL`` files are not held: :class:`~epmscan.targets.listfile.
TargetFiles` counts them once and streams them after the command-line targets.

One sequence, three parts (names, addresses, files) in that order: shard K of N keeps
the targets at positions K-1, K-1+N, ... of it, so shard sizes differ by at most one.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import socket
import struct
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from epmscan.errors import TargetSpecError
from epmscan.settings import DEFAULT_MAX_HOSTS
from epmscan.targets.intervals import Interval, IntervalIndex, merge, size
from epmscan.targets.listfile import Exclusions, TargetFiles
from epmscan.targets.parse import IPV4, IPV6, parse_spec
from epmscan.targets.permutation import CyclicPermutation, check_shard, shard_size
from epmscan.targets.sources import SpecSource, from_arguments, from_exclude_lists, from_files
from epmscan.targets.unscannable import unscannable_reason

_T = TypeVar("_T")
_pack_ipv4 = struct.Struct(">I").pack

Shard = tuple[int, int]
"""``(K, N)``: the K-th (1-based) of N disjoint parts of one scan."""


@dataclass(frozen=True, slots=True)
class Target:
    """One thing to scan: an address, or a host name still to resolve.

    ``spec`` is what reports show as the target: the address text for addresses (ranges
    and CIDRs are not remembered per address), the name as the user gave it for names.
    Exactly one of ``address`` and ``name`` is set.
    """

    spec: str
    address: str | None
    name: str | None = None

    @property
    def is_name(self) -> bool:
        return self.name is not None

    @classmethod
    def parse_one(cls, text: str) -> Target:
        """Exactly one host, through the same parser as a scan's targets.

        An IP address (brackets allowed for IPv6) or a syntactically valid host name;
        ranges, CIDR blocks, typos such as ``1.2.3`` or ``300.1.1.1`` and the empty
        string are a :class:`TargetSpecError`, before anything is resolved or sent; so
        are the unspecified and multicast addresses.
        """
        parsed = parse_spec(text)
        if parsed.name is not None:
            return cls(spec=parsed.name, address=None, name=parsed.name)
        if size(parsed.intervals) != 1:
            raise TargetSpecError(
                f"{text.strip()!r} covers {size(parsed.intervals):,} addresses; give one host "
                "(epmscan scan takes ranges)"
            )
        value = parsed.intervals[0][0]
        if parsed.family == IPV4:
            address = socket.inet_ntoa(_pack_ipv4(value))
        else:
            address = socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))
        reason = unscannable_reason(address)
        if reason is not None:
            raise TargetSpecError(
                f"{address} is {'the' if reason == 'unspecified' else 'a'} {reason} address, "
                "not a host: nothing to connect to"
            )
        return cls(spec=address, address=address)


def new_seed() -> int:
    """A fresh random seed; print it so that a scan's order can be repeated."""
    return secrets.randbits(63)


def parse_shard(text: str) -> Shard:
    """``"2/4"`` → ``(2, 4)``; TargetSpecError unless ``1 <= K <= N``."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text, re.ASCII)
    if match is None:
        raise TargetSpecError(f"--shard {text!r}: expected K/N, e.g. 2/4 for the second of four")
    shard = (int(match[1]), int(match[2]))
    _check_shard(shard)
    return shard


def _check_shard(shard: Shard) -> None:
    try:
        check_shard(shard)
    except ValueError:
        raise TargetSpecError(
            f"--shard {shard[0]}/{shard[1]}: K must be between 1 and N (N at least 1)"
        ) from None


def _name_key(name: str) -> str:
    return name.rstrip(".").casefold()


class TargetSpace:
    """A set of addresses (as intervals) and host names, never enumerated.

    Build it with :meth:`parse`; ``total`` counts the targets :meth:`iter_targets` yields
    (each name counts once, whatever it resolves to).
    """

    def __init__(
        self,
        ipv4: Iterable[Interval] = (),
        ipv6: Iterable[Interval] = (),
        names: Iterable[str] = (),
        files: TargetFiles | None = None,
    ) -> None:
        self.ipv4: tuple[Interval, ...] = tuple(merge(ipv4))
        self.ipv6: tuple[Interval, ...] = tuple(merge(ipv6))
        unique: dict[str, str] = {}
        for name in names:
            unique.setdefault(_name_key(name), name)
        self.names: tuple[str, ...] = tuple(unique.values())
        """The command-line names (names in ``-iL`` files are streamed with them)."""
        self.files = files
        self.ipv4_total = size(self.ipv4)
        self.ipv6_total = size(self.ipv6)
        self.address_total = self.ipv4_total + self.ipv6_total
        self.file_total = files.total if files is not None else 0
        self.total = self.address_total + len(self.names) + self.file_total
        self.skipped = 0
        """Unscannable addresses (unspecified, multicast) the targets held, left out."""

    @classmethod
    def parse(
        cls,
        specs: Iterable[str],
        *,
        input_files: Iterable[str | os.PathLike[str]] = (),
        exclude: Iterable[str] = (),
        exclude_files: Iterable[str | os.PathLike[str]] = (),
        max_hosts: int = DEFAULT_MAX_HOSTS,
    ) -> TargetSpace:
        """Parse targets as nmap takes them.

        ``specs`` are command-line specs, ``input_files`` ``-iL`` files (counted here in
        one pass, streamed later, never held), ``exclude`` ``--exclude`` values (comma
        separated), ``exclude_files`` ``--exclude-file`` files. Excluded names drop the
        same name (case-insensitive, not resolved). Raises TargetSpecError naming the
        spec (and ``file:line``), or when more than ``max_hosts`` targets remain.
        """
        wanted = _collect(from_arguments(_listed(specs)))
        unwanted = _collect(
            [*from_exclude_lists(_listed(exclude)), *from_files(_listed(exclude_files))]
        )
        excluded_names = {_name_key(name) for name in unwanted.names}
        paths = list(_listed(input_files))
        files = None
        exclusions = Exclusions(unwanted.ipv4, unwanted.ipv6, frozenset(excluded_names))
        if paths:
            files = TargetFiles(paths, exclusions)
        space = cls(
            exclusions.cut(IPV4, wanted.ipv4),
            exclusions.cut(IPV6, wanted.ipv6),
            [name for name in wanted.names if _name_key(name) not in excluded_names],
            files,
        )
        space.skipped = (
            exclusions.unscannable_in(IPV4, wanted.ipv4)
            + exclusions.unscannable_in(IPV6, wanted.ipv6)
            + (files.skipped if files is not None else 0)
        )
        if space.total > max_hosts:
            raise TargetSpecError(
                f"the targets cover {space.total:,} hosts, more than the limit of "
                f"{max_hosts:,}; pass --max-hosts {space.total} (or more) to scan them all"
            )
        return space

    def covers(self, address: str, name: str | None = None) -> bool | None:
        """Whether the space holds ``address`` (or the host name ``name``).

        None when it cannot tell without reading its ``-iL`` files again.
        """
        if name is not None and _name_key(name) in {_name_key(n) for n in self.names}:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None if self.files is not None else False
        intervals = self.ipv4 if ip.version == 4 else self.ipv6
        value = int(ip)
        if any(first <= value < end for first, end in intervals):
            return True
        return None if self.files is not None else False

    def __repr__(self) -> str:
        files = f", {self.files!r}" if self.files is not None else ""
        return (
            f"TargetSpace({self.ipv4_total} IPv4 in {len(self.ipv4)} ranges, "
            f"{self.ipv6_total} IPv6 in {len(self.ipv6)} ranges, {len(self.names)} names"
            f"{files})"
        )

    def shard_total(self, shard: Shard = (1, 1)) -> int:
        """Exactly how many targets :meth:`iter_targets` yields for ``shard``."""
        _check_shard(shard)
        return shard_size(self.total, shard)

    def iter_targets(self, seed: int | None = None, shard: Shard = (1, 1)) -> Iterator[Target]:
        """Every target once: the command-line names of this shard in the order given,
        then the command-line addresses of this shard in the random order fixed by
        ``seed``, then the targets of the ``-iL`` files (see
        :mod:`~epmscan.targets.listfile` for their order).

        Shards of the same space and seed are disjoint and together complete; so a
        shard other than ``(1, 1)`` needs an explicit seed (see :func:`new_seed`).
        Starts at once and holds no per-address state, whatever the size.
        """
        _check_shard(shard)
        if seed is None:
            if shard != (1, 1):
                raise TargetSpecError(
                    "--shard needs --seed: every shard must walk the same random order"
                )
            seed = new_seed()
        for name in self._shard_names(shard):
            yield Target(name, None, name)
        yield from self._addresses(self._address_positions(seed, shard))
        for text, is_name in self._file_targets(seed, shard):
            yield Target(text, None, text) if is_name else Target(text, text)

    def iter_addresses(self, seed: int, shard: Shard = (1, 1)) -> Iterator[str]:
        """Only the address texts of :meth:`iter_targets`, in the same order."""
        _check_shard(shard)
        for target in self._addresses(self._address_positions(seed, shard)):
            yield target.spec
        for text, is_name in self._file_targets(seed, shard):
            if not is_name:
                yield text

    def _address_positions(self, seed: int, shard: Shard) -> Iterator[int]:
        """Positions of the command-line addresses that fall in ``shard``: they follow
        the names in the one sequence shards are dealt from."""
        if not self.address_total:
            return iter(())
        index, count = shard
        first = (index - 1 - len(self.names)) % count + 1
        return CyclicPermutation(self.address_total, seed).shard(first, count)

    def _file_targets(self, seed: int, shard: Shard) -> Iterator[tuple[str, bool]]:
        if self.files is None or not self.file_total:
            return iter(())
        index, count = shard
        phase = len(self.names) + self.address_total - (index - 1)
        return self.files.iter_targets(seed, phase, count)

    def _shard_names(self, shard: Shard) -> Sequence[str]:
        index, count = shard
        return self.names[index - 1 :: count]

    def _addresses(self, positions: Iterator[int]) -> Iterator[Target]:
        ntoa, pack, ntop = socket.inet_ntoa, _pack_ipv4, socket.inet_ntop
        if len(self.ipv4) == 1 and not self.ipv6:
            base = self.ipv4[0][0]
            for position in positions:
                text = ntoa(pack(base + position))
                yield Target(text, text)
            return
        ipv4_index, ipv6_index = IntervalIndex(self.ipv4), IntervalIndex(self.ipv6)
        v4_offsets, v4_starts = ipv4_index.offsets, ipv4_index.starts
        v6_offsets, v6_starts = ipv6_index.offsets, ipv6_index.starts
        ipv4_total, family6 = self.ipv4_total, socket.AF_INET6
        for position in positions:
            if position < ipv4_total:
                slot = bisect_right(v4_offsets, position) - 1
                text = ntoa(pack(v4_starts[slot] + position - v4_offsets[slot]))
            else:
                position -= ipv4_total
                slot = bisect_right(v6_offsets, position) - 1
                value = v6_starts[slot] + position - v6_offsets[slot]
                text = ntop(family6, value.to_bytes(16, "big"))
            yield Target(text, text)


def _listed(values: Iterable[_T] | str) -> Iterable[_T | str]:
    """A lone string is one value, not a sequence of characters."""
    return [values] if isinstance(values, str) else values


@dataclass
class _Collected:
    ipv4: list[Interval]
    ipv6: list[Interval]
    names: list[str]


def _collect(sources: Iterable[SpecSource]) -> _Collected:
    ipv4: list[Interval] = []
    ipv6: list[Interval] = []
    names: list[str] = []
    for source in sources:
        parsed = parse_spec(source.text, source.where)
        if parsed.family == IPV4:
            ipv4.extend(parsed.intervals)
        elif parsed.family == IPV6:
            ipv6.extend(parsed.intervals)
        elif parsed.name is not None:
            names.append(parsed.name)
    return _Collected(merge(ipv4), merge(ipv6), names)
