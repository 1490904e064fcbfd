"""The cyclic-group permutation: complete, repeatable, shardable."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epmscan.targets.permutation import (
    CyclicPermutation,
    is_probable_prime,
    safe_prime_above,
    shard_size,
)


def naive_is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))


def test_primality_agrees_with_trial_division() -> None:
    assert [n for n in range(3000) if is_probable_prime(n)] == [
        n for n in range(3000) if naive_is_prime(n)
    ]
    assert not is_probable_prime(3215031751)  # strong pseudoprime to bases 2, 3, 5, 7
    assert is_probable_prime((1 << 127) - 1)
    assert not is_probable_prime((1 << 128) + 1)


@pytest.mark.parametrize("n", [0, 1, 4, 5, 10, 22, 23, 24, 1000, 65536, 1 << 24, 1 << 64])
def test_safe_prime_above(n: int) -> None:
    p = safe_prime_above(n)
    assert p - 1 >= n
    assert is_probable_prime(p)
    assert is_probable_prime((p - 1) // 2)
    prime = naive_is_prime if n < 10**7 else is_probable_prime
    for smaller in range(max(5, n + 1), min(p, n + 5000)):
        assert not (prime(smaller) and prime((smaller - 1) // 2))


SIZES_NEAR_PRIMES = [1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 22, 23, 24, 46, 47, 48, 100, 1019, 1020]


@pytest.mark.parametrize("size", SIZES_NEAR_PRIMES)
@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_every_index_exactly_once(size: int, seed: int) -> None:
    order = list(CyclicPermutation(size, seed))
    assert sorted(order) == list(range(size))


def test_empty() -> None:
    assert list(CyclicPermutation(0, 7)) == []


@given(st.integers(0, 3000), st.integers(0, 2**64))
@settings(max_examples=60)
def test_every_index_exactly_once_for_any_size(size: int, seed: int) -> None:
    assert sorted(CyclicPermutation(size, seed)) == list(range(size))


def test_same_seed_same_order_and_different_seeds_differ() -> None:
    first = list(CyclicPermutation(5000, 42))
    assert list(CyclicPermutation(5000, 42)) == first
    others = {tuple(CyclicPermutation(5000, seed)) for seed in range(43, 53)}
    assert tuple(first) not in others
    assert len(others) == 10
    assert first != sorted(first)


@given(st.integers(0, 2000), st.integers(1, 9), st.integers(0, 1000))
@settings(max_examples=60)
def test_shards_are_disjoint_complete_and_of_announced_size(
    size: int, count: int, seed: int
) -> None:
    whole = list(CyclicPermutation(size, seed))
    shards = [list(CyclicPermutation(size, seed).shard(k, count)) for k in range(1, count + 1)]
    for k, part in enumerate(shards, start=1):
        assert part == whole[k - 1 :: count]
        assert len(part) == shard_size(size, (k, count))
    assert sorted(index for part in shards for index in part) == list(range(size))


@pytest.mark.parametrize("shard", [(0, 4), (5, 4), (1, 0), (-1, 3)])
def test_bad_shards_refused(shard: tuple[int, int]) -> None:
    with pytest.raises(ValueError):
        CyclicPermutation(10, 1).shard(*shard)
    with pytest.raises(ValueError):
        shard_size(10, shard)
