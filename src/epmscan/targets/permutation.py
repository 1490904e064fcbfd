"""A random permutation of ``0 .. n-1`` that is walked, never stored.

How this works (the zmap method): take the smallest *safe* prime ``p = 2q + 1`` (``q``
prime) with ``p - 1 >= n``. The non-zero residues modulo ``p`` form a cyclic group of
order ``p - 1``; for a generator ``g`` the walk ``x, x*g, x*g^2, ... (mod p)`` visits every
value ``1 .. p-1`` exactly once before returning to ``x``. Values above ``n`` are skipped,
so each of ``1 .. n`` comes exactly once; ``x - 1`` is the index. The seed picks ``g`` among
the primitive roots and the start ``x``. A safe prime makes the generator test two
modular powers (``p - 1 = 2q`` has only the factors 2 and q), and safe primes are dense
enough that ``p - 1`` stays within a fraction of a percent of ``n`` for large ``n``.

Sharding: shard K of N takes the kept elements at positions ``K-1, K-1+N, K-1+2N, ...`` of
that one sequence, so N shards with the same seed are disjoint and together complete,
and each shard's size is known without walking it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from functools import lru_cache

_SMALL_PRIMES = tuple(n for n in range(2, 256) if all(n % d for d in range(2, n)))


def is_probable_prime(n: int) -> bool:
    """Miller-Rabin with the first 54 primes as bases: exact below 3.3e24, and wrong for
    larger ``n`` with a probability far below 4**-54."""
    if n < 2:
        return False
    for prime in _SMALL_PRIMES:
        if n % prime == 0:
            return n == prime
    d = n - 1
    shift = 0
    while d % 2 == 0:
        d //= 2
        shift += 1
    for base in _SMALL_PRIMES:
        x = pow(base, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(shift - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _no_small_factor(n: int) -> bool:
    return all(n % prime or n == prime for prime in _SMALL_PRIMES)


@lru_cache(maxsize=64)
def safe_prime_above(n: int) -> int:
    """The smallest safe prime ``p`` (``(p-1)/2`` prime) with ``p - 1 >= n``, at least 5."""
    q = max(2, (n + 1) // 2)
    while True:
        p = 2 * q + 1
        if (
            _no_small_factor(q)
            and _no_small_factor(p)
            and is_probable_prime(q)
            and is_probable_prime(p)
        ):
            return p
        q += 1


class CyclicPermutation:
    """Every integer in ``0 .. size-1`` once, in an order fixed by ``seed``."""

    __slots__ = ("generator", "prime", "size", "start")

    def __init__(self, size: int, seed: int) -> None:
        if size < 0:
            raise ValueError("size must not be negative")
        self.size = size
        self.prime = safe_prime_above(size)
        rng = random.Random(seed)
        order_half = (self.prime - 1) // 2
        while True:
            candidate = rng.randrange(2, self.prime - 1)
            # In a group of order 2q, g is a generator iff g^2 != 1 and g^q != 1; the
            # first holds for every g outside {1, p-1}.
            if pow(candidate, order_half, self.prime) != 1:
                self.generator = candidate
                break
        self.start = rng.randrange(1, self.prime)

    def __iter__(self) -> Iterator[int]:
        return self.shard(1, 1)

    def shard(self, index: int, count: int) -> Iterator[int]:
        """Shard ``index`` (1-based) of ``count``: every ``count``-th index of the whole
        permutation, starting at its ``index``-th."""
        check_shard((index, count))
        if count == 1:
            return self._walk()
        return self._walk_shard(index - 1, count)

    def _walk(self) -> Iterator[int]:
        size, prime, generator, start = self.size, self.prime, self.generator, self.start
        x = start
        while True:
            if x <= size:
                yield x - 1
            x = x * generator % prime
            if x == start:
                return

    def _walk_shard(self, skip: int, step: int) -> Iterator[int]:
        size, prime, generator, start = self.size, self.prime, self.generator, self.start
        x = start
        countdown = skip
        while True:
            if x <= size:
                if countdown:
                    countdown -= 1
                else:
                    yield x - 1
                    countdown = step - 1
            x = x * generator % prime
            if x == start:
                return


def check_shard(shard: tuple[int, int]) -> None:
    """Raise ValueError unless ``shard`` is ``(K, N)`` with ``1 <= K <= N``."""
    index, count = shard
    if count < 1 or not 1 <= index <= count:
        raise ValueError(f"shard {index}/{count}: need 1 <= K <= N")


def shard_size(total: int, shard: tuple[int, int]) -> int:
    """How many of ``total`` elements shard ``(K, N)`` gets when dealt round-robin."""
    check_shard(shard)
    index, count = shard
    if total < index:
        return 0
    return (total - index) // count + 1
